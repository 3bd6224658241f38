"""Finding edgekit devices: the machine's serial ports with their USB identity, and which answer HELLO.

    for port in discover(extra=["/dev/pts/7"], exclude=["/dev/ttyS*"]):
        print(port.device, port.usb_id, port.guess, port.probe.status, port.probe.identity)

A probe opens the port, sends HELLO (again every RESEND_FRACTION of the timeout: a board still booting may
drop the first) and waits at most `timeout_s` for an IDENTITY. Nothing else is ever written, nothing waits
longer than the timeout (writes too have that limit), and ports the user excluded, or whose USB identity says
they are not a link (a power meter), are never opened. Ports are probed in parallel.

The VID:PID table (USB_SERIAL_KINDS) is data: add a row for an adapter it does not name.
"""
from __future__ import annotations

import fnmatch
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

import serial

from edgekit.link import messages as M
from edgekit.link.client import REQUEST_BOUNDARY, Identity
from edgekit.link.framing import FrameDecoder, encode_frame
from edgekit.link.transport import DEFAULT_BAUD

DEFAULT_PROBE_TIMEOUT_S = 1.5   # HELLO_TIMEOUT_S of the link client: a running firmware answers in milliseconds
RESEND_FRACTION = 1 / 3         # HELLO is sent again after this share of the timeout without an answer
READ_SLICE_S = 0.05
MAX_PARALLEL_PROBES = 8
_PROBE_SEQ_BASE = 0xE0          # seqs of probe HELLOs: 0xE0-0xEF (none contains a zero byte to stuff)


@dataclass(frozen=True)
class UsbSerialKind:
    """A VID:PID pattern (fnmatch on "vvvv:pppp", lower-case hex) and what it is."""

    pattern: str
    name: str
    boards: tuple[str, ...] = ()    # edgekit board profiles that enumerate like this
    probe: bool = True              # False: not a link to a board (a meter); never written to


USB_SERIAL_KINDS: tuple[UsbSerialKind, ...] = (
    UsbSerialKind("16c0:0483", "Teensy (USB serial)", ("teensy41",)),
    UsbSerialKind("2e8a:*", "Raspberry Pi RP2040/RP2350", ("rp2350-psram",)),
    UsbSerialKind("0483:374?", "ST-LINK (virtual COM port)", ("stm32h747-disco",)),
    UsbSerialKind("0483:375?", "ST-LINK/V3 (virtual COM port)", ("stm32h747-disco",)),
    UsbSerialKind("0d28:0204", "Arm DAPLink / CMSIS-DAP (virtual COM port)"),
    UsbSerialKind("1366:*", "SEGGER J-Link (virtual COM port)"),
    UsbSerialKind("1915:c00a", "Nordic PPK2 (power meter)", probe=False),
    UsbSerialKind("0403:*", "USB serial (FTDI)"),
    UsbSerialKind("10c4:ea6?", "USB serial (Silicon Labs CP210x)"),
    UsbSerialKind("1a86:7523", "USB serial (WCH CH340)"),
    UsbSerialKind("1a86:55d?", "USB serial (WCH CH9102/CH343)"),
    UsbSerialKind("067b:2303", "USB serial (Prolific PL2303)"),
)


def usb_kind(vid: int | None, pid: int | None) -> UsbSerialKind | None:
    if vid is None or pid is None:
        return None
    key = f"{vid:04x}:{pid:04x}"
    return next((k for k in USB_SERIAL_KINDS if fnmatch.fnmatchcase(key, k.pattern)), None)


