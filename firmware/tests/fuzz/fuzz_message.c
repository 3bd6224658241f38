/* fuzz_message.c — libFuzzer harness for the message codec and the device's request dispatcher
 * (ek_msg_decode/ek_msg_encode in firmware/runtime/ek_link.c, the whole ek_server.c loop).
 *
 * The real ek_server runs over a port made of this file: the link is the fuzz input, the model is a tiny
 * .ekm (server_model.ekm, compiled in by CMakeLists.txt), the arena is malloc'd once. The input is a list
 * of records, so the fuzzer works on message bodies rather than on CRCs:
 *
 *   record = flags u8 | type u8 | len u16 LE | len bytes
 *   flags bit 0: the bytes go on the link as they are (garbage, split or hand-made frames)
 *   otherwise:   a 0x00 (as the host sends before each request), then the frame (type, seq = record
 *                number, body = the bytes) with a good CRC; flags bit 1 flips a CRC bit (a damaged frame)
 *   flags bit 2 of the first record: the device's image is damaged (a payload byte flipped), so the model
 *                does not open and every request that needs it must be answered with an ERROR
 *   flags bit 3 of the first record: the port gives the model prefill scratch (chunked prefill, as the
 *                POSIX device's --prefill-chunk does)
 *
 * Checked besides memory safety: every body ek_msg_decode accepts re-encodes to the same bytes; everything
 * the device sends is a clean frame of a reply type whose body decodes; and every request frame the device
 * received gets its one answer (HELLO -> IDENTITY, PING -> PONG, STATS -> STATS_REPLY,
 * GENERATE -> DONE, LOGITS -> the first LOGITS_CHUNK or LOGITS_TOPK, RESET -> ACK, or an ERROR naming the
 * request type; CANCEL during a generation is answered by that generation's DONE, so at most one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_link.h"
#include "ek_port.h"
#include "ek_server.h"

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz_message: property failed at line %d: %s\n", __LINE__, #cond);  \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

/* generated from server_model.ekm by CMakeLists.txt */
extern const unsigned char ek_fuzz_server_model[];
extern const size_t ek_fuzz_server_model_size;

#define MAX_RESTARTS 64u /* RESET(restart) re-initialises the server, as a port's main loop does */

static struct {
    uint8_t *image;     /* 4-byte aligned copy of the model (sections are read in place) */
    uint8_t *bad_image; /* the same with one payload byte flipped: its section CRC fails at open */
    int use_bad_image;
    uint8_t *scratch; /* prefill scratch for the largest chunk, allocated once the model has opened */
    size_t scratch_size;
    uint8_t *arena;
    size_t arena_size;
    /* the link */
    const uint8_t *stream;
    size_t stream_len, stream_pos;
    /* what the device received (a decoder fed the same bytes as the server's) and what it sent */
    ek_link_decoder seen;
    ek_link_decoder sent;
    uint32_t requests[256]; /* accepted frames by type */
    uint32_t answers[256];  /* replies by the request type they answer */
    uint64_t clock;
} port;

/* --- the port ------------------------------------------------------------------------------------ */
void ek_port_init(void) {}
uint64_t ek_port_cycles(void) { return port.clock += 1000u; }
uint32_t ek_port_clock_hz(void) { return 100000000u; }
uint64_t ek_port_time_us(void) { return (port.clock += 1000u) / 100u; }
void ek_port_marker(int on) { (void)on; }
int ek_port_power_uw(uint32_t *microwatts)
{
    *microwatts = 12345u;
    return (port.clock / 1000u) % 2u ? 0 : -1; /* both: a board with a sensor and one without */
}
const char *ek_port_board_name(void) { return "fuzz"; }
void ek_port_exit(int code) { exit(code); }
unsigned ek_port_image_count(void) { return 1; }

const uint8_t *ek_port_image(unsigned part, size_t *size_out)
{
    (void)part;
    *size_out = ek_fuzz_server_model_size;
    return port.use_bad_image ? port.bad_image : port.image;
}

