/* ek_kernels.h — the compute kernels of the edgekit runtime, one API per op (the CMSIS-NN pattern).
 *
 * Every op has a portable C body (the reference, files *_c.c) and may have ISA bodies; ek_isa.h chooses, once
 * per build, which body each family runs (from EK_KERNEL_NEON / EK_KERNEL_DOTPROD / EK_KERNEL_MVE /
 * EK_KERNEL_DSP / EK_KERNEL_AVX2 and the compiler target), except the x86-64 AVX-512 bodies (EK_KERNEL_AVX512),
 * which the dispatchers choose at run time. Only the chosen ISA bodies are built; the
 * declarations below name them all. Whatever body runs, a ternary matvec's int32 accumulators equal the
 * portable body's bit for bit.
 *
 * Formats and byte layouts: edgekit/pack/formats.py, whose rows are generated into ek_spec.h (EK_FORMAT_TABLE).
 */
#ifndef EK_KERNELS_H
#define EK_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ek_isa.h"
#include "ek_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor of the image, read in place (XIP flash, mmap). */
typedef struct {
    const uint8_t *data; /* packed payload; 4-byte aligned (sections are 64-byte aligned in the image) */
    uint32_t rows;       /* out features (matrices) or length (vectors) */
    uint32_t cols;       /* in features; 1 for vectors */
    uint32_t format;     /* ek_format */
    float scale;         /* ternary: s_w, so y = acc / (s_x * s_w); float formats: 0 */
} ek_tensor;

/* x_q buffers are padded to a whole number of 128-entry blocks, zero beyond n, so SIMD i2 bodies never
 * need a tail path. Size every x_q buffer with EK_XQ_PAD(n) bytes. */
#define EK_XQ_PAD(n) ((((size_t)(n)) + 127u) / 128u * 128u)
/* sum(x_q) over n entries: the Σx of the ternary bodies' w · x = (w + 1) · x − Σx, taken once per input. */
static inline int32_t ek_xq_sum(const int8_t *q, size_t n)
{
    int32_t s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += q[i];
    return s;
}
/* tl pair-sum table: 9 int16 sums per pair of columns (index (w0+1)*3 + (w1+1)). */
#define EK_TL_LUT_ENTRIES(n) (((size_t)(n) + 1u) / 2u * 9u)

/* A quantised activation vector, shared by every linear layer that reads the same input. */
typedef struct {
    const int8_t *q;       /* (EK_XQ_PAD(n)) x_q, zero beyond n */
    uint32_t n;            /* logical length */
    float scale;           /* s_x = 127 / max(max|x|, 1e-5) */
    const int16_t *tl_lut; /* (EK_TL_LUT_ENTRIES(n)) pair sums, or NULL when no tl tensor reads x */
} ek_qvec;

/* --- the format table --------------------------------------------------------------------------- */
/* Packed byte size of a rows x cols tensor in `format`; 0 for a format this firmware does not know. */
uint64_t ek_format_packed_size(uint32_t format, uint32_t rows, uint32_t cols);
int ek_format_is_ternary(uint32_t format);
int ek_format_is_float(uint32_t format);
const char *ek_format_name(uint32_t format); /* "i2", "f16", ... or "?" */
/* Name of the kernel body a format runs with in this build ("c", "neon", "dotprod", "mve"...): EK_ISA_NAME of
 * the format's family in ek_isa.h, the choice its dispatcher makes; "?" for an unknown format. */
const char *ek_kernel_variant(uint32_t format);

/* acc[t * acc_stride + r] = W . x[t] for t < n_x: the same integers as n_x calls of ek_ternary_matvec, with
 * each weight read once for all n_x inputs where a body for the format exists (i2 on AVX2, NEON, Helium; t158 on
 * NEON and Helium). */
