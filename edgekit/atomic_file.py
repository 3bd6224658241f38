"""Write a file so that readers see the old content or the new one, never half of either: temp file beside the
destination, then rename. Every small text output of edgekit (linker scripts, platformio.ini, transcripts, bench
results) goes through here; images stream through edgekit/pack/image.py, which uses temp_beside() the same way.

Temp files carry the writer's pid (`.NAME.PID.XXXXXX.tmp`): an interrupted writer cleans up after itself, and one
killed outright (SIGKILL, power loss) leaves a file the next write to the same destination removes, once that pid
is no longer running. Finished files get the mode the user's umask gives a new file, as `open()` would.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def user_file_mode() -> int:
    """0o666 less the process umask (mkstemp makes 0600 files whatever the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(dest: Path) -> None:
    """Temp files of `dest` left by writers that were killed before they could clean up."""
    pattern = re.compile(rf"^\.{re.escape(dest.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return
    for name in names:
        m = pattern.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_running(int(m.group(1))):
            try:
                (dest.parent / name).unlink()
            except OSError:
                pass


def temp_beside(dest: str | os.PathLike) -> tuple[int, Path]:
    """(fd, path) of a new temp file in dest's folder, with the user's file mode, stale ones removed first."""
    dest = Path(dest)
    remove_stale_temps(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.{os.getpid()}.", suffix=".tmp")
    os.fchmod(fd, user_file_mode())
    return fd, Path(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
