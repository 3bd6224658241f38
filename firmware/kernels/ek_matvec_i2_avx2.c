/* ek_matvec_i2_avx2.c — i2 ternary matvec for x86-64 hosts with AVX2 (EK_KERNEL_AVX2). The accumulators equal
 * ek_matvec_i2_c's bit for bit: integer sums are exact in any order.
 *
 * w . x = code . x - sum(x) with code = w + 1 in 0..2: VPMADDUBSW multiplies the unsigned codes by the signed
 * x_q and adds pairs, VPMADDWD widens to int32. One 32-byte block yields its four 32-weight quarters by
 * shift+mask; x_q is padded to whole blocks (EK_XQ_PAD).
 *
 * Two things keep the weight stream near the read bandwidth (decode reads every weight once per token):
 * - int16 partial sums over EK_I2_GROUP blocks, widened once per group: one VPMADDWD per group instead of two
 *   per block, and the multiplier is the busy port (Zen 2 runs all four on one pipe).
 * - a software prefetch EK_I2_PREFETCH bytes ahead: the hardware prefetcher stops at 4 KiB page edges and
 *   runs too few lines ahead of a consumer this fast.
 *
 * ek_matmul_i2_avx2 runs a prefill chunk: each row's codes are unpacked once per block for four inputs, so
 * each weight comes from memory once per four tokens instead of once per token.
 */
#include "ek_kernels.h"

#if EK_ISA_TERNARY == EK_ISA_AVX2
#include <immintrin.h>

#include "ek_avx2_hsum.h"

/* Blocks summed in int16 lanes before widening. A VPMADDUBSW lane is at most 2 * 3 * 128 = 768 in magnitude
 * (any 2-bit code, any int8 x_q), a block adds four of them to each lane: 8 blocks <= 24576 < 32767, so the
 * int16 sums never wrap and the result stays exact. */
#define EK_I2_GROUP 8u
/* Prefetch distance in bytes. Measured on an AMD EPYC (Zen 2), 2B-4T layer shapes streamed from DRAM, one
 * thread: none 9.3 GB/s, 512: 11.1, 1024: 12.7, 2048: 13.4, 4096: 13.7-14.2, 8192: 13.6-13.8. */
#define EK_I2_PREFETCH 4096

/* s16 += the codes of one 32-byte block . 128 x_q, in int16 lanes */
static inline __m256i block_dot16(__m256i s16, const uint8_t *p, const int8_t *xb, __m256i mask)
{
    const __m256i bytes = _mm256_loadu_si256((const __m256i *)(const void *)p);
    /* 16-bit shifts move bits across bytes; the mask keeps each byte's own 2-bit field */
    const __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(bytes, 6), mask);
    const __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
    const __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(bytes, 2), mask);
    const __m256i c3 = _mm256_and_si256(bytes, mask);
    __m256i a = _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)(const void *)xb));
    __m256i b = _mm256_maddubs_epi16(c1, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 32)));
    a = _mm256_add_epi16(a, _mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 64))));
    b = _mm256_add_epi16(b, _mm256_maddubs_epi16(c3, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 96))));
    return _mm256_add_epi16(s16, _mm256_add_epi16(a, b));
}

void ek_matvec_i2_avx2(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const __m256i mask = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    const int32_t x_sum = ek_xq_sum(x->q, (size_t)blocks * EK_I2_BLOCK);
    uint32_t r, b;
    EK_KERNEL_RAN(EK_FMT_I2, "avx2");
    for (r = 0; r < w->rows; r++) {
        __m256i sum = _mm256_setzero_si256();
        const int8_t *xb = x->q;
        for (b = 0; b < blocks;) {
            const uint32_t end = blocks - b > EK_I2_GROUP ? b + EK_I2_GROUP : blocks;
            __m256i s16 = _mm256_setzero_si256();
            for (; b < end; b++, p += 32, xb += EK_I2_BLOCK) {
                /* a hint (integer arithmetic: it may point past the tensor, where it reads nothing and cannot fault) */
                _mm_prefetch((const char *)((uintptr_t)p + EK_I2_PREFETCH), _MM_HINT_T0);
                s16 = block_dot16(s16, p, xb, mask);
            }
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(s16, ones));
        }
        acc[r] = ek_hsum_epi32(sum) - x_sum;
    }
}

