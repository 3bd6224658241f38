/* maddubs.h — one operation, three bodies, for tests/test_x86_guest.py's dispatch test: out[i] = the sum of
 * a[2i]·b[2i] and a[2i+1]·b[2i+1] (a unsigned, b signed bytes), saturated to int16, over n bytes (n a multiple
 * of 64). Each body is in its own file, built with only the instruction sets it may use. */
#ifndef MADDUBS_H
#define MADDUBS_H

#include <stdint.h>

void maddubs_avx512bw(const uint8_t *a, const int8_t *b, int16_t *out, uint32_t n);  /* maddubs_avx512bw.c */
void maddubs_avx2(const uint8_t *a, const int8_t *b, int16_t *out, uint32_t n);      /* maddubs_avx2.c */

#endif
