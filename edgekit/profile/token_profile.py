"""Collect per-token device timings over the link and write them as CSV, JSON and PNG."""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.atomic_file import write_text_atomic
from edgekit.errors import EdgekitError
from edgekit.power import EnergyReport, OSEnergyTrace, PowerTrace, attribute_token_times, attribute_tokens


@dataclass
class TokenProfile:
    board: str
    kernel: str
    clock_hz: int
    estimate: bool  # emulated: QEMU timing, not silicon
    prompt_tokens: int
    prefill_us: int
    prefill_cycles: int
    tokens: list[int] = field(default_factory=list)
    time_us: list[int] = field(default_factory=list)  # device time per generated token
    cycles: list[int] = field(default_factory=list)
    # Host monotonic times: the generate request, and each token's arrival (OS counters attribute by these).
    host_start_s: float = 0.0
    host_token_s: list[float] = field(default_factory=list)
    # From a power meter (edgekit.power): window 0 is the prefill, window k the decode step of token k.
    energy: EnergyReport | None = None
    trace: PowerTrace | OSEnergyTrace | None = None
    # the clock behind time_us/cycles (edgekit.profile.clocks.Clock.to_dict()); the energy has its own time_base
    clock: dict | None = None

    def attach_energy(self, trace: PowerTrace | OSEnergyTrace, *, marker_bit: int = 0) -> None:
        """Charge the meter's capture to this generation, one share per generated token: by the device's marker
        windows for a current meter, by the tokens' arrival times for the machine's own counters."""
        self.trace = trace
        if isinstance(trace, OSEnergyTrace):
            self.energy = attribute_token_times(trace, self.host_start_s, self.host_token_s)
        else:
            self.energy = attribute_tokens(trace, steps=len(self.tokens), bit=marker_bit)

    def summary(self) -> dict:
        # token 0 is sampled from the prefill's logits: its cost is in prefill_us, so decode stats start at 1
        t = np.asarray(self.time_us[1:] if len(self.time_us) > 1 else self.time_us, dtype=np.float64)
        decode_s = t.sum() / 1e6
        return {
            "board": self.board, "kernel": self.kernel, "clock_hz": self.clock_hz, "estimate": self.estimate,
            "clock": self.clock,
            "prompt_tokens": self.prompt_tokens, "generated_tokens": len(self.tokens),
            "prefill_ms": self.prefill_us / 1e3,
            "prefill_tokens_per_s": self.prompt_tokens / (self.prefill_us / 1e6) if self.prefill_us else None,
            "decode_tokens_per_s": len(t) / decode_s if decode_s > 0 else None,
            "token_ms": {"mean": float(t.mean() / 1e3), "median": float(np.median(t) / 1e3),
                         "p95": float(np.percentile(t, 95) / 1e3), "max": float(t.max() / 1e3)} if len(t) else None,
            "cycles_per_token_mean": float(np.mean(self.cycles[1:] or self.cycles)) if self.cycles else None,
            "energy": self.energy.to_dict() if self.energy else None,
            "energy_note": None if self.energy else (
                "no power meter configured: energy per token needs a meter (`--meter ppk2:PORT`, docs/power.md)"),
        }


def profile_generation(client, prompt_ids: list[int], max_new_tokens: int, *, estimate: bool | None = None,
                       icount_shift: int | None = None) -> TokenProfile:
    """Greedy generation with per-token stats; every token's device time and cycles. estimate: whether the
    board is emulated (None: as its board profile says); icount_shift: the -icount QEMU was started with."""
    from edgekit.link.client import TokenEvent
    from edgekit.profile.clocks import device_clock

    ident = client.identity or client.hello()
    clock = device_clock(ident.board, ident.clock_hz, icount_shift=icount_shift, emulated=estimate)
    start = time.monotonic()
    stream = client.generate(prompt_ids, max_new_tokens=max_new_tokens, temperature=0.0, stop_at_eos=False,
                             stats=True)
    events, arrivals = [], []
    for e in stream:
        if isinstance(e, TokenEvent):
            events.append(e)
            arrivals.append(time.monotonic())
    done = stream.done
    if done is None or done.reason == "error":
        raise EdgekitError("the device stopped before the profile finished")
    if events and all(e.time_us == 0 for e in events):
        raise EdgekitError("the device reported no per-token times", fix="update the firmware")
    return TokenProfile(ident.board, ident.kernel, ident.clock_hz, clock.estimate, done.prompt_tokens,
                        done.prefill_us, done.prefill_cycles, [e.token_id for e in events],
                        [e.time_us for e in events], [e.cycles for e in events], host_start_s=start,
                        host_token_s=arrivals, clock=clock.to_dict())


