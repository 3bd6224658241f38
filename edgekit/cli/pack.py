"""`edgekit pack`: write a model as a validated .ekm image."""
from __future__ import annotations

import click

from edgekit.cli.common import (
    human_bytes,
    model_argument,
    stderr_console,
)
from edgekit.cli.loading import load_model
from edgekit.cli.output_path import OutputPath
from edgekit.pack.formats import FLOAT_FORMATS, TERNARY_FORMATS


@click.command("pack")
@model_argument()
@click.option("-o", "--output", type=OutputPath(), required=True,
              help="Image file to write (.ekm). Written to a temp file, then renamed.")
@click.option("--format", "ternary", type=click.Choice(list(TERNARY_FORMATS)), default="i2", show_default=True,
              help="Ternary weight format: i2 (speed), t158 (1.6 bits/weight, size), tl (lookup kernels).")
@click.option("--embedding", type=click.Choice(list(FLOAT_FORMATS)), default="f32", show_default=True,
              help="Embedding table format: bf16 and f16 halve f32's bytes (lossless when every value is a bf16 / "
                   "f16 value, as `edgekit plan` checks), q8row quarters them (lossy); q8i is q8row's bytes with an "
                   "integer head (int8 x int8 sums, lossy) and q4i a 4-bit integer head (4.25 bits/value: the "
                   "smallest and fastest head, lossier; `edgekit validate` measures it).")
@click.option("--lm-head", "lm_head", type=click.Choice(list(FLOAT_FORMATS)), default=None,
              help="Untied lm_head format [default: same as --embedding].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def pack(model, output, ternary, embedding, lm_head, quiet):
    """Pack MODEL into an .ekm image (header + section table + aligned, CRC'd sections)."""
    from edgekit.pack.image import read_image
    from edgekit.pack.packer import PackChoice, pack_model

    # the output was checked while parsing (OutputPath), before the model loads (minutes for a 2B checkpoint)
    m = load_model(model)
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
                # host-only sections (the tokenizer) come last and are not tensors: they complete nothing
                bar.update(task, advance=sizes.get(name, 0), tensor=name)

            pack_model(m, output, choice, progress=progress)
    image = read_image(output)
    hosted = "".join(f" + {s.role}" for s in image.sections if s.host_only)
    con.print(f"wrote {output}: {human_bytes(image.header.image_size)}, {len(image.tensor_sections)} tensors{hosted}, "
              f"ternary {ternary}, embedding {embedding}, model hash {image.header.model_hash.hex()[:16]}")
