/* ek_float_matvec_avx2.c — float matvec for x86-64 hosts with AVX2 (EK_KERNEL_AVX2). y equals
 * ek_float_matvec_c's bit for bit: the 16 lane sums are two 8-lane registers (lanes 0..7, 8..15), each
 * product is a separate multiply then add (no FMA), and the reduction tree and the tail follow the portable
 * order exactly (see ek_float_matvec_c.c). The matvec runs four rows per step (ek_float_matvec_with4), a quarter of
 * the range apart: each row's order is unchanged, the rows only share the x loads.
 *
 * f16 -> f32 is exact either way: VCVTPH2PS when the compiler targets F16C (-mf16c, which the CMake build
 * adds with -mavx2), otherwise an exact integer rebias (the portable decoder's arithmetic, 8 lanes wide).
 */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_AVX2
#include <string.h>

#include <immintrin.h>

/* lane sums lo (lanes 0..7) and hi (8..15) -> one float, in the portable tree order */
static inline float reduce_lanes(__m256 lo, __m256 hi)
{
    const __m256 s8 = _mm256_add_ps(lo, hi);                                              /* j + (j+8) */
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); /* j + (j+4) */
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                              /* j + (j+2) */
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));                      /* 0 + 1 */
}

/* 8 halves -> 8 floats, exactly */
static inline __m256 halves_to_float(__m128i h)
{
#if defined(__F16C__)
    return _mm256_cvtph_ps(h);
#else
    const __m256i v = _mm256_cvtepu16_epi32(h);
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x8000)), 16);
    const __m256i magnitude = _mm256_and_si256(v, _mm256_set1_epi32(0x7FFF));
    /* exponent and mantissa moved to float32 position, then scaled by 2^(127-15): exact for normal and
     * subnormal halves (a subnormal half lands on a float32 subnormal first, times a power of two) */
    const __m256 finite = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(magnitude, 13)),
                                        _mm256_set1_ps(0x1p112f));
    const __m256i inf_nan = _mm256_or_si256(
        _mm256_set1_epi32(0x7F800000), _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x3FF)), 13));
    const __m256i is_special = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7BFF));
    const __m256i bits = _mm256_blendv_epi8(_mm256_castps_si256(finite), inf_nan, is_special);
    return _mm256_castsi256_ps(_mm256_or_si256(bits, sign));
#endif
}

