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
    uint32_t r, b, j;
    EK_KERNEL_RAN(EK_FMT_I2, "c");
    for (r = 0; r < w->rows; r++) {
        int32_t sum = 0;
        const int8_t *xb = x->q;
        for (b = 0; b < blocks; b++, p += 32, xb += EK_I2_BLOCK) {
            for (j = 0; j < 32u; j++) {
                const int32_t byte = p[j];
                sum += xb[j] * ((byte >> 6) - 1);
                sum += xb[j + 32u] * (((byte >> 4) & 3) - 1);
                sum += xb[j + 64u] * (((byte >> 2) & 3) - 1);
                sum += xb[j + 96u] * ((byte & 3) - 1);
            }
        }
        acc[r] = sum;
    }
}
