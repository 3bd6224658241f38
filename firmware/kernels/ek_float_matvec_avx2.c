/* ek_float_matvec_avx2.c — float matvec for x86-64 hosts with AVX2 (EK_KERNEL_AVX2). y equals
 * ek_float_matvec_c's bit for bit: the 16 lane sums are two 8-lane registers (lanes 0..7, 8..15), each
 * product is a separate multiply then add (no FMA), and the reduction tree and the tail follow the portable
 * order exactly (see ek_float_matvec_c.c).
 *
 * f16 -> f32 is exact either way: VCVTPH2PS when the compiler targets F16C (-mf16c, which the CMake build
 * adds with -mavx2), otherwise an exact integer rebias (the portable decoder's arithmetic, 8 lanes wide).
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX2)
#include <string.h>

#include <immintrin.h>

#if !defined(__AVX2__)
#error "EK_KERNEL_AVX2 needs -mavx2"
#endif

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

/* 8 int8 at p -> 8 floats (exact) */
static inline __m256 int8_to_float(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}

static float dot_f32(const float *w, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    float sum;
    size_t c;
    for (c = 0; c < whole; c += EK_FLOAT_LANES) {
        lo = _mm256_add_ps(lo, _mm256_mul_ps(_mm256_loadu_ps(w + c), _mm256_loadu_ps(x + c)));
        hi = _mm256_add_ps(hi, _mm256_mul_ps(_mm256_loadu_ps(w + c + 8), _mm256_loadu_ps(x + c + 8)));
    }
    sum = reduce_lanes(lo, hi);
    for (c = whole; c < cols; c++)
        sum += w[c] * x[c];
    return sum;
}

static float dot_f16(const uint8_t *w, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    float sum;
    size_t c;
    for (c = 0; c < whole; c += EK_FLOAT_LANES) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(w + 2u * c)); /* 16 halves */
        lo = _mm256_add_ps(lo, _mm256_mul_ps(halves_to_float(_mm256_castsi256_si128(h)), _mm256_loadu_ps(x + c)));
        hi = _mm256_add_ps(hi, _mm256_mul_ps(halves_to_float(_mm256_extracti128_si256(h, 1)),
                                             _mm256_loadu_ps(x + c + 8)));
    }
    sum = reduce_lanes(lo, hi);
    for (c = whole; c < cols; c++)
        sum += ek_half_to_float((uint16_t)(w[2u * c] | (w[2u * c + 1u] << 8))) * x[c];
    return sum;
}

static float dot_q8(const int8_t *q, const float *x, size_t cols)
{
    const size_t whole = cols - cols % EK_FLOAT_LANES;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    float sum;
    size_t c;
    for (c = 0; c < whole; c += EK_FLOAT_LANES) {
        lo = _mm256_add_ps(lo, _mm256_mul_ps(int8_to_float(q + c), _mm256_loadu_ps(x + c)));
        hi = _mm256_add_ps(hi, _mm256_mul_ps(int8_to_float(q + c + 8), _mm256_loadu_ps(x + c + 8)));
    }
    sum = reduce_lanes(lo, hi);
    for (c = whole; c < cols; c++)
        sum += (float)q[c] * x[c];
    return sum;
}

float ek_float_dot_avx2(const float *a, const float *b, size_t n) { return dot_f32(a, b, n); }

static const ek_float_row_dots avx2_dots = {dot_f32, dot_f16, dot_q8};

void ek_float_matvec_avx2(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    ek_float_matvec_with(&avx2_dots, w, x, y, r0, r1);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_float_matvec_avx2_not_built;
#endif
