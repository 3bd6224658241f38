/* ek_float_matvec.c — one entry point for the float matvec (the lm_head) and dot (attention scores); the body is
 * the one ek_isa.h chose for it (EK_ISA_FLOAT_LANES). Every body follows the same summation order
 * (ek_float_matvec_c.c), so the logits are bit-identical whichever runs.
 *
 * Keep ek_float_matvec alone with its dispatcher in this translation unit: the POSIX port can link with
 * --wrap=ek_float_matvec to split rows over threads (through ek_float_matvec_rows), and --wrap only
 * redirects calls that cross object files. */
#include "ek_kernels.h"

void ek_float_matvec_rows(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_ISA_BODY(ek_float_matvec, EK_ISA_FLOAT_LANES)(w, x, y, r0, r1);
}

void ek_float_matvec(const ek_tensor *w, const float *x, float *y)
{
    ek_float_matvec_rows(w, x, y, 0, w->rows);
}

float ek_float_dot(const float *a, const float *b, size_t n)
{
    return EK_ISA_BODY(ek_float_dot, EK_ISA_FLOAT_LANES)(a, b, n);
}