POWER_CSV_EVERY = 10  # power.csv rows average 10 meter samples (10 kHz from a 100 kHz PPK2)


def write_profile(profile: TokenProfile, out_dir: str | Path) -> dict[str, Path]:
    """tokens.csv (one row per token), summary.json and tokens.png in out_dir, and power.csv when a meter
    was used; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    e = profile.energy
    writer.writerow(["index", "token_id", "time_us", "cycles"] + (["energy_uj", "busy_energy_uj"] if e else []))
    for i, (tok, us, cyc) in enumerate(zip(profile.tokens, profile.time_us, profile.cycles)):
        # token 0 is sampled from the prefill's logits: its energy is the prefill's (summary: prefill_j)
        energy = [f"{e.energy_j[i] * 1e6:.3f}", f"{e.busy_energy_j[i] * 1e6:.3f}"] if e and i > 0 else ["", ""]
        writer.writerow([i, tok, us, cyc] + (energy if e else []))
    paths = {"csv": write_text_atomic(out / "tokens.csv", buf.getvalue()),
             "json": write_text_atomic(out / "summary.json", json.dumps(profile.summary(), indent=2) + "\n")}
    if isinstance(profile.trace, OSEnergyTrace):
        paths["power_csv"] = _write_os_csv(profile.trace, out / "power.csv")
    elif profile.trace is not None:
        profile.trace.write_csv(out / "power.csv", every=POWER_CSV_EVERY)
        paths["power_csv"] = out / "power.csv"
    fig = plot_profile(profile)
    png = out / "tokens.png"
    tmp = out / ".tokens.png.tmp"
    fig.savefig(tmp, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    tmp.replace(png)
    paths["png"] = png
    return paths


ESTIMATE_LABEL = "estimate (emulated)"


def profile_lines(profile: TokenProfile) -> list[str]:
    """What `edgekit profile` prints: speed on the device's clock, energy on the meter's, each clock named."""
    s = profile.summary()
    t = s["token_ms"]
    clock = (profile.clock or {}).get("label", "device clock")
    rate = f"{s['decode_tokens_per_s']:.2f} tokens/s" if s["decode_tokens_per_s"] else "no decode steps"
    per_token = (f", per token mean {t['mean']:.2f} ms / median {t['median']:.2f} / p95 {t['p95']:.2f}"
                 if t else "")
    lines = [f"{s['board']} ({s['kernel']}): {s['generated_tokens']} tokens, {rate}{per_token}; prefill "
             f"{s['prefill_ms']:.1f} ms [{clock}]"]
    e = profile.energy
    if e is None:
        lines.append(f"energy: not measured ({s['energy_note']})")
        return lines
    base = (e.time_base or {}).get("label", "meter clock")
    idle = f", idle {e.idle_power_w * 1e3:.2f} mW" if e.idle_power_w is not None else ""
    lines.append(f"energy ({e.meter}): {energy_line(e)}; total {e.total_j * 1e3:.4f} mJ, peak "
                 f"{e.peak_power_w * 1e3:.2f} mW{idle} [{base}]"
                 + (f"; {e.dropped_samples} samples lost" if e.dropped_samples else ""))
    if (profile.clock or {}).get("kind") != "device-timer" and e.decode_s_per_token is not None and t:
        # two clocks, two ms/token: say why they differ rather than leave the reader to multiply across them
        lines.append(f"note: the energy is on the meter's time base ({e.decode_s_per_token * 1e3:.2f} ms/token); "
                     f"the {t['mean']:.2f} ms/token above is the device's {profile.clock['kind']} clock, not the "
                     "meter's, so the two are not multiplied together")
    return lines


def plot_profile(profile: TokenProfile):
    """The profile's figure (matplotlib, Agg): ms per token from zero with its mean and the prefill marked, and
    the power trace below it when a meter was used. Emulated runs carry ESTIMATE_LABEL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = profile.energy
    rows = 2 if e and profile.trace is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(7, 3.2 * rows), dpi=110, squeeze=False)
    ax = axes[0][0]
    # token 0 comes from the prefill's logits (its cost is the prefill), so the decode line starts at token 1
    decode_ms = np.asarray(profile.time_us[1:], dtype=np.float64) / 1e3
    ax.plot(range(1, len(profile.time_us)), decode_ms, marker=".", linewidth=1, label="decode step")
    if decode_ms.size:
        mean = float(decode_ms.mean())
        ax.axhline(mean, color="tab:red", linestyle="--", linewidth=1, label=f"mean {mean:.2f} ms")
    # the prefill sits at token 0: a marker line there, its time in the legend (on the same scale it would
    # dwarf the decode steps)
    ax.axvline(0, color="tab:green", linestyle=":", linewidth=1.5,
               label=f"prefill {profile.prefill_us / 1e3:.1f} ms ({profile.prompt_tokens} tokens)")
    ax.set_xlim(left=-0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # tokens are whole
    ax.set_ylim(bottom=0, top=max(float(decode_ms.max()) if decode_ms.size else 1.0, 1e-3) * 1.15)
    ax.set_xlabel("generated token")
    clock = (profile.clock or {}).get("label")
    ax.set_ylabel("ms per token")
    ax.set_title(f"{profile.board}, kernels {profile.kernel}" + (f"\n{clock}" if clock else ""), fontsize=9)
    if profile.estimate:
        ax.text(0.99, 0.04, ESTIMATE_LABEL, transform=ax.transAxes, ha="right", va="bottom", color="tab:red",
                fontsize=9, fontweight="bold")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    if rows == 2:
        _plot_power(axes[1][0], profile.trace, e)
    fig.tight_layout()
    return fig


def _write_os_csv(trace: OSEnergyTrace, path: Path) -> Path:
    buf = io.StringIO()
    buf.write("time_s,energy_j,power_w\n")  # power: mean over the period that ends at this sample
    power = np.concatenate([[0.0], trace.power_w])
    for t, e, p in zip(trace.times_s - trace.times_s[0], trace.energy_j, power):
        buf.write(f"{t:.6f},{e:.9g},{p:.9g}\n")
    return write_text_atomic(path, buf.getvalue())


def _plot_power(ax, trace: PowerTrace | OSEnergyTrace, e: EnergyReport) -> None:
    """Power over the capture with each token's window shaded (current meters: averaged like power.csv)."""
    if isinstance(trace, OSEnergyTrace):
        power_mw = trace.power_w * 1e3
        t_ms = (trace.times_s[1:] - trace.times_s[0]) * 1e3
        shaded = "shaded: each token, request or previous token to its arrival"
    else:
        n = len(trace.current_a) // POWER_CSV_EVERY * POWER_CSV_EVERY
        power_mw = trace.power_w[:n].reshape(-1, POWER_CSV_EVERY).mean(axis=1) * 1e3
        t_ms = np.arange(len(power_mw)) * POWER_CSV_EVERY / trace.sample_rate_hz * 1e3
        shaded = "shaded: marker high, a model step"
    ax.plot(t_ms, power_mw, linewidth=0.7)
    for k, (start, busy) in enumerate(zip(e.start_s, e.busy_s)):
        ax.axvspan(start * 1e3, (start + busy) * 1e3, alpha=0.15 if k % 2 == 0 else 0.3, color="tab:orange",
                   linewidth=0)
    ax.set_xlabel(f"ms since capture start ({shaded})")
    ax.set_ylabel("mW")
    ax.set_ylim(bottom=0)
    if e.decode_power_w is not None:
        ax.axhline(e.decode_power_w * 1e3, color="tab:red", linestyle="--", linewidth=1,
                   label=f"decode mean {e.decode_power_w * 1e3:.2f} mW")
        ax.legend(loc="lower left", fontsize=8)
    base = (e.time_base or {}).get("label", "")
    ax.set_title(f"{trace.meter}: {energy_line(e)}" + (f"\non the {base}" if base else ""), fontsize=8)
    if e.estimate:
        ax.text(0.99, 0.04, ESTIMATE_LABEL, transform=ax.transAxes, ha="right", va="bottom", color="tab:red",
                fontsize=9, fontweight="bold")
    ax.grid(alpha=0.3)


def energy_line(e: EnergyReport) -> str:
    """Decode energy per token as the product it is (time per token x mean power, both on the report's time
    base), then the prefill: the one line `edgekit profile` prints and the plot's title."""
    parts = []
    if e.decode_j_per_token is not None and e.decode_s_per_token is not None:
        parts.append(f"decode {e.decode_s_per_token * 1e3:.2f} ms/token x {e.decode_power_w * 1e3:.2f} mW = "
                     f"{e.decode_j_per_token * 1e3:.4f} mJ/token")
    parts.append(f"prefill {e.prefill_j * 1e3:.4f} mJ")
    return "; ".join(parts)
