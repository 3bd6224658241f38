"""`edgekit export --gguf`: a llama.cpp "bitnet" GGUF that edgekit's own loader reads back to the same model."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from click.testing import CliRunner
from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES

import edgekit
from edgekit.cli import cli
from edgekit.errors import EdgekitError
from helpers import bitnet_cpp_bin
from edgekit.model import FloatTensor, Model
from edgekit.models import DEFAULT_MODEL
from edgekit.pack.gguf_export import block_scale_and_multiplier, export_gguf
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import random_model, tiny_config  # noqa: E402


@pytest.fixture(scope="module")
def bundled():
    return edgekit.load(DEFAULT_MODEL)


def _with_embedding(model: Model, arr: np.ndarray) -> Model:
    """The same model with another (tied) embedding table."""
    tensors = dict(model.tensors)
    e = model.embedding
    tensors["tok_embeddings"] = FloatTensor(e.name, e.role, e.layer, e.shape, "f32", arr.nbytes, lambda: arr)
    return dataclasses.replace(model, tensors=tensors, _engine=None)


@pytest.mark.parametrize("ternary", ["tq2_0", "tq1_0"])
def test_f16_export_reads_back_bit_exact(bundled, tmp_path, ternary):
    out = export_gguf(bundled, tmp_path / "m.gguf", ternary_type=ternary, output_type="f16")
    back = edgekit.load(out)
    assert back.source_kind == "gguf" and back.config == bundled.config
    assert list(back.tensors) == list(bundled.tensors)
    for t in bundled:
        u = back.tensors[t.name]
        assert u.source_format == (ternary if t.kind == "ternary" else "f16" if t.role == "tok_embeddings" else "f32")
        if t.kind == "ternary":
            np.testing.assert_array_equal(u.codes(), t.codes(), err_msg=t.name)
            assert u.weight_scale == t.weight_scale, t.name  # the F32 multiplier gives s_w back bit for bit
        elif t.role == "tok_embeddings":
            np.testing.assert_array_equal(u.array(), t.array().astype(np.float16).astype(np.float32))
        else:
            np.testing.assert_array_equal(u.array(), t.array(), err_msg=t.name)
    text = "And God said, Let there be light: and there was light."
    assert back.encode(text) == bundled.encode(text)
    assert back.decode(back.encode(text)) == bundled.decode(bundled.encode(text))
    assert back.chat_template == bundled.chat_template
    # the reference engine on the exported file == on the original with its embedding rounded to f16
    rounded = _with_embedding(bundled, bundled.embedding.array().astype(np.float16).astype(np.float32))
    prompt = bundled.encode("And God said,")
    np.testing.assert_array_equal(back.logits(prompt), rounded.logits(prompt))
    assert list(generate_tokens(back, prompt, 12, Sampler(0.0), stop_at_eos=False)) == \
        list(generate_tokens(rounded, prompt, 12, Sampler(0.0), stop_at_eos=False))


def test_q8_0_embedding_within_its_bound(bundled, tmp_path):
    out = export_gguf(bundled, tmp_path / "m.gguf", output_type="q8_0")
    back = edgekit.load(out)
    assert back.embedding.source_format == "q8_0"
    want = bundled.embedding.array().reshape(-1, 32)
    got = back.embedding.array().reshape(-1, 32)
    # Q8_0: 32 values share d = max|x| / 127, stored fp16 (relative error <= 2^-11): a value is off by at most
    # half a step plus |q| <= 127 times d's rounding
    d = np.abs(want).max(axis=1, keepdims=True) / 127
    assert (np.abs(got - want) <= d * (0.5 + 127 * 2.0**-11) + 1e-7).all()
    assert np.abs(got - want).max() > 0  # really quantised, not stored as floats


def test_file_is_what_llama_cpp_bitnet_expects(bundled, tmp_path):
    """Read with the gguf package's own reader: llama.cpp's BitNet tensor names, types and metadata keys."""
    out = export_gguf(bundled, tmp_path / "m.gguf", ternary_type="tq2_0", output_type="f16")
    r = gguf.GGUFReader(str(out))
    assert bytes(r.fields["general.architecture"].parts[-1]).decode() == "bitnet"
    allowed = {TENSOR_NAMES[k] for k in MODEL_TENSORS[MODEL_ARCH.BITNET]}
    c = bundled.config
    for t in r.tensors:
        base, kind = t.name.rsplit(".", 1)
        generic = base.replace(f".{base.split('.')[1]}", ".{bid}", 1) if base.startswith("blk.") else base
        assert generic in allowed and kind in ("weight", "scale"), t.name
        if kind == "scale":
            assert t.tensor_type == gguf.GGMLQuantizationType.F32 and t.n_elements == 1
        elif base.split(".")[-1] in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
            assert t.tensor_type == gguf.GGMLQuantizationType.TQ2_0
    assert "output.weight" not in {t.name for t in r.tensors}  # llama.cpp's graph uses token_embd as the head
    for key, value in (("bitnet.block_count", c.num_layers), ("bitnet.embedding_length", c.hidden_size),
                       ("bitnet.attention.head_count_kv", c.num_kv_heads), ("bitnet.feed_forward_length",
                                                                            c.intermediate_size)):
        assert int(r.fields[key].parts[-1][0]) == value, key
    assert bytes(r.fields["tokenizer.ggml.model"].parts[-1]).decode() == "gpt2"


def test_scale_pair_gives_s_w_back_exactly():
    """The loader's float32(1/d) / m equals s_w for every s_w tried, and d * m is 1/s_w for llama.cpp."""
    rng = np.random.default_rng(0)
    for s_w in np.concatenate([rng.uniform(1, 100, 3000), rng.uniform(1e-3, 1e5, 3000)]).astype(np.float32):
        d, m = block_scale_and_multiplier(float(s_w))
        assert d.dtype == np.float16 and m.dtype == np.float32
        assert (np.float32(1) / np.float32(d)) / m == s_w
        assert abs(float(d) * float(m) * float(s_w) - 1) < 1e-6


