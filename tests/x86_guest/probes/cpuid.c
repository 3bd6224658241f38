/* cpuid.c — what a guest sees of its CPU, for tests/test_x86_guest.py: CPUID leaves 1, 7.0 and 7.1 (EAX, EBX,
 * ECX, EDX each, little-endian uint32) at io[0..48), then XCR0 (XGETBV 0, uint64) at io[48..56), the state
 * components an AVX-512 dispatcher asks the OS for. */
#include <cpuid.h>
#include <string.h>

#include "ek_guest.h"

static void store_cpuid(uint8_t *out, unsigned leaf, unsigned subleaf)
{
    uint32_t r[4];
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
    memcpy(out, r, sizeof r);
}

void ek_guest_main(uint8_t *io)
{
    store_cpuid(io, 1, 0);
    store_cpuid(io + 16, 7, 0);
    store_cpuid(io + 32, 7, 1);
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    uint64_t xcr0 = (uint64_t)hi << 32 | lo;
    memcpy(io + 48, &xcr0, sizeof xcr0);
}
