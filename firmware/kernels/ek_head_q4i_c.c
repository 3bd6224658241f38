/* ek_head_q4i_c.c — the q4i integer lm_head, portable body (the reference every ISA body matches bit for bit):
 *   acc[r] = sum_b s_b * sum_{i in block b} q_i * x_q[i]   exact in int32: |a block's sum| <= 32 * 8 * 128, times
 *            s_b <= 255, over cols / 32 <= EK_Q4I_MAX_COLS / 32 blocks stays below 2^31 (and so does every partial
 *            sum), so any summation order gives the same integer
 *   y[r]   = ek_q8i_logit(acc[r], d[r], s_x)             q8i's rounding
 * The row walk (four rows per call of the body's sums) is shared by every body. */
#include "ek_kernels.h"

void ek_head_q4i_with(ek_head_q4i_sums_fn sums, int quarters, const ek_tensor *w, const ek_qvec *x, float *y,
                      uint32_t r0, uint32_t r1)
{
    const size_t row_bytes = EK_Q4I_ROW_BYTES(w->cols);
    const uint8_t *rows = w->data + 4u * (size_t)w->rows;
    int32_t sum[4];
    uint32_t r = r0;
    if (quarters) {
        const size_t quarter = (r1 - r0) / 4u;
        size_t i;
        unsigned k;
        for (i = 0; i < quarter; i++) {
            sums(rows + (r0 + i) * row_bytes, quarter * row_bytes, x->q, w->cols, 4u, sum);
            for (k = 0; k < 4u; k++)
                ek_head_int_logits(w, x, y, (uint32_t)(r0 + i + k * quarter), &sum[k], 1u);
        }
        r = r0 + 4u * (uint32_t)quarter;
    }
    while (r < r1) {
        const unsigned n = r1 - r >= 4u ? 4u : 1u;
        sums(rows + (size_t)r * row_bytes, row_bytes, x->q, w->cols, n, sum);
        ek_head_int_logits(w, x, y, r, sum, n);
        r += n;
    }
}

static int32_t row_sum_c(const uint8_t *row, const int8_t *x_q, size_t cols)
{
    const size_t blocks = cols / EK_Q4I_BLOCK;
    const uint8_t *codes = row + blocks;
    int32_t sum = 0;
    size_t b;
    unsigned i;
    for (b = 0; b < blocks; b++) {
        const uint8_t *c = codes + b * (EK_Q4I_BLOCK / 2);
        const int8_t *xb = x_q + b * EK_Q4I_BLOCK;
        int32_t block = 0;
        for (i = 0; i < EK_Q4I_BLOCK / 2; i++)
            block += ((int32_t)(c[i] & 15u) - 8) * xb[i] + ((int32_t)(c[i] >> 4) - 8) * xb[i + EK_Q4I_BLOCK / 2];
        sum += (int32_t)row[b] * block;
    }
    return sum;
}

static void sums_c(const uint8_t *rows, size_t stride, const int8_t *x_q, size_t cols, unsigned n, int32_t sum[4])
{
    unsigned k;
    for (k = 0; k < n; k++)
        sum[k] = row_sum_c(rows + k * stride, x_q, cols);
}

void ek_head_q4i_c(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_KERNEL_RAN(EK_FMT_Q4I, "c");
    ek_head_q4i_with(sums_c, 0, w, x, y, r0, r1);
}
