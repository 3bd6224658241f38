/* ek_float_matvec_c.c — portable float matvec (the reference every ISA body must match bit for bit):
 * y[r] = sum_c W[r,c] * x[c] for W in f32, f16, bf16 or q8row, read in place.
 *
 * The summation order is fixed (EK_FLOAT_LANES in ek_kernels.h) so that SIMD bodies can follow it exactly:
 *   1. 16 lane sums: lane j adds W[r,c] * x[c] for c = 16b + j over the whole blocks b, in block order
 *      (each product rounded to float32, then added: no fused multiply-add anywhere).
 *   2. a fixed tree: s8[j] = lane[j] + lane[j+8]; s4[j] = s8[j] + s8[j+4]; s2[j] = s4[j] + s4[j+2];
 *      sum = s2[0] + s2[1].
 *   3. the tail columns (cols % 16) added to sum one by one in column order.
 * f16 weights are decoded exactly (ek_half_to_float), bf16 by a 16-bit shift (ek_bf16_to_float); q8row rows
 * multiply their scale once at the end: y[r] = scale[r] * sum_c (float)q[r,c] * x[c], so the products are the
 * exact int8 values times x.
 * Plain C: a compiler may vectorise the 16 independent lane sums without changing a single rounding. */
#include <string.h>

#include "ek_kernels.h"

/* The 16 lane sums are 16 scalar locals, not an array: cores without vectors (Cortex-M4/M7 run this body)
 * then keep them in FPU registers instead of loading and storing a lane per product. EK_LANE_STEPS adds
 * block c into them; W(i) is the decoded weight of column c + i. */
#define EK_LANE_SUMS float l0 = 0, l1 = 0, l2 = 0, l3 = 0, l4 = 0, l5 = 0, l6 = 0, l7 = 0, l8 = 0, l9 = 0, \
                          l10 = 0, l11 = 0, l12 = 0, l13 = 0, l14 = 0, l15 = 0
#define EK_LANE_STEPS(W)                                                                                        \
    do {                                                                                                        \
        l0 += W(0) * x[c];            l1 += W(1) * x[c + 1];        l2 += W(2) * x[c + 2];                       \
        l3 += W(3) * x[c + 3];        l4 += W(4) * x[c + 4];        l5 += W(5) * x[c + 5];                       \
        l6 += W(6) * x[c + 6];        l7 += W(7) * x[c + 7];        l8 += W(8) * x[c + 8];                       \
        l9 += W(9) * x[c + 9];        l10 += W(10) * x[c + 10];     l11 += W(11) * x[c + 11];                    \
        l12 += W(12) * x[c + 12];     l13 += W(13) * x[c + 13];     l14 += W(14) * x[c + 14];                    \
        l15 += W(15) * x[c + 15];                                                                               \
    } while (0)
/* the fixed tree: s8[j] = l[j] + l[j+8]; s4[j] = s8[j] + s8[j+4]; s2[j] = s4[j] + s4[j+2]; s2[0] + s2[1] */
#define EK_LANE_TREE                                                                                            \
    ((((l0 + l8) + (l4 + l12)) + ((l2 + l10) + (l6 + l14))) + (((l1 + l9) + (l5 + l13)) + ((l3 + l11) + (l7 + l15))))

/* Defines `static float NAME(const TYPE *w, const float *x, size_t cols)`, one row dotted with x in the fixed
 * order; AT(i) is the decoded weight of column c + i. */
#define EK_ROW_DOT(NAME, TYPE, AT)                                                                              \
    static float NAME(const TYPE *w, const float *x, size_t cols)                                               \
    {                                                                                                           \
        const size_t whole = cols - cols % EK_FLOAT_LANES;                                                      \
        EK_LANE_SUMS;                                                                                           \
        float sum;                                                                                              \
        size_t c;                                                                                               \
        for (c = 0; c < whole; c += EK_FLOAT_LANES)                                                             \
            EK_LANE_STEPS(AT);                                                                                  \
        sum = EK_LANE_TREE;                                                                                     \
        for (c = whole; c < cols; c++)                                                                          \
            sum += AT(0) * x[c];                                                                                \
        return sum;                                                                                             \
    }

