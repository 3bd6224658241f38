/* ek_matvec_i2_mve.c — i2 ternary matvec for Cortex-M Helium/MVE (EK_KERNEL_MVE, e.g. Cortex-M55), and the
 * prefill matmul (ek_matmul_i2_mve, at the end).
 * The accumulators equal ek_matvec_i2_c's bit for bit: integer sums are exact in any order.
 *
 * Each 16-lane step is one VMLADAVA (multiply int8 lanes, add them all to a scalar int32), and the codes are
 * never unpacked to weights. With c = w + 1 the 2-bit code of a field, sum(x * w) = sum(x * c) - sum(x), and
 * sum(x) is the same for every row: it is taken once per call. The fields of a byte are used in place:
 * bits 7..6 as (b >> 6) = c and bits 1..0 as (b & 3) = c feed a unit accumulator; bits 5..4 as (b & 0x30) =
 * 16c and bits 3..2 as ((b << 2) & 0x30) = 16c feed a x16 accumulator, divided by 16 (exactly: every term
 * is a multiple of 16) at the end of the row. All fit int8 lanes (c <= 3).
 *
 * Two rows at a time share every x load. VMLADAVA accumulates into even-numbered core registers only (seven
 * of them besides LR, the loop counter), so two accumulators per row, not one per field.
 *
 * Range: |x| <= 128 and c <= 3, so the x16 accumulator grows by at most 2 * 6144 per 4 columns of the row:
 * int32 holds it for rows of over half a million weights.
 *
 * x_q is padded to whole 128-weight blocks (EK_XQ_PAD), zero beyond n, so there is no tail predication and
 * the padding adds nothing to sum(x).
 *
 * Measured on the bundled model, qemu-mps3-an547 under -icount (instructions per generated token, whole
 * model): 4.01 M with shift+mask+re-centre per field, 3.22 M with fields in place one row at a time, and
 * this two-row body (see the commit log and `edgekit bench --suite qemu`).
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_MVE
#include <arm_mve.h>

/* The four fields of byte vector v, against the x values of their 16 weights. */
#define EK_I2_UNIT_HI(v) vreinterpretq_s8_u8(vshrq_n_u8((v), 6))
#define EK_I2_UNIT_LO(v) vreinterpretq_s8_u8(vandq_u8((v), m03))
#define EK_I2_X16_54(v) vreinterpretq_s8_u8(vandq_u8((v), m30))
#define EK_I2_X16_32(v) vreinterpretq_s8_u8(vandq_u8(vshlq_n_u8((v), 2), m30))

/* GCC 12's first scheduling pass hoists the x loads of a block ahead of their uses and spills them (Helium
 * has eight Q registers): the one-row loop was 60 instructions per 128 weights with it, 29 without. */
#if defined(__GNUC__) && !defined(__clang__)
#define EK_NO_EARLY_SCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define EK_NO_EARLY_SCHEDULE
#endif

