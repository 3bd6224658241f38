"""Run the POSIX device (firmware/ports/posix, `edgekit-device`) as a child process and connect to it.

    with DeviceProcess(binary, [image]) as dev:          # starts it on a fresh pty
        with DeviceClient(dev.url) as client:
            client.hello()

The device prints "PTY /dev/pts/N" (or "TCP 127.0.0.1:N") once its link is ready; we read that line
within STARTUP_TIMEOUT_S and hand out the matching pyserial URL. stop() sends SIGTERM (the device exits
cleanly) and falls back to SIGKILL after STOP_TIMEOUT_S.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from edgekit.errors import EdgekitError

# Mapping the images and checking their CRCs happens before the link line is printed: seconds for a
# multi-GB model on an SD card, so generous.
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


class DeviceProcess:
    def __init__(self, binary: str | Path, images: list[str | Path], *, link: str = "pty",
                 args: list[str] | None = None, startup_timeout_s: float = STARTUP_TIMEOUT_S,
                 wrapper: list[str] | None = None):
        """link: "pty" or "tcp". args: extra device options (--ctx, --threads...). wrapper: a command to
        run the binary under, e.g. ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]."""
        if link not in ("pty", "tcp"):
            raise EdgekitError(f"unknown device link {link!r}", fix="use 'pty' or 'tcp'")
        self.binary = Path(binary)
        self.images = [Path(p) for p in images]
        self.link = link
        self.args = list(args or [])
        self.wrapper = list(wrapper or [])
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self._stderr_file = None

    def __enter__(self) -> "DeviceProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> str:
        if not self.binary.is_file():
            raise EdgekitError("device binary not found", path=self.binary,
                               fix="build the POSIX port first (cmake -S firmware -B build -DEK_PORT=posix)")
        for img in self.images:
            if not img.is_file():
                raise EdgekitError("image file not found", path=img)
        link_arg = ["--pty"] if self.link == "pty" else ["--tcp", "0"]
        cmd = [*self.wrapper, str(self.binary), *link_arg, *self.args, *map(str, self.images)]
        # stderr to a file, not a pipe: a chatty device must never block on a pipe nobody drains
        self._stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file)
        line = self._read_line(self.startup_timeout_s)
        if line.startswith("PTY "):
            self.url = line[4:].strip()
        elif line.startswith("TCP "):
            self.url = "socket://" + line[4:].strip()
        else:
            self.stop()
            raise EdgekitError(f"device process did not announce its link (got {line!r}): "
                               f"{self.stderr_text() or 'no diagnostics'}", path=self.binary)
        return self.url

    def _read_line(self, timeout_s: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        buf = b""
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise EdgekitError(f"device process printed no link line within {timeout_s:.0f} s",
                                   path=self.binary, fix="run it by hand to see what it is doing")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
            if not ready:
                if self.proc.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 256)
            if not chunk:
                break
            buf += chunk
        if b"\n" not in buf:
            code = self.proc.wait()
            raise EdgekitError(f"device process exited with status {code} before its link was ready: "
                               f"{self.stderr_text() or 'no diagnostics'}", path=self.binary)
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace")

    def stderr_text(self) -> str:
        if self._stderr_file is None:
            return ""
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace").strip()

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def stop(self) -> int | None:
        """Stop the device (SIGTERM, then SIGKILL) and return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode
