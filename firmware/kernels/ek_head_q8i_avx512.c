/* ek_head_q8i_avx512.c — the q8i integer lm_head for x86-64 CPUs with AVX-512 F/BW/VL and no VNNI, chosen at run
 * time (EK_KERNEL_AVX512, ek_isa.h). VPMADDUBSW adds product pairs into int16 (at most 2 * 128 * 127 = 32512: it
 * never saturates) and VPMADDWD by ones widens them. The row walk is ek_q8i_avx512_rows.h's. */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX512)
#if !defined(__AVX512BW__) || !defined(__AVX512VL__)
#error "ek_head_q8i_avx512.c needs -mavx512f -mavx512bw -mavx512vl (firmware/CMakeLists.txt sets them)"
#endif
#include <immintrin.h>

static inline __attribute__((always_inline)) __m512i row_step(__m512i acc, __m512i xa, __m512i ws)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(xa, ws), _mm512_set1_epi16(1)));
}

#define EK_Q8I_BODY(op) op##_avx512
#define EK_Q8I_BODY_NAME EK_ISA_NAME(EK_ISA_AVX512)
#include "ek_q8i_avx512_rows.h"
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_head_q8i_avx512_not_built;
#endif