uint8_t *ek_port_arena(size_t *size_out)
{
    *size_out = port.arena_size;
    return port.arena;
}

int ek_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    size_t n, i, left = port.stream_len - port.stream_pos;
    ek_frame f;
    (void)timeout_ms;
    if (left == 0)
        return -1; /* the input is over: the link closes */
    n = 1u + (port.stream_pos * 7u) % 64u; /* reads of varying size split frames at varying places */
    if (n > cap)
        n = cap;
    if (n > left)
        n = left;
    memcpy(buf, port.stream + port.stream_pos, n);
    for (i = 0; i < n; i++)
        if (ek_link_feed(&port.seen, buf[i], &f))
            port.requests[f.type]++;
    port.stream_pos += n;
    return (int)n;
}

void ek_port_link_write(const uint8_t *buf, size_t n)
{
    size_t i;
    ek_frame f;
    for (i = 0; i < n; i++) {
        ek_msg_any m;
        if (!ek_link_feed(&port.sent, buf[i], &f))
            continue;
        CHECK(f.type & 0x80u); /* the device only sends replies */
        CHECK(ek_msg_decode(f.type, f.body, f.body_len, &m) == EK_OK);
        switch (f.type) {
        case EK_MSG_IDENTITY: port.answers[EK_MSG_HELLO]++; break;
        case EK_MSG_PONG: port.answers[EK_MSG_PING]++; break;
        case EK_MSG_STATS_REPLY: port.answers[EK_MSG_STATS]++; break;
        case EK_MSG_DONE: port.answers[EK_MSG_GENERATE]++; break;
        case EK_MSG_LOGITS_TOPK: port.answers[EK_MSG_LOGITS]++; break;
        case EK_MSG_LOGITS_CHUNK:
            if (m.logits_chunk.offset == 0)
                port.answers[EK_MSG_LOGITS]++;
            break;
        case EK_MSG_ACK: port.answers[m.ack.request_type]++; break;
        case EK_MSG_ERROR: port.answers[m.error.request_type]++; break;
        default: break; /* TOKEN: part of a GENERATE's answer */
        }
    }
    CHECK(port.sent.crc_errors == 0 && port.sent.malformed == 0 && port.sent.oversize == 0);
}

/* --- setup ------------------------------------------------------------------------------------------ */
static void setup(void)
{
    const uint8_t *parts[1];
    size_t sizes[1] = {ek_fuzz_server_model_size}, align;
    if (port.image)
        return;
    port.image = (uint8_t *)malloc(ek_fuzz_server_model_size);
    CHECK(port.image != NULL);
    memcpy(port.image, ek_fuzz_server_model, ek_fuzz_server_model_size);
    port.bad_image = (uint8_t *)malloc(ek_fuzz_server_model_size);
    CHECK(port.bad_image != NULL);
    memcpy(port.bad_image, ek_fuzz_server_model, ek_fuzz_server_model_size);
    port.bad_image[ek_fuzz_server_model_size - 1] ^= 1; /* the last section's payload */
    parts[0] = port.image;
    port.arena_size = ek_model_arena_size(parts, sizes, 1, 0);
    CHECK(port.arena_size > 0); /* the committed model must open */
    port.arena = (uint8_t *)malloc(port.arena_size + EK_ARENA_ALIGN);
    CHECK(port.arena != NULL);
    align = (size_t)((uintptr_t)port.arena % EK_ARENA_ALIGN);
    if (align)
        port.arena += EK_ARENA_ALIGN - align; /* never freed: one arena for the whole run */
}

