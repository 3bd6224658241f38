"""The table of ggml tensor types (edgekit/loaders/gguf_types.py) against the gguf package and the codecs."""
from __future__ import annotations

import numpy as np
import pytest
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as QT

from edgekit.loaders.gguf_blocks import i2_s_nbytes
from edgekit.loaders.gguf_file import tensor_nbytes
from edgekit.loaders.gguf_types import GGML_TYPE_BY_ID, GGML_TYPE_I2_S, GGML_TYPES, type_name


def test_every_type_the_gguf_package_knows_has_its_sizes():
    for qtype, (block, size) in GGML_QUANT_SIZES.items():
        row = GGML_TYPE_BY_ID[int(qtype)]
        assert (row.name, row.block, row.block_bytes) == (qtype.name, block, size)
        assert GGML_TYPES[row.name] is row
    kinds = {name: GGML_TYPES[name].kind for name in ("F32", "F16", "BF16", "TQ1_0", "TQ2_0", "I2_S", "Q8_0", "Q6_K")}
    assert kinds == {"F32": "float", "F16": "float", "BF16": "float", "TQ1_0": "ternary", "TQ2_0": "ternary",
                     "I2_S": "ternary", "Q8_0": "quantized", "Q6_K": "quantized"}


def test_sizes_in_gguf_order_and_the_i2_s_tail():
    assert tensor_nbytes(int(QT.TQ2_0), (512, 3)) == 3 * 2 * 66
    assert tensor_nbytes(int(QT.TQ2_0), (100, 3)) is None  # rows are not whole blocks
    assert tensor_nbytes(int(QT.F16), (7, 3)) == 42
    # I2_S blocks the flattened tensor and keeps its scale after the blocks
    assert tensor_nbytes(GGML_TYPE_I2_S, (64, 4)) == i2_s_nbytes(256) == 256 // 4 + 32
    assert tensor_nbytes(GGML_TYPE_I2_S, (64, 3)) is None
    assert tensor_nbytes(9999, (4,)) is None and type_name(9999) == "type9999" and type_name(36) == "I2_S"


@pytest.mark.parametrize("name", ["F32", "F16", "Q8_0"])
def test_float_and_quantized_codecs_round_trip(name):
    row = GGML_TYPES[name]
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    raw = row.encode(x)
    assert raw.dtype == np.uint8 and raw.size == row.nbytes(x.shape)
    back = row.decode(raw).reshape(x.shape)
    tol = {"F32": 0, "F16": 1e-3, "Q8_0": 0.03}[name]
    assert np.abs(back - x).max() <= tol


@pytest.mark.parametrize("name", ["TQ1_0", "TQ2_0", "I2_S"])
def test_ternary_codecs_round_trip(name):
    row = GGML_TYPES[name]
    codes = np.random.default_rng(1).integers(-1, 2, size=(2, 256)).astype(np.int8)
    raw = row.encode(codes, np.float16(0.75)).reshape(-1)
    assert raw.size == row.nbytes(codes.shape)
    got, scale = row.decode(raw, codes.size)
    np.testing.assert_array_equal(got.reshape(codes.shape), codes)
    assert np.all(np.asarray(scale) == np.float32(0.75))
