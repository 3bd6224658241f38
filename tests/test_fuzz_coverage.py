"""Coverage-guided fuzzing of the firmware's decoders of outside bytes (libFuzzer + ASan + UBSan).

The harnesses in firmware/tests/fuzz/ (fuzz_frame: COBS/CRC framing; fuzz_message: the message codec and
the whole device server loop over a tiny model; fuzz_image: the .ekm checks a device makes before running,
then the forward pass) are built with clang and each run for a bounded number of executions on a copy of
the committed corpus. A crash, a sanitizer report or a broken harness property fails the test with the
input libFuzzer saved. Every committed regression input (a crash found earlier, fixed since) must run
clean. `make fuzz` runs the same harnesses for minutes and merges new coverage into the corpus.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUZZ_DIR = ROOT / "firmware" / "tests" / "fuzz"
TARGETS = ("fuzz_frame", "fuzz_message", "fuzz_image")
# Bounded: enough executions to mutate every seed many times, little enough for the suite on 2 cores.
RUNS, MAX_SECONDS = 20000, 20
# Leak checking needs ptrace, which containers often forbid; leaks are not what these harnesses hunt.
FUZZ_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1"}
APT = "apt-get install -y clang libclang-rt-14-dev cmake ninja-build"


def _need_tools() -> None:
    missing = [t for t in ("clang", "cmake", "ninja") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make deps` ({APT})")


@pytest.fixture(scope="module")
def fuzzers(tmp_path_factory) -> dict[str, Path]:
    _need_tools()
    build = tmp_path_factory.mktemp("fuzzbuild")
    configure = subprocess.run(["cmake", "-S", str(FUZZ_DIR), "-B", str(build), "-G", "Ninja",
                                "-DCMAKE_C_COMPILER=clang", "-DCMAKE_BUILD_TYPE="], capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    built = subprocess.run(["cmake", "--build", str(build), "-j2"], capture_output=True, text=True)
    if built.returncode != 0 and "libclang_rt.fuzzer" in built.stdout + built.stderr:
        pytest.fail(f"clang has no libFuzzer runtime: {APT}")
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    return {t: build / t for t in TARGETS}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def test_seeds_are_what_the_generator_writes():
    """The committed seeds and the fuzz_message model come from tools/make_fuzz_seeds.py (one source)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from make_fuzz_seeds import MAX_SEED_BYTES, seeds
    finally:
        sys.path.remove(str(ROOT / "tools"))
    stale = [rel for rel, data in seeds().items()
             if not (FUZZ_DIR / rel).is_file() or (FUZZ_DIR / rel).read_bytes() != data]
    assert not stale, f"stale fuzz seeds {stale[:5]}: run `.venv/bin/python tools/make_fuzz_seeds.py`"
    for target in TARGETS:
        corpus = _files(FUZZ_DIR / "corpus" / target)
        assert corpus, target
        assert max(p.stat().st_size for p in corpus) <= MAX_SEED_BYTES


@pytest.mark.parametrize("target", TARGETS)
def test_fuzzer_finds_no_crash(fuzzers, target, tmp_path):
    work = tmp_path / "corpus"  # libFuzzer adds inputs to its first corpus dir: never the committed one
    shutil.copytree(FUZZ_DIR / "corpus" / target, work)
    seeds = len(_files(work))
    # a fixed seed: the same mutations every run, so a failure here reproduces (`make fuzz` explores freely)
    r = subprocess.run([str(fuzzers[target]), "-seed=1", f"-runs={RUNS}", f"-max_total_time={MAX_SECONDS}",
                        "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1",
                        str(work)],
                       capture_output=True, text=True, env=FUZZ_ENV, timeout=MAX_SECONDS + 120)
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "leak-", "timeout-", "oom-"))]
    assert r.returncode == 0 and not crashes, (
        f"{target} found {crashes}: keep the input under firmware/tests/fuzz/regressions/{target}/ and fix the "
        f"bug\n{r.stderr[-6000:]}")
    done = [line for line in r.stderr.splitlines() if re.match(r"#\d+\s+DONE\s", line)]
    assert done, r.stderr[-3000:]
    runs = int(re.search(r"Done (\d+) runs", r.stderr).group(1))
    cov = int(re.search(r"cov: (\d+)", done[-1]).group(1))
    inited = [line for line in r.stderr.splitlines() if re.match(r"#\d+\s+INITED\s", line)]
    cov_seeds = int(re.search(r"cov: (\d+)", inited[-1]).group(1)) if inited else 0
    exec_s = re.search(r"exec/s: (\d+)", done[-1]).group(1)
    print(f"\n{target}: {runs} runs, {exec_s} exec/s, cov {cov_seeds} (seeds) -> {cov}, "
          f"corpus {seeds} -> {len(_files(work))}")
    assert runs > seeds  # it mutated, not only replayed the corpus
    assert cov > 0


@pytest.mark.parametrize("target", TARGETS)
def test_regressions_and_corpus_run_clean(fuzzers, target, tmp_path):
    """Each committed crash input (fixed since) and corpus input runs once, without a report."""
    regressions = _files(FUZZ_DIR / "regressions" / target)
    inputs = regressions + _files(FUZZ_DIR / "corpus" / target)
    r = subprocess.run([str(fuzzers[target]), f"-artifact_prefix={tmp_path}/", *map(str, inputs)],
                       capture_output=True, text=True, env=FUZZ_ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-6000:]
    ran = set(re.findall(r"Executed (\S+) in", r.stderr))
    assert ran == {str(p) for p in inputs}
    print(f"\n{target}: {len(regressions)} regression input(s), {len(inputs) - len(regressions)} corpus input(s)")
