"""Finding and loading board profiles: load_board(name), all_boards(), board_table() for the CLI."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, packaged as tomli (a dependency there)
    import tomli as tomllib

from edgekit.boards.schema import Board, board_from_dict
from edgekit.errors import EdgekitError

BOARDS_DIR_ENV = "EDGEKIT_BOARDS_DIR"


def boards_dir() -> Path:
    """Where the shipped profiles live: $EDGEKIT_BOARDS_DIR, the checkout's boards/, or the installed copy."""
    env = os.environ.get(BOARDS_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "boards", here.parent / "data" / "boards"):
        if candidate.is_dir():
            return candidate
    raise EdgekitError("cannot find the boards/ directory of board profiles",
                       fix=f"reinstall edgekit or set {BOARDS_DIR_ENV} to the folder holding <board>.toml files")


def load_board_file(path: str | os.PathLike) -> Board:
    """Load and validate one profile file (any path: user boards need not live in boards/)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EdgekitError("board profile not found", path=path, fix="check the path") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise EdgekitError(f"is not valid TOML: {e}", path=path, fix="fix the TOML syntax") from None
    return board_from_dict(data, path=path, expect_name=path.stem)


@lru_cache(maxsize=None)
def _load_named(directory: str, name: str) -> Board:
    return load_board_file(Path(directory) / f"{name}.toml")


def board_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml"))


def load_board(name: str) -> Board:
    """A shipped board by name (e.g. "qemu-mps3-an547"), or a profile file by path (ends in .toml)."""
    if name.endswith(".toml") or os.sep in name:
        return load_board_file(name)
    directory = boards_dir()
    if not (directory / f"{name}.toml").is_file():
        names = board_names()
        close = [n for n in names if name.lower() in n or n in name.lower()]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise EdgekitError(f"unknown board {name!r}",
                           fix=f"{hint}run `edgekit boards` to list boards ({len(names)} known)")
    return _load_named(str(directory), name)


def all_boards() -> list[Board]:
    """Every shipped profile, validated, sorted by name."""
    return [load_board(n) for n in board_names()]


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale and n % (scale // 16 or 1) == 0:
            v = n / scale
            return f"{v:g} {unit}"
    return f"{n} B"


def board_row(board: Board) -> dict[str, Any]:
    """One row of `edgekit boards`: short strings for the table, raw numbers under the same keys in JSON."""
    return {
        "name": board.name,
        "core": board.cpu.core,
        "clock_mhz": round(board.cpu.clock_hz / 1e6),
        "features": sorted(board.cpu.features),
        "ram_bytes": board.ram_bytes,
        "flash_bytes": board.flash_bytes,
        "os": board.os,
        "flasher": board.flasher.kind,
        "verification": board.verification,
        "description": board.description,
    }


def board_table() -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows for `edgekit boards [--json]` (the CLI renders sizes with format_size)."""
    columns = ["name", "core", "clock_mhz", "features", "ram_bytes", "flash_bytes", "os", "flasher",
               "verification"]
    return columns, [board_row(b) for b in all_boards()]


def format_size(n: int) -> str:
    """Human size for tables: 512 KB, 16 MB, 8 GB."""
    return _size(n) if n else "-"


def board_details(board: Board) -> dict[str, Any]:
    """Everything `edgekit boards show NAME` prints, as plain JSON-able data."""
    return {
        "name": board.name,
        "description": board.description,
        "verification": board.verification,
        "os": board.os,
        "port": board.port,
        "cpu": {"core": board.cpu.core, "arch": board.cpu.arch, "features": sorted(board.cpu.features),
                "clock_hz": board.cpu.clock_hz},
        "memory": [{"name": r.name, "kind": r.kind, "base": f"{r.base:#010x}", "size_bytes": r.size_bytes,
                    "size": format_size(r.size_bytes), "read_bw_bytes_per_s": r.read_bw_bytes_per_s,
                    "writable": r.writable, "programmed_by": r.programmed_by, "note": r.note}
                   for r in board.memory],
        "toolchain": {"compiler": board.toolchain.compiler, "cpu_flags": list(board.toolchain.cpu_flags),
                      "build_system": board.toolchain.build_system,
                      "cmake_toolchain": board.toolchain.cmake_toolchain,
                      "platformio_env": board.toolchain.platformio_env},
        "flasher": {"kind": board.flasher.kind, **dict(board.flasher.options)},
        "link": {"kind": board.link.kind, "uart": board.link.uart,
                 "uart_base": None if board.link.uart_base is None else f"{board.link.uart_base:#010x}",
                 "baud": board.link.baud, "usb_cdc": board.link.usb_cdc},
        "power_meters": list(board.power_meters),
        "qemu": None if board.qemu is None else {
            "mode": board.qemu.mode, "binary": board.qemu.binary, "machine": board.qemu.machine,
            "cpu": board.qemu.cpu, "options": list(board.qemu.options), "icount_shift": board.qemu.icount_shift},
        "source": str(board.source) if board.source else None,
    }
