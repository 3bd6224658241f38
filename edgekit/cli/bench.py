"""`edgekit bench`: performance goals, measured (a table on stdout, JSON on disk). Never run by the tests."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.atomic_file import write_text_atomic
from edgekit.bench.peers import PEER_FORMATS
from edgekit.cli.common import stderr_console, stdout_console
from edgekit.pack.formats import FLOAT_FORMATS

SUITE_NAMES = ["pack", "host", "qemu", "kernels", "reliability", "peers"]


@click.command("bench")
@click.option("--suite", "suites", multiple=True, type=click.Choice(SUITE_NAMES),
              help="Suites to run (repeatable) [default: all but reliability (long) and peers (needs the "
                   "peers extra)].")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path("bench/work"),
              show_default=True, help="Scratch directory (synthetic checkpoints and builds are kept here).")
@click.option("-o", "--output", "--json", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bench/results.json"), show_default=True, help="JSON results file.")
@click.option("--device", "devices", multiple=True, type=click.Choice(["host", "qemu-mps3-an547", "scripted"]),
              help="Reliability suite: devices to run (repeatable) [default: all].")
@click.option("--model", "model_arg", default=None,
              help="Peers suite: the model to run [default: a synthetic bitnet-b1.58-2B-4T, tied embedding].")
@click.option("--peer-bench", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Peers suite: a llama-bench binary to run too (bitnet.cpp, ik_llama.cpp, llama.cpp); repeatable.")
@click.option("--peer-format", multiple=True, type=click.Choice(PEER_FORMATS),
              help="Peers suite: the --peer-bench of the same rank runs the same weights exported in this format "
                   "(i2_s: bitnet.cpp; tq2_0/tq1_0: llama.cpp), its head requantised to Q6_K by the "
                   "llama-quantize beside that binary.")
@click.option("--peer-model", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Peers suite: instead of --peer-format, a GGUF of yours for the --peer-bench of the same rank.")
@click.option("--rounds", type=click.IntRange(1, 100), default=None,
              help="Peers suite: timed rounds after the warm-up round [default: 5].")
@click.option("--head", type=click.Choice(list(FLOAT_FORMATS)), multiple=True,
              help="Peers suite: edgekit's embedding/head format [default: q8row]; repeatable: one edgekit engine "
                   "per format, in the same rounds.")
def bench(suites, work, output, devices, model_arg, peer_bench, peer_format, peer_model, rounds, head):
    """Measure load+pack throughput and RSS, host decode/prefill tokens/s, emulated-board decode, and (--suite
    peers) edgekit against llama.cpp on the same weights in one run. Commands: docs/benchmarks.md."""
    from rich.table import Table

    from edgekit.bench.suites import NOT_BY_DEFAULT, SUITES, run

    err = stderr_console()
    default = [name for name in SUITES if name not in NOT_BY_DEFAULT]
    peers = {"model_arg": model_arg, "peer_bench": peer_bench, "peer_model": peer_model, "peer_format": peer_format}
    if rounds is not None:
        peers["rounds"] = rounds
    if head:
        peers["head"] = head
    results = run(list(suites or default), work, lambda m: err.print(f"[dim]{m}[/dim]"),
                  options={"reliability": {"devices": tuple(devices)}, "peers": peers})
    write_text_atomic(output, json.dumps(results, indent=2) + "\n")
    con = stdout_console()
    by_suite: dict[str, list[dict]] = {}
    for row in results["rows"]:  # one table per suite, and per op where a suite times several (kernels)
        by_suite.setdefault(row["suite"] + (f": {row['op']}" if "op" in row else ""), []).append(row)
    for suite, rows in by_suite.items():
        table = Table(title=suite, show_edge=False, pad_edge=False)
        cols = [c for c in rows[0] if c not in ("suite", "op")]
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(*[f"{r[c]:,}" if isinstance(r[c], int) and not isinstance(r[c], bool) else
                            "—" if r[c] is None else str(r[c]) for c in cols])
        con.print(table)
    con.print(f"wrote {output}")
