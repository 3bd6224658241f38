"""Building firmware and running the host evaluator, for every test module that needs either (one copy).

    cmake_build(source, build_dir, *args)     configure with CMake (Ninja when present) and build (everything, or
                                              one target); a failure fails the test with the tail of the output
    build_firmware(tmp_path_factory, name)    firmware/ with the runtime, the harness ek_eval and the C unit tests
                                              (EK_PORT=none), once per session per name
    run_eval(build, *args)                    run that build's ek_eval
    c_logits(build, parts, ids, tmp_path)     ek_eval's logits of every prompt position
    port_defaults_build(board, build_dir)     firmware/tests/port_echo for a bare-metal board without a plan: the
                                              port's defaults (ek_board_profile.cmake), as a user's bring-up build
    normalise_linker_script(text)             a rendered linker script without the name of its renderer
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"

_BUILDS: dict[str, Path] = {}


def cmake_build(source: Path, build_dir: Path, *cmake_args: str, build: bool = True, target: str | None = None) -> Path:
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    steps = [["cmake", "-S", str(source), "-B", str(build_dir), *gen, *cmake_args]]
    if build:
        steps.append(["cmake", "--build", str(build_dir), "-j2", *(["--target", target] if target else [])])
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            pytest.fail(f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return build_dir


def build_firmware(tmp_path_factory, name: str = "host", cmake_args: tuple[str, ...] = ()) -> Path:
    """Configure and build firmware/ once per session per `name`; returns the build directory."""
    if name not in _BUILDS:
        _BUILDS[name] = cmake_build(FIRMWARE, tmp_path_factory.mktemp(f"firmware-{name}"), "-DEK_PORT=none",
                                    "-DEK_BUILD_TESTS=ON", *cmake_args)
    return _BUILDS[name]


def run_eval(build: Path, *args, check: bool = True, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    # The harness (not the device path) exits on errors without freeing its buffers: no leak reports.
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}
    r = subprocess.run([*wrapper, str(build / "ek_eval"), *map(str, args)], capture_output=True, text=True,
                       timeout=300, env=env)
    if check and r.returncode:
        pytest.fail(f"ek_eval {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}")
    return r


def c_logits(build: Path, parts, ids, tmp_path: Path, *extra) -> np.ndarray:
    out = tmp_path / "logits.bin"
    run_eval(build, "run", "--tokens", ",".join(map(str, ids)), "--logits", out, *extra, *parts)
    return np.fromfile(out, dtype="<f4")


def port_defaults_build(board, build_dir: Path, *, build: bool = False) -> Path:
    return cmake_build(FIRMWARE / "tests" / "port_echo", build_dir, *board.cmake_args(FIRMWARE), build=build)


def normalise_linker_script(text: str) -> str:
    return re.sub(r"by \S+ for board", "by RENDERER for board", text)


# A bitnet.cpp build's bin folder (llama-cli, llama-bench, llama-quantize): the tests that run bitnet.cpp itself
# need one (docs/benchmarks.md says how it was built); tests/skip_policy.py allows their skip without it.
BITNET_CPP_ENV = "EDGEKIT_BITNET_CPP"
BITNET_CPP_SKIP = f"{BITNET_CPP_ENV} is not set (a bitnet.cpp build's bin folder, docs/benchmarks.md)"


def bitnet_cpp_bin() -> Path:
    """The bitnet.cpp bin folder EDGEKIT_BITNET_CPP names, or skip (with the reason the skip policy allows)."""
    bin_dir = os.environ.get(BITNET_CPP_ENV)
    if not bin_dir:
        pytest.skip(BITNET_CPP_SKIP)
    return Path(bin_dir)


def forced_split_logits(build_dir: Path, image: Path, ids: list[int], *cmake_args: str) -> list[np.ndarray]:
    """The POSIX device built into build_dir with every row split forced on (thresholds 1, so even the bundled
    model's lm_head is split), serving `image`: the logits of `ids` with 1, 2 and 3 threads, for tests to compare."""
    from edgekit.link.client import DeviceClient
    from edgekit.link.device_process import DeviceProcess

    cmake_build(FIRMWARE, build_dir, "-DEK_PORT=posix", "-DEK_BUILD_EVAL=OFF",
                "-DCMAKE_C_FLAGS=-DEK_POSIX_MIN_PARALLEL_FLOAT=1 -DEK_POSIX_MIN_PARALLEL_TERNARY=1", *cmake_args)
    results = []
    for threads in (1, 2, 3):
        with DeviceProcess(build_dir / "edgekit-device", [image], args=["--threads", str(threads)]) as dev, \
                DeviceClient(dev.url) as client:
            assert client.hello().threads == threads
            results.append(client.logits_all(ids))
    return results
