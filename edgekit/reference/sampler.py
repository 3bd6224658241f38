"""Token sampler, step for step the same algorithm as firmware/runtime/ek_sampler.c.

Same seed + same logits -> same token on host and device, so sampled (not only greedy) runs can be compared.
The algorithm is specified once, in docs/protocol.md ("Sampling"); keep both sides literal to it.
"""
from __future__ import annotations

from dataclasses import dataclass

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


class Sampler:
    def __init__(self, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0):
        self.temperature = F32(temperature)
        self.top_k = int(top_k)
        self.top_p = F32(top_p)
        self.rng = Rng(seed)

    def sample(self, logits: np.ndarray) -> int:
        return self.draw(logits).token

    def draw(self, logits: np.ndarray) -> "Draw":
        """Sample one token and say how: the candidate order, their running float32 sum and the point r."""
        logits = np.asarray(logits, dtype=F32).reshape(-1)
        n = logits.size
        if self.temperature <= 0:
            token = int(np.argmax(logits))  # first maximum wins ties, as in C
            return Draw(token, np.array([token]), np.ones(1, F32), F32(0.0))
        m = logits.max()
        p = np.exp(((logits - m) / self.temperature).astype(F32)).astype(F32)
        use_k = 0 < self.top_k < n
        use_p = F32(0.0) < self.top_p < F32(1.0)
        if not use_k and not use_p:
            order = np.arange(n)
        else:
            order = np.lexsort((np.arange(n), -p))  # p descending, lower index first on ties
            if use_k:
                order = order[: self.top_k]
            if use_p:
                running = np.cumsum(p[order], dtype=F32)
                threshold = F32(self.top_p * running[-1])
                keep = int(np.argmax(running >= threshold)) + 1
                order = order[:keep]
        running = np.cumsum(p[order], dtype=F32)  # sequential, as the C loop adds
        r = F32(self.rng.uniform() * running[-1])
        hit = np.flatnonzero(r < running)
        token = int(order[hit[0]]) if hit.size else int(order[-1])
        return Draw(token, order, running, r)


@dataclass(frozen=True)
class Draw:
    token: int
    order: np.ndarray  # candidate token ids in the order the running sum walks them
    running: np.ndarray  # float32 running sum of their weights
    r: np.float32  # the uniform point in [0, running[-1]) that picked `token`

    def margin(self) -> float:
        """Distance from r to the nearest boundary of the picked token's interval, relative to the total: how
        far the draw was from picking a neighbour. Float noise in the logits can only flip draws below ~1e-5."""
        i = int(np.flatnonzero(self.order == self.token)[0])
        lo = self.running[i - 1] if i else F32(0.0)
        total = float(self.running[-1]) or 1.0
        return min(float(self.r - lo), float(self.running[i] - self.r)) / total
