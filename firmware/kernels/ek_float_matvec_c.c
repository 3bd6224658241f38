/* ek_float_matvec_c.c — float lm_head: y = W x with W in f32, f16 or q8row, read in place.
 * Each weight is decoded to float32 exactly as ek_float_row does, then multiplied and added in column
 * order (float32 accumulation), so the result matches "dequantise, then matmul" up to summation order. */
#include <string.h>

#include "ek_kernels.h"

void ek_float_matvec(const ek_tensor *w, const float *x, float *y)
{
    const size_t rows = w->rows, cols = w->cols;
    size_t r, c;
    switch (w->format) {
    case EK_FMT_F32: {
        const float *row = (const float *)(const void *)w->data; /* (rows, cols), 4-byte aligned section */
        for (r = 0; r < rows; r++, row += cols) {
            float sum = 0.0f;
            for (c = 0; c < cols; c++)
                sum += row[c] * x[c];
            y[r] = sum;
        }
        break;
    }
    case EK_FMT_F16: {
        const uint8_t *p = w->data; /* (rows, cols) halves */
        for (r = 0; r < rows; r++, p += 2u * cols) {
            float sum = 0.0f;
            for (c = 0; c < cols; c++)
                sum += ek_half_to_float((uint16_t)(p[2u * c] | (p[2u * c + 1u] << 8))) * x[c];
            y[r] = sum;
        }
        break;
    }
    case EK_FMT_Q8ROW: {
        const int8_t *q = (const int8_t *)(w->data + 4u * rows); /* (rows, cols) after the (rows) scales */
        for (r = 0; r < rows; r++, q += cols) {
            float scale, sum = 0.0f;
            memcpy(&scale, w->data + 4u * r, sizeof scale);
            for (c = 0; c < cols; c++)
                sum += ((float)q[c] * scale) * x[c];
            y[r] = sum;
        }
        break;
    }
    default:
        for (r = 0; r < rows; r++)
            y[r] = 0.0f;
        break;
    }
}
