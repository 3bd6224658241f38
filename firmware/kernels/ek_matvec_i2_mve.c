/* ek_matvec_i2_mve.c — i2 ternary matvec for Cortex-M Helium/MVE (EK_KERNEL_MVE, e.g. Cortex-M55).
 * The accumulators equal ek_matvec_i2_c's bit for bit: integer sums are exact in any order.
 *
 * Same unpack as the NEON body (four shift+mask steps per 32-byte block); each 16-lane step is one
 * VMLADAVA (multiply int8 lanes and add them all to a scalar int32). x_q is padded to whole 128-weight
 * blocks (EK_XQ_PAD), so there is no tail predication.
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_MVE)
#include <arm_mve.h>

#if !defined(__ARM_FEATURE_MVE)
#error "EK_KERNEL_MVE needs a compiler target with MVE (e.g. -mcpu=cortex-m55)"
#endif

#define EK_I2_UNPACK(bytes, shift) \
    vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8((bytes), (shift)), mask)), one)
/* the lowest field needs no shift (immediate shifts are 1..8) */
#define EK_I2_UNPACK_LOW(bytes) vsubq_s8(vreinterpretq_s8_u8(vandq_u8((bytes), mask)), one)

void ek_matvec_i2_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint8x16_t mask = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    uint32_t r, b;
    for (r = 0; r < w->rows; r++) {
        int32_t sum = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            const uint8x16_t lo = vld1q_u8(p), hi = vld1q_u8(p + 16); /* bytes 0..15, 16..31 */
            sum = vmladavaq_s8(sum, EK_I2_UNPACK(lo, 6), vld1q_s8(xb));
            sum = vmladavaq_s8(sum, EK_I2_UNPACK(hi, 6), vld1q_s8(xb + 16));
            sum = vmladavaq_s8(sum, EK_I2_UNPACK(lo, 4), vld1q_s8(xb + 32));
            sum = vmladavaq_s8(sum, EK_I2_UNPACK(hi, 4), vld1q_s8(xb + 48));
            sum = vmladavaq_s8(sum, EK_I2_UNPACK(lo, 2), vld1q_s8(xb + 64));
            sum = vmladavaq_s8(sum, EK_I2_UNPACK(hi, 2), vld1q_s8(xb + 80));
            sum = vmladavaq_s8(sum, EK_I2_UNPACK_LOW(lo), vld1q_s8(xb + 96));
            sum = vmladavaq_s8(sum, EK_I2_UNPACK_LOW(hi), vld1q_s8(xb + 112));
        }
        acc[r] = sum;
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_mve_not_built;
#endif
