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
    ("export", "export"),
    ("gen", "gen"),
    ("gen", "build"),
    ("device", "flash"),
    ("chat", "chat"),
    ("device", "validate"),
    ("profile", "profile"),
    ("demo", "demo"),
    ("bench", "bench"),
    ("devices", "devices"),
    ("doctor", "doctor"),
    ("cache", "cache"),
)
# Other names a command answers to (not listed separately in --help; the command's help names them).
ALIASES = {"ports": "devices"}


class EdgekitGroup(click.Group):
    """Turns EdgekitError into one line on stderr and exit status 2; Ctrl-C into status 130."""

    def list_commands(self, ctx):
        return list(self.commands)  # pipeline order, not alphabetical

    def get_command(self, ctx, cmd_name):
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

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


def _epilog() -> str:
    from edgekit.settings import environment_help

    return environment_help()


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=_epilog())
@click.version_option(__version__, prog_name="edgekit")
@click.option("-v", "--verbose", is_flag=True,
              help="Also show every external command run (builds, flashers, QEMU, ssh) and step timings.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors: no progress or informational lines.")
@click.pass_context
def cli(ctx, verbose, quiet):
    """edgekit: fit a ternary BitNet b1.58 model to a board, build its firmware, flash it, talk to it.

    MODEL arguments take a Hugging Face BitNet directory, a .gguf file, an .ekm image or the name of a bundled
    model (see `edgekit models`); most commands default to the bundled model.
    """
    import time

    from edgekit.cli.common import NORMAL, QUIET, VERBOSE, detail, set_verbosity

    if verbose and quiet:
        raise click.UsageError("-v and -q contradict each other; give one of them")
    set_verbosity(QUIET if quiet else VERBOSE if verbose else NORMAL)
    # back to normal when the command ends (close callbacks run last-registered first, so this one runs last):
    # library calls made later in the same process (tests, the Python API) print as without -q/-v
    ctx.call_on_close(lambda: set_verbosity(NORMAL))
    started = time.monotonic()
    if ctx.invoked_subcommand is not None:
        ctx.call_on_close(lambda: detail(f"{ctx.invoked_subcommand}: {time.monotonic() - started:.1f} s"))


for _module, _attr in COMMANDS:
    cli.add_command(getattr(importlib.import_module(f"edgekit.cli.{_module}"), _attr))


def main(argv=None):
    return cli.main(args=argv, prog_name="edgekit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
