/* ek_matvec_t158_mve.c — t158 ternary matvec for Cortex-M Helium/MVE (EK_KERNEL_MVE, e.g. Cortex-M55).
 * The accumulators equal ek_matvec_t158_c's bit for bit: integer sums are exact in any order.
 *
 * The format's decode maps straight onto MVE: v = q * 3^k mod 256 is VMUL.U8 (wrapping), and the digit
 * (v * 3) >> 8 is the high half of a byte product, VMULH.U8. Each 16-lane digit vector meets 16 x_q in
 * one VMLADAVA; w . x = digit . x - sum(x), digit in 0..2. The row tail (cols % 80, packed 5 per byte) is
 * copied to a zeroed 16-byte block and meets a copy of its x_q in block order, so there is no tail
 * predication.
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_MVE)
#include <string.h>

#include <arm_mve.h>

#if !defined(__ARM_FEATURE_MVE)
#error "EK_KERNEL_MVE needs a compiler target with MVE (e.g. -mcpu=cortex-m55)"
#endif

/* sum + digit . x over one 80-weight block (16 bytes at q8, 80 x_q values at x) */
static inline int32_t t158_block(int32_t sum, const uint8_t *q8, const int8_t *x)
{
    const uint8x16_t q = vld1q_u8(q8), three = vdupq_n_u8(3);
    sum = vmladavaq_s8(sum, vreinterpretq_s8_u8(vmulhq_u8(q, three)), vld1q_s8(x));
    sum = vmladavaq_s8(sum, vreinterpretq_s8_u8(vmulhq_u8(vmulq_n_u8(q, 3), three)), vld1q_s8(x + 16));
    sum = vmladavaq_s8(sum, vreinterpretq_s8_u8(vmulhq_u8(vmulq_n_u8(q, 9), three)), vld1q_s8(x + 32));
    sum = vmladavaq_s8(sum, vreinterpretq_s8_u8(vmulhq_u8(vmulq_n_u8(q, 27), three)), vld1q_s8(x + 48));
    return vmladavaq_s8(sum, vreinterpretq_s8_u8(vmulhq_u8(vmulq_n_u8(q, 81), three)), vld1q_s8(x + 64));
}

void ek_matvec_t158_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    ek_t158_rows_with(t158_block, w, x, acc);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_t158_mve_not_built;
#endif
