"""q4i, the 4-bit integer head format: its bytes by the definition in edgekit/pack/formats.py, its rounding
bound, the int32 bound, and the checks the packer and the reference apply (the kernels: tests/test_head_q4i.py)."""
import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.pack import formats as F

Q4I = F.FLOAT_FORMATS["q4i"]


def _block_codes(block: np.ndarray, d: np.float32, top: float) -> tuple[int, list[int], float]:
    """(s_b, codes, squared error) of one block whose largest value is put `top` code steps out."""
    m = max(abs(float(v)) for v in block)
    s = 0 if m == 0 else int(min(255, max(1, np.rint(np.float32(m) / (np.float32(top) * d)))))
    step = np.float32(d * np.float32(s))
    q = [0 if s == 0 else int(np.clip(np.rint(np.float32(v) / step), -8, 7)) for v in block]
    return s, q, sum((qi * float(step) - float(v)) ** 2 for qi, v in zip(q, block))


def _by_definition(row: np.ndarray) -> bytes:
    """One row packed by the format's text, value by value: each block the candidate with the least error."""
    cols = row.size
    amax = max(abs(float(v)) for v in row)
    d = np.float32(np.float32(amax) / np.float32(7 * 255)) if amax > 0 else np.float32(1.0)
    scales, codes = [], []
    for b in range(0, cols, 32):
        block = row[b:b + 32]
        tries = [_block_codes(block, d, top) for top in F.Q4I_STEP_CANDIDATES]
        s, q, _ = min(tries, key=lambda t: t[2])  # the first of equal errors, as the packer keeps
        scales.append(s)
        codes.extend(bytes((q[i] + 8) | ((q[i + 16] + 8) << 4) for i in range(16)))
    return np.float32(d).astype("<f4").tobytes() + bytes(scales) + bytes(codes)


def test_bytes_follow_the_definition():
    rng = np.random.default_rng(11)
    row = rng.standard_normal(96).astype(np.float32)
    row[32:64] *= np.float32(0.01)  # a block of small values keeps a small block scale
    row[64:96] = 0.0  # a zero block: scale 0
    row[5] = -4.0  # the row's largest value
    packed = Q4I.pack(row[None, :])
    assert packed == _by_definition(row)
    d = np.frombuffer(packed[:4], "<f4")[0]
    assert d == np.float32(4.0 / (7 * 255))
    assert packed[4] >= 255 * 7 // 8 and packed[5] < 5 and packed[6] == 0  # block scales: large, small, none
    assert packed[4 + 3 + 32:4 + 3 + 48] == bytes([0x88] * 16)  # the zero block: codes 8 (q = 0)


def test_column_order_within_a_block():
    row = np.zeros(32, np.float32)
    row[3] = 7.0  # low nibble of byte 3
    row[16 + 3] = -7.0  # high nibble of byte 3
    packed = Q4I.pack(row[None, :])
    codes = packed[4 + 1:]
    assert codes[3] == (7 + 8) | ((-7 + 8) << 4)
    assert all(c == 0x88 for i, c in enumerate(codes) if i != 3)
    assert np.allclose(Q4I.unpack(packed, (1, 32))[0], row, rtol=1e-6, atol=0)  # d = 7 / 1785 rounds


@pytest.mark.parametrize("seed", range(4))
def test_rounding_error_is_at_most_half_a_step_of_the_plain_choice(seed):
    """Putting each block's largest value at code 7 bounds every value's error by half that block's step; the
    packer's per-block choice among Q4I_STEP_CANDIDATES never has a larger squared error than that choice."""
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((40, 256)) * rng.uniform(1e-3, 10, (40, 1))).astype(np.float32)
    a[:, :32] *= np.float32(1e-3)  # blocks far below the row's largest: small block scales
    packed = Q4I.pack(a)
    d, e = F.q4i_parts(packed, a.shape)
    back = Q4I.unpack(packed, a.shape)
    assert np.array_equal(back, (e.astype(np.float32) * d[:, None]).astype(np.float32))
    blocks, got = a.reshape(40, 8, 32), back.reshape(40, 8, 32)
    for r in range(40):
        for b in range(8):
            s7, q7, err7 = _block_codes(blocks[r, b], d[r], 7.0)
            step7 = float(d[r]) * s7
            if s7 >= 8:  # the largest value maps inside -7.5..7.5: half a step
                assert max(abs(qi * step7 - float(v)) for qi, v in zip(q7, blocks[r, b])) <= step7 * (0.5 + 1e-6)
            assert float(np.sum((got[r, b].astype(np.float64) - blocks[r, b]) ** 2)) <= err7 * (1 + 1e-6) + 1e-30
    plain = np.mean([_block_codes(blocks[r, b], d[r], 7.0)[2] for r in range(40) for b in range(8)])
    assert np.mean(np.sum((got.astype(np.float64) - blocks) ** 2, axis=2)) < plain  # the search does help


