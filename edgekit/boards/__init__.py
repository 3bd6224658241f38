"""Board profiles: boards/<name>.toml validated into Board objects, and linker scripts rendered from them.

    from edgekit.boards import load_board
    board = load_board("qemu-mps3-an547")
    board.region("ddr").size_bytes, board.cpu.has("mve"), board.qemu.machine
"""
from edgekit.boards.linker import render_linker_script, write_linker_script
from edgekit.boards.registry import (all_boards, board_details, board_names, board_row, board_table, boards_dir,
                                     format_size, load_board, load_board_file)
from edgekit.boards.schema import (ISA_FEATURES, PROGRAMMING_METHODS, REGION_KINDS, Board, Cpu, Flasher, Link,
                                   MemoryRegion, Qemu, Toolchain, board_from_dict)

__all__ = [
    "Board", "Cpu", "Flasher", "Link", "MemoryRegion", "Qemu", "Toolchain", "ISA_FEATURES", "PROGRAMMING_METHODS",
    "REGION_KINDS", "all_boards", "board_details", "board_from_dict", "board_names", "board_row", "board_table",
    "boards_dir", "format_size", "load_board", "load_board_file", "render_linker_script", "write_linker_script",
]
