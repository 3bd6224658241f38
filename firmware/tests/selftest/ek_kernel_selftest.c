/* ek_kernel_selftest.c — bare-metal kernel check for MCU cores (run under qemu-system-arm, semihosting).
 *
 * For awkward shapes, random ternary codes are packed in each format here, and every kernel body built for the
 * target (portable C, and the ISA body ek_isa.h chose) plus the dispatching entry point must produce the
 * exact integer product a plain triple loop computes. Prints one line per case and "selftest: PASS" or
 * "selftest: FAIL"; the exit status says the same. Driven by tests/test_c_kernels.py.
 */
#include <stdint.h>
#include <string.h>

#include "ek_kernels.h"

void ek_semihost_write0(const char *text);
void ek_semihost_exit(int ok);

#define MAX_ROWS 80u
#define MAX_COLS 400u

static int8_t codes[MAX_ROWS * MAX_COLS];    /* (rows, cols) in {-1, 0, 1} */
static uint8_t packed[MAX_ROWS * MAX_COLS];  /* any format is at most one byte per weight here */
static int8_t xq[EK_XQ_PAD(MAX_COLS)];       /* (cols) padded with zeros */
static int16_t lut[EK_TL_LUT_ENTRIES(MAX_COLS)];
static int32_t want[MAX_ROWS], got[MAX_ROWS];
static uint32_t lcg_state = 12345u;

