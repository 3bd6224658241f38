#!/usr/bin/env python3
"""A fake Nordic Power Profiler Kit II on a pseudo-terminal, for tests and emulated boards.

It speaks the PPK2's USB-serial protocol as the `ppk2-api` host library uses it, so the real host path
(edgekit.power.ppk2 -> ppk2_api -> pyserial -> tty) runs unchanged against it:

  host -> device: one opcode byte + fixed argument bytes (COMMAND_ARG_BYTES below).
  device -> host: GET_META_DATA answers a text block ending "END\\n"; between AVERAGE_START and AVERAGE_STOP the
                  device streams 100 000 samples/s, 4 bytes little-endian each:
                    bits 0-13 ADC code, 14-16 measurement range (0 = most sensitive), 18-23 rolling counter
                    (+1 per sample, mod 64), 24-31 the 8 digital inputs D0..D7.

The load it "measures" is a model driven by its digital inputs: a marker wire is emulated by a Unix-domain
socket (`logic_socket`); every byte received on any connection sets D0..D7. Current is `idle_ma` while D0 is
low and `active_ma` while D0 is high, plus seeded gaussian noise. Each logic change is timestamped when it
arrives and lands on the first sample due at or after that instant, so a slow pty never skews the sample clock.
`transitions` and `expected_energy_j()` give the exact (noise-free) model so tests can check the host's numbers.

The metadata says "HW: emulated", so edgekit labels traces from the fake as estimates.

What this proves: the host reads the real protocol through the real library, decodes ranges and logic bits,
keeps up with 400 KB/s, and attributes energy to marker windows correctly. What it does not prove: analog
accuracy, the real PPK2's range-switching dynamics, USB timing, or that a board's marker pin is wired right.

Run standalone:  python tools/fake_ppk2.py --logic-socket /tmp/ppk2-logic.sock   (prints the port path)
"""
from __future__ import annotations

import argparse
import collections
import errno
import math
import os
import selectors
import signal
import socket
import sys
import tempfile
import threading
import time
import tty

import numpy as np

SAMPLE_RATE_HZ = 100_000
ADC_MULT = 1.8 / 163840  # volts per ADC step (x4 scaled code), as ppk2-api and Nordic's tool decode it
ADC_MAX = (1 << 14) - 1  # 14-bit ADC code
# Shunt resistors of ranges 0..4 (ohm), most sensitive first; the metadata reports them as R0..R4.
RANGE_SHUNT_OHM = (1031.64, 101.65, 10.15, 0.94, 0.043)
CHUNK_PERIOD_S = 0.005  # generate and write samples every 5 ms: 500 samples, 2 KB per chunk
DEFAULT_BACKLOG_S = 1.0  # bytes kept for a host that is not reading, before the oldest are dropped

# Opcodes (PPK2 firmware / Nordic's host tool, as ppk2_api.PPK2_Command names them) -> argument bytes that follow.
# Anything not in this table is skipped one byte at a time, as the firmware's command loop does with an opcode it
# has no handler for; the next byte is then read as a fresh opcode, so the parser resynchronises after garbage.
NO_OP, AVERAGE_START, AVERAGE_STOP = 0x00, 0x06, 0x07
DEVICE_RUNNING_SET, REGULATOR_SET, SET_POWER_MODE = 0x0C, 0x0D, 0x11
SPIKE_FILTERING_ON, SPIKE_FILTERING_OFF, GET_META_DATA, RESET, SET_USER_GAINS = 0x15, 0x16, 0x19, 0x20, 0x25
COMMAND_ARG_BYTES = {
    NO_OP: 0,
    AVERAGE_START: 0,  # start streaming samples
    AVERAGE_STOP: 0,  # stop streaming
    DEVICE_RUNNING_SET: 1,  # 1 = DUT power switch on, 0 = off
    REGULATOR_SET: 2,  # VDD: ((b1 - 3) * 256 + b2 - 32) + 800 mV (ppk2_api._convert_source_voltage inverted)
    SET_POWER_MODE: 1,  # 1 = ampere meter, 2 = source meter
    SPIKE_FILTERING_ON: 0,  # host-side filtering on real PPK2s; accepted and ignored
    SPIKE_FILTERING_OFF: 0,
    GET_META_DATA: 0,  # answer the calibration block
    RESET: 0,  # back to power-on state: stop streaming, DUT off
    SET_USER_GAINS: 5,  # range byte + float32 gain; accepted, not modelled (UG stays 1)
}
POWER_MODE_AMPERE, POWER_MODE_SOURCE = 1, 2


