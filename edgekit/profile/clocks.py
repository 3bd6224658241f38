"""Which clock measured a figure. Every rate and energy edgekit prints or writes names one of these, because the
same generation gives different numbers on different clocks: QEMU's instruction-count clock (deterministic, not
silicon), a board's own timer, the host's wall clock, or a power meter's sample clock.

    clock = device_clock(identity.board, identity.clock_hz, icount_shift=1)
    clock.label      # "emulated: instruction-count clock at 32 MHz, an estimate"
    clock.to_dict()  # {"kind": "instruction-count", "label": ..., "estimate": True}
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

# kind -> what it means (the `kind` field of every clock written to JSON)
KINDS = {
    "instruction-count": "QEMU -icount: one instruction per cycle at the board's nominal clock (an estimate)",
    "emulated": "QEMU without -icount, or in user mode: the emulator's clock follows the host's speed (an estimate)",
    "device-timer": "the device's own timer or cycle counter",
    "host-wall": "the host's monotonic wall clock",
    "meter": "a power meter's sample clock",
}


@dataclass(frozen=True)
class Clock:
    kind: str  # a key of KINDS
    label: str  # what the user reads next to the figure
    estimate: bool  # True when the clock is not real hardware's

    def to_dict(self) -> dict:
        return asdict(self)


def _mhz(clock_hz: int) -> str:
    return f"{clock_hz / 1e6:g} MHz"


def _board_profile(name: str | None):
    """The board profile a device names in its HELLO (None when edgekit has no such profile)."""
    if not name:
        return None
    from edgekit.boards import load_board
    from edgekit.errors import EdgekitError

    try:
        return load_board(name)
    except (EdgekitError, OSError, ValueError):
        return None


def device_clock(board_name: str | None, clock_hz: int, *, icount_shift: int | None = None,
                 emulated: bool | None = None) -> Clock:
    """The clock behind the device's DONE/TOKEN timings (time_us, cycles).

    board_name: what the device's HELLO says (a board profile's name, or posix-<os>-<arch> for the POSIX device);
    its profile tells whether the board is emulated. icount_shift: the -icount shift QEMU was started with,
    when edgekit started it (None: not known, e.g. a device reached with --port). emulated: overrides the
    profile's answer (a build manifest that says so)."""
    board = _board_profile(board_name)
    qemu = board.qemu if board is not None else None
    if emulated is None:
        emulated = qemu is not None
    if emulated:
        if qemu is not None and qemu.mode == "user":
            return Clock("emulated", "emulated (QEMU user mode): the host's clock while emulating, an estimate", True)
        if icount_shift is not None:
            return Clock("instruction-count", f"emulated: instruction-count clock at {_mhz(clock_hz)}, an estimate",
                         True)
        return Clock("emulated", f"emulated: QEMU device clock at {_mhz(clock_hz)} (instruction-count when "
                                 "started with -icount), an estimate", True)
    if (board is not None and board.port == "posix") or (board_name or "").startswith("posix"):
        return Clock("device-timer", "device timer: the monotonic clock of the machine running the device", False)
    return Clock("device-timer", f"device timer: the board's cycle counter at {_mhz(clock_hz)}", False)


def host_clock() -> Clock:
    return Clock("host-wall", "host wall clock", False)


def meter_clock(meter: str, sample_rate_hz: float, *, estimate: bool, marker_bit: int | None) -> Clock:
    """The time base of a meter's energy windows: the meter's own samples (current meters, whose marker windows
    are counted in samples), or the host's clock (OS counters, charged by the tokens' arrival times)."""
    if marker_bit is None:
        return Clock("host-wall", f"host wall clock ({meter} counters read at each token's arrival)", estimate)
    rate = f"{sample_rate_hz / 1e3:g} kHz"
    if estimate:
        return Clock("meter", f"meter clock ({meter} samples at {rate}, emulated meter paced by the host's clock), "
                              "an estimate", True)
    return Clock("meter", f"meter clock ({meter} samples at {rate})", False)
