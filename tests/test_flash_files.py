"""Flash files (edgekit/flash/flash_files.py): the ELF program-header reader, the UF2 writer checked field by field
against the UF2 specification with a parser written here from the spec, the Intel HEX writer checked by intelhex
and by a record-level reader written here, and the flash files of the real MCU boards' builds."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import REAL_MCU_BOARDS

from edgekit.boards import load_board
from edgekit.errors import EdgekitError
from edgekit.flash import flash_files as ff
from edgekit.flash.flashers import flash_file_path

# --- helpers: a real ELF from the cross toolchain -------------------------------------------------------------

TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "arm-none-eabi-readelf": "binutils-arm-none-eabi",
         "arm-none-eabi-objcopy": "binutils-arm-none-eabi"}


def _need_tools():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make deps` (apt: {', '.join(TOOLS[t] for t in missing)})")


def build_elf(tmp: Path, flash_base: int, ram_base: int = 0x20000000, text_bytes: int = 300,
              name: str = "fw.elf") -> Path:
    """A Cortex-M ELF whose .data runs in RAM but is loaded from flash (p_paddr != p_vaddr) and has a .bss."""
    _need_tools()
    (tmp / "fw.s").write_text(f"""
        .syntax unified
        .thumb
        .section .text
        .word 0x11223344
        .fill {text_bytes}, 1, 0xAB
        .section .data
        .word 0xDEADBEEF
        .fill 37, 1, 0x5A
        .section .bss
        .space 1024
    """)
    (tmp / "fw.ld").write_text(f"""
        MEMORY {{ FLASH (rx) : ORIGIN = {flash_base:#x}, LENGTH = 1M
                 RAM (rwx) : ORIGIN = {ram_base:#x}, LENGTH = 64K }}
        SECTIONS {{
          .text : {{ KEEP(*(.text*)) }} > FLASH
          .data : {{ *(.data*) }} > RAM AT > FLASH
          .bss : {{ *(.bss*) }} > RAM
        }}
    """)
    elf = tmp / name
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m33", "-mthumb", "-nostdlib", "-nostartfiles",
                    "-T", str(tmp / "fw.ld"), str(tmp / "fw.s"), "-o", str(elf)], check=True, capture_output=True)
    return elf


def readelf_load_ranges(elf: Path) -> list[tuple[int, int]]:
    """PT_LOAD (paddr, paddr + filesz) with filesz > 0, read by binutils, not by the code under test."""
    out = subprocess.run(["arm-none-eabi-readelf", "-lW", str(elf)], check=True, capture_output=True,
                         text=True).stdout
    ranges = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            paddr, filesz = int(f[3], 16), int(f[4], 16)
            if filesz:
                ranges.append((paddr, paddr + filesz))
    return ranges


def merge(ranges):
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [tuple(r) for r in out]


# --- an independent UF2 parser, from github.com/microsoft/uf2 README "File format" ----------------------------

def parse_uf2(raw: bytes) -> list[dict]:
    assert len(raw) % 512 == 0
    blocks = []
    for pos in range(0, len(raw), 512):
        b = raw[pos:pos + 512]
        fields = struct.unpack("<8I", b[:32])
        blocks.append(dict(magic0=fields[0], magic1=fields[1], flags=fields[2], addr=fields[3], size=fields[4],
                           number=fields[5], total=fields[6], family=fields[7], data=b[32:508],
                           magic_end=struct.unpack("<I", b[508:])[0]))
    return blocks


def check_uf2_against_spec(raw: bytes, segments: list[ff.Segment], family: int) -> list[dict]:
    """Every rule of the spec plus the RP boot ROM's page rule; returns the family's blocks."""
    blocks = [b for b in parse_uf2(raw) if b["family"] == family]
    assert blocks
    for i, b in enumerate(blocks):
        assert b["magic0"] == 0x0A324655 and b["magic1"] == 0x9E5D5157 and b["magic_end"] == 0x0AB16F30
        assert b["flags"] == 0x00002000                    # familyID present, nothing else
        assert b["size"] == 256 and b["addr"] % 256 == 0   # one whole flash page per block
        assert b["number"] == i and b["total"] == len(blocks)
        assert b["data"][256:] == bytes(476 - 256)         # unused data bytes are zero
    addrs = [b["addr"] for b in blocks]
    assert addrs == sorted(set(addrs))                     # strictly increasing: no page written twice
    pages = {b["addr"]: b["data"][:256] for b in blocks}
    # the pages cover the input exactly: every input byte is in a block, every block holds input bytes
    covered: dict[int, bytearray] = {}                     # page -> which of its bytes are input bytes
    for s in segments:
        for page in range(s.address - s.address % 256, s.end, 256):
            lo, hi = max(s.address, page), min(s.end, page + 256)
            covered.setdefault(page, bytearray(256))[lo - page:hi - page] = b"\1" * (hi - lo)
            assert pages[page][lo - page:hi - page] == s.data[lo - s.address:hi - s.address]
    assert set(pages) == set(covered)
    for page, mask in covered.items():                     # page padding is zero, as picotool writes it
        assert all(v == 0 for v, m in zip(pages[page], mask) if not m)
    return blocks


def some_segments() -> list[ff.Segment]:
    # unaligned start, a page shared by two segments, a run across many pages, a lone byte far away
    return [ff.Segment(0x10000010, bytes(range(200))),
            ff.Segment(0x100000E0, b"\x01\x02\x03"),
            ff.Segment(0x10000300, bytes((i * 7) & 0xFF for i in range(5000))),
            ff.Segment(0x10080001, b"\x99")]


# --- ELF reader -----------------------------------------------------------------------------------------------

def test_elf_segments_are_pt_load_at_physical_addresses(tmp_path):
    elf = build_elf(tmp_path, 0x10000000)
    segs = ff.elf_load_segments(elf)
    assert [(s.address, s.end) for s in segs] == readelf_load_ranges(elf)
    # .data's initial values sit in flash (its load address), not at its RAM run address; .bss has no bytes
    assert all(0x10000000 <= s.address < 0x10100000 for s in segs)
    blob = b"".join(s.data for s in segs)
    assert struct.pack("<I", 0xDEADBEEF) + b"\x5a" * 37 in blob and blob.startswith(struct.pack("<I", 0x11223344))
    # the same bytes binutils puts in an Intel HEX of the ELF (objcopy writes load addresses)
    hexfile = tmp_path / "objcopy.hex"
    subprocess.run(["arm-none-eabi-objcopy", "-O", "ihex", str(elf), str(hexfile)], check=True)
    assert {(s.address, s.data) for s in ff.read_ihex(hexfile)} == \
        {(a, b) for a, b in ((s.address, s.data) for s in _joined(segs))}


def _joined(segments):
    out = []
    for s in sorted(segments, key=lambda s: s.address):
        if out and out[-1].end == s.address:
            out[-1] = ff.Segment(out[-1].address, out[-1].data + s.data)
        else:
            out.append(s)
    return out


def test_elf_reader_refuses_what_is_not_arm_elf32(tmp_path):
    bad = tmp_path / "x.elf"
    bad.write_bytes(b"not an elf at all" * 4)
    with pytest.raises(EdgekitError, match="not an ELF"):
        ff.elf_load_segments(bad)
    bad.write_bytes(b"\x7fELF\x02\x01" + bytes(58))  # ELFCLASS64
    with pytest.raises(EdgekitError, match="32-bit little-endian Arm"):
        ff.elf_load_segments(bad)


# --- UF2 ------------------------------------------------------------------------------------------------------

def test_uf2_follows_the_spec_and_round_trips(tmp_path):
    segs = some_segments()
    path = ff.write_uf2(segs, tmp_path / "fw.uf2", ff.RP2350_ARM_S_FAMILY_ID)
    raw = path.read_bytes()
    blocks = check_uf2_against_spec(raw, segs, ff.RP2350_ARM_S_FAMILY_ID)
    # pages: 0x10000000 (first two segments share it), 0x10000300..0x10001600 (20), 0x10080000
    assert len(raw) == 512 * len(blocks) and len(blocks) == 22
    # the module's own reader gives back the same bytes at the same addresses
    memory = {s.address + i: v for s in ff.read_uf2(path) for i, v in enumerate(s.data)}
    for s in segs:
        assert bytes(memory[a] for a in range(s.address, s.end)) == s.data


def test_uf2_block_count_is_pages_touched():
    segs = [ff.Segment(0x10000000, bytes(256)), ff.Segment(0x10000100, b"\x01"), ff.Segment(0x10000fff, b"\x02")]
    blocks = check_uf2_against_spec(ff.uf2_bytes(segs, ff.RP2040_FAMILY_ID), segs, ff.RP2040_FAMILY_ID)
    assert [b["addr"] for b in blocks] == [0x10000000, 0x10000100, 0x10000f00]


def test_rp2350_uf2_starts_with_the_e10_block_in_a_free_sector(tmp_path):
    flash = load_board("rp2350-psram").region("flash")
    top = ff.Segment(flash.end - 0x800, b"\x55" * 0x800)  # an image part in the top sector, as the planner puts it
    segs = some_segments() + [top]
    path = ff.write_uf2(segs, tmp_path / "fw.uf2", ff.RP2350_ARM_S_FAMILY_ID, e10_flash=flash)
    raw = path.read_bytes()
    first = parse_uf2(raw)[0]
    assert first["family"] == ff.ABSOLUTE_FAMILY_ID == 0xE48BFF57
    assert first["flags"] == 0x2000 | 0x8000 and first["number"] == 0 and first["total"] == 2
    assert first["size"] == 256 and first["data"][:256] == b"\xef" * 256
    assert struct.unpack_from("<I", first["data"], 256)[0] == 0x9957E304  # RP2_IGNORE_BLOCK extension tag
    # not the default 0x10FFFF00: that sector holds our part; the block points at the highest free sector
    assert first["addr"] == flash.end - 4096 - 256
    used = {a - a % 4096 for s in segs for a in range(s.address, s.end)}
    assert first["addr"] - first["addr"] % 4096 not in used
    check_uf2_against_spec(raw, segs, ff.RP2350_ARM_S_FAMILY_ID)
    # the reader skips the ignore-tagged block and gives back exactly our bytes
    memory = {s.address + i: v for s in ff.read_uf2(path) for i, v in enumerate(s.data)}
    for s in segs:
        assert bytes(memory[a] for a in range(s.address, s.end)) == s.data
    assert min(memory) >= flash.base and max(memory) < flash.end and first["addr"] not in memory


def test_uf2_without_e10_for_rp2040():
    raw = ff.uf2_bytes(some_segments(), ff.RP2040_FAMILY_ID)
    assert {b["family"] for b in parse_uf2(raw)} == {ff.RP2040_FAMILY_ID}


def test_flash_segments_refuse_overlap_and_unflashable_regions(tmp_path):
    board = load_board("rp2350-psram")
    elf = build_elf(tmp_path, 0x10000000)
    part = tmp_path / "part.ekm"
    part.write_bytes(b"\x77" * 1000)
    segs = ff.flash_segments(board, elf, [(part, 0x10F00000)])
    assert segs[-1] == ff.Segment(0x10F00000, b"\x77" * 1000)
    with pytest.raises(EdgekitError, match="overlap"):
        ff.flash_segments(board, elf, [(part, 0x10000000)])
    with pytest.raises(EdgekitError, match=r"region psram \(programmed_by = (runtime|copy-at-boot)\)"):
        ff.flash_segments(board, elf, [(part, 0x11000000)])  # PSRAM: volatile, no flasher writes it
    with pytest.raises(EdgekitError, match=r"region sram \(programmed_by = runtime\)"):
        ff.flash_segments(board, elf, [(part, 0x20000000)])


# --- Intel HEX ------------------------------------------------------------------------------------------------

def parse_ihex_records(text: str) -> dict[int, int]:
    """Record by record (Intel HEX spec rev. A): checksums, types, extended linear addresses, one final EOF."""
    memory: dict[int, int] = {}
    upper = 0
    lines = text.splitlines()
    assert lines[-1] == ":00000001FF" and sum(1 for ln in lines if ln[7:9] == "01") == 1
    for line in lines:
        assert re.fullmatch(r":[0-9A-F]+", line) and len(line) % 2 == 1, line
        rec = bytes.fromhex(line[1:])
        count, addr, rtype, data, checksum = rec[0], int.from_bytes(rec[1:3], "big"), rec[3], rec[4:-1], rec[-1]
        assert len(data) == count and (sum(rec[:-1]) + checksum) % 256 == 0, line
        assert rtype in (0x00, 0x01, 0x04), f"unexpected record type {rtype:#x}"
        if rtype == 0x04:
            assert count == 2 and addr == 0
            upper = int.from_bytes(data, "big") << 16
        elif rtype == 0x00:
            assert addr + count <= 0x10000, "a data record must not wrap inside its 64 KiB window"
            for i, v in enumerate(data):
                assert upper + addr + i not in memory
                memory[upper + addr + i] = v
    return memory


def test_ihex_records_checksums_and_round_trip(tmp_path):
    segs = [ff.Segment(0x60000000, bytes(range(256)) * 3),
            ff.Segment(0x6000FFF0, bytes(range(40))),          # crosses a 64 KiB boundary
            ff.Segment(0x60400000, b"\xA5" * 70000)]            # spans two windows
    path = ff.write_ihex(segs, tmp_path / "fw.hex")
    memory = parse_ihex_records(path.read_text())
    expected = {s.address + i: v for s in segs for i, v in enumerate(s.data)}
    assert memory == expected
    from intelhex import IntelHex

    ih = IntelHex(str(path))  # the reference reader: parses and checks every record itself
    assert ih.segments() == merge([(s.address, s.end) for s in segs])
    for s in segs:
        assert ih.tobinstr(start=s.address, end=s.end - 1) == s.data
    assert [(s.address, s.data) for s in ff.read_ihex(path)] == [(s.address, s.data) for s in _joined(segs)]


def test_ihex_reader_rejects_a_bad_checksum(tmp_path):
    path = ff.write_ihex([ff.Segment(0x60000000, b"\x01\x02\x03\x04")], tmp_path / "fw.hex")
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:-2] + ("00" if lines[1][-2:] != "00" else "01")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EdgekitError, match="Intel HEX"):
        ff.read_ihex(path)


# --- the real MCU boards' builds ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", REAL_MCU_BOARDS)
def test_real_board_flash_file_matches_elf_and_plan(built_board_project, name):
    _need_tools()
    project = built_board_project(name)
    board = project.board
    elf = project.path / "build" / "firmware" / "edgekit_fw.elf"
    manifest_parts = [(project.path / img["file"], int(img["address"])) for img in project.manifest["images"]]
    expected = readelf_load_ranges(elf) + [(a, a + p.stat().st_size) for p, a in manifest_parts]
    flash_file = flash_file_path(board, elf)
    if flash_file is None:
        # ELF + raw parts (openocd): what the flasher writes is the ELF's PT_LOADs and the parts themselves
        written = ff.flash_segments(board, elf, manifest_parts)
    elif flash_file.suffix == ".uf2":
        raw = flash_file.read_bytes()
        family = ff.RP2350_ARM_S_FAMILY_ID
        blocks = [b for b in parse_uf2(raw) if b["family"] == family]
        assert parse_uf2(raw)[0]["family"] == ff.ABSOLUTE_FAMILY_ID  # the RP2350-E10 block leads
        written = ff.flash_segments(board, elf, manifest_parts)
        check_uf2_against_spec(raw, written, family)
        assert {b["addr"] for b in blocks} == {p for lo, hi in expected for p in range(lo - lo % 256, hi, 256)}
    else:
        memory = parse_ihex_records(flash_file.read_text())
        written = ff.read_ihex(flash_file)
        assert len(memory) == sum(len(s.data) for s in written)
    assert merge((s.address, s.end) for s in written) == merge(expected)
    for s in written:
        region = board.region_at(s.address)
        assert region is not None and s.end <= region.end and region.programmed_by in ("flasher", "elf"), \
            f"{s.address:#x}-{s.end:#x} in {region}"
    # the image parts are there byte for byte
    content = {s.address: s.data for s in _joined(written)}
    for path, address in manifest_parts:
        start = max(a for a in content if a <= address)
        assert content[start][address - start:address - start + path.stat().st_size] == path.read_bytes()
