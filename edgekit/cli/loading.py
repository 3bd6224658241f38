"""load_model: edgekit.load for the command line, with a spinner naming what is being read.

Loading is lazy (tensors are read when packed or run), but parsing a large checkpoint's index, a GGUF header
and the tokenizer, or checking every CRC of a large .ekm, takes seconds: the spinner says what is happening
(nothing under -q, and nothing when stderr is not a terminal)."""
from __future__ import annotations

from edgekit.cli.common import StepStatus, resolve_model_arg


def load_model(model_arg: str | None):
    import edgekit

    name = resolve_model_arg(model_arg)
    with StepStatus() as status:
        status.step(f"loading {name}")
        return edgekit.load(name)
