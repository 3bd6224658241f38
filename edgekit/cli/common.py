"""Options and helpers shared by several commands (model argument, JSON output, progress)."""
from __future__ import annotations

import json

import click


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


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stdout_console():
    """Rich console for tables; wide when piped (rich would assume 80 columns and fold every cell)."""
    import sys

    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)
