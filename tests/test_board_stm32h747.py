"""stm32h747-disco (STM32H747I-DISCO, Cortex-M7): the register-level port builds offline from a generated project,
its ELF lies where the board's [layout] and the plan say, the vector table boots, and the clock tree, flash wait
states, SDRAM timings and QUADSPI settings the firmware programs respect the manuals' limits. Built and inspected
here; never run on the kit (no board in CI).

The settings are read from the built ELF (the `ek_h747_*` constants the port programs the registers from); every
limit they are checked against is written below from the documents cited, not taken from the C code.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from edgekit.boards import load_board
from board_elf import need_arm_tools as _need_tools, run_tool as _run
from helpers import port_defaults_build

BOARD = "stm32h747-disco"
ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"

MHZ = 1_000_000
FLASH_BOOT = 0x0800_0000          # RM0399 memory map / boot: the M7 boots from BOOT_CM7_ADD0 = 0x0800 (flash bank 1)
USART1_IRQ = 37                   # RM0399 NVIC vector table (CM7): USART1 global interrupt

# RM0399 RCC, PLL: reference (input) clock range, wide-range VCO output range (VCOH)
PLL_REF_HZ = (1 * MHZ, 16 * MHZ)
PLL_VCO_WIDE_HZ = (192 * MHZ, 836 * MHZ)
# DS12930 general operating conditions at VOS1: CPU, AXI/AHB (HCLK), APB maxima
VOS1_CPU_MAX, VOS1_HCLK_MAX, VOS1_PCLK_MAX = 400 * MHZ, 200 * MHZ, 100 * MHZ
# RM0399 "FLASH recommended number of wait states and programming delay", VOS1 rows:
# (AXI clock upper bound, LATENCY, WRHIGHFREQ)
FLASH_VOS1 = ((70 * MHZ, 0, 0), (140 * MHZ, 1, 1), (185 * MHZ, 2, 1), (210 * MHZ, 2, 2))

# IS42S32800J datasheet, -6 speed grade AC characteristics: (name, minimum, unit); FMC_SDTR field order (RM0399)
SDRAM_TIMINGS = (("TMRD", 2, "ck"), ("TXSR", 70, "ns"), ("TRAS", 42, "ns"), ("TRC", 60, "ns"), ("TWR", 2, "ck"),
                 ("TRP", 18, "ns"), ("TRCD", 18, "ns"))
SDRAM_ROWS, SDRAM_REFRESH_MS = 4096, 64
SDRAM_MAX_HZ = 100 * MHZ          # the FMC's SDCLK = HCLK / 2 or / 3 (RM0399 FMC_SDCR.SDCLK) at HCLK <= 200 MHz
SDRAM_BYTES = 32 << 20            # UM2411: 256 Mbit

# MT25QL512ABB datasheet: quad I/O fast read with the default dummy-cycle setting is 10 cycles, rated to 133 MHz
QSPI_QUAD_IO_DUMMY, QSPI_MAX_HZ = 10, 133 * MHZ
QSPI_DEVICE_BYTES = 64 << 20      # 512 Mbit each, two in dual-flash mode (UM2411)
QSPI_WINDOW_BYTES = 256 << 20     # RM0399 memory map: QUADSPI memory-mapped bank 0x90000000-0x9FFFFFFF




@pytest.fixture(scope="module")
def board():
    return load_board(BOARD)


@pytest.fixture(scope="module")
def sections(elf) -> dict[str, tuple[int, int, str]]:
    """name -> (address, size, flags) of every section."""
    found = {}
    for m in re.finditer(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]{2}\s+"
                         r"([A-Za-z]*)\s", _run("arm-none-eabi-readelf", "-S", "--wide", str(elf)), re.M):
        found[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), m.group(4))
    assert ".text" in found and ".ek_arena" in found, f"readelf output not understood: {sorted(found)}"
    return found


@pytest.fixture(scope="module")
def segments(elf) -> list[tuple[int, int, int, int, int]]:
    """LOAD program headers: (file offset, vaddr, paddr, filesz, memsz)."""
    rows = re.findall(r"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)",
                      _run("arm-none-eabi-readelf", "-l", "--wide", str(elf)), re.M)
    assert rows, "no LOAD segments"
    return [tuple(int(v, 16) for v in row) for row in rows]


@pytest.fixture(scope="module")
def symbols(elf) -> dict[str, tuple[int, int]]:
    """name -> (value, size) from the symbol table."""
    found = {}
    for line in _run("arm-none-eabi-nm", "-S", str(elf)).splitlines():
        parts = line.split()
        if len(parts) == 4:
            found[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        elif len(parts) == 3:
            found[parts[2]] = (int(parts[0], 16), 0)
    return found


@pytest.fixture(scope="module")
def read_words(elf, segments):
    """read_words(address, count) -> little-endian u32s as the flasher writes them (file-backed LOAD bytes)."""
    data = elf.read_bytes()

    def read(address: int, count: int = 1) -> list[int]:
        for offset, vaddr, _paddr, filesz, _memsz in segments:
            if vaddr <= address and address + 4 * count <= vaddr + filesz:
                start = offset + address - vaddr
                return list(struct.unpack_from(f"<{count}I", data, start))
        raise AssertionError(f"{address:#x} is not in a file-backed segment")

    return read


@pytest.fixture(scope="module")
def settings(symbols, read_words):
    """The port's ek_h747_* constants, as linked."""
    def value(name: str, count: int = 1):
        assert name in symbols, f"symbol {name} missing from the ELF"
        address, size = symbols[name]
        assert size == 4 * count, f"{name} has size {size}, expected {4 * count}"
        words = read_words(address, count)
        return words[0] if count == 1 else words

    names = ("hse_hz", "pll1_m", "pll1_n", "pll1_p", "ahb_div", "apb_div", "vos", "flash_latency",
             "flash_wrhighfreq", "sdram_clk_div", "sdram_refresh_count", "sdram_cas", "qspi_clk_div",
             "qspi_dummy_cycles", "qspi_fsize")
    found = {n: value(f"ek_h747_{n}") for n in names}
    found["sdram_timing_ck"] = value("ek_h747_sdram_timing_ck", len(SDRAM_TIMINGS))
    return found


