/* ek_head_q8i.c — entry point of the integer lm_head (format q8i); the body is the one ek_isa.h chose for the
 * float family (EK_ISA_FLOAT). Alone in its translation unit like ek_float_matvec.c, so a port can --wrap
 * ek_head_q8i to split rows over threads through ek_head_q8i_rows. */
#include "ek_kernels.h"

void ek_head_q8i_rows(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_ISA_X86_TIERS(ek_head_q8i, (w, x, y, r0, r1)); /* chosen at run time where built (ek_isa.h) */
    EK_ISA_BODY(ek_head_q8i, EK_ISA_FLOAT)(w, x, y, r0, r1);
}

void ek_head_q8i(const ek_tensor *w, const ek_qvec *x, float *y)
{
    ek_head_q8i_rows(w, x, y, 0, w->rows);
}
