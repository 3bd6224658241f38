"""`edgekit cache list|prune`: the firmware builds `--board` runs keep under $EDGEKIT_CACHE/builds."""
from __future__ import annotations

import time

import click

from edgekit.cli.common import echo_json, human_bytes, stdout_console


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(seconds, 0) / 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _table(entries, title: str):
    from rich.markup import escape  # a model path is text, not markup
    from rich.table import Table

    now = time.time()
    table = Table(show_edge=False, pad_edge=False, title=title)
    for col in ("board", "key", "size", "last used", "model"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for entry in entries:
        table.add_row(entry.board, entry.key + (" (interrupted build)" if entry.leftover else ""),
                      human_bytes(entry.size_bytes), _age(now - entry.last_used), escape(entry.model or ""))
    return table


@click.group("cache")
def cache():
    """The firmware builds that `--board` runs keep ($EDGEKIT_CACHE/builds): list them, prune old ones."""


@cache.command("list")
@click.option("--json", "json_out", is_flag=True, help="Print the entries as JSON.")
def list_cmd(json_out):
    """Cached builds, most recently used first: board, key, size on disk, last used, model."""
    from edgekit.cache import builds_dir, list_entries

    entries = list_entries()
    if json_out:
        echo_json({"cache": str(builds_dir()), "entries": [e.to_dict() for e in entries],
                   "total_bytes": sum(e.size_bytes for e in entries)})
        return
    if not entries:
        stdout_console().print(f"no cached builds in {builds_dir()}")
        return
    con = stdout_console()
    con.print(_table(entries, f"builds in {builds_dir()}"))
    con.print(f"{len(entries)} entries, {human_bytes(sum(e.size_bytes for e in entries))}")


@cache.command("prune")
@click.option("--older-than", "older_than", type=float, default=None, metavar="DAYS",
              help="Remove builds not used for more than DAYS days.")
@click.option("--all", "everything", is_flag=True, help="Remove every cached build.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--json", "json_out", is_flag=True, help="Print what was (or would be) removed as JSON.")
def prune(older_than, everything, dry_run, json_out):
    """Remove cached builds: those unused for --older-than DAYS, or --all. Only folders edgekit made (they
    carry its marker file) are touched; symbolic links are never followed."""
    from edgekit.cache import list_entries, remove_entry, select_for_prune

    chosen = select_for_prune(list_entries(), older_than_days=older_than, everything=everything)
    if not dry_run:
        for entry in chosen:
            remove_entry(entry)
    freed = sum(e.size_bytes for e in chosen)
    if json_out:
        echo_json({"dry_run": dry_run, "removed": [e.to_dict() for e in chosen], "freed_bytes": freed})
        return
    if chosen:
        stdout_console().print(_table(chosen, "would remove" if dry_run else "removed"))
    verb = "would free" if dry_run else "freed"
    stdout_console().print(f"{len(chosen)} entries, {verb} {human_bytes(freed)}")
