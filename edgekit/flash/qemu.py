"""Run firmware on an emulated board: qemu-system-arm for the Cortex-M machines, qemu-aarch64 (user mode) for
the Raspberry Pi stand-ins.

    with start_emulator(board, "build/edgekit_fw.elf", images=[("model.ekm", 0x28000000)]) as emu:
        link = serial.serial_for_url(emu.url, timeout=1)     # a pty path or socket://127.0.0.1:PORT
        ...
    # QEMU is gone here: quit through QMP, else SIGTERM, else SIGKILL; always reaped.

Boot output and late listeners: QEMU drops UART output while nobody listens on the pty/socket, and
pyserial itself discards pending input when it opens a port (tcflush on a tty, a drain on socket://). The
guest therefore starts paused (-S). With start_paused=True it runs only when the caller calls open_link()
(which opens pyserial first) or resume(): nothing the firmware prints is lost. Otherwise, for a pty the
runner holds the slave open (raw) and resumes at once, so QEMU never drops bytes, but a pyserial opened later
flushes what came before; for TCP a watcher resumes the guest shortly after the first client connects.
Protocols should therefore speak first (a hello/handshake) rather than rely on boot output.
Control goes through QMP on a private unix socket.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import serial

from edgekit.boards.schema import Board
from edgekit.errors import EdgekitError

# Named timeouts (seconds), each with the reason for its size.
STARTUP_TIMEOUT_S = 10.0       # QEMU creating its sockets and pty; seconds on a loaded 2-core CI machine
QMP_REPLY_TIMEOUT_S = 5.0      # a QMP command is answered from QEMU's main loop, normally in milliseconds
QUIT_TIMEOUT_S = 3.0           # after "quit", QEMU tears down devices and exits
TERM_TIMEOUT_S = 3.0           # after SIGTERM, before SIGKILL
TCP_CONNECT_POLL_S = 0.02      # how often the TCP watcher asks QEMU whether the link client has connected
TCP_SETTLE_S = 0.1             # pyserial's socket:// open() discards input right after connecting: let it finish
USER_MODE_URL_TIMEOUT_S = 20.0  # an emulated Linux process printing its PTY/TCP line (startup is slow under QEMU)

LINK_KINDS = ("pty", "tcp")

_INSTALL_HINT = {
    "qemu-system-arm": "install it with `sudo apt-get install qemu-system-arm` or run `make deps`",
    "qemu-aarch64": "install it with `sudo apt-get install qemu-user` or run `make deps`",
}
_PTY_LINE = re.compile(r"char device redirected to (/dev/pts/\d+) \(label serial0\)")
_USER_URL_LINE = re.compile(r"^(?:PTY (?P<pty>/dev/\S+)|TCP (?P<host>127\.0\.0\.1|localhost):(?P<port>\d+))\s*$")
_AARCH64_SYSROOT = Path("/usr/aarch64-linux-gnu")
_UNIX_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux


def find_qemu(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        hint = _INSTALL_HINT.get(binary, "install QEMU or run `make deps`")
        raise EdgekitError(f"{binary} not found", fix=hint)
    return path


def free_tcp_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (QEMU binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ImagePart:
    path: Path
    addr: int


def check_images(board: Board, images: Iterable[tuple[str | os.PathLike, int]]) -> list[ImagePart]:
    """Every image part must exist and fit inside one region QEMU's loader can fill."""
    parts = []
    for path, addr in images:
        path = Path(path)
        if not path.is_file():
            raise EdgekitError("image part not found", path=path, fix="run `edgekit pack` first or check the path")
        size = path.stat().st_size
        region = board.region_at(addr)
        if region is None:
            known = ", ".join(f"{r.name} {r.base:#x}-{r.end:#x}" for r in board.memory)
            raise EdgekitError(f"image address {addr:#x} is in no memory region of {board.name}", path=path,
                               fix=f"place it in one of: {known}")
        if addr + size > region.end:
            raise EdgekitError(f"image ({size} bytes at {addr:#x}) runs {addr + size - region.end} bytes past the "
                               f"end of region {region.name} ({region.end:#x})", path=path,
                               fix="re-plan so the part fits, or split the model into more parts")
        if region.programmed_by not in ("qemu-loader", "elf"):
            raise EdgekitError(f"region {region.name} of {board.name} cannot be filled by QEMU's loader "
                               f"(programmed_by = {region.programmed_by})", path=path,
                               fix="place the image in a flash or loader-filled region")
        parts.append(ImagePart(path, addr))
    return parts


