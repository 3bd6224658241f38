/* ek_matvec_tl_c.c — portable tl (lookup-table) ternary matvec: no multiplications.
 *
 * tl layout: rows in tiles of 16; per tile and per column pair g, 8 bytes; byte i holds the pair index
 * (w0+1)*3 + (w1+1) of row 2i (low nibble) and row 2i+1 (high nibble). ek_tl_build_lut has already put
 * the 9 possible sums of x[2g], x[2g+1] at lut[9g..9g+8], once per input vector, so each row only looks
 * up and adds.
 */
#include "ek_kernels.h"

/* A nibble above 8 only appears in a corrupt section (the packer never writes one); map it to the
 * zero-weight pair so a bad image read without CRC checks cannot index outside the table. */
static const uint8_t ek_tl_safe_index[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 4, 4, 4, 4, 4, 4, 4};

void ek_matvec_tl_c(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t tiles = (w->rows + EK_TL_TILE_ROWS - 1u) / EK_TL_TILE_ROWS;
    const uint32_t pairs = (w->cols + 1u) / 2u;
    const uint8_t *p = w->data; /* (tiles, pairs, 8) */
    uint32_t t, g, i;
    EK_KERNEL_RAN(EK_FMT_TL, "c");
    for (t = 0; t < tiles; t++) {
        int32_t sum[EK_TL_TILE_ROWS] = {0};
        uint32_t row0 = t * EK_TL_TILE_ROWS;
        for (g = 0; g < pairs; g++, p += EK_TL_TILE_ROWS / 2) {
            const int16_t *l = x->tl_lut + 9u * g; /* (9) sums of this column pair */
            for (i = 0; i < EK_TL_TILE_ROWS / 2u; i++) {
                sum[2u * i] += l[ek_tl_safe_index[p[i] & 0xFu]];
                sum[2u * i + 1u] += l[ek_tl_safe_index[p[i] >> 4]];
            }
        }
        for (i = 0; i < EK_TL_TILE_ROWS && row0 + i < w->rows; i++)
            acc[row0 + i] = sum[i];
    }
}
