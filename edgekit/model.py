"""The model IR: a BitNet b1.58 config, its tensors in image order, and its tokenizer.

Tensors are lazy: a loader hands over a function that produces the array, so `inspect` and `pack` can
stream a multi-GB checkpoint tensor by tensor without holding it twice. The reference engine
materialises what it needs.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from edgekit.errors import EdgekitError

NO_TOKEN = 0xFFFFFFFF  # "no such special token" in the image and on the wire

# Limits every reader applies to a model config: the loaders, the image reader and the firmware's image check
# (generated into firmware/runtime/ek_spec.h), so host and device accept exactly the same models. Sizes stay far
# inside uint32 indices and 64-bit size products, and no reader builds anything proportional to a number it
# has not bounded.
CONFIG_MAX_DIM = 1 << 24  # any dimension, the context length, and num_heads * head_dim
CONFIG_MAX_LAYERS = 0xFFFE  # section tables number layers in 16 bits; 0xFFFF marks the global tensors
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture numbers of a BitNet b1.58 model (HF `BitNetConfig` names in comments)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int  # num_hidden_layers
    num_heads: int  # num_attention_heads
    num_kv_heads: int  # num_key_value_heads
    head_dim: int
    max_seq_len: int  # max_position_embeddings
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    bos_token_id: int | None = None
    eos_token_id: int | None = None

    def __post_init__(self):
        # Both engines compute in float32, and the image stores these as float32: keep the rounded values so a
        # config survives a trip through an image unchanged.
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf here and validate() refuses it
            for name in ("rms_norm_eps", "rope_theta"):
                object.__setattr__(self, name, float(np.float32(getattr(self, name))))

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    def validate(self, where: object) -> None:
        """Refuse configs the architecture cannot run, naming the field and the fix (the same rules as the
        firmware's check_config in ek_image.c, from the same limits)."""
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise EdgekitError(f"config field {name} must be a positive integer, got {value!r}", path=where)
            limit = CONFIG_MAX_LAYERS if name == "num_layers" else CONFIG_MAX_DIM
            if value > limit:
                raise EdgekitError(f"config field {name} is {value:,}, above edgekit's limit of {limit:,}",
                                   path=where, fix="the config is corrupt or not a model edgekit can run")
        if self.num_heads * self.head_dim > CONFIG_MAX_DIM:
            raise EdgekitError(f"num_attention_heads x head_dim = {self.num_heads * self.head_dim:,} is above "
                               f"edgekit's limit of {CONFIG_MAX_DIM:,}", path=where)
        for name in ("bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value < self.vocab_size):
                raise EdgekitError(f"config field {name} is {value!r}, not a token id below vocab_size "
                                   f"{self.vocab_size}", path=where, fix="fix the config or drop the field")
        if self.num_heads % self.num_kv_heads:
            raise EdgekitError(
                f"num_attention_heads ({self.num_heads}) is not a multiple of num_key_value_heads "
                f"({self.num_kv_heads})", path=where, fix="GQA needs whole groups of query heads per kv head")
        if self.head_dim % 2:
            raise EdgekitError(f"head_dim {self.head_dim} is odd; RoPE needs an even head size", path=where)
        for name in ("rms_norm_eps", "rope_theta"):  # stored as float32: must stay finite and non-zero there
            value = getattr(self, name)
            if not 0 < value <= FLOAT32_MAX:
                raise EdgekitError(f"config field {name} is {value!r} as a float32; it must be positive and finite",
                                   path=where, fix="fix the config value")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# Tensor roles, in image order. Each row: (role, kind, shape as a function of the config).
# `kind` is "ternary" for BitLinear weights (one scale per tensor), "float" otherwise.
GLOBAL_HEAD_ROLES = (("tok_embeddings", "float", lambda c: (c.vocab_size, c.hidden_size)),)
LAYER_ROLES = (
    ("attn_norm", "float", lambda c: (c.hidden_size,)),
    ("q", "ternary", lambda c: (c.q_dim, c.hidden_size)),
    ("k", "ternary", lambda c: (c.kv_dim, c.hidden_size)),
    ("v", "ternary", lambda c: (c.kv_dim, c.hidden_size)),
    ("attn_sub_norm", "float", lambda c: (c.q_dim,)),
    ("o", "ternary", lambda c: (c.hidden_size, c.q_dim)),
    ("ffn_norm", "float", lambda c: (c.hidden_size,)),
    ("gate", "ternary", lambda c: (c.intermediate_size, c.hidden_size)),
    ("up", "ternary", lambda c: (c.intermediate_size, c.hidden_size)),
    ("ffn_sub_norm", "float", lambda c: (c.intermediate_size,)),
    ("down", "ternary", lambda c: (c.hidden_size, c.intermediate_size)),
)
GLOBAL_TAIL_ROLES = (
    ("norm", "float", lambda c: (c.hidden_size,)),
    ("lm_head", "float", lambda c: (c.vocab_size, c.hidden_size)),
)


def tensor_layout(config: ModelConfig) -> list[tuple[str, str, int, str, tuple[int, ...]]]:
    """Every tensor of a model in image order: (name, role, layer or -1, kind, shape)."""
    rows = [(role, role, -1, kind, shape(config)) for role, kind, shape in GLOBAL_HEAD_ROLES]
    for layer in range(config.num_layers):
        rows += [(f"L{layer}.{role}", role, layer, kind, shape(config)) for role, kind, shape in LAYER_ROLES]
    for role, kind, shape in GLOBAL_TAIL_ROLES:
        if role == "lm_head" and config.tie_word_embeddings:
            continue
        rows.append((role, role, -1, kind, shape(config)))
    return rows


@dataclass
class Tensor:
    """One tensor of the IR. `source_format` says how the checkpoint stored it (for `inspect`)."""

    name: str
    role: str
    layer: int
    shape: tuple[int, ...]
    source_format: str
    source_bytes: int
    _produce: Callable[[], np.ndarray] = field(repr=False)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape))


