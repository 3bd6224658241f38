"""The AVX2 i2 bodies (matvec and the batched prefill matmul) against the portable body and numpy's exact integer
product, on shapes whose rows span several int16 groups of blocks (the AVX2 bodies widen their int16 sums once per
8 blocks) and on the worst case for those sums: code 3 everywhere (the largest code a byte can hold) against x_q
-128 or 127, over whole groups and a partial tail group."""
import subprocess

import numpy as np

from cpu_features import require_cpu_feature
from kernel_builds import KERNELS, compile_c

# Reads ROWS COLS N_X W XQ, writes per input: ek_matvec_i2_c, ek_matvec_i2_avx2, then ek_matmul_i2_avx2 (all inputs).
HARNESS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "ek_kernels.h"

static void *slurp(const char *path, size_t n)
{
    void *buf = malloc(n);
    FILE *f = fopen(path, "rb");
    if (!buf || !f || fread(buf, 1, n, f) != n)
        exit(3);
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    uint32_t rows, cols, n_x, t;
    size_t pad;
    ek_tensor w;
    ek_qvec *x;
    int8_t *xq;
    int32_t *acc;
    FILE *out;
    if (argc != 7)
        return 2;
    rows = (uint32_t)atol(argv[1]), cols = (uint32_t)atol(argv[2]), n_x = (uint32_t)atol(argv[3]);
    pad = EK_XQ_PAD(cols);
    w.rows = rows, w.cols = cols, w.format = EK_FMT_I2, w.scale = 1.0f;
    w.data = slurp(argv[4], (size_t)ek_format_packed_size(EK_FMT_I2, rows, cols));
    xq = slurp(argv[5], pad * n_x);
    x = calloc(n_x, sizeof *x);
    acc = calloc((size_t)rows * n_x, sizeof *acc);
    out = fopen(argv[6], "wb");
    if (!x || !acc || !out)
        return 3;
    for (t = 0; t < n_x; t++)
        x[t].q = xq + t * pad, x[t].n = cols, x[t].scale = 1.0f;
    for (t = 0; t < n_x; t++) {
        ek_matvec_i2_c(&w, &x[t], acc);
        fwrite(acc, sizeof *acc, rows, out);
        ek_matvec_i2_avx2(&w, &x[t], acc);
        fwrite(acc, sizeof *acc, rows, out);
    }
    ek_matmul_i2_avx2(&w, x, n_x, acc, rows);
    fwrite(acc, sizeof *acc, (size_t)rows * n_x, out);
    return fclose(out) != 0;
}
"""

# rows, cols, inputs: 9, 17, 20 (2B-4T hidden) and 54 (2B-4T ffn) blocks per row; input counts around the
# matmul's pass of four
SHAPES = [(3, 1025, 1), (5, 2049, 3), (17, 2560, 5), (33, 6912, 4), (2, 8 * 128, 9)]


def _pack_i2(codes: np.ndarray) -> np.ndarray:
    """codes (rows, cols) in 0..3 -> i2 bytes: per 128-weight block, byte j holds weights j, j+32, j+64, j+96."""
    rows, cols = codes.shape
    blocks = -(-cols // 128)
    padded = np.full((rows, blocks * 128), 1, np.uint8)  # code 1 = weight 0
    padded[:, :cols] = codes
    q = padded.reshape(rows, blocks, 4, 32).astype(np.uint8)
    return ((q[:, :, 0] << 6) | (q[:, :, 1] << 4) | (q[:, :, 2] << 2) | q[:, :, 3]).reshape(-1)


def _cases():
    rng = np.random.default_rng(11)
    for rows, cols, n_x in SHAPES:
        codes = rng.integers(0, 3, size=(rows, cols), dtype=np.uint8)
        x = rng.integers(-128, 128, size=(n_x, cols), dtype=np.int8)
        yield f"{rows}x{cols}x{n_x}", codes, x
    for cols in (8 * 128, 9 * 128 + 5, 6912):
        for value in (-128, 127):
            yield f"code3 x={value} cols={cols}", np.full((3, cols), 3, np.uint8), np.full((5, cols), value, np.int8)


def test_avx2_i2_groups_and_extremes_equal_portable(tmp_path):
    require_cpu_feature("avx2")
    src = tmp_path / "i2_check.c"
    src.write_text(HARNESS_C)
    exe = compile_c("gcc", ("-mavx2", "-DEK_KERNEL_AVX2"),
                    [src, KERNELS / "ek_matvec_i2_c.c", KERNELS / "ek_matvec_i2_avx2.c", KERNELS / "ek_formats.c"],
                    tmp_path / "i2_check")
    for name, codes, x in _cases():
        rows, cols = codes.shape
        n_x = x.shape[0]
        pad = -(-cols // 128) * 128
        xq = np.zeros((n_x, pad), np.int8)
        xq[:, :cols] = x
        _pack_i2(codes).tofile(tmp_path / "w.bin")
        xq.tofile(tmp_path / "x.bin")
        subprocess.run([str(exe), str(rows), str(cols), str(n_x), str(tmp_path / "w.bin"), str(tmp_path / "x.bin"),
                        str(tmp_path / "acc.bin")], check=True, timeout=60)
        got = np.fromfile(tmp_path / "acc.bin", dtype="<i4")
        per_input = got[: 2 * n_x * rows].reshape(n_x, 2, rows)
        matmul = got[2 * n_x * rows:].reshape(n_x, rows)
        want = x.astype(np.int32) @ (codes.astype(np.int32) - 1).T  # (n_x, rows)
        assert np.array_equal(per_input[:, 0], want), f"{name}: portable body"
        assert np.array_equal(per_input[:, 1], want), f"{name}: AVX2 matvec"
        assert np.array_equal(matmul, want), f"{name}: AVX2 matmul"
