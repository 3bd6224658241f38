/* ek_ternary_matvec.c — one entry point for every ternary format; the body per format is the one ek_isa.h chose
 * for this build (the portable C body where no ISA body applies).
 *
 * Keep this function alone in its translation unit: the POSIX port links with --wrap=ek_ternary_matvec to
 * split rows over threads, and --wrap only redirects calls that cross object files. */
#include "ek_kernels.h"

void ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    switch (w->format) {
    case EK_FMT_I2:
        EK_ISA_X86_TIERS(ek_matvec_i2, (w, x, acc)); /* chosen at run time where built (ek_isa.h) */
        EK_ISA_BODY(ek_matvec_i2, EK_ISA_TERNARY)(w, x, acc);
        break;
    case EK_FMT_T158:
        EK_ISA_BODY(ek_matvec_t158, EK_ISA_TERNARY)(w, x, acc);
        break;
    case EK_FMT_TL:
        EK_ISA_BODY(ek_matvec_tl, EK_ISA_TL)(w, x, acc);
        break;
    default: /* the image reader refuses other formats before any step runs */
        break;
    }
}