/* 8 bfloat16 at p -> 8 floats: each 16 bits shifted into the top of a float32 lane (exact) */
static inline __m256 bf16_to_float(const uint8_t *p)
{
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* 8 int8 at p -> 8 floats (exact) */
static inline __m256 int8_to_float(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}

/* Defines `static float NAME(const TYPE *w, const float *x, size_t cols)`: LOAD8(p, c) is the __m256 of the decoded
 * weights of columns c..c+7 of the row at p, AT(p, c) the decoded weight of column c; lanes 0..7 of the fixed order
 * in lo, 8..15 in hi, each product a separate multiply then add. */
#define EK_ROW_DOT8(NAME, TYPE, LOAD8, AT)                                                                      \
    static float NAME(const TYPE *w, const float *x, size_t cols)                                               \
    {                                                                                                           \
        const size_t whole = cols - cols % EK_FLOAT_LANES;                                                      \
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();                                              \
        float sum;                                                                                              \
        size_t c;                                                                                               \
        for (c = 0; c < whole; c += EK_FLOAT_LANES) {                                                           \
            lo = _mm256_add_ps(lo, _mm256_mul_ps(LOAD8(w, c), _mm256_loadu_ps(x + c)));                         \
            hi = _mm256_add_ps(hi, _mm256_mul_ps(LOAD8(w, c + 8u), _mm256_loadu_ps(x + c + 8u)));               \
        }                                                                                                       \
        sum = reduce_lanes(lo, hi);                                                                             \
        for (c = whole; c < cols; c++)                                                                          \
            sum += AT(w, c) * x[c];                                                                             \
        return sum;                                                                                             \
    }

/* Defines `static void NAME(const TYPE *w, size_t stride, const float *x, size_t cols, float out[4])`: the rows at
 * w, w + stride, w + 2 * stride, w + 3 * stride, each in the single-row order above. A single row is one chain of
 * dependent adds per register (add latency, not bandwidth, sets its pace); four rows are eight independent chains
 * that share each x load. The walker (ek_float_matvec_with4) passes rows a quarter of the range apart, so each of
 * the four is a long sequential stream the hardware prefetcher follows. PREFETCH (0 or 1): also prefetch each row
 * 4 KiB ahead, for q8row, whose int8 rows are consumed fastest (measured on the 2B-4T head from DRAM, Zen 2: q8row
 * 20.9 ms without, 19.8 with; the wider formats gain nothing from it). */
#define EK_ROWS4_DOT8(NAME, TYPE, LOAD8, AT, PREFETCH)                                                          \
    static void NAME(const TYPE *w, size_t stride, const float *x, size_t cols, float out[4])                   \
    {                                                                                                           \
        const size_t whole = cols - cols % EK_FLOAT_LANES;                                                      \
        const TYPE *w1 = w + stride, *w2 = w1 + stride, *w3 = w2 + stride;                                      \
        __m256 lo0 = _mm256_setzero_ps(), hi0 = lo0, lo1 = lo0, hi1 = lo0, lo2 = lo0, hi2 = lo0, lo3 = lo0,     \
               hi3 = lo0;                                                                                       \
        size_t c;                                                                                               \
        for (c = 0; c < whole; c += EK_FLOAT_LANES) {                                                           \
            const __m256 xl = _mm256_loadu_ps(x + c), xh = _mm256_loadu_ps(x + c + 8u);                         \
            if (PREFETCH) { /* hints: past the tensor they read nothing */                                      \
                _mm_prefetch((const char *)((uintptr_t)(w + c) + 4096u), _MM_HINT_T0);                          \
                _mm_prefetch((const char *)((uintptr_t)(w1 + c) + 4096u), _MM_HINT_T0);                         \
                _mm_prefetch((const char *)((uintptr_t)(w2 + c) + 4096u), _MM_HINT_T0);                         \
                _mm_prefetch((const char *)((uintptr_t)(w3 + c) + 4096u), _MM_HINT_T0);                         \
            }                                                                                                   \
            lo0 = _mm256_add_ps(lo0, _mm256_mul_ps(LOAD8(w, c), xl));                                           \
            hi0 = _mm256_add_ps(hi0, _mm256_mul_ps(LOAD8(w, c + 8u), xh));                                      \
            lo1 = _mm256_add_ps(lo1, _mm256_mul_ps(LOAD8(w1, c), xl));                                          \
            hi1 = _mm256_add_ps(hi1, _mm256_mul_ps(LOAD8(w1, c + 8u), xh));                                     \
            lo2 = _mm256_add_ps(lo2, _mm256_mul_ps(LOAD8(w2, c), xl));                                          \
            hi2 = _mm256_add_ps(hi2, _mm256_mul_ps(LOAD8(w2, c + 8u), xh));                                     \
            lo3 = _mm256_add_ps(lo3, _mm256_mul_ps(LOAD8(w3, c), xl));                                          \
            hi3 = _mm256_add_ps(hi3, _mm256_mul_ps(LOAD8(w3, c + 8u), xh));                                     \
        }                                                                                                       \
        out[0] = reduce_lanes(lo0, hi0), out[1] = reduce_lanes(lo1, hi1);                                       \
        out[2] = reduce_lanes(lo2, hi2), out[3] = reduce_lanes(lo3, hi3);                                       \
        for (c = whole; c < cols; c++) {                                                                        \
            out[0] += AT(w, c) * x[c], out[1] += AT(w1, c) * x[c];                                              \
            out[2] += AT(w2, c) * x[c], out[3] += AT(w3, c) * x[c];                                             \
        }                                                                                                       \
    }

#define EK_F32_LOAD8(p, c) _mm256_loadu_ps((p) + (c))
#define EK_F32_AT(p, c) (p)[c]
#define EK_F16_LOAD8(p, c) halves_to_float(_mm_loadu_si128((const __m128i *)(const void *)((p) + 2u * (c))))
#define EK_F16_AT(p, c) ek_half_to_float(ek_load_u16le((p) + 2u * (c)))
#define EK_BF16_LOAD8(p, c) bf16_to_float((p) + 2u * (c))
#define EK_BF16_AT(p, c) ek_bf16_to_float(ek_load_u16le((p) + 2u * (c)))
#define EK_Q8_LOAD8(p, c) int8_to_float((p) + (c))
#define EK_Q8_AT(p, c) (float)(p)[c]
EK_ROW_DOT8(dot_f32, float, EK_F32_LOAD8, EK_F32_AT)
EK_ROW_DOT8(dot_f16, uint8_t, EK_F16_LOAD8, EK_F16_AT)
EK_ROW_DOT8(dot_bf16, uint8_t, EK_BF16_LOAD8, EK_BF16_AT)
EK_ROW_DOT8(dot_q8, int8_t, EK_Q8_LOAD8, EK_Q8_AT)
EK_ROWS4_DOT8(dot4_f32, float, EK_F32_LOAD8, EK_F32_AT, 0)
EK_ROWS4_DOT8(dot4_f16, uint8_t, EK_F16_LOAD8, EK_F16_AT, 0)
EK_ROWS4_DOT8(dot4_bf16, uint8_t, EK_BF16_LOAD8, EK_BF16_AT, 0)
EK_ROWS4_DOT8(dot4_q8, int8_t, EK_Q8_LOAD8, EK_Q8_AT, 1)

float ek_float_dot_avx2(const float *a, const float *b, size_t n)
{
    EK_KERNEL_RAN(EK_TRACE_FLOAT_DOT, "avx2");
    return dot_f32(a, b, n);
}

static const ek_float_row_dots avx2_dots = {dot_f32, dot_f16, dot_bf16, dot_q8};
static const ek_float_row4_dots avx2_dots4 = {dot4_f32, dot4_f16, dot4_bf16, dot4_q8};

void ek_float_matvec_avx2(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_KERNEL_RAN(w->format, "avx2");
    ek_float_matvec_with4(&avx2_dots, &avx2_dots4, w, x, y, r0, r1);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_float_matvec_avx2_not_built;
#endif
