"""rp2350-psram (Pimoroni Pico Plus 2): the register-level port builds offline from a generated project, its ELF
lies where the plan says, the IMAGE_DEF the RP2350 boot ROM needs is there and well formed, and the clock tree
arithmetic holds. Built and inspected here; never run on silicon (no board in CI).

Every expected value below is written from the RP2350 datasheet (sections cited), not taken from our C code.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from edgekit.boards import load_board
from board_elf import run_tool as _run

BOARD = "rp2350-psram"

# RP2350 datasheet 2.2 "Address map"
XIP_BASE = 0x1000_0000          # QMI window 0 (flash); the boot ROM's image start
XIP_SPACE_END = 0x2000_0000     # XIP windows and their cached/uncached aliases
SRAM_BASE, SRAM_END = 0x2000_0000, 0x2008_2000

# Datasheet 5.9.1 "Blocks and block loops", 5.9.3.1 "IMAGE_DEF item", 5.9.5 "Minimum viable image metadata"
BLOCK_MARKER_START = 0xFFFF_DED3
BLOCK_MARKER_END = 0xAB12_3579
ITEM_TYPE_IMAGE_TYPE = 0x42     # with size_flag 0: 1-byte size
ITEM_TYPE_LAST = 0x7F           # with size_flag 1: 2-byte size (byte 0xff)
IMAGE_DEF_SEARCH_BYTES = 4096   # "must appear within the first 4 kB of a flash image"
IMAGE_DEF_MAX_BYTES = 384       # larger IMAGE_DEF blocks are ignored by the ROM
# image_type_flags bit fields: (lsb, width) -> value wanted
IMAGE_TYPE_FIELDS = {
    "image_type": ((0, 4), 1),      # 1 = IMAGE_TYPE_EXE
    "exe_security": ((4, 2), 2),    # 2 = EXE_SECURITY_S (Secure)
    "reserved_6_7": ((6, 2), 0),
    "exe_cpu": ((8, 3), 0),         # 0 = EXE_CPU_ARM
    "reserved_11": ((11, 1), 0),
    "exe_chip": ((12, 3), 1),       # 1 = EXE_CHIP_RP2350
    "tbyb": ((15, 1), 0),           # not "try before you buy"
}

# Datasheet 8.6.3 "Calculating PLL parameters"
REF_MIN_HZ = 5_000_000
VCO_MIN_HZ, VCO_MAX_HZ = 750_000_000, 1_600_000_000
FBDIV_RANGE = range(16, 320 + 1)
POSTDIV_RANGE = range(1, 7 + 1)
SYS_PLL_MAX_HZ = 150_000_000




@pytest.fixture(scope="module")
def layout(elf):
    """Sections (name -> type, addr, offset, size, flags) and LOAD segments (vaddr, paddr, filesz, memsz)."""
    text = _run("arm-none-eabi-readelf", "-S", "-l", "-h", "--wide", str(elf))
    sections = {}
    for m in re.finditer(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]{8})\s+([0-9a-f]{6,})\s+([0-9a-f]{6,})\s+"
                         r"[0-9a-f]{2}\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+\s*$", text, re.M):
        name, kind, addr, off, size, flags = m.groups()
        sections[name] = (kind, int(addr, 16), int(off, 16), int(size, 16), flags)
    segments = [tuple(int(g, 16) for g in m.groups()) for m in re.finditer(
        r"^\s*LOAD\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", text, re.M)]
    entry = int(re.search(r"Entry point address:\s+0x([0-9a-f]+)", text).group(1), 16)
    assert sections and segments, text
    return sections, segments, entry


@pytest.fixture(scope="module")
def symbols(elf) -> dict[str, tuple[int, int]]:
    out = {}
    for line in _run("arm-none-eabi-nm", "-S", str(elf)).splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        elif len(parts) == 3:
            out[parts[2]] = (int(parts[0], 16), 0)
    return out


def _read(elf: Path, sections, address: int, size: int) -> bytes:
    """Bytes of the loaded image at `address` (from the PROGBITS section that holds it)."""
    for kind, addr, off, length, _ in sections.values():
        if kind == "PROGBITS" and addr <= address and address + size <= addr + length:
            with open(elf, "rb") as f:
                f.seek(off + address - addr)
                return f.read(size)
    raise AssertionError(f"no loaded section holds {address:#x}+{size}")


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


# --- (a) offline generate + build -------------------------------------------------------------------------

def test_generate_and_build_offline(project, elf):
    """The fixture ran `edgekit gen` + `edgekit build` (CMake + Ninja + Debian's arm-none-eabi-gcc, no SDK)."""
    assert project.manifest["board"] == BOARD and project.manifest["port"] == "rp2350"
    config = (project.path / "ek_config.h").read_text()
    assert "#define EK_PORT_CFG_PSRAM_CS_GPIO 47u" in config  # [port_config] reaches the port
    assert "#define EK_UART_BASE 0x40070000u" in config
    assert not (project.path / "firmware" / "ports" / "rp2350" / "platformio.ini").exists()
    attributes = _run("arm-none-eabi-readelf", "-A", str(elf))
    assert "Tag_CPU_arch: v8-M.mainline" in attributes and "Tag_ABI_VFP_args: VFP registers" in attributes
    # no debugger catches a semihosting BKPT on the board: it would hard fault, so the port builds without it
    assert "EK_SEMIHOSTING:BOOL=OFF" in (project.path / "build" / "CMakeCache.txt").read_text()
    assert "bkpt" not in _run("arm-none-eabi-objdump", "-d", "-j", ".text", str(elf))


def test_profile_is_a_uart_cmake_board():
    board = load_board(BOARD)
    assert board.verification == "build-tested" and board.toolchain.build_system == "cmake"
    assert board.toolchain.platformio_env is None
    assert board.link.kind == "uart" and board.link.uart_base == 0x4007_0000 and board.link.baud == 115_200
    assert not board.link.usb_cdc and board.flasher.kind == "picotool" and not board.flasher.options
    assert board.region("psram").programmed_by == "runtime" and board.region("flash").programmed_by == "flasher"
    assert board.port_config == {"psram_cs_gpio": 47}


# --- (b) where the loadable sections lie -----------------------------------------------------------------

def test_sections_lie_where_the_plan_says(project, layout, symbols):
    sections, segments, entry = layout
    plan = project.manifest["plan"]
    regions = {r["name"]: (r["base"], r["base"] + r["size_bytes"]) for r in plan["regions"]}

    assert sections[".text"][1] == XIP_BASE and symbols["ek_vector_table"][0] == XIP_BASE
    flash0, flash1 = regions["flash"]
    assert flash0 == XIP_BASE
    sram0, sram1 = regions["sram"]
    assert (sram0, sram1) == (SRAM_BASE, SRAM_END)
    for name in (".data", ".bss", ".stack"):
        _, addr, _, size, _ = sections[name]
        assert sram0 <= addr and addr + size <= sram1, f"{name} at {addr:#x}+{size:#x} is not in SRAM"
    _, arena_addr, _, arena_size, _ = sections[".ek_arena"]
    a0, a1 = regions[plan["arena_region"]]
    assert a0 <= arena_addr and arena_addr + arena_size <= a1
    assert arena_size >= plan["arena_bytes"]

    images = [(i["address"], i["address"] + i["size_bytes"]) for i in project.manifest["images"]]
    assert images and all(flash0 <= s and e <= flash1 for s, e in images)
    for name, (_, addr, _, size, flags) in sections.items():
        if "A" in flags and size:
            for s, e in images:
                assert not _overlaps(addr, addr + size, s, e), f"{name} overlaps image part at {s:#x}"
    # what the flasher writes (each LOAD segment's file bytes at its physical address): flash only, below images
    written = [(paddr, paddr + filesz) for _, paddr, filesz, _ in segments if filesz]
    assert written and all(flash0 <= s and e <= flash1 for s, e in written)
    assert all(not _overlaps(w0, w1, s, e) for w0, w1 in written for s, e in images)
    assert flash0 <= entry < flash1


def test_vector_table_at_image_start(elf, layout, symbols):
    """Without VECTOR_TABLE/ENTRY_POINT items the ROM takes SP and PC from the table at the image start
    (datasheet 5.9.3.3): initial SP = top of the stack in SRAM, reset vector = the ELF entry, Thumb bit set."""
    sections, _, entry = layout
    sp, pc = struct.unpack("<II", _read(elf, sections, XIP_BASE, 8))
    _, stack_addr, _, stack_size, _ = sections[".stack"]
    assert sp == stack_addr + stack_size == symbols["__ek_stack_top"][0]
    assert pc & 1 and pc & ~1 == entry & ~1 == symbols["ek_reset_handler"][0] & ~1


# --- (c) the IMAGE_DEF block, parsed as the boot ROM reads it -----------------------------------------------

def test_image_def_block(elf, layout):
    sections, _, _ = layout
    head = _read(elf, sections, XIP_BASE, IMAGE_DEF_SEARCH_BYTES)
    starts = [o for o in range(0, len(head), 4) if struct.unpack_from("<I", head, o)[0] == BLOCK_MARKER_START]
    assert len(starts) == 1, f"want one block start marker in the first 4 KB, found {len(starts)}"
    block = starts[0]
    words = lambda i: struct.unpack_from("<I", head, block + 4 * i)[0]  # noqa: E731

    # items: byte 0 = size_flag(bit 7) | item_type(bits 6:0); byte 1 (+ byte 2 if size_flag) = size in words
    items, pos = [], 1
    while True:
        b0, b1, b2, b3 = head[block + 4 * pos: block + 4 * pos + 4]
        size_flag, item_type = b0 >> 7, b0 & 0x7F
        size = b1 | (b2 << 8) if size_flag else b1
        if item_type == ITEM_TYPE_LAST:
            assert size_flag == 1 and b3 == 0, "LAST item: 2-byte size, pad byte 0"
            last_size = size
            break
        items.append((item_type, size_flag, size, pos))
        assert size >= 1 and pos + size < 96, "item size runs past any valid block"
        pos += size
    assert [t for t, *_ in items] == [ITEM_TYPE_IMAGE_TYPE], "an IMAGE_DEF whose only item is IMAGE_TYPE"
    item_type, size_flag, size, at = items[0]
    assert size_flag == 0 and size == 1
    flags = struct.unpack_from("<H", head, block + 4 * at + 2)[0]
    for field, ((lsb, width), want) in IMAGE_TYPE_FIELDS.items():
        assert (flags >> lsb) & ((1 << width) - 1) == want, f"image_type_flags.{field}"
    assert last_size == sum(s for _, _, s, _ in items), "LAST carries the word count of the other items"

    link_word, end_word = pos + 1, pos + 2
    link = struct.unpack_from("<i", head, block + 4 * link_word)[0]
    assert block + link == block, "a single-block loop links back to its own header (relative offset 0)"
    assert words(end_word) == BLOCK_MARKER_END
    assert 4 * (end_word + 1) <= IMAGE_DEF_MAX_BYTES
    assert block % 4 == 0 and block + 4 * (end_word + 1) <= IMAGE_DEF_SEARCH_BYTES


# --- (d) clock tree arithmetic -----------------------------------------------------------------------------

def _port_define(project, file: str, name: str) -> int:
    text = (project.path / "firmware" / "ports" / "rp2350" / file).read_text()
    m = re.search(rf"^#define {name} (\d+)u\b", text, re.M)
    assert m, f"{file} defines no {name}"
    return int(m.group(1))


def test_pll_sys_gives_the_profile_clock_within_datasheet_limits(project):
    xosc = _port_define(project, "ek_port_board.h", "EK_RP2350_XOSC_HZ")
    refdiv, fbdiv = (_port_define(project, "ek_board_rp2350.c", f"PLL_SYS_{n}") for n in ("REFDIV", "FBDIV"))
    pd1, pd2 = (_port_define(project, "ek_board_rp2350.c", f"PLL_SYS_POSTDIV{n}") for n in (1, 2))
    assert xosc == 12_000_000  # Pico Plus 2 crystal (pico-sdk boards/pimoroni_pico_plus2_rp2350.h: default 12 MHz)
    vco = xosc // refdiv * fbdiv
    assert REF_MIN_HZ <= xosc // refdiv <= vco // 16  # input at most VCO / 16 (the minimum feedback divisor)
    assert VCO_MIN_HZ <= vco <= VCO_MAX_HZ and fbdiv in FBDIV_RANGE
    assert pd1 in POSTDIV_RANGE and pd2 in POSTDIV_RANGE and pd1 >= pd2  # higher divider first (8.6.3 tip)
    assert vco % (pd1 * pd2) == 0
    clk_sys = vco // (pd1 * pd2)
    assert clk_sys == load_board(BOARD).clock_hz == 150_000_000 <= SYS_PLL_MAX_HZ
    # and the search the datasheet describes finds no better (higher-VCO, lower-jitter) exact setting at REFDIV 1
    exact = [(xosc * f, f, a, b) for f in FBDIV_RANGE for a in POSTDIV_RANGE for b in POSTDIV_RANGE
             if VCO_MIN_HZ <= xosc * f <= VCO_MAX_HZ and xosc * f == clk_sys * a * b]
    assert max(exact)[0] == vco


# --- the PSRAM set-up code must not touch flash while the QMI is in direct mode ----------------------------

CALL = re.compile(r"blx?(eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)?(\.[nw])?")  # bl/blx, not bls/blt/ble


def test_psram_direct_mode_code_is_self_contained_in_sram(elf, symbols):
    """In QMI direct mode every XIP access is a bus error (datasheet 12.14.5), so the function doing it runs from
    SRAM and neither branches out nor loads a literal pointing into the XIP space."""
    start, size = symbols["ek_rp2350_psram_probe_and_map"]
    assert SRAM_BASE <= start and start + size <= SRAM_END and size > 0
    listing = _run("arm-none-eabi-objdump", "-d", "-j", ".data", f"--start-address={start:#x}",
                   f"--stop-address={start + size:#x}", str(elf))
    lines = [m.groups() for m in re.finditer(r"^\s*([0-9a-f]+):\s+[0-9a-f ]+?\t(\S+)\s*(.*)$", listing, re.M)]
    assert len(lines) > 20, listing
    for addr, mnemonic, operands in lines:
        if mnemonic == ".word":
            value = int(operands.split()[0], 16)
            assert not (XIP_BASE <= value < XIP_SPACE_END), f"literal {value:#x} at {addr} points into XIP"
        elif CALL.fullmatch(mnemonic) or (mnemonic.startswith("bx") and operands != "lr"):
            raise AssertionError(f"call or computed jump at {addr}: {mnemonic} {operands}")
        elif mnemonic.startswith(("b", "cb")) and not mnemonic.startswith(("bic", "bfc", "bfi")):
            target = re.search(r"\b([0-9a-f]{8}) <", operands)
            if target:  # b/bcc/cbz to a label must stay inside the function
                assert start <= int(target.group(1), 16) < start + size, f"branch out at {addr}"
