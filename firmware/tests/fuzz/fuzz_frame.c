/* fuzz_frame.c — libFuzzer harness for the link frame decoder and encoder (firmware/runtime/ek_link.c).
 *
 * The input is a byte stream as a UART would deliver it. Besides memory safety (ASan/UBSan), it checks
 * properties a decoder bug would break:
 *   - every accepted frame fits EK_LINK_MAX_BODY, and re-encoding it gives wire bytes without 0x00 except the
 *     final delimiter, which a fresh decoder turns back into the same frame (and nothing else);
 *   - counter accounting: every non-empty delimiter-terminated segment is counted exactly once (frames_ok,
 *     crc_errors, malformed or oversize), plus one oversize for an unterminated overlong tail;
 *   - the input read as a raw frame (type, seq, body) encodes and decodes back to itself (COBS block edges
 *     at 254-byte runs, zeros at either end).
 * A broken property calls abort(), which libFuzzer reports as a crash with the input saved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_link.h"

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz_frame: property failed at line %d: %s\n", __LINE__, #cond);    \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static uint32_t counted(const ek_link_decoder *d) { return d->frames_ok + d->crc_errors + d->malformed + d->oversize; }

/* Encode (type, seq, body) as a frame and decode it with a fresh decoder: exactly that frame comes back. */
static void check_roundtrip(uint8_t type, uint8_t seq, const uint8_t *body, size_t body_len)
{
    static uint8_t wire[EK_LINK_MAX_ENCODED];
    static ek_link_decoder d;
    ek_frame f;
    size_t n = ek_link_encode_frame(type, seq, body, body_len, wire, sizeof wire), i;
    unsigned got = 0;
    CHECK(n >= EK_LINK_MIN_FRAME + 2 && n <= sizeof wire && wire[n - 1] == 0);
    /* COBS adds at most one code byte per started 254-byte run, then the delimiter: a frame of any legal
     * body fits EK_LINK_MAX_ENCODED, the buffer every port sends from */
    CHECK(n <= body_len + EK_LINK_MIN_FRAME + (body_len + EK_LINK_MIN_FRAME + 253u) / 254u + 1u);
    ek_link_decoder_init(&d);
    for (i = 0; i < n; i++) {
        CHECK(i == n - 1 || wire[i] != 0);
        if (ek_link_feed(&d, wire[i], &f)) {
            CHECK(i == n - 1);
            CHECK(f.type == type && f.seq == seq && f.body_len == body_len);
            CHECK(body_len == 0 || memcmp(f.body, body, body_len) == 0);
            got++;
        }
    }
    CHECK(got == 1 && d.frames_ok == 1 && counted(&d) == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ek_link_decoder d;
    static uint8_t body[EK_LINK_MAX_BODY];
    uint32_t segments = 0; /* non-empty, delimiter-terminated */
    size_t run = 0, i;
    ek_frame f;

    ek_link_decoder_init(&d);
    for (i = 0; i < size; i++) {
        const uint32_t before = counted(&d);
        if (data[i] == 0) {
            segments += run > 0;
            run = 0;
        } else {
            run++;
        }
        if (ek_link_feed(&d, data[i], &f)) {
            CHECK(data[i] == 0);
            CHECK(f.body_len <= EK_LINK_MAX_BODY);
            /* the body points into the decoder, which the round trip must not depend on: copy it */
            memcpy(body, f.body, f.body_len);
            check_roundtrip(f.type, f.seq, body, f.body_len);
        }
        CHECK(counted(&d) - before <= 1); /* at most one verdict per byte */
    }
    CHECK(counted(&d) == segments + (run >= EK_LINK_MAX_ENCODED ? 1u : 0u));

    /* the input itself as type, seq and body (as long as a body may be) */
    if (size >= 2)
        check_roundtrip(data[0], data[1], data + 2, size - 2 > EK_LINK_MAX_BODY ? EK_LINK_MAX_BODY : size - 2);
    return 0;
}
