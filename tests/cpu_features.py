"""What this machine can build and run, for the kernel tests: one place that looks, one way to skip.

The host's ISA features come from edgekit's own detector (edgekit.gen.project.native_features, the one that
chooses the kernels of a native build), so a test asks the same question the build does. Every skip for a
missing tool or CPU feature goes through require_tool / require_cpu_feature: one wording, and under
EDGEKIT_REQUIRE_ALL=1 (tests/skip_policy.py) such a skip fails the run instead of hiding.
"""
from __future__ import annotations

import shutil
from functools import lru_cache

import pytest

from edgekit.gen.project import native_features

# feature -> what the host needs for it, for the skip message
FEATURE_NEEDS = {
    "avx2": "an x86-64 host with AVX2 and F16C",
    "avx512": "an x86-64 host with AVX-512 F/BW/VL",
    "avx512vnni": "an x86-64 host with AVX-512 VNNI",
    "neon": "an AArch64 host",
    "dotprod": "an AArch64 host with the dot-product extension",
}


@lru_cache(maxsize=None)
def host_features() -> frozenset[str]:
    """Kernel families this host's CPU runs natively ("avx2", "neon", "dotprod")."""
    return frozenset(native_features())


def has_cpu_feature(feature: str) -> bool:
    return feature in host_features()


def require_cpu_feature(feature: str) -> None:
    """Skip the calling test unless the host CPU runs kernel family `feature` natively."""
    if feature not in FEATURE_NEEDS:
        raise ValueError(f"unknown CPU feature {feature!r}; known: {', '.join(FEATURE_NEEDS)}")
    if not has_cpu_feature(feature):
        pytest.skip(f"needs {FEATURE_NEEDS[feature]}")


def require_tool(*names: str) -> None:
    """Skip the calling test unless every program in `names` is on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed")
