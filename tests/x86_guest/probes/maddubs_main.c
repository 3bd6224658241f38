/* maddubs_main.c — runs a maddubs.h body chosen at run time from CPUID, as edgekit's dispatchers do (CPU bits
 * and the OS's XCR0 state), or the one the test forces. Built for baseline x86-64: this file must run on
 * every model.
 *
 * io: uint32 mode at 0 (0: choose from CPUID, 1: AVX-512BW, 2: AVX2), uint32 body run written at 4 (1 or 2),
 * uint32 n at 8; n unsigned bytes at 64, n signed bytes after them, the n/2 int16 results after those. */
#include <cpuid.h>
#include <string.h>

#include "ek_guest.h"
#include "maddubs.h"

static int has_avx512bw(void)
{
    unsigned a, b, c, d;
    const uint64_t zmm_state = 0xE6; /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return 0;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((((uint64_t)hi << 32 | lo) & zmm_state) != zmm_state)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_AVX512F) && (b & bit_AVX512BW);
}

void ek_guest_main(uint8_t *io)
{
    uint32_t mode, n;
    memcpy(&mode, io, sizeof mode);
    memcpy(&n, io + 8, sizeof n);
    uint32_t body = mode ? mode : (has_avx512bw() ? 1 : 2);
    memcpy(io + 4, &body, sizeof body);
    const uint8_t *a = io + 64;
    const int8_t *b = (const int8_t *)(io + 64 + n);
    int16_t *out = (int16_t *)(io + 64 + 2 * n);
    if (body == 1)
        maddubs_avx512bw(a, b, out, n);
    else
        maddubs_avx2(a, b, out, n);
}
