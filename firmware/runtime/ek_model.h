/* ek_model.h — run a BitNet b1.58 model from .ekm image parts, exactly like the numpy reference.
 *
 * Usage (no malloc: the arena and the image parts come from the port):
 *
 *   static ek_model model;
 *   size_t need = ek_model_arena_size(parts, sizes, n_parts, max_ctx);    // 0: the image is invalid
 *   ek_status st = ek_model_open(&model, parts, sizes, n_parts, max_ctx, arena, arena_size,
 *                                EK_VERIFY_PAYLOAD_CRC);
 *   for (i = 0; i < n_prompt; i++)                                         // prefill
 *       st = ek_model_step(&model, prompt[i], i == n_prompt - 1);          // logits only where needed
 *   next = ek_sample(ek_model_logits(&model), ek_model_config(&model)->vocab_size, &params, &rng,
 *                    ek_model_sampler_idx(&model), ek_model_sampler_p(&model));
 *   ek_model_reset(&model);                                                // new conversation
 *
 * Every function returning ek_status leaves the model unchanged on error, except ek_model_open.
 */
#ifndef EK_MODEL_H
#define EK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ek_arena.h"
#include "ek_image.h"
#include "ek_kernels.h"
#include "ek_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded model. Fields are read through the accessors below; treat them as private. */
typedef struct {
    ek_config config;
    ek_image_part parts[EK_MAX_PARTS];
    unsigned n_parts;
    uint32_t max_ctx; /* KV-cache capacity in positions */
    uint32_t pos;     /* position the next ek_model_step writes */
    ek_arena_layout layout;
    uint8_t *arena;
    /* views into the arena; shapes with dim = hidden_size, hidden_dim = intermediate_size */
    const uint32_t *directory; /* (EK_TENSOR_SLOTS(layers)) tensor slot -> image ref */
    float *key_cache;          /* (layers, max_ctx, kv_dim) */
    float *value_cache;        /* (layers, max_ctx, kv_dim) */
    float *x;                  /* (dim) residual stream */
    float *xb;                 /* (max(dim, q_dim)) */
    float *q;                  /* (q_dim) */
    float *hb;                 /* (hidden_dim) */
    float *hb2;                /* (hidden_dim) */
    float *att;                /* (max_ctx) */
    float *rope_inv_freq;      /* (head_dim / 2) */
    int8_t *xq;                /* (EK_XQ_PAD(max(dim, q_dim, hidden_dim))) */
    int32_t *acc;              /* (max(q_dim, kv_dim, hidden_dim, dim)) */
    int16_t *tl_lut;           /* (EK_TL_LUT_ENTRIES(max(dim, q_dim, hidden_dim))) or NULL */
    float *logits;             /* (vocab) */
    uint32_t *sampler_idx;     /* (vocab) */
    float *sampler_p;          /* (vocab) */
    int logits_valid;          /* the last step computed logits */
    uint8_t *scratch;          /* chunked prefill buffers from the port, or NULL (ek_model_set_prefill_scratch) */
    size_t scratch_size;
    uint32_t chunk;            /* tokens per prefill chunk (1: token by token) */
} ek_model;

/* EK_PREFILL_MAX_CHUNK, the most prompt tokens one prefill chunk carries (each weight is read once per chunk):
 * ek_arena_layout.h, from edgekit/plan/arena.py. */

/* Arena bytes ek_model_open needs for these parts and context (checks headers and tables, not payloads).
 * 0 if the parts do not check out or the sizes overflow. max_ctx 0 means the model's max_seq_len. */
size_t ek_model_arena_size(const uint8_t *const parts[], const size_t sizes[], unsigned n_parts,
                           uint32_t max_ctx);

/* Slots of the tensor directory ek_model_check_sections needs (EK_TENSOR_SLOTS of the parts' layer count),
 * from the headers alone (checked); 0 if the parts do not check out. */
uint32_t ek_model_directory_slots(const uint8_t *const parts[], const size_t sizes[], unsigned n_parts);

/* Every check ek_model_open makes on the images, without an arena: headers, config, parts and every section
 * (kind, layer, format, bounds, shape, ternary scale, the integer heads' values, and payload CRCs when verify_crc).
 * directory is scratch of ek_model_directory_slots() uint32. A host with a heap runs this before sizing an arena
 * from a header, so a lying section table is refused before anything proportional to the header is allocated. */
ek_status ek_model_check_sections(const uint8_t *const parts[], const size_t sizes[], unsigned n_parts,
                                  int verify_crc, uint32_t *directory);

/* Validate the image parts (all of them, see ek_image.h), lay out the arena (64-byte aligned, at least
 * ek_model_arena_size bytes) and start with an empty KV cache. max_ctx 0 means the model's max_seq_len;
 * more than max_seq_len is EK_ERR_BAD_ARGUMENT. verify_crc: check every section's payload CRC
 * (EK_VERIFY_PAYLOAD_CRC is the default). */
ek_status ek_model_open(ek_model *m, const uint8_t *const parts[], const size_t sizes[], unsigned n_parts,
                        uint32_t max_ctx, uint8_t *arena, size_t arena_size, int verify_crc);

/* Empty the KV cache: the next step is position 0. */
void ek_model_reset(ek_model *m);

/* Run token at position m->pos, store its k/v, then pos++. want_logits 0 skips the final norm and
 * lm_head (prompt positions whose logits nobody reads). EK_ERR_CONTEXT_FULL when pos == max_ctx,
 * EK_ERR_BAD_TOKEN when token >= vocab. */
ek_status ek_model_step(ek_model *m, uint32_t token, int want_logits);

/* Run tokens[0..n) at positions pos.. like n steps (logits of the last one if want_logits; the same logits
 * and KV cache bit for bit), in chunks that read each weight once for the whole chunk when the port gave
 * scratch memory. Without scratch (the MCU ports: everything lives in the planned arena) it is n steps. */
ek_status ek_model_prefill(ek_model *m, const uint32_t *tokens, uint32_t n, int want_logits);

/* Scratch bytes a prefill chunk of `chunk` tokens of this (opened) model needs: `chunk` rows of each
 * single-token arena buffer the forward pass writes (0 for chunk < 2). The port allocates it once at
 * start-up; ek_model_set_prefill_scratch picks the largest chunk (a power of two <= EK_PREFILL_MAX_CHUNK)
 * that fits. Survives ek_model_reset. */
size_t ek_model_prefill_scratch_size(const ek_model *m, uint32_t chunk);
void ek_model_set_prefill_scratch(ek_model *m, uint8_t *scratch, size_t size);
uint32_t ek_model_prefill_chunk(const ek_model *m);

/* (vocab) logits of the last step run with want_logits; NULL if it skipped them. */
const float *ek_model_logits(const ek_model *m);

const ek_config *ek_model_config(const ek_model *m);
uint32_t ek_model_pos(const ek_model *m);
uint32_t ek_model_max_ctx(const ek_model *m);
const uint8_t *ek_model_hash(const ek_model *m);           /* (32) sha256 identifying model + packing */
const uint8_t *ek_model_tokenizer_hash(const ek_model *m); /* (32) sha256 of tokenizer.json */
size_t ek_model_arena_used(const ek_model *m);

/* Sampler scratch in the arena, (vocab) each; for ek_sample(). */
uint32_t *ek_model_sampler_idx(ek_model *m);
float *ek_model_sampler_p(ek_model *m);

#ifdef __cplusplus
}
#endif
#endif /* EK_MODEL_H */