def _hclk(s: dict) -> float:
    """AXI/AHB clock the settings give: HSE / M * N / P / HPRE."""
    return s["hse_hz"] / s["pll1_m"] * s["pll1_n"] / s["pll1_p"] / s["ahb_div"]


def _inside(start: int, size: int, region) -> bool:
    return region.base <= start and start + size <= region.end


def test_generated_offline_and_built_without_semihosting(project, elf):
    manifest = project.manifest
    assert manifest["board"] == BOARD and manifest["port"] == "stm32h747"
    assert not (project.path / "firmware" / "ports" / "stm32h747" / "platformio.ini").exists()
    assert "EK_SEMIHOSTING:BOOL=OFF" in (project.path / "build" / "CMakeCache.txt").read_text()
    # A semihosting call is `bkpt 0xab`; on the kit, with no debugger attached, it would hard-fault.
    disassembly = _run("arm-none-eabi-objdump", "-d", str(elf))
    assert "ek_reset_handler" in disassembly and not re.search(r"\bbkpt\s+0x00ab\b", disassembly)


def test_sections_lie_in_the_layout_and_plan_regions(board, project, sections, symbols):
    plan = project.manifest["plan"]
    layout = board.layout
    text, data = board.region(layout.text), board.region(layout.data)
    stack, arena = board.region(layout.stack), board.region(plan["arena_region"])
    assert text.base == FLASH_BOOT and sections[".text"][0] == FLASH_BOOT
    assert symbols["ek_vector_table"][0] == FLASH_BOOT, "the vector table must be the first thing in flash"
    for name, region in ((".text", text), (".data", data), (".bss", data), (".stack", stack), (".ek_arena", arena)):
        address, size, _ = sections[name]
        assert _inside(address, size, region), f"{name} {address:#x}+{size:#x} is outside region {region.name}"
    assert sections[".ek_arena"][1] >= plan["arena_bytes"]
    assert sections[".stack"][1] >= layout.stack_bytes
    images = project.manifest["images"]
    assert images, "the plan placed no image part"
    for image in images:
        region = board.region(image["region"])
        assert region.programmed_by == "flasher", f"{image['file']} in {region.name}, which nothing programs"
        assert _inside(image["address"], image["size_bytes"], region)
        assert (project.path / image["file"]).stat().st_size == image["size_bytes"]
    for name, (address, size, flags) in sections.items():
        if "A" not in flags or size == 0:
            continue
        assert board.region_at(address) is not None and board.region_at(address) == board.region_at(address + size - 1)
        for image in images:
            lo, hi = image["address"], image["address"] + image["size_bytes"]
            assert address + size <= lo or address >= hi, f"{name} overlaps image part {image['file']}"


