/* ek_head_q4i_neon.c — the q4i integer lm_head on AArch64 Advanced SIMD (the float family's NEON choice, see
 * ek_isa.h). One block (32 columns, 16 code bytes) per step and row: the low nibbles are columns 0..15, the high
 * ones 16..31, each minus 8 gives the signed q. SDOT (vdotq_s32) sums q * x_q into 4 int32 lanes where the build
 * has the Armv8.2 dot product (EK_KERNEL_DOTPROD), else SMULL/SMLAL into int16 lanes (4 products each,
 * |sum| <= 4 * 8 * 128); either way the block's lanes are then multiplied by its scale s_b and added to the row's
 * int32 lanes. Four rows share each activation load. The sums are exact, so y equals ek_head_q4i_c's bit for bit. */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_NEON

#include <arm_neon.h>

/* acc += s * (q_lo . x_lo + q_hi . x_hi), one block, in 4 int32 lanes */
static inline int32x4_t block_step(int32x4_t acc, uint8x16_t codes, int8x16_t x_lo, int8x16_t x_hi, int32_t s)
{
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t q_lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(codes, vdupq_n_u8(15))), eight);
    const int8x16_t q_hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(codes, 4)), eight);
#if defined(EK_KERNEL_DOTPROD)
    const int32x4_t block = vdotq_s32(vdotq_s32(vdupq_n_s32(0), q_lo, x_lo), q_hi, x_hi);
    return vmlaq_n_s32(acc, block, s);
#else
    int16x8_t block = vmull_s8(vget_low_s8(q_lo), vget_low_s8(x_lo));
    block = vmlal_high_s8(block, q_lo, x_lo);
    block = vmlal_s8(block, vget_low_s8(q_hi), vget_low_s8(x_hi));
    block = vmlal_high_s8(block, q_hi, x_hi);
    acc = vmlal_n_s16(acc, vget_low_s16(block), (int16_t)s);
    return vmlal_high_n_s16(acc, block, (int16_t)s);
#endif
}

/* The rows at rows + k * stride, k < n (n the constant 4 or 1 after inlining); sum[k] = that row's acc. */
static inline __attribute__((always_inline)) void sums_n(const uint8_t *rows, size_t stride, const int8_t *x_q,
                                                         size_t cols, unsigned n, int32_t sum[4])
{
    const size_t blocks = cols / EK_Q4I_BLOCK;
    int32x4_t acc[4];
    size_t b;
    unsigned k;
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        acc[k] = vdupq_n_s32(0);
    for (b = 0; b < blocks; b++) {
        const int8x16_t x_lo = vld1q_s8(x_q + 32u * b), x_hi = vld1q_s8(x_q + 32u * b + 16u);
#pragma GCC unroll 4
        for (k = 0; k < n; k++) {
            const uint8_t *row = rows + k * stride;
            acc[k] = block_step(acc[k], vld1q_u8(row + blocks + 16u * b), x_lo, x_hi, row[b]);
        }
    }
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        sum[k] = vaddvq_s32(acc[k]);
}

EK_HEAD_Q4I_ENTRY(neon, "neon", 0)
#endif
