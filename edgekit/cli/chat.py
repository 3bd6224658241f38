"""`edgekit chat`: a conversation with a device, streamed, with a prompt that behaves like one.

At a terminal the prompt has line editing and history (prompt_toolkit; the history file lives in the user's state
directory, $XDG_STATE_HOME/edgekit or ~/.local/state/edgekit); piped input is read line by line. Lines starting
with "/" are the chat's own commands (LOCAL_COMMANDS) and never reach the model. The same loop runs `edgekit demo`'s
chat.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import click

from edgekit.atomic_file import check_output_path
from edgekit.cli.common import model_argument, stderr_console
from edgekit.cli.device import _connect, device_options
from edgekit.cli.generate import sampling_options
from edgekit.cli.output_path import OutputPath
from edgekit.errors import EdgekitError

# (command, what it does): `/help` prints this table, the docstring below lists it for --help
LOCAL_COMMANDS = (
    ("/help", "list these commands"),
    ("/reset", "forget the conversation (the device's context too) and start over"),
    ("/stats", "tokens and device speed: the last answer and the whole session, with the clock that timed them"),
    ("/save FILE", "write the transcript (JSON) to FILE"),
    ("/quit", "end the session (Ctrl-D does too)"),
)
KEYS_HELP = ("Ctrl-C while the device answers cancels the answer (kept in the transcript, marked cancelled); "
             "Ctrl-C at the prompt clears the line; Ctrl-D ends the session. Start a line with // to send a "
             "message that begins with /.")
HISTORY_FILE = "chat_history"
PROMPT = "you> "


def state_dir() -> Path:
    """Where edgekit keeps state between runs (the chat history): $XDG_STATE_HOME/edgekit, default
    ~/.local/state/edgekit (the XDG base directory spec)."""
    base = os.environ.get("XDG_STATE_HOME")
    return (Path(base) if base else Path.home() / ".local" / "state") / "edgekit"


def history_path() -> Path:
    return state_dir() / HISTORY_FILE


class LineReader:
    """Reads the user's lines: prompt_toolkit at a terminal (editing, history, Ctrl-C clears the line), plain
    line reads otherwise. read() returns None at the end of input (Ctrl-D, end of the pipe)."""

    def __init__(self, interactive: bool):
        self.interactive = interactive
        self._session = None
        if interactive:
            try:
                from prompt_toolkit import PromptSession
                from prompt_toolkit.history import FileHistory
            except ImportError:
                raise EdgekitError("the chat prompt needs the prompt_toolkit package, which is not installed",
                                   fix="pip install 'prompt_toolkit>=3.0.36' (or pipe the messages in: "
                                       "edgekit chat ... < messages.txt)") from None

            path = history_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._session = PromptSession(history=FileHistory(str(path)))

    def read(self) -> str | None:
        if self._session is None:
            line = sys.stdin.readline()
            return line.rstrip("\r\n") if line else None
        while True:
            try:
                return self._session.prompt(PROMPT)
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt: prompt_toolkit has dropped the line; ask again
            except EOFError:
                return None


@contextlib.contextmanager
def _sigint_ignored():
    """While the device is being told to stop, a second Ctrl-C must not leave it answering into the void."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to guard
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _rate(tokens: int, us: int) -> str:
    return f"{tokens / (us / 1e6):.1f} tokens/s" if us > 0 and tokens else "n/a"


