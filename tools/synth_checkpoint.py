"""Write a random-ternary Hugging Face BitNet checkpoint of a real model's shape, streaming to disk.

For benchmarks and planner tests that need the size and layout of a real model without downloading it:
packed bitlinear weights (uint8 [out/4, in], bf16 weight_scale = 1/mean|W|), bf16 embeddings and norms,
config.json as the real release has it, and a synthetic byte-level BPE tokenizer.json with the right
vocabulary size. Values are drawn so activations stay O(1) through every layer.

Never holds the model in memory: the safetensors header is computed from the shapes first, then each
tensor is generated in row chunks and appended. A 2B-4T checkpoint (~1.8 GB) needs < 100 MB of RAM.

    .venv/bin/python tools/synth_checkpoint.py --shape bitnet-b1.58-2B-4T -o DIR [--seed N]
    from tools.synth_checkpoint import synth_checkpoint; synth_checkpoint("tiny", out_dir)
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_ELEMENTS = 1 << 23  # values generated per step (8M: ~32 MB of float32 scratch)
SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>")


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool
    rope_theta: float
    max_position: int
    rms_norm_eps: float = 1e-5


SHAPES = {
    # microsoft/bitnet-b1.58-2B-4T config.json
    "bitnet-b1.58-2B-4T": Shape(hidden=2560, layers=30, heads=20, kv_heads=5, intermediate=6912, vocab=128256,
                                tied=True, rope_theta=500000.0, max_position=4096),
    # 1bitLLM/bitnet_b1_58-large sizes (its own code is llama-style; here it gets the BitNet b1.58 layers)
    "bitnet_b1_58-large": Shape(hidden=1536, layers=24, heads=16, kv_heads=16, intermediate=4096, vocab=32002,
                                tied=False, rope_theta=10000.0, max_position=2048),
    "tiny": Shape(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab=384, tied=False,
                  rope_theta=10000.0, max_position=256),
}

# Output std each projection aims for (see tools/make_fixtures.py): attention not uniform, residual O(1).
TARGET_STD = {"q_proj": 1.5, "k_proj": 1.5, "v_proj": 1.0, "o_proj": 0.3, "gate_proj": 1.2, "up_proj": 1.2,
              "down_proj": 0.3}
P_NONZERO = 0.6


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bit patterns with round-to-nearest-even (finite inputs)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


# Every byte whose four 2-bit fields are valid codes (0, 1, 2); a random byte is mapped onto them.
_VALID_PACKED = np.array([b for b in range(256) if all((b >> s) & 3 != 3 for s in (0, 2, 4, 6))], dtype=np.uint8)
_BYTE_TO_VALID = _VALID_PACKED[(np.arange(256) * len(_VALID_PACKED)) // 256]


@dataclass
class _Entry:
    name: str
    dtype: str  # safetensors dtype
    shape: tuple[int, ...]
    kind: str  # "embed", "norm", "packed", "scale"
    in_features: int = 0


def _entries(shape: Shape) -> list[_Entry]:
    h, hd = shape.hidden, shape.hidden // shape.heads
    kv = shape.kv_heads * hd
    proj = {"self_attn.q_proj": (h, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
            "self_attn.o_proj": (h, h), "mlp.gate_proj": (shape.intermediate, h),
            "mlp.up_proj": (shape.intermediate, h), "mlp.down_proj": (h, shape.intermediate)}
    out = [_Entry("model.embed_tokens.weight", "BF16", (shape.vocab, h), "embed")]
    for layer in range(shape.layers):
        base = f"model.layers.{layer}"
        out.append(_Entry(f"{base}.input_layernorm.weight", "BF16", (h,), "norm"))
        out.append(_Entry(f"{base}.post_attention_layernorm.weight", "BF16", (h,), "norm"))
        out.append(_Entry(f"{base}.self_attn.attn_sub_norm.weight", "BF16", (h,), "norm"))
        out.append(_Entry(f"{base}.mlp.ffn_sub_norm.weight", "BF16", (shape.intermediate,), "norm"))
        for name, (rows, cols) in proj.items():
            out.append(_Entry(f"{base}.{name}.weight", "U8", (rows // 4, cols), "packed", cols))
            out.append(_Entry(f"{base}.{name}.weight_scale", "BF16", (1,), "scale", cols))
    out.append(_Entry("model.norm.weight", "BF16", (h,), "norm"))
    if not shape.tied:
        out.append(_Entry("lm_head.weight", "BF16", (shape.vocab, h), "embed"))
    return out


def _chunks(entry: _Entry, rng: np.random.Generator, shape: Shape):
    """The tensor's bytes, a few MB at a time."""
    rows, cols = entry.shape[0], int(math.prod(entry.shape[1:]))
    step = max(1, CHUNK_ELEMENTS // max(cols, 1))
    if entry.kind == "scale":
        role = entry.name.split(".")[-2]
        mean_abs = TARGET_STD[role] / math.sqrt(entry.in_features * P_NONZERO) * math.exp(0.1 * rng.standard_normal())
        yield f32_to_bf16_bits(np.array([1.0 / mean_abs], dtype=np.float32)).tobytes()  # bitlinear: 1/mean|W|
        return
    for start in range(0, rows, step):
        n = min(step, rows - start)
        if entry.kind == "packed":
            yield _BYTE_TO_VALID[rng.integers(0, 256, size=(n, cols), dtype=np.uint8)].tobytes()
        elif entry.kind == "embed":
            std = 3.2 / math.sqrt(shape.hidden)  # tied-or-not logits with std ~3
            yield f32_to_bf16_bits(rng.standard_normal((n, cols), dtype=np.float32) * np.float32(std)).tobytes()
        else:  # norm
            yield f32_to_bf16_bits(1 + 0.1 * rng.standard_normal(n, dtype=np.float32)).tobytes()


def write_safetensors_streaming(path: Path, entries: list[_Entry], produce) -> None:
    """Header first (offsets from the shapes), then every tensor appended chunk by chunk."""
    sizes = {"BF16": 2, "U8": 1, "F32": 4}
    header, offset = {}, 0
    for e in entries:
        nbytes = math.prod(e.shape) * sizes[e.dtype]
        header[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data region starts 8-byte aligned, as safetensors writers do
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for e in entries:
            written = 0
            for chunk in produce(e):
                f.write(chunk)
                written += len(chunk)
            expected = header[e.name]["data_offsets"][1] - header[e.name]["data_offsets"][0]
            assert written == expected, f"{e.name}: wrote {written} bytes, header says {expected}"


def synthetic_tokenizer_json(vocab_size: int, seed: int) -> str:
    """A byte-level BPE tokenizer with exactly vocab_size tokens: the 256 byte symbols, merges of random
    pairs of short existing tokens, and the special tokens at the end (like Llama 3's)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    rng = np.random.default_rng(seed)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    n_merged = vocab_size - len(alphabet) - len(SPECIAL_TOKENS)
    if n_merged < 0:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the byte alphabet plus special tokens")
    tokens = list(alphabet)
    known = set(tokens)
    merges = []
    while len(merges) < n_merged:
        # prefer recent, short tokens so strings grow slowly, like real merge tables
        pool = min(len(tokens), 4096)
        if rng.random() < 0.5:
            a = tokens[len(tokens) - 1 - int(rng.integers(0, pool))]
        else:
            a = tokens[int(rng.integers(0, 256))]
        b = tokens[int(rng.integers(0, 256))]
        if a + b in known or len(a + b) > 16:
            continue
        merges.append((a, b))
        tokens.append(a + b)
        known.add(a + b)
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    assert tok.get_vocab_size(with_added_tokens=True) == vocab_size
    return tok.to_str()


def hf_config(shape: Shape) -> dict:
    bos, eos = shape.vocab - 3, shape.vocab - 2  # the special tokens sit at the end of the vocabulary
    return {
        "architectures": ["BitNetForCausalLM"], "model_type": "bitnet", "vocab_size": shape.vocab,
        "hidden_size": shape.hidden, "intermediate_size": shape.intermediate, "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads, "num_key_value_heads": shape.kv_heads, "hidden_act": "relu2",
        "max_position_embeddings": shape.max_position, "rms_norm_eps": shape.rms_norm_eps,
        "rope_theta": shape.rope_theta, "tie_word_embeddings": shape.tied, "bos_token_id": bos,
        "eos_token_id": eos, "attention_bias": False, "torch_dtype": "bfloat16",
        "quantization_config": {"quant_method": "bitnet", "linear_class": "bitlinear",
                                "quantization_mode": "offline"},
    }


def synth_checkpoint(shape_name: str, out_dir, seed: int = 0, overwrite: bool = False) -> Path:
    """Write the checkpoint directory; returns its path. Built in a temporary sibling, renamed at the end."""
    if shape_name not in SHAPES:
        raise ValueError(f"unknown shape {shape_name!r}; known: {', '.join(SHAPES)}")
    shape = SHAPES[shape_name]
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True / --force)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        rng = np.random.default_rng(seed)
        write_safetensors_streaming(tmp / "model.safetensors", _entries(shape), lambda e: _chunks(e, rng, shape))
        (tmp / "config.json").write_text(json.dumps(hf_config(shape), indent=2) + "\n")
        (tmp / "tokenizer.json").write_text(synthetic_tokenizer_json(shape.vocab, seed), encoding="utf-8")
        (tmp / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": shape.vocab - 3, "eos_token_id": shape.vocab - 2}, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", required=True, choices=sorted(SHAPES))
    parser.add_argument("-o", "--out", required=True, type=Path, help="output checkpoint directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing output directory")
    args = parser.parse_args(argv)
    try:
        path = synth_checkpoint(args.shape, args.out, seed=args.seed, overwrite=args.force)
    except (FileExistsError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in path.iterdir())
    print(f"wrote {path} ({args.shape}, {size / 1e9:.2f} GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
