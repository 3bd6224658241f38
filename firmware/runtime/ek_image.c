/* ek_image.c — validate .ekm image parts and index their sections, reading every field with byte loads.
 *
 * Check order per part follows edgekit/pack/image.py's parse_image, so host and device name the same
 * first problem: size, magic, version, header CRC, header sizes, image size, section count, part index,
 * table CRC, config; then per section: kind/layer, format, bounds/alignment, size for the format, payload
 * CRC, shape against the config; then across parts: agreement and completeness.
 */
#include <string.h>

#include "ek_crc32.h"
#include "ek_image.h"

#define HDR(field) offsetof(ek_image_header, field)
#define ENT(field) offsetof(ek_section_entry, field)


static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }
static float rdf32(const uint8_t *p)
{
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static int finite_positive(float f) { return f > 0.0f && f <= 3.402823466e38f; } /* false for NaN/inf */
static uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1u) / a * a; }

uint32_t ek_image_slot(uint32_t kind, uint32_t layer, uint32_t num_layers)
{
    switch (kind) {
    case EK_KIND_TOK_EMBEDDINGS:
        return layer == EK_IMAGE_GLOBAL_LAYER ? 0u : EK_NO_REF;
    case EK_KIND_NORM:
        return layer == EK_IMAGE_GLOBAL_LAYER ? EK_LAYER_TENSORS * num_layers + 1u : EK_NO_REF;
    case EK_KIND_LM_HEAD:
        return layer == EK_IMAGE_GLOBAL_LAYER ? EK_LAYER_TENSORS * num_layers + 2u : EK_NO_REF;
    default:
        /* per-layer kinds are numbered attn_norm (10) .. down (20) in image order */
        if (kind >= EK_KIND_ATTN_NORM && kind <= EK_KIND_DOWN && layer < num_layers)
            return 1u + EK_LAYER_TENSORS * layer + (kind - EK_KIND_ATTN_NORM);
        return EK_NO_REF;
    }
}

static ek_status check_config(const ek_config *c)
{
    const uint32_t dims[] = {c->vocab_size, c->hidden_size, c->intermediate_size, c->num_heads,
                             c->num_kv_heads, c->head_dim, c->max_seq_len};
    size_t i;
    for (i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i] == 0 || dims[i] > EK_CONFIG_MAX_DIM) /* limits shared with the host: ek_spec.h */
            return EK_ERR_IMAGE_CONFIG;
    if (c->num_layers == 0 || c->num_layers > EK_CONFIG_MAX_LAYERS)
        return EK_ERR_IMAGE_CONFIG;
    if (c->num_heads % c->num_kv_heads != 0 || c->head_dim % 2u != 0)
        return EK_ERR_IMAGE_CONFIG;
    if ((uint64_t)c->num_heads * c->head_dim > EK_CONFIG_MAX_DIM)
        return EK_ERR_IMAGE_CONFIG;
    if (!finite_positive(c->rms_norm_eps) || !finite_positive(c->rope_theta))
        return EK_ERR_IMAGE_CONFIG;
    if ((c->bos_token_id != EK_NO_TOKEN && c->bos_token_id >= c->vocab_size) ||
        (c->eos_token_id != EK_NO_TOKEN && c->eos_token_id >= c->vocab_size))
        return EK_ERR_IMAGE_CONFIG;
    return EK_OK;
}

