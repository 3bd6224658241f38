/* ek_matvec_t158_avx2.c — t158 ternary matvec for x86-64 hosts with AVX2 (EK_KERNEL_AVX2). The accumulators
 * equal ek_matvec_t158_c's bit for bit: integer sums are exact in any order.
 *
 * Decode without a byte multiply (AVX2 has none): digit k of a byte q is ((v_k * 3) >> 8) with
 * v_k = q * 3^k mod 256, i.e. v_{k+1} = 3 v_k mod 256 (two wrapping byte adds), and (3v) >> 8 is
 * [v >= 86] + [v >= 171] (two compares). The compares are signed, so the bytes are kept biased,
 * u = v ^ 0x80 = v - 128; the bias survives the recurrence (3(v - 128) = 3v - 384 = 3v - 128 mod 256).
 * w . x = digit . x - sum(x), digit in 0..2: VPMADDUBSW takes the unsigned digits and the signed x_q
 * (|pair| <= 2 * 2 * 128, five digits per block <= 2560: no int16 saturation), VPMADDWD widens.
 * Two rows run side by side, one per 128-bit lane, so each x_q load (a broadcast) serves both. The row
 * tail (cols % 80, packed 5 per byte) is copied to a zeroed 16-byte block and meets a copy of its x_q in
 * block order, so it runs through the same code.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_AVX2
#include <string.h>

#include <immintrin.h>

/* int32 sums (4 lanes per row) of digit . x over one 80-weight block of two rows (row A in the low
 * 128-bit lane, row B in the high one); x points at the block's 80 x_q values. */
static inline __m256i t158_block2(__m256i q, const int8_t *x)
{
    const __m256i ge86 = _mm256_set1_epi8(-43), ge171 = _mm256_set1_epi8(42); /* thresholds on u = v - 128 */
    __m256i u = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
    __m256i sum16 = _mm256_setzero_si256();
    int k;
    for (k = 0; k < 5; k++) {
        const __m256i xk = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(x + 16 * k)));
        const __m256i m1 = _mm256_cmpgt_epi8(u, ge86), m2 = _mm256_cmpgt_epi8(u, ge171); /* 0 or -1 */
        const __m256i digit = _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), m1), m2);
        sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(digit, xk));
        u = _mm256_add_epi8(u, _mm256_add_epi8(u, u)); /* next digit: 3u mod 256 */
    }
    return _mm256_madd_epi16(sum16, _mm256_set1_epi16(1));
}

static inline __m256i load_rows(const uint8_t *a, const uint8_t *b)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)a)),
                                   _mm_loadu_si128((const __m128i *)(const void *)b), 1);
}

static inline int32_t hsum128(__m128i v)
{
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
    return _mm_cvtsi128_si32(v);
}

void ek_matvec_t158_avx2(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u, row_bytes = blocks * 16u + tail_bytes;
    int8_t x_tail[EK_T158_BLOCK]; /* the tail's x_q in block order */
    const int32_t x_sum = ek_t158_prepare(x, cols, x_tail);
    uint32_t r, b;
    EK_KERNEL_RAN(EK_FMT_T158, "avx2");
    for (r = 0; r < w->rows; r += 2u) {
        /* an odd last row runs as both lanes; only lane A is stored */
        const uint8_t *pa = w->data + (size_t)r * row_bytes;
        const uint8_t *pb = (r + 1u < w->rows) ? pa + row_bytes : pa;
        const int8_t *xb = x->q;
        __m256i sum = _mm256_setzero_si256();
        for (b = 0; b < blocks; b++, xb += EK_T158_BLOCK)
            sum = _mm256_add_epi32(sum, t158_block2(load_rows(pa + 16u * b, pb + 16u * b), xb));
        if (tail) {
            /* zero bytes decode as digit 0 and meet x_tail's zeros: they add nothing */
            uint8_t ta[16] = {0}, tb[16] = {0};
            memcpy(ta, pa + 16u * blocks, tail_bytes);
            memcpy(tb, pb + 16u * blocks, tail_bytes);
            sum = _mm256_add_epi32(sum, t158_block2(load_rows(ta, tb), x_tail));
        }
        acc[r] = hsum128(_mm256_castsi256_si128(sum)) - x_sum;
        if (r + 1u < w->rows)
            acc[r + 1u] = hsum128(_mm256_extracti128_si256(sum, 1)) - x_sum;
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_t158_avx2_not_built;
#endif
