/* ek_arena.h — the one working arena: where every runtime buffer lives (no malloc).
 *
 * The layout is a pure function of (config, max_ctx, ternary formats used), computed identically here and
 * in edgekit/plan/arena.py (the planner sizes the arena on the host; tests/test_c_arena.py compares both).
 * Buffers are placed in enum order, each at the next multiple of its alignment, offsets from the arena
 * start; the arena itself must be 64-byte aligned.
 */
#ifndef EK_ARENA_H
#define EK_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "ek_image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EK_ARENA_ALIGN 64u /* alignment of the arena start and of SIMD-read buffers */

typedef enum {
    EK_BUF_DIRECTORY,   /* uint32 (EK_TENSOR_SLOTS(layers)) slot -> image ref */
    EK_BUF_KEY_CACHE,   /* f32 (layers, max_ctx, kv_dim) */
    EK_BUF_VALUE_CACHE, /* f32 (layers, max_ctx, kv_dim) */
    EK_BUF_X,           /* f32 (dim) residual stream */
    EK_BUF_XB,          /* f32 (max(dim, q_dim)) normed input, then attention output */
    EK_BUF_Q,           /* f32 (q_dim) query */
    EK_BUF_HB,          /* f32 (hidden_dim) gate, then relu(gate)^2 * up */
    EK_BUF_HB2,         /* f32 (hidden_dim) up */
    EK_BUF_ATT,         /* f32 (max_ctx) scores of one head */
    EK_BUF_ROPE,        /* f32 (head_dim / 2) RoPE inverse frequencies */
    EK_BUF_XQ,          /* int8 (EK_XQ_PAD(max(dim, q_dim, hidden_dim))) quantised input */
    EK_BUF_ACC,         /* int32 (max(q_dim, kv_dim, hidden_dim, dim)) ternary accumulators */
    EK_BUF_TL_LUT,      /* int16 (EK_TL_LUT_ENTRIES(max(dim, q_dim, hidden_dim))) tl pair sums; 0 if no tl */
    EK_BUF_LOGITS,      /* f32 (vocab) */
    EK_BUF_SAMPLER_IDX, /* uint32 (vocab) sampler candidate order */
    EK_BUF_SAMPLER_P,   /* f32 (vocab) sampler probabilities */
    EK_BUF_COUNT
} ek_arena_buffer;

typedef struct {
    size_t offset; /* bytes from the arena start */
    size_t size;   /* bytes */
    uint32_t align;
} ek_arena_slot;

typedef struct {
    ek_arena_slot buf[EK_BUF_COUNT];
    size_t size_bytes; /* total, a multiple of EK_ARENA_ALIGN */
} ek_arena_layout;

extern const char *const ek_arena_buffer_names[EK_BUF_COUNT]; /* "directory", "key_cache", ... */

/* Fill *out. ternary_formats: bit (1 << ek_format) per ternary format used. Returns EK_OK, or
 * EK_ERR_BAD_ARGUMENT if the sizes overflow size_t (a 32-bit MCU given a desktop-sized model). */
ek_status ek_arena_layout_compute(const ek_config *config, uint32_t max_ctx, uint32_t ternary_formats,
                                  ek_arena_layout *out);

#ifdef __cplusplus
}
#endif
#endif /* EK_ARENA_H */
