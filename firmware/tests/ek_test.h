/* ek_test.h — the C unit tests' tiny runner: EK_CHECK records a failure and keeps going. */
#ifndef EK_TEST_H
#define EK_TEST_H

#include <stdio.h>

extern int ek_test_failures;

#define EK_CHECK(cond)                                                                        \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            ek_test_failures++;                                                               \
        }                                                                                     \
    } while (0)

/* One function per area; ek_test_main.c lists them. */
void test_crc32(void);
void test_half_float(void);
void test_quantize(void);
void test_tl_lut(void);
void test_matvec_small(void);
void test_rng(void);
void test_sampler(void);
void test_arena_layout(void);
void test_image_slots(void);
void test_image_rejects_garbage(void);

#endif
