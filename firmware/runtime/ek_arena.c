/* ek_arena.c — lay the arena out from the generated table (ek_arena_layout.h, from edgekit/plan/arena.py). */
#define EK_ARENA_DEFINE_LAYOUT
#include "ek_arena.h"

const char *const ek_arena_buffer_names[EK_BUF_COUNT] = EK_ARENA_BUFFER_NAMES;
static const uint32_t buffer_align[EK_BUF_COUNT] = EK_ARENA_BUFFER_ALIGNS;
const int ek_prefill_chunk_buffers[EK_PREFILL_CHUNK_BUFFER_COUNT] = EK_PREFILL_CHUNK_BUFFERS;

ek_status ek_arena_layout_compute(const ek_config *c, uint32_t max_ctx, uint32_t ternary_formats,
                                  ek_arena_layout *out)
{
    uint64_t size[EK_BUF_COUNT], cursor = 0;
    int b;

    ek_arena_buffer_sizes(c, max_ctx, ternary_formats, size);
    for (b = 0; b < EK_BUF_COUNT; b++) {
        const uint64_t align = buffer_align[b];
        cursor = (cursor + align - 1u) / align * align;
        out->buf[b].offset = (size_t)cursor;
        out->buf[b].size = (size_t)size[b];
        out->buf[b].align = buffer_align[b];
        cursor += size[b];
        if (cursor > (uint64_t)(size_t)-1 - EK_ARENA_ALIGN) /* keep every offset inside size_t */
            return EK_ERR_BAD_ARGUMENT;
    }
    out->size_bytes = (size_t)((cursor + EK_ARENA_ALIGN - 1u) / EK_ARENA_ALIGN * EK_ARENA_ALIGN);
    return EK_OK;
}

size_t ek_arena_prefill_scratch(const ek_arena_layout *layout, uint32_t chunk, size_t record_bytes,
                                size_t off[EK_PREFILL_CHUNK_BUFFER_COUNT + 1u])
{
    size_t cursor = 0;
    unsigned k;
    for (k = 0; k <= EK_PREFILL_CHUNK_BUFFER_COUNT; k++) {
        cursor = (cursor + EK_ARENA_ALIGN - 1u) / EK_ARENA_ALIGN * EK_ARENA_ALIGN;
        if (off != NULL)
            off[k] = cursor;
        cursor += (size_t)chunk * (k < EK_PREFILL_CHUNK_BUFFER_COUNT
                                       ? layout->buf[ek_prefill_chunk_buffers[k]].size : record_bytes);
    }
    return cursor;
}
