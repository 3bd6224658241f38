"""Read bandwidth measured on this machine, in the same run as the benchmark it is the roofline of.

A small C program (read_bandwidth.c beside this file) is built once into the bench work directory with the
host compiler (-O2 -march=native) and run with 1..N threads over a buffer much larger than the last-level
cache. Decode of a memory-bound model cannot run faster than bandwidth / bytes read per token.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgekit.bench.machine import cache_bytes
from edgekit.errors import EdgekitError

SOURCE = Path(__file__).with_name("read_bandwidth.c")
MIN_BUFFER_MIB = 512


def build_reader(work: Path) -> Path:
    exe = work / "read_bandwidth"
    if exe.is_file() and exe.stat().st_mtime >= SOURCE.stat().st_mtime:
        return exe
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise EdgekitError("measuring the read bandwidth needs a C compiler", fix="install gcc or clang")
    work.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_suffix(".tmp")
    r = subprocess.run([cc, "-O2", "-march=native", "-pthread", "-o", str(tmp), str(SOURCE)],
                       capture_output=True, text=True)
    if r.returncode:
        raise EdgekitError(f"building {SOURCE.name} failed:\n{r.stderr[-2000:]}")
    tmp.replace(exe)
    return exe


def buffer_mib() -> int:
    """At least 512 MiB and 8x the last-level cache: every read comes from DRAM."""
    llc = cache_bytes(3) or cache_bytes(2) or 0
    return max(MIN_BUFFER_MIB, 8 * llc >> 20)


def read_bandwidth(exe: Path, threads: int, repeats: int = 3, mib: int | None = None) -> list[float]:
    """GB/s (1e9 bytes/s) of each repeat after one warm-up pass."""
    r = subprocess.run([str(exe), str(mib or buffer_mib()), str(threads), str(repeats + 1)],
                       capture_output=True, text=True)
    if r.returncode:
        raise EdgekitError(f"read_bandwidth {threads} thread(s) failed: {r.stderr.strip()[-500:]}")
    samples = []
    for line in r.stdout.splitlines()[1:]:  # the first pass faults the buffer's pages into the TLB: dropped
        nbytes, seconds = line.split()
        samples.append(int(nbytes) / float(seconds) / 1e9)
    return samples
