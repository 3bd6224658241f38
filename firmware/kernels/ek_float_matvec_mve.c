/* ek_float_matvec_mve.c — float matvec for Cortex-M Helium with floating point (EK_KERNEL_MVE on MVE-F
 * cores such as the Cortex-M55). y equals ek_float_matvec_c's bit for bit: the 16 lane sums are four
 * 4-lane registers (lanes 0..3, 4..7, 8..11, 12..15), each product is a separate VMUL then VADD (never
 * VFMA), and the reduction tree and the tail follow the portable order exactly (see ek_float_matvec_c.c).
 *
 * Loads widen in the load unit: VLDRH.U32 zero-extends 4 halves to 4 word lanes (decoded exactly below);
 * VLDRB.S32 sign-extends 4 int8 to 4 int32 lanes for VCVT. An MVE core without the floating-point extension
 * (integer-only MVE) runs the portable body.
 *
 * One limit of "bit for bit": MVE float instructions flush subnormal float32 values to zero (the Armv8.1-M
 * standard FPSCR value; QEMU's Cortex-M55 does) while the scalar FPU, which runs the portable body, keeps
 * them, so products or partial sums below 2^-126 in magnitude can differ. lm_head weights and activations
 * are nowhere near that range.
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_MVE)
#include <string.h>

#include <arm_mve.h>

#if !defined(__ARM_FEATURE_MVE)
#error "EK_KERNEL_MVE needs a compiler target with MVE (e.g. -mcpu=cortex-m55)"
#endif

/* bit 1 of __ARM_FEATURE_MVE: floating-point MVE */
#if (__ARM_FEATURE_MVE & 2)

static inline float reduce_lanes(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3)
{
    const float32x4_t s4 = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3)); /* s8[j] + s8[j+4] */
    const float s2_0 = vgetq_lane_f32(s4, 0) + vgetq_lane_f32(s4, 2);
    const float s2_1 = vgetq_lane_f32(s4, 1) + vgetq_lane_f32(s4, 3);
    return s2_0 + s2_1;
}

/* 4 halves -> 4 floats, exactly, in integer arithmetic plus one multiply that never sees a subnormal: MVE
 * float instructions may flush subnormals to zero (standard FPSCR value), so a half's subnormal range goes
 * through (float)mant * 2^-24, which is a normal float32. Not VCVTB.F32.F16: the GNU assembler shipped with
 * arm-none-eabi-gcc 12.2 encodes its Q registers wrongly (q3 assembles as q6). */
static inline float32x4_t halves_to_float(const uint8_t *p)
{
    const uint32x4_t v = vldrhq_u32((const uint16_t *)(const void *)p);
    const uint32x4_t sign = vshlq_n_u32(vandq_u32(v, vdupq_n_u32(0x8000u)), 16);
    const uint32x4_t magnitude = vandq_u32(v, vdupq_n_u32(0x7FFFu));
    const uint32x4_t normal = vaddq_u32(vshlq_n_u32(magnitude, 13), vdupq_n_u32(112u << 23)); /* rebias 15->127 */
    const uint32x4_t inf_nan = vaddq_u32(normal, vdupq_n_u32(112u << 23));                    /* exponent 255 */
    const float32x4_t small = vmulq_n_f32(vcvtq_f32_u32(magnitude), 0x1p-24f); /* zero and subnormal halves */
    uint32x4_t bits = vpselq_u32(inf_nan, normal, vcmphiq_n_u32(magnitude, 0x7BFFu));
    bits = vpselq_u32(vreinterpretq_u32_f32(small), bits, vcmphiq_u32(vdupq_n_u32(0x400u), magnitude));
    return vreinterpretq_f32_u32(vorrq_u32(bits, sign));
}

static inline float32x4_t int8_to_float(const int8_t *p) { return vcvtq_f32_s32(vldrbq_s32(p)); }

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
        a0 = vaddq_f32(a0, vmulq_f32(int8_to_float(q + c), vld1q_f32(x + c)));
        a1 = vaddq_f32(a1, vmulq_f32(int8_to_float(q + c + 4), vld1q_f32(x + c + 4)));
        a2 = vaddq_f32(a2, vmulq_f32(int8_to_float(q + c + 8), vld1q_f32(x + c + 8)));
        a3 = vaddq_f32(a3, vmulq_f32(int8_to_float(q + c + 12), vld1q_f32(x + c + 12)));
    }
    sum = reduce_lanes(a0, a1, a2, a3);
    for (c = whole; c < cols; c++)
        sum += (float)q[c] * x[c];
    return sum;
}

float ek_float_dot_mve(const float *a, const float *b, size_t n) { return dot_f32(a, b, n); }

static const ek_float_row_dots mve_dots = {dot_f32, dot_f16, dot_q8};

void ek_float_matvec_mve(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    ek_float_matvec_with(&mve_dots, w, x, y, r0, r1);
}

#else /* integer-only MVE: no float lanes */

float ek_float_dot_mve(const float *a, const float *b, size_t n) { return ek_float_dot_c(a, b, n); }

void ek_float_matvec_mve(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    ek_float_matvec_c(w, x, y, r0, r1);
}

#endif
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_float_matvec_mve_not_built;
#endif
