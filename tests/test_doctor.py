"""`edgekit doctor`: tools found or missing (with the install command) on a PATH we control, per-board readiness
read from the profiles, the self-test, and the exit status."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BOARD_TOOLS = ("arm-none-eabi-gcc", "cmake", "qemu-system-arm")


def doctor(*args):
    res = CliRunner().invoke(cli, ["doctor", *map(str, args)])
    assert res.exit_code in (0, 1), res.output
    return res


def path_with(tmp_path: Path, tools, extra: dict[str, str] | None = None) -> str:
    """A PATH holding only `tools` (links to the real ones) and `extra` scripts (name -> shell body)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in (extra or {}).items():
        script = bin_dir / name
        script.write_text("#!/bin/sh\n" + body + "\n")
        script.chmod(0o755)
    return str(bin_dir)


needs_default_tools = pytest.mark.skipif(any(shutil.which(t) is None for t in DEFAULT_BOARD_TOOLS),
                                         reason=f"needs {', '.join(DEFAULT_BOARD_TOOLS)}")


@needs_default_tools
def test_default_board_ready_exit_0_with_versions_and_self_test():
    res = doctor("--json")
    data = json.loads(res.stdout)
    assert res.exit_code == 0 and data["ok"], res.stdout
    tools = {t["name"]: t for t in data["tools"]}
    for name in DEFAULT_BOARD_TOOLS:
        assert tools[name]["found"] and tools[name]["path"] == shutil.which(name) and tools[name]["version"]
    assert tools["arm-none-eabi-gcc"]["compiles"] is True
    board = next(b for b in data["boards"] if b["name"] == "qemu-mps3-an547")
    assert board["ready"] and board["missing"] == []
    tests = {t["name"]: t for t in data["self_test"]}
    assert tests["reference generate"]["ok"] and tests["compile with arm-none-eabi-gcc"]["ok"]
    assert {b["name"] for b in data["boards"]} == {p.stem for p in (ROOT / "boards").glob("*.toml")}


@needs_default_tools
def test_a_hidden_compiler_is_missing_with_its_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", path_with(tmp_path, ["cmake", "qemu-system-arm"]))
    res = doctor("-b", "qemu-mps3-an547", "--json")
    data = json.loads(res.stdout)
    assert res.exit_code == 1 and not data["ok"]
    tool = next(t for t in data["tools"] if t["name"] == "arm-none-eabi-gcc")
    assert not tool["found"] and tool["install"] == "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
    board = data["boards"][0]
    assert not board["ready"] and board["missing"] == ["arm-none-eabi-gcc"]
    assert "ninja" in board["missing_optional"]  # hidden too, but only optional
    text = doctor("-b", "qemu-mps3-an547", "--no-self-test").stdout
    assert "gcc-arm-none-eabi libnewlib-arm-none-eabi" in text and "not ready" in text


@needs_default_tools
def test_a_compiler_that_cannot_compile_fails_the_self_test(tmp_path, monkeypatch):
    # present and answering --version, but its C library is missing: what a half-installed toolchain does
    broken = 'case "$1" in --version) echo "arm-none-eabi-gcc (fake) 12.2.1";; ' \
             '*) echo "doctor.c:2:10: fatal error: string.h: No such file or directory" >&2; exit 1;; esac'
    monkeypatch.setenv("PATH", path_with(tmp_path, ["cmake", "qemu-system-arm"], {"arm-none-eabi-gcc": broken}))
    data = json.loads(doctor("-b", "qemu-mps3-an547", "--json").stdout)
    assert not data["ok"]
    test = next(t for t in data["self_test"] if t["name"] == "compile with arm-none-eabi-gcc")
    assert not test["ok"] and "string.h" in test["detail"]
    assert data["boards"][0]["missing"][0].startswith("arm-none-eabi-gcc cannot compile")
    ok = json.loads(doctor("-b", "qemu-mps3-an547", "--no-self-test", "--json").stdout)
    assert ok["ok"]  # without the self-test the tool looks present: the self-test is what catches it


def test_flashers_and_their_install_commands_come_from_the_flasher_table():
    from edgekit.boards import load_board
    from edgekit.doctor import board_needs
    from edgekit.flash.flashers import FLASHERS

    teensy = {n.tool.name: n for n in board_needs(load_board("teensy41"))}
    assert teensy["teensy_loader_cli"].required and "teensy-loader-cli" in FLASHERS["teensy_loader"].install
    assert teensy["teensy_loader_cli"].tool.install == "sudo apt-get install teensy-loader-cli"
    pico = {n.tool.name: n for n in board_needs(load_board("rp2350-psram"))}
    assert "github.com/raspberrypi/picotool" in pico["picotool"].tool.install  # Debian has no package
    rpi = {n.tool.name for n in board_needs(load_board("rpi5")) if n.required}
    assert {"aarch64-linux-gnu-gcc", "ssh", "scp", "cmake"} <= rpi
    qemu_pi = {n.tool.name for n in board_needs(load_board("qemu-rpi5")) if n.required}
    assert "qemu-aarch64" in qemu_pi
    meters = {n.tool.name: n for n in board_needs(load_board("qemu-mps3-an547"))}
    assert not meters["ppk2-api"].required and meters["ppk2-api"].tool.install == "pip install 'edgekit[power]'"


def test_needs_follow_the_profile(tmp_path, monkeypatch):
    """Change a profile's flasher and the tool doctor asks for changes with it (no second list)."""
    boards = tmp_path / "boards"
    boards.mkdir()
    text = (ROOT / "boards" / "teensy41.toml").read_text()
    text = text.replace('kind = "teensy_loader"\nmcu = "TEENSY41"', 'kind = "pyocd"\ntarget = "mimxrt1060"')
    (boards / "teensy41.toml").write_text(text)
    monkeypatch.setenv("EDGEKIT_BOARDS_DIR", str(boards))
    monkeypatch.setenv("PATH", path_with(tmp_path, []))
    data = json.loads(doctor("--no-self-test", "--json").stdout)
    board = data["boards"][0]
    assert board["name"] == "teensy41" and "pyocd" in board["missing"] and "teensy_loader_cli" not in board["missing"]
    pyocd = next(t for t in data["tools"] if t["name"] == "pyocd")
    assert pyocd["install"] == "pip install pyocd"
    # without the demo board among the profiles, every profile decides the exit status
    assert data["checked_for_exit_status"] == ["teensy41"] and not data["ok"]


def test_unknown_board_is_one_line():
    res = CliRunner().invoke(cli, ["doctor", "-b", "no-such-board"])
    assert res.exit_code == 2 and res.stderr.startswith("edgekit: error: unknown board")


def test_macos_board_needs_an_sdk_that_has_headers(tmp_path, monkeypatch):
    import platform

    if platform.system() == "Darwin":
        pytest.skip("on a Mac the apple-m board builds with the system SDK")
    empty = tmp_path / "Empty.sdk"
    empty.mkdir()
    monkeypatch.setenv("EDGEKIT_MACOS_SDK", str(empty))
    board = json.loads(doctor("-b", "apple-m", "--no-self-test", "--json").stdout)["boards"][0]
    assert "macOS SDK" in board["missing"] and "holds no usr/include/stdint.h" in board["note"]
    (empty / "usr" / "include").mkdir(parents=True)
    (empty / "usr" / "include" / "stdint.h").write_text("/* stand-in */\n")
    board = json.loads(doctor("-b", "apple-m", "--no-self-test", "--json").stdout)["boards"][0]
    assert "macOS SDK" not in board["missing"]
