"""Hugging Face BitNet checkpoints -> Model: config, tensor names, codes, scales, tokenizer, streaming."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from edgekit.loaders import load_checkpoint
from edgekit.loaders.hf import hf_name
from edgekit.loaders.safetensors_file import SafetensorsFile, bf16_to_f32
from edgekit.loaders.ternary import absmean_ternarise, pack_hf_2bit, unpack_hf_2bit
from edgekit.model import tensor_layout

FIXTURES = Path(__file__).parent / "fixtures"
HF_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if (p / "config.json").exists())


def raw_tensor(directory: Path, name: str) -> np.ndarray:
    """A tensor read with the safetensors library itself (an independent reader; no bf16 here)."""
    for f in sorted(directory.glob("*.safetensors")):
        with safe_open(str(f), framework="numpy") as st:
            if name in st.keys():
                return st.get_tensor(name)
    raise KeyError(name)


def unpack_by_definition(packed: np.ndarray) -> np.ndarray:
    """docs/design.md §2 read literally, element by element: bits 2i..2i+1 of packed[r, c] = W_q[i*R + r, c] + 1."""
    rows, cols = packed.shape
    out = np.zeros((4 * rows, cols), dtype=np.int8)
    for i in range(4):
        for r in range(rows):
            out[i * rows + r] = ((packed[r] >> (2 * i)) & 3).astype(np.int8) - 1
    return out


@pytest.mark.parametrize("name", HF_FIXTURES)
def test_config_and_layout_follow_config_json(name):
    directory = FIXTURES / name
    cfg = json.loads((directory / "config.json").read_text())
    model = load_checkpoint(directory)
    c = model.config
    assert (c.vocab_size, c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads, c.num_kv_heads) == (
        cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"],
        cfg["num_attention_heads"], cfg["num_key_value_heads"])
    assert c.head_dim == cfg["hidden_size"] // cfg["num_attention_heads"]
    assert c.tie_word_embeddings == cfg["tie_word_embeddings"]
    theta = cfg.get("rope_theta", cfg.get("rope_parameters", {}).get("rope_theta"))
    assert c.rope_theta == pytest.approx(theta)
    assert (c.bos_token_id, c.eos_token_id) == (cfg["bos_token_id"], cfg["eos_token_id"])
    assert list(model.tensors) == [row[0] for row in tensor_layout(c)]
    assert ("lm_head" in model.tensors) == (not c.tie_word_embeddings)
    assert model.source_kind == ("hf-packed" if cfg.get("quantization_config", {}).get("quantization_mode",
                                                                                         "online") == "offline"
                                 else "hf-float")


@pytest.mark.parametrize("name", [n for n in HF_FIXTURES if n.startswith(("bitlinear", "autobitlinear"))])
def test_packed_codes_and_scale_semantics(name):
    directory = FIXTURES / name
    cfg = json.loads((directory / "config.json").read_text())
    model = load_checkpoint(directory)
    for layer, role in ((0, "q"), (0, "down"), (model.config.num_layers - 1, "k")):
        t = model.tensors[f"L{layer}.{role}"]
        hf = hf_name(role, layer)
        packed = raw_tensor(directory, hf)
        np.testing.assert_array_equal(t.codes(), unpack_by_definition(packed))
        stored = SafetensorsFile(next(f for f in directory.glob("*.safetensors")
                                      if hf + "_scale" in SafetensorsFile(f))).read_float32(hf + "_scale")[0]
        if cfg["quantization_config"]["linear_class"] == "bitlinear":
            assert t.weight_scale == float(stored)  # already the divisor 1/mean|W|
        else:
            assert t.weight_scale == float(np.float32(1) / stored)  # a multiplier mean|W|, inverted


@pytest.mark.parametrize("name", ["float-fp32-tied-gqa2"])
def test_float_master_is_ternarised_with_absmean(name):
    directory = FIXTURES / name
    model = load_checkpoint(directory)
    w = raw_tensor(directory, hf_name("gate", 1)).astype(np.float32)
    t = model.tensors["L1.gate"]
    s_w = np.float32(1) / np.float32(np.abs(w.astype(np.float64)).mean())
    assert t.weight_scale == pytest.approx(float(s_w), rel=1e-7)
    expected = np.clip(np.rint(w * np.float32(t.weight_scale)), -1, 1)
    np.testing.assert_array_equal(t.codes(), expected)
    assert set(np.unique(t.codes())) == {-1, 0, 1}


def test_absmean_rounds_half_to_even_and_clamps():
    w = np.array([[0.5, -0.5, 1.5, 1.5, 0.5, -2.0, 0.5]], dtype=np.float32)  # mean|W| = 1, so s_w = 1
    codes, s_w = absmean_ternarise(w)
    assert s_w == 1.0
    # +-0.5 round to 0 (half to even; round-half-away would give +-1), 1.5 -> 2 and -2 clamp to +-1
    np.testing.assert_array_equal(codes, [[0, 0, 1, 1, 0, -1, 0]])
    zeros, s_zero = absmean_ternarise(np.zeros((2, 4), np.float32))
    assert s_zero == pytest.approx(1e5) and not zeros.any()  # mean|W| is clamped at 1e-5


def test_pack_unpack_round_trip_and_definition():
    rng = np.random.default_rng(0)
    codes = rng.integers(-1, 2, size=(12, 7)).astype(np.int8)
    packed = pack_hf_2bit(codes)
    assert packed.shape == (3, 7) and packed.dtype == np.uint8
    np.testing.assert_array_equal(unpack_hf_2bit(packed, 12, where="x", name="t"), codes)
    np.testing.assert_array_equal(unpack_by_definition(packed), codes)
    # transformers' docstring example: 0b10100001 in column 0 holds rows 0, 2, 4, 6 of an 8-row weight
    example = np.array([[0b10100001, 0b00011000], [0b10010000, 0b00001010]], dtype=np.uint8)
    np.testing.assert_array_equal(unpack_hf_2bit(example, 8, where="x", name="t"),
                                  [[0, -1], [-1, 1], [-1, 1], [-1, 1], [1, 0], [0, -1], [1, -1], [1, -1]])


def test_bf16_widening_is_exact():
    bits = np.array([0x3F80, 0xC000, 0x3E80, 0x0000, 0x8000, 0x7F7F], dtype=np.uint16)
    np.testing.assert_array_equal(bf16_to_f32(bits),
                                  np.array([1.0, -2.0, 0.25, 0.0, -0.0, 3.3895313892515355e38], np.float32))


def test_float_tensors_match_the_file():
    directory = FIXTURES / "float-fp32-tied-gqa2"
    model = load_checkpoint(directory)
    np.testing.assert_array_equal(model.tensors["L0.attn_norm"].array(),
                                  raw_tensor(directory, "model.layers.0.input_layernorm.weight"))
    np.testing.assert_array_equal(model.embedding.array(), raw_tensor(directory, "model.embed_tokens.weight"))
    assert model.lm_head is model.embedding  # tied


def test_sharded_checkpoint_reads_tensors_from_every_shard():
    directory = FIXTURES / "bitlinear-untied-gqa2-sharded"
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == 2
    model = load_checkpoint(directory)
    for t in model:
        data = t.codes() if t.kind == "ternary" else t.array()
        assert data.shape == t.shape


def test_tokenizer_and_chat_template():
    directory = FIXTURES / "bitlinear-tied-gqa1"
    model = load_checkpoint(directory)
    assert model.tokenizer_json == (directory / "tokenizer.json").read_text(encoding="utf-8")
    assert "<|eot_id|>" in model.chat_template
    ids = model.encode("Hello world!")
    assert model.decode(ids) == "Hello world!"
    assert model.tokenizer_hash() != bytes(32)
    no_template = load_checkpoint(FIXTURES / "float-fp32-tied-gqa2")
    assert no_template.chat_template is None


def test_a_file_inside_the_checkpoint_loads_the_directory():
    model = load_checkpoint(FIXTURES / "bitlinear-tied-gqa1" / "config.json")
    assert model.source == FIXTURES / "bitlinear-tied-gqa1"


def test_loading_reads_no_weights(monkeypatch):
    """Streaming contract: load reads headers and per-tensor scales only; weights wait for codes()/array()."""
    reads = []
    original = SafetensorsFile.read_raw

    def counting(self, name, rows=None):
        reads.append(name)
        return original(self, name, rows)

    monkeypatch.setattr(SafetensorsFile, "read_raw", counting)
    packed = load_checkpoint(FIXTURES / "bitlinear-untied-gqa2-sharded")
    assert reads and all(name.endswith("weight_scale") for name in reads)
    reads.clear()
    master = load_checkpoint(FIXTURES / "float-bf16-untied-gqa4")
    assert reads == []
    master.tensors["L0.q"].weight_scale  # noqa: B018 - asking for the scale decodes that one tensor only
    assert reads == [hf_name("q", 0)]
    reads.clear()
    packed.tensors["L1.up"].codes()
    assert reads == [hf_name("up", 1)]


def test_float_rows_stream_equal_the_whole_tensor():
    """Packing streams big float tensors by row ranges read from disk; they must equal the whole read."""
    import numpy as np

    model = load_checkpoint(FIXTURES / "float-bf16-untied-gqa4")
    for name in ("tok_embeddings", "lm_head"):
        t = model.tensors[name]
        whole = t.array()
        np.testing.assert_array_equal(np.concatenate(list(t.row_chunks(rows_per_chunk=7))), whole)