def marker_socket_path(marker: str | None) -> str | None:
    """The Unix socket of an emulated marker wire (`unix:PATH`), checked to be listening-ready."""
    if marker is None:
        return None
    if not marker.startswith("unix:") or len(marker) == 5:
        raise EdgekitError(f"marker {marker!r}: an emulated board's marker wire goes to a Unix socket",
                           fix="pass --marker unix:PATH, PATH being the meter's logic-input socket")
    path = marker[5:]
    if "," in path:  # QEMU's option parser would split it
        raise EdgekitError(f"marker socket path {path!r} contains a comma", fix="use a path without commas")
    try:
        is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        is_socket = False
    if not is_socket:
        raise EdgekitError("nothing listens at the marker socket", path=path,
                           fix="start the meter's logic input first (e.g. tools/fake_ppk2.py --logic-socket PATH)")
    return path


def qemu_system_command(board: Board, elf: str | os.PathLike, parts: Sequence[ImagePart], *, serial_arg: str,
                        qmp_path: str, icount_shift: int | None = None, paused: bool = True,
                        marker_socket: str | None = None, extra_args: Sequence[str] = ()) -> list[str]:
    """The qemu-system-arm argument list (a pure function, so tests can inspect it).

    marker_socket: a Unix socket that the board's marker wire connects to. Every emulated Cortex-M port puts its
    power-meter marker on the machine's second UART (one byte per level change), QEMU's second -serial.
    """
    q = board.qemu
    assert q is not None and q.mode == "system"
    args = [q.binary, "-machine", q.machine, "-cpu", q.cpu, "-nographic", "-monitor", "none",
            "-semihosting-config", "enable=on,target=native",
            "-serial", serial_arg,
            *(["-serial", f"unix:{marker_socket}"] if marker_socket else []),
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            "-kernel", str(elf)]
    for part in parts:
        # force-raw: an image part is bytes to copy, never an ELF/uImage for the loader to interpret.
        args += ["-device", f"loader,file={part.path},addr={part.addr:#x},force-raw=on"]
    if icount_shift is not None:
        args += ["-icount", f"shift={icount_shift}"]
    if paused:
        args.append("-S")
    args += list(q.options) + list(extra_args)
    return args


class _Qmp:
    """Just enough QMP: connect, negotiate, execute commands one at a time (thread-safe)."""

    def __init__(self, path: str, deadline: float, process: subprocess.Popen):
        self._lock = threading.Lock()
        while True:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self._sock.close()
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self._sock.settimeout(QMP_REPLY_TIMEOUT_S)
        self._file = self._sock.makefile("rwb")
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        line = self._file.readline()
        if not line:
            raise ConnectionError("QMP connection closed")
        return json.loads(line)

    def execute(self, command: str, **arguments) -> object:
        with self._lock:
            msg = {"execute": command}
            if arguments:
                msg["arguments"] = arguments
            self._file.write(json.dumps(msg).encode() + b"\n")
            self._file.flush()
            while True:
                reply = self._read()
                if "return" in reply:
                    return reply["return"]
                if "error" in reply:
                    raise RuntimeError(f"QMP {command}: {reply['error'].get('desc')}")
                # asynchronous events (STOP, RESUME, SHUTDOWN...) are not replies: skip them

    def close(self) -> None:
        try:
            self._file.close()  # flushes: a "quit" QEMU did not read before exiting raises BrokenPipeError
        except OSError:
            pass
        finally:
            self._sock.close()


class _OutputCollector:
    """Drains a pipe in a thread (so QEMU never blocks on a full pipe) and keeps the text for errors."""

    def __init__(self, stream, name: str):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self.lines.append(None)  # type: ignore[arg-type]  # end marker
            self._cond.notify_all()

    def text(self) -> str:
        with self._cond:
            return "\n".join(line for line in self.lines if line is not None)

    def wait_for(self, pattern: re.Pattern, deadline: float) -> re.Match | None:
        """First line matching pattern, or None once the stream ended or the deadline passed."""
        seen = 0
        with self._cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line is None:
                        return None
                    m = pattern.search(line)
                    if m:
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)


