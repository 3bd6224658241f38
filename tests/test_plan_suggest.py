"""`plan` advice is computed: the longest context that fits (exactly), and the boards that fit, fastest first."""
import json

import pytest
from click.testing import CliRunner

from edgekit.boards import all_boards, load_board
from edgekit.cli import cli
from edgekit.pack.packer import PackChoice
from edgekit.plan.planner import FORMAT_PREFERENCE, plan_fixed, plan_model
from edgekit.plan.suggest import longest_fitting_ctx, suggest
from synthetic import tiny_config

# A long-context model: its KV cache at full context needs far more RAM than a Cortex-M55 board has, while
# its weights fit easily, so only a shorter context (or a bigger board) helps.
LONG = tiny_config(max_seq_len=1 << 16, num_layers=4, hidden_size=128, num_heads=4, num_kv_heads=4, head_dim=32)
BOARD = "qemu-mps3-an547"
ALL = [PackChoice(t, e, e) for t, e in FORMAT_PREFERENCE]


def _fits(config, board, ctx, choices=ALL):
    return any(plan_fixed(config, board, ctx, c).fits for c in choices)


def test_the_suggested_context_is_the_longest_that_fits():
    board = load_board(BOARD)
    assert not plan_model(LONG, board, suggest_boards=False).fits
    advice = suggest(LONG, board)
    assert 1 <= advice.ctx < LONG.max_seq_len
    assert plan_fixed(LONG, board, advice.ctx, advice.ctx_formats).fits
    assert not _fits(LONG, board, advice.ctx + 1)  # one more position fits with no format at all
    assert f"--ctx {advice.ctx} is the longest that fits" in " ".join(advice.lines())


def test_longest_fitting_ctx_is_exact_not_rounded():
    board = load_board(BOARD)
    choice = ALL[0]
    n = longest_fitting_ctx(LONG, board, choice, LONG.max_seq_len)
    assert plan_fixed(LONG, board, n, choice).fits and not plan_fixed(LONG, board, n + 1, choice).fits
    assert longest_fitting_ctx(LONG, board, choice, n - 7) == n - 7  # below the limit: the upper bound itself


def test_boards_are_every_board_that_fits_fastest_first():
    board = load_board(BOARD)
    advice = suggest(LONG, board)
    expected = {b.name for b in all_boards() if b.name != BOARD and plan_model(LONG, b, suggest_boards=False).fits}
    assert {f.board.name for f in advice.boards} == expected and expected
    speeds = [f.plan.est_ms_per_token() for f in advice.boards]
    assert speeds == sorted(speeds)
    # not alphabetical for its own sake: this model's fastest board is not the first name in the list
    assert [f.board.name for f in advice.boards] != sorted(expected)


def test_pinned_formats_get_the_formats_that_fit():
    board = load_board("qemu-mps2-an386")
    bundled = tiny_config(vocab_size=32000, hidden_size=256, intermediate_size=768, num_layers=6, num_heads=4,
                          num_kv_heads=4, head_dim=64, max_seq_len=256)
    if plan_fixed(bundled, board, 256, PackChoice("i2", "f32", "f32")).fits:
        pytest.skip("the pinned formats fit this board")
    advice = suggest(bundled, board, ternary="i2", embedding="f32")
    assert advice.formats is not None and plan_fixed(bundled, board, 256, advice.formats).fits


def test_cli_plan_prints_and_returns_the_computed_advice(tmp_path):
    from synthetic import random_model

    from edgekit.pack.packer import pack_model

    image = tmp_path / "long.ekm"
    pack_model(random_model(LONG), image)
    res = CliRunner().invoke(cli, ["plan", str(image), "--board", BOARD, "--json"])
    assert res.exit_code == 2
    d = json.loads(res.output[:res.output.rindex("}") + 1])
    advice = suggest(LONG, load_board(BOARD))
    assert d["alternatives"]["longest_ctx"]["ctx"] == advice.ctx
    assert [b["board"] for b in d["alternatives"]["boards"]] == [f.board.name for f in advice.boards]
    assert d["suggestions"] == advice.lines()
    assert f"--ctx {advice.ctx}" in res.output.splitlines()[-1]  # the error line carries the fix
