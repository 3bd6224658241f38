"""Render the bare-metal linker script (firmware/ports/common/cortex-m.ld.in) from a board and placements.

The generator calls render_linker_script(board, placements) with the plan's choices; port.cmake fills the
same @PLACEHOLDERS@ with the board's default layout through CMake's configure_file, so a firmware built
without a plan links exactly like one whose plan chose the defaults (tests/test_boards.py checks both agree).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from edgekit.boards.schema import Board, MemoryRegion
from edgekit.atomic_file import write_text_atomic
from edgekit.errors import EdgekitError

TEMPLATE_NAME = "cortex-m.ld.in"
SECTIONS = ("text", "data", "stack", "arena")
_PLACEHOLDER = re.compile(r"@([A-Z0-9_]+)@")


def firmware_dir() -> Path:
    """The firmware/ tree: the checkout's, or the copy installed as package data."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "firmware", here.parent / "data" / "firmware"):
        if (candidate / "ports").is_dir():
            return candidate
    raise EdgekitError("cannot find the firmware/ directory", fix="reinstall edgekit")


def memory_attributes(region: MemoryRegion) -> str:
    if not region.writable:
        return "rx"
    return "rwx"


def memory_lines(board: Board, limits: Mapping[str, tuple[int, int]] | None = None) -> str:
    """The MEMORY block body: one line per region, optionally narrowed to (offset, length) per region so
    the linker stays clear of the bytes image parts occupy."""
    limits = dict(limits or {})
    lines = []
    for r in board.memory:
        origin, length = r.base, r.size_bytes
        if r.name in limits:
            offset, size = limits.pop(r.name)
            # Length 0 is fine: image parts may fill a region the linker then places nothing in.
            if offset < 0 or size < 0 or offset + size > r.size_bytes:
                raise EdgekitError(f"linker limit for region {r.name!r} ({offset:#x}+{size:#x}) lies outside it "
                                   f"(size {r.size_bytes:#x})", path=board.source,
                                   fix="give an offset and length inside the region")
            origin, length = r.base + offset, size
        lines.append(f"    {r.name.upper():<12} ({memory_attributes(r)}) : ORIGIN = {origin:#010x}, "
                     f"LENGTH = {length:#x}")
    if limits:
        raise EdgekitError(f"linker limits name unknown regions: {', '.join(sorted(limits))}", path=board.source,
                           fix=f"use region names of board {board.name}")
    return "\n".join(lines)


def placeholder_values(board: Board, placements: Mapping[str, str] | None = None, *,
                       stack_bytes: int | None = None, limits: Mapping[str, tuple[int, int]] | None = None,
                       renderer: str = "edgekit.boards.linker") -> dict[str, str]:
    """The @NAME@ -> text table for the template (also what port.cmake computes for its defaults)."""
    if board.layout is None:
        raise EdgekitError(f"board {board.name} has no [layout]: it does not use the edgekit linker script",
                           path=board.source, fix="use a bare-metal CMake board")
    chosen = {s: getattr(board.layout, s) for s in SECTIONS}
    for section, region_name in (placements or {}).items():
        if section not in SECTIONS:
            raise EdgekitError(f"unknown section {section!r} in linker placements",
                               fix=f"place only {', '.join(SECTIONS)}")
        chosen[section] = region_name
    for section, region_name in chosen.items():
        region = board.region(region_name)
        if section != "text" and not region.writable:
            raise EdgekitError(f"cannot place {section} in region {region_name!r} of {board.name}: it is not "
                               f"writable", fix="place it in a RAM region")
    stack = board.layout.stack_bytes if stack_bytes is None else stack_bytes
    if stack <= 0 or stack % 8:
        raise EdgekitError(f"stack size {stack} is not a positive multiple of 8", fix="use e.g. 8192")
    return {
        "EK_LD_RENDERER": renderer,
        "EK_LD_BOARD": board.name,
        "EK_LD_MEMORY": memory_lines(board, limits),
        "EK_LD_STACK_SIZE": f"{stack:#x}",
        "EK_LD_TEXT_REGION": chosen["text"].upper(),
        "EK_LD_DATA_REGION": chosen["data"].upper(),
        "EK_LD_STACK_REGION": chosen["stack"].upper(),
        "EK_LD_ARENA_REGION": chosen["arena"].upper(),
    }


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Replace every @NAME@; an unknown or unused placeholder is an error, never silently left in."""
    found = set(_PLACEHOLDER.findall(template))
    missing = found - set(values)
    if missing:
        raise EdgekitError(f"linker template needs values for {', '.join(sorted(missing))}",
                           fix="pass them in the placement table")
    unused = set(values) - found
    if unused:
        raise EdgekitError(f"linker template has no placeholder for {', '.join(sorted(unused))}",
                           fix="update the template or the placement table")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def render_linker_script(board: Board, placements: Mapping[str, str] | None = None, *,
                         stack_bytes: int | None = None, limits: Mapping[str, tuple[int, int]] | None = None,
                         template: Path | None = None) -> str:
    """The linker script text for `board`.

    placements: section -> region name for any of text, data, stack, arena (others keep the board's
        [layout] defaults), e.g. {"arena": "ddr"}.
    limits: region name -> (offset, length) the linker may use inside that region (keep it off image parts).
    """
    path = template or firmware_dir() / "ports" / "common" / TEMPLATE_NAME
    return fill_template(path.read_text(encoding="utf-8"),
                         placeholder_values(board, placements, stack_bytes=stack_bytes, limits=limits))


def write_linker_script(path: str | os.PathLike, board: Board, placements: Mapping[str, str] | None = None,
                        **kwargs) -> Path:
    """render_linker_script, written atomically (temp file + rename)."""
    return write_text_atomic(path, render_linker_script(board, placements, **kwargs))