ek_status ek_image_open_part(const uint8_t *data, size_t size, ek_image_part *out)
{
    static const uint8_t zero_crc[4] = {0, 0, 0, 0};
    uint64_t image_size, table_end;
    uint32_t crc, count;
    ek_config *c = &out->config;

    memset(out, 0, sizeof *out);
    if (data == NULL)
        return EK_ERR_BAD_ARGUMENT;
    if (size < EK_IMAGE_HEADER_SIZE)
        return EK_ERR_IMAGE_TRUNCATED;
    if (rd32(data + HDR(magic)) != EK_IMAGE_MAGIC)
        return EK_ERR_IMAGE_MAGIC;
    if (rd16(data + HDR(version_major)) != EK_IMAGE_VERSION_MAJOR)
        return EK_ERR_IMAGE_VERSION;
    /* header CRC covers the 256 header bytes with the header_crc field read as zero */
    crc = ek_crc32_update(0u, data, HDR(header_crc));
    crc = ek_crc32_update(crc, zero_crc, 4);
    crc = ek_crc32_update(crc, data + HDR(header_crc) + 4, EK_IMAGE_HEADER_SIZE - HDR(header_crc) - 4);
    if (crc != rd32(data + HDR(header_crc)))
        return EK_ERR_IMAGE_HEADER_CRC;
    if (rd32(data + HDR(header_size)) != EK_IMAGE_HEADER_SIZE ||
        rd32(data + HDR(entry_size)) != EK_IMAGE_ENTRY_SIZE ||
        rd32(data + HDR(table_offset)) != EK_IMAGE_HEADER_SIZE)
        return EK_ERR_IMAGE_VERSION;
    /* The region a port hands over may be larger than the image (a flash partition), never smaller. */
    image_size = rd64(data + HDR(image_size));
    if (image_size > (uint64_t)size)
        return EK_ERR_IMAGE_TRUNCATED;
    count = rd32(data + HDR(section_count));
    if (count == 0 || count > 65535u)
        return EK_ERR_IMAGE_BOUNDS;
    table_end = EK_IMAGE_HEADER_SIZE + (uint64_t)count * EK_IMAGE_ENTRY_SIZE;
    if (table_end > image_size)
        return EK_ERR_IMAGE_TRUNCATED;
    out->part_index = rd16(data + HDR(part_index));
    out->part_count = rd16(data + HDR(part_count));
    if (out->part_index >= out->part_count)
        return EK_ERR_IMAGE_PARTS;
    if (ek_crc32(data + EK_IMAGE_HEADER_SIZE, (size_t)(table_end - EK_IMAGE_HEADER_SIZE)) !=
        rd32(data + HDR(table_crc)))
        return EK_ERR_IMAGE_TABLE_CRC;
    /* Sections are read in place as float32/int16: the image must start 4-byte aligned. */
    if (((uintptr_t)data & 3u) != 0)
        return EK_ERR_IMAGE_BOUNDS;

    c->vocab_size = rd32(data + HDR(vocab_size));
    c->hidden_size = rd32(data + HDR(hidden_size));
    c->intermediate_size = rd32(data + HDR(intermediate_size));
    c->num_layers = rd32(data + HDR(num_layers));
    c->num_heads = rd32(data + HDR(num_heads));
    c->num_kv_heads = rd32(data + HDR(num_kv_heads));
    c->head_dim = rd32(data + HDR(head_dim));
    c->max_seq_len = rd32(data + HDR(max_seq_len));
    c->rms_norm_eps = rdf32(data + HDR(rms_norm_eps));
    c->rope_theta = rdf32(data + HDR(rope_theta));
    c->bos_token_id = rd32(data + HDR(bos_token_id));
    c->eos_token_id = rd32(data + HDR(eos_token_id));
    c->tied = (rd32(data + HDR(flags)) & EK_IMAGE_FLAG_TIED) ? 1u : 0u;

    out->base = data;
    out->size = (size_t)image_size;
    out->section_count = count;
    out->model_hash = data + HDR(model_hash);
    out->tokenizer_hash = data + HDR(tokenizer_hash);
    return check_config(c);
}

ek_status ek_image_check_parts(const ek_image_part *parts, unsigned n)
{
    uint32_t seen = 0;
    unsigned i;
    if (n == 0 || n > EK_MAX_PARTS)
        return EK_ERR_IMAGE_PARTS;
    for (i = 0; i < n; i++) {
        const ek_image_part *p = &parts[i];
        if (p->part_count != n || p->part_index >= n || (seen & (1u << p->part_index)))
            return EK_ERR_IMAGE_PARTS;
        seen |= 1u << p->part_index;
        /* flags, config and both hashes (header bytes 40..160 minus the table CRC) must be identical */
        if (rd32(p->base + HDR(flags)) != rd32(parts[0].base + HDR(flags)) ||
            memcmp(p->base + HDR(vocab_size), parts[0].base + HDR(vocab_size),
                   HDR(reserved) - HDR(vocab_size)) != 0)
            return EK_ERR_IMAGE_PARTS;
    }
    return EK_OK;
}

