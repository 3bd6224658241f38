/* ek_matvec_i2_neon.c — i2 ternary matvec for AArch64 NEON (EK_KERNEL_NEON), with the int8 dot-product
 * instruction when EK_KERNEL_DOTPROD (Armv8.2 dotprod: Cortex-A55/A76, Apple M). The accumulators equal
 * ek_matvec_i2_c's bit for bit: integer sums are exact in any order.
 *
 * One 32-byte i2 block unpacks with four shift+mask steps; step s yields weights 32s..32s+31 of the block
 * as two int8x16 vectors (code - 1), which meet x_q[32s..32s+31] in two dot products. x_q is padded with
 * zeros to whole 128-weight blocks (EK_XQ_PAD), so there is no tail.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_NEON || EK_ISA_TERNARY == EK_ISA_DOTPROD
#include <arm_neon.h>

/* the name this body answers to: the dotprod build runs SDOT (the block step below), the plain one does not */
#if EK_ISA_TERNARY == EK_ISA_DOTPROD
#define EK_I2_NEON_NAME "dotprod"
#else
#define EK_I2_NEON_NAME "neon"
#endif

/* sum += w . x over 16 int8 lanes */
static inline int32x4_t dot16(int32x4_t sum, int8x16_t w, int8x16_t x)
{
#if EK_ISA_TERNARY == EK_ISA_DOTPROD
    return vdotq_s32(sum, w, x);
#else
    /* |w| <= 2 (a corrupt code 3 decodes as 2, as in the portable body), so a pair of products fits int16 */
    int16x8_t prod = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    prod = vmlal_high_s8(prod, w, x);
    return vpadalq_s16(sum, prod);
#endif
}

/* weights of one shift step: ((bytes >> shift) & 3) - 1 */
#define EK_I2_UNPACK(bytes, shift) \
    vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8((bytes), (shift)), mask)), one)
/* the lowest field needs no shift (immediate shifts are 1..8) */
#define EK_I2_UNPACK_LOW(bytes) vsubq_s8(vreinterpretq_s8_u8(vandq_u8((bytes), mask)), one)

void ek_matvec_i2_neon(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint8x16_t mask = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    uint32_t r, b;
    EK_KERNEL_RAN(EK_FMT_I2, EK_I2_NEON_NAME);
    for (r = 0; r < w->rows; r++) {
        int32x4_t sum = vdupq_n_s32(0);
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            const uint8x16_t lo = vld1q_u8(p), hi = vld1q_u8(p + 16); /* bytes 0..15, 16..31 */
            sum = dot16(sum, EK_I2_UNPACK(lo, 6), vld1q_s8(xb));
            sum = dot16(sum, EK_I2_UNPACK(hi, 6), vld1q_s8(xb + 16));
            sum = dot16(sum, EK_I2_UNPACK(lo, 4), vld1q_s8(xb + 32));
            sum = dot16(sum, EK_I2_UNPACK(hi, 4), vld1q_s8(xb + 48));
            sum = dot16(sum, EK_I2_UNPACK(lo, 2), vld1q_s8(xb + 64));
            sum = dot16(sum, EK_I2_UNPACK(hi, 2), vld1q_s8(xb + 80));
            sum = dot16(sum, EK_I2_UNPACK_LOW(lo), vld1q_s8(xb + 96));
            sum = dot16(sum, EK_I2_UNPACK_LOW(hi), vld1q_s8(xb + 112));
        }
        acc[r] = vaddvq_s32(sum);
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_neon_not_built;
#endif