def test_the_flashed_bytes_stay_clear_of_image_parts(board, project, segments, symbols):
    """What the flasher writes for the program (text + .data's load image) lies in flash, below the images."""
    flash = board.region(board.layout.text)
    load_end = symbols["__ek_load_end"][0]
    assert flash.base < load_end <= flash.end
    for _offset, vaddr, paddr, filesz, _memsz in segments:
        if filesz == 0:
            continue
        assert _inside(paddr, filesz, flash) and paddr + filesz <= load_end, f"segment at {vaddr:#x} loads outside"
        for image in project.manifest["images"]:
            assert paddr + filesz <= image["address"] or paddr >= image["address"] + image["size_bytes"]


def test_vector_table_boots(board, sections, symbols, read_words):
    initial_sp, reset = read_words(FLASH_BOOT, 2)
    stack_region = board.region(board.layout.stack)
    stack_start, stack_size, _ = sections[".stack"]
    assert initial_sp == symbols["__ek_stack_top"][0] == stack_start + stack_size
    assert initial_sp % 8 == 0 and stack_region.base < initial_sp <= stack_region.end
    text_start, text_size, _ = sections[".text"]
    assert reset & 1, "the reset vector must have the Thumb bit set"
    assert text_start <= (reset & ~1) < text_start + text_size
    assert reset == symbols["ek_reset_handler"][0] | 1
    usart1 = read_words(FLASH_BOOT + 4 * (16 + USART1_IRQ))[0]
    assert usart1 == symbols["ek_uart_irq_handler"][0] | 1


def test_clock_tree_meets_rm0399_at_vos1(board, settings):
    s = settings
    ref = s["hse_hz"] / s["pll1_m"]
    vco = ref * s["pll1_n"]
    sysclk = vco / s["pll1_p"]
    assert s["hse_hz"] == 25 * MHZ                                     # UM2411: 25 MHz HSE crystal
    assert PLL_REF_HZ[0] <= ref <= PLL_REF_HZ[1]
    assert PLL_VCO_WIDE_HZ[0] <= vco <= PLL_VCO_WIDE_HZ[1]
    assert s["pll1_p"] == 1 or s["pll1_p"] % 2 == 0                    # PLL1 DIVP: 1 or even only
    assert sysclk == board.clock_hz == 400 * MHZ
    assert s["vos"] == 1 and sysclk <= VOS1_CPU_MAX                    # direct SMPS supply: VOS1 at most
    hclk = _hclk(s)
    assert hclk <= VOS1_HCLK_MAX and hclk / s["apb_div"] <= VOS1_PCLK_MAX
    bound, latency, wrhighfreq = next(row for row in FLASH_VOS1 if hclk <= row[0])
    assert (s["flash_latency"], s["flash_wrhighfreq"]) == (latency, wrhighfreq), f"AXI {hclk / MHZ} MHz <= {bound}"
    # The link's baud divider from APB2 stays within USART_BRR (16 bits, >= 16 with oversampling by 16).
    usartdiv = round(hclk / s["apb_div"] / board.link.baud)
    assert 16 <= usartdiv <= 0xFFFF and abs(hclk / s["apb_div"] / usartdiv / board.link.baud - 1) < 0.01