EK_NO_EARLY_SCHEDULE
void ek_matvec_i2_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint32_t row_bytes = blocks * 32u;
    const uint8x16_t m30 = vdupq_n_u8(0x30), m03 = vdupq_n_u8(0x03);
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    int32_t x_sum = 0;
    uint32_t r = 0, b, i;
    EK_KERNEL_RAN(EK_FMT_I2, "mve");
    for (i = 0; i < blocks * EK_I2_BLOCK; i += 16u) {
        x_sum = vaddvaq_s8(x_sum, vld1q_s8(x->q + i));
    }
    for (; r + 2u <= w->rows; r += 2u, p += 2u * row_bytes) {
        int32_t a1 = 0, a16 = 0, b1 = 0, b16 = 0; /* rows r and r+1: unit and x16 sums */
        const uint8_t *pa = p, *pb = p + row_bytes;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, pa += 32, pb += 32, xb += EK_I2_BLOCK) {
            unsigned half;
            for (half = 0; half < 2u; half++) { /* bytes 0..15, then 16..31 of the block */
                const uint8x16_t va = vld1q_u8(pa + 16u * half), vb = vld1q_u8(pb + 16u * half);
                const int8_t *xh = xb + 16u * half;
                int8x16_t xv = vld1q_s8(xh);
                a1 = vmladavaq_s8(a1, EK_I2_UNIT_HI(va), xv);
                b1 = vmladavaq_s8(b1, EK_I2_UNIT_HI(vb), xv);
                xv = vld1q_s8(xh + 32);
                a16 = vmladavaq_s8(a16, EK_I2_X16_54(va), xv);
                b16 = vmladavaq_s8(b16, EK_I2_X16_54(vb), xv);
                xv = vld1q_s8(xh + 64);
                a16 = vmladavaq_s8(a16, EK_I2_X16_32(va), xv);
                b16 = vmladavaq_s8(b16, EK_I2_X16_32(vb), xv);
                xv = vld1q_s8(xh + 96);
                a1 = vmladavaq_s8(a1, EK_I2_UNIT_LO(va), xv);
                b1 = vmladavaq_s8(b1, EK_I2_UNIT_LO(vb), xv);
            }
        }
        acc[r] = a1 + a16 / 16 - x_sum;
        acc[r + 1u] = b1 + b16 / 16 - x_sum;
    }
    if (r < w->rows) { /* an odd last row */
        int32_t a1 = 0, a16 = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < 2u * blocks; b++, p += 16) {
            const uint8x16_t va = vld1q_u8(p);
            const int8_t *xh = xb + (b / 2u) * EK_I2_BLOCK + (b % 2u) * 16u;
            a1 = vmladavaq_s8(a1, EK_I2_UNIT_HI(va), vld1q_s8(xh));
            a16 = vmladavaq_s8(a16, EK_I2_X16_54(va), vld1q_s8(xh + 32));
            a16 = vmladavaq_s8(a16, EK_I2_X16_32(va), vld1q_s8(xh + 64));
            a1 = vmladavaq_s8(a1, EK_I2_UNIT_LO(va), vld1q_s8(xh + 96));
        }
        acc[r] = a1 + a16 / 16 - x_sum;
    }
}

/* ek_matmul_i2_mve: a prefill chunk, two rows and two inputs at a time. Each 16-byte half-block of the two rows
 * is loaded and split into its four code fields once (c = b>>6, (b>>4)&3, (b>>2)&3, b&3, in the unit scale: the
 * shifts are paid once per pair of inputs), and each x load serves both rows. The inner loop is 85 instructions
 * per block for 32 VMLADAVA (GCC 12): 21 per block, row and input, against 34 in the two-row matvec. Measured on
 * the bundled model, 96-token prompt in chunks of 32 on qemu-mps3-an547 under -icount, prefill instructions per
 * token: 2.20 M with one matvec per input, 1.84 M with one row and four inputs, 1.82 M mixing two rows and three
 * inputs (GCC spills and re-adds addresses with six accumulators), 1.79 M with this. */

/* field c of rows a and b (fa, fb) against the x_q at xk + at, into sa and sb */
#define EK_I2_PAIR_DOT(sa, sb, xk, at)                                                                          \
    do {                                                                                                       \
        const int8x16_t xv = vld1q_s8((xk) + (at));                                                            \
        sa = vmladavaq_s8(sa, fa, xv);                                                                         \
        sb = vmladavaq_s8(sb, fb, xv);                                                                         \
    } while (0)
/* both inputs against one field of both rows */
#define EK_I2_PAIR_FIELD(at)                                                                                    \
    do {                                                                                                       \
        EK_I2_PAIR_DOT(a0, b0, x0, at);                                                                        \
        EK_I2_PAIR_DOT(a1, b1, x1, at);                                                                        \
    } while (0)
/* the four fields of the half-block at byte `off` of rows pa and pb, one at a time (Helium has eight Q
 * registers: two rows of bytes, two fields, the mask and an x vector) */
