/* ek_arena.c — the arena layout. Mirrored line for line by edgekit/plan/arena.py: change both together. */
#include "ek_arena.h"

const char *const ek_arena_buffer_names[EK_BUF_COUNT] = {
    "directory", "key_cache", "value_cache", "x", "xb", "q", "hb", "hb2", "att", "rope",
    "xq", "acc", "tl_lut", "logits", "sampler_idx", "sampler_p",
};

static uint64_t max2(uint64_t a, uint64_t b) { return a > b ? a : b; }

ek_status ek_arena_layout_compute(const ek_config *c, uint32_t max_ctx, uint32_t ternary_formats,
                                  ek_arena_layout *out)
{
    const uint64_t dim = c->hidden_size, hidden = c->intermediate_size, layers = c->num_layers;
    const uint64_t q_dim = (uint64_t)c->num_heads * c->head_dim;
    const uint64_t kv_dim = (uint64_t)c->num_kv_heads * c->head_dim;
    const uint64_t max_in = max2(max2(dim, q_dim), hidden); /* longest input of a ternary linear */
    const uint64_t max_out = max2(max2(q_dim, kv_dim), max2(hidden, dim));
    const uint64_t kv_bytes = 4u * layers * max_ctx * kv_dim;
    uint64_t size[EK_BUF_COUNT], align[EK_BUF_COUNT], cursor = 0;
    int b;

    size[EK_BUF_DIRECTORY] = 4u * (uint64_t)EK_TENSOR_SLOTS(c->num_layers);  align[EK_BUF_DIRECTORY] = 16;
    size[EK_BUF_KEY_CACHE] = kv_bytes;                                      align[EK_BUF_KEY_CACHE] = 64;
    size[EK_BUF_VALUE_CACHE] = kv_bytes;                                    align[EK_BUF_VALUE_CACHE] = 64;
    size[EK_BUF_X] = 4u * dim;                                              align[EK_BUF_X] = 16;
    size[EK_BUF_XB] = 4u * max2(dim, q_dim);                                align[EK_BUF_XB] = 16;
    size[EK_BUF_Q] = 4u * q_dim;                                            align[EK_BUF_Q] = 16;
    size[EK_BUF_HB] = 4u * hidden;                                          align[EK_BUF_HB] = 16;
    size[EK_BUF_HB2] = 4u * hidden;                                         align[EK_BUF_HB2] = 16;
    size[EK_BUF_ATT] = 4u * (uint64_t)max_ctx;                              align[EK_BUF_ATT] = 16;
    size[EK_BUF_ROPE] = 4u * (uint64_t)(c->head_dim / 2u);                  align[EK_BUF_ROPE] = 16;
    size[EK_BUF_XQ] = (max_in + 127u) / 128u * 128u;                        align[EK_BUF_XQ] = 64;
    size[EK_BUF_ACC] = 4u * max_out;                                        align[EK_BUF_ACC] = 64;
    size[EK_BUF_TL_LUT] = (ternary_formats & (1u << EK_FMT_TL)) ? 2u * ((max_in + 1u) / 2u * 9u) : 0u;
    align[EK_BUF_TL_LUT] = 64;
    size[EK_BUF_LOGITS] = 4u * (uint64_t)c->vocab_size;                     align[EK_BUF_LOGITS] = 16;
    size[EK_BUF_SAMPLER_IDX] = 4u * (uint64_t)c->vocab_size;                align[EK_BUF_SAMPLER_IDX] = 16;
    size[EK_BUF_SAMPLER_P] = 4u * (uint64_t)c->vocab_size;                  align[EK_BUF_SAMPLER_P] = 16;

    for (b = 0; b < EK_BUF_COUNT; b++) {
        cursor = (cursor + align[b] - 1u) / align[b] * align[b];
        out->buf[b].offset = (size_t)cursor;
        out->buf[b].size = (size_t)size[b];
        out->buf[b].align = (uint32_t)align[b];
        cursor += size[b];
        if (cursor > (uint64_t)(size_t)-1 - EK_ARENA_ALIGN) /* keep every offset inside size_t */
            return EK_ERR_BAD_ARGUMENT;
    }
    out->size_bytes = (size_t)((cursor + EK_ARENA_ALIGN - 1u) / EK_ARENA_ALIGN * EK_ARENA_ALIGN);
    return EK_OK;
}
