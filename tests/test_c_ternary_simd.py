"""t158 and tl ISA bodies (AVX2 natively; NEON with and without dotprod under qemu-aarch64; Helium/MVE and the
t158 DSP body on the bare-metal self-test under qemu-system-arm): the int32 accumulators of the body the dispatcher
picks equal the portable body's and numpy's exact integer product, bit for bit, on awkward shapes (row and column counts
around the t158 80-weight block, the tl 16-row tile and the tl table chunks of 64 and 128 column pairs) and on the
extremes where an int16 shortcut would overflow. `ek_eval matvec` compares the dispatched body with the portable
one and names the body it ran (ek_kernel_variant); a symbol check proves the dispatcher links the ISA body."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from cpu_features import require_cpu_feature, require_tool
from edgekit.pack.formats import TERNARY_FORMATS
from helpers import build_firmware, run_eval
from kernel_builds import SELFTEST, aarch64_build, build_bare_metal, run_bare_metal, ternary_kernel_sources

# rows x cols: 1x1; t158 tails of every kind around whole 80-weight blocks; tl tiles +-1 row and odd columns;
# tl chunk edges (NEON: 64 pairs = 128 columns, AVX2: 128 pairs = 256 columns, odd pair counts); a 2B-4T layer
SHAPES = [(1, 1), (1, 2), (2, 3), (3, 79), (15, 80), (16, 81), (17, 159), (33, 160), (5, 161), (31, 127),
          (16, 128), (9, 129), (47, 255), (16, 256), (18, 257), (7, 515), (3, 1001), (2560, 6912)]
FORMATS = ("t158", "tl")


def _cases():
    rng = np.random.default_rng(7)
    for rows, cols in SHAPES:
        codes = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
        x = rng.integers(-128, 128, size=cols, dtype=np.int8)
        x[: min(cols, 3)] = [-128, 127, -128][: min(cols, 3)]
        yield f"{rows}x{cols}", codes, x
    # worst case for the int16 sums: every pair sum is +256 (all weights -1, all x -128), over more than one
    # tl chunk, and the t158 digit 2 against -128 everywhere
    for rows, cols in ((17, 600), (3, 1001)):
        yield f"{rows}x{cols} extreme", np.full((rows, cols), -1, np.int8), np.full(cols, -128, np.int8)
        yield f"{rows}x{cols} extreme+", np.full((rows, cols), 1, np.int8), np.full(cols, -128, np.int8)


def check_dispatch(build: Path, tmp_path: Path, fmt: str, variant: str, wrapper=()) -> None:
    f = TERNARY_FORMATS[fmt]
    for name, codes, x in _cases():
        rows, cols = codes.shape
        w_path, x_path, out = tmp_path / "w.bin", tmp_path / "x.bin", tmp_path / "acc.bin"
        w_path.write_bytes(f.pack(codes))
        x_path.write_bytes(x.tobytes())
        r = run_eval(build, "matvec", fmt, rows, cols, w_path, x_path, out, wrapper=wrapper, check=False)
        assert r.returncode == 0, f"{fmt} {name}: {r.stdout}{r.stderr}"
        dispatch = [line for line in r.stdout.splitlines() if line.startswith("dispatch ")]
        assert dispatch == [f"dispatch {variant} equal"], f"{fmt} {name}: {r.stdout}"
        acc = np.fromfile(out, dtype="<i4")
        assert np.array_equal(acc, codes.astype(np.int32) @ x.astype(np.int32)), f"{fmt} {name}"


def check_corrupt_tl(build: Path, tmp_path: Path, wrapper=()) -> None:
    """Nibbles 9..15 never come out of the packer; every body must read them as the zero pair, as the
    portable body does (and never index outside the pair's table)."""
    rng = np.random.default_rng(11)
    for rows, cols in ((17, 301), (40, 2 * 128 * 2 + 1)):
        tiles, pairs = -(-rows // 16), -(-cols // 2)
        data = rng.integers(0, 256, size=tiles * pairs * 8, dtype=np.uint8)
        x = rng.integers(-128, 128, size=cols, dtype=np.int8)
        (tmp_path / "w.bin").write_bytes(data.tobytes())
        (tmp_path / "x.bin").write_bytes(x.tobytes())
        r = run_eval(build, "matvec", "tl", rows, cols, tmp_path / "w.bin", tmp_path / "x.bin", tmp_path / "acc.bin",
                     wrapper=wrapper, check=False)
        assert r.returncode == 0 and "DIFFERENT" not in r.stdout, r.stdout + r.stderr
        b = data.reshape(tiles, pairs, 8).transpose(0, 2, 1)  # (tile, i, g)
        idx = np.stack([b & 0xF, b >> 4], axis=2).reshape(tiles * 16, pairs).astype(np.int32)
        idx[idx > 8] = 4
        w = np.zeros((tiles * 16, pairs * 2), dtype=np.int32)
        w[:, 0::2], w[:, 1::2] = idx // 3 - 1, idx % 3 - 1
        want = w[:rows, :cols] @ x.astype(np.int32)
        assert np.array_equal(np.fromfile(tmp_path / "acc.bin", dtype="<i4"), want)


def linked_symbols(binary: Path, nm: str) -> set[str]:
    require_tool(nm)
    r = subprocess.run([nm, str(binary)], capture_output=True, text=True, check=True)
    return {parts[-1] for parts in (line.split() for line in r.stdout.splitlines()) if parts}


def test_avx2_t158_tl_equal_portable(tmp_path_factory, tmp_path):
    require_cpu_feature("avx2")
    build = build_firmware(tmp_path_factory, "avx2", ("-DEK_KERNELS=c;avx2",))
    assert {"ek_matvec_t158_avx2", "ek_matvec_tl_avx2"} <= linked_symbols(build / "ek_eval", "nm")
    for fmt in FORMATS:
        check_dispatch(build, tmp_path, fmt, "avx2")
    check_corrupt_tl(build, tmp_path)


def test_avx2_forward_pass_t158_tl(tmp_path_factory, tmp_path):
    """The whole forward pass with the AVX2 t158 and tl kernels: logits bit-identical to the portable build."""
    require_cpu_feature("avx2")
    import edgekit
    from edgekit.pack.packer import PackChoice, pack_model

    builds = (build_firmware(tmp_path_factory), build_firmware(tmp_path_factory, "avx2", ("-DEK_KERNELS=c;avx2",)))
    model = edgekit.load("kjv-bitnet-5m")
    ids = model.encode("In the beginning")
    for fmt in FORMATS:
        image = tmp_path / f"m-{fmt}.ekm"
        pack_model(model, image, PackChoice(fmt))
        outs = []
        for b in builds:
            out = tmp_path / f"logits-{len(outs)}.bin"
            run_eval(b, "run", "--tokens", ",".join(map(str, ids)), "--logits", out, image)
            outs.append(out.read_bytes())
        assert outs[0] == outs[1], fmt


@pytest.mark.parametrize("variant,cpu", [("neon", "cortex-a72"), ("dotprod", "cortex-a76")])
def test_neon_t158_tl_equal_portable(tmp_path_factory, tmp_path, variant, cpu):
    """cortex-a72 has no dotprod: the plain NEON build must not use it (QEMU would raise SIGILL)."""
    build = aarch64_build(tmp_path_factory, variant)
    assert {"ek_matvec_t158_neon", "ek_matvec_tl_neon"} <= linked_symbols(build / "ek_eval", "aarch64-linux-gnu-nm")
    require_tool("aarch64-linux-gnu-objdump")  # the dotprod build really runs SDOT (the option reached ek_isa.h)
    r = subprocess.run(["aarch64-linux-gnu-objdump", "-d", "--disassemble=ek_matvec_t158_neon", str(build / "ek_eval")],
                       capture_output=True, text=True, check=True)
    assert ("sdot" in r.stdout) == (variant == "dotprod"), r.stdout[-2000:]
    for fmt in FORMATS:
        check_dispatch(build, tmp_path, fmt, "dotprod" if variant == "dotprod" and fmt == "t158" else "neon",
                       wrapper=("qemu-aarch64", "-cpu", cpu))
    check_corrupt_tl(build, tmp_path, wrapper=("qemu-aarch64", "-cpu", cpu))


# ISA bodies the dispatcher must link on each core (kernel_builds.MCU_TARGETS has the flags)
MCU_BODIES = {
    "cortex-m55-mve": {"ek_matvec_t158_mve", "ek_matvec_tl_mve"},
    "cortex-m4-dsp": {"ek_matvec_t158_dsp"},
    "cortex-m7-dsp": {"ek_matvec_t158_dsp"},
}


@pytest.mark.parametrize("target", sorted(MCU_BODIES))
def test_mcu_t158_tl_equal_portable(tmp_path, target):
    """Helium t158 and tl bodies (Cortex-M55, mps3-an547) and the DSP t158 body (M4, M7) through the dispatcher
    in the bare-metal self-test, which checks every format against a plain triple loop on awkward shapes."""
    elf = build_bare_metal(target, [SELFTEST / "ek_kernel_selftest.c", *ternary_kernel_sources()],
                           tmp_path / "selftest.elf")
    assert MCU_BODIES[target] <= linked_symbols(elf, "arm-none-eabi-nm")
    r = run_bare_metal(target, elf, timeout=120)
    out = r.stdout
    assert r.returncode == 0 and "selftest: PASS" in out, out
    for fmt in FORMATS:
        lines = [line.split() for line in out.splitlines() if line.startswith(f"{fmt} dispatch ")]
        assert len(lines) >= 8 and all(parts[-1] == "equal" for parts in lines), out
