"""Put a built project on its device and hand back the link: `open_device(project)` -> DeviceSession(.url).

How depends on the board's flasher (boards/<name>.toml [flasher]); the first four are the rows of LAUNCHERS, the
vendor flashers the rows of edgekit/flash/flashers.py FLASHERS:
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
from typing import Callable, NamedTuple

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


@dataclass(frozen=True)
class Launch:
    """Everything a launcher needs to start (or list the commands for) one built project."""
    board: Board
    project: Path
    manifest: dict
    binary: Path
    parts: list[tuple[Path, int]]
    link: str = "pty"
    port: str | None = None
    icount_shift: int | None = None
    threads: int = 1
    marker: str | None = None
    host: str | None = None

    @property
    def posix_args(self) -> list[str]:
        return _posix_args(self.board, self.manifest, self.threads, self.marker)


def _process_wrapper(job: Launch, *, resolve: bool) -> list[str]:
    """qemu-aarch64 -cpu ... in front of the POSIX device for qemu-user boards; nothing for host processes."""
    if job.board.flasher.kind != "qemu-user":
        return []
    from edgekit.flash.qemu import find_qemu, qemu_user_command

    wrapper = qemu_user_command(job.board, job.binary)[:-1]
    if resolve:
        wrapper[0] = find_qemu(job.board.qemu.binary)
    return wrapper


def _start_qemu(job: Launch) -> DeviceSession:
    from edgekit.flash.qemu import start_emulator

    emu = start_emulator(job.board, job.binary, job.parts, link=job.link, icount_shift=job.icount_shift,
                         marker=job.marker)
    return DeviceSession(job.board, emu.url, f"QEMU {job.board.qemu.machine} ({job.board.name})", emu.stop)


def _qemu_commands(job: Launch) -> list[list[str]]:
    from edgekit.flash.flashers import QEMU_RUNTIME_PORT, QEMU_RUNTIME_TMP
    from edgekit.flash.qemu import ImagePart, qemu_system_command

    serial = "pty" if job.link == "pty" else f"tcp:127.0.0.1:{QEMU_RUNTIME_PORT},server=on,wait=off,nodelay=on"
    marker_socket = None
    if job.marker is not None:
        if not job.marker.startswith("unix:") or len(job.marker) == 5:
            raise EdgekitError(f"marker {job.marker!r}: an emulated board's marker wire goes to a Unix socket",
                               fix="pass --marker unix:PATH")
        marker_socket = job.marker[5:]
    return [qemu_system_command(job.board, job.binary, [ImagePart(p, a) for p, a in job.parts], serial_arg=serial,
                                qmp_path=f"{QEMU_RUNTIME_TMP}/qmp.sock", icount_shift=job.icount_shift,
                                marker_socket=marker_socket)]


def _start_process(job: Launch) -> DeviceSession:
    from edgekit.link.device_process import DeviceProcess

    wrapper = _process_wrapper(job, resolve=True)
    if job.marker is not None:
        from edgekit.flash.qemu import marker_socket_path

        marker_socket_path(job.marker)  # the same check and message as for the emulated MCUs
    dev = DeviceProcess(job.binary, [p for p, _ in job.parts], link=job.link, args=job.posix_args, wrapper=wrapper)
    url = dev.start()
    what = f"qemu-aarch64 -cpu {job.board.qemu.cpu}" if wrapper else "host process"
    return DeviceSession(job.board, url, f"{what} ({job.board.name})", dev.stop)


def _process_commands(job: Launch) -> list[list[str]]:
    link_arg = ["--pty"] if job.link == "pty" else ["--tcp", "0"]  # as DeviceProcess.start builds it
    return [[*_process_wrapper(job, resolve=False), str(job.binary), *link_arg, *job.posix_args,
             *[str(p) for p, _ in job.parts]]]


def _start_ssh(job: Launch) -> DeviceSession:
    from edgekit.flash.ssh import start_over_ssh

    return start_over_ssh(job.board, job.binary, job.parts, job.posix_args, host=job.host)


def _ssh_commands(job: Launch) -> list[list[str]]:
    from edgekit.flash.ssh import planned_commands

    return planned_commands(job.board, job.binary, job.parts, job.posix_args)


class Launcher(NamedTuple):
    start: Callable[[Launch], DeviceSession]  # run it; the session's close stops what was started
    commands: Callable[[Launch], list[list[str]]]  # what start would run (edgekit flash --dry-run)


# [flasher] kinds edgekit starts itself; every other kind is a vendor flasher (edgekit/flash/flashers.py FLASHERS)
# followed by the board's serial port.
LAUNCHERS: dict[str, Launcher] = {
    "qemu": Launcher(_start_qemu, _qemu_commands),
    "qemu-user": Launcher(_start_process, _process_commands),
    "none": Launcher(_start_process, _process_commands),
    "scp-ssh": Launcher(_start_ssh, _ssh_commands),
}


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
    parts = _project_parts(project, manifest)  # a missing part is reported before a missing build
    job = Launch(board, project, manifest, _binary(project, manifest), parts, link=link, port=port,
                 icount_shift=icount_shift, threads=threads, marker=marker, host=host)
    launcher = LAUNCHERS.get(board.flasher.kind)
    if launcher is not None:
        return launcher.start(job)
    if marker is not None:
        raise EdgekitError(f"{board.name} drives its power-meter marker from a pin of its own port; --marker is for "
                           "emulated boards, host processes and Linux boards",
                           fix="wire the board's marker pin to the meter's D0 and drop --marker (docs/power.md)")
    from edgekit.flash.flashers import flash_real_board

    flash_real_board(board, project, job.binary, job.parts)
    if port is None:
        raise EdgekitError(f"flashed {board.name}; now give its serial port to talk to it",
                           fix="pass --port /dev/ttyACM0 (or the port your board enumerates as)")
    return DeviceSession(board, port, f"{board.name} on {port}")
