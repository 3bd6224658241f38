"""Every packing format round-trips exactly, on awkward shapes; layouts match their documented bytes."""
import itertools

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
    a = np.random.default_rng(2).standard_normal((13, 37)).astype(np.float32)
    data = fmt.pack(a)
    assert len(data) == fmt.packed_size(a.shape)
    back = fmt.unpack(data, a.shape)
    tol = {"f32": 0, "f16": 1e-3, "q8row": 0.5 / 127}[name]
    assert np.max(np.abs(back - a) / np.max(np.abs(a), axis=1, keepdims=True)) <= tol


def test_format_codes_are_unique():
    codes = [f.code for f in F.TERNARY_FORMATS.values()] + [f.code for f in F.FLOAT_FORMATS.values()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("name", list(F.FLOAT_FORMATS))
@pytest.mark.parametrize("shape", [(13, 37), (1, 5), (9,)])
def test_float_chunked_pack_equals_whole(name, shape):
    fmt = F.FLOAT_FORMATS[name]
    a = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    assert b"".join(fmt.pack_chunks(a, rows_per_chunk=4)) == fmt.pack(a)
