/* ek_float_matvec_dsp.c — the float matvec (lm_head) and dot (attention scores) for Cortex-M DSP cores with a
 * single-precision FPU (M4 FPv4, M7 FPv5): no vectors, so the 16 lane sums of the fixed order
 * (ek_float_matvec_c.c) live in s0..s15. One block of 16 columns is two rounds of VLDM (8 weights, 8 x) and 8
 * VMLA.F32: 20 instructions for 16 products, where the compiled portable body spends ~4 per product on single
 * loads. VMLA.F32 of these FPUs is the chained multiply-accumulate, product rounded to float32 and then added
 * (only VFMA is fused), so each lane sees exactly the portable body's `lane += w * x`, addend first; the tree and
 * the tail columns are the portable body's C. f32 is the planner's default head; f16, bf16 and q8row rows go
 * through the portable row dots (ek_float_matvec_c), which this body names as its own for them.
 */
#include "ek_kernels.h"

#if EK_ISA_FLOAT_LANES == EK_ISA_DSP
/* +0.0 in every lane: the portable sums start at +0.0, and 0 + (-0) is +0, so the first product cannot replace
 * the start value. One VLDM. */
static const float lane_zeros[EK_FLOAT_LANES] __attribute__((aligned(8)));

static float dot_f32_dsp(const float *w, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    register float l0 __asm__("s0"), l1 __asm__("s1"), l2 __asm__("s2"), l3 __asm__("s3");
    register float l4 __asm__("s4"), l5 __asm__("s5"), l6 __asm__("s6"), l7 __asm__("s7");
    register float l8 __asm__("s8"), l9 __asm__("s9"), l10 __asm__("s10"), l11 __asm__("s11");
    register float l12 __asm__("s12"), l13 __asm__("s13"), l14 __asm__("s14"), l15 __asm__("s15");
    const float *wp = w, *xp = x;
    float sum;
    size_t c;
    __asm__ volatile(
        "vldmia %[z], {s0-s15}\n\t"
        "cmp %[wp], %[wend]\n\t"
        "beq 2f\n"
        "1:\n\t"
        "vldmia %[wp]!, {s16-s23}\n\t"
        "vldmia %[xp]!, {s24-s31}\n\t"
        "vmla.f32 s0, s16, s24\n\tvmla.f32 s1, s17, s25\n\tvmla.f32 s2, s18, s26\n\tvmla.f32 s3, s19, s27\n\t"
        "vmla.f32 s4, s20, s28\n\tvmla.f32 s5, s21, s29\n\tvmla.f32 s6, s22, s30\n\tvmla.f32 s7, s23, s31\n\t"
        "vldmia %[wp]!, {s16-s23}\n\t"
        "vldmia %[xp]!, {s24-s31}\n\t"
        "vmla.f32 s8, s16, s24\n\tvmla.f32 s9, s17, s25\n\tvmla.f32 s10, s18, s26\n\tvmla.f32 s11, s19, s27\n\t"
        "vmla.f32 s12, s20, s28\n\tvmla.f32 s13, s21, s29\n\tvmla.f32 s14, s22, s30\n\tvmla.f32 s15, s23, s31\n\t"
        "cmp %[wp], %[wend]\n\t"
        "bne 1b\n"
        "2:"
        : "=t"(l0), "=t"(l1), "=t"(l2), "=t"(l3), "=t"(l4), "=t"(l5), "=t"(l6), "=t"(l7), "=t"(l8), "=t"(l9),
          "=t"(l10), "=t"(l11), "=t"(l12), "=t"(l13), "=t"(l14), "=t"(l15), [wp] "+r"(wp), [xp] "+r"(xp)
        : [z] "r"(lane_zeros), [wend] "r"(w + whole)
        : "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30",
          "s31", "cc", "memory");
    /* the fixed tree of ek_float_matvec_c.c, then the tail in column order */
    sum = (((l0 + l8) + (l4 + l12)) + ((l2 + l10) + (l6 + l14))) +
          (((l1 + l9) + (l5 + l13)) + ((l3 + l11) + (l7 + l15)));
    for (c = whole; c < cols; c++)
        sum += w[c] * x[c];
    return sum;
}

float ek_float_dot_dsp(const float *a, const float *b, size_t n)
{
    EK_KERNEL_RAN(EK_TRACE_FLOAT_DOT, "dsp");
    return dot_f32_dsp(a, b, n);
}

void ek_float_matvec_dsp(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    if (w->format == EK_FMT_F32) {
        const float *m = (const float *)(const void *)w->data; /* (rows, cols), 4-byte aligned section */
        const size_t cols = w->cols;
        uint32_t r;
        for (r = r0; r < r1; r++)
            y[r] = dot_f32_dsp(m + r * cols, x, cols);
    } else {
        ek_float_matvec_c(w, x, y, r0, r1);
    }
    EK_KERNEL_RAN(w->format, "dsp");
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_float_matvec_dsp_not_built;
#endif
