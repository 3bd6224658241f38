"""Every packing format round-trips exactly, on awkward shapes; layouts match their documented bytes; the C format
table (generated into ek_spec.h, read by firmware/kernels/ek_formats.c) answers as the Python table does."""
import itertools
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.errors import EdgekitError
from edgekit.pack import formats as F

shapes = st.tuples(st.integers(1, 40), st.integers(1, 400))


@pytest.mark.parametrize("name", list(F.TERNARY_FORMATS))
@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), zero_bias=st.floats(0, 1))
def test_ternary_roundtrip(name, shape, seed, zero_bias):
    fmt = F.TERNARY_FORMATS[name]
    rng = np.random.default_rng(seed)
    w = rng.integers(-1, 2, size=shape).astype(np.int8)
    w[rng.random(shape) < zero_bias] = 0
    packed = fmt.pack(w)
    assert len(packed) == fmt.packed_size(*shape)
    np.testing.assert_array_equal(fmt.unpack(packed, *shape), w)


@pytest.mark.parametrize("name", list(F.TERNARY_FORMATS))
@pytest.mark.parametrize("shape", [(1, 1), (1, 2560), (300, 3), (7, 127), (7, 129), (5, 80), (5, 81), (17, 6912)])
def test_ternary_roundtrip_edges(name, shape):
    fmt = F.TERNARY_FORMATS[name]
    w = np.random.default_rng(1).integers(-1, 2, size=shape).astype(np.int8)
    np.testing.assert_array_equal(fmt.unpack(fmt.pack(w), *shape), w)


def test_bits_per_weight_at_real_shapes():
    for rows, cols in [(2560, 2560), (6912, 2560), (2560, 6912)]:
        n = rows * cols
        assert F.TERNARY_FORMATS["i2"].packed_size(rows, cols) * 8 / n == 2.0
        assert F.TERNARY_FORMATS["t158"].packed_size(rows, cols) * 8 / n < 1.61
        assert F.TERNARY_FORMATS["tl"].packed_size(rows, cols) * 8 / n == 2.0


def test_t158_every_byte_value_decodes_all_243_groups():
    trits = np.array(list(itertools.product(range(3), repeat=5)), dtype=np.uint8)
    q = F._t158_encode(trits)
    assert len(set(q.tolist())) == 243
    np.testing.assert_array_equal(F._t158_decode(q), trits)


def test_i2_documented_byte_layout():
    # weights j, j+32, j+64, j+96 of a block share byte j, first one in the top bits
    w = np.zeros((1, 128), dtype=np.int8)
    w[0, 0], w[0, 32], w[0, 64], w[0, 96] = 1, -1, 0, 1
    packed = F.TERNARY_FORMATS["i2"].pack(w)
    assert packed[0] == (2 << 6) | (0 << 4) | (1 << 2) | 2
    assert set(packed[1:]) == {0b01010101}


def test_tl_documented_byte_layout():
    w = np.zeros((16, 2), dtype=np.int8)
    w[0] = (1, -1)   # index (2)*3 + 0 = 6, row 0 -> low nibble of byte 0
    w[1] = (-1, 1)   # index 0*3 + 2 = 2, row 1 -> high nibble of byte 0
    packed = F.TERNARY_FORMATS["tl"].pack(w)
    assert packed[0] == 6 | (2 << 4)
    assert len(packed) == 8


def test_pack_refuses_non_ternary():
    with pytest.raises(EdgekitError, match="outside"):
        F.TERNARY_FORMATS["i2"].pack(np.array([[2, 0]], dtype=np.int8))


def test_unpack_refuses_short_buffer():
    with pytest.raises(EdgekitError, match="need"):
        F.TERNARY_FORMATS["t158"].unpack(b"\x00" * 3, 4, 80)


@pytest.mark.parametrize("name", list(F.FLOAT_FORMATS))
def test_float_formats(name):
    fmt = F.FLOAT_FORMATS[name]
    a = np.random.default_rng(2).standard_normal(_shape_for(name, (13, 37))).astype(np.float32)
    data = fmt.pack(a)
    assert len(data) == fmt.packed_size(a.shape)
    back = fmt.unpack(data, a.shape)
    # q4i: half a block step, the step at most 1/7 of the block's largest value plus half the row scale d
    tol = {"f32": 0, "f16": 1e-3, "bf16": 2.0 ** -8, "q8row": 0.5 / 127, "q8i": 0.5 / 127,
           "q4i": 0.5 / 7 + 0.5 / (7 * 255)}[name]
    assert np.max(np.abs(back - a) / np.max(np.abs(a), axis=1, keepdims=True)) <= tol


