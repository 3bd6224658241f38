"""The planner: placements add up, parts match what the packer writes, shortfalls and suggestions are right."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgekit
from edgekit.boards import all_boards, load_board, load_board_file
from edgekit.cli import cli
from edgekit.pack.image import read_image
from edgekit.pack.packer import model_from_images, pack_model
from edgekit.plan.planner import IMAGE_ALIGN, plan_model
from synthetic import bitnet_2b_4t_config

FIXTURES = Path(__file__).parent / "fixtures"
TWO_B = bitnet_2b_4t_config(tie_word_embeddings=False)  # untied: a head of its own to place (tied: test_plan_2b4t)


@pytest.fixture(scope="module")
def fixture_model():
    return edgekit.load(FIXTURES / "bitlinear-tied-gqa1")


def _check_consistent(plan):
    for r in plan.regions:
        assert r.used_bytes + r.free_bytes == r.region.size_bytes
        assert r.free_bytes >= 0
    spans = []
    for p in plan.parts:
        region = plan.board.region(p.region)
        if plan.board.os == "none":
            assert p.address % IMAGE_ALIGN == 0
            assert region.base <= p.address and p.address + p.size_bytes <= region.end
            spans.append((p.address, p.address + p.size_bytes))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "image parts overlap"
    assert {s.name for s in plan.sections} == set(fixture_names(plan))


def fixture_names(plan):
    from edgekit.model import tensor_layout

    return [name for name, *_ in tensor_layout(plan.config)]


@pytest.mark.parametrize("board", [b.name for b in all_boards()])
def test_every_board_plans_the_fixture_consistently(board, fixture_model):
    plan = plan_model(fixture_model.config, load_board(board), ctx=64, suggest_boards=False)
    assert plan.fits, plan.problem
    _check_consistent(plan)


def test_planned_part_sizes_are_what_the_packer_writes(fixture_model, tmp_path):
    plan = plan_model(fixture_model.config, load_board("qemu-mps3-an547"))
    paths = pack_model(fixture_model, [tmp_path / p.file_name for p in plan.parts], plan.choice,
                       placement=plan.placement())
    for part, path in zip(plan.parts, paths):
        img = read_image(path)
        assert img.header.image_size == part.size_bytes
        assert [s.name for s in img.sections] == part.sections
        for s in img.sections:
            placed = next(x for x in plan.sections if x.name == s.name)
            assert (s.offset, s.size) == (placed.offset, placed.size_bytes)


def test_2b_fits_rpi5_and_not_teensy(tmp_path):
    rpi5 = plan_model(TWO_B, load_board("rpi5"))
    assert rpi5.fits and rpi5.ctx == 4096
    teensy = plan_model(TWO_B, load_board("teensy41"))
    assert not teensy.fits
    assert teensy.shortfall_bytes > 1_000_000_000  # a 2B model is GBs short of 16 MB PSRAM + 8 MB flash
    assert any("rpi5" in s for s in teensy.suggestions)


def test_shorter_context_is_suggested_and_works(fixture_model):
    board = load_board("qemu-netduinoplus2")
    plan = plan_model(fixture_model.config, board)
    assert not plan.fits and plan.shortfall_bytes > 0 and "arena" in plan.problem
    hint = next(s for s in plan.suggestions if "--ctx" in s)
    ctx = int(hint.split("--ctx ")[1].split()[0])
    assert plan_model(fixture_model.config, board, ctx=ctx).fits
    assert not plan_model(fixture_model.config, board, ctx=ctx + 16).fits


def test_formats_step_down_to_fit(fixture_model):
    board = load_board("qemu-netduinoplus2")
    cfg = fixture_model.config
    exact = plan_model(cfg, board, ctx=32)
    assert (exact.choice.ternary, exact.choice.embedding) == ("i2", "f32")
    forced = plan_model(cfg, board, ctx=32, ternary="t158", embedding="q8row")
    assert forced.image_bytes < exact.image_bytes


def test_model_split_across_regions_round_trips(fixture_model, tmp_path):
    """A board whose flash is too small for the whole image gets two parts; they load back as one model."""
    text = (Path(load_board("qemu-mps2-an386").source).read_text()
            .replace('name = "qemu-mps2-an386"', 'name = "split-test"')
            .replace("size_bytes = 4_194_304          # ZBT SSRAM1", "size_bytes = 360_448          # ZBT SSRAM1")
            .replace("size_bytes = 4_194_304          # ZBT SSRAM2&3", "size_bytes = 131_072          # ZBT SSRAM2&3")
            .replace("size_bytes = 16_777_216", "size_bytes = 98_304")
            .replace("arena_bytes = 4_194_304", "arena_bytes = 65_536"))
    path = tmp_path / "split-test.toml"
    path.write_text(text)
    board = load_board_file(path)
    plan = plan_model(fixture_model.config, board, ctx=32, suggest_boards=False)
    assert plan.fits and len(plan.parts) >= 2, plan.to_dict()
    _check_consistent(plan)
    paths = pack_model(fixture_model, [tmp_path / p.file_name for p in plan.parts], plan.choice,
                       placement=plan.placement())
    back = model_from_images(paths)
    ids = [3, 5, 7, 11]
    np.testing.assert_allclose(back.logits(ids), fixture_model.logits(ids), atol=1e-5)


def test_plan_cli_json_and_exit_status():
    runner = CliRunner()
    ok = runner.invoke(cli, ["plan", str(FIXTURES / "bitlinear-tied-gqa1"), "--board", "qemu-mps3-an547", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["fits"] and data["parts"] and data["regions"]
    bad = runner.invoke(cli, ["plan", str(FIXTURES / "bitlinear-tied-gqa1"), "--board", "qemu-netduinoplus2"])
    assert bad.exit_code == 2
    assert "short by" in bad.output and "--ctx" in bad.output
    unknown = runner.invoke(cli, ["plan", str(FIXTURES / "bitlinear-tied-gqa1"), "--board", "nope"])
    assert unknown.exit_code == 2 and "edgekit boards" in unknown.output


def test_fastest_placement_trades_persistence_for_bandwidth():
    """persistent keeps the bundled model in the M55 board's QSPI flash; fastest moves it to on-chip SRAM that
    QEMU's loader fills, and the bandwidth bound drops by the ratio of the two regions' read bandwidths."""
    model = edgekit.load("kjv-bitnet-5m")
    board = load_board("qemu-mps3-an547")
    persistent = plan_model(model.config, board)
    fastest = plan_model(model.config, board, placement="fastest")
    assert persistent.place == "persistent" and fastest.place == "fastest"
    for plan in (persistent, fastest):
        assert plan.fits
        _check_consistent(plan)
    region = {r.name: r for r in board.memory}
    assert [p.region for p in persistent.parts] == ["qspi"] and not region["qspi"].is_ram
    (part,) = fastest.parts
    assert region[part.region].is_ram and region[part.region].holds_images
    assert region[part.region].read_bw_bytes_per_s > region["qspi"].read_bw_bytes_per_s
    assert fastest.image_bytes == persistent.image_bytes
    assert fastest.est_ms_per_token() < persistent.est_ms_per_token() / 3
    assert fastest.to_dict()["place"] == "fastest"


def test_unknown_placement_is_refused(fixture_model):
    with pytest.raises(edgekit.EdgekitError, match="unknown placement 'nearest'"):
        plan_model(fixture_model.config, load_board("host"), placement="nearest")
    res = CliRunner().invoke(cli, ["plan", "--board", "qemu-mps3-an547", "--place", "fastest", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["place"] == "fastest"


def test_the_arena_never_starts_at_address_zero_on_a_bare_metal_board():
    """stm32h747-disco's ITCM starts at 0 and holds no code: an arena linked there would be a NULL pointer."""
    from edgekit.boards import load_board
    from synthetic import tiny_config

    board = load_board("stm32h747-disco")
    plan = plan_model(tiny_config(max_seq_len=64), board, ctx=64)
    assert plan.fits and board.region(plan.arena_region).base != 0


