/* ek_matvec_tl_neon.c — tl (lookup-table) ternary matvec for AArch64 NEON (EK_KERNEL_NEON or
 * EK_KERNEL_DOTPROD; it needs no dot product), no multiplications. The accumulators equal ek_matvec_tl_c's
 * bit for bit: integer sums are exact in any order.
 *
 * The T-MAC idea with TBL: a 16-byte table indexed by 16 nibbles is 16 lookups in one instruction.
 * A pair sum s = a*x0 + b*x1 needs 10 bits (|s| <= 256), so each pair's 9 int16 sums (x->tl_lut) become two
 * 16-entry byte tables, the low bytes and the (signed) high bytes; entries 9..15 are 0, the sum of the zero
 * pair, which is what the portable body reads for a corrupt nibble. Zipping the two looked-up bytes
 * rebuilds the int16 sums exactly. The tables for a chunk of EK_TL_NEON_CHUNK pairs are built once per
 * call, on the stack, then every 16-row tile walks that chunk.
 *
 * Overflow: an int16 lane gets one sum (|s| <= 256) per pair, so at most 64 * 256 = 16384 before it is
 * widened to int32 at the end of the chunk (the limit would be 127 pairs).
 */
#include "ek_kernels.h"

#if EK_ISA_TL == EK_ISA_NEON
#include <string.h>

#include <arm_neon.h>

#define EK_TL_NEON_CHUNK 64u /* column pairs per table chunk: 2 x 16 bytes each, 2 KiB of tables */

/* lo/hi byte tables of pairs [g0, g0 + n) at tlo/thi + 16 * i; bytes 9..15 of every table stay 0 */
static void build_tables(const int16_t *lut, uint32_t g0, uint32_t n, uint8_t *tlo, uint8_t *thi)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        const int16_t *l = lut + 9u * (g0 + i);
        const uint16x8_t e = vreinterpretq_u16_s16(vld1q_s16(l)); /* entries 0..7 */
        vst1_u8(tlo + 16u * i, vmovn_u16(e));
        vst1_u8(thi + 16u * i, vshrn_n_u16(e, 8));
        tlo[16u * i + 8u] = (uint8_t)((uint16_t)l[8] & 0xFFu);
        thi[16u * i + 8u] = (uint8_t)((uint16_t)l[8] >> 8);
    }
}

/* rows 0..7 to *a, rows 8..15 to *b: the pair's 16 row indices idx (byte r: row r) through its tables */
static inline void lookup(uint8x16_t idx, const uint8_t *tlo, const uint8_t *thi, int16x8_t *a, int16x8_t *b)
{
    const uint8x16_t lo = vqtbl1q_u8(vld1q_u8(tlo), idx), hi = vqtbl1q_u8(vld1q_u8(thi), idx);
    *a = vaddq_s16(*a, vreinterpretq_s16_u8(vzip1q_u8(lo, hi)));
    *b = vaddq_s16(*b, vreinterpretq_s16_u8(vzip2q_u8(lo, hi)));
}

void ek_matvec_tl_neon(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t tiles = (w->rows + EK_TL_TILE_ROWS - 1u) / EK_TL_TILE_ROWS;
    const uint32_t pairs = (w->cols + 1u) / 2u;
    const uint8x16_t nibble = vdupq_n_u8(0x0F);
    uint8_t tlo[EK_TL_NEON_CHUNK * 16u], thi[EK_TL_NEON_CHUNK * 16u]; /* (EK_TL_NEON_CHUNK, 16) */
    int32_t part[EK_TL_TILE_ROWS];
    uint32_t g0, t, g, i;
    EK_KERNEL_RAN(EK_FMT_TL, "neon");
    memset(tlo, 0, sizeof tlo);
    memset(thi, 0, sizeof thi);
    for (i = 0; i < w->rows; i++)
        acc[i] = 0;
    for (g0 = 0; g0 < pairs; g0 += EK_TL_NEON_CHUNK) {
        const uint32_t n = (pairs - g0 < EK_TL_NEON_CHUNK) ? pairs - g0 : EK_TL_NEON_CHUNK;
        build_tables(x->tl_lut, g0, n, tlo, thi);
        for (t = 0; t < tiles; t++) {
            const uint8_t *p = w->data + ((size_t)t * pairs + g0) * (EK_TL_TILE_ROWS / 2u); /* (n, 8) */
            const uint32_t row0 = t * EK_TL_TILE_ROWS;
            int16x8_t a = vdupq_n_s16(0), b = vdupq_n_s16(0);
            for (g = 0; g + 1u < n; g += 2u) {
                /* byte i of a pair: row 2i (low nibble), row 2i+1 (high nibble); zip puts row r at byte r */
                const uint8x16_t bytes = vld1q_u8(p + 8u * g); /* pairs g, g+1 */
                const uint8x16_t lo = vandq_u8(bytes, nibble), hi = vshrq_n_u8(bytes, 4);
                lookup(vzip1q_u8(lo, hi), tlo + 16u * g, thi + 16u * g, &a, &b);
                lookup(vzip2q_u8(lo, hi), tlo + 16u * (g + 1u), thi + 16u * (g + 1u), &a, &b);
            }
            if (n & 1u) { /* 8 bytes only: reading 16 could run past the tensor */
                const uint8x8_t bytes = vld1_u8(p + 8u * g);
                const uint8x8_t lo = vand_u8(bytes, vget_low_u8(nibble)), hi = vshr_n_u8(bytes, 4);
                lookup(vcombine_u8(vzip1_u8(lo, hi), vzip2_u8(lo, hi)), tlo + 16u * g, thi + 16u * g, &a, &b);
            }
            vst1q_s32(part, vmovl_s16(vget_low_s16(a)));
            vst1q_s32(part + 4, vmovl_high_s16(a));
            vst1q_s32(part + 8, vmovl_s16(vget_low_s16(b)));
            vst1q_s32(part + 12, vmovl_high_s16(b));
            for (i = 0; i < EK_TL_TILE_ROWS && row0 + i < w->rows; i++)
                acc[row0 + i] += part[i];
        }
    }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ek_matvec_tl_neon_not_built;
#endif
