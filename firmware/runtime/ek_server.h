/* ek_server.h — the device side of the link protocol: the firmware's main loop (docs/protocol.md).
 *
 * A port's main() is three calls:
 *
 *   static ek_server server;                  // big (frame buffers + the model struct): keep it static
 *   ek_port_init();
 *   ek_server_init(&server, &config);         // opens the model from ek_port_image()/ek_port_arena()
 *   code = ek_server_run(&server);            // serves until the link closes or the host asks to restart
 *
 * If the image does not open, the server still runs: IDENTITY carries the reason (model_status) and every
 * request that needs the model is answered with an ERROR naming it, so the host can tell the user what to
 * re-flash instead of timing out.
 */
#ifndef EK_SERVER_H
#define EK_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "ek_link.h"
#include "ek_model.h"
#include "ek_proto.h"
#include "ek_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *firmware_version; /* short ASCII, e.g. "edgekit 0.1.0 posix" */
    uint32_t max_ctx;             /* KV-cache positions; 0: the model's max_seq_len */
    int verify_crc;               /* check section payload CRCs at open (EK_VERIFY_PAYLOAD_CRC) */
    uint16_t threads;             /* worker threads the port runs matvecs on (reported in IDENTITY) */
} ek_server_config;

/* Why ek_server_run returned. */
#define EK_SERVER_LINK_CLOSED 0 /* ek_port_link_read reported the link closed (EOF, signal) */
#define EK_SERVER_RESTART 1     /* the host sent RESET with mode RESET_RESTART */

/* Per-phase counters since the last RESET, for STATS_REPLY. */
typedef struct {
    uint64_t tokens_prefilled;
    uint64_t tokens_generated;
    uint64_t prefill_cycles;
    uint64_t decode_cycles;
    uint64_t sample_cycles;
    uint64_t logits_cycles;
} ek_server_counters;

typedef struct {
    ek_model model;
    ek_status model_status; /* EK_OK once the model opened */
    ek_server_config config;
    uint64_t image_bytes;
    size_t arena_bytes;
    char kernel[48]; /* "i2:neon" etc., from the formats the image uses */

    ek_link_decoder rx;
    uint8_t rx_chunk[64];                  /* bytes from one ek_port_link_read */
    uint8_t rx_len, rx_pos;                /* bytes in rx_chunk; the next one to feed to rx */
    uint8_t tx_body[EK_LINK_MAX_BODY];     /* body being encoded */
    uint8_t tx_frame[EK_LINK_MAX_ENCODED]; /* wire bytes of the frame being sent */
    uint32_t bad_messages;                 /* unknown types and malformed bodies (since boot) */

    ek_server_counters counters;
    uint64_t boot_us;

    /* generation state */
    int generating;
    uint8_t gen_body[EK_LINK_MAX_BODY]; /* the running GENERATE's body (its prompt is read from here) */
    uint8_t gen_seq;      /* seq of the running GENERATE: its TOKEN/DONE frames carry it */
    int cancel_requested; /* CANCEL arrived while generating */
    int reset_requested;  /* RESET arrived while generating: reset after DONE; mode in reset_mode */
    uint8_t reset_mode;
    uint8_t reset_seq;
    int link_closed;
    int restart;
} ek_server;

/* Open the model from the port's image parts and arena (never fails: a problem is kept in model_status
 * and reported over the link). Returns model_status. */
ek_status ek_server_init(ek_server *s, const ek_server_config *config);

/* Serve requests until the link closes or a restart is requested; returns EK_SERVER_*. */
int ek_server_run(ek_server *s);

#ifdef __cplusplus
}
#endif
#endif /* EK_SERVER_H */