def _finite(name: str, arr: np.ndarray) -> np.ndarray:
    """NaN/Inf weights would pack as a valid image and make the device print token 0 forever: refuse them."""
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise EdgekitError(f"tensor {name} has {bad:,} NaN or infinite value(s)",
                           fix="the checkpoint is corrupt or was saved after training diverged")
    return arr


@dataclass
class TernaryTensor(Tensor):
    """A BitLinear weight: codes in {-1, 0, +1} and `weight_scale` s_w, so y = acc / (s_x * s_w)."""

    weight_scale: float = 1.0  # s_w = 1 / mean|W| (a divisor), float32

    kind = "ternary"

    def codes(self) -> np.ndarray:
        """int8 array of shape (out, in) with values in {-1, 0, +1}."""
        codes = self._produce()
        if codes.shape != self.shape or codes.dtype != np.int8:
            raise EdgekitError(f"tensor {self.name}: loader produced {codes.dtype}{codes.shape}, "
                               f"expected int8{self.shape}")
        return codes


@dataclass
class FloatTensor(Tensor):
    # Optional: rows (start, stop) of the first dimension, read from the source on their own, so a
    # 128k x 2560 embedding can be packed without ever being whole in memory.
    _produce_rows: Callable[[int, int], np.ndarray] | None = field(default=None, repr=False)
    # Optional: the bytes as an image stores them, for the integer heads (q8i, q4i), whose stored integers the
    # reference multiplies as the device does (decoding to float and packing again need not give them back).
    _stored: Callable[[], bytes] | None = field(default=None, repr=False)

    kind = "float"

    def stored(self) -> bytes | None:
        """The tensor's bytes in its image format, when it was read from an image; else None."""
        return None if self._stored is None else self._stored()

    def row_chunks(self, rows_per_chunk: int = 4096) -> Iterator[np.ndarray]:
        """float32 row blocks of this tensor, in order (the whole tensor at once for vectors)."""
        if self._produce_rows is None or len(self.shape) < 2:
            yield self.array()
            return
        for start in range(0, self.shape[0], rows_per_chunk):
            stop = min(start + rows_per_chunk, self.shape[0])
            yield _finite(self.name, np.ascontiguousarray(self._produce_rows(start, stop), dtype=np.float32))

    def array(self) -> np.ndarray:
        """float32 array of `shape`."""
        arr = self._produce()
        if arr.shape != self.shape:
            raise EdgekitError(f"tensor {self.name}: loader produced shape {arr.shape}, expected {self.shape}")
        return _finite(self.name, np.ascontiguousarray(arr, dtype=np.float32))


