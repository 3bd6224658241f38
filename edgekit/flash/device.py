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

import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit.boards import Board, load_board
from edgekit.errors import EdgekitError
from edgekit.gen.project import read_manifest

FLASH_TIMEOUT_S = 300.0  # writing a few MB of QSPI flash through a debug probe


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


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise EdgekitError(f"{tool} not found", fix=f"install {package}")
    return path


def _run_flasher(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FLASH_TIMEOUT_S)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise EdgekitError(f"{what} failed (exit {proc.returncode}):\n{tail}",
                           fix="check the cable, the board's boot mode and that no other tool holds the probe")


def open_device(project: str | Path, *, link: str = "pty", port: str | None = None, icount_shift: int | None = None,
                threads: int = 1, marker: str | None = None) -> DeviceSession:
    """Flash/start the built project and return a session whose .url the link client opens.

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
        return _scp_ssh(board, project, manifest, binary, parts, threads, marker)
    if marker is not None:
        raise EdgekitError(f"{board.name} drives its power-meter marker from a pin of its own port; --marker is for "
                           "emulated boards, host processes and Linux boards",
                           fix="wire the board's marker pin to the meter's D0 and drop --marker (docs/power.md)")
    flash_real_board(board, project, binary, parts)
    if port is None:
        raise EdgekitError(f"flashed {board.name}; now give its serial port to talk to it",
                           fix="pass --port /dev/ttyACM0 (or the port your board enumerates as)")
    return DeviceSession(board, port, f"{board.name} on {port}")


def flash_real_board(board: Board, project: Path, binary: Path, parts: list[tuple[Path, int]]) -> None:
    """Write firmware and image parts with the board's flasher, verifying where the tool can read back."""
    kind = board.flasher.kind
    opts = dict(board.flasher.options)
    if kind == "pyocd":
        tool = _require("pyocd", "pyocd (pip install pyocd)")
        target = ["--target", str(opts["target"])] if "target" in opts else []
        _run_flasher([tool, "load", *target, str(binary)], "pyocd load (firmware)")
        for path, addr in parts:
            _run_flasher([tool, "load", *target, "--base-address", hex(addr), str(path)], f"pyocd load ({path.name})")
            _run_flasher([tool, "cmd", *target, "-c", f"compare {hex(addr)} {path}"], f"pyocd verify ({path.name})")
    elif kind == "openocd":
        tool = _require("openocd", "openocd (apt-get install openocd)")
        cfg = [a for c in opts.get("config", []) for a in ("-f", str(c))]
        cmds = [f"program {binary} verify"] + [f"program {p} {hex(a)} verify" for p, a in parts] + ["reset run",
                                                                                                  "shutdown"]
        _run_flasher([tool, *cfg, *[a for c in cmds for a in ("-c", c)]], "openocd program")
    elif kind == "picotool":
        tool = _require("picotool", "picotool (apt-get install picotool)")
        _run_flasher([tool, "load", "-v", "-x", str(binary)], "picotool load (firmware)")
        for path, addr in parts:
            _run_flasher([tool, "load", "-v", "-o", hex(addr), str(path)], f"picotool load ({path.name})")
    elif kind == "teensy_loader":
        tool = _require("teensy_loader_cli", "teensy_loader_cli (apt-get install teensy-loader-cli)")
        hexfile = project / "firmware.hex"
        objcopy = _require("arm-none-eabi-objcopy", "gcc-arm-none-eabi")
        sections = [a for p, addr in parts for a in ("--add-section", f".ek_image_{addr:x}={p}",
                                                     "--set-section-flags", f".ek_image_{addr:x}=alloc,load,readonly",
                                                     "--change-section-address", f".ek_image_{addr:x}={hex(addr)}")]
        _run_flasher([objcopy, *sections, "-O", "ihex", str(binary), str(hexfile)], "objcopy (Intel HEX)")
        _run_flasher([tool, f"--mcu={opts.get('mcu', 'TEENSY41')}", "-w", "-v", str(hexfile)], "teensy_loader_cli")
    elif kind == "platformio":
        tool = _require("pio", "platformio (pip install platformio)")
        _run_flasher([tool, "run", "-d", str(project), "-t", "upload"], "pio run -t upload")
    else:
        raise EdgekitError(f"board {board.name} has no flasher edgekit can drive (flasher kind {kind!r})",
                           path=board.source, fix="flash the firmware and image parts by hand, then use --port")


def _scp_ssh(board: Board, project: Path, manifest: dict, binary: Path, parts: list[tuple[Path, int]],
             threads: int, marker: str | None) -> DeviceSession:
    opts = dict(board.flasher.options)
    host, user = opts.get("host"), opts.get("user")
    if not host:
        raise EdgekitError(f"board {board.name} has no [flasher] host", path=board.source,
                           fix="set host = \"<name or address>\" in the profile")
    target = f"{user}@{host}" if user else str(host)
    remote = str(opts.get("remote_dir", "edgekit"))
    scp, ssh = _require("scp", "openssh-client"), _require("ssh", "openssh-client")
    _run_flasher([ssh, target, "mkdir", "-p", remote], "ssh mkdir")
    _run_flasher([scp, str(binary), *[str(p) for p, _ in parts], f"{target}:{remote}/"], "scp")
    port = int(opts.get("tcp_port", 7878))
    from edgekit.flash.qemu import free_tcp_port

    local = free_tcp_port()
    args = " ".join(shlex.quote(a) for a in _posix_args(board, manifest, threads, marker))
    images = " ".join(f"{remote}/{p.name}" for p, _ in parts)
    # The device listens on the board's loopback only; an ssh port forward carries the link, so nothing is
    # exposed on the network and the session ends when ssh does.
    proc = subprocess.Popen([ssh, "-o", "ExitOnForwardFailure=yes", "-L", f"{local}:127.0.0.1:{port}", target,
                             f"exec {remote}/{binary.name} --tcp {port} {args} {images}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        proc.terminate()
        proc.wait(10)

    return DeviceSession(board, f"socket://127.0.0.1:{local}", f"{board.name} over ssh", stop)
