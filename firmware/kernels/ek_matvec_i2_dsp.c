/* ek_matvec_i2_dsp.c — i2 ternary matvec for Cortex-M cores with the DSP extension (EK_KERNEL_DSP: M4, M7,
 * M33 with DSP): two 16x16 multiply-accumulates per SMLAD. The accumulators equal ek_matvec_i2_c's bit for
 * bit: integer sums are exact in any order.
 *
 * w . x = code . x - sum(x), with code = w + 1 in 0..2 straight from the bits. Byte j of a block holds weights
 * j, j+32, j+64, j+96 (bits 7..6 .. 1..0), so one 32-bit word of bytes j..j+3 shifted by 6, 4, 2, 0 gives
 * weights j..j+3 of the four 32-weight quarters. One AND of the mask with the word shifted by s (bytes 0, 2)
 * or s + 8 (bytes 1, 3) leaves two codes in the 16-bit lanes SMLAD multiplies.
 *
 * x is widened once per call (per chunk of columns) into the int16 pairs those lanes meet: (x[j], x[j+2])
 * and (x[j+1], x[j+3]) of each quarter, the eight words of one weight word's four fields side by side. The
 * row loop then does no x work but one LDRD per field, shared by three rows: per 16 weights and row that is
 * 4 ANDs and 4 SMLADs, plus a third of the 4 LDRDs and one LDR of the weight word (the old body widened x
 * for every pair of rows: 5.5 instructions per 4 weights and row as written, ~7.7 as compiled).
 * x_q is padded to whole 128-weight blocks (EK_XQ_PAD), so there is no tail; sections and the x_q buffer
 * are word aligned, so the word loads are aligned.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_DSP
#include <string.h>

#include <arm_acle.h>

/* Blocks of x widened per pass: 4 blocks (512 columns) are 1 KiB of stack; wider rows take several passes,
 * each adding into acc. */
#define EK_I2_DSP_CHUNK_BLOCKS 4u
#define EK_I2_DSP_PAIRS 32u /* (xe, xo) pairs per 128-column block: 8 words x 4 fields */

static inline uint32_t load_word(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one LDR */
    return v;
}

/* Blocks [0, nb) of xb (128 x_q each) as int16 pairs: pair 4k + q of a block (k = 0..7, quarter q) holds
 * (x[32q + 4k], x[32q + 4k + 2]) in its low word and (x[32q + 4k + 1], x[32q + 4k + 3]) in its high word.
 * Returns the sum of those x_q. */
static int32_t widen_pairs(const int8_t *xb, uint32_t nb, uint64_t *pairs)
{
    int32_t sum = 0;
    uint32_t b, k, q;
    for (b = 0; b < nb; b++, xb += EK_I2_BLOCK, pairs += EK_I2_DSP_PAIRS) {
        for (k = 0; k < 8u; k++) {
            for (q = 0; q < 4u; q++) {
                const uint32_t v = load_word(xb + 32u * q + 4u * k);
                const uint32_t even = (uint32_t)__sxtb16((int8x4_t)v);
                const uint32_t odd = (uint32_t)__sxtb16((int8x4_t)((v >> 8) | (v << 24)));
                pairs[4u * k + q] = (uint64_t)even | (uint64_t)odd << 32;
                sum = __smlad((int16x2_t)even, (int16x2_t)0x00010001, sum);
                sum = __smlad((int16x2_t)odd, (int16x2_t)0x00010001, sum);
            }
        }
    }
    return sum;
}

/* The mask as a register operand: GCC then folds each shift into the AND (AND Rd, Rmask, Rw, LSR #s) instead
 * of a shift and an AND with the immediate. */
static inline uint32_t opaque(uint32_t v)
{
    __asm__("" : "+r"(v));
    return v;
}

/* Field `shift` of weight word w against the pair words xe (bytes 0, 2) and xo (bytes 1, 3) into s. */
#define EK_FIELD(s, w, shift, xe, xo)                                                                      \
    do {                                                                                                   \
        s = __smlad((int16x2_t)(((w) >> (shift)) & mask), (int16x2_t)(uint32_t)(xe), s);                 \
        s = __smlad((int16x2_t)(((w) >> ((shift) + 8)) & mask), (int16x2_t)(uint32_t)(xo), s);           \
    } while (0)

/* One field of the three rows' words: codes of bytes 0, 2 (shift s) against xe, of bytes 1, 3 (s + 8) against
 * xo. */
#define EK_FIELD3_ASM(s, s8)                                                                               \
    "and %[t], %[mask], %[wa], lsr #" s "\n\tsmlad %[sa], %[t], %[xe], %[sa]\n\t"                       \
    "and %[t], %[mask], %[wa], lsr #" s8 "\n\tsmlad %[sa], %[t], %[xo], %[sa]\n\t"                      \
    "and %[t], %[mask], %[wb], lsr #" s "\n\tsmlad %[sb], %[t], %[xe], %[sb]\n\t"                       \
    "and %[t], %[mask], %[wb], lsr #" s8 "\n\tsmlad %[sb], %[t], %[xo], %[sb]\n\t"                      \
    "and %[t], %[mask], %[wc], lsr #" s "\n\tsmlad %[sc], %[t], %[xe], %[sc]\n\t"                       \
    "and %[t], %[mask], %[wc], lsr #" s8 "\n\tsmlad %[sc], %[t], %[xo], %[sc]\n\t"

