/* ek_matvec_i2_neon.c — i2 ternary matvec for AArch64 NEON (EK_KERNEL_NEON), with the int8 dot-product
 * instruction when EK_KERNEL_DOTPROD (Armv8.2 dotprod: Cortex-A55/A76, Apple M). The accumulators equal
 * ek_matvec_i2_c's bit for bit: integer sums are exact in any order.
 *
 * One 32-byte i2 block unpacks with four shift+mask steps; step s yields weights 32s..32s+31 of the block
 * as two int8x16 vectors (code - 1), which meet x_q[32s..32s+31] in two dot products. x_q is padded with
 * zeros to whole 128-weight blocks (EK_XQ_PAD), so there is no tail. The prefill matmul (ek_matmul_i2_neon, at
 * the end) equals it per input the same way.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_NEON || EK_ISA_TERNARY == EK_ISA_DOTPROD
#include <arm_neon.h>

/* the name this body answers to: the dotprod build runs SDOT (the block step below), the plain one does not */
#if EK_ISA_TERNARY == EK_ISA_DOTPROD
#define EK_I2_NEON_NAME "dotprod"
#else
#define EK_I2_NEON_NAME "neon"
#endif

/* sum += w . x over 16 int8 lanes */
static inline int32x4_t dot16(int32x4_t sum, int8x16_t w, int8x16_t x)
{
#if EK_ISA_TERNARY == EK_ISA_DOTPROD
    return vdotq_s32(sum, w, x);
#else
    /* |w| <= 3 (the matvec's weights c - 1 in -1..2, the matmul's codes c in 0..3) and |x| <= 128, so a pair of
     * products fits int16 */
    int16x8_t prod = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    prod = vmlal_high_s8(prod, w, x);
    return vpadalq_s16(sum, prod);
#endif
}

/* weights of one shift step: ((bytes >> shift) & 3) - 1 */
#define EK_I2_UNPACK(bytes, shift) \
    vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8((bytes), (shift)), mask)), one)
/* the lowest field needs no shift (immediate shifts are 1..8) */
#define EK_I2_UNPACK_LOW(bytes) vsubq_s8(vreinterpretq_s8_u8(vandq_u8((bytes), mask)), one)

void ek_matvec_i2_neon(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint8x16_t mask = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    uint32_t r, b;
    EK_KERNEL_RAN(EK_FMT_I2, EK_I2_NEON_NAME);
    for (r = 0; r < w->rows; r++) {
        int32x4_t sum = vdupq_n_s32(0);
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            const uint8x16_t lo = vld1q_u8(p), hi = vld1q_u8(p + 16); /* bytes 0..15, 16..31 */
            sum = dot16(sum, EK_I2_UNPACK(lo, 6), vld1q_s8(xb));
            sum = dot16(sum, EK_I2_UNPACK(hi, 6), vld1q_s8(xb + 16));
            sum = dot16(sum, EK_I2_UNPACK(lo, 4), vld1q_s8(xb + 32));
            sum = dot16(sum, EK_I2_UNPACK(hi, 4), vld1q_s8(xb + 48));
            sum = dot16(sum, EK_I2_UNPACK(lo, 2), vld1q_s8(xb + 64));
            sum = dot16(sum, EK_I2_UNPACK(hi, 2), vld1q_s8(xb + 80));
            sum = dot16(sum, EK_I2_UNPACK_LOW(lo), vld1q_s8(xb + 96));
            sum = dot16(sum, EK_I2_UNPACK_LOW(hi), vld1q_s8(xb + 112));
        }
        acc[r] = vaddvq_s32(sum);
    }
}

/* ek_matmul_i2_neon: a prefill chunk, two rows and four inputs at a time. Each 16-byte quarter of a block of the
 * two rows is masked into its code vectors (c = w + 1, so sum(w . x) = sum(c . x) - sum(x), sum(x) taken once per
 * input) once for four inputs, and each x load serves both rows: per 16 weights of a row and input 1 dot step and
 * half an x load, plus the decode / 4. Rows are walked once per four inputs, whose x_q rows (4 x 6912 bytes for a
 * 2B-4T down projection) stay in L1, as in the AVX2 matmul. Counted on the bundled model under qemu-aarch64
 * (instructions per prompt token of a 96-token prompt in chunks of 32, docs/kernels.md): 2.97 M (plain NEON) and
 * 2.49 M (dotprod) with one matvec per input, 2.19 M and 1.70 M with one row and four inputs, 2.12 M and 1.47 M
 * with this. */
#define EK_I2_NEON_TILE 4u

/* codes of one shift step: (bytes >> shift) & 3 */
#define EK_I2_CODES(bytes, shift) vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8((bytes), (shift)), mask))
#define EK_I2_CODES_LOW(bytes) vreinterpretq_s8_u8(vandq_u8((bytes), mask))

/* Plain NEON: GCC 12's first scheduling pass hoists the code vectors of a whole block ahead of their uses and
 * spills them (the widening multiply-adds need temporaries besides the eight accumulators): 2.72 M instructions
 * per prompt token with it, 2.12 M without. The dotprod body does not spill (1.47 M with it, 1.50 M without). */
#if defined(__GNUC__) && !defined(__clang__) && EK_ISA_TERNARY == EK_ISA_NEON
#define EK_NO_EARLY_SCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define EK_NO_EARLY_SCHEDULE
#endif