# --- float formats: the smallest lossless one, lossy only to fit, and said ------------------------------------------

def _with_float_values(model, convert, names=("tok_embeddings", "lm_head")):
    """The model with the values of tensors `names` passed through `convert` (float32 -> float32)."""
    from edgekit.model import FloatTensor

    tensors = dict(model.tensors)
    for name in names:
        if name in tensors:
            t = tensors[name]
            arr = convert(t.array())
            tensors[name] = FloatTensor(t.name, t.role, t.layer, t.shape, t.source_format, t.source_bytes,
                                        lambda a=arr: a)
    return type(model)(model.config, tensors, None, model.source, model.source_kind)


def _bf16(a):
    from edgekit.pack.formats import FLOAT_FORMATS

    return FLOAT_FORMATS["bf16"].unpack(FLOAT_FORMATS["bf16"].pack(a), a.shape)


def _f16(a):
    return a.astype(np.float16).astype(np.float32)


def _embedding_heavy(vocab):
    """An untied model whose embedding and head dominate the image (sizes chosen against qemu-netduinoplus2's
    1 MB flash: vocab 500 fits with 16-bit floats but not f32, vocab 1000 only with q8row)."""
    from synthetic import random_model, tiny_config

    cfg = tiny_config(vocab_size=vocab, hidden_size=256, intermediate_size=64, num_layers=1, max_seq_len=32,
                      tie_word_embeddings=False)
    return random_model(cfg, seed=4)


