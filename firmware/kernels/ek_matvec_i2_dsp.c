/* ek_matvec_i2_dsp.c — i2 ternary matvec for Cortex-M cores with the DSP extension (EK_KERNEL_DSP: M4, M7,
 * M33 with DSP): two 16x16 multiply-accumulates per SMLAD. The accumulators equal ek_matvec_i2_c's bit for
 * bit: integer sums are exact in any order.
 *
 * w . x = code . x - sum(x), with code = w + 1 in 0..2 straight from the bits, and the sum of x taken once
 * per call. Byte j of a block holds weights j, j+32, j+64, j+96 (bits 7..6 .. 1..0), so one 32-bit word of
 * bytes j..j+3 shifted by 6, 4, 2, 0 gives weights j..j+3 of the four 32-weight quarters, which meet x_q
 * words at the same offsets. Masking with 0x00030003 after a shift by s (bytes 0, 2) or s + 8 (bytes 1, 3)
 * leaves the codes in the 16-bit lanes SMLAD wants: one AND each, no extraction. x is widened to 16-bit
 * lanes (SXTB16, plain and rotated by 8) once per word for two rows. Per 4 weights and row that is 5.5
 * instructions instead of 8 (shift-and, then UXTB16/SXTB16 for both lane pairs, per row). x_q is padded to
 * whole 128-weight blocks (EK_XQ_PAD), so there is no tail; sections and the x_q buffer are word aligned,
 * so the word loads are aligned.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_DSP
#include <string.h>

#include <arm_acle.h>

static inline uint32_t load_word(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one LDR */
    return v;
}

static inline uint32_t ror8(uint32_t v) { return (v >> 8) | (v << 24); }

/* Codes of field `shift` for the even bytes (0, 2) and the odd bytes (1, 3) of a weight word, already in the
 * 16-bit lanes SMLAD multiplies: one AND with a shifted operand each, no byte extraction. */
#define EK_CODES_EVEN(bytes, shift) (((bytes) >> (shift)) & 0x00030003u)
#define EK_CODES_ODD(bytes, shift) (((bytes) >> ((shift) + 8)) & 0x00030003u)

/* One field of two rows against the 4 x bytes they share (xw): x is widened once for both rows. */
#define EK_FIELD2(shift, xw)                                                                               \
    do {                                                                                                   \
        const int16x2_t xe = __sxtb16((int8x4_t)(xw)), xo = __sxtb16((int8x4_t)ror8(xw)); /* x0 x2, x1 x3 */ \
        sa = __smlad((int16x2_t)EK_CODES_EVEN(ba, shift), xe, sa);                                        \
        sa = __smlad((int16x2_t)EK_CODES_ODD(ba, shift), xo, sa);                                         \
        sb = __smlad((int16x2_t)EK_CODES_EVEN(bb, shift), xe, sb);                                        \
        sb = __smlad((int16x2_t)EK_CODES_ODD(bb, shift), xo, sb);                                         \
    } while (0)

/* The same for one row. */
#define EK_FIELD1(shift, xw)                                                                               \
    do {                                                                                                   \
        const int16x2_t xe = __sxtb16((int8x4_t)(xw)), xo = __sxtb16((int8x4_t)ror8(xw));                 \
        sa = __smlad((int16x2_t)EK_CODES_EVEN(ba, shift), xe, sa);                                        \
        sa = __smlad((int16x2_t)EK_CODES_ODD(ba, shift), xo, sa);                                         \
    } while (0)

void ek_matvec_i2_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint32_t row_bytes = blocks * 32u;
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    int32_t x_sum = 0;
    uint32_t r = 0, b, j, i;
    EK_KERNEL_RAN(EK_FMT_I2, "dsp");
    for (i = 0; i < blocks * EK_I2_BLOCK; i++)
        x_sum += x->q[i];
    /* Two rows at a time: each x word is loaded and widened once for both. */
    for (; r + 2u <= w->rows; r += 2u, p += 2u * row_bytes) {
        int32_t sa = 0, sb = 0;
        const uint8_t *pa = p, *pb = p + row_bytes;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, pa += 32, pb += 32, xb += EK_I2_BLOCK) {
            for (j = 0; j < 32u; j += 4u) {
                const uint32_t ba = load_word(pa + j), bb = load_word(pb + j);
                EK_FIELD2(6, load_word(xb + j));
                EK_FIELD2(4, load_word(xb + 32u + j));
                EK_FIELD2(2, load_word(xb + 64u + j));
                EK_FIELD2(0, load_word(xb + 96u + j));
            }
        }
        acc[r] = sa - x_sum;
        acc[r + 1u] = sb - x_sum;
    }
    if (r < w->rows) { /* an odd last row */
        int32_t sa = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            for (j = 0; j < 32u; j += 4u) {
                const uint32_t ba = load_word(p + j);
                EK_FIELD1(6, load_word(xb + j));
                EK_FIELD1(4, load_word(xb + 32u + j));
                EK_FIELD1(2, load_word(xb + 64u + j));
                EK_FIELD1(0, load_word(xb + 96u + j));
            }
        }
        acc[r] = sa - x_sum;
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_dsp_not_built;
#endif