/* Rows r0.. (three at a time, then one at a time) of p (rows of row_bytes) against nb widened blocks:
 * acc[r] = start(r) + code . x of those blocks, start(r) = acc[r] if add, else 0, minus x_sum. A field's two
 * pair words are one 64-bit load (LDRD). */
static void rows_against_pairs(const uint8_t *p, uint32_t row_bytes, uint32_t rows, uint32_t nb,
                               const uint64_t *pairs, int32_t x_sum, int add, int32_t *acc)
{
    const uint32_t mask = opaque(0x00030003u);
    uint32_t r = 0, b, k;
    for (; r + 3u <= rows; r += 3u, p += 3u * row_bytes) {
        int32_t sa = (add ? acc[r] : 0) - x_sum, sb = (add ? acc[r + 1u] : 0) - x_sum;
        int32_t sc = (add ? acc[r + 2u] : 0) - x_sum;
        const uint8_t *pa = p;
        const uint64_t *xp = pairs;
        uint32_t wa, wb, wc, xe, xo, t;
        /* Written out: as C, GCC splits the LDRDs and spills one of the 14 registers this needs. Per weight word
         * (16 weights) of each row: 3 LDR, 4 LDRD, 24 AND, 24 SMLAD, the loop test: 57 for 48 weights. */
        __asm__ volatile(
            "1:\n\t"
            "ldr %[wb], [%[pa], %[rb]]\n\t"
            "ldr %[wc], [%[pa], %[rb], lsl #1]\n\t"
            "ldr %[wa], [%[pa]], #4\n\t"
            "ldrd %[xe], %[xo], [%[xp]], #32\n\t"
            EK_FIELD3_ASM("6", "14")
            "ldrd %[xe], %[xo], [%[xp], #-24]\n\t"
            EK_FIELD3_ASM("4", "12")
            "ldrd %[xe], %[xo], [%[xp], #-16]\n\t"
            EK_FIELD3_ASM("2", "10")
            "ldrd %[xe], %[xo], [%[xp], #-8]\n\t"
            EK_FIELD3_ASM("0", "8")
            "cmp %[xp], %[xend]\n\t"
            "bne 1b\n\t"
            : [sa] "+r"(sa), [sb] "+r"(sb), [sc] "+r"(sc), [pa] "+r"(pa), [xp] "+r"(xp), [wa] "=&r"(wa),
              [wb] "=&r"(wb), [wc] "=&r"(wc), [xe] "=&r"(xe), [xo] "=&r"(xo), [t] "=&r"(t)
            : [rb] "r"(row_bytes), [mask] "r"(mask), [xend] "r"(pairs + EK_I2_DSP_PAIRS * nb)
            : "cc", "memory");
        acc[r] = sa;
        acc[r + 1u] = sb;
        acc[r + 2u] = sc;
    }
    for (; r < rows; r++, p += row_bytes) { /* the last rows % 3 */
        int32_t sa = (add ? acc[r] : 0) - x_sum;
        const uint8_t *pa = p;
        const uint64_t *xp = pairs;
        for (b = 0; b < nb; b++, pa += 32) {
            for (k = 0; k < 8u; k++, xp += 4) {
                const uint32_t wa = load_word(pa + 4u * k);
                EK_FIELD(sa, wa, 6, xp[0], xp[0] >> 32);
                EK_FIELD(sa, wa, 4, xp[1], xp[1] >> 32);
                EK_FIELD(sa, wa, 2, xp[2], xp[2] >> 32);
                EK_FIELD(sa, wa, 0, xp[3], xp[3] >> 32);
            }
        }
        acc[r] = sa;
    }
}

void ek_matvec_i2_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint32_t row_bytes = blocks * 32u;
    uint64_t pairs[EK_I2_DSP_CHUNK_BLOCKS * EK_I2_DSP_PAIRS];
    uint32_t b0;
    EK_KERNEL_RAN(EK_FMT_I2, "dsp");
    if (blocks == 0u) /* no columns: every dot product is 0 */
        memset(acc, 0, sizeof *acc * w->rows);
    for (b0 = 0; b0 < blocks; b0 += EK_I2_DSP_CHUNK_BLOCKS) {
        const uint32_t nb = blocks - b0 < EK_I2_DSP_CHUNK_BLOCKS ? blocks - b0 : EK_I2_DSP_CHUNK_BLOCKS;
        const int32_t x_sum = widen_pairs(x->q + (size_t)b0 * EK_I2_BLOCK, nb, pairs);
        rows_against_pairs(w->data + (size_t)b0 * 32u, row_bytes, w->rows, nb, pairs, x_sum, b0 != 0, acc);
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_dsp_not_built;
#endif
