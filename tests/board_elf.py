"""What the real-board tests (tests/test_board_*.py) share: the ARM tools they read ELFs with, and running them."""
from __future__ import annotations

import shutil
import subprocess

import pytest

ARM_TOOLS = ("cmake", "ninja", "arm-none-eabi-gcc", "arm-none-eabi-readelf", "arm-none-eabi-nm",
             "arm-none-eabi-objdump")


def need_arm_tools() -> None:
    """Fail (never skip) when a tool is missing: `make test` installs them."""
    missing = [t for t in ARM_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make deps` "
                    "(apt: cmake ninja-build gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi)")


def run_tool(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout

