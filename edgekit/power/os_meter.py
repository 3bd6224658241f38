"""Energy from the operating system's own counters, for boards that run Linux (docs/design.md §8: "OS counters").

No meter to wire: the machine that runs the device process reports its energy itself.

    powercap   /sys/class/powercap/<zone>/energy_uj       cumulative µJ (Intel/AMD RAPL), wraps at
                                                          max_energy_range_uj
    hwmon      /sys/class/hwmon/hwmon*/energy*_input      cumulative µJ
               /sys/class/hwmon/hwmon*/power*_input       instantaneous µW
    vcgencmd   `vcgencmd pmic_read_adc`                   Raspberry Pi 5 PMIC: volts and amps per rail

Counters are read every `period_s` on a background thread; power sources are integrated over those periods.
Top-level powercap zones only (a zone's subzones are part of it), and a platform zone ("psys") alone if one
exists, since it already contains the packages. What is measured is the whole machine or package, the host
tool included: it is the energy of running the model here, not of the model's arithmetic alone.

EDGEKIT_SYSFS (default /sys) moves the sysfs root: containers that bind-mount it elsewhere, and the tests.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.power.energy import EnergyReport, _time_base, decode_time_base

DEFAULT_PERIOD_S = 0.005
VCGENCMD_TIMEOUT_S = 2.0
_PMIC_LINE = re.compile(r"^\s*(\S+?)_([AV])\s+(?:current|volt)\(\d+\)=([-+0-9.eE]+)[AV]\s*$")


def sysfs_root() -> Path:
    return Path(os.environ.get("EDGEKIT_SYSFS", "/sys"))


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except PermissionError:
        raise EdgekitError("cannot read an energy counter: permission denied", path=path,
                           fix="run as root, or make it readable (sudo chmod o+r ...); since 2020 kernels keep "
                               "RAPL counters root-only") from None
    except (OSError, ValueError) as e:
        raise EdgekitError(f"cannot read an energy counter: {e}", path=path) from None


@dataclass
class EnergyCounter:
    """A cumulative energy counter in µJ; `wrap_uj` is where it rolls over to 0 (None: never in practice)."""
    name: str
    path: Path
    wrap_uj: int | None = None
    kind = "energy"

    def read(self) -> float:
        return float(_read_int(self.path))


@dataclass
class PowerGauge:
    """An instantaneous power reading in µW (hwmon power*_input)."""
    name: str
    path: Path
    kind = "power"

    def read(self) -> float:
        return float(_read_int(self.path))


@dataclass
class PmicRails:
    """Raspberry Pi 5: `vcgencmd pmic_read_adc` lists each PMIC rail's current (…_A) and voltage (…_V); the sum
    of V * I over the rails with both is what the PMIC delivers to the SoC, memory and I/O (not USB devices,
    nor the PMIC's own losses), in µW here."""
    command: list[str] = field(default_factory=lambda: ["vcgencmd", "pmic_read_adc"])
    name: str = "pi5-pmic"
    kind = "power"

    def read(self) -> float:
        try:
            out = subprocess.run(self.command, capture_output=True, text=True, timeout=VCGENCMD_TIMEOUT_S,
                                 check=True).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise EdgekitError(f"`{' '.join(self.command)}` failed: {e}",
                               fix="on a Raspberry Pi 5 with a current firmware, vcgencmd is in /usr/bin") from None
        return parse_pmic_read_adc(out) * 1e6


def parse_pmic_read_adc(text: str) -> float:
    """Watts from `vcgencmd pmic_read_adc` output: rails are paired by name (VDD_CORE_A with VDD_CORE_V)."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        m = _PMIC_LINE.match(line)
        if m:
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    rails = sorted(set(amps) & set(volts))
    if not rails:
        raise EdgekitError("`vcgencmd pmic_read_adc` printed no rail with both a current and a voltage",
                           fix="this needs a Raspberry Pi 5 (its PMIC); other boards have no such readout")
    return sum(amps[r] * volts[r] for r in rails)


def find_os_sources(root: Path | None = None, *, use_vcgencmd: bool = True) -> list:
    """Every energy/power source this machine exposes, as EnergyCounter / PowerGauge / PmicRails."""
    root = root or sysfs_root()
    sources: list = []
    powercap = root / "class" / "powercap"
    zones = []
    if powercap.is_dir():
        for zone in sorted(powercap.iterdir()):
            # top-level zones only: "intel-rapl:0" yes, "intel-rapl:0:1" (a subzone of it) no
            if not (zone / "energy_uj").is_file() or zone.name.count(":") > 1:
                continue
            name = (zone / "name").read_text().strip() if (zone / "name").is_file() else zone.name
            wrap = (zone / "max_energy_range_uj")
            zones.append(EnergyCounter(f"{zone.name} {name}", zone / "energy_uj",
                                       _read_int(wrap) + 1 if wrap.is_file() else None))
    platform = [z for z in zones if z.name.endswith(" psys")]
    sources += platform or zones
    hwmon = root / "class" / "hwmon"
    if hwmon.is_dir():
        for dev in sorted(hwmon.iterdir()):
            chip = (dev / "name").read_text().strip() if (dev / "name").is_file() else dev.name
            for f in sorted(dev.glob("energy*_input")):
                sources.append(EnergyCounter(f"{dev.name} {chip} {f.name[:-6]}", f))
            if not any(s.path.parent == dev for s in sources if isinstance(s, EnergyCounter)):
                for f in sorted(dev.glob("power*_input")):
                    sources.append(PowerGauge(f"{dev.name} {chip} {f.name[:-6]}", f))
    if use_vcgencmd and not sources and shutil.which("vcgencmd"):
        sources.append(PmicRails())
    return sources


@dataclass
class OSEnergyTrace:
    """Samples of the summed sources: host monotonic times (s) and the cumulative energy (J) at each."""
    meter: str
    times_s: np.ndarray
    energy_j: np.ndarray

    @property
    def power_w(self) -> np.ndarray:
        """Mean power over each sampling period (one fewer value than samples)."""
        dt = np.diff(self.times_s)
        return np.divide(np.diff(self.energy_j), dt, out=np.zeros_like(dt), where=dt > 0)

    def energy_at(self, t: float) -> float:
        if t < self.times_s[0] or t > self.times_s[-1]:
            raise EdgekitError(f"{t - self.times_s[0]:.3f} s is outside the {self.meter} capture "
                               f"({self.times_s[-1] - self.times_s[0]:.3f} s)", path=f"{self.meter} trace")
        return float(np.interp(t, self.times_s, self.energy_j))


class OSPowerMeter:
    """Samples the sources every period_s on a thread between start() and stop()."""

    def __init__(self, sources: list | None = None, *, period_s: float = DEFAULT_PERIOD_S):
        self.sources = find_os_sources() if sources is None else list(sources)
        if not self.sources:
            raise EdgekitError(f"this machine exposes no energy counters (looked in {sysfs_root()}/class/powercap, "
                               f"{sysfs_root()}/class/hwmon and for vcgencmd)",
                               fix="use an external meter (--meter ppk2:PORT), or run on a machine with RAPL, "
                                   "hwmon energy sensors or a Raspberry Pi 5 PMIC")
        self.period_s = period_s
        self.name = "os:" + "+".join(s.name for s in self.sources)
        self._times: list[float] = []
        self._energy: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._last: list[float] = []
        self._total_j = 0.0

    def _sample(self) -> None:
        now = time.monotonic()
        values = [s.read() for s in self.sources]
        if self._times:
            dt = now - self._times[-1]
            for i, (s, v) in enumerate(zip(self.sources, values)):
                if s.kind == "energy":
                    delta = v - self._last[i]
                    if delta < 0:  # the counter rolled over
                        delta += s.wrap_uj or 0
                    self._total_j += max(delta, 0.0) * 1e-6
                else:  # power: trapezoid between the two readings
                    self._total_j += 0.5 * (v + self._last[i]) * 1e-6 * dt
        self._last = values
        self._times.append(now)
        self._energy.append(self._total_j)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.period_s):
                self._sample()
        except BaseException as e:  # surfaced by stop()
            self._error = e

    def start(self) -> None:
        self._times, self._energy, self._total_j = [], [], 0.0
        self._sample()  # the first reading, on this thread: a permission error shows up here, not later
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="edgekit-os-meter", daemon=True)
        self._thread.start()

    def stop(self) -> OSEnergyTrace:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        self._sample()
        return OSEnergyTrace(self.name, np.asarray(self._times), np.asarray(self._energy))

    def close(self) -> None:
        """Stop sampling if a capture is still running (nothing else is held open)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def attribute_token_times(trace: OSEnergyTrace, start_s: float, token_times_s: list[float]) -> EnergyReport:
    """Energy per token from the host's arrival time of each token: token 0 is charged from `start_s` (the
    generate request: the prefill), token k from token k-1's arrival to its own."""
    if not token_times_s:
        raise EdgekitError("no tokens to charge energy to", path=f"{trace.meter} trace")
    bounds = [start_s, *token_times_s]
    cumulative = [trace.energy_at(t) for t in bounds]
    energy = [b - a for a, b in zip(cumulative, cumulative[1:])]
    spans = [b - a for a, b in zip(bounds, bounds[1:])]
    total = float(sum(energy))
    generation_s = bounds[-1] - bounds[0]
    power = trace.power_w
    t0 = float(trace.times_s[0])
    idle = power[trace.times_s[1:] <= start_s]
    rate = 1.0 / float(np.median(np.diff(trace.times_s))) if len(trace.times_s) > 1 else 0.0
    per_token_s, decode_power = decode_time_base(spans, energy)
    return EnergyReport(
        meter=trace.meter, estimate=False, marker_bit=None, voltage_v=None, sample_rate_hz=rate,
        start_s=[b - t0 for b in bounds[:-1]], busy_s=spans, energy_j=energy, busy_energy_j=list(energy),
        prefill_j=energy[0], decode_j_per_token=float(np.mean(energy[1:])) if len(energy) > 1 else None,
        total_j=total, generation_s=generation_s,
        mean_power_w=total / generation_s if generation_s > 0 else 0.0,
        peak_power_w=float(power.max()) if power.size else 0.0,
        idle_power_w=float(idle.mean()) if idle.size else None,
        capture_s=float(trace.times_s[-1] - t0), capture_j=float(trace.energy_j[-1] - trace.energy_j[0]),
        dropped_samples=0, decode_s_per_token=per_token_s, decode_power_w=decode_power,
        time_base=_time_base(trace.meter, rate, False, None))
