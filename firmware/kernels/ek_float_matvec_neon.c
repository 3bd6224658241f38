/* ek_float_matvec_neon.c — float matvec for AArch64 NEON (EK_KERNEL_NEON / EK_KERNEL_DOTPROD). y equals
 * ek_float_matvec_c's bit for bit: the 16 lane sums are four 4-lane registers (lanes 0..3, 4..7, 8..11,
 * 12..15), each product is a separate FMUL then FADD (vmulq then vaddq; GCC lowers them to plain vector
 * arithmetic, so it is the build's -ffp-contract=off that keeps them from fusing into FMLA), and the
 * reduction tree and the tail follow the portable order exactly (see ek_float_matvec_c.c). f16 -> f32 with
 * FCVTL is exact (every half is a float32; AArch64 Linux runs with FPCR.FZ16 clear, so subnormal halves too).
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
#include <string.h>

#include <arm_neon.h>

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

static float dot_f32(const float *w, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float sum;
    size_t c;
    for (c = 0; c < whole; c += EK_FLOAT_LANES) {
        a0 = vaddq_f32(a0, vmulq_f32(vld1q_f32(w + c), vld1q_f32(x + c)));
        a1 = vaddq_f32(a1, vmulq_f32(vld1q_f32(w + c + 4), vld1q_f32(x + c + 4)));
        a2 = vaddq_f32(a2, vmulq_f32(vld1q_f32(w + c + 8), vld1q_f32(x + c + 8)));
        a3 = vaddq_f32(a3, vmulq_f32(vld1q_f32(w + c + 12), vld1q_f32(x + c + 12)));
    }
    sum = reduce_lanes(a0, a1, a2, a3);
    for (c = whole; c < cols; c++)
        sum += w[c] * x[c];
    return sum;
}

static float dot_f16(const uint8_t *w, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float sum;
    size_t c;
    for (c = 0; c < whole; c += EK_FLOAT_LANES) {
        const uint8_t *p = w + 2u * c;
        a0 = vaddq_f32(a0, vmulq_f32(halves_to_float(p), vld1q_f32(x + c)));
        a1 = vaddq_f32(a1, vmulq_f32(halves_to_float(p + 8), vld1q_f32(x + c + 4)));
        a2 = vaddq_f32(a2, vmulq_f32(halves_to_float(p + 16), vld1q_f32(x + c + 8)));
        a3 = vaddq_f32(a3, vmulq_f32(halves_to_float(p + 24), vld1q_f32(x + c + 12)));
    }
    sum = reduce_lanes(a0, a1, a2, a3);
    for (c = whole; c < cols; c++)
        sum += ek_half_to_float((uint16_t)(w[2u * c] | (w[2u * c + 1u] << 8))) * x[c];
    return sum;
}

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

float ek_float_dot_neon(const float *a, const float *b, size_t n) { return dot_f32(a, b, n); }

static const ek_float_row_dots neon_dots = {dot_f32, dot_f16, dot_q8};

void ek_float_matvec_neon(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    ek_float_matvec_with(&neon_dots, w, x, y, r0, r1);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_float_matvec_neon_not_built;
#endif
