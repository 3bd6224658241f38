"""Ternary matvec kernels: every body's int32 accumulators equal the portable C body's and numpy's exact integer
matmul of the unpacked codes, on random ternary matrices of awkward shapes, for every format. ISA bodies are
cross-built and run under QEMU user mode (NEON on qemu-aarch64 -cpu cortex-a72, NEON+dotprod on cortex-a76)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from cpu_features import require_cpu_feature
from edgekit.pack.formats import TERNARY_FORMATS
from helpers import build_firmware, run_eval
from kernel_builds import (AARCH64_CMAKE_KERNELS, MCU_TARGETS, SELFTEST, aarch64_build, aarch64_wrapper,
                           build_bare_metal, run_bare_metal, ternary_kernel_sources)

# rows x cols: single weights, partial i2 blocks (128), t158 blocks (80) and tails, tl tiles (16), odd column counts
SHAPES = [(1, 1), (1, 2), (3, 5), (2, 127), (17, 128), (16, 80), (15, 81), (33, 129), (7, 255), (64, 256),
          (40, 1001), (130, 333)]


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


@pytest.mark.parametrize("variant", sorted(AARCH64_CMAKE_KERNELS))
def test_neon_i2_equals_portable(tmp_path_factory, tmp_path, variant):
    build = aarch64_build(tmp_path_factory, variant)
    wrapper = aarch64_wrapper(variant)  # plain NEON on a core without dotprod
    check_matvec(build, tmp_path, "i2", wrapper=wrapper, bodies=("c", variant))
    for fmt in ("t158", "tl"):  # portable bodies compiled for aarch64
        check_matvec(build, tmp_path, fmt, wrapper=wrapper)
    r = subprocess.run([*wrapper, str(build / "ek_unit_tests")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_avx2_i2_equals_portable(tmp_path_factory, tmp_path, host_build):
    require_cpu_feature("avx2")
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
    for b, wrapper in ((host_build, ()), (build, aarch64_wrapper("dotprod"))):
        out = tmp_path / f"logits-{len(outs)}.bin"
        run_eval(b, "run", "--tokens", ",".join(map(str, ids)), "--logits", out, image, wrapper=wrapper)
        outs.append(np.fromfile(out, dtype="<f4"))
    delta = float(np.abs(outs[0] - outs[1]).max())
    print(f"aarch64 dotprod vs host: max |dlogit| {delta:.3g}")
    assert delta <= 1e-4


# bodies the self-test must report for i2 on each core: portable, the chosen ISA body, the dispatcher
MCU_I2_BODIES = {
    "cortex-m55-mve": {"c", "mve", "dispatch"},
    "cortex-m4-dsp": {"c", "dsp", "dispatch"},
    "cortex-m7-dsp": {"c", "dsp", "dispatch"},
    "cortex-m4-portable": {"c", "dispatch"},
}


@pytest.mark.parametrize("target", sorted(MCU_I2_BODIES))
def test_mcu_kernels_under_qemu_system(tmp_path, target):
    """Bare-metal self-test (firmware/tests/selftest): every body built for the core equals a plain triple loop,
    for every format and awkward shapes: the Helium/MVE i2 body on the M55, the DSP (SMLAD) body on M4/M7."""
    assert target in MCU_TARGETS
    elf = build_bare_metal(target, [SELFTEST / "ek_kernel_selftest.c", *ternary_kernel_sources()],
                           tmp_path / "selftest.elf")
    r = run_bare_metal(target, elf, timeout=120)
    out = r.stdout
    lines = [line.split() for line in out.splitlines() if line.endswith(("equal", "DIFFERENT"))]
    assert r.returncode == 0 and "selftest: PASS" in out, out
    assert lines and all(parts[-1] == "equal" for parts in lines), out
    assert {parts[1] for parts in lines if parts[0] == "i2"} == MCU_I2_BODIES[target]
