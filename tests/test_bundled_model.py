"""The bundled default model: complete, consistent, a real language model, and read alike by
transformers, edgekit's reference engine and the training tool (tools/train_bundled.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.models import DEFAULT_MODEL, MODELS_DIR, BundledModel, bundled_model_path, bundled_models

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = MODELS_DIR / DEFAULT_MODEL
PROJECTIONS = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
               "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "generation_config.json", "README.md", "loss.png", "training_summary.json")
IMAGE_BUDGET_BYTES = 2_500_000  # the whole packed image must fit the emulated M55 board's external flash
BUNDLED_VS_TRANSFORMERS_BOUND = 3e-5
KJV_TEXT = ("And God said, Let there be light: and there was light.\n"
            "Jesus wept.\nThe LORD is my shepherd; I shall not want. Amen.")


def _config() -> dict:
    return json.loads((MODEL_DIR / "config.json").read_text())


def _summary() -> dict:
    return json.loads((MODEL_DIR / "training_summary.json").read_text())


def _tensors() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(MODEL_DIR / "model.safetensors"))


def _shapes(cfg: dict) -> dict[str, tuple[int, int]]:
    """(out, in) of each projection from the config."""
    hidden, inter = cfg["hidden_size"], cfg["intermediate_size"]
    head_dim = hidden // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * head_dim
    return {"q_proj": (hidden, hidden), "k_proj": (kv, hidden), "v_proj": (kv, hidden), "o_proj": (hidden, hidden),
            "gate_proj": (inter, hidden), "up_proj": (inter, hidden), "down_proj": (hidden, inter)}


def unpack_codes(packed: np.ndarray) -> np.ndarray:
    """uint8 [out/4, in] -> int8 codes [out, in]: row i*(out/4)+r comes from bits 2i..2i+1 of row r."""
    return np.concatenate([((packed >> (2 * i)) & 3).astype(np.int8) - 1 for i in range(4)], axis=0)


def _tokenizer():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))


# --- registry -----------------------------------------------------------------------------------

def test_registry_lists_the_default_model_with_its_size():
    models = {m.name: m for m in bundled_models()}
    assert DEFAULT_MODEL in models
    m = models[DEFAULT_MODEL]
    assert isinstance(m, BundledModel) and m.path == MODEL_DIR == bundled_model_path(DEFAULT_MODEL)
    assert m.size_bytes == sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file())
    cfg = _config()
    ternary = sum(o * i for o, i in _shapes(cfg).values()) * cfg["num_hidden_layers"]
    norms = cfg["num_hidden_layers"] * (3 * cfg["hidden_size"] + cfg["intermediate_size"]) + cfg["hidden_size"]
    assert m.parameters == ternary + cfg["vocab_size"] * cfg["hidden_size"] + norms


@pytest.mark.parametrize("name", ["no-such-model", "", "../models", "/etc", ".hidden"])
def test_registry_refuses_unknown_names_and_paths(name):
    assert bundled_model_path(name) is None


# --- the directory ------------------------------------------------------------------------------

def test_directory_is_complete_and_small():
    for name in REQUIRED_FILES:
        assert (MODEL_DIR / name).is_file(), f"{name} missing from {MODEL_DIR}"
    assert (MODEL_DIR / "model.safetensors").stat().st_size <= IMAGE_BUDGET_BYTES
    png = (MODEL_DIR / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 150_000


def test_config_is_a_packed_hf_bitnet_config():
    cfg = _config()
    assert cfg["model_type"] == "bitnet" and cfg["architectures"] == ["BitNetForCausalLM"]
    q = cfg["quantization_config"]
    assert (q["quant_method"], q["linear_class"], q["quantization_mode"]) == ("bitnet", "bitlinear", "offline")
    assert cfg["hidden_act"] == "relu2" and cfg["tie_word_embeddings"] is True
    assert cfg["hidden_size"] % cfg["num_attention_heads"] == 0
    assert cfg["head_dim"] * cfg["num_attention_heads"] == cfg["hidden_size"]  # attn_sub_norm has hidden_size
    assert cfg["num_attention_heads"] // cfg["num_key_value_heads"] == 2  # GQA
    assert cfg["max_position_embeddings"] >= 256
    assert cfg["rope_parameters"]["rope_theta"] == cfg["rope_theta"]
    assert (cfg["bos_token_id"], cfg["eos_token_id"]) == (0, 1)
    gen = json.loads((MODEL_DIR / "generation_config.json").read_text())
    assert (gen["bos_token_id"], gen["eos_token_id"]) == (0, 1)
    ternary = sum(o * i for o, i in _shapes(cfg).values()) * cfg["num_hidden_layers"]
    assert 4_000_000 <= ternary <= 8_000_000


def test_tensors_have_the_packed_layout():
    cfg, tensors = _config(), _tensors()
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    expected = {"model.embed_tokens.weight": (cfg["vocab_size"], hidden), "model.norm.weight": (hidden,)}
    for L in range(layers):
        p = f"model.layers.{L}."
        expected |= {p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,),
                     p + "self_attn.attn_sub_norm.weight": (hidden,),
                     p + "mlp.ffn_sub_norm.weight": (cfg["intermediate_size"],)}
        for proj, (out, inp) in _shapes(cfg).items():
            expected[f"{p}{PROJECTIONS[proj]}.{proj}.weight"] = (out // 4, inp)
            expected[f"{p}{PROJECTIONS[proj]}.{proj}.weight_scale"] = (1,)
    assert set(tensors) == set(expected)  # no lm_head: it is tied to the embedding
    for name, arr in tensors.items():
        assert arr.shape == expected[name], name
        if name.endswith("_proj.weight"):
            assert arr.dtype == np.uint8, name
        elif name.endswith("weight_scale"):
            assert arr.dtype == np.float32 and np.isfinite(arr).all() and arr[0] > 0, name
        else:
            assert arr.dtype == np.float16 and np.isfinite(arr).all(), name


def test_packed_codes_are_ternary_and_scales_match_the_codes():
    tensors = _tensors()
    for name, packed in tensors.items():
        if not name.endswith("_proj.weight"):
            continue
        fields = np.stack([(packed >> (2 * i)) & 3 for i in range(4)])
        assert not (fields == 3).any(), f"{name} uses the invalid code 0b11"
        codes = unpack_codes(packed)
        share = [(codes == v).mean() for v in (-1, 0, 1)]
        # absmean ternarisation of a trained matrix uses all three values; a collapsed matrix would not
        assert min(share) > 0.1, (name, share)
        s_w = float(tensors[name + "_scale"][0])
        assert 1.0 < s_w < 1e4, (name, s_w)  # a divisor 1/mean|W|: trained weights are well below 1


def test_image_budget_at_two_bits_per_weight_and_q8row_embedding():
    cfg = _config()
    ternary = sum(o * i for o, i in _shapes(cfg).values()) * cfg["num_hidden_layers"]
    q8row_embedding = cfg["vocab_size"] * (cfg["hidden_size"] + 4)  # one byte per value + an fp32 row scale
    assert ternary * 2 // 8 + q8row_embedding <= IMAGE_BUDGET_BYTES


def test_tokenizer_round_trips_and_frames_with_bos_eos():
    tok, cfg = _tokenizer(), _config()
    assert tok.get_vocab_size() == cfg["vocab_size"]
    assert tok.token_to_id("<s>") == cfg["bos_token_id"] and tok.token_to_id("</s>") == cfg["eos_token_id"]
    for text in (KJV_TEXT, "Genesis 1\n", "  odd   spacing\tand ünïcödé ✓ 123", ""):
        ids = tok.encode(text).ids
        assert ids[0] == cfg["bos_token_id"] and cfg["eos_token_id"] not in ids
        assert tok.decode(ids, skip_special_tokens=True) == text
    # a KJV line costs few tokens: the vocabulary was learnt on this text
    assert len(tok.encode(KJV_TEXT).ids) < 0.4 * len(KJV_TEXT)
    tc = json.loads((MODEL_DIR / "tokenizer_config.json").read_text())
    assert (tc["bos_token"], tc["eos_token"]) == ("<s>", "</s>")


# --- it is a real language model --------------------------------------------------------------------

def test_held_out_perplexity_is_at_most_half_the_unigram_baseline():
    s = _summary()
    assert s["held_out_scored"] > 10_000
    assert s["held_out_ppl"] <= s["unigram_ppl"] / 2, s
    card = (MODEL_DIR / "README.md").read_text()
    assert f"{s['held_out_ppl']:.2f}" in card and f"{s['unigram_ppl']:.2f}" in card
    assert "tools/train_bundled.py" in card and "public domain" in card


def test_recorded_greedy_samples_are_english_in_the_kjv_style():
    words = set()
    for sample in _summary()["samples"]:
        assert sample["greedy"].startswith(sample["prompt"])
        words |= set(sample["greedy"][len(sample["prompt"]):].replace(",", " ").replace(".", " ").split())
    assert len(words) >= 15, words  # not a repeated token
    assert {"the", "and", "of"} <= {w.lower() for w in words}
    assert words & {"unto", "LORD", "shall", "thee", "thou", "hath", "ye", "thy"}


# --- agreement: transformers, the training tool, edgekit ---------------------------------------------

@pytest.fixture(autouse=True)
def eager_torch():
    """transformers' BitLinear helpers are wrapped in torch.compile; compiling them costs tens of seconds
    per shape on a small CPU and computes the same float32 ops, so these tests run them eagerly."""
    try:
        import torch._dynamo
    except ImportError:
        yield
        return
    before = torch._dynamo.config.disable
    torch._dynamo.config.disable = True
    try:
        yield
    finally:
        torch._dynamo.config.disable = before


@pytest.fixture(scope="module")
def hf_model():
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch

    torch.set_num_threads(1)
    model = transformers.BitNetForCausalLM.from_pretrained(MODEL_DIR)
    model.eval()
    return model


def _hf_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float().numpy()


def _greedy(logits_of, ids: list[int], new_tokens: int, eos: int) -> list[int]:
    ids = list(ids)
    for _ in range(new_tokens):
        nxt = int(np.argmax(logits_of(ids)[-1]))
        if nxt == eos:
            break
        ids.append(nxt)
    return ids


def test_transformers_unpacks_our_packing_identically():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch
    from transformers.integrations.bitnet import pack_weights, unpack_weights

    packed = _tensors()["model.layers.0.mlp.down_proj.weight"]
    theirs = unpack_weights(torch.from_numpy(packed), dtype=torch.float32).numpy()
    np.testing.assert_array_equal(theirs, unpack_codes(packed))
    repacked = pack_weights(torch.from_numpy(unpack_codes(packed).astype(np.float32))).numpy()
    np.testing.assert_array_equal(repacked, packed)


def test_transformers_greedy_continuation_matches_the_recorded_one(hf_model):
    tok, cfg = _tokenizer(), _config()
    sample = _summary()["samples"][0]
    ids = tok.encode(sample["prompt"]).ids
    out = _greedy(lambda x: _hf_logits(hf_model, x), ids, 48, cfg["eos_token_id"])
    assert tok.decode(out, skip_special_tokens=True) == sample["greedy"]


def _load_tool():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import train_bundled
    finally:
        sys.path.pop(0)
    return train_bundled


def test_qat_linear_in_eval_equals_transformers_bitlinear():
    """The training tool's eval arithmetic is transformers' inference BitLinear on the exported tensors."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers.integrations.bitnet import BitLinear

    tb = _load_tool()
    torch.manual_seed(0)
    qat = tb.make_qat_linear_class()(96, 64, bias=False)
    qat.eval()
    codes, s_w = tb.ternarize(qat.weight)
    ref = BitLinear(96, 64, bias=False, dtype=torch.float32)
    ref.weight.copy_(torch.from_numpy(tb.pack_ternary_rows(codes.numpy().astype(np.int8))))
    ref.weight_scale.copy_(s_w.reshape(1))
    x = torch.randn(3, 5, 96) * 4
    with torch.no_grad():
        torch.testing.assert_close(qat(x), ref(x), rtol=0, atol=0)


