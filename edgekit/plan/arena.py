"""The device's working arena (KV cache + activations + scratch): the table the planner and the firmware share.

The firmware allocates nothing: every buffer the forward pass and the sampler use lives in one arena whose layout
is a pure function of (config, context length, ternary formats used). The planner sizes the arena from BUFFERS
before anything is flashed; edgekit.gen.arena_header turns the same rows into firmware/runtime/ek_arena_layout.h,
which ek_arena.c lays the arena out with (tests/test_c_arena.py checks the committed header is fresh and that
both sides agree byte for byte).

Buffers are placed in table order, each at the next multiple of its alignment; the total is rounded up to
ARENA_ALIGN and the arena itself must start ARENA_ALIGN-aligned.

Sizes are expressions over named quantities, written once and read two ways: evaluated here, rendered to C by
the generator. The grammar is small on purpose: integers, names, `+`, `*`, and the calls in FUNCTIONS.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable, NamedTuple

from edgekit.errors import EdgekitError
from edgekit.model import GLOBAL_HEAD_ROLES, GLOBAL_TAIL_ROLES, LAYER_ROLES, ModelConfig
from edgekit.pack.formats import I2_BLOCK, TERNARY_FORMATS

ARENA_ALIGN = 64

# ModelConfig fields the sizes use; ek_config (firmware/runtime/ek_image.h) has them under the same names.
CONFIG_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
                 "head_dim")
# Besides the config: max_ctx (the context length) and uses_<format> (1 if a ternary format is used, else 0).
CONSTANTS = {"I2_BLOCK": I2_BLOCK}  # x_q is padded to whole i2 blocks so SIMD kernels need no tail path


class Function(NamedTuple):
    """A call the size expressions may use, in both languages (C: uint64_t operands and result)."""
    python: Callable[..., int]
    c_params: str
    c_body: str


FUNCTIONS: dict[str, Function] = {
    "max": Function(max, "uint64_t a, uint64_t b", "return a > b ? a : b;"),  # C: nested for more operands
    "div": Function(lambda a, b: a // b, "uint64_t a, uint64_t b", "return a / b;"),
    "round_up": Function(lambda a, b: -(-a // b) * b, "uint64_t a, uint64_t b", "return (a + b - 1u) / b * b;"),
    # tensors the directory indexes: every role of edgekit/model.py's tables, lm_head even when tied
    "tensor_slots": Function(
        lambda layers: len(GLOBAL_HEAD_ROLES) + layers * len(LAYER_ROLES) + len(GLOBAL_TAIL_ROLES),
        "uint64_t layers", "return (uint64_t)EK_TENSOR_SLOTS(layers);"),
}

# Quantities derived from the inputs, in order (each may use the ones before it).
DERIVED: tuple[tuple[str, str], ...] = (
    ("q_dim", "num_heads * head_dim"),
    ("kv_dim", "num_kv_heads * head_dim"),
    ("max_in", "max(hidden_size, q_dim, intermediate_size)"),  # longest input of a ternary linear layer
    ("max_out", "max(q_dim, kv_dim, intermediate_size, hidden_size)"),  # longest output of one
)


class Buffer(NamedTuple):
    name: str
    align: int  # bytes
    size: str  # bytes, an expression (module docstring)
    doc: str  # element type and shape


BUFFERS: tuple[Buffer, ...] = (
    Buffer("directory", 16, "4 * tensor_slots(num_layers)", "uint32 (tensor slots): slot -> image ref"),
    Buffer("key_cache", 64, "4 * num_layers * max_ctx * kv_dim", "f32 (layers, max_ctx, kv_dim)"),
    Buffer("value_cache", 64, "4 * num_layers * max_ctx * kv_dim", "f32 (layers, max_ctx, kv_dim)"),
    Buffer("x", 16, "4 * hidden_size", "f32 (dim) residual stream"),
    Buffer("xb", 16, "4 * max(hidden_size, q_dim)", "f32 (max(dim, q_dim)) normed input, then attention output"),
    Buffer("q", 16, "4 * q_dim", "f32 (q_dim) query"),
    Buffer("hb", 16, "4 * intermediate_size", "f32 (hidden_dim) gate, then relu(gate)^2 * up"),
    Buffer("hb2", 16, "4 * intermediate_size", "f32 (hidden_dim) up"),
    Buffer("att", 16, "4 * max_ctx", "f32 (max_ctx) scores of one head"),
    Buffer("rope", 16, "4 * div(head_dim, 2)", "f32 (head_dim / 2) RoPE inverse frequencies"),
    Buffer("xq", 64, "round_up(max_in, I2_BLOCK)", "int8 (max_in padded to i2 blocks) quantised input"),
    Buffer("acc", 64, "4 * max_out", "int32 (max_out) ternary accumulators"),
    Buffer("tl_lut", 64, "uses_tl * 2 * 9 * div(max_in + 1, 2)", "int16 (9 per column pair) tl pair sums; 0 if no tl"),
    Buffer("logits", 16, "4 * vocab_size", "f32 (vocab)"),
    Buffer("sampler_idx", 16, "4 * vocab_size", "uint32 (vocab) sampler candidate order"),
    Buffer("sampler_p", 16, "4 * vocab_size", "f32 (vocab) sampler probabilities"),
)
ALIGNMENT = {b.name: b.align for b in BUFFERS}

# Chunked prefill (ek_model_prefill): a chunk of T tokens works in scratch holding T rows of each of these
# single-token buffers, then T quantised-input records (ek_qvec), each part ARENA_ALIGN-aligned; T is a power of two
# up to PREFILL_MAX_CHUNK, the largest the scratch holds. A bare-metal plan budgets it in the arena where RAM
# allows (the firmware gives the model the arena beyond what its layout uses).
PREFILL_MAX_CHUNK = 32
PREFILL_CHUNK_BUFFERS = ("x", "xb", "q", "hb", "hb2", "xq", "acc")
PREFILL_RECORD_BYTES = 32  # what the plan budgets per ek_qvec: 16 bytes on 32-bit targets, 24 on 64-bit


def format_flag(name: str) -> str:
    """The input that is 1 when ternary format `name` is used."""
    return f"uses_{name}"


INPUTS = (*CONFIG_FIELDS, "max_ctx", *(format_flag(f) for f in TERNARY_FORMATS))
_OPS = (ast.Add, ast.Mult)


def parse(expr: str) -> ast.expr:
    """The expression's syntax tree, refused unless it keeps to the grammar (so C renders it alike)."""
    tree = ast.parse(expr, mode="eval").body
    known = set(INPUTS) | set(CONSTANTS) | {name for name, _ in DERIVED}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and type(node.op) not in _OPS:
            raise ValueError(f"{expr!r}: only + and * are allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                                               and not node.keywords):
            raise ValueError(f"{expr!r}: calls are limited to {', '.join(FUNCTIONS)}")
        if isinstance(node, ast.Name) and node.id not in known | set(FUNCTIONS):
            raise ValueError(f"{expr!r}: unknown name {node.id!r}")
        if isinstance(node, ast.Constant) and not (type(node.value) is int and node.value >= 0):
            raise ValueError(f"{expr!r}: constants are non-negative integers")
        if not isinstance(node, (ast.BinOp, ast.Call, ast.Name, ast.Constant, ast.Load, *_OPS)):
            raise ValueError(f"{expr!r}: {type(node).__name__} is not allowed")
    return tree


def evaluate(tree: ast.expr, values: dict[str, int]) -> int:
    if isinstance(tree, ast.Constant):
        return tree.value
    if isinstance(tree, ast.Name):
        return CONSTANTS[tree.id] if tree.id in CONSTANTS else values[tree.id]
    if isinstance(tree, ast.BinOp):
        a, b = evaluate(tree.left, values), evaluate(tree.right, values)
        return a + b if isinstance(tree.op, ast.Add) else a * b
    assert isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)
    return FUNCTIONS[tree.func.id].python(*(evaluate(arg, values) for arg in tree.args))


