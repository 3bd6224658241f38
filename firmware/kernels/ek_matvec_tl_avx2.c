/* ek_matvec_tl_avx2.c — tl (lookup-table) ternary matvec for x86-64 hosts with AVX2 (EK_KERNEL_AVX2), no
 * multiplications. The accumulators equal ek_matvec_tl_c's bit for bit: integer sums are exact in any order.
 *
 * The T-MAC idea with VPSHUFB: a 16-byte table indexed by 16 nibbles is 16 lookups in one instruction.
 * A pair sum s = a*x0 + b*x1 needs 10 bits (|s| <= 256), so each pair's 9 int16 sums (x->tl_lut) become two
 * 16-entry byte tables, the low bytes and the (signed) high bytes; entries 9..15 are 0, the sum of the zero
 * pair, which is what the portable body reads for a corrupt nibble. Interleaving the two looked-up bytes
 * (VPUNPCKL/HBW) rebuilds the int16 sums exactly. One 256-bit step covers two pairs (one per 128-bit lane)
 * of a 16-row tile. The tables for a chunk of EK_TL_AVX2_CHUNK pairs are built once per call, on the stack,
 * then every tile walks that chunk.
 *
 * Overflow: an int16 lane gets one sum (|s| <= 256) per two pairs of a chunk, so at most
 * 64 * 256 = 16384 before it is widened to int32 at the end of the chunk (the limit would be 127 sums).
 */
#include "ek_kernels.h"

#if EK_ISA_TL == EK_ISA_AVX2
#include <string.h>

#include <immintrin.h>

#define EK_TL_AVX2_CHUNK 128u /* column pairs per table chunk: 2 x 16 bytes each, 4 KiB of tables */

/* lo/hi byte tables of pairs [g0, g0 + n) at tlo/thi + 16 * i; bytes 9..15 of every table stay 0 */
static void build_tables(const int16_t *lut, uint32_t g0, uint32_t n, uint8_t *tlo, uint8_t *thi)
{
    /* entries 0..7 (16 bytes) -> their 8 low bytes, then their 8 high bytes */
    const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    uint32_t i;
    for (i = 0; i < n; i++) {
        const int16_t *l = lut + 9u * (g0 + i);
        const __m128i bytes = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)l), split);
        _mm_storel_epi64((__m128i *)(void *)(tlo + 16u * i), bytes);
        _mm_storel_epi64((__m128i *)(void *)(thi + 16u * i), _mm_unpackhi_epi64(bytes, bytes));
        tlo[16u * i + 8u] = (uint8_t)((uint16_t)l[8] & 0xFFu);
        thi[16u * i + 8u] = (uint8_t)((uint16_t)l[8] >> 8);
    }
}

/* one step: pairs g, g+1 of a tile (indices w16: their 16 index bytes zero-extended to 16 bits, pair g in
 * the low lane), tables at tlo/thi; adds rows 0..7 to *a and rows 8..15 to *b (each lane: one pair) */
static inline void lookup2(__m256i w16, const uint8_t *tlo, const uint8_t *thi, __m256i *a, __m256i *b)
{
    /* word i = 0x00HL (H: row 2i+1, L: row 2i) -> 0x0H0L, so byte r of a lane indexes row r */
    const __m256i idx = _mm256_and_si256(_mm256_or_si256(w16, _mm256_slli_epi16(w16, 4)), _mm256_set1_epi16(0x0F0F));
    const __m256i lo = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(const void *)tlo), idx);
    const __m256i hi = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(const void *)thi), idx);
    *a = _mm256_add_epi16(*a, _mm256_unpacklo_epi8(lo, hi));
    *b = _mm256_add_epi16(*b, _mm256_unpackhi_epi8(lo, hi));
}

/* int32 sums of the two lanes' int16 rows (widened before adding: two halves of 16384 would reach 32768) */
static inline __m256i widen_lanes(__m256i v)
{
    return _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(v)),
                            _mm256_cvtepi16_epi32(_mm256_extracti128_si256(v, 1)));
}

void ek_matvec_tl_avx2(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t tiles = (w->rows + EK_TL_TILE_ROWS - 1u) / EK_TL_TILE_ROWS;
    const uint32_t pairs = (w->cols + 1u) / 2u;
    EK_KERNEL_RAN(EK_FMT_TL, "avx2");
    /* (EK_TL_AVX2_CHUNK + 1, 16): one spare all-zero table for the odd pair of a chunk's last step */
    uint8_t tlo[(EK_TL_AVX2_CHUNK + 1u) * 16u], thi[(EK_TL_AVX2_CHUNK + 1u) * 16u];
    int32_t part[EK_TL_TILE_ROWS];
    uint32_t g0, t, g, i;
    memset(tlo, 0, sizeof tlo);
    memset(thi, 0, sizeof thi);
    for (i = 0; i < w->rows; i++)
        acc[i] = 0;
    for (g0 = 0; g0 < pairs; g0 += EK_TL_AVX2_CHUNK) {
        const uint32_t n = (pairs - g0 < EK_TL_AVX2_CHUNK) ? pairs - g0 : EK_TL_AVX2_CHUNK;
        build_tables(x->tl_lut, g0, n, tlo, thi);
        if (n & 1u) { /* the spare lane of the last step looks up table n: all zeros */
            memset(tlo + 16u * n, 0, 16u);
            memset(thi + 16u * n, 0, 16u);
        }
        for (t = 0; t < tiles; t++) {
            const uint8_t *p = w->data + ((size_t)t * pairs + g0) * (EK_TL_TILE_ROWS / 2u); /* (n, 8) */
            const uint32_t row0 = t * EK_TL_TILE_ROWS;
            __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
            for (g = 0; g + 1u < n; g += 2u)
                lookup2(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p + 8u * g))),
                        tlo + 16u * g, thi + 16u * g, &a, &b);
            if (n & 1u) /* 8 bytes only: reading 16 could run past the tensor */
                lookup2(_mm256_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(p + 8u * g))),
                        tlo + 16u * g, thi + 16u * g, &a, &b);
            _mm256_storeu_si256((__m256i *)(void *)part, widen_lanes(a));
            _mm256_storeu_si256((__m256i *)(void *)(part + 8), widen_lanes(b));
            for (i = 0; i < EK_TL_TILE_ROWS && row0 + i < w->rows; i++)
                acc[row0 + i] += part[i];
        }
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_tl_avx2_not_built;
#endif
