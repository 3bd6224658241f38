/* ek_model.c — the BitNet b1.58 forward pass, one token at a time, reading the image in place.
 *
 * Reads top to bottom like the data flows (DESIGN §2): embedding -> per layer [attn_norm -> q,k,v ->
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

/* Quantise x (n) once for every linear layer that reads it; build the tl pair sums only if one of them
 * is stored in tl. */
static void quantize_input(ek_model *m, const float *x, uint32_t n, int need_lut, ek_qvec *xq)
{
    xq->q = m->xq;
    xq->n = n;
    xq->scale = ek_quantize(x, n, m->xq);
    xq->tl_lut = NULL;
    if (need_lut && m->tl_lut != NULL) {
        ek_tl_build_lut(m->xq, n, m->tl_lut);
        xq->tl_lut = m->tl_lut;
    }
}

/* y (w->rows) = (W x_q) / (s_x * s_w): exact int32 dot products, one float rescale. */
static void ternary_linear(ek_model *m, const ek_tensor *w, const ek_qvec *xq, float *y)
{
    const float denom = xq->scale * w->scale;
    uint32_t i;
    ek_ternary_matvec(w, xq, m->acc);
    for (i = 0; i < w->rows; i++)
        y[i] = (float)m->acc[i] / denom;
}

/* x (w->rows) += ternary_linear(w, xq): the residual add. */
static void ternary_linear_add(ek_model *m, const ek_tensor *w, const ek_qvec *xq, float *x)
{
    const float denom = xq->scale * w->scale;
    uint32_t i;
    ek_ternary_matvec(w, xq, m->acc);
    for (i = 0; i < w->rows; i++)
        x[i] += (float)m->acc[i] / denom;
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

ek_status ek_model_step(ek_model *m, uint32_t token, int want_logits)
{
    const ek_config *c = &m->config;
    const uint32_t dim = c->hidden_size, hidden_dim = c->intermediate_size, hd = c->head_dim;
    const uint32_t n_heads = c->num_heads, n_kv_heads = c->num_kv_heads;
    const uint32_t q_dim = n_heads * hd, kv_dim = n_kv_heads * hd;
    const uint32_t kv_mul = n_heads / n_kv_heads; /* query heads per kv head (GQA) */
    const uint32_t pos = m->pos, ctx = m->max_ctx;
    const float att_scale = 1.0f / sqrtf((float)hd);
    float *x = m->x;
    ek_tensor w, wq, wk, wv, wgate, wup;
    ek_qvec xq;
    uint32_t l, h, t, i;

    if (token >= c->vocab_size)
        return EK_ERR_BAD_TOKEN;
    if (pos >= ctx)
        return EK_ERR_CONTEXT_FULL;
    m->logits_valid = 0;

    /* x (dim) = tok_embeddings[token] */
    get_tensor(m, 0, &w);
    ek_float_row(&w, token, x);

    for (l = 0; l < c->num_layers; l++) {
        float *k_cache = m->key_cache + (size_t)l * ctx * kv_dim;   /* (ctx, kv_dim) of this layer */
        float *v_cache = m->value_cache + (size_t)l * ctx * kv_dim; /* (ctx, kv_dim) */
        float *k = k_cache + (size_t)pos * kv_dim;                  /* (kv_dim) row of this position */
        float *v = v_cache + (size_t)pos * kv_dim;                  /* (kv_dim) */

        /* --- attention --- */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_ATTN_NORM), &w); /* (dim) */
        rmsnorm(m->xb, x, &w, dim, c->rms_norm_eps);
        get_tensor(m, LAYER_SLOT(l, EK_KIND_Q), &wq); /* (q_dim, dim) */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_K), &wk); /* (kv_dim, dim) */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_V), &wv); /* (kv_dim, dim) */
        quantize_input(m, m->xb, dim,
                       wq.format == EK_FMT_TL || wk.format == EK_FMT_TL || wv.format == EK_FMT_TL, &xq);
        ternary_linear(m, &wq, &xq, m->q); /* q (q_dim) */
        ternary_linear(m, &wk, &xq, k);    /* k (kv_dim), straight into the cache */
        ternary_linear(m, &wv, &xq, v);    /* v (kv_dim) */
        rope(m->q, n_heads, hd, pos, m->rope_inv_freq);
        rope(k, n_kv_heads, hd, pos, m->rope_inv_freq);

        for (h = 0; h < n_heads; h++) {
            const float *qh = m->q + h * hd;                /* (hd) */
            const uint32_t kv_off = (h / kv_mul) * hd;      /* this head's kv head */
            float *out = m->xb + h * hd;                    /* (hd) attention output of head h */
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
        get_tensor(m, LAYER_SLOT(l, EK_KIND_ATTN_SUB_NORM), &w); /* (q_dim) */
        rmsnorm(m->xb, m->xb, &w, q_dim, c->rms_norm_eps);
        get_tensor(m, LAYER_SLOT(l, EK_KIND_O), &w); /* (dim, q_dim) */
        quantize_input(m, m->xb, q_dim, w.format == EK_FMT_TL, &xq);
        ternary_linear_add(m, &w, &xq, x); /* x (dim) += o(xb) */

        /* --- feed-forward --- */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_FFN_NORM), &w); /* (dim) */
        rmsnorm(m->xb, x, &w, dim, c->rms_norm_eps);
        get_tensor(m, LAYER_SLOT(l, EK_KIND_GATE), &wgate); /* (hidden_dim, dim) */
        get_tensor(m, LAYER_SLOT(l, EK_KIND_UP), &wup);     /* (hidden_dim, dim) */
        quantize_input(m, m->xb, dim, wgate.format == EK_FMT_TL || wup.format == EK_FMT_TL, &xq);
        ternary_linear(m, &wgate, &xq, m->hb); /* hb (hidden_dim) */
        ternary_linear(m, &wup, &xq, m->hb2);  /* hb2 (hidden_dim) */
        for (i = 0; i < hidden_dim; i++) {     /* relu(gate)^2 * up */
            const float g = m->hb[i] > 0.0f ? m->hb[i] : 0.0f;
            m->hb[i] = (g * g) * m->hb2[i];
        }
        get_tensor(m, LAYER_SLOT(l, EK_KIND_FFN_SUB_NORM), &w); /* (hidden_dim) */
        rmsnorm(m->hb, m->hb, &w, hidden_dim, c->rms_norm_eps);
        get_tensor(m, LAYER_SLOT(l, EK_KIND_DOWN), &w); /* (dim, hidden_dim) */
        quantize_input(m, m->hb, hidden_dim, w.format == EK_FMT_TL, &xq);
        ternary_linear_add(m, &w, &xq, x); /* x (dim) += down(hb) */

        if (m->hook)
            m->hook(m->hook_ctx, l);
    }
    m->pos = pos + 1u;

    if (want_logits) {
        get_tensor(m, EK_TENSOR_SLOTS(c->num_layers) - 2u, &w); /* norm (dim) */
        rmsnorm(m->xb, x, &w, dim, c->rms_norm_eps);
        get_tensor(m, EK_TENSOR_SLOTS(c->num_layers) - 1u, &w); /* lm_head (vocab, dim), maybe tied */
        ek_float_matvec(&w, m->xb, m->logits);                  /* logits (vocab) */
        m->logits_valid = 1;
        if (m->hook)
            m->hook(m->hook_ctx, c->num_layers);
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

void ek_model_set_layer_hook(ek_model *m, ek_layer_hook hook, void *ctx)
{
    m->hook = hook;
    m->hook_ctx = ctx;
}
