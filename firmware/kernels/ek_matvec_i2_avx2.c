/* ek_matvec_i2_avx2.c — i2 ternary matvec for x86-64 hosts with AVX2 (EK_KERNEL_AVX2). The accumulators equal
 * ek_matvec_i2_c's bit for bit: integer sums are exact in any order.
 *
 * w . x = code . x - sum(x) with code = w + 1 in 0..2: VPMADDUBSW multiplies the unsigned codes by the signed
 * x_q and adds pairs (|pair| <= 2 * 3 * 128, no saturation), VPMADDWD widens to int32. One 32-byte block
 * yields its four 32-weight quarters by shift+mask; x_q is padded to whole blocks (EK_XQ_PAD).
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX2)
#include <immintrin.h>

#if !defined(__AVX2__)
#error "EK_KERNEL_AVX2 needs -mavx2"
#endif

void ek_matvec_i2_avx2(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const __m256i mask = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    int32_t x_sum = 0;
    uint32_t r, b, i;
    for (i = 0; i < blocks * EK_I2_BLOCK; i++)
        x_sum += x->q[i];
    for (r = 0; r < w->rows; r++) {
        __m256i sum = _mm256_setzero_si256();
        __m128i half;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(const void *)p);
            /* 16-bit shifts move bits across bytes; the mask keeps each byte's own 2-bit field */
            const __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(bytes, 6), mask);
            const __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
            const __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(bytes, 2), mask);
            const __m256i c3 = _mm256_and_si256(bytes, mask);
            __m256i pairs = _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)(const void *)xb));
            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(
                                                c1, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 32))));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, ones));
            pairs = _mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 64)));
            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(
                                                c3, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 96))));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, ones));
        }
        half = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0x4E));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0xB1));
        acc[r] = _mm_cvtsi128_si32(half) - x_sum;
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_avx2_not_built;
#endif