void ek_ternary_matmul(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
/* 1 if this build has a body that reads each weight once for all inputs (else ek_ternary_matmul loops over
 * ek_ternary_matvec). */
int ek_ternary_matmul_batched(uint32_t format);
void ek_matmul_i2_avx2(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
void ek_matmul_i2_avx512(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
void ek_matmul_i2_avx512vnni(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
void ek_matmul_i2_neon(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
void ek_matmul_i2_mve(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
void ek_matmul_t158_neon(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
void ek_matmul_t158_mve(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);

/* --- activation quantisation (docs/design.md §2) ---------------------------------------------------------- */
/* x (n) -> x_q (EK_XQ_PAD(n)), returns s_x. Round half to even (like np.rint), clamp to [-128, 127]. The ISA
 * body where built (Helium), else the portable one; both give the same bytes. */
float ek_quantize(const float *x, uint32_t n, int8_t *x_q);
float ek_quantize_c(const float *x, uint32_t n, int8_t *x_q);
float ek_quantize_mve(const float *x, uint32_t n, int8_t *x_q);

/* One activation: v = x * s_x, |v| <= 127 (plus one rounding) by construction. Adding and subtracting
 * 1.5 * 2^23 in float32 rounds it to an integer exactly as rintf does in the default rounding mode (float32
 * spacing is 1 from 2^23 up, and |v| is far below 2^22); -ffp-contract=off keeps the two steps apart. Unlike
 * lrintf (a library call on newlib: 40 instructions per activation on a Cortex-M55) it is two adds. NaN (a
 * broken model) compares false both ways and lands on -128 on every target. */
static inline int8_t ek_round_to_int8(float v)
{
    const float r = (v + 12582912.0f) - 12582912.0f;
    return (int8_t)(r > 127.0f ? 127 : r >= -128.0f ? (int)r : -128);
}
/* x_q (n) -> lut (EK_TL_LUT_ENTRIES(n)): per column pair g, lut[9g + (a+1)*3 + (b+1)] = a*x[2g] + b*x[2g+1]. */
void ek_tl_build_lut(const int8_t *x_q, uint32_t n, int16_t *lut);

/* --- ternary matvec ------------------------------------------------------------------------------- */
/* acc (w->rows) = W (rows, cols) . x_q (cols), exact int32. x->n must equal w->cols. tl needs x->tl_lut. */
void ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
/* Portable reference bodies (always built; tests compare every ISA body against these). */
void ek_matvec_i2_c(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_t158_c(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
/* For SIMD t158 bodies that run a row's tail (cols % 80, packed 5 per byte) through their 16-byte block code:
 * fills x_tail with the tail's x_q in block order (x_tail[16k + j] meets digit k of tail byte j, zeros
 * elsewhere) and returns sum(x_q), which turns the digit sums (w + 1) back into weights. */
int32_t ek_t158_prepare(const ek_qvec *x, uint32_t cols, int8_t x_tail[EK_T158_BLOCK]);
/* The row walk of bodies whose block step returns a scalar int32 sum (Cortex-M DSP, Helium): one 16-byte block
 * of 80 weights dotted with 80 x_q per call, the row tail through the same step. */
typedef int32_t (*ek_t158_block_fn)(int32_t sum, const uint8_t *block16, const int8_t *x80);
void ek_t158_rows_with(ek_t158_block_fn block, const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_tl_c(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_i2_neon(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_t158_neon(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_tl_neon(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_i2_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_t158_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_tl_mve(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_i2_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_t158_dsp(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_i2_avx2(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_t158_avx2(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_tl_avx2(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_i2_avx512(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void ek_matvec_i2_avx512vnni(const ek_tensor *w, const ek_qvec *x, int32_t *acc);

/* --- x86-64 run-time tiers (EK_KERNEL_AVX512 builds; ek_cpu_x86.c) ------------------------------------------ */
/* The best tier this CPU and OS run, at most the limit: EK_ISA_AVX2, EK_ISA_AVX512 or EK_ISA_AVX512VNNI. */
int ek_isa_x86_tier(void);
/* Cap the tier (e.g. EK_ISA_AVX2 to time the AVX2 bodies on an AVX-512 machine). Call before the kernels run. */
void ek_isa_x86_limit(int max_tier);

/* --- float tensors (embedding, norms, lm_head) ---------------------------------------------------- */
float ek_half_to_float(uint16_t h);
/* bfloat16 -> float32, exact: the 16 bits are the top half of the float32 (inline: the portable float body
 * calls it per weight on cores without vectors) */
static inline float ek_bf16_to_float(uint16_t b)
{
    const uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
/* The little-endian 16-bit value at p (f16 and bf16 payloads; any alignment). */
static inline uint16_t ek_load_u16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
/* out (t->cols) = row `row` of t, decoded to float32. */
void ek_float_row(const ek_tensor *t, uint32_t row, float *out);
/* Element i of a vector tensor (cols == 1), decoded to float32. */
float ek_float_at(const ek_tensor *t, uint32_t i);
/* y (w->rows) = W (rows, cols) . x (cols) for f32, f16, bf16 and q8row W, float32 accumulation in one fixed order
 * that every body follows (see ek_float_matvec_c.c): EK_FLOAT_LANES lane sums over whole column blocks,
 * a fixed reduction tree, then the tail columns in order. q8row: y[r] = scale[r] * sum (float)q * x.
 * Whatever body runs, y equals the portable body's bit for bit. */
#define EK_FLOAT_LANES 16
void ek_float_matvec(const ek_tensor *w, const float *x, float *y);
/* Rows [r0, r1) only: y[r] for r0 <= r < r1 (y indexed by absolute row; the port splits rows over threads
 * with it, since a q8row tensor cannot be cut into sub-tensors: its scales come before all rows). */
void ek_float_matvec_rows(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1);
/* sum_i a[i] * b[i] in the matvec's fixed order (so bit-identical on every body): attention scores. */
float ek_float_dot(const float *a, const float *b, size_t n);
float ek_float_dot_c(const float *a, const float *b, size_t n);
/* One row of a float matrix dotted with x, in the fixed order above; each body supplies its three. */
typedef struct {
    float (*f32)(const float *w, const float *x, size_t cols);
    float (*f16)(const uint8_t *w, const float *x, size_t cols);   /* little-endian halves */
    float (*bf16)(const uint8_t *w, const float *x, size_t cols);  /* little-endian bfloat16 */
    float (*q8)(const int8_t *q, const float *x, size_t cols);     /* unscaled int8 row */
} ek_float_row_dots;
/* Rows r0..r1 of y = W x: walks the format's layout (q8row: scales first) and calls the body's row dots. */
void ek_float_matvec_with(const ek_float_row_dots *dots, const ek_tensor *w, const float *x, float *y,
                          uint32_t r0, uint32_t r1);
/* Four rows dotted with x at once, each in the single-row order: out[k] = row (w + k * stride) . x, stride in units
 * of the row's type (bytes for f16 and bf16). For bodies whose single row is one chain of dependent adds. */
typedef struct {
    void (*f32)(const float *w, size_t stride, const float *x, size_t cols, float out[4]);
    void (*f16)(const uint8_t *w, size_t stride, const float *x, size_t cols, float out[4]);
    void (*bf16)(const uint8_t *w, size_t stride, const float *x, size_t cols, float out[4]);
    void (*q8)(const int8_t *w, size_t stride, const float *x, size_t cols, float out[4]); /* unscaled rows */
} ek_float_row4_dots;
/* ek_float_matvec_with, four rows per call of `four`: rows r0 + i + k * q (k < 4) for i < q = (r1 - r0) / 4, so each
 * of the four streams reads its quarter of the range sequentially; the last (r1 - r0) % 4 rows through `one`. */
void ek_float_matvec_with4(const ek_float_row_dots *one, const ek_float_row4_dots *four, const ek_tensor *w,
                           const float *x, float *y, uint32_t r0, uint32_t r1);
/* Portable reference body (always built) and ISA bodies, same contract as ek_float_matvec_rows. */
void ek_float_matvec_c(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1);
float ek_float_dot_neon(const float *a, const float *b, size_t n);
void ek_float_matvec_neon(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1);
float ek_float_dot_mve(const float *a, const float *b, size_t n);
void ek_float_matvec_mve(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1);
float ek_float_dot_avx2(const float *a, const float *b, size_t n);
float ek_float_dot_dsp(const float *a, const float *b, size_t n);
void ek_float_matvec_dsp(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1);
void ek_float_matvec_avx2(const ek_tensor *w, const float *x, float *y, uint32_t r0, uint32_t r1);

/* --- the integer lm_head (format q8i: q8row's bytes) --------------------------------------------------------- */
/* y (w->rows) = the q8i head applied to x, the final normed activations quantised by ek_quantize (x->q, x->scale;
 * x->n == w->cols <= EK_Q8I_MAX_COLS): acc[r] = sum_c q[r,c] * x_q[c], exact in int32 whatever the order, so
 * every body gives the portable body's y bit for bit; then ek_q8i_logit. Bodies follow the float family's
 * choice (EK_ISA_FLOAT): the head's format is a float-table format. */
void ek_head_q8i(const ek_tensor *w, const ek_qvec *x, float *y);
/* Rows [r0, r1) only (y indexed by absolute row), for a port that splits rows over threads. */
void ek_head_q8i_rows(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
/* The one definition of a q8i logit (docs/design.md §2): two float32 roundings, in this order. */
static inline float ek_q8i_logit(int32_t acc, float row_scale, float s_x) { return ((float)acc * row_scale) / s_x; }
/* One int8 row dotted with x_q (n values each), exact int32; each body supplies one. */
typedef int32_t (*ek_q8i_dot_fn)(const int8_t *w, const int8_t *x_q, size_t n);
/* Rows r0..r1 through `dot`: walks the layout (all row scales, then the int8 rows) and scales each sum. */
void ek_head_q8i_with(ek_q8i_dot_fn dot, const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
/* Four rows r..r+3 whose SIMD sums cover columns [0, whole): adds columns [whole, cols) in scalar code and writes
 * the four logits (the SIMD bodies' shared tail). */
void ek_head_q8i_finish4(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r, int32_t sum[4], size_t whole);
/* y[r + k] = ek_q8i_logit(sum[k], row scale r + k, s_x) for k < n: the last step of every integer head (q8i, q4i:
 * both keep all rows' float32 scales first). */
void ek_head_int_logits(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r, const int32_t *sum, unsigned n);
void ek_head_q8i_c(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q8i_neon(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q8i_mve(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q8i_avx2(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q8i_avx512(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q8i_avx512vnni(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);

/* --- the integer lm_head of format q4i (4-bit codes, a uint8 scale per 32 values, a float32 scale per row) ------ */
/* y (w->rows) = the q4i head applied to x (quantised as for q8i; x->n == w->cols, a multiple of EK_Q4I_BLOCK and
 * <= EK_Q4I_MAX_COLS): acc[r] = sum_b s_b * sum_{i in block b} q_i * x_q[i], exact in int32 whatever the order, so
 * every body gives the portable body's y bit for bit; then ek_q8i_logit with the row scale d[r]. Layout
 * (edgekit/pack/formats.py): all rows' float32 d, then per row cols/32 uint8 block scales s_b and cols/2 bytes of
 * codes; block b's byte i holds column 32b+i (low nibble) and 32b+i+16 (high nibble) as q + 8. Bodies follow the
 * float family's choice (EK_ISA_FLOAT). */
void ek_head_q4i(const ek_tensor *w, const ek_qvec *x, float *y);
/* Rows [r0, r1) only (y indexed by absolute row), for a port that splits rows over threads. */
void ek_head_q4i_rows(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
/* Bytes of one q4i row after the row scales: its block scales and codes. */
#define EK_Q4I_ROW_BYTES(cols) ((size_t)(cols) / EK_Q4I_BLOCK * (EK_Q4I_BLOCK / 2 + 1))
/* sum[k] = acc of the row at rows + k * stride for k < n (n is 4 or 1; a row is EK_Q4I_ROW_BYTES(cols) bytes); each
 * body supplies one, sharing activation loads across the n rows. */
typedef void (*ek_head_q4i_sums_fn)(const uint8_t *rows, size_t stride, const int8_t *x_q, size_t cols, unsigned n,
                                    int32_t sum[4]);
/* Rows r0..r1 through `sums`, four at a time, the rest one by one, then ek_head_int_logits. quarters = 1: the four
 * rows of a call are a quarter of the range apart (four long sequential streams, for hosts whose hardware prefetcher
 * follows four adjacent short rows badly, as in the x86 float and q8i heads); 0: adjacent rows (one stream: MCUs
 * reading XIP flash, where the order also costs fewer instructions). */
void ek_head_q4i_with(ek_head_q4i_sums_fn sums, int quarters, const ek_tensor *w, const ek_qvec *x, float *y,
                      uint32_t r0, uint32_t r1);
void ek_head_q4i_c(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
/* The end of every SIMD q4i body file: its entry point ek_head_q4i_<suffix>, reporting `name`, which runs the file's
 * always-inline sums_n(rows, stride, x_q, cols, n, sum) through ek_head_q4i_with. sums_n is called with n the
 * constant 4 or 1, so each count is compiled (and unrolled) on its own. */
#define EK_HEAD_Q4I_ENTRY(suffix, name, quarters)                                                                \
    static void ek_q4i_sums_##suffix(const uint8_t *rows, size_t stride, const int8_t *x_q, size_t cols,         \
                                     unsigned n, int32_t sum[4])                                                 \
    {                                                                                                            \
        if (n == 4u)                                                                                             \
            sums_n(rows, stride, x_q, cols, 4u, sum);                                                            \
        else                                                                                                     \
            sums_n(rows, stride, x_q, cols, 1u, sum);                                                            \
    }                                                                                                            \
    void ek_head_q4i_##suffix(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)          \
    {                                                                                                            \
        EK_KERNEL_RAN(EK_FMT_Q4I, name);                                                                         \
        ek_head_q4i_with(ek_q4i_sums_##suffix, quarters, w, x, y, r0, r1);                                       \
    }
void ek_head_q4i_neon(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q4i_mve(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q4i_avx2(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);
void ek_head_q4i_avx512(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1);

#ifdef __cplusplus
}
#endif
#endif /* EK_KERNELS_H */
