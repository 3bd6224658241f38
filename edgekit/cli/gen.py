"""`edgekit gen` and `edgekit build`: generate a firmware project, and build it."""
from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import (
    human_bytes,
    model_argument,
    stderr_console,
)
from edgekit.cli.loading import load_model
from edgekit.cli.output_path import OutputPath
from edgekit.pack.formats import FLOAT_FORMATS, TERNARY_FORMATS
from edgekit.plan.planner import PLACEMENT_HELP, PLACEMENTS


def plan_options(f):
    for opt in reversed((
        click.option("--ctx", type=click.IntRange(1), default=None, help="Context length [default: the model's]."),
        click.option("--format", "ternary", type=click.Choice(list(TERNARY_FORMATS)), default=None,
                     help="Ternary format [default: fastest that fits]."),
        click.option("--embedding", type=click.Choice(list(FLOAT_FORMATS)), default=None,
                     help="Embedding format [default: most exact that fits]."),
        click.option("--place", "placement", type=click.Choice(list(PLACEMENTS)), default="persistent",
                     show_default=True, help=PLACEMENT_HELP),
    )):
        f = opt(f)
    return f


def generate_with_progress(model_arg, board_name, out_dir, ctx, ternary, embedding, placement="persistent",
                           quiet=False):
    from edgekit.boards import load_board
    from edgekit.gen.project import generate_project

    model = load_model(model_arg)
    board = load_board(board_name)
    con = stderr_console()
    if quiet:
        return generate_project(model, board, out_dir, ctx=ctx, ternary=ternary, embedding=embedding,
                                placement=placement)
    from rich.progress import BarColumn, Progress, TextColumn

    total = sum(t.numel for t in model)
    sizes = {t.name: t.numel for t in model}
    with Progress(TextColumn("packing {task.fields[tensor]:<20}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                  console=con, transient=True) as bar:
        task = bar.add_task("pack", total=total, tensor="")
        project = generate_project(model, board, out_dir, ctx=ctx, ternary=ternary, embedding=embedding,
                                   placement=placement, progress=lambda name, _n: bar.update(task, advance=sizes[name], tensor=name))
    p = project.plan
    con.print(f"generated {out_dir} for {board.name}: {len(p.parts)} image part(s), "
              f"{human_bytes(p.image_bytes)}, {p.choice.ternary}/{p.choice.embedding}, context {p.ctx}, "
              f"arena {human_bytes(p.arena_bytes)} in {p.arena_region}")
    return project


@click.command("gen")
@model_argument()
@click.option("--board", "-b", required=True, help="Board profile (see `edgekit boards`).")
@click.option("-o", "--output", type=OutputPath(directory=True), required=True,
              help="Project directory to write (replaced atomically if it is an edgekit project; its parent "
                   "folder must exist). Needs no compiler: `edgekit build` is where toolchains come in.")
@plan_options
def gen(model, board, output, ctx, ternary, embedding, placement):
    """Generate a self-contained firmware project for MODEL on a board (plan, images, config, build files)."""
    generate_with_progress(model, board, output, ctx, ternary, embedding, placement)


@click.command("build")
@click.argument("target", required=False, default=None, metavar="[DIR | MODEL]")
@click.option("--board", "-b", default=None, help="With MODEL: generate for this board first.")
@click.option("-o", "--output", type=OutputPath(directory=True), default=None,
              help="With MODEL: project directory to generate into.")
@plan_options
@click.option("--system", type=click.Choice(["cmake", "platformio"]), default="cmake", show_default=True,
              help="Build system (PlatformIO builds offline with the system compiler).")
@click.option("--verbose", "-v", is_flag=True, help="Show the compiler output.")
def build(target, board, output, ctx, ternary, embedding, placement, system, verbose):
    """Build a generated project DIR, or generate MODEL for --board into -o DIR and build it."""
    from edgekit.errors import EdgekitError

    if board is not None:
        if output is None:
            raise EdgekitError("--board needs -o DIR: where to generate the project")
        generate_with_progress(target, board, output, ctx, ternary, embedding, placement)
        project = output
    else:
        if target is None or not (Path(target) / "manifest.json").is_file():
            raise EdgekitError(f"{target or 'no directory'} is not a generated project",
                               fix="give a directory from `edgekit gen`, or MODEL --board B -o DIR")
        project = Path(target)
    result = build_with_progress(project, system=system, verbose=verbose)
    stderr_console().print(f"built {result.binary} ({human_bytes(result.binary.stat().st_size)}) with {system} "
                           f"in {result.seconds:.1f} s")


def build_with_progress(project, *, system: str = "cmake", verbose: bool = False):
    """build_project with its steps ("configuring", "compiling 12/40") on one spinner line; plain under -v, where
    the compiler's own output is shown, and nothing under -q."""
    from edgekit.build import build_project
    from edgekit.cli.common import StepStatus, is_verbose

    if verbose or is_verbose():
        return build_project(project, system=system, verbose=True)
    with StepStatus() as status:
        return build_project(project, system=system, progress=lambda step: status.step(f"building: {step}"))
