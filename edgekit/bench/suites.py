"""Benchmark suites. Each returns rows (dicts) for the table and the JSON file.

pack    load + pack throughput of a synthetic bitnet-b1.58-2B-4T checkpoint per ternary format, and peak RSS
        against the checkpoint's size (the foundation issue's goals: >= 50 M weights/s, RSS <= 1.5x).
host    native host decode and prefill tokens/s of the POSIX device over a pty, for the bundled model and the
        2B-4T shape, with the portable C kernels and with the best kernels this CPU has (warm-up, then
        min/median/max of HOST_RUNS runs).
qemu    emulated boards: decode instructions per token by the device's own clock under QEMU -icount (estimates,
        not silicon; the same on any host), and the firmware's flash and static RAM (arm-none-eabi-size).
kernels ternary matvec Gweights/s per format and native kernel body at the 2B-4T shapes (edgekit/bench/kernels.py).
reliability  the link under faults (edgekit/bench/reliability.py, docs/reliability.md): outcomes per scenario.
peers   edgekit against llama.cpp and named llama-bench binaries (bitnet.cpp on I2_S, llama.cpp on TQ2_0), same
        weights, same run (edgekit/bench/peers.py).

Every result file records the machine (edgekit/bench/machine.py); docs/benchmarks.md has the commands.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from edgekit.bench.kernels import bench_kernels, native_kernel_sets
from edgekit.bench.machine import machine_info
from edgekit.bench.stats import summary
from edgekit.errors import EdgekitError
from edgekit.profile.clocks import device_clock

REPO = Path(__file__).resolve().parents[2]
PACK_FORMATS = ("i2", "t158", "tl")
TWO_B = "bitnet-b1.58-2B-4T"
HOST_RUNS = 3  # timed generations per host case, after one warm-up generation


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def synthetic_checkpoint(shape: str, work: Path, log) -> Path:
    """A synthetic checkpoint of a real shape, made once and kept in the bench work directory (named by whether
    its embedding is tied, so a checkpoint written before the shape's table changed is not reused)."""
    tools = REPO / "tools"
    if not (tools / "synth_checkpoint.py").is_file():
        raise EdgekitError("the benchmarks need a source checkout (tools/synth_checkpoint.py)",
                           fix="run `make bench` in a clone of the edgekit repository")
    sys.path.insert(0, str(REPO))
    from tools.synth_checkpoint import SHAPES, synth_checkpoint

    out = work / f"synth-{shape}{'-tied' if SHAPES[shape].tied else ''}"
    if (out / "config.json").is_file():
        return out
    log(f"writing a synthetic {shape} checkpoint to {out} (once)")
    synth_checkpoint(shape, out)
    return out


def bench_pack(work: Path, log, shape: str = TWO_B) -> list[dict]:
    ckpt = synthetic_checkpoint(shape, work, log)
    size = _dir_bytes(ckpt)
    rows = []
    for fmt in PACK_FORMATS:
        out = work / f"pack-{fmt}.ekm"
        log(f"load + pack {shape} as {fmt}")
        proc = subprocess.run([sys.executable, "-m", "edgekit.bench.pack_worker", str(ckpt), str(out), fmt, "f16"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise EdgekitError(f"pack benchmark for {fmt} failed:\n{proc.stderr[-2000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        image = out.stat().st_size
        out.unlink()
        rows.append({
            "suite": "pack", "model": shape, "format": fmt, "embedding": "f16",
            "ternary_weights": r["ternary_weights"], "seconds": round(r["total_s"], 2),
            "weights_per_s": round(r["ternary_weights"] / r["total_s"]),
            "peak_rss_bytes": r["peak_rss_bytes"], "checkpoint_bytes": size,
            "rss_over_checkpoint": round(r["peak_rss_bytes"] / size, 3), "image_bytes": image,
        })
    return rows


def host_project(model, kernels: str, work: Path, log, *, embedding: str | None = None) -> Path:
    """Generate + build the host board with the given kernel families (c = portable only); embedding: the
    embedding/head format (default: the planner's choice)."""
    from edgekit.boards import load_board
    from edgekit.build import build_project
    from edgekit.gen.project import generate_project

    from edgekit.link.run import build_key

    # keyed like edgekit's build cache (model, board, firmware sources, version): a firmware change rebuilds
    board = load_board("host")
    key = build_key(model, board, ctx=min(model.config.max_seq_len, 512), ternary=None, embedding=embedding)
    project = work / f"host-{Path(str(model.source)).name}-{kernels.replace(';', '+')}-{key}"
    if not (project / "build" / "firmware" / "edgekit-device").is_file():
        log(f"building the host device for {model.source} with kernels {kernels}")
        generate_project(model, board, project, ctx=min(model.config.max_seq_len, 512), embedding=embedding)
        cache = project / "build" / "CMakeCache.txt"
        build_project(project)
        # rebuild with the requested kernel families (the project default is the board's best)
        subprocess.run(["cmake", "-S", str(project), "-B", str(project / "build"), f"-DEK_KERNELS={kernels}"],
                       check=True, capture_output=True)
        assert cache.is_file()
        build_project(project)
    return project


def bench_host(work: Path, log, *, include_2b: bool = True, runs: int = HOST_RUNS) -> list[dict]:
    import edgekit
    from edgekit.link.client import DeviceClient
    from edgekit.link.device_process import DeviceProcess
    from edgekit.models import DEFAULT_MODEL

    models = [edgekit.load(DEFAULT_MODEL)]
    if include_2b:
        models.append(edgekit.load(synthetic_checkpoint(TWO_B, work, log)))
    sets = native_kernel_sets()
    kernel_sets = [sets[0][0]] + ([sets[-1][0]] if len(sets) > 1 else [])  # portable, and the best this CPU has
    rows = []
    for model in models:
        big = "synth" in str(model.source)
        name = TWO_B if big else DEFAULT_MODEL
        # the 2B shape runs at seconds per token with portable kernels: fewer tokens, patient timeouts
        prompt_tokens, new_tokens, timeout_scale = (16, 8, 40.0) if big else (32, 32, 1.0)
        for kernels in kernel_sets:
            project = host_project(model, kernels, work, log)
            images = sorted(project.glob("model.part*.ekm"))
            for threads in (1, 2):
                log(f"host decode: {name}, kernels {kernels}, {threads} thread(s)")
                decode, prefill = [], []
                with DeviceProcess(project / "build" / "firmware" / "edgekit-device", images,
                                   args=["--threads", str(threads)]) as dev, \
                        DeviceClient(dev.url, timeout_scale=timeout_scale) as client:
                    ident = client.hello()
                    ids = [(7 * i + 3) % model.config.vocab_size for i in range(prompt_tokens)]
                    for r in range(1 + runs):  # run 0 warms caches and page tables up: dropped
                        done = client.generate(ids, max_new_tokens=new_tokens, temperature=0.0,
                                               stop_at_eos=False).run()
                        if r:
                            decode.append(done.decode_tokens_per_s or 0.0)
                            prefill.append(done.prefill_tokens_per_s or 0.0)
                d, p = summary(decode), summary(prefill)
                rows.append({
                    # body: the ternary bodies the device says it runs ("i2:avx2"; an x86-64 build picks its tier
                    # at run time)
                    "suite": "host", "model": name, "kernels": kernels, "body": ident.kernel, "threads": threads,
                    "prompt_tokens": done.prompt_tokens, "new_tokens": done.generated_tokens,
                    "prefill_tokens_per_s": p["median"], "prefill_min": p["min"], "prefill_max": p["max"],
                    "decode_tokens_per_s": d["median"], "decode_min": d["min"], "decode_max": d["max"],
                    "runs": d["runs"], "clock": device_clock("posix", 0).to_dict(),
                })
    return rows


FLASH_SECTIONS = (".text", ".ARM.exidx", ".rodata", ".data")  # .data's initial values are stored in flash
STATIC_RAM_SECTIONS = (".data", ".bss", ".stack")
ARENA_SECTION = ".ek_arena"


def firmware_sizes(elf: Path) -> dict:
    """Flash and static RAM of a bare-metal firmware ELF (`arm-none-eabi-size -A`), the planned arena apart."""
    r = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True)
    if r.returncode:
        raise EdgekitError(f"arm-none-eabi-size {elf} failed: {r.stderr.strip()}", fix="run `make deps`")
    sections = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    return {"firmware_flash_bytes": sum(sections.get(n, 0) for n in FLASH_SECTIONS),
            "static_ram_bytes": sum(sections.get(n, 0) for n in STATIC_RAM_SECTIONS),
            "arena_bytes": sections.get(ARENA_SECTION, 0)}


# Embedding/head formats measured on the M55 besides f32 (i2): what each float format costs per token there
QEMU_FLOAT_FORMATS = ("f16", "bf16", "q8row", "q8i", "q4i")
# The qemu suite's prefill case: the first QEMU_PREFILL_TOKENS tokens of this text (Genesis 1:1-4, KJV)
QEMU_PREFILL_TOKENS = 64
QEMU_PREFILL_TEXT = ("In the beginning God created the heaven and the earth. And the earth was without form, and void; "
                     "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the "
                     "waters. And God said, Let there be light: and there was light. And God saw the light, that it "
                     "was good: and God divided the light from the darkness.")


def icount_instructions(cycles: int, clock_hz: int, shift: int) -> int:
    """Instructions QEMU executed in `cycles` of a device clock at clock_hz under -icount shift: each instruction
    advances virtual time by 2^shift ns, so the device clock counts clock_hz * 2^shift / 1e9 cycles per instruction
    (0.8 for a 25 MHz board at shift 5, 1.024 for a 32 MHz one)."""
    return round(cycles * 1e9 / (clock_hz * 2 ** shift))


def bench_qemu(work: Path, log, boards=("qemu-mps3-an547", "qemu-mps2-an386", "qemu-mps2-an500"),
               ternary_formats=("i2", "t158")) -> list[dict]:
    import edgekit
    from edgekit.boards import load_board
    from edgekit.build.project import firmware_binary
    from edgekit.flash.device import open_device
    from edgekit.gen.project import read_manifest
    from edgekit.link.client import DeviceClient
    from edgekit.link.run import ensure_built
    from edgekit.models import DEFAULT_MODEL

    model = edgekit.load(DEFAULT_MODEL)
    rows = []
    cases = [(board, ternary, "f32") for board in boards for ternary in ternary_formats]
    if "qemu-mps3-an547" in boards:
        cases += [("qemu-mps3-an547", "i2", floats) for floats in QEMU_FLOAT_FORMATS]
    for board, ternary, floats in cases:  # each: build (cached), 16 greedy tokens under -icount
        log(f"emulated decode on {board}, {ternary}, {floats} embedding/head")
        project = ensure_built(model, board, ternary=ternary, embedding=floats, log=log)
        shift = load_board(board).qemu.icount_shift
        # -icount: virtual time advances per instruction, so the device clock counts instructions, not how
        # fast this host emulates them (deterministic; an estimate of silicon at ~1 instruction per cycle)
        with open_device(project, icount_shift=shift) as session, \
                DeviceClient(session.url, timeout_scale=20) as client:
            ident = client.hello()
            ids = model.encode("And God said,")
            done = client.generate(ids, max_new_tokens=16, temperature=0.0, stop_at_eos=False).run()
            client.reset()
            # a longer prompt, as a chat turn brings: prefill runs in chunks where the plan gave the arena room
            prompt = model.encode(QEMU_PREFILL_TEXT)[:QEMU_PREFILL_TOKENS]
            filled = client.generate(prompt, max_new_tokens=1, temperature=0.0, stop_at_eos=False).run()
        rows.append({"suite": "qemu", "model": DEFAULT_MODEL, "board": board, "kernels": ident.kernel,
                     "embedding": floats,
                     "image_bytes": sum(p.stat().st_size for p in project.glob("*.ekm")),
                     "icount_shift": shift,
                     "decode_cycles_per_token": done.decode_cycles // max(done.generated_tokens, 1),
                     "decode_instructions_per_token": icount_instructions(
                         done.decode_cycles // max(done.generated_tokens, 1), ident.clock_hz, shift),
                     "decode_tokens_per_s_estimate": round(done.decode_tokens_per_s or 0, 3),
                     "prefill_tokens": filled.prompt_tokens,
                     "prefill_cycles_per_token": filled.prefill_cycles // max(filled.prompt_tokens, 1),
                     "prefill_instructions_per_token": icount_instructions(
                         filled.prefill_cycles // max(filled.prompt_tokens, 1), ident.clock_hz, shift),
                     **firmware_sizes(firmware_binary(project, "cmake", read_manifest(project))),
                     "clock": device_clock(board, ident.clock_hz, icount_shift=shift).to_dict(),
                     "note": "QEMU -icount: instruction-count estimate, not silicon"})
    return rows


def bench_reliability(work: Path, log, devices: tuple[str, ...] = ()) -> list[dict]:
    from edgekit.bench.reliability import DEVICES, bench_reliability as run_reliability

    chosen = tuple(d for d in devices if d in DEVICES) if devices else tuple(DEVICES)
    return run_reliability(work, log, devices=chosen, hostile=not devices or "scripted" in devices)


def bench_peers(work: Path, log, **options) -> list[dict]:
    from edgekit.bench.peers import bench_peers as run_peers

    return run_peers(work, log, **options)


SUITES = {"pack": bench_pack, "host": bench_host, "qemu": bench_qemu, "kernels": bench_kernels,
          "reliability": bench_reliability, "peers": bench_peers}
# suites a plain `edgekit bench` leaves out: long (reliability) or needing an extra (peers)
NOT_BY_DEFAULT = ("reliability", "peers")


def run(suites: list[str], work: Path, log, *, devices: tuple[str, ...] = (),
        options: dict[str, dict] | None = None) -> dict:
    """devices: for the reliability suite, which devices to run (default: all it knows). options: keyword
    arguments for individual suites, e.g. {"peers": {"rounds": 3}}."""
    options = {**(options or {})}
    if devices:
        options["reliability"] = {**options.get("reliability", {}), "devices": tuple(devices)}
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rows = []
    for name in suites:
        rows += SUITES[name](work, log, **options.get(name, {}))
    return {"machine": machine_info(), "started_unix": int(started), "finished_unix": int(time.time()),
            "suites": list(suites), "rows": rows}
