/* ek_float_matvec_mve.c — float matvec for Cortex-M Helium with floating point (EK_KERNEL_MVE on MVE-F
 * cores such as the Cortex-M55). y equals ek_float_matvec_c's bit for bit: the 16 lane sums are four
 * 4-lane registers (lanes 0..3, 4..7, 8..11, 12..15), each product is a separate VMUL then VADD (never
 * VFMA), and the reduction tree and the tail follow the portable order exactly (see ek_float_matvec_c.c).
 *
 * Loads widen in the load unit: VLDRH.U32 zero-extends 4 halves to 4 word lanes (decoded exactly below);
 * VLDRB.S32 sign-extends 4 int8 to 4 int32 lanes for VCVT. An MVE core without the floating-point extension
 * (integer-only MVE) runs the portable body: ek_isa.h does not choose this one there.
 *
 * One limit of "bit for bit": MVE float instructions flush subnormal float32 values to zero (the Armv8.1-M
 * standard FPSCR value; QEMU's Cortex-M55 does) while the scalar FPU, which runs the portable body, keeps
 * them, so products or partial sums below 2^-126 in magnitude can differ. lm_head weights and activations
 * are nowhere near that range.
 */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_MVE
#include <string.h>

#include <arm_mve.h>

/* GCC's first scheduling pass interleaves the four weight decodes of a block and spills them (8 Q registers);
 * without it each decode feeds its multiply-add while the next loads (as in ek_matvec_i2_mve.c). GCC's
 * auto-increment pass turns the first loads of a block into post-increments through copied pointers (two MOVs
 * and, for 2-byte weights, two ADDs more per block); without it every load is base + immediate offset and each
 * pointer moves once per block: 19 instructions per 16 columns for f32, 23 for f16, bf16 and q8row (was 21, 27). */
#if defined(__GNUC__) && !defined(__clang__)
#define EK_ROW_DOT4_ATTR __attribute__((optimize("no-schedule-insns", "no-auto-inc-dec")))
#endif
#include "ek_float_lanes4.h"

static inline float reduce_lanes(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3)
{
    const float32x4_t s4 = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3)); /* s8[j] + s8[j+4] */
    const float s2_0 = vgetq_lane_f32(s4, 0) + vgetq_lane_f32(s4, 2);
    const float s2_1 = vgetq_lane_f32(s4, 1) + vgetq_lane_f32(s4, 3);
    return s2_0 + s2_1;
}

/* VCVTB.F32.F16 of a register: the bottom half of each word lane widened to float32. GCC's intrinsic is not used
 * because the GNU assembler (binutils 2.40, with arm-none-eabi-gcc 12.2) encodes this instruction's Q registers
 * doubled: "vcvtb.f32.f16 q3, q3" assembles as q6, q6. ek_vcvtb_f32_f16 emits the architectural encoding itself
 * (Qd in bits 15:13, Qm in bits 3:1 of the second halfword); an operand that is not q0..q7 stops the assembly. */
#if defined(__clang__)
static inline float32x4_t vcvtb_f32_bottom_halves(uint32x4_t v) { return vcvtbq_f32_f16(vreinterpretq_f16_u32(v)); }
#else
__asm__(".macro ek_qnum sym, reg\n"
        ".set \\sym, 8\n"
        ".irpc n, 01234567\n"
        ".ifc \\reg, q\\n\n"
        ".set \\sym, \\n\n"
        ".endif\n"
        ".endr\n"
        ".if \\sym > 7\n"
        ".error \"ek_vcvtb_f32_f16: \\reg is not a Q register\"\n"
        ".endif\n"
        ".endm\n"
        ".macro ek_vcvtb_f32_f16 qd, qm\n"
        "ek_qnum .Lek_cvt_qd, \\qd\n"
        "ek_qnum .Lek_cvt_qm, \\qm\n"
        ".inst.w 0xfe3f0e01 | (.Lek_cvt_qd << 13) | (.Lek_cvt_qm << 1)\n"
        ".endm\n");
static inline float32x4_t vcvtb_f32_bottom_halves(uint32x4_t v)
{
    float32x4_t f;
    __asm__("ek_vcvtb_f32_f16 %q0, %q1" : "=w"(f) : "w"(v));
    return f;
}
#endif

/* 4 halves -> 4 floats in element order, exactly as ek_half_to_float: VLDRH.U32 zero-extends 4 halves into the
 * bottom of 4 word lanes, VCVTB widens them (IEEE halves: FPSCR.AHP is clear from reset and nothing sets it).
 * FPSCR.FZ16 does not apply to half <-> single conversions and every subnormal half is a normal float32, so
 * subnormal halves convert exactly (the flush of MVE float lanes, above, never sees them); infinities and zeros
 * keep their sign (tests/test_c_float_kernels.py has every subnormal half and both infinities). A NaN half becomes
 * the default NaN (MVE float instructions run in default-NaN mode), and so does any product with it: NaN in, NaN
 * out, as in the portable body, whose NaN payload the scalar FPU propagates instead. */
static inline float32x4_t halves_to_float(const uint8_t *p)
{
    return vcvtb_f32_bottom_halves(vldrhq_u32((const uint16_t *)(const void *)p));
}

/* 4 bfloat16 -> 4 floats: VLDRH.U32 widens, VSHL #16 moves each into the top of its lane (exact bits; a
 * subnormal bf16 is a subnormal float32, which the float lanes flush like any other, see above) */
static inline float32x4_t bf16_to_float(const uint8_t *p)
{
    return vreinterpretq_f32_u32(vshlq_n_u32(vldrhq_u32((const uint16_t *)(const void *)p), 16));
}

static inline float32x4_t int8_to_float(const int8_t *p) { return vcvtq_f32_s32(vldrbq_s32(p)); }

#define EK_F16_LOAD4(c) halves_to_float(w + 2u * (c))
#define EK_BF16_LOAD4(c) bf16_to_float(w + 2u * (c))
#define EK_Q8_LOAD4(c) int8_to_float(w + (c))
#define EK_Q8_AT(c) (float)w[c]
EK_ROW_DOT4(dot_f32, float, EK_F32_LOAD4, EK_F32_AT)
EK_ROW_DOT4(dot_f16, uint8_t, EK_F16_LOAD4, EK_F16_AT)
EK_ROW_DOT4(dot_bf16, uint8_t, EK_BF16_LOAD4, EK_BF16_AT)
EK_ROW_DOT4(dot_q8, int8_t, EK_Q8_LOAD4, EK_Q8_AT)

float ek_float_dot_mve(const float *a, const float *b, size_t n)
{
    EK_KERNEL_RAN(EK_TRACE_FLOAT_DOT, "mve");
    return dot_f32(a, b, n);
}

static const ek_float_row_dots mve_dots = {dot_f32, dot_f16, dot_bf16, dot_q8};

void ek_float_matvec_mve(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1)
{
    EK_KERNEL_RAN(w->format, "mve");
    ek_float_matvec_with(&mve_dots, w, x, y, r0, r1);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int ek_float_matvec_mve_not_built;
#endif
