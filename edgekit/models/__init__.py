"""Models that ship inside edgekit, so every path runs without downloading anything.

Each subdirectory holding a `config.json` is one model in the Hugging Face BitNet packed layout
(config.json, model.safetensors, tokenizer.json, model card README.md). The embedded default,
`DEFAULT_MODEL`, is a real language model trained by `tools/train_bundled.py`; its card says how.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "kjv-bitnet-5m"

# HF BitNet packs 4 ternary rows into one uint8 row; these tensor names hold packed codes.
_PACKED_SUFFIXES = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight",
                    "gate_proj.weight", "up_proj.weight", "down_proj.weight")
_VALUES_PER_PACKED_BYTE = 4
_SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit; a larger length means a corrupt file


@dataclass(frozen=True)
class BundledModel:
    name: str
    path: Path
    parameters: int  # weights as the network sees them: unpacked ternary + float (scales not counted)
    size_bytes: int  # all files of the model directory on disk


def _safetensors_parameters(path: Path) -> int:
    """Count parameters from the safetensors header alone (a few kB), without reading the tensors."""
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > _SAFETENSORS_MAX_HEADER:
            raise ValueError(f"{path}: safetensors header length {header_len} is implausible")
        header = json.loads(f.read(header_len))
    total = 0
    for name, entry in header.items():
        if name == "__metadata__" or name.endswith(".weight_scale"):
            continue
        count = 1
        for dim in entry["shape"]:
            count *= dim
        if entry["dtype"] == "U8" and name.endswith(_PACKED_SUFFIXES):
            count *= _VALUES_PER_PACKED_BYTE
        total += count
    return total


def _describe(directory: Path) -> BundledModel:
    weights = directory / "model.safetensors"
    parameters = _safetensors_parameters(weights) if weights.is_file() else 0
    size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    return BundledModel(name=directory.name, path=directory, parameters=parameters, size_bytes=size)


def bundled_models() -> list[BundledModel]:
    """Every bundled model, sorted by name."""
    return [_describe(d) for d in sorted(MODELS_DIR.iterdir())
            if d.is_dir() and not d.name.startswith(".") and (d / "config.json").is_file()]


def bundled_model_path(name: str) -> Path | None:
    """Directory of the bundled model `name`, or None when no such model ships with edgekit."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None  # a path, not a bundled model name
    directory = MODELS_DIR / name
    return directory if (directory / "config.json").is_file() else None
