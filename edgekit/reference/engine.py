"""The numpy reference engine: BitNet b1.58 (W1.58A8) exactly as docs/design.md §2 and transformers' BitNet.

Everything is float32. Ternary matmuls run as float32 BLAS on integer-valued operands: |acc| <= 127 * in_features
< 2^24 for every real shape, so each partial sum is exact and the int32 accumulator is reproduced bit for bit
whatever the summation order. This is the oracle the C kernels and the devices are compared against.
"""
from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.model import FloatTensor, Model, TernaryTensor
from edgekit.pack.formats import FLOAT_FORMATS, INTEGER_HEAD_MAX_COLS, q4i_parts, q8_rows

F32 = np.float32
ACT_QMAX = F32(127.0)
ACT_EPS = F32(1e-5)
# Above this many ternary weights the engine keeps int8 codes and widens one matrix at a time
# (a 2B model as float32 codes would need ~10 GB).
CACHE_FLOAT_CODES_MAX = 200_000_000


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-token absmax int8: returns (x_q as float32 integers, s_x of shape (T, 1))."""
    amax = np.max(np.abs(x), axis=-1, keepdims=True)
    s_x = (ACT_QMAX / np.maximum(amax, ACT_EPS)).astype(F32)
    x_q = np.clip(np.rint((x * s_x).astype(F32)), -128, 127).astype(F32)
    return x_q, s_x


def rounding_margin_ulps(x: np.ndarray, s_x: np.ndarray) -> np.ndarray:
    """Per row (token): how near any x * s_x lies to a rounding boundary k + 1/2, in float32 ulps of that value.
    Two correct engines whose x differ by float noise (a few ulps) can round such a value apart: the int8
    activation then differs by one step and the logits by ~1e-2 instead of ~1e-5 (docs/design.md §2)."""
    v = np.abs((x * s_x).astype(F32))
    return (np.abs(v - np.floor(v) - F32(0.5)) / np.spacing(np.maximum(v, F32(1.0)))).min(axis=-1)


# The integer heads: format name -> the reader of its stored parts.
INTEGER_HEADS = {"q8i": q8_rows, "q4i": q4i_parts}


def integer_head_parts(fmt: str, head: np.ndarray, stored: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(row scales float32 (vocab,), the integers each row multiplies x_q by (vocab, hidden)) of a head stored in
    the integer format `fmt`: read from the image's bytes when given (q4i's packer is not idempotent: decoding and
    packing again can move a block scale), else packed from `head`."""
    max_cols = INTEGER_HEAD_MAX_COLS[fmt]
    if head.shape[1] > max_cols:
        raise EdgekitError(f"a {fmt} head holds rows of at most {max_cols:,} values (its int32 sums), "
                           f"this one {head.shape[1]:,}", fix="store the head as q8row")
    scale, ints = INTEGER_HEADS[fmt](stored if stored is not None else FLOAT_FORMATS[fmt].pack(head), head.shape)
    if fmt == "q8i" and (ints == -128).any():  # the firmware refuses it too (ek_model.c says why)
        raise EdgekitError("a q8i head holds values -127..127, this one a -128",
                           fix="pack the model again with edgekit pack (the packer clips q8i values)")
    return scale, ints