/* Every body the codec accepts must re-encode to exactly the same bytes. */
static void check_codec(uint8_t type, const uint8_t *body, size_t len)
{
    static uint8_t again[EK_LINK_MAX_BODY];
    ek_msg_any m;
    ek_status st = ek_msg_decode(type, body, len, &m);
    int n;
    if (ek_msg_find(type) == NULL) {
        CHECK(st == EK_ERR_UNKNOWN_MESSAGE);
        return;
    }
    CHECK(st == EK_OK || st == EK_ERR_BAD_MESSAGE);
    if (st != EK_OK)
        return;
    n = ek_msg_encode(type, &m, again, sizeof again);
    CHECK(n == (int)len && (len == 0 || memcmp(again, body, len) == 0));
}

/* Turn the records into link bytes (at most ~1.01x the input plus 12 bytes per record). */
static size_t build_stream(const uint8_t *data, size_t size, uint8_t *out, size_t cap)
{
    size_t pos = 0, o = 0;
    unsigned record = 0;
    while (pos + 4 <= size) {
        const uint8_t flags = data[pos], type = data[pos + 1];
        size_t len = (size_t)data[pos + 2] | ((size_t)data[pos + 3] << 8);
        pos += 4;
        if (len > size - pos)
            len = size - pos;
        if (flags & 1u) {
            if (len > cap - o)
                break;
            memcpy(out + o, data + pos, len);
            o += len;
        } else {
            size_t n;
            if (len > EK_LINK_MAX_BODY)
                len = EK_LINK_MAX_BODY;
            check_codec(type, data + pos, len);
            if (cap - o < EK_LINK_MAX_ENCODED + 1)
                break;
            out[o++] = 0;
            n = ek_link_encode_frame(type, (uint8_t)record, data + pos, len, out + o, cap - o);
            CHECK(n > 0);
            if (flags & 2u)
                out[o + n - 2] ^= 0x10; /* inside the COBS-coded CRC: the frame must be dropped */
            o += n;
        }
        pos += len;
        record++;
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ek_server server;
    static uint8_t stream[1u << 17];
    const ek_server_config config = {"edgekit fuzz", 0, 1, 1};
    ek_status opened;
    unsigned restarts = 0, t;

    if (size > sizeof stream / 2)
        return 0; /* libFuzzer's -max_len keeps inputs far below this */
    setup();
    memset(port.requests, 0, sizeof port.requests);
    memset(port.answers, 0, sizeof port.answers);
    ek_link_decoder_init(&port.sent);
    port.stream = stream;
    port.stream_len = build_stream(data, size, stream, sizeof stream);
    port.stream_pos = 0;
    port.use_bad_image = size > 0 && (data[0] & 4u);

    for (;;) {
        ek_link_decoder_init(&port.seen); /* the server's decoder starts afresh too */
        opened = ek_server_init(&server, &config);
        CHECK(port.use_bad_image ? opened == EK_ERR_IMAGE_SECTION_CRC : opened == EK_OK);
        if (opened == EK_OK && size > 0 && (data[0] & 8u)) {
            if (port.scratch == NULL) {
                port.scratch_size = ek_model_prefill_scratch_size(&server.model, EK_PREFILL_MAX_CHUNK);
                port.scratch = (uint8_t *)malloc(port.scratch_size);
                CHECK(port.scratch != NULL);
            }
            ek_model_set_prefill_scratch(&server.model, port.scratch, port.scratch_size);
            CHECK(ek_model_prefill_chunk(&server.model) == EK_PREFILL_MAX_CHUNK);
        }
        if (ek_server_run(&server) != EK_SERVER_RESTART || ++restarts > MAX_RESTARTS)
            break;
    }
    CHECK(port.sent.encoded == 0); /* no half-sent frame */
    for (t = 0; t < 256; t++) {
        if (port.answers[t] > port.requests[t] || (port.answers[t] < port.requests[t] && t != EK_MSG_CANCEL))
            fprintf(stderr, "fuzz_message: type 0x%02x: %u request frames, %u answers\n", t,
                    (unsigned)port.requests[t], (unsigned)port.answers[t]);
        if (t == EK_MSG_CANCEL)
            CHECK(port.answers[t] <= port.requests[t]);
        else
            CHECK(port.answers[t] == port.requests[t]);
    }
    return 0;
}
