/* ek_head_q8i_c.c — the integer lm_head, portable body (the reference every ISA body matches bit for bit):
 *   acc[r] = sum_c q[r,c] * x_q[c]   int8 x int8 in int32: exact, since |acc| <= 127 * 128 * cols < 2^31 for
 *                                    cols <= EK_Q8I_MAX_COLS, so any summation order gives the same integer
 *   y[r]   = ek_q8i_logit(acc[r], scale[r], s_x) = ((float)acc * scale[r]) / s_x
 * The layout is q8row's: all rows' float32 scales first, then the int8 rows. */
#include <string.h>

#include "ek_kernels.h"

void ek_head_q8i_with(ek_q8i_dot_fn dot, const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    const size_t cols = w->cols;
    const int8_t *q = (const int8_t *)(w->data + 4u * (size_t)w->rows);
    uint32_t r;
    for (r = r0; r < r1; r++) {
        float scale;
        memcpy(&scale, w->data + 4u * (size_t)r, sizeof scale);
        y[r] = ek_q8i_logit(dot(q + (size_t)r * cols, x->q, cols), scale, x->scale);
    }
}

void ek_head_int_logits(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r, const int32_t *sum, unsigned n)
{
    unsigned k;
    for (k = 0; k < n; k++) {
        float scale;
        memcpy(&scale, w->data + 4u * ((size_t)r + k), sizeof scale);
        y[r + k] = ek_q8i_logit(sum[k], scale, x->scale);
    }
}

void ek_head_q8i_finish4(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r, int32_t sum[4], size_t whole)
{
    const size_t cols = w->cols;
    const int8_t *wr = (const int8_t *)(w->data + 4u * (size_t)w->rows) + (size_t)r * cols;
    unsigned k;
    size_t c;
    for (k = 0; k < 4u; k++) {
        const int8_t *row = wr + k * cols;
        for (c = whole; c < cols; c++)
            sum[k] += (int32_t)row[c] * (int32_t)x->q[c];
    }
    ek_head_int_logits(w, x, y, r, sum, 4u);
}

static int32_t dot_s8_c(const int8_t *w, const int8_t *x_q, size_t n)
{
    int32_t sum = 0;
    size_t i;
    for (i = 0; i < n; i++)
        sum += (int32_t)w[i] * (int32_t)x_q[i];
    return sum;
}

void ek_head_q8i_c(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_KERNEL_RAN(EK_FMT_Q8I, "c");
    ek_head_q8i_with(dot_s8_c, w, x, y, r0, r1);
}
