"""GGUF BitNet files -> Model: the container parser, TQ1_0/TQ2_0/I2_S/float decoders, config, tokenizer."""
from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.constants import GGMLQuantizationType as QT
from gguf.quants import dequantize, quantize

from edgekit.errors import EdgekitError
from edgekit.loaders import load_checkpoint
from edgekit.loaders.gguf_blocks import (i2_s_decode, i2_s_encode, tq1_0_decode, tq1_0_encode, tq2_0_decode,
                                      tq2_0_encode)
from edgekit.loaders.gguf_file import GGUFFile

FIXTURES = Path(__file__).parent / "fixtures"
GGUF_DIR = FIXTURES / "gguf"
MANIFEST = json.loads((GGUF_DIR / "manifest.json").read_text())
TEXTS = ["Hello world!", "The board counts 12345 ternary weights.", "<|begin_of_text|>Hi<|eot_id|>", "  spaces\n"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_gguf_equals_its_safetensors_original(name):
    source = load_checkpoint(FIXTURES / MANIFEST[name])
    model = load_checkpoint(GGUF_DIR / name)
    assert model.source_kind == "gguf"
    assert model.config == source.config
    assert list(model.tensors) == list(source.tensors)
    for t in model:
        s = source.tensors[t.name]
        if t.kind == "ternary":
            np.testing.assert_array_equal(t.codes(), s.codes(), err_msg=t.name)
            assert t.weight_scale == s.weight_scale, t.name  # bit-identical s_w, not merely close
        else:
            np.testing.assert_array_equal(t.array(), s.array(), err_msg=t.name)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_gguf_tokenizer_encodes_like_tokenizer_json(name):
    source = load_checkpoint(FIXTURES / MANIFEST[name])
    model = load_checkpoint(GGUF_DIR / name)
    for text in TEXTS:
        assert model.tokenizer.encode(text, add_special_tokens=False).ids == \
            source.tokenizer.encode(text, add_special_tokens=False).ids, text
        assert model.decode(model.encode(text)) == text
    assert model.chat_template and "<|eot_id|>" in model.chat_template
    assert model.tokenizer_json  # canonical text for hashing / shipping


def test_container_parser_agrees_with_gguf_reader():
    """Our bounds-checked parser against the gguf package's reader (on a file both can read)."""
    path = GGUF_DIR / "bitlinear-tied-gqa2-h256.tq2_0.gguf"
    ours = GGUFFile(path)
    reader = gguf.GGUFReader(str(path))
    assert sorted(ours.tensors) == sorted(t.name for t in reader.tensors)
    for t in reader.tensors:
        mine = ours.tensors[t.name]
        assert mine.ggml_type == int(t.tensor_type)
        assert mine.begin == int(t.data_offset)
        assert mine.nbytes == int(t.n_bytes)
        assert mine.dims == tuple(int(d) for d in t.shape)
    assert ours.metadata["general.architecture"] == "bitnet"
    assert ours.metadata["bitnet.embedding_length"] == 256
    assert ours.metadata["tokenizer.ggml.tokens"][:3] == [
        bytes(reader.fields["tokenizer.ggml.tokens"].parts[i]).decode()
        for i in reader.fields["tokenizer.ggml.tokens"].data[:3]]


def test_i2_s_file_uses_type_36_and_bitnet_cpp_arch():
    gf = GGUFFile(GGUF_DIR / "bitlinear-tied-gqa2-h256.i2_s.gguf")
    assert gf.metadata["general.architecture"] == "bitnet-b1.58"
    q = gf.tensors["blk.0.attn_q.weight"]
    assert q.ggml_type == 36 and q.type_name == "I2_S" and q.nbytes == q.numel // 4 + 32


@pytest.mark.parametrize("qtype,encode,decode", [(QT.TQ1_0, tq1_0_encode, tq1_0_decode),
                                                 (QT.TQ2_0, tq2_0_encode, tq2_0_decode)])
def test_tq_codecs_match_the_gguf_reference(qtype, encode, decode):
    rng = np.random.default_rng(7)
    codes = rng.integers(-1, 2, size=(3, 512)).astype(np.int8)
    codes[1, :256] = 0  # an all-zero block: llama.cpp writes d = 0 there
    d = np.where((codes.reshape(-1, 256) != 0).any(axis=1), 0.0625, 0.0).astype(np.float16)
    ours = encode(codes, d).reshape(3, -1)
    # gguf's own quantiser, fed the float weights W_q * d, must produce exactly our bytes ...
    reference = quantize((codes * np.float32(0.0625)).astype(np.float32), qtype)
    np.testing.assert_array_equal(ours, reference)
    # ... and its dequantiser must read them back as W_q * d
    np.testing.assert_array_equal(dequantize(ours, qtype), codes * np.float32(0.0625))
    back, scales = decode(ours.reshape(-1))
    np.testing.assert_array_equal(back.reshape(codes.shape), codes)
    np.testing.assert_array_equal(scales, d.astype(np.float32))


def test_i2_s_layout_by_hand():
    codes = np.zeros(128, dtype=np.int8)
    codes[0], codes[32], codes[64], codes[96], codes[1] = 1, -1, 1, 0, -1
    raw = i2_s_encode(codes, 0.5)
    assert raw.size == 32 + 32
    assert raw[0] == (2 << 6) | (0 << 4) | (2 << 2) | 1  # weights 0, 32, 64, 96 at bits 7..6 .. 1..0
    assert raw[1] == (0 << 6) | (1 << 4) | (1 << 2) | 1
    assert raw[32:36].view("<f4")[0] == 0.5 and (raw[32:].view("<f4") == 0.5).all()
    back, scale = i2_s_decode(raw, 128)
    np.testing.assert_array_equal(back, codes)
    assert scale == 0.5


def _rewrite_tensor(src: Path, dst: Path, name: str, new_bytes: np.ndarray) -> None:
    data = bytearray(src.read_bytes())
    info = GGUFFile(src).tensors[name]
    assert new_bytes.size == info.nbytes
    data[info.begin:info.begin + info.nbytes] = new_bytes.tobytes()
    dst.write_bytes(bytes(data))


def test_tq_blocks_with_different_scales_are_refused(tmp_path):
    src = GGUF_DIR / "bitlinear-tied-gqa2-h256.tq2_0.gguf"
    name = "blk.0.ffn_up.weight"
    raw = GGUFFile(src).read_bytes(name).copy().reshape(-1, 66)
    raw[3, 64:66] = np.array([0.1], dtype="<f2").view(np.uint8)  # one block with another scale
    bad = tmp_path / "mixed.gguf"
    _rewrite_tensor(src, bad, name, raw.reshape(-1))
    model = load_checkpoint(bad)
    with pytest.raises(EdgekitError, match="different scales") as e:
        model.tensors["L0.up"].codes()
    assert "mixed.gguf" in str(e.value)


def test_negative_block_scales_move_their_sign_into_the_codes(tmp_path):
    src = GGUF_DIR / "bitlinear-tied-gqa2-h256.tq2_0.gguf"
    name = "blk.1.attn_k.weight"
    original = load_checkpoint(src).tensors["L1.k"]
    raw = GGUFFile(src).read_bytes(name).copy().reshape(-1, 66)
    d = raw[:, 64:66].copy().view("<f2")
    d[::2] = -d[::2]  # every other block negated: the same |d| everywhere, signs vary per block
    raw[:, 64:66] = d.view(np.uint8)
    flipped = tmp_path / "neg.gguf"
    _rewrite_tensor(src, flipped, name, raw.reshape(-1))
    t = load_checkpoint(flipped).tensors["L1.k"]
    block_sign = np.where(np.arange(raw.shape[0]) % 2 == 0, -1, 1).astype(np.int8)
    expected = (original.codes().reshape(-1, 256) * block_sign[:, None]).reshape(original.shape)
    np.testing.assert_array_equal(t.codes(), expected)
    assert t.weight_scale == original.weight_scale


def test_float_weights_in_gguf():
    # F16 holding W_q * mean|W| (llama.cpp's converter): exactly the original codes and scale
    f16 = load_checkpoint(GGUF_DIR / "autobitlinear-untied-gqa4.f16.gguf")
    assert f16.tensors["L0.o"].source_format == "f16"
    # F32 float master: ternarised with absmean like the HF loader
    f32 = load_checkpoint(GGUF_DIR / "float-fp32-tied-gqa2.f32.gguf")
    hf = load_checkpoint(FIXTURES / "float-fp32-tied-gqa2")
    assert f32.tensors["L1.v"].weight_scale == hf.tensors["L1.v"].weight_scale
    np.testing.assert_array_equal(f32.tensors["L1.v"].codes(), hf.tensors["L1.v"].codes())
    assert f32.config.tie_word_embeddings and "lm_head" not in f32.tensors


def test_llama3_pre_tokenizer_split():
    """BitNet b1.58 2B4T GGUFs say tokenizer.ggml.pre = "llama-bpe": Llama 3's split rule (digits in runs of
    at most three, a lone space before them on its own), unlike GPT-2's."""
    from types import SimpleNamespace

    from edgekit.loaders.gguf_tokenizer import tokenizer_from_gguf

    gf = GGUFFile(GGUF_DIR / "bitlinear-tied-gqa2-h256.tq2_0.gguf")
    llama3 = tokenizer_from_gguf(SimpleNamespace(metadata={**gf.metadata, "tokenizer.ggml.pre": "llama-bpe"},
                                                 path=gf.path))
    gpt2 = tokenizer_from_gguf(gf)
    split = [p for p, _ in llama3.pre_tokenizer.pre_tokenize_str("Hello 12345 world's")]
    assert split == ["Hello", "Ġ", "123", "45", "Ġworld", "'s"]
    assert [p for p, _ in gpt2.pre_tokenizer.pre_tokenize_str("Hello 12345 world's")] == [
        "Hello", "Ġ12345", "Ġworld", "'s"]
    assert llama3.decode(llama3.encode("Hello 12345 world's").ids) == "Hello 12345 world's"


def test_unknown_pre_tokenizer_is_refused():
    from types import SimpleNamespace

    from edgekit.loaders.gguf_tokenizer import tokenizer_from_gguf

    gf = GGUFFile(GGUF_DIR / "bitlinear-tied-gqa2-h256.tq2_0.gguf")
    with pytest.raises(EdgekitError, match="pre-tokenizer 'qwen2' is not supported"):
        tokenizer_from_gguf(SimpleNamespace(metadata={**gf.metadata, "tokenizer.ggml.pre": "qwen2"}, path=gf.path))


def write_gguf_like(model, path: Path, ternary_tensors) -> None:
    """A GGUF of `model` written with the gguf package; ternary_tensors(name, tensor) yields (gguf name, array)
    pairs for each ternary weight (so a test chooses how they are stored)."""
    from edgekit.loaders.gguf import gguf_name

    c = model.config
    w = gguf.GGUFWriter(str(path), "bitnet")
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_heads)
    w.add_head_count_kv(c.num_kv_heads)
    w.add_context_length(c.max_seq_len)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(c.rope_theta)
    for t in model:
        name = gguf_name(t.role, t.layer)
        if t.kind == "ternary":
            for gname, arr in ternary_tensors(name, t):
                w.add_tensor(gname, arr)
        else:
            w.add_tensor(name, t.array())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_llama_cpp_per_tensor_scale_multiplies_the_weight(tmp_path):
    """llama.cpp's BitNet graph multiplies by an optional `blk.N.<proj>.scale` after the matmul."""
    source = load_checkpoint(FIXTURES / "autobitlinear-untied-gqa4")

    def doubled_with_half_scale(name, t):
        mean_abs = np.float32(1) / np.float32(t.weight_scale)
        yield name, (t.codes().astype(np.float32) * (2 * mean_abs)).astype(np.float16)
        yield name[: -len("weight")] + "scale", np.array([0.5], dtype=np.float32)

    path = tmp_path / "scaled.gguf"
    write_gguf_like(source, path, doubled_with_half_scale)
    model = load_checkpoint(path)
    assert model.tokenizer is None  # no tokenizer metadata: the model takes token ids
    for t in source:
        if t.kind == "ternary":
            got = model.tensors[t.name]
            np.testing.assert_array_equal(got.codes(), t.codes())
            assert got.weight_scale == t.weight_scale