/* acc[k * acc_stride + r] = W x_k for the n <= EK_I2_NEON_TILE inputs xs[0..n) with x_sum[k] = sum(x_k); missing
 * input slots repeat input 0 and are not stored; an odd last row runs as both rows of its pair */
EK_NO_EARLY_SCHEDULE
static void matmul_tile(const ek_tensor *w, const int8_t *const *xs, const int32_t *x_sum, uint32_t n, int32_t *acc,
                        uint32_t acc_stride)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const size_t row_bytes = (size_t)blocks * 32u;
    const uint8x16_t mask = vdupq_n_u8(3);
    const int8_t *x0 = xs[0], *x1 = n > 1u ? xs[1] : x0, *x2 = n > 2u ? xs[2] : x0, *x3 = n > 3u ? xs[3] : x0;
    uint32_t r, b, k;
    for (r = 0; r < w->rows; r += 2u) {
        const uint8_t *pa = w->data + (size_t)r * row_bytes, *pb = r + 1u < w->rows ? pa + row_bytes : pa;
        int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int32x4_t sums[2][EK_I2_NEON_TILE];
        size_t o = 0;
        for (b = 0; b < blocks; b++, pa += 32, pb += 32, o += EK_I2_BLOCK) {
            const uint8x16_t alo = vld1q_u8(pa), ahi = vld1q_u8(pa + 16); /* bytes 0..15, 16..31 */
            const uint8x16_t blo = vld1q_u8(pb), bhi = vld1q_u8(pb + 16);
            /* codes o + 16j .. o + 16j + 15 of both rows against the same x_q of each input of the tile */
#define EK_I2_PAIR_STEP(ca, cb, j)                                                                              \
    do {                                                                                                       \
        const int8x16_t wa = (ca), wb = (cb);                                                                  \
        int8x16_t xv = vld1q_s8(x0 + o + 16u * (j));                                                           \
        a0 = dot16(a0, wa, xv), b0 = dot16(b0, wb, xv);                                                        \
        xv = vld1q_s8(x1 + o + 16u * (j));                                                                     \
        a1 = dot16(a1, wa, xv), b1 = dot16(b1, wb, xv);                                                        \
        xv = vld1q_s8(x2 + o + 16u * (j));                                                                     \
        a2 = dot16(a2, wa, xv), b2 = dot16(b2, wb, xv);                                                        \
        xv = vld1q_s8(x3 + o + 16u * (j));                                                                     \
        a3 = dot16(a3, wa, xv), b3 = dot16(b3, wb, xv);                                                        \
    } while (0)
            EK_I2_PAIR_STEP(EK_I2_CODES(alo, 6), EK_I2_CODES(blo, 6), 0);
            EK_I2_PAIR_STEP(EK_I2_CODES(ahi, 6), EK_I2_CODES(bhi, 6), 1);
            EK_I2_PAIR_STEP(EK_I2_CODES(alo, 4), EK_I2_CODES(blo, 4), 2);
            EK_I2_PAIR_STEP(EK_I2_CODES(ahi, 4), EK_I2_CODES(bhi, 4), 3);
            EK_I2_PAIR_STEP(EK_I2_CODES(alo, 2), EK_I2_CODES(blo, 2), 4);
            EK_I2_PAIR_STEP(EK_I2_CODES(ahi, 2), EK_I2_CODES(bhi, 2), 5);
            EK_I2_PAIR_STEP(EK_I2_CODES_LOW(alo), EK_I2_CODES_LOW(blo), 6);
            EK_I2_PAIR_STEP(EK_I2_CODES_LOW(ahi), EK_I2_CODES_LOW(bhi), 7);
#undef EK_I2_PAIR_STEP
        }
        sums[0][0] = a0, sums[0][1] = a1, sums[0][2] = a2, sums[0][3] = a3;
        sums[1][0] = b0, sums[1][1] = b1, sums[1][2] = b2, sums[1][3] = b3;
        for (k = 0; k < n; k++) {
            acc[k * (size_t)acc_stride + r] = vaddvq_s32(sums[0][k]) - x_sum[k];
            if (r + 1u < w->rows)
                acc[k * (size_t)acc_stride + r + 1u] = vaddvq_s32(sums[1][k]) - x_sum[k];
        }
    }
}

void ek_matmul_i2_neon(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    const uint32_t padded = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK * EK_I2_BLOCK;
    uint32_t t, k, i;
    EK_KERNEL_RAN(EK_FMT_I2, EK_I2_NEON_NAME);
    for (t = 0; t < n_x; t += EK_I2_NEON_TILE) {
        const uint32_t n = n_x - t < EK_I2_NEON_TILE ? n_x - t : EK_I2_NEON_TILE;
        const int8_t *xs[EK_I2_NEON_TILE];
        int32_t x_sum[EK_I2_NEON_TILE];
        if (n == 1u) { /* one input: the matvec, with no idle tile slots */
            ek_matvec_i2_neon(w, &x[t], acc + (size_t)t * acc_stride);
            continue;
        }
        for (k = 0; k < n; k++) {
            int32_t sum = 0;
            xs[k] = x[t + k].q;
            for (i = 0; i < padded; i += 16u)
                sum += vaddlvq_s8(vld1q_s8(xs[k] + i));
            x_sum[k] = sum;
        }
        matmul_tile(w, xs, x_sum, n, acc + (size_t)t * acc_stride, acc_stride);
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_neon_not_built;
#endif
