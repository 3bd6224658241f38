"""The run-time x86-64 kernel tiers (EK_KERNEL_AVX512, firmware/kernels/ek_isa.h) on the CPUs they are for.

This machine may have no AVX-512 (the development machine is an AMD Zen 2), so a build with the tiers is compiled
exactly as CMake compiles it (each AVX-512 body file alone with its own flags, the rest AVX2) and run under Bochs
as Intel CPUs with and without AVX-512 and VNNI (tests/x86_guest.py). Through the real dispatchers, on every
model:
- the tier ek_isa_x86_tier picks from CPUID and XCR0 is the best the model has (Cannon Lake and Skylake-X:
  avx512; Ice Lake, Tiger Lake, Sapphire Rapids: avx512vnni; Arrow Lake, AVX2 only: avx2), and --x86-tier's
  limit lowers it;
- the body that ran (EK_KERNEL_TRACE) is that tier's, and its results equal numpy's exact integers (i2 matvec,
  the batched prefill matmul, the q8i and q4i heads' logits bit for bit): group and block-count edges, row tails,
  x_q at -128 and 127, every 2-bit i2 code (3 included, as a hostile image may hold), q4i scales up to 255;
- ek_variant_check.c, the check every build runs, agrees: each reported variant is the body that ran.
Speed is not measured here (the emulator interprets); docs/kernels.md says what is and is not verified.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

import x86_guest
from cpu_features import require_tool
from edgekit.pack.formats import FLOAT_FORMATS, Q4I_BLOCK, q4i_parts, q8_rows
from head_bodies import numpy_head_logits
from kernel_builds import KERNELS, RUNTIME, SELFTEST, X86_RUNTIME_FLAGS, all_kernel_sources, x86_tier_flags
from test_kernel_variants import expected, parse
from x86_guest import build_guest, run_guest

x86_guest.require_bochscpu()

# ek_isa.h's ids of the x86-64 tiers
TIER_IDS = {"avx2": 5, "avx512": 6, "avx512vnni": 7}
TIER_NAMES = {v: k for k, v in TIER_IDS.items()}
# the best tier of each emulated CPU (x86_guest.MODELS says what each reports)
BEST_TIER = {"skylake_x": "avx512", "cannonlake": "avx512", "icelake": "avx512vnni", "tigerlake": "avx512vnni",
             "sapphire_rapids": "avx512vnni", "arrowlake": "avx2"}
# (model, limit): every model at its best, and the VNNI CPU held to each lower tier
RUNS = [*((m, None) for m in BEST_TIER), ("sapphire_rapids", "avx512"), ("sapphire_rapids", "avx2")]

OP_I2_MATVEC, OP_I2_MATMUL, OP_Q8I, OP_Q4I = 1, 2, 3, 4  # ek_x86_tier_cases.c
CASES_AT, CASE = 64, struct.Struct("<7If16s")
I2_BLOCK = 128


def tier_build_sources(*programs):
    """(path, own flags) for every kernel file of a tier build plus `programs`: tier bodies get their AVX-512
    flags, the rest the build's (kernel_builds.X86_TIER_FLAGS, as firmware/CMakeLists.txt)."""
    return [(s, x86_tier_flags(s) or ()) for s in [*programs, *all_kernel_sources()]]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    require_tool("gcc", "objcopy", "objdump")
    common = dict(include_dirs=(RUNTIME, KERNELS), cflags=("-std=c99", "-ffp-contract=off", "-Werror",
                                                          *X86_RUNTIME_FLAGS, "-DEK_KERNEL_TRACE"))
    return {
        "cases": build_guest(tier_build_sources(SELFTEST / "ek_x86_tier_cases.c"), tmp_path_factory.mktemp("cases"),
                             **common),
        "variants": build_guest(tier_build_sources(SELFTEST / "ek_variant_check.c",
                                                   SELFTEST / "ek_x86_variant_guest.c"),
                                tmp_path_factory.mktemp("variants"), **common),
    }


