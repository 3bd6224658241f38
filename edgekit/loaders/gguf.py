"""GGUF BitNet checkpoints (llama.cpp "bitnet", bitnet.cpp "bitnet-b1.58" / "bitnet-25").

Ternary weights arrive as TQ1_0, TQ2_0 (llama.cpp), I2_S (bitnet.cpp, ggml type 36) or float
(F32/F16/BF16). Each is converted to the IR's codes + one s_w per tensor; a block format whose per-block
scales disagree is not a BitNet weight and is refused rather than approximated.

RoPE: the llama.cpp and bitnet.cpp converters for these architectures do not permute Q/K rows (unlike the
llama converter) and their graphs use NEOX-style rotation, which is the split-halves form of the HF
model, so the rows are used as stored.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf.constants import MODEL_TENSOR, TENSOR_NAMES

from edgekit.errors import EdgekitError
from edgekit.loaders.gguf_blocks import BlockFormatError
from edgekit.loaders.gguf_file import GGUFFile, GGUFTensorInfo
from edgekit.loaders.gguf_types import GGML_TYPE_BY_ID, GGMLType
from edgekit.loaders.ternary import DeferredScaleTernaryTensor, absmean_ternarise
from edgekit.model import (FloatTensor, Model, ModelConfig, TernaryTensor, check_layout, check_tensor_count,
                           tensor_layout)

SUPPORTED_ARCHITECTURES = ("bitnet", "bitnet-b1.58", "bitnet-25")
# The FFN gate's activation: "<arch>.hidden_activation" (the key llama.cpp's pending BitNet fix reads; "silu" is
# what its graph has always assumed, and 1bitLLM's reproductions use). BitNet b1.58 (2B-4T) uses squared ReLU,
# the only activation edgekit runs: a file without the key is taken as BitNet b1.58, one naming another is
# refused. edgekit's export writes the key.
HIDDEN_ACTIVATION_KEY = "{arch}.hidden_activation"
HIDDEN_ACTIVATION = "relu2"
DEFAULT_ROPE_THETA = 10000.0  # llama.cpp's value when rope.freq_base is absent

# edgekit role -> gguf tensor kind; names come from the gguf package's table ("blk.{bid}.attn_q", ...).
GGUF_ROLE_TENSORS = {
    "tok_embeddings": MODEL_TENSOR.TOKEN_EMBD, "norm": MODEL_TENSOR.OUTPUT_NORM, "lm_head": MODEL_TENSOR.OUTPUT,
    "attn_norm": MODEL_TENSOR.ATTN_NORM, "q": MODEL_TENSOR.ATTN_Q, "k": MODEL_TENSOR.ATTN_K,
    "v": MODEL_TENSOR.ATTN_V, "attn_sub_norm": MODEL_TENSOR.ATTN_SUB_NORM, "o": MODEL_TENSOR.ATTN_OUT,
    "ffn_norm": MODEL_TENSOR.FFN_NORM, "gate": MODEL_TENSOR.FFN_GATE, "up": MODEL_TENSOR.FFN_UP,
    "ffn_sub_norm": MODEL_TENSOR.FFN_SUB_NORM, "down": MODEL_TENSOR.FFN_DOWN,
}


def gguf_name(role: str, layer: int) -> str:
    return TENSOR_NAMES[GGUF_ROLE_TENSORS[role]].format(bid=layer) + ".weight"


# --- ternary decoders: raw bytes -> (codes (out, in) int8, s_w) --------------------------------------------

def _decode_ternary(raw: np.ndarray, info: GGUFTensorInfo, ggml: GGMLType, path: Path) -> tuple[np.ndarray, float]:
    """A ternary type's bytes -> codes and s_w = 1/scale. A per-tensor scale (I2_S) must be a non-negative
    number; per-block scales (TQ1_0, TQ2_0) must be one value, with a negative block's sign moved into its codes."""
    try:
        codes, scale = ggml.decode(raw, info.numel)
    except BlockFormatError as e:
        raise EdgekitError(f"tensor {info.name}: {e}", path=path, fix="the file is corrupt") from None
    if ggml.scale_per_tensor:
        if not np.isfinite(scale) or scale < 0:
            raise EdgekitError(f"tensor {info.name}: {ggml.name} scale {scale!r} is not a positive number",
                               path=path, fix="the file is corrupt")
        return codes.reshape(info.shape), _divisor(scale)
    d = scale
    codes[d == 0] = 0  # a block with d = 0 is all-zero weights whatever its codes say
    codes[d < 0] *= -1  # d * W_q == |d| * (-W_q): move each block's sign into its codes
    d = np.abs(d)
    distinct = np.unique(d[(d != 0) & (codes != 0).any(axis=1)])
    if not np.isfinite(distinct).all():
        raise EdgekitError(f"tensor {info.name}: {info.type_name} block scale is NaN or infinite", path=path,
                           fix="the file is corrupt")
    if distinct.size > 1:
        raise EdgekitError(
            f"tensor {info.name}: {info.type_name} blocks have {distinct.size} different scales "
            f"(e.g. {distinct[0]:g} and {distinct[-1]:g}); a BitNet ternary weight has one scale per tensor",
            path=path, fix="this GGUF was quantised from a non-ternary model; edgekit runs BitNet b1.58 only")
    return codes.reshape(info.shape), _divisor(float(distinct[0]) if distinct.size else 0.0)