def test_refusals_are_one_line_errors_and_leave_no_file(tmp_path):
    runner = CliRunner()
    out = tmp_path / "m.gguf"
    untied = random_model(tiny_config(tie_word_embeddings=False, hidden_size=256, head_dim=64, intermediate_size=256))
    with pytest.raises(EdgekitError, match="lm_head"):
        export_gguf(untied, out)
    small = random_model(tiny_config())  # rows of 64 weights: not whole 256-weight blocks
    with pytest.raises(EdgekitError, match="multiple of"):
        export_gguf(small, out)
    res = runner.invoke(cli, ["export", DEFAULT_MODEL, "--gguf", str(tmp_path / "nope" / "m.gguf")])
    assert res.exit_code == 2 and res.output.startswith("edgekit: error:") and "Traceback" not in res.output
    res = runner.invoke(cli, ["export", DEFAULT_MODEL, "--gguf", str(out), "--type", "i2"])
    assert res.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_no_file(bundled, tmp_path):
    """A tensor that fails while the file is being written: no half-written GGUF, no temp file."""
    tensors = dict(bundled.tensors)
    victim = tensors["L3.down"]

    def broken():
        raise EdgekitError("simulated read error")

    tensors["L3.down"] = dataclasses.replace(victim, _produce=broken)
    model = dataclasses.replace(bundled, tensors=tensors, _engine=None)
    (tmp_path / "m.gguf").write_bytes(b"old")
    with pytest.raises(EdgekitError, match="simulated"):
        export_gguf(model, tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.gguf"]


@pytest.mark.parametrize("ternary", ["tq1_0", "i2_s"])
def test_cli_export(tmp_path, ternary):
    out = tmp_path / f"kjv.{ternary}.gguf"
    res = CliRunner().invoke(cli, ["export", DEFAULT_MODEL, "--gguf", str(out), "--type", ternary,
                                   "--output-type", "q8_0"])
    assert res.exit_code == 0, res.output
    back = edgekit.load(out)
    assert {t.source_format for t in back if t.kind == "ternary"} == {ternary}
    assert back.embedding.source_format == "q8_0"


def _llama_logits(path: Path, ids: list[int]) -> np.ndarray:
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python (the peers extra) is not installed")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, n_batch=64, n_threads=1, logits_all=True, verbose=False)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def test_llama_cpp_runs_the_export_like_edgekit_without_the_ffn(bundled, tmp_path):
    """llama.cpp itself loads the file and, with the FFN switched off, computes edgekit's logits.

    llama.cpp's "bitnet" graph gates the FFN with SiLU (BitNet b1.58: squared ReLU) and quantises activations per
    256-value block (BitNet: per token), so full models differ; with every down projection zero the FFN adds
    nothing and what is left (embedding, norms, attention with RoPE, every weight's scale, the tied head) must
    agree. A wrong name, layout, scale or RoPE convention would leave the logits unrelated."""
    no_ffn = _without_ffn(bundled)
    out = export_gguf(no_ffn, tmp_path / "no-ffn.gguf")
    ids = bundled.encode("And God said, Let there be light: and there was light. And God saw the light")
    ours = edgekit.load(out).logits(ids)
    theirs = _llama_logits(out, ids)
    cos = (ours * theirs).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    # measured with llama-cpp-python 0.3.36: cosine 0.99998, max |Δlogit| 0.036, the same top-1 everywhere
    assert cos.min() > 0.999, cos
    assert np.abs(ours - theirs).max() < 0.5
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).mean() >= 0.9


