/* ek_matvec_t158_dsp.c — t158 ternary matvec for Cortex-M cores with the DSP extension (EK_KERNEL_DSP: M4,
 * M7, M33 with DSP), four bytes per 32-bit word. The accumulators equal ek_matvec_t158_c's bit for bit:
 * integer sums are exact in any order.
 *
 * t158 is the flash-size format, so it is the one small cores run. Four stored bytes decode in one word:
 * v_{k+1} = 3 v_k mod 256 per byte is two UADD8 (wrapping byte adds), and digit (3v) >> 8 equals
 * ((v + (v >> 1)) >> 1) >> 6 per byte, where UHADD8 is the halving add that never overflows a byte (the
 * masks keep each byte's own bits after the word shifts). w . x = digit . x - sum(x), digit in 0..2; the
 * digits go straight into SMLAD's 16-bit lanes by one AND each (as in the i2 DSP body) and meet x_q, which is
 * widened once per call (per chunk of blocks) into the int16 pairs those lanes need, one LDRD per digit,
 * shared by two rows. The row tail (cols % 80, packed 5 per byte) is copied to a zeroed 16-byte block and
 * meets a copy of its x_q in block order.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_DSP
#include <string.h>

#include <arm_acle.h>

static inline uint32_t load_word(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one LDR (Armv7-M/v8-M allow unaligned LDR; t158 rows need not be word aligned) */
    return v;
}

static inline uint32_t ror8(uint32_t v) { return (v >> 8) | (v << 24); }

/* Blocks of x widened per pass (8 blocks, 640 columns: 1280 bytes of stack); wider rows take several passes,
 * each adding into acc. */
#define EK_T158_DSP_CHUNK_BLOCKS 8u
#define EK_T158_DSP_PAIRS 20u /* (xe, xo) pairs per 80-column block: 4 words x 5 digits */

/* One 80-x block (x) as int16 pairs: pair 5 (i / 4) + k is (x[16k + i], x[16k + i + 2]) and
 * (x[16k + i + 1], x[16k + i + 3]), for byte word i = 0, 4, 8, 12 and digit k: the order the row loop reads. */
static void widen_block(const int8_t *x, uint64_t *pairs)
{
    uint32_t i, k;
    for (i = 0; i < 16u; i += 4u)
        for (k = 0; k < 5u; k++) {
            const uint32_t v = load_word(x + 16u * k + i);
            const uint32_t even = (uint32_t)__sxtb16((int8x4_t)v), odd = (uint32_t)__sxtb16((int8x4_t)ror8(v));
            pairs[5u * (i / 4u) + k] = (uint64_t)even | (uint64_t)odd << 32;
        }
}

/* Digit k (pair offset OFF, or the post-increment form on the last) of the two rows' words va, vb: the digit
 * bytes (3v) >> 8, still times 64, by AND + UHADD8, masked into SMLAD's lanes against the pair; then, but for
 * the last digit, v = 3v mod 256 per byte by two UADD8. */
#define EK_T158_DIGIT_ASM(load)                                                                            \
    load                                                                                                   \
    "and %[t], %[m7f], %[va], lsr #1\n\tuhadd8 %[t], %[va], %[t]\n\t"                                      \
    "and %[h], %[m3], %[t], lsr #6\n\tsmlad %[sa], %[h], %[xe], %[sa]\n\t"                                 \
    "and %[h], %[m3], %[t], lsr #14\n\tsmlad %[sa], %[h], %[xo], %[sa]\n\t"                                \
    "and %[t], %[m7f], %[vb], lsr #1\n\tuhadd8 %[t], %[vb], %[t]\n\t"                                      \
    "and %[h], %[m3], %[t], lsr #6\n\tsmlad %[sb], %[h], %[xe], %[sb]\n\t"                                 \
    "and %[h], %[m3], %[t], lsr #14\n\tsmlad %[sb], %[h], %[xo], %[sb]\n\t"
#define EK_T158_TIMES3_ASM                                                                                 \
    "uadd8 %[t], %[va], %[va]\n\tuadd8 %[va], %[va], %[t]\n\t"                                             \
    "uadd8 %[t], %[vb], %[vb]\n\tuadd8 %[vb], %[vb], %[t]\n\t"

/* Rows a and b = a + rb (16 bytes per block, blocks contiguous) over nb widened blocks; sums added to *a, *b.
 * Written out: as C, GCC loads each pair twice and spills (~120 instructions per word of two rows, here 85:
 * 2 LDR, 5 LDRD, 20 AND, 10 UHADD8, 20 SMLAD, 16 UADD8, the loop test, for 40 weights). */
