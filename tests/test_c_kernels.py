"""Ternary matvec kernels: every body's int32 accumulators equal the portable C body's and numpy's exact integer
matmul of the unpacked codes, on random ternary matrices of awkward shapes, for every format. ISA bodies are
cross-built and run under QEMU user mode (NEON without and with dotprod on qemu-aarch64 -cpu cortex-a76)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.pack.formats import TERNARY_FORMATS
from test_c_runtime import build_firmware, run_eval

# rows x cols: single weights, partial i2 blocks (128), t158 blocks (80) and tails, tl tiles (16), odd column counts
SHAPES = [(1, 1), (1, 2), (3, 5), (2, 127), (17, 128), (16, 80), (15, 81), (33, 129), (7, 255), (64, 256),
          (40, 1001), (130, 333)]
QEMU_CPU = "cortex-a76"  # Armv8.2 with dotprod


def _cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    for rows, cols in SHAPES:
        codes = rng.integers(-1, 2, size=(rows, cols)).astype(np.int8)
        x = rng.integers(-128, 128, size=cols).astype(np.int8)
        x[: min(cols, 3)] = [-128, 127, -128][: min(cols, 3)]  # the extremes, where int16 tricks overflow
        yield rows, cols, codes, x


def check_matvec(build: Path, tmp_path: Path, fmt: str, *, wrapper=(), bodies=("c",)) -> None:
    f = TERNARY_FORMATS[fmt]
    for rows, cols, codes, x in _cases():
        w_path, x_path, out = tmp_path / "w.bin", tmp_path / "x.bin", tmp_path / "acc.bin"
        w_path.write_bytes(f.pack(codes))
        x_path.write_bytes(x.tobytes())
        r = run_eval(build, "matvec", fmt, rows, cols, w_path, x_path, out, wrapper=wrapper, check=False)
        assert r.returncode == 0, f"{fmt} {rows}x{cols}: {r.stdout}{r.stderr}"
        reported = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("body ")}
        assert reported == set(bodies), r.stdout
        assert "DIFFERENT" not in r.stdout
        acc = np.fromfile(out, dtype="<i4")
        assert np.array_equal(acc, codes.astype(np.int32) @ x.astype(np.int32)), f"{fmt} {rows}x{cols}"


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return build_firmware(tmp_path_factory)


@pytest.mark.parametrize("fmt", sorted(TERNARY_FORMATS))
def test_portable_kernels_equal_numpy(host_build, tmp_path, fmt):
    check_matvec(host_build, tmp_path, fmt)


def test_corrupt_i2_codes_decode_alike(host_build, tmp_path):
    """Code 3 never comes out of the packer; every body must still read it the same way (as weight 2)."""
    rng = np.random.default_rng(3)
    w = rng.integers(0, 256, size=5 * 64, dtype=np.uint8)
    x = rng.integers(-128, 128, size=200).astype(np.int8)
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    run_eval(host_build, "matvec", "i2", 5, 200, tmp_path / "w.bin", tmp_path / "x.bin", tmp_path / "acc.bin")
    codes = np.stack([(w.reshape(5, 2, 1, 32) >> s) & 3 for s in (6, 4, 2, 0)], axis=2).reshape(5, 256)
    want = (codes[:, :200].astype(np.int32) - 1) @ x.astype(np.int32)
    assert np.array_equal(np.fromfile(tmp_path / "acc.bin", dtype="<i4"), want)


AARCH64 = {
    "neon": ("-march=armv8-a", "neon"),
    "dotprod": ("-march=armv8.2-a+dotprod", "neon;dotprod"),
}


def aarch64_build(tmp_path_factory, variant: str) -> Path:
    if shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None:
        pytest.skip("aarch64-linux-gnu-gcc or qemu-aarch64 not installed")
    march, kernels = AARCH64[variant]
    return build_firmware(tmp_path_factory, f"aarch64-{variant}", (
        "-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR=aarch64", "-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc",
        f"-DCMAKE_C_FLAGS={march}", "-DCMAKE_EXE_LINKER_FLAGS=-static", "-DEK_BUILD_EVAL=ON",
        f"-DEK_KERNELS={kernels}"))


@pytest.mark.parametrize("variant", sorted(AARCH64))
def test_neon_i2_equals_portable(tmp_path_factory, tmp_path, variant):
    build = aarch64_build(tmp_path_factory, variant)
    wrapper = ("qemu-aarch64", "-cpu", QEMU_CPU)
    check_matvec(build, tmp_path, "i2", wrapper=wrapper, bodies=("c", "neon"))
    for fmt in ("t158", "tl"):  # portable bodies compiled for aarch64
        check_matvec(build, tmp_path, fmt, wrapper=wrapper)
    r = subprocess.run([*wrapper, str(build / "ek_unit_tests")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def _host_has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def test_avx2_i2_equals_portable(tmp_path_factory, tmp_path, host_build):
    import platform

    if platform.machine() not in ("x86_64", "AMD64") or not _host_has_avx2():
        pytest.skip("needs an x86-64 host with AVX2")
    build = build_firmware(tmp_path_factory, "avx2", ("-DEK_KERNELS=c;avx2",))
    check_matvec(build, tmp_path, "i2", bodies=("c", "avx2"))
    # the whole forward pass with the AVX2 kernel: bit-identical logits to the portable build
    import edgekit
    from edgekit.pack.packer import PackChoice, pack_model

    model = edgekit.load("kjv-bitnet-5m")
    image = tmp_path / "m.ekm"
    pack_model(model, image, PackChoice("i2"))
    ids = model.encode("Blessed are the")
    outs = []
    for b in (host_build, build):
        out = tmp_path / f"logits-{len(outs)}.bin"
        run_eval(b, "run", "--tokens", ",".join(map(str, ids)), "--logits", out, image)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_neon_runtime_matches_host_runtime(tmp_path_factory, tmp_path, host_build):
    """The whole forward pass on aarch64 (dotprod i2 kernel) against the x86/portable build: same logits."""
    import edgekit
    from edgekit.pack.packer import PackChoice, pack_model

    build = aarch64_build(tmp_path_factory, "dotprod")
    model = edgekit.load("kjv-bitnet-5m")
    image = tmp_path / "m.ekm"
    pack_model(model, image, PackChoice("i2", "f16", "f16"))
    ids = model.encode("The LORD is my shepherd")
    outs = []
    for b, wrapper in ((host_build, ()), (build, ("qemu-aarch64", "-cpu", QEMU_CPU))):
        out = tmp_path / f"logits-{len(outs)}.bin"
        run_eval(b, "run", "--tokens", ",".join(map(str, ids)), "--logits", out, image, wrapper=wrapper)
        outs.append(np.fromfile(out, dtype="<f4"))
    delta = float(np.abs(outs[0] - outs[1]).max())
    print(f"aarch64 dotprod vs host: max |dlogit| {delta:.3g}")
    assert delta <= 1e-4


SELFTEST = Path(__file__).resolve().parents[1] / "firmware" / "tests" / "selftest"
KERNELS = Path(__file__).resolve().parents[1] / "firmware" / "kernels"
MCU_TARGETS = {
    # name: (compiler flags, kernel macros, QEMU machine, bodies expected for i2)
    "cortex-m55-mve": (("-mcpu=cortex-m55", "-mfloat-abi=hard"), ("-DEK_KERNEL_MVE",), "mps3-an547",
                       {"c", "mve", "dispatch"}),
    "cortex-m4-dsp": (("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), ("-DEK_KERNEL_DSP",),
                      "mps2-an386", {"c", "dsp", "dispatch"}),
    "cortex-m7-dsp": (("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"), ("-DEK_KERNEL_DSP",), "mps2-an500",
                      {"c", "dsp", "dispatch"}),
    "cortex-m4-portable": (("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), (), "mps2-an386",
                           {"c", "dispatch"}),
}


@pytest.mark.parametrize("target", sorted(MCU_TARGETS))
def test_mcu_kernels_under_qemu_system(tmp_path, target):
    """Bare-metal self-test (firmware/tests/selftest): every body built for the core equals a plain triple loop,
    for every format and awkward shapes: the Helium/MVE i2 body on the M55, the DSP (SMLAD) body on M4/M7."""
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm not installed")
    cpu_flags, macros, machine, i2_bodies = MCU_TARGETS[target]
    elf = tmp_path / "selftest.elf"
    sources = [*SELFTEST.glob("*.c"), *KERNELS.glob("ek_matvec_*.c"), *KERNELS.glob("ek_quantize_*.c"),
               KERNELS / "ek_ternary_matvec.c", KERNELS / "ek_formats.c"]
    cmd = ["arm-none-eabi-gcc", *cpu_flags, "-mthumb", *macros, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
           "-ffp-contract=off", "-I", str(KERNELS.parent / "runtime"), "-I", str(KERNELS), "-nostartfiles",
           "--specs=nano.specs", "--specs=nosys.specs", "-T", str(SELFTEST / "ek_selftest.ld"),
           *map(str, sources), "-o", str(elf), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["qemu-system-arm", "-machine", machine, "-nographic", "-semihosting", "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    lines = [line.split() for line in out.splitlines() if line.endswith(("equal", "DIFFERENT"))]
    assert r.returncode == 0 and "selftest: PASS" in out, out
    assert lines and all(parts[-1] == "equal" for parts in lines), out
    assert {parts[1] for parts in lines if parts[0] == "i2"} == i2_bodies
