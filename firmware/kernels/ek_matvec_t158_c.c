/* ek_matvec_t158_c.c — portable t158 ternary matvec.
 *
 * t158 layout: per row, blocks of 80 weights in 16 bytes; byte j holds weights j, j+16, j+32, j+48, j+64
 * as base-3 digits (most significant first) of v in 0..242, stored as q = ceil(v * 256 / 243). Digit k is
 * ((q * 3^k) mod 256) * 3 >> 8: a multiply and a shift. The row's last cols % 80 weights go 5 per byte.
 */
#include "ek_kernels.h"

#include <string.h>

/* digit k of a stored byte q as a weight in {-1, 0, 1}: ((q * 3^k) mod 256) * 3 >> 8, minus 1 */
static int32_t trit(uint32_t q, uint32_t pow3_k) { return (int32_t)((((q * pow3_k) & 0xFFu) * 3u) >> 8) - 1; }

void ek_matvec_t158_c(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u;
    const uint8_t *p = w->data; /* per row: (blocks, 16) then (tail_bytes) */
    uint32_t r, b, j, k;
    EK_KERNEL_RAN(EK_FMT_T158, "c");
    for (r = 0; r < w->rows; r++) {
        int32_t sum = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 16, xb += EK_T158_BLOCK) {
            for (j = 0; j < 16u; j++) {
                const uint32_t q = p[j];
                sum += xb[j] * trit(q, 1u);
                sum += xb[j + 16u] * trit(q, 3u);
                sum += xb[j + 32u] * trit(q, 9u);
                sum += xb[j + 48u] * trit(q, 27u);
                sum += xb[j + 64u] * trit(q, 81u);
            }
        }
        for (j = 0; j < tail_bytes; j++) {
            static const uint32_t pow3[5] = {1u, 3u, 9u, 27u, 81u};
            const uint32_t q = p[j];
            for (k = 0; k < 5u && 5u * j + k < tail; k++)
                sum += xb[5u * j + k] * trit(q, pow3[k]);
        }
        p += tail_bytes;
        acc[r] = sum;
    }
}

int32_t ek_t158_prepare(const ek_qvec *x, uint32_t cols, int8_t x_tail[EK_T158_BLOCK])
{
    const uint32_t blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK, tail_bytes = (tail + 4u) / 5u;
    int32_t x_sum = 0;
    uint32_t j, k;
    for (j = 0; j < EK_T158_BLOCK; j++)
        x_tail[j] = 0;
    for (j = 0; j < cols; j++)
        x_sum += x->q[j];
    for (j = 0; j < tail_bytes; j++)
        for (k = 0; k < 5u && 5u * j + k < tail; k++)
            x_tail[16u * k + j] = x->q[blocks * EK_T158_BLOCK + 5u * j + k];
    return x_sum;
}

void ek_t158_rows_with(ek_t158_block_fn block, const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t cols = w->cols, blocks = cols / EK_T158_BLOCK, tail = cols % EK_T158_BLOCK;
    const uint32_t tail_bytes = (tail + 4u) / 5u;
    const uint8_t *p = w->data; /* per row: (blocks, 16) then (tail_bytes) */
    int8_t x_tail[EK_T158_BLOCK]; /* the tail's x_q in block order */
    const int32_t x_sum = ek_t158_prepare(x, cols, x_tail);
    uint32_t r, b;
    for (r = 0; r < w->rows; r++) {
        int32_t sum = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 16, xb += EK_T158_BLOCK)
            sum = block(sum, p, xb);
        if (tail) {
            /* zero bytes decode as digit 0 and meet x_tail's zeros: they add nothing */
            uint8_t t[16] = {0};
            memcpy(t, p, tail_bytes);
            sum = block(sum, t, x_tail);
            p += tail_bytes;
        }
        acc[r] = sum - x_sum;
    }
}
