"""OutputPath: the click type of every option naming something a command writes (`-o`, `--transcript`, ...).

The path is checked while the command line is parsed, before a model loads or a device starts
(edgekit.atomic_file.check_output_path): a bad output is one line and exit status 2, never a traceback at the
end of a long run, and never a folder created silently.
"""
from __future__ import annotations

from pathlib import Path

import click

from edgekit.atomic_file import check_output_path


class OutputPath(click.ParamType):
    """A file (default) or folder (directory=True) path the command will write; an EdgekitError when unusable."""

    name = "path"

    def __init__(self, *, directory: bool = False):
        self.directory = directory

    def convert(self, value, param, ctx) -> Path:
        if ctx is not None and ctx.resilient_parsing:
            return Path(value)  # shell completion: nothing is written, nothing to check
        return check_output_path(Path(value), directory=self.directory)