def _divisor(mean_abs: float) -> float:
    """A stored multiplier mean|W| -> the IR's divisor s_w = 1/max(mean|W|, 1e-5), in float32."""
    return float(np.float32(1) / np.maximum(np.float32(mean_abs), np.float32(1e-5)))


def _read_float(gf: GGUFFile, info: GGUFTensorInfo) -> np.ndarray:
    ggml = GGML_TYPE_BY_ID.get(info.ggml_type)
    if ggml is None or ggml.kind == "ternary":
        raise EdgekitError(f"tensor {info.name} is {info.type_name}; expected a float or block-quantised "
                           "float type", path=gf.path)
    raw = gf.read_bytes(info.name)
    # Embeddings are often stored block-quantised (Q6_K, Q8_0, ...); the table's decoders know those layouts.
    try:
        return ggml.decode(raw).reshape(info.shape)
    except (NotImplementedError, ValueError) as e:
        raise EdgekitError(f"tensor {info.name}: cannot decode {info.type_name} ({e})", path=gf.path) from None


def _decode_float_ternary(w: np.ndarray, info: GGUFTensorInfo, path: Path) -> tuple[np.ndarray, float]:
    """Float weights of a ternary role. llama.cpp's converter stores W_q * mean|W| (three values -a, 0, a):
    those give back W_q and s_w = 1/a exactly; anything else is a float master, ternarised with absmean."""
    nonzero = np.abs(w[w != 0])
    if nonzero.size and np.all(nonzero == nonzero[0]):
        return np.sign(w).astype(np.int8), _divisor(float(nonzero[0]))
    return absmean_ternarise(w, where=path, name=info.name)


def _ternary_tensor(gf: GGUFFile, info: GGUFTensorInfo, name: str, role: str, layer: int,
                    shape: tuple[int, ...]) -> TernaryTensor:
    """The weight's decoder, times the optional per-tensor multiplier llama.cpp's BitNet graph applies after
    the matmul (`blk.N.attn_q.scale`, a one-element F32 tensor): W = W_q * mean|W| * scale."""
    scale_info = gf.tensors.get(info.name[: -len("weight")] + "scale")
    decode = _ternary_decoder(gf, info)
    if scale_info is None:
        return DeferredScaleTernaryTensor(name=name, role=role, layer=layer, shape=shape,
                                          source_format=info.type_name.lower(), source_bytes=info.nbytes,
                                          decode=decode)
    if scale_info.numel != 1:
        raise EdgekitError(f"tensor {scale_info.name} has {scale_info.numel} elements; a tensor scale has one",
                           path=gf.path)
    multiplier = float(_read_float(gf, scale_info).reshape(-1)[0])
    if not np.isfinite(multiplier) or multiplier <= 0:
        raise EdgekitError(f"tensor {scale_info.name} is {multiplier!r}; a weight scale must be positive",
                           path=gf.path, fix="the file is corrupt")

    def decode_scaled() -> tuple[np.ndarray, float]:
        codes, s_w = decode()
        return codes, float(np.float32(s_w) / np.float32(multiplier))  # s_w divides: 1/(mean|W| * scale)

    return DeferredScaleTernaryTensor(name=name, role=role, layer=layer, shape=shape,
                                      source_format=info.type_name.lower(), source_bytes=info.nbytes,
                                      decode=decode_scaled)


