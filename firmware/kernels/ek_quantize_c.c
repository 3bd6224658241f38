/* ek_quantize_c.c — per-token activation quantisation (docs/design.md §2) and the tl kernel's pair-sum table. */
#include <math.h>

#include "ek_kernels.h"

float ek_quantize(const float *x, uint32_t n, int8_t *x_q)
{
    return EK_ISA_BODY(ek_quantize, EK_ISA_QUANTIZE)(x, n, x_q);
}

float ek_quantize_c(const float *x, uint32_t n, int8_t *x_q)
{
    float amax = 0.0f, s_x;
    size_t i, padded = EK_XQ_PAD(n);
    for (i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax)
            amax = a;
    }
    EK_KERNEL_RAN(EK_TRACE_QUANTIZE, "c");
    s_x = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    for (i = 0; i < n; i++)
        x_q[i] = ek_round_to_int8(x[i] * s_x); /* round half to even, like np.rint; never roundf */
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
