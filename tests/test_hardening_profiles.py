"""Board profiles and project folders are untrusted input (issue: hardening).

Nothing from a board profile reaches a shell, CMake or a path unchecked; `gen -o` replaces only a folder it can
prove it wrote and keeps what the user added there; a project's manifest cannot point outside the project.
Every refusal is one line naming the file and field, exit 2 from the CLI, and nothing runs.
"""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgekit
from edgekit.boards import load_board
from edgekit.boards.registry import load_board_file
from edgekit.cli import cli
from edgekit.errors import EdgekitError
from edgekit.gen.project import _cmake_string, generate_project, read_manifest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "bitlinear-tied-gqa1"
MPS3 = (ROOT / "boards" / "qemu-mps3-an547.toml").read_text()
RPI5 = (ROOT / "boards" / "rpi5.toml").read_text()
STM32 = (ROOT / "boards" / "stm32h747-disco.toml").read_text()


def _refused(tmp_path: Path, text: str, name: str, field: str) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    with pytest.raises(EdgekitError) as info:
        load_board_file(path)
    message = str(info.value)
    assert str(path) in message and field in message, message
    return message


# --- every field that reaches a tool --------------------------------------------------------------------------

CMAKE_INJECTION = '-mcpu=cortex-m55\\")\\nexecute_process(COMMAND touch /tmp/pwned)\\n#'


@pytest.mark.parametrize("old,new,field", [
    # cpu_flags go on every compile and into the generated CMakeLists: -m options only, no quotes or newlines
    ('"-mcpu=cortex-m55", "-mthumb"', f'"{CMAKE_INJECTION}", "-mthumb"', "toolchain.cpu_flags"),
    ('"-mthumb"', '"-fplugin=/tmp/evil.so"', "toolchain.cpu_flags"),
    ('"-mthumb"', '"-Wl,--wrap=main"', "toolchain.cpu_flags"),
    ('"-mthumb"', '"-include/etc/passwd"', "toolchain.cpu_flags"),
    # the port is a directory name: never a path out of firmware/ports
    ('port = "mps3-an547"', 'port = "../../../etc"', "'port'"),
    ('cmake_toolchain = "arm-none-eabi.cmake"', 'cmake_toolchain = "../../evil.cmake"', "toolchain.cmake_toolchain"),
    # QEMU options can run programs (-netdev ...,script=) or read files: only a harmless few pass
    ('options = []', 'options = ["-netdev", "tap,id=n,script=/tmp/x.sh"]', "qemu.options"),
    ('options = []', 'options = ["-smp", "2;reboot"]', "qemu.options"),
    ('binary = "qemu-system-arm"', 'binary = "/tmp/fake-qemu"', "qemu.binary"),
    ('machine = "mps3-an547"', 'machine = "mps3-an547,accel=x -plugin"', "qemu.machine"),
    # written into C comments and CMake strings
    ('uart = "UART0"', 'uart = "UART0 */ #include </etc/passwd> /*"', "link.uart"),
    ('description = "QEMU', 'description = "line\\nbreak QEMU', "'description'"),
])
def test_tool_facing_fields_are_pattern_checked(tmp_path, old, new, field):
    assert old in MPS3
    _refused(tmp_path, MPS3.replace(old, new, 1), "qemu-mps3-an547", field)


@pytest.mark.parametrize("old,new,field", [
    # an ssh destination starting with - is an option (ProxyCommand runs a local command)
    ('host = "raspberrypi.local"', 'host = "-oProxyCommand=touch /tmp/pwned"', "flasher.host"),
    ('host = "raspberrypi.local"', 'host = "pi.local some-command"', "flasher.host"),
    ('user = "pi"', 'user = "-F/tmp/cfg"', "flasher.user"),
    # remote_dir goes into the remote shell: plain relative components only
    ('remote_dir = "edgekit"', 'remote_dir = "edgekit; rm -rf ~"', "flasher.remote_dir"),
    ('remote_dir = "edgekit"', 'remote_dir = "../../etc"', "flasher.remote_dir"),
    ('remote_dir = "edgekit"', 'remote_dir = "/etc"', "flasher.remote_dir"),
    ('remote_dir = "edgekit"', 'remote_dir = "$(reboot)"', "flasher.remote_dir"),
    ('remote_dir = "edgekit"', 'remote_dir = "edgekit"\ntcp_port = 70000', "flasher.tcp_port"),
    ('remote_dir = "edgekit"', 'remote_dir = "edgekit"\nproxy = "x"', "flasher.proxy"),  # unknown option
])
def test_ssh_flasher_options_are_pattern_checked(tmp_path, old, new, field):
    assert old in RPI5
    _refused(tmp_path, RPI5.replace(old, new, 1), "rpi5", field)


def test_openocd_scripts_are_names_from_its_search_path(tmp_path):
    # OpenOCD scripts are Tcl: a profile may only name scripts from OpenOCD's own search path
    head, rest = STM32.split("[flasher]", 1)
    tail = rest[rest.index("\n["):]
    for hostile in ('board = "/tmp/evil.cfg"', 'interface = "../../tmp/evil.cfg"', 'target = "x.tcl"'):
        text = head + '[flasher]\nkind = "openocd"\n' + hostile + "\n" + tail
        _refused(tmp_path, text, "stm32h747-disco", "flasher." + hostile.split(" ")[0])


