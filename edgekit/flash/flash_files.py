"""Flash files for real boards: what a flasher writes, as (address, bytes) segments, in UF2 or Intel HEX.

    segments = flash_segments(board, "build/firmware/edgekit_fw.elf", [("model.part0.ekm", 0x10F00000)])
    write_uf2(segments, "edgekit_fw.uf2", family_id=RP2350_ARM_S_FAMILY_ID, flash=board.region("flash"))
    write_ihex(segments, "edgekit_fw.hex")

The segments are the firmware's loadable bytes -- every ELF32 PT_LOAD program header with a file size > 0, at
its *physical* address (p_paddr: where .data's initial values sit in flash, not where they run) -- plus every
image part at its planned address. Nothing is padded between segments; overlaps and bytes outside the board's
flasher-written regions are refused, since a flasher would silently write them somewhere wrong.

UF2 is written by our own small writer rather than the PyPI package `uf2utils` (0.9.8, read before deciding):
uf2utils splits a payload into 256-byte blocks from wherever it starts, so a segment that does not start on a
256-byte boundary gives unaligned blocks, which the RP2040/RP2350 boot ROM does not accept (every block must
target one whole 256-byte flash page); it has no support for the RP2350-E10 workaround block below; its block
reader builds but never raises its magic-number errors (a corrupt file parses silently); and it pulls in
littlefs-python, a compiled package we have no use for.
"""
from __future__ import annotations

import io
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from edgekit.atomic_file import write_text_atomic
from edgekit.boards.schema import Board, MemoryRegion
from edgekit.errors import EdgekitError

# Regions a flash file may write: the program itself (elf) and image parts the flasher writes (flasher).
FLASHABLE = ("elf", "flasher")


@dataclass(frozen=True)
class Segment:
    address: int
    data: bytes

    @property
    def end(self) -> int:
        return self.address + len(self.data)


# --- ELF32 program headers ----------------------------------------------------------------------------------
# System V ABI / TIS "ELF Portable Formats Specification" 1.2, Book I: "ELF Header" (e_ident, e_phoff,
# e_phentsize, e_phnum) and Book II "Program Header" (Elf32_Phdr: p_type, p_offset, p_vaddr, p_paddr, p_filesz,
# p_memsz, p_flags, p_align; PT_LOAD = 1). ARM: "ELF for the Arm Architecture" (IHI 0044), EM_ARM = 40.
_ELF_MAGIC = b"\x7fELF"
_ELFCLASS32, _ELFDATA2LSB = 1, 1
_EM_ARM = 40
_PT_LOAD = 1
_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
_PHDR = struct.Struct("<IIIIIIII")


def elf_load_segments(elf: str | Path) -> list[Segment]:
    """The bytes a flasher writes for the program: PT_LOAD headers with file bytes, at their physical address."""
    elf = Path(elf)
    try:
        raw = elf.read_bytes()
    except OSError as exc:
        raise EdgekitError(f"cannot read the firmware ELF ({exc.strerror})", path=elf,
                           fix="run `edgekit build` first") from None
    if len(raw) < _EHDR.size or raw[:4] != _ELF_MAGIC:
        raise EdgekitError("not an ELF file", path=elf, fix="rebuild the project with `edgekit build`")
    ident, _type, machine, _ver, _entry, phoff, _shoff, _flags, _ehsize, phentsize, phnum, *_ = \
        _EHDR.unpack_from(raw, 0)
    if ident[4] != _ELFCLASS32 or ident[5] != _ELFDATA2LSB or machine != _EM_ARM:
        raise EdgekitError("not a 32-bit little-endian Arm ELF (a flash file is for Cortex-M firmware)", path=elf,
                           fix="build the project for its MCU board with `edgekit build`")
    if phentsize < _PHDR.size or phoff + phnum * phentsize > len(raw):
        raise EdgekitError("the ELF's program header table is truncated", path=elf, fix="rebuild the project")
    segments = []
    for i in range(phnum):
        p_type, offset, _vaddr, paddr, filesz, _memsz, _pflags, _align = _PHDR.unpack_from(raw, phoff + i * phentsize)
        if p_type != _PT_LOAD or filesz == 0:  # .bss and the arena: nothing to write
            continue
        if offset + filesz > len(raw):
            raise EdgekitError(f"program header {i} runs past the end of the file", path=elf, fix="rebuild")
        segments.append(Segment(paddr, raw[offset:offset + filesz]))
    if not segments:
        raise EdgekitError("the ELF has no loadable bytes", path=elf, fix="rebuild the project")
    return segments