def i2_weights(rng, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random i2 payload bytes (every 2-bit code, 3 too) and the weights the C bodies read from them."""
    blocks = -(-cols // I2_BLOCK)
    raw = rng.integers(0, 256, size=(rows, blocks, 32), dtype=np.uint8)
    quarters = [((raw >> (6 - 2 * q)) & 3).astype(np.int64) - 1 for q in range(4)]  # (rows, blocks, 32) each
    w = np.stack(quarters, axis=2).reshape(rows, blocks * I2_BLOCK)  # block b: quarter q holds columns 32q..32q+31
    return raw.tobytes(), w


def activations(rng, n_x: int, cols: int) -> np.ndarray:
    """n_x x_q vectors padded with zeros to whole i2 blocks, the extremes -128 and 127 included."""
    pad = -(-cols // I2_BLOCK) * I2_BLOCK
    x = np.zeros((n_x, pad), np.int8)
    x[:, :cols] = rng.integers(-128, 128, size=(n_x, cols))
    x[:, 0], x[:, cols - 1] = -128, 127
    return x


def make_cases(seed: int = 7):
    """[(op, rows, cols, weights, x_q, s_x, expected result bytes)] covering each body's edges."""
    rng = np.random.default_rng(seed)
    cases = []
    for rows, cols in ((5, 128), (37, 300), (9, 2176), (3, 4224)):  # 1, 3, 17 (past a group of 16), 33 blocks
        data, w = i2_weights(rng, rows, cols)
        x = activations(rng, 1, cols)
        cases.append((OP_I2_MATVEC, rows, cols, 1, data, x, 1.0, (w @ x[0].astype(np.int64)).astype("<i4").tobytes()))
    for rows, cols, n_x in ((13, 2176, 1), (6, 640, 3), (7, 384, 4), (5, 1000, 5), (4, 256, 9)):
        data, w = i2_weights(rng, rows, cols)
        x = activations(rng, n_x, cols)
        cases.append((OP_I2_MATMUL, rows, cols, n_x, data, x, 1.0,
                      (x.astype(np.int64) @ w.T).astype("<i4").tobytes()))  # acc[t * rows + r]
    for rows, cols in ((7, 64), (9, 200), (13, 1000), (4, 192), (1, 63)):  # row tails, column tails under a mask
        scale = rng.uniform(0.001, 0.05, rows).astype(np.float32)
        q = rng.integers(-127, 128, size=(rows, cols)).astype(np.int8)
        q[0, :2] = (-127, 127)
        data = scale.astype("<f4").tobytes() + q.tobytes()
        x = activations(rng, 1, cols)
        s_x = np.float32(rng.uniform(1.0, 40.0))
        sc, ints = q8_rows(data, (rows, cols))
        cases.append((OP_Q8I, rows, cols, 1, data, x, s_x, numpy_head_logits(sc, ints, x[0, :cols], s_x).tobytes()))
    for rows, cols in ((5, 32), (6, 96), (9, 160), (4, 448), (11, 2560)):  # 1, 3, 5, 14, 80 blocks of 32
        blocks = cols // Q4I_BLOCK
        d = rng.uniform(0.0005, 0.01, rows).astype(np.float32)
        body = rng.integers(0, 256, size=(rows, blocks + cols // 2), dtype=np.uint8)  # any scale, any code
        body[0, 0] = 255
        data = d.astype("<f4").tobytes() + body.tobytes()
        assert len(data) == FLOAT_FORMATS["q4i"].packed_size((rows, cols))
        x = activations(rng, 1, cols)
        s_x = np.float32(rng.uniform(1.0, 40.0))
        dd, ints = q4i_parts(data, (rows, cols))
        cases.append((OP_Q4I, rows, cols, 1, data, x, s_x, numpy_head_logits(dd, ints, x[0, :cols], s_x).tobytes()))
    return cases


def layout(cases, limit: str | None) -> tuple[bytes, list[int]]:
    """The I/O region of ek_x86_tier_cases.c and each case's result offset."""
    blobs, headers, out_offsets = bytearray(), [], []
    base = CASES_AT + CASE.size * len(cases)

    def put(data: bytes) -> int:
        nonlocal blobs
        blobs += b"\0" * (-(base + len(blobs)) % 64)
        at = base + len(blobs)
        blobs += data
        return at

    for op, rows, cols, n_x, data, x, s_x, want in cases:
        w_off, x_off, out_off = put(data), put(x.tobytes()), put(b"\xa5" * len(want))  # a sentinel, not zeros
        headers.append(CASE.pack(op, rows, cols, n_x, w_off, x_off, out_off, float(s_x), b""))
        out_offsets.append(out_off)
    head = struct.pack("<II", len(cases), TIER_IDS[limit] if limit else 0).ljust(CASES_AT, b"\0")
    return head + b"".join(headers) + bytes(blobs), out_offsets


def ran_names(cases, tier: str) -> list[str]:
    """The body each case must run on `tier`: q4i has one AVX-512 body for both AVX-512 tiers."""
    return [("avx512" if tier == "avx512vnni" and c[0] == OP_Q4I else tier) for c in cases]


@pytest.mark.parametrize("model,limit", RUNS, ids=[f"{m}-{lim or 'best'}" for m, lim in RUNS])
def test_tier_bodies_equal_numpy_on_each_cpu(images, model, limit):
    cases = make_cases()
    io, out_offsets = layout(cases, limit)
    result = run_guest(images["cases"], io, model).check()
    tier = TIER_NAMES[struct.unpack_from("<I", result.io, 8)[0]]
    best = BEST_TIER[model]
    want_tier = best if limit is None or TIER_IDS[limit] >= TIER_IDS[best] else limit
    assert tier == want_tier, f"{model} (limit {limit}): dispatchers chose {tier}"
    for i, (case, at, ran_want) in enumerate(zip(cases, out_offsets, ran_names(cases, tier))):
        op, rows, cols, n_x, *_, want = case
        ran = CASE.unpack_from(result.io, CASES_AT + i * CASE.size)[8].rstrip(b"\0").decode()
        assert ran == ran_want, f"case {i} (op {op}, {rows}x{cols}): ran {ran}, not {ran_want}"
        got = result.io[at:at + len(want)]
        assert got == want, f"case {i} (op {op}, {rows}x{cols}, n_x {n_x}) on {model}/{tier}: results differ"


@pytest.mark.parametrize("model", ["cannonlake", "sapphire_rapids", "arrowlake"])
def test_reported_variant_is_the_body_that_runs(images, model):
    result = run_guest(images["variants"], b"", model, io_size=1 << 16).check()
    out = result.io.split(b"\0", 1)[0].decode()
    tier = BEST_TIER[model]
    want = {**expected("avx2", "avx2", "avx2", "c"), "i2": tier, "matmul-i2": tier, "q8i": tier,
            "q4i": "avx2" if tier == "avx2" else "avx512"}
    assert {op: ran for op, (_, ran) in parse(out).items()} == want, out

