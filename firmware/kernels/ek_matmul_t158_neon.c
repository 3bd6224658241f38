/* ek_matmul_t158_neon.c — the t158 prefill matmul for AArch64 NEON (EK_KERNEL_NEON), with SDOT when
 * EK_KERNEL_DOTPROD: acc[k * acc_stride + r] equal ek_matvec_t158_c's for every input, bit for bit (integer sums are
 * exact in any order).
 *
 * The digits are those of ek_matvec_t158_neon (VMUL.U8 by 3^k, then ((v + (v >> 1)) >> 1) >> 6 for (3v) >> 8):
 * four instructions per 16 digits, most of the matvec's work. Here the five digit vectors of a row's block are
 * made once for four inputs, each meeting them in five dot steps; rows are walked once per four inputs, whose x_q
 * rows stay in L1. w . x = digit . x - sum(x) as in the matvec. Counted on the bundled model under qemu-aarch64
 * (instructions per prompt token of a 96-token prompt in chunks of 32, docs/kernels.md): 4.22 M (plain NEON) and
 * 3.90 M (dotprod) with one matvec per input, 2.57 M and 2.27 M with this.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_NEON || EK_ISA_TERNARY == EK_ISA_DOTPROD
#include <string.h>

#include <arm_neon.h>

#if EK_ISA_TERNARY == EK_ISA_DOTPROD
#define EK_T158_MM_NAME "dotprod"
#else
#define EK_T158_MM_NAME "neon"
#endif
#define EK_T158_MM_TILE 4u

static inline int8x16_t digit(uint8x16_t v)
{
    return vreinterpretq_s8_u8(vshrq_n_u8(vhaddq_u8(v, vshrq_n_u8(v, 1)), 6));
}

/* sum += the five digit vectors d[0..4] of a block . the 80 x_q at x */
static inline int32x4_t block_dot(int32x4_t sum, const int8x16_t d[5], const int8_t *x)
{
#if EK_ISA_TERNARY == EK_ISA_DOTPROD
    sum = vdotq_s32(sum, d[0], vld1q_s8(x));
    sum = vdotq_s32(sum, d[1], vld1q_s8(x + 16));
    sum = vdotq_s32(sum, d[2], vld1q_s8(x + 32));
    sum = vdotq_s32(sum, d[3], vld1q_s8(x + 48));
    return vdotq_s32(sum, d[4], vld1q_s8(x + 64));
#else
    /* ten products per int16 lane, each |digit * x| <= 2 * 128: at most 2560, then one widening add */
    int16x8_t prod = vmull_s8(vget_low_s8(d[0]), vget_low_s8(vld1q_s8(x)));
    unsigned k;
    prod = vmlal_high_s8(prod, d[0], vld1q_s8(x));
    for (k = 1; k < 5u; k++) {
        const int8x16_t xk = vld1q_s8(x + 16u * k);
        prod = vmlal_s8(prod, vget_low_s8(d[k]), vget_low_s8(xk));
        prod = vmlal_high_s8(prod, d[k], xk);
    }
    return vpadalq_s16(sum, prod);
#endif
}

/* the five digit vectors of the 16 stored bytes at q8 */
static inline void block_digits(const uint8_t *q8, int8x16_t d[5])
{
    const uint8x16_t q = vld1q_u8(q8);
    d[0] = digit(q);
    d[1] = digit(vmulq_u8(q, vdupq_n_u8(3)));
    d[2] = digit(vmulq_u8(q, vdupq_n_u8(9)));
    d[3] = digit(vmulq_u8(q, vdupq_n_u8(27)));
    d[4] = digit(vmulq_u8(q, vdupq_n_u8(81)));
}

/* acc[k * acc_stride + r] for the n <= EK_T158_MM_TILE inputs xs[0..n) (row tails' x_q in block order in x_tail,
 * sums in x_sum); missing slots repeat input 0 and are not stored */
static void matmul_tile(const ek_tensor *w, const int8_t *const *xs, const int8_t (*x_tail)[EK_T158_BLOCK],
                        const int32_t *x_sum, uint32_t n, int32_t *acc, uint32_t acc_stride)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u;
    const uint8_t *p = w->data; /* per row: (blocks, 16) then (tail_bytes) */
    const int8_t *x0 = xs[0], *x1 = n > 1u ? xs[1] : x0, *x2 = n > 2u ? xs[2] : x0, *x3 = n > 3u ? xs[3] : x0;
    const int8_t *t0 = x_tail[0], *t1 = n > 1u ? x_tail[1] : t0, *t2 = n > 2u ? x_tail[2] : t0;
    const int8_t *t3 = n > 3u ? x_tail[3] : t0;
    uint32_t r, b, k;
    for (r = 0; r < w->rows; r++) {
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
        int32x4_t sums[EK_T158_MM_TILE];
        int8x16_t d[5];
        size_t o = 0;
        for (b = 0; b < blocks; b++, p += 16, o += EK_T158_BLOCK) {
            block_digits(p, d);
            s0 = block_dot(s0, d, x0 + o);
            s1 = block_dot(s1, d, x1 + o);
            s2 = block_dot(s2, d, x2 + o);
            s3 = block_dot(s3, d, x3 + o);
        }
        if (tail) {
            /* zero bytes decode as digit 0 and meet x_tail's zeros: they add nothing */
            uint8_t t[16] = {0};
            memcpy(t, p, tail_bytes);
            p += tail_bytes;
            block_digits(t, d);
            s0 = block_dot(s0, d, t0);
            s1 = block_dot(s1, d, t1);
            s2 = block_dot(s2, d, t2);
            s3 = block_dot(s3, d, t3);
        }
        sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3;
        for (k = 0; k < n; k++)
            acc[k * (size_t)acc_stride + r] = vaddvq_s32(sums[k]) - x_sum[k];
    }
}

void ek_matmul_t158_neon(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    uint32_t t, k;
    EK_KERNEL_RAN(EK_FMT_T158, EK_T158_MM_NAME);
    for (t = 0; t < n_x; t += EK_T158_MM_TILE) {
        const uint32_t n = n_x - t < EK_T158_MM_TILE ? n_x - t : EK_T158_MM_TILE;
        const int8_t *xs[EK_T158_MM_TILE];
        int8_t x_tail[EK_T158_MM_TILE][EK_T158_BLOCK];
        int32_t x_sum[EK_T158_MM_TILE];
        if (n == 1u) { /* one input: the matvec, with no idle tile slots */
            ek_matvec_t158_neon(w, &x[t], acc + (size_t)t * acc_stride);
            continue;
        }
        for (k = 0; k < n; k++) {
            xs[k] = x[t + k].q;
            x_sum[k] = ek_t158_prepare(&x[t + k], w->cols, x_tail[k]);
        }
        matmul_tile(w, xs, (const int8_t(*)[EK_T158_BLOCK])x_tail, x_sum, n, acc + (size_t)t * acc_stride,
                    acc_stride);
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matmul_t158_neon_not_built;
#endif
