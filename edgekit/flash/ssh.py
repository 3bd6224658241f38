"""Linux boards reached over ssh (the `scp-ssh` flasher): copy, start, forward the link port, stop, clean up.

What runs, in order (planned_commands() returns exactly these argv lists; `edgekit flash --dry-run` prints them):
    1. ssh DEST 'mkdir -p -- DIR'                  DIR is relative to the login user's home on the board
    2. scp BINARY PART... DEST:DIR/                the POSIX device binary and the model's image parts
    3. ssh -tt -L LOCAL:127.0.0.1:PORT DEST 'cd -- DIR; ...; exec ./BINARY --tcp PORT ... ./PART...'
       The device listens on the board's loopback only; the ssh forward carries the link, so nothing is
       exposed on the network. The link URL is socket://127.0.0.1:LOCAL on this machine.
    4. on close: ssh DEST '<stop the device, remove the copied files, remove DIR if it is then empty>'

Lifetime: -tt gives the remote command a pseudo-terminal, so when the ssh session ends for any reason (close(),
this process killed, the network gone) sshd hangs the terminal up and the kernel sends the device SIGHUP. close()
does not rely on that alone: step 4 stops the device explicitly (SIGTERM, then SIGKILL after REMOTE_STOP_S),
after checking that the pid it recorded is still the device (its working directory is DIR), never a reused pid.

Profile options ([flasher] of boards/<name>.toml): host (name or IP address), user, remote_dir (default
"edgekit"), tcp_port (the device's port on the board, default 7878), ssh_port. `--host [USER@]HOST[:PORT]` on the
command line replaces host (and user / ssh_port when given); `[::1]:2222` for an IPv6 address with a port.

Client configuration: ssh reads ~/.ssh/config as usual (User, Port, IdentityFile, ProxyJump for a board behind
a gateway). With EDGEKIT_SSH_CONFIG=FILE every ssh and scp here reads FILE instead (ssh -F FILE): a lab's own
keys, known_hosts and jump hosts, without touching ~/.ssh.

The remote commands are POSIX sh (the login shell runs them: bash or dash on Raspberry Pi OS) and step 4 reads
/proc to recognise the device, so the board must be Linux.

Safety: host, user and remote_dir are validated again here, whatever the profile schema did, because --host is
a string the user typed: host names and IP literals, POSIX user names, relative paths of plain components.
`--` ends the ssh/scp options before the destination; every word of a remote command is shlex-quoted;
BatchMode=yes makes a missing key fail instead of prompting for a password; ConnectTimeout and
ServerAliveInterval bound every wait on the network.
"""
from __future__ import annotations

import ipaddress
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from edgekit.boards import Board
from edgekit.errors import EdgekitError
from edgekit.flash.device import DeviceSession
from edgekit.flash.tools import FLASH_TIMEOUT_S, require_tool

SSH_CONFIG_ENV = "EDGEKIT_SSH_CONFIG"
DEFAULT_REMOTE_DIR = "edgekit"
DEFAULT_TCP_PORT = 7878
SSH_ERROR_EXIT = 255  # ssh and scp exit with 255 for their own errors (connect, auth, host key)
PID_FILE = ".edgekit-device.pid"  # in DIR: the running device's pid, for step 4

# Named timeouts (seconds), each with the reason for its size.
CONNECT_TIMEOUT_S = 10       # TCP connect + ssh handshake to a board on the local network
ALIVE_INTERVAL_S = 5         # keepalives on the long-lived session: a board that vanished ends it in ~15 s
ALIVE_COUNT = 3
COMMAND_TIMEOUT_S = 60.0     # mkdir / stop-and-clean-up: small commands, slack for a slow SD card
DEVICE_START_TIMEOUT_S = 60.0  # mapping the images and checking their CRCs before the link line (a Zero 2 W)
FORWARD_TIMEOUT_S = 10.0     # the local end of the forward accepting a connection once the device is up
REMOTE_STOP_S = 5            # SIGTERM to SIGKILL on the board (the device exits at once on SIGTERM)
LOCAL_STOP_TIMEOUT_S = 10.0  # the ssh client exiting after the remote command ended
POLL_S = 0.05                # while waiting for the link line / the forward: well under a human's notice

