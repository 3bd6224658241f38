/* ek_head_q4i_avx2.c — the q4i integer lm_head for x86-64 hosts with AVX2 (EK_KERNEL_AVX2). The int32 row sums are
 * exact, so y equals ek_head_q4i_c's bit for bit whatever the lane order.
 *
 * Two blocks (64 columns) per step and row: one 32-byte load holds both blocks' codes; its low nibbles are columns
 * 0..15 of each block, its high nibbles columns 16..31, so the activations are regrouped to match (two lane
 * permutes, shared by the rows of a pass). VPMADDUBSW multiplies the unsigned codes n = q + 8 by x_q and adds pairs
 * into int16 (|sum| <= 2 * 15 * 128); the low- and high-nibble pairs add up (<= 7680) and 8 * (the same pair sums
 * of x_q), shared by the rows, turns n back into q (|result| <= 4 * 8 * 128). VPMADDWD then multiplies by the block
 * scales (int16, block 2k in the low lane, 2k+1 in the high one, a byte shuffle of 8 scales loaded at once) and
 * widens to int32 in one instruction. Four rows share each activation load; an odd last block runs in 128 bits.
 * The four rows of a pass are a quarter of the range apart (ek_head_q4i_with), so each is a long sequential stream,
 * and each stream is also prefetched 4 KiB ahead: the 2B-4T head from DRAM on Zen 2 took 12.2 ms with adjacent rows
 * and a next-pass prefetch, 8.6 ms with quarters, 8.1 ms with the prefetch too. */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_AVX2

#include <immintrin.h>

#include "ek_avx2_hsum.h"

/* VPSHUFB controls: from 8 block scales (bytes 0..7 of each lane), control j makes the int16 lanes of the low half
 * scale 2j and those of the high half scale 2j+1 (the high byte of each int16 zero). */
#define EK_Q4I_CTL_LANE(b) (char)(b), (char)0x80, (char)(b), (char)0x80, (char)(b), (char)0x80, (char)(b), (char)0x80, \
                           (char)(b), (char)0x80, (char)(b), (char)0x80, (char)(b), (char)0x80, (char)(b), (char)0x80
static const char scale_ctl[4][32] __attribute__((aligned(32))) = {
    {EK_Q4I_CTL_LANE(0), EK_Q4I_CTL_LANE(1)},
    {EK_Q4I_CTL_LANE(2), EK_Q4I_CTL_LANE(3)},
    {EK_Q4I_CTL_LANE(4), EK_Q4I_CTL_LANE(5)},
    {EK_Q4I_CTL_LANE(6), EK_Q4I_CTL_LANE(7)},
};

/* The rows at rows + k * stride, k < n (n the constant 4 or 1 after inlining); sum[k] = that row's acc. */
static inline __attribute__((always_inline)) void sums_n(const uint8_t *rows, size_t stride, const int8_t *x_q,
                                                         size_t cols, unsigned n, int32_t sum[4])
{
    const size_t blocks = cols / EK_Q4I_BLOCK, pairs = blocks / 2u;
    const __m256i low4 = _mm256_set1_epi8(15), eight = _mm256_set1_epi8(8);
    __m256i acc[4];
    size_t p;
    unsigned k;
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        acc[k] = _mm256_setzero_si256();
    for (p = 0; p < pairs; p++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(x_q + 64u * p));
        const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(x_q + 64u * p + 32u));
        const __m256i x_lo = _mm256_permute2x128_si256(a, b, 0x20); /* columns 0..15 of blocks 2p, 2p+1 */
        const __m256i x_hi = _mm256_permute2x128_si256(a, b, 0x31); /* columns 16..31 */
        const __m256i offset = _mm256_add_epi16(_mm256_maddubs_epi16(eight, x_lo), _mm256_maddubs_epi16(eight, x_hi));
        const __m256i ctl = _mm256_load_si256((const __m256i *)(const void *)scale_ctl[p & 3u]);
#pragma GCC unroll 4
        for (k = 0; k < n; k++) {
            const uint8_t *row = rows + k * stride;
            const __m256i codes = _mm256_loadu_si256((const __m256i *)(const void *)(row + blocks + 32u * p));
            long long eight_scales;
            __m256i pair_sums, scales;
            if (n == 4u && p % 2u == 0) /* 4 KiB ahead in each of the four streams (a hint: it never faults) */
                _mm_prefetch((const char *)((uintptr_t)row + blocks + 32u * p + 4096u), _MM_HINT_T0);
            memcpy(&eight_scales, row + 8u * (p / 4u), 8); /* stays inside the row: codes follow the scales */
            scales = _mm256_shuffle_epi8(_mm256_set1_epi64x(eight_scales), ctl);
            pair_sums = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(codes, low4), x_lo),
                                         _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(codes, 4), low4),
                                                              x_hi));
            acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_sub_epi16(pair_sums, offset), scales));
        }
    }
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        sum[k] = ek_hsum_epi32(acc[k]);
    if (blocks % 2u) { /* the odd last block: columns 0..15 and 16..31 in 128-bit halves */
        const size_t c = 32u * (blocks - 1u);
        const __m128i x_lo = _mm_loadu_si128((const __m128i *)(const void *)(x_q + c));
        const __m128i x_hi = _mm_loadu_si128((const __m128i *)(const void *)(x_q + c + 16u));
        const __m128i low4_128 = _mm256_castsi256_si128(low4), eight_128 = _mm256_castsi256_si128(eight);
        const __m128i offset = _mm_add_epi16(_mm_maddubs_epi16(eight_128, x_lo), _mm_maddubs_epi16(eight_128, x_hi));
        for (k = 0; k < n; k++) {
            const uint8_t *row = rows + k * stride;
            const __m128i codes = _mm_loadu_si128((const __m128i *)(const void *)(row + blocks + 16u * (blocks - 1u)));
            const __m128i pair_sums = _mm_add_epi16(
                _mm_maddubs_epi16(_mm_and_si128(codes, low4_128), x_lo),
                _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(codes, 4), low4_128), x_hi));
            __m128i s = _mm_madd_epi16(_mm_sub_epi16(pair_sums, offset), _mm_set1_epi16((short)row[blocks - 1u]));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
            /* modular add: the total is exact in int32, a partial sum need not be */
            sum[k] = (int32_t)((uint32_t)sum[k] + (uint32_t)_mm_cvtsi128_si32(s));
        }
    }
}

EK_HEAD_Q4I_ENTRY(avx2, "avx2", 1)
#endif
