/* ek_head_q4i_mve.c — the q4i integer lm_head on Helium (EK_KERNEL_MVE with its float extension: the float family's
 * choice, see ek_isa.h). One block (32 columns, 16 code bytes) per step and row: the low nibbles are columns 0..15,
 * the high ones 16..31, each minus 8 gives the signed q; two VMLADAV.S8 sum q * x_q into a scalar int32, which the
 * block scale s_b multiplies into the row's sum. Four rows share each activation load. The sums are exact, so y
 * equals ek_head_q4i_c's bit for bit. */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_MVE
#include <arm_mve.h>

/* s_b * (q_lo . x_lo + q_hi . x_hi) of one block whose 16 code bytes are at `codes` */
static inline int32_t block_sum(const uint8_t *codes, int8x16_t x_lo, int8x16_t x_hi, uint8_t s)
{
    const uint8x16_t c = vld1q_u8(codes);
    const int8x16_t q_lo = vsubq_n_s8(vreinterpretq_s8_u8(vandq_u8(c, vdupq_n_u8(15))), 8);
    const int8x16_t q_hi = vsubq_n_s8(vreinterpretq_s8_u8(vshrq_n_u8(c, 4)), 8);
    return (int32_t)s * vmladavaq_s8(vmladavq_s8(q_lo, x_lo), q_hi, x_hi);
}

/* The rows at rows + k * stride, k < n (n the constant 4 or 1 after inlining); sum[k] = that row's acc. */
static inline __attribute__((always_inline)) void sums_n(const uint8_t *rows, size_t stride, const int8_t *x_q,
                                                         size_t cols, unsigned n, int32_t sum[4])
{
    const size_t blocks = cols / EK_Q4I_BLOCK;
    size_t b;
    unsigned k;
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        sum[k] = 0;
    for (b = 0; b < blocks; b++) {
        const int8x16_t x_lo = vld1q_s8(x_q + 32u * b), x_hi = vld1q_s8(x_q + 32u * b + 16u);
#pragma GCC unroll 4
        for (k = 0; k < n; k++) {
            const uint8_t *row = rows + k * stride;
            sum[k] += block_sum(row + blocks + 16u * b, x_lo, x_hi, row[b]);
        }
    }
}

EK_HEAD_Q4I_ENTRY(mve, "mve", 0)
#endif
