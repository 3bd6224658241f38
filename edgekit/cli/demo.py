"""`edgekit demo` (what `make demo` runs): the bundled model on the emulated Cortex-M55 board, end to end."""
from __future__ import annotations

import sys

import click

from edgekit.cli.chat import ChatLoop, LineReader, device_clock_of
from edgekit.cli.common import StepStatus, resolve_model_arg, stderr_console, stdout_console

DEMO_BOARD = "qemu-mps3-an547"
DEMO_PROMPT = "And God said,"


@click.command("demo")
@click.option("--board", "-b", default=DEMO_BOARD, show_default=True, help="Board to run on.")
@click.option("--model", "model_arg", default=None, help="Model [default: the bundled model].")
@click.option("--prompt", "-p", default=DEMO_PROMPT, show_default=True, help="The scripted prompt.")
@click.option("--max-new", type=click.IntRange(1), default=48, show_default=True, help="Tokens to generate.")
@click.option("--chat/--no-chat", default=None, help="Interactive chat afterwards [default: when stdin is a terminal].")
def demo(board, model_arg, prompt, max_new, chat):
    """Plan, build, flash and run the bundled model on an emulated board; stream a prompt, then chat."""
    import edgekit
    from edgekit.boards import load_board
    from edgekit.cli.plan import print_plan
    from edgekit.flash.device import open_device
    from edgekit.link.client import DeviceClient, TokenEvent
    from edgekit.link.run import ensure_built
    from edgekit.plan.planner import plan_model
    from edgekit.textstream import IncrementalDecoder

    err = stderr_console()
    out = stdout_console()
    model = edgekit.load(resolve_model_arg(model_arg))
    b = load_board(board)
    out.rule(f"1. plan: {model.source.name} on {b.name}")
    plan = plan_model(model, b)
    print_plan(plan, out)
    out.rule("2. generate + build the firmware (cached)")
    with StepStatus(err) as status:  # the first run compiles the firmware for a minute: show each step
        project = ensure_built(model, b.name, log=status.log, progress=status.step)
    out.print(f"project {project}")
    out.rule("3. flash: start the emulator with the image parts at their planned addresses")
    # -icount: the device clock counts instructions, so its tokens/s is the same deterministic estimate as
    # `edgekit bench --suite qemu` (without it QEMU's clock follows this host's speed)
    shift = b.qemu.icount_shift if b.qemu is not None and b.qemu.mode == "system" else None
    with open_device(project, icount_shift=shift) as session:
        out.print(f"{session.describe}; link {session.url}")
        with DeviceClient(session.url, timeout_scale=20 if shift is not None else 1) as client:
            ident = client.hello()
            out.print(f"device says: board {ident.board}, {ident.firmware_version}, kernels {ident.kernel}, "
                      f"context {ident.context_len}, clock {ident.clock_hz / 1e6:g} MHz, "
                      f"model hash {ident.model_hash.hex()[:16]}…")
            out.rule(f"4. generate over the UART (greedy, {max_new} tokens)")
            ids = model.encode(prompt)
            stream = IncrementalDecoder(model.tokenizer)
            sys.stdout.write(prompt)
            gen = client.generate(ids, max_new_tokens=max_new, temperature=0.0)
            for event in gen:
                if isinstance(event, TokenEvent):
                    sys.stdout.write(stream.push(event.token_id))
                    sys.stdout.flush()
            sys.stdout.write(stream.flush() + "\n")
            done = gen.done
            clock = device_clock_of(ident, shift)
            if done is not None:
                rate = done.decode_tokens_per_s
                out.print(f"{done.generated_tokens} tokens ({done.reason}); prefill {done.prompt_tokens} tokens in "
                          f"{done.prefill_us / 1e3:.1f} ms, decode "
                          + (f"{rate:.2f} tokens/s" if rate else "n/a")
                          + f" [{clock.label}]", markup=False)
                if shift is not None:
                    fastest = plan_model(model, b, placement="fastest")
                    out.print(f"[dim]An estimate: QEMU -icount counts one instruction per cycle at "
                              f"{ident.clock_hz / 1e6:g} MHz and models no memory wait states. The plan's "
                              f"bandwidth bound is ≥ {plan.est_ms_per_token():.0f} ms/token with the image in "
                              f"{plan.parts[0].region} (≥ {fastest.est_ms_per_token():.0f} ms with --place fastest); "
                              f"silicon pays the larger of the two, roughly.[/dim]")
            interactive = sys.stdin.isatty() if chat is None else chat
            if not interactive:
                return
            from edgekit.link.session import ChatSession

            out.rule("5. chat (/help lists the commands, Ctrl-D ends)")
            session_chat = ChatSession(client, model.tokenizer, chat_template=model.chat_template,
                                       max_new_tokens=64, temperature=0.8, top_p=0.95)
            ChatLoop(session_chat, clock, console=err).run(LineReader(sys.stdin.isatty()))
