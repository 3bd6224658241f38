"""`edgekit inspect`: what is in a checkpoint or image."""
from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import (
    echo_json,
    human_bytes,
    model_argument,
    resolve_model_arg,
    stdout_console,
)


@click.command("inspect")
@model_argument()
@click.option("--json", "json_out", is_flag=True, help="Print JSON instead of tables.")
@click.option("--tensors/--no-tensors", default=True, show_default=True, help="Show the per-tensor table.")
def inspect(model, json_out, tensors):
    """Show a model's architecture, parameter counts, per-tensor storage and tokenizer.

    MODEL may be a checkpoint, a bundled model's name or an .ekm image (validated first: magic, version, CRCs,
    bounds and config).
    """
    import edgekit
    from edgekit.summary import model_summary

    name = resolve_model_arg(model)
    path = edgekit.resolve_model_path(name)
    image = None
    if path.suffix == ".ekm":
        from edgekit.pack.image import read_image

        image = read_image(path)
    m = edgekit.load(path)
    info = model_summary(m, image)
    if json_out:
        echo_json(info)
        return
    from rich.table import Table

    con = stdout_console()
    c = info["config"]
    con.print(f"[bold]{Path(info['source']).name}[/bold]  ({info['source_kind']}, BitNet b1.58)")
    con.print(f"  layers {c['num_layers']}  hidden {c['hidden_size']}  intermediate {c['intermediate_size']}  "
              f"heads {c['num_heads']}/{c['num_kv_heads']} kv  head_dim {c['head_dim']}  vocab {c['vocab_size']}  "
              f"context {c['max_seq_len']}  rope_theta {c['rope_theta']:g}  tied {c['tie_word_embeddings']}")
    p, b = info["parameters"], info["bytes"]
    con.print(f"  parameters: {p['ternary']:,} ternary + {p['float']:,} float = {p['total']:,}")
    con.print(f"  storage: {human_bytes(b['total'])} total, ternary {human_bytes(b['ternary'])} "
              f"= {info['ternary_bits_per_weight']} bits/weight")
    tok = info["tokenizer"]
    if tok:
        specials = ", ".join(f"{s['token']}={s['id']}" for s in tok["special_tokens"]) or "none"
        con.print(f"  tokenizer: {tok['vocab_size']} tokens, specials {specials}, "
                  f"chat template {'yes' if tok['chat_template'] else 'no'}")
    else:
        con.print("  tokenizer: none")
    if "image" in info:
        im = info["image"]
        con.print(f"  image: format {im['version']}, part {im['part'] + 1}/{im['parts']}, "
                  f"{human_bytes(im['size_bytes'])}, model hash {im['model_hash'][:16]}…  [green]valid[/green]")
        hosted = im["host_sections"]
        con.print("  carries for the host (never sent to a device): "
                  + (", ".join(f"{s['name']} ({human_bytes(s['size'])})" for s in hosted) if hosted else
                     "nothing; the tokenizer comes from a tokenizer.json beside it"))
    if tensors:
        table = Table(show_edge=False, pad_edge=False)
        for col in ("tensor", "shape", "format", "bytes", "bits/w"):
            table.add_column(col, justify="right" if col in ("bytes", "bits/w") else "left")
        for t in info["tensors"]:
            table.add_row(t["name"], "×".join(map(str, t["shape"])), t["format"], f"{t['bytes']:,}",
                          f"{t['bits_per_weight']:g}")
        con.print(table)
