"""The kernel variant a build reports is the body that runs (firmware/kernels/ek_isa.h chooses both).

firmware/tests/selftest/ek_variant_check.c is built with EK_KERNEL_TRACE, under which each kernel body records its
own name when it runs; for every format, quantisation, the float dot and the i2 and t158 matmuls it compares that
name with the reported one (ek_kernel_variant, what the device sends the host) and prints both, and whether each
matmul ran a batched body or the per-input loop with ek_ternary_matmul_batched. Built natively (portable C, AVX2), for AArch64
under qemu-aarch64 (NEON, NEON+dotprod) and bare metal under qemu-system-arm (Cortex-M55 Helium with and without its
floating-point extension, Cortex-M4/M7 DSP, Cortex-M4 portable). Each target's
expected names are spelled out below, so a change of choice is a visible edit here, not a silent fallback.
"""
from __future__ import annotations

import subprocess

import pytest

from cpu_features import has_cpu_feature, require_cpu_feature
from edgekit.pack.formats import FLOAT_FORMATS, TERNARY_FORMATS
from kernel_builds import (AARCH64_TARGETS, SELFTEST, X86_RUNTIME_FLAGS, aarch64_wrapper, all_kernel_sources,
                           build_bare_metal, compile_c, compile_x86_runtime, run_bare_metal)

CHECK = SELFTEST / "ek_variant_check.c"


def expected(ternary: str, tl: str, floats: str, quantize: str, matmul: str = "batched",
             matmul_t158: str = "per-input") -> dict[str, str]:
    """{checked op: body name} for a build whose i2/t158, tl, float and quantise families chose these bodies;
    matmul, matmul_t158: "batched" where the i2 / t158 matmul body reads each weight once for all inputs, else
    "per-input"."""
    names = {"i2": ternary, "t158": ternary, "tl": tl, "matmul-i2": ternary, "matmul-i2-kind": matmul,
             "matmul-t158": ternary, "matmul-t158-kind": matmul_t158, "quantize": quantize, "float-dot": floats}
    names.update({f: floats for f in FLOAT_FORMATS})
    return names


EXPECTED = {
    "host-portable": expected("c", "c", "c", "c", "per-input"),
    "host-avx2": expected("avx2", "avx2", "avx2", "c"),
    # the run-time tiers (EK_KERNEL_AVX512) on a CPU without AVX-512: everything as the AVX2 build
    "host-avx512-on-avx2": expected("avx2", "avx2", "avx2", "c"),
    "aarch64-neon": expected("neon", "neon", "neon", "c", matmul_t158="batched"),
    "aarch64-dotprod": expected("dotprod", "neon", "neon", "c", matmul_t158="batched"),
    "cortex-m55-mve": expected("mve", "mve", "mve", "mve", matmul_t158="batched"),
    # integer-only Helium: the float body used to fall back to portable C while the build reported "mve"
    "cortex-m55-mve-int": expected("mve", "mve", "c", "c", matmul_t158="batched"),
    # DSP cores with an FPU: the float matvec and dot have a DSP body, the integer heads run the portable one
    "cortex-m4-dsp": {**expected("dsp", "c", "dsp", "c", "per-input"), "q8i": "c", "q4i": "c"},
    "cortex-m7-dsp": {**expected("dsp", "c", "dsp", "c", "per-input"), "q8i": "c", "q4i": "c"},
    "cortex-m4-portable": expected("c", "c", "c", "c", "per-input"),
}


def parse(out: str) -> dict[str, tuple[str, str]]:
    """{op: (reported, ran)} from the check's output; asserts it passed and every line agreed."""
    assert "variant-check: PASS" in out, out
    found = {}
    for line in out.splitlines():
        if line.startswith("variant "):
            _, op, _, reported, _, ran, verdict = line.split()
            assert verdict == "ok", line
            found[op] = (reported, ran)
    return found


def check(out: str, target: str) -> None:
    found = parse(out)
    assert set(found) >= set(TERNARY_FORMATS) | set(FLOAT_FORMATS), out  # every format of the Python table
    assert {op: ran for op, (_, ran) in found.items()} == EXPECTED[target], out


