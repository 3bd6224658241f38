/* ek_q8i_avx512_rows.h — the row walk of the AVX-512 q8i heads, written once for both run-time tiers. Included by
 * ek_head_q8i_avx512.c (AVX-512BW) and ek_head_q8i_avx512vnni.c, each built with its own -mavx512* flags, after
 * they define:
 *   EK_Q8I_BODY(op)       the body's function name: op ## its suffix
 *   EK_Q8I_BODY_NAME      its variant name
 *   row_step(acc, xa, ws) acc (int32 lanes) += the 64 products |x_q| . ws, |x_q| unsigned (at most 128), ws = w
 *                         with x_q's sign (at most 127 in magnitude: q8i weights are in -127..127)
 *
 * y equals ek_head_q8i_c's bit for bit: the row sums are exact int32 (ek_head_q8i_c.c). 64 columns per step and
 * row; the last step of a row loads under a byte mask (masked-off bytes read as zero and never fault), so there
 * is no scalar tail. AVX-512 has no VPSIGNB: the sign moves onto w by a masked subtraction from zero where x_q < 0
 * (VPMOVB2M gives the mask). Four rows, a quarter of the range apart, share each activation load, its absolute value
 * and its sign mask. */
#ifndef EK_Q8I_AVX512_ROWS_H
#define EK_Q8I_AVX512_ROWS_H

/* Rows rows + k * stride for k < n (n the constant 4 or 1 after inlining); sum[k] = that row's acc. */
static inline __attribute__((always_inline)) void q8i_sums_n(const int8_t *rows, size_t stride, const int8_t *x_q,
                                                             size_t cols, unsigned n, int32_t sum[4])
{
    const __m512i zero = _mm512_setzero_si512();
    __m512i acc[4];
    size_t c;
    unsigned k;
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        acc[k] = zero;
    for (c = 0; c < cols; c += 64u) {
        const __mmask64 m = cols - c >= 64u ? ~(__mmask64)0 : (((__mmask64)1 << (cols - c)) - 1u);
        const __m512i xv = _mm512_maskz_loadu_epi8(m, x_q + c);
        const __m512i xa = _mm512_abs_epi8(xv); /* -128 gives 0x80: 128 read as unsigned */
        const __mmask64 negative = _mm512_movepi8_mask(xv);
#pragma GCC unroll 4
        for (k = 0; k < n; k++) {
            const __m512i wv = _mm512_maskz_loadu_epi8(m, rows + (size_t)k * stride + c);
            acc[k] = row_step(acc[k], xa, _mm512_mask_sub_epi8(wv, negative, zero, wv));
        }
    }
#pragma GCC unroll 4
    for (k = 0; k < n; k++)
        sum[k] = _mm512_reduce_add_epi32(acc[k]);
}

void EK_Q8I_BODY(ek_head_q8i)(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    const size_t cols = w->cols;
    const int8_t *q = (const int8_t *)(w->data + 4u * (size_t)w->rows);
    const size_t quarter = (r1 - r0) / 4u;
    int32_t sum[4];
    size_t i;
    uint32_t r;
    unsigned k;
    EK_KERNEL_RAN(EK_FMT_Q8I, EK_Q8I_BODY_NAME);
    for (i = 0; i < quarter; i++) { /* rows a quarter apart: four sequential streams (ek_head_q8i_avx2.c) */
        q8i_sums_n(q + (r0 + i) * cols, quarter * cols, x->q, cols, 4u, sum);
        for (k = 0; k < 4u; k++)
            ek_head_int_logits(w, x, y, (uint32_t)(r0 + i + k * quarter), &sum[k], 1u);
    }
    for (r = r0 + 4u * (uint32_t)quarter; r < r1; r++) { /* the last (r1 - r0) % 4 rows */
        q8i_sums_n(q + (size_t)r * cols, cols, x->q, cols, 1u, sum);
        ek_head_int_logits(w, x, y, r, sum, 1u);
    }
}

#endif /* EK_Q8I_AVX512_ROWS_H */
