"""Bad checkpoints give one EdgekitError that names the file and the problem, never a traceback."""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.loaders import load_checkpoint
from edgekit.loaders.gguf_file import GGUFFile
from edgekit.loaders.hf import hf_name

FIXTURES = Path(__file__).parent / "fixtures"
PACKED = FIXTURES / "bitlinear-tied-gqa1"
SHARDED = FIXTURES / "bitlinear-untied-gqa2-sharded"
AUTO = FIXTURES / "autobitlinear-untied-gqa4"
GGUF = FIXTURES / "gguf" / "bitlinear-tied-gqa2-h256.tq1_0.gguf"


def copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy(src, dst)
    return dst


def edit_config(directory: Path, **changes) -> None:
    cfg = json.loads((directory / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    (directory / "config.json").write_text(json.dumps(cfg))


def rewrite_safetensors(path: Path, transform) -> None:
    """Rewrite a safetensors file after transform(header dict, data bytes) -> (header, data)."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header, data = transform(json.loads(raw[8:8 + n]), raw[8 + n:])
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


def expect_error(path: Path, *fragments: str, materialize: bool = False) -> EdgekitError:
    with pytest.raises(EdgekitError) as excinfo:
        model = load_checkpoint(path)
        if materialize:
            for t in model:
                t.codes() if t.kind == "ternary" else t.array()
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return excinfo.value


def test_missing_path(tmp_path):
    expect_error(tmp_path / "nope", "nope", "no such file")


def test_directory_without_config(tmp_path):
    expect_error(tmp_path, "no config.json", str(tmp_path))


def test_unrelated_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    expect_error(f, "notes.txt", "neither a GGUF")


def test_unknown_model_type(tmp_path):
    d = copy(PACKED, tmp_path)
    edit_config(d, model_type="llama")
    expect_error(d, "config.json", "model_type 'llama' is not supported")


def test_config_that_is_not_json(tmp_path):
    d = copy(PACKED, tmp_path)
    (d / "config.json").write_text("{ not json")
    expect_error(d, "config.json", "not valid JSON")


def test_config_field_of_the_wrong_type(tmp_path):
    d = copy(PACKED, tmp_path)
    edit_config(d, hidden_size="64")
    expect_error(d, "config.json", "hidden_size must be an integer")


def test_use_rms_norm_is_refused(tmp_path):
    d = copy(PACKED, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    edit_config(d, quantization_config={**cfg["quantization_config"], "use_rms_norm": True})
    expect_error(d, "use_rms_norm")


def test_missing_tensor(tmp_path):
    d = copy(PACKED, tmp_path)
    rewrite_safetensors(d / "model.safetensors",
                        lambda h, data: ({k: v for k, v in h.items() if k != hf_name("v", 1)}, data))
    expect_error(d, hf_name("v", 1), "is missing")


def test_missing_weight_scale(tmp_path):
    d = copy(PACKED, tmp_path)
    name = hf_name("o", 0)[: -len("weight")] + "weight_scale"
    rewrite_safetensors(d / "model.safetensors", lambda h, data: ({k: v for k, v in h.items() if k != name}, data))
    expect_error(d, name, "is missing")


def test_shape_mismatch_between_config_and_weights(tmp_path):
    d = copy(PACKED, tmp_path)
    edit_config(d, intermediate_size=64)
    expect_error(d, "shape", "config")


def test_float_weight_where_bitlinear_promises_packed(tmp_path):
    d = copy(PACKED, tmp_path)
    name = hf_name("q", 0)

    def to_float(h, data):
        h[name]["dtype"] = "F16"  # same bytes, half the elements: the shape check must notice
        return h, data

    rewrite_safetensors(d / "model.safetensors", to_float)
    expect_error(d, name)


def test_non_ternary_packed_code(tmp_path):
    d = copy(PACKED, tmp_path)
    name = hf_name("gate", 1)

    def poison(h, data):
        begin = h[name]["data_offsets"][0]
        data = bytearray(data)
        data[begin + 5] |= 0b11 << 4  # field 2 of one byte: code 0b11
        return h, bytes(data)

    rewrite_safetensors(d / "model.safetensors", poison)
    model = load_checkpoint(d)
    with pytest.raises(EdgekitError, match="non-ternary code") as e:
        model.tensors["L1.gate"].codes()
    assert "model.safetensors" in str(e.value) and name in str(e.value)


def test_non_ternary_value_in_autobitlinear_float_weights(tmp_path):
    d = copy(AUTO, tmp_path)
    name = hf_name("up", 0)
    out, cols = 128, 64
    values = np.zeros((out, cols), np.float32)
    values[3, 4] = 0.5

    def replace(h, data):
        begin = len(data)
        h[name] = {"dtype": "F32", "shape": [out, cols], "data_offsets": [begin, begin + values.nbytes]}
        return h, data + values.tobytes()

    rewrite_safetensors(d / "model.safetensors", replace)
    model = load_checkpoint(d)
    with pytest.raises(EdgekitError, match="non-ternary value 0.5"):
        model.tensors["L0.up"].codes()


def test_truncated_safetensors(tmp_path):
    d = copy(PACKED, tmp_path)
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-1000])
    expect_error(d, "model.safetensors", "truncated")


def test_safetensors_too_short_for_a_header(tmp_path):
    d = copy(PACKED, tmp_path)
    (d / "model.safetensors").write_bytes(b"\x01\x02")
    expect_error(d, "model.safetensors", "too short")


def test_corrupt_safetensors_header(tmp_path):
    d = copy(PACKED, tmp_path)
    f = d / "model.safetensors"
    raw = bytearray(f.read_bytes())
    raw[8:20] = b"#" * 12
    f.write_bytes(bytes(raw))
    expect_error(d, "model.safetensors", "not valid JSON")


def test_sharded_index_pointing_at_a_missing_shard(tmp_path):
    d = copy(SHARDED, tmp_path)
    (d / "model-00002-of-00002.safetensors").unlink()
    expect_error(d, "model.safetensors.index.json", "model-00002-of-00002.safetensors", "missing")


def test_sharded_index_that_disagrees_with_the_shards(tmp_path):
    d = copy(SHARDED, tmp_path)
    index = json.loads((d / "model.safetensors.index.json").read_text())
    name = hf_name("k", 0)
    index["weight_map"][name] = next(s for s in set(index["weight_map"].values()) if s != index["weight_map"][name])
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    expect_error(d, name, "is not there")


def test_shards_without_an_index(tmp_path):
    d = copy(SHARDED, tmp_path)
    (d / "model.safetensors.index.json").unlink()
    expect_error(d, "no model.safetensors.index.json")


def test_broken_tokenizer_json(tmp_path):
    d = copy(PACKED, tmp_path)
    (d / "tokenizer.json").write_text('{"model": {"type": "nonsense"}}')
    expect_error(d, "tokenizer.json", "not a valid tokenizer.json")


# --- GGUF ----------------------------------------------------------------------------------------------------
def test_gguf_bad_magic(tmp_path):
    f = copy(GGUF, tmp_path)
    f.write_bytes(b"GGUX" + f.read_bytes()[4:])
    expect_error(f, f.name, "bad magic")


def test_gguf_truncated(tmp_path):
    f = copy(GGUF, tmp_path)
    f.write_bytes(f.read_bytes()[:-5000])
    expect_error(f, f.name, "truncated")


def test_gguf_truncated_inside_metadata(tmp_path):
    f = copy(GGUF, tmp_path)
    f.write_bytes(f.read_bytes()[:3000])
    expect_error(f, f.name, "metadata 'tokenizer.ggml.tokens'", "truncated")


def test_gguf_unsupported_version(tmp_path):
    f = copy(GGUF, tmp_path)
    raw = bytearray(f.read_bytes())
    raw[4:8] = struct.pack("<I", 7)
    f.write_bytes(bytes(raw))
    expect_error(f, "version 7")


def _rename_metadata(path: Path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    raw = path.read_bytes()
    assert raw.count(old) >= 1
    path.write_bytes(raw.replace(old, new))


def test_gguf_unknown_architecture(tmp_path):
    f = copy(GGUF, tmp_path)
    raw = bytearray(f.read_bytes())
    at = raw.index(b"general.architecture") + len(b"general.architecture") + 4 + 8
    assert raw[at:at + 6] == b"bitnet"
    raw[at:at + 6] = b"llamaX"
    f.write_bytes(bytes(raw))
    expect_error(f, "architecture 'llamaX' is not supported")


def test_gguf_missing_tensor(tmp_path):
    f = copy(GGUF, tmp_path)
    _rename_metadata(f, b"blk.1.ffn_down.weight", b"blk.1.ffn_dowX.weight")
    expect_error(f, "blk.1.ffn_down.weight", "is missing")


def test_gguf_unsupported_tokenizer_model(tmp_path):
    f = copy(GGUF, tmp_path)
    raw = bytearray(f.read_bytes())
    at = raw.index(b"tokenizer.ggml.model") + len(b"tokenizer.ggml.model") + 4 + 8
    assert raw[at:at + 4] == b"gpt2"
    raw[at:at + 4] = b"rwkv"
    f.write_bytes(bytes(raw))
    expect_error(f, "tokenizer model 'rwkv' is not supported")


def test_gguf_non_ternary_i2_s_code(tmp_path):
    src = FIXTURES / "gguf" / "bitlinear-tied-gqa2-h256.i2_s.gguf"
    f = copy(src, tmp_path)
    info = GGUFFile(src).tensors["blk.0.attn_v.weight"]
    raw = bytearray(f.read_bytes())
    raw[info.begin + 3] = 0xFF
    f.write_bytes(bytes(raw))
    model = load_checkpoint(f)
    with pytest.raises(EdgekitError, match="non-ternary code"):
        model.tensors["L0.v"].codes()


# --- validate before allocating; host and device limits agree (issue: hardening) ------------------------------

@pytest.mark.parametrize("changes,fragments", [
    ({"num_hidden_layers": 1_000_000_000}, ["num_layers is 1,000,000,000", "limit of 65,534"]),
    ({"num_hidden_layers": 60_000}, ["60,000 layers", "stores only"]),  # within limits, refused before the list
    ({"max_position_embeddings": 1 << 31}, ["max_seq_len", "limit of 16,777,216"]),
    ({"vocab_size": 1 << 40}, ["vocab_size", "limit"]),
    ({"rope_theta": 1e39}, ["rope_theta", "float32"]),  # finite in JSON, infinite as the image's float32
    ({"rms_norm_eps": 1e-50}, ["rms_norm_eps", "float32"]),  # rounds to 0 in float32
    ({"bos_token_id": 1 << 40}, ["bos_token_id", "below vocab_size"]),
    ({"eos_token_id": 10 ** 9}, ["eos_token_id", "below vocab_size"]),
])
def test_configs_beyond_the_shared_limits_are_refused(tmp_path, changes, fragments):
    d = copy(PACKED, tmp_path)
    edit_config(d, **changes)
    expect_error(d, "config.json", *fragments)


def _poison_first_float_tensor(d: Path, value: float) -> str:
    hit = {}

    def transform(header, data):
        data = bytearray(data)
        for name, info in header.items():
            if name == "model.norm.weight":
                begin = info["data_offsets"][0]
                struct.pack_into("<f", data, begin + 4, value)
                hit["name"] = name
                break
        return header, bytes(data)

    rewrite_safetensors(d / "model.safetensors", transform)
    return hit["name"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_weights_are_refused_at_load_and_pack(tmp_path, value):
    """A NaN weight packs as a 'valid' image and the device then prints token 0 forever: refuse it."""
    from edgekit.pack.packer import PackChoice, pack_model

    d = copy(PACKED, tmp_path)
    _poison_first_float_tensor(d, value)
    expect_error(d, "NaN or infinite", materialize=True)
    model = load_checkpoint(d)
    with pytest.raises(EdgekitError, match="NaN or infinite"):
        pack_model(model, tmp_path / "x.ekm", PackChoice("i2", "f32", "f32"))
    assert not list(tmp_path.glob("x.ekm*")), "a refused pack left a file behind"


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), 1e39])
def test_bad_ternary_scales_are_refused_at_pack(tmp_path, scale):
    from edgekit.pack.packer import PackChoice, pack_model
    from synthetic import random_model, tiny_config

    model = random_model(tiny_config())
    model.tensors["L0.q"].weight_scale = scale
    with pytest.raises(EdgekitError, match="weight scale"):
        pack_model(model, tmp_path / "x.ekm", PackChoice("i2", "f32", "f32"))
    assert not list(tmp_path.iterdir())


def test_tie_word_embeddings_must_be_a_boolean(tmp_path):
    d = copy(PACKED, tmp_path)
    edit_config(d, tie_word_embeddings="yes")  # bool("yes") would silently tie the head
    expect_error(d, "config.json", "tie_word_embeddings must be true or false")