def test_add_bos_token_becomes_a_post_processor():
    """`tokenizer.ggml.add_bos_token` (set by bitnet.cpp's converter) -> encode() prepends BOS, as llama.cpp
    does and as Llama 3's tokenizer.json template does; without it nothing is added."""
    from types import SimpleNamespace

    from edgekit.loaders.gguf_tokenizer import tokenizer_from_gguf

    gf = GGUFFile(GGUF_DIR / "bitlinear-tied-gqa2-h256.tq2_0.gguf")
    bos = gf.metadata["tokenizer.ggml.bos_token_id"]
    with_bos = tokenizer_from_gguf(SimpleNamespace(metadata={**gf.metadata, "tokenizer.ggml.add_bos_token": True},
                                                   path=gf.path))
    plain = tokenizer_from_gguf(gf)
    ids = plain.encode("Hello world").ids
    assert with_bos.encode("Hello world").ids == [bos] + ids
    assert with_bos.encode("Hello world", add_special_tokens=False).ids == ids


# --- outside references: gguf-py for the container and the upstream types, bitnet.cpp's spec for I2_S ----------
# I2_S (ggml type 36) is bitnet.cpp's own type, absent from upstream gguf-py. Its on-disk layout, as bitnet.cpp
# defines it (read in microsoft/BitNet: utils/convert-hf-to-gguf-bitnet.py `quantize_to_i2_s`, the x86 branch of
# src/ggml-bitnet-mad.cpp `quantize_i2_s`, and the dequantizer its llama.cpp fork reads files with): the tensor
# flattened row-major, weight i -> code w + 1 in {0, 1, 2}, in blocks of 128 weights; weight j of a block goes to
# byte j % 32 of the block's 32 bytes, at bit 6 - 2 * (j // 32); after the n / 4 code bytes a 32-byte tail whose
# first 4 bytes are the float32 scale (dequantized W = scale * code; the converter zero-fills the other 28).
# bitnet.cpp's ARM build packs 64-weight / 16-byte groups and a newer x86 "1x4" build interleaves four rows per
# byte, but the released files and the dequantizer use the 128/32 layout (bitnet.cpp issues #585, #598 report ARM
# builds misreading those files); edgekit reads that one. The functions below restate it weight by weight, the way
# the spec reads, independently of edgekit's vectorised codecs in gguf_blocks.py.
I2_S_TYPE = 36


