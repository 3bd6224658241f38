/* ek_matvec_t158_neon.c — t158 ternary matvec for AArch64 NEON (EK_KERNEL_NEON), with the int8 dot-product
 * instruction when EK_KERNEL_DOTPROD. The accumulators equal ek_matvec_t158_c's bit for bit: integer sums
 * are exact in any order.
 *
 * Digit k of a byte q is (v * 3) >> 8 with v = q * 3^k mod 256 (VMUL.U8 wraps, as the format wants). The
 * product 3v needs 10 bits, so the shift is taken in halves without widening: (3v) >> 8 equals
 * ((v + (v >> 1)) >> 1) >> 6, and the inner halving add (UHADD) never overflows a byte; nested floors of
 * divisions compose, and v + v/2 cannot cross a multiple of 128 between its floor and itself.
 * w . x = digit . x - sum(x), digit in 0..2, so no "- 1" per weight. The row tail (cols % 80, packed 5 per
 * byte) is copied to a zeroed 16-byte block and meets a copy of its x_q in block order.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_NEON || EK_ISA_TERNARY == EK_ISA_DOTPROD
#include <string.h>

#include <arm_neon.h>

/* the name this body answers to: the dotprod build runs SDOT (the block step below), the plain one does not */
#if EK_ISA_TERNARY == EK_ISA_DOTPROD
#define EK_T158_NEON_NAME "dotprod"
#else
#define EK_T158_NEON_NAME "neon"
#endif

static inline int8x16_t t158_digit(uint8x16_t v)
{
    return vreinterpretq_s8_u8(vshrq_n_u8(vhaddq_u8(v, vshrq_n_u8(v, 1)), 6));
}

/* sum += digit . x over one 80-weight block (16 bytes at q, 80 x_q values at x) */
static inline int32x4_t t158_block(int32x4_t sum, const uint8_t *q8, const int8_t *x)
{
    const uint8x16_t q = vld1q_u8(q8);
    const int8x16_t d0 = t158_digit(q), d1 = t158_digit(vmulq_u8(q, vdupq_n_u8(3))),
                    d2 = t158_digit(vmulq_u8(q, vdupq_n_u8(9))), d3 = t158_digit(vmulq_u8(q, vdupq_n_u8(27))),
                    d4 = t158_digit(vmulq_u8(q, vdupq_n_u8(81)));
#if EK_ISA_TERNARY == EK_ISA_DOTPROD
    sum = vdotq_s32(sum, d0, vld1q_s8(x));
    sum = vdotq_s32(sum, d1, vld1q_s8(x + 16));
    sum = vdotq_s32(sum, d2, vld1q_s8(x + 32));
    sum = vdotq_s32(sum, d3, vld1q_s8(x + 48));
    return vdotq_s32(sum, d4, vld1q_s8(x + 64));
#else
    /* ten products per int16 lane, each |digit * x| <= 2 * 128: at most 2560, then one widening add */
    int8x16_t xk = vld1q_s8(x);
    int16x8_t prod = vmull_s8(vget_low_s8(d0), vget_low_s8(xk));
    prod = vmlal_high_s8(prod, d0, xk);
    xk = vld1q_s8(x + 16);
    prod = vmlal_s8(prod, vget_low_s8(d1), vget_low_s8(xk));
    prod = vmlal_high_s8(prod, d1, xk);
    xk = vld1q_s8(x + 32);
    prod = vmlal_s8(prod, vget_low_s8(d2), vget_low_s8(xk));
    prod = vmlal_high_s8(prod, d2, xk);
    xk = vld1q_s8(x + 48);
    prod = vmlal_s8(prod, vget_low_s8(d3), vget_low_s8(xk));
    prod = vmlal_high_s8(prod, d3, xk);
    xk = vld1q_s8(x + 64);
    prod = vmlal_s8(prod, vget_low_s8(d4), vget_low_s8(xk));
    prod = vmlal_high_s8(prod, d4, xk);
    return vpadalq_s16(sum, prod);
#endif
}

void ek_matvec_t158_neon(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u;
    const uint8_t *p = w->data; /* per row: (blocks, 16) then (tail_bytes) */
    int8_t x_tail[EK_T158_BLOCK]; /* the tail's x_q in block order */
    const int32_t x_sum = ek_t158_prepare(x, cols, x_tail);
    uint32_t r, b;
    EK_KERNEL_RAN(EK_FMT_T158, EK_T158_NEON_NAME);
    for (r = 0; r < w->rows; r++) {
        int32x4_t sum = vdupq_n_s32(0);
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 16, xb += EK_T158_BLOCK)
            sum = t158_block(sum, p, xb);
        if (tail) {
            /* zero bytes decode as digit 0 and meet x_tail's zeros: they add nothing */
            uint8_t t[16] = {0};
            memcpy(t, p, tail_bytes);
            sum = t158_block(sum, t, x_tail);
            p += tail_bytes;
        }
        acc[r] = vaddvq_s32(sum) - x_sum;
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_t158_neon_not_built;
#endif
