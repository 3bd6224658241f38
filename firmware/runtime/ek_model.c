/* ek_model.c — the BitNet b1.58 forward pass, one token at a time, reading the image in place.
 *
 * Reads top to bottom like the data flows (docs/design.md §2): embedding -> per layer [attn_norm -> q,k,v ->
 * RoPE -> KV cache -> GQA attention -> attn_sub_norm -> o -> residual; ffn_norm -> gate, up ->
 * relu(gate)^2 * up -> ffn_sub_norm -> down -> residual] -> norm -> lm_head. Weights are visited in image
 * order. Shapes: dim = hidden_size, hidden_dim = intermediate_size, q_dim = n_heads * head_dim,
 * kv_dim = n_kv_heads * head_dim. Prefill is the same step per position, so it is exact by construction.
 */
#include <math.h>
#include <string.h>

#include "ek_model.h"

/* Slot of a per-layer tensor: EK_KIND_* in image order, attn_norm first. */
#define LAYER_SLOT(layer, kind) (1u + EK_LAYER_TENSORS * (layer) + ((kind) - EK_KIND_ATTN_NORM))

static void get_tensor(const ek_model *m, uint32_t slot, ek_tensor *t)
{
    ek_image_tensor(m->parts, m->directory[slot], t);
}

/* --- building blocks ---------------------------------------------------------------------------- */

/* o (n) = x (n) * (1 / sqrt(mean(x^2) + eps)) * w (n). o may be x. */
static void rmsnorm(float *o, const float *x, const ek_tensor *w, uint32_t n, float eps)
{
    float ss = 0.0f, inv;
    uint32_t i;
    for (i = 0; i < n; i++)
        ss += x[i] * x[i];
    inv = 1.0f / sqrtf(ss / (float)n + eps);
    if (w->format == EK_FMT_F32) {
        const float *wf = (const float *)(const void *)w->data;
        for (i = 0; i < n; i++)
            o[i] = (x[i] * inv) * wf[i];
    } else {
        for (i = 0; i < n; i++)
            o[i] = (x[i] * inv) * ek_float_at(w, i);
    }
}

/* RoPE, split-halves form (HF rotate_half): pairs (i, i + head_dim/2) of every head of v (n_heads, hd). */
static void rope(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t pos, const float *inv_freq)
{
    const uint32_t half = head_dim / 2u;
    uint32_t i, h;
    for (i = 0; i < half; i++) {
        const float angle = (float)pos * inv_freq[i];
        const float c = cosf(angle), s = sinf(angle);
        for (h = 0; h < n_heads; h++) {
            float *vh = v + h * head_dim;
            const float x0 = vh[i], x1 = vh[i + half];
            vh[i] = x0 * c - x1 * s;
            vh[i + half] = x1 * c + x0 * s;
        }
    }
}

