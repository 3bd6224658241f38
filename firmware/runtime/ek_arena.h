/* ek_arena.h — the one working arena: where every runtime buffer lives (no malloc).
 *
 * The layout is a pure function of (config, max_ctx, ternary formats used). Its table lives in
 * edgekit/plan/arena.py (the planner sizes the arena on the host from it) and is generated into
 * ek_arena_layout.h; tests/test_c_arena.py checks the header is fresh and compares both sides.
 * Buffers are placed in enum order, each at the next multiple of its alignment, offsets from the arena
 * start; the arena itself must be EK_ARENA_ALIGN-aligned.
 */
#ifndef EK_ARENA_H
#define EK_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "ek_arena_layout.h"
#include "ek_image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* EK_ARENA_ALIGN and the buffer enum (EK_BUF_*): generated from edgekit/plan/arena.py. */

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

/* The buffers a chunked prefill keeps one row of per token (EK_PREFILL_CHUNK_BUFFERS, from edgekit/plan/arena.py). */
extern const int ek_prefill_chunk_buffers[EK_PREFILL_CHUNK_BUFFER_COUNT];

/* Bytes of the parts of a chunked prefill's scratch for `chunk` tokens: chunk rows of each
 * ek_prefill_chunk_buffers buffer, then chunk records of record_bytes, each part EK_ARENA_ALIGN-aligned from
 * the scratch start; off (may be NULL) gets each part's offset (edgekit/plan/arena.py prefill_scratch_bytes). */
size_t ek_arena_prefill_scratch(const ek_arena_layout *layout, uint32_t chunk, size_t record_bytes,
                                size_t off[EK_PREFILL_CHUNK_BUFFER_COUNT + 1u]);

#ifdef __cplusplus
}
#endif
#endif /* EK_ARENA_H */
