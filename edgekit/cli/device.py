"""`edgekit flash`, `edgekit validate`: put firmware on a device and check it (`edgekit chat`: chat.py)."""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from edgekit.cli.common import (
    echo_json,
    model_argument,
    resolve_model_arg,
    stderr_console,
    stdout_console,
)

DEFAULT_VALIDATE_PROMPTS = ("The quick brown fox", "In the beginning", "Once upon a time, there was")


def device_options(f):
    for opt in reversed((
        click.option("--port", default=None,
                     help="Device path or pyserial URL (socket://127.0.0.1:N, rfc2217://...) of a running device."),
        click.option("--board", "-b", default=None,
                     help="Build (cached), flash and start MODEL on this board instead of using --port."),
        click.option("--trace", is_flag=True, help="Hex-dump every link frame to stderr."),
        click.option("--host", default=None, metavar="[USER@]HOST[:PORT]",
                     help="With --board of a Linux board reached over ssh (rpi5, rpi4...): this host instead of "
                          "the profile's ([::1]:22 for IPv6 with a port)."),
    )):
        f = opt(f)
    return f


def _connect(model_arg, port, board, trace, icount_shift=None, marker=None, host=None):
    """The model (default: bundled) and a connected device, from --port or --board, with a spinner per step."""
    from edgekit.cli.common import load_and_connect

    model, dev = load_and_connect(model_arg, port=port, board=board, trace=trace, icount_shift=icount_shift,
                                  marker=marker, host=host)
    return model, dev, stderr_console()


@click.command("flash")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", default=None, help="Serial port of a real board (after flashing, the link uses it).")
@click.option("--link", type=click.Choice(["pty", "tcp"]), default="pty", show_default=True,
              help="Emulated boards: expose the UART as a pty or a 127.0.0.1 TCP socket.")
@click.option("--icount", "icount_shift", type=click.IntRange(0, 10), default=None,
              help="QEMU: instruction-count timing (-icount shift=N), deterministic cycle figures (estimates).")
@click.option("--marker", default=None, metavar="SPEC",
              help="Power-meter marker of emulated, host and Linux boards: unix:PATH (a meter's logic-input "
                   "socket) or gpiochipN:LINE (Linux GPIO). See docs/power.md.")
@click.option("--dry-run", is_flag=True,
              help="Print the commands that would run (one per line, shell-quoted) and exit; needs no tool.")
def flash(project, port, link, icount_shift, marker, dry_run):
    """Put a built PROJECT on its board and print the link URL; emulators run until Ctrl-C.

    Emulated boards start QEMU with the ELF and every image part at its planned address; Linux boards copy
    and start the device binary; MCU boards run their flasher (verifying where it can read back).
    """
    from edgekit.flash.device import open_device

    if dry_run:
        from edgekit.flash.flashers import dry_run_commands, format_commands

        click.echo(format_commands(dry_run_commands(project, link=link, icount_shift=icount_shift, marker=marker)))
        return
    session = open_device(project, link=link, port=port, icount_shift=icount_shift, marker=marker)
    con = stderr_console()
    click.echo(session.url)
    sys.stdout.flush()
    if session._close is None:  # a real board: flashed, nothing keeps running here
        return
    con.print(f"[dim]{session.describe} is running; link {session.url}. Ctrl-C stops it.[/dim]")
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop["now"]:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        con.print("[dim]stopped[/dim]")


@click.command("validate")
@model_argument()
@device_options
@click.option("--prompt", "prompts", multiple=True, help="Prompt to compare on (repeatable) [default: three].")
@click.option("--tokens", "greedy_tokens", type=click.IntRange(1), default=16, show_default=True,
              help="Greedy continuation length compared token for token.")
@click.option("--ppl", is_flag=True,
              help="Also the held-out perplexity on the device and on the reference (a bundled model's own "
                   "held-out text, or --ppl-text).")
@click.option("--ppl-text", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Text for --ppl: documents separated by blank lines (implies --ppl).")
@click.option("--ppl-tokens", type=click.IntRange(1), default=512, show_default=True,
              help="Tokens of the text scored for --ppl.")
@click.option("--json", "json_out", is_flag=True, help="Print the report as JSON.")
def validate(model, port, board, trace, host, prompts, greedy_tokens, ppl, ppl_text, ppl_tokens, json_out):
    """Run prompts on the device and on the reference: max |Δlogit|, cosine, top-1 agreement per prompt and
    per position (the worst one shown), greedy match; with --ppl the held-out perplexity of both.

    Exit status 1 when the greedy continuations differ (the device does not compute what the model says).
    """
    from edgekit.link.validate import bundled_held_out_text
    from edgekit.link.validate import validate as run_validate

    text = None
    if ppl_text is not None:
        text = ppl_text.read_text(encoding="utf-8", errors="replace")
    elif ppl:  # checked before a board is built and started
        text = bundled_held_out_text(resolve_model_arg(model))
    m, dev, _ = _connect(model, port, board, trace, host=host)
    with dev:
        report = run_validate(dev.client, m, list(prompts or DEFAULT_VALIDATE_PROMPTS), greedy_tokens=greedy_tokens,
                              ppl_text=text, ppl_tokens=ppl_tokens)
    if json_out:
        echo_json(report)
    else:
        from rich.table import Table

        table = Table(show_edge=False, pad_edge=False, title=f"device {report['device'].get('board')} vs reference")
        for col in ("prompt", "positions", "max |Δlogit|", "worst position", "cosine", "top-1", "greedy match"):
            table.add_column(col)
        for p in report["prompts"]:
            w = p["worst"]
            table.add_row(str(p.get("prompt"))[:40], str(p.get("positions")), f"{p['max_abs_diff']:.3g}",
                          f"{w['position']} ({w['nearest_rounding_ulps']:.0f} ulps)",
                          "-" if p["min_cosine"] is None else f"{p['min_cosine']:.6f}",
                          f"{100 * p['top1_agreement']:.1f}%", "yes" if p["greedy_match"] else "[red]no[/red]")
        stdout_console().print(table)
        s = report["summary"]
        stdout_console().print(f"max |Δlogit| {s['max_abs_diff']:.3g}, top-1 agreement "
                               f"{100 * s['top1_agreement']:.1f}%, greedy {'match' if report['passed'] else 'MISMATCH'}")
        stdout_console().print("worst position: its nearest int8 activation to a rounding boundary k+1/2 up to there "
                               "(within a few ulps both roundings are right and |Δlogit| ~1e-2 is expected)")
        if report["perplexity"]:
            q = report["perplexity"]
            stdout_console().print(f"held-out perplexity over {q['tokens_scored']} tokens: device "
                                   f"{q['ppl_device']:.3f}, reference {q['ppl_reference']:.3f}")
    if not report["passed"]:
        sys.exit(1)
