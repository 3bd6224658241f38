/* ek_ternary_matmul.c — several quantised inputs against one ternary matrix (a prefill chunk). Bodies that read
 * each weight once for all inputs where they exist (i2 on AVX2); otherwise one ek_ternary_matvec per input, which
 * the POSIX port still splits over its threads.
 *
 * Alone in its translation unit for the same reason as ek_ternary_matvec: the POSIX port wraps it. */
#include "ek_kernels.h"

int ek_ternary_matmul_batched(uint32_t format)
{
    return EK_ISA_TERNARY == EK_ISA_AVX2 && format == EK_FMT_I2;
}

void ek_ternary_matmul(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    uint32_t t;
#if EK_ISA_TERNARY == EK_ISA_AVX2
    if (w->format == EK_FMT_I2) {
        ek_matmul_i2_avx2(w, x, n_x, acc, acc_stride);
        return;
    }
#endif
    for (t = 0; t < n_x; t++)
        ek_ternary_matvec(w, &x[t], acc + (size_t)t * acc_stride);
}
