"""PowerTrace: one capture from a current meter, sample by sample, with the logic inputs beside it.

A trace is what a meter hands back and what energy attribution (edgekit/power/energy.py) reads. It knows
nothing about models or tokens; it only knows samples: current (A) at a fixed rate, the meter's 8 digital
inputs per sample (bit i = input Di; the device's step marker is wired to one of them), and the supply voltage
that turns current into power.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from edgekit.atomic_file import write_text_atomic
from edgekit.errors import EdgekitError


@dataclass
class PowerTrace:
    meter: str  # which meter produced it, e.g. "ppk2"
    sample_rate_hz: float  # nominal rate; the PPK2 samples at 100 kHz
    current_a: np.ndarray  # (n,) float64, amperes
    logic: np.ndarray  # (n,) uint8, bit i = digital input Di at that sample
    voltage_v: float  # supply voltage: PPK2 source-mode output, or the DUT supply given in ampere mode
    estimate: bool = False  # True when the samples are not from real hardware (emulated meter/board)
    dropped_samples: int = 0  # samples the meter reported lost in transit (counter gaps); 0 = none seen

    def __post_init__(self):
        self.current_a = np.asarray(self.current_a, dtype=np.float64)
        self.logic = np.asarray(self.logic, dtype=np.uint8)
        if self.current_a.ndim != 1 or self.logic.shape != self.current_a.shape:
            raise EdgekitError(f"current ({self.current_a.shape}) and logic ({self.logic.shape}) must be 1-D "
                               "arrays of the same length", path=f"{self.meter} trace")
        if not self.sample_rate_hz > 0:
            raise EdgekitError(f"sample rate must be positive, got {self.sample_rate_hz}", path=f"{self.meter} trace")

    def __len__(self) -> int:
        return int(self.current_a.shape[0])

    @property
    def duration_s(self) -> float:
        return len(self) / self.sample_rate_hz

    @property
    def power_w(self) -> np.ndarray:
        """Instantaneous power per sample (W), float64."""
        return self.current_a * self.voltage_v

    def marker_windows(self, bit: int = 0) -> list[tuple[int, int]]:
        """(rise, fall) sample indices of every high pulse on digital input D{bit}.

        `rise` is the first high sample, `fall` the first low sample after it, so the pulse covers [rise, fall).
        A pulse still high at the end of the capture closes at len(trace).
        A marker that is already high at sample 0 is NOT a window: the step it marks started before the capture,
        so its energy cannot be measured whole; counting it would attribute a partial step as a full one.
        """
        if not 0 <= bit <= 7:
            raise EdgekitError(f"marker bit must be 0..7 (digital inputs D0..D7), got {bit}",
                               fix="use --marker-bit 0..7")
        high = ((self.logic >> bit) & 1).astype(np.int8)
        if high.size == 0:
            return []
        edges = np.diff(high)
        rises = np.flatnonzero(edges == 1) + 1
        falls = np.flatnonzero(edges == -1) + 1
        if high[0]:
            falls = falls[1:]  # the fall that ends the pre-capture pulse belongs to no window
        if len(falls) < len(rises):
            falls = np.append(falls, len(high))
        return [(int(r), int(f)) for r, f in zip(rises, falls)]

    def energy_j(self, start: int, stop: int) -> float:
        """Energy (J) over samples [start, stop): sum of I*V/rate (each sample stands for one sample period)."""
        if not 0 <= start <= stop <= len(self):
            raise EdgekitError(f"sample range [{start}, {stop}) outside the trace of {len(self)} samples",
                               path=f"{self.meter} trace")
        return float(np.sum(self.current_a[start:stop]) * self.voltage_v / self.sample_rate_hz)

    def write_csv(self, path: str | os.PathLike, every: int = 1) -> None:
        """Write time_s, current_a, power_w, logic; with every=N each row averages N samples (the last row
        averages what is left). Logic of a decimated row is the OR of its samples, so short marker pulses stay
        visible. time_s is the start time of the row's first sample."""
        if every < 1:
            raise EdgekitError(f"decimation must be >= 1 sample per row, got {every}", path=path)
        n = len(self)
        starts = np.arange(0, n, every)
        counts = np.minimum(every, n - starts)
        current = np.add.reduceat(self.current_a, starts) / counts if n else np.empty(0)
        logic = np.bitwise_or.reduceat(self.logic, starts) if n else np.empty(0, np.uint8)
        time_s = starts / self.sample_rate_hz
        buf = io.StringIO()
        buf.write("time_s,current_a,power_w,logic\n")
        # repr-exact floats (%.17g) so a re-read trace gives the same energies bit for bit
        for t, i, p, b in zip(time_s, current, current * self.voltage_v, logic):
            buf.write(f"{t:.9g},{i:.17g},{p:.17g},{int(b)}\n")
        write_text_atomic(path, buf.getvalue())


def read_csv(path: str | os.PathLike, *, meter: str, sample_rate_hz: float, voltage_v: float,
             estimate: bool = False) -> PowerTrace:
    """Read a CSV written by PowerTrace.write_csv back into a trace (sample_rate_hz = rows per second)."""
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as e:
        raise EdgekitError(f"cannot read power CSV: {e}", path=path) from None
    if data.size == 0:
        data = np.empty((0, 4))
    if data.shape[1] != 4:
        raise EdgekitError(f"expected 4 columns time_s,current_a,power_w,logic, got {data.shape[1]}", path=path)
    return PowerTrace(meter=meter, sample_rate_hz=sample_rate_hz, current_a=data[:, 1],
                      logic=data[:, 3].astype(np.uint8), voltage_v=voltage_v, estimate=estimate)
