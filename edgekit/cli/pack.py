"""`edgekit pack`: write a model as a validated .ekm image."""
from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import (
    human_bytes,
    model_argument,
    resolve_model_arg,
    stderr_console,
)
from edgekit.pack.formats import FLOAT_FORMATS, TERNARY_FORMATS


@click.command("pack")
@model_argument()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Image file to write (.ekm). Written to a temp file, then renamed.")
@click.option("--format", "ternary", type=click.Choice(list(TERNARY_FORMATS)), default="i2", show_default=True,
              help="Ternary weight format: i2 (speed), t158 (1.6 bits/weight, size), tl (lookup kernels).")
@click.option("--embedding", type=click.Choice(list(FLOAT_FORMATS)), default="f32", show_default=True,
              help="Embedding table format (f16/q8row trade accuracy for flash).")
@click.option("--lm-head", "lm_head", type=click.Choice(list(FLOAT_FORMATS)), default=None,
              help="Untied lm_head format [default: same as --embedding].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def pack(model, output, ternary, embedding, lm_head, quiet):
    """Pack MODEL into an .ekm image (header + section table + aligned, CRC'd sections)."""
    import edgekit
    from edgekit.pack.image import read_image
    from edgekit.pack.packer import PackChoice, pack_model

    from edgekit.errors import EdgekitError

    # checked before the model is loaded (minutes for a 2B checkpoint): the folder must exist, it is not created
    if not output.parent.is_dir():
        raise EdgekitError("the output's folder does not exist" if not output.parent.exists() else
                           "the output's folder is a file", path=output.parent,
                           fix="create the folder first, or write the image somewhere else")
    m = edgekit.load(resolve_model_arg(model))
    choice = PackChoice(ternary=ternary, embedding=embedding, lm_head=lm_head or embedding)
    total = sum(t.numel for t in m)
    con = stderr_console()
    if quiet:
        pack_model(m, output, choice)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("packing {task.fields[tensor]:<20}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                      TimeRemainingColumn(), console=con, transient=True) as bar:
            task = bar.add_task("pack", total=total, tensor="")
            sizes = {t.name: t.numel for t in m}

            def progress(name, _nbytes):
                bar.update(task, advance=sizes[name], tensor=name)

            pack_model(m, output, choice, progress=progress)
    image = read_image(output)
    con.print(f"wrote {output}: {human_bytes(image.header.image_size)}, {len(image.sections)} sections, "
              f"ternary {ternary}, embedding {embedding}, model hash {image.header.model_hash.hex()[:16]}")
