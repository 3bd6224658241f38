"""Token sampler, step for step the same algorithm as firmware/runtime/ek_sampler.c.

Same seed + same logits -> same token on host and device, so sampled (not only greedy) runs can be compared.
The algorithm is specified once, in docs/protocol.md ("Sampling"); keep both sides literal to it.
"""
from __future__ import annotations

import numpy as np

F32 = np.float32
MASK64 = (1 << 64) - 1
SEED_ZERO_STATE = 0x9E3779B97F4A7C15


class Rng:
    """xorshift64* with a 32-bit output."""

    def __init__(self, seed: int):
        self.state = (seed & MASK64) or SEED_ZERO_STATE

    def next_u32(self) -> int:
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & MASK64
        s ^= s >> 27
        self.state = s
        return ((s * 0x2545F4914F6CDD1D) & MASK64) >> 32

    def uniform(self) -> np.float32:
        return F32(self.next_u32() >> 8) * F32(1.0 / 16777216.0)


def _running_pick(probs: np.ndarray, order: np.ndarray, r: np.float32) -> int:
    """First index in `order` whose running float32 sum exceeds r (np.cumsum accumulates sequentially)."""
    running = np.cumsum(probs[order], dtype=F32)
    hit = np.flatnonzero(r < running)
    return int(order[hit[0]]) if hit.size else int(order[-1])


def _sequential_sum(values: np.ndarray) -> np.float32:
    # float32 accumulation in order, as the C loop does (numpy's pairwise sum would round differently)
    return F32(np.cumsum(values, dtype=F32)[-1]) if values.size else F32(0.0)


class Sampler:
    def __init__(self, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0):
        self.temperature = F32(temperature)
        self.top_k = int(top_k)
        self.top_p = F32(top_p)
        self.rng = Rng(seed)

    def sample(self, logits: np.ndarray) -> int:
        logits = np.asarray(logits, dtype=F32).reshape(-1)
        n = logits.size
        if self.temperature <= 0:
            return int(np.argmax(logits))  # first maximum wins ties, as in C
        m = logits.max()
        p = np.exp(((logits - m) / self.temperature).astype(F32)).astype(F32)
        use_k = 0 < self.top_k < n
        use_p = F32(0.0) < self.top_p < F32(1.0)
        if not use_k and not use_p:
            total = _sequential_sum(p)
            r = F32(self.rng.uniform() * total)
            return _running_pick(p, np.arange(n), r)
        order = np.lexsort((np.arange(n), -p))  # p descending, lower index first on ties
        if use_k:
            order = order[: self.top_k]
        if use_p:
            running = np.cumsum(p[order], dtype=F32)
            threshold = F32(self.top_p * running[-1])
            keep = int(np.argmax(running >= threshold)) + 1
            order = order[:keep]
        total = _sequential_sum(p[order])
        r = F32(self.rng.uniform() * total)
        return _running_pick(p, order, r)