def spec_i2_s_pack(codes: np.ndarray, scale: float) -> np.ndarray:
    flat = np.asarray(codes, dtype=np.int64).reshape(-1)
    out = np.zeros(flat.size // 4 + 32, dtype=np.uint8)
    for i, w in enumerate(flat):
        block, j = divmod(i, 128)
        out[block * 32 + j % 32] |= (int(w) + 1) << (6 - 2 * (j // 32))
    out[flat.size // 4:flat.size // 4 + 4] = np.frombuffer(np.float32(scale).tobytes(), dtype=np.uint8)
    return out


def spec_i2_s_unpack(raw: np.ndarray, numel: int) -> tuple[np.ndarray, np.float32]:
    codes = np.empty(numel, dtype=np.int8)
    for i in range(numel):
        block, j = divmod(i, 128)
        codes[i] = ((int(raw[block * 32 + j % 32]) >> (6 - 2 * (j // 32))) & 3) - 1
    return codes, raw[numel // 4:numel // 4 + 4].copy().view("<f4")[0]


class RawTensorInfoReader(gguf.GGUFReader):
    """gguf-py's own parser of the header, metadata and tensor infos, keeping each tensor's type as the number
    in the file (its table stops before I2_S)."""

    def _build_tensors(self, start_offs, fields):
        self.raw_tensors = []
        for field in fields:
            _, name, _, dims, raw_type, offset = field.parts
            self.raw_tensors.append((bytes(name).decode(), tuple(int(d) for d in dims), int(raw_type[0]),
                                     int(start_offs + offset[0])))
        self.tensors = []


def _gguf_py_nbytes(type_id: int, dims: tuple[int, ...]) -> int:
    numel = int(np.prod(dims))
    if type_id == I2_S_TYPE:
        return numel // 4 + 32  # bitnet.cpp: n / 4 code bytes + the 32-byte tail
    block, size = gguf.GGML_QUANT_SIZES[QT(type_id)]
    return numel * size // block


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_fixture_container_agrees_with_gguf_py(name):
    """Tensor names, ggml types, dims, data offsets, sizes, alignment and every metadata value: edgekit's parser
    against gguf-py's, on every GGUF fixture (TQ1_0, TQ2_0, F16, F32 and I2_S)."""
    path = GGUF_DIR / name
    reader = RawTensorInfoReader(str(path))
    ours = GGUFFile(path)
    alignment = int(reader.fields["general.alignment"].contents()) if "general.alignment" in reader.fields else 32
    assert [t[0] for t in reader.raw_tensors] == list(ours.tensors)
    spans = []
    for tname, dims, type_id, offset in reader.raw_tensors:
        mine = ours.tensors[tname]
        assert (mine.ggml_type, mine.dims, mine.begin) == (type_id, dims, offset), tname
        assert mine.nbytes == _gguf_py_nbytes(type_id, dims), tname
        assert offset % alignment == 0 and (offset - reader.data_offset) % alignment == 0, tname
        spans.append((offset, offset + mine.nbytes))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])) and spans[-1][1] <= path.stat().st_size
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue  # the header's own fields (version, counts), not metadata
        want = field.contents()
        got = ours.metadata[key]
        got = got.tolist() if isinstance(got, np.ndarray) else got
        if isinstance(want, float):
            assert np.float32(got) == np.float32(want), key
        else:
            assert got == want, key
    assert set(ours.metadata) == {k for k in reader.fields if not k.startswith("GGUF.")}


@pytest.mark.parametrize("shape", [(2, 128), (3, 256), (4, 96), (5, 384), (1, 640)])
def test_i2_s_codecs_equal_the_bitnet_cpp_layout_spec(shape):
    """(4, 96): 384 weights, so blocks cross row boundaries as in bitnet.cpp (the tensor is one flat run)."""
    codes = np.random.default_rng(sum(shape)).integers(-1, 2, size=shape).astype(np.int8)
    scale = np.float32(0.0421875)
    ours = i2_s_encode(codes, float(scale))
    spec = spec_i2_s_pack(codes, scale)
    n = codes.size
    np.testing.assert_array_equal(ours[:n // 4 + 4], spec[:n // 4 + 4])  # codes and the scale, byte for byte
    back, got_scale = i2_s_decode(spec, n)  # edgekit reads the spec's bytes (zero-filled tail) ...
    np.testing.assert_array_equal(back, codes.reshape(-1))
    assert np.float32(got_scale) == scale
    spec_codes, spec_scale = spec_i2_s_unpack(ours, n)  # ... and the spec reads edgekit's
    np.testing.assert_array_equal(spec_codes, codes.reshape(-1))
    assert spec_scale == scale


def test_i2_s_fixture_holds_the_weights_gguf_py_reads_from_the_tq2_0_copy():
    """Two files of one checkpoint, read by two outside references: the I2_S copy through the bitnet.cpp spec, the
    TQ2_0 copy through gguf-py's own dequantizer. Same ternary codes, same scale (TQ2_0 keeps it as fp16)."""
    i2s = RawTensorInfoReader(str(GGUF_DIR / "bitlinear-tied-gqa2-h256.i2_s.gguf"))
    tq2 = {t.name: t for t in gguf.GGUFReader(str(GGUF_DIR / "bitlinear-tied-gqa2-h256.tq2_0.gguf")).tensors}
    data = np.memmap(GGUF_DIR / "bitlinear-tied-gqa2-h256.i2_s.gguf", dtype=np.uint8, mode="r")
    checked = 0
    for tname, dims, type_id, offset in i2s.raw_tensors:
        if type_id != I2_S_TYPE:
            continue
        numel = int(np.prod(dims))
        codes, scale = spec_i2_s_unpack(np.asarray(data[offset:offset + numel // 4 + 32]), numel)
        w = dequantize(tq2[tname].data, tq2[tname].tensor_type).reshape(-1)
        np.testing.assert_array_equal(codes, np.sign(w).astype(np.int8), err_msg=tname)
        assert np.float16(scale) == np.float16(np.abs(w).max()), tname
        checked += 1
    assert checked == 2 * 7  # every projection of both layers
