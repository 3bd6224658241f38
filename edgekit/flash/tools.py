"""Running the external tools a flasher needs: find them (or name the package), run them with a time limit,
retry what is transient, and turn a known failure ("no board attached", "not in bootloader mode") into one line
that names the fix."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Sequence

from edgekit.errors import EdgekitError

FLASH_TIMEOUT_S = 300.0  # writing a few MB of QSPI flash through a debug probe or the Teensy's HalfKay bootloader
RETRY_PAUSE_S = 1.0      # let a USB device that just dropped off re-enumerate before the next attempt
GENERIC_FIX = "check the cable, the board's boot mode and that no other tool holds the probe"
_ERROR_LINE = re.compile(r"error|fail|unable|cannot|can't|not found", re.IGNORECASE)


@dataclass(frozen=True)
class Diagnosis:
    """A tool's output that means one known problem, and the one thing the user does about it."""

    pattern: re.Pattern[str]
    problem: str
    fix: str


def require_tool(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise EdgekitError(f"{tool} not found", fix=f"install {package}; `edgekit doctor` lists every tool each "
                                                    "board needs")
    return path


def _summary_line(output: str) -> str:
    """The line of a tool's output that says what went wrong: the last error-looking line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_LINE.search(line):
            return line
    return lines[-1] if lines else "no output"


def run_tool(cmd: Sequence[str], what: str, *, diagnoses: Sequence[Diagnosis] = (),
             transient: re.Pattern[str] | None = None, retries: int = 0, timeout_s: float = FLASH_TIMEOUT_S,
             fix: str = GENERIC_FIX) -> str:
    """Run cmd (an argv list: nothing goes through a shell) and return its output; raise one-line EdgekitErrors.

    A failure whose output matches `transient` is tried again, at most `retries` more times. Every attempt has
    a time limit, so a tool waiting for a board that never comes cannot hang edgekit.
    """
    cmd = [str(a) for a in cmd]
    for attempt in range(retries + 1):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"{what} did not finish within {timeout_s:.0f} s", fix=fix) from None
        except OSError as exc:
            raise EdgekitError(f"cannot run {cmd[0]} ({exc.strerror})", fix="check that it is installed") from None
        output = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode == 0:
            return output
        if attempt < retries and transient is not None and transient.search(output):
            time.sleep(RETRY_PAUSE_S)
            continue
        for known in diagnoses:
            if known.pattern.search(output):
                raise EdgekitError(f"{what}: {known.problem}", fix=known.fix)
        raise EdgekitError(f"{what} failed (exit {proc.returncode}): {_summary_line(output)}", fix=fix)
    raise AssertionError("unreachable: the last attempt returns or raises")
