"""The QEMU runner (edgekit/flash/qemu.py): command lines, image checks, errors that name the fix, clean shutdown,
and the full edgekit firmware (runtime + port) serving the bundled model on an emulated Cortex-M55."""
from __future__ import annotations

import dataclasses
import shutil
import struct
import signal
from pathlib import Path

import pytest

from edgekit.boards import load_board
from edgekit.errors import EdgekitError
from edgekit.flash import check_images, qemu_system_command, qemu_user_command, start_emulator, start_user_mode
from edgekit.flash.qemu import ImagePart
from helpers import FIRMWARE, cmake_build

needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None
    or shutil.which("cmake") is None or shutil.which("ninja") is None,
    reason="needs arm-none-eabi-gcc, qemu-system-arm, cmake and ninja (make deps)")


def _spin_forever(tmp_path: Path) -> Path:
    """A raw Cortex-M program that never prints and never exits: vector table (SP, PC) and `b .`."""
    path = tmp_path / "spin.bin"
    path.write_bytes(struct.pack("<II", 0x20001000, 0x00000009) + b"\xfe\xe7" + bytes(6))
    return path


def _blob(tmp_path: Path, n: int, name: str = "part.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * (n // 256) + bytes(n % 256))
    return path


# --- pure parts ---------------------------------------------------------------------------------------------

def test_system_command_line(tmp_path):
    board = load_board("qemu-mps3-an547")
    parts = [ImagePart(tmp_path / "a.ekm", 0x28000000), ImagePart(tmp_path / "b.ekm", 0x60400000)]
    args = qemu_system_command(board, "fw.elf", parts, serial_arg="pty", qmp_path="/tmp/x/qmp.sock",
                               icount_shift=5)
    assert args[:5] == ["qemu-system-arm", "-machine", "mps3-an547", "-cpu", "cortex-m55"]
    assert args[args.index("-kernel") + 1] == "fw.elf"
    assert args[args.index("-serial") + 1] == "pty"
    loaders = [args[i + 1] for i, a in enumerate(args) if a == "-device"]
    assert loaders == [f"loader,file={tmp_path / 'a.ekm'},addr=0x28000000,force-raw=on",
                       f"loader,file={tmp_path / 'b.ekm'},addr=0x60400000,force-raw=on"]
    assert "enable=on,target=native" in args and "-S" in args and "-nographic" in args
    assert args[args.index("-icount") + 1] == "shift=5"
    assert "-icount" not in qemu_system_command(board, "fw.elf", [], serial_arg="pty", qmp_path="q")


def test_user_command_line():
    cmd = qemu_user_command(load_board("qemu-rpi4"), "/bin/dev", ["--tcp", "0"])
    assert cmd[:3] == ["qemu-aarch64", "-cpu", "cortex-a72"] and cmd[-3:] == ["/bin/dev", "--tcp", "0"]


def test_images_must_exist_and_fit(tmp_path):
    board = load_board("qemu-mps3-an547")
    ok = _blob(tmp_path, 4096)
    assert check_images(board, [(ok, 0x28000000)]) == [ImagePart(ok, 0x28000000)]
    with pytest.raises(EdgekitError, match="image part not found.*edgekit pack"):
        check_images(board, [(tmp_path / "missing.ekm", 0x28000000)])
    with pytest.raises(EdgekitError, match="0x50000000 is in no memory region.*qspi 0x28000000-0x28800000"):
        check_images(board, [(ok, 0x50000000)])
    with pytest.raises(EdgekitError, match="runs 2048 bytes past the end of region qspi"):
        check_images(board, [(ok, 0x28000000 + 8 * 2**20 - 2048)])
    with pytest.raises(EdgekitError, match="region sram of qemu-netduinoplus2 cannot be filled"):
        check_images(load_board("qemu-netduinoplus2"), [(ok, 0x20000000)])


def test_wrong_board_kind_and_missing_files(tmp_path):
    elf = _blob(tmp_path, 64, "fw.elf")
    with pytest.raises(EdgekitError, match="not emulated by qemu-system-arm.*edgekit boards"):
        start_emulator(load_board("rpi5"), elf)
    with pytest.raises(EdgekitError, match="not emulated by qemu-system-arm"):
        start_emulator(load_board("qemu-rpi5"), elf)
    with pytest.raises(EdgekitError, match="firmware ELF not found.*edgekit build"):
        start_emulator(load_board("qemu-mps3-an547"), tmp_path / "nope.elf")
    with pytest.raises(EdgekitError, match="unknown link kind 'usb'"):
        start_emulator(load_board("qemu-mps3-an547"), elf, link="usb")
    with pytest.raises(EdgekitError, match="not a QEMU user-mode board"):
        start_user_mode(load_board("qemu-mps2-an386"), elf)
    with pytest.raises(EdgekitError, match="program not found"):
        start_user_mode(load_board("qemu-rpi5"), tmp_path / "nope")


def test_missing_qemu_names_the_install_command(tmp_path):
    board = load_board("qemu-mps3-an547")
    missing = dataclasses.replace(board, qemu=dataclasses.replace(board.qemu, binary="qemu-system-arm-missing"))
    with pytest.raises(EdgekitError, match="qemu-system-arm-missing not found.*make deps"):
        start_emulator(missing, _blob(tmp_path, 64, "fw.elf"))
    user = load_board("qemu-rpi5")
    missing_user = dataclasses.replace(user, qemu=dataclasses.replace(user.qemu, binary="qemu-aarch64-missing"))
    with pytest.raises(EdgekitError, match="qemu-aarch64-missing not found"):
        start_user_mode(missing_user, _blob(tmp_path, 64, "prog"))


# --- real QEMU --------------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_startup_failure_reports_qemu_message(tmp_path):
    board = load_board("qemu-mps3-an547")
    with pytest.raises(EdgekitError, match="(?s)QEMU said:.*nonsense-option"):
        start_emulator(board, _blob(tmp_path, 64, "fw.elf"), extra_args=["-nonsense-option"])


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_stop_quits_and_reaps_even_a_guest_that_never_exits(tmp_path):
    """A guest that is only garbage (never prints, never exits) is still shut down cleanly and reaped."""
    board = load_board("qemu-mps2-an386")
    session = start_emulator(board, _spin_forever(tmp_path), start_paused=True)
    tmpdir = session._tmpdir
    assert session.process.poll() is None and Path(session.url).exists()
    session.resume()
    with pytest.raises(EdgekitError, match="did not exit within 0.2 s.*ek_port_exit"):
        session.wait(0.2)
    code = session.stop()
    assert session.process.poll() is not None and code is not None
    assert not Path(tmpdir).exists()
    assert session.stop() == code  # idempotent


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_stop_falls_back_to_signals_when_qmp_is_gone(tmp_path, monkeypatch):
    import edgekit.flash.qemu as qemu

    monkeypatch.setattr(qemu, "QUIT_TIMEOUT_S", 0.3)
    monkeypatch.setattr(qemu, "TERM_TIMEOUT_S", 0.3)
    board = load_board("qemu-mps2-an386")
    with start_emulator(board, _spin_forever(tmp_path), start_paused=True) as session:
        session.process.send_signal(signal.SIGSTOP)  # QEMU cannot answer "quit": TERM, then KILL
        try:
            session._qmp._sock.settimeout(0.2)
            session.stop()
        finally:
            if session.process.poll() is None:
                session.process.kill()
                session.process.wait()
    assert session.process.returncode is not None


# --- the full firmware ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled_image(tmp_path_factory) -> Path:
    from edgekit.loaders import load_checkpoint
    from edgekit.models import DEFAULT_MODEL, MODELS_DIR
    from edgekit.pack.packer import pack_model

    model_dir = MODELS_DIR / DEFAULT_MODEL
    if not (model_dir / "model.safetensors").is_file():
        pytest.skip(f"the bundled model {DEFAULT_MODEL} is not in this checkout")
    path = tmp_path_factory.mktemp("image") / f"{DEFAULT_MODEL}.ekm"
    pack_model(load_checkpoint(model_dir), path)
    return path


@needs_arm
def test_full_firmware_serves_the_bundled_model_on_mps3_an547(tmp_path, bundled_image):
    """Runtime + MVE kernels + the mps3-an547 port, the image executed in place from QSPI, the arena in DDR."""
    from edgekit.link.client import DeviceClient

    board = load_board("qemu-mps3-an547")
    cmake_build(FIRMWARE, tmp_path, *board.cmake_args(FIRMWARE), "-DEK_KERNELS=c;mve", target="edgekit_fw")

    qspi = board.region("qspi")
    with start_emulator(board, tmp_path / "edgekit_fw.elf", [(bundled_image, qspi.base)]) as emu:
        with DeviceClient(emu.url) as client:
            identity = client.hello()
            assert identity.model_ok, identity.model_error
            assert identity.board == "qemu-mps3-an547" and identity.clock_hz == board.clock_hz
            assert identity.kernel == "i2:mve"
            done = client.generate([1, 2, 3], max_new_tokens=4).run()
            assert done.generated_tokens == 4 and done.decode_cycles > 0


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None
                    or shutil.which("cmake") is None or shutil.which("ninja") is None,
                    reason="needs aarch64-linux-gnu-gcc, qemu-aarch64, cmake and ninja (make deps)")
def test_posix_port_under_user_mode_serves_the_bundled_model(tmp_path, bundled_image):
    """The Raspberry Pi 4 stand-in: the POSIX port cross-built with aarch64-linux-gnu.cmake (static, NEON, no
    dot product), started by the runner under qemu-aarch64 -cpu cortex-a72, speaking the link over a pty."""
    from edgekit.link.client import DeviceClient

    board = load_board("qemu-rpi4")
    cmake_build(FIRMWARE, tmp_path, *board.cmake_args(FIRMWARE), "-DEK_KERNELS=c;neon", target="edgekit-device")

    args = ["--pty", "--board", board.name, "--clock-hz", str(board.clock_hz), str(bundled_image)]
    with start_user_mode(board, tmp_path / "edgekit-device", args) as device:
        assert device.url.startswith("/dev/pts/")
        with DeviceClient(device.url) as client:
            identity = client.hello()
            assert identity.model_ok and identity.board == "qemu-rpi4" and identity.kernel == "i2:neon"
            assert client.generate([1, 2, 3], max_new_tokens=4).run().generated_tokens == 4