def test_qat_linear_trains_through_the_quantiser():
    """Training mode: quantised forward value, straight-through gradients to weights and inputs."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    tb = _load_tool()
    torch.manual_seed(0)
    layer = tb.make_qat_linear_class()(32, 8, bias=False)
    x = torch.randn(4, 32, requires_grad=True)
    y = layer(x)
    codes, s_w = tb.ternarize(layer.weight)
    x_q, s_x = tb.activation_quant(x.detach())
    torch.testing.assert_close(y, (x_q / s_x) @ (codes / s_w).T)
    y.sum().backward()
    # STE: d(sum y)/dx = sum of the quantised weight rows, d/dW = sum of the quantised inputs
    torch.testing.assert_close(x.grad, (codes / s_w).sum(0).expand(4, 32))
    torch.testing.assert_close(layer.weight.grad, (x_q / s_x).sum(0).expand(8, 32))


def test_recorded_export_round_trip_was_exact():
    rt = _summary()["roundtrip"]
    assert rt["positions"] >= 128 and rt["argmax_agree"] == rt["positions"] and rt["max_abs_diff"] <= 1e-3


@pytest.fixture(scope="module")
def edgekit_model():
    from edgekit import load

    return load(DEFAULT_MODEL)


def test_edgekit_reference_logits_match_transformers(edgekit_model, hf_model):
    tok = _tokenizer()
    ids = tok.encode(KJV_TEXT).ids
    ours = np.asarray(edgekit_model.logits(ids))
    theirs = _hf_logits(hf_model, ids)
    assert ours.shape == theirs.shape == (len(ids), _config()["vocab_size"])
    # float32 noise: measured 2.0e-5 on logits up to 19.5 (about ten ulps there); README states it
    assert np.abs(ours - theirs).max() <= BUNDLED_VS_TRANSFORMERS_BOUND
    np.testing.assert_array_equal(ours.argmax(-1), theirs.argmax(-1))


def test_edgekit_greedy_tokens_equal_transformers(edgekit_model, hf_model):
    tok, eos = _tokenizer(), _config()["eos_token_id"]
    ids = tok.encode("And the LORD said unto Moses,").ids
    ours = _greedy(lambda x: np.asarray(edgekit_model.logits(x)), ids, 16, eos)
    theirs = _greedy(lambda x: _hf_logits(hf_model, x), ids, 16, eos)
    assert ours == theirs and len(ours) > len(ids)