def encode_samples(current_a: np.ndarray, logic: np.ndarray, first_index: int = 0) -> bytes:
    """Pack currents (A) and logic bytes into PPK2 sample words, little-endian, 4 bytes each.

    Each current goes to the most sensitive range whose 14-bit ADC does not saturate (the PPK2's auto-ranging),
    with the code rounded half-to-even; currents beyond range 4 saturate, negative ones read 0.
    """
    current_a = np.asarray(current_a, dtype=np.float64)
    shunts = np.asarray(RANGE_SHUNT_OHM)
    # codes[i, r] = ADC code of sample i on range r; the PPK2 scales its 14-bit code by 4 before decoding
    codes = np.rint(np.maximum(current_a, 0.0)[:, None] * shunts[None, :] / (4 * ADC_MULT))
    fits = codes <= ADC_MAX
    rng = np.where(fits.any(axis=1), np.argmax(fits, axis=1), len(shunts) - 1)
    adc = np.minimum(codes[np.arange(len(current_a)), rng], ADC_MAX).astype(np.uint32)
    counter = (np.arange(first_index, first_index + len(current_a), dtype=np.uint32) & 0x3F)
    words = adc | (rng.astype(np.uint32) << 14) | (counter << 18) | (np.asarray(logic, np.uint32) << 24)
    return words.astype("<u4").tobytes()


def decode_range_lsb_a(rng: int) -> float:
    """Current (A) of one ADC step on a range: the encoder's quantisation step."""
    return 4 * ADC_MULT / RANGE_SHUNT_OHM[rng]


def metadata_text(*, vdd_mv: int, mode: int) -> str:
    """The calibration block GET_META_DATA answers, in the PPK2's "key: value" lines ending with END."""
    lines = ["Calibrated: 0"]
    lines += [f"R{i}: {r}" for i, r in enumerate(RANGE_SHUNT_OHM)]
    for key, value in (("GS", 0), ("GI", 1), ("O", 0), ("S", 0), ("I", 0), ("UG", 1)):
        lines += [f"{key}{i}: {value}" for i in range(5)]
    lines += [f"VDD: {vdd_mv}", "HW: emulated", f"mode: {mode}", "IA: 56", "END"]
    return "\n".join(lines) + "\n"


