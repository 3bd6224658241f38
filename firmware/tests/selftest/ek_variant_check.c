/* ek_variant_check.c — is the body that runs the body this build reports? Built with EK_KERNEL_TRACE, under which
 * every kernel body writes its own name into ek_kernel_ran when it runs (ek_isa.h). For every format the firmware
 * knows, the dispatcher runs once on a small tensor and one line follows:
 *     variant FORMAT reported NAME ran NAME ok|MISMATCH
 * where "reported" is ek_kernel_variant(format), the name the device sends the host. Quantisation, the float dot
 * and the i2 and t158 matmuls are checked the same way against their ek_isa.h names, and each matmul's kind (batched
 * body or per-input loop) against ek_ternary_matmul_batched. Ends with
 * "variant-check: PASS" or "variant-check: FAIL".
 *
 * Hosted with EK_VARIANT_HOSTED (main prints to stdout), bare metal otherwise (main runs under
 * ek_selftest_startup.c and prints over semihosting). Driven by tests/test_kernel_variants.py.
 */
#include <stdint.h>
#include <string.h>

#include "ek_kernels.h"

#if !defined(EK_KERNEL_TRACE)
#error "ek_variant_check.c needs -DEK_KERNEL_TRACE (the bodies record themselves only then)"
#endif

#if defined(EK_VARIANT_HOSTED)
#include <stdio.h>
static void emit(const char *s) { fputs(s, stdout); }
#else
void ek_semihost_write0(const char *text);
static void emit(const char *s) { ek_semihost_write0(s); }
#endif

#define ROWS 16u
#define COLS 256u /* whole i2 blocks, t158 blocks plus a tail, tl tiles; x_q needs no padding beyond it */

static uint8_t weights[ROWS * COLS * 4u]; /* zero bytes: a valid payload in every format, f32 the largest */
static int8_t x_q[2u * EK_XQ_PAD(COLS)];
static int16_t lut[EK_TL_LUT_ENTRIES(COLS)];
static float x[COLS], y[ROWS];
static int32_t acc[2u * ROWS];

/* the formats whose prefill matmul is checked: the body's name, and whether it is batched or the per-input loop */
static const struct {
    uint32_t format;
    const char *name, *kind_name;
} matmul_checks[] = {{EK_FMT_I2, "matmul-i2", "matmul-i2-kind"}, {EK_FMT_T158, "matmul-t158", "matmul-t158-kind"}};

static int check(const char *what, const char *reported, uint32_t slot)
{
    const char *ran = ek_kernel_ran[slot] != NULL ? ek_kernel_ran[slot] : "nothing";
    const int ok = strcmp(ran, reported) == 0;
    emit("variant ");
    emit(what);
    emit(" reported ");
    emit(reported);
    emit(" ran ");
    emit(ran);
    emit(ok ? " ok\n" : " MISMATCH\n");
    return ok;
}

static int run_checks(void)
{
    ek_tensor w;
    ek_qvec q[2];
    uint32_t f;
    int ok = 1, n = 0;
    w.data = weights, w.rows = ROWS, w.cols = COLS, w.scale = 1.0f;
    ek_tl_build_lut(x_q, COLS, lut);
    q[0].q = x_q, q[0].n = COLS, q[0].scale = 1.0f, q[0].tl_lut = lut;
    q[1] = q[0];
    q[1].q = x_q + EK_XQ_PAD(COLS);
    for (f = 0; f < 32u; f++) { /* every format in the firmware's table */
        if (strcmp(ek_format_name(f), "?") == 0)
            continue;
        w.format = f;
        memset(ek_kernel_ran, 0, sizeof ek_kernel_ran);
        if (ek_format_is_ternary(f))
            ek_ternary_matvec(&w, &q[0], acc);
        else if (f == EK_FMT_Q8I) /* the integer heads' own dispatchers (ek_model.c calls them for q8i, q4i) */
            ek_head_q8i(&w, &q[0], y);
        else if (f == EK_FMT_Q4I)
            ek_head_q4i(&w, &q[0], y);
        else
            ek_float_matvec(&w, x, y);
        ok &= check(ek_format_name(f), ek_kernel_variant(f), f);
        n++;
    }
    for (f = 0; f < sizeof matmul_checks / sizeof matmul_checks[0]; f++) {
        const uint32_t format = matmul_checks[f].format;
        w.format = format;
        memset(ek_kernel_ran, 0, sizeof ek_kernel_ran);
        ek_ternary_matmul(&w, q, 2u, acc, ROWS);
        ok &= check(matmul_checks[f].name, ek_kernel_variant(format), format);
        /* the batched body and the per-input loop run under the same ISA name: the loop marks its own slot */
        ek_kernel_ran[EK_TRACE_MATMUL_PER_INPUT] = ek_kernel_ran[EK_TRACE_MATMUL_PER_INPUT] ? "per-input" : "batched";
        ok &= check(matmul_checks[f].kind_name, ek_ternary_matmul_batched(format) ? "batched" : "per-input",
                    EK_TRACE_MATMUL_PER_INPUT);
    }
    memset(ek_kernel_ran, 0, sizeof ek_kernel_ran);
    (void)ek_quantize(x, COLS, x_q);
    ok &= check("quantize", EK_ISA_NAME(EK_ISA_QUANTIZE), EK_TRACE_QUANTIZE);
    memset(ek_kernel_ran, 0, sizeof ek_kernel_ran);
    (void)ek_float_dot(x, x, COLS);
    ok &= check("float-dot", EK_ISA_NAME(EK_ISA_FLOAT_LANES), EK_TRACE_FLOAT_DOT);
    ok &= n > 0;
    emit(ok ? "variant-check: PASS\n" : "variant-check: FAIL\n");
    return ok;
}

int main(void) { return run_checks() ? 0 : 1; }
