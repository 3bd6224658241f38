"""Model -> a GGUF file that llama.cpp (TQ2_0, TQ1_0) or bitnet.cpp (I2_S) runs with the "bitnet" architecture.

What the "bitnet" graph of llama.cpp and bitnet.cpp expects, and so what is written:
- tensor names from the gguf package's table (token_embd, blk.N.attn_q, ..., output_norm), the same names
  edgekit's GGUF loader reads; no `output.weight`: the graph always multiplies by token_embd for the logits,
  so only models with a tied embedding can be exported faithfully (an untied one is refused);
- q and o square (heads x head_dim == hidden), as its tensor shapes are fixed to {n_embd, n_embd};
- ternary weights as TQ2_0/TQ1_0 blocks with one fp16 d, times a per-tensor F32 multiplier in the optional
  one-element tensor `blk.N.attn_q.scale` that the graph applies after the matmul. d alone (fp16) would round
  the scale; the pair is chosen so that edgekit's loader gets the model's s_w back bit for bit;
- or as bitnet.cpp's I2_S (ggml type 36, layout in edgekit/loaders/gguf_blocks.py): 2-bit codes with the
  tensor's multiplier 1/s_w in the tail, and no `.scale` tensors: bitnet.cpp's x86 builds (BITNET_X86_TL2)
  do not create them, and llama.cpp refuses a file with tensors it did not create. One float32 cannot always
  give s_w back bit for bit (float32 division is not onto): the loader then reads it within one ulp;
- norms in F32, the (tied) embedding in F16 or Q8_0;
- the tokenizer as llama.cpp's "gpt2" byte-level BPE (tokens, types, merges, pre-tokenizer name).

The file is streamed tensor by tensor into a temp file beside OUT and renamed into place when complete.

Known difference: the "bitnet" graph of llama.cpp and of bitnet.cpp's llama.cpp fork (the one that runs I2_S
on x86 with this architecture) gates the FFN with SiLU, where BitNet b1.58 (and edgekit) use squared ReLU, so
their logits for an exported model are not edgekit's; their speed is what the peer benchmark compares
(docs/benchmarks.md). With the FFN switched off both compute edgekit's logits (tests/test_gguf_export.py).
The file says `bitnet.hidden_activation = "relu2"`, the key llama.cpp's proposed BitNet fix reads.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.atomic_file import temp_beside
from edgekit.errors import EdgekitError
from edgekit.loaders.gguf import HIDDEN_ACTIVATION, HIDDEN_ACTIVATION_KEY, gguf_name
from edgekit.loaders.gguf_types import GGML_TYPE_I2_S, GGML_TYPES, GGMLType
from edgekit.model import Model

ARCH = "bitnet"
TERNARY_TYPES = ("tq2_0", "tq1_0", "i2_s")
FILE_TYPE_I2_S = 40  # bitnet.cpp's LLAMA_FTYPE_MOSTLY_I2_S (general.file_type); the gguf package has no I2_S
OUTPUT_TYPES = ("f16", "q8_0")
TOKEN_TYPE_NORMAL, TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED, TOKEN_TYPE_UNUSED = 1, 3, 4, 5
EMBEDDING_ROWS_PER_CHUNK = 4096


@dataclass(frozen=True)
class _Planned:
    """One tensor of the output: its GGUF name, type, numpy shape and a function giving its bytes."""
    name: str
    ggml: GGMLType
    shape: tuple[int, ...]
    produce: object  # () -> iterator of uint8/float arrays, concatenated in order

    @property
    def nbytes(self) -> int:
        return self.ggml.nbytes(self.shape)


# fp16 block scales tried in turn: float32 division is not onto, so for some s_w no multiplier m gives
# 1/m == s_w, but with one of these d (1/d not a power of two) some m gives (1/d)/m == s_w
BLOCK_SCALES = tuple(np.float16(x) for x in (1.0, 0.75, 0.625, 0.875, 0.5625, 0.6875, 0.8125, 0.9375))


def _float32_neighbours(x: np.float32, n: int = 4) -> list[np.float32]:
    """x and the n float32 values on each side of it."""
    out, lo, hi = [x], x, x
    for _ in range(n):
        lo, hi = np.nextafter(lo, np.float32(0)), np.nextafter(hi, np.float32(np.inf))
        out += [lo, hi]
    return out


def block_scale_and_multiplier(s_w: float) -> tuple[np.float16, np.float32]:
    """(d, m) with d * m ~ 1/s_w, where d is every block's fp16 scale and m the F32 `.scale` multiplier, chosen
    so that edgekit's loader, which computes float32(float32(1) / d) / m, gets s_w back exactly. llama.cpp
    computes with d * m, which is 1/s_w to float32 precision whichever pair is used."""
    one, target = np.float32(1), np.float32(s_w)
    for d in BLOCK_SCALES:
        per_block = one / np.float32(d)
        for m in _float32_neighbours(per_block / target):
            if per_block / m == target:
                return d, m
    return BLOCK_SCALES[0], one / target  # not met in practice (tests/test_gguf_export.py); within an ulp


def tensor_multiplier(s_w: float) -> np.float32:
    """I2_S's one float32 multiplier m ~ 1/s_w, such that the loader's float32(1) / m is s_w where some m gives
    that (about 88% of values), else the nearest."""
    one, target = np.float32(1), np.float32(s_w)
    return min(_float32_neighbours(one / target), key=lambda m: abs(float(one / m) - float(target)))


def _check_exportable(model: Model, ternary: GGMLType) -> None:
    c = model.config
    where = model.source
    if not c.tie_word_embeddings:
        raise EdgekitError("llama.cpp's BitNet graph computes the logits with token_embd; this model has its own "
                           "lm_head, which it would ignore", path=where,
                           fix="export a model with tied embeddings (as bitnet-b1.58-2B-4T), or run it with edgekit")
    if c.q_dim != c.hidden_size:
        raise EdgekitError(f"heads x head_dim = {c.q_dim} differs from hidden_size {c.hidden_size}; llama.cpp's "
                           "BitNet graph needs them equal", path=where)
    for t in model:
        if t.kind == "ternary" and t.shape[1] % ternary.block:
            raise EdgekitError(f"tensor {t.name} has rows of {t.shape[1]} weights, not a multiple of "
                               f"{ternary.name}'s {ternary.block}-weight blocks", path=where,
                               fix=f"{ternary.name} needs hidden_size and intermediate_size multiples of "
                                   f"{ternary.block}")
    if model.tokenizer_json is None:
        raise EdgekitError("the model has no tokenizer; llama.cpp needs one in the GGUF", path=where,
                           fix="put the model's tokenizer.json beside the checkpoint")


def _tokenizer_metadata(model: Model) -> dict[str, object]:
    """llama.cpp's "gpt2" tokenizer keys from the model's tokenizer.json (byte-level BPE only)."""
    from edgekit.loaders.gguf_tokenizer import LLAMA3_SPLIT

    tj = json.loads(model.tokenizer_json)
    where = model.source
    bpe = tj.get("model") or {}
    if bpe.get("type") != "BPE" or not isinstance(bpe.get("vocab"), dict):
        raise EdgekitError(f"tokenizer model {bpe.get('type')!r} cannot be written to GGUF (edgekit writes "
                           "byte-level BPE)", path=where)
    pre = tj.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space"):
        pre_name = "gpt-2"
    elif (pre.get("type") == "Sequence" and len(pre.get("pretokenizers", [])) == 2
          and pre["pretokenizers"][0].get("type") == "Split"
          and pre["pretokenizers"][0].get("pattern", {}).get("Regex") == LLAMA3_SPLIT
          and pre["pretokenizers"][1].get("type") == "ByteLevel"):
        pre_name = "llama-bpe"
    else:
        raise EdgekitError(f"tokenizer pre-tokenizer {json.dumps(pre)[:120]} has no llama.cpp name", path=where,
                           fix="edgekit exports the GPT-2 and Llama 3 byte-level BPE tokenizers")
    n = model.config.vocab_size
    tokens: list[str | None] = [None] * n
    types = [TOKEN_TYPE_NORMAL] * n
    for text, i in bpe["vocab"].items():
        if 0 <= i < n:
            tokens[i] = text
    for added in tj.get("added_tokens", []):
        i = added["id"]
        if 0 <= i < n:
            tokens[i] = added["content"]
            types[i] = TOKEN_TYPE_CONTROL if added.get("special") else TOKEN_TYPE_USER_DEFINED
    for i, text in enumerate(tokens):
        if text is None:  # embedding rows the tokenizer never produces: named, typed unused
            tokens[i], types[i] = f"[PAD{i}]", TOKEN_TYPE_UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in bpe.get("merges", [])]
    post = tj.get("post_processor") or {}
    single = post.get("single") or []
    bos = model.config.bos_token_id
    add_bos = (post.get("type") == "TemplateProcessing" and bool(single) and "SpecialToken" in single[0]
               and bos is not None and single[0]["SpecialToken"]["id"] == tokens[bos])
    md: dict[str, object] = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre_name,
                             "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
                             "tokenizer.ggml.merges": merges, "tokenizer.ggml.add_bos_token": add_bos}
    if bos is not None:
        md["tokenizer.ggml.bos_token_id"] = bos
    if model.config.eos_token_id is not None:
        md["tokenizer.ggml.eos_token_id"] = model.config.eos_token_id
    if model.chat_template:
        md["tokenizer.chat_template"] = model.chat_template
    return md


def _plan(model: Model, ternary: GGMLType, output: GGMLType) -> list[_Planned]:
    f32 = GGML_TYPES["F32"]
    planned = []
    for t in model:
        gname = gguf_name(t.role, t.layer)
        if t.kind == "ternary" and ternary.scale_per_tensor:
            def weight(t=t):
                yield ternary.encode(t.codes(), tensor_multiplier(t.weight_scale))

            planned.append(_Planned(gname, ternary, t.shape, weight))
        elif t.kind == "ternary":
            def weight(t=t):
                codes = t.codes()
                yield ternary.encode(codes, block_scale_and_multiplier(t.weight_scale)[0])

            def scale(t=t):
                yield np.array([block_scale_and_multiplier(t.weight_scale)[1]], dtype="<f4")

            planned.append(_Planned(gname, ternary, t.shape, weight))
            planned.append(_Planned(gname[: -len("weight")] + "scale", f32, (1,), scale))
        elif t.role == "tok_embeddings":
            def embedding(t=t):
                for rows in t.row_chunks(EMBEDDING_ROWS_PER_CHUNK):
                    yield output.encode(rows)

            planned.append(_Planned(gname, output, t.shape, embedding))
        else:
            planned.append(_Planned(gname, f32, t.shape, lambda t=t: iter([t.array().astype("<f4")])))
    return planned


def export_gguf(model: Model, out: Path, *, ternary_type: str = "tq2_0", output_type: str = "f16",
                log=lambda msg: None) -> Path:
    """Write `model` as a "bitnet" GGUF at `out` (atomically): llama.cpp's with tq2_0/tq1_0, bitnet.cpp's with
    i2_s. Returns out."""
    import gguf

    if ternary_type not in TERNARY_TYPES or output_type not in OUTPUT_TYPES:
        raise EdgekitError(f"cannot export {ternary_type}/{output_type}",
                           fix=f"--type {'|'.join(TERNARY_TYPES)}, --output-type {'|'.join(OUTPUT_TYPES)}")
    ternary, output = GGML_TYPES[ternary_type.upper()], GGML_TYPES[output_type.upper()]
    _check_exportable(model, ternary)
    out = Path(out)
    if out.is_dir():
        raise EdgekitError(f"{out} is a directory", fix="give the GGUF file's path, e.g. model.gguf")
    c = model.config
    planned = _plan(model, ternary, output)
    fd, tmp = temp_beside(out)
    os.close(fd)
    try:
        w = gguf.GGUFWriter(str(tmp), ARCH)
        w.add_name(Path(str(model.source)).name)
        w.add_file_type(FILE_TYPE_I2_S if ternary.type_id == GGML_TYPE_I2_S else
                        gguf.LlamaFileType[f"MOSTLY_{ternary.name}"])
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        w.add_vocab_size(c.vocab_size)
        w.add_context_length(c.max_seq_len)
        w.add_embedding_length(c.hidden_size)
        w.add_block_count(c.num_layers)
        w.add_feed_forward_length(c.intermediate_size)
        w.add_head_count(c.num_heads)
        w.add_head_count_kv(c.num_kv_heads)
        w.add_rope_dimension_count(c.head_dim)
        w.add_rope_freq_base(c.rope_theta)
        w.add_layer_norm_rms_eps(c.rms_norm_eps)
        # squared ReLU, said so: llama.cpp's graph reads this key once its BitNet fix lands (SiLU without it)
        w.add_string(HIDDEN_ACTIVATION_KEY.format(arch=ARCH), HIDDEN_ACTIVATION)
        for key, value in _tokenizer_metadata(model).items():
            if isinstance(value, bool):
                w.add_bool(key, value)
            elif isinstance(value, int):
                w.add_uint32(key, value)
            elif isinstance(value, str):
                w.add_string(key, value)
            else:
                w.add_array(key, value)
        for p in planned:
            # the weights' shape and the type id as given: the gguf package has no table entry for I2_S (36),
            # and with a non-uint8 dtype the writer takes both as they are
            w.add_tensor_info(p.name, p.shape, np.dtype(np.float32), p.nbytes, raw_dtype=p.ggml.type_id)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        for p in planned:
            log(f"writing {p.name} ({p.ggml.name})")
            data = np.concatenate([np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in p.produce()])
            if data.nbytes != p.nbytes:
                raise AssertionError(f"{p.name}: {data.nbytes} bytes produced, {p.nbytes} planned")
            w.write_tensor_data(data)
        w.close()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
