"""The flasher table (edgekit/flash/flashers.py): `edgekit flash --dry-run` for every board in boards/, the command
lines each flasher kind runs, the real tools failing cleanly (one line, exit 2) with no board attached, the install
hint for a missing tool, time limits and retries."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_flash_files import build_elf

from edgekit.boards import board_names, load_board
from edgekit.cli import cli
from edgekit.errors import EdgekitError
from edgekit.flash import flashers
from edgekit.flash.tools import run_tool

APT = {"teensy_loader_cli": "teensy-loader-cli", "openocd": "openocd"}


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"missing {tool}: run `make deps` (apt: {APT[tool]})")
    return path


def _image_region(board):
    """Where a part of this board would be planned: a region the board's loader/flasher/OS fills."""
    order = ("flasher", "qemu-loader", "elf", "file")
    return min((r for r in board.memory if r.programmed_by in order), key=lambda r: order.index(r.programmed_by))


def synthetic_project(tmp: Path, board_name: str, *, elf: Path | None = None, part_bytes: int = 3000) -> Path:
    """A project directory as `edgekit gen` lays it out (manifest.json, one image part), without the model: for
    boards whose ports cannot be built here and for the flasher runs."""
    board = load_board(board_name)
    project = tmp / board_name
    project.mkdir(parents=True)
    region = _image_region(board)
    address = region.base if board.os != "none" else region.end - 0x1000 * ((part_bytes + 0xFFF) // 0x1000)
    (project / "model.part0.ekm").write_bytes(bytes((i * 13) & 0xFF for i in range(part_bytes)))
    manifest = {"board": board_name, "port": board.port, "plan": {"ctx": 64},
                "images": [{"file": "model.part0.ekm", "region": region.name, "address": address,
                            "size_bytes": part_bytes}]}
    (project / "manifest.json").write_text(json.dumps(manifest))
    if elf is not None:
        dest = project / "build" / "firmware" / "edgekit_fw.elf"
        dest.parent.mkdir(parents=True)
        shutil.copy(elf, dest)
    return project


def cli_run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- dry run, every board -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", board_names())
def test_dry_run_lists_the_exact_commands(tmp_path, name):
    board = load_board(name)
    project = synthetic_project(tmp_path, name)
    part = project / "model.part0.ekm"
    address = json.loads((project / "manifest.json").read_text())["images"][0]["address"]
    res = cli_run("flash", project, "--dry-run")
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    commands = [shlex.split(line) for line in lines]
    assert commands == flashers.dry_run_commands(project) or board.flasher.kind == "scp-ssh"  # ssh: a fresh port
    elf = str(project.resolve() / "build" / "firmware" / ("edgekit-device" if board.port == "posix"
                                                           else "edgekit_fw.elf"))
    kind = board.flasher.kind
    flat = [a for c in commands for a in c]
    if kind == "qemu":
        (cmd,) = commands
        assert cmd[0] == board.qemu.binary and cmd[cmd.index("-kernel") + 1] == elf
        assert f"loader,file={part.resolve()},addr={address:#x},force-raw=on" in cmd
    elif kind in ("none", "qemu-user"):
        (cmd,) = commands
        assert cmd[0] == (elf if kind == "none" else board.qemu.binary)
        assert cmd[-1] == str(part.resolve()) and cmd[cmd.index("--board") + 1] == name
    elif kind == "scp-ssh":
        assert commands[0][0] == "ssh" and any(c[0] == "scp" and elf in c for c in commands)
    elif kind == "openocd":
        (cmd,) = commands
        assert cmd[0] == "openocd" and "-f" in cmd
        scripts = cmd[:]
        assert f"flash write_image erase {{{elf}}}" in scripts and f"verify_image {{{elf}}}" in scripts
        assert f"flash write_image erase {{{part.resolve()}}} {address:#x} bin" in scripts
        assert f"verify_image {{{part.resolve()}}} {address:#x} bin" in scripts
        assert scripts[-4:] == ["-c", "reset run", "-c", "shutdown"]
    elif kind == "picotool":
        assert commands == [["picotool", "load", "-v", "-x", "-t", "uf2", elf[:-4] + ".uf2"]]
    elif kind == "teensy_loader":
        assert commands == [["teensy_loader_cli", "--mcu=TEENSY41", "-v", elf[:-4] + ".hex"]]
        assert "-w" not in flat  # -w waits for a board without any limit
    else:
        pytest.fail(f"no expectation for flasher kind {kind}")


def test_dry_run_qemu_tcp_and_marker(tmp_path):
    project = synthetic_project(tmp_path, "qemu-mps3-an547")
    (cmd,) = flashers.dry_run_commands(project, link="tcp", icount_shift=3, marker="unix:/tmp/meter.sock")
    assert cmd[cmd.index("-serial") + 1] == f"tcp:127.0.0.1:{flashers.QEMU_RUNTIME_PORT},server=on,wait=off,nodelay=on"
    assert "unix:/tmp/meter.sock" in cmd and cmd[cmd.index("-icount") + 1] == "shift=3"


def test_dry_run_matches_what_the_host_device_start_runs(tmp_path, monkeypatch):
    """The dry run and DeviceProcess.start build the same argv (the dry run copies its layout)."""
    project = synthetic_project(tmp_path, "host")
    binary = project / "build" / "firmware" / "edgekit-device"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"")
    seen = {}

    class Ran(Exception):
        pass

    def fake_popen(cmd, **kw):
        seen["cmd"] = cmd
        raise Ran

    import edgekit.link.device_process as dp
    from edgekit.flash.device import open_device

    monkeypatch.setattr(dp.subprocess, "Popen", fake_popen)
    for link in ("pty", "tcp"):
        with pytest.raises(Ran):
            open_device(project, link=link, threads=2)
        assert seen["cmd"] == flashers.dry_run_commands(project, link=link, threads=2)[0]


