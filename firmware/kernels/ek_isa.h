/* ek_isa.h — which body each kernel family runs in this build, decided once, here (the CMSIS-NN pattern of one
 * header turning compiler macros into ARM_MATH_* choices).
 *
 * Inputs: the build options EK_KERNEL_NEON / EK_KERNEL_DOTPROD / EK_KERNEL_MVE / EK_KERNEL_DSP / EK_KERNEL_AVX2
 * (CMake's EK_KERNELS, from the board's cpu features) and the compiler's target macros. Outputs, one EK_ISA_*
 * id per kernel family:
 *   EK_ISA_TERNARY   i2 and t158 matvec (and the batched i2 matmul where the id has one)
 *   EK_ISA_TL        tl matvec
 *   EK_ISA_FLOAT     float matvec and dot (lm_head, attention scores), integer heads
 *   EK_ISA_FLOAT_LANES  the float matvec and dot alone (differs on DSP cores with an FPU)
 *   EK_ISA_QUANTIZE  activation quantisation
 * Each dispatcher calls EK_ISA_BODY(op, family), each ISA body file compiles only when its family chose it, and
 * the variant name reported to the host (ek_kernel_variant) is EK_ISA_NAME(family): the three cannot disagree.
 * A requested option the compiler target cannot honour is an error, not a silent fallback.
 *
 * One exception to "once per build": EK_KERNEL_AVX512 (x86-64 hosts, on top of EK_KERNEL_AVX2) also builds the
 * AVX-512 bodies (ternary i2, the integer heads), each file with its own -mavx512* flags, and the dispatchers pick
 * them at run time when the CPU has AVX-512 F/BW/VL (plus VNNI for the *_avx512vnni bodies) and the OS saves the
 * ZMM state (ek_isa_x86_tier, ek_cpu_x86.c). One binary then runs its best bodies on every x86-64 host with AVX2,
 * as llama.cpp's and bitnet.cpp's CPU back ends do. The rest of such a build stays AVX2 code.
 */
#ifndef EK_ISA_H
#define EK_ISA_H

#define EK_ISA_C 0
#define EK_ISA_NEON 1
#define EK_ISA_DOTPROD 2 /* NEON bodies built with the Armv8.2 int8 dot product */
#define EK_ISA_MVE 3
#define EK_ISA_DSP 4
#define EK_ISA_AVX2 5
#define EK_ISA_AVX512 6     /* AVX-512 F/BW/VL, chosen at run time (EK_KERNEL_AVX512) */
#define EK_ISA_AVX512VNNI 7 /* the same plus VNNI (VPDPBUSD), chosen at run time */

/* name reported to the host, and the suffix of the body function (dotprod bodies are the NEON functions) */
#define EK_ISA_NAME_0 "c"
#define EK_ISA_NAME_1 "neon"
#define EK_ISA_NAME_2 "dotprod"
#define EK_ISA_NAME_3 "mve"
#define EK_ISA_NAME_4 "dsp"
#define EK_ISA_NAME_5 "avx2"
#define EK_ISA_NAME_6 "avx512"
#define EK_ISA_NAME_7 "avx512vnni"
#define EK_ISA_SUFFIX_0 _c
#define EK_ISA_SUFFIX_1 _neon
#define EK_ISA_SUFFIX_2 _neon
#define EK_ISA_SUFFIX_3 _mve
#define EK_ISA_SUFFIX_4 _dsp
#define EK_ISA_SUFFIX_5 _avx2
#define EK_ISA_SUFFIX_6 _avx512
#define EK_ISA_SUFFIX_7 _avx512vnni

#define EK_ISA_CAT_(a, b) a##b
#define EK_ISA_CAT(a, b) EK_ISA_CAT_(a, b)
/* EK_ISA_NAME(EK_ISA_TL) -> "neon"; EK_ISA_BODY(ek_matvec_tl, EK_ISA_TL) -> ek_matvec_tl_neon */
#define EK_ISA_NAME(family) EK_ISA_CAT(EK_ISA_NAME_, family)
#define EK_ISA_BODY(op, family) EK_ISA_CAT(op, EK_ISA_CAT(EK_ISA_SUFFIX_, family))

/* --- requests the compiler target must honour --------------------------------------------------------- */
#if defined(EK_KERNEL_MVE) && !defined(__ARM_FEATURE_MVE)
#error "EK_KERNEL_MVE needs a compiler target with MVE (e.g. -mcpu=cortex-m55)"
#endif
#if defined(EK_KERNEL_DSP) && !defined(__ARM_FEATURE_DSP)
#error "EK_KERNEL_DSP needs a compiler target with the DSP extension (e.g. -mcpu=cortex-m4)"
#endif
#if defined(EK_KERNEL_DOTPROD) && !defined(__ARM_FEATURE_DOTPROD)
#error "EK_KERNEL_DOTPROD needs a compiler target with dotprod (e.g. -march=armv8.2-a+dotprod)"
#endif
#if defined(EK_KERNEL_NEON) && !defined(__ARM_NEON)
#error "EK_KERNEL_NEON needs a compiler target with Advanced SIMD (AArch64)"
#endif
#if defined(EK_KERNEL_AVX2) && !defined(__AVX2__)
#error "EK_KERNEL_AVX2 needs -mavx2"
#endif
#if defined(EK_KERNEL_AVX512) && !defined(EK_KERNEL_AVX2)
#error "EK_KERNEL_AVX512 adds run-time AVX-512 bodies to an AVX2 build: add avx2 to EK_KERNELS"
#endif

