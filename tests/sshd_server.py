"""A private OpenSSH server on 127.0.0.1 for tests: its own host key, one authorized client key, its own config.

    with SshdServer(tmp_path) as server:
        server.client_config   # an ssh_config file: EDGEKIT_SSH_CONFIG=<it> makes edgekit use this key/known_hosts
        server.port, server.user

Nothing outside `root` (a temp dir) is touched: the user's ~/.ssh is neither read nor written, because the
client config names its own IdentityFile and UserKnownHostsFile, and sshd's AuthorizedKeysFile is in `root`.
The server logs in as the user running the tests (root in CI: allowed with keys only, PermitRootLogin
prohibit-password).
"""
from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself and therefore insists on an absolute path
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd: must exist (root-owned, not group/world-writable)
READY_TIMEOUT_S = 20.0  # sshd generates nothing at startup (keys are made here), so this is slack for a busy CI


def need_openssh() -> None:
    missing = [t for t in ("ssh", "scp", "ssh-keygen") if shutil.which(t) is None]
    if missing or not Path(SSHD).is_file():
        pytest.fail("missing OpenSSH: run `make deps` (apt: openssh-client openssh-server)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-test", "-f", str(path)],
                   check=True, capture_output=True)


class SshdServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.port = 0
        self.user = getpass.getuser()
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "sshd.log"
        self.client_key = self.root / "client_key"
        self.client_config = self.root / "ssh_config"

    def start(self) -> "SshdServer":
        need_openssh()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        except PermissionError:
            pytest.fail(f"sshd needs its privilege-separation directory {PRIVSEP_DIR}: sudo mkdir -m 755 {PRIVSEP_DIR}")
        host_key = self.root / "host_key"
        _keygen(host_key)
        _keygen(self.client_key)
        authorized = self.root / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        self.port = _free_port()
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized}",
            f"PidFile {self.root / 'sshd.pid'}",
            "StrictModes no",           # the temp dir's modes are whatever pytest made them
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "AllowTcpForwarding local",  # the link's -L forward
            "Subsystem sftp internal-sftp",  # scp speaks SFTP (OpenSSH >= 9.0), as a Pi's stock sshd serves it
            "X11Forwarding no",
            "PrintMotd no",
            "LogLevel VERBOSE",
            "",
        ]))
        # The client trusts exactly this server's host key: StrictHostKeyChecking stays on, as for a real board.
        known_hosts = self.root / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{self.port} " + Path(f"{host_key}.pub").read_text())
        self.client_config.write_text("\n".join([
            "Host *",
            f"  IdentityFile {self.client_key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {known_hosts}",
            "  StrictHostKeyChecking yes",
            "  GlobalKnownHostsFile /dev/null",
            "",
        ]))
        log = open(self.log, "wb")
        # -D: stay in the foreground (we own the process); -e: log to stderr, i.e. our log file
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"sshd exited with status {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"sshd did not answer on 127.0.0.1:{self.port}: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def ssh(self, remote_command: str) -> subprocess.CompletedProcess:
        """Run a command on the server as the test user, with the test's client key."""
        return subprocess.run(["ssh", "-F", str(self.client_config), "-o", "BatchMode=yes", "-p", str(self.port),
                               "--", f"{self.user}@127.0.0.1", remote_command],
                              capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "SshdServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def home_of_server_user() -> Path:
    """Where relative remote paths land: the login user's home directory (the same machine here)."""
    import pwd

    return Path(pwd.getpwnam(getpass.getuser()).pw_dir)