@pytest.mark.parametrize("convert,want", [(_bf16, "bf16"), (_f16, "f16"), (lambda a: a, "f32")],
                         ids=["bf16-checkpoint", "f16-checkpoint", "f32-checkpoint"])
def test_planner_picks_the_smallest_lossless_float_format(convert, want):
    model = _with_float_values(_embedding_heavy(200), convert)
    plan = plan_model(model, load_board("qemu-mps3-an547"), suggest_boards=False)
    assert plan.fits
    assert (plan.choice.embedding, plan.choice.lm_head) == (want, want)
    assert plan.lossless == {"tok_embeddings": want, "lm_head": want} and plan.lossy == []
    assert plan.to_dict()["lossy"] == []


def test_one_value_off_bf16_is_not_lossless_in_bf16():
    def almost_bf16(a):
        b = _bf16(a)
        b.flat[12345] = np.nextafter(b.flat[12345], np.float32(1))  # one value with a low mantissa bit
        return b

    model = _with_float_values(_with_float_values(_embedding_heavy(200), _bf16), almost_bf16, ["tok_embeddings"])
    plan = plan_model(model, load_board("qemu-mps3-an547"), suggest_boards=False)
    assert plan.choice.embedding == "f32" and plan.choice.lm_head == "bf16" and plan.lossy == []


def test_a_bf16_checkpoint_fits_where_f32_would_not_and_stays_lossless():
    board = load_board("qemu-netduinoplus2")
    model = _with_float_values(_embedding_heavy(500), _bf16)
    plan = plan_model(model, board, ctx=16, suggest_boards=False)
    assert plan.fits and plan.choice.embedding == "bf16" and plan.lossy == []
    # the same model with float32 values: lossless means f32, which does not fit, so the plan steps down and says so
    plain = plan_model(_embedding_heavy(500), board, ctx=16, suggest_boards=False)
    assert plain.fits and (plain.choice.embedding, plain.choice.lm_head) == ("f16", "f16")
    assert len(plain.lossy) == 2 and all("f32, the smallest lossless format, does not fit" in n for n in plain.lossy)


def test_falling_back_to_q8row_is_reported():
    plan = plan_model(_with_float_values(_embedding_heavy(1000), _bf16), load_board("qemu-netduinoplus2"), ctx=16,
                      suggest_boards=False)
    assert plan.fits and plan.choice.embedding == "q8row"
    assert plan.lossy == [f"{role} stored as q8row, which is lossy for this checkpoint: bf16, the smallest lossless "
                          "format, does not fit" for role in ("tok_embeddings", "lm_head")]
    forced = plan_model(_with_float_values(_embedding_heavy(200), _bf16), load_board("qemu-mps3-an547"),
                        embedding="q8row", suggest_boards=False)
    assert forced.lossy and all("asked for with --embedding (bf16 is lossless)" in n for n in forced.lossy)


def test_a_plan_from_a_config_alone_assumes_only_f32_is_exact(fixture_model):
    board = load_board("qemu-mps3-an547")
    plan = plan_model(fixture_model.config, board)
    assert plan.choice.embedding == "f32" and plan.lossy == [] and plan.lossless == {}
    forced = plan_model(fixture_model.config, board, embedding="bf16")
    assert forced.lossy == ["tok_embeddings stored as bf16: may be lossy, the values were not checked (planned "
                            "from the config alone)"]
    checked = plan_model(fixture_model, board)
    assert checked.lossless["tok_embeddings"] == checked.choice.embedding


