/* ek_matmul_t158_mve.c — the t158 prefill matmul for Cortex-M Helium/MVE (EK_KERNEL_MVE): acc[k * acc_stride + r]
 * equal ek_matvec_t158_c's for every input, bit for bit (integer sums are exact in any order).
 *
 * The digits are those of ek_matvec_t158_mve (VMUL.U8 by 3^k, then VMULH.U8 by 3), one VMLADAVA per 16 digits;
 * here two rows and two inputs at a time: the ten digit vectors of a block of two rows are made once for both
 * inputs, and each x load serves both rows. The loop is 57 instructions per block for 20 VMLADAVA (GCC 12): 14
 * per block, row and input, against 19 in the two-row matvec. Odd last rows and inputs go through the matvec.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_MVE
#include <string.h>

#include <arm_mve.h>

/* digit k of the stored bytes q (see ek_matvec_t158_c.c): (q * 3^k mod 256) * 3 >> 8 */
#define EK_T158_MM_DIGIT(q, pow3) vreinterpretq_s8_u8(vmulhq_u8(vmulq_n_u8((q), (pow3)), three))

/* GCC 12's first scheduling pass hoists loads ahead of their uses and runs out of the eight Q registers (as in the
 * matvec) */
#if defined(__GNUC__) && !defined(__clang__)
#define EK_NO_EARLY_SCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define EK_NO_EARLY_SCHEDULE
#endif

/* one digit of rows a and b against the x_q of both inputs at byte offset at of x0, x1 */
#define EK_T158_MM_DIGITS(da, db, at)                                                                           \
    do {                                                                                                       \
        const int8x16_t fa = (da), fb = (db);                                                                  \
        int8x16_t xv = vld1q_s8(x0 + (at));                                                                    \
        a0 = vmladavaq_s8(a0, fa, xv), b0 = vmladavaq_s8(b0, fb, xv);                                          \
        xv = vld1q_s8(x1 + (at));                                                                              \
        a1 = vmladavaq_s8(a1, fa, xv), b1 = vmladavaq_s8(b1, fb, xv);                                          \
    } while (0)
/* one 80-weight block of both rows (bytes qa, qb) against x0, x1 (80 x_q each, in block order) */
#define EK_T158_MM_BLOCK(qa, qb)                                                                                \
    do {                                                                                                       \
        EK_T158_MM_DIGITS(vreinterpretq_s8_u8(vmulhq_u8((qa), three)),                                         \
                          vreinterpretq_s8_u8(vmulhq_u8((qb), three)), 0);                                     \
        EK_T158_MM_DIGITS(EK_T158_MM_DIGIT(qa, 3), EK_T158_MM_DIGIT(qb, 3), 16);                               \
        EK_T158_MM_DIGITS(EK_T158_MM_DIGIT(qa, 9), EK_T158_MM_DIGIT(qb, 9), 32);                               \
        EK_T158_MM_DIGITS(EK_T158_MM_DIGIT(qa, 27), EK_T158_MM_DIGIT(qb, 27), 48);                             \
        EK_T158_MM_DIGITS(EK_T158_MM_DIGIT(qa, 81), EK_T158_MM_DIGIT(qb, 81), 64);                             \
    } while (0)

/* Rows 0 .. rows & ~1 for the inputs xs[0], xs[1]: their row tails' x_q in block order (ek_t158_prepare) and
 * sums. */
EK_NO_EARLY_SCHEDULE
static void matmul_pairs(const ek_tensor *w, const int8_t *const xs[2], const int8_t x_tail[2][EK_T158_BLOCK],
                         const int32_t x_sum[2], int32_t *acc, uint32_t acc_stride)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u, row_bytes = blocks * 16u + tail_bytes;
    const uint8x16_t three = vdupq_n_u8(3);
    const uint8_t *p = w->data; /* per row: (blocks, 16) then (tail_bytes) */
    uint32_t r, b;
    for (r = 0; r + 2u <= w->rows; r += 2u, p += 2u * row_bytes) {
        int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0; /* row r, row r+1; inputs 0 and 1 */
        const uint8_t *pa = p, *pb = p + row_bytes;
        const int8_t *x0 = xs[0], *x1 = xs[1];
        for (b = 0; b < blocks; b++, pa += 16, pb += 16, x0 += EK_T158_BLOCK, x1 += EK_T158_BLOCK) {
            const uint8x16_t qa = vld1q_u8(pa), qb = vld1q_u8(pb);
            EK_T158_MM_BLOCK(qa, qb);
        }
        if (tail) {
            /* zero bytes decode as digit 0 and meet x_tail's zeros: they add nothing */
            uint8_t ta[16] = {0}, tb[16] = {0};
            memcpy(ta, pa, tail_bytes);
            memcpy(tb, pb, tail_bytes);
            x0 = x_tail[0], x1 = x_tail[1];
            {
                const uint8x16_t qa = vld1q_u8(ta), qb = vld1q_u8(tb);
                EK_T158_MM_BLOCK(qa, qb);
            }
        }
        acc[r] = a0 - x_sum[0], acc[r + 1u] = b0 - x_sum[0];
        acc[acc_stride + r] = a1 - x_sum[1], acc[acc_stride + r + 1u] = b1 - x_sum[1];
    }
}

void ek_matmul_t158_mve(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    const uint32_t tail = w->cols % EK_T158_BLOCK;
    const uint32_t row_bytes = w->cols / EK_T158_BLOCK * 16u + (tail + 4u) / 5u;
    ek_tensor last_row = *w; /* an odd last row: the matvec's one-row path, per input */
    uint32_t t, k;
    if (w->rows % 2u) {
        last_row.rows = 1u;
        last_row.data = w->data + (size_t)(w->rows - 1u) * row_bytes;
    }
    EK_KERNEL_RAN(EK_FMT_T158, "mve");
    for (t = 0; t + 2u <= n_x; t += 2u) {
        int32_t *out = acc + (size_t)t * acc_stride;
        const int8_t *xs[2];
        int8_t x_tail[2][EK_T158_BLOCK];
        int32_t x_sum[2];
        for (k = 0; k < 2u; k++) {
            xs[k] = x[t + k].q;
            x_sum[k] = ek_t158_prepare(&x[t + k], w->cols, x_tail[k]);
        }
        matmul_pairs(w, xs, (const int8_t(*)[EK_T158_BLOCK])x_tail, x_sum, out, acc_stride);
        if (w->rows % 2u)
            for (k = 0; k < 2u; k++)
                ek_matvec_t158_mve(&last_row, &x[t + k], out + (size_t)k * acc_stride + w->rows - 1u);
    }
    if (t < n_x) /* an odd last input: the matvec shares x between rows the same way */
        ek_matvec_t158_mve(w, &x[t], acc + (size_t)t * acc_stride);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matmul_t158_mve_not_built;
#endif
