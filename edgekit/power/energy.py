"""Per-token energy from a power trace and the device's step marker (docs/design.md §8).

The firmware raises a GPIO marker (wired to the meter's digital input D{bit}) for each model step: one prefill,
then one decode step per generated token, and drops it when the step ends. Each high pulse is one "window".

Attribution rule. Window k is charged with everything from its rising edge to the next window's rising edge:
the step's compute (rise -> fall, reported separately as busy_energy_j) and the gap after it (sending the token,
the host's reply, sampling), because that gap exists only because the token was produced. The last window has
no next rise, so it is charged from its rise to its fall plus the mean gap of the other windows (clipped at the
end of the capture). Stopping at its fall instead would make the last token look cheaper than the others for
no physical reason and bias the decode mean low by (gap / n_decode); charging the whole tail of the capture
would make the result depend on when the user stopped the meter.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.power.trace import PowerTrace


@dataclass
class EnergyReport:
    meter: str
    estimate: bool  # True when the samples did not come from real hardware
    marker_bit: int | None  # meter input the marker was on; None when tokens were timed by the host (OS counters)
    voltage_v: float | None  # supply voltage of a current meter; None for meters that report energy or power
    sample_rate_hz: float
    # one entry per marker window: [0] = prefill, [1:] = decode steps
    start_s: list[float]  # rising edge, seconds from the start of the capture
    busy_s: list[float]  # rise -> fall: how long the step computed
    energy_j: list[float]  # attributed energy (rise -> next rise; see the module docstring)
    busy_energy_j: list[float]  # compute-only energy, rise -> fall
    prefill_j: float
    decode_j_per_token: float | None  # mean over decode windows; None when there were none
    total_j: float  # sum of energy_j: what the whole generation cost
    generation_s: float  # first rise -> end of the last attributed window
    mean_power_w: float  # total_j / generation_s: mean power while generating
    peak_power_w: float  # highest single sample over the whole capture
    idle_power_w: float | None  # mean power of the samples where the marker was low; None if there were none
    capture_s: float  # length of the whole capture
    capture_j: float  # energy of the whole capture, windows or not
    dropped_samples: int  # samples the meter reported lost; energies are low by about that share if > 0
    # Decode per token on ONE time base, the meter's (time_base says which clock that is): the mean decode window
    # and the mean power over the decode windows, so decode_s_per_token * decode_power_w == decode_j_per_token.
    # The device's own ms/token can differ (an emulated board's instruction-count clock is not the host's).
    decode_s_per_token: float | None = None
    decode_power_w: float | None = None
    time_base: dict | None = None  # edgekit.profile.clocks.Clock.to_dict() of the clock the windows were timed on

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (floats, ints, bools, lists, None)."""
        return asdict(self)


def decode_time_base(window_s: list[float], energy_j: list[float]) -> tuple[float | None, float | None]:
    """(mean decode window in s, mean power over the decode windows in W) from the attributed windows, index 0
    being the prefill: their product is the mean decode energy per token, exactly."""
    spans, energies = window_s[1:], energy_j[1:]
    if not spans or sum(spans) <= 0:
        return None, None
    return float(sum(spans) / len(spans)), float(sum(energies) / sum(spans))


def _time_base(meter: str, sample_rate_hz: float, estimate: bool, marker_bit: int | None) -> dict:
    from edgekit.profile.clocks import meter_clock  # lazy: edgekit.profile imports this package

    return meter_clock(meter, sample_rate_hz, estimate=estimate, marker_bit=marker_bit).to_dict()


def attribute_tokens(trace: PowerTrace, *, steps: int, bit: int = 0) -> EnergyReport:
    """Split a trace into `steps` marker windows (1 prefill + steps-1 decode) and charge each its energy.

    Raises EdgekitError when the trace does not show exactly `steps` windows on D{bit}, saying what was seen.
    """
    if steps < 1:
        raise EdgekitError(f"steps must be >= 1 (one prefill plus decode steps), got {steps}")
    windows = trace.marker_windows(bit)
    if len(windows) != steps:
        raise EdgekitError(_mismatch_message(trace, windows, steps, bit), path=f"{trace.meter} trace")

    rises = np.array([w[0] for w in windows], dtype=np.int64)
    falls = np.array([w[1] for w in windows], dtype=np.int64)
    n = len(trace)
    gaps = rises[1:] - falls[:-1]  # idle samples between one step's end and the next step's start
    mean_gap = int(np.rint(gaps.mean())) if gaps.size else 0
    ends = np.append(rises[1:], min(falls[-1] + mean_gap, n))

    rate = trace.sample_rate_hz
    energy = [trace.energy_j(int(a), int(b)) for a, b in zip(rises, ends)]
    busy_energy = [trace.energy_j(int(a), int(b)) for a, b in zip(rises, falls)]
    total = float(sum(energy))
    generation_s = float((ends[-1] - rises[0]) / rate)
    power = trace.power_w
    idle = ((trace.logic >> bit) & 1) == 0
    per_token_s, decode_power = decode_time_base([float((b - a) / rate) for a, b in zip(rises, ends)], energy)
    return EnergyReport(
        meter=trace.meter, estimate=trace.estimate, marker_bit=bit, voltage_v=float(trace.voltage_v),
        sample_rate_hz=float(rate),
        start_s=[float(r / rate) for r in rises],
        busy_s=[float((f - r) / rate) for r, f in zip(rises, falls)],
        energy_j=energy, busy_energy_j=busy_energy,
        prefill_j=energy[0],
        decode_j_per_token=float(np.mean(energy[1:])) if steps > 1 else None,
        total_j=total, generation_s=generation_s,
        mean_power_w=total / generation_s if generation_s > 0 else 0.0,
        peak_power_w=float(power.max()) if n else 0.0,
        idle_power_w=float(power[idle].mean()) if idle.any() else None,
        capture_s=trace.duration_s, capture_j=trace.energy_j(0, n),
        dropped_samples=int(trace.dropped_samples),
        decode_s_per_token=per_token_s, decode_power_w=decode_power,
        time_base=_time_base(trace.meter, float(rate), trace.estimate, bit),
    )


def _mismatch_message(trace: PowerTrace, windows: list[tuple[int, int]], steps: int, bit: int) -> str:
    seen = len(windows)
    text = (f"saw {seen} marker window(s) on D{bit}, expected {steps} (1 prefill + {steps - 1} decode steps) "
            f"in {trace.duration_s:.3f} s of samples")
    if seen == 0:
        high_at_start = len(trace) and (int(trace.logic[0]) >> bit) & 1
        if high_at_start:
            return text + "; the marker was already high when the capture began (start the meter before generating)"
        return text + (f"; the marker never rose: check the board's marker pin is wired to D{bit} of the meter "
                       f"and that --marker-bit matches (inputs seen high: {_bits_seen(trace)})")
    if seen < steps:
        return text + ("; the capture started late or stopped early (start the meter before generating and stop "
                       f"it after the last token), or the marker is on another input than D{bit} "
                       f"(inputs seen high: {_bits_seen(trace)}; check --marker-bit)")
    return text + ("; extra pulses: the capture spans more than one generation, or another signal shares "
                   f"D{bit} (check the wiring and --marker-bit)")


def _bits_seen(trace: PowerTrace) -> str:
    combined = int(np.bitwise_or.reduce(trace.logic)) if len(trace) else 0
    names = [f"D{i}" for i in range(8) if combined >> i & 1]
    return ", ".join(names) if names else "none"