class FakePPK2:
    """A fake PPK2 on a pty. Use `.port` as the serial port and `.logic_socket` as the marker wire.

    Threads: one serves the pty (commands in, samples out), one serves the logic socket. Usable as a context
    manager; close() stops both and removes the socket.
    """

    def __init__(self, *, logic_socket: str | None = None, idle_ma: float = 2.0, active_ma: float = 14.0,
                 noise_ua: float = 5.0, seed: int = 0, max_backlog_s: float = DEFAULT_BACKLOG_S):
        self.idle_ma = float(idle_ma)
        self.active_ma = float(active_ma)
        self.noise_ua = float(noise_ua)
        self._rng = np.random.default_rng(seed)
        self._max_backlog_bytes = max(4, int(max_backlog_s * SAMPLE_RATE_HZ) * 4)

        # device state, as the PPK2 firmware keeps it
        self.vdd_mv = 3300
        self.power_mode = POWER_MODE_AMPERE
        self.dut_power_on = False
        self.measuring = False
        self.commands: list[tuple[int, bytes]] = []  # every command parsed (opcode, args), for tests
        self.ignored_bytes = 0  # bytes skipped as unknown opcodes
        self.dropped_samples = 0  # samples discarded because the host did not read them in time
        self.sent_samples = 0  # samples written to the pty

        self._lock = threading.Lock()  # guards logic state, transitions and the sample clock
        self._logic = 0
        self._t_start = 0.0  # monotonic time of sample 0 of the current measurement
        self._generated = 0  # samples generated so far in the current measurement
        self.transitions: list[tuple[int, int]] = []  # (sample index, new logic byte); [0] = state at start

        self._backlog: collections.deque[tuple[bytes, int]] = collections.deque()  # (bytes, samples in it)
        self._backlog_bytes = 0
        self._head_written = 0  # bytes of the backlog's first chunk already written (never drop a split chunk)
        self._rx = bytearray()  # command bytes not yet parsed (an opcode waiting for its arguments)

        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: bytes pass as they are, like a USB CDC device
        os.set_blocking(self._master, False)
        # The fake keeps its own slave fd open so the pty stays up between host sessions (no EIO on the master).
        self.port = os.ttyname(self._slave)

        self._own_socket_dir = None
        if logic_socket is None:
            self._own_socket_dir = tempfile.mkdtemp(prefix="fake-ppk2-")
            logic_socket = os.path.join(self._own_socket_dir, "logic.sock")
        self.logic_socket = str(logic_socket)
        if os.path.exists(self.logic_socket):
            os.unlink(self.logic_socket)  # a stale socket from a killed run; binding would fail
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.logic_socket)
        self._server.listen(8)
        self._server.setblocking(False)

        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # lets close() interrupt both selectors at once
        self.errors: list[BaseException] = []  # anything that killed a serving thread (tests assert it is empty)
        self._threads = [threading.Thread(target=self._guarded, args=(self._serve_pty,), name="fake-ppk2-pty",
                                          daemon=True),
                         threading.Thread(target=self._guarded, args=(self._serve_logic,), name="fake-ppk2-logic",
                                          daemon=True)]
        for t in self._threads:
            t.start()

    # ---------------------------------------------------------------- lifecycle
    def _guarded(self, serve) -> None:
        try:
            serve()
        except BaseException as e:  # noqa: BLE001 -- keep it for the owner to see; a silent dead device would look like a hang
            self.errors.append(e)
            print(f"fake PPK2: {serve.__name__} stopped: {e!r}", file=sys.stderr)

    def __enter__(self) -> FakePPK2:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._server.close()
        try:
            os.unlink(self.logic_socket)
        except FileNotFoundError:
            pass
        if self._own_socket_dir:
            try:
                os.rmdir(self._own_socket_dir)
            except OSError:
                pass

    # ---------------------------------------------------------------- the load model
    def set_logic(self, state: int) -> None:
        """Set D0..D7 now, exactly as a byte on the logic socket would."""
        with self._lock:
            self._apply_logic_locked(time.monotonic(), state & 0xFF)

    def _apply_logic_locked(self, now: float, state: int) -> None:
        if state == self._logic:
            return
        self._logic = state
        if self.measuring:
            # first sample due at or after `now`; never one already generated (ordering is kept by the lock), and
            # never the sample of the previous change: bytes read together (a fast host device's rise and fall)
            # would otherwise share a timestamp and the level between them would last zero samples. A real
            # input sees every level for as long as the pin held it; here each lasts at least one sample.
            index = max(math.ceil((now - self._t_start) * SAMPLE_RATE_HZ), self._generated,
                        self.transitions[-1][0] + 1 if self.transitions else 0)
            self.transitions.append((index, state))

    def model_current_a(self, logic: np.ndarray) -> np.ndarray:
        """Noise-free current (A) for each logic byte: active while D0 is high, idle while it is low."""
        return np.where(np.asarray(logic) & 1, self.active_ma, self.idle_ma) * 1e-3

    def logic_at(self, start_sample: int, stop_sample: int) -> np.ndarray:
        """Logic byte the fake applied to each sample of [start_sample, stop_sample) of the current capture."""
        with self._lock:
            transitions = list(self.transitions)
        if not transitions:
            return np.zeros(max(stop_sample - start_sample, 0), np.uint8)
        where = np.array([t[0] for t in transitions])
        states = np.array([t[1] for t in transitions], np.uint8)
        index = np.arange(start_sample, stop_sample)
        return states[np.maximum(np.searchsorted(where, index, side="right") - 1, 0)]

    def expected_energy_j(self, start_sample: int, stop_sample: int, voltage_v: float) -> float:
        """Energy (J) the model draws over samples [start_sample, stop_sample), without noise.

        Assumes the DUT is powered throughout (ampere mode, or source mode with the output switched on).
        """
        current = self.model_current_a(self.logic_at(start_sample, stop_sample))
        return float(np.sum(current) * voltage_v / SAMPLE_RATE_HZ)

    # ---------------------------------------------------------------- logic socket (the marker wire)
    def _serve_logic(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._server, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.5):
                if key.data == "wake":
                    break
                if key.data == "accept":
                    try:
                        conn, _ = self._server.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                    continue
                try:
                    data = key.fileobj.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    continue
                with self._lock:
                    # Bytes that arrive together share one timestamp; _apply_logic_locked spaces them a sample apart.
                    now = time.monotonic()
                    for b in data:
                        self._apply_logic_locked(now, b)
        for key in list(sel.get_map().values()):
            if key.data == "conn":
                key.fileobj.close()
        sel.close()

    # ---------------------------------------------------------------- pty (the USB serial link)
    def _serve_pty(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._master, selectors.EVENT_READ, "pty")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        while not self._stop.is_set():
            timeout = CHUNK_PERIOD_S if (self.measuring or self._backlog) else 0.5
            for key, _ in sel.select(timeout=timeout):
                if key.data == "pty":
                    try:
                        data = os.read(self._master, 4096)
                    except OSError as e:
                        if e.errno in (errno.EAGAIN, errno.EINTR):
                            continue
                        if e.errno == errno.EIO:  # no slave open right now; wait for the next host
                            time.sleep(0.01)
                            continue
                        raise
                    self._rx += data
                    self._parse_commands()
            if self.measuring:
                self._generate_due_samples()
            self._flush()
        sel.close()

    def _parse_commands(self) -> None:
        while self._rx:
            opcode = self._rx[0]
            if opcode not in COMMAND_ARG_BYTES:
                del self._rx[0]
                self.ignored_bytes += 1
                continue
            n = COMMAND_ARG_BYTES[opcode]
            if len(self._rx) < 1 + n:
                return  # arguments still in flight
            args = bytes(self._rx[1:1 + n])
            del self._rx[:1 + n]
            self.commands.append((opcode, args))
            self._execute(opcode, args)

    def _execute(self, opcode: int, args: bytes) -> None:
        if opcode == GET_META_DATA:
            # one chunk: ppk2-api only accepts the block if a single read holds all of it up to "END"
            self._queue(metadata_text(vdd_mv=self.vdd_mv, mode=self.power_mode).encode(), samples=0)
        elif opcode == REGULATOR_SET:
            self.vdd_mv = (args[0] - 3) * 256 + args[1] - 32 + 800
        elif opcode == SET_POWER_MODE:
            if args[0] in (POWER_MODE_AMPERE, POWER_MODE_SOURCE):
                self.power_mode = args[0]
        elif opcode == DEVICE_RUNNING_SET:
            self.dut_power_on = bool(args[0])
        elif opcode == AVERAGE_START:
            with self._lock:
                self.measuring = True
                self._t_start = time.monotonic()
                self._generated = 0
                self.transitions = [(0, self._logic)]
        elif opcode == AVERAGE_STOP:
            self._generate_due_samples()  # everything sampled before the stop still goes out
            with self._lock:
                self.measuring = False
        elif opcode == RESET:
            with self._lock:
                self.measuring = False
            self.dut_power_on = False
            self.power_mode = POWER_MODE_AMPERE

    def _generate_due_samples(self) -> None:
        if not self.measuring:
            return
        with self._lock:
            now = time.monotonic()
            first = self._generated
            due = int((now - self._t_start) * SAMPLE_RATE_HZ) + 1  # samples whose time is <= now
            self._generated = max(due, first)
        if due <= first:
            return
        logic = self.logic_at(first, due)
        current = self.model_current_a(logic)
        if self.power_mode == POWER_MODE_SOURCE and not self.dut_power_on:
            current = np.zeros_like(current)  # source mode with the output off: nothing flows
        elif self.noise_ua:
            current = current + self._rng.normal(0.0, self.noise_ua * 1e-6, size=current.shape)
        self._queue(encode_samples(current, logic, first_index=first), samples=len(current))

    def _queue(self, chunk: bytes, *, samples: int) -> None:
        self._backlog.append((chunk, samples))
        self._backlog_bytes += len(chunk)
        # A host that stopped reading: drop the oldest whole chunks (whole samples, so the stream stays aligned),
        # as the PPK2's USB buffer overflows; the rolling counter lets the host see the gap.
        while self._backlog_bytes > self._max_backlog_bytes and len(self._backlog) > 1:
            victim_pos = 1 if self._head_written else 0
            if victim_pos >= len(self._backlog) - 1:
                break  # keep the newest chunk and any chunk partly on the wire
            victim, victim_samples = self._backlog[victim_pos]
            del self._backlog[victim_pos]
            self._backlog_bytes -= len(victim)
            self.dropped_samples += victim_samples

    def _flush(self) -> None:
        while self._backlog:
            head, head_samples = self._backlog[0]
            try:
                n = os.write(self._master, head[self._head_written:])
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR, errno.EIO):
                    return  # pty full (host not reading) or no host: keep it in the backlog
                raise
            self._head_written += n
            if self._head_written < len(head):
                return
            self._backlog.popleft()
            self._backlog_bytes -= len(head)
            self.sent_samples += head_samples
            self._head_written = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fake Nordic PPK2 on a pty: speaks the PPK2 serial protocol; its digital inputs D0..D7 are "
                    "set by bytes written to a Unix socket (the emulated marker wire).")
    parser.add_argument("--logic-socket", metavar="PATH", help="Unix socket to listen on for logic bytes "
                        "(default: a fresh temp path, printed at start)")
    parser.add_argument("--symlink", metavar="PATH", help="also make PATH a symlink to the pty, a stable port name")
    parser.add_argument("--idle-ma", type=float, default=2.0, help="current while D0 is low (mA, default 2.0)")
    parser.add_argument("--active-ma", type=float, default=14.0, help="current while D0 is high (mA, default 14.0)")
    parser.add_argument("--noise-ua", type=float, default=5.0, help="gaussian noise sigma (uA, default 5)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    args = parser.parse_args(argv)

    fake = FakePPK2(logic_socket=args.logic_socket, idle_ma=args.idle_ma, active_ma=args.active_ma,
                    noise_ua=args.noise_ua, seed=args.seed)
    if args.symlink:
        tmp = args.symlink + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(fake.port, tmp)
        os.replace(tmp, args.symlink)
    print(f"port {fake.port}", flush=True)
    print(f"logic-socket {fake.logic_socket}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    finally:
        fake.close()
        if args.symlink and os.path.islink(args.symlink):
            os.unlink(args.symlink)
        if fake.dropped_samples:
            print(f"dropped {fake.dropped_samples} samples (host did not read in time)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
