"""The machine a benchmark ran on, recorded beside its numbers (numbers from different machines never compare)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

# ISA flags that decide which kernels run (edgekit's and the peers'); the JSON keeps these, not all ~100 flags
RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                  "avx_vnni", "avx512_bf16", "amx_int8", "asimd", "asimddp", "i8mm", "sve", "sve2")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith(("model name", "Model\t", "Hardware")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The relevant ISA flags this CPU reports (x86 "flags", AArch64 "Features")."""
    have: set[str] = set()
    for line in _cpuinfo().splitlines():
        if line.startswith(("flags", "Features")):
            have |= set(line.split(":", 1)[1].split())
    return [f for f in RELEVANT_FLAGS if f in have]


def physical_cores() -> int | None:
    """Distinct (package, core) pairs, or None where /proc/cpuinfo does not say."""
    pairs, package = set(), None
    for line in _cpuinfo().splitlines():
        if line.startswith("physical id"):
            package = line.split(":", 1)[1].strip()
        elif line.startswith("core id"):
            pairs.add((package, line.split(":", 1)[1].strip()))
    return len(pairs) or None


def cache_bytes(level: int = 3) -> int | None:
    """Size of the CPU's cache of this level (Linux sysfs), or None."""
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")) if base.is_dir() else []:
        try:
            if int((index / "level").read_text()) != level or (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        return int(text.rstrip("KMG")) * scale
    return None


def memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info() -> dict:
    return {"cpu": cpu_model(), "arch": platform.machine(), "flags": cpu_flags(), "logical_cpus": os.cpu_count(),
            "physical_cores": physical_cores(), "l3_bytes": cache_bytes(3), "memory_bytes": memory_bytes(),
            "platform": platform.platform(), "python": platform.python_version()}
