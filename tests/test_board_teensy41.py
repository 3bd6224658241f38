"""teensy41 (PJRC Teensy 4.1, i.MX RT1062): the register-level port builds offline from a generated project, its
ELF lies where the board's [layout] and the plan say, and the boot structures the i.MX RT boot ROM reads from the
start of flash (FlexSPI NOR configuration block, Image Vector Table, Boot Data) are right field by field. Built and
inspected here; never run on a Teensy (no board in CI).

Every layout, tag and limit below is written from the documents cited (NXP IMXRT1060RM Rev. 3 ch. 9 "System Boot",
the FlexSPI chapter's LUT instruction set, the Winbond W25Q64JV datasheet), not taken from the port's C code.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from edgekit.boards import load_board
from board_elf import need_arm_tools as _need_tools, run_tool as _run
from helpers import port_defaults_build

BOARD = "teensy41"
ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"

MHZ = 1_000_000
FLEXSPI_BASE = 0x6000_0000      # IMXRT1060RM memory map: FlexSPI AHB window; the ROM boots XIP from here
IVT_OFFSET = 0x1000             # §9.7.1: the IVT of an XIP image sits at offset 0x1000 of the boot device
FLASH_CHIP_BYTES = 8 << 20      # Teensy 4.1: W25Q64JV, 64 Mbit
CM7_IRQS = 160                  # IMXRT1060RM interrupt table (CM7): IRQ 0..159
LPUART6_IRQ = 25                # IMXRT1060RM interrupt table: LPUART6

# IMXRT1060RM §9.6.3.1 "FlexSPI configuration block": (field, offset, struct format)
FCB_FIELDS = {
    "tag": (0x000, "<I"), "version": (0x004, "<I"), "readSampleClkSrc": (0x00C, "<B"),
    "csHoldTime": (0x00D, "<B"), "csSetupTime": (0x00E, "<B"), "columnAddressWidth": (0x00F, "<B"),
    "deviceModeCfgEnable": (0x010, "<B"), "configCmdEnable": (0x01C, "<B"), "controllerMiscOption": (0x040, "<I"),
    "deviceType": (0x044, "<B"), "sflashPadType": (0x045, "<B"), "serialClkFreq": (0x046, "<B"),
    "lutCustomSeqEnable": (0x047, "<B"), "sflashA1Size": (0x050, "<I"), "sflashA2Size": (0x054, "<I"),
    "sflashB1Size": (0x058, "<I"), "sflashB2Size": (0x05C, "<I"),
    # §9.6.3.2 "Serial NOR configuration block" follows the 448-byte common block
    "pageSize": (0x1C0, "<I"), "sectorSize": (0x1C4, "<I"), "ipcmdSerialClkFreq": (0x1C8, "<B"),
    "blockSize": (0x1D0, "<I"),
}
FCB_LUT_OFFSET, FCB_BYTES = 0x080, 512
FCB_TAG = b"FCFB"               # 0x42464346 stored little-endian
READ_SAMPLE_CLK_SOURCES = (0, 1, 3)  # internal loopback, loopback from DQS pad, flash-provided DQS
# serialClkFreq codes of the RT1060 ROM (§9.6.3.1 table note) -> MHz
SERIAL_CLK_MHZ = {1: 30, 2: 50, 3: 60, 4: 75, 5: 80, 6: 100, 7: 120, 8: 133, 9: 166}
W25Q64JV_QUAD_IO_MAX_MHZ = 133  # W25Q64JV datasheet: Fast Read Quad I/O (EBh) clock limit
W25Q64JV_EB_DUMMY_CLOCKS = 6    # ... M7-0 (2 clocks on 4 pads) + 4 dummy clocks between address and data

# FlexSPI LUT instruction set (IMXRT1060RM FlexSPI chapter): opcode [15:10], pads [9:8] (log2), operand [7:0]
LUT_OP = {0x00: "STOP", 0x01: "CMD_SDR", 0x02: "RADDR_SDR", 0x07: "MODE8_SDR", 0x08: "WRITE_SDR",
          0x09: "READ_SDR", 0x0C: "DUMMY_SDR"}

IVT_TAG, IVT_LENGTH, IVT_VERSIONS = 0xD1, 0x0020, (0x40, 0x41, 0x42, 0x43)  # §9.7.1.1
ARM_PLL_DIV_RANGE = (54, 108)   # IMXRT1060RM CCM_ANALOG_PLL_ARM DIV_SELECT: Fout = 24 MHz * DIV_SELECT / 2
OSC_HZ = 24 * MHZ
IPG_MAX_HZ = 150 * MHZ          # IMXRT1060CEC: IPG (peripheral bus) clock maximum
DIVIDER_RANGES = {"arm_podf": (1, 8), "ahb_podf": (1, 8), "ipg_podf": (1, 4)}  # CCM_CACRR / CCM_CBCDR field widths




@pytest.fixture(scope="module")
def board():
    return load_board(BOARD)


@pytest.fixture(scope="module")
def layout(elf):
    """Sections (name -> (addr, size, type, flags)) and LOAD segments from readelf, symbols from nm."""
    text = _run("arm-none-eabi-readelf", "-S", "-l", "-h", "--wide", str(elf))
    sections = {}
    for m in re.finditer(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)\s",
                         text, re.M):
        sections[m.group(1)] = (int(m.group(3), 16), int(m.group(4), 16), m.group(2), m.group(5))
    loads = [tuple(int(v, 16) for v in m.groups()) for m in re.finditer(
        r"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", text, re.M)]
    entry = int(re.search(r"Entry point address:\s+0x([0-9a-f]+)", text).group(1), 16)
    symbols = {}
    for line in _run("arm-none-eabi-nm", str(elf)).splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2]] = int(parts[0], 16)
    return {"sections": sections, "loads": loads, "entry": entry, "symbols": symbols}


class Image:
    """Bytes of the ELF at device addresses: a minimal ELF32 little-endian section reader."""

    def __init__(self, path: Path):
        self.data = path.read_bytes()
        assert self.data[:4] == b"\x7fELF" and self.data[4] == 1 and self.data[5] == 1, "not an ELF32 LE file"
        shoff, = struct.unpack_from("<I", self.data, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", self.data, 0x2E)
        self.progbits = []
        for i in range(shnum):
            _, sh_type, _, addr, offset, size = struct.unpack_from("<6I", self.data, shoff + i * shentsize)
            if sh_type == 1 and addr:  # SHT_PROGBITS with an address
                self.progbits.append((addr, offset, size))

    def read(self, addr: int, n: int) -> bytes:
        for base, offset, size in self.progbits:
            if base <= addr and addr + n <= base + size:
                return self.data[offset + addr - base: offset + addr - base + n]
        raise AssertionError(f"{n} bytes at {addr:#x} are in no loaded section")

    def field(self, base: int, offset: int, fmt: str) -> int:
        return struct.unpack(fmt, self.read(base + offset, struct.calcsize(fmt)))[0]


@pytest.fixture(scope="module")
def image(elf) -> Image:
    return Image(elf)


def _decode_lut(words: list[int]) -> list[tuple[str, int, int]]:
    """(opcode name, pads, operand) until the first STOP."""
    out = []
    for word in words:
        for half in (word & 0xFFFF, word >> 16):
            op = LUT_OP.get(half >> 10, f"op{half >> 10:#x}")
            if op == "STOP":
                return out
            out.append((op, 1 << ((half >> 8) & 3), half & 0xFF))
    return out


# --- (a) the project generates and builds offline -------------------------------------------------------

def test_profile_is_a_bare_metal_cmake_board(board):
    assert board.verification == "build-tested" and board.os == "none" and board.port == "teensy41"
    assert board.toolchain.build_system == "cmake" and board.toolchain.cmake_toolchain == "arm-none-eabi.cmake"
    assert board.link.kind == "uart" and board.link.uart == "LPUART6" and board.link.uart_base == 0x4019_8000
    assert board.link.baud == 115_200 and not board.link.usb_cdc
    assert board.flasher.kind == "teensy_loader" and board.flasher.options["mcu"] == "TEENSY41"
    assert board.region("flash").programmed_by == "flasher" and board.region("psram").programmed_by == "runtime"
    assert board.layout.text == "flash" and board.region("flash").base == FLEXSPI_BASE


def test_project_generates_and_builds(project, elf, layout):
    assert project.manifest["board"] == BOARD and project.manifest["port"] == "teensy41"
    assert project.manifest["platformio"]  # `build --system platformio` builds the same targets offline
    config = (project.path / "ek_config.h").read_text()
    assert "#define EK_UART_BASE 0x40198000u" in config
    # Real hardware: no semihosting BKPT anywhere (nothing would catch it)
    assert not re.search(r"\bbkpt\s+0x00ab\b", _run("arm-none-eabi-objdump", "-d", str(elf)))


# --- (b) ELF layout against the plan ----------------------------------------------------------------------

def test_boot_header_vectors_and_text_at_the_start_of_flash(layout, board, image):
    text_addr, _, _, flags = layout["sections"][".text"]
    assert text_addr == FLEXSPI_BASE == board.region("flash").base and "X" in flags
    sym = layout["symbols"]
    vectors = sym["ek_vector_table"]
    table_bytes = (16 + CM7_IRQS) * 4
    align = 1 << (table_bytes - 1).bit_length()  # VTOR: aligned to the table size rounded up to a power of 2
    assert vectors % align == 0
    assert FLEXSPI_BASE + IVT_OFFSET + 32 + 16 <= vectors < FLEXSPI_BASE + IVT_OFFSET + 32 + 16 + align
    initial_sp, reset = struct.unpack("<II", image.read(vectors, 8))
    assert reset == layout["entry"] and reset & 1, "vector 1 is the ELF entry (Thumb)"
    dtcm = board.region("dtcm")
    assert initial_sp == sym["__ek_stack_top"] and dtcm.base < initial_sp <= dtcm.end
    uart_vector, = struct.unpack("<I", image.read(vectors + 4 * (16 + LPUART6_IRQ), 4))
    assert uart_vector == sym["ek_uart_irq_handler"] | 1


def test_sections_lie_in_their_regions_and_clear_of_the_images(layout, board, project):
    sections = layout["sections"]
    regions = {r.name: r for r in board.memory}

    def inside(name: str, region: str) -> None:
        addr, size, _, _ = sections[name]
        r = regions[region]
        assert r.base <= addr and addr + size <= r.end, f"{name} {addr:#x}+{size:#x} is outside {region}"

    for name in (".data", ".bss", ".stack"):
        inside(name, board.layout.data)
    plan = project.manifest["plan"]
    inside(".ek_arena", plan["arena_region"])
    assert sections[".ek_arena"][1] >= plan["arena_bytes"]
    images = project.manifest["images"]
    assert images and all(i["region"] == "flash" for i in images)
    load_end = layout["symbols"]["__ek_load_end"]
    occupied = [(a, a + s) for a, s, _, f in sections.values() if "A" in f and a] + \
               [(paddr, paddr + filesz) for _, _, paddr, filesz, _ in layout["loads"] if filesz]
    for img in images:
        lo, hi = img["address"], img["address"] + img["size_bytes"]
        assert load_end <= lo, "the program the flasher writes ends below every image part"
        for a, b in occupied:
            assert b <= lo or a >= hi, f"{a:#x}..{b:#x} overlaps image part {img['file']} at {lo:#x}..{hi:#x}"


# --- (c) boot structures, field by field against IMXRT1060RM ch. 9 ------------------------------------------

def test_flexspi_nor_configuration_block(image, board):
    f = {name: image.field(FLEXSPI_BASE, off, fmt) for name, (off, fmt) in FCB_FIELDS.items()}
    assert image.read(FLEXSPI_BASE, 4) == FCB_TAG and f["tag"] == 0x42464346
    version = f["version"].to_bytes(4, "little")
    assert version[3] == ord("V") and version[2] == 1, f"version {f['version']:#x}: 'V' major 1"
    assert f["readSampleClkSrc"] in READ_SAMPLE_CLK_SOURCES
    assert 1 <= f["csHoldTime"] <= 31 and 1 <= f["csSetupTime"] <= 31 and f["columnAddressWidth"] == 0
    assert f["deviceModeCfgEnable"] == 0 and f["configCmdEnable"] == 0 and f["lutCustomSeqEnable"] == 0
    assert f["controllerMiscOption"] == 0  # SDR, single pad group, no pad overrides
    assert f["deviceType"] == 1 and f["sflashPadType"] == 4  # serial NOR, quad
    assert SERIAL_CLK_MHZ[f["serialClkFreq"]] <= W25Q64JV_QUAD_IO_MAX_MHZ
    assert f["sflashA1Size"] == FLASH_CHIP_BYTES and f["sflashA1Size"] >= board.region("flash").size_bytes
    assert f["sflashA2Size"] == f["sflashB1Size"] == f["sflashB2Size"] == 0
    assert (f["pageSize"], f["sectorSize"], f["blockSize"]) == (256, 4096, 64 * 1024)  # W25Q64JV geometry
    assert f["ipcmdSerialClkFreq"] in SERIAL_CLK_MHZ

    lut = list(struct.unpack("<64I", image.read(FLEXSPI_BASE + FCB_LUT_OFFSET, 256)))
    read = _decode_lut(lut[0:4])  # sequence 0: the read the ROM and every XIP fetch use
    assert read[0] == ("CMD_SDR", 1, 0xEB) and read[1] == ("RADDR_SDR", 4, 24)
    assert read[-1][:2] == ("READ_SDR", 4)
    between = read[2:-1]
    clocks = 0
    for op, pads, operand in between:
        assert pads == 4, f"{op} between address and data must be on 4 pads"
        if op == "MODE8_SDR":
            assert (operand >> 4) & 3 != 0b10, "M5-4 = 10 would put the W25Q64JV in continuous-read mode"
            clocks += 8 // pads
        else:
            assert op == "DUMMY_SDR"
            clocks += operand
    assert clocks == W25Q64JV_EB_DUMMY_CLOCKS
    assert FLEXSPI_BASE + FCB_BYTES <= FLEXSPI_BASE + IVT_OFFSET


def test_image_vector_table_and_boot_data(image, layout):
    ivt = FLEXSPI_BASE + IVT_OFFSET
    header = image.read(ivt, 4)
    assert header[0] == IVT_TAG and int.from_bytes(header[1:3], "big") == IVT_LENGTH and header[3] in IVT_VERSIONS
    entry, reserved1, dcd, boot_data, self_ptr, csf, reserved2 = struct.unpack("<7I", image.read(ivt + 4, 28))
    text_addr, text_size, _, _ = layout["sections"][".text"]
    assert entry == layout["entry"] and entry & 1 and text_addr <= entry < text_addr + text_size
    assert self_ptr == ivt == 0x6000_1000
    assert reserved1 == dcd == csf == reserved2 == 0, "no DCD, no CSF (unsigned image)"
    assert ivt + 32 <= boot_data < text_addr + text_size
    start, length, plugin = struct.unpack("<3I", image.read(boot_data, 12))
    assert start == FLEXSPI_BASE and plugin == 0
    load_end = layout["symbols"]["__ek_load_end"]
    assert start + length == load_end
    flash_loads = [paddr + filesz for _, _, paddr, filesz, _ in layout["loads"]
                   if filesz and FLEXSPI_BASE <= paddr < FLEXSPI_BASE + FLASH_CHIP_BYTES]
    assert flash_loads and max(flash_loads) <= start + length, "boot data covers everything written to flash"


# --- (d) clock arithmetic ---------------------------------------------------------------------------------

def test_arm_pll_and_dividers_give_the_board_clock(board, project):
    cfg = board.port_config
    div = cfg["arm_pll_div_select"]
    assert ARM_PLL_DIV_RANGE[0] <= div <= ARM_PLL_DIV_RANGE[1]
    pll1 = OSC_HZ * div // 2
    for name, (lo, hi) in DIVIDER_RANGES.items():
        assert lo <= cfg[name] <= hi, f"{name} = {cfg[name]} outside {lo}..{hi}"
    core = pll1 // cfg["arm_podf"] // cfg["ahb_podf"]
    assert pll1 == 1200 * MHZ and core == board.clock_hz == 600 * MHZ
    assert core // cfg["ipg_podf"] <= IPG_MAX_HZ
    config = (project.path / "ek_config.h").read_text()  # what the firmware was compiled with
    for name, value in cfg.items():
        assert f"#define EK_PORT_CFG_{name.upper()} {value}u" in config


# --- the port's CMake defaults and the profile agree --------------------------------------------------------

def test_cmake_defaults_link_with_semihosting_off(tmp_path, board):
    """A build without a plan (the port_echo bring-up app) links, code in the flash, with semihosting off by
    default (no debugger on a Teensy to catch the BKPT). That its linker script is the generator's default for the
    board is tests/test_boards.py's check for every bare-metal board."""
    _need_tools()
    port_defaults_build(board, tmp_path, build=True)
    assert "EK_SEMIHOSTING:BOOL=OFF" in (tmp_path / "CMakeCache.txt").read_text()
    header = _run("arm-none-eabi-readelf", "-S", "--wide", str(tmp_path / "port_echo.elf"))
    assert re.search(r"\.text\s+PROGBITS\s+60000000\s", header)
