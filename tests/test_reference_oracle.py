"""edgekit's numpy reference engine against transformers' BitNetForCausalLM (the outside oracle).

Fixtures (tools/make_fixtures.py) hold tiny random checkpoints in every encoding edgekit reads and the
float32 logits transformers computed from the same files. Agreement means: identical greedy token at every
position and max |Δlogit| <= 1e-3. GGUF copies must give the logits of the safetensors original.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgekit

FIXTURES = Path(__file__).parent / "fixtures"
HF_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.npz").exists())
GGUF_MANIFEST = json.loads((FIXTURES / "gguf" / "manifest.json").read_text())
MAX_ABS_LOGIT_DIFF = 1e-3


def check_against_oracle(model_path: Path, expected_dir: Path) -> float:
    expected = np.load(expected_dir / "expected.npz")
    ids, want = expected["ids"], expected["logits"]
    got = edgekit.load(model_path).logits(list(map(int, ids)))
    assert got.shape == want.shape and got.dtype == np.float32
    diff = float(np.abs(got - want).max())
    agree = got.argmax(axis=1) == want.argmax(axis=1)
    print(f"{model_path.name}: max |Δlogit| = {diff:.3g}, "
          f"greedy agreement {agree.mean():.3f} over {len(ids)} positions")
    assert agree.all(), f"greedy token differs at positions {np.nonzero(~agree)[0].tolist()}"
    assert diff <= MAX_ABS_LOGIT_DIFF
    return diff


def test_fixture_set_covers_every_encoding():
    kinds = {name.split("-")[0] for name in HF_FIXTURES}
    assert {"bitlinear", "autobitlinear", "float"} <= kinds
    assert any("tied" in n and "untied" not in n for n in HF_FIXTURES) and any("untied" in n for n in HF_FIXTURES)
    gqa_ratios = {part for n in HF_FIXTURES for part in n.split("-") if part.startswith("gqa")}
    assert {"gqa1", "gqa2", "gqa4"} <= gqa_ratios
    formats = {name.split(".")[-2] for name in GGUF_MANIFEST}
    assert {"tq1_0", "tq2_0", "i2_s"} <= formats


@pytest.mark.parametrize("name", HF_FIXTURES)
def test_hf_fixture_matches_transformers(name):
    check_against_oracle(FIXTURES / name, FIXTURES / name)


@pytest.mark.parametrize("gguf_name", sorted(GGUF_MANIFEST))
def test_gguf_fixture_matches_its_safetensors_original(gguf_name):
    source = FIXTURES / GGUF_MANIFEST[gguf_name]
    check_against_oracle(FIXTURES / "gguf" / gguf_name, source)
    # Same weights, same numbers: the GGUF decoders recover the original codes and scales exactly.
    original = edgekit.load(source)
    converted = edgekit.load(FIXTURES / "gguf" / gguf_name)
    ids = list(map(int, np.load(source / "expected.npz")["ids"]))
    np.testing.assert_array_equal(converted.logits(ids), original.logits(ids))