# What a board's address may be: a host name or ssh alias (letters, digits, '-', '_', '.', never starting with
# '-' so it can never read as an option) or an IP literal (checked by ipaddress). POSIX user names (the portable
# character set, not starting with '-'). Remote dirs: relative, plain components, no '.' or '..'.
_LABEL = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_USER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_DIR_COMPONENT = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}$")
_DEVICE_LINK_LINE = re.compile(r"^TCP 127\.0\.0\.1:(\d+)\s*$")
_SESSION_CLOSED = re.compile(r"^Connection to \S+ closed\.$")  # ssh -tt's goodbye, not a reason

# ssh's own words for what went wrong (OpenSSH client messages), mapped to one line with the fix.
_SSH_FAILURES: tuple[tuple[str, str, str], ...] = (
    ("Permission denied", "refused our key",
     "add your key with `ssh-copy-id {port_opt}{dest}`; edgekit never types a password, ssh runs in BatchMode"),
    # before "Host key verification failed", which ssh prints after this warning too
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "has a different host key than this machine remembers",
     "if the board was reinstalled, run `ssh-keygen -R {host}` and connect once by hand to accept the new key"),
    ("Host key verification failed", "has a host key this machine does not know",
     "connect once by hand with `ssh {port_opt}{dest}` to check and accept its key"),
    ("Could not resolve hostname", "is not a known host name",
     "check the name, or pass --host USER@ADDRESS with the board's IP address"),
    ("Connection refused", "refused the connection",
     "start sshd on the board with `sudo systemctl enable --now ssh`, check host and ssh_port, or pass --host"),
    ("Connection timed out", "did not answer", "is the board on and on this network? check host and ssh_port"),
    ("No route to host", "is unreachable", "is the board on and on this network? check host and ssh_port"),
    ("Network is unreachable", "is unreachable", "check this machine's network connection"),
    ("Connection closed by", "closed the connection", "check the board's sshd log: journalctl -u ssh"),
)


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None
    ssh_port: int | None
    remote_dir: str
    tcp_port: int

    @property
    def dest(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def describe(self) -> str:
        """For messages: the destination with its port when one is set."""
        return f"{self.dest} (port {self.ssh_port})" if self.ssh_port is not None else self.dest

    @property
    def scp_dest(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # scp reads host:path, so IPv6 in brackets
        return f"{self.user}@{host}" if self.user else host


# ---------------------------------------------------------------------------------------------------------------
# Validation (defence in depth: the schema checks profiles, but --host comes straight from the user)

def validate_host(value: Any, *, where: str, path: Any = None) -> str:
    if isinstance(value, str) and _HOST_NAME.match(value):
        return value
    if isinstance(value, str) and ":" in value:
        try:
            ipaddress.IPv6Address(value)
            return value
        except ValueError:
            pass
    raise EdgekitError(f"{where} is {value!r}, not a host name or IP address", path=path,
                       fix="give the board's name, e.g. raspberrypi.local, or address, e.g. 192.168.1.20 or fe80::1")


def validate_user(value: Any, *, where: str, path: Any = None) -> str:
    if isinstance(value, str) and _USER_NAME.match(value):
        return value
    raise EdgekitError(f"{where} is {value!r}, not a user name", path=path,
                       fix="give the login name on the board: letters, digits, '_', '.', '-', e.g. pi")


def validate_remote_dir(value: Any, *, where: str, path: Any = None) -> str:
    parts = value.split("/") if isinstance(value, str) else []
    if parts and all(_DIR_COMPONENT.match(p) and p not in (".", "..") for p in parts):
        return value
    raise EdgekitError(f"{where} is {value!r}, not a relative directory of plain names", path=path,
                       fix="give a path under the login home without '..' or a leading '/', e.g. edgekit")


def validate_port(value: Any, *, where: str, path: Any = None) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    raise EdgekitError(f"{where} is {value!r}, not a TCP port", path=path, fix="give a number from 1 to 65535")


def parse_host_option(text: str) -> tuple[str | None, str, int | None]:
    """--host [USER@]HOST[:PORT] -> (user, host, port); an IPv6 address with a port goes in brackets."""
    where = f"--host {text!r}"
    user, at, rest = text.rpartition("@")
    port: int | None = None
    if rest.startswith("["):
        host, close, tail = rest[1:].partition("]")
        if not close or (tail and not tail.startswith(":")):
            raise EdgekitError(f"{where}: expected [IPV6-ADDRESS] or [IPV6-ADDRESS]:PORT",
                               fix="write it as [fe80::1]:22")
        port_text = tail[1:] if tail else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise EdgekitError(f"{where}: {host!r} in brackets is not an IPv6 address",
                               fix="brackets are for IPv6 addresses: [fe80::1]:22") from None
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    else:
        host, port_text = rest, None  # a name, an IPv4 address, or a bare IPv6 address (no port)
    if port_text is not None:
        if not port_text.isdigit():
            raise EdgekitError(f"{where}: port {port_text!r} is not a number",
                               fix="write USER@HOST:PORT, e.g. pi@pi5:22")
        port = validate_port(int(port_text), where="the port in --host")
    validate_host(host, where="the host in --host")
    if at:
        validate_user(user, where="the user in --host")
    return (user if at else None), host, port


def ssh_target(board: Board, host: str | None = None) -> SshTarget:
    """The board's ssh destination from its profile, with --host (if given) replacing host/user/port."""
    opts: Mapping[str, Any] = board.flasher.options
    src = board.source
    user = opts.get("user")
    ssh_port = opts.get("ssh_port")
    if host is not None:
        host_user, host_name, host_port = parse_host_option(host)
        name = host_name
        user = host_user if host_user is not None else user
        ssh_port = host_port if host_port is not None else ssh_port
    else:
        name = opts.get("host")
        if not name:
            raise EdgekitError(f"board {board.name} has no [flasher] host", path=src,
                               fix="set host = \"<name or address>\" in the profile, or pass --host USER@HOST")
        name = validate_host(name, where="flasher.host", path=src)
    if user is not None:
        user = validate_user(user, where="flasher.user", path=src)
    if ssh_port is not None:
        ssh_port = validate_port(ssh_port, where="flasher.ssh_port", path=src)
    remote_dir = validate_remote_dir(opts.get("remote_dir", DEFAULT_REMOTE_DIR), where="flasher.remote_dir",
                                     path=src)
    tcp_port = validate_port(opts.get("tcp_port", DEFAULT_TCP_PORT), where="flasher.tcp_port", path=src)
    return SshTarget(host=name, user=user, ssh_port=ssh_port, remote_dir=remote_dir, tcp_port=tcp_port)


# ---------------------------------------------------------------------------------------------------------------
# The commands

def _config_args() -> list[str]:
    config = os.environ.get(SSH_CONFIG_ENV)
    if not config:
        return []
    if not Path(config).is_file():
        raise EdgekitError(f"{SSH_CONFIG_ENV} names no file", path=config,
                           fix=f"point {SSH_CONFIG_ENV} at an ssh_config file, or unset it to use ~/.ssh/config")
    return ["-F", config]


def _common_options() -> list[str]:
    return [*_config_args(), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]


def _ssh(target: SshTarget, remote_command: str, *extra: str) -> list[str]:
    port = ["-p", str(target.ssh_port)] if target.ssh_port is not None else []
    return ["ssh", *_common_options(), *port, *extra, "--", target.dest, remote_command]


def _start_script(target: SshTarget, binary: Path, parts: list[tuple[Path, int]], device_args: list[str]) -> str:
    q = shlex.quote
    exe = q(f"./{binary.name}")
    device = [exe, "--tcp", str(target.tcp_port), *(q(a) for a in device_args),
              *(q(f"./{p.name}") for p, _ in parts)]  # ./: a file name can never read as an option
    # exit codes 97/98 are ours (see _failure); `exec` makes the device the session's process, so the
    # pid recorded is the device's and the pty hangup (SIGHUP) reaches it directly.
    return (f"cd -- {q(target.remote_dir)} || exit 97; "
            f"[ -f {exe} ] || exit 98; "
            f"echo $$ > {PID_FILE} && exec {' '.join(device)}")


def _stop_script(target: SshTarget, binary: Path, parts: list[tuple[Path, int]]) -> str:
    q = shlex.quote
    files = " ".join(q(n) for n in (binary.name, *(p.name for p, _ in parts), PID_FILE))
    ticks = REMOTE_STOP_S * 10
    # ours: the recorded pid is still the device only while its working directory is DIR (a pid can be reused
    # after the device exited). The files go whatever happened; DIR goes only if nothing else is in it.
    return (f"cd -- {q(target.remote_dir)} 2>/dev/null || exit 0; here=$(pwd -P); "
            "ours() { [ \"$(readlink \"/proc/$1/cwd\" 2>/dev/null)\" = \"$here\" ]; }; "
            f"pid=$(cat {PID_FILE} 2>/dev/null); "
            "if [ -n \"$pid\" ] && ours \"$pid\"; then kill -TERM \"$pid\"; n=0; "
            f"while ours \"$pid\" && [ $n -lt {ticks} ]; do sleep 0.1; n=$((n+1)); done; "
            "ours \"$pid\" && kill -KILL \"$pid\"; fi; "
            f"rm -f -- {files}; cd && rmdir -- {q(target.remote_dir)} 2>/dev/null; exit 0")


def _plan(target: SshTarget, binary: Path, parts: list[tuple[Path, int]], device_args: list[str],
          local_port: int) -> dict[str, list[str]]:
    scp_port = ["-P", str(target.ssh_port)] if target.ssh_port is not None else []
    return {
        "mkdir": _ssh(target, f"mkdir -p -- {shlex.quote(target.remote_dir)}"),
        "copy": ["scp", *_common_options(), *scp_port, "-q", "-p", "--", str(binary), *(str(p) for p, _ in parts),
                 f"{target.scp_dest}:{target.remote_dir}/"],
        "start": _ssh(target, _start_script(target, binary, parts, device_args),
                      "-tt", "-o", "ExitOnForwardFailure=yes", "-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}",
                      "-o", f"ServerAliveCountMax={ALIVE_COUNT}", "-L", f"{local_port}:127.0.0.1:{target.tcp_port}"),
        "stop": _ssh(target, _stop_script(target, binary, parts)),
    }


def planned_commands(board: Board, binary: Path, parts: list[tuple[Path, int]], device_args: list[str],
                     host: str | None = None, *, local_port: int | None = None) -> list[list[str]]:
    """The argv lists start_over_ssh runs, in order: mkdir, copy, start (the link session), stop (on close)."""
    if local_port is None:
        from edgekit.flash.qemu import free_tcp_port

        local_port = free_tcp_port()
    return list(_plan(ssh_target(board, host), Path(binary), parts, device_args, local_port).values())


# ---------------------------------------------------------------------------------------------------------------
# Running them

def _failure(target: SshTarget, what: str, returncode: int | None, output: str) -> EdgekitError:
    """One line: what failed on which board, and the fix (from ssh's own message where it gave one)."""
    port_opt = f"-p {target.ssh_port} " if target.ssh_port is not None else ""
    fmt = {"dest": target.dest, "host": target.host, "port_opt": port_opt}
    for needle, problem, fix in _SSH_FAILURES if returncode == SSH_ERROR_EXIT else ():
        if needle in output:
            return EdgekitError(f"{what}: {target.describe} {problem}", fix=fix.format(**fmt))
    if returncode == 97:
        return EdgekitError(f"{what}: {target.remote_dir} is missing on {target.dest}",
                            fix="check remote_dir in the profile and that the copy step ran")
    if returncode == 98:
        return EdgekitError(f"{what}: the device binary is missing from {target.dest}:{target.remote_dir}",
                            fix="copy it again (edgekit flash), and check the board's disk is not full")
    if "Exec format error" in output or "cannot execute binary file" in output:
        return EdgekitError(f"{what}: the device binary does not run on {target.dest}: built for another CPU",
                            fix="generate and build the project for this board, whose profile names its toolchain")
    last = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "no message")
    return EdgekitError(f"{what} on {target.dest} failed (exit {returncode}): {last}",
                        fix="run it by hand to see more; `edgekit flash --dry-run PROJECT` prints the commands")


def _run(target: SshTarget, argv: list[str], what: str, timeout_s: float) -> None:
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"{what} on {target.dest} took longer than {timeout_s:.0f} s",
                           fix="check the network to the board (a large model over Wi-Fi: use Ethernet)") from None
    if proc.returncode != 0:
        raise _failure(target, what, proc.returncode, proc.stdout + proc.stderr)


