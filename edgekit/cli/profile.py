"""`edgekit profile`: per-token speed from the device's own clock, and energy from a meter (CSV, JSON, PNG)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from edgekit.cli.common import StepStatus, echo_json, load_and_connect, model_argument, stdout_console
from edgekit.cli.device import device_options
from edgekit.cli.output_path import OutputPath
from edgekit.errors import EdgekitError

# Idle capture around the generation: the meter sees the board at rest on both sides of the marker windows
# (idle power), and the last window's falling edge is never cut off by stopping the meter.
METER_LEAD_S = 0.05
METER_TAIL_S = 0.05


def _open_meter(spec: str, mode: str, voltage_mv: int, board):
    """--meter ppk2:PORT (or ppk2 alone when exactly one PPK2 is plugged in), or os (this machine's counters)."""
    from edgekit.power import OSPowerMeter, PPK2Meter, list_ppk2_ports

    kind, _, port = spec.partition(":")
    listed = {"ppk2": "ppk2", "os": "os-counters"}.get(kind)
    if board is not None and listed is not None and listed not in board.power_meters:
        raise EdgekitError(f"{board.name} lists no {listed} meter (its profile has: "
                           f"{', '.join(board.power_meters) or 'none'})", path=board.source,
                           fix="use a meter the board profile lists ([power] meters), or add it there")
    if kind == "os":
        if board is not None and (board.qemu is not None or board.flasher.kind not in ("none",)):
            raise EdgekitError(f"--meter os reads this machine's counters, but {board.name} does not run here",
                               fix="use it with --board host (or run edgekit on the Linux board itself), or an "
                                   "external meter: --meter ppk2:PORT")
        return OSPowerMeter()
    if kind != "ppk2":
        raise EdgekitError(f"unknown meter {spec!r}",
                           fix="use --meter ppk2:PORT (a Nordic PPK2) or --meter os (this machine's RAPL/hwmon/"
                               "Pi 5 PMIC counters); docs/power.md")
    if not port:
        found = list_ppk2_ports()
        if len(found) != 1:
            raise EdgekitError(f"--meter ppk2 without a port needs exactly one PPK2 plugged in, found {len(found)}"
                               + (f" ({', '.join(found)})" if found else ""), fix="pass --meter ppk2:PORT")
        port = found[0]
    meter = PPK2Meter(port, mode=mode, voltage_mv=voltage_mv)
    meter.open()
    return meter


@click.command("profile")
@model_argument()
@device_options
@click.option("--prompt", "-p", default="And God said,", show_default=True, help="Prompt to continue.")
@click.option("--tokens", "max_new", type=click.IntRange(1), default=32, show_default=True,
              help="Tokens to generate and time.")
@click.option("-o", "--output", type=OutputPath(directory=True), default=Path("profile"),
              show_default=True, help="Directory for tokens.csv, summary.json, tokens.png (and power.csv).")
@click.option("--meter", default=None, metavar="ppk2[:PORT] | os",
              help="Measure energy per token: a Nordic PPK2 whose D0 sees the board's marker, or os: this "
                   "machine's own counters (RAPL, hwmon, Raspberry Pi 5 PMIC) for a device running here.")
@click.option("--meter-mode", type=click.Choice(["ampere", "source"]), default="ampere", show_default=True,
              help="PPK2 ampere meter (board keeps its supply) or source meter (PPK2 powers the board).")
@click.option("--vdd", "voltage_mv", type=click.IntRange(800, 5000), default=3300, show_default=True,
              help="Supply voltage in mV (source mode: what the PPK2 outputs; ampere mode: the board's rail).")
@click.option("--marker", default=None, metavar="SPEC",
              help="With --board: where an emulated, host or Linux board sends its marker: unix:PATH (the "
                   "meter's logic-input socket) or gpiochipN:LINE. MCU boards use their marker pin.")
@click.option("--marker-bit", type=click.IntRange(0, 7), default=0, show_default=True,
              help="Meter logic input the marker is wired to (D0-D7).")
@click.option("--json", "json_out", is_flag=True, help="Print the summary as JSON.")
def profile(model, port, board, trace, host, prompt, max_new, output, meter, meter_mode, voltage_mv, marker,
            marker_bit, json_out):
    """Time every generated token on the device (its own cycle counter), optionally measure its energy, and
    write CSV, JSON and a plot."""
    from edgekit.boards import load_board
    from edgekit.profile import profile_generation, profile_lines, write_profile

    board_profile = load_board(board) if board else None
    qemu = board_profile.qemu if board_profile else None
    if marker is not None and board is None:
        raise EdgekitError("--marker is for a board edgekit starts (--board)",
                           fix="a device on --port already drives its marker; drop --marker")
    if meter and meter.startswith("ppk2") and qemu is not None and marker is None:
        raise EdgekitError(f"{board} is emulated: its marker reaches a meter only through a socket",
                           fix="pass --marker unix:PATH, the meter's logic-input socket (tools/fake_ppk2.py "
                               "--logic-socket PATH); docs/power.md")
    # emulated Cortex-M boards run with -icount: the device clock then counts instructions (deterministic)
    shift = qemu.icount_shift if qemu is not None and qemu.mode == "system" else None
    power_meter = _open_meter(meter, meter_mode, voltage_mv, board_profile) if meter else None
    try:
        with StepStatus() as status:
            m, dev = load_and_connect(model, status, port=port, board=board, trace=trace, icount_shift=shift,
                                      marker=marker, host=host)
            with dev:
                # emulated when the board profile edgekit started says so, or (--port) the board the HELLO names
                estimate = True if qemu is not None else None
                prompt_ids = m.encode(prompt)
                status.step(f"generating {max_new} tokens on {dev.describe}, each timed by the device")
                if power_meter is not None:
                    power_meter.start()
                    time.sleep(METER_LEAD_S)
                try:
                    result = profile_generation(dev.client, prompt_ids, max_new, estimate=estimate,
                                                icount_shift=shift)
                finally:
                    if power_meter is not None:
                        time.sleep(METER_TAIL_S)
                        captured = power_meter.stop()
            if power_meter is not None:
                status.step("decoding the meter capture and attributing energy to tokens")
                result.attach_energy(captured, marker_bit=marker_bit)
    finally:
        if power_meter is not None:
            power_meter.close()
    paths = write_profile(result, output)
    summary = result.summary()
    if json_out:
        echo_json(summary)
        return
    con = stdout_console()
    for line in profile_lines(result):
        con.print(line, markup=False, soft_wrap=True)
    con.print("wrote " + ", ".join(str(p) for p in paths.values()))
