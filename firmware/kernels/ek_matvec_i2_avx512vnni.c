/* ek_matvec_i2_avx512vnni.c — i2 ternary matvec and prefill matmul for x86-64 CPUs with AVX-512 VNNI (Ice Lake,
 * Tiger Lake, Sapphire Rapids and later; Zen 4), chosen at run time (EK_KERNEL_AVX512, ek_isa.h). Built with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni. VPDPBUSD multiplies the unsigned codes by the signed x_q and adds
 * each four products into an int32 lane in one instruction: no int16 stage, nothing to widen. The row walks are
 * ek_i2_avx512_rows.h's. */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX512)
#if !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "ek_matvec_i2_avx512vnni.c needs -mavx512f -mavx512bw -mavx512vl -mavx512vnni (firmware/CMakeLists.txt)"
#endif
#include <immintrin.h>

static inline __attribute__((always_inline)) __m512i part_step(__m512i part, __m512i c01, __m512i c23,
                                                               const int8_t *xb)
{
    part = _mm512_dpbusd_epi32(part, c01, _mm512_loadu_si512((const void *)xb));
    return _mm512_dpbusd_epi32(part, c23, _mm512_loadu_si512((const void *)(xb + 64)));
}

static inline __attribute__((always_inline)) __m512i part_flush(__m512i sum, __m512i part)
{
    return _mm512_add_epi32(sum, part);
}

#define EK_I2_BODY(op) op##_avx512vnni
#define EK_I2_BODY_NAME EK_ISA_NAME(EK_ISA_AVX512VNNI)
#include "ek_i2_avx512_rows.h"
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_i2_avx512vnni_not_built;
#endif
