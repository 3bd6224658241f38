"""The `scp-ssh` flasher (Raspberry Pi and other Linux boards) end to end against a real OpenSSH server.

The "Pi" is this machine: a board profile like boards/host.toml (x86_64, native cc) but with
[flasher] kind = "scp-ssh", host 127.0.0.1 and the port of a private sshd the test starts (tests/sshd_server.py:
its own host key, an authorized client key, known_hosts, all in a temp dir; the client side reaches them
through EDGEKIT_SSH_CONFIG, never through ~/.ssh). Everything real: scp copies the device and image parts,
ssh -tt starts it in the sshd session, the link runs through the ssh -L forward, close() stops it there.
"""
import dataclasses
import getpass
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgekit
from edgekit.boards import load_board
from edgekit.boards.schema import Flasher
from edgekit.build.project import POSIX_BINARY, firmware_binary
from edgekit.cli import cli
from edgekit.errors import EdgekitError
from edgekit.flash import ssh as flash_ssh
from edgekit.flash.device import open_device
from edgekit.gen.project import read_manifest
from edgekit.link.client import DeviceClient, TokenEvent
from edgekit.models import DEFAULT_MODEL
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler
from sshd_server import SshdServer, home_of_server_user, need_openssh

ROOT = Path(__file__).resolve().parents[1]
BOARD = "ssh-loopback"
PROMPT = "And God said, Let there be"
NEW_TOKENS = 24
PROCESS_GONE_WAIT_S = 20.0  # an upper bound for a kill to land, never a timing assertion


def _board_toml(host: str, user: str, ssh_port: int, tcp_port: int, remote_dir: str) -> str:
    """boards/host.toml as a board reached over ssh: the same machine, the same native build."""
    text = (ROOT / "boards" / "host.toml").read_text()
    for old, new in (('name = "host"', f'name = "{BOARD}"'),
                     ('[flasher]\nkind = "none"',
                      f'[flasher]\nkind = "scp-ssh"\nhost = "{host}"\nuser = "{user}"\nssh_port = {ssh_port}\n'
                      f'tcp_port = {tcp_port}\nremote_dir = "{remote_dir}"'),
                     ('[link]\nkind = "pty"', '[link]\nkind = "tcp"')):
        assert text.count(old) == 1, f"boards/host.toml changed: {old!r} not found once; update this test"
        text = text.replace(old, new)
    return text


def _boards_dir(path: Path, board_text: str) -> Path:
    """Every shipped profile plus ours: EDGEKIT_BOARDS_DIR replaces boards/, and the rest must still load."""
    path.mkdir(parents=True)
    for toml in (ROOT / "boards").glob("*.toml"):
        shutil.copy(toml, path / toml.name)
    (path / f"{BOARD}.toml").write_text(board_text)
    return path


def _binary(rig) -> Path:
    return firmware_binary(rig.project, "cmake", read_manifest(rig.project))


