/* ek_head_q8i_neon.c — the integer lm_head on AArch64 Advanced SIMD (the float family's NEON choice, see
 * ek_isa.h). 16 columns per step: SDOT (vdotq_s32) where the build has the Armv8.2 dot product
 * (EK_KERNEL_DOTPROD), else SMULL/SMULL2 into int16 (|product| <= 16384) and SADALP into int32 lanes. The row tail
 * (cols % 16) is scalar; four rows share each x_q load. The sums are exact, so y equals ek_head_q8i_c's bit for bit. */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_NEON

#include <arm_neon.h>

/* acc += w . x over 16 columns, in 4 int32 lanes */
static inline int32x4_t step16(int32x4_t acc, int8x16_t wv, int8x16_t xv)
{
#if defined(EK_KERNEL_DOTPROD)
    return vdotq_s32(acc, wv, xv);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(wv), vget_low_s8(xv)));
    return vpadalq_s16(acc, vmull_high_s8(wv, xv));
#endif
}

static int32_t dot_s8_neon(const int8_t *w, const int8_t *x_q, size_t n)
{
    const size_t whole = n - n % 16u;
    int32x4_t acc = vdupq_n_s32(0);
    int32_t sum;
    size_t c;
    for (c = 0; c < whole; c += 16u)
        acc = step16(acc, vld1q_s8(w + c), vld1q_s8(x_q + c));
    sum = vaddvq_s32(acc);
    for (; c < n; c++)
        sum += (int32_t)w[c] * (int32_t)x_q[c];
    return sum;
}

void ek_head_q8i_neon(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    const size_t cols = w->cols, whole = cols - cols % 16u;
    const int8_t *q = (const int8_t *)(w->data + 4u * (size_t)w->rows);
    const int8_t *xp = x->q;
    uint32_t r = r0;
    EK_KERNEL_RAN(EK_FMT_Q8I, "neon");
    for (; r + 4u <= r1; r += 4u) { /* four rows share each x_q load */
        const int8_t *wr = q + (size_t)r * cols;
        int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
        int32_t sum[4];
        size_t c;
        for (c = 0; c < whole; c += 16u) {
            const int8x16_t xv = vld1q_s8(xp + c);
            a0 = step16(a0, vld1q_s8(wr + c), xv);
            a1 = step16(a1, vld1q_s8(wr + cols + c), xv);
            a2 = step16(a2, vld1q_s8(wr + 2u * cols + c), xv);
            a3 = step16(a3, vld1q_s8(wr + 3u * cols + c), xv);
        }
        sum[0] = vaddvq_s32(a0), sum[1] = vaddvq_s32(a1), sum[2] = vaddvq_s32(a2), sum[3] = vaddvq_s32(a3);
        ek_head_q8i_finish4(w, x, y, r, sum, whole);
    }
    if (r < r1) /* the last rows % 4 */
        ek_head_q8i_with(dot_s8_neon, w, x, y, r, r1);
}
#endif
