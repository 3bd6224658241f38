"""The C side of the q4i integer lm_head (4-bit codes, a uint8 scale per 32 values, a float32 scale per row).

Checks: every kernel body (portable C on the host, AVX2, NEON with and without the dot product under qemu-aarch64,
Helium under qemu-system-arm, portable C on the Cortex-M4) gives, bit for bit, the portable body's logits and the
ones numpy computes from the stored integers (edgekit.pack.formats.q4i_parts), on packed and on raw random heads,
odd row and block counts, row ranges and rows at the int32 bound (every code -8 or 7, every block scale 255,
EK_Q4I_MAX_COLS columns); the C row decode (a tied q4i embedding) equals the Python one bit for bit; the C runtime
with a q4i head (tied and untied) matches the reference engine and refuses a q4i tensor whose rows are not whole
blocks; the POSIX port's row split over threads gives the logits of one thread.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgekit
from cpu_features import has_cpu_feature, require_tool
from edgekit.pack.formats import FLOAT_FORMATS, Q4I_BLOCK, Q4I_MAX_COLS, q4i_parts
from edgekit.pack.packer import PackChoice, pack_model
from edgekit.reference.engine import quantize_activations
from head_bodies import body_tests, check_harness_output, harness_sources, numpy_head_logits
from helpers import build_firmware, c_logits, forced_split_logits, run_eval
from kernel_builds import KERNELS, compile_c
from synthetic import random_model, tiny_config
from test_head_q8i import HARNESS_C as Q8I_HARNESS_C
from test_head_q8i import cases_c

Q4I = FLOAT_FORMATS["q4i"]
# The q8i harness, run on q4i's entry points: per case the portable body's y, then the chosen ISA body, the
# dispatcher and a row range compared with it (the case layout is the format's bytes, whatever the format).
HARNESS_C = Q8I_HARNESS_C.replace("q8i", "q4i").replace("Q8I", "Q4I")
# rows x cols: one block, odd block counts (the AVX2 body's 128-bit last block), row counts around its 4-row passes,
# the 2B-4T width, the int32 bound
SHAPES = [(1, 32), (3, 64), (5, 96), (2, 160), (7, 256), (17, 352), (4, 2560), (6, 4128), (3, Q4I_MAX_COLS)]


def test_harness_is_the_q4i_one():
    assert "ek_head_q4i_c(&w, &x, y_ref" in HARNESS_C and "EK_FMT_Q4I" in HARNESS_C and "q8i" not in HARNESS_C


def raw_head(rng, rows: int, cols: int) -> bytes:
    """Random stored bytes: any row scale, block scale (0 and 255 included) and code."""
    blocks = cols // Q4I_BLOCK
    d = (rng.standard_normal(rows) * 10.0 ** rng.uniform(-4, 1, rows)).astype("<f4")
    s = rng.integers(0, 256, (rows, blocks), dtype=np.uint8)
    s[:, 0] = 255
    s[:, -1] = 0 if blocks > 1 else s[:, -1]
    codes = rng.integers(0, 256, (rows, blocks * Q4I_BLOCK // 2), dtype=np.uint8)
    return d.tobytes() + np.concatenate([s, codes], axis=1).tobytes()


def extreme_head(cols: int) -> bytes:
    """Five rows at the bounds: every code -8, every code 7, alternating, zero blocks between -8 blocks, and a
    row of random codes; every block scale 255 (0 for the zero blocks)."""
    blocks = cols // Q4I_BLOCK
    half = Q4I_BLOCK // 2
    s = np.full((5, blocks), 255, np.uint8)
    s[3, ::2] = 0
    codes = np.zeros((5, blocks * half), np.uint8)  # n = 0: q = -8 in both nibbles
    codes[1] = 0xFF  # q = 7
    codes[2] = 0x0F  # q = 7 (low nibble), -8 (high)
    codes[4] = np.random.default_rng(9).integers(0, 256, blocks * half, dtype=np.uint8)
    d = np.array([1.0e-9, 3.0e-3, 0.5, -2.0, 7.0], "<f4")
    return d.tobytes() + np.concatenate([s, codes], axis=1).tobytes()


def make_cases(seed: int = 0):
    """[(rows, cols, packed q4i bytes, x_q int8, s_x)]: heads packed from floats (a zero row, a zero block), raw
    random bytes, and the extreme rows against x_q all -128 and all 127."""
    rng = np.random.default_rng(seed)
    cases = []
    for rows, cols in SHAPES:
        x = (rng.standard_normal((1, cols)) * 2.0).astype(np.float32)
        x_q, s_x = quantize_activations(x)
        x_q, s_x = x_q[0].astype(np.int8), np.float32(s_x[0, 0])
        w = (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 3.0, (rows, 1))
             * 4.0 ** rng.integers(-3, 3, (rows, cols // Q4I_BLOCK)).repeat(Q4I_BLOCK, axis=1)).astype(np.float32)
        if rows > 2:
            w[1] = 0.0
            w[2, :Q4I_BLOCK] = 0.0
        cases.append((rows, cols, Q4I.pack(w), x_q, s_x))
        cases.append((rows, cols, raw_head(rng, rows, cols), x_q, s_x))
    for value in (-128, 127):
        cases.append((5, Q4I_MAX_COLS, extreme_head(Q4I_MAX_COLS), np.full(Q4I_MAX_COLS, value, np.int8),
                      np.float32(1.5)))
    return cases


def numpy_logits(case) -> np.ndarray:
    rows, cols, packed, x_q, s_x = case
    return numpy_head_logits(*q4i_parts(packed, (rows, cols)), x_q, s_x)


def test_cases_reach_the_int32_bound():
    accs = [np.abs(q4i_parts(p, (r, c))[1].astype(np.int64) @ x.astype(np.int64)).max()
            for r, c, p, x, _ in make_cases()]
    assert max(accs) == Q4I_MAX_COLS * 8 * 128 * 255 == 2_139_095_040  # every code -8, x_q -128, s_b 255


def sources(tmp_path: Path, cases) -> list[Path]:
    return harness_sources(tmp_path, HARNESS_C, cases_c(cases), 'ek_head_q[48]i*.c')


def parse(out: str, cases, want_bodies: set[str]) -> None:
    check_harness_output(out, cases, want_bodies, 'q4i', numpy_logits)


globals().update(body_tests('q4i', make_cases, sources, parse))  # portable, AVX2, NEON, Helium, M4


# --- the row decode (a tied q4i embedding) --------------------------------------------------------------------

DECODE_C = r"""
/* q4i row decode check (generated by tests/test_head_q4i.py): argv[1] = rows, argv[2] = cols, stdin = the packed
 * tensor; stdout = every row as ek_float_row decodes it, float32 little-endian. */