/* In place over x (n), max subtracted first. */
static void softmax(float *x, uint32_t n)
{
    float max = x[0], sum = 0.0f;
    uint32_t i;
    for (i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    for (i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (i = 0; i < n; i++)
        x[i] /= sum;
}

/* --- open / reset ------------------------------------------------------------------------------- */

static ek_status open_parts(ek_image_part *parts, const uint8_t *const data[], const size_t sizes[],
                            unsigned n)
{
    ek_status st;
    unsigned i;
    if (data == NULL || sizes == NULL || n == 0)
        return EK_ERR_BAD_ARGUMENT;
    if (n > EK_MAX_PARTS)
        return EK_ERR_IMAGE_PARTS;
    for (i = 0; i < n; i++)
        if ((st = ek_image_open_part(data[i], sizes[i], &parts[i])) != EK_OK)
            return st;
    return ek_image_check_parts(parts, n);
}

static ek_status context_length(const ek_config *c, uint32_t max_ctx, uint32_t *out)
{
    *out = max_ctx ? max_ctx : c->max_seq_len;
    return max_ctx > c->max_seq_len ? EK_ERR_BAD_ARGUMENT : EK_OK;
}

uint32_t ek_model_directory_slots(const uint8_t *const parts[], const size_t sizes[], unsigned n_parts)
{
    ek_image_part p[EK_MAX_PARTS];
    if (open_parts(p, parts, sizes, n_parts) != EK_OK)
        return 0;
    return EK_TENSOR_SLOTS(p[0].config.num_layers);
}

/* What the integer heads need beyond the section table (the image reader checks sizes, not values): rows short
 * enough for exact int32 sums, q4i rows of whole blocks, and q8i values in -127..127 (the packer clips: the SIMD
 * bodies move x_q's sign onto w, and -(-128) is no int8, so a -128 would make them disagree with the portable
 * body). Part of the section check, so an image that passes it always opens. */
static ek_status check_integer_heads(const ek_image_part *parts, const uint32_t *directory, uint32_t num_layers)
{
    ek_tensor t;
    uint32_t s;
    ek_image_tensor(parts, directory[EK_TENSOR_SLOTS(num_layers) - 1u], &t); /* the lm_head, maybe tied */
    if ((t.format == EK_FMT_Q8I && t.cols > EK_Q8I_MAX_COLS) || (t.format == EK_FMT_Q4I && t.cols > EK_Q4I_MAX_COLS))
        return EK_ERR_IMAGE_FORMAT; /* its int32 row sums could overflow */
    if (t.format == EK_FMT_Q8I) {
        const uint8_t *q = t.data + 4u * (size_t)t.rows;
        const size_t n = (size_t)t.rows * t.cols;
        size_t k;
        for (k = 0; k < n; k++)
            if (q[k] == 0x80u)
                return EK_ERR_IMAGE_FORMAT;
    }
    for (s = 0; s < EK_TENSOR_SLOTS(num_layers); s++) {
        ek_image_tensor(parts, directory[s], &t);
        if (t.format == EK_FMT_Q4I && t.cols % EK_Q4I_BLOCK != 0)
            return EK_ERR_IMAGE_FORMAT; /* q4i rows are whole blocks (a vector, cols 1, never is) */
    }
    return EK_OK;
}

ek_status ek_model_check_sections(const uint8_t *const parts[], const size_t sizes[], unsigned n_parts,
                                  int verify_crc, uint32_t *directory)
{
    ek_image_part p[EK_MAX_PARTS];
    ek_status st;
    if (directory == NULL)
        return EK_ERR_BAD_ARGUMENT;
    if ((st = open_parts(p, parts, sizes, n_parts)) != EK_OK)
        return st;
    if ((st = ek_image_index(p, n_parts, verify_crc, directory)) != EK_OK)
        return st;
    return check_integer_heads(p, directory, p[0].config.num_layers);
}

size_t ek_model_arena_size(const uint8_t *const parts[], const size_t sizes[], unsigned n_parts,
                           uint32_t max_ctx)
{
    ek_image_part p[EK_MAX_PARTS];
    ek_arena_layout layout;
    uint32_t ctx;
    if (open_parts(p, parts, sizes, n_parts) != EK_OK || context_length(&p[0].config, max_ctx, &ctx) != EK_OK)
        return 0;
    if (ek_arena_layout_compute(&p[0].config, ctx, ek_image_ternary_formats(p, n_parts), &layout) != EK_OK)
        return 0;
    return layout.size_bytes;
}

ek_status ek_model_open(ek_model *m, const uint8_t *const parts[], const size_t sizes[], unsigned n_parts,
                        uint32_t max_ctx, uint8_t *arena, size_t arena_size, int verify_crc)
{
    const ek_arena_slot *b;
    const ek_config *c;
    uint32_t i;
    ek_status st;

    memset(m, 0, sizeof *m);
    if ((st = open_parts(m->parts, parts, sizes, n_parts)) != EK_OK)
        return st;
    m->n_parts = n_parts;
    m->config = m->parts[0].config;
    c = &m->config;
    if ((st = context_length(c, max_ctx, &m->max_ctx)) != EK_OK)
        return st;
    st = ek_arena_layout_compute(c, m->max_ctx, ek_image_ternary_formats(m->parts, n_parts), &m->layout);
    if (st != EK_OK)
        return st;
    if (arena == NULL || ((uintptr_t)arena % EK_ARENA_ALIGN) != 0)
        return EK_ERR_BAD_ARGUMENT;
    if (arena_size < m->layout.size_bytes)
        return EK_ERR_ARENA_TOO_SMALL;
    m->arena = arena;
    b = m->layout.buf;
    st = ek_image_index(m->parts, n_parts, verify_crc, (uint32_t *)(void *)(arena + b[EK_BUF_DIRECTORY].offset));
    if (st != EK_OK)
        return st;

    m->directory = (const uint32_t *)(const void *)(arena + b[EK_BUF_DIRECTORY].offset);
    m->key_cache = (float *)(void *)(arena + b[EK_BUF_KEY_CACHE].offset);
    m->value_cache = (float *)(void *)(arena + b[EK_BUF_VALUE_CACHE].offset);
    m->x = (float *)(void *)(arena + b[EK_BUF_X].offset);
    m->xb = (float *)(void *)(arena + b[EK_BUF_XB].offset);
    m->q = (float *)(void *)(arena + b[EK_BUF_Q].offset);
    m->hb = (float *)(void *)(arena + b[EK_BUF_HB].offset);
    m->hb2 = (float *)(void *)(arena + b[EK_BUF_HB2].offset);
    m->att = (float *)(void *)(arena + b[EK_BUF_ATT].offset);
    m->rope_inv_freq = (float *)(void *)(arena + b[EK_BUF_ROPE].offset);
    m->xq = (int8_t *)(arena + b[EK_BUF_XQ].offset);
    m->acc = (int32_t *)(void *)(arena + b[EK_BUF_ACC].offset);
    m->tl_lut = b[EK_BUF_TL_LUT].size ? (int16_t *)(void *)(arena + b[EK_BUF_TL_LUT].offset) : NULL;
    m->logits = (float *)(void *)(arena + b[EK_BUF_LOGITS].offset);
    m->sampler_idx = (uint32_t *)(void *)(arena + b[EK_BUF_SAMPLER_IDX].offset);
    m->sampler_p = (float *)(void *)(arena + b[EK_BUF_SAMPLER_P].offset);

    if ((st = check_integer_heads(m->parts, m->directory, c->num_layers)) != EK_OK)
        return st;
    /* inv_freq[i] = 1 / theta^(2i / head_dim), in float32 as HF computes it */
    for (i = 0; i < c->head_dim / 2u; i++)
        m->rope_inv_freq[i] = 1.0f / powf(c->rope_theta, (float)(2u * i) / (float)c->head_dim);
    ek_model_reset(m);
    return EK_OK;
}

void ek_model_reset(ek_model *m)
{
    /* Positions >= pos are never read, so the cache needs no clearing. */
    m->pos = 0;
    m->logits_valid = 0;
}

/* --- the forward pass --------------------------------------------------------------------------- */

/* The buffers one forward pass works in, for T tokens at once: row t of each is token t's. A single-token
 * step uses the arena's buffers (T = 1); a chunked prefill uses the port's scratch (ek_model_set_prefill_scratch).
 * Every token goes through exactly the operations a single step would run, in the same order, so the logits
 * and the KV cache are bit-identical whatever the chunk size. */
typedef struct {
    uint32_t n;     /* T */
    float *x;       /* (T, dim) residual streams */
    float *xb;      /* (T, xb_stride) normed inputs / attention outputs */
    float *q;       /* (T, q_dim) */
    float *hb;      /* (T, hidden_dim) */
    float *hb2;     /* (T, hidden_dim) */
    int8_t *xq;     /* (T, xq_stride) quantised inputs */
    ek_qvec *qv;    /* (T) */
    int32_t *acc;   /* (T, acc_stride) accumulators */
    uint32_t xb_stride, xq_stride, acc_stride;
} ek_batch;

/* A token's row widths are the sizes of the arena's single-token buffers (ek_arena.c is their one source). */
static void batch_strides(const ek_model *m, ek_batch *b)
{
    const ek_arena_slot *buf = m->layout.buf;
    b->xb_stride = (uint32_t)(buf[EK_BUF_XB].size / sizeof(float));
    b->xq_stride = (uint32_t)buf[EK_BUF_XQ].size;
    b->acc_stride = (uint32_t)(buf[EK_BUF_ACC].size / sizeof(int32_t));
}

/* Quantise row t of `in` (n wide, rows `stride` apart) for every token: x_q rows, their s_x, and the tl pair
 * sums when a tl tensor reads them (only single steps use tl: see ek_model_prefill). */
static void quantize_rows(ek_model *m, ek_batch *b, const float *in, uint32_t stride, uint32_t n, int need_lut)
{
    uint32_t t;
    for (t = 0; t < b->n; t++) {
        ek_qvec *xq = &b->qv[t];
        xq->q = b->xq + (size_t)t * b->xq_stride;
        xq->n = n;
        xq->scale = ek_quantize(in + (size_t)t * stride, n, b->xq + (size_t)t * b->xq_stride);
        xq->tl_lut = NULL;
        if (need_lut && m->tl_lut != NULL) {
            ek_tl_build_lut(xq->q, n, m->tl_lut);
            xq->tl_lut = m->tl_lut;
        }
    }
}

/* acc rows = W x_q for every token: one matvec, or one matmul that reads each weight once for all T. */
static void ternary_products(const ek_tensor *w, ek_batch *b)
{
    if (b->n == 1)
        ek_ternary_matvec(w, &b->qv[0], b->acc);
    else
        ek_ternary_matmul(w, b->qv, b->n, b->acc, b->acc_stride);
}

/* out row t (w->rows) = (W x_q_t) / (s_x_t * s_w): exact int32 dot products, one float rescale; add != 0 adds
 * it to out instead (the residual). */
static void ternary_linear(const ek_tensor *w, ek_batch *b, float *out, size_t out_stride, int add)
{
    uint32_t t, i;
    ternary_products(w, b);
    for (t = 0; t < b->n; t++) {
        const float denom = b->qv[t].scale * w->scale;
        const int32_t *acc = b->acc + (size_t)t * b->acc_stride;
        float *y = out + (size_t)t * out_stride;
        if (add) {
            for (i = 0; i < w->rows; i++)
                y[i] += (float)acc[i] / denom;
        } else {
            for (i = 0; i < w->rows; i++)
                y[i] = (float)acc[i] / denom;
        }
    }
}

/* Tokens tokens[0..T) at positions m->pos.. through every layer; logits of the last one if want_logits. */
static ek_status forward(ek_model *m, ek_batch *b, const uint32_t *tokens, int want_logits)
{
    const ek_config *c = &m->config;
    const uint32_t dim = c->hidden_size, hidden_dim = c->intermediate_size, hd = c->head_dim;
    const uint32_t n_heads = c->num_heads, n_kv_heads = c->num_kv_heads;
    const uint32_t q_dim = n_heads * hd, kv_dim = n_kv_heads * hd;
    const uint32_t kv_mul = n_heads / n_kv_heads; /* query heads per kv head (GQA) */
    const uint32_t pos0 = m->pos, ctx = m->max_ctx, T = b->n;
    const float att_scale = 1.0f / sqrtf((float)hd);
    ek_tensor w, wq, wk, wv, wgate, wup;
    uint32_t l, h, t, tok, i;

    for (tok = 0; tok < T; tok++)
        if (tokens[tok] >= c->vocab_size)
            return EK_ERR_BAD_TOKEN;
    if (pos0 + T > ctx)
        return EK_ERR_CONTEXT_FULL;
    m->logits_valid = 0;

    /* x (dim) = tok_embeddings[token] */
    get_tensor(m, 0, &w);
    for (tok = 0; tok < T; tok++)
        ek_float_row(&w, tokens[tok], b->x + (size_t)tok * dim);

    for (l = 0; l < c->num_layers; l++) {
        float *k_cache = m->key_cache + (size_t)l * ctx * kv_dim;   /* (ctx, kv_dim) of this layer */
        float *v_cache = m->value_cache + (size_t)l * ctx * kv_dim; /* (ctx, kv_dim) */

        /* --- attention --- */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_ATTN_NORM), &w); /* (dim) */
        for (tok = 0; tok < T; tok++)
            rmsnorm(b->xb + (size_t)tok * b->xb_stride, b->x + (size_t)tok * dim, &w, dim, c->rms_norm_eps);
        get_tensor(m, LAYER_SLOT(l, EK_KIND_Q), &wq); /* (q_dim, dim) */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_K), &wk); /* (kv_dim, dim) */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_V), &wv); /* (kv_dim, dim) */
        quantize_rows(m, b, b->xb, b->xb_stride, dim,
                      wq.format == EK_FMT_TL || wk.format == EK_FMT_TL || wv.format == EK_FMT_TL);
        ternary_linear(&wq, b, b->q, q_dim, 0);                           /* q (q_dim) */
        ternary_linear(&wk, b, k_cache + (size_t)pos0 * kv_dim, kv_dim, 0); /* k rows, straight into the cache */
        ternary_linear(&wv, b, v_cache + (size_t)pos0 * kv_dim, kv_dim, 0); /* v rows */

        for (tok = 0; tok < T; tok++) {
            const uint32_t pos = pos0 + tok;
            float *q = b->q + (size_t)tok * q_dim;
            rope(q, n_heads, hd, pos, m->rope_inv_freq);
            rope(k_cache + (size_t)pos * kv_dim, n_kv_heads, hd, pos, m->rope_inv_freq);
            for (h = 0; h < n_heads; h++) {
                const float *qh = q + h * hd;                                /* (hd) */
                const uint32_t kv_off = (h / kv_mul) * hd;                   /* this head's kv head */
                float *out = b->xb + (size_t)tok * b->xb_stride + h * hd;   /* (hd) attention output of head h */
                for (t = 0; t <= pos; t++) {
                    const float *kt = k_cache + (size_t)t * kv_dim + kv_off; /* (hd) */
                    /* the lm_head's dot: SIMD where built, one fixed summation order everywhere */
                    m->att[t] = ek_float_dot(qh, kt, hd) * att_scale;
                }
                softmax(m->att, pos + 1u); /* att (pos + 1) */
                for (i = 0; i < hd; i++)
                    out[i] = 0.0f;
                for (t = 0; t <= pos; t++) {
                    const float *vt = v_cache + (size_t)t * kv_dim + kv_off; /* (hd) */
                    const float a = m->att[t];
                    for (i = 0; i < hd; i++)
                        out[i] += a * vt[i];
                }
            }
        }
        get_tensor(m, LAYER_SLOT(l, EK_KIND_ATTN_SUB_NORM), &w); /* (q_dim) */
        for (tok = 0; tok < T; tok++) {
            float *xb = b->xb + (size_t)tok * b->xb_stride;
            rmsnorm(xb, xb, &w, q_dim, c->rms_norm_eps);
        }
        get_tensor(m, LAYER_SLOT(l, EK_KIND_O), &w); /* (dim, q_dim) */
        quantize_rows(m, b, b->xb, b->xb_stride, q_dim, w.format == EK_FMT_TL);
        ternary_linear(&w, b, b->x, dim, 1); /* x (dim) += o(xb) */

        /* --- feed-forward --- */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_FFN_NORM), &w); /* (dim) */
        for (tok = 0; tok < T; tok++)
            rmsnorm(b->xb + (size_t)tok * b->xb_stride, b->x + (size_t)tok * dim, &w, dim, c->rms_norm_eps);
        get_tensor(m, LAYER_SLOT(l, EK_KIND_GATE), &wgate); /* (hidden_dim, dim) */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_UP), &wup);     /* (hidden_dim, dim) */
        quantize_rows(m, b, b->xb, b->xb_stride, dim, wgate.format == EK_FMT_TL || wup.format == EK_FMT_TL);
        ternary_linear(&wgate, b, b->hb, hidden_dim, 0); /* hb (hidden_dim) */
        ternary_linear(&wup, b, b->hb2, hidden_dim, 0);  /* hb2 (hidden_dim) */
        for (tok = 0; tok < T; tok++) {
            float *hb = b->hb + (size_t)tok * hidden_dim;
            const float *hb2 = b->hb2 + (size_t)tok * hidden_dim;
            for (i = 0; i < hidden_dim; i++) { /* relu(gate)^2 * up */
                const float g = hb[i] > 0.0f ? hb[i] : 0.0f;
                hb[i] = (g * g) * hb2[i];
            }
        }
        get_tensor(m, LAYER_SLOT(l, EK_KIND_FFN_SUB_NORM), &w); /* (hidden_dim) */
        for (tok = 0; tok < T; tok++) {
            float *hb = b->hb + (size_t)tok * hidden_dim;
            rmsnorm(hb, hb, &w, hidden_dim, c->rms_norm_eps);
        }
        get_tensor(m, LAYER_SLOT(l, EK_KIND_DOWN), &w); /* (dim, hidden_dim) */
        quantize_rows(m, b, b->hb, hidden_dim, hidden_dim, w.format == EK_FMT_TL);
        ternary_linear(&w, b, b->x, dim, 1); /* x (dim) += down(hb) */
    }
    m->pos = pos0 + T;

    if (want_logits) {
        const float *x_last = b->x + (size_t)(T - 1u) * dim;
        get_tensor(m, EK_TENSOR_SLOTS(c->num_layers) - 2u, &w); /* norm (dim) */
        rmsnorm(m->xb, x_last, &w, dim, c->rms_norm_eps);
        get_tensor(m, EK_TENSOR_SLOTS(c->num_layers) - 1u, &w); /* lm_head (vocab, dim), maybe tied */
        if (w.format == EK_FMT_Q8I || w.format == EK_FMT_Q4I) {
            /* the integer heads: x quantised as a BitLinear input, exact int32 row sums (docs/design.md §2) */
            ek_qvec head_in;
            head_in.q = b->xq;
            head_in.n = dim;
            head_in.scale = ek_quantize(m->xb, dim, b->xq);
            head_in.tl_lut = NULL;
            if (w.format == EK_FMT_Q8I)
                ek_head_q8i(&w, &head_in, m->logits);
            else
                ek_head_q4i(&w, &head_in, m->logits);
        } else {
            ek_float_matvec(&w, m->xb, m->logits); /* logits (vocab) */
        }
        m->logits_valid = 1;
    }
    return EK_OK;
}

