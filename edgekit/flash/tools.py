"""Running the external tools a flasher needs: find them (or name the package), run them with a time limit."""
from __future__ import annotations

import shutil
import subprocess

from edgekit.errors import EdgekitError

FLASH_TIMEOUT_S = 300.0  # writing a few MB of QSPI flash through a debug probe


def require_tool(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise EdgekitError(f"{tool} not found", fix=f"install {package}")
    return path


def run_tool(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FLASH_TIMEOUT_S)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise EdgekitError(f"{what} failed (exit {proc.returncode}):\n{tail}",
                           fix="check the cable, the board's boot mode and that no other tool holds the probe")
