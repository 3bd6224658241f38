"""`edgekit doctor`: the tools each board needs, found or missing (with the install command), and a self-test."""
from __future__ import annotations

import sys

import click

from edgekit.cli.common import echo_json, stderr_console, stdout_console
from edgekit.cli.demo import DEMO_BOARD


@click.command("doctor")
@click.option("--board", "-b", "board_names", multiple=True, metavar="NAME",
              help="Check only these boards (repeatable) [default: every board profile].")
@click.option("--self-test/--no-self-test", default=True, show_default=True,
              help="Also generate a few tokens with the bundled model and compile a C file with each compiler.")
@click.option("--json", "json_out", is_flag=True, help="Print the report as JSON.")
def doctor(board_names, self_test, json_out):
    """Check this machine: every tool the boards need (compilers, CMake, Ninja, QEMU, PlatformIO, flashers,
    ssh, ser2net, meters' packages), found with its path and version or missing with the install command;
    per board, ready or what is missing.

    Exit status 0 when the boards asked for (default: the demo board, qemu-mps3-an547) have everything they
    need and the self-test passes, 1 otherwise. Missing optional tools (Ninja, PlatformIO, ser2net, meter
    packages) are listed but do not count."""
    from edgekit.boards import all_boards, load_board
    from edgekit.doctor import check
    from edgekit.doctor import self_test as run_self_test

    boards = [load_board(n) for n in board_names] if board_names else all_boards()
    report = check(boards)
    if self_test:
        with stderr_console().status("self-test: reference generate, compiling with each compiler"):
            run_self_test(report)
    names = [b.name for b in boards]
    # what decides the exit status: the boards asked for, else the demo board (else every profile, for a
    # $EDGEKIT_BOARDS_DIR without it)
    gate = names if board_names else [DEMO_BOARD] if DEMO_BOARD in names else names
    ok = all(report.board(n).ready for n in gate) and all(t.ok for t in report.self_tests)
    if json_out:
        echo_json({**report.to_dict(), "checked_for_exit_status": gate, "ok": ok})
    else:
        _print(report, gate, ok)
    sys.exit(0 if ok else 1)


def _print(report, gate, ok) -> None:
    """One line per tool and per board (no table: install commands are long and must stay copy-pasteable)."""
    from rich.markup import escape as e  # tool texts hold brackets ("edgekit[power]") that are not markup

    con = stdout_console()
    width = max(len(name) for name in report.tools)
    con.print("[bold]tools[/bold]")
    for s in report.tools.values():
        name = e(f"{s.tool.name:<{width}}")
        if s.found and s.compile_ok is not False:
            con.print(f"  [green]ok     [/green] {name}  {e(s.version or '')}  [dim]{e(s.path)}[/dim]",
                      soft_wrap=True)
        elif s.found:
            con.print(f"  [red]broken [/red] {name}  {e(s.path)} does not compile; install: {e(s.tool.install)}",
                      soft_wrap=True)
        else:
            why = f"{e(s.problem)}; " if s.problem else ""
            con.print(f"  [red]missing[/red] {name}  {why}install: {e(s.tool.install)}  [dim]({e(s.tool.purpose)})"
                      "[/dim]", soft_wrap=True)
    con.print("[bold]boards[/bold]")
    bwidth = max(len(b.board.name) for b in report.boards)
    for b in report.boards:
        missing = ", ".join(b.missing) + (f" ({b.note})" if b.note else "")
        if b.missing_optional:
            missing += ("; " if missing else "") + "optional: " + ", ".join(b.missing_optional)
        mark = "[green]ready    [/green]" if b.ready else "[red]not ready[/red]"
        con.print(f"  {mark} {b.board.name:<{bwidth}}  {e(missing)}", soft_wrap=True)
    for t in report.self_tests:
        con.print(f"self-test {e(t.name)}: {'[green]ok[/green]' if t.ok else '[red]FAILED[/red]'} "
                  f"({t.seconds:.2f} s) {e(t.detail)}", soft_wrap=True)
    con.print(("[green]ready[/green]" if ok else "[red]not ready[/red]") + f" for {', '.join(gate)}")