static uint32_t next_random(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

static int8_t w_at(uint32_t cols, uint32_t r, uint32_t c) { return codes[r * cols + c]; }

static void pack_i2(uint32_t rows, uint32_t cols)
{
    const uint32_t blocks = (cols + 127u) / 128u;
    uint32_t r, b, j, k;
    for (r = 0; r < rows; r++)
        for (b = 0; b < blocks; b++)
            for (j = 0; j < 32u; j++) {
                uint32_t byte = 0;
                for (k = 0; k < 4u; k++) { /* weight b*128 + 32k + j at bits 7-2k..6-2k */
                    uint32_t c = b * 128u + 32u * k + j;
                    byte |= (uint32_t)((c < cols ? w_at(cols, r, c) : 0) + 1) << (6u - 2u * k);
                }
                packed[(r * blocks + b) * 32u + j] = (uint8_t)byte;
            }
}

static uint8_t t158_byte(const int *trits) /* 5 trits 0..2, most significant first */
{
    uint32_t v = 0, k;
    for (k = 0; k < 5u; k++)
        v = v * 3u + (uint32_t)trits[k];
    return (uint8_t)((v * 256u + 242u) / 243u);
}

static void pack_t158(uint32_t rows, uint32_t cols)
{
    const uint32_t blocks = cols / 80u, tail = cols % 80u, tail_bytes = (tail + 4u) / 5u;
    uint8_t *p = packed;
    uint32_t r, b, j, k;
    int trits[5];
    for (r = 0; r < rows; r++) {
        for (b = 0; b < blocks; b++)
            for (j = 0; j < 16u; j++) {
                for (k = 0; k < 5u; k++)
                    trits[k] = w_at(cols, r, b * 80u + j + 16u * k) + 1;
                *p++ = t158_byte(trits);
            }
        for (j = 0; j < tail_bytes; j++) {
            for (k = 0; k < 5u; k++) {
                uint32_t t = 5u * j + k;
                trits[k] = t < tail ? w_at(cols, r, blocks * 80u + t) + 1 : 1;
            }
            *p++ = t158_byte(trits);
        }
    }
}

static void pack_tl(uint32_t rows, uint32_t cols)
{
    const uint32_t tiles = (rows + 15u) / 16u, pairs = (cols + 1u) / 2u;
    uint32_t t, g, i, half;
    for (t = 0; t < tiles; t++)
        for (g = 0; g < pairs; g++)
            for (i = 0; i < 8u; i++) {
                uint32_t byte = 0;
                for (half = 0; half < 2u; half++) {
                    uint32_t r = t * 16u + 2u * i + half, c0 = 2u * g, c1 = 2u * g + 1u;
                    int w0 = (r < rows) ? w_at(cols, r, c0) : 0;
                    int w1 = (r < rows && c1 < cols) ? w_at(cols, r, c1) : 0;
                    byte |= (uint32_t)((w0 + 1) * 3 + (w1 + 1)) << (4u * half);
                }
                packed[(t * pairs + g) * 8u + i] = (uint8_t)byte;
            }
}

static char *put_uint(char *p, uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        *p++ = digits[--n];
    return p;
}

static int report(const char *format, const char *body, uint32_t rows, uint32_t cols, int ok)
{
    char line[96], *p = line;
    size_t n = strlen(format);
    memcpy(p, format, n), p += n, *p++ = ' ';
    n = strlen(body);
    memcpy(p, body, n), p += n, *p++ = ' ';
    p = put_uint(p, rows), *p++ = 'x';
    p = put_uint(p, cols);
    memcpy(p, ok ? " equal\n" : " DIFFERENT\n", ok ? 8u : 12u);
    ek_semihost_write0(line);
    return ok;
}

typedef void (*matvec_fn)(const ek_tensor *, const ek_qvec *, int32_t *);

/* Activation quantisation: the dispatched body (Helium where built) against the portable one, byte for byte
 * and the same s_x, on lengths around the 4-lane step and on exact halfway products (ties to even). */
static int quantize_check(void)
{
    static float x[MAX_COLS];
    static int8_t q_ref[EK_XQ_PAD(MAX_COLS)], q_got[EK_XQ_PAD(MAX_COLS)];
    static const uint32_t lengths[] = {1, 3, 4, 5, 7, 127, 128, 255, 256, 399};
    int ok = 1;
    uint32_t s, i;
    for (s = 0; s < sizeof lengths / sizeof lengths[0]; s++) {
        const uint32_t n = lengths[s];
        for (i = 0; i < n; i++)
            x[i] = ((float)(int32_t)(next_random() % 2001u) - 1000.0f) / 37.0f;
        if (n > 8) { /* max |x| = 127 makes s_x = 1, so these products are exact halves: ties go to even */
            x[0] = 127.0f, x[1] = 0.5f, x[2] = 1.5f, x[3] = -2.5f, x[4] = -0.5f, x[5] = 126.5f, x[6] = -3.5f;
        }
        memset(q_ref, 0x5A, sizeof q_ref), memset(q_got, 0x3C, sizeof q_got);
        {
            const float s_ref = ek_quantize_c(x, n, q_ref), s_got = ek_quantize(x, n, q_got);
            const int same = s_ref == s_got && memcmp(q_ref, q_got, EK_XQ_PAD(n)) == 0;
            ok &= report("quantize", "dispatch", 1, n, same);
        }
    }
    return ok;
}

int main(void)
{
    static const uint32_t shapes[][2] = {{1, 1}, {3, 5}, {17, 128}, {16, 80}, {15, 81}, {33, 129}, {7, 255},
                                         {64, 256}, {5, 399}, {80, 400}};
    static const uint32_t formats[3] = {EK_FMT_I2, EK_FMT_T158, EK_FMT_TL};
    int all_ok = 1;
    uint32_t s, f, r, c;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const uint32_t rows = shapes[s][0], cols = shapes[s][1];
        ek_tensor w;
        ek_qvec x;
        for (r = 0; r < rows * cols; r++)
            codes[r] = (int8_t)((int)(next_random() % 3u) - 1);
        memset(xq, 0, sizeof xq);
        for (c = 0; c < cols; c++)
            xq[c] = (int8_t)((int)(next_random() % 256u) - 128);
        xq[0] = -128; /* the extreme, where int16 shortcuts overflow */
        for (r = 0; r < rows; r++) {
            int32_t sum = 0;
            for (c = 0; c < cols; c++)
                sum += w_at(cols, r, c) * xq[c];
            want[r] = sum;
        }
        ek_tl_build_lut(xq, cols, lut);
        x.q = xq, x.n = cols, x.scale = 1.0f, x.tl_lut = lut;
        w.data = packed, w.rows = rows, w.cols = cols, w.scale = 1.0f;
        for (f = 0; f < 3u; f++) {
            matvec_fn bodies[4];
            const char *names[4];
            uint32_t n_bodies = 0, b;
            w.format = formats[f];
            if (formats[f] == EK_FMT_I2) {
                pack_i2(rows, cols);
                names[n_bodies] = "c", bodies[n_bodies++] = ek_matvec_i2_c;
#if EK_ISA_TERNARY != EK_ISA_C /* the ISA body ek_isa.h chose for this core */
                names[n_bodies] = EK_ISA_NAME(EK_ISA_TERNARY);
                bodies[n_bodies++] = EK_ISA_BODY(ek_matvec_i2, EK_ISA_TERNARY);
#endif
            } else if (formats[f] == EK_FMT_T158) {
                pack_t158(rows, cols);
                names[n_bodies] = "c", bodies[n_bodies++] = ek_matvec_t158_c;
            } else {
                pack_tl(rows, cols);
                names[n_bodies] = "c", bodies[n_bodies++] = ek_matvec_tl_c;
            }
            names[n_bodies] = "dispatch", bodies[n_bodies++] = ek_ternary_matvec;
            for (b = 0; b < n_bodies; b++) {
                memset(got, 0x5A, sizeof got);
                bodies[b](&w, &x, got);
                all_ok &= report(ek_format_name(formats[f]), names[b], rows, cols,
                                 memcmp(got, want, rows * sizeof got[0]) == 0);
            }
        }
    }
    all_ok &= quantize_check();
    ek_semihost_write0(all_ok ? "selftest: PASS\n" : "selftest: FAIL\n");
    ek_semihost_exit(all_ok);
    return 0;
}
