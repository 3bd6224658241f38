"""The device's working arena (KV cache + activations + scratch): the Python mirror of firmware/runtime/ek_arena.c.

The firmware allocates nothing: every buffer the forward pass and the sampler use lives in one arena whose layout
is a pure function of (config, context length, ternary formats used). The planner sizes the arena with this
module before anything is flashed; tests/test_c_arena.py checks it against the C layout byte for byte, so change
both files together.

Buffers are placed in table order, each at the next multiple of its alignment; the total is rounded up to 64 and
the arena itself must start 64-byte aligned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from edgekit.errors import EdgekitError
from edgekit.model import ModelConfig
from edgekit.pack.formats import TERNARY_FORMATS

ARENA_ALIGN = 64
I2_BLOCK = 128  # x_q buffers are padded to whole i2 blocks so SIMD kernels need no tail path


def _tensor_slots(c: ModelConfig) -> int:
    """Tensors the runtime's directory indexes: embedding, 11 per layer, norm, lm_head (even when tied)."""
    return 11 * c.num_layers + 3


def _max_in(c: ModelConfig) -> int:
    """Longest input of a ternary linear layer (q/k/v/gate/up read dim, o reads q_dim, down reads hidden)."""
    return max(c.hidden_size, c.q_dim, c.intermediate_size)


def _max_out(c: ModelConfig) -> int:
    return max(c.q_dim, c.kv_dim, c.intermediate_size, c.hidden_size)


# (name, alignment, size in bytes as a function of (config, max_ctx, ternary formats)), in C enum order.
BUFFERS: tuple[tuple[str, int, Callable[[ModelConfig, int, frozenset], int]], ...] = (
    ("directory", 16, lambda c, n, f: 4 * _tensor_slots(c)),  # uint32: tensor slot -> image ref
    ("key_cache", 64, lambda c, n, f: 4 * c.num_layers * n * c.kv_dim),  # f32 (layers, ctx, kv_dim)
    ("value_cache", 64, lambda c, n, f: 4 * c.num_layers * n * c.kv_dim),  # f32 (layers, ctx, kv_dim)
    ("x", 16, lambda c, n, f: 4 * c.hidden_size),  # f32 residual stream
    ("xb", 16, lambda c, n, f: 4 * max(c.hidden_size, c.q_dim)),  # f32 normed input / attention output
    ("q", 16, lambda c, n, f: 4 * c.q_dim),  # f32 query
    ("hb", 16, lambda c, n, f: 4 * c.intermediate_size),  # f32 gate, then relu(gate)^2 * up
    ("hb2", 16, lambda c, n, f: 4 * c.intermediate_size),  # f32 up
    ("att", 16, lambda c, n, f: 4 * n),  # f32 attention scores of one head
    ("rope", 16, lambda c, n, f: 4 * (c.head_dim // 2)),  # f32 RoPE inverse frequencies
    ("xq", 64, lambda c, n, f: -(-_max_in(c) // I2_BLOCK) * I2_BLOCK),  # int8 quantised input, padded
    ("acc", 64, lambda c, n, f: 4 * _max_out(c)),  # int32 ternary accumulators
    ("tl_lut", 64, lambda c, n, f: 2 * 9 * ((_max_in(c) + 1) // 2) if "tl" in f else 0),  # int16 pair sums
    ("logits", 16, lambda c, n, f: 4 * c.vocab_size),  # f32
    ("sampler_idx", 16, lambda c, n, f: 4 * c.vocab_size),  # uint32 candidate order
    ("sampler_p", 16, lambda c, n, f: 4 * c.vocab_size),  # f32 probabilities
)
ALIGNMENT = {name: align for name, align, _ in BUFFERS}


class ArenaBuffer(NamedTuple):
    offset: int  # bytes from the arena start
    size: int  # bytes


@dataclass(frozen=True)
class ArenaLayout:
    max_ctx: int
    buffers: dict[str, ArenaBuffer]  # in placement order; alignment of each: ALIGNMENT[name]
    size_bytes: int

    def rows(self) -> list[tuple[str, int, int, int]]:
        """(name, offset, size, alignment) per buffer, for reports and the C comparison."""
        return [(name, b.offset, b.size, ALIGNMENT[name]) for name, b in self.buffers.items()]


def arena_layout(config: ModelConfig, max_ctx: int, ternary_formats: set[str] | frozenset[str]) -> ArenaLayout:
    """The arena the firmware lays out for this model at context length max_ctx (see module docstring)."""
    formats = frozenset(ternary_formats)
    unknown = formats - set(TERNARY_FORMATS)
    if unknown:
        raise EdgekitError(f"unknown ternary format(s) {', '.join(sorted(unknown))}",
                           fix=f"choose from {', '.join(TERNARY_FORMATS)}")
    if not isinstance(max_ctx, int) or max_ctx <= 0:
        raise EdgekitError(f"context length must be a positive integer, got {max_ctx!r}")
    cursor = 0
    buffers: dict[str, ArenaBuffer] = {}
    for name, align, size_fn in BUFFERS:
        cursor = -(-cursor // align) * align
        size = size_fn(config, max_ctx, formats)
        buffers[name] = ArenaBuffer(cursor, size)
        cursor += size
    return ArenaLayout(max_ctx, buffers, -(-cursor // ARENA_ALIGN) * ARENA_ALIGN)
