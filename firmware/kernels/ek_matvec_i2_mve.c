/* ek_matvec_i2_mve.c — i2 ternary matvec for Cortex-M Helium/MVE (EK_KERNEL_MVE, e.g. Cortex-M55).
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
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_mve_not_built;
#endif