#include <stdio.h>
#include <stdlib.h>

#include "ek_kernels.h"

int main(int argc, char **argv)
{
    static uint8_t data[1u << 20];
    static float row[EK_Q4I_MAX_COLS];
    ek_tensor t;
    uint32_t r;
    if (argc != 3)
        return 2;
    t.rows = (uint32_t)atol(argv[1]);
    t.cols = (uint32_t)atol(argv[2]);
    t.format = EK_FMT_Q4I;
    t.scale = 0.0f;
    t.data = data;
    if (fread(data, 1, sizeof data, stdin) != ek_format_packed_size(EK_FMT_Q4I, t.rows, t.cols))
        return 3;
    for (r = 0; r < t.rows; r++) {
        ek_float_row(&t, r, row);
        fwrite(row, 4, t.cols, stdout);
    }
    return 0;
}
"""


def test_row_decode_equals_python(tmp_path):
    (tmp_path / "decode.c").write_text(DECODE_C)
    exe = compile_c("gcc", (), [tmp_path / "decode.c", KERNELS / "ek_float_row_c.c", KERNELS / "ek_formats.c"],
                    tmp_path / "decode")
    rng = np.random.default_rng(4)
    heads = [(rows, cols, raw_head(rng, rows, cols)) for rows, cols in ((3, 32), (5, 96), (2, Q4I_MAX_COLS))]
    heads.append((5, Q4I_MAX_COLS, extreme_head(Q4I_MAX_COLS)))
    heads.append((4, 256, Q4I.pack(rng.standard_normal((4, 256)).astype(np.float32))))
    for rows, cols, packed in heads:
        r = subprocess.run([str(exe), str(rows), str(cols)], input=packed, capture_output=True, timeout=60,
                           check=False)
        assert r.returncode == 0, r.stderr
        assert r.stdout == Q4I.unpack(packed, (rows, cols)).astype("<f4").tobytes(), f"{rows}x{cols}"


# --- the runtime ------------------------------------------------------------------------------------------------

LOGIT_ATOL = 2e-3  # as tests/test_head_q8i.py: float noise, or one int8 rounding flip (docs/design.md §2)

ODD = {
    "untied-h96": tiny_config(vocab_size=83, hidden_size=96, intermediate_size=100, num_heads=4, num_kv_heads=2,
                              head_dim=24, tie_word_embeddings=False, max_seq_len=32),
    "tied-h160": tiny_config(vocab_size=67, hidden_size=160, intermediate_size=250, num_heads=2, num_kv_heads=1,
                             head_dim=80, num_layers=1, max_seq_len=32),
}


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    return build_firmware(tmp_path_factory)


@pytest.mark.parametrize("name", sorted(ODD))
def test_runtime_q4i_head_matches_reference(build, tmp_path, name):
    config = ODD[name]
    image = tmp_path / "m.ekm"
    pack_model(random_model(config, seed=11), image,
               PackChoice("i2", "f32" if name.startswith("untied") else "q4i", "q4i"))
    ids = list(np.random.default_rng(5).integers(0, config.vocab_size, size=12))
    ref_model = edgekit.load(image)
    assert ref_model.tensors["tok_embeddings" if config.tie_word_embeddings else "lm_head"].source_format == "ekm:q4i"
    ref = ref_model.logits(ids)
    c = c_logits(build, [image], ids, tmp_path).reshape(ref.shape)
    assert np.abs(c - ref).max() <= LOGIT_ATOL * max(1.0, float(np.abs(ref).max()))
    assert (c.argmax(-1) == ref.argmax(-1)).all()


def test_runtime_refuses_q4i_rows_that_are_not_whole_blocks(build, tmp_path):
    """A head whose rows are not whole blocks (the packer never writes one; the format table's tail geometry would
    size it) is refused when the model is opened, not read past its blocks."""
    from test_c_runtime import entry, section_count, set_entry

    config = tiny_config(vocab_size=83, hidden_size=72, intermediate_size=100, num_heads=4, num_kv_heads=2,
                         head_dim=18, tie_word_embeddings=False, max_seq_len=32)
    image = tmp_path / "m.ekm"
    pack_model(random_model(config, seed=3), image, PackChoice("i2", "f32", "q8row"))
    data = bytearray(image.read_bytes())
    head = section_count(data) - 1
    assert (entry(data, head, "rows"), entry(data, head, "cols")) == (config.vocab_size, 72)
    size = Q4I.packed_size((config.vocab_size, 72))  # two blocks and a 17-byte tail per row
    assert size < entry(data, head, "size")
    bad = tmp_path / "bad.ekm"
    bad.write_bytes(bytes(set_entry(data, head, format=Q4I.code, size=size)))
    r = run_eval(build, "run", "--no-verify-crc", "--tokens", "1,2", bad, check=False)
    assert r.returncode == 2 and r.stderr.startswith("error: IMAGE_FORMAT:"), r.stderr


def test_row_split_over_threads_gives_identical_logits(tmp_path_factory, tmp_path):
    """The POSIX port's --wrap=ek_head_q4i with every split forced on (thresholds 1): 1, 2 and 3 threads give the
    same logits, a q4i head's row scales coming before all rows (a split cannot be a sub-tensor). With the AVX2
    body where the CPU has it, as the host board builds it (four-row passes, a prefetch past each range's end)."""
    if sys.platform == "darwin":
        pytest.skip("needs a linker with --wrap")
    require_tool("cmake")
    kernels = "c;avx2" if has_cpu_feature("avx2") else "c"
    model = edgekit.load("kjv-bitnet-5m")
    image = tmp_path / "m.ekm"
    pack_model(model, image, PackChoice("i2", "q4i", "q4i"))
    ids = model.encode("Jesus wept. And")
    results = forced_split_logits(tmp_path_factory.mktemp("posix-split-q4i"), image, ids, f"-DEK_KERNELS={kernels}")
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    # and they are the q4i head's logits: near the reference's (six layers of float noise flip a few int8
    # activations of the head's input; the odd shapes above are the tight comparison), the same tokens
    ref = edgekit.load(image).logits(ids)
    c = results[0].reshape(ref.shape)
    assert np.abs(c - ref).max() <= 0.01 * float(np.abs(ref).max())
    assert (c.argmax(-1) == ref.argmax(-1)).all()
