"""Nordic Power Profiler Kit II (PPK2) as a host-side meter, through the `ppk2-api` package.

The PPK2 streams 100 000 samples/s over USB serial (400 KB/s). While capturing, a background thread only moves
raw bytes from the port into a list; all decoding happens in stop(), with ppk2-api's own get_samples(), which
applies the calibration and the range-switch spike filter exactly as Nordic's Power Profiler does. Decoding is
pure Python (roughly a second of CPU per second of capture), which is why it never runs while sampling.

ppk2-api quirks handled here (0.9.2):
- its metadata read polls 5 x 0.1 s and only accepts a block that arrives whole in one read; binary bytes in
  the input queue (a PPK2 left streaming by a crashed session) make it raise UnicodeDecodeError. So we first stop
  any stream and drain the port, and retry the request until timeout_s.
- get_modifiers() returns True for any text ending "END"; we also require the HW line a PPK2 always sends.
- get_samples(b"") decodes a phantom zero sample; we only ever pass whole, non-empty, 4-byte-aligned buffers.
- the spike filter state and the sample remainder live on the PPK2_API object; we reset them for each capture
  so one capture's filter never leaks into the next.
- command writes swallow errors (logged, not raised); a dead port shows up in the reader thread instead.
- it needs a voltage even in ampere mode (start_measuring refuses without one): there it is the DUT's supply.
"""
from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import serial  # pyserial is a core dependency; ppk2-api (the optional extra) is imported lazily

from edgekit.errors import EdgekitError
from edgekit.power.trace import PowerTrace

SAMPLE_RATE_HZ = 100_000.0  # the PPK2's fixed sampling rate
METADATA_TIMEOUT_S = 3.0  # a PPK2 answers GET_META_DATA in well under a second
READ_POLL_S = 0.05  # reader thread: longest wait for the first byte of a read, so stop() is prompt
WRITE_TIMEOUT_S = 1.0  # a command write that blocks this long means the port is wedged
DRAIN_QUIET_S = 0.05  # after AVERAGE_STOP: the stream has ended once the port is silent this long
DRAIN_MAX_S = 2.0  # ...but never wait longer than this for it to go quiet
DECODE_CHUNK_BYTES = 1 << 16  # get_samples() is fed whole samples in chunks this size
FAKE_HW_ID = "emulated"  # the HW line tools/fake_ppk2.py sends; its traces are labelled estimates
MODES = ("ampere", "source")
INSTALL_FIX = "pip install 'edgekit[power]'"


def _ppk2_api():
    try:
        import ppk2_api.ppk2_api as api
    except ImportError:
        raise EdgekitError("the PPK2 meter needs the ppk2-api package, which is not installed",
                           fix=INSTALL_FIX) from None
    return api


def list_ppk2_ports() -> list[str]:
    """Serial ports that identify as a PPK2 (USB product "PPK2"), as ppk2-api finds them."""
    devices = _ppk2_api().PPK2_API.list_devices()
    # ppk2-api 0.9.2 returns port names; later versions return (port, serial number) pairs
    return [d[0] if isinstance(d, (tuple, list)) else str(d) for d in devices]


