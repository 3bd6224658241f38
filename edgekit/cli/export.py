"""`edgekit export`: write a model in another engine's format (today: a GGUF that llama.cpp or bitnet.cpp runs)."""
from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import detail, human_bytes, model_argument, resolve_model_arg, stderr_console
from edgekit.pack.gguf_export import OUTPUT_TYPES, TERNARY_TYPES


@click.command("export")
@model_argument()
@click.option("--gguf", "gguf_out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="GGUF file to write (the \"bitnet\" architecture). Written to a temp file, then renamed.")
@click.option("--type", "ternary", type=click.Choice(TERNARY_TYPES), default="tq2_0", show_default=True,
              help="Ternary weight type: tq2_0 (llama.cpp, 2.06 bits/weight, faster), tq1_0 (llama.cpp, 1.69 "
                   "bits/weight) or i2_s (bitnet.cpp, 2 bits/weight).")
@click.option("--output-type", "output_type", type=click.Choice(OUTPUT_TYPES), default="f16", show_default=True,
              help="Type of the (tied) embedding, which llama.cpp and bitnet.cpp also use as the output head.")
def export(model, gguf_out, ternary, output_type):
    """Export MODEL as a GGUF file for llama.cpp or bitnet.cpp (tied-embedding BitNet b1.58 models)."""
    import edgekit
    from edgekit.errors import EdgekitError
    from edgekit.pack.gguf_export import export_gguf

    # checked before the model is loaded (minutes for a 2B checkpoint): the folder must exist, it is not created
    if not gguf_out.parent.is_dir():
        raise EdgekitError("the output's folder does not exist" if not gguf_out.parent.exists() else
                           "the output's folder is a file", path=gguf_out.parent,
                           fix="create the folder first, or write the file somewhere else")
    m = edgekit.load(resolve_model_arg(model))
    export_gguf(m, gguf_out, ternary_type=ternary, output_type=output_type, log=detail)
    stderr_console().print(f"wrote {gguf_out}: {human_bytes(gguf_out.stat().st_size)}, ternary {ternary.upper()}, "
                           f"embedding {output_type.upper()}")