class ChatLoop:
    """One chat on a connected device: reads lines, runs local commands, streams answers, reports stop reasons.

    json_out: instead of streaming text, print one JSON object per turn (and per /stats) on stdout."""

    def __init__(self, session, clock, *, json_out: bool = False, out=None, console=None):
        from edgekit.link.session import STOP_REASONS

        self.session = session
        self.clock = clock  # edgekit.profile.clocks.Clock of the device's timings
        self.json_out = json_out
        self.out = out or sys.stdout
        self.con = console or stderr_console()
        self.reasons = STOP_REASONS

    # --- output ---------------------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        from rich.markup import escape

        self.con.print(f"[dim]{escape(text)}[/dim]", highlight=False, soft_wrap=True)

    def emit(self, obj: dict) -> None:
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.out.flush()

    def announce_limit(self) -> None:
        s = self.session
        if s.clamped:
            self.con.print(f"[yellow]note: --max-new {s.sampling['max_new_tokens']} is more than the device's "
                           f"context holds ({s.identity.context_len} tokens, prompt included): each answer stops "
                           f"at the context's end, stop reason \"device limit\"[/yellow]", soft_wrap=True)

    # --- one answer -----------------------------------------------------------------------------------------
    def answer(self, text: str) -> None:
        pieces = self.session.send(text)
        try:
            for piece in pieces:
                if not self.json_out:
                    self.out.write(piece)
                    self.out.flush()
        except KeyboardInterrupt:
            with _sigint_ignored():
                pieces.close()  # the session cancels the device and records the turn as cancelled
        except EdgekitError as exc:
            # a message too long for the context, a device that went away: say so, keep the prompt (the user
            # may shorten the message, /reset, /save or leave)
            if not self.json_out:
                self.out.write("\n")
            self.con.print(f"edgekit: error: {exc}", markup=False, soft_wrap=True, highlight=False)
            if self.json_out:
                self.emit({"type": "error", "user": text, "error": str(exc)})
            return
        turn = self.session.turns[-1]
        if self.json_out:
            self.emit(self._turn_json(text, turn))
            return
        if turn.stop_reason == "cancelled":
            self.out.write(" [cancelled]")
        self.out.write("\n")
        self.out.flush()
        self.note(self._stop_line(turn))

    def _stop_line(self, turn) -> str:
        reason = self.reasons.get(turn.stop_reason, turn.stop_reason or "?")
        st = turn.stats or {}
        parts = [f"stop: {reason}"]
        if st:
            parts.append(f"{st['generated_tokens']} tokens")
            parts.append(f"{_rate(st['generated_tokens'], st['decode_us'])} [{self.clock.label}]")
        return " · ".join(parts)

    def _turn_json(self, user: str, turn) -> dict:
        st = turn.stats or {}
        return {"type": "turn", "turn": sum(1 for t in self.session.turns if t.role == "assistant"), "user": user,
                "assistant": turn.content, "stop_reason": turn.stop_reason,
                "prompt_tokens": st.get("prompt_tokens"), "generated_tokens": st.get("generated_tokens"),
                "device": {"prefill_us": st.get("prefill_us"), "decode_us": st.get("decode_us"),
                           "decode_tokens_per_s": st["generated_tokens"] / (st["decode_us"] / 1e6)
                           if st.get("decode_us") else None, "clock": self.clock.to_dict()}}

    # --- local commands -------------------------------------------------------------------------------------
    def stats(self) -> dict:
        last = next((t for t in reversed(self.session.turns) if t.role == "assistant"), None)
        return {"type": "stats", "last": {"stop_reason": last.stop_reason, **(last.stats or {})} if last else None,
                "session": self.session.totals(), "clock": self.clock.to_dict()}

    def print_stats(self) -> None:
        data = self.stats()
        if self.json_out:
            self.emit(data)
            return
        last, tot = data["last"], data["session"]
        if last is None:
            self.note("no answers yet")
        else:
            self.note(f"last answer: {last.get('generated_tokens', 0)} tokens "
                      f"(stop: {self.reasons.get(last['stop_reason'], last['stop_reason'])}), prompt "
                      f"{last.get('prompt_tokens', 0)} tokens; prefill {last.get('prefill_us', 0) / 1e3:.1f} ms, "
                      f"decode {_rate(last.get('generated_tokens', 0), last.get('decode_us', 0))}")
        self.note(f"session: {tot['answers']} answers ({tot['cancelled']} cancelled), {tot['prompt_tokens']} "
                  f"prompt tokens, {tot['generated_tokens']} generated; prefill {tot['prefill_us'] / 1e3:.1f} ms, "
                  f"decode {_rate(tot['generated_tokens'], tot['decode_us'])}")
        self.note(f"clock: {self.clock.label}")

    def command(self, line: str) -> bool:
        """Run a local command; False when the session should end."""
        name, _, arg = line.strip().partition(" ")
        arg = arg.strip()
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            width = max(len(c) for c, _ in LOCAL_COMMANDS)
            for cmd, what in LOCAL_COMMANDS:
                self.con.print(f"  {cmd.ljust(width)}  {what}", highlight=False, markup=False, soft_wrap=True)
            self.con.print(KEYS_HELP, highlight=False, markup=False, soft_wrap=True)
        elif name == "/reset":
            self.session.reset()
            self.note("conversation reset")
        elif name == "/stats":
            self.print_stats()
        elif name == "/save":
            if not arg:
                self.con.print("edgekit: /save needs a file name (fix: /save chat.json)", markup=False, soft_wrap=True)
            else:
                try:
                    path = self.session.save(check_output_path(Path(arg).expanduser()))
                    self.note(f"saved the transcript to {path}")
                except (EdgekitError, OSError) as exc:
                    # a typo in a path must not end the conversation
                    self.con.print(f"edgekit: error: {exc}", markup=False, soft_wrap=True)
        else:
            self.con.print(f"unknown command {name}; /help lists them (start with // to send text that "
                           "begins with /)", markup=False, soft_wrap=True)
        return True

    # --- the loop -------------------------------------------------------------------------------------------
    def run(self, reader: LineReader) -> None:
        while True:
            line = reader.read()
            if line is None:
                if reader.interactive and not self.json_out:
                    self.out.write("\n")
                break
            if line.startswith("//"):
                line = line[1:]  # an escaped slash: text for the model
            elif line.startswith("/"):
                if not self.command(line):
                    break
                continue
            if line.strip():
                self.answer(line)


