"""`edgekit flash`, `edgekit chat`, `edgekit validate`: put firmware on a device and talk to it."""
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
from edgekit.cli.generate import sampling_options
from edgekit.errors import EdgekitError

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
    """The model (default: bundled) and a connected device, from --port or --board."""
    import edgekit
    from edgekit.link.run import connect_device

    if port is None and board is None:
        raise EdgekitError("give --port (a running device) or --board (build, flash and start one)")
    model = edgekit.load(resolve_model_arg(model_arg))
    con = stderr_console()
    dev = connect_device(model, board=board, port=port, trace=trace, icount_shift=icount_shift, marker=marker,
                         host=host, log=lambda msg: con.print(f"[dim]{msg}[/dim]"))
    return model, dev, con


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


@click.command("chat")
@model_argument()
@device_options
@click.option("--prompt", "-p", default=None, help="One-shot: answer this and exit.")
@click.option("--system", default=None, help="System message (chat-template models).")
@click.option("--transcript", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the conversation (JSON) here after every turn.")
@sampling_options
def chat(model, port, board, trace, host, prompt, system, transcript, max_new, temperature, top_k, top_p, seed):
    """Chat with a device, streaming its answer. Ctrl-C cancels the answer; Ctrl-D (or /quit) ends the session.

    The tokenizer comes from MODEL (default: the bundled model), or from the build directory. The model's chat
    template is applied when it has one; otherwise each message is a plain continuation.
    """
    from edgekit.link.session import ChatSession

    m, dev, con = _connect(model, port, board, trace, host=host)
    with dev:
        ident = dev.identity
        session = ChatSession(dev.client, m.tokenizer, chat_template=m.chat_template, system=system,
                              transcript=transcript, max_new_tokens=max_new, temperature=temperature, top_k=top_k,
                              top_p=top_p, seed=seed)
        con.print(f"[dim]connected to {ident.board} ({dev.describe}), {ident.firmware_version}; "
                  f"context {ident.context_len}; {session.mode} mode[/dim]")

        def answer(text: str) -> None:
            try:
                for piece in session.send(text):
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            except KeyboardInterrupt:
                dev.client.cancel()
                sys.stdout.write(" [cancelled]")
            sys.stdout.write("\n")
            stats = session.turns[-1].stats if session.turns and session.turns[-1].role == "assistant" else None
            if stats and stats.get("decode_us"):
                rate = stats["generated_tokens"] / (stats["decode_us"] / 1e6)
                con.print(f"[dim]{stats['generated_tokens']} tokens, {rate:.1f} tok/s on the device[/dim]")

        if prompt is not None:
            answer(prompt)
            return
        interactive = sys.stdin.isatty()
        while True:
            try:
                line = input("you> " if interactive else "")
            except EOFError:
                break
            except KeyboardInterrupt:
                click.echo()
                break
            if line.strip() in ("/quit", "/exit"):
                break
            if line.strip() == "/reset":
                session.reset()
                con.print("[dim]conversation reset[/dim]")
                continue
            if line.strip():
                answer(line)


@click.command("validate")
@model_argument()
@device_options
@click.option("--prompt", "prompts", multiple=True, help="Prompt to compare on (repeatable) [default: three].")
@click.option("--tokens", "greedy_tokens", type=click.IntRange(1), default=16, show_default=True,
              help="Greedy continuation length compared token for token.")
@click.option("--json", "json_out", is_flag=True, help="Print the report as JSON.")
def validate(model, port, board, trace, host, prompts, greedy_tokens, json_out):
    """Run prompts on the device and on the reference: max |Δlogit|, cosine, top-1 agreement, greedy match.

    Exit status 1 when the greedy continuations differ (the device does not compute what the model says).
    """
    from edgekit.link.validate import validate as run_validate

    m, dev, _ = _connect(model, port, board, trace, host=host)
    with dev:
        report = run_validate(dev.client, m, list(prompts or DEFAULT_VALIDATE_PROMPTS), greedy_tokens=greedy_tokens)
    if json_out:
        echo_json(report)
    else:
        from rich.table import Table

        table = Table(show_edge=False, pad_edge=False, title=f"device {report['device'].get('board')} vs reference")
        for col in ("prompt", "positions", "max |Δlogit|", "cosine", "top-1", "greedy match"):
            table.add_column(col)
        for p in report["prompts"]:
            table.add_row(str(p.get("prompt"))[:40], str(p.get("positions")), f"{p['max_abs_diff']:.3g}",
                          f"{p['min_cosine']:.6f}", f"{100 * p['top1_agreement']:.1f}%",
                          "yes" if p["greedy_match"] else "[red]no[/red]")
        stdout_console().print(table)
        s = report["summary"]
        stdout_console().print(f"max |Δlogit| {s['max_abs_diff']:.3g}, top-1 agreement "
                               f"{100 * s['top1_agreement']:.1f}%, greedy {'match' if report['passed'] else 'MISMATCH'}")
    if not report["passed"]:
        sys.exit(1)