ek_status ek_model_step(ek_model *m, uint32_t token, int want_logits)
{
    ek_qvec qv;
    ek_batch b;
    b.n = 1;
    b.x = m->x, b.xb = m->xb, b.q = m->q, b.hb = m->hb, b.hb2 = m->hb2, b.xq = m->xq, b.qv = &qv, b.acc = m->acc;
    batch_strides(m, &b);
    return forward(m, &b, &token, want_logits);
}

/* Scratch for a chunk of T tokens: T rows of each single-token arena buffer a forward pass writes
 * (ek_prefill_chunk_buffers), 64-byte aligned, plus the T qvecs. */
static size_t chunk_layout(const ek_model *m, uint32_t T, size_t off[EK_PREFILL_CHUNK_BUFFER_COUNT + 1u])
{
    return ek_arena_prefill_scratch(&m->layout, T, sizeof(ek_qvec), off);
}

/* Where buffer `buf`'s rows start in the chunk scratch laid out at base with offsets off. */
static void *chunk_part(uint8_t *base, const size_t *off, int buf)
{
    unsigned k;
    for (k = 0; k < EK_PREFILL_CHUNK_BUFFER_COUNT; k++)
        if (ek_prefill_chunk_buffers[k] == buf)
            return base + off[k];
    return NULL; /* not a chunk buffer: a table change the runtime was not written for */
}