def test_integer_heads_are_offered_never_chosen():
    """The lossy integer heads (q4i, q8i) appear as the fast choice beside a plan that fits, smallest first, with
    the bytes per token each saves; the plan itself keeps the exact formats, and an explicit choice gets no offer."""
    board = load_board("qemu-mps3-an547")
    model = _with_float_values(_embedding_heavy(200), _bf16)
    plan = plan_model(model, board, suggest_boards=False)
    assert plan.fits and plan.choice.embedding == "bf16"
    assert [line.split(":")[0] for line in plan.faster] == ["--embedding q4i", "--embedding q8i"]
    for line, fmt in zip(plan.faster, ("q4i", "q8i")):
        fast = plan_model(model, board, embedding=fmt, suggest_boards=False)
        assert f"{fast.read_per_token_bytes:,} bytes read per token instead of {plan.read_per_token_bytes:,}" in line
        assert fast.faster == []
    assert plan.to_dict()["faster"] == plan.faster
    # rows that are not whole 32-value blocks cannot be q4i: only q8i is offered
    from synthetic import random_model, tiny_config
    odd = random_model(tiny_config(vocab_size=200, hidden_size=48, num_heads=3, num_kv_heads=1, intermediate_size=64,
                                   num_layers=1, max_seq_len=32, tie_word_embeddings=False), seed=4)
    assert [line.split(":")[0] for line in plan_model(odd, board, suggest_boards=False).faster] == ["--embedding q8i"]


def test_bare_metal_plans_budget_prefill_scratch_where_a_batched_matmul_runs():
    """A fitting plan for a board whose kernels prefill in batches (Helium) grows its arena by the scratch of the
    largest chunk the region still holds, which the firmware hands the model; boards without such kernels (the
    M4's DSP), the tl format and hosted boards (which allocate their own) get none."""
    from edgekit.plan.arena import arena_layout, prefill_scratch_bytes
    from synthetic import random_model
    model = random_model()
    m55 = plan_model(model.config, load_board("qemu-mps3-an547"), suggest_boards=False)
    layout = arena_layout(model.config, m55.ctx, {m55.choice.ternary})
    assert m55.prefill_chunk == 32
    assert m55.prefill_scratch_bytes == prefill_scratch_bytes(layout, 32)
    assert m55.arena_bytes == layout.size_bytes + m55.prefill_scratch_bytes
    assert m55.to_dict()["prefill_chunk"] == 32
    _check_consistent(m55)
    for board, fmt in (("qemu-mps2-an386", None), ("qemu-mps3-an547", "tl"), ("host", None)):
        p = plan_model(model.config, load_board(board), ternary=fmt, suggest_boards=False)
        assert (p.prefill_chunk, p.prefill_scratch_bytes) == (1, 0), board
        assert p.arena_bytes == arena_layout(model.config, p.ctx, {p.choice.ternary}).size_bytes


def test_prefill_scratch_shrinks_to_what_the_region_has_left():
    """With the arena's region nearly full, the chunk halves until its scratch fits, and none is left at the end."""
    import dataclasses

    from edgekit.plan.arena import arena_layout, prefill_scratch_bytes
    from synthetic import random_model
    model = random_model()
    board = load_board("qemu-mps3-an547")
    full = plan_model(model.config, board, suggest_boards=False)
    layout = arena_layout(model.config, full.ctx, {full.choice.ternary})
    use = next(r for r in full.regions if r.region.name == full.arena_region)
    used_without_scratch = use.used_bytes - full.prefill_scratch_bytes
    for room, chunk in ((prefill_scratch_bytes(layout, 8) + 64, 8), (prefill_scratch_bytes(layout, 2), 2),
                        (prefill_scratch_bytes(layout, 2) - 64, 1)):
        memory = tuple(dataclasses.replace(r, size_bytes=used_without_scratch + room)
                       if r.name == full.arena_region else r for r in board.memory)
        p = plan_model(model.config, dataclasses.replace(board, memory=memory), suggest_boards=False)
        assert p.fits and p.arena_region == full.arena_region
        assert p.prefill_chunk == chunk and p.prefill_scratch_bytes == prefill_scratch_bytes(layout, chunk)
