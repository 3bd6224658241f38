/* vnni_dot.c — a u8·s8 dot product with AVX-512 VNNI (vpdpbusd on zmm), for tests/test_x86_guest.py.
 * Build with -mavx512f -mavx512vnni.
 *
 * io: uint32 n (a multiple of 64) at 0, int32 result written at 4; n unsigned bytes at 64, then n signed bytes. */
#include <immintrin.h>
#include <string.h>

#include "ek_guest.h"

__attribute__((noinline)) static int32_t dot_vnni(const uint8_t *a, const int8_t *b, uint32_t n)
{
    __m512i acc = _mm512_setzero_si512();
    for (uint32_t i = 0; i < n; i += 64)
        acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
    return _mm512_reduce_add_epi32(acc);
}

void ek_guest_main(uint8_t *io)
{
    uint32_t n;
    memcpy(&n, io, sizeof n);
    int32_t dot = dot_vnni(io + 64, (const int8_t *)(io + 64 + n), n);
    memcpy(io + 4, &dot, sizeof dot);
}