def test_dry_run_matches_what_the_emulator_start_runs(tmp_path, monkeypatch):
    _need_qemu = shutil.which("qemu-system-arm")
    if _need_qemu is None:
        pytest.fail("missing qemu-system-arm: run `make deps` (apt: qemu-system-arm)")
    project = synthetic_project(tmp_path, "qemu-mps3-an547")
    elf = project / "build" / "firmware" / "edgekit_fw.elf"
    elf.parent.mkdir(parents=True)
    elf.write_bytes(b"\x7fELF")
    seen = {}

    class Ran(Exception):
        pass

    def fake_session(board, args, link, tmpdir, qmp_path, *rest):
        seen.update(args=args, qmp=qmp_path)
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise Ran

    import edgekit.flash.qemu as q
    from edgekit.flash.device import open_device

    monkeypatch.setattr(q, "EmulatorSession", fake_session)
    with pytest.raises(Ran):
        open_device(project, icount_shift=2)
    args = [("qemu-system-arm" if i == 0 else a.replace(seen["qmp"], f"{flashers.QEMU_RUNTIME_TMP}/qmp.sock"))
            for i, a in enumerate(seen["args"])]
    assert args == flashers.dry_run_commands(project, icount_shift=2)[0]


# --- the command builders, per kind ---------------------------------------------------------------------------

def _with_flasher(board_name: str, **flasher):
    import dataclasses

    from edgekit.boards import Flasher

    board = load_board(board_name)
    return dataclasses.replace(board, flasher=Flasher(kind=flasher.pop("kind"), options=flasher))


def test_openocd_board_script_and_refusals(tmp_path):
    elf, part = tmp_path / "fw.elf", tmp_path / "p.ekm"
    for name in ("stm32h747i-disco.cfg", "board/stm32h747i-disco.cfg"):  # the folder is optional
        board = _with_flasher("stm32h747-disco", kind="openocd", board=name)
        (step,) = flashers.flash_steps(board, tmp_path, elf, [(part, 0x90000000)])
        assert step.argv[:3] == ["openocd", "-f", "board/stm32h747i-disco.cfg"]
    pair = _with_flasher("stm32h747-disco", kind="openocd", interface="stlink.cfg", target="stm32h7x.cfg")
    assert flashers.flash_steps(pair, tmp_path, elf, [])[0].argv[:5] == [
        "openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32h7x.cfg"]
    assert f"flash write_image erase {{{part}}} 0x90000000 bin" in step.argv
    for bad, match in (({"board": "x.cfg", "target": "y.cfg"}, "both board and"),
                       ({"interface": "stlink.cfg"}, "needs board"),
                       ({"board": "../../etc/passwd.cfg"}, "not a plain name"),
                       ({"board": "target/x.cfg"}, "not a plain name"),
                       ({"board": "a.cfg; shutdown"}, "not a plain name"),
                       ({"speed": "4000", "board": "a.cfg"}, "'speed' is not one")):
        with pytest.raises(EdgekitError, match=match):
            flashers.flash_steps(_with_flasher("stm32h747-disco", kind="openocd", **bad), tmp_path, elf, [])
    weird = tmp_path / "a{b}"
    with pytest.raises(EdgekitError, match="OpenOCD cannot be given this path"):
        flashers.flash_steps(board, weird, weird / "fw.elf", [])


