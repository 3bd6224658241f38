"""`edgekit devices`: real ptys behind the probe — the POSIX device and QEMU's Cortex-M55 answering HELLO, a pty
that stays silent, one that answers garbage — and ports that must never be written to."""
import json
import os
import select
import shutil
import threading

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.link.discover import SerialPortInfo, discover, usb_kind

NEVER_HANGS_S = 60.0  # only so a regression fails instead of hanging the suite; not a speed assertion


# The machine's own serial ports are never probed by these tests (a board attached to a developer's machine
# would get a HELLO, which ends whatever it is generating): only the ptys the tests make.
MACHINE_PORTS = ("--exclude", "/dev/tty*", "--exclude", "/dev/cu.*")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args] + list(MACHINE_PORTS))


class FakePort:
    """A pty whose far end we hold: silent, or answering every write with garbage. written() is every byte
    written to the port so far."""

    def __init__(self, answer: bytes | None = None):
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        os.close(slave)  # the probe opens it by path; the master keeps the pty alive
        self.answer = answer
        self.received = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if answer is not None:  # a silent port needs nobody at its far end
            self._thread = threading.Thread(target=self._serve, daemon=True)
            self._thread.start()

    def _read_available(self, wait_s: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], wait_s)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:  # EIO: nobody has the pty open (and nothing is left to read)
            return b""

    def _serve(self):
        while not self._stop.is_set():
            with self._lock:
                data = self._read_available(0.05)
                self.received += data
            if data:
                os.write(self.master, self.answer)
            else:
                self._stop.wait(0.01)

    def written(self) -> bytes:
        with self._lock:
            while data := self._read_available(0):
                self.received += data
            return bytes(self.received)

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        os.close(self.master)


@pytest.fixture
def silent():
    port = FakePort()
    yield port
    port.close()


@pytest.fixture
def garbage():
    # bytes a chatty non-edgekit device might send: text, zeros (frame delimiters) and a bogus "frame"
    port = FakePort(b"OK\r\n\x00\x05\x12\x34\x56\x00AT+GMR\r\nready>\x00\xff\xfe\x00")
    yield port
    port.close()