DERIVED_TREES = tuple((name, parse(expr)) for name, expr in DERIVED)
SIZE_TREES = tuple(parse(b.size) for b in BUFFERS)


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
    values = {name: getattr(config, name) for name in CONFIG_FIELDS}
    values["max_ctx"] = max_ctx
    values.update({format_flag(f): int(f in formats) for f in TERNARY_FORMATS})
    for name, tree in DERIVED_TREES:
        values[name] = evaluate(tree, values)
    cursor = 0
    buffers: dict[str, ArenaBuffer] = {}
    for buf, tree in zip(BUFFERS, SIZE_TREES):
        cursor = -(-cursor // buf.align) * buf.align
        size = evaluate(tree, values)
        buffers[buf.name] = ArenaBuffer(cursor, size)
        cursor += size
    return ArenaLayout(max_ctx, buffers, -(-cursor // ARENA_ALIGN) * ARENA_ALIGN)


def prefill_scratch_bytes(layout: ArenaLayout, chunk: int) -> int:
    """Scratch for a chunked prefill of `chunk` tokens with this layout, as ek_arena_prefill_scratch computes it
    with PREFILL_RECORD_BYTES per record: + ARENA_ALIGN for any alignment of where it starts. 0 below 2 tokens."""
    if chunk < 2:
        return 0
    cursor = 0
    for part in (*(chunk * layout.buffers[name].size for name in PREFILL_CHUNK_BUFFERS), chunk * PREFILL_RECORD_BYTES):
        cursor = -(-cursor // ARENA_ALIGN) * ARENA_ALIGN + part
    return cursor + ARENA_ALIGN
