/* ek_ternary_matmul.c — several quantised inputs against one ternary matrix (a prefill chunk). Bodies that read
 * each weight once for all inputs where they exist (i2 on AVX2, NEON with or without dotprod, and Helium; t158 on
 * NEON and Helium); otherwise one ek_ternary_matvec per input, which the POSIX port still splits over its threads.
 *
 * Alone in its translation unit for the same reason as ek_ternary_matvec: the POSIX port wraps it. */
#include "ek_kernels.h"

/* the ternary families with a batched i2 body, ek_matmul_i2 + the family's suffix (ek_isa.h) */
#if EK_ISA_TERNARY == EK_ISA_AVX2 || EK_ISA_TERNARY == EK_ISA_NEON || EK_ISA_TERNARY == EK_ISA_DOTPROD ||         \
    EK_ISA_TERNARY == EK_ISA_MVE
#define EK_MATMUL_I2_BATCHED 1
#else
#define EK_MATMUL_I2_BATCHED 0
#endif
/* and with a batched t158 body, ek_matmul_t158 + the suffix */
#define EK_MATMUL_T158_BATCHED                                                                                    \
    (EK_ISA_TERNARY == EK_ISA_NEON || EK_ISA_TERNARY == EK_ISA_DOTPROD || EK_ISA_TERNARY == EK_ISA_MVE)

int ek_ternary_matmul_batched(uint32_t format)
{
    return (EK_MATMUL_I2_BATCHED && format == EK_FMT_I2) || (EK_MATMUL_T158_BATCHED && format == EK_FMT_T158);
}

void ek_ternary_matmul(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    uint32_t t;
#if EK_MATMUL_I2_BATCHED
    if (w->format == EK_FMT_I2) {
        EK_ISA_X86_TIERS(ek_matmul_i2, (w, x, n_x, acc, acc_stride)); /* chosen at run time where built */
        EK_ISA_BODY(ek_matmul_i2, EK_ISA_TERNARY)(w, x, n_x, acc, acc_stride);
        return;
    }
#endif
#if EK_MATMUL_T158_BATCHED
    if (w->format == EK_FMT_T158) {
        EK_ISA_BODY(ek_matmul_t158, EK_ISA_TERNARY)(w, x, n_x, acc, acc_stride);
        return;
    }
#endif
    /* test builds: the variant check tells a batched body from this loop, which runs the same matvec body */
    EK_KERNEL_RAN(EK_TRACE_MATMUL_PER_INPUT, "per-input");
    for (t = 0; t < n_x; t++)
        ek_ternary_matvec(w, &x[t], acc + (size_t)t * acc_stride);
}
