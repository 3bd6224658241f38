"""Board profiles: every shipped profile validates, facts the planner relies on hold, bad profiles are refused
with an error naming file, field and fix, and the linker script renders the same from Python and CMake."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit.boards import (Board, all_boards, board_details, board_names, board_table, boards_dir, load_board,
                            load_board_file, render_linker_script, write_linker_script)
from edgekit.boards.registry import format_size
from edgekit.errors import EdgekitError
from helpers import normalise_linker_script, port_defaults_build

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"

REQUIRED_BOARDS = {
    "qemu-mps3-an547", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-netduinoplus2", "qemu-rpi5", "qemu-rpi4",
    "qemu-rpi-zero-2w", "rpi5", "rpi4", "rpi-zero-2w", "apple-m", "host", "teensy41", "rp2350-psram",
    "stm32h747-disco",
}
MY_BARE_METAL_PORTS = {"mps3-an547", "mps2", "stm32f4"}

KB, MB = 1 << 10, 1 << 20


def test_every_profile_loads_and_the_required_set_exists():
    boards = all_boards()
    names = {b.name for b in boards}
    assert REQUIRED_BOARDS <= names
    for b in boards:
        assert isinstance(b, Board)
        assert b.source is not None and b.source.parent == boards_dir()
        assert b.memory and b.clock_hz > 0
        assert (b.qemu is not None) == (b.verification == "emulated-and-tested")


def test_bare_metal_ports_exist_for_emulated_cortex_m_boards():
    for b in all_boards():
        if b.qemu is not None and b.qemu.mode == "system":
            assert b.port in MY_BARE_METAL_PORTS
            assert (FIRMWARE / "ports" / b.port / "port.cmake").is_file()
            assert b.layout is not None
            assert b.toolchain.cmake_toolchain and (FIRMWARE / "cmake" / b.toolchain.cmake_toolchain).is_file()


def test_facts_the_planner_relies_on():
    an547 = load_board("qemu-mps3-an547")
    assert an547.cpu.has("mve") and an547.cpu.has("dsp") and not an547.cpu.has("neon")
    qspi, ddr = an547.region("qspi"), an547.region("ddr")
    assert qspi.kind == "xip-flash" and not qspi.writable and qspi.base == 0x28000000 and qspi.size_bytes == 8 * MB
    assert ddr.kind == "psram" and ddr.writable and ddr.size_bytes == 16 * MB
    assert an547.region_at(0x28000010) == qspi and an547.region_at(0x70000000) is None

    assert load_board("qemu-rpi5").cpu.has("dotprod")
    assert not load_board("qemu-rpi4").cpu.has("dotprod") and load_board("qemu-rpi4").cpu.has("neon")
    assert load_board("qemu-rpi5").qemu.cpu == "cortex-a76"
    assert load_board("qemu-rpi4").qemu.cpu == "cortex-a72"
    assert load_board("qemu-rpi-zero-2w").qemu.cpu == "cortex-a53"
    for pi in ("rpi5", "rpi4", "rpi-zero-2w"):
        b = load_board(pi)
        assert b.os == "linux" and b.flasher.kind == "scp-ssh" and "os-counters" in b.power_meters
        assert b.toolchain.compiler == "aarch64-linux-gnu-gcc"
        twin = load_board(f"qemu-{pi}")
        assert twin.cpu.features == b.cpu.features and twin.ram_bytes == b.ram_bytes

    net = load_board("qemu-netduinoplus2")
    assert net.flash_bytes == 1 * MB and net.ram_bytes == 192 * KB and net.region("ccm").size_bytes == 64 * KB
    assert load_board("qemu-mps2-an386").cpu.core == "cortex-m4"
    assert load_board("qemu-mps2-an500").region("psram").base == 0x60000000

    teensy = load_board("teensy41")
    assert teensy.region("psram").size_bytes == 16 * MB and teensy.ram_bytes - 16 * MB == 1 * MB
    rp = load_board("rp2350-psram")
    assert rp.region("flash").size_bytes == 16 * MB and rp.region("psram").size_bytes == 8 * MB
    assert rp.region("sram").size_bytes == 520 * KB
    h7 = load_board("stm32h747-disco")
    assert h7.region("flash").size_bytes == 2 * MB and h7.region("qspi").size_bytes == 128 * MB
    assert sum(r.size_bytes for r in h7.memory if r.kind in ("sram", "tcm")) >= 1 * MB
    assert load_board("apple-m").os == "macos" and load_board("host").toolchain.compiler == "cc"


def test_table_and_details_are_plain_data():
    columns, rows = board_table()
    assert {"name", "core", "ram_bytes", "verification"} <= set(columns)
    assert [r["name"] for r in rows] == board_names()
    details = board_details(load_board("qemu-mps3-an547"))
    assert details["qemu"]["machine"] == "mps3-an547"
    assert details["memory"][0]["base"] == "0x00000000"
    assert format_size(16 * MB) == "16 MB" and format_size(520 * KB) == "520 KB"


def test_unknown_board_names_the_fix():
    with pytest.raises(EdgekitError, match="unknown board 'qemu-mps9'.*edgekit boards"):
        load_board("qemu-mps9")


def test_cmake_args():
    args = load_board("qemu-mps3-an547").cmake_args(FIRMWARE)
    assert "-DEK_PORT=mps3-an547" in args and "-DEK_BOARD=qemu-mps3-an547" in args
    assert any(a.startswith("-DCMAKE_TOOLCHAIN_FILE=") and a.endswith("arm-none-eabi.cmake") for a in args)
    assert "-DEK_CPU_FLAGS=-mcpu=cortex-m55 -mthumb -mfloat-abi=hard" in args


# --- bad profiles ---------------------------------------------------------------------------------------

GOOD = (ROOT / "boards" / "qemu-mps3-an547.toml").read_text()


def _write(tmp_path: Path, text: str, name: str = "qemu-mps3-an547") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str, name: str = "qemu-mps3-an547") -> str:
    path = _write(tmp_path, text, name)
    with pytest.raises(EdgekitError) as info:
        load_board_file(path)
    message = str(info.value)
    assert str(path) in message  # every error names the file
    return message


def test_the_unmodified_copy_loads(tmp_path):
    assert load_board_file(_write(tmp_path, GOOD)).name == "qemu-mps3-an547"


def test_missing_field(tmp_path):
    message = _error(tmp_path, GOOD.replace("clock_hz = 32_000_000\n", ""))
    assert "'cpu.clock_hz' is missing" in message and "add `clock_hz = ...`" in message


def test_missing_memory_field(tmp_path):
    message = _error(tmp_path, GOOD.replace("read_bw_bytes_per_s = 25_000_000\n", "", 1))
    assert "memory[4] (qspi).read_bw_bytes_per_s' is missing" in message


def test_unknown_region_kind(tmp_path):
    message = _error(tmp_path, GOOD.replace('kind = "xip-flash"', 'kind = "nor-flash"'))
    assert "memory[4] (qspi).kind' is 'nor-flash'" in message and "xip-flash" in message


def test_overlapping_regions(tmp_path):
    message = _error(tmp_path, GOOD.replace("base = 0x2100_0000", "base = 0x2007_0000"))
    assert "overlaps" in message and "isram" in message and "dtcm" in message


def test_unknown_field_is_a_typo(tmp_path):
    message = _error(tmp_path, GOOD.replace("clock_hz = 32_000_000", "clock_hz = 32_000_000\nclock_mhz = 32"))
    assert "'cpu.clock_mhz' is not a known field" in message


def test_wrong_type(tmp_path):
    message = _error(tmp_path, GOOD.replace("size_bytes = 8_388_608", 'size_bytes = "8 MB"'))
    assert "size_bytes' must be int" in message


def test_feature_impossible_for_arch(tmp_path):
    message = _error(tmp_path, GOOD.replace('features = ["mve", "dsp", "fpu"]', 'features = ["neon", "fpu"]'))
    assert "cpu.features" in message and "neon" in message


def test_name_must_match_file(tmp_path):
    message = _error(tmp_path, GOOD, name="my-board")
    assert "'name' is 'qemu-mps3-an547' but the file is my-board.toml" in message


def test_emulated_board_needs_qemu_table(tmp_path):
    message = _error(tmp_path, GOOD.split("[qemu]")[0])
    assert "'qemu' is missing" in message


def test_layout_must_name_writable_regions(tmp_path):
    message = _error(tmp_path, GOOD.replace('arena = "ddr"', 'arena = "qspi"'))
    assert "layout.arena" in message and "not writable" in message


def test_invalid_toml(tmp_path):
    message = _error(tmp_path, GOOD + "\n[[memory]\n")
    assert "is not valid TOML" in message


# --- linker scripts ---------------------------------------------------------------------------------------

def test_render_places_sections_and_limits():
    board = load_board("qemu-mps3-an547")
    text = render_linker_script(board, {"arena": "isram"}, stack_bytes=8192, limits={"ddr": (0x100000, 0x200000)})
    assert "} > ISRAM" in text and "__ek_stack_size = 0x2000;" in text
    assert "DDR          (rwx) : ORIGIN = 0x60100000, LENGTH = 0x200000" in text
    assert "QSPI         (rx) : ORIGIN = 0x28000000" in text
    assert "@" not in text.replace("@-delimited", "")


@pytest.mark.parametrize("placements, match", [
    ({"arena": "qspi"}, "not writable"),
    ({"arena": "nowhere"}, "no memory region 'nowhere'"),
    ({"heap": "ddr"}, "unknown section 'heap'"),
])
def test_render_refuses_bad_placements(placements, match):
    with pytest.raises(EdgekitError, match=match):
        render_linker_script(load_board("qemu-mps3-an547"), placements)


def test_render_refuses_boards_without_layout_and_bad_limits():
    with pytest.raises(EdgekitError, match="has no \\[layout\\]"):
        render_linker_script(load_board("rpi5"))
    with pytest.raises(EdgekitError, match="lies outside it"):
        render_linker_script(load_board("qemu-mps3-an547"), limits={"ddr": (0, 32 * MB)})
    full = render_linker_script(load_board("qemu-mps3-an547"), limits={"qspi": (0, 0)})  # images fill the QSPI
    assert "QSPI         (rx) : ORIGIN = 0x28000000, LENGTH = 0x0" in full


def test_write_is_atomic_and_complete(tmp_path):
    out = write_linker_script(tmp_path / "sub" / "fw.ld", load_board("qemu-mps2-an386"))
    assert out.read_text().startswith("/* Linker script") and list(out.parent.iterdir()) == [out]


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs cmake and arm-none-eabi-gcc")
@pytest.mark.parametrize("name", ["qemu-mps3-an547", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-netduinoplus2",
                                  "stm32h747-disco", "rp2350-psram", "teensy41"])
def test_cmake_defaults_render_the_same_script_as_python(tmp_path, name):
    """A firmware built without a plan links exactly like the Python renderer's default for the board."""
    board = load_board(name)
    from_cmake = (port_defaults_build(board, tmp_path) / "port_echo.ld").read_text()
    assert normalise_linker_script(from_cmake) == normalise_linker_script(render_linker_script(board))


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("clang") is None, reason="needs cmake and clang")
def test_apple_toolchain_without_sdk_names_the_fix(tmp_path):
    """Cross-building apple-m needs Apple's SDK; without one the toolchain file says so instead of failing oddly."""
    import platform

    if platform.system() == "Darwin":
        pytest.skip("native macOS builds need no SDK path")
    args = load_board("apple-m").cmake_args(FIRMWARE)
    result = subprocess.run(["cmake", "-S", str(FIRMWARE), "-B", str(tmp_path), *args], capture_output=True, text=True)
    assert result.returncode != 0
    assert "EK_MACOS_SDK" in result.stderr and "xcrun --show-sdk-path" in result.stderr