def test_format_codes_are_unique():
    codes = [f.code for f in F.TERNARY_FORMATS.values()] + [f.code for f in F.FLOAT_FORMATS.values()]
    assert len(codes) == len(set(codes))


def _shape_for(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with its row length rounded up to whole q4i blocks for q4i (which stores matrices of them only)."""
    if name != "q4i":
        return shape
    rows, cols = (shape[0], shape[1]) if len(shape) > 1 else (1, shape[0])
    return rows, -(-cols // F.Q4I_BLOCK) * F.Q4I_BLOCK


@pytest.mark.parametrize("name", list(F.FLOAT_FORMATS))
@pytest.mark.parametrize("shape", [(13, 37), (1, 5), (9,)])
def test_float_chunked_pack_equals_whole(name, shape):
    fmt = F.FLOAT_FORMATS[name]
    a = np.random.default_rng(3).standard_normal(_shape_for(name, shape)).astype(np.float32)
    assert b"".join(fmt.pack_chunks(a, rows_per_chunk=4)) == fmt.pack(a)


# --- bf16 ---------------------------------------------------------------------------------------------------------

def _bf16_reference(a: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits by the definition: the nearer of the two bf16 values around each float32, ties to the
    even one; NaN stays NaN. Computed in float64 from the two candidates, not with the packer's bit trick."""
    bits = a.view(np.uint32)
    low = (bits >> 16).astype(np.uint32)
    high = low + 1
    def as_f(b):  # the bf16 value in float64; the pattern after the largest finite one stands for 2^128
        v = (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        return np.where((b & 0x7FFF) == 0x7F80, np.copysign(2.0 ** 128, v), v)

    x = a.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d_low, d_high = np.abs(x - as_f(low)), np.abs(as_f(high) - x)
        exact = (bits & 0xFFFF) == 0
        pick_high = (d_high < d_low) | ((d_high == d_low) & (low % 2 == 1))
    out = np.where(exact, low, np.where(pick_high, high, low))
    return out.astype(np.uint16)


def test_bf16_rounds_to_nearest_even_and_keeps_bf16_values_exactly():
    rng = np.random.default_rng(5)
    a = np.concatenate([rng.standard_normal(20000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 20000),
                        np.array([0.0, -0.0, 1.0, -2.5, 1e-40, -1e-42, 3.0e38], dtype=np.float32)]).astype(np.float32)
    a[:8] = (np.array([0x3F808000, 0x3F818000, 0x3F80C000, 0x3F807FFF, 0xBF808001, 0x00008000, 0x7F7F8000,
                       0x7F7F7FFF], dtype=np.uint32)).view(np.float32)  # exact ties both ways, near-ties, the top
    fmt = F.FLOAT_FORMATS["bf16"]
    got = np.frombuffer(fmt.pack(a), dtype="<u2")
    np.testing.assert_array_equal(got, _bf16_reference(a))
    # values that are bf16 already come back bit for bit (the checkpoint case)
    b = fmt.unpack(fmt.pack(a), a.shape)
    assert F.bf16_exact(b)
    np.testing.assert_array_equal(fmt.unpack(fmt.pack(b), b.shape).view(np.uint32), b.view(np.uint32))


def test_bf16_special_values():
    fmt = F.FLOAT_FORMATS["bf16"]
    a = np.array([np.inf, -np.inf, np.nan, -np.nan, 3.4e38, -0.0], dtype=np.float32)
    back = fmt.unpack(fmt.pack(a), a.shape)
    assert back[0] == np.inf and back[1] == -np.inf and np.isnan(back[2]) and np.isnan(back[3])
    assert back[4] == np.inf  # beyond the largest bf16 (3.39e38): rounds to infinity, as IEEE rounding does
    assert np.signbit(back[5]) and back[5] == 0


def test_exactness_checks_value_by_value():
    bf16_values = F.FLOAT_FORMATS["bf16"].unpack(F.FLOAT_FORMATS["bf16"].pack(
        np.random.default_rng(6).standard_normal(1000).astype(np.float32)), (1000,))
    assert F.bf16_exact(bf16_values)
    assert not F.f16_exact(bf16_values * np.float32(1e-6))  # bf16 values below f16's range are not halves
    halves = np.random.default_rng(7).standard_normal(1000).astype(np.float16).astype(np.float32)
    assert F.f16_exact(halves)
    one_off = bf16_values.copy()
    one_off[517] = np.nextafter(one_off[517], np.float32(np.inf))  # a single value with a low bit set
    assert not F.bf16_exact(one_off)
    assert not F.f16_exact(np.array([70000.0], dtype=np.float32))  # beyond the largest half
    assert F.lossless_float_format(bf16_values) == "bf16"
    assert F.lossless_float_format(halves) in ("bf16", "f16")
    assert F.lossless_float_format(np.float32([0.1, 0.2])) == "f32"


# --- the C side of the table --------------------------------------------------------------------------------------

FORMAT_HARNESS_C = r"""
#include <stdio.h>
#include "ek_kernels.h"

static const unsigned shapes[][2] = {SHAPES};

int main(void)
{
    unsigned f, s;
    for (f = 0; f < 64u; f++) {
        printf("%u %s %d %d", f, ek_format_name(f), ek_format_is_ternary(f), ek_format_is_float(f));
        for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            printf(" %llu", (unsigned long long)ek_format_packed_size(f, shapes[s][0], shapes[s][1]));
        printf("\n");
    }
    return 0;
}
"""


def test_c_format_table_answers_as_the_python_table(tmp_path):
    """Every row of ek_formats.c (names, kinds, packed sizes on awkward and 2B-4T shapes) against formats.py, and
    codes outside the table are unknown to both."""
    from cpu_features import require_tool
    from kernel_builds import KERNELS, compile_c

    require_tool("gcc")
    shapes = [(r, c) for r in (1, 2, 15, 16, 17, 33) for c in (1, 2, 3, 5, 79, 80, 81, 127, 128, 129, 161, 255)]
    shapes += [(2560, 2560), (6912, 2560), (2560, 6912), (128256, 2560), (4_294_967_295, 1_000_000)]  # sizes past 2^32
    src = tmp_path / "formats.c"
    src.write_text(FORMAT_HARNESS_C.replace("SHAPES", ", ".join(f"{{{r}u, {c}u}}" for r, c in shapes)))
    exe = compile_c("gcc", (), [src, KERNELS / "ek_formats.c"], tmp_path / "formats")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    python = {**{f.code: (f, True) for f in F.TERNARY_FORMATS.values()},
              **{f.code: (f, False) for f in F.FLOAT_FORMATS.values()}}
    seen = set()
    for line in out.splitlines():
        code, name, ternary, is_float, *sizes = line.split()
        code = int(code)
        if code not in python:
            assert (name, ternary, is_float) == ("?", "0", "0") and set(sizes) == {"0"}, line
            continue
        fmt, is_ternary = python[code]
        seen.add(code)
        assert (name, ternary == "1", is_float == "1") == (fmt.name, is_ternary, not is_ternary), line
        want = [fmt.packed_size(r, c) if is_ternary else fmt.packed_size((r, c)) for r, c in shapes]
        assert list(map(int, sizes)) == want, fmt.name
    assert seen == set(python)


def test_bf16_image_round_trips_a_bf16_checkpoint_and_inspect_names_it(tmp_path):
    """Packed with a bf16 embedding and head, a bf16 checkpoint loads back bit for bit (the reference engine then
    computes with exactly the checkpoint's values); `edgekit inspect` lists the format."""
    from click.testing import CliRunner
    from synthetic import random_model, tiny_config

    from edgekit.cli import cli
    from edgekit.model import FloatTensor
    from edgekit.pack.packer import PackChoice, model_from_images, pack_model

    model = random_model(tiny_config(tie_word_embeddings=False), seed=9)
    bf16 = F.FLOAT_FORMATS["bf16"]
    for name in ("tok_embeddings", "lm_head"):
        t = model.tensors[name]
        arr = bf16.unpack(bf16.pack(t.array()), t.shape)
        model.tensors[name] = FloatTensor(t.name, t.role, t.layer, t.shape, "bf16", arr.size * 2, lambda a=arr: a)
    path = tmp_path / "m.ekm"
    pack_model(model, path, PackChoice("i2", "bf16", "bf16"))
    back = model_from_images(path)
    for name in ("tok_embeddings", "lm_head"):
        np.testing.assert_array_equal(back.tensors[name].array().view(np.uint32),
                                      model.tensors[name].array().view(np.uint32))
    np.testing.assert_array_equal(back.logits([3, 5, 7]), model.logits([3, 5, 7]))
    res = CliRunner().invoke(cli, ["inspect", str(path)])
    assert res.exit_code == 0, res.output
    rows = [line.split("│") for line in res.output.splitlines() if line.startswith(("tok_embeddings", "lm_head"))]
    assert [r[2].strip() for r in rows] == ["ekm:bf16", "ekm:bf16"], res.output
