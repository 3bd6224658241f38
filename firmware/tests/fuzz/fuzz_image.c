/* fuzz_image.c — libFuzzer harness for the .ekm image validator: exactly what a device checks before it
 * runs (ek_image_open_part, ek_image_check_parts, ek_model_directory_slots, ek_model_check_sections in
 * firmware/runtime/ek_image.c and ek_model.c), then ek_model_open, forward steps and a chunked prefill on
 * whatever passed.
 *
 * The input is one image or several parts back to back: a part ends where its header's image_size says
 * (the last takes the rest). Each part is copied into its own exact-size heap buffer so AddressSanitizer
 * sees any read past it. Every input runs twice: as given (the CRC checks reject most mutations, which is
 * the device's real first line), then with the header, table and payload CRCs recomputed, so the fuzzer
 * reaches the checks behind them without having to forge CRC32s.
 *
 * Checked besides memory safety: the three entry points agree (slots only for parts that open; an image
 * whose sections check out opens and steps); every directory entry names a section inside its part; the
 * chunked prefill's logits equal the step-by-step ones bit for bit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_crc32.h"
#include "ek_model.h"

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz_image: property failed at line %d: %s\n", __LINE__, #cond);   \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

#define HDR(field) offsetof(ek_image_header, field)
#define ENT(field) offsetof(ek_section_entry, field)
#define MAX_INPUT_PARTS (EK_MAX_PARTS + 1u) /* one more than a model may have: the limit is checked too */
#define MAX_CTX 4u                          /* KV positions for the forward steps: small and fast */
#define MAX_ARENA (32u << 20)

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Recompute every CRC a part carries, where the fields locating it are in range. Returns 1 if any changed. */
static int fix_crcs(uint8_t *p, size_t size)
{
    uint32_t count, i, crc;
    uint64_t table_end;
    int changed = 0;
    if (size < EK_IMAGE_HEADER_SIZE)
        return 0;
    count = rd32(p + HDR(section_count));
    table_end = EK_IMAGE_HEADER_SIZE + (uint64_t)count * EK_IMAGE_ENTRY_SIZE;
    if (count <= 65535u && table_end <= size) {
        for (i = 0; i < count; i++) {
            uint8_t *e = p + EK_IMAGE_HEADER_SIZE + (size_t)i * EK_IMAGE_ENTRY_SIZE;
            const uint64_t off = rd64(e + ENT(offset)), n = rd64(e + ENT(size));
            if (off <= size && n <= size - off && (crc = ek_crc32(p + off, (size_t)n)) != rd32(e + ENT(crc))) {
                wr32(e + ENT(crc), crc);
                changed = 1;
            }
        }
        crc = ek_crc32(p + EK_IMAGE_HEADER_SIZE, (size_t)(table_end - EK_IMAGE_HEADER_SIZE));
        if (crc != rd32(p + HDR(table_crc))) {
            wr32(p + HDR(table_crc), crc);
            changed = 1;
        }
    }
    {
        uint8_t header[EK_IMAGE_HEADER_SIZE];
        memcpy(header, p, sizeof header);
        wr32(header + HDR(header_crc), 0);
        crc = ek_crc32(header, sizeof header);
        if (crc != rd32(p + HDR(header_crc))) {
            wr32(p + HDR(header_crc), crc);
            changed = 1;
        }
    }
    return changed;
}

