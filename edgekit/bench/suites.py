"""Benchmark suites. Each returns rows (dicts) for the table and the JSON file.

pack    load + pack throughput of a synthetic bitnet-b1.58-2B-4T checkpoint per ternary format, and peak RSS
        against the checkpoint's size (the foundation issue's goals: >= 50 M weights/s, RSS <= 1.5x).
host    native host decode and prefill tokens/s of the POSIX device over a pty, for the bundled model and the
        2B-4T shape, with the portable C kernels and with the best kernels this CPU has.
qemu    emulated boards: decode tokens/s by the device's own clock (QEMU timing: estimates, not silicon).
kernels ternary matvec Gweights/s per format and native kernel body at the 2B-4T shapes (edgekit/bench/kernels.py).
reliability  the link under faults (edgekit/bench/reliability.py, docs/reliability.md): outcomes per scenario.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from edgekit.bench.kernels import bench_kernels
from edgekit.errors import EdgekitError

REPO = Path(__file__).resolve().parents[2]
PACK_FORMATS = ("i2", "t158", "tl")
TWO_B = "bitnet-b1.58-2B-4T"


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def synthetic_checkpoint(shape: str, work: Path, log) -> Path:
    """A synthetic checkpoint of a real shape, made once and kept in the bench work directory."""
    out = work / f"synth-{shape}"
    if (out / "config.json").is_file():
        return out
    tools = REPO / "tools"
    if not (tools / "synth_checkpoint.py").is_file():
        raise EdgekitError("the benchmarks need a source checkout (tools/synth_checkpoint.py)",
                           fix="run `make bench` in a clone of the edgekit repository")
    log(f"writing a synthetic {shape} checkpoint to {out} (once)")
    sys.path.insert(0, str(REPO))
    from tools.synth_checkpoint import synth_checkpoint

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


def _host_project(model, kernels: str, work: Path, log) -> Path:
    """Generate + build the host board with the given kernel families (c = portable only)."""
    from edgekit.boards import load_board
    from edgekit.build import build_project
    from edgekit.gen.project import generate_project

    from edgekit.link.run import build_key

    # keyed like edgekit's build cache (model, board, firmware sources, version): a firmware change rebuilds
    board = load_board("host")
    key = build_key(model, board, ctx=min(model.config.max_seq_len, 512), ternary=None, embedding=None)
    project = work / f"host-{Path(str(model.source)).name}-{kernels.replace(';', '+')}-{key}"
    if not (project / "build" / "firmware" / "edgekit-device").is_file():
        log(f"building the host device for {model.source} with kernels {kernels}")
        generate_project(model, board, project, ctx=min(model.config.max_seq_len, 512))
        cache = project / "build" / "CMakeCache.txt"
        build_project(project)
        # rebuild with the requested kernel families (the project default is the board's best)
        subprocess.run(["cmake", "-S", str(project), "-B", str(project / "build"), f"-DEK_KERNELS={kernels}"],
                       check=True, capture_output=True)
        assert cache.is_file()
        build_project(project)
    return project


def bench_host(work: Path, log, *, include_2b: bool = True) -> list[dict]:
    import edgekit
    from edgekit.link.client import DeviceClient
    from edgekit.link.device_process import DeviceProcess
    from edgekit.models import DEFAULT_MODEL

    models = [edgekit.load(DEFAULT_MODEL)]
    if include_2b:
        models.append(edgekit.load(synthetic_checkpoint(TWO_B, work, log)))
    rows = []
    for model in models:
        big = "synth" in str(model.source)
        name = TWO_B if big else DEFAULT_MODEL
        # the 2B shape runs at seconds per token with portable kernels: fewer tokens, patient timeouts
        prompt_tokens, new_tokens, timeout_scale = (16, 8, 40.0) if big else (32, 32, 1.0)
        for kernels in ("c", "c;avx2"):
            project = _host_project(model, kernels, work, log)
            images = sorted(project.glob("model.part*.ekm"))
            for threads in (1, 2):
                log(f"host decode: {name}, kernels {kernels}, {threads} thread(s)")
                with DeviceProcess(project / "build" / "firmware" / "edgekit-device", images,
                                   args=["--threads", str(threads)]) as dev, \
                        DeviceClient(dev.url, timeout_scale=timeout_scale) as client:
                    client.hello()
                    ids = [(7 * i + 3) % model.config.vocab_size for i in range(prompt_tokens)]
                    done = client.generate(ids, max_new_tokens=new_tokens, temperature=0.0,
                                           stop_at_eos=False).run()
                rows.append({
                    "suite": "host", "model": name, "kernels": kernels, "threads": threads,
                    "prompt_tokens": done.prompt_tokens, "new_tokens": done.generated_tokens,
                    "prefill_tokens_per_s": round(done.prefill_tokens_per_s or 0, 2),
                    "decode_tokens_per_s": round(done.decode_tokens_per_s or 0, 2),
                })
    return rows


def bench_qemu(work: Path, log, boards=("qemu-mps3-an547", "qemu-mps2-an386", "qemu-mps2-an500"),
               ternary_formats=("i2", "t158")) -> list[dict]:
    import edgekit
    from edgekit.boards import load_board
    from edgekit.flash.device import open_device
    from edgekit.link.client import DeviceClient
    from edgekit.link.run import ensure_built
    from edgekit.models import DEFAULT_MODEL

    model = edgekit.load(DEFAULT_MODEL)
    rows = []
    for board in boards:
        for ternary in ternary_formats:
            log(f"emulated decode on {board}, {ternary}")
            project = ensure_built(model, board, ternary=ternary, embedding="f32", log=log)
            shift = load_board(board).qemu.icount_shift
            # -icount: virtual time advances per instruction, so the device clock counts instructions, not how
            # fast this host emulates them (deterministic; an estimate of silicon at ~1 instruction per cycle)
            with open_device(project, icount_shift=shift) as session, \
                    DeviceClient(session.url, timeout_scale=20) as client:
                ident = client.hello()
                ids = model.encode("And God said,")
                done = client.generate(ids, max_new_tokens=16, temperature=0.0, stop_at_eos=False).run()
            rows.append({"suite": "qemu", "model": DEFAULT_MODEL, "board": board, "kernels": ident.kernel,
                         "image_bytes": sum(p.stat().st_size for p in project.glob("*.ekm")),
                         "icount_shift": shift,
                         "decode_cycles_per_token": done.decode_cycles // max(done.generated_tokens, 1),
                         "decode_tokens_per_s_estimate": round(done.decode_tokens_per_s or 0, 3),
                         "note": "QEMU -icount: instruction-count estimate, not silicon"})
    return rows


def bench_reliability(work: Path, log, devices: tuple[str, ...] = ()) -> list[dict]:
    from edgekit.bench.reliability import DEVICES, bench_reliability as run_reliability

    chosen = tuple(d for d in devices if d in DEVICES) if devices else tuple(DEVICES)
    return run_reliability(work, log, devices=chosen, hostile=not devices or "scripted" in devices)


SUITES = {"pack": bench_pack, "host": bench_host, "qemu": bench_qemu, "kernels": bench_kernels,
          "reliability": bench_reliability}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def run(suites: list[str], work: Path, log, *, devices: tuple[str, ...] = ()) -> dict:
    """devices: for the reliability suite, which devices to run (default: all it knows)."""
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rows = []
    for name in suites:
        rows += SUITES[name](work, log, devices=devices) if name == "reliability" else SUITES[name](work, log)
    import platform

    return {"machine": {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "started_unix": int(started), "rows": rows}