def test_host_portable_reports_the_body_it_runs(tmp_path):
    exe = compile_c("gcc", ("-DEK_KERNEL_TRACE", "-DEK_VARIANT_HOSTED"), [CHECK, *all_kernel_sources()],
                    tmp_path / "variants")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    check(r.stdout, "host-portable")


def test_host_avx2_reports_the_body_it_runs(tmp_path):
    require_cpu_feature("avx2")
    exe = compile_c("gcc", ("-mavx2", "-mf16c", "-DEK_KERNEL_AVX2", "-DEK_KERNEL_TRACE", "-DEK_VARIANT_HOSTED"),
                    [CHECK, *all_kernel_sources()], tmp_path / "variants")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    check(r.stdout, "host-avx2")


def test_host_runtime_tiers_report_the_body_they_run(tmp_path):
    """A build with the AVX-512 bodies runs its best tier for this CPU and says which. On a CPU without AVX-512
    that is AVX2 throughout (tests/test_x86_tiers.py runs the AVX-512 tiers under an emulated Intel CPU)."""
    require_cpu_feature("avx2")
    exe = compile_x86_runtime((*X86_RUNTIME_FLAGS, "-DEK_KERNEL_TRACE", "-DEK_VARIANT_HOSTED"),
                              [CHECK, *all_kernel_sources()], tmp_path / "variants")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    if has_cpu_feature("avx512"):
        tier = "avx512vnni" if has_cpu_feature("avx512vnni") else "avx512"
        found = {op: ran for op, (_, ran) in parse(r.stdout).items()}
        assert found["i2"] == found["matmul-i2"] == found["q8i"] == tier and found["q4i"] == "avx512", r.stdout
    else:
        check(r.stdout, "host-avx512-on-avx2")


@pytest.mark.parametrize("variant", sorted(AARCH64_TARGETS))
def test_aarch64_reports_the_body_it_runs(tmp_path, variant):
    wrapper = aarch64_wrapper(variant)
    flags, _ = AARCH64_TARGETS[variant]
    exe = compile_c("aarch64-linux-gnu-gcc", (*flags, "-static", "-DEK_KERNEL_TRACE", "-DEK_VARIANT_HOSTED"),
                    [CHECK, *all_kernel_sources()], tmp_path / "variants")
    r = subprocess.run([*wrapper, str(exe)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    check(r.stdout, f"aarch64-{variant}")


@pytest.mark.parametrize("target", sorted(t for t in EXPECTED if t.startswith("cortex-")))
def test_mcu_reports_the_body_it_runs(tmp_path, target):
    elf = build_bare_metal(target, [CHECK, *all_kernel_sources()], tmp_path / "variants.elf",
                           extra_flags=("-DEK_KERNEL_TRACE",))
    r = run_bare_metal(target, elf, timeout=120)
    assert r.returncode == 0, r.stdout
    check(r.stdout, target)


def test_a_body_that_disagrees_with_the_report_fails(tmp_path):
    """The check can fail: a portable build whose i2 body claims to be another one is caught."""
    body = (tmp_path / "ek_matvec_i2_c.c")
    src = next(p for p in all_kernel_sources() if p.name == "ek_matvec_i2_c.c").read_text()
    assert 'EK_KERNEL_RAN(EK_FMT_I2, "c")' in src
    body.write_text(src.replace('EK_KERNEL_RAN(EK_FMT_I2, "c")', 'EK_KERNEL_RAN(EK_FMT_I2, "neon")'))
    sources = [CHECK, body, *(p for p in all_kernel_sources() if p.name != "ek_matvec_i2_c.c")]
    exe = compile_c("gcc", ("-DEK_KERNEL_TRACE", "-DEK_VARIANT_HOSTED"), sources, tmp_path / "variants")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1 and "variant-check: FAIL" in r.stdout, r.stdout
    assert "variant i2 reported c ran neon MISMATCH" in r.stdout
