/* ek_head_q8i_avx512vnni.c — the q8i integer lm_head for x86-64 CPUs with AVX-512 VNNI, chosen at run time
 * (EK_KERNEL_AVX512, ek_isa.h). VPDPBUSD adds each four products |x_q| . w into an int32 lane in one instruction.
 * The row walk is ek_q8i_avx512_rows.h's. */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX512)
#if !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "ek_head_q8i_avx512vnni.c needs -mavx512f -mavx512bw -mavx512vl -mavx512vnni (firmware/CMakeLists.txt)"
#endif
#include <immintrin.h>

static inline __attribute__((always_inline)) __m512i row_step(__m512i acc, __m512i xa, __m512i ws)
{
    return _mm512_dpbusd_epi32(acc, xa, ws);
}

#define EK_Q8I_BODY(op) op##_avx512vnni
#define EK_Q8I_BODY_NAME EK_ISA_NAME(EK_ISA_AVX512VNNI)
#include "ek_q8i_avx512_rows.h"
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_head_q8i_avx512vnni_not_built;
#endif