def flash_segments(board: Board, elf: str | Path, parts: Iterable[tuple[str | Path, int]]) -> list[Segment]:
    """Firmware segments plus image parts, sorted; each inside one flasher-written region, none overlapping."""
    segments = elf_load_segments(elf)
    for path, address in parts:
        try:
            segments.append(Segment(int(address), Path(path).read_bytes()))
        except OSError as exc:
            raise EdgekitError(f"cannot read image part ({exc.strerror})", path=path,
                               fix="regenerate the project with `edgekit gen`") from None
    segments.sort(key=lambda s: s.address)
    for seg in segments:
        region = board.region_at(seg.address)
        if region is None or seg.end > region.end or region.programmed_by not in FLASHABLE:
            where = (f"region {region.name} (programmed_by = {region.programmed_by})" if region is not None
                     else "no memory region")
            raise EdgekitError(f"{len(seg.data)} bytes at {seg.address:#x} fall in {where} of {board.name}; a "
                               f"flasher writes only regions programmed_by {' or '.join(FLASHABLE)}",
                               path=board.source, fix="re-generate the project so the plan and the linker script "
                                                      "agree with the board profile")
    for a, b in zip(segments, segments[1:]):
        if b.address < a.end:
            raise EdgekitError(f"flash contents overlap: {a.address:#x}-{a.end:#x} and {b.address:#x}-{b.end:#x}",
                               fix="re-generate the project (the firmware grew into an image part's space)")
    return segments


def merged_ranges(segments: Iterable[Segment]) -> list[tuple[int, int]]:
    """(start, end) address ranges, adjacent segments joined."""
    out: list[list[int]] = []
    for seg in sorted(segments, key=lambda s: s.address):
        if out and seg.address <= out[-1][1]:
            out[-1][1] = max(out[-1][1], seg.end)
        else:
            out.append([seg.address, seg.end])
    return [(a, b) for a, b in out]


# --- UF2 ------------------------------------------------------------------------------------------------------
# github.com/microsoft/uf2 README, "File format": 512-byte blocks of 32-bit little-endian fields: magicStart0,
# magicStart1, flags, targetAddr, payloadSize, blockNo, numBlocks, fileSize-or-familyID, data[476], magicEnd.
UF2_BLOCK_SIZE = 512
UF2_DATA_SIZE = 476
UF2_MAGIC_START0 = 0x0A324655   # "UF2\n"
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_FAMILY_ID_PRESENT = 0x00002000
UF2_FLAG_EXTENSION_TAGS_PRESENT = 0x00008000  # README "Extensions": tags follow the payload, 4-byte aligned
_UF2_HEADER = struct.Struct("<IIIIIIII")
# RP2040/RP2350 boot ROM: one block writes one 256-byte flash page (RP2350 datasheet §5.5 "UF2 format details";
# pico-sdk src/common/boot_uf2_headers/include/boot/uf2.h for the family IDs and the RP2 extension tag).
UF2_PAGE = 256
RP2040_FAMILY_ID = 0xE48BFF56
ABSOLUTE_FAMILY_ID = 0xE48BFF57
RP2350_ARM_S_FAMILY_ID = 0xE48BFF59
UF2_EXTENSION_RP2_IGNORE_BLOCK = 0x9957E304  # tag: size 4, type 0x9957e3 -- "boot ROM, do not write this block"
FLASH_SECTOR = 4096  # the boot ROM erases flash a 4 KiB sector at a time


