/* ek_test_main.c — runs every C unit test; exit status 0 only if all checks pass. Driven by
 * tests/test_c_runtime.py. */
#include <string.h>

#include "ek_test.h"

int ek_test_failures = 0;

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    {"crc32", test_crc32},
    {"half_float", test_half_float},
    {"quantize", test_quantize},
    {"tl_lut", test_tl_lut},
    {"matvec_small", test_matvec_small},
    {"rng", test_rng},
    {"sampler", test_sampler},
    {"arena_layout", test_arena_layout},
    {"image_slots", test_image_slots},
    {"image_rejects_garbage", test_image_rejects_garbage},
};

int main(int argc, char **argv)
{
    size_t i;
    int failed_tests = 0;
    for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = ek_test_failures;
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
            continue;
        tests[i].fn();
        printf("%-24s %s\n", tests[i].name, ek_test_failures == before ? "ok" : "FAILED");
        failed_tests += ek_test_failures != before;
    }
    printf("%d test(s) failed, %d check(s) failed\n", failed_tests, ek_test_failures);
    return ek_test_failures ? 1 : 0;
}
