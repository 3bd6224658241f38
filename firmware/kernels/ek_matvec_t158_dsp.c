/* ek_matvec_t158_dsp.c — t158 ternary matvec for Cortex-M cores with the DSP extension (EK_KERNEL_DSP: M4,
 * M7, M33 with DSP), four bytes per 32-bit word. The accumulators equal ek_matvec_t158_c's bit for bit:
 * integer sums are exact in any order.
 *
 * t158 is the flash-size format, so it is the one small cores run. Four stored bytes decode in one word:
 * v_{k+1} = 3 v_k mod 256 per byte is two UADD8 (wrapping byte adds), and digit (3v) >> 8 equals
 * ((v + (v >> 1)) >> 1) >> 6 per byte, where UHADD8 is the halving add that never overflows a byte (the
 * masks keep each byte's own bits after the word shifts). w . x = digit . x - sum(x), digit in 0..2; the
 * digits meet x_q four at a time in two SMLADs, as in the i2 DSP body. The row tail (cols % 80, packed 5 per
 * byte) is copied to a zeroed 16-byte block and meets a copy of its x_q in block order.
 */
#include "ek_kernels.h"

#if defined(EK_KERNEL_DSP)
#include <string.h>

#include <arm_acle.h>

#if !defined(__ARM_FEATURE_DSP)
#error "EK_KERNEL_DSP needs a compiler target with the DSP extension (e.g. -mcpu=cortex-m4)"
#endif

static inline uint32_t load_word(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one LDR (Armv7-M/v8-M allow unaligned LDR; t158 rows need not be word aligned) */
    return v;
}

static inline uint32_t ror8(uint32_t v) { return (v >> 8) | (v << 24); }

/* sum += digits . x over 4 byte lanes (digits unsigned 0..2, x signed) */
static inline int32_t dot4(int32_t sum, uint32_t digits, uint32_t x)
{
    sum = __smlad((int16x2_t)__uxtb16(digits), __sxtb16((int8x4_t)x), sum);           /* lanes 0, 2 */
    return __smlad((int16x2_t)__uxtb16(ror8(digits)), __sxtb16((int8x4_t)ror8(x)), sum); /* lanes 1, 3 */
}

/* (3v) >> 8 of each byte */
static inline uint32_t digits4(uint32_t v)
{
    return ((uint32_t)__uhadd8((uint8x4_t)v, (uint8x4_t)((v >> 1) & 0x7F7F7F7Fu)) >> 6) & 0x03030303u;
}

/* 3v mod 256 of each byte */
static inline uint32_t times3(uint32_t v)
{
    return (uint32_t)__uadd8((uint8x4_t)v, __uadd8((uint8x4_t)v, (uint8x4_t)v));
}

/* sum + digit . x over one 80-weight block (16 bytes at q8, 80 x_q values at x) */
static inline int32_t t158_block(int32_t sum, const uint8_t *q8, const int8_t *x)
{
    uint32_t i;
    for (i = 0; i < 16u; i += 4u) { /* bytes i..i+3: weights i..i+3 of each 16-weight digit row */
        uint32_t v = load_word(q8 + i);
        sum = dot4(sum, digits4(v), load_word(x + i));
        v = times3(v);
        sum = dot4(sum, digits4(v), load_word(x + 16u + i));
        v = times3(v);
        sum = dot4(sum, digits4(v), load_word(x + 32u + i));
        v = times3(v);
        sum = dot4(sum, digits4(v), load_word(x + 48u + i));
        v = times3(v);
        sum = dot4(sum, digits4(v), load_word(x + 64u + i));
    }
    return sum;
}

void ek_matvec_t158_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    ek_t158_rows_with(t158_block, w, x, acc);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_t158_dsp_not_built;
#endif
