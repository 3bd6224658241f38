/* ek_ternary_matvec.c — one entry point for every ternary format; the ISA body is chosen at build time
 * (EK_KERNEL_* macros from the board's features), the portable C body is the fallback.
 *
 * Keep this function alone in its translation unit: the POSIX port links with --wrap=ek_ternary_matvec to
 * split rows over threads, and --wrap only redirects calls that cross object files. */
#include "ek_kernels.h"

void ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    switch (w->format) {
    case EK_FMT_I2:
#if defined(EK_KERNEL_MVE)
        ek_matvec_i2_mve(w, x, acc);
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
        ek_matvec_i2_neon(w, x, acc);
#elif defined(EK_KERNEL_DSP)
        ek_matvec_i2_dsp(w, x, acc);
#elif defined(EK_KERNEL_AVX2)
        ek_matvec_i2_avx2(w, x, acc);
#else
        ek_matvec_i2_c(w, x, acc);
#endif
        break;
    case EK_FMT_T158:
#if defined(EK_KERNEL_MVE)
        ek_matvec_t158_mve(w, x, acc);
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
        ek_matvec_t158_neon(w, x, acc);
#elif defined(EK_KERNEL_DSP)
        ek_matvec_t158_dsp(w, x, acc);
#elif defined(EK_KERNEL_AVX2)
        ek_matvec_t158_avx2(w, x, acc);
#else
        ek_matvec_t158_c(w, x, acc);
#endif
        break;
    case EK_FMT_TL:
#if defined(EK_KERNEL_MVE)
        ek_matvec_tl_mve(w, x, acc);
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
        ek_matvec_tl_neon(w, x, acc);
#elif defined(EK_KERNEL_AVX2)
        ek_matvec_tl_avx2(w, x, acc);
#else
        ek_matvec_tl_c(w, x, acc);
#endif
        break;
    default: /* the image reader refuses other formats before any step runs */
        break;
    }
}