def _free_port() -> int:
    from edgekit.flash.qemu import free_tcp_port

    return free_tcp_port()


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _pids_with(*words: str) -> list[int]:
    """Processes whose argv holds each of `words` as consecutive arguments."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = _cmdline(int(entry.name))
            n = len(words)
            if any(tuple(argv[i:i + n]) == words for i in range(len(argv) - n + 1)):
                found.append(int(entry.name))
    return found


def _ancestors(pid: int) -> list[str]:
    names = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        names.append(stat[stat.index("(") + 1:stat.rindex(")")])
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return names


def _wait_gone(pid: int, argv: list[str]) -> bool:
    deadline = time.monotonic() + PROCESS_GONE_WAIT_S
    while _cmdline(pid) == argv:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@dataclasses.dataclass
class Rig:
    server: SshdServer
    project: Path      # the bundled model built for BOARD (in the EDGEKIT_CACHE build cache)
    model: object
    remote: Path       # the board's remote_dir: where the copies land (this machine's login home)
    tcp_port: int      # the device's port on the "board"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """A running sshd, a boards dir holding the ssh-loopback profile, and the bundled model built for it."""
    need_openssh()
    for tool, package in (("cmake", "cmake"), ("cc", "gcc")):
        if shutil.which(tool) is None:
            pytest.fail(f"missing {tool}: run `make deps` (apt: {package})")
    root = tmp_path_factory.mktemp("ssh")
    server = SshdServer(root / "sshd").start()
    remote_dir = f"edgekit-ssh-test-{uuid.uuid4().hex[:12]}"  # relative: lands in the login user's home
    tcp_port = _free_port()
    boards = _boards_dir(root / "boards", _board_toml("127.0.0.1", server.user, server.port, tcp_port, remote_dir))
    cache = root / "cache"
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGEKIT_BOARDS_DIR", str(boards))
    mp.setenv("EDGEKIT_SSH_CONFIG", str(server.client_config))
    mp.setenv("EDGEKIT_CACHE", str(cache))
    try:
        from edgekit.link.run import ensure_built

        model = edgekit.load(DEFAULT_MODEL)
        # through the build cache, so `edgekit generate --board ssh-loopback` below reuses this build
        project = ensure_built(model, BOARD)
        yield Rig(server, project, model, home_of_server_user() / remote_dir, tcp_port)
    finally:
        mp.undo()
        server.stop()
        shutil.rmtree(home_of_server_user() / remote_dir, ignore_errors=True)  # only if a test failed midway


def _greedy(client, model, n):
    ids = model.encode(PROMPT)
    stream = client.generate(ids, max_new_tokens=n, temperature=0.0, stop_at_eos=False)
    tokens = [e.token_id for e in stream if isinstance(e, TokenEvent)]
    expected = list(generate_tokens(model, ids, n, Sampler(temperature=0.0), stop_at_eos=False))
    return tokens, expected, stream.done


def test_greedy_over_ssh_matches_reference_and_close_cleans_up(rig):
    binary_name = _binary(rig).name
    with open_device(rig.project) as session:
        assert session.url.startswith("socket://127.0.0.1:")
        # the device really runs in the sshd session, in the copied directory, listening on the board's port
        pids = _pids_with("--tcp", str(rig.tcp_port))
        assert len(pids) == 1, pids
        device_pid, device_argv = pids[0], _cmdline(pids[0])
        assert Path(os.readlink(f"/proc/{device_pid}/cwd")) == rig.remote
        assert "sshd" in _ancestors(device_pid)
        copied = sorted(p.name for p in rig.remote.iterdir())
        assert any(n.startswith(binary_name) for n in copied) and any(n.endswith(".ekm") for n in copied), copied
        with DeviceClient(session.url) as client:
            ident = client.hello()
            assert ident.model_ok, ident.model_error
            assert ident.board == BOARD
            tokens, expected, done = _greedy(client, rig.model, NEW_TOKENS)
        assert done.reason == "max_tokens" and done.generated_tokens == NEW_TOKENS
        assert tokens == expected
    assert _wait_gone(device_pid, device_argv), "close() returned but the remote device is still running"
    assert not rig.remote.exists(), f"close() left {sorted(p.name for p in rig.remote.iterdir())}"


def test_device_dies_when_the_ssh_session_is_lost(rig):
    """The ssh client killed outright (no close()): sshd hangs up the pty and the device goes with it."""
    session = open_device(rig.project)
    try:
        device = _pids_with("--tcp", str(rig.tcp_port))
        local_port = session.url.rsplit(":", 1)[1]
        client = _pids_with("-L", f"{local_port}:127.0.0.1:{rig.tcp_port}")
        assert len(device) == 1 and len(client) == 1, (device, client)
        argv = _cmdline(device[0])
        os.kill(client[0], signal.SIGKILL)
        assert _wait_gone(device[0], argv), "the remote device outlived its ssh session"
    finally:
        session.close()
    assert not rig.remote.exists()


def test_cli_host_option_replaces_the_profile_host(rig, tmp_path, monkeypatch):
    """`edgekit generate --board B --host USER@HOST:PORT`: the profile's address is unusable, --host is not."""
    dead_port = _free_port()  # nobody listens here: the profile alone gets "connection refused"
    boards = _boards_dir(tmp_path / "boards",
                         _board_toml("127.0.0.1", rig.server.user, dead_port, rig.tcp_port, rig.remote.name))
    monkeypatch.setenv("EDGEKIT_BOARDS_DIR", str(boards))
    args = ["generate", str(DEFAULT_MODEL), "--prompt", PROMPT, "--max-new", "8", "--temperature", "0", "--json",
            "--board", BOARD]
    runner = CliRunner()
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2, refused.output
    assert "refused the connection" in refused.output and "ssh_port" in refused.output

    res = runner.invoke(cli, [*args, "--host", f"{rig.server.user}@127.0.0.1:{rig.server.port}"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    ids = rig.model.encode(PROMPT)
    assert out["tokens"] == list(generate_tokens(rig.model, ids, 8, Sampler(temperature=0.0)))
    assert not rig.remote.exists()


def test_cli_host_needs_an_ssh_board():
    res = CliRunner().invoke(cli, ["chat", "--board", "qemu-mps3-an547", "--host", "pi@pi5", "--prompt", "x"])
    assert res.exit_code == 2 and "--host is for Linux boards reached over ssh" in res.output, res.output


def test_wrong_key_is_one_line_error_and_copies_nothing(rig, tmp_path, monkeypatch):
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    config = rig.server.client_config.read_text().replace(str(rig.server.client_key), str(stranger))
    (tmp_path / "ssh_config").write_text(config)
    monkeypatch.setenv("EDGEKIT_SSH_CONFIG", str(tmp_path / "ssh_config"))
    with pytest.raises(EdgekitError) as err:
        open_device(rig.project)
    message = str(err.value)
    assert "\n" not in message and "ssh-copy-id" in message, message
    assert not rig.remote.exists()


def test_missing_binary_on_the_board_is_named(rig):
    """The start step on its own, with nothing copied: the remote launcher's own check names the problem."""
    board = load_board(BOARD)
    binary = _binary(rig)
    target = flash_ssh.ssh_target(board)
    local_port = _free_port()
    plan = flash_ssh._plan(target, binary, [], [], local_port)
    subprocess.run(plan["mkdir"], check=True, capture_output=True, timeout=60)
    device = flash_ssh.RemoteDevice(target, plan, local_port)
    with pytest.raises(EdgekitError) as err:
        device.start()
    assert "device binary is missing" in str(err.value) and "\n" not in str(err.value)
    assert not rig.remote.exists()


def test_plan_quotes_and_terminates_options(rig):
    board = load_board(BOARD)
    binary = _binary(rig)
    cmds = flash_ssh.planned_commands(board, binary, [(rig.project / "x y;rm -rf ~.ekm", 0)], ["--board", "a b"],
                                      local_port=40000)
    mkdir, copy, start, stop = cmds
    for argv in (mkdir, start, stop):
        assert argv[0] == "ssh" and "BatchMode=yes" in argv
        assert argv[argv.index("--") + 1] == f"{rig.server.user}@127.0.0.1"
        assert argv.index("--") == len(argv) - 3  # only the destination and the one remote command follow
    assert copy[0] == "scp" and copy[copy.index("--") + 1:-1] == [str(binary), str(rig.project / "x y;rm -rf ~.ekm")]
    assert "'./x y;rm -rf ~.ekm'" in start[-1] and "'a b'" in start[-1]
    assert "40000:127.0.0.1:%d" % rig.tcp_port in start


@pytest.mark.parametrize("field, value", [
    ("host", "-oProxyCommand=touch {marker}"),
    ("host", "pi;touch {marker}"),
    ("user", "-oProxyCommand=touch {marker}"),
    ("remote_dir", "../{marker}"),
    ("remote_dir", "/tmp/x"),
])
def test_hostile_profile_values_are_refused_before_anything_runs(rig, tmp_path, field, value):
    marker = tmp_path / "ran"
    bad = value.format(marker=marker)
    good = load_board(BOARD)
    # ssh.py refuses on its own (defence in depth), whatever the schema does...
    board = dataclasses.replace(good, flasher=Flasher("scp-ssh", {**good.flasher.options, field: bad}))
    with pytest.raises(EdgekitError) as err:
        flash_ssh.start_over_ssh(board, _binary(rig), [], [])
    assert f"flasher.{field}" in str(err.value)
    # ...and a profile file carrying it is refused by the schema or by ssh.py, never run
    text = (Path(os.environ["EDGEKIT_BOARDS_DIR"]) / f"{BOARD}.toml").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{field} = "))
    (tmp_path / "evil.toml").write_text(text.replace(line, f"{field} = {json.dumps(bad)}").replace(BOARD, "evil"))
    with pytest.raises(EdgekitError):
        flash_ssh.start_over_ssh(load_board(str(tmp_path / "evil.toml")),
                                 _binary(rig), [], [])
    assert not marker.exists()


@pytest.mark.parametrize("text, parsed", [
    ("pi@192.168.1.20", ("pi", "192.168.1.20", None)),
    ("raspberrypi.local", (None, "raspberrypi.local", None)),
    ("pi@pi5:2222", ("pi", "pi5", 2222)),
    ("fe80::1", (None, "fe80::1", None)),
    ("pi@[fe80::1]:22", ("pi", "fe80::1", 22)),
])
def test_host_option_parses(text, parsed):
    assert flash_ssh.parse_host_option(text) == parsed


@pytest.mark.parametrize("text", ["-oProxyCommand=x", "pi@-oProxyCommand=x", "-l@host", "pi@host:22x", "pi@[::1",
                                  "pi@[nothost]:22", "pi@host:0", "p i@host", "pi@ho st", "pi@host;id", ""])
def test_host_option_rejects(text):
    with pytest.raises(EdgekitError) as err:
        flash_ssh.parse_host_option(text)
    assert "--host" in str(err.value) and "\n" not in str(err.value)


def test_ssh_config_env_must_name_a_file(rig, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_SSH_CONFIG", str(tmp_path / "nope"))
    with pytest.raises(EdgekitError) as err:
        flash_ssh.planned_commands(load_board(BOARD), Path(POSIX_BINARY), [], [], local_port=1)
    assert "EDGEKIT_SSH_CONFIG" in str(err.value)


def test_host_user_is_the_login_user_by_default(rig):
    """No user in --host: the profile's user stays (and with none at all, ssh's own default applies)."""
    target = flash_ssh.ssh_target(load_board(BOARD), "127.0.0.1")
    assert target.user == getpass.getuser() and target.ssh_port == rig.server.port
