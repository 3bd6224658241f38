/* ek_head_q4i_avx512.c — the q4i integer lm_head for x86-64 CPUs with AVX-512 F/BW/VL, chosen at run time
 * (EK_KERNEL_AVX512, ek_isa.h) on VNNI CPUs too (ek_head_q4i.c says why). The int32 row sums are exact, so y equals
 * ek_head_q4i_c's bit for bit whatever the lane order.
 *
 * ek_head_q4i_avx2.c's method on four blocks (128 columns) per step and row: one 64-byte load holds the four
 * blocks' codes, 16 bytes each, so 128-bit lane j is block j; low nibbles are its columns 0..15, high nibbles
 * 16..31. One two-source qword permute per half regroups the activations to match (shared by the rows of a pass).
 * VPMADDUBSW multiplies the unsigned codes n = q + 8 by x_q into int16 pair sums (low + high <= 7680), 8 * the same
 * pair sums of x_q turns n back into q, and VPMADDWD by the block scales (lane j's int16 all block j's scale, one
 * byte shuffle of four scales loaded at once) widens to int32. The last blocks % 4 run one block at a time in 128
 * bits. The four rows of a pass are a quarter of the range apart, each prefetched 4 KiB ahead, as in the AVX2 body. */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX512)
#if !defined(__AVX512BW__) || !defined(__AVX512VL__)
#error "ek_head_q4i_avx512.c needs -mavx512f -mavx512bw -mavx512vl (firmware/CMakeLists.txt sets them)"
#endif
#include <immintrin.h>

/* one block (32 columns) in 128 bits: the int32 sum of s_b * (q . x_q) */
static inline int32_t block_sum128(const uint8_t *codes16, const int8_t *xb, int32_t scale)
{
    const __m128i low4 = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    const __m128i x_lo = _mm_loadu_si128((const __m128i *)(const void *)xb);
    const __m128i x_hi = _mm_loadu_si128((const __m128i *)(const void *)(xb + 16));
    const __m128i codes = _mm_loadu_si128((const __m128i *)(const void *)codes16);
    const __m128i offset = _mm_add_epi16(_mm_maddubs_epi16(eight, x_lo), _mm_maddubs_epi16(eight, x_hi));
    const __m128i pair_sums = _mm_add_epi16(_mm_maddubs_epi16(_mm_and_si128(codes, low4), x_lo),
                                            _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(codes, 4), low4), x_hi));
    __m128i s = _mm_madd_epi16(_mm_sub_epi16(pair_sums, offset), _mm_set1_epi16((short)scale));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* The rows at rows + k * stride, k < n (n the constant 4 or 1 after inlining); sum[k] = that row's acc. */
static inline __attribute__((always_inline)) void sums_n(const uint8_t *rows, size_t stride, const int8_t *x_q,
                                                         size_t cols, unsigned n, int32_t sum[4])
{
    const size_t blocks = cols / EK_Q4I_BLOCK, quads = blocks / 4u;
    const __m512i low4 = _mm512_set1_epi8(15), eight = _mm512_set1_epi8(8);
    /* qword indices into (a, b) = the activations of blocks 4p..4p+1, 4p+2..4p+3: columns 0..15 and 16..31 of each */
    const __m512i pick_lo = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
    const __m512i pick_hi = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    /* from four scales (bytes 0..3 of every 128-bit lane), lane j's int16 lanes get scale j (high bytes zero) */
    const __m512i scale_ctl = _mm512_set_epi8(
        -128, 3, -128, 3, -128, 3, -128, 3, -128, 3, -128, 3, -128, 3, -128, 3,
        -128, 2, -128, 2, -128, 2, -128, 2, -128, 2, -128, 2, -128, 2, -128, 2,
        -128, 1, -128, 1, -128, 1, -128, 1, -128, 1, -128, 1, -128, 1, -128, 1,
        -128, 0, -128, 0, -128, 0, -128, 0, -128, 0, -128, 0, -128, 0, -128, 0);
    __m512i acc[4];
    size_t p, b;
    unsigned k;
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        acc[k] = _mm512_setzero_si512();
    for (p = 0; p < quads; p++) {
        const __m512i a = _mm512_loadu_si512((const void *)(x_q + 128u * p));
        const __m512i b64 = _mm512_loadu_si512((const void *)(x_q + 128u * p + 64u));
        const __m512i x_lo = _mm512_permutex2var_epi64(a, pick_lo, b64);
        const __m512i x_hi = _mm512_permutex2var_epi64(a, pick_hi, b64);
        const __m512i offset = _mm512_add_epi16(_mm512_maddubs_epi16(eight, x_lo), _mm512_maddubs_epi16(eight, x_hi));
#pragma GCC unroll 4
        for (k = 0; k < n; k++) {
            const uint8_t *row = rows + k * stride;
            const __m512i codes = _mm512_loadu_si512((const void *)(row + blocks + 64u * p));
            int four_scales;
            __m512i pair_sums, scales;
            if (n == 4u) /* 4 KiB ahead in each of the four streams, as the AVX2 body (a hint: it never faults) */
                _mm_prefetch((const char *)((uintptr_t)row + blocks + 64u * p + 4096u), _MM_HINT_T0);
            memcpy(&four_scales, row + 4u * p, 4); /* stays inside the row: codes follow the scales */
            scales = _mm512_shuffle_epi8(_mm512_set1_epi32(four_scales), scale_ctl);
            pair_sums = _mm512_add_epi16(
                _mm512_maddubs_epi16(_mm512_and_si512(codes, low4), x_lo),
                _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(codes, 4), low4), x_hi));
            acc[k] = _mm512_add_epi32(acc[k], _mm512_madd_epi16(_mm512_sub_epi16(pair_sums, offset), scales));
        }
    }
#pragma GCC unroll 4
    for (k = 0; k < n; k++) {
        const uint8_t *row = rows + k * stride;
        /* modular adds: the total is exact in int32, a partial sum need not be */
        uint32_t s = (uint32_t)_mm512_reduce_add_epi32(acc[k]);
        for (b = 4u * quads; b < blocks; b++) /* the last blocks % 4 */
            s += (uint32_t)block_sum128(row + blocks + 16u * b, x_q + EK_Q4I_BLOCK * b, row[b]);
        sum[k] = (int32_t)s;
    }
}

EK_HEAD_Q4I_ENTRY(avx512, EK_ISA_NAME(EK_ISA_AVX512), 1)
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_head_q4i_avx512_not_built;
#endif
