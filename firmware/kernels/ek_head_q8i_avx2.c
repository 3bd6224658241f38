/* ek_head_q8i_avx2.c — the integer lm_head for x86-64 hosts with AVX2 (EK_KERNEL_AVX2). The int32 row sums are
 * exact, so y equals ek_head_q8i_c's bit for bit whatever the lane order.
 *
 * 32 columns per step: VPMADDUBSW multiplies |x_q| (unsigned) by w carrying x_q's sign (VPSIGNB) and adds
 * adjacent pairs into int16: at most 2 * 128 * 127 = 32512, so it never saturates; VPMADDWD by ones widens the
 * pairs to int32. Four rows, a quarter of the range apart, share each x_q load and its absolute value. The row
 * tail (cols % 32) is scalar. */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_AVX2

#include <immintrin.h>

#include "ek_avx2_hsum.h"

/* w . x_q over 32 columns, as 8 int32 partial sums */
static inline __m256i step32(__m256i w, __m256i x_abs, __m256i x, __m256i ones)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x_abs, _mm256_sign_epi8(w, x)), ones);
}

static inline __m256i load32(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

static int32_t dot_s8_avx2(const int8_t *w, const int8_t *x_q, size_t n)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t whole = n - n % 32u;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    int32_t sum;
    size_t c = 0;
    for (; c + 64u <= whole; c += 64u) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(x_q + c));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(x_q + c + 32u));
        acc0 = _mm256_add_epi32(acc0, step32(_mm256_loadu_si256((const __m256i *)(const void *)(w + c)),
                                             _mm256_abs_epi8(x0), x0, ones));
        acc1 = _mm256_add_epi32(acc1, step32(_mm256_loadu_si256((const __m256i *)(const void *)(w + c + 32u)),
                                             _mm256_abs_epi8(x1), x1, ones));
    }
    for (; c < whole; c += 32u) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(x_q + c));
        acc0 = _mm256_add_epi32(acc0, step32(_mm256_loadu_si256((const __m256i *)(const void *)(w + c)),
                                             _mm256_abs_epi8(x0), x0, ones));
    }
    sum = ek_hsum_epi32(_mm256_add_epi32(acc0, acc1));
    for (; c < n; c++)
        sum += (int32_t)w[c] * (int32_t)x_q[c];
    return sum;
}

void ek_head_q8i_avx2(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t cols = w->cols, whole = cols - cols % 32u;
    const int8_t *q = (const int8_t *)(w->data + 4u * (size_t)w->rows);
    const int8_t *xp = x->q;
    const size_t quarter = (r1 - r0) / 4u;
    size_t i;
    EK_KERNEL_RAN(EK_FMT_Q8I, "avx2");
    /* four rows share each x_q load and its absolute value; rows a quarter of the range apart, so each is a long
     * sequential stream (adjacent rows, four streams within 10 KiB, left the 2B-4T head at 14.6 GB/s from DRAM) */
    for (i = 0; i < quarter; i++) {
        const int8_t *w0 = q + (r0 + i) * cols, *w1 = w0 + quarter * cols, *w2 = w1 + quarter * cols,
                     *w3 = w2 + quarter * cols;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        int32_t sum[4];
        unsigned k;
        size_t c;
        for (c = 0; c < whole; c += 32u) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(xp + c));
            const __m256i xa = _mm256_abs_epi8(xv);
            a0 = _mm256_add_epi32(a0, step32(load32(w0 + c), xa, xv, ones));
            a1 = _mm256_add_epi32(a1, step32(load32(w1 + c), xa, xv, ones));
            a2 = _mm256_add_epi32(a2, step32(load32(w2 + c), xa, xv, ones));
            a3 = _mm256_add_epi32(a3, step32(load32(w3 + c), xa, xv, ones));
        }
        sum[0] = ek_hsum_epi32(a0), sum[1] = ek_hsum_epi32(a1), sum[2] = ek_hsum_epi32(a2), sum[3] = ek_hsum_epi32(a3);
        for (c = whole; c < cols; c++) { /* the row tails (cols % 32) */
            sum[0] += (int32_t)w0[c] * (int32_t)xp[c], sum[1] += (int32_t)w1[c] * (int32_t)xp[c];
            sum[2] += (int32_t)w2[c] * (int32_t)xp[c], sum[3] += (int32_t)w3[c] * (int32_t)xp[c];
        }
        for (k = 0; k < 4u; k++)
            ek_head_int_logits(w, x, y, (uint32_t)(r0 + i + k * quarter), &sum[k], 1u);
    }
    /* the last (r1 - r0) % 4 rows */
    ek_head_q8i_with(dot_s8_avx2, w, x, y, r0 + 4u * (uint32_t)quarter, r1);
}
#endif
