/* ek_float_matvec_neon.c — float matvec for AArch64 NEON (EK_KERNEL_NEON / EK_KERNEL_DOTPROD). y equals
 * ek_float_matvec_c's bit for bit: the 16 lane sums are four 4-lane registers (lanes 0..3, 4..7, 8..11,
 * 12..15), each product is a separate FMUL then FADD (vmulq then vaddq; GCC lowers them to plain vector
 * arithmetic, so it is the build's -ffp-contract=off that keeps them from fusing into FMLA), and the
 * reduction tree and the tail follow the portable order exactly (see ek_float_matvec_c.c). f16 -> f32 with
 * FCVTL is exact (every half is a float32; AArch64 Linux runs with FPCR.FZ16 clear, so subnormal halves too).
 */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_NEON
#include <string.h>

#include <arm_neon.h>

#include "ek_float_lanes4.h"

/* lane sums a0 (lanes 0..3), a1 (4..7), a2 (8..11), a3 (12..15) -> one float, in the portable tree order */
static inline float reduce_lanes(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3)
{
    const float32x4_t s4 = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3)); /* s8[j] + s8[j+4] */
    const float32x2_t s2 = vadd_f32(vget_low_f32(s4), vget_high_f32(s4));   /* j + (j+2) */
    return vget_lane_f32(s2, 0) + vget_lane_f32(s2, 1);
}

static inline float32x4_t halves_to_float(const uint8_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)p)));
}

/* 4 bfloat16 -> 4 floats: USHLL #16 shifts each into the top of a float32 lane (exact) */
static inline float32x4_t bf16_to_float(const uint8_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)(const void *)p), 16));
}

#define EK_F16_LOAD4(c) halves_to_float(w + 2u * (c))
#define EK_BF16_LOAD4(c) bf16_to_float(w + 2u * (c))
EK_ROW_DOT4(dot_f32, float, EK_F32_LOAD4, EK_F32_AT)
EK_ROW_DOT4(dot_f16, uint8_t, EK_F16_LOAD4, EK_F16_AT)
EK_ROW_DOT4(dot_bf16, uint8_t, EK_BF16_LOAD4, EK_BF16_AT)

/* int8: one 16-byte load widened in registers, so not the 4-lane loader above */
static float dot_q8(const int8_t *q, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float sum;
    size_t c;
    for (c = 0; c < whole; c += EK_FLOAT_LANES) {
        const int8x16_t v = vld1q_s8(q + c);
        const int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
        a0 = vaddq_f32(a0, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vld1q_f32(x + c)));
        a1 = vaddq_f32(a1, vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), vld1q_f32(x + c + 4)));
        a2 = vaddq_f32(a2, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vld1q_f32(x + c + 8)));
        a3 = vaddq_f32(a3, vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), vld1q_f32(x + c + 12)));
    }
    sum = reduce_lanes(a0, a1, a2, a3);
    for (c = whole; c < cols; c++)
        sum += (float)q[c] * x[c];
    return sum;
}

float ek_float_dot_neon(const float *a, const float *b, size_t n)
{
    EK_KERNEL_RAN(EK_TRACE_FLOAT_DOT, "neon");
    return dot_f32(a, b, n);
}

static const ek_float_row_dots neon_dots = {dot_f32, dot_f16, dot_bf16, dot_q8};

void ek_float_matvec_neon(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_KERNEL_RAN(w->format, "neon");
    ek_float_matvec_with(&neon_dots, w, x, y, r0, r1);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_float_matvec_neon_not_built;
#endif
