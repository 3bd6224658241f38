"""`edgekit generate`: continue a prompt on the reference engine or on a device."""
from __future__ import annotations

import sys
import time

import click

from edgekit.cli.common import (
    StepStatus,
    echo_json,
    model_argument,
    stderr_console,
)
from edgekit.cli.loading import load_model
from edgekit.errors import EdgekitError
from edgekit.profile.clocks import host_clock


def sampling_options(f):
    """--max-new/--temperature/--top-k/--top-p/--seed, shared by generate and chat."""
    for opt in reversed((
        click.option("--max-new", type=click.IntRange(1), default=64, show_default=True,
                     help="Maximum number of new tokens."),
        click.option("--temperature", type=click.FloatRange(0), default=0.8, show_default=True,
                     help="Sampling temperature; 0 is greedy."),
        click.option("--top-k", type=click.IntRange(0), default=0, show_default=True, help="Top-k (0: off)."),
        click.option("--top-p", type=click.FloatRange(0, 1), default=0.95, show_default=True,
                     help="Nucleus sampling mass (1: off)."),
        click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
                     help="Sampler seed (same seed, same tokens on host and device)."),
    )):
        f = opt(f)
    return f


@click.command("generate")
@model_argument()
@click.option("--prompt", "-p", required=True, help="Text to continue.")
@sampling_options
@click.option("--engine", type=click.Choice(["reference", "device"]), default=None,
              help="reference: the numpy oracle on this machine; device: firmware over the link "
                   "[default: device when --board or --port is given, else reference].")
@click.option("--board", default=None, help="Build, flash and run on this board (see `edgekit boards`).")
@click.option("--port", default=None, help="Talk to an already running device at this port or pyserial URL.")
@click.option("--host", default=None, metavar="[USER@]HOST[:PORT]",
              help="With --board of a Linux board reached over ssh: this host instead of the profile's.")
@click.option("--json", "json_out", is_flag=True, help='Print {"tokens": [...], "text": "..."} instead of streaming.')
def generate(model, prompt, max_new, temperature, top_k, top_p, seed, engine, board, port, host, json_out):
    """Generate text from MODEL, streamed as it is produced."""
    from edgekit.textstream import IncrementalDecoder

    m = load_model(model)
    if engine is None:
        engine = "device" if (board or port) else "reference"
    if engine == "reference" and (board or port):
        raise EdgekitError("--engine reference runs on this machine; drop --board/--port or use --engine device")
    if m.tokenizer is None:  # the prompt is text: without a tokenizer there is nothing to run
        raise EdgekitError("this model has no tokenizer, so a text prompt cannot be encoded", path=m.source,
                           fix="re-pack it with `edgekit pack` (the .ekm then carries its tokenizer), or put the "
                               "model's tokenizer.json beside it")
    prompt_ids = m.encode(prompt)
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    if engine == "reference":
        from edgekit.reference.generate import generate_tokens
        from edgekit.reference.sampler import Sampler

        tokens_iter = generate_tokens(m, prompt_ids, max_new, Sampler(**sampling))
        session = None
    else:
        from edgekit.link.run import device_token_stream

        with StepStatus() as status:  # the first --board run builds firmware for a while: show each step
            session, tokens_iter = device_token_stream(m, board=board, port=port, host=host, prompt_ids=prompt_ids,
                                                       max_new=max_new, log=status.log, progress=status.step,
                                                       **sampling)
    stream = IncrementalDecoder(m.tokenizer)
    tokens: list[int] = []
    start = time.perf_counter()
    try:
        if not json_out:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        for tok in tokens_iter:
            tokens.append(int(tok))
            piece = stream.push(tok)
            if not json_out and piece:
                sys.stdout.write(piece)
                sys.stdout.flush()
    finally:
        if session is not None:
            session.close()
    elapsed = time.perf_counter() - start
    if json_out:
        echo_json({"tokens": tokens, "text": m.decode(tokens), "prompt_tokens": len(prompt_ids), "engine": engine})
    else:
        sys.stdout.write(stream.flush() + "\n")
        sys.stdout.flush()  # the text's end before the stats line on stderr, when both go to one terminal or file
        rate = len(tokens) / elapsed if elapsed > 0 else 0.0
        # Timed here, so the host's clock, link included for a device (its own clock: `edgekit profile`)
        stderr_console().print(f"[dim]{len(tokens)} tokens in {elapsed:.2f} s ({rate:.1f} tok/s, {engine}; "
                               f"{host_clock().label})[/dim]")
