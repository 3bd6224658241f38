/* ek_matvec_i2_avx512.c — i2 ternary matvec and prefill matmul for x86-64 CPUs with AVX-512 F/BW/VL and no VNNI
 * (Skylake-X, Cannon Lake), chosen at run time (EK_KERNEL_AVX512, ek_isa.h). Built with
 * -mavx512f -mavx512bw -mavx512vl and nothing more, so it runs on every AVX-512BW CPU. VPMADDUBSW multiplies the
 * unsigned codes by the signed x_q and adds pairs into int16 parts, VPMADDWD widens them once per group. The row
 * walks are ek_i2_avx512_rows.h's. */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX512)
#if !defined(__AVX512BW__) || !defined(__AVX512VL__)
#error "ek_matvec_i2_avx512.c needs -mavx512f -mavx512bw -mavx512vl (firmware/CMakeLists.txt sets them)"
#endif
#include <immintrin.h>

static inline __attribute__((always_inline)) __m512i part_step(__m512i part, __m512i c01, __m512i c23,
                                                               const int8_t *xb)
{
    const __m512i a = _mm512_maddubs_epi16(c01, _mm512_loadu_si512((const void *)xb));
    const __m512i b = _mm512_maddubs_epi16(c23, _mm512_loadu_si512((const void *)(xb + 64)));
    return _mm512_add_epi16(part, _mm512_add_epi16(a, b));
}

static inline __attribute__((always_inline)) __m512i part_flush(__m512i sum, __m512i part)
{
    return _mm512_add_epi32(sum, _mm512_madd_epi16(part, _mm512_set1_epi16(1)));
}

#define EK_I2_BODY(op) op##_avx512
#define EK_I2_BODY_NAME EK_ISA_NAME(EK_ISA_AVX512)
#include "ek_i2_avx512_rows.h"
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_avx512_not_built;
#endif
