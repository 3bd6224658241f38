"""Ternary block formats of GGUF files, both directions: llama.cpp's TQ1_0 and TQ2_0, bitnet.cpp's I2_S.

Decoders return codes in {-1, 0, +1} (int8) and the stored scale(s); encoders exist so fixtures, tests
and exports produce the same bytes llama.cpp / bitnet.cpp would. gguf_types.py puts these codecs in the table
of all ggml types (ids, block sizes, bytes per block) that the parser, the loader and the exporter read. All
weights of a block belong to one row (rows are in_features long and must be a multiple of the block).

  TQ2_0  256 weights in 66 bytes (2.0625 bits/weight): qs[64] then fp16 d. Byte j of half g (32 bytes)
         holds weights g*128 + k*32 + j at bits 2k..2k+1 (k = 0..3), each as w + 1.
  TQ1_0  256 weights in 54 bytes (1.6875 bits/weight): qs[48], qh[4], fp16 d. A byte holds up to five
         trits as q = ceil(v * 256 / 243) of v = sum digit_k * 3^(4-k); digit k decodes as
         ((q * 3^k) mod 256) * 3 >> 8 (multiply and shift, no division). qs[0:32] holds weights k*32 + j
         (k = 0..4), qs[32:48] weights 160 + k*16 + j, qh[0:4] weights 240 + k*4 + j (k = 0..3).
  I2_S   bitnet.cpp (x86 layout), 2 bits/weight: the flattened tensor in 128-weight blocks of 32 bytes;
         byte j holds weights j, j+32, j+64, j+96 at bits 7..6, 5..4, 3..2, 1..0 as w + 1; after the
         n/4 code bytes a 32-byte tail whose first float32 is the tensor scale (mean|W|; bitnet.cpp
         repeats it 8 times).
"""
from __future__ import annotations

import numpy as np

QK_K = 256
TQ1_0_BLOCK_BYTES = 54
TQ2_0_BLOCK_BYTES = 66
I2_S_BLOCK = 128
I2_S_TAIL_BYTES = 32
_POW3 = np.array([1, 3, 9, 27, 81], dtype=np.uint8)


class BlockFormatError(ValueError):
    """Bytes that no encoder produces (the caller names the file and tensor)."""


def _codes_as_blocks(codes: np.ndarray, block: int) -> np.ndarray:
    flat = np.asarray(codes, dtype=np.int8).reshape(-1)
    if flat.size % block:
        raise ValueError(f"{flat.size} weights are not a whole number of {block}-weight blocks")
    if ((flat < -1) | (flat > 1)).any():
        raise ValueError("codes must be -1, 0 or +1")
    return (flat + 1).astype(np.uint8).reshape(-1, block)


def _fp16_bytes(d: np.ndarray | float, n_blocks: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(d, dtype="<f2"), (n_blocks,)).copy().view(np.uint8).reshape(n_blocks, 2)


# --- TQ2_0 ---------------------------------------------------------------------------------------------
def tq2_0_encode(codes: np.ndarray, d) -> np.ndarray:
    """codes (any shape, multiple of 256) + per-block or single fp16 scale -> uint8 (n_blocks, 66)."""
    q = _codes_as_blocks(codes, QK_K).reshape(-1, 2, 4, 32)
    qs = q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)
    return np.concatenate([qs.reshape(-1, 64), _fp16_bytes(d, q.shape[0])], axis=1)


def tq2_0_decode(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 bytes -> (codes (n_blocks, 256) int8, d (n_blocks,) float32)."""
    blocks = raw.reshape(-1, TQ2_0_BLOCK_BYTES)
    qs = blocks[:, :64].reshape(-1, 2, 1, 32)
    fields = (qs >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)) & np.uint8(3)
    if (fields == 3).any():
        raise BlockFormatError("non-ternary code 0b11 in TQ2_0 data")
    codes = fields.reshape(-1, QK_K).astype(np.int8) - 1
    return codes, blocks[:, 64:66].copy().view("<f2").reshape(-1).astype(np.float32)


# --- TQ1_0 ---------------------------------------------------------------------------------------------
def _pack_trits(q: np.ndarray, n_digits: int) -> np.ndarray:
    """q (n_blocks, n_digits, width) trits 0..2 -> (n_blocks, width) bytes ceil(v * 256 / 243)."""
    weights = (3 ** np.arange(4, 4 - n_digits, -1)).astype(np.uint16).reshape(1, n_digits, 1)
    v = (q.astype(np.uint16) * weights).sum(axis=1)
    return ((v * 256 + 242) // 243).astype(np.uint8)


def _unpack_trits(q: np.ndarray, n_digits: int) -> np.ndarray:
    """(n_blocks, width) bytes -> (n_blocks, n_digits * width) trits, digit k of byte j at k*width + j."""
    shifted = (q[:, None, :] * _POW3[:n_digits].reshape(1, n_digits, 1)).astype(np.uint8)  # wraps: mod 256
    return ((shifted.astype(np.uint16) * 3) >> 8).astype(np.int8).reshape(q.shape[0], -1)


def tq1_0_encode(codes: np.ndarray, d) -> np.ndarray:
    q = _codes_as_blocks(codes, QK_K)
    first = _pack_trits(q[:, :160].reshape(-1, 5, 32), 5)
    second = _pack_trits(q[:, 160:240].reshape(-1, 5, 16), 5)
    tail = _pack_trits(q[:, 240:].reshape(-1, 4, 4), 4)
    return np.concatenate([first, second, tail, _fp16_bytes(d, q.shape[0])], axis=1)


def tq1_0_decode(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every byte decodes to valid trits, so TQ1_0 has no invalid codes to report."""
    blocks = raw.reshape(-1, TQ1_0_BLOCK_BYTES)
    trits = np.concatenate([_unpack_trits(blocks[:, 0:32], 5), _unpack_trits(blocks[:, 32:48], 5),
                            _unpack_trits(blocks[:, 48:52], 4)], axis=1)
    return trits - np.int8(1), blocks[:, 52:54].copy().view("<f2").reshape(-1).astype(np.float32)


# --- I2_S ----------------------------------------------------------------------------------------------
def i2_s_nbytes(numel: int) -> int:
    return numel // 4 + I2_S_TAIL_BYTES


def i2_s_encode(codes: np.ndarray, scale: float) -> np.ndarray:
    q = _codes_as_blocks(codes, I2_S_BLOCK).reshape(-1, 4, 32)
    body = (q[:, 0] << 6) | (q[:, 1] << 4) | (q[:, 2] << 2) | q[:, 3]
    tail = np.full(I2_S_TAIL_BYTES // 4, scale, dtype="<f4").view(np.uint8)
    return np.concatenate([body.reshape(-1), tail])


def i2_s_decode(raw: np.ndarray, numel: int) -> tuple[np.ndarray, float]:
    """uint8 bytes -> (codes (numel,) int8, scale as stored)."""
    body = raw[: numel // 4].reshape(-1, 1, 32)
    fields = (body >> np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)) & np.uint8(3)
    if (fields == 3).any():
        raise BlockFormatError("non-ternary code 0b11 in I2_S data")
    codes = fields.reshape(numel).astype(np.int8) - 1
    return codes, float(raw[numel // 4: numel // 4 + 4].copy().view("<f4")[0])
