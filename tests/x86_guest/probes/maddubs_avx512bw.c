/* maddubs_avx512bw.c — maddubs.h with AVX-512BW (vpmaddubsw on zmm). Build with -mavx512f -mavx512bw. */
#include <immintrin.h>

#include "maddubs.h"

void maddubs_avx512bw(const uint8_t *a, const int8_t *b, int16_t *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i += 64)
        _mm512_storeu_si512(out + i / 2, _mm512_maddubs_epi16(_mm512_loadu_si512(a + i),
                                                              _mm512_loadu_si512(b + i)));
}