#define EK_I2_PAIR_HALF(off)                                                                                    \
    do {                                                                                                       \
        const uint8x16_t va = vld1q_u8(pa + (off)), vb = vld1q_u8(pb + (off));                                 \
        int8x16_t fa = vreinterpretq_s8_u8(vshrq_n_u8(va, 6)), fb = vreinterpretq_s8_u8(vshrq_n_u8(vb, 6));    \
        EK_I2_PAIR_FIELD(off);                                                                                 \
        fa = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(va, 4), m03));                                            \
        fb = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(vb, 4), m03));                                            \
        EK_I2_PAIR_FIELD((off) + 32);                                                                          \
        fa = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(va, 2), m03));                                            \
        fb = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(vb, 2), m03));                                            \
        EK_I2_PAIR_FIELD((off) + 64);                                                                          \
        fa = vreinterpretq_s8_u8(vandq_u8(va, m03));                                                           \
        fb = vreinterpretq_s8_u8(vandq_u8(vb, m03));                                                           \
        EK_I2_PAIR_FIELD((off) + 96);                                                                          \
    } while (0)

/* acc[k * acc_stride + r] = sum(codes . x_k) - x_sum[k] for the inputs xs[0], xs[1] and the rows 0 .. rows & ~1 */
EK_NO_EARLY_SCHEDULE
static void matmul_pairs(const ek_tensor *w, const int8_t *const xs[2], const int32_t x_sum[2], int32_t *acc,
                         uint32_t acc_stride)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK, row_bytes = blocks * 32u;
    const uint8x16_t m03 = vdupq_n_u8(0x03);
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    uint32_t r, b;
    for (r = 0; r + 2u <= w->rows; r += 2u, p += 2u * row_bytes) {
        int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0; /* row r, row r+1; inputs 0 and 1 */
        const uint8_t *pa = p, *pb = p + row_bytes;
        const int8_t *x0 = xs[0], *x1 = xs[1];
        for (b = 0; b < blocks; b++, pa += 32, pb += 32, x0 += EK_I2_BLOCK, x1 += EK_I2_BLOCK) {
            EK_I2_PAIR_HALF(0);
            EK_I2_PAIR_HALF(16);
        }
        acc[r] = a0 - x_sum[0], acc[r + 1u] = b0 - x_sum[0];
        acc[acc_stride + r] = a1 - x_sum[1], acc[acc_stride + r + 1u] = b1 - x_sum[1];
    }
}

void ek_matmul_i2_mve(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    const uint32_t padded = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK * EK_I2_BLOCK;
    ek_tensor last_row = *w; /* an odd last row: the matvec's one-row path, per input */
    uint32_t t, k, i;
    if (w->rows % 2u) {
        last_row.rows = 1u;
        last_row.data = w->data + (size_t)(w->rows - 1u) * (padded / EK_I2_BLOCK) * 32u;
    }
    EK_KERNEL_RAN(EK_FMT_I2, "mve");
    for (t = 0; t + 2u <= n_x; t += 2u) {
        int32_t *out = acc + (size_t)t * acc_stride;
        const int8_t *xs[2];
        int32_t x_sum[2];
        for (k = 0; k < 2u; k++) {
            int32_t sum = 0;
            xs[k] = x[t + k].q;
            for (i = 0; i < padded; i += 16u)
                sum = vaddvaq_s8(sum, vld1q_s8(xs[k] + i));
            x_sum[k] = sum;
        }
        matmul_pairs(w, xs, x_sum, out, acc_stride);
        if (w->rows % 2u)
            for (k = 0; k < 2u; k++)
                ek_matvec_i2_mve(&last_row, &x[t + k], out + (size_t)k * acc_stride + w->rows - 1u);
    }
    if (t < n_x) /* an odd last input: the matvec shares x between rows the same way */
        ek_matvec_i2_mve(w, &x[t], acc + (size_t)t * acc_stride);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_mve_not_built;
#endif
