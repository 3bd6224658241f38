/* ek_matvec_tl_mve.c — tl (lookup-table) ternary matvec for Cortex-M Helium/MVE (EK_KERNEL_MVE, e.g.
 * Cortex-M55), no multiplications. The accumulators equal ek_matvec_tl_c's bit for bit: integer sums are
 * exact in any order.
 *
 * Helium has no byte table lookup (TBL/PSHUFB), but it has gathers: VLDRH.S16 with shifted offsets reads
 * eight int16 table entries at once, straight from the pair-sum table x->tl_lut (9 entries per pair), so
 * there are no tables to build and no stack for them. The eight bytes of one pair in a tile widen to
 * eight u16 lanes; their low nibbles index rows 0, 2, .., 14 and their high nibbles rows 1, 3, .., 15. A
 * nibble above 8 (a corrupt section) reads entry 4, the zero pair, like the portable body, and never
 * leaves the pair's 9 entries.
 *
 * Overflow: an int16 lane gets one sum (|s| <= 256) per pair and is widened to int32 every
 * EK_TL_MVE_SPAN = 64 pairs, so it stays within 64 * 256 = 16384 (the limit would be 127 pairs).
 */
#include "ek_kernels.h"

#if EK_ISA_TL == EK_ISA_MVE
#include <arm_mve.h>

#define EK_TL_MVE_SPAN 64u /* pairs summed in int16 before widening */

/* nibbles 9..15 -> 4 (the zero pair), 0..8 unchanged */
static inline uint16x8_t safe_index(uint16x8_t idx)
{
    return vpselq_u16(vdupq_n_u16(4), idx, vcmphiq_n_u16(idx, 8));
}

void ek_matvec_tl_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t tiles = (w->rows + EK_TL_TILE_ROWS - 1u) / EK_TL_TILE_ROWS;
    const uint32_t pairs = (w->cols + 1u) / 2u;
    const uint8_t *p = w->data; /* (tiles, pairs, 8) */
    uint32_t t, g, i;
    EK_KERNEL_RAN(EK_FMT_TL, "mve");
    for (t = 0; t < tiles; t++) {
        /* int32 sums of rows 2i (even) and 2i+1 (odd) of the tile, i in bottom (0,2,4,6) and top (1,3,5,7) */
        int32x4_t even_b = vdupq_n_s32(0), even_t = vdupq_n_s32(0), odd_b = vdupq_n_s32(0), odd_t = vdupq_n_s32(0);
        int32_t even[8], odd[8], bottom[4], top[4];
        const uint32_t row0 = t * EK_TL_TILE_ROWS;
        for (g = 0; g < pairs;) {
            const uint32_t end = (pairs - g < EK_TL_MVE_SPAN) ? pairs : g + EK_TL_MVE_SPAN;
            int16x8_t e = vdupq_n_s16(0), o = vdupq_n_s16(0);
            for (; g < end; g++, p += EK_TL_TILE_ROWS / 2u) {
                const int16_t *l = x->tl_lut + 9u * g; /* (9) sums of this column pair */
                const uint16x8_t bytes = vldrbq_u16(p);
                e = vaddq_s16(e, vldrhq_gather_shifted_offset_s16(l, safe_index(vandq_u16(bytes, vdupq_n_u16(0xF)))));
                o = vaddq_s16(o, vldrhq_gather_shifted_offset_s16(l, safe_index(vshrq_n_u16(bytes, 4))));
            }
            even_b = vaddq_s32(even_b, vmovlbq_s16(e));
            even_t = vaddq_s32(even_t, vmovltq_s16(e));
            odd_b = vaddq_s32(odd_b, vmovlbq_s16(o));
            odd_t = vaddq_s32(odd_t, vmovltq_s16(o));
        }
        /* VMOVLB widens lanes 0, 2, 4, 6 and VMOVLT lanes 1, 3, 5, 7: lane j of each comes from element 2j (+1) */
        vst1q_s32(bottom, even_b), vst1q_s32(top, even_t);
        for (i = 0; i < 4u; i++)
            even[2u * i] = bottom[i], even[2u * i + 1u] = top[i];
        vst1q_s32(bottom, odd_b), vst1q_s32(top, odd_t);
        for (i = 0; i < 4u; i++)
            odd[2u * i] = bottom[i], odd[2u * i + 1u] = top[i];
        for (i = 0; i < EK_TL_TILE_ROWS && row0 + i < w->rows; i++)
            acc[row0 + i] = (i & 1u) ? odd[i / 2u] : even[i / 2u];
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_tl_mve_not_built;
#endif
