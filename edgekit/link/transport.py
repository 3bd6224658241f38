"""Byte transports for the link: anything pyserial opens (a device path, `socket://host:port`,
`rfc2217://host:port`, `loop://`), behind one small interface with deadline-bounded reads.

The transport knows nothing about frames; edgekit.link.client does. Reads never block past the
deadline they are given, which is what lets the client promise that it never hangs.
"""
from __future__ import annotations

import select
import time

import serial

from edgekit.errors import EdgekitError

DEFAULT_BAUD = 115200
# Longest single blocking read: short enough that a deadline is honoured to within this, long enough
# not to spin. (pyserial's read returns as soon as the requested bytes or any in_waiting bytes arrive.)
READ_SLICE_S = 0.05
READ_CHUNK = 65536  # most bytes taken from the OS in one read
WRITE_TIMEOUT_S = 10.0  # a device that reads nothing for this long is not reading at all


class Transport:
    """A pyserial port opened from a URL or path. `describe` names it in error messages."""

    def __init__(self, url: str, *, baud: int = DEFAULT_BAUD):
        self.url = str(url)
        self.baud = baud
        # pyserial's rfc2217:// client refuses any write_timeout (NotImplementedError); its writes are plain
        # socket sends there, bounded by the TCP connection rather than by a UART that stopped draining.
        write_timeout = None if self.url.startswith("rfc2217://") else WRITE_TIMEOUT_S
        open_url = self.url
        if self.url.startswith("rfc2217://") and "ign_set_control" not in self.url:
            # The link uses no modem lines. A server that cannot set DTR/RTS (ser2net exporting a pty, sredird)
            # never acknowledges pyserial's SET_CONTROL at open, which would then fail: don't wait for that answer.
            open_url += ("&" if "?" in self.url else "?") + "ign_set_control"
        try:
            self._port = serial.serial_for_url(open_url, baudrate=baud, timeout=READ_SLICE_S,
                                               write_timeout=write_timeout)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise EdgekitError(f"cannot open link {self.url}: {exc}",
                               fix="check the port (list serial ports: python -m serial.tools.list_ports), "
                                   "or give a URL such as socket://127.0.0.1:5555") from None
        try:
            self._port.reset_input_buffer()  # bytes from before we opened belong to nobody
        except (serial.SerialException, OSError, NotImplementedError):
            pass
        # Where the port has a file descriptor (POSIX serial/pty, socket://) we wait with select() and then
        # take everything available in one non-blocking read; pyserial's own blocking read would either wait
        # for a fixed count or, for sockets (whose in_waiting is only 0 or 1), go byte by byte.
        self._fd = None
        try:
            fd = self._port.fileno()
            self._port.timeout = 0
            self._fd = fd
        except (AttributeError, NotImplementedError, serial.SerialException, OSError, ValueError):
            pass

    @property
    def is_serial_line(self) -> bool:
        """True for a real UART path (where the baud rate matters), False for sockets/loopback."""
        return "://" not in self.url

    def hint(self) -> str:
        """What to check when the device stays silent."""
        if self.url.startswith(("socket://", "rfc2217://")):
            return "is the device process or serial bridge running and listening there?"
        if self.url.startswith("/dev/pts/") or self.url.startswith("/dev/ttys"):
            return "is the device process on the other end of this pty still running?"
        return f"is the firmware running and the baud rate {self.baud}?"

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException:
            raise EdgekitError(f"writing to {self.url} timed out: the device is not reading",
                               fix="reset the board, or check flow control on this port") from None
        except (serial.SerialException, OSError) as exc:
            raise EdgekitError(f"link {self.url} failed while writing: {exc}",
                               fix="is the device still connected?") from None

    def read(self, deadline: float) -> bytes:
        """Bytes available now, or the first that arrive before `deadline` (time.monotonic()); b"" if none."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        try:
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], min(remaining, READ_SLICE_S))
                return self._port.read(READ_CHUNK) if ready else b""
            slice_s = min(remaining, READ_SLICE_S)
            if self._port.timeout != slice_s:  # setting it reconfigures the port: over rfc2217, a network round trip
                self._port.timeout = slice_s
            waiting = self._port.in_waiting
            return self._port.read(max(1, waiting))
        except (serial.SerialException, OSError) as exc:
            raise EdgekitError(f"link {self.url} failed while reading: {exc}",
                               fix="is the device still connected (did the device process exit)?") from None

    def close(self) -> None:
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass
