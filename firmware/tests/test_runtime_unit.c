/* Unit tests of the runtime: RNG and sampler vectors (shared with edgekit/reference/sampler.py), arena
 * layout invariants, tensor slots, and the image reader on garbage. */
#include <string.h>

#include "ek_arena.h"
#include "ek_image.h"
#include "ek_sampler.h"
#include "ek_test.h"

void test_rng(void)
{
    ek_rng r;
    ek_rng_seed(&r, 0); /* seed 0 means 0x9E3779B97F4A7C15; values from the Python mirror */
    EK_CHECK(ek_rng_next_u32(&r) == 0x0d83b3e2u);
    EK_CHECK(ek_rng_next_u32(&r) == 0x54c44c79u);
    EK_CHECK(ek_rng_next_u32(&r) == 0xa845f342u);
    ek_rng_seed(&r, 42);
    EK_CHECK(ek_rng_next_u32(&r) == 0x56ce4ab7u);
    EK_CHECK(ek_rng_next_u32(&r) == 0xc841eb53u);
    ek_rng_seed(&r, 7);
    EK_CHECK(ek_rng_uniform(&r) == 0.8202466368675232f);
    EK_CHECK(ek_rng_uniform(&r) == 0.9282901287078857f);
}

static void draws(const ek_sampler_params *sp, uint64_t seed, const uint32_t *want, size_t n)
{
    static const float logits[6] = {1.0f, 3.0f, 3.0f, -2.0f, 0.5f, 3.0f};
    uint32_t idx[6];
    float p[6];
    ek_rng r;
    size_t i;
    ek_rng_seed(&r, seed);
    for (i = 0; i < n; i++)
        EK_CHECK(ek_sample(logits, 6, sp, &r, idx, p) == want[i]);
}

void test_sampler(void)
{
    /* expected draws: edgekit.reference.sampler.Sampler with the same logits, parameters and seeds */
    static const uint32_t top_k2[12] = {1, 2, 2, 1, 1, 1, 1, 1, 2, 2, 2, 1};
    static const uint32_t top_p05[12] = {2, 1, 2, 2, 2, 1, 2, 1, 1, 2, 2, 1};
    static const uint32_t plain[12] = {5, 5, 1, 2, 4, 1, 5, 4, 1, 1, 2, 0};
    static const float tied[4] = {0.5f, 2.0f, 2.0f, 1.0f};
    ek_sampler_params sp = {0.8f, 2u, 0.0f};
    uint32_t idx[4];
    float p[4];
    ek_rng r;
    uint64_t state;
    draws(&sp, 5, top_k2, 12);
    sp.temperature = 1.0f, sp.top_k = 0u, sp.top_p = 0.5f;
    draws(&sp, 9, top_p05, 12);
    sp.temperature = 1.5f, sp.top_k = 0u, sp.top_p = 1.0f;
    draws(&sp, 11, plain, 12);

    /* greedy: first maximum, and the RNG is not touched */
    sp.temperature = 0.0f;
    ek_rng_seed(&r, 3);
    state = r.state;
    EK_CHECK(ek_sample(tied, 4, &sp, &r, idx, p) == 1);
    EK_CHECK(r.state == state);
    /* top_k 1 at any temperature is the first maximum too */
    sp.temperature = 2.0f, sp.top_k = 1u, sp.top_p = 0.0f;
    EK_CHECK(ek_sample(tied, 4, &sp, &r, idx, p) == 1);
}

