"""Fuzzing the checkpoint decoders: damaged safetensors, GGUF and config files must give EdgekitError (or
load, when the damage happens to be harmless), never another exception and never a hang."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.errors import EdgekitError
from edgekit.loaders import load_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"
HF_SOURCE = FIXTURES / "bitlinear-tied-gqa1"
GGUF_SOURCES = [FIXTURES / "gguf" / "autobitlinear-untied-gqa4.f16.gguf",
                FIXTURES / "gguf" / "bitlinear-tied-gqa2-h256.tq1_0.gguf",
                FIXTURES / "gguf" / "bitlinear-tied-gqa2-h256.i2_s.gguf"]
FUZZ = settings(max_examples=40, deadline=5000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def load_everything(path: Path) -> None:
    """Load and decode every tensor: a decoder bug can hide until the data is read."""
    try:
        model = load_checkpoint(path)
        for t in model:
            t.codes() if t.kind == "ternary" else t.array()
            if t.kind == "ternary":
                assert t.weight_scale > 0
        if model.tokenizer is not None:
            model.decode(model.encode("fuzz"))
    except EdgekitError as e:
        assert str(e)  # a message to print, with the file named
        assert str(path.name) in str(e) or str(path) in str(e) or path.is_dir()


@pytest.fixture(scope="module")
def hf_work(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("fuzz_hf") / "model"
    shutil.copytree(HF_SOURCE, work)
    return work


def header_length(raw: bytes) -> int:
    return int.from_bytes(raw[:8], "little")


ORIGINAL_ST = (HF_SOURCE / "model.safetensors").read_bytes()


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 8 + header_length(ORIGINAL_ST) + 64), st.integers(0, 7)),
                      min_size=1, max_size=8))
def test_safetensors_header_bit_flips(hf_work, flips):
    raw = bytearray(ORIGINAL_ST)
    for pos, bit in flips:
        raw[pos] ^= 1 << bit
    (hf_work / "model.safetensors").write_bytes(bytes(raw))
    load_everything(hf_work)


@FUZZ
@given(cut=st.integers(0, len(ORIGINAL_ST) - 1))
def test_safetensors_truncation(hf_work, cut):
    (hf_work / "model.safetensors").write_bytes(ORIGINAL_ST[:cut])
    load_everything(hf_work)


@FUZZ
@given(start=st.integers(0, 600), garbage=st.binary(min_size=1, max_size=64))
def test_safetensors_garbage_in_header(hf_work, start, garbage):
    raw = bytearray(ORIGINAL_ST)
    raw[start:start + len(garbage)] = garbage
    (hf_work / "model.safetensors").write_bytes(bytes(raw))
    load_everything(hf_work)


def _json_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                        st.text(max_size=8))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                        max_leaves=6)


ENTRY_KEYS = ("dtype", "shape", "data_offsets")


@FUZZ
@given(entry=st.integers(0, 200), key=st.sampled_from(ENTRY_KEYS), value=_json_values())
def test_safetensors_header_fields(hf_work, entry, key, value):
    n = header_length(ORIGINAL_ST)
    header = json.loads(ORIGINAL_ST[8:8 + n])
    names = sorted(k for k in header if k != "__metadata__")
    header[names[entry % len(names)]][key] = value
    text = json.dumps(header).encode()
    (hf_work / "model.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + ORIGINAL_ST[8 + n:])
    load_everything(hf_work)


CONFIG_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "rope_theta",
               "rope_parameters", "rope_scaling", "tie_word_embeddings", "bos_token_id", "eos_token_id",
               "quantization_config", "model_type", "hidden_act")
ORIGINAL_CONFIG = (HF_SOURCE / "config.json").read_text()


@FUZZ
@given(key=st.sampled_from(CONFIG_KEYS), value=_json_values())
def test_config_values(hf_work, key, value):
    (hf_work / "model.safetensors").write_bytes(ORIGINAL_ST)
    cfg = json.loads(ORIGINAL_CONFIG)
    cfg[key] = value
    (hf_work / "config.json").write_text(json.dumps(cfg))
    try:
        load_everything(hf_work)
    finally:
        (hf_work / "config.json").write_text(ORIGINAL_CONFIG)


# --- GGUF ------------------------------------------------------------------------------------------------------
GGUF_BYTES = {p.name: p.read_bytes() for p in GGUF_SOURCES}


@pytest.fixture(scope="module")
def gguf_work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_gguf") / "model.gguf"


def _header_end(raw: bytes) -> int:
    """Roughly where the metadata and tensor table end (the first tensor's data starts after them)."""
    from edgekit.loaders.gguf_file import GGUFFile

    return min(t.begin for t in GGUFFile(next(p for p in GGUF_SOURCES if p.read_bytes() == raw)).tensors.values())


HEADER_ENDS = {name: _header_end(raw) for name, raw in GGUF_BYTES.items()}


@FUZZ
@given(source=st.sampled_from(sorted(GGUF_BYTES)), data=st.data())
def test_gguf_bit_flips(gguf_work, source, data):
    raw = bytearray(GGUF_BYTES[source])
    # mostly in the header (metadata, tensor table), sometimes anywhere
    limit = HEADER_ENDS[source] if data.draw(st.booleans()) else len(raw) - 1
    flips = data.draw(st.lists(st.tuples(st.integers(0, limit), st.integers(0, 7)), min_size=1, max_size=8))
    for pos, bit in flips:
        raw[pos] ^= 1 << bit
    gguf_work.write_bytes(bytes(raw))
    load_everything(gguf_work)


@FUZZ
@given(source=st.sampled_from(sorted(GGUF_BYTES)), data=st.data())
def test_gguf_truncation(gguf_work, source, data):
    raw = GGUF_BYTES[source]
    cut = data.draw(st.integers(0, len(raw) - 1))
    gguf_work.write_bytes(raw[:cut])
    load_everything(gguf_work)


@FUZZ
@given(source=st.sampled_from(sorted(GGUF_BYTES)), data=st.data(), garbage=st.binary(min_size=1, max_size=32))
def test_gguf_garbage_in_header(gguf_work, source, data, garbage):
    raw = bytearray(GGUF_BYTES[source])
    start = data.draw(st.integers(0, HEADER_ENDS[source]))
    raw[start:start + len(garbage)] = garbage
    gguf_work.write_bytes(bytes(raw))
    load_everything(gguf_work)
