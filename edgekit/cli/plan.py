"""`edgekit plan`: will this model fit this board, and how."""
from __future__ import annotations

import click

from edgekit.cli.common import (
    echo_json,
    human_bytes,
    model_argument,
    stdout_console,
)
from edgekit.cli.loading import load_model
from edgekit.errors import EdgekitError
from edgekit.pack.formats import FLOAT_FORMATS, TERNARY_FORMATS
from edgekit.plan.planner import PLACEMENT_HELP, PLACEMENTS


def print_plan(plan, console=None) -> None:
    """The plan as tables a person reads: regions (used/free), image parts, cost per token."""
    from rich.table import Table

    con = console or stdout_console()
    d = plan.to_dict()
    status = "[green]fits[/green]" if plan.fits else "[red]does not fit[/red]"
    lm = f", lm_head {d['formats']['lm_head']}" if d["formats"]["lm_head"] else " (tied lm_head)"
    con.print(f"[bold]plan[/bold] for board [bold]{plan.board.name}[/bold]: {status} — context {plan.ctx}, "
              f"ternary {plan.choice.ternary}, embedding {plan.choice.embedding}{lm}, {plan.place} placement")
    table = Table(show_edge=False, pad_edge=False)
    for col in ("region", "kind", "base", "size", "firmware", "arena", "images", "free", "read/token"):
        table.add_column(col, justify="left" if col in ("region", "kind") else "right")
    for r in plan.regions:
        table.add_row(r.region.name, r.region.kind, f"0x{r.region.base:08x}", human_bytes(r.region.size_bytes),
                      human_bytes(r.firmware_bytes + r.data_bytes) if (r.firmware_bytes + r.data_bytes) else "-",
                      human_bytes(r.arena_bytes) if r.arena_bytes else "-",
                      human_bytes(r.image_bytes) if r.image_bytes else "-",
                      human_bytes(r.free_bytes) if r.free_bytes >= 0 else f"[red]{human_bytes(r.free_bytes)}[/red]",
                      human_bytes(r.read_per_token_bytes) if r.read_per_token_bytes else "-")
    con.print(table)
    for note in plan.lossy:  # a float tensor stored lossily: say so, and why, beside the plan
        con.print(f"  [yellow]note:[/yellow] {note}", highlight=False)
    for line in plan.faster:  # the fast integer heads: offered, never chosen on their own (lossy)
        con.print(f"  [cyan]faster:[/cyan] {line}", highlight=False)
    for p in plan.parts:
        con.print(f"  image part {p.index}: {p.file_name} in {p.region} at 0x{p.address:08x}, "
                  f"{human_bytes(p.size_bytes)}, {len(p.sections)} sections")
    if plan.fits:
        scratch = (f" (with {human_bytes(plan.prefill_scratch_bytes)} for prefill chunks of {plan.prefill_chunk} "
                   "tokens)") if plan.prefill_scratch_bytes else ""
        con.print(f"  arena {human_bytes(plan.arena_bytes)}{scratch} in {plan.arena_region}; "
                  f"{human_bytes(plan.read_per_token_bytes)} read per token at full context "
                  f"-> ≥ {plan.est_ms_per_token():.2f} ms/token from memory bandwidth alone (estimate)")
    else:
        con.print(f"  [red]short by {plan.shortfall_bytes:,} bytes[/red]: {plan.problem}")
        for s in plan.suggestions:
            con.print(f"  - {s}")


@click.command("plan")
@model_argument()
@click.option("--board", "-b", required=True, help="Board profile name (see `edgekit boards`) or a .toml path.")
@click.option("--ctx", type=click.IntRange(1), default=None, help="Context length [default: the model's].")
@click.option("--format", "ternary", type=click.Choice(list(TERNARY_FORMATS)), default=None,
              help="Force the ternary format [default: fastest that fits].")
@click.option("--embedding", type=click.Choice(list(FLOAT_FORMATS)), default=None,
              help="Force the embedding format [default: most exact that fits].")
@click.option("--place", "placement", type=click.Choice(list(PLACEMENTS)), default="persistent",
              show_default=True, help=PLACEMENT_HELP)
@click.option("--json", "json_out", is_flag=True, help="Print the plan as JSON.")
def plan(model, board, ctx, ternary, embedding, placement, json_out):
    """Fit MODEL to a board's memory: formats, image parts, arena, bytes per token.

    Exit status 2 when it does not fit, with the shortfall and what would fit.
    """
    from edgekit.boards import load_board
    from edgekit.plan.planner import plan_model

    m = load_model(model)
    the_board = load_board(board)
    p = plan_model(m, the_board, ctx=ctx, ternary=ternary, embedding=embedding, placement=placement,
                   suggest_boards=False)
    alternatives = None
    if not p.fits:
        from edgekit.plan.suggest import suggest

        alternatives = suggest(m, the_board, ctx=ctx, ternary=ternary, embedding=embedding,
                               placement=placement)
        p.suggestions = alternatives.lines()
    if json_out:
        d = p.to_dict()
        if alternatives is not None:
            d["alternatives"] = alternatives.to_dict()
        echo_json(d)
    else:
        print_plan(p)
    if not p.fits:
        raise EdgekitError(f"model does not fit board {p.board.name}: short by {p.shortfall_bytes:,} bytes",
                           fix="; ".join(p.suggestions) or "choose a board with more memory")
