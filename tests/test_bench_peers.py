"""`edgekit bench`: the peers suite's bookkeeping, the kernel bench's sets and placements, the machine record.

Tiny shapes and the bundled model only; nothing here asserts on a time, only on structure and arithmetic.
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.bench import peers
from edgekit.bench.bandwidth import build_reader, read_bandwidth
from edgekit.bench.machine import machine_info
from edgekit.bench.stats import ratio, summary
from edgekit.errors import EdgekitError
from helpers import bitnet_cpp_bin

ROOT = Path(__file__).resolve().parents[1]


class _Recorded:
    """An engine whose measurements are given numbers (for the bookkeeping, not the timing)."""

    def __init__(self, engine, rates, bytes_per_token):
        self.engine, self.format, self.bytes_per_token = engine, "test", bytes_per_token
        self.rates, self.calls = {k: list(v) for k, v in rates.items()}, []

    def measure(self, metric, threads):
        self.calls.append((metric, threads))
        return self.rates[(metric, threads)].pop(0)


def test_rounds_interleave_drop_the_warm_up_and_rows_compute_ratios():
    cases = peers.cases()
    ours = _Recorded("edgekit", {c: [1.0, 10.0, 12.0, 11.0] for c in cases}, 2_000_000)
    peer = _Recorded("peer", {c: [1.0, 5.0, 4.0, 6.0] for c in cases}, 1_000_000)
    bw_calls = []

    def bandwidth(threads):
        bw_calls.append(threads)
        return [99.0] if len(bw_calls) <= len(peers.DECODE_THREADS) else [10.0 * threads, 30.0 * threads]

    samples, bw = peers.run_rounds([ours, peer], bandwidth, rounds=3, log=lambda m: None)
    # every round runs every case on every engine, engines alternating within a case
    assert ours.calls == [c for _ in range(4) for c in cases] == peer.calls
    assert samples[("edgekit", "decode", 1)] == [10.0, 12.0, 11.0]  # the warm-up round's 1.0 is dropped
    assert bw == {t: [10.0 * t, 30.0 * t] * 3 for t in peers.DECODE_THREADS}  # so is its bandwidth (99)

    rows = peers.rows_from([ours, peer], samples, bw, "m")
    assert [r["threads"] for r in rows if r["suite"] == "bandwidth"] == list(peers.DECODE_THREADS)
    by = {(r["engine"], r["metric"], r["threads"]): r for r in rows if r["suite"] == "peers"}
    assert len(by) == 2 * len(cases)
    r = by[("edgekit", "decode", 2)]
    assert (r["tokens_per_s_min"], r["tokens_per_s_median"], r["tokens_per_s_max"], r["runs"]) == (10, 11, 12, 3)
    bw2 = statistics.median([20.0, 60.0] * 3)
    assert r["roofline_tokens_per_s"] == round(bw2 * 1e9 / 2_000_000, 2)
    assert r["roofline_fraction"] == round(11 / (bw2 * 1e9 / 2_000_000), 3)
    assert r["edgekit_over_this"] == 1.0 and r["binary"] is None
    p = by[("peer", "decode", 2)]
    assert p["tokens_per_s_median"] == 5.0 and p["edgekit_over_this"] == round(11 / 5, 2)
    assert p["roofline_tokens_per_s"] == round(bw2 * 1e9 / 1_000_000, 2)
    pre = by[("peer", "prefill", peers.PREFILL_THREADS)]
    assert pre["roofline_fraction"] is None and pre["edgekit_over_this"] == 2.2


def test_each_edgekit_head_gets_its_own_ratio_column():
    """--head q8i --head q4i: two edgekit engines in the same rounds, and every row says how each compares."""
    cases = peers.cases()
    q8 = _Recorded("edgekit q8i", {c: [1.0, 10.0, 10.0] for c in cases}, 2_000_000)
    q4 = _Recorded("edgekit q4i", {c: [1.0, 12.0, 12.0] for c in cases}, 1_500_000)
    peer = _Recorded("peer", {c: [1.0, 5.0, 5.0] for c in cases}, 1_000_000)
    samples, bw = peers.run_rounds([q8, q4, peer], lambda t: [10.0], rounds=2, log=lambda m: None)
    rows = [r for r in peers.rows_from([q8, q4, peer], samples, bw, "m") if r["suite"] == "peers"]
    assert all("edgekit_over_this" not in r for r in rows)
    p = next(r for r in rows if r["engine"] == "peer" and r["metric"] == "decode")
    assert (p["edgekit_q8i_over_this"], p["edgekit_q4i_over_this"]) == (2.0, 2.4)
    mine = next(r for r in rows if r["engine"] == "edgekit q4i" and r["metric"] == "decode")
    assert mine["edgekit_q4i_over_this"] == 1.0 and mine["edgekit_q8i_over_this"] == round(10 / 12, 2)


def test_llama_bench_json_is_parsed_by_case():
    # the shape of llama-bench's `-o json`: a list of tests, each with its parameters and samples
    doc = [{"build_commit": "abc", "n_threads": 2, "n_prompt": 128, "n_gen": 0, "avg_ts": 80.0,
            "samples_ts": [79.0, 80.0, 81.0]},
           {"build_commit": "abc", "n_threads": 2, "n_prompt": 0, "n_gen": 32, "avg_ts": 15.0,
            "samples_ts": [14.0, 16.0, 15.5]},
           {"build_commit": "abc", "n_threads": 1, "n_prompt": 0, "n_gen": 32, "avg_ts": 8.5}]
    text = json.dumps(doc, indent=2)
    assert peers.parse_llama_bench_json(text, "prefill", 2) == 80.0
    assert peers.parse_llama_bench_json(text, "decode", 2) == 15.5  # median of the samples
    assert peers.parse_llama_bench_json(text, "decode", 1) == 8.5  # older builds: avg_ts only
    with pytest.raises(EdgekitError, match="no prefill test with 1"):
        peers.parse_llama_bench_json(text, "prefill", 1)
    with pytest.raises(EdgekitError, match="did not print JSON"):
        peers.parse_llama_bench_json("| model | size |", "decode", 1)


def test_llama_bench_command_and_bad_paths(tmp_path, bundled_gguf):
    exe = tmp_path / "llama-bench"
    exe.write_text("")
    lb = peers.LlamaBench(exe, bundled_gguf)
    assert lb.command("decode", 1) == [str(exe), "-m", str(bundled_gguf), "-t", "1", "-p", "0", "-n",
                                       str(peers.DECODE_TOKENS), "-r", "1", "-o", "json"]
    assert lb.command("prefill", 2)[3:9] == ["-t", "2", "-p", str(peers.PREFILL_TOKENS), "-n", "0"]
    assert "TQ2_0" in lb.format and lb.bytes_per_token == peers.gguf_bytes_per_token(bundled_gguf)
    with pytest.raises(EdgekitError, match="--peer-bench"):
        peers.LlamaBench(tmp_path / "missing", bundled_gguf)
    with pytest.raises(EdgekitError, match="--peer-model"):
        peers.LlamaBench(exe, tmp_path / "missing.gguf")


def test_llama_bench_json_between_log_lines_and_its_build_label():
    # some builds log to stdout around the JSON; the build label is what the binary reports
    doc = [{"build_commit": "406a5036", "build_number": 3947, "n_threads": 1, "n_prompt": 0, "n_gen": 32,
            "avg_ts": 9.0, "samples_ts": [9.0], "model_type": "bitnet ?B I2_S - 2 bpw ternary"}]
    text = "main: loading model\n" + json.dumps(doc, indent=2) + "\nllama_perf: done\n"
    assert peers.parse_llama_bench_json(text, "decode", 1) == 9.0
    assert peers.build_label(doc[0]) == "406a5036, build 3947"
    assert peers.build_label({"build_commit": "unknown", "build_number": 0}) == "unknown"
    with pytest.raises(EdgekitError, match="not a list of tests"):
        peers.parse_llama_bench_tests('{"n_threads": 1}')


def _executable(path: Path, script: str) -> Path:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def test_a_failing_llama_bench_is_one_line_saying_why(tmp_path, bundled_gguf):
    """A binary that cannot load the file: llama.cpp logs pages of metadata, then the reason; the error keeps
    the reason, names the binary and the file, and is one line."""
    exe = _executable(tmp_path / "llama-bench",
                      "for i in 1 2 3 4 5 6 7 8; do echo \"llama_model_loader: - kv $i: some.key = value\" >&2; done\n"
                      "echo 'llama_model_load: error loading model: unknown model architecture' >&2\n"
                      "echo 'main: failed to load model' >&2\n"
                      "exit 1\n")
    lb = peers.LlamaBench(exe, bundled_gguf)
    with pytest.raises(EdgekitError) as e:
        lb.measure("decode", 1)
    msg = str(e.value)
    assert "\n" not in msg and str(exe) in msg and bundled_gguf.name in msg and "exit 1" in msg
    assert "): llama_model_load: error loading model: unknown model architecture" in msg
    assert peers.failure_line("a\nllama_model_load: error loading model: x\nmain: failed\n\n") == \
        "llama_model_load: error loading model: x"
    assert peers.failure_line("a\nmain: failed to load\nb\n") == "main: failed to load"
    assert peers.failure_line("only this\n") == "only this" and peers.failure_line("") == "no message"
    # a file that is not executable at all
    (tmp_path / "not-exe").write_text("")
    with pytest.raises(EdgekitError, match="cannot run --peer-bench"):
        peers.LlamaBench(tmp_path / "not-exe", bundled_gguf).measure("decode", 1)


def test_llama_bench_label_comes_from_its_first_report(tmp_path, bundled_gguf):
    """The engine is named by the build the binary reports, before its first sample is stored."""
    doc = [{"build_commit": "abc1234", "build_number": 42, "n_threads": t, "n_prompt": p, "n_gen": n,
            "avg_ts": 5.0, "model_type": "bitnet ?B TQ2_0"} for t, p, n in ((1, 0, 32), (2, 0, 32), (2, 128, 0))]
    (tmp_path / "out.json").write_text(json.dumps(doc))
    exe = _executable(tmp_path / "llama-bench", f"cat {tmp_path / 'out.json'}\n")
    lb = peers.LlamaBench(exe, bundled_gguf)
    samples, _ = peers.run_rounds([lb], None, rounds=1, log=lambda m: None)
    assert set(samples) == {("llama-bench abc1234, build 42 TQ2_0", m, t) for m, t in peers.cases()}
    assert lb.format == "F16, F32, TQ2_0 (kjv.gguf)"
    # a build made outside git reports "unknown": its path names it instead
    (tmp_path / "out.json").write_text(json.dumps([{**t, "build_commit": "unknown", "build_number": 0} for t in doc]))
    lb = peers.LlamaBench(exe, bundled_gguf)
    lb.measure("decode", 1)
    assert lb.engine == f"llama-bench ({exe}) TQ2_0"
    # the same binary and file twice would pool two engines' samples under one name
    with pytest.raises(EdgekitError, match="both named"):
        peers.run_rounds([peers.LlamaBench(exe, bundled_gguf), peers.LlamaBench(exe, bundled_gguf)], None,
                         rounds=1, log=lambda m: None)


@pytest.mark.parametrize("args, says", [
    (["--peer-format", "i2_s"], "none was given"),
    (["--peer-bench", "{exe}"], "needs one --peer-format"),
    (["--peer-bench", "{exe}", "--peer-format", "i2_s", "--peer-model", "{exe}"], "needs one --peer-format"),
    (["--peer-bench", "{exe}", "--peer-bench", "{exe}", "--peer-format", "i2_s"], "needs one --peer-format"),
    (["--peer-bench", "{exe}", "--peer-format", "i2_s", "--peer-bench", "{missing}", "--peer-format", "tq2_0"],
     "is not a file"),
])
def test_peer_options_are_checked_before_any_work(tmp_path, args, says):
    from edgekit.cli import cli

    exe = _executable(tmp_path / "llama-bench", "exit 0\n")
    args = [a.format(exe=exe, missing=tmp_path / "missing") for a in args]
    res = CliRunner().invoke(cli, ["bench", "--suite", "peers", "--work", str(tmp_path / "w"), "--json",
                                   str(tmp_path / "r.json"), *args])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("edgekit: error:") and says in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists() and list((tmp_path / "w").iterdir()) == []  # no checkpoint, no build


def test_peer_pairs_keep_the_order_given(tmp_path):
    a, b = _executable(tmp_path / "a", "exit 0\n"), _executable(tmp_path / "b", "exit 0\n")
    assert peers.peer_pairs((a, b), (), ("i2_s", "tq2_0")) == [(a, None, "i2_s"), (b, None, "tq2_0")]
    assert peers.peer_pairs((a,), (b,), ()) == [(a, b, None)]
    assert peers.peer_pairs((), (), ()) == []


def test_peer_gguf_is_the_export_with_its_head_left_f16_without_a_quantizer(tmp_path):
    """No llama-quantize beside the binary: the peer runs edgekit's own export (I2_S, F16 head), made once."""
    import edgekit
    from edgekit.loaders.gguf_file import GGUFFile
    from edgekit.models import DEFAULT_MODEL

    model = edgekit.load(DEFAULT_MODEL)
    (tmp_path / "bin").mkdir()
    exe = _executable(tmp_path / "bin" / "llama-bench", "exit 0\n")
    logged = []
    got = peers.peer_gguf(model, tmp_path, "i2_s", exe, logged.append)
    assert {t.type_name for t in GGUFFile(got).tensors.values()} == {"I2_S", "F16", "F32"}
    assert any("llama-quantize" in m for m in logged)
    assert (got.stat().st_mtime_ns, got) == (peers.peer_gguf(model, tmp_path, "i2_s", exe, logged.append)
                                             .stat().st_mtime_ns, got)




