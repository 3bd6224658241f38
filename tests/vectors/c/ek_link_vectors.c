/* ek_link_vectors.c — runs the C link codec (firmware/runtime/ek_link.c) over the shared test vectors.
 *
 * tests/test_protocol_vectors.py turns tests/vectors/link_vectors.json into one command per line on stdin
 * and compares what this program prints with what the vectors say:
 *
 *   cobs <decoded hex|-> <encoded hex>     -> "ok" if ek_cobs_encode(decoded) == encoded and the frame decoder's
 *                                             COBS stage gives decoded back, else "FAIL <why>"
 *   msg <type> <seq> <body hex|-> <frame>  -> "<NAME> field=value ..." from ek_msg_decode, or "FAIL <why>" if
 *                                             re-encoding, frame encoding or frame decoding disagree
 *   bad <type> <body hex|->                -> the ek_status ek_msg_decode returns
 *   stream <hex|->                         -> "frame <type> <seq> <body hex|->" per frame, then
 *                                             "counters <ok> <crc> <malformed> <oversize>"
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_crc32.h"
#include "ek_link.h"

#define MAX_BYTES (1 << 20)

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    while (s[0] && s[1] && n < MAX_BYTES) {
        unsigned v;
        sscanf(s, "%2x", &v);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;
    if (n == 0)
        fputs("-", stdout);
    for (i = 0; i < n; i++)
        printf("%02x", p[i]);
}

/* COBS-decode through the frame decoder's byte state machine: a raw frame made of `decoded` has no CRC,
 * so read the decoder's buffer directly after the delimiter would have been seen. */
static int cobs_roundtrip(const uint8_t *enc, size_t n, const uint8_t *dec, size_t dn)
{
    static ek_link_decoder d;
    size_t i;
    ek_frame f;
    ek_link_decoder_init(&d);
    for (i = 0; i < n; i++)
        (void)ek_link_feed(&d, enc[i], &f);
    /* the decoded bytes sit in buf; the pending zero of a final short block is not part of them */
    return d.block_left == 0 && d.len == dn && memcmp(d.buf, dec, dn) == 0;
}

static void print_fields(const ek_msg_desc *m, const void *msg)
{
    const uint8_t *base = (const uint8_t *)msg;
    unsigned i;
    printf("%s", m->name);
    for (i = 0; i < m->n_fields; i++) {
        const ek_field_desc *f = &m->fields[i];
        const uint8_t *p = base + f->offset;
        printf(" %s=", f->name);
        switch (f->type) {
        case EK_FT_U8: printf("%u", (unsigned)*p); break;
        case EK_FT_U16: { uint16_t v; memcpy(&v, p, 2); printf("%u", (unsigned)v); } break;
        case EK_FT_U32: { uint32_t v; memcpy(&v, p, 4); printf("%" PRIu32, v); } break;
        case EK_FT_U64: { uint64_t v; memcpy(&v, p, 8); printf("%" PRIu64, v); } break;
        case EK_FT_F32: { float v; memcpy(&v, p, 4); printf("%.9g", (double)v); } break;
        case EK_FT_BYTES32: print_hex(p, 32); break;
        default: {
            ek_array a;
            uint16_t k;
            memcpy(&a, p, sizeof a);
            if (f->type == EK_FT_ARR_U8 || f->type == EK_FT_STR) {
                print_hex(a.wire, a.count);
            } else {
                putchar('[');
                for (k = 0; k < a.count; k++) {
                    if (k)
                        putchar(',');
                    if (f->type == EK_FT_ARR_U32)
                        printf("%" PRIu32, ek_array_u32(&a, k));
                    else
                        printf("%.9g", (double)ek_array_f32(&a, k));
                }
                putchar(']');
            }
        }
        }
    }
    putchar('\n');
}

