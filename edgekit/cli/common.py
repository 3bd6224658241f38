"""Options and helpers shared by several commands (model argument, JSON output, progress, verbosity).

Verbosity is set once by the `edgekit` group (-q / -v) and read by the console helpers here, so a command obeys
it by printing through them: stderr_console() is silent under -q (progress, status and informational lines;
errors are printed by the group with click.echo and always appear), detail() prints only under -v, and -v also
echoes every external command edgekit starts (builds, flashers, QEMU, ssh) as it starts.
"""
from __future__ import annotations

import json
import shlex
import sys
import time

import click

QUIET, NORMAL, VERBOSE = -1, 0, 1
_state = {"verbosity": NORMAL, "audit_hook": False}


def default_model_name() -> str:
    from edgekit.models import DEFAULT_MODEL

    return DEFAULT_MODEL


def model_argument():
    """[MODEL]: a path or a bundled model's name; defaults to the bundled model."""
    return click.argument("model", required=False, default=None, metavar="[MODEL]")


def resolve_model_arg(model: str | None) -> str:
    return model if model else default_model_name()


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"  # pragma: no cover


def set_verbosity(level: int) -> None:
    """QUIET, NORMAL or VERBOSE for the rest of this process (the group's -q/-v)."""
    _state["verbosity"] = level
    if level >= VERBOSE and not _state["audit_hook"]:
        # Every command edgekit runs goes through subprocess.Popen, whichever module starts it; the audit event
        # shows them all without each caller having to log. A hook cannot be removed, so it checks the level.
        sys.addaudithook(_echo_started_command)
        _state["audit_hook"] = True


def is_quiet() -> bool:
    return _state["verbosity"] <= QUIET


def is_verbose() -> bool:
    return _state["verbosity"] >= VERBOSE


def _echo_started_command(event: str, args) -> None:
    if event != "subprocess.Popen" or _state["verbosity"] < VERBOSE:
        return
    argv = args[1]
    words = [argv] if isinstance(argv, (str, bytes)) else list(argv)
    line = shlex.join(w.decode(errors="replace") if isinstance(w, bytes) else str(w) for w in words)
    cwd = f"   (in {args[2]})" if args[2] else ""
    try:
        print(f"$ {line}{cwd}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # a closed stderr must not break the command that is starting


def stderr_console():
    """Rich console for progress and informational lines on stderr; prints nothing under -q."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, quiet=is_quiet())


def detail(message: str) -> None:
    """A line only -v shows: steps and their timings."""
    if is_verbose():
        stderr_console().print(message, style="dim", markup=False)


class StepStatus:
    """A spinner naming the step in progress (one line, replaced as steps change) with log lines above it.

    Hand `.step` and `.log` to library calls that take progress/log callbacks (edgekit.link.run). Under -q it
    shows nothing; under -v each step is also printed with the time the previous one took.
    """

    def __init__(self, console=None):
        self.console = console or stderr_console()
        self._status = None
        self._step: str | None = None
        self._since = 0.0

    def __enter__(self) -> "StepStatus":
        return self

    def __exit__(self, *exc) -> None:
        self._finish_step()
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _finish_step(self) -> None:
        if self._step is not None and is_verbose():
            self.console.print(f"{self._step}: {time.monotonic() - self._since:.1f} s", style="dim", markup=False)
        self._step = None

    def step(self, name: str) -> None:
        """Start a step, or update the current one: "building x: compiling 3/40" continues "building x"."""
        head = name.split(": ", 1)[0]
        if head != self._step:
            self._finish_step()
            self._since = time.monotonic()
        self._step = head
        if is_quiet():
            return
        from rich.text import Text

        if self._status is None:
            self._status = self.console.status(Text(name))
            self._status.start()
        else:
            self._status.update(Text(name))

    def log(self, message: str) -> None:
        self.console.print(message, style="dim", markup=False)


def load_and_connect(model_arg, status: StepStatus | None = None, **connect_kwargs):
    """(model, ConnectedDevice) for --port/--board commands: MODEL (default: the bundled one) loaded and the
    device connected by edgekit.link.run.connect_device, each step (model, first build, start, handshake) shown
    in `status`, or in a StepStatus of its own that ends on return: the first --board run builds firmware for a
    minute."""
    import edgekit
    from edgekit.errors import EdgekitError
    from edgekit.link.run import connect_device

    if connect_kwargs.get("port") is None and connect_kwargs.get("board") is None:
        raise EdgekitError("give --port (a running device) or --board (build, flash and start one)")
    from contextlib import nullcontext

    with StepStatus() if status is None else nullcontext(status) as st:  # the caller's status stays open
        st.step("loading the model")
        model = edgekit.load(resolve_model_arg(model_arg))
        dev = connect_device(model, log=st.log, progress=st.step, **connect_kwargs)
    return model, dev


def stdout_console():
    """Rich console for tables; wide when piped (rich would assume 80 columns and fold every cell)."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)
