/* ek_cpu_x86.c — which x86-64 body tier this CPU runs (EK_KERNEL_AVX512 builds, ek_isa.h).
 *
 * AVX-512 needs two things: the CPU's CPUID bits (leaf 7: AVX512F, AVX512BW, AVX512VL, and AVX512_VNNI for the
 * VNNI tier) and the OS saving the opmask and ZMM registers on a context switch (XCR0 bits 5..7 beside SSE and AVX,
 * read with XGETBV once CPUID.1:ECX.OSXSAVE says it may be). A CPU whose OS leaves the ZMM state off faults on
 * the first AVX-512 instruction, so both are checked, as the Intel SDM (vol. 1, 15.2) asks.
 *
 * The tier is found once and cached: CPUID traps to the hypervisor in a VM (microseconds), and the dispatchers ask
 * on every call. The cache is a relaxed atomic: two threads racing on the first call compute the same value.
 * ek_isa_x86_limit lowers the tier (the POSIX port's --kernels, to compare bodies on one machine). */
#include "ek_kernels.h"

#if defined(EK_KERNEL_AVX512)
#include <cpuid.h>

static int tier = -1;  /* -1 until detected */
static int limit = EK_ISA_AVX512VNNI;

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int detect(void)
{
    const uint64_t zmm_state = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7); /* SSE AVX k ZMM */
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7u || !__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return EK_ISA_AVX2;
    if ((xgetbv0() & zmm_state) != zmm_state)
        return EK_ISA_AVX2;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & bit_AVX512F) || !(b & bit_AVX512BW) || !(b & bit_AVX512VL))
        return EK_ISA_AVX2;
    return (c & bit_AVX512VNNI) ? EK_ISA_AVX512VNNI : EK_ISA_AVX512;
}

int ek_isa_x86_tier(void)
{
    int t = __atomic_load_n(&tier, __ATOMIC_RELAXED);
    if (t < 0) {
        t = detect();
        __atomic_store_n(&tier, t, __ATOMIC_RELAXED);
    }
    return t < __atomic_load_n(&limit, __ATOMIC_RELAXED) ? t : __atomic_load_n(&limit, __ATOMIC_RELAXED);
}

void ek_isa_x86_limit(int max_tier)
{
    __atomic_store_n(&limit, max_tier, __ATOMIC_RELAXED);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_cpu_x86_not_built;
#endif
