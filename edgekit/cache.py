"""The build cache of `--board` runs: $EDGEKIT_CACHE (default ~/.cache/edgekit)/builds/<board>-<key>.

edgekit.link.run.ensure_built generates and builds a project there and writes MARKER into it (board, key, model,
edgekit version); every later run that uses the entry touches MARKER, so its mtime is "last used". Listing and
pruning only ever consider folders that carry MARKER, or the staging folders generate_project leaves behind
when it is killed (.<board>-<key>.*.tmp / .old); anything else under the cache root, and every symbolic link, is
left alone. A pruned folder is first renamed away (one atomic step, so a run starting meanwhile either finds the
whole entry or none), then deleted without following any link inside it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import EdgekitError

CACHE_ENV = "EDGEKIT_CACHE"
BUILDS = "builds"
MARKER = "edgekit-cache.json"
ENTRY_NAME = re.compile(r"(?P<board>[a-z0-9][a-z0-9-]*)-(?P<key>[0-9a-f]{16})")
# generate_project's staging and replaced folders, named after the project they were for
LEFTOVER_NAME = re.compile(r"\.(?P<board>[a-z0-9][a-z0-9-]*)-(?P<key>[0-9a-f]{16})\..+\.(tmp|old)")
SECONDS_PER_DAY = 86400.0


def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "edgekit"


def builds_dir() -> Path:
    return cache_root() / BUILDS


def write_marker(project: Path, *, board: str, key: str, model: str, version: str) -> None:
    """Claim `project` as a cache entry (written after a successful build, so a failed one is never listed as
    usable; it is still pruned as a leftover only if it carries the marker)."""
    data = {"board": board, "key": key, "model": model, "edgekit": version, "created": time.time()}
    tmp = project / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, project / MARKER)


def touch_marker(project: Path) -> None:
    """Record a use of the entry (its marker's mtime is the entry's "last used")."""
    try:
        os.utime(project / MARKER)
    except OSError:
        pass  # a read-only cache still works; only "last used" goes stale


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    board: str
    key: str
    model: str | None
    size_bytes: int
    last_used: float          # seconds since the epoch
    leftover: bool = False    # an interrupted generate's staging folder, never usable

    def to_dict(self) -> dict:
        return {"path": str(self.path), "board": self.board, "key": self.key, "model": self.model,
                "size_bytes": self.size_bytes, "last_used": self.last_used, "leftover": self.leftover}


def _tree_size(root: Path) -> int:
    """Bytes of the files under root; a symbolic link counts as the link itself, never what it points to."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        # os.walk lists a link to a directory under dirnames (and does not enter it): count it like a file
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def _entry(path: Path) -> CacheEntry | None:
    if path.is_symlink() or not path.is_dir():
        return None
    m = ENTRY_NAME.fullmatch(path.name)
    if m is not None:
        marker = path / MARKER
        if marker.is_symlink() or not marker.is_file():
            return None
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
            last_used = marker.stat().st_mtime
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("board") != m["board"] or data.get("key") != m["key"]:
            return None  # a marker copied into another folder does not make it ours
        return CacheEntry(path, m["board"], m["key"], data.get("model"), _tree_size(path), last_used)
    m = LEFTOVER_NAME.fullmatch(path.name)
    if m is not None:
        return CacheEntry(path, m["board"], m["key"], None, _tree_size(path), path.lstat().st_mtime, leftover=True)
    return None


def list_entries() -> list[CacheEntry]:
    """The cache's entries, most recently used first."""
    root = builds_dir()
    if not root.is_dir():
        return []
    entries = [e for e in (_entry(p) for p in root.iterdir()) if e is not None]
    return sorted(entries, key=lambda e: e.last_used, reverse=True)


def select_for_prune(entries: list[CacheEntry], *, older_than_days: float | None, everything: bool,
                     now: float | None = None) -> list[CacheEntry]:
    if everything == (older_than_days is not None):
        raise EdgekitError("say what to prune: --older-than DAYS or --all",
                           fix="e.g. `edgekit cache prune --older-than 30` (add --dry-run to see what would go)")
    if everything:
        return list(entries)
    if older_than_days < 0:
        raise EdgekitError(f"--older-than {older_than_days:g}: days cannot be negative", fix="give 0 or more days")
    cutoff = (time.time() if now is None else now) - older_than_days * SECONDS_PER_DAY
    return [e for e in entries if e.last_used < cutoff]


def remove_entry(entry: CacheEntry) -> None:
    """Delete one entry: rename it out of the way first (atomic), then remove the renamed tree."""
    root = builds_dir()
    path = entry.path
    if path.parent.resolve() != root.resolve() or path.is_symlink():
        raise EdgekitError("refusing to remove a folder outside the build cache", path=path)
    trash = Path(tempfile.mkdtemp(prefix=".prune.", dir=root))
    try:
        os.replace(path, trash / "entry")
    except FileNotFoundError:
        pass  # another prune got there first
    finally:
        shutil.rmtree(trash, ignore_errors=True)  # rmtree removes links inside, never what they point to