def test_port_config_is_small_integers_with_plain_names(tmp_path):
    ok = load_board_file(_write(tmp_path, MPS3 + "\n[port_config]\npsram_cs_gpio = 47\nhas_psram = true\n"))
    assert ok.port_config == {"psram_cs_gpio": 47, "has_psram": 1}
    _refused(tmp_path, MPS3 + '\n[port_config]\n"x */ #define" = 1\n', "qemu-mps3-an547", "port_config")
    _refused(tmp_path, MPS3 + '\n[port_config]\ncs = "47"\n', "qemu-mps3-an547", "port_config.cs")
    _refused(tmp_path, MPS3 + "\n[port_config]\ncs = 4294967296\n", "qemu-mps3-an547", "port_config.cs")


def _write(tmp_path: Path, text: str, name: str = "qemu-mps3-an547") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_cli_refuses_a_hostile_profile_in_one_line_and_runs_nothing(tmp_path):
    pwned = tmp_path / "pwned"
    path = _write(tmp_path, RPI5.replace('host = "raspberrypi.local"', f'host = "-oProxyCommand=touch {pwned}"'),
                  "rpi5")
    res = CliRunner().invoke(cli, ["plan", str(FIXTURE), "--board", str(path)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) <= 2
    assert "flasher.host" in res.output
    assert not pwned.exists()


def test_cmake_strings_cannot_end_the_string_or_expand_variables():
    assert _cmake_string("cortex-m7") == '"cortex-m7"'
    assert _cmake_string('a"b$c\\d@') == '"a\\"b\\$c\\\\d\\@"'
    for bad in ("a;b", "a\nb", "a\rb"):
        with pytest.raises(EdgekitError):
            _cmake_string(bad)


# --- gen -o: only its own folders, never the user's files -----------------------------------------------------

@pytest.fixture(scope="module")
def model():
    return edgekit.load(FIXTURE)


def test_a_folder_with_someone_elses_manifest_is_not_replaced(model, tmp_path):
    board = load_board("qemu-mps3-an547")
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"name": "a web app", "version": 3}))
    (other / "index.html").write_text("mine")
    with pytest.raises(EdgekitError, match="not an edgekit project"):
        generate_project(model, board, other)
    assert (other / "index.html").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs"]


def test_regenerating_keeps_files_the_user_added(model, tmp_path):
    board = load_board("qemu-mps3-an547")
    out = tmp_path / "p"
    generate_project(model, board, out, ctx=128)
    (out / "NOTES.md").write_text("my notes")
    (out / "firmware" / "ports" / "mine").mkdir(parents=True)
    (out / "firmware" / "ports" / "mine" / "board.c").write_text("int x;")
    (out / "build").mkdir()
    (out / "build" / "cache.txt").write_text("incremental")
    generate_project(model, board, out, ctx=64)
    assert "#define EK_MAX_CTX 64u" in (out / "ek_config.h").read_text()
    assert (out / "NOTES.md").read_text() == "my notes"
    assert (out / "firmware" / "ports" / "mine" / "board.c").read_text() == "int x;"
    assert (out / "build" / "cache.txt").read_text() == "incremental"
    # what the user added is still theirs: the new manifest does not claim it
    assert "NOTES.md" not in read_manifest(out)["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_an_edited_generated_file_is_never_overwritten(model, tmp_path):
    board = load_board("qemu-mps3-an547")
    out = tmp_path / "p"
    generate_project(model, board, out, ctx=128)
    header = out / "ek_config.h"
    header.write_text(header.read_text() + "#define MY_TUNING 1\n")
    with pytest.raises(EdgekitError, match="ek_config.h changed since"):
        generate_project(model, board, out, ctx=64)
    assert "MY_TUNING" in header.read_text() and "EK_MAX_CTX 128u" in header.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_gen_refuses_a_file_as_output_directory(model, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(EdgekitError, match="not a directory"):
        generate_project(model, load_board("qemu-mps3-an547"), target)
    assert target.read_text() == "x"


# --- a project's manifest is untrusted too ------------------------------------------------------------------

@pytest.mark.parametrize("mutate,what", [
    (lambda m: m["images"][0].update(file="../../../etc/passwd"), "images[0]"),
    (lambda m: m["images"][0].update(file="/etc/shadow.ekm"), "images[0]"),
    (lambda m: m["images"][0].update(address="0x1000"), "images[0]"),
    (lambda m: m.update(board="../boards/evil"), "'board'"),
    (lambda m: m.update(port="posix; rm -rf /"), "'port'"),
    (lambda m: m.update(images=[]), "'images'"),
    (lambda m: m.update(plan=None), "'plan'"),
])
def test_manifest_cannot_point_outside_the_project(model, tmp_path, mutate, what):
    out = tmp_path / "p"
    generate_project(model, load_board("qemu-mps3-an547"), out)
    manifest = json.loads((out / "manifest.json").read_text())
    mutate(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EdgekitError) as info:
        read_manifest(out)
    assert what in str(info.value) and "manifest.json" in str(info.value)
    res = CliRunner().invoke(cli, ["build", str(out)])
    assert res.exit_code == 2 and what in res.output and "Traceback" not in res.output
