"""Put a built project on its device and hand back the link: `open_device(project)` -> DeviceSession(.url).

How depends on the board's flasher (boards/<name>.toml [flasher]):
    qemu          qemu-system-arm with the ELF, each image part loaded at its planned address, UART on a pty or
                  a 127.0.0.1 socket (edgekit/flash/qemu.py)
    qemu-user     the aarch64 POSIX device under qemu-aarch64 -cpu <the board's core>, on a pty
    none          this machine: the POSIX device as a child process on a pty
    scp-ssh       copy binary + images to a Linux board, start it there serving TCP, link over the network
    pyocd/openocd/picotool/teensy_loader/platformio   the vendor flasher writes ELF and image parts; the link is
                  the board's serial port (--port)
Every session stops what it started on close (QEMU quits, child processes are reaped).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit.boards import Board, load_board
from edgekit.errors import EdgekitError
from edgekit.gen.project import read_manifest

@dataclass
class DeviceSession:
    board: Board
    url: str
    describe: str
    _close: Callable[[], object] | None = field(default=None, repr=False)

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()

    def __enter__(self) -> "DeviceSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _project_parts(project: Path, manifest: dict) -> list[tuple[Path, int]]:
    parts = []
    for img in manifest["images"]:
        path = project / img["file"]
        if not path.is_file():
            raise EdgekitError(f"image part {img['file']} is missing", path=project,
                               fix="regenerate the project with `edgekit gen`")
        parts.append((path, int(img["address"])))
    return parts


def _binary(project: Path, manifest: dict) -> Path:
    from edgekit.build.project import firmware_binary

    for system in ("cmake", "platformio"):
        try:
            candidate = firmware_binary(project, system, manifest)
        except EdgekitError:
            continue
        if candidate.is_file():
            return candidate
    raise EdgekitError("the project has not been built", path=project, fix=f"run `edgekit build {project}`")


def _posix_args(board: Board, manifest: dict, threads: int, marker: str | None = None) -> list[str]:
    plan = manifest["plan"]
    return ["--ctx", str(plan["ctx"]), "--board", board.name, "--clock-hz", str(board.cpu.clock_hz),
            "--threads", str(threads), *(["--marker", marker] if marker else [])]


def open_device(project: str | Path, *, link: str = "pty", port: str | None = None, icount_shift: int | None = None,
                threads: int = 1, marker: str | None = None, host: str | None = None) -> DeviceSession:
    """Flash/start the built project and return a session whose .url the link client opens.

    host: Linux boards reached over ssh (flasher scp-ssh): [USER@]HOST[:PORT] instead of the profile's host.

    marker: where the power-meter marker goes. Emulated boards and host processes: `unix:PATH`, an emulated wire
    to a meter's logic input; Linux boards: `gpiochipN:LINE` too. MCU boards drive their marker pin themselves.
    """
    project = Path(project).resolve()
    manifest = read_manifest(project)
    board = load_board(manifest["board"])
    parts = _project_parts(project, manifest)
    binary = _binary(project, manifest)
    kind = board.flasher.kind
    if kind == "qemu":
        from edgekit.flash.qemu import start_emulator

        emu = start_emulator(board, binary, parts, link=link, icount_shift=icount_shift, marker=marker)
        return DeviceSession(board, emu.url, f"QEMU {board.qemu.machine} ({board.name})", emu.stop)
    if kind in ("qemu-user", "none"):
        from edgekit.link.device_process import DeviceProcess

        wrapper: list[str] = []
        if kind == "qemu-user":
            from edgekit.flash.qemu import find_qemu, qemu_user_command

            wrapper = qemu_user_command(board, binary)[:-1]
            wrapper[0] = find_qemu(board.qemu.binary)
        if marker is not None:
            from edgekit.flash.qemu import marker_socket_path

            marker_socket_path(marker)  # the same check and message as for the emulated MCUs
        dev = DeviceProcess(binary, [p for p, _ in parts], link=link,
                            args=_posix_args(board, manifest, threads, marker), wrapper=wrapper)
        url = dev.start()
        what = f"qemu-aarch64 -cpu {board.qemu.cpu}" if kind == "qemu-user" else "host process"
        return DeviceSession(board, url, f"{what} ({board.name})", dev.stop)
    if kind == "scp-ssh":
        from edgekit.flash.ssh import start_over_ssh

        return start_over_ssh(board, binary, parts, _posix_args(board, manifest, threads, marker), host=host)
    if marker is not None:
        raise EdgekitError(f"{board.name} drives its power-meter marker from a pin of its own port; --marker is for "
                           "emulated boards, host processes and Linux boards",
                           fix="wire the board's marker pin to the meter's D0 and drop --marker (docs/power.md)")
    from edgekit.flash.flashers import flash_real_board

    flash_real_board(board, project, binary, parts)
    if port is None:
        raise EdgekitError(f"flashed {board.name}; now give its serial port to talk to it",
                           fix="pass --port /dev/ttyACM0 (or the port your board enumerates as)")
    return DeviceSession(board, port, f"{board.name} on {port}")