uint32_t ek_image_ternary_formats(const ek_image_part *parts, unsigned n)
{
    uint32_t mask = 0, i;
    unsigned p;
    for (p = 0; p < n; p++)
        for (i = 0; i < parts[p].section_count; i++) {
            uint32_t format = parts[p].base[EK_IMAGE_HEADER_SIZE + i * EK_IMAGE_ENTRY_SIZE + ENT(format)];
            if (ek_format_is_ternary(format) && format < 32u)
                mask |= 1u << format;
        }
    return mask;
}

/* (rows, cols) the config implies for a section kind; 0 rows for an unknown kind. */
static void expected_shape(const ek_config *c, uint32_t kind, uint32_t *rows, uint32_t *cols)
{
    const uint32_t dim = c->hidden_size, hidden = c->intermediate_size;
    const uint32_t q_dim = c->num_heads * c->head_dim, kv_dim = c->num_kv_heads * c->head_dim;
    *cols = 1;
    switch (kind) {
    case EK_KIND_TOK_EMBEDDINGS:
    case EK_KIND_LM_HEAD: *rows = c->vocab_size; *cols = dim; break;
    case EK_KIND_NORM:
    case EK_KIND_ATTN_NORM:
    case EK_KIND_FFN_NORM: *rows = dim; break;
    case EK_KIND_Q: *rows = q_dim; *cols = dim; break;
    case EK_KIND_K:
    case EK_KIND_V: *rows = kv_dim; *cols = dim; break;
    case EK_KIND_ATTN_SUB_NORM: *rows = q_dim; break;
    case EK_KIND_O: *rows = dim; *cols = q_dim; break;
    case EK_KIND_GATE:
    case EK_KIND_UP: *rows = hidden; *cols = dim; break;
    case EK_KIND_FFN_SUB_NORM: *rows = hidden; break;
    case EK_KIND_DOWN: *rows = dim; *cols = hidden; break;
    default: *rows = 0; break;
    }
}

static int kind_is_ternary(uint32_t kind)
{
    return kind == EK_KIND_Q || kind == EK_KIND_K || kind == EK_KIND_V || kind == EK_KIND_O ||
           kind == EK_KIND_GATE || kind == EK_KIND_UP || kind == EK_KIND_DOWN;
}

/* The stored name must be the canonical one up to its NUL (as the host reader requires): names are what
 * `edgekit inspect` shows, so an image whose names lie is refused on both sides. */
static int name_matches(const uint8_t *field, uint32_t kind, uint32_t layer)
{
    char want[EK_IMAGE_NAME_LEN];
    const char *role = ek_kind_name(kind);
    size_t n = 0, r;
    if (role == NULL)
        return 0;
    if (layer != EK_IMAGE_GLOBAL_LAYER) {
        char digits[5];
        size_t d = 0;
        do {
            digits[d++] = (char)('0' + layer % 10u);
            layer /= 10u;
        } while (layer != 0 && d < sizeof digits);
        want[n++] = 'L';
        while (d > 0)
            want[n++] = digits[--d];
        want[n++] = '.';
    }
    for (r = 0; role[r] != '\0' && n < sizeof want - 1u; r++)
        want[n++] = role[r];
    want[n] = '\0';
    return memcmp(field, want, n + 1u) == 0;
}