def test_every_board_generates_and_apple_m_build_says_where_it_builds(tmp_path):
    """gen works for every profile offline (the bundled model, or a fixture where it cannot fit); apple-m's build
    needs the macOS SDK: one line saying so, not a CMake log."""
    import platform

    import edgekit
    from click.testing import CliRunner

    from edgekit.cli import cli
    from edgekit.gen.project import generate_project
    from edgekit.models import DEFAULT_MODEL

    bundled = edgekit.load(DEFAULT_MODEL)
    fixture = edgekit.load(ROOT / "tests" / "fixtures" / "bitlinear-tied-gqa1")
    for board in all_boards():
        model = bundled if board.name != "qemu-netduinoplus2" else fixture  # 1 MB of flash: the fixture fits
        project = generate_project(model, board, tmp_path / board.name, ctx=64)
        assert (project.path / "manifest.json").is_file()
    if platform.system() != "Darwin":
        res = CliRunner().invoke(cli, ["build", str(tmp_path / "apple-m")])
        assert res.exit_code == 2 and "builds on a Mac" in res.output and "--board rpi5" in res.output
        assert len(res.output.strip().splitlines()) == 1


def test_generated_board_profiles_are_current(tmp_path):
    """Each port's ek_board_profile.h/.cmake is what edgekit.gen.board_profile makes from boards/*.toml now."""
    from edgekit.gen import board_profile

    board_profile.main([str(tmp_path)])
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh, "the generator wrote nothing"
    for rel in fresh:
        committed = FIRMWARE / rel
        assert committed.is_file() and committed.read_text() == (tmp_path / rel).read_text(), \
            f"firmware/{rel} is stale: run python -m {board_profile.GENERATOR}"


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C preprocessor")
@pytest.mark.parametrize("name", [b.name for b in all_boards() if b.os == "none"])
def test_board_profile_header_states_the_profile(name):
    """What the C preprocessor makes of the port's generated header, with the board's macro defined, is the
    profile's numbers: every region, the link UART, clock, arena and [port_config] (and nothing of another board)."""
    from edgekit.gen.board_profile import board_macro

    board = load_board(name)
    header = FIRMWARE / "ports" / board.port / "ek_board_profile.h"
    out = subprocess.run(["cc", "-E", "-dM", f"-D{board_macro(board)}", "-x", "c", str(header)],
                         capture_output=True, text=True, check=True).stdout
    macros = dict(re.findall(r"^#define (EK_\w+) (.+)$", out, re.M))
    want = {"EK_PORT_DEFAULT_BOARD_NAME": f'"{board.name}"', "EK_PORT_DEFAULT_CLOCK_HZ": f"{board.cpu.clock_hz}u",
            "EK_PORT_DEFAULT_UART_BASE": f"0x{board.link.uart_base:08X}u",
            "EK_PORT_DEFAULT_ARENA_SIZE": f"0x{board.layout.arena_bytes:08X}u"}
    for r in board.memory:
        want[f"EK_MEM_{r.name.upper()}_BASE"] = f"0x{r.base:08X}u"
        want[f"EK_MEM_{r.name.upper()}_SIZE"] = f"0x{r.size_bytes:08X}u"
    want.update({f"EK_PORT_CFG_{k.upper()}": f"{v}u" for k, v in board.port_config.items()})
    assert {k: macros.get(k) for k in want} == want
    regions = {k for k in macros if k.startswith("EK_MEM_")}
    assert regions == {k for k in want if k.startswith("EK_MEM_")}  # no region of another board leaks in
    missing = subprocess.run(["cc", "-E", "-x", "c", str(header)], capture_output=True, text=True)
    assert missing.returncode != 0 and board_macro(board) in missing.stderr  # no board selected: refused


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs cmake and arm-none-eabi-gcc")
def test_a_port_refuses_a_board_it_has_no_profile_for(tmp_path):
    board = load_board("qemu-mps2-an386")
    args = [a if not a.startswith("-DEK_BOARD=") else "-DEK_BOARD=qemu-mps3-an547" for a in board.cmake_args(FIRMWARE)]
    r = subprocess.run(["cmake", "-S", str(FIRMWARE / "tests" / "port_echo"), "-B", str(tmp_path), *args],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "port mps2: unknown EK_BOARD 'qemu-mps3-an547' (its profiles: qemu-mps2-an386;qemu-mps2-an500)" in \
        " ".join(r.stderr.split())
