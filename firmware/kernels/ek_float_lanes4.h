/* ek_float_lanes4.h — the row dot of the float matvec for bodies with 4-lane float32 vectors (NEON, Helium).
 *
 * The 16 lane sums of the fixed order (ek_float_matvec_c.c) are four registers a0..a3 (lanes 0..3, 4..7, 8..11,
 * 12..15); each product is a separate multiply then add (never a fused multiply-add), the tail columns go one by
 * one in column order. Include after arm_neon.h or arm_mve.h (every intrinsic used here exists in both) in a
 * body that defines reduce_lanes(a0, a1, a2, a3), the portable reduction tree.
 */
#ifndef EK_FLOAT_LANES4_H
#define EK_FLOAT_LANES4_H

/* A body may define EK_ROW_DOT4_ATTR (function attributes for the row dots) before including this header. */
#ifndef EK_ROW_DOT4_ATTR
#define EK_ROW_DOT4_ATTR
#endif

/* Defines `static float NAME(const TYPE *w, const float *x, size_t cols)`: LOAD4(c) is the float32x4_t of the
 * decoded weights of columns c..c+3, AT(c) the decoded weight of column c. */
#define EK_ROW_DOT4(NAME, TYPE, LOAD4, AT)                                                                      \
    EK_ROW_DOT4_ATTR static float NAME(const TYPE *w, const float *x, size_t cols)                              \
    {                                                                                                           \
        const size_t whole = cols - cols % EK_FLOAT_LANES;                                                      \
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;                                          \
        float sum;                                                                                              \
        size_t c;                                                                                               \
        for (c = 0; c < whole; c += EK_FLOAT_LANES) {                                                           \
            a0 = vaddq_f32(a0, vmulq_f32(LOAD4(c), vld1q_f32(x + c)));                                          \
            a1 = vaddq_f32(a1, vmulq_f32(LOAD4(c + 4u), vld1q_f32(x + c + 4u)));                                \
            a2 = vaddq_f32(a2, vmulq_f32(LOAD4(c + 8u), vld1q_f32(x + c + 8u)));                                \
            a3 = vaddq_f32(a3, vmulq_f32(LOAD4(c + 12u), vld1q_f32(x + c + 12u)));                              \
        }                                                                                                       \
        sum = reduce_lanes(a0, a1, a2, a3);                                                                     \
        for (c = whole; c < cols; c++)                                                                          \
            sum += AT(c) * x[c];                                                                                \
        return sum;                                                                                             \
    }

/* weights as stored: float32, little-endian halves and bfloat16 (2 bytes each) */
#define EK_F32_LOAD4(c) vld1q_f32(w + (c))
#define EK_F32_AT(c) w[c]
#define EK_F16_AT(c) ek_half_to_float(ek_load_u16le(w + 2u * (c)))
#define EK_BF16_AT(c) ek_bf16_to_float(ek_load_u16le(w + 2u * (c)))

#endif /* EK_FLOAT_LANES4_H */