class RemoteDevice:
    """The ssh link session to one board; stop() ends the device there and removes what was copied."""

    def __init__(self, target: SshTarget, plan: dict[str, list[str]], local_port: int):
        self.target = target
        self.plan = plan
        self.local_port = local_port
        self.proc: subprocess.Popen | None = None
        # Files, not pipes: nobody reads them while the link runs, and a full pipe would stall ssh (and with it
        # the forward) as soon as the device printed a few diagnostics too many.
        self._stdout = tempfile.TemporaryFile()  # the remote pty: the device's link line and its messages
        self._stderr = tempfile.TemporaryFile()  # ssh's own messages
        self._stopped = False

    def start(self) -> None:
        """Run the start command and return once the device listens and the forward accepts connections."""
        try:
            self.proc = subprocess.Popen(self.plan["start"], stdin=subprocess.DEVNULL, stdout=self._stdout,
                                         stderr=self._stderr)
            self._await_link_line()
            self._await_forward()
        except BaseException:  # an error, or Ctrl-C while waiting: nothing may stay behind on the board
            self._abort()
            raise

    @staticmethod
    def _text(file) -> str:
        file.seek(0)
        return file.read().decode("utf-8", "replace")

    def _diagnostics(self) -> str:
        """ssh's own messages, then what the device printed on the pty (its last line is the reason it gave)."""
        ssh_lines = self._text(self._stderr).splitlines()
        ssh_text = "\n".join(ln for ln in ssh_lines if not _SESSION_CLOSED.match(ln.strip()))
        return ssh_text + "\n" + self._text(self._stdout)

    def _await_link_line(self) -> None:
        """The device prints `TCP 127.0.0.1:PORT` once it listens (over -tt the line ends in CR LF)."""
        assert self.proc is not None
        deadline = time.monotonic() + DEVICE_START_TIMEOUT_S
        while True:
            for line in self._text(self._stdout).splitlines():
                m = _DEVICE_LINK_LINE.match(line.strip())
                if m and int(m.group(1)) == self.target.tcp_port:
                    return
            if self.proc.poll() is not None:
                raise _failure(self.target, "starting the device", self.proc.returncode, self._diagnostics())
            if time.monotonic() > deadline:
                raise EdgekitError(f"the device on {self.target.dest} did not report its link within "
                                   f"{DEVICE_START_TIMEOUT_S:.0f} s", fix="run the start command by hand to "
                                   "see what the device does; `edgekit flash --dry-run PROJECT` prints it")
            time.sleep(POLL_S)

    def _await_forward(self) -> None:
        """The local end of -L accepting a connection (ssh sets it up before the session; this makes sure)."""
        deadline = time.monotonic() + FORWARD_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.local_port), timeout=1.0):
                    return
            except OSError:
                if (self.proc is not None and self.proc.poll() is not None) or time.monotonic() > deadline:
                    last = next((ln.strip() for ln in reversed(self._diagnostics().splitlines()) if ln.strip()),
                                "no message")
                    raise EdgekitError(f"the ssh forward to {self.target.dest} did not open on 127.0.0.1:"
                                       f"{self.local_port}: {last}",
                                       fix="allow local forwarding in the board's sshd (AllowTcpForwarding yes)")
                time.sleep(POLL_S)

    def _abort(self) -> None:
        try:
            self.stop()
        except Exception:  # the original error is the one worth reporting
            pass

    def stop(self) -> None:
        """Stop the device on the board and remove the copied files, then end the local ssh session."""
        if self._stopped:
            return
        self._stopped = True
        cleanup_error = None
        try:
            _run(self.target, self.plan["stop"], "stopping the device and removing its files", COMMAND_TIMEOUT_S)
        except EdgekitError as exc:
            cleanup_error = exc
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.wait(LOCAL_STOP_TIMEOUT_S)  # the session ends by itself once the device has exited
            except subprocess.TimeoutExpired:
                proc.terminate()  # the pty hangup then sends the device SIGHUP
                try:
                    proc.wait(LOCAL_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._stdout.close()
        self._stderr.close()
        if cleanup_error is not None:
            # close() runs in finally blocks: say what was left behind instead of masking the caller's error
            sys.stderr.write(f"edgekit: warning: {cleanup_error}; files may remain in "
                             f"{self.target.dest}:{self.target.remote_dir}\n")


def start_over_ssh(board: Board, binary: Path, parts: list[tuple[Path, int]], device_args: list[str],
                   host: str | None = None) -> DeviceSession:
    """Copy the device binary and image parts to a Linux board, start it there, and forward its link port."""
    from edgekit.flash.qemu import free_tcp_port

    target = ssh_target(board, host)
    for tool in ("ssh", "scp"):
        require_tool(tool, "openssh-client")
    local_port = free_tcp_port()
    plan = _plan(target, Path(binary), parts, device_args, local_port)
    device = RemoteDevice(target, plan, local_port)
    _run(target, plan["mkdir"], "ssh to the board", COMMAND_TIMEOUT_S)
    try:
        _run(target, plan["copy"], "copying the device and model", FLASH_TIMEOUT_S)
    except BaseException:
        device._abort()  # removes whatever part of the copy landed
        raise
    device.start()
    return DeviceSession(board, f"socket://127.0.0.1:{local_port}", f"{board.name} at {target.dest} over ssh",
                         device.stop)