@dataclass
class Model:
    """A loaded BitNet b1.58 model. Build one with `edgekit.load(path_or_name)`."""

    config: ModelConfig
    tensors: dict[str, Tensor]
    tokenizer: object | None  # tokenizers.Tokenizer
    source: Path
    source_kind: str  # "hf-packed", "hf-float", "gguf", "ekm"
    chat_template: str | None = None
    tokenizer_json: str | None = None  # the canonical tokenizer.json text (for hashing and shipping)
    _engine: object | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[Tensor]:
        return iter(self.tensors.values())

    @property
    def embedding(self) -> FloatTensor:
        return self.tensors["tok_embeddings"]  # type: ignore[return-value]

    @property
    def lm_head(self) -> FloatTensor:
        return self.tensors.get("lm_head", self.tensors["tok_embeddings"])  # type: ignore[return-value]

    def param_counts(self) -> dict[str, int]:
        counts = {"ternary": 0, "float": 0}
        for t in self.tensors.values():
            counts[t.kind] += t.numel
        return counts

    def tokenizer_hash(self) -> bytes:
        """sha256 of the tokenizer.json text; 32 zero bytes when the model has no tokenizer."""
        if self.tokenizer_json is None:
            return bytes(32)
        return hashlib.sha256(self.tokenizer_json.encode("utf-8")).digest()

    # --- reference engine -------------------------------------------------------------------
    def engine(self):
        from edgekit.reference.engine import ReferenceEngine

        if self._engine is None:
            self._engine = ReferenceEngine(self)
        return self._engine

    def logits(self, token_ids) -> np.ndarray:
        """float32 logits of shape (T, vocab) for a fresh sequence of token ids."""
        return self.engine().logits(token_ids)

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of `text`; the tokenizer's own post-processor decides whether a BOS is prepended."""
        if self.tokenizer is None:
            raise EdgekitError("this model has no tokenizer", path=self.source,
                               fix="put the model's tokenizer.json beside it, or re-pack it with `edgekit pack` (an "
                                   ".ekm then carries its tokenizer)")
        return list(self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids) -> str:
        if self.tokenizer is None:
            return " ".join(str(i) for i in ids)
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


def check_tensor_count(config: ModelConfig, stored: int, where: object) -> None:
    """Before building the tensor list of a config (proportional to num_layers): does the checkpoint even hold
    that many tensors? A config claiming 60,000 layers beside a file of 30 tensors is refused at once."""
    needed = len(GLOBAL_HEAD_ROLES) + config.num_layers * len(LAYER_ROLES) + len(GLOBAL_TAIL_ROLES)
    needed -= 1 if config.tie_word_embeddings else 0
    if stored < needed:
        raise EdgekitError(f"the config describes {config.num_layers:,} layers ({needed:,} tensors) but the "
                           f"checkpoint stores only {stored:,} tensors", path=where,
                           fix="the config and the weights belong to different models, or the download is incomplete")


def check_layout(model: Model) -> None:
    """Every tensor the architecture needs is present with the right kind and shape."""
    for name, role, layer, kind, shape in tensor_layout(model.config):
        t = model.tensors.get(name)
        if t is None:
            raise EdgekitError(f"tensor {name} ({role}) is missing", path=model.source,
                               fix="the checkpoint is incomplete or not a BitNet b1.58 model")
        if t.kind != kind:
            raise EdgekitError(f"tensor {name} is {t.kind}, expected {kind}", path=model.source)
        if tuple(t.shape) != tuple(shape):
            raise EdgekitError(f"tensor {name} has shape {tuple(t.shape)}, the config implies {tuple(shape)}",
                               path=model.source, fix="config.json and the weights disagree")


def pack_config(config: ModelConfig) -> bytes:
    """The config as the image stores it (48 bytes): see docs/image-format.md."""
    def tok(x):
        return NO_TOKEN if x is None else int(x)

    return struct.pack("<8I2f2I", config.vocab_size, config.hidden_size, config.intermediate_size,
                       config.num_layers, config.num_heads, config.num_kv_heads, config.head_dim,
                       config.max_seq_len, config.rms_norm_eps, config.rope_theta,
                       tok(config.bos_token_id), tok(config.eos_token_id))
