/* ek_head_q4i.c — entry point of the integer lm_head of format q4i; the body is the one ek_isa.h chose for the float
 * family (EK_ISA_FLOAT). Alone in its translation unit like ek_head_q8i.c, so a port can --wrap ek_head_q4i to split
 * rows over threads through ek_head_q4i_rows. */
#include "ek_kernels.h"

void ek_head_q4i_rows(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    /* chosen at run time where built (ek_isa.h); on VNNI CPUs too: VPDPBUSD would need a 32-bit multiply by the
     * block scales afterwards, where VPMADDWD applies them while widening (ek_head_q4i_avx512.c) */
    EK_ISA_X86_AVX512(ek_head_q4i, (w, x, y, r0, r1));
    EK_ISA_BODY(ek_head_q4i, EK_ISA_FLOAT)(w, x, y, r0, r1);
}

void ek_head_q4i(const ek_tensor *w, const ek_qvec *x, float *y)
{
    ek_head_q4i_rows(w, x, y, 0, w->rows);
}