def _uf2_block(flags: int, address: int, payload: bytes, block_no: int, num_blocks: int, family: int) -> bytes:
    assert len(payload) <= UF2_DATA_SIZE
    return (_UF2_HEADER.pack(UF2_MAGIC_START0, UF2_MAGIC_START1, flags, address, UF2_PAGE, block_no, num_blocks,
                             family)
            + payload.ljust(UF2_DATA_SIZE, b"\0") + struct.pack("<I", UF2_MAGIC_END))


def _pages(segments: Sequence[Segment]) -> dict[int, bytearray]:
    """256-byte pages touched by the segments; bytes of a page no segment covers are 0, as picotool writes them."""
    pages: dict[int, bytearray] = {}
    for seg in segments:
        addr, pos = seg.address, 0
        while pos < len(seg.data):
            base, off = addr - addr % UF2_PAGE, addr % UF2_PAGE
            n = min(UF2_PAGE - off, len(seg.data) - pos)
            page = pages.setdefault(base, bytearray(UF2_PAGE))
            page[off:off + n] = seg.data[pos:pos + n]
            addr, pos = addr + n, pos + n
    return dict(sorted(pages.items()))


def e10_block_address(segments: Sequence[Segment], flash: MemoryRegion) -> int:
    """Where the RP2350-E10 workaround block points: the last page of the highest 4 KiB sector of `flash` that
    holds none of our bytes. picotool's default is the last page of a 16 MB flash (0x10FFFF00), but our planner
    puts image parts at the top of flash, and a boot ROM that does not know the ignore tag may write the block's
    0xEF page there (users report finding it in flash dumps) -- so it goes where nothing of ours can be hit."""
    used = {sector for seg in segments
            for sector in range(seg.address - seg.address % FLASH_SECTOR, seg.end, FLASH_SECTOR)}
    for sector in range(flash.end - FLASH_SECTOR, flash.base - 1, -FLASH_SECTOR):
        if sector not in used:
            return sector + FLASH_SECTOR - UF2_PAGE
    raise EdgekitError(f"flash region {flash.name} has no free 4 KiB sector for the RP2350-E10 workaround block",
                       fix="re-plan with a smaller model or context so one flash sector stays free")


def uf2_bytes(segments: Sequence[Segment], family_id: int, *, e10_flash: MemoryRegion | None = None) -> bytes:
    """A UF2 file: one block per 256-byte page, in address order, numbered 0..n-1 of n, tagged with family_id.

    e10_flash: the flash region of an RP2350 board. Then the file starts with the block picotool adds for
    erratum RP2350-E10 (RP2350 datasheet errata; the Pico SDK passes --abs-block for every build, and its
    maintainers state the block is needed for flash UF2s dropped onto a device whose flash holds a partition
    table -- we cannot know what the board's flash holds, so we always add it, as picotool does). Its fields as
    picotool writes them (elf2uf2.cpp gen_abs_block): family ABSOLUTE, 256 bytes of 0xEF, block 0 of numBlocks 2
    although the file holds one block of that family (deliberate, per the erratum), and the RP2_IGNORE_BLOCK
    extension tag after the payload, so boot ROMs that know the tag do not write it.
    """
    pages = _pages(segments)
    if not pages:
        raise EdgekitError("nothing to write into the UF2 file", fix="rebuild the project")
    out = io.BytesIO()
    if e10_flash is not None and e10_flash.base <= next(iter(pages)) < e10_flash.end:
        payload = b"\xEF" * UF2_PAGE + struct.pack("<I", UF2_EXTENSION_RP2_IGNORE_BLOCK)
        out.write(_uf2_block(UF2_FLAG_FAMILY_ID_PRESENT | UF2_FLAG_EXTENSION_TAGS_PRESENT,
                             e10_block_address(segments, e10_flash), payload, 0, 2, ABSOLUTE_FAMILY_ID))
    for number, (address, page) in enumerate(pages.items()):
        out.write(_uf2_block(UF2_FLAG_FAMILY_ID_PRESENT, address, bytes(page), number, len(pages), family_id))
    return out.getvalue()


def write_uf2(segments: Sequence[Segment], path: str | Path, family_id: int, *,
              e10_flash: MemoryRegion | None = None) -> Path:
    return _write_bytes_atomic(Path(path), uf2_bytes(segments, family_id, e10_flash=e10_flash))