@pytest.fixture(scope="module")
def host_device(tmp_path_factory):
    """The POSIX device serving the bundled model on a pty (built into a test-private cache)."""
    import edgekit
    from edgekit.flash.device import open_device
    from edgekit.gen.project import read_manifest
    from edgekit.link.run import ensure_built
    from edgekit.models import DEFAULT_MODEL

    mp = pytest.MonkeyPatch()
    mp.setenv("EDGEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    project = ensure_built(edgekit.load(DEFAULT_MODEL), "host")
    with open_device(project) as session:
        yield session.url, read_manifest(project)["model"]["hash"]
    mp.undo()


def test_posix_device_answers_and_silent_and_garbage_ptys_do_not(host_device, silent, garbage):
    url, model_hash = host_device
    res = invoke("devices", "--port", url, "--port", silent.path, "--port", garbage.path, "--timeout", "3", "--json")
    assert res.exit_code == 0, res.output
    ports = {p["device"]: p for p in json.loads(res.stdout)["ports"]}
    dev = ports[url]["probe"]
    assert dev["status"] == "edgekit" and dev["device"]["board"] == "host", dev
    assert dev["device"]["model_hash"] == model_hash and dev["device"]["firmware_version"]
    assert ports[url]["named_by_user"] and ports[url]["guess"] == "named with --port"
    assert ports[silent.path]["probe"]["status"] == "no answer"
    assert silent.written(), "the probe sent no HELLO to the silent port"
    assert ports[garbage.path]["probe"]["status"] == "not edgekit"
    assert "no IDENTITY" in ports[garbage.path]["probe"]["detail"]


def test_table_output_names_the_edgekit_device(host_device):
    url, model_hash = host_device
    res = invoke("ports", "--port", url, "--timeout", "3")  # the alias
    assert res.exit_code == 0, res.output
    assert "edgekit host" in res.stdout and model_hash[:16] in res.stdout


def test_excluded_ports_are_never_written(silent):
    res = invoke("devices", "--port", silent.path, "--exclude", "/dev/pts/*", "--json")
    assert res.exit_code == 0, res.output
    probe = {p["device"]: p for p in json.loads(res.stdout)["ports"]}[silent.path]["probe"]
    assert probe == {"status": "not probed", "detail": "excluded", "seconds": 0.0}
    res = invoke("devices", "--port", silent.path, "--no-probe", "--json")
    assert {p["device"]: p for p in json.loads(res.stdout)["ports"]}[silent.path]["probe"] is None
    assert silent.written() == b""


def test_a_listed_power_meter_is_not_probed_and_vid_pid_exclusion_works(silent):
    ppk2 = SerialPortInfo(silent.path, vid=0x1915, pid=0xC00A, product="PPK2")
    ftdi = SerialPortInfo("/dev/ttyUSB-not-there", vid=0x0403, pid=0x6001)
    ports = discover(listed=[ppk2, ftdi], exclude=["0403:*"], timeout_s=0.3)
    assert ppk2.probe.status == "not probed" and "PPK2" in ppk2.probe.detail
    assert ftdi.probe.detail == "excluded"
    assert len(ports) == 2 and silent.written() == b""


def test_vid_pid_table_patterns():
    assert usb_kind(0x2E8A, 0x000F).boards == ("rp2350-psram",)     # any Raspberry Pi product id
    assert "ST-LINK" in usb_kind(0x0483, 0x374B).name
    assert usb_kind(0x0483, 0x5740) is None                          # an STM32 CDC device is not an ST-LINK
    assert usb_kind(0x16C0, 0x0483).name.startswith("Teensy")
    assert usb_kind(0x1A86, 0x7523).name == "USB serial (WCH CH340)"
    assert usb_kind(None, None) is None


def test_a_port_that_cannot_be_opened_is_reported(tmp_path):
    res = invoke("devices", "--port", tmp_path / "no-such-tty", "--json")
    assert res.exit_code == 0
    probe = json.loads(res.stdout)["ports"][-1]["probe"]
    assert probe["status"] == "cannot open"


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_qemu_cortex_m55_behind_a_pty_answers(tmp_path_factory, monkeypatch):
    import edgekit
    from edgekit.flash.device import open_device
    from edgekit.link.run import ensure_built
    from edgekit.models import DEFAULT_MODEL

    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    project = ensure_built(edgekit.load(DEFAULT_MODEL), "qemu-mps3-an547")
    with open_device(project) as session:
        # generous timeout: QEMU on a loaded machine; the probe returns as soon as IDENTITY arrives
        res = invoke("devices", "--port", session.url, "--timeout", "10", "--json")
    assert res.exit_code == 0, res.output
    probe = {p["device"]: p for p in json.loads(res.stdout)["ports"]}[session.url]["probe"]
    assert probe["status"] == "edgekit" and probe["device"]["board"] == "qemu-mps3-an547", probe


def _identity_frame(seq: int, **overrides) -> bytes:
    from edgekit.link import messages as M
    from edgekit.link.framing import encode_frame

    values = dict(protocol_version=M.PROTOCOL_VERSION, max_body=1024, model_status=0, vocab_size=300,
                  context_len=64, num_layers=2, hidden_size=32, bos_id=1, eos_id=2, clock_hz=32_000_000, threads=1,
                  arena_bytes=4096, image_bytes=8192, model_hash=bytes(range(32)), tokenizer_hash=bytes(32),
                  firmware_version="scripted 1.0", board="scripted-[board]", kernel="i2-ref")
    values.update(overrides)
    code = M.BY_NAME["IDENTITY"].code
    return encode_frame(code, seq, M.encode_body("IDENTITY", **values))


def test_an_identity_from_a_scripted_device_and_one_from_another_protocol():
    """The probe's first HELLO has seq 0xE0; a pty answering with an IDENTITY for it is an edgekit device (its
    strings printed as text, not markup); a frame of link protocol 99 is named as such."""
    from edgekit.link.framing import encode_frame

    good = FakePort(_identity_frame(0xE0))
    other = FakePort(encode_frame(0x81, 0xE0, (99).to_bytes(2, "little") + b"\x01\x02"))
    try:
        res = invoke("devices", "--port", good.path, "--port", other.path, "--timeout", "2", "--json")
        ports = {p["device"]: p["probe"] for p in json.loads(res.stdout)["ports"]}
        assert ports[good.path]["status"] == "edgekit"
        assert ports[good.path]["device"]["board"] == "scripted-[board]"
        assert ports[good.path]["device"]["model_hash"] == bytes(range(32)).hex()
        assert ports[other.path]["status"] == "not edgekit" and "link protocol 99" in ports[other.path]["detail"]
        table = invoke("devices", "--port", good.path, "--timeout", "2").stdout
        assert "edgekit scripted-[board], firmware scripted 1.0" in table
    finally:
        good.close()
        other.close()
