"""The programs a build needs, and how to install each: checked before a build starts, so a missing tool is one
line naming it and its install command, not a page of CMake errors. `edgekit gen` needs none of them."""
from __future__ import annotations

import shutil

from edgekit.boards import Board
from edgekit.errors import EdgekitError

# program -> Debian/Ubuntu packages that provide it (what `make deps` installs); `edgekit doctor` reads it too
APT_PACKAGES = {
    "cmake": "cmake",
    "ninja": "ninja-build",
    "gcc": "gcc",
    "cc": "gcc",
    "clang": "clang lld",
    "ld64.lld": "lld",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
    "qemu-system-arm": "qemu-system-arm",
    "qemu-aarch64": "qemu-user",
    "ssh": "openssh-client",
    "scp": "openssh-client",
    "ser2net": "ser2net",
}


def install_command(program: str) -> str:
    packages = APT_PACKAGES.get(program)
    return f"sudo apt-get install {packages}" if packages else f"install {program}"


def missing_tool(program: str, purpose: str) -> EdgekitError:
    return EdgekitError(f"{program} is not on PATH; {purpose}",
                        fix=f"install it with `{install_command(program)}` or run `make deps`")


def build_tools(board: Board) -> list[tuple[str, str]]:
    """(program, why) for what `edgekit build` runs for this board, in the order checked. CMake drives every
    build (PlatformIO builds take their sources and flags from CMake's file API), the board's compiler does the
    rest; Ninja is optional (CMake falls back to make)."""
    return [("cmake", "edgekit builds firmware with CMake"),
            (board.toolchain.compiler, f"board {board.name} is compiled with it")]


def check_build_tools(board: Board) -> None:
    """Raise a one-line EdgekitError for the first program the build needs that is not on PATH."""
    for program, why in build_tools(board):
        if shutil.which(program) is None:
            raise missing_tool(program, why)
