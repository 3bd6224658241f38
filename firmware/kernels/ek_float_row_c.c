/* ek_float_row_c.c — decode float tensors (f32, f16, bf16, q8row, q8i, q4i) to float32: embedding rows and norm
 * weights. Payloads are little-endian and read in place; q8row and q4i keep all fp32 row scales before the rows. */
#include <string.h>

#include "ek_kernels.h"

float ek_half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    uint32_t bits;
    float f;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float32 */
        f = (float)mant * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7F800000u | (mant << 13); /* inf / nan */
    else
        bits = sign | ((exp + 112u) << 23) | (mant << 13); /* rebias 15 -> 127 */
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float load_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, sizeof f); /* little-endian target (checked in ek_formats.c) */
    return f;
}

void ek_float_row(const ek_tensor *t, uint32_t row, float *out)
{
    const size_t cols = t->cols;
    size_t i;
    switch (t->format) {
    case EK_FMT_F32:
        memcpy(out, t->data + 4u * cols * row, 4u * cols);
        break;
    case EK_FMT_F16: {
        const uint8_t *p = t->data + 2u * cols * row;
        for (i = 0; i < cols; i++)
            out[i] = ek_half_to_float(ek_load_u16le(p + 2u * i));
        break;
    }
    case EK_FMT_BF16: {
        const uint8_t *p = t->data + 2u * cols * row;
        for (i = 0; i < cols; i++)
            out[i] = ek_bf16_to_float(ek_load_u16le(p + 2u * i));
        break;
    }
    case EK_FMT_Q8ROW:
    case EK_FMT_Q8I: { /* the same bytes */
        const float scale = load_f32(t->data + 4u * row);
        const int8_t *q = (const int8_t *)(t->data + 4u * (size_t)t->rows + cols * row);
        for (i = 0; i < cols; i++)
            out[i] = (float)q[i] * scale;
        break;
    }
    case EK_FMT_Q4I: { /* d[row] * (float)(s_b * q): the int product is exact, then one float32 rounding */
        const size_t blocks = cols / EK_Q4I_BLOCK;
        const float d = load_f32(t->data + 4u * row);
        const uint8_t *p = t->data + 4u * (size_t)t->rows + EK_Q4I_ROW_BYTES(cols) * row;
        const uint8_t *codes = p + blocks;
        size_t b;
        for (b = 0; b < blocks; b++) {
            const int32_t s = p[b];
            const uint8_t *c = codes + b * (EK_Q4I_BLOCK / 2);
            float *o = out + b * EK_Q4I_BLOCK;
            for (i = 0; i < EK_Q4I_BLOCK / 2; i++) {
                o[i] = d * (float)(s * ((int32_t)(c[i] & 15u) - 8));
                o[i + EK_Q4I_BLOCK / 2] = d * (float)(s * ((int32_t)(c[i] >> 4) - 8));
            }
        }
        for (i = blocks * EK_Q4I_BLOCK; i < cols; i++) /* no such columns: ek_model_open refuses them */
            out[i] = 0.0f;
        break;
    }
    default:
        for (i = 0; i < cols; i++)
            out[i] = 0.0f;
        break;
    }
}

float ek_float_at(const ek_tensor *t, uint32_t i)
{
    switch (t->format) {
    case EK_FMT_F32:
        return load_f32(t->data + 4u * (size_t)i);
    case EK_FMT_F16:
        return ek_half_to_float(ek_load_u16le(t->data + 2u * (size_t)i));
    case EK_FMT_BF16:
        return ek_bf16_to_float(ek_load_u16le(t->data + 2u * (size_t)i));
    case EK_FMT_Q8ROW: /* a vector is (rows, 1): one scale per element */
    case EK_FMT_Q8I:
        return (float)((const int8_t *)t->data)[4u * (size_t)t->rows + i] * load_f32(t->data + 4u * (size_t)i);
    default:
        return 0.0f;
    }
}
