"""The `edgekit` command line: thin click wrappers over the library (one module per command group)."""
from __future__ import annotations

import importlib
import sys

import click

from edgekit import __version__
from edgekit.errors import EdgekitError

# (module under edgekit.cli, command attribute). Order is the order of the pipeline, as `--help` shows it.
COMMANDS = (
    ("models", "models"),
    ("inspect", "inspect"),
    ("generate", "generate"),
    ("boards", "boards"),
    ("plan", "plan"),
    ("pack", "pack"),
    ("gen", "gen"),
    ("gen", "build"),
    ("device", "flash"),
    ("device", "chat"),
    ("device", "validate"),
    ("profile", "profile"),
    ("demo", "demo"),
    ("bench", "bench"),
)


class EdgekitGroup(click.Group):
    """Turns EdgekitError into one line on stderr and exit status 2; Ctrl-C into status 130."""

    def list_commands(self, ctx):
        return list(self.commands)  # pipeline order, not alphabetical

    def invoke(self, ctx):
        _terminate_cleanly()
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            click.echo(f"edgekit: error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("edgekit: interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:
            # The machine said no (disk full, read-only, permissions, a path that vanished): the user's to fix,
            # so one line, not a traceback. Writers clean their temp files up on the way out.
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"edgekit: error: {exc.strerror or exc}{where} (fix: check free space, permissions and the "
                       "path, then run the command again)", err=True)
            ctx.exit(2)


def _terminate_cleanly() -> None:
    """SIGTERM (kill, a CI timeout, systemd) unwinds like Ctrl-C, so temp files and child processes are cleaned
    up by the code that made them instead of being left behind."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def cli():
    """edgekit: fit a ternary BitNet b1.58 model to a board, build its firmware, flash it, talk to it.

    MODEL arguments take a Hugging Face BitNet directory, a .gguf file, an .ekm image or the name of a bundled
    model (see `edgekit models`); most commands default to the bundled model.
    """


for _module, _attr in COMMANDS:
    cli.add_command(getattr(importlib.import_module(f"edgekit.cli.{_module}"), _attr))


def main(argv=None):
    return cli.main(args=argv, prog_name="edgekit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
