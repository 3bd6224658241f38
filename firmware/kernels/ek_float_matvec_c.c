/* ek_float_matvec_c.c — portable float matvec (the reference every ISA body must match bit for bit):
 * y[r] = sum_c W[r,c] * x[c] for W in f32, f16 or q8row, read in place.
 *
 * The summation order is fixed (EK_FLOAT_LANES in ek_kernels.h) so that SIMD bodies can follow it exactly:
 *   1. 16 lane sums: lane j adds W[r,c] * x[c] for c = 16b + j over the whole blocks b, in block order
 *      (each product rounded to float32, then added: no fused multiply-add anywhere).
 *   2. a fixed tree: s8[j] = lane[j] + lane[j+8]; s4[j] = s8[j] + s8[j+4]; s2[j] = s4[j] + s4[j+2];
 *      sum = s2[0] + s2[1].
 *   3. the tail columns (cols % 16) added to sum one by one in column order.
 * f16 weights are decoded exactly (ek_half_to_float); q8row rows multiply their scale once at the end:
 * y[r] = scale[r] * sum_c (float)q[r,c] * x[c], so the products are the exact int8 values times x.
 * Plain loops over a lane array: compilers may vectorise them without changing a single rounding. */
#include <string.h>

#include "ek_kernels.h"

/* sum of lane[0..15] in the fixed tree order */
static float reduce_lanes(const float lane[EK_FLOAT_LANES])
{
    float s8[8], s4[4], s2[2];
    int j;
    for (j = 0; j < 8; j++)
        s8[j] = lane[j] + lane[j + 8];
    for (j = 0; j < 4; j++)
        s4[j] = s8[j] + s8[j + 4];
    for (j = 0; j < 2; j++)
        s2[j] = s4[j] + s4[j + 2];
    return s2[0] + s2[1];
}

static float dot_f32(const float *w, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    float lane[EK_FLOAT_LANES] = {0.0f}, sum;
    size_t c;
    int j;
    for (c = 0; c < whole; c += EK_FLOAT_LANES)
        for (j = 0; j < EK_FLOAT_LANES; j++)
            lane[j] += w[c + j] * x[c + j];
    sum = reduce_lanes(lane);
    for (c = whole; c < cols; c++)
        sum += w[c] * x[c];
    return sum;
}

static float half_at(const uint8_t *p, size_t i)
{
    return ek_half_to_float((uint16_t)(p[2u * i] | (p[2u * i + 1u] << 8)));
}

static float dot_f16(const uint8_t *w, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    float lane[EK_FLOAT_LANES] = {0.0f}, sum;
    size_t c;
    int j;
    for (c = 0; c < whole; c += EK_FLOAT_LANES)
        for (j = 0; j < EK_FLOAT_LANES; j++)
            lane[j] += half_at(w, c + (size_t)j) * x[c + j];
    sum = reduce_lanes(lane);
    for (c = whole; c < cols; c++)
        sum += half_at(w, c) * x[c];
    return sum;
}

static float dot_q8(const int8_t *q, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    float lane[EK_FLOAT_LANES] = {0.0f}, sum;
    size_t c;
    int j;
    for (c = 0; c < whole; c += EK_FLOAT_LANES)
        for (j = 0; j < EK_FLOAT_LANES; j++)
            lane[j] += (float)q[c + j] * x[c + j];
    sum = reduce_lanes(lane);
    for (c = whole; c < cols; c++)
        sum += (float)q[c] * x[c];
    return sum;
}

void ek_float_matvec_c(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    const size_t rows = w->rows, cols = w->cols;
    size_t r;
    switch (w->format) {
    case EK_FMT_F32: {
        const float *m = (const float *)(const void *)w->data; /* (rows, cols), 4-byte aligned section */
        for (r = r0; r < r1; r++)
            y[r] = dot_f32(m + r * cols, x, cols);
        break;
    }
    case EK_FMT_F16: /* (rows, cols) little-endian halves */
        for (r = r0; r < r1; r++)
            y[r] = dot_f16(w->data + 2u * r * cols, x, cols);
        break;
    case EK_FMT_Q8ROW: { /* (rows) float32 scales, then (rows, cols) int8 */
        const int8_t *q = (const int8_t *)(w->data + 4u * rows);
        for (r = r0; r < r1; r++) {
            float scale;
            memcpy(&scale, w->data + 4u * r, sizeof scale);
            y[r] = scale * dot_q8(q + r * cols, x, cols);
        }
        break;
    }
    default: /* the image reader refuses other formats for the lm_head */
        for (r = r0; r < r1; r++)
            y[r] = 0.0f;
        break;
    }
}
