"""The body-equality tests every integer head (q8i, q4i) has: its C harness built natively (portable, AVX2), for
AArch64 under qemu-aarch64 (NEON, dotprod) and bare metal under qemu-system-arm (Helium, M4 portable), each run
checked by the head's own `parse`. A head's test module binds them to its harness with body_tests()."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from cpu_features import require_cpu_feature, require_tool
from kernel_builds import AARCH64_TARGETS, CFLAGS, FIRMWARE, KERNELS, build_bare_metal, run_bare_metal


def numpy_head_logits(scale: np.ndarray, ints: np.ndarray, x_q: np.ndarray, s_x: np.float32) -> np.ndarray:
    """An integer head's logits from its stored parts (row scales, the integers each row multiplies x_q by): int64
    sums (which must fit an int32), then ((float)acc * scale) / s_x in float32, as every body computes them."""
    acc = ints.astype(np.int64) @ x_q.astype(np.int64)
    assert np.abs(acc).max(initial=0) < 2 ** 31
    return ((acc.astype(np.float32) * scale).astype(np.float32) / s_x).astype(np.float32)


def harness_sources(tmp_path: Path, harness_c: str, cases_c: str, kernel_glob: str) -> list[Path]:
    """The harness and its cases written into tmp_path, with the head's kernel files (KERNELS / kernel_glob)."""
    (tmp_path / "harness.c").write_text(harness_c)
    (tmp_path / "cases.c").write_text(cases_c)
    return [tmp_path / "harness.c", tmp_path / "cases.c", *sorted(KERNELS.glob(kernel_glob))]


def check_harness_output(out: str, cases, want_bodies: set[str], name: str, numpy_logits) -> None:
    """The harness passed, exactly `want_bodies` ran and matched the portable body, and every case's logits (hex
    words on "y" lines) equal numpy_logits(case) bit for bit."""
    ys, bodies = [], {}
    for line in out.splitlines():
        if line.startswith("y "):
            ys.append(np.array([int(h, 16) for h in line.split()[1:]], np.uint32).view(np.float32))
        elif line.startswith("body "):
            _, body, verdict = line.split()
            bodies[body] = bodies.get(body, True) and verdict == "equal"
    assert f"{name}-selftest: PASS" in out, out[-3000:]
    assert bodies == dict.fromkeys(want_bodies, True)
    assert len(ys) == len(cases)
    for case, y in zip(cases, ys):
        assert y.tobytes() == numpy_logits(case).tobytes(), f"{case[0]}x{case[1]}"


def body_tests(name: str, make_cases, sources, parse) -> dict:
    """{test name: test function} for the head `name`: make_cases() -> cases, sources(tmp_path, cases) -> the C
    files of its harness, parse(stdout, cases, bodies) asserts every body in `bodies` ran and matched."""

    def run_hosted(tmp_path, compiler, flags, wrapper=()):
        require_tool(compiler)
        cases = make_cases()
        exe = tmp_path / name
        cmd = [compiler, *flags, *CFLAGS, "-I", str(FIRMWARE / "runtime"), "-I", str(KERNELS),
               *map(str, sources(tmp_path, cases)), "-o", str(exe)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
        r = subprocess.run([*wrapper, str(exe)], capture_output=True, text=True, timeout=600, check=False)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr
        return cases, r.stdout

    def test_portable_body_is_the_defined_expression(tmp_path):
        cases, out = run_hosted(tmp_path, "gcc", ())
        parse(out, cases, {"dispatch", "range"})

    def test_avx2_body_equals_portable(tmp_path):
        require_cpu_feature("avx2")
        cases, out = run_hosted(tmp_path, "gcc", ("-mavx2", "-DEK_KERNEL_AVX2"))
        parse(out, cases, {"avx2", "dispatch", "range"})

    @pytest.mark.parametrize("target", sorted(AARCH64_TARGETS))
    def test_neon_body_equals_portable(tmp_path, target):
        flags, cpu = AARCH64_TARGETS[target]
        cases, out = run_hosted(tmp_path, "aarch64-linux-gnu-gcc", (*flags, "-static"),
                                wrapper=("qemu-aarch64", "-cpu", cpu))
        parse(out, cases, {"neon", "dispatch", "range"})

    @pytest.mark.parametrize("target,bodies", [("cortex-m55-mve", {"mve", "dispatch", "range"}),
                                               ("cortex-m4-dsp", {"dispatch", "range"})])
    def test_mcu_body_equals_portable_under_qemu_system(tmp_path, target, bodies):
        cases = make_cases()
        elf = build_bare_metal(target, sources(tmp_path, cases), tmp_path / f"{name}.elf",
                               extra_flags=("-DEK_BARE_METAL",))
        r = run_bare_metal(target, elf)
        assert r.returncode == 0, r.stdout[-3000:]
        parse(r.stdout, cases, bodies)

    return {f.__name__: f for f in (test_portable_body_is_the_defined_expression, test_avx2_body_equals_portable,
                                    test_neon_body_equals_portable, test_mcu_body_equals_portable_under_qemu_system)}
