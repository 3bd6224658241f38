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
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            click.echo(f"edgekit: error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("edgekit: interrupted", err=True)
            ctx.exit(130)


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
