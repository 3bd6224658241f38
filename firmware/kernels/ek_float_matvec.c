/* ek_float_matvec.c — one entry point for the float matvec (the lm_head); the ISA body is chosen at build
 * time (EK_KERNEL_* macros from the board's features), the portable C body is the fallback. Every body
 * follows the same summation order (ek_float_matvec_c.c), so the logits are bit-identical whichever runs.
 *
 * Keep ek_float_matvec alone with its dispatcher in this translation unit: the POSIX port can link with
 * --wrap=ek_float_matvec to split rows over threads (through ek_float_matvec_rows), and --wrap only
 * redirects calls that cross object files. */
#include "ek_kernels.h"

void ek_float_matvec_rows(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
#if defined(EK_KERNEL_MVE)
    ek_float_matvec_mve(w, x, y, r0, r1);
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
    ek_float_matvec_neon(w, x, y, r0, r1);
#elif defined(EK_KERNEL_AVX2)
    ek_float_matvec_avx2(w, x, y, r0, r1);
#else
    ek_float_matvec_c(w, x, y, r0, r1);
#endif
}

void ek_float_matvec(const ek_tensor *w, const float *x, float *y)
{
    ek_float_matvec_rows(w, x, y, 0, w->rows);
}

float ek_float_dot(const float *a, const float *b, size_t n)
{
#if defined(EK_KERNEL_MVE)
    return ek_float_dot_mve(a, b, n);
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
    return ek_float_dot_neon(a, b, n);
#elif defined(EK_KERNEL_AVX2)
    return ek_float_dot_avx2(a, b, n);
#else
    return ek_float_dot_c(a, b, n);
#endif
}

const char *ek_float_matvec_variant(void)
{
#if defined(EK_KERNEL_MVE)
    return "mve";
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
    return "neon";
#elif defined(EK_KERNEL_AVX2)
    return "avx2";
#else
    return "c";
#endif
}
