"""The link over rfc2217:// through a real RFC 2217 server: Debian's ser2net 4.x exporting an emulated board's
UART, as a lab would export a board's USB serial port to the network.

qemu-mps3-an547 runs the bundled model with its UART on a pty (open_device(link="pty")); ser2net, with a YAML
config of ours in a temp dir (no system-wide config, no UUCP locks), accepts telnet+RFC 2217 on 127.0.0.1 and
connects to that pty at 115200 8N1 (ser2net.yaml(5): "connection", accepter telnet(rfc2217),tcp,HOST,PORT,
connector serialdev,PATH,SETTINGS,local). The link client opens rfc2217://127.0.0.1:PORT through pyserial.
"""
import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import edgekit
from edgekit.boards import load_board
from edgekit.build import build_project
from edgekit.errors import EdgekitError
from edgekit.flash.device import open_device
from edgekit.flash.qemu import free_tcp_port
from edgekit.gen.project import generate_project
from edgekit.link.client import DeviceClient, TokenEvent
from edgekit.models import DEFAULT_MODEL
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler

# pyserial 3.5's rfc2217 client names its reader thread the pre-3.10 way; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")

BOARD = "qemu-mps3-an547"
PROMPT = "And God said, Let there be"
NEW_TOKENS = 12  # the emulated UART is fast, but each token's frame crosses telnet + ser2net + a pty
SER2NET_READY_S = 20.0  # upper bound for ser2net to listen; a bound on waiting, never a timing assertion


@pytest.fixture(scope="module")
def bundled():
    return edgekit.load(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def project(bundled, tmp_path_factory):
    """One build of the bundled model for qemu-mps3-an547, shared by every test here."""
    missing = [t for t in ("ser2net", "qemu-system-arm", "arm-none-eabi-gcc", "cmake") if shutil.which(t) is None]
    if missing:
        packages = {"ser2net": "ser2net", "qemu-system-arm": "qemu-system-arm",
                    "arm-none-eabi-gcc": "gcc-arm-none-eabi", "cmake": "cmake"}
        pytest.fail(f"missing {', '.join(missing)}: run `make deps` (apt: {', '.join(packages[t] for t in missing)})")
    generated = generate_project(bundled, load_board(BOARD), tmp_path_factory.mktemp("rfc2217") / "project", ctx=64)
    build_project(generated.path)
    return generated


@contextlib.contextmanager
def ser2net_bridge(serial_path: str, workdir: Path):
    """ser2net in the foreground exporting `serial_path` as RFC 2217 on 127.0.0.1; yields the rfc2217:// URL."""
    port = free_tcp_port()
    config = workdir / "ser2net.yaml"
    config.write_text("\n".join([
        "%YAML 1.1",
        "---",
        "connection: &edgekit_link",
        f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}",
        f"  connector: serialdev,{serial_path},115200n81,local",
        "",
    ]))
    log = workdir / "ser2net.log"
    # -n: foreground (we own the process); -d: its log to stdout (our file); -u: no UUCP lock files in /var/lock;
    # -c: our config only; -P: its pid file in our dir
    with open(log, "wb") as out:
        proc = subprocess.Popen(["ser2net", "-n", "-d", "-u", "-c", str(config), "-P", str(workdir / "ser2net.pid")],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SER2NET_READY_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ser2net exited with status {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"ser2net did not listen on 127.0.0.1:{port}: {log.read_text()[-2000:]}")
                time.sleep(0.05)
        yield f"rfc2217://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _greedy(client, model, n):
    ids = model.encode(PROMPT)
    stream = client.generate(ids, max_new_tokens=n, temperature=0.0, stop_at_eos=False)
    tokens = [e.token_id for e in stream if isinstance(e, TokenEvent)]
    return tokens, stream.done, list(generate_tokens(model, ids, n, Sampler(temperature=0.0), stop_at_eos=False))


def test_greedy_over_rfc2217_matches_reference(project, bundled, tmp_path):
    with open_device(project.path, link="pty") as session:
        assert session.url.startswith("/dev/pts/")
        with ser2net_bridge(session.url, tmp_path) as url, DeviceClient(url) as client:
            ident = client.hello()
            assert ident.model_ok, ident.model_error
            assert ident.board == BOARD and ident.model_hash.hex() == project.model_hash
            tokens, done, expected = _greedy(client, bundled, NEW_TOKENS)
    assert done.reason == "max_tokens" and done.generated_tokens == NEW_TOKENS
    assert tokens == expected


def test_second_client_after_the_first_and_url_options(project, bundled, tmp_path):
    """ser2net reopens the port for the next client; pyserial URL options (here ?timeout=) pass through."""
    with open_device(project.path, link="pty") as session, ser2net_bridge(session.url, tmp_path) as url:
        with DeviceClient(url) as first:
            first.hello()
            tokens_a, _, expected = _greedy(first, bundled, 4)
        with DeviceClient(f"{url}?timeout=5") as second:
            assert second.hello().model_ok
            tokens_b, _, _ = _greedy(second, bundled, 4)
    assert tokens_a == tokens_b == expected


def test_no_server_is_a_one_line_error():
    port = free_tcp_port()  # nobody listens there
    with pytest.raises(EdgekitError) as err:
        DeviceClient(f"rfc2217://127.0.0.1:{port}")
    assert f"rfc2217://127.0.0.1:{port}" in str(err.value) and "\n" not in str(err.value)