def test_pyocd_and_platformio_rows(tmp_path):
    elf, part = tmp_path / "fw.elf", tmp_path / "p.ekm"
    board = _with_flasher("stm32h747-disco", kind="pyocd", target="stm32h747xihx")
    steps = flashers.flash_steps(board, tmp_path, elf, [(part, 0x90000000)])
    assert [s.argv for s in steps] == [
        ["pyocd", "load", "--target", "stm32h747xihx", "--format", "elf", "--", str(elf)],
        ["pyocd", "load", "--target", "stm32h747xihx", "--format", "bin", "--base-address", "0x90000000", "--",
         str(part)]]
    pio = _with_flasher("stm32h747-disco", kind="platformio")
    assert flashers.flash_steps(pio, tmp_path, elf, [])[0].argv == ["pio", "run", "-d", str(tmp_path), "-t", "upload"]
    with pytest.raises(EdgekitError, match="writes only the firmware"):
        flashers.flash_steps(pio, tmp_path, elf, [(part, 0x90000000)])


def test_every_row_is_complete_and_its_commands_say_what_the_row_says(tmp_path):
    elf = tmp_path / "fw.elf"
    for kind, row in flashers.FLASHERS.items():
        assert row.kind == kind and row.tool and row.install and row.verify
        assert row.flash_file in (None, "uf2", "hex")
        assert row.diagnoses, f"{kind}: no known 'no board' output"
        opts = {"openocd": {"board": "stm32h747i-disco.cfg"}, "pyocd": {"target": "stm32h747xihx"}}.get(kind, {})
        board = _with_flasher("stm32h747-disco", kind=kind, **opts)
        for step in flashers.flash_steps(board, tmp_path, elf, []):
            assert step.argv[0] == row.tool
            assert ("--" in step.argv) == row.double_dash, f"{kind}: `--` use disagrees with the table"
            if row.flash_file:
                assert step.argv[-1] == str(elf.with_suffix("." + row.flash_file))


# --- running the real tools with no board attached ------------------------------------------------------------

def _real_project(tmp_path, board_name, flash_base):
    from edgekit.flash.flashers import write_flash_file

    elf = build_elf(tmp_path, flash_base)
    project = synthetic_project(tmp_path, board_name, elf=elf)
    manifest = json.loads((project / "manifest.json").read_text())
    board = load_board(board_name)
    write_flash_file(board, project / "build" / "firmware" / "edgekit_fw.elf",
                     [(project / i["file"], i["address"]) for i in manifest["images"]])
    return project


def _one_line_exit_2(res, *needles):
    assert res.exit_code == 2, res.output
    text = res.output.strip()
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text


def test_teensy_loader_without_a_teensy_says_press_the_button(tmp_path):
    _need("teensy_loader_cli")
    project = _real_project(tmp_path, "teensy41", 0x60000000)
    assert (project / "build" / "firmware" / "edgekit_fw.hex").is_file()
    _one_line_exit_2(cli_run("flash", project), "no Teensy in bootloader mode", "press the program button")


def test_openocd_without_a_probe_names_the_st_link(tmp_path):
    _need("openocd")
    project = _real_project(tmp_path, "stm32h747-disco", 0x08000000)
    _one_line_exit_2(cli_run("flash", project), "no ST-LINK debug probe found", "ST-LINK USB")


def test_missing_picotool_gives_the_install_hint(tmp_path, monkeypatch):
    project = _real_project(tmp_path, "rp2350-psram", 0x10000000)
    assert (project / "build" / "firmware" / "edgekit_fw.uf2").is_file()
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # picotool is not packaged by Debian; make sure none is found
    _one_line_exit_2(cli_run("flash", project), "picotool not found", "github.com/raspberrypi/picotool")


def test_a_stale_flash_file_is_refused(tmp_path):
    project = _real_project(tmp_path, "teensy41", 0x60000000)
    hexfile = project / "build" / "firmware" / "edgekit_fw.hex"
    os.utime(hexfile, (1, 1))
    _one_line_exit_2(cli_run("flash", project), "older than the firmware", "edgekit build")


# --- time limits and retries ----------------------------------------------------------------------------------

def test_a_tool_that_never_finishes_is_stopped():
    with pytest.raises(EdgekitError, match="did not finish within"):
        run_tool([sys.executable, "-c", "import time; time.sleep(60)"], "sleeper", timeout_s=0.5)


def test_transient_failures_are_retried_and_others_are_not(tmp_path):
    import re

    counter = tmp_path / "attempts"
    script = (f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text() or 0) if p.exists() else 0; "
              "p.write_text(str(n+1)); sys.exit(0) if n else (print('Error: LIBUSB_ERROR_TIMEOUT'), sys.exit(1))")
    transient = re.compile("LIBUSB_ERROR_TIMEOUT")
    run_tool([sys.executable, "-c", script], "flaky", transient=transient, retries=1)
    assert counter.read_text() == "2"
    counter.unlink()
    with pytest.raises(EdgekitError, match=r"flaky failed \(exit 1\): Error: LIBUSB_ERROR_TIMEOUT"):
        run_tool([sys.executable, "-c", script], "flaky", transient=transient, retries=0)
