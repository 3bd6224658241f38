"""tools/synth_checkpoint.py: a real model's shape with random ternary weights, written streaming."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.loaders import load_checkpoint
from edgekit.loaders.safetensors_file import SafetensorsFile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.synth_checkpoint import SHAPES, _entries, main, synth_checkpoint  # noqa: E402


def test_tiny_shape_loads_and_runs(tmp_path):
    out = synth_checkpoint("tiny", tmp_path / "tiny", seed=3)
    model = load_checkpoint(out)
    shape = SHAPES["tiny"]
    c = model.config
    assert (c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads, c.intermediate_size, c.vocab_size) == (
        shape.hidden, shape.layers, shape.heads, shape.kv_heads, shape.intermediate, shape.vocab)
    assert model.source_kind == "hf-packed" and not c.tie_word_embeddings
    assert model.tokenizer.get_vocab_size(with_added_tokens=True) == shape.vocab
    codes = model.tensors["L1.down"].codes()
    assert set(np.unique(codes)) == {-1, 0, 1}
    assert 0.25 < (codes == 0).mean() < 0.42  # about a third zeros, like a trained BitNet layer
    ids = model.encode("Hello, edge devices!")
    logits = model.logits(ids)
    assert np.isfinite(logits).all() and 1.0 < logits.std() < 10.0  # sensible scale, not flat


def test_deterministic_by_seed(tmp_path):
    a = synth_checkpoint("tiny", tmp_path / "a", seed=5)
    b = synth_checkpoint("tiny", tmp_path / "b", seed=5)
    c = synth_checkpoint("tiny", tmp_path / "c", seed=6)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_shape_has_a_consistent_layout(name):
    """Header-level check of the big shapes without writing gigabytes: names, dtypes and sizes."""
    shape = SHAPES[name]
    entries = {e.name: e for e in _entries(shape)}
    hd = shape.hidden // shape.heads
    assert entries["model.layers.0.self_attn.k_proj.weight"].shape == (shape.kv_heads * hd // 4, shape.hidden)
    assert entries["model.layers.0.mlp.down_proj.weight"].shape == (shape.hidden // 4, shape.intermediate)
    assert ("lm_head.weight" in entries) == (not shape.tied)
    packed = sum(np.prod(e.shape) for e in entries.values() if e.dtype == "U8")
    if name == "bitnet-b1.58-2B-4T":
        assert 4 * packed == 30 * (2 * 2560 * 2560 + 2 * 640 * 2560 + 3 * 6912 * 2560)


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["--shape", "tiny", "-o", str(out)]) == 0
    assert main(["--shape", "tiny", "-o", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["--shape", "tiny", "-o", str(out), "--force", "--seed", "1"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["quantization_config"]["linear_class"] == "bitlinear"
    assert SafetensorsFile(out / "model.safetensors").entries["model.embed_tokens.weight"].dtype == "BF16"
