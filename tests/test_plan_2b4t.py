"""The planner on bitnet-b1.58-2B-4T's shape as released (tests/synthetic.py bitnet_2b_4t_config): a tied
embedding, so the image holds one 128256 x 2560 table that is both the embedding and the output head."""
from __future__ import annotations

import dataclasses

import pytest

from edgekit.boards import load_board
from edgekit.model import tensor_layout
from edgekit.pack.formats import FLOAT_FORMATS
from edgekit.plan.planner import plan_model
from synthetic import bitnet_2b_4t_config

RELEASED = bitnet_2b_4t_config()
UNTIED = dataclasses.replace(RELEASED, tie_word_embeddings=False)


def test_released_shape_is_tied_with_no_lm_head_tensor():
    assert RELEASED.tie_word_embeddings
    roles = [role for _, role, _, _, _ in tensor_layout(RELEASED)]
    assert "lm_head" not in roles and roles.count("tok_embeddings") == 1
    assert "lm_head" in [role for _, role, _, _, _ in tensor_layout(UNTIED)]
    ternary = sum(shape[0] * shape[1] for _, _, _, kind, shape in tensor_layout(RELEASED) if kind == "ternary")
    assert ternary == 30 * (2 * 2560 * 2560 + 2 * 640 * 2560 + 3 * 6912 * 2560)  # 2.08 G ternary weights


@pytest.mark.parametrize("embedding", sorted(FLOAT_FORMATS))
def test_the_tied_table_is_stored_once_and_read_whole_per_token(embedding):
    """Untied adds exactly one vocab x hidden head; tied reads the embedding table whole for the logits."""
    board = load_board("rpi5")
    tied = plan_model(RELEASED, board, embedding=embedding)
    untied = plan_model(UNTIED, board, embedding=embedding)
    assert tied.fits and tied.ctx == RELEASED.max_seq_len
    sections = {s.role: s for s in tied.sections}
    assert "lm_head" not in sections
    table = FLOAT_FORMATS[tied.choice.embedding].packed_size((RELEASED.vocab_size, RELEASED.hidden_size))
    assert sections["tok_embeddings"].size_bytes == table
    assert sections["tok_embeddings"].read_per_token_bytes == table  # the output head is this table
    head = next(s for s in untied.sections if s.role == "lm_head")
    assert head.size_bytes == FLOAT_FORMATS[untied.choice.lm_head].packed_size(
        (RELEASED.vocab_size, RELEASED.hidden_size))
    size = lambda plan: sum(p.size_bytes for p in plan.parts)  # noqa: E731
    assert 0 <= size(untied) - size(tied) - head.size_bytes < 4096  # the head, plus at most alignment


def test_released_shape_fits_a_pi5_and_no_microcontroller():
    assert plan_model(RELEASED, load_board("rpi5")).fits
    for mcu in ("teensy41", "stm32h747-disco", "qemu-mps3-an547"):
        plan = plan_model(RELEASED, load_board(mcu))
        assert not plan.fits and plan.shortfall_bytes > 500_000_000, mcu
