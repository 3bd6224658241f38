/* ek_head_q8i_mve.c — the integer lm_head on Helium (EK_KERNEL_MVE with its float extension: the float family's
 * choice, see ek_isa.h). VMLADAVA.S8 multiplies 16 int8 pairs and adds them into a scalar int32. Four rows share
 * each 16-byte load of x_q (a 16-column step is then 5 loads and 4 multiply-adds for 4 rows); the row tail is a
 * predicated step (VCTP.8), so no byte past a row is read. The sums are exact: y equals ek_head_q8i_c's. */
#include "ek_kernels.h"

#if EK_ISA_FLOAT == EK_ISA_MVE
#include <arm_mve.h>

static int32_t dot_s8_mve(const int8_t *w, const int8_t *x_q, size_t n)
{
    int32_t sum = 0;
    int32_t left = (int32_t)n;
    while (left > 0) {
        const mve_pred16_t p = vctp8q((uint32_t)left);
        sum = vmladavaq_p_s8(sum, vldrbq_z_s8(w, p), vldrbq_z_s8(x_q, p), p);
        w += 16;
        x_q += 16;
        left -= 16;
    }
    return sum;
}

void ek_head_q8i_mve(const ek_tensor *w, const ek_qvec *x, float *y, uint32_t r0, uint32_t r1)
{
    const size_t cols = w->cols, whole = cols - cols % 16u;
    const int8_t *q = (const int8_t *)(w->data + 4u * (size_t)w->rows);
    int32_t sum[4];
    uint32_t r = r0;
    EK_KERNEL_RAN(EK_FMT_Q8I, "mve");
    for (; r + 4u <= r1; r += 4u) {
        const int8_t *w0 = q + (size_t)r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        const int8_t *xp = x->q;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        size_t c;
        for (c = 0; c < whole; c += 16u) {
            const int8x16_t xv = vld1q_s8(xp + c);
            a0 = vmladavaq_s8(a0, vld1q_s8(w0 + c), xv);
            a1 = vmladavaq_s8(a1, vld1q_s8(w1 + c), xv);
            a2 = vmladavaq_s8(a2, vld1q_s8(w2 + c), xv);
            a3 = vmladavaq_s8(a3, vld1q_s8(w3 + c), xv);
        }
        if (c < cols) {
            const mve_pred16_t p = vctp8q((uint32_t)(cols - c));
            const int8x16_t xv = vldrbq_z_s8(xp + c, p);
            a0 = vmladavaq_p_s8(a0, vldrbq_z_s8(w0 + c, p), xv, p);
            a1 = vmladavaq_p_s8(a1, vldrbq_z_s8(w1 + c, p), xv, p);
            a2 = vmladavaq_p_s8(a2, vldrbq_z_s8(w2 + c, p), xv, p);
            a3 = vmladavaq_p_s8(a3, vldrbq_z_s8(w3 + c, p), xv, p);
        }
        sum[0] = a0, sum[1] = a1, sum[2] = a2, sum[3] = a3;
        ek_head_int_logits(w, x, y, r, sum, 4u);
    }
    if (r < r1) /* the last rows % 4 */
        ek_head_q8i_with(dot_s8_mve, w, x, y, r, r1);
}
#endif