static void check_msg(unsigned type, unsigned seq, const uint8_t *body, size_t n, const uint8_t *frame, size_t fn)
{
    static uint8_t out[EK_LINK_MAX_ENCODED + 64], body2[EK_LINK_MAX_BODY];
    static ek_link_decoder d;
    ek_msg_any m;
    ek_frame f;
    size_t i, len;
    int got = 0, blen;
    const ek_msg_desc *desc = ek_msg_find((uint8_t)type);
    ek_status st = ek_msg_decode((uint8_t)type, body, n, &m);
    if (desc == NULL || st != EK_OK) {
        printf("FAIL decode status %d\n", (int)st);
        return;
    }
    blen = ek_msg_encode((uint8_t)type, &m, body2, sizeof body2);
    if (blen != (int)n || memcmp(body2, body, n) != 0) {
        printf("FAIL re-encoded body differs (%d vs %u bytes)\n", blen, (unsigned)n);
        return;
    }
    len = ek_link_encode_frame((uint8_t)type, (uint8_t)seq, body, n, out, sizeof out);
    if (len != fn || memcmp(out, frame, fn) != 0) {
        printf("FAIL frame differs: ");
        print_hex(out, len);
        putchar('\n');
        return;
    }
    if (ek_link_encode_frame((uint8_t)type, (uint8_t)seq, body, n, out, fn - 1) != 0) {
        printf("FAIL frame encoder wrote into a buffer one byte too small\n");
        return;
    }
    ek_link_decoder_init(&d);
    for (i = 0; i < fn; i++) {
        if (ek_link_feed(&d, frame[i], &f)) {
            got++;
            if (f.type != type || f.seq != seq || f.body_len != n || memcmp(f.body, body, n) != 0) {
                printf("FAIL frame decoder returned a different frame\n");
                return;
            }
        }
    }
    if (got != 1) {
        printf("FAIL frame decoder returned %d frames\n", got);
        return;
    }
    print_fields(desc, &m);
}

static void check_stream(const uint8_t *s, size_t n)
{
    static ek_link_decoder d;
    ek_frame f;
    size_t i;
    ek_link_decoder_init(&d);
    for (i = 0; i < n; i++) {
        if (ek_link_feed(&d, s[i], &f)) {
            printf("frame %u %u ", (unsigned)f.type, (unsigned)f.seq);
            print_hex(f.body, f.body_len);
            putchar('\n');
        }
    }
    printf("counters %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", d.frames_ok, d.crc_errors, d.malformed,
           d.oversize);
}

int main(void)
{
    static char line[5 << 20];
    static char a[(2 << 20) + 2], b[(2 << 20) + 2];
    static uint8_t x[MAX_BYTES], y[MAX_BYTES], enc[MAX_BYTES + 64];
    unsigned type, seq;
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "cobs ", 5) == 0 && sscanf(line + 5, "%2097152s %2097152s", a, b) == 2) {
            size_t dn = unhex(a, x), en = unhex(b, y), n = ek_cobs_encode(x, dn, enc);
            if (n != en || memcmp(enc, y, en) != 0)
                printf("FAIL encode\n");
            else if (!cobs_roundtrip(y, en, x, dn))
                printf("FAIL decode\n");
            else
                printf("ok\n");
        } else if (strncmp(line, "msg ", 4) == 0 &&
                   sscanf(line + 4, "%u %u %2097152s %2097152s", &type, &seq, a, b) == 4) {
            size_t n = unhex(a, x), fn = unhex(b, y);
            check_msg(type, seq, x, n, y, fn);
        } else if (strncmp(line, "bad ", 4) == 0 && sscanf(line + 4, "%u %2097152s", &type, a) == 2) {
            ek_msg_any m;
            size_t n = unhex(a, x);
            printf("%d\n", (int)ek_msg_decode((uint8_t)type, x, n, &m));
        } else if (strncmp(line, "stream ", 7) == 0 && sscanf(line + 7, "%2097152s", a) == 1) {
            check_stream(x, unhex(a, x));
        } else {
            printf("FAIL bad command\n");
        }
        puts("end");
        fflush(stdout);
    }
    return 0;
}
