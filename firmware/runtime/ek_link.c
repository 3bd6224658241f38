/* ek_link.c — COBS framing with a CRC32 trailer, and the table-driven message codec (docs/protocol.md).
 *
 * Everything here works on caller-owned fixed buffers: the decoder state holds one frame, encoders write
 * into buffers the caller sizes with EK_LINK_MAX_* constants. Multi-byte values are read and written one
 * byte at a time, so unaligned frame bytes and the host's byte order never matter.
 */
#define EK_PROTO_DEFINE_TABLES
#include "ek_link.h"

#include <string.h>

#include "ek_crc32.h"

/* --- little-endian helpers ------------------------------------------------------------------------- */
uint16_t ek_link_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t ek_link_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t ek_link_get64(const uint8_t *p) { return (uint64_t)ek_link_get32(p) | ((uint64_t)ek_link_get32(p + 4) << 32); }

void ek_link_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void ek_link_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void ek_link_put64(uint8_t *p, uint64_t v)
{
    ek_link_put32(p, (uint32_t)v);
    ek_link_put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* --- COBS ------------------------------------------------------------------------------------------ */
size_t ek_cobs_encode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t code_at = 0, o = 1, i;
    uint8_t code = 1;
    for (i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        out[o++] = in[i];
        code++;
        if (code == 0xFF && i + 1 < n) { /* full block; start the next only if bytes remain */
            out[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

/* --- frame decoder ----------------------------------------------------------------------------------- */
void ek_link_decoder_init(ek_link_decoder *d) { memset(d, 0, sizeof *d); }

static void decoder_restart(ek_link_decoder *d)
{
    d->len = 0;
    d->encoded = 0;
    d->block_left = 0;
    d->zero_pending = 0;
}

/* The delimiter arrived: classify what was collected (same order of checks as framing.py). */
static int decoder_finish(ek_link_decoder *d, ek_frame *out)
{
    uint32_t crc;
    int ok = 0;
    if (d->encoded == 0) {
        /* empty frame: a delimiter run (the host sends one before each request to flush garbage) */
    } else if (d->block_left != 0) {
        d->malformed++; /* the last block promised more bytes than arrived */
    } else if (d->len > EK_LINK_MAX_FRAME) {
        d->oversize++;
    } else if (d->len < EK_LINK_MIN_FRAME) {
        d->malformed++;
    } else {
        crc = ek_link_get32(d->buf + d->len - 4);
        if (ek_crc32(d->buf, (size_t)d->len - 4) != crc) {
            d->crc_errors++;
        } else {
            d->frames_ok++;
            out->type = d->buf[0];
            out->seq = d->buf[1];
            out->body = d->buf + 2;
            out->body_len = (uint16_t)(d->len - EK_LINK_MIN_FRAME);
            ok = 1;
        }
    }
    decoder_restart(d);
    return ok;
}

int ek_link_feed(ek_link_decoder *d, uint8_t byte, ek_frame *out)
{
    if (byte == 0) {
        if (d->skipping) {
            d->skipping = 0;
            decoder_restart(d);
            return 0;
        }
        return decoder_finish(d, out);
    }
    if (d->skipping)
        return 0;
    if (d->encoded >= EK_LINK_MAX_ENCODED - 1) { /* this byte would be one too many */
        d->oversize++;
        d->skipping = 1;
        return 0;
    }
    d->encoded++;
    /* Decoded bytes never outnumber wire bytes, and wire bytes are capped above: buf cannot overflow. */
    if (d->block_left == 0) { /* a code byte opens the next block */
        if (d->zero_pending)
            d->buf[d->len++] = 0;
        d->block_left = (uint8_t)(byte - 1);
        d->zero_pending = byte != 0xFF;
    } else {
        d->buf[d->len++] = byte;
        d->block_left--;
    }
    return 0;
}

/* --- frame encoder ----------------------------------------------------------------------------------- */
size_t ek_link_encode_frame(uint8_t type, uint8_t seq, const uint8_t *body, size_t body_len, uint8_t *out,
                            size_t cap)
{
    /* COBS needs the raw frame contiguous; assemble it at the tail end of out, then encode forwards
     * (the encoder's write position never passes its read position: it writes at most one code byte
     * ahead per 254 data bytes, plus the first, and the raw copy starts that far in). */
    size_t raw_len = body_len + EK_LINK_MIN_FRAME, need, n;
    uint8_t *raw;
    uint32_t crc;
    if (body_len > EK_LINK_MAX_BODY)
        return 0;
    /* Exact worst case: COBS of raw_len >= 1 bytes adds at most ceil(raw_len / 254) code bytes, then the
     * delimiter. (EK_COBS_MAX_ENCODED is one byte looser; with it a 1024-byte body needed 1037 bytes and
     * never fit EK_LINK_MAX_ENCODED, so the device silently dropped such replies, e.g. PONG to a full PING.) */
    need = raw_len + (raw_len + 253u) / 254u + 1u;
    if (cap < need)
        return 0;
    raw = out + (need - 1 - raw_len);
    memmove(raw + 2, body, body_len);
    raw[0] = type;
    raw[1] = seq;
    crc = ek_crc32(raw, body_len + 2);
    ek_link_put32(raw + 2 + body_len, crc);
    n = ek_cobs_encode(raw, raw_len, out);
    out[n++] = 0;
    return n;
}

/* --- message bodies ---------------------------------------------------------------------------------- */
const ek_msg_desc *ek_msg_find(uint8_t type)
{
    unsigned i;
    for (i = 0; i < EK_MSG_COUNT; i++)
        if (ek_msg_table[i].code == type)
            return &ek_msg_table[i];
    return NULL;
}

static size_t fixed_wire_size(uint16_t type)
{
    switch (type) {
    case EK_FT_U8: return 1;
    case EK_FT_U16: return 2;
    case EK_FT_U32: return 4;
    case EK_FT_F32: return 4;
    case EK_FT_U64: return 8;
    case EK_FT_BYTES32: return 32;
    default: return 0; /* variable */
    }
}

static size_t element_size(uint16_t type) { return (type == EK_FT_ARR_U32 || type == EK_FT_ARR_F32) ? 4 : 1; }

int ek_msg_encode(uint8_t type, const void *msg, uint8_t *body, size_t cap)
{
    const ek_msg_desc *m = ek_msg_find(type);
    const uint8_t *base = (const uint8_t *)msg;
    size_t off = 0, need, k, fs;
    unsigned i;
    if (m == NULL)
        return -1;
    for (i = 0; i < m->n_fields; i++) {
        const ek_field_desc *f = &m->fields[i];
        const uint8_t *src = base + f->offset;
        fs = fixed_wire_size(f->type);
        if (fs) {
            if (off + fs > cap)
                return -1;
            switch (f->type) {
            case EK_FT_U8: body[off] = *src; break;
            case EK_FT_U16: { uint16_t v; memcpy(&v, src, 2); ek_link_put16(body + off, v); } break;
            case EK_FT_U32: { uint32_t v; memcpy(&v, src, 4); ek_link_put32(body + off, v); } break;
            case EK_FT_F32: { float v; memcpy(&v, src, 4); ek_link_put32(body + off, f32_bits(v)); } break;
            case EK_FT_U64: { uint64_t v; memcpy(&v, src, 8); ek_link_put64(body + off, v); } break;
            default: memcpy(body + off, src, 32); break; /* EK_FT_BYTES32 */
            }
            off += fs;
        } else {
            ek_array a;
            size_t es = element_size(f->type);
            memcpy(&a, src, sizeof a);
            need = 2 + (size_t)a.count * es;
            if (off + need > cap)
                return -1;
            ek_link_put16(body + off, a.count);
            off += 2;
            if (a.native == NULL) {
                if (a.count)
                    memcpy(body + off, a.wire, (size_t)a.count * es);
            } else if (es == 1) {
                memcpy(body + off, a.native, a.count);
            } else if (f->type == EK_FT_ARR_U32) {
                const uint32_t *v = (const uint32_t *)a.native;
                for (k = 0; k < a.count; k++)
                    ek_link_put32(body + off + 4 * k, v[k]);
            } else {
                const float *v = (const float *)a.native;
                for (k = 0; k < a.count; k++)
                    ek_link_put32(body + off + 4 * k, f32_bits(v[k]));
            }
            off += (size_t)a.count * es;
        }
    }
    return (int)off;
}

ek_status ek_msg_decode(uint8_t type, const uint8_t *body, size_t len, void *msg)
{
    const ek_msg_desc *m = ek_msg_find(type);
    uint8_t *base = (uint8_t *)msg;
    size_t off = 0, fs;
    unsigned i;
    if (m == NULL)
        return EK_ERR_UNKNOWN_MESSAGE;
    if (len < m->min_size)
        return EK_ERR_BAD_MESSAGE;
    for (i = 0; i < m->n_fields; i++) {
        const ek_field_desc *f = &m->fields[i];
        uint8_t *dst = base + f->offset;
        fs = fixed_wire_size(f->type);
        if (fs) { /* min_size covers every fixed field */
            switch (f->type) {
            case EK_FT_U8: *dst = body[off]; break;
            case EK_FT_U16: { uint16_t v = ek_link_get16(body + off); memcpy(dst, &v, 2); } break;
            case EK_FT_U32: { uint32_t v = ek_link_get32(body + off); memcpy(dst, &v, 4); } break;
            case EK_FT_F32: { float v = bits_f32(ek_link_get32(body + off)); memcpy(dst, &v, 4); } break;
            case EK_FT_U64: { uint64_t v = ek_link_get64(body + off); memcpy(dst, &v, 8); } break;
            default: memcpy(dst, body + off, 32); break;
            }
            off += fs;
        } else {
            ek_array a;
            size_t bytes;
            if (len - off < 2)
                return EK_ERR_BAD_MESSAGE;
            a.count = ek_link_get16(body + off);
            off += 2;
            bytes = (size_t)a.count * element_size(f->type);
            if (len - off < bytes)
                return EK_ERR_BAD_MESSAGE;
            a.native = NULL;
            a.wire = body + off;
            memcpy(dst, &a, sizeof a);
            off += bytes;
        }
    }
    return off == len ? EK_OK : EK_ERR_BAD_MESSAGE;
}

uint32_t ek_array_u32(const ek_array *a, uint16_t i)
{
    if (a->native)
        return ((const uint32_t *)a->native)[i];
    return ek_link_get32(a->wire + 4u * i);
}

float ek_array_f32(const ek_array *a, uint16_t i)
{
    if (a->native)
        return ((const float *)a->native)[i];
    return bits_f32(ek_link_get32(a->wire + 4u * i));
}