/* --- one choice per family ------------------------------------------------------------------------------ */
#if defined(EK_KERNEL_MVE)
#define EK_ISA_TERNARY EK_ISA_MVE
#elif defined(EK_KERNEL_DOTPROD)
#define EK_ISA_TERNARY EK_ISA_DOTPROD
#elif defined(EK_KERNEL_NEON)
#define EK_ISA_TERNARY EK_ISA_NEON
#elif defined(EK_KERNEL_DSP)
#define EK_ISA_TERNARY EK_ISA_DSP
#elif defined(EK_KERNEL_AVX2)
#define EK_ISA_TERNARY EK_ISA_AVX2
#else
#define EK_ISA_TERNARY EK_ISA_C
#endif

/* tl: no DSP body (SMLAD does not help a lookup); the NEON body needs no dot product */
#if defined(EK_KERNEL_MVE)
#define EK_ISA_TL EK_ISA_MVE
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
#define EK_ISA_TL EK_ISA_NEON
#elif defined(EK_KERNEL_AVX2)
#define EK_ISA_TL EK_ISA_AVX2
#else
#define EK_ISA_TL EK_ISA_C
#endif

/* float lanes: Helium only with its floating-point extension (bit 1 of __ARM_FEATURE_MVE); integer-only MVE
 * cores and DSP cores run the portable body on their scalar FPU */
#if defined(EK_KERNEL_MVE) && (__ARM_FEATURE_MVE & 2)
#define EK_ISA_FLOAT EK_ISA_MVE
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
#define EK_ISA_FLOAT EK_ISA_NEON
#elif defined(EK_KERNEL_AVX2)
#define EK_ISA_FLOAT EK_ISA_AVX2
#else
#define EK_ISA_FLOAT EK_ISA_C
#endif

/* the float matvec and dot (f32, f16, bf16, q8row heads; attention scores): the float family's body, except where
 * that is portable C on a DSP core with a single-precision FPU (M4, M7, M33; not the M55, whose Helium body wins),
 * which has one of its own (ek_float_matvec_dsp.c: no vectors, but VLDM and the chained VMLA). The integer heads
 * (q8i, q4i) stay with EK_ISA_FLOAT. */
#if EK_ISA_FLOAT == EK_ISA_C && defined(EK_KERNEL_DSP) && defined(__ARM_FP) && (__ARM_FP & 4)
#define EK_ISA_FLOAT_LANES EK_ISA_DSP
#else
#define EK_ISA_FLOAT_LANES EK_ISA_FLOAT
#endif

#if defined(EK_KERNEL_MVE) && (__ARM_FEATURE_MVE & 2)
#define EK_ISA_QUANTIZE EK_ISA_MVE
#else
#define EK_ISA_QUANTIZE EK_ISA_C
#endif

/* --- the run-time x86-64 tiers in a dispatcher ----------------------------------------------------------- */
/* EK_ISA_X86_TIERS(op, args): on a CPU with AVX-512, call op_avx512vnni or op_avx512 (ek_isa_x86_tier's choice) and
 * return from the dispatcher; elsewhere, and in builds without EK_KERNEL_AVX512, do nothing, so the dispatcher goes
 * on to the build's body. EK_ISA_X86_AVX512(op, args): the same for an op with one AVX-512 body for both tiers. */
#if defined(EK_KERNEL_AVX512)
#define EK_ISA_X86_TIERS(op, args)                                                                              \
    do {                                                                                                        \
        const int ek_tier_ = ek_isa_x86_tier();                                                                 \
        if (ek_tier_ == EK_ISA_AVX512VNNI) {                                                                    \
            EK_ISA_CAT(op, _avx512vnni) args;                                                                   \
            return;                                                                                             \
        }                                                                                                       \
        if (ek_tier_ == EK_ISA_AVX512) {                                                                        \
            EK_ISA_CAT(op, _avx512) args;                                                                       \
            return;                                                                                             \
        }                                                                                                       \
    } while (0)
#define EK_ISA_X86_AVX512(op, args)                                                                             \
    do {                                                                                                        \
        if (ek_isa_x86_tier() >= EK_ISA_AVX512) {                                                               \
            EK_ISA_CAT(op, _avx512) args;                                                                       \
            return;                                                                                             \
        }                                                                                                       \
    } while (0)
#else
#define EK_ISA_X86_TIERS(op, args) ((void)0)
#define EK_ISA_X86_AVX512(op, args) ((void)0)
#endif

/* --- test builds: which body ran ------------------------------------------------------------------------ */
/* With EK_KERNEL_TRACE (tests only), every body writes the name of the code it is made of into ek_kernel_ran
 * when it runs: slot = the format it read, or EK_TRACE_QUANTIZE / EK_TRACE_FLOAT_DOT / EK_TRACE_MATMUL_PER_INPUT.
 * A test then compares it with the name the build reports. Without it the macro is nothing. */
#define EK_TRACE_QUANTIZE 32u
#define EK_TRACE_FLOAT_DOT 33u
#define EK_TRACE_MATMUL_PER_INPUT 34u /* ek_ternary_matmul looped over the matvec (no batched body ran) */
#define EK_TRACE_SLOTS 35u
#if defined(EK_KERNEL_TRACE)
extern const char *ek_kernel_ran[EK_TRACE_SLOTS];
#define EK_KERNEL_RAN(slot, name) ((void)(ek_kernel_ran[(slot) < EK_TRACE_SLOTS ? (slot) : 0u] = (name)))
#else
#define EK_KERNEL_RAN(slot, name) ((void)0)
#endif

#endif /* EK_ISA_H */