ek_status ek_image_index(const ek_image_part *parts, unsigned n, int verify_crc, uint32_t *directory)
{
    const ek_config *c = &parts[0].config;
    const uint32_t slots = EK_TENSOR_SLOTS(c->num_layers);
    const uint32_t lm_head_slot = slots - 1u;
    uint32_t s, i;
    unsigned p;

    for (s = 0; s < slots; s++)
        directory[s] = EK_NO_REF;
    for (p = 0; p < n; p++) {
        const ek_image_part *part = &parts[p];
        uint64_t prev_end = align_up(EK_IMAGE_HEADER_SIZE + (uint64_t)part->section_count * EK_IMAGE_ENTRY_SIZE,
                                     EK_IMAGE_SECTION_ALIGN);
        uint32_t host_seen = 0; /* host-only kinds met in this part (the host reader checks each part alone) */
        for (i = 0; i < part->section_count; i++) {
            const uint8_t *e = part->base + EK_IMAGE_HEADER_SIZE + (size_t)i * EK_IMAGE_ENTRY_SIZE;
            const uint32_t kind = rd16(e + ENT(kind)), layer = rd16(e + ENT(layer)), format = e[ENT(format)];
            const uint32_t rows = rd32(e + ENT(rows)), cols = rd32(e + ENT(cols));
            const uint64_t offset = rd64(e + ENT(offset)), size = rd64(e + ENT(size));
            const float scale = rdf32(e + ENT(scale));
            uint32_t want_rows, want_cols, slot = ek_image_slot(kind, layer, c->num_layers);

            if (kind >= EK_KIND_HOST_ONLY_MIN) {
                /* Host-only data (the tokenizer): checked like any section, in the host reader's order, then
                 * skipped. A known kind, global, canonically named, once; raw bytes in bounds, CRC intact. */
                const uint32_t bit = 1u << ((kind - EK_KIND_HOST_ONLY_MIN) & 31u);
                if (layer != EK_IMAGE_GLOBAL_LAYER || !name_matches(e + ENT(name), kind, layer) ||
                    kind - EK_KIND_HOST_ONLY_MIN >= 32u || (host_seen & bit))
                    return EK_ERR_IMAGE_CONFIG;
                host_seen |= bit;
                if (format != EK_FMT_BYTES)
                    return EK_ERR_IMAGE_FORMAT;
                if (offset % EK_IMAGE_SECTION_ALIGN != 0 || offset < prev_end || offset > part->size ||
                    size > part->size - offset)
                    return EK_ERR_IMAGE_BOUNDS;
                prev_end = offset + size;
                if (cols != 1u || size != rows)
                    return EK_ERR_IMAGE_BOUNDS;
                if (verify_crc && ek_crc32(part->base + offset, (size_t)size) != rd32(e + ENT(crc)))
                    return EK_ERR_IMAGE_SECTION_CRC;
                continue;
            }
            if (slot == EK_NO_REF || (slot == lm_head_slot && c->tied) || directory[slot] != EK_NO_REF)
                return EK_ERR_IMAGE_CONFIG; /* unknown kind, layer out of range, or a tensor twice */
            if (!name_matches(e + ENT(name), kind, layer))
                return EK_ERR_IMAGE_CONFIG;
            if (ek_format_is_ternary(format) != kind_is_ternary(kind) || !(ek_format_is_ternary(format) ||
                                                                          ek_format_is_float(format)))
                return EK_ERR_IMAGE_FORMAT;
            if (offset % EK_IMAGE_SECTION_ALIGN != 0 || offset < prev_end || offset > part->size ||
                size > part->size - offset)
                return EK_ERR_IMAGE_BOUNDS;
            prev_end = offset + size;
            if (rows == 0 || cols == 0 || size != ek_format_packed_size(format, rows, cols))
                return EK_ERR_IMAGE_BOUNDS;
            if (verify_crc && ek_crc32(part->base + offset, (size_t)size) != rd32(e + ENT(crc)))
                return EK_ERR_IMAGE_SECTION_CRC;
            expected_shape(c, kind, &want_rows, &want_cols);
            if (rows != want_rows || cols != want_cols)
                return EK_ERR_IMAGE_CONFIG;
            if (ek_format_is_ternary(format) && !finite_positive(scale))
                return EK_ERR_IMAGE_CONFIG;
            directory[slot] = ((uint32_t)p << 16) | i;
        }
    }
    if (c->tied)
        directory[lm_head_slot] = directory[0];
    for (s = 0; s < slots; s++)
        if (directory[s] == EK_NO_REF)
            return EK_ERR_IMAGE_MISSING_SECTION;
    return EK_OK;
}

void ek_image_tensor(const ek_image_part *parts, uint32_t ref, ek_tensor *out)
{
    const ek_image_part *part = &parts[ref >> 16];
    const uint8_t *e = part->base + EK_IMAGE_HEADER_SIZE + (size_t)(ref & 0xFFFFu) * EK_IMAGE_ENTRY_SIZE;
    out->data = part->base + (size_t)rd64(e + ENT(offset));
    out->rows = rd32(e + ENT(rows));
    out->cols = rd32(e + ENT(cols));
    out->format = e[ENT(format)];
    out->scale = rdf32(e + ENT(scale));
}