void test_arena_layout(void)
{
    ek_config c;
    ek_arena_layout a, b;
    int i;
    memset(&c, 0, sizeof c);
    c.vocab_size = 1000, c.hidden_size = 200, c.intermediate_size = 300, c.num_layers = 3;
    c.num_heads = 4, c.num_kv_heads = 2, c.head_dim = 50, c.max_seq_len = 77;
    EK_CHECK(ek_arena_layout_compute(&c, 77, 1u << EK_FMT_I2, &a) == EK_OK);
    EK_CHECK(a.size_bytes % EK_ARENA_ALIGN == 0);
    for (i = 0; i < EK_BUF_COUNT; i++) {
        EK_CHECK(a.buf[i].offset % a.buf[i].align == 0);
        EK_CHECK(i == 0 || a.buf[i].offset >= a.buf[i - 1].offset + a.buf[i - 1].size); /* no overlap */
    }
    EK_CHECK(a.buf[EK_BUF_KEY_CACHE].size == 4u * 3u * 77u * 100u);
    EK_CHECK(a.buf[EK_BUF_XQ].size == 384u); /* max(200, 200, 300) padded to 128 */
    EK_CHECK(a.buf[EK_BUF_TL_LUT].size == 0u);
    EK_CHECK(ek_arena_layout_compute(&c, 77, (1u << EK_FMT_I2) | (1u << EK_FMT_TL), &b) == EK_OK);
    EK_CHECK(b.buf[EK_BUF_TL_LUT].size == 2u * 150u * 9u && b.size_bytes > a.size_bytes);
    c.num_layers = 60000, c.num_kv_heads = 4, c.head_dim = 1u << 14; /* overflows a 32-bit size_t */
    if (sizeof(size_t) == 4)
        EK_CHECK(ek_arena_layout_compute(&c, 1u << 16, 0, &a) == EK_ERR_BAD_ARGUMENT);
}

void test_image_slots(void)
{
    EK_CHECK(ek_image_slot(EK_KIND_TOK_EMBEDDINGS, EK_IMAGE_GLOBAL_LAYER, 2) == 0);
    EK_CHECK(ek_image_slot(EK_KIND_ATTN_NORM, 0, 2) == 1);
    EK_CHECK(ek_image_slot(EK_KIND_DOWN, 0, 2) == 11);
    EK_CHECK(ek_image_slot(EK_KIND_ATTN_NORM, 1, 2) == 12);
    EK_CHECK(ek_image_slot(EK_KIND_NORM, EK_IMAGE_GLOBAL_LAYER, 2) == 23);
    EK_CHECK(ek_image_slot(EK_KIND_LM_HEAD, EK_IMAGE_GLOBAL_LAYER, 2) == 24);
    EK_CHECK(EK_TENSOR_SLOTS(2) == 25);
    EK_CHECK(ek_image_slot(EK_KIND_Q, 2, 2) == EK_NO_REF);                     /* layer out of range */
    EK_CHECK(ek_image_slot(EK_KIND_NORM, 0, 2) == EK_NO_REF);                  /* global kind, layer given */
    EK_CHECK(ek_image_slot(EK_KIND_Q, EK_IMAGE_GLOBAL_LAYER, 2) == EK_NO_REF); /* layer kind, no layer */
    EK_CHECK(ek_image_slot(4, EK_IMAGE_GLOBAL_LAYER, 2) == EK_NO_REF);         /* unknown kind */
}

void test_image_rejects_garbage(void)
{
    static uint32_t words[128]; /* 512 bytes, 4-byte aligned */
    uint8_t *buf = (uint8_t *)words;
    ek_image_part part;
    memset(words, 0, sizeof words);
    EK_CHECK(ek_image_open_part(NULL, 0, &part) == EK_ERR_BAD_ARGUMENT);
    EK_CHECK(ek_image_open_part(buf, 100, &part) == EK_ERR_IMAGE_TRUNCATED);
    EK_CHECK(ek_image_open_part(buf, sizeof words, &part) == EK_ERR_IMAGE_MAGIC);
    memcpy(buf, "EKMG", 4);
    EK_CHECK(ek_image_open_part(buf, sizeof words, &part) == EK_ERR_IMAGE_VERSION);
    buf[4] = 1; /* version 1.0, but the header CRC is 0 */
    EK_CHECK(ek_image_open_part(buf, sizeof words, &part) == EK_ERR_IMAGE_HEADER_CRC);
}
