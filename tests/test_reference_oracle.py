"""edgekit's numpy reference engine against transformers' BitNetForCausalLM (the outside oracle).

Fixtures (tools/make_fixtures.py) hold tiny random checkpoints in every encoding edgekit reads and the
float32 logits transformers computed from the same files. Agreement means: identical greedy token at every
position and max |Δlogit| <= 1e-5 (README: measured <= 4.8e-6). GGUF copies must give the logits of the
safetensors original. The stored logits are also recomputed by the installed transformers (`make test` installs
it), so the oracle runs in every CI run, not only when the fixtures were written.
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
MAX_ABS_LOGIT_DIFF = 1e-5


def check_against_oracle(model_path: Path, expected_dir: Path, want: np.ndarray | None = None) -> float:
    expected = np.load(expected_dir / "expected.npz")
    ids = expected["ids"]
    want = expected["logits"] if want is None else want
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


@pytest.fixture(scope="module")
def fixture_tool():
    """tools/make_fixtures.py: its transformers_logits is the oracle run that wrote expected.npz."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import sys

    sys.path.insert(0, str(FIXTURES.parents[1] / "tools"))
    try:
        import make_fixtures
    finally:
        sys.path.pop(0)
    return make_fixtures


@pytest.mark.parametrize("name", HF_FIXTURES)
def test_transformers_today_agrees_with_edgekit(fixture_tool, name):
    """transformers, run now on the fixture directory, against edgekit (and the stored logits: a transformers
    upgrade that changes the numbers shows here, not as a silent drift of the fixtures)."""
    import torch._dynamo

    spec = next(s for s in fixture_tool.FIXTURES if s.name == name)
    ids = list(map(int, np.load(FIXTURES / name / "expected.npz")["ids"]))
    before = torch._dynamo.config.disable
    torch._dynamo.config.disable = True  # BitLinear's torch.compile: same float32 ops, tens of seconds of JIT
    try:
        live, _ = fixture_tool.transformers_logits(FIXTURES / name, spec, ids)
    finally:
        torch._dynamo.config.disable = before
    stored = np.load(FIXTURES / name / "expected.npz")["logits"]
    assert float(np.abs(live - stored).max()) <= MAX_ABS_LOGIT_DIFF
    check_against_oracle(FIXTURES / name, FIXTURES / name, want=live)


def test_rounding_margin_is_the_distance_to_a_half_in_ulps():
    from edgekit.reference.engine import rounding_margin_ulps

    one = np.ones((1, 1), np.float32)
    half = np.float32(2.5)
    assert rounding_margin_ulps(np.array([[half, 0.1]], np.float32), one)[0] == 0
    assert rounding_margin_ulps(np.array([[np.nextafter(half, np.float32(3))]], np.float32), one)[0] == 1
    below = np.nextafter(np.nextafter(half, np.float32(2)), np.float32(2))
    assert rounding_margin_ulps(np.array([[-below, 7.0]], np.float32), one)[0] == 2  # sign does not matter
    assert rounding_margin_ulps(np.array([[3.0]], np.float32), one)[0] > 1e5  # an integer: half a unit away


def test_rounding_trace_leaves_the_logits_alone_and_covers_every_position():
    from edgekit.reference.engine import ReferenceEngine

    model = edgekit.load(FIXTURES / HF_FIXTURES[0])
    ids = list(map(int, np.load(FIXTURES / HF_FIXTURES[0] / "expected.npz")["ids"]))
    traced = ReferenceEngine(model, track_rounding=True)
    np.testing.assert_array_equal(traced.logits(ids[:-3]), model.logits(ids[:-3]))
    traced.step(ids[-3:])
    assert traced.rounding_ulps.shape == (len(ids),) and (traced.rounding_ulps >= 0).all()
    plain = ReferenceEngine(model)
    plain.logits(ids)
    assert plain.rounding_ulps.size == 0  # off unless asked for
