"""`edgekit models`: the models bundled with this installation."""
from __future__ import annotations

import click

from edgekit.cli.common import echo_json, human_bytes, stdout_console


@click.command("models")
@click.option("--json", "json_out", is_flag=True, help="Print JSON instead of a table.")
def models(json_out):
    """List the bundled models (usable by name wherever a MODEL is asked for)."""
    from edgekit.models import DEFAULT_MODEL, bundled_models

    rows = bundled_models()
    if json_out:
        echo_json([{"name": m.name, "path": str(m.path), "parameters": m.parameters, "bytes": m.size_bytes,
                    "default": m.name == DEFAULT_MODEL} for m in rows])
        return
    from rich.table import Table

    table = Table(title="bundled models")
    for col in ("name", "parameters", "size", "path"):
        table.add_column(col)
    for m in rows:
        name = f"{m.name} (default)" if m.name == DEFAULT_MODEL else m.name
        table.add_row(name, f"{m.parameters:,}", human_bytes(m.size_bytes), str(m.path))
    stdout_console().print(table)
