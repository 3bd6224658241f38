"""`edgekit boards`: the board profiles this edgekit knows."""
from __future__ import annotations

import click

from edgekit.cli.common import echo_json, stdout_console


class _BoardsGroup(click.Group):
    """`edgekit boards` lists; `edgekit boards show NAME` details one."""


@click.group("boards", cls=_BoardsGroup, invoke_without_command=True)
@click.option("--json", "json_out", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def boards(ctx, json_out):
    """List board profiles with their verification level (emulated-and-tested, build-tested, profile-only)."""
    if ctx.invoked_subcommand is not None:
        return
    from edgekit.boards import board_table, format_size

    columns, rows = board_table()
    if json_out:
        echo_json(rows)
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col.replace("_bytes", "").replace("_", " "))
    for row in rows:
        table.add_row(*[format_size(row[c]) if c.endswith("_bytes") else
                        ",".join(row[c]) if isinstance(row[c], list) else str(row[c]) for c in columns])
    stdout_console().print(table)


@boards.command("show")
@click.argument("name")
@click.option("--json", "json_out", is_flag=True, help="Print JSON.")
def show(name, json_out):
    """Everything a profile says about one board (NAME or a .toml path)."""
    from edgekit.boards import board_details, load_board

    details = board_details(load_board(name))
    if json_out:
        echo_json(details)
        return

    con = stdout_console()
    con.print(f"[bold]{details['name']}[/bold] — {details['description']}  [{details['verification']}]")
    cpu = details["cpu"]
    con.print(f"  cpu {cpu['core']} ({cpu['arch']}) @ {cpu['clock_hz'] / 1e6:g} MHz, "
              f"features {', '.join(cpu['features']) or 'none'}; os {details['os']}; port {details['port']}")
    for r in details["memory"]:
        con.print(f"  memory {r['name']:<10} {r['kind']:<9} {r['base']}  {r['size']:>8}  "
                  f"{r['read_bw_bytes_per_s'] / 1e6:g} MB/s  {'rw' if r['writable'] else 'ro'}  "
                  f"programmed by {r['programmed_by']}" + (f"  ({r['note']})" if r["note"] else ""))
    tc = details["toolchain"]
    con.print(f"  toolchain {tc['compiler']} {' '.join(tc['cpu_flags'])}; build {tc['build_system']}")
    link = details["link"]
    con.print(f"  link {link['kind']}" + (f" {link['uart']} @ {link['uart_base']}" if link["uart"] else "")
              + (f", {link['baud']} baud" if link["baud"] else ""))
    con.print(f"  flasher {details['flasher']['kind']}; power {', '.join(details['power_meters']) or 'none'}")
    if details["qemu"]:
        q = details["qemu"]
        con.print(f"  emulated: {q['binary']} ({q['mode']}) machine {q['machine']} cpu {q['cpu']}")