def _ternary_decoder(gf: GGUFFile, info: GGUFTensorInfo):
    """A function decoding this tensor to (codes, s_w), chosen by its ggml type."""
    path = gf.path
    ggml = GGML_TYPE_BY_ID.get(info.ggml_type)
    kind = ggml.kind if ggml else None
    if kind == "ternary":
        return lambda: _decode_ternary(gf.read_bytes(info.name), info, ggml, path)
    if kind == "float":
        return lambda: _decode_float_ternary(_read_float(gf, info), info, path)
    raise EdgekitError(f"tensor {info.name} is {info.type_name}, which is not a ternary or float format",
                       path=path, fix="convert the model with TQ1_0, TQ2_0, I2_S or F16 weights")


# --- config and model ---------------------------------------------------------------------------------

class _Meta:
    """Typed access to GGUF metadata, with errors that name the key."""

    def __init__(self, gf: GGUFFile):
        self.gf, self.md = gf, gf.metadata

    def get_int(self, key: str, default: object = None) -> int:
        value = self.md.get(key, default)
        if isinstance(value, np.ndarray) and value.size and (value == value.flat[0]).all():
            value = value.flat[0]  # per-layer arrays (e.g. head_count) that are uniform
        if isinstance(value, (np.integer,)):
            value = int(value)
        if type(value) is not int or value < 0:
            raise EdgekitError(f"metadata {key} must be a non-negative integer, got {value!r}", path=self.gf.path,
                               fix="the file is corrupt or not a BitNet GGUF")
        return value

    def get_float(self, key: str, default: float) -> float:
        value = self.md.get(key, default)
        if type(value) not in (int, float) or not np.isfinite(value):
            raise EdgekitError(f"metadata {key} must be a number, got {value!r}", path=self.gf.path)
        return float(value)

    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self.md.get(key, default)
        if value is not None and not isinstance(value, str):
            raise EdgekitError(f"metadata {key} must be a string, got {type(value).__name__}", path=self.gf.path)
        return value