class PPK2Meter:
    """A PPK2 on `port`, configured and ready to capture. Use as a context manager:

        with PPK2Meter("/dev/ttyACM0", mode="source", voltage_mv=3300) as meter:
            meter.start()
            ...run the workload...
            trace = meter.stop()

    mode="ampere": the DUT has its own supply routed through the PPK2 (VIN -> VOUT); voltage_mv is that supply's
    voltage, used only for W = V * I. mode="source": the PPK2 powers the DUT from VOUT at voltage_mv.
    The PPK2's output switch is turned on in both modes and left on at close, so the board keeps running.
    """

    def __init__(self, port: str, *, mode: str = "ampere", voltage_mv: int = 3300,
                 timeout_s: float = METADATA_TIMEOUT_S, estimate: bool = False):
        if mode not in MODES:
            raise EdgekitError(f"unknown PPK2 mode {mode!r}", path=port, fix="use 'ampere' or 'source'")
        if not 800 <= voltage_mv <= 5000:
            raise EdgekitError(f"voltage {voltage_mv} mV is outside the PPK2's 800..5000 mV", path=port,
                               fix="give the DUT supply voltage in mV, e.g. 3300")
        self.port = str(port)
        self.mode = mode
        self.voltage_mv = int(voltage_mv)
        self.timeout_s = float(timeout_s)
        self.estimate = bool(estimate)
        self.modifiers: dict | None = None  # calibration read from the device
        self._api = None
        self._chunks: list[bytes] = []  # raw sample bytes as read, never converted while capturing
        self._reader: threading.Thread | None = None
        self._stop_reading = threading.Event()
        self._reader_error: BaseException | None = None

    # ---------------------------------------------------------------- open / close
    def __enter__(self) -> PPK2Meter:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        if self._api is not None:
            return
        api_mod = _ppk2_api()
        try:
            self._api = api_mod.PPK2_API(self.port, timeout=READ_POLL_S, write_timeout=WRITE_TIMEOUT_S)
        except (serial.SerialException, OSError) as e:
            raise EdgekitError(f"cannot open the PPK2 port: {e}", path=self.port,
                               fix="check the port name: a PPK2 is /dev/ttyACM* on Linux, /dev/cu.usbmodem* on "
                                   "macOS; edgekit.power.list_ppk2_ports() lists the ones plugged in") from None
        try:
            self._read_calibration()
            if self.mode == "source":
                self._api.use_source_meter()
            else:
                self._api.use_ampere_meter()
            self._api.set_source_voltage(self.voltage_mv)
            self._api.toggle_DUT_power("ON")
        except BaseException:
            self.close()
            raise

    def _read_calibration(self) -> None:
        # A PPK2 may still be streaming from an earlier session; its samples would corrupt the metadata text.
        self._api.stop_measuring()
        self._drain_until_quiet()
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                ok = self._api.get_modifiers()
            except UnicodeDecodeError:
                ok = None  # sample bytes got in; drain and ask again
                self._drain_until_quiet()
            if ok and self._api.modifiers.get("HW") is not None:
                break
            if time.monotonic() >= deadline:
                raise EdgekitError(f"not a PPK2? no metadata within {self.timeout_s:g} s", path=self.port,
                                   fix="check this is the PPK2's port (edgekit.power.list_ppk2_ports() lists "
                                       "them) and that no other program, e.g. nRF Connect Power Profiler, has it open")
        self.modifiers = self._api.modifiers
        if str(self.modifiers.get("HW")).strip() == FAKE_HW_ID:
            self.estimate = True

    def _drain_until_quiet(self) -> int:
        ser = self._api.ser
        drained = 0
        quiet_since = time.monotonic()
        end = quiet_since + DRAIN_MAX_S
        while time.monotonic() < end:
            data = self._read_some(ser)
            if data:
                drained += len(data)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= DRAIN_QUIET_S:
                break
        return drained

    def _read_some(self, ser) -> bytes:
        # Blocks up to READ_POLL_S for the first byte, then takes all that is queued: no busy loop, few wakeups.
        try:
            return ser.read(ser.in_waiting or 1)
        except (serial.SerialException, OSError) as e:  # what pyserial raises when the device goes away
            raise EdgekitError(f"the PPK2 port stopped working: {e}", path=self.port,
                               fix="check the USB cable and hub; reconnect the PPK2 and retry") from None

    def close(self) -> None:
        if self._reader is not None:
            self._stop_reading.set()
            self._reader.join(timeout=5)
            self._reader = None
        if self._api is not None:
            # closing a port that already vanished is not an error worth reporting
            with contextlib.suppress(serial.SerialException, OSError):
                if self._reader_error is None:  # ppk2-api would log a write error for every command to a dead port
                    self._api.stop_measuring()
                self._api.ser.close()
            self._api = None

    # ---------------------------------------------------------------- capture
    def start(self) -> None:
        """Begin streaming; samples accumulate as raw bytes until stop()."""
        if self._api is None:
            raise EdgekitError("the PPK2 meter is not open", path=self.port, fix="use it as `with PPK2Meter(...)`")
        if self._reader is not None:
            raise EdgekitError("a capture is already running", path=self.port, fix="call stop() before start()")
        self._reset_decoder()
        self._drain_until_quiet()
        self._chunks = []
        self._reader_error = None
        self._stop_reading.clear()
        self._api.start_measuring()
        self._reader = threading.Thread(target=self._read_loop, name="ppk2-reader", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        ser = self._api.ser
        while not self._stop_reading.is_set():
            try:
                data = self._read_some(ser)
            except EdgekitError as e:
                self._reader_error = e
                return
            if data:
                self._chunks.append(data)

    def stop(self) -> PowerTrace:
        """Stop streaming, collect what is still in flight, and decode everything into a PowerTrace."""
        if self._reader is None:
            raise EdgekitError("no capture is running", path=self.port, fix="call start() first")
        if self._reader_error is None:
            self._api.stop_measuring()
            # The reader keeps going until the stream is quiet: samples taken before the stop are still on the wire.
            last_size, quiet_since = -1, time.monotonic()
            end = quiet_since + DRAIN_MAX_S
            while time.monotonic() < end and self._reader_error is None:
                size = sum(map(len, self._chunks))
                if size != last_size:
                    last_size, quiet_since = size, time.monotonic()
                elif time.monotonic() - quiet_since >= DRAIN_QUIET_S:
                    break
                time.sleep(DRAIN_QUIET_S / 5)
        self._stop_reading.set()
        self._reader.join(timeout=5)
        self._reader = None
        raw = b"".join(self._chunks)
        self._chunks = []
        if self._reader_error is not None:
            raise EdgekitError(f"the PPK2 disappeared mid-capture after {len(raw) // 4} samples "
                               f"({self._reader_error})", path=self.port,
                               fix="check the USB cable and hub, reconnect the PPK2 and rerun the capture")
        if len(raw) < 4:
            raise EdgekitError("the PPK2 sent no samples", path=self.port,
                               fix="check the PPK2 is powered and not in use by another program")
        current_a, logic, dropped = self.decode(raw)
        return PowerTrace(meter="ppk2", sample_rate_hz=SAMPLE_RATE_HZ, current_a=current_a, logic=logic,
                          voltage_v=self.voltage_mv / 1000.0, estimate=self.estimate, dropped_samples=dropped)

    # ---------------------------------------------------------------- decoding
    def _reset_decoder(self) -> None:
        api = self._api
        api.rolling_avg = None
        api.rolling_avg4 = None
        api.prev_range = None
        api.consecutive_range_samples = 0
        api.after_spike = 0
        api.remainder = {"sequence": b"", "len": 0}

    def decode(self, raw: bytes) -> tuple[np.ndarray, np.ndarray, int]:
        """(current A, logic byte, samples lost per the rolling counter) for raw PPK2 sample bytes, decoded by
        ppk2-api with this device's calibration, filter state starting fresh (as at the start of a capture)."""
        if self._api is None:
            raise EdgekitError("the PPK2 meter is not open", path=self.port, fix="use it as `with PPK2Meter(...)`")
        raw = raw[: len(raw) // 4 * 4]  # a sample cut off by the stop is incomplete: not a measurement
        self._reset_decoder()
        # Filled chunk by chunk: ppk2-api returns Python lists, which for a long capture would cost ~40 bytes per
        # sample if kept whole.
        micro_amps = np.empty(len(raw) // 4, dtype=np.float64)  # (n,) uA as ppk2-api returns them
        logic = np.empty(len(raw) // 4, dtype=np.uint8)  # (n,) D0..D7
        n = 0
        for offset in range(0, len(raw), DECODE_CHUNK_BYTES):
            samples, bits = self._api.get_samples(raw[offset:offset + DECODE_CHUNK_BYTES])
            if len(samples) != len(bits):
                raise EdgekitError(f"ppk2-api decoded {len(samples)} currents but {len(bits)} logic values",
                                   path=self.port, fix="report this with the ppk2-api version")
            micro_amps[n:n + len(samples)] = samples
            logic[n:n + len(bits)] = bits
            n += len(samples)
        # Bits 18-23 count samples mod 64; a jump means the PPK2 (USB) dropped samples on the way.
        counter = (np.frombuffer(raw, dtype="<u4") >> 18) & 0x3F
        dropped = int(np.sum((np.diff(counter.astype(np.int64)) - 1) % 64))
        return micro_amps[:n] * 1e-6, logic[:n], dropped