# --- I2_S: bitnet.cpp's format ---------------------------------------------------------------------------



def test_tensor_multiplier_gives_s_w_back_or_its_neighbour():
    """I2_S keeps one float32 m per tensor and the loader computes float32(1) / m: s_w itself where some m gives
    it, else the float32 next to it (float32 division is not onto), never further."""
    from edgekit.pack.gguf_export import tensor_multiplier

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(1, 100, 3000), rng.uniform(1e-3, 1e5, 3000)]).astype(np.float32)
    exact = 0
    for s_w in values:
        m = tensor_multiplier(float(s_w))
        back = np.float32(1) / m
        assert m.dtype == np.float32 and abs(back - s_w) <= np.spacing(s_w), s_w
        exact += bool(back == s_w)
    assert exact >= 0.85 * len(values)  # measured: 88% have an exact m


def test_i2_s_export_is_what_bitnet_cpp_loads_and_reads_back(bundled, tmp_path):
    """I2_S: edgekit's loader gets the same codes back (scales within one ulp); the file has the "bitnet" names,
    type 36 with bitnet.cpp's size (n/4 code bytes + a 32-byte tail), file type 40, and no `.scale` tensors,
    which bitnet.cpp's x86 build does not create and so would refuse."""
    from edgekit.loaders.gguf_file import GGUFFile
    from edgekit.loaders.gguf_types import GGML_TYPE_I2_S
    from edgekit.pack.gguf_export import FILE_TYPE_I2_S

    out = export_gguf(bundled, tmp_path / "m.gguf", ternary_type="i2_s", output_type="f16")
    back = edgekit.load(out)
    assert back.config == bundled.config and list(back.tensors) == list(bundled.tensors)
    for t in bundled:
        u = back.tensors[t.name]
        if t.kind == "ternary":
            assert u.source_format == "i2_s"
            np.testing.assert_array_equal(u.codes(), t.codes(), err_msg=t.name)
            assert abs(u.weight_scale - t.weight_scale) <= np.spacing(np.float32(t.weight_scale)), t.name
        elif t.role != "tok_embeddings":
            np.testing.assert_array_equal(u.array(), t.array(), err_msg=t.name)
    gf = GGUFFile(out)
    ternary = {name: info for name, info in gf.tensors.items() if info.ggml_type == GGML_TYPE_I2_S}
    assert len(ternary) == sum(t.kind == "ternary" for t in bundled)
    assert all(info.nbytes == info.numel // 4 + 32 for info in ternary.values())
    assert not any(name.endswith(".scale") for name in gf.tensors)
    allowed = {TENSOR_NAMES[k] for k in MODEL_TENSORS[MODEL_ARCH.BITNET]}
    for name in gf.tensors:
        base = name.rsplit(".", 1)[0]
        assert (base.replace(f".{base.split('.')[1]}", ".{bid}", 1) if base.startswith("blk.") else base) in allowed
    assert gf.metadata["general.architecture"] == "bitnet"
    assert gf.metadata["general.file_type"] == FILE_TYPE_I2_S


def test_i2_s_refuses_rows_that_are_not_whole_blocks(tmp_path):
    small = random_model(tiny_config())  # rows of 64 weights: I2_S packs 128-weight blocks
    with pytest.raises(EdgekitError, match="I2_S.s 128-weight blocks"):
        export_gguf(small, tmp_path / "m.gguf", ternary_type="i2_s")
    assert list(tmp_path.iterdir()) == []


def _without_ffn(model: Model) -> Model:
    """The model with every down projection zero: the FFN adds nothing, whatever its activation."""
    from edgekit.model import TernaryTensor

    tensors = dict(model.tensors)
    for name, t in model.tensors.items():
        if t.role == "down":
            zeros = np.zeros(t.shape, dtype=np.int8)
            tensors[name] = TernaryTensor(t.name, t.role, t.layer, t.shape, "int8", zeros.size, lambda z=zeros: z,
                                          weight_scale=t.weight_scale)
    return dataclasses.replace(model, tensors=tensors, _engine=None)


def test_bitnet_cpp_generates_edgekit_s_tokens_from_the_i2_s_export(bundled, tmp_path):
    """bitnet.cpp itself (its llama-cli) loads the I2_S export and, with the FFN switched off (its "bitnet"
    graph gates with SiLU, BitNet b1.58 with squared ReLU), greedily picks what edgekit's reference engine ranks
    first. Its activations are quantised per token as BitNet's, so only float order differs: each of its tokens
    must be edgekit's top-1 or within a hair of it. A wrong layout, scale, name or RoPE convention would make
    unrelated tokens. Runs when EDGEKIT_BITNET_CPP names a bitnet.cpp build's bin folder (docs/benchmarks.md)."""
    import subprocess

    bin_dir = bitnet_cpp_bin()
    out = export_gguf(_without_ffn(bundled), tmp_path / "no-ffn.i2_s.gguf", ternary_type="i2_s")
    prompt = "And God said,"
    r = subprocess.run([str(Path(bin_dir) / "llama-cli"), "-m", str(out), "-p", prompt, "-n", "16", "--temp", "0",
                        "-t", "1", "--no-warmup", "-s", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith(prompt), r.stdout
    back = edgekit.load(out)
    prompt_ids, ids = back.encode(prompt), back.encode(r.stdout.rstrip("\n"))
    assert ids[: len(prompt_ids)] == prompt_ids and len(ids) - len(prompt_ids) >= 12, (r.stdout, ids)
    logits = back.logits(ids)
    gaps = [float(logits[i - 1].max() - logits[i - 1][ids[i]]) for i in range(len(prompt_ids), len(ids))]
    # measured with bitnet.cpp c82b5e6 (fork 406a5036): 15 of 16 tokens edgekit's top-1, one 0.002 behind it
    assert max(gaps) < 0.05, gaps
    assert sum(g == 0 for g in gaps) >= 0.75 * len(gaps), gaps


def test_export_says_squared_relu_and_a_file_naming_another_activation_is_refused(bundled, tmp_path):
    """llama.cpp's "bitnet" graph assumes SiLU unless <arch>.hidden_activation says otherwise: the export says
    relu2 (and loads back), and a GGUF that names another activation (a 1bitLLM-style SiLU model) is refused by
    name instead of being run with the wrong one."""
    out = export_gguf(bundled, tmp_path / "m.gguf")
    assert gguf.GGUFReader(str(out)).fields["bitnet.hidden_activation"].contents() == "relu2"
    assert edgekit.load(out).config == bundled.config
    other = tmp_path / "swish.gguf"
    data = out.read_bytes()
    assert data.count(b"relu2") == 1
    other.write_bytes(data.replace(b"relu2", b"swish"))
    r = CliRunner().invoke(cli, ["inspect", str(other)])
    assert r.exit_code == 2 and "bitnet.hidden_activation is 'swish'" in r.output and "Traceback" not in r.output
    assert "squared ReLU" in r.output and "swish.gguf" in r.output
