"""`edgekit profile`: per-token speed from the device's own clock (CSV, JSON summary, PNG)."""
from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import echo_json, model_argument, stdout_console
from edgekit.cli.device import _connect, device_options


@click.command("profile")
@model_argument()
@device_options
@click.option("--prompt", "-p", default="And God said,", show_default=True, help="Prompt to continue.")
@click.option("--tokens", "max_new", type=click.IntRange(1), default=32, show_default=True,
              help="Tokens to generate and time.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("profile"),
              show_default=True, help="Directory for tokens.csv, summary.json and tokens.png.")
@click.option("--json", "json_out", is_flag=True, help="Print the summary as JSON.")
def profile(model, port, board, trace, prompt, max_new, output, json_out):
    """Time every generated token on the device (its own cycle counter) and write CSV, JSON and a plot."""
    from edgekit.boards import load_board
    from edgekit.profile import profile_generation, write_profile

    qemu = load_board(board).qemu if board else None
    # emulated Cortex-M boards run with -icount: the device clock then counts instructions (deterministic)
    shift = qemu.icount_shift if qemu is not None and qemu.mode == "system" else None
    m, dev, _ = _connect(model, port, board, trace, icount_shift=shift)
    with dev:
        estimate = qemu is not None
        result = profile_generation(dev.client, m.encode(prompt), max_new, estimate=estimate)
    paths = write_profile(result, output)
    summary = result.summary()
    if json_out:
        echo_json(summary)
        return
    con = stdout_console()
    t = summary["token_ms"]
    con.print(f"{summary['board']} ({summary['kernel']}): {summary['generated_tokens']} tokens, "
              f"{summary['decode_tokens_per_s']:.2f} tokens/s, per token mean {t['mean']:.2f} ms / median "
              f"{t['median']:.2f} / p95 {t['p95']:.2f}; prefill {summary['prefill_ms']:.1f} ms"
              + (" [QEMU estimate]" if summary["estimate"] else ""))
    con.print(f"energy: not measured ({summary['energy_note']})")
    con.print("wrote " + ", ".join(str(p) for p in paths.values()))
