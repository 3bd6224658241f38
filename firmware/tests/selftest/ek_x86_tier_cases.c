/* ek_x86_tier_cases.c — kernel cases run through the dispatchers of a build with the run-time x86-64 tiers
 * (EK_KERNEL_AVX512), for tests/test_x86_tiers.py, which runs it as a guest under an emulated Intel CPU
 * (tests/x86_guest.py: Bochs), since the AVX-512 bodies cannot run on every development machine.
 *
 * The host lays out the I/O region (all little-endian):
 *   0   u32 n_cases   4   u32 limit (0: none; else the highest tier id, ek_isa.h)
 *   8   u32 tier      the tier the dispatchers chose, written here
 *   64  the cases, EK_CASE_BYTES each:
 *       u32 op, rows, cols, n_x, w_off, x_off, out_off; f32 x_scale; char ran[16] (written here: the body that ran)
 * Weights at w_off; n_x activation vectors of EK_XQ_PAD(cols) int8 each at x_off; results at out_off: int32
 * accumulators (ternary: n_x vectors of rows) or float32 logits (heads). Built with EK_KERNEL_TRACE. */
#include <stdint.h>
#include <string.h>

#include "ek_kernels.h"

#if !defined(EK_KERNEL_TRACE) || !defined(EK_KERNEL_AVX512)
#error "ek_x86_tier_cases.c needs -DEK_KERNEL_TRACE and a run-time tier build (-DEK_KERNEL_AVX512)"
#endif

enum { OP_I2_MATVEC = 1, OP_I2_MATMUL = 2, OP_Q8I = 3, OP_Q4I = 4 };
#define EK_CASES_AT 64u
#define EK_CASE_BYTES 48u
#define EK_CASE_MAX_X 32u

static uint32_t load_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void ek_guest_main(uint8_t *io)
{
    static ek_qvec x[EK_CASE_MAX_X];
    const uint32_t n_cases = load_u32(io), limit = load_u32(io + 4);
    uint32_t i, t;
    int tier;
    if (limit != 0u)
        ek_isa_x86_limit((int)limit);
    tier = ek_isa_x86_tier();
    memcpy(io + 8, &tier, 4);
    for (i = 0; i < n_cases; i++) {
        uint8_t *c = io + EK_CASES_AT + i * EK_CASE_BYTES;
        const uint32_t op = load_u32(c), rows = load_u32(c + 4), cols = load_u32(c + 8), n_x = load_u32(c + 12);
        const uint32_t slot = op == OP_Q8I ? EK_FMT_Q8I : op == OP_Q4I ? EK_FMT_Q4I : EK_FMT_I2;
        ek_tensor w;
        const char *ran;
        float x_scale;
        memcpy(&x_scale, c + 28, 4);
        w.data = io + load_u32(c + 16), w.rows = rows, w.cols = cols, w.format = slot, w.scale = 1.0f;
        for (t = 0; t < n_x && t < EK_CASE_MAX_X; t++) {
            x[t].q = (const int8_t *)(io + load_u32(c + 20)) + (size_t)t * EK_XQ_PAD(cols);
            x[t].n = cols, x[t].scale = x_scale, x[t].tl_lut = NULL;
        }
        memset(ek_kernel_ran, 0, sizeof ek_kernel_ran);
        switch (op) {
        case OP_I2_MATVEC:
            ek_ternary_matvec(&w, &x[0], (int32_t *)(void *)(io + load_u32(c + 24)));
            break;
        case OP_I2_MATMUL:
            ek_ternary_matmul(&w, x, n_x < EK_CASE_MAX_X ? n_x : EK_CASE_MAX_X,
                              (int32_t *)(void *)(io + load_u32(c + 24)), rows);
            break;
        case OP_Q8I:
            ek_head_q8i(&w, &x[0], (float *)(void *)(io + load_u32(c + 24)));
            break;
        case OP_Q4I:
            ek_head_q4i(&w, &x[0], (float *)(void *)(io + load_u32(c + 24)));
            break;
        default:
            break;
        }
        ran = ek_kernel_ran[slot] != NULL ? ek_kernel_ran[slot] : "nothing";
        memset(c + 32, 0, 16);
        for (t = 0; t < 15u && ran[t] != '\0'; t++) /* no strlen: the guest has no C library */
            c[32 + t] = (uint8_t)ran[t];
    }
}
