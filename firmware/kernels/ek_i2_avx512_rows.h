/* ek_i2_avx512_rows.h — the row walks of the AVX-512 i2 bodies (matvec and the batched prefill matmul), written
 * once for both run-time tiers. Included by ek_matvec_i2_avx512.c (AVX-512BW: VPMADDUBSW into int16, widened per
 * group) and ek_matvec_i2_avx512vnni.c (VPDPBUSD straight into int32), each built with its own -mavx512* flags, after
 * they define:
 *   EK_I2_BODY(op)          the body's function name: op ## its suffix
 *   EK_I2_BODY_NAME         its variant name ("avx512", "avx512vnni")
 *   part_step(part, c01, c23, xb)  part += the block's codes . its 128 x_q (c01: quarters 0 and 1 of the block in
 *                           the low and high 256 bits, c23: quarters 2 and 3; xb: the block's x_q)
 *   part_flush(sum, part)   sum (int32 lanes) += part
 *
 * The accumulators equal ek_matvec_i2_c's bit for bit (integer sums, exact in any order). Layout and the
 * w . x = code . x - sum(x) identity as in ek_matvec_i2_avx2.c. One 32-byte block is broadcast to both halves of a
 * ZMM register, and one shift per half yields two quarters at once, so a block costs two multiplies instead of
 * AVX2's four. */
#ifndef EK_I2_AVX512_ROWS_H
#define EK_I2_AVX512_ROWS_H

/* Blocks per part: a VPMADDUBSW lane is at most 2 * 3 * 128 = 768 in magnitude, a block adds two to each lane:
 * 16 blocks <= 24576 < 32767, so the AVX-512BW int16 parts never wrap (VNNI's int32 parts cannot). */
#define EK_I2_AVX512_GROUP 16u
/* Prefetch distance in bytes: ek_matvec_i2_avx2.c's, measured on Zen 2 (not tuned on an AVX-512 CPU). */
#define EK_I2_AVX512_PREFETCH 4096
/* Inputs per pass and per tile of the batched body: as ek_matmul_i2_avx2's (x_q rows stay in L1). */
#define EK_I2_AVX512_TILE 4u

/* the four 2-bit quarters of one 32-byte block, two per register (bits 7..6 | 5..4 and 3..2 | 1..0) */
static inline __attribute__((always_inline)) void unpack_block(const uint8_t *p, __m512i *c01, __m512i *c23)
{
    const __m512i bytes = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)p));
    const __m512i mask = _mm512_set1_epi8(3);
    const __mmask32 low_half = 0x0000FFFFu; /* int16 lanes 0..15: the low 256 bits */
    /* 16-bit shifts move bits across bytes; the mask keeps each byte's own 2-bit field */
    *c01 = _mm512_and_si512(_mm512_mask_srli_epi16(_mm512_srli_epi16(bytes, 4), low_half, bytes, 6), mask);
    *c23 = _mm512_and_si512(_mm512_mask_srli_epi16(bytes, low_half, bytes, 2), mask);
}

void EK_I2_BODY(ek_matvec_i2)(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const uint8_t *p = w->data; /* (rows, blocks, 32) */
    const int32_t x_sum = ek_xq_sum(x->q, (size_t)blocks * EK_I2_BLOCK);
    uint32_t r, b;
    EK_KERNEL_RAN(EK_FMT_I2, EK_I2_BODY_NAME);
    for (r = 0; r < w->rows; r++) {
        __m512i sum = _mm512_setzero_si512();
        const int8_t *xb = x->q;
        for (b = 0; b < blocks;) {
            const uint32_t end = blocks - b > EK_I2_AVX512_GROUP ? b + EK_I2_AVX512_GROUP : blocks;
            __m512i part = _mm512_setzero_si512();
            for (; b < end; b++, p += 32, xb += EK_I2_BLOCK) {
                __m512i c01, c23;
                /* a hint (integer arithmetic: it may point past the tensor, where it reads nothing and cannot fault) */
                _mm_prefetch((const char *)((uintptr_t)p + EK_I2_AVX512_PREFETCH), _MM_HINT_T0);
                unpack_block(p, &c01, &c23);
                part = part_step(part, c01, c23, xb);
            }
            sum = part_flush(sum, part);
        }
        acc[r] = _mm512_reduce_add_epi32(sum) - x_sum;
    }
}

/* Up to four inputs against one row: the row's codes are unpacked once per block for all of them. */
void EK_I2_BODY(ek_matmul_i2)(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    const uint32_t blocks = (w->cols + EK_I2_BLOCK - 1u) / EK_I2_BLOCK;
    const size_t row_bytes = (size_t)blocks * 32u;
    int32_t x_sum[EK_I2_AVX512_TILE];
    uint32_t base, r, b, k;
    EK_KERNEL_RAN(EK_FMT_I2, EK_I2_BODY_NAME);
    for (base = 0; base < n_x; base += EK_I2_AVX512_TILE) {
        const uint32_t n = n_x - base < EK_I2_AVX512_TILE ? n_x - base : EK_I2_AVX512_TILE;
        const int8_t *x0 = x[base].q;                         /* missing tile slots repeat input 0 */
        const int8_t *x1 = n > 1u ? x[base + 1u].q : x0;      /* and are not stored */
        const int8_t *x2 = n > 2u ? x[base + 2u].q : x0;
        const int8_t *x3 = n > 3u ? x[base + 3u].q : x0;
        for (k = 0; k < n; k++)
            x_sum[k] = ek_xq_sum(x[base + k].q, (size_t)blocks * EK_I2_BLOCK);
        for (r = 0; r < w->rows; r++) {
            const uint8_t *p = w->data + (size_t)r * row_bytes;
            __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
            for (b = 0; b < blocks;) {
                const uint32_t end = blocks - b > EK_I2_AVX512_GROUP ? b + EK_I2_AVX512_GROUP : blocks;
                __m512i h0 = _mm512_setzero_si512(), h1 = h0, h2 = h0, h3 = h0;
                for (; b < end; b++, p += 32) {
                    const size_t o = (size_t)b * EK_I2_BLOCK;
                    __m512i c01, c23;
                    _mm_prefetch((const char *)((uintptr_t)p + EK_I2_AVX512_PREFETCH), _MM_HINT_T0);
                    unpack_block(p, &c01, &c23);
                    h0 = part_step(h0, c01, c23, x0 + o);
                    h1 = part_step(h1, c01, c23, x1 + o);
                    h2 = part_step(h2, c01, c23, x2 + o);
                    h3 = part_step(h3, c01, c23, x3 + o);
                }
                s0 = part_flush(s0, h0), s1 = part_flush(s1, h1), s2 = part_flush(s2, h2), s3 = part_flush(s3, h3);
            }
            acc[(size_t)base * acc_stride + r] = _mm512_reduce_add_epi32(s0) - x_sum[0];
            if (n > 1u)
                acc[(size_t)(base + 1u) * acc_stride + r] = _mm512_reduce_add_epi32(s1) - x_sum[1];
            if (n > 2u)
                acc[(size_t)(base + 2u) * acc_stride + r] = _mm512_reduce_add_epi32(s2) - x_sum[2];
            if (n > 3u)
                acc[(size_t)(base + 3u) * acc_stride + r] = _mm512_reduce_add_epi32(s3) - x_sum[3];
        }
    }
}

#endif /* EK_I2_AVX512_ROWS_H */
