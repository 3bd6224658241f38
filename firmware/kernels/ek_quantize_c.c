/* ek_quantize_c.c — per-token activation quantisation (DESIGN §2) and the tl kernel's pair-sum table. */
#include <math.h>

#include "ek_kernels.h"

#define EK_RINT_MAGIC 12582912.0f /* 1.5 * 2^23: float32 spacing is 1 from 2^23 up */

float ek_quantize(const float *x, uint32_t n, int8_t *x_q)
{
    float amax = 0.0f, s_x;
    size_t i, padded = EK_XQ_PAD(n);
    for (i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax)
            amax = a;
    }
    s_x = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    for (i = 0; i < n; i++) {
        /* Round half to even, like np.rint (never roundf). |x * s_x| <= 127 (+ one rounding), far below 2^22,
         * where adding and subtracting 1.5 * 2^23 in float32 rounds to an integer exactly as rintf does in
         * the default rounding mode; -ffp-contract=off keeps the two steps apart. Unlike lrintf (a library
         * call on newlib: 40 instructions per activation on a Cortex-M55, 14% of a token) it compiles to two
         * adds. NaN (a broken model) compares false both ways and lands on -128 on every target. */
        const float r = (x[i] * s_x + EK_RINT_MAGIC) - EK_RINT_MAGIC;
        x_q[i] = (int8_t)(r > 127.0f ? 127 : r >= -128.0f ? (int)r : -128);
    }
    for (; i < padded; i++) /* SIMD bodies read whole blocks; zero activations make padded weights inert */
        x_q[i] = 0;
    return s_x;
}

void ek_tl_build_lut(const int8_t *x_q, uint32_t n, int16_t *lut)
{
    uint32_t g, pairs = (n + 1u) / 2u;
    for (g = 0; g < pairs; g++) {
        const int16_t a = x_q[2u * g];
        const int16_t b = (2u * g + 1u < n) ? x_q[2u * g + 1u] : 0;
        int16_t *l = lut + 9u * g; /* index (w0+1)*3 + (w1+1) */
        l[0] = (int16_t)(-a - b);
        l[1] = (int16_t)(-a);
        l[2] = (int16_t)(-a + b);
        l[3] = (int16_t)(-b);
        l[4] = 0;
        l[5] = b;
        l[6] = (int16_t)(a - b);
        l[7] = a;
        l[8] = (int16_t)(a + b);
    }
}
