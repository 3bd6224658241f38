"""load: a checkpoint the user already has -> the Model IR (edgekit.model), streaming and validated.

`load_checkpoint(path)` accepts
  - a Hugging Face BitNet directory (config.json + safetensors, single or sharded), or a file inside one;
  - a GGUF file (architecture bitnet / bitnet-b1.58 / bitnet-25; TQ1_0, TQ2_0, I2_S or float weights).
Every problem with the input becomes an EdgekitError naming the file and the fix.
"""
from __future__ import annotations

from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.model import Model

GGUF_MAGIC = b"GGUF"


def load_checkpoint(path) -> Model:
    path = Path(path).expanduser()
    if not path.exists():
        raise EdgekitError("no such file or directory", path=path,
                           fix="give a Hugging Face checkpoint directory, a .gguf file or a bundled model name")
    if path.is_dir():
        from edgekit.loaders.hf import load_hf_dir

        return load_hf_dir(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise EdgekitError(f"cannot read: {e.strerror or e}", path=path) from None
    if magic == GGUF_MAGIC or path.suffix.lower() == ".gguf":
        from edgekit.loaders.gguf import load_gguf

        return load_gguf(path)
    if path.suffix == ".safetensors" or path.name in ("config.json", "model.safetensors.index.json"):
        from edgekit.loaders.hf import load_hf_dir

        return load_hf_dir(path.parent)
    raise EdgekitError("is neither a GGUF file nor part of a Hugging Face checkpoint", path=path,
                       fix="give the checkpoint directory (with config.json) or a .gguf file")


__all__ = ["load_checkpoint"]
