"""`edgekit devices` (alias `ports`): serial ports, their USB identity, and which are edgekit devices."""
from __future__ import annotations

import click

from edgekit.cli.common import echo_json, stderr_console, stdout_console
from edgekit.link.discover import DEFAULT_PROBE_TIMEOUT_S


def _device_cell(port) -> str:
    from rich.markup import escape as e  # what a device or the OS says is text, never markup

    r = port.probe
    if r is None:
        return "[dim]not probed (--no-probe)[/dim]"
    if r.is_edgekit:
        i = r.identity
        text = f"[green]edgekit[/green] {e(i.board)}, firmware {e(i.firmware_version)}, model {i.model_hash.hex()[:16]}"
        return text + (f" [yellow]({e(r.detail)})[/yellow]" if r.detail else "")
    color = {"cannot open": "red", "not edgekit": "yellow"}.get(r.status, "dim")
    return f"[{color}]{r.status}[/{color}]" + (f": {e(r.detail)}" if r.detail else "")


@click.command("devices")
@click.option("--port", "extra", multiple=True, metavar="PATH",
              help="Also probe this port or URL (repeatable): ptys of emulators and socket:// links are not USB, "
                   "so the port list does not show them.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Never open ports whose path or VID:PID matches (repeatable), e.g. '/dev/ttyS*' or '0403:*'.")
@click.option("--probe/--no-probe", default=True, show_default=True,
              help="Send HELLO to each port to find edgekit devices (--no-probe only lists, opening nothing).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.05, 30.0), default=DEFAULT_PROBE_TIMEOUT_S,
              show_default=True, help="Seconds to wait for each port's IDENTITY (ports are probed in parallel).")
@click.option("--baud", type=click.IntRange(300, 16_000_000), default=115_200, show_default=True,
              help="Baud rate for the probe (UARTs; ptys and USB CDC ignore it).")
@click.option("--json", "json_out", is_flag=True, help="Print the ports as JSON.")
def devices(extra, exclude, probe, timeout_s, baud, json_out):
    """Serial ports with their USB identity and a guess of what is behind them, and which answer an edgekit
    HELLO (board, firmware version, model hash). Also answers to `edgekit ports`.

    Probing writes one small HELLO frame to each port (again twice if it stays silent) and waits at most
    --timeout; it never writes to --exclude'd ports, nor to ports known not to be board links (a PPK2)."""
    from edgekit.link.discover import discover

    if probe and not json_out:
        with stderr_console().status("probing serial ports for edgekit devices"):
            ports = discover(extra=extra, exclude=exclude, probe=True, timeout_s=timeout_s, baud=baud)
    else:
        ports = discover(extra=extra, exclude=exclude, probe=probe, timeout_s=timeout_s, baud=baud)
    if json_out:
        echo_json({"ports": [p.to_dict() for p in ports]})
        return
    con = stdout_console()
    if not ports:
        con.print("no serial ports found (emulated boards: pass their pty or URL with --port)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("port", "VID:PID", "serial", "maker / product", "what it looks like", "edgekit"):
        table.add_column(col)
    for p in ports:
        maker = " / ".join(x for x in (p.manufacturer, p.product) if x) or (p.description or "")
        table.add_row(*(escape(x) for x in (p.device, p.usb_id or "-", p.serial_number or "-", maker, p.guess)),
                      _device_cell(p))
    con.print(table)
    found = sum(1 for p in ports if p.probe is not None and p.probe.is_edgekit)
    if probe:
        con.print(f"{found} edgekit device{'s' if found != 1 else ''} on {len(ports)} port"
                  f"{'s' if len(ports) != 1 else ''}" + (" — use one with --port PATH" if found else ""))