/* Everything the device does with these parts, with the cross-checks above. */
static void validate(const uint8_t *const parts[], const size_t sizes[], unsigned n)
{
    static ek_model model;
    ek_image_part opened[MAX_INPUT_PARTS];
    int all_open = 1;
    uint32_t slots, *directory, i;
    ek_status st;
    size_t arena_size;
    unsigned k;

    for (k = 0; k < n; k++)
        if (ek_image_open_part(parts[k], sizes[k], &opened[k]) != EK_OK)
            all_open = 0;
    if (all_open && n <= EK_MAX_PARTS)
        (void)ek_image_check_parts(opened, n);

    slots = ek_model_directory_slots(parts, sizes, n);
    if (slots == 0)
        return;
    CHECK(all_open && n <= EK_MAX_PARTS && ek_image_check_parts(opened, n) == EK_OK);
    CHECK(slots == EK_TENSOR_SLOTS(opened[0].config.num_layers));
    directory = (uint32_t *)malloc((size_t)slots * sizeof *directory);
    CHECK(directory != NULL);
    st = ek_model_check_sections(parts, sizes, n, 1, directory);
    if (st == EK_OK) {
        for (i = 0; i < slots; i++) {
            const uint32_t p = directory[i] >> 16, s = directory[i] & 0xFFFFu;
            ek_tensor t;
            CHECK(p < n && s < opened[p].section_count);
            ek_image_tensor(opened, directory[i], &t);
            CHECK(t.data >= parts[p] && t.data <= parts[p] + sizes[p]);
            CHECK(ek_format_packed_size(t.format, t.rows, t.cols) <= (uint64_t)(parts[p] + sizes[p] - t.data));
        }
    }
    free(directory);
    if (st != EK_OK)
        return;

    /* the sections checked out: the model must open and run (NaN logits are fine, memory errors are not),
     * and a chunked prefill must give the step-by-step logits bit for bit (ek_model_prefill's promise) */
    {
        const uint32_t ctx = opened[0].config.max_seq_len < MAX_CTX ? opened[0].config.max_seq_len : MAX_CTX;
        const uint32_t vocab = opened[0].config.vocab_size;
        uint32_t tokens[MAX_CTX];
        uint8_t *mem, *arena, *scratch;
        float *stepped;
        size_t scratch_size;
        arena_size = ek_model_arena_size(parts, sizes, n, ctx);
        CHECK(arena_size > 0);
        if (arena_size > MAX_ARENA)
            return;
        mem = (uint8_t *)malloc(arena_size + EK_ARENA_ALIGN);
        stepped = (float *)malloc((size_t)vocab * sizeof *stepped);
        CHECK(mem != NULL && stepped != NULL);
        arena = mem + (EK_ARENA_ALIGN - (uintptr_t)mem % EK_ARENA_ALIGN) % EK_ARENA_ALIGN;
        CHECK(ek_model_open(&model, parts, sizes, n, ctx, arena, arena_size, 1) == EK_OK);
        CHECK(ek_model_step(&model, vocab, 1) == EK_ERR_BAD_TOKEN);
        for (i = 0; i < ctx; i++)
            tokens[i] = (i * 7919u + (i == 1 ? vocab - 1u : 0u)) % vocab; /* first and last ids included */
        for (i = 0; i < ctx; i++)
            CHECK(ek_model_step(&model, tokens[i], i + 1u == ctx) == EK_OK);
        CHECK(ek_model_step(&model, 0, 1) == EK_ERR_CONTEXT_FULL);
        memcpy(stepped, ek_model_logits(&model), (size_t)vocab * sizeof *stepped);

        scratch_size = ek_model_prefill_scratch_size(&model, MAX_CTX);
        scratch = (uint8_t *)malloc(scratch_size ? scratch_size : 1);
        CHECK(scratch != NULL);
        ek_model_set_prefill_scratch(&model, scratch, scratch_size);
        ek_model_reset(&model);
        CHECK(ek_model_prefill(&model, tokens, ctx, 1) == EK_OK);
        CHECK(memcmp(stepped, ek_model_logits(&model), (size_t)vocab * sizeof *stepped) == 0);
        free(scratch);
        free(stepped);
        free(mem);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copies[MAX_INPUT_PARTS];
    size_t sizes[MAX_INPUT_PARTS], pos = 0;
    unsigned n = 0, k;
    int changed = 0;

    /* split into parts at each header's image_size (rounded up to 4: parts start 4-byte aligned) */
    while (pos < size && n < MAX_INPUT_PARTS) {
        size_t len = size - pos;
        if (len >= EK_IMAGE_HEADER_SIZE && n + 1 < MAX_INPUT_PARTS) {
            const uint64_t image_size = rd64(data + pos + HDR(image_size));
            if (image_size >= EK_IMAGE_HEADER_SIZE && image_size <= len)
                len = (size_t)image_size;
        }
        copies[n] = (uint8_t *)malloc(len ? len : 1);
        CHECK(copies[n] != NULL);
        memcpy(copies[n], data + pos, len);
        sizes[n] = len;
        pos += (len + 3u) & ~(size_t)3u;
        n++;
    }
    if (n == 0)
        return 0;

    validate((const uint8_t *const *)copies, sizes, n);
    for (k = 0; k < n; k++)
        changed |= fix_crcs(copies[k], sizes[k]);
    if (changed)
        validate((const uint8_t *const *)copies, sizes, n);

    for (k = 0; k < n; k++)
        free(copies[k]);
    return 0;
}
