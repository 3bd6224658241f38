/* ek_matvec_t158_dsp.c — t158 ternary matvec for Cortex-M cores with the DSP extension (EK_KERNEL_DSP: M4,
 * M7, M33 with DSP), four bytes per 32-bit word. The accumulators equal ek_matvec_t158_c's bit for bit:
 * integer sums are exact in any order.
 *
 * t158 is the flash-size format, so it is the one small cores run. Four stored bytes decode in one word:
 * v_{k+1} = 3 v_k mod 256 per byte is two UADD8 (wrapping byte adds), and digit (3v) >> 8 equals
 * ((v + (v >> 1)) >> 1) >> 6 per byte, where UHADD8 is the halving add that never overflows a byte (the
 * masks keep each byte's own bits after the word shifts). w . x = digit . x - sum(x), digit in 0..2; the
 * digits meet x_q four at a time in two SMLADs, as in the i2 DSP body, two rows per x word. The row tail
 * (cols % 80, packed 5 per byte) is copied to a zeroed 16-byte block and meets a copy of its x_q in block
 * order.
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

/* (3v) >> 8 of each byte, times 64 (the digit still sits in bits 7..6 of its byte: the lane masks below take it
 * from there, so no shift back) */
static inline uint32_t digits4_high(uint32_t v)
{
    return (uint32_t)__uhadd8((uint8x4_t)v, (uint8x4_t)((v >> 1) & 0x7F7F7F7Fu));
}

/* 3v mod 256 of each byte */
static inline uint32_t times3(uint32_t v)
{
    return (uint32_t)__uadd8((uint8x4_t)v, __uadd8((uint8x4_t)v, (uint8x4_t)v));
}

/* Digits of bytes 0, 2 and of bytes 1, 3 straight into SMLAD's 16-bit lanes: one AND with a shifted operand
 * each (the i2 DSP body's trick), instead of a shift, a mask and a UXTB16 per pair. */
#define EK_DIGITS_EVEN(h) (((h) >> 6) & 0x00030003u)
#define EK_DIGITS_ODD(h) (((h) >> 14) & 0x00030003u)

/* One digit row (16 weights over 4 words) of two rows against 4 shared x bytes: x widened once for both. */
#define EK_DIGIT2(va, vb, xw)                                                                              \
    do {                                                                                                   \
        const uint32_t ha = digits4_high(va), hb = digits4_high(vb), xword = (xw);                         \
        const int16x2_t xe = __sxtb16((int8x4_t)xword), xo = __sxtb16((int8x4_t)ror8(xword));              \
        sa = __smlad((int16x2_t)EK_DIGITS_EVEN(ha), xe, sa);                                              \
        sa = __smlad((int16x2_t)EK_DIGITS_ODD(ha), xo, sa);                                               \
        sb = __smlad((int16x2_t)EK_DIGITS_EVEN(hb), xe, sb);                                              \
        sb = __smlad((int16x2_t)EK_DIGITS_ODD(hb), xo, sb);                                               \
    } while (0)

/* Rows r and r+1 over one 80-weight block (16 bytes at qa and qb, 80 x_q values at x). */
static inline void t158_block2(int32_t *a, int32_t *b, const uint8_t *qa, const uint8_t *qb, const int8_t *x)
{
    int32_t sa = *a, sb = *b;
    uint32_t i;
    for (i = 0; i < 16u; i += 4u) { /* bytes i..i+3: weights i..i+3 of each 16-weight digit row */
        uint32_t va = load_word(qa + i), vb = load_word(qb + i);
        EK_DIGIT2(va, vb, load_word(x + i));
        va = times3(va), vb = times3(vb);
        EK_DIGIT2(va, vb, load_word(x + 16u + i));
        va = times3(va), vb = times3(vb);
        EK_DIGIT2(va, vb, load_word(x + 32u + i));
        va = times3(va), vb = times3(vb);
        EK_DIGIT2(va, vb, load_word(x + 48u + i));
        va = times3(va), vb = times3(vb);
        EK_DIGIT2(va, vb, load_word(x + 64u + i));
    }
    *a = sa, *b = sb;
}

/* Two rows at a time, blocks inline (the shared ek_t158_rows_with calls a block function per 80 weights).
 * An odd last row runs as a pair with itself and keeps one of the two sums. */
void ek_matvec_t158_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u, row_bytes = blocks * 16u + tail_bytes;
    const uint8_t *p = w->data; /* per row: (blocks, 16) then (tail_bytes) */
    int8_t x_tail[EK_T158_BLOCK]; /* the tail's x_q in block order */
    const int32_t x_sum = ek_t158_prepare(x, cols, x_tail);
    uint32_t r, b;
    EK_KERNEL_RAN(EK_FMT_T158, "dsp");
    for (r = 0; r < w->rows; r += 2u, p += 2u * row_bytes) {
        const uint8_t *pa = p, *pb = r + 1u < w->rows ? p + row_bytes : p;
        const int8_t *xb = x->q;
        int32_t sa = 0, sb = 0;
        for (b = 0; b < blocks; b++, pa += 16, pb += 16, xb += EK_T158_BLOCK)
            t158_block2(&sa, &sb, pa, pb, xb);
        if (tail) {
            /* zero bytes decode as digit 0 and meet x_tail's zeros: they add nothing */
            uint8_t ta[16] = {0}, tb[16] = {0};
            memcpy(ta, pa, tail_bytes);
            memcpy(tb, pb, tail_bytes);
            t158_block2(&sa, &sb, ta, tb, x_tail);
        }
        acc[r] = sa - x_sum;
        if (r + 1u < w->rows)
            acc[r + 1u] = sb - x_sum;
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_t158_dsp_not_built;
#endif
