"""Ternary weight recovery shared by the checkpoint readers (docs/design.md §2).

Every reader ends in the same place: int8 codes in {-1, 0, +1} of shape (out, in) and one float32
weight_scale s_w used as a divisor, y = acc / (s_x * s_w).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.model import TernaryTensor

MIN_MEAN_ABS = np.float32(1e-5)  # the clamp BitNet puts on mean|W| so an all-zero tensor has a finite scale


def absmean_ternarise(weight: np.ndarray, *, where: object = None, name: str = "?") -> tuple[np.ndarray, float]:
    """Float master weight -> (codes, s_w) with s_w = 1/max(mean|W|, 1e-5), W_q = clamp(rint(W*s_w), -1, 1).

    mean|W| is accumulated in float64 and rounded once to float32, which is the correctly rounded value
    that torch's float32 mean approximates; the product W*s_w is float32 like transformers'.
    """
    w = np.asarray(weight, dtype=np.float32)
    if not np.isfinite(w).all():
        raise EdgekitError(f"tensor {name}: weights contain NaN or infinity", path=where,
                           fix="the checkpoint is corrupt")
    mean_abs = np.float32(np.abs(w, dtype=np.float64).mean()) if w.size else np.float32(0)
    s_w = np.float32(1) / np.maximum(mean_abs, MIN_MEAN_ABS)
    codes = np.clip(np.rint(w * s_w), -1, 1).astype(np.int8)
    return codes, float(s_w)


def unpack_hf_2bit(packed: np.ndarray, out_features: int, *, where: object, name: str) -> np.ndarray:
    """HF BitNet packing -> codes. packed is uint8 [out/4, in]; bits 2i..2i+1 of packed[r, c] hold
    W_q[i*(out/4) + r, c] + 1. Code 0b11 does not exist in the format, so it means corruption."""
    rows, cols = packed.shape
    if rows * 4 != out_features:
        raise EdgekitError(f"tensor {name}: packed shape {tuple(packed.shape)} does not hold {out_features} "
                           f"rows (needs [{out_features // 4 if out_features % 4 == 0 else '?'}, {cols}])",
                           path=where)
    shifts = (2 * np.arange(4, dtype=np.uint8)).reshape(4, 1, 1)
    fields = (packed[None, :, :] >> shifts) & np.uint8(3)  # (4, out/4, in): field i -> rows i*out/4 ...
    if (fields == 3).any():
        i, r, c = (int(x[0]) for x in np.nonzero(fields == 3))
        raise EdgekitError(f"tensor {name}: non-ternary code 0b11 at row {i * rows + r}, column {c}",
                           path=where, fix="the packed weights are corrupt")
    return (fields.reshape(out_features, cols).astype(np.int8) - 1)


def pack_hf_2bit(codes: np.ndarray) -> np.ndarray:
    """Inverse of unpack_hf_2bit (used by the fixture and synthetic-checkpoint writers)."""
    out, cols = codes.shape
    if out % 4:
        raise ValueError(f"out_features {out} is not a multiple of 4")
    q = (codes.astype(np.int16) + 1).astype(np.uint8).reshape(4, out // 4, cols)
    return (q[0] | (q[1] << 2) | (q[2] << 4) | (q[3] << 6)).astype(np.uint8)


def require_ternary(values: np.ndarray, *, where: object, name: str) -> np.ndarray:
    """Float values that must already be exactly -1, 0 or +1 (autobitlinear offline) -> int8 codes."""
    bad = ~np.isin(values, (-1.0, 0.0, 1.0))
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), values.shape)
        raise EdgekitError(f"tensor {name}: non-ternary value {float(values[idx])!r} at {tuple(int(i) for i in idx)}",
                           path=where, fix="autobitlinear offline checkpoints store W_q in {-1, 0, +1}")
    return values.astype(np.int8)


class DeferredScaleTernaryTensor(TernaryTensor):
    """A TernaryTensor whose s_w is only known after decoding the whole tensor (float masters: mean|W|;
    GGUF TQ1_0/TQ2_0: the per-block scales must all agree). Loading stays cheap: the tensor is decoded
    the first time someone asks for its codes or its scale; only the scale is kept, never the codes."""

    def __init__(self, *, name: str, role: str, layer: int, shape: tuple[int, ...], source_format: str,
                 source_bytes: int, decode: Callable[[], tuple[np.ndarray, float]]):
        self._decode = decode
        self._scale: float | None = None
        super().__init__(name=name, role=role, layer=layer, shape=shape, source_format=source_format,
                         source_bytes=source_bytes, _produce=self._decoded_codes)

    def _decoded_codes(self) -> np.ndarray:
        codes, scale = self._decode()
        self._scale = float(scale)
        return codes

    @property  # type: ignore[override]
    def weight_scale(self) -> float:
        if self._scale is None:
            self._decoded_codes()
        return self._scale  # type: ignore[return-value]

    @weight_scale.setter
    def weight_scale(self, value: float) -> None:
        # The dataclass __init__ assigns the field default; the real value comes from decoding.
        pass

    def __repr__(self) -> str:  # the dataclass repr would read the weights to show the scale
        known = "deferred" if self._scale is None else repr(self._scale)
        return f"{type(self).__name__}(name={self.name!r}, shape={self.shape}, source_format=" \
               f"{self.source_format!r}, weight_scale={known})"