@dataclass(frozen=True)
class ProbeResult:
    status: str                     # edgekit | no answer | not edgekit | cannot open | not probed
    detail: str = ""
    identity: Identity | None = None
    seconds: float = 0.0

    @property
    def is_edgekit(self) -> bool:
        return self.status == "edgekit"

    def to_dict(self) -> dict:
        d = {"status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}
        if self.identity is not None:
            i = self.identity
            d["device"] = {"board": i.board, "firmware_version": i.firmware_version, "kernel": i.kernel,
                           "model_hash": i.model_hash.hex(), "model_ok": i.model_ok,
                           "protocol_version": i.protocol_version, "context_len": i.context_len,
                           "vocab_size": i.vocab_size}
        return d


@dataclass
class SerialPortInfo:
    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    description: str | None = None
    named_by_user: bool = False     # given with --port (ptys and URLs that list_ports cannot see)
    probe: ProbeResult | None = field(default=None)

    @property
    def usb_id(self) -> str | None:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else None

    @property
    def kind(self) -> UsbSerialKind | None:
        return usb_kind(self.vid, self.pid)

    @property
    def guess(self) -> str:
        kind = self.kind
        if kind is not None:
            return kind.name + (f" (edgekit boards: {', '.join(kind.boards)})" if kind.boards else "")
        if self.named_by_user:
            return "named with --port"
        return "USB device (unknown VID:PID)" if self.vid is not None else "not USB"

    def to_dict(self) -> dict:
        return {"device": self.device, "usb_id": self.usb_id, "serial_number": self.serial_number,
                "manufacturer": self.manufacturer, "product": self.product, "description": self.description,
                "guess": self.guess, "named_by_user": self.named_by_user,
                "probe": self.probe.to_dict() if self.probe else None}


def list_serial_ports() -> list[SerialPortInfo]:
    """The ports pyserial sees (USB, built-in UARTs that have a device behind them), sorted by path."""
    from serial.tools import list_ports

    ports = [SerialPortInfo(p.device, p.vid, p.pid, p.serial_number, p.manufacturer, p.product,
                            p.description if p.description and p.description != "n/a" else None)
             for p in list_ports.comports()]
    return sorted(ports, key=lambda p: p.device)


def is_excluded(port: SerialPortInfo, patterns: list[str] | tuple[str, ...]) -> bool:
    """A pattern (fnmatch) matching the port's path or its VID:PID excludes it."""
    names = [port.device] + ([port.usb_id] if port.usb_id else [])
    return any(fnmatch.fnmatchcase(name, pat) for pat in patterns for name in names)


def _identity(body: bytes) -> Identity:
    values = M.decode_body(M.BY_NAME["IDENTITY"].code, body)
    return Identity(**{f.name: values[f.name] for f in fields(Identity)})


def probe_port(url: str, *, timeout_s: float = DEFAULT_PROBE_TIMEOUT_S, baud: int = DEFAULT_BAUD) -> ProbeResult:
    """Send HELLO to one port and wait at most timeout_s for an IDENTITY; never raises for what the port does."""
    start = time.monotonic()
    deadline = start + timeout_s

    def result(status: str, detail: str = "", identity: Identity | None = None) -> ProbeResult:
        return ProbeResult(status, detail, identity, time.monotonic() - start)

    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=READ_SLICE_S, write_timeout=timeout_s)
    except (serial.SerialException, ValueError, OSError) as exc:
        return result("cannot open", str(exc))
    hello = M.BY_NAME["HELLO"].code
    identity_code = M.BY_NAME["IDENTITY"].code
    decoder = FrameDecoder()
    sent: list[int] = []
    received = 0
    echoes = 0
    other_frames = 0
    hello_wire = len(REQUEST_BOUNDARY + encode_frame(hello, _PROBE_SEQ_BASE, M.encode_body(
        "HELLO", protocol_version=M.PROTOCOL_VERSION)))
    try:
        try:
            port.reset_input_buffer()  # what arrived before we opened is nobody's answer
        except (serial.SerialException, OSError, NotImplementedError):
            pass
        next_send = start
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                seq = _PROBE_SEQ_BASE + len(sent) % 16
                sent.append(seq)
                port.write(REQUEST_BOUNDARY + encode_frame(hello, seq, M.encode_body(
                    "HELLO", protocol_version=M.PROTOCOL_VERSION)))
                next_send = now + timeout_s * RESEND_FRACTION
            data = port.read(4096)  # returns within READ_SLICE_S (the port's timeout): the deadline holds to that
            if not data:
                continue
            received += len(data)
            for frame in decoder.feed(data):
                if frame.msg_type == hello:
                    echoes += 1  # our own HELLO echoed back (a loopback or a terminal in echo mode)
                    continue
                if frame.msg_type == identity_code and frame.seq in sent:
                    try:
                        ident = _identity(frame.body)
                    except M.MessageError as exc:
                        version = int.from_bytes(frame.body[:2], "little")  # IDENTITY's first field never moves
                        if len(frame.body) >= 2 and version != M.PROTOCOL_VERSION:
                            return result("not edgekit", f"an edgekit IDENTITY of link protocol {version} (this "
                                                         f"edgekit speaks {M.PROTOCOL_VERSION}): rebuild and "
                                                         "flash the firmware with this edgekit")
                        return result("not edgekit", f"an IDENTITY frame that does not decode ({exc})")
                    if ident.protocol_version != M.PROTOCOL_VERSION:
                        return result("edgekit", f"speaks link protocol {ident.protocol_version}, this edgekit "
                                                 f"{M.PROTOCOL_VERSION}: rebuild and flash it", ident)
                    return result("edgekit", "" if ident.model_ok else f"no model: {ident.model_error}", ident)
                other_frames += 1
    except (serial.SerialTimeoutException, serial.SerialException, OSError) as exc:
        return result("no answer" if isinstance(exc, serial.SerialTimeoutException) else "cannot open",
                      f"the port does not take data ({exc})")
    finally:
        try:
            port.close()
        except (serial.SerialException, OSError):
            pass
    foreign_bytes = received - echoes * hello_wire
    if foreign_bytes > 0 or other_frames:
        frames_note = f", {other_frames} of them in frames of another kind" if other_frames else ""
        return result("not edgekit", f"answered {max(foreign_bytes, 0)} bytes{frames_note}, but no IDENTITY in "
                                     f"{timeout_s:g} s")
    return result("no answer", f"silent for {timeout_s:g} s after HELLO ({len(sent)} sent)")


def discover(*, extra: list[str] | tuple[str, ...] = (), exclude: list[str] | tuple[str, ...] = (),
             probe: bool = True, timeout_s: float = DEFAULT_PROBE_TIMEOUT_S, baud: int = DEFAULT_BAUD,
             listed: list[SerialPortInfo] | None = None) -> list[SerialPortInfo]:
    """Listed ports (list_serial_ports(), or `listed`) plus `extra` paths/URLs, each probed unless excluded."""
    ports = list(list_serial_ports() if listed is None else listed)
    known = {p.device for p in ports}
    for url in extra:
        if url in known:
            next(p for p in ports if p.device == url).named_by_user = True
        else:
            ports.append(SerialPortInfo(url, named_by_user=True))
            known.add(url)
    todo = []
    for p in ports:
        if is_excluded(p, exclude):
            p.probe = ProbeResult("not probed", "excluded")
        elif not probe:
            p.probe = None
        elif p.kind is not None and not p.kind.probe and not p.named_by_user:
            p.probe = ProbeResult("not probed", f"{p.kind.name}: not a board link")
        else:
            todo.append(p)
    if todo:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PROBES, len(todo))) as pool:
            for p, r in zip(todo, pool.map(lambda q: probe_port(q.device, timeout_s=timeout_s, baud=baud), todo)):
                p.probe = r
    return ports