def _stop_process(process: subprocess.Popen, qmp: _Qmp | None) -> int | None:
    """Quit via QMP, else SIGTERM, else SIGKILL; always reap. Returns the exit status."""
    if process.poll() is None and qmp is not None:
        try:
            qmp.execute("quit")
        except (OSError, ConnectionError, RuntimeError, ValueError):
            pass  # QEMU may close the socket before answering "quit"
        try:
            process.wait(QUIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(TERM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


class EmulatorSession:
    """A running qemu-system-arm. Use as a context manager; .url is the link for pyserial."""

    def __init__(self, board: Board, args: list[str], link: str, tmpdir: str, qmp_path: str,
                 startup_timeout_s: float, tcp_port: int | None, start_paused: bool = False):
        self.board = board
        self.args = args
        self.link = link
        self.url: str = ""
        self.pty_path: str | None = None
        self._tmpdir = tmpdir
        self._qmp: _Qmp | None = None
        self._pty_fd: int | None = None
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._resumed = threading.Event()
        self._stopped = False
        self.returncode: int | None = None
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
        self._stdout = _OutputCollector(self.process.stdout, "qemu-stdout")
        self._stderr = _OutputCollector(self.process.stderr, "qemu-stderr")
        try:
            deadline = time.monotonic() + startup_timeout_s
            try:
                self._qmp = _Qmp(qmp_path, deadline, self.process)
            except (OSError, ConnectionError, ValueError) as e:
                self._fail_startup(f"QEMU did not open its control socket ({e})")
            if link == "pty":
                self.pty_path = self._find_pty(deadline)
                self.url = self.pty_path
                # Hold the slave open so QEMU sees a listener and keeps every byte in the pty buffer.
                self._pty_fd = os.open(self.pty_path, os.O_RDWR | os.O_NOCTTY)
                tty.setraw(self._pty_fd, termios.TCSANOW)
                if not start_paused:
                    self.resume()
            else:
                self.url = f"socket://127.0.0.1:{tcp_port}"
                if not start_paused:
                    self._watcher = threading.Thread(target=self._resume_on_connect, name="qemu-tcp-watch",
                                                     daemon=True)
                    self._watcher.start()
        except BaseException:
            self.stop()
            raise

    # -- startup helpers --
    def _fail_startup(self, problem: str) -> None:
        _stop_process(self.process, None)
        self._stderr.join(1.0)
        tail = "\n".join(self._stderr.text().splitlines()[-8:])
        raise EdgekitError(f"{self.board.name}: {problem}" + (f"; QEMU said:\n{tail}" if tail else ""),
                           fix=f"check the command: {' '.join(self.args)}")

    def _find_pty(self, deadline: float) -> str:
        assert self._qmp is not None
        for chardev in self._qmp.execute("query-chardev"):  # type: ignore[union-attr]
            if chardev.get("label") == "serial0" and str(chardev.get("filename", "")).startswith("pty:"):
                return chardev["filename"][4:]
        # Older QEMUs: the path is only printed ("char device redirected to /dev/pts/N (label serial0)").
        m = self._stderr.wait_for(_PTY_LINE, deadline) or self._stdout.wait_for(_PTY_LINE, deadline)
        if m is None:
            self._fail_startup("QEMU did not report the pty of serial0")
        return m.group(1)

    def _resume_on_connect(self) -> None:
        """TCP: start the guest once the link client has connected, so it loses none of the output."""
        while not self._stopping.is_set() and self.process.poll() is None:
            try:
                for chardev in self._qmp.execute("query-chardev"):  # type: ignore[union-attr]
                    if chardev.get("label") == "serial0":
                        if not str(chardev.get("filename", "")).startswith("disconnected:"):
                            time.sleep(TCP_SETTLE_S)
                            self.resume()
                            return
            except (OSError, ConnectionError, RuntimeError, ValueError):
                return
            time.sleep(TCP_CONNECT_POLL_S)

    # -- control --
    def resume(self) -> None:
        """Let the guest run (it starts paused until the link has a listener)."""
        if not self._resumed.is_set() and self._qmp is not None:
            self._qmp.execute("cont")
            self._resumed.set()

    def open_link(self, timeout_s: float = 1.0, **serial_kwargs) -> serial.Serial:
        """Open the link with pyserial, then let the guest run: boot output is all there to read."""
        port = serial.serial_for_url(self.url, timeout=timeout_s, **serial_kwargs)
        try:
            self.resume()
        except BaseException:
            port.close()
            raise
        return port

    def wait_started(self, timeout_s: float = STARTUP_TIMEOUT_S) -> bool:
        """True once the guest runs (for TCP: after a client connected)."""
        return self._resumed.wait(timeout_s)

    def wait(self, timeout_s: float) -> int:
        """Wait for the guest to end the program (semihosting exit); returns QEMU's exit status."""
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"{self.board.name}: the emulated program did not exit within {timeout_s:g} s",
                               fix="check that the firmware calls ek_port_exit") from None
        self.returncode = code
        self._stderr.join(1.0)
        fatal = [line for line in self._stderr.text().splitlines() if "fatal" in line.lower()]
        if fatal:
            raise EdgekitError(f"{self.board.name}: QEMU stopped the emulated CPU: {fatal[0]}",
                               fix="a fault inside the fault handler (lockup): check the vector table, stack and "
                                   "the `EK FAULT` line on the link")
        return code

    @property
    def stderr_text(self) -> str:
        return self._stderr.text()

    @property
    def stdout_text(self) -> str:
        """Semihosting console output (SYS_WRITE*) lands here."""
        return self._stdout.text()

    def reset(self) -> None:
        """Reset the emulated board (QMP system_reset): the firmware boots again, the link stays the same."""
        if self._qmp is None or self._stopped:
            raise EdgekitError("the emulator is not running", fix="start it again")
        self._qmp.execute("system_reset")

    def stop(self) -> int | None:
        if self._stopped:
            return self.returncode
        self._stopped = True
        self._stopping.set()
        try:
            self.returncode = _stop_process(self.process, self._qmp)
        finally:
            if self._watcher is not None:
                self._watcher.join(1.0)
            if self._qmp is not None:
                self._qmp.close()
            if self._pty_fd is not None:
                os.close(self._pty_fd)
            self._stdout.join(1.0)
            self._stderr.join(1.0)
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        return self.returncode

    def __enter__(self) -> "EmulatorSession":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_emulator(board: Board, elf: str | os.PathLike,
                   images: Iterable[tuple[str | os.PathLike, int]] = (), link: str = "pty", *,
                   icount_shift: int | None = None, extra_args: Sequence[str] = (),
                   start_paused: bool = False, marker: str | None = None,
                   startup_timeout_s: float = STARTUP_TIMEOUT_S) -> EmulatorSession:
    """Start `elf` on the emulated `board` with each image part loaded at its address.

    link: "pty" (url is /dev/pts/N) or "tcp" (url is socket://127.0.0.1:PORT; the guest starts when the
    first client connects). icount_shift: run with -icount shift=N so cycle counts follow instructions
    (deterministic, an estimate of real timing); None runs at host speed. start_paused: the guest waits
    for open_link() or resume(), so the caller sees its boot output (see the module docstring).
    """
    if board.qemu is None or board.qemu.mode != "system":
        raise EdgekitError(f"board {board.name} is not emulated by qemu-system-arm",
                           fix="pick a qemu-* Cortex-M board (`edgekit boards`) or use start_user_mode")
    if link not in LINK_KINDS:
        raise EdgekitError(f"unknown link kind {link!r}", fix=f"use one of {', '.join(LINK_KINDS)}")
    elf = Path(elf)
    if not elf.is_file():
        raise EdgekitError("firmware ELF not found", path=elf, fix="run `edgekit build` first")
    binary = find_qemu(board.qemu.binary)
    parts = check_images(board, images)
    tmpdir = tempfile.mkdtemp(prefix="edgekit-qemu-")
    qmp_path = os.path.join(tmpdir, "qmp.sock")
    if len(qmp_path.encode()) >= _UNIX_PATH_MAX:  # a long $TMPDIR: unix socket paths are limited to 108 bytes
        shutil.rmtree(tmpdir, ignore_errors=True)
        tmpdir = tempfile.mkdtemp(prefix="edgekit-qemu-", dir="/tmp")
        qmp_path = os.path.join(tmpdir, "qmp.sock")
    tcp_port = None
    if link == "pty":
        serial_arg = "pty"
    else:
        tcp_port = free_tcp_port()
        serial_arg = f"tcp:127.0.0.1:{tcp_port},server=on,wait=off,nodelay=on"
    args = qemu_system_command(board, elf, parts, serial_arg=serial_arg, qmp_path=qmp_path,
                               icount_shift=icount_shift, marker_socket=marker_socket_path(marker),
                               extra_args=extra_args)
    args[0] = binary
    try:
        return EmulatorSession(board, args, link, tmpdir, qmp_path, startup_timeout_s, tcp_port, start_paused)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise


# --- QEMU user mode (Raspberry Pi stand-ins) ------------------------------------------------------------

class UserModeSession:
    """An aarch64 Linux program under qemu-aarch64 -cpu X. .url is what the program printed as its link."""

    def __init__(self, board: Board, args: list[str], url_timeout_s: float, env: dict[str, str] | None):
        self.board = board
        self.args = args
        self.url = ""
        self.returncode: int | None = None
        self._stopped = False
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True, env=env)
        self._stdout = _OutputCollector(self.process.stdout, "qemu-user-stdout")
        self._stderr = _OutputCollector(self.process.stderr, "qemu-user-stderr")
        m = self._stdout.wait_for(_USER_URL_LINE, time.monotonic() + url_timeout_s)
        if m is None:
            self.stop()
            tail = "\n".join((self._stderr.text() + "\n" + self._stdout.text()).strip().splitlines()[-8:])
            raise EdgekitError(f"{board.name}: the program printed no `PTY /dev/pts/N` or `TCP 127.0.0.1:N` line "
                               f"within {url_timeout_s:g} s" + (f"; it said:\n{tail}" if tail else ""),
                               fix="check that the binary is the POSIX port built for aarch64")
        self.url = m.group("pty") or f"socket://127.0.0.1:{m.group('port')}"

    @property
    def stdout_text(self) -> str:
        return self._stdout.text()

    @property
    def stderr_text(self) -> str:
        return self._stderr.text()

    def wait(self, timeout_s: float) -> int:
        try:
            self.returncode = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"{self.board.name}: the program did not exit within {timeout_s:g} s",
                               fix="send it the exit command or stop the session") from None
        return self.returncode

    def stop(self) -> int | None:
        if not self._stopped:
            self._stopped = True
            self.returncode = _stop_process(self.process, None)
            self._stdout.join(1.0)
            self._stderr.join(1.0)
        return self.returncode

    def __enter__(self) -> "UserModeSession":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def qemu_user_command(board: Board, binary: str | os.PathLike, args: Sequence[str] = ()) -> list[str]:
    q = board.qemu
    assert q is not None and q.mode == "user"
    cmd = [q.binary, "-cpu", q.cpu]
    if _AARCH64_SYSROOT.is_dir():
        # Dynamic binaries find ld-linux-aarch64 and libc here; static ones ignore it.
        cmd += ["-L", str(_AARCH64_SYSROOT)]
    return cmd + list(q.options) + [str(binary)] + list(args)


def start_user_mode(board: Board, binary: str | os.PathLike, args: Sequence[str] = (), *,
                    url_timeout_s: float = USER_MODE_URL_TIMEOUT_S,
                    env: dict[str, str] | None = None) -> UserModeSession:
    """Run an aarch64 Linux `binary` as `board` (e.g. qemu-rpi5: -cpu cortex-a76) and wait for its link line."""
    if board.qemu is None or board.qemu.mode != "user":
        raise EdgekitError(f"board {board.name} is not a QEMU user-mode board",
                           fix="use qemu-rpi5, qemu-rpi4 or qemu-rpi-zero-2w, or start_emulator for Cortex-M")
    binary = Path(binary)
    if not binary.is_file():
        raise EdgekitError("program not found", path=binary, fix="build the POSIX port for aarch64 first")
    cmd = qemu_user_command(board, binary, args)
    cmd[0] = find_qemu(board.qemu.binary)
    return UserModeSession(board, cmd, url_timeout_s, env)
