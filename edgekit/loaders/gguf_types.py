"""GGUF tensor types as one table (ggml's type traits): id, name, block size, bytes per block, codecs.

Every place that needs a fact about a ggml type (the container parser's tensor sizes and names, the loader's
choice of decoder, the exporter's encoders) reads it from GGML_TYPES / GGML_TYPE_BY_ID. Rows:
- float:     F32, F16, BF16 (numpy views);
- ternary:   TQ1_0, TQ2_0 (llama.cpp) and I2_S (bitnet.cpp's type 36, which the gguf package does not know),
             codecs in gguf_blocks.py. `decode(raw, numel)` -> (codes (n_blocks, block) int8, scale per block);
             I2_S has one scale per tensor (`scale_per_tensor`), stored after the blocks (`tail_bytes`);
- quantized: every other type the gguf package has sizes for, decoded (and, where the package can, encoded)
             with gguf.quants.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from edgekit.loaders import gguf_blocks as blocks


@dataclass(frozen=True)
class GGMLType:
    type_id: int
    name: str
    block: int  # weights per block
    block_bytes: int
    kind: str  # "float", "ternary" or "quantized"
    decode: Callable | None = None  # float/quantized: raw uint8 -> float32 (flat); ternary: see the module doc
    encode: Callable | None = None  # float/quantized: float32 array -> uint8; ternary: (codes, d) -> uint8
    tail_bytes: int = 0  # bytes after the last block (I2_S: the tensor scale)
    scale_per_tensor: bool = False  # ternary: one stored scale for the tensor instead of one per block
    blocks_span_rows: bool = False  # blocks cut the flattened tensor, not each row (I2_S)

    def nbytes(self, shape: tuple[int, ...]) -> int | None:
        """Bytes of a tensor of numpy shape `shape` (rows last-dimension-contiguous), or None when it does not
        fit the type's blocks."""
        n = math.prod(shape)
        if self.blocks_span_rows:
            return None if n % self.block else n // self.block * self.block_bytes + self.tail_bytes
        if shape and shape[-1] % self.block:
            return None
        return n // self.block * self.block_bytes + self.tail_bytes


def _float_row(qtype: GGMLQuantizationType, dtype: str) -> GGMLType:
    if qtype == GGMLQuantizationType.BF16:
        def decode(raw):  # bf16 is the top half of a float32
            return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        encode = None  # edgekit never writes bf16
    else:
        def decode(raw, dtype=dtype):
            return raw.view(dtype).astype(np.float32)

        def encode(arr, dtype=dtype):
            return np.ascontiguousarray(arr, dtype=dtype).reshape(-1).view(np.uint8)
    return GGMLType(int(qtype), qtype.name, 1, np.dtype(dtype).itemsize, "float", decode, encode)


def _quantized_row(qtype: GGMLQuantizationType) -> GGMLType:
    from gguf import quants

    block, size = GGML_QUANT_SIZES[qtype]

    def decode(raw):
        return np.asarray(quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)

    def encode(arr):
        packed = quants.quantize(np.ascontiguousarray(arr, dtype=np.float32), qtype)
        return np.asarray(packed).reshape(-1).view(np.uint8)

    return GGMLType(int(qtype), qtype.name, block, size, "quantized", decode, encode)


def _table() -> dict[int, GGMLType]:
    rows = {int(q): _quantized_row(q) for q in GGML_QUANT_SIZES}
    for qtype, dtype in ((GGMLQuantizationType.F32, "<f4"), (GGMLQuantizationType.F16, "<f2"),
                         (GGMLQuantizationType.BF16, "<u2")):
        rows[int(qtype)] = _float_row(qtype, dtype)
    rows[int(GGMLQuantizationType.TQ1_0)] = GGMLType(
        int(GGMLQuantizationType.TQ1_0), "TQ1_0", blocks.QK_K, blocks.TQ1_0_BLOCK_BYTES, "ternary",
        decode=lambda raw, numel: blocks.tq1_0_decode(raw), encode=blocks.tq1_0_encode)
    rows[int(GGMLQuantizationType.TQ2_0)] = GGMLType(
        int(GGMLQuantizationType.TQ2_0), "TQ2_0", blocks.QK_K, blocks.TQ2_0_BLOCK_BYTES, "ternary",
        decode=lambda raw, numel: blocks.tq2_0_decode(raw), encode=blocks.tq2_0_encode)
    rows[GGML_TYPE_I2_S] = GGMLType(
        GGML_TYPE_I2_S, "I2_S", blocks.I2_S_BLOCK, blocks.I2_S_BLOCK // 4, "ternary",
        decode=blocks.i2_s_decode, encode=blocks.i2_s_encode, tail_bytes=blocks.I2_S_TAIL_BYTES,
        scale_per_tensor=True, blocks_span_rows=True)
    return rows


GGML_TYPE_I2_S = 36  # bitnet.cpp's I2_S (layout in gguf_blocks.py); not in the gguf package's tables
GGML_TYPE_BY_ID: dict[int, GGMLType] = _table()
GGML_TYPES: dict[str, GGMLType] = {t.name: t for t in GGML_TYPE_BY_ID.values()}


def type_name(type_id: int) -> str:
    row = GGML_TYPE_BY_ID.get(type_id)
    return row.name if row else f"type{type_id}"