def test_sdram_timings_meet_the_is42s32800j_datasheet(board, settings):
    s = settings
    assert s["sdram_clk_div"] in (2, 3)                                # FMC_SDCR1.SDCLK: HCLK/2 or HCLK/3
    sdclk = _hclk(s) / s["sdram_clk_div"]                             # FMC kernel clock = rcc_hclk3
    assert sdclk <= SDRAM_MAX_HZ
    period_ns = 1e9 / sdclk
    cycles = dict(zip((t[0] for t in SDRAM_TIMINGS), s["sdram_timing_ck"]))
    for name, minimum, unit in SDRAM_TIMINGS:
        assert 1 <= cycles[name] <= 16, f"{name} does not fit its 4-bit field"
        have = cycles[name] if unit == "ck" else cycles[name] * period_ns
        assert have >= minimum, f"{name}: {have} {unit} < {minimum} {unit}"
    # RM0399 FMC_SDTR: TWR >= TRAS - TRCD and TWR >= TRC - TRCD - TRP
    assert cycles["TWR"] >= cycles["TRAS"] - cycles["TRCD"]
    assert cycles["TWR"] >= cycles["TRC"] - cycles["TRCD"] - cycles["TRP"]
    assert s["sdram_cas"] in (2, 3)
    # RM0399 FMC_SDRTR: refresh every (COUNT + 20) SDCLK cycles, at least every 64 ms / 4096 rows; COUNT >= 41
    interval_s = (s["sdram_refresh_count"] + 20) / sdclk
    assert s["sdram_refresh_count"] >= 41 and interval_s <= SDRAM_REFRESH_MS / 1000 / SDRAM_ROWS
    assert interval_s > 0.95 * SDRAM_REFRESH_MS / 1000 / SDRAM_ROWS, "refreshing far more often than needed"
    assert board.region("sdram").size_bytes == SDRAM_BYTES and board.region("sdram").base == 0xD000_0000


def test_qspi_settings_meet_the_mt25ql512_datasheet(board, settings):
    s = settings
    assert 1 <= s["qspi_clk_div"] <= 256 and _hclk(s) / s["qspi_clk_div"] <= QSPI_MAX_HZ  # kernel clock rcc_hclk3
    assert s["qspi_dummy_cycles"] == QSPI_QUAD_IO_DUMMY
    qspi = board.region("qspi")
    assert qspi.base == 0x9000_0000 and qspi.size_bytes == 2 * QSPI_DEVICE_BYTES
    mapped = 1 << (s["qspi_fsize"] + 1)                                 # QUADSPI_DCR: 2^(FSIZE+1) bytes
    # one size up from the 128 MB present (ES0392 erratum: memory-mapped read of the last byte fails)
    assert qspi.size_bytes < mapped <= QSPI_WINDOW_BYTES


def test_cmake_defaults_leave_semihosting_off(board, tmp_path):
    """A firmware built without a plan has semihosting off (no debugger on the kit catches the BKPT); that it links
    like the Python renderer's default is tests/test_boards.py's check for every bare-metal board."""
    _need_tools()
    assert "EK_SEMIHOSTING:BOOL=OFF" in (port_defaults_build(board, tmp_path) / "CMakeCache.txt").read_text()


def test_openocd_board_script_has_a_flash_bank_for_every_flashed_region(board):
    """The profile's [flasher] names Debian OpenOCD 0.12 scripts that define flash banks where the program and the
    image parts go: the stm32h7x banks at 0x08000000 / 0x08100000 and an stmqspi bank at the QUADSPI window.
    OpenOCD runs in its configuration stage only (shutdown before init): no adapter or kit needed."""
    if shutil.which("openocd") is None:
        pytest.fail("missing openocd: run `make deps` (apt: openocd)")
    options = dict(board.flasher.options)
    assert board.flasher.kind == "openocd" and set(options) <= {"interface", "target", "board"} and options
    scripts = [a for key in ("interface", "target", "board") if key in options for a in ("-f", options[key])]
    proc = subprocess.run(["openocd", *scripts, "-c", "foreach b [flash list] { echo $b }; shutdown"],
                          capture_output=True, text=True, timeout=60)
    banks = {int(base): driver for driver, base in
             re.findall(r"^name \S+ driver (\S+) base (\d+)", proc.stdout + proc.stderr, re.M)}
    assert proc.returncode == 0 and banks, f"openocd could not load {scripts}: {proc.stderr[-500:]}"
    flash, qspi = board.region("flash"), board.region("qspi")
    assert banks.get(flash.base) == "stm32h7x" and banks.get(flash.base + flash.size_bytes // 2) == "stm32h7x"
    assert banks.get(qspi.base) == "stmqspi"
    for region in board.memory:
        if region.programmed_by == "flasher":
            assert region.base in banks, f"no OpenOCD flash bank at region {region.name} ({region.base:#x})"

