"""Linux boards reached over ssh (the `scp-ssh` flasher): copy, start, forward the link port, stop."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from edgekit.boards import Board
from edgekit.errors import EdgekitError
from edgekit.flash.device import DeviceSession
from edgekit.flash.tools import require_tool, run_tool


def start_over_ssh(board: Board, binary: Path, parts: list[tuple[Path, int]],
                   device_args: list[str]) -> DeviceSession:
    """Copy the device binary and image parts to a Linux board, start it there, and forward its link port."""
    opts = dict(board.flasher.options)
    host, user = opts.get("host"), opts.get("user")
    if not host:
        raise EdgekitError(f"board {board.name} has no [flasher] host", path=board.source,
                           fix="set host = \"<name or address>\" in the profile")
    target = f"{user}@{host}" if user else str(host)
    remote = str(opts.get("remote_dir", "edgekit"))
    scp, ssh = require_tool("scp", "openssh-client"), require_tool("ssh", "openssh-client")
    run_tool([ssh, target, "mkdir", "-p", remote], "ssh mkdir")
    run_tool([scp, str(binary), *[str(p) for p, _ in parts], f"{target}:{remote}/"], "scp")
    port = int(opts.get("tcp_port", 7878))
    from edgekit.flash.qemu import free_tcp_port

    local = free_tcp_port()
    args = " ".join(shlex.quote(a) for a in device_args)
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
