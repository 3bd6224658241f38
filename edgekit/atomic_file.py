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

from edgekit.errors import EdgekitError


def user_file_mode() -> int:
    """0o666 less the process umask (mkstemp makes 0600 files whatever the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def user_dir_mode() -> int:
    """0o777 less the process umask: what mkdir gives (mkdtemp makes 0700 folders whatever the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


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


def check_output_path(path: str | os.PathLike, *, directory: bool = False) -> Path:
    """Refuse, before any work is done, an output that cannot be written: its folder missing (never created
    silently), a file where a folder should be, a folder where the file should be, or a folder that refuses new
    files (read-only, permissions, /proc). Probed by creating and removing a temp file there, which is what the
    writers do first, so root's permission bypass or a read-only mount cannot fool the check.

    directory: the output is a folder the command creates or replaces (a project, a profile run)."""
    path = Path(path)
    parent = path.parent
    if path.is_dir() and not directory:
        raise EdgekitError("is a folder, not a file", path=path, fix="give a file name, e.g. DIR/name")
    if (path.exists() or path.is_symlink()) and directory and not path.is_dir():
        raise EdgekitError("exists and is not a folder", path=path, fix="choose a folder path")
    if not parent.exists():
        raise EdgekitError("folder does not exist", path=parent,
                           fix="create it first, or choose another path: edgekit never creates folders for an output")
    if not parent.is_dir():
        raise EdgekitError("is not a folder, so nothing can be written inside it", path=parent,
                           fix="choose an output path inside a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as exc:
        raise EdgekitError(f"cannot create files in this folder ({exc.strerror or exc})", path=parent,
                           fix="choose a folder you can write to") from None
    os.close(fd)
    os.unlink(probe)
    return path


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
