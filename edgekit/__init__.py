"""edgekit: put ternary BitNet b1.58 language models on ARM edge devices and microcontrollers.

Public API:
    edgekit.load(path_or_name) -> Model     a HF BitNet directory, a GGUF file, an .ekm image or a bundled name
    Model.logits(token_ids) -> (T, vocab)   numpy reference forward (docs/design.md §2)
    edgekit.EdgekitError                    the one exception type for user-facing problems
"""
from __future__ import annotations

from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.model import Model, ModelConfig

__version__ = "0.1.0"
__all__ = ["load", "Model", "ModelConfig", "EdgekitError", "__version__"]


def resolve_model_path(path_or_name: str | Path) -> Path:
    """A path as given, or the directory of a bundled model of that name."""
    p = Path(path_or_name)
    if p.exists():
        return p
    from edgekit.models import bundled_model_path

    bundled = bundled_model_path(str(path_or_name))
    if bundled is not None:
        return bundled
    raise EdgekitError("no such file, directory or bundled model", path=path_or_name,
                       fix="give a checkpoint directory, a .gguf or .ekm file, or a name from `edgekit models`")


def load(path_or_name: str | Path) -> Model:
    """Load a model from a checkpoint, an .ekm image, or a bundled model's name."""
    path = resolve_model_path(path_or_name)
    if path.is_file() and path.suffix == ".ekm":
        from edgekit.pack.packer import model_from_images

        return model_from_images([path])
    from edgekit.loaders import load_checkpoint

    return load_checkpoint(path)