/* Up to four inputs against one row: the row's codes are unpacked once per block for all of them. */
#define EK_I2_TILE 4u
/* Inputs per pass over the rows: each weight is read from memory once per pass. Four keeps the pass's x_q rows
 * (4 x 6912 bytes for a 2B-4T down projection) in L1; measured on the 2B-4T shape, 64-token prompt, one
 * thread: 4 inputs 49.6 tokens/s, 8: 46.1, 16: 40.5, 64: 40.5 (x spilling to L2 on every row), against 33.0
 * token by token. */
#define EK_I2_PASS 4u

/* s16 += codes . x over one block, the codes already unpacked (c0..c3 = the block's four quarters) */
static inline __m256i quarters_dot16(__m256i s16, __m256i c0, __m256i c1, __m256i c2, __m256i c3, const int8_t *xb)
{
    __m256i a = _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)(const void *)xb));
    __m256i b = _mm256_maddubs_epi16(c1, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 32)));
    a = _mm256_add_epi16(a, _mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 64))));
    b = _mm256_add_epi16(b, _mm256_maddubs_epi16(c3, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 96))));
    return _mm256_add_epi16(s16, _mm256_add_epi16(a, b));
}

void ek_matmul_i2_avx2(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const size_t row_bytes = (size_t)blocks * 32u;
    const __m256i mask = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    int32_t x_sum[EK_I2_PASS];
    uint32_t base, r, b, t0, k;
    EK_KERNEL_RAN(EK_FMT_I2, "avx2");
    for (base = 0; base < n_x; base += EK_I2_PASS) {
        const uint32_t n = n_x - base < EK_I2_PASS ? n_x - base : EK_I2_PASS;
        for (k = 0; k < n; k++)
            x_sum[k] = ek_xq_sum(x[base + k].q, (size_t)blocks * EK_I2_BLOCK);
        for (r = 0; r < w->rows; r++) {
            const uint8_t *row = w->data + (size_t)r * row_bytes;
            for (t0 = 0; t0 < n; t0 += EK_I2_TILE) {
                const uint32_t nt = n - t0 < EK_I2_TILE ? n - t0 : EK_I2_TILE;
                const int8_t *x0 = x[base + t0].q;                         /* missing tile slots repeat */
                const int8_t *x1 = nt > 1u ? x[base + t0 + 1u].q : x0;     /* input 0 and are not stored */
                const int8_t *x2 = nt > 2u ? x[base + t0 + 2u].q : x0;
                const int8_t *x3 = nt > 3u ? x[base + t0 + 3u].q : x0;
                __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
                const uint8_t *p = row;
                for (b = 0; b < blocks;) {
                    const uint32_t end = blocks - b > EK_I2_GROUP ? b + EK_I2_GROUP : blocks;
                    __m256i h0 = _mm256_setzero_si256(), h1 = h0, h2 = h0, h3 = h0;
                    for (; b < end; b++, p += 32) {
                        const size_t o = (size_t)b * EK_I2_BLOCK;
                        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(const void *)p);
                        const __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(bytes, 6), mask);
                        const __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
                        const __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(bytes, 2), mask);
                        const __m256i c3 = _mm256_and_si256(bytes, mask);
                        _mm_prefetch((const char *)((uintptr_t)p + EK_I2_PREFETCH), _MM_HINT_T0);
                        h0 = quarters_dot16(h0, c0, c1, c2, c3, x0 + o);
                        h1 = quarters_dot16(h1, c0, c1, c2, c3, x1 + o);
                        h2 = quarters_dot16(h2, c0, c1, c2, c3, x2 + o);
                        h3 = quarters_dot16(h3, c0, c1, c2, c3, x3 + o);
                    }
                    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(h0, ones));
                    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(h1, ones));
                    s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(h2, ones));
                    s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(h3, ones));
                }
                acc[(size_t)(base + t0) * acc_stride + r] = ek_hsum_epi32(s0) - x_sum[t0];
                if (nt > 1u)
                    acc[(size_t)(base + t0 + 1u) * acc_stride + r] = ek_hsum_epi32(s1) - x_sum[t0 + 1u];
                if (nt > 2u)
                    acc[(size_t)(base + t0 + 2u) * acc_stride + r] = ek_hsum_epi32(s2) - x_sum[t0 + 2u];
                if (nt > 3u)
                    acc[(size_t)(base + t0 + 3u) * acc_stride + r] = ek_hsum_epi32(s3) - x_sum[t0 + 3u];
            }
        }
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_avx2_not_built;
#endif