def integer_head_logits(scale: np.ndarray, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The integer head (docs/design.md §2): x (T, hidden) quantised as a BitLinear input (x_q, s_x), acc = the
    exact integer row sums (float64 BLAS is exact below 2^53), logit = ((float)acc * scale[r]) / s_x in
    float32, one rounding per operation, as every C body computes it."""
    x_q, s_x = quantize_activations(x)
    x64 = x_q.astype(np.float64)
    out = np.empty((x.shape[0], q.shape[0]), F32)
    for r in range(0, q.shape[0], 8192):  # in row blocks: a 128k x 2560 head as float64 would be 2.6 GB
        acc = (x64 @ q[r:r + 8192].T.astype(np.float64)).astype(F32)
        out[:, r:r + 8192] = (acc * scale[None, r:r + 8192]).astype(F32) / s_x
    return out


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    ms = np.mean(np.square(x, dtype=F32), axis=-1, keepdims=True, dtype=F32)
    return (x * (F32(1.0) / np.sqrt(ms + F32(eps))).astype(F32) * weight).astype(F32)


def rope_tables(head_dim: int, theta: float, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin of shape (T, head_dim // 2) for the split-halves (rotate_half) form."""
    exponents = (np.arange(0, head_dim, 2, dtype=F32) / F32(head_dim)).astype(F32)
    inv_freq = (F32(1.0) / np.power(F32(theta), exponents, dtype=F32)).astype(F32)
    angles = (positions.astype(F32)[:, None] * inv_freq[None, :]).astype(F32)
    return np.cos(angles).astype(F32), np.sin(angles).astype(F32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x (T, heads, head_dim); pairs (i, i + head_dim/2) rotate together."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1).astype(F32)


class TernaryLinear:
    """One BitLinear: int8 codes (out, in) and s_w."""

    def __init__(self, tensor: TernaryTensor, cache_float: bool):
        codes = tensor.codes()
        self.codes = codes.astype(F32) if cache_float else codes
        self.s_w = F32(tensor.weight_scale)

    def accumulate(self, x_q: np.ndarray) -> np.ndarray:
        """The exact int32 accumulators (as float32 integers), shape (T, out)."""
        w = self.codes if self.codes.dtype == F32 else self.codes.astype(F32)
        return x_q @ w.T

    def __call__(self, x_q: np.ndarray, s_x: np.ndarray) -> np.ndarray:
        return (self.accumulate(x_q) / (s_x * self.s_w)).astype(F32)


class ReferenceEngine:
    """Forward pass with a KV cache. `logits(ids)` runs a fresh sequence; `step(ids)` continues it."""

    def __init__(self, model: Model, *, track_rounding: bool = False):
        self.model = model
        # Opt-in (it costs a pass over every activation): per position, the smallest rounding_margin_ulps of
        # any int8 activation in any layer, for explaining a difference to another engine.
        self.track_rounding = track_rounding
        self.rounding_ulps = np.zeros(0, np.float32)
        c = self.config = model.config
        cache_float = model.param_counts()["ternary"] <= CACHE_FLOAT_CODES_MAX

        def floats(name: str) -> np.ndarray:
            t = model.tensors[name]
            assert isinstance(t, FloatTensor)
            return t.array()

        self.embedding = floats("tok_embeddings")
        head_name = "tok_embeddings" if c.tie_word_embeddings else "lm_head"
        self.lm_head = self.embedding if c.tie_word_embeddings else floats("lm_head")
        # An integer head (an image's q8i or q4i) keeps its stored row scales and integers, as the device does.
        self.integer_head = None
        head_tensor = model.tensors[head_name]
        head_fmt = head_tensor.source_format.removeprefix("ekm:")
        if head_fmt in INTEGER_HEADS:
            assert isinstance(head_tensor, FloatTensor)
            self.integer_head = integer_head_parts(head_fmt, self.lm_head, head_tensor.stored())
        self.final_norm = floats("norm")
        self.layers = []
        for i in range(c.num_layers):
            get = lambda role: model.tensors[f"L{i}.{role}"]  # noqa: E731
            self.layers.append({
                "attn_norm": floats(f"L{i}.attn_norm"), "attn_sub_norm": floats(f"L{i}.attn_sub_norm"),
                "ffn_norm": floats(f"L{i}.ffn_norm"), "ffn_sub_norm": floats(f"L{i}.ffn_sub_norm"),
                **{r: TernaryLinear(get(r), cache_float) for r in ("q", "k", "v", "o", "gate", "up", "down")},
            })
        self.reset()

    def reset(self) -> None:
        c = self.config
        self.pos = 0
        self.rounding_ulps = np.zeros(0, np.float32)
        self.k_cache = [np.zeros((0, c.num_kv_heads, c.head_dim), F32) for _ in range(c.num_layers)]
        self.v_cache = [np.zeros((0, c.num_kv_heads, c.head_dim), F32) for _ in range(c.num_layers)]

    def step(self, token_ids, *, all_logits: bool = True) -> np.ndarray:
        """Run tokens at positions pos.. and extend the cache. Returns (T, vocab) or (1, vocab) logits."""
        c = self.config
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            raise EdgekitError("no tokens to run")
        if ids.min() < 0 or ids.max() >= c.vocab_size:
            raise EdgekitError(f"token id out of range 0..{c.vocab_size - 1}")
        if self.pos + ids.size > c.max_seq_len:
            raise EdgekitError(f"sequence of {self.pos + ids.size} tokens exceeds the context length "
                               f"{c.max_seq_len}", fix="shorten the prompt or --max-new")
        T = ids.size
        positions = np.arange(self.pos, self.pos + T)
        cos, sin = rope_tables(c.head_dim, c.rope_theta, positions)
        x = self.embedding[ids].astype(F32)  # (T, hidden)
        group = c.num_heads // c.num_kv_heads
        scale = F32(1.0 / np.sqrt(c.head_dim))
        total = self.pos + T
        # causal mask over the whole cache: query t (absolute pos+t) sees keys 0..pos+t
        mask = np.arange(total)[None, :] > positions[:, None]
        margins = np.full(T, np.inf, np.float32)

        def quantize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            v_q, s_v = quantize_activations(v)
            if self.track_rounding:
                np.minimum(margins, rounding_margin_ulps(v, s_v), out=margins)
            return v_q, s_v

        for li, L in enumerate(self.layers):
            h = rms_norm(x, L["attn_norm"], c.rms_norm_eps)
            h_q, s_x = quantize(h)
            q = L["q"](h_q, s_x).reshape(T, c.num_heads, c.head_dim)
            k = L["k"](h_q, s_x).reshape(T, c.num_kv_heads, c.head_dim)
            v = L["v"](h_q, s_x).reshape(T, c.num_kv_heads, c.head_dim)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            self.k_cache[li] = np.concatenate([self.k_cache[li], k])
            self.v_cache[li] = np.concatenate([self.v_cache[li], v])
            keys = np.repeat(self.k_cache[li], group, axis=1)  # (S, heads, hd)
            vals = np.repeat(self.v_cache[li], group, axis=1)
            scores = (np.einsum("thd,shd->hts", q, keys, dtype=F32) * scale).astype(F32)
            scores = np.where(mask[None], F32(-np.inf), scores)
            scores = scores - scores.max(axis=-1, keepdims=True)
            p = np.exp(scores).astype(F32)
            p = (p / p.sum(axis=-1, keepdims=True, dtype=F32)).astype(F32)
            att = np.einsum("hts,shd->thd", p, vals, dtype=F32).reshape(T, c.q_dim).astype(F32)
            att = rms_norm(att, L["attn_sub_norm"], c.rms_norm_eps)
            a_q, s_a = quantize(att)
            x = (x + L["o"](a_q, s_a)).astype(F32)

            h = rms_norm(x, L["ffn_norm"], c.rms_norm_eps)
            h_q, s_x = quantize(h)
            gate = L["gate"](h_q, s_x)
            up = L["up"](h_q, s_x)
            relu = np.maximum(gate, F32(0.0))
            ff = (relu * relu * up).astype(F32)
            ff = rms_norm(ff, L["ffn_sub_norm"], c.rms_norm_eps)
            f_q, s_f = quantize(ff)
            x = (x + L["down"](f_q, s_f)).astype(F32)
        self.pos += T
        out = x if all_logits else x[-1:]
        out = rms_norm(out, self.final_norm, c.rms_norm_eps)
        if self.integer_head is not None:
            if self.track_rounding:  # the integer head quantises its input too
                _, s_o = quantize_activations(out)
                np.minimum(margins[-out.shape[0]:], rounding_margin_ulps(out, s_o), out=margins[-out.shape[0]:])
            logits = integer_head_logits(*self.integer_head, out)
        else:
            logits = (out @ self.lm_head.T).astype(F32)
        if self.track_rounding:
            self.rounding_ulps = np.concatenate([self.rounding_ulps, margins])
        return logits

    def logits(self, token_ids) -> np.ndarray:
        self.reset()
        return self.step(token_ids, all_logits=True)