def config_from_gguf(gf: GGUFFile) -> tuple[str, ModelConfig]:
    meta = _Meta(gf)
    arch = meta.get_str("general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise EdgekitError(f"architecture {arch!r} is not supported", path=gf.path,
                           fix=f"edgekit loads BitNet b1.58 GGUF files ({', '.join(SUPPORTED_ARCHITECTURES)})")
    act = meta.get_str(HIDDEN_ACTIVATION_KEY.format(arch=arch))
    if act is not None and act != HIDDEN_ACTIVATION:
        raise EdgekitError(f"metadata {HIDDEN_ACTIVATION_KEY.format(arch=arch)} is {act!r}: this model gates its FFN "
                           f"with {act}, and edgekit runs BitNet b1.58's squared ReLU ({HIDDEN_ACTIVATION}) only",
                           path=gf.path, fix="use a BitNet b1.58 checkpoint (microsoft/bitnet-b1.58-2B-4T and its kin)")
    embd = gf.tensors.get(gguf_name("tok_embeddings", -1))
    if embd is None or len(embd.dims) != 2:
        raise EdgekitError("tensor token_embd.weight is missing or not 2-D", path=gf.path)
    hidden = meta.get_int(f"{arch}.embedding_length")
    heads = meta.get_int(f"{arch}.attention.head_count")
    tokens = gf.metadata.get("tokenizer.ggml.tokens")
    vocab_default = embd.dims[1] if embd.dims[1] else (len(tokens) if isinstance(tokens, list) else None)
    head_dim_default = hidden // heads if heads and hidden % heads == 0 else None
    head_dim = meta.get_int(f"{arch}.attention.key_length", meta.md.get(f"{arch}.rope.dimension_count",
                                                                      head_dim_default))
    rope_dims = meta.md.get(f"{arch}.rope.dimension_count")
    if rope_dims is not None and rope_dims != head_dim:
        raise EdgekitError(f"partial RoPE ({rope_dims} of {head_dim} head dimensions) is not supported",
                           path=gf.path)
    bos = gf.metadata.get("tokenizer.ggml.bos_token_id")
    eos = gf.metadata.get("tokenizer.ggml.eos_token_id")
    config = ModelConfig(
        vocab_size=meta.get_int(f"{arch}.vocab_size", vocab_default),
        hidden_size=hidden,
        intermediate_size=meta.get_int(f"{arch}.feed_forward_length"),
        num_layers=meta.get_int(f"{arch}.block_count"),
        num_heads=heads,
        num_kv_heads=meta.get_int(f"{arch}.attention.head_count_kv", heads),
        head_dim=head_dim,
        max_seq_len=meta.get_int(f"{arch}.context_length", 2048),
        rms_norm_eps=meta.get_float(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5),
        rope_theta=meta.get_float(f"{arch}.rope.freq_base", DEFAULT_ROPE_THETA),
        # llama.cpp falls back to token_embd when there is no output tensor: that is weight tying
        tie_word_embeddings=gguf_name("lm_head", -1) not in gf.tensors,
        bos_token_id=None if bos is None else meta.get_int("tokenizer.ggml.bos_token_id"),
        eos_token_id=None if eos is None else meta.get_int("tokenizer.ggml.eos_token_id"),
    )
    config.validate(gf.path)
    return arch, config


def load_gguf(path: Path) -> Model:
    gf = GGUFFile(path)
    arch, config = config_from_gguf(gf)
    check_tensor_count(config, len(gf.tensors), path)
    tensors = {}
    for name, role, layer, kind, shape in tensor_layout(config):
        gname = gguf_name(role, layer)
        info = gf.tensors.get(gname)
        if info is None:
            raise EdgekitError(f"tensor {gname} is missing", path=path,
                               fix="the file is incomplete or not a BitNet b1.58 model")
        if info.shape != tuple(shape):
            raise EdgekitError(f"tensor {gname} has shape {info.shape}, the metadata implies {tuple(shape)}",
                               path=path, fix="the file's metadata and tensors disagree")
        if kind == "ternary":
            tensors[name] = _ternary_tensor(gf, info, name, role, layer, tuple(shape))
        else:
            tensors[name] = FloatTensor(name=name, role=role, layer=layer, shape=tuple(shape),
                                        source_format=info.type_name.lower(), source_bytes=info.nbytes,
                                        _produce=lambda info=info: _read_float(gf, info))
    from edgekit.loaders.gguf_tokenizer import tokenizer_from_gguf

    tokenizer = tokenizer_from_gguf(gf)
    tokenizer_json = tokenizer.to_str() if tokenizer is not None else None
    if tokenizer is not None and tokenizer.get_vocab_size(with_added_tokens=True) > config.vocab_size:
        raise EdgekitError(f"the tokenizer has {tokenizer.get_vocab_size(with_added_tokens=True)} tokens but "
                           f"the model's vocabulary is {config.vocab_size}", path=path)
    model = Model(config=config, tensors=tensors, tokenizer=tokenizer, source=Path(path), source_kind="gguf",
                  chat_template=_Meta(gf).get_str("tokenizer.chat_template"), tokenizer_json=tokenizer_json)
    check_layout(model)
    return model