def device_clock_of(identity, icount_shift: int | None = None):
    """The clock the device's timings are on, from what it says in HELLO and how edgekit started it."""
    from edgekit.profile.clocks import device_clock

    return device_clock(identity.board, identity.clock_hz, icount_shift=icount_shift)


def _chat_help() -> str:
    width = max(len(c) for c, _ in LOCAL_COMMANDS)
    commands = "\n".join(f"  {c.ljust(width)}  {what}" for c, what in LOCAL_COMMANDS)
    return ("Chat with a device, streaming its answer; after each answer, why it stopped (eos, max tokens, context "
            "full, cancelled, device limit).\n\n"
            f"\b\nCommands (never sent to the model):\n{commands}\n\n{KEYS_HELP}\n\n"
            "The tokenizer comes from MODEL (default: the bundled model). The model's chat template is applied "
            "when it has one; otherwise each message is a plain continuation. Line editing and history at a "
            "terminal (history in $XDG_STATE_HOME/edgekit, default ~/.local/state/edgekit).")


@click.command("chat", help=_chat_help())
@model_argument()
@device_options
@click.option("--prompt", "-p", default=None, help="One-shot: answer this and exit.")
@click.option("--system", default=None, help="System message (chat-template models).")
@click.option("--transcript", type=OutputPath(), default=None,
              help="Save the conversation (JSON) here after every turn.")
@click.option("--json", "json_out", is_flag=True,
              help="Print one JSON object per turn (text, stop reason, tokens, device rate and its clock).")
@sampling_options
def chat(model, port, board, trace, host, prompt, system, transcript, json_out, max_new, temperature, top_k,
         top_p, seed):
    from edgekit.link.session import ChatSession

    m, dev, con = _connect(model, port, board, trace, host=host)
    with dev:
        ident = dev.identity
        session = ChatSession(dev.client, m.tokenizer, chat_template=m.chat_template, system=system,
                              transcript=transcript, max_new_tokens=max_new, temperature=temperature, top_k=top_k,
                              top_p=top_p, seed=seed)
        loop = ChatLoop(session, device_clock_of(ident), json_out=json_out, console=con)
        con.print(f"[dim]connected to {ident.board} ({dev.describe}), {ident.firmware_version}; context "
                  f"{ident.context_len}; {session.mode} mode. /help lists the commands.[/dim]", highlight=False, soft_wrap=True)
        loop.announce_limit()
        if prompt is not None:
            loop.answer(prompt)
            return
        loop.run(LineReader(sys.stdin.isatty() and not json_out))