def test_bitnet_cpp_llama_bench_in_the_peers_suite(tmp_path):
    """The whole suite with bitnet.cpp's real llama-bench on the bundled model, one round: the suite exports the
    same weights as I2_S, bitnet.cpp's llama-quantize gives them a Q6_K head, and every case of every engine has
    a row labelled with the build bitnet.cpp reports. Runs when EDGEKIT_BITNET_CPP names its bin folder."""
    from edgekit.cli import cli
    from edgekit.models import DEFAULT_MODEL

    bin_dir = bitnet_cpp_bin()
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["bench", "--suite", "peers", "--model", DEFAULT_MODEL, "--rounds", "1",
                                   "--peer-bench", str(Path(bin_dir) / "llama-bench"), "--peer-format", "i2_s",
                                   "--work", str(tmp_path / "w"), "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = [r for r in json.loads(out.read_text())["rows"] if r["suite"] == "peers"]
    bench_rows = [r for r in rows if r["engine"].startswith("llama-bench ")]
    assert sorted((r["metric"], r["threads"]) for r in bench_rows) == sorted(peers.cases())
    for r in bench_rows:
        assert r["tokens_per_s_median"] > 0 and r["runs"] == 1
        assert "I2_S" in r["format"] and "Q6_K" in r["format"], r["format"]
        assert r["engine"] != f"llama-bench ({Path(bin_dir) / 'llama-bench'})"  # labelled by the build it reported
        assert r["edgekit_over_this"] > 0 and r["binary"] == str(Path(bin_dir) / "llama-bench")


@pytest.fixture(scope="module")
def bundled_gguf(tmp_path_factory):
    import edgekit
    from edgekit.models import DEFAULT_MODEL
    from edgekit.pack.gguf_export import export_gguf

    return export_gguf(edgekit.load(DEFAULT_MODEL), tmp_path_factory.mktemp("g") / "kjv.gguf")


def test_gguf_bytes_per_token(bundled_gguf):
    from edgekit.loaders.gguf_file import GGUFFile

    tensors = GGUFFile(bundled_gguf).tensors
    # tied: token_embd is the head, read whole every token
    assert peers.gguf_bytes_per_token(bundled_gguf) == sum(t.nbytes for t in tensors.values())


def test_missing_llama_cpp_python_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    import sys

    from edgekit.cli import cli

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` fails as if it were not installed

    res = CliRunner().invoke(cli, ["bench", "--suite", "peers", "--work", str(tmp_path / "w"), "--json",
                                   str(tmp_path / "r.json")])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("edgekit: error:") and "edgekit[peers]" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "r.json").exists()


def test_edgekit_host_engine_measures_the_bundled_model(tmp_path, monkeypatch):
    """The real device process: decode and prefill rates are positive, bytes per token are the plan's."""
    import edgekit
    from edgekit.boards import load_board
    from edgekit.models import DEFAULT_MODEL
    from edgekit.plan.planner import plan_model

    monkeypatch.setattr(peers, "PREFILL_TOKENS", 40)  # the bundled model's context is 256
    model = edgekit.load(DEFAULT_MODEL)
    host = peers.EdgekitHost(model, tmp_path, lambda m: None)
    try:
        samples, bw = peers.run_rounds([host], None, rounds=1, log=lambda m: None)
    finally:
        host.close()
    assert bw == {} and set(samples) == {("edgekit", m, t) for m, t in peers.cases()}
    assert all(len(v) == 1 and v[0] > 0 for v in samples.values())
    plan = plan_model(model.config, load_board("host"), ctx=min(model.config.max_seq_len, peers.CTX),
                      embedding=peers.DEFAULT_HEAD)
    assert host.bytes_per_token == plan.read_per_token_bytes > 0
    assert host.format.startswith(f"{plan.choice.ternary} + {peers.DEFAULT_HEAD} head")
    from edgekit.bench.kernels import native_kernel_sets

    # the body the device says it runs ("format:body"; an x86-64 build picks its tier at run time)
    assert host.format.endswith(f"(runs {plan.choice.ternary}:{native_kernel_sets()[-1][1]})")
    # the device really runs that head: the image's embedding section is in that format
    from edgekit.pack.formats import FLOAT_FORMATS
    from edgekit.pack.image import read_image

    image = read_image(sorted(host.project.glob("model.part*.ekm"))[0])
    embedding = next(sec for sec in image.sections if sec.name == "tok_embeddings")
    assert embedding.format == FLOAT_FORMATS[peers.DEFAULT_HEAD].code


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_read_bandwidth_tool(tmp_path):
    exe = build_reader(tmp_path)
    got = read_bandwidth(exe, 2, repeats=2, mib=16)
    assert len(got) == 2 and all(g > 0 for g in got)
    r = subprocess.run([str(exe), "0", "1", "1"], capture_output=True, text=True)
    assert r.returncode == 2 and "bad arguments" in r.stderr


def test_summary_and_ratio():
    assert summary([3.0, 1.0, 2.0, 10.0]) == {"min": 1.0, "median": 2.5, "max": 10.0, "runs": 4}
    assert ratio(3.0, 2.0) == 1.5 and ratio(None, 2.0) is None and ratio(1.0, 0) is None and ratio(0.0, 2.0) == 0.0
    with pytest.raises(ValueError):
        summary([])


def test_machine_record():
    m = machine_info()
    assert m["cpu"] and m["logical_cpus"] >= 1 and isinstance(m["flags"], list)
    if Path("/proc/cpuinfo").is_file() and " avx2" in Path("/proc/cpuinfo").read_text():
        assert "avx2" in m["flags"]


def test_kernel_sets_come_from_the_cpu_and_the_build_knows_them():
    from edgekit.bench.kernels import native_kernel_sets
    from edgekit.boards import load_board
    from edgekit.gen.project import RUNTIME_TIERS, kernel_families, native_features

    sets = native_kernel_sets()
    families = kernel_families(load_board("host"))
    cpu = native_features()
    # a run-time family (avx512) is timed only on a CPU that has it, under the tier it runs there
    timed = [f for f in families if f not in RUNTIME_TIERS or f in cpu]
    assert sets[0] == ("c", "c") and [kernels.split(";")[-1] for kernels, _ in sets] == timed
    for kernels, body in sets:
        family = kernels.split(";")[-1]
        assert kernels.split(";") == families[: families.index(family) + 1]  # prefixes of the build's families
        assert body == family or (body in RUNTIME_TIERS[family] and body in cpu)
    cmake = (ROOT / "firmware" / "CMakeLists.txt").read_text()
    for family in families:
        assert family in cmake.split('set(EK_KERNELS "c" CACHE STRING', 1)[1].split("\n", 1)[0]


def test_kernel_bench_times_cache_and_dram_placements(tmp_path, monkeypatch):
    """`edgekit bench --suite kernels` on small shapes (the suite itself, through the command): a table per op."""
    import functools

    from edgekit.bench import kernels, suites
    from edgekit.cli import cli
    from edgekit.pack.formats import FLOAT_FORMATS

    assert kernels.dram_copies(1 << 20) * (1 << 20) >= kernels.DRAM_FOOTPRINT_OVER_LLC * (
        kernels.cache_bytes(3) or kernels.cache_bytes(2) or 32 << 20)
    monkeypatch.setitem(suites.SUITES, "kernels", functools.partial(
        kernels.bench_kernels, shapes=((256, 1024),), formats=("i2",), runs=2, head_shape=(301, 256)))
    res = CliRunner().invoke(cli, ["bench", "--suite", "kernels", "--work", str(tmp_path / "w"), "--json",
                                   str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "kernels: matvec" in res.output and "kernels: head" in res.output and "ms_per_head" in res.output
    all_rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    rows = [r for r in all_rows if r["op"] == "matvec"]
    sets = kernels.native_kernel_sets()
    assert [(r["placement"], r["body"]) for r in rows] == [(p, b) for p in kernels.PLACEMENTS for _, b in sets]
    # the heads: every format, every body, from DRAM (each body's logits checked against the portable body's)
    heads = [r for r in all_rows if r["op"] == "head"]
    assert [(r["format"], r["body"]) for r in heads] == [(f, b) for f in kernels.HEAD_FORMATS for _, b in sets]
    for r in heads:
        assert r["placement"] == "dram" and r["weight_gb_per_s_min"] <= r["weight_gb_per_s"] <= r["weight_gb_per_s_max"]
        assert r["packed_bytes"] == FLOAT_FORMATS[r["format"]].packed_size((301, 256))
    for r in rows:
        assert r["gweights_per_s_min"] <= r["gweights_per_s"] <= r["gweights_per_s_max"] and r["runs"] == 2
        assert r["copies"] == (1 if r["placement"] == "cache" else kernels.dram_copies(r["packed_bytes"]))
        # us_per_matvec is rounded to 0.1 us: the derived figures agree with it to that precision
        assert r["weight_gb_per_s"] == pytest.approx(r["packed_bytes"] / (r["us_per_matvec"] * 1e-6) / 1e9, rel=0.05)
    portable = {r["placement"]: r for r in rows if r["body"] == "c"}
    for r in rows:
        assert r["speedup_vs_c"] == pytest.approx(portable[r["placement"]]["us_per_matvec"] / r["us_per_matvec"],
                                                  rel=0.05, abs=0.01)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs the GNU Arm toolchain (make deps)")
def test_firmware_sizes_split_flash_ram_and_arena(tmp_path):
    """A tiny bare-metal ELF with known section sizes, read the way the qemu suite reads the firmware's."""
    from edgekit.bench.suites import firmware_sizes

    src = tmp_path / "fw.c"
    src.write_text("__attribute__((section(\".ek_arena\"))) char arena[4096];\n"
                   "__attribute__((section(\".stack\"))) char stack[512];\n"
                   "int counter = 7; char zeros[1000];\n"
                   "int main(void) { zeros[counter] = 1; return arena[counter] + stack[0]; }\n")
    elf = tmp_path / "fw.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-e", "main", "-o", str(elf),
                    str(src)], check=True, capture_output=True)
    sizes = firmware_sizes(elf)
    assert sizes["arena_bytes"] == 4096
    assert 512 + 4 + 1000 <= sizes["static_ram_bytes"] < 512 + 4 + 1000 + 64
    assert 0 < sizes["firmware_flash_bytes"] < 1024  # main's code and counter's initial value, not the arrays


def test_kernel_bench_rebuilds_when_the_firmware_changes(tmp_path, monkeypatch):
    """The kernel suite's scratch builds are keyed by the firmware sources: an edited kernel is never timed with
    the library an older tree left in the work folder."""
    from edgekit.bench import kernels

    firmware = tmp_path / "firmware"
    shutil.copytree(kernels.FIRMWARE / "kernels", firmware / "kernels")
    monkeypatch.setattr(kernels, "FIRMWARE", firmware)
    before = kernels._firmware_key()
    assert kernels._firmware_key() == before  # stable while nothing changes
    body = firmware / "kernels" / "ek_matvec_i2_avx2.c"
    body.write_text(body.read_text() + "\n/* edited */\n")
    assert kernels._firmware_key() != before
