/* maddubs_avx2.c — maddubs.h with AVX2 (vpmaddubsw on ymm). Build with -mavx2 and no AVX-512 flag. */
#include <immintrin.h>

#include "maddubs.h"

void maddubs_avx2(const uint8_t *a, const int8_t *b, int16_t *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i += 32)
        _mm256_storeu_si256((__m256i *)(out + i / 2),
                            _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(a + i)),
                                                 _mm256_loadu_si256((const __m256i *)(b + i))));
}