EK_STATIC_ASSERT(sizeof(ek_qvec) <= EK_PREFILL_RECORD_BYTES, ek_qvec_fits_the_planned_record);

size_t ek_model_prefill_scratch_size(const ek_model *m, uint32_t chunk)
{
    return chunk < 2u ? 0u : chunk_layout(m, chunk, NULL) + EK_ARENA_ALIGN; /* + any alignment of the buffer */
}

void ek_model_set_prefill_scratch(ek_model *m, uint8_t *scratch, size_t size)
{
    uint32_t T = EK_PREFILL_MAX_CHUNK;
    m->scratch = NULL, m->scratch_size = 0, m->chunk = 1;
    while (T >= 2u && ek_model_prefill_scratch_size(m, T) > size)
        T /= 2u;
    if (scratch != NULL && T >= 2u) {
        m->scratch = scratch, m->scratch_size = size, m->chunk = T;
    }
}

uint32_t ek_model_prefill_chunk(const ek_model *m) { return m->chunk ? m->chunk : 1u; }

ek_status ek_model_prefill(ek_model *m, const uint32_t *tokens, uint32_t n, int want_logits)
{
    size_t off[EK_PREFILL_CHUNK_BUFFER_COUNT + 1u];
    uint8_t *base;
    ek_batch b;
    uint32_t done = 0;
    /* Token by token without scratch and when a tl tensor is used (its single pair-sum table serves one x_q at
     * a time). */
    if (m->scratch == NULL || m->chunk < 2u || m->tl_lut != NULL || n < 2u) {
        uint32_t i;
        for (i = 0; i < n; i++) {
            ek_status st = ek_model_step(m, tokens[i], want_logits && i + 1u == n);
            if (st != EK_OK)
                return st;
        }
        return EK_OK;
    }
    base = (uint8_t *)(((uintptr_t)m->scratch + 63u) & ~(uintptr_t)63u);
    chunk_layout(m, m->chunk, off);
    b.x = (float *)chunk_part(base, off, EK_BUF_X);
    b.xb = (float *)chunk_part(base, off, EK_BUF_XB);
    b.q = (float *)chunk_part(base, off, EK_BUF_Q);
    b.hb = (float *)chunk_part(base, off, EK_BUF_HB);
    b.hb2 = (float *)chunk_part(base, off, EK_BUF_HB2);
    b.xq = (int8_t *)chunk_part(base, off, EK_BUF_XQ);
    b.acc = (int32_t *)chunk_part(base, off, EK_BUF_ACC);
    b.qv = (ek_qvec *)(void *)(base + off[EK_PREFILL_CHUNK_BUFFER_COUNT]);
    batch_strides(m, &b);
    while (done < n) {
        ek_status st;
        b.n = n - done < m->chunk ? n - done : m->chunk;
        st = forward(m, &b, tokens + done, want_logits && done + b.n == n);
        if (st != EK_OK)
            return st;
        done += b.n;
    }
    return EK_OK;
}

/* --- accessors ---------------------------------------------------------------------------------- */

const float *ek_model_logits(const ek_model *m) { return m->logits_valid ? m->logits : NULL; }
const ek_config *ek_model_config(const ek_model *m) { return &m->config; }
uint32_t ek_model_pos(const ek_model *m) { return m->pos; }
uint32_t ek_model_max_ctx(const ek_model *m) { return m->max_ctx; }
const uint8_t *ek_model_hash(const ek_model *m) { return m->parts[0].model_hash; }
const uint8_t *ek_model_tokenizer_hash(const ek_model *m) { return m->parts[0].tokenizer_hash; }
size_t ek_model_arena_used(const ek_model *m) { return m->layout.size_bytes; }
uint32_t *ek_model_sampler_idx(ek_model *m) { return m->sampler_idx; }
float *ek_model_sampler_p(ek_model *m) { return m->sampler_p; }
