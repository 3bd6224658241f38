"""A fault-injection proxy between the host and a device: the link as a bad cable, a noisy radio or a hung board.

    with FaultProxy("/dev/pts/7", to_host=Faults(corrupt=0.01), to_device=Faults(drop=0.01), seed=1) as proxy:
        with DeviceClient(proxy.url) as client:      # proxy.url: a pty path (default) or socket://127.0.0.1:N
            ...
        proxy.freeze()                               # the device stops answering (bytes are held back)
        proxy.reconnect(new_device_url)              # the device was restarted behind a new pty / port

The device end is whatever the link client opens (a pty path or `socket://HOST:PORT`); the host end is a new pty
or a loopback TCP listener, so the real DeviceClient and the real device talk through it unchanged. Each byte
passing one way may be dropped, have one bit flipped, or be sent twice (probabilities per byte, from a seeded
generator, so a run can be repeated), and a burst of random bytes can be injected once after a number of bytes.
Counters say what was done. Used by tests/test_link_faults.py and tools/reliability.py (docs/reliability.md).
"""
from __future__ import annotations

import os
import random
import select
import socket
import termios
import threading
import time
import tty
from dataclasses import dataclass, field

from edgekit.errors import EdgekitError

POLL_S = 0.02  # how often the pumps look at the stop/freeze flags while the link is idle


@dataclass
class Faults:
    """What happens to the bytes going one way. Probabilities are per byte."""

    drop: float = 0.0
    corrupt: float = 0.0  # one random bit flipped
    duplicate: float = 0.0  # the byte is sent twice
    burst_bytes: int = 0  # random bytes injected once ...
    burst_after: int = 0  # ... after this many bytes have passed
    delay_s: float = 0.0  # latency added to every chunk

    def __post_init__(self):
        for name in ("drop", "corrupt", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EdgekitError(f"fault probability {name}={value} is outside 0..1")


@dataclass
class FaultCounters:
    passed: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    injected: int = 0
    held: int = 0  # bytes swallowed while frozen

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Direction:
    faults: Faults
    counters: FaultCounters = field(default_factory=FaultCounters)
    burst_done: bool = False


def _open_device_end(url: str) -> tuple[int, socket.socket | None]:
    """An fd for the device's link: a pty/serial path opened raw, or a TCP connection for socket://HOST:PORT."""
    if url.startswith("socket://"):
        host, _, port = url[len("socket://"):].rpartition(":")
        try:
            sock = socket.create_connection((host, int(port)), timeout=10)
        except (OSError, ValueError) as exc:
            raise EdgekitError(f"fault proxy cannot reach the device at {url}: {exc}") from None
        sock.setblocking(False)
        return sock.fileno(), sock
    try:
        fd = os.open(url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise EdgekitError(f"fault proxy cannot open the device's link {url}: {exc.strerror}") from None
    tty.setraw(fd, termios.TCSANOW)
    return fd, None


class FaultProxy:
    def __init__(self, device_url: str, *, to_host: Faults | None = None, to_device: Faults | None = None,
                 listen: str = "pty", seed: int = 0):
        if listen not in ("pty", "tcp"):
            raise EdgekitError(f"unknown proxy listen kind {listen!r}", fix="use pty or tcp")
        self.to_host = _Direction(to_host or Faults())
        self.to_device = _Direction(to_device or Faults())
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # the device end may be swapped by reconnect() while the pumps run
        self._stop = threading.Event()
        self._frozen = threading.Event()
        self._dev_fd, self._dev_sock = _open_device_end(device_url)
        self._listener: socket.socket | None = None
        self._host_sock: socket.socket | None = None
        if listen == "pty":
            self._host_fd, slave = os.openpty()
            tty.setraw(self._host_fd, termios.TCSANOW)
            tty.setraw(slave, termios.TCSANOW)
            self.url = os.ttyname(slave)
            self._slave = slave  # held open so bytes written before the host opens it are kept
            os.set_blocking(self._host_fd, False)
        else:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
            self._host_fd = -1
            self._slave = None
        self._thread = threading.Thread(target=self._pump, name="fault-proxy", daemon=True)
        self._thread.start()

    # --- control ------------------------------------------------------------------------------------------
    def freeze(self) -> None:
        """From now on nothing passes either way: a hung device, as the host sees it."""
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def reconnect(self, device_url: str) -> None:
        """Talk to a new device end (the board was reset or the device process restarted)."""
        fd, sock = _open_device_end(device_url)
        with self._lock:
            old_fd, old_sock = self._dev_fd, self._dev_sock
            self._dev_fd, self._dev_sock = fd, sock
        self._close_end(old_fd, old_sock)

    def counters(self) -> dict:
        return {"to_host": self.to_host.counters.to_dict(), "to_device": self.to_device.counters.to_dict()}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._close_end(self._dev_fd, self._dev_sock)
        for fd in (self._host_fd, self._slave):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for s in (self._host_sock, self._listener):
            if s is not None:
                s.close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _close_end(fd: int, sock: socket.socket | None) -> None:
        try:
            if sock is not None:
                sock.close()
            else:
                os.close(fd)
        except OSError:
            pass

    # --- the pump -----------------------------------------------------------------------------------------
    def _mangle(self, d: _Direction, data: bytes) -> bytes:
        f, c = d.faults, d.counters
        out = bytearray()
        rng = self._rng
        for b in data:
            if not d.burst_done and f.burst_bytes and c.passed >= f.burst_after:
                out += bytes(rng.randrange(256) for _ in range(f.burst_bytes))
                c.injected += f.burst_bytes
                d.burst_done = True
            c.passed += 1
            if f.drop and rng.random() < f.drop:
                c.dropped += 1
                continue
            if f.corrupt and rng.random() < f.corrupt:
                b ^= 1 << rng.randrange(8)
                c.corrupted += 1
            out.append(b)
            if f.duplicate and rng.random() < f.duplicate:
                out.append(b)
                c.duplicated += 1
        return bytes(out)

    def _host_read_fd(self) -> int:
        if self._listener is None:
            return self._host_fd
        if self._host_sock is None:
            ready, _, _ = select.select([self._listener], [], [], POLL_S)
            if not ready:
                return -1
            self._host_sock, _ = self._listener.accept()
            self._host_sock.setblocking(False)
        return self._host_sock.fileno()

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], POLL_S)
                continue
            view = view[n:]

    def _pump(self) -> None:
        while not self._stop.is_set():
            host_fd = self._host_read_fd()
            with self._lock:
                dev_fd = self._dev_fd
            fds = [dev_fd] + ([host_fd] if host_fd >= 0 else [])
            try:
                ready, _, _ = select.select(fds, [], [], POLL_S)
            except (OSError, ValueError):  # the device end was swapped under us: look again
                continue
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    if fd == dev_fd:  # the device end hung up (process restarting): wait for reconnect()
                        time.sleep(POLL_S)
                    continue
                d, out_fd = (self.to_host, host_fd) if fd == dev_fd else (self.to_device, dev_fd)
                if self._frozen.is_set():
                    d.counters.held += len(data)
                    continue
                data = self._mangle(d, data)
                if d.faults.delay_s:
                    time.sleep(d.faults.delay_s)
                if out_fd < 0 or not data:
                    continue
                try:
                    self._write_all(out_fd, data)
                except OSError:
                    pass  # the other end went away; the host will notice silence and recover
