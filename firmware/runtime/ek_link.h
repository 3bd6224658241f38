/* ek_link.h — the link protocol's framing and message codec (spec: docs/protocol.md).
 *
 * A frame on the wire is COBS(type u8 | seq u8 | body | crc32 LE) followed by 0x00. The decoder is fed
 * one byte at a time into a fixed buffer (no malloc) and resynchronises at every 0x00; bodies are encoded
 * and decoded by walking the descriptor tables generated into ek_proto.h from edgekit/link/messages.py,
 * which the Python host uses too (tests/vectors/ pins both to the same bytes).
 */
#ifndef EK_LINK_H
#define EK_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "ek_proto.h"
#include "ek_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- COBS ------------------------------------------------------------------------------------------ */
/* Bytes ek_cobs_encode may write for n input bytes (no delimiter). */
#define EK_COBS_MAX_ENCODED(n) ((n) + ((n) + 253u) / 254u + 1u)
/* Encode n bytes into out (capacity >= EK_COBS_MAX_ENCODED(n)); returns bytes written. Minimal form: no
 * empty block after a final run of 254 non-zero bytes. */
size_t ek_cobs_encode(const uint8_t *in, size_t n, uint8_t *out);

/* --- frame decoder ----------------------------------------------------------------------------------- */
typedef struct {
    uint8_t type;
    uint8_t seq;
    const uint8_t *body; /* inside the decoder's buffer: valid until the next ek_link_feed */
    uint16_t body_len;
} ek_frame;

typedef struct {
    uint8_t buf[EK_LINK_MAX_ENCODED]; /* decoded bytes of the frame being received */
    uint16_t len;                     /* decoded bytes in buf */
    uint16_t encoded;                 /* wire bytes since the last delimiter */
    uint8_t block_left;               /* data bytes left in the current COBS block; 0: next is a code */
    uint8_t zero_pending;             /* the previous block ended below 0xFF: a 0x00 precedes more data */
    uint8_t skipping;                 /* oversize: drop bytes until the next delimiter */
    /* counters since ek_link_decoder_init (reported in STATS_REPLY) */
    uint32_t frames_ok;
    uint32_t crc_errors;
    uint32_t malformed; /* truncated COBS block or shorter than type + seq + crc */
    uint32_t oversize;  /* more than EK_LINK_MAX_ENCODED - 1 wire bytes, or decoded past EK_LINK_MAX_FRAME */
} ek_link_decoder;

void ek_link_decoder_init(ek_link_decoder *d);
/* Feed one byte. Returns 1 and fills *out when it completed a frame with a good CRC, else 0. The same
 * rules as edgekit/link/framing.py FrameDecoder.feed, so both count the same garbage the same way. */
int ek_link_feed(ek_link_decoder *d, uint8_t byte, ek_frame *out);

/* --- frame encoder ----------------------------------------------------------------------------------- */
/* Build the wire bytes of one frame (delimiter included) into out (capacity cap, EK_LINK_MAX_ENCODED is
 * always enough). Returns the length, or 0 if body_len > EK_LINK_MAX_BODY or cap is too small. */
size_t ek_link_encode_frame(uint8_t type, uint8_t seq, const uint8_t *body, size_t body_len, uint8_t *out,
                            size_t cap);

/* --- message bodies ---------------------------------------------------------------------------------- */
/* Descriptor of a message type; NULL if the type is unknown. */
const ek_msg_desc *ek_msg_find(uint8_t type);
/* Encode the struct msg (ek_msg_<name>) of `type` into body (capacity cap). Returns the body length, or
 * -1 if the type is unknown or the body would not fit cap. */
int ek_msg_encode(uint8_t type, const void *msg, uint8_t *body, size_t cap);
/* Decode body into the struct msg (ek_msg_<name>, e.g. a member of ek_msg_any). Returns EK_OK,
 * EK_ERR_UNKNOWN_MESSAGE, or EK_ERR_BAD_MESSAGE when the length does not match the fields and counts.
 * Arrays point into body. */
ek_status ek_msg_decode(uint8_t type, const uint8_t *body, size_t len, void *msg);

/* Element i of a decoded (wire) or native array. */
uint32_t ek_array_u32(const ek_array *a, uint16_t i);
float ek_array_f32(const ek_array *a, uint16_t i);

/* Little-endian helpers (byte loads and stores: no alignment or endianness assumptions). */
uint16_t ek_link_get16(const uint8_t *p);
uint32_t ek_link_get32(const uint8_t *p);
uint64_t ek_link_get64(const uint8_t *p);
void ek_link_put16(uint8_t *p, uint16_t v);
void ek_link_put32(uint8_t *p, uint32_t v);
void ek_link_put64(uint8_t *p, uint64_t v);

#ifdef __cplusplus
}
#endif
#endif /* EK_LINK_H */
