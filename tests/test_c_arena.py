"""The arena layout: edgekit/plan/arena.py (what the planner sizes) equals firmware/runtime/ek_arena.c (what the
firmware lays out, from the header generated out of the same table), buffer for buffer, for several configs and
ternary format sets."""
from __future__ import annotations

import pytest

from edgekit.errors import EdgekitError
from edgekit.model import ModelConfig
from edgekit.pack.packer import PackChoice, pack_model
from edgekit.gen import arena_header
from edgekit.plan.arena import ALIGNMENT, PREFILL_MAX_CHUNK, arena_layout, parse, prefill_scratch_bytes
from synthetic import random_model, tiny_config
from helpers import build_firmware, run_eval


def _config(vocab, dim, hidden, layers, heads, kv_heads, head_dim, ctx, tied=True) -> ModelConfig:
    return ModelConfig(vocab, dim, hidden, layers, heads, kv_heads, head_dim, ctx, 1e-5, 10000.0, tied)


CONFIGS = {
    "tiny": _config(96, 64, 96, 2, 4, 2, 16, 64),
    "odd": _config(83, 72, 100, 3, 4, 2, 12, 33),
    "q-wider-than-dim": _config(500, 96, 200, 1, 8, 2, 16, 17),  # q_dim 128 > dim
    "bundled": _config(2048, 256, 640, 8, 8, 4, 32, 256),
    "bitnet-2b": _config(128256, 2560, 6912, 30, 20, 5, 128, 4096),
}
FORMAT_SETS = [set(), {"i2"}, {"tl"}, {"t158", "tl"}, {"i2", "t158", "tl"}]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return build_firmware(tmp_path_factory)


def c_layout(build, c: ModelConfig, ctx: int, formats: set[str]) -> tuple[list[tuple[str, int, int, int]], int]:
    out = run_eval(build, "layout", c.vocab_size, c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads,
                   c.num_kv_heads, c.head_dim, ctx, ",".join(sorted(formats)) or "-").stdout.split("\n")
    rows = [(n, int(o), int(s), int(a)) for n, o, s, a in (line.split() for line in out if line and
                                                          not line.startswith(("total", "prefill")))]
    total = int(next(line for line in out if line.startswith("total")).split()[1])
    return rows, total


def c_prefill_scratch(build, c: ModelConfig, ctx: int, formats: set[str]) -> dict[int, int]:
    """{chunk: bytes} the firmware computes for a plan's prefill scratch (ek_arena_prefill_scratch)."""
    out = run_eval(build, "layout", c.vocab_size, c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads,
                   c.num_kv_heads, c.head_dim, ctx, ",".join(sorted(formats)) or "-").stdout.split("\n")
    return {int(t): int(n) for _, t, n in (line.split() for line in out if line.startswith("prefill"))}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("formats", FORMAT_SETS, ids=lambda f: "+".join(sorted(f)) or "none")
def test_python_layout_equals_c(build, name, formats):
    config = CONFIGS[name]
    for ctx in (1, config.max_seq_len):
        py = arena_layout(config, ctx, formats)
        rows, total = c_layout(build, config, ctx, formats)
        assert py.rows() == rows
        assert py.size_bytes == total


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_python_prefill_scratch_equals_c(build, name):
    """What the planner budgets for a chunked prefill is what the firmware lays out (with the planned record size,
    which no target's ek_qvec exceeds: a static assert in ek_model.c)."""
    config = CONFIGS[name]
    py = arena_layout(config, config.max_seq_len, {"i2"})
    c = c_prefill_scratch(build, config, config.max_seq_len, {"i2"})
    assert sorted(c) == [2 ** k for k in range(1, PREFILL_MAX_CHUNK.bit_length())]
    assert c == {t: prefill_scratch_bytes(py, t) for t in c}
    assert prefill_scratch_bytes(py, 1) == 0


def test_generated_arena_header_is_current(tmp_path):
    fresh = tmp_path / arena_header.HEADER_NAME
    arena_header.main([str(fresh)])
    assert arena_header.default_path().read_text() == fresh.read_text(), \
        f"firmware/runtime/{arena_header.HEADER_NAME} is stale: run python -m {arena_header.GENERATOR}"


@pytest.mark.parametrize("expr", ["a - 1", "hidden_size / 2", "hidden_size ** 2", "open(1)", "max(x=1)", "-1",
                                  "hidden_size if max_ctx else 0", "nope * 2", "1.5 * max_ctx"])
def test_size_expressions_outside_the_grammar_are_refused(expr):
    """Only what renders to the same C is accepted (C has no //, **, conditional or float here)."""
    with pytest.raises(ValueError):
        parse(expr)


def test_layout_invariants():
    layout = arena_layout(CONFIGS["odd"], 33, {"tl"})
    end = 0
    for name, offset, size, align in layout.rows():
        assert align in (16, 64) and ALIGNMENT[name] == align
        assert offset % align == 0 and offset >= end  # aligned, in order, no overlap
        end = offset + size
    assert layout.size_bytes % 64 == 0 and layout.size_bytes >= end
    assert arena_layout(CONFIGS["odd"], 33, set()).buffers["tl_lut"].size == 0
    # the KV cache dominates and scales with the context
    assert arena_layout(CONFIGS["bitnet-2b"], 4096, {"i2"}).buffers["key_cache"].size == 4 * 30 * 4096 * 640


def test_layout_refuses_bad_arguments():
    with pytest.raises(EdgekitError, match="unknown ternary format"):
        arena_layout(CONFIGS["tiny"], 8, {"q4"})
    with pytest.raises(EdgekitError, match="context length"):
        arena_layout(CONFIGS["tiny"], 0, {"i2"})


@pytest.mark.parametrize("ternary", ["i2", "tl"])
def test_firmware_needs_exactly_the_planned_arena(build, tmp_path, ternary):
    """The image's own arena need (ek_model_arena_size) is the planner's number, and it is enough: one byte less
    is refused with ARENA_TOO_SMALL."""
    config = tiny_config(tie_word_embeddings=False)
    image = tmp_path / "m.ekm"
    pack_model(random_model(config, seed=4), image, PackChoice(ternary))
    info = run_eval(build, "info", image).stdout
    need = int(next(line for line in info.split("\n") if line.startswith("arena_bytes")).split()[1])
    assert need == arena_layout(config, config.max_seq_len, {ternary}).size_bytes
    run_eval(build, "run", "--arena-bytes", need, "--tokens", "1,2,3", image)
    r = run_eval(build, "run", "--arena-bytes", need - 1, "--tokens", "1", image, check=False)
    assert r.stderr.startswith("error: ARENA_TOO_SMALL:")