static void t158_rows2(int32_t *a, int32_t *b, const uint8_t *qa, uint32_t rb, uint32_t nb, const uint64_t *pairs)
{
    const uint32_t m3 = 0x00030003u, m7f = 0x7F7F7F7Fu;
    const uint64_t *xp = pairs, *xend = pairs + EK_T158_DSP_PAIRS * nb;
    int32_t sa = *a, sb = *b;
    uint32_t va, vb, t, h, xe, xo;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[vb], [%[qa], %[rb]]\n\t"
        "ldr %[va], [%[qa]], #4\n\t"
        EK_T158_DIGIT_ASM("ldrd %[xe], %[xo], [%[xp]], #40\n\t")
        EK_T158_TIMES3_ASM
        EK_T158_DIGIT_ASM("ldrd %[xe], %[xo], [%[xp], #-32]\n\t")
        EK_T158_TIMES3_ASM
        EK_T158_DIGIT_ASM("ldrd %[xe], %[xo], [%[xp], #-24]\n\t")
        EK_T158_TIMES3_ASM
        EK_T158_DIGIT_ASM("ldrd %[xe], %[xo], [%[xp], #-16]\n\t")
        EK_T158_TIMES3_ASM
        EK_T158_DIGIT_ASM("ldrd %[xe], %[xo], [%[xp], #-8]\n\t")
        "cmp %[xp], %[xend]\n\t"
        "bne 1b\n\t"
        : [sa] "+r"(sa), [sb] "+r"(sb), [qa] "+r"(qa), [xp] "+r"(xp), [va] "=&r"(va), [vb] "=&r"(vb),
          [t] "=&r"(t), [h] "=&r"(h), [xe] "=&r"(xe), [xo] "=&r"(xo)
        : [rb] "r"(rb), [m3] "r"(m3), [m7f] "r"(m7f), [xend] "r"(xend)
        : "cc", "memory");
    *a = sa, *b = sb;
}

/* Two rows at a time over chunks of whole blocks, then the row tail as one more block: its bytes copied to a
 * zeroed 16-byte block (zero bytes decode as digit 0) against x_tail. An odd last row runs as a pair with
 * itself and keeps one of the two sums. */
void ek_matvec_t158_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u, row_bytes = blocks * 16u + tail_bytes;
    uint64_t pairs[EK_T158_DSP_CHUNK_BLOCKS * EK_T158_DSP_PAIRS];
    int8_t x_tail[EK_T158_BLOCK]; /* the tail's x_q in block order */
    const int32_t x_sum = ek_t158_prepare(x, cols, x_tail);
    uint32_t r, b0, b;
    EK_KERNEL_RAN(EK_FMT_T158, "dsp");
    for (r = 0; r < w->rows; r++)
        acc[r] = -x_sum;
    for (b0 = 0; b0 < blocks; b0 += EK_T158_DSP_CHUNK_BLOCKS) {
        const uint32_t nb = blocks - b0 < EK_T158_DSP_CHUNK_BLOCKS ? blocks - b0 : EK_T158_DSP_CHUNK_BLOCKS;
        const uint8_t *p = w->data + 16u * b0;
        for (b = 0; b < nb; b++)
            widen_block(x->q + (size_t)(b0 + b) * EK_T158_BLOCK, pairs + EK_T158_DSP_PAIRS * b);
        for (r = 0; r < w->rows; r += 2u, p += 2u * row_bytes) {
            int32_t sb = 0;
            t158_rows2(&acc[r], r + 1u < w->rows ? &acc[r + 1u] : &sb, p, r + 1u < w->rows ? row_bytes : 0u, nb,
                       pairs);
        }
    }
    if (tail) {
        const uint8_t *p = w->data + 16u * blocks;
        widen_block(x_tail, pairs);
        for (r = 0; r < w->rows; r += 2u, p += 2u * row_bytes) {
            uint8_t tails[32] = {0}; /* row r's tail block, then row r + 1's */
            int32_t sb = 0;
            memcpy(tails, p, tail_bytes);
            if (r + 1u < w->rows)
                memcpy(tails + 16, p + row_bytes, tail_bytes);
            t158_rows2(&acc[r], r + 1u < w->rows ? &acc[r + 1u] : &sb, tails, 16u, 1u, pairs);
        }
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_t158_dsp_not_built;
#endif
