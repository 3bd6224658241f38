"""Repeated measurements, summarised the same way everywhere: warm-up runs dropped, then min / median / max."""
from __future__ import annotations

import statistics


def summary(samples: list[float], digits: int = 2) -> dict:
    """{"min", "median", "max", "runs"} of the samples (already without warm-up runs)."""
    if not samples:
        raise ValueError("no samples")
    return {"min": round(min(samples), digits), "median": round(statistics.median(samples), digits),
            "max": round(max(samples), digits), "runs": len(samples)}


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)