def test_zero_rows_and_the_value_range():
    a = np.zeros((3, 64), np.float32)
    a[1, 7] = -1e-30  # one tiny value
    a[2] = np.linspace(-3e38, 3e38, 64, dtype=np.float32)  # near float32's largest
    packed = Q4I.pack(a)
    d, e = F.q4i_parts(packed, a.shape)
    assert d[0] == 1.0 and not e[0].any()
    assert e[1, 7] == -7 * 255 and np.count_nonzero(e[1]) == 1
    back = Q4I.unpack(packed, a.shape)
    assert np.all(np.isfinite(back))
    assert np.max(np.abs(back[2] - a[2])) <= 3e38 / 14 * 1.01
    assert e.min() >= -8 * 255 and e.max() <= 7 * 255


def test_int32_bound_holds_at_the_limit():
    worst_block = F.Q4I_BLOCK * 8 * 128 * 255  # |q| <= 8, |x_q| <= 128, s_b <= 255
    assert F.Q4I_MAX_COLS // F.Q4I_BLOCK * worst_block < 2 ** 31
    assert 2 * F.Q4I_MAX_COLS // F.Q4I_BLOCK * worst_block >= 2 ** 31  # the largest power of two that fits
    assert F.INTEGER_HEAD_MAX_COLS["q4i"] == F.Q4I_MAX_COLS


def test_rows_must_be_whole_blocks():
    with pytest.raises(EdgekitError, match="whole 32-value blocks"):
        Q4I.pack(np.ones((2, 40), np.float32))


def test_packer_refuses_a_model_whose_rows_are_not_whole_blocks(tmp_path):
    from edgekit.pack.packer import PackChoice, section_payloads
    from tests.synthetic import random_model, tiny_config
    model = random_model(tiny_config(hidden_size=48, num_heads=3, num_kv_heads=1))
    with pytest.raises(EdgekitError, match="whole 32-value blocks") as err:
        section_payloads(model, PackChoice(ternary="i2", embedding="q4i", lm_head="q4i"))
    assert "q8i" in err.value.fix


def test_reference_reads_the_stored_integers(tmp_path):
    """The reference multiplies the image's own block scales and codes, as the device does, not a re-pack of the
    decoded floats (which can move a block scale: q4i's packer is not idempotent)."""
    from edgekit.pack.packer import PackChoice, model_from_images, pack_model
    from edgekit.reference.engine import ReferenceEngine
    from tests.synthetic import random_model
    model = random_model()
    out = tmp_path / "m.ekm"
    pack_model(model, out, PackChoice(ternary="i2", embedding="q4i", lm_head="q4i"))
    img_model = model_from_images(out)
    stored = img_model.tensors["tok_embeddings"].stored()
    engine = ReferenceEngine(img_model)
    d, e = F.q4i_parts(stored, img_model.tensors["tok_embeddings"].shape)
    assert np.array_equal(engine.integer_head[0], d) and np.array_equal(engine.integer_head[1], e)
    logits = engine.logits([1, 2, 3])
    assert logits.shape == (3, model.config.vocab_size) and np.all(np.isfinite(logits))


def test_planner_never_chooses_an_integer_head_on_its_own():
    from edgekit.plan.planner import FORMAT_PREFERENCE, LOSSY_STEPS
    for fmt in F.INTEGER_HEAD_MAX_COLS:
        assert fmt not in LOSSY_STEPS
        assert all(emb != fmt for _, emb in FORMAT_PREFERENCE)