#define EK_F32_AT(i) w[c + (i)]
#define EK_F16_AT(i) ek_half_to_float(ek_load_u16le(w + 2u * (c + (i))))
#define EK_BF16_AT(i) ek_bf16_to_float(ek_load_u16le(w + 2u * (c + (i))))
#define EK_Q8_AT(i) (float)w[c + (i)]
EK_ROW_DOT(dot_f32, float, EK_F32_AT)
EK_ROW_DOT(dot_f16, uint8_t, EK_F16_AT)   /* little-endian halves */
EK_ROW_DOT(dot_bf16, uint8_t, EK_BF16_AT) /* little-endian bfloat16 */
EK_ROW_DOT(dot_q8, int8_t, EK_Q8_AT)      /* unscaled int8 row */

void ek_float_matvec_with(const ek_float_row_dots *dots, const ek_tensor *w, const float *x, float *y,
                          uint32_t r0, uint32_t r1)
{
    const size_t rows = w->rows, cols = w->cols;
    size_t r;
    switch (w->format) {
    case EK_FMT_F32: {
        const float *m = (const float *)(const void *)w->data; /* (rows, cols), 4-byte aligned section */
        for (r = r0; r < r1; r++)
            y[r] = dots->f32(m + r * cols, x, cols);
        break;
    }
    case EK_FMT_F16: /* (rows, cols) little-endian halves */
        for (r = r0; r < r1; r++)
            y[r] = dots->f16(w->data + 2u * r * cols, x, cols);
        break;
    case EK_FMT_BF16: /* (rows, cols) little-endian bfloat16 */
        for (r = r0; r < r1; r++)
            y[r] = dots->bf16(w->data + 2u * r * cols, x, cols);
        break;
    case EK_FMT_Q8ROW: { /* (rows) float32 scales, then (rows, cols) int8 */
        const int8_t *q = (const int8_t *)(w->data + 4u * rows);
        for (r = r0; r < r1; r++) {
            float scale;
            memcpy(&scale, w->data + 4u * r, sizeof scale);
            y[r] = scale * dots->q8(q + r * cols, x, cols);
        }
        break;
    }
    default: /* the image reader refuses other formats for the lm_head */
        for (r = r0; r < r1; r++)
            y[r] = 0.0f;
        break;
    }
}

void ek_float_matvec_with4(const ek_float_row_dots *one, const ek_float_row4_dots *four, const ek_tensor *w,
                           const float *x, float *y, uint32_t r0, uint32_t r1)
{
    /* Rows a quarter apart, not adjacent: four short rows side by side (a 2.5 KiB q8row row) are four streams inside
     * a few KiB, which the hardware prefetcher follows badly; four quarters are four long sequential reads (the
     * 2B-4T bf16 head from DRAM on Zen 2: 37.6 ms with adjacent rows, 27.1 ms with quarters). */
    const size_t rows = w->rows, cols = w->cols, q = (r1 - r0) / 4u;
    size_t i;
    unsigned k;
    if (w->format != EK_FMT_F32 && w->format != EK_FMT_F16 && w->format != EK_FMT_BF16 && w->format != EK_FMT_Q8ROW) {
        ek_float_matvec_with(one, w, x, y, r0, r1); /* the image reader refuses other formats for the lm_head */
        return;
    }
    for (i = 0; i < q; i++) {
        const size_t r = r0 + i;
        float out[4];
        if (w->format == EK_FMT_F32) {
            four->f32((const float *)(const void *)w->data + r * cols, q * cols, x, cols, out);
        } else if (w->format == EK_FMT_F16) {
            four->f16(w->data + 2u * r * cols, 2u * q * cols, x, cols, out);
        } else if (w->format == EK_FMT_BF16) {
            four->bf16(w->data + 2u * r * cols, 2u * q * cols, x, cols, out);
        } else { /* q8row: ek_float_matvec_with's product, operands in its order */
            four->q8((const int8_t *)(w->data + 4u * rows) + r * cols, q * cols, x, cols, out);
            for (k = 0; k < 4u; k++) {
                float scale;
                memcpy(&scale, w->data + 4u * (r + k * q), sizeof scale);
                out[k] = scale * out[k];
            }
        }
        for (k = 0; k < 4u; k++)
            y[r + k * q] = out[k];
    }
    ek_float_matvec_with(one, w, x, y, r0 + 4u * (uint32_t)q, r1); /* the last (r1 - r0) % 4 rows */
}

float ek_float_dot_c(const float *a, const float *b, size_t n)
{
    EK_KERNEL_RAN(EK_TRACE_FLOAT_DOT, "c");
    return dot_f32(a, b, n);
}

static const ek_float_row_dots portable_dots = {dot_f32, dot_f16, dot_bf16, dot_q8};

void ek_float_matvec_c(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_KERNEL_RAN(w->format, "c");
    ek_float_matvec_with(&portable_dots, w, x, y, r0, r1);
}
