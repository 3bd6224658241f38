/* ek_matvec_t158_mve.c — t158 ternary matvec for Cortex-M Helium/MVE (EK_KERNEL_MVE, e.g. Cortex-M55).
 * The accumulators equal ek_matvec_t158_c's bit for bit: integer sums are exact in any order.
 *
 * The format's decode maps straight onto MVE: v = q * 3^k mod 256 is VMUL.U8 (wrapping), and the digit
 * (v * 3) >> 8 is the high half of a byte product, VMULH.U8. Each 16-lane digit vector meets 16 x_q in
 * one VMLADAVA; w . x = digit . x - sum(x), digit in 0..2. The row tail (cols % 80, packed 5 per byte) is
 * copied to a zeroed 16-byte block and meets a copy of its x_q in block order, so there is no tail
 * predication. Two rows share each x load (the i2 body does the same).
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_MVE
#include <string.h>

#include <arm_mve.h>

/* Digit k (0..4) of the stored bytes q: (q * 3^k mod 256) * 3 >> 8, as VMUL.U8 then VMULH.U8. */
#define EK_T158_DIGIT(q, pow3) vreinterpretq_s8_u8(vmulhq_u8(vmulq_n_u8((q), (pow3)), three))
#define EK_T158_DIGIT0(q) vreinterpretq_s8_u8(vmulhq_u8((q), three))

/* GCC 12's first scheduling pass hoists the block's five x loads ahead of their uses and runs out of the
 * eight Q registers; without it the two-row block is spill-free. */
#if defined(__GNUC__) && !defined(__clang__)
#define EK_NO_EARLY_SCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define EK_NO_EARLY_SCHEDULE
#endif

/* Rows r and r+1 over one 80-weight block: each x load serves both rows. */
#define EK_T158_BLOCK2(qa, qb, x)                                                                       \
    do {                                                                                                \
        int8x16_t xv = vld1q_s8(x);                                                                     \
        sa = vmladavaq_s8(sa, EK_T158_DIGIT0(qa), xv);                                                  \
        sb = vmladavaq_s8(sb, EK_T158_DIGIT0(qb), xv);                                                  \
        xv = vld1q_s8((x) + 16);                                                                        \
        sa = vmladavaq_s8(sa, EK_T158_DIGIT(qa, 3), xv);                                                \
        sb = vmladavaq_s8(sb, EK_T158_DIGIT(qb, 3), xv);                                                \
        xv = vld1q_s8((x) + 32);                                                                        \
        sa = vmladavaq_s8(sa, EK_T158_DIGIT(qa, 9), xv);                                                \
        sb = vmladavaq_s8(sb, EK_T158_DIGIT(qb, 9), xv);                                                \
        xv = vld1q_s8((x) + 48);                                                                        \
        sa = vmladavaq_s8(sa, EK_T158_DIGIT(qa, 27), xv);                                               \
        sb = vmladavaq_s8(sb, EK_T158_DIGIT(qb, 27), xv);                                               \
        xv = vld1q_s8((x) + 64);                                                                        \
        sa = vmladavaq_s8(sa, EK_T158_DIGIT(qa, 81), xv);                                               \
        sb = vmladavaq_s8(sb, EK_T158_DIGIT(qb, 81), xv);                                               \
    } while (0)

/* sum + digit . x over one 80-weight block (16 bytes at q8, 80 x_q values at x) */
static inline int32_t t158_block(int32_t sum, const uint8_t *q8, const int8_t *x)
{
    const uint8x16_t q = vld1q_u8(q8), three = vdupq_n_u8(3);
    sum = vmladavaq_s8(sum, EK_T158_DIGIT0(q), vld1q_s8(x));
    sum = vmladavaq_s8(sum, EK_T158_DIGIT(q, 3), vld1q_s8(x + 16));
    sum = vmladavaq_s8(sum, EK_T158_DIGIT(q, 9), vld1q_s8(x + 32));
    sum = vmladavaq_s8(sum, EK_T158_DIGIT(q, 27), vld1q_s8(x + 48));
    return vmladavaq_s8(sum, EK_T158_DIGIT(q, 81), vld1q_s8(x + 64));
}

/* Two rows at a time, blocks inline (the shared ek_t158_rows_with calls a block function per 80 weights:
 * as much overhead as the block itself here). An odd last row goes through ek_t158_rows_with. */
EK_NO_EARLY_SCHEDULE
void ek_matvec_t158_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u, row_bytes = blocks * 16u + tail_bytes;
    const uint8x16_t three = vdupq_n_u8(3);
    const uint8_t *p = w->data; /* per row: (blocks, 16) then (tail_bytes) */
    int8_t x_tail[EK_T158_BLOCK]; /* the tail's x_q in block order */
    const int32_t x_sum = ek_t158_prepare(x, cols, x_tail);
    uint32_t r = 0, b;
    EK_KERNEL_RAN(EK_FMT_T158, "mve");
    for (; r + 2u <= w->rows; r += 2u, p += 2u * row_bytes) {
        int32_t sa = 0, sb = 0;
        const uint8_t *pa = p, *pb = p + row_bytes;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, pa += 16, pb += 16, xb += EK_T158_BLOCK) {
            const uint8x16_t qa = vld1q_u8(pa), qb = vld1q_u8(pb);
            EK_T158_BLOCK2(qa, qb, xb);
        }
        if (tail) {
            /* zero bytes decode as digit 0 and meet x_tail's zeros: they add nothing */
            uint8_t ta[16] = {0}, tb[16] = {0};
            memcpy(ta, pa, tail_bytes);
            memcpy(tb, pb, tail_bytes);
            {
                const uint8x16_t qa = vld1q_u8(ta), qb = vld1q_u8(tb);
                EK_T158_BLOCK2(qa, qb, x_tail);
            }
        }
        acc[r] = sa - x_sum;
        acc[r + 1u] = sb - x_sum;
    }
    if (r < w->rows) { /* an odd last row: the shared row loop, on that row alone */
        ek_tensor last = *w;
        last.data = p;
        last.rows = 1;
        ek_t158_rows_with(t158_block, &last, x, acc + r);
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_t158_mve_not_built;
#endif