def _write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Temp file beside the destination, then rename: a flasher never sees half a file (as edgekit.atomic_file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # a build output like the ELF beside it (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_uf2(path: str | Path, family_id: int | None = None) -> list[Segment]:
    """The pages a UF2 file writes (blocks of family_id, or of every family; ignore-tagged blocks skipped)."""
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) % UF2_BLOCK_SIZE:
        raise EdgekitError(f"UF2 file size {len(raw)} is not a multiple of {UF2_BLOCK_SIZE}", path=path,
                           fix="rebuild the project")
    segments = []
    for pos in range(0, len(raw), UF2_BLOCK_SIZE):
        block = raw[pos:pos + UF2_BLOCK_SIZE]
        m0, m1, flags, address, size, _no, _n, family = _UF2_HEADER.unpack_from(block, 0)
        (m_end,) = struct.unpack_from("<I", block, UF2_BLOCK_SIZE - 4)
        if (m0, m1, m_end) != (UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_MAGIC_END) or size > UF2_DATA_SIZE:
            raise EdgekitError(f"block {pos // UF2_BLOCK_SIZE} is not a UF2 block", path=path, fix="rebuild")
        if flags & UF2_FLAG_EXTENSION_TAGS_PRESENT:
            tag_at = 32 + (size + 3) // 4 * 4
            if struct.unpack_from("<I", block, tag_at)[0] == UF2_EXTENSION_RP2_IGNORE_BLOCK:
                continue
        if family_id is not None and (not flags & UF2_FLAG_FAMILY_ID_PRESENT or family != family_id):
            continue
        segments.append(Segment(address, block[32:32 + size]))
    return segments


# --- Intel HEX ------------------------------------------------------------------------------------------------
# Intel "Hexadecimal Object File Format Specification" rev. A: records ':LLAAAATT<data>CC'; type 04 (extended
# linear address) sets the upper 16 address bits. Written with the PyPI intelhex package one 64 KiB window at a
# time: intelhex keeps one dict entry per byte, so a whole 8 MB flash at once would cost about a gigabyte.
IHEX_WINDOW = 1 << 16
IHEX_BYTES_PER_RECORD = 32
_IHEX_EOF = ":00000001FF"


def ihex_text(segments: Sequence[Segment]) -> str:
    from intelhex import IntelHex

    out = io.StringIO()
    for seg in segments:
        pos = 0
        while pos < len(seg.data):
            addr = seg.address + pos
            n = min(IHEX_WINDOW - addr % IHEX_WINDOW, len(seg.data) - pos)
            window = IntelHex()
            window.frombytes(seg.data[pos:pos + n], offset=addr)
            text = io.StringIO()
            # No start-address record: the boot ROM starts the program from its own boot structures.
            window.write_hex_file(text, write_start_addr=False, eolstyle="native", byte_count=IHEX_BYTES_PER_RECORD)
            lines = text.getvalue().splitlines()
            assert lines[-1] == _IHEX_EOF  # each window's own end-of-file record: one goes at the very end
            out.write("\n".join(lines[:-1]) + "\n")
            pos += n
    out.write(_IHEX_EOF + "\n")
    return out.getvalue()


def write_ihex(segments: Sequence[Segment], path: str | Path) -> Path:
    path = write_text_atomic(path, ihex_text(segments))
    os.chmod(path, 0o644)  # a build output like the ELF beside it (mkstemp makes 0600)
    return path


def read_ihex(path: str | Path) -> list[Segment]:
    """The contiguous runs of bytes an Intel HEX file writes (intelhex parses and checks every record)."""
    from intelhex import HexReaderError, IntelHex

    try:
        ih = IntelHex(str(path))
    except (HexReaderError, ValueError) as exc:
        raise EdgekitError(f"not a valid Intel HEX file ({exc})", path=path, fix="rebuild the project") from None
    return [Segment(start, ih.tobinstr(start=start, end=end - 1)) for start, end in ih.segments()]
