/* ek_matvec_i2_c.c — portable i2 ternary matvec (the reference every i2 ISA body must match bit for bit).
 *
 * i2 layout: per row, blocks of 128 weights in 32 bytes; byte j holds codes (w + 1) of weights j, j+32,
 * j+64, j+96 at bits 7..6, 5..4, 3..2, 1..0. Rows are padded with zero weights to whole blocks, and x_q
 * is padded with zeros to EK_XQ_PAD(cols), so every block is read whole.
 */
#include "ek_kernels.h"

void ek_matvec_i2_c(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    uint32_t r, b, j, k;
    for (r = 0; r < w->rows; r++) {
        int32_t sum = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            /* one pass per 2-bit field: weights 32k..32k+31 of the block meet contiguous x_q, which lets
             * compilers vectorise the loop */
            for (k = 0; k < 4u; k++) {
                const unsigned shift = 6u - 2u * k;
                for (j = 0; j < 32u; j++)
                    sum += xb[32u * k + j] * ((int32_t)((p[j] >> shift) & 3u) - 1);
            }
        }
        acc[r] = sum;
    }
}
