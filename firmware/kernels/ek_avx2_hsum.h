/* ek_avx2_hsum.h — the sum of a vector's eight int32 lanes, for the AVX2 integer bodies (the ternary matvec and the
 * integer heads), whose lane sums are exact, so the order of this last reduction does not matter. Include it
 * inside the AVX2 part of a body file, after immintrin.h. */
#ifndef EK_AVX2_HSUM_H
#define EK_AVX2_HSUM_H

static inline int32_t ek_hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

#endif /* EK_AVX2_HSUM_H */
