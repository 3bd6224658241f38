/* ek_matvec_i2_dsp.c — i2 ternary matvec for Cortex-M cores with the DSP extension (EK_KERNEL_DSP: M4, M7,
 * M33 with DSP): two 16x16 multiply-accumulates per SMLAD. The accumulators equal ek_matvec_i2_c's bit for
 * bit: integer sums are exact in any order.
 *
 * w . x = code . x - sum(x), with code = w + 1 in 0..2 straight from the bits, so the unpack is one shift
 * and one mask per 4 weights and the sum of x is taken once per call. Byte j of a block holds weights j,
 * j+32, j+64, j+96 (bits 7..6 .. 1..0), so one 32-bit word of bytes j..j+3 shifted by 6, 4, 2, 0 gives
 * weights j..j+3 of the four 32-weight quarters, which meet x_q words at the same offsets. x_q is padded
 * to whole 128-weight blocks (EK_XQ_PAD), so there is no tail; sections and the x_q buffer are word
 * aligned, so the word loads are aligned.
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_DSP)
#include <string.h>

#include <arm_acle.h>

#if !defined(__ARM_FEATURE_DSP)
#error "EK_KERNEL_DSP needs a compiler target with the DSP extension (e.g. -mcpu=cortex-m4)"
#endif

static inline uint32_t load_word(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one LDR */
    return v;
}

static inline uint32_t ror8(uint32_t v) { return (v >> 8) | (v << 24); }

/* sum += codes . x over 4 byte lanes (codes unsigned 0..3, x signed) */
static inline int32_t dot4(int32_t sum, uint32_t codes, uint32_t x)
{
    sum = __smlad((int16x2_t)__uxtb16(codes), __sxtb16((int8x4_t)x), sum);      /* lanes 0, 2 */
    return __smlad((int16x2_t)__uxtb16(ror8(codes)), __sxtb16((int8x4_t)ror8(x)), sum); /* lanes 1, 3 */
}

void ek_matvec_i2_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    int32_t x_sum = 0;
    uint32_t r, b, j, i;
    for (i = 0; i < blocks * EK_I2_BLOCK; i++)
        x_sum += x->q[i];
    for (r = 0; r < w->rows; r++) {
        int32_t sum = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            for (j = 0; j < 32u; j += 4u) {
                const uint32_t bytes = load_word(p + j);
                sum = dot4(sum, (bytes >> 6) & 0x03030303u, load_word(xb + j));
                sum = dot4(sum, (bytes >> 4) & 0x03030303u, load_word(xb + 32u + j));
                sum = dot4(sum, (bytes >> 2) & 0x03030303u, load_word(xb + 64u + j));
                sum = dot4(sum, bytes & 0x03030303u, load_word(xb + 96u + j));
            }
        }
        acc[r] = sum - x_sum;
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_dsp_not_built;
#endif
