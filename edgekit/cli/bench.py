"""`edgekit bench`: performance goals, measured (a table on stdout, JSON on disk). Never run by the tests."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.atomic_file import write_text_atomic
from edgekit.cli.common import stderr_console, stdout_console


@click.command("bench")
@click.option("--suite", "suites", multiple=True, type=click.Choice(["pack", "host", "qemu", "kernels", "reliability"]),
              help="Suites to run (repeatable) [default: all but reliability, which takes long].")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path("bench/work"),
              show_default=True, help="Scratch directory (synthetic checkpoints and builds are kept here).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench/results.json"),
              show_default=True, help="JSON results file.")
@click.option("--device", "devices", multiple=True, type=click.Choice(["host", "qemu-mps3-an547", "scripted"]),
              help="Reliability suite: devices to run (repeatable) [default: all].")
def bench(suites, work, output, devices):
    """Measure load+pack throughput and RSS, host decode/prefill tokens/s, and emulated-board decode."""
    from rich.table import Table

    from edgekit.bench.suites import SUITES, run

    err = stderr_console()
    default = [name for name in SUITES if name != "reliability"]
    results = run(list(suites or default), work, lambda m: err.print(f"[dim]{m}[/dim]"), devices=tuple(devices))
    write_text_atomic(output, json.dumps(results, indent=2) + "\n")
    con = stdout_console()
    by_suite: dict[str, list[dict]] = {}
    for row in results["rows"]:
        by_suite.setdefault(row["suite"], []).append(row)
    for suite, rows in by_suite.items():
        table = Table(title=suite, show_edge=False, pad_edge=False)
        cols = [c for c in rows[0] if c != "suite"]
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(*[f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols])
        con.print(table)
    con.print(f"wrote {output}")
