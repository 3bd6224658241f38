/* ek_app_server.c — the application of a bare-metal edgekit firmware: the link-protocol server
 * (firmware/runtime/ek_server.h) on the port's image parts and arena, forever.
 *
 * A UART never "closes", so EK_SERVER_LINK_CLOSED only happens if a port's link reports it; either way the
 * server is opened again. A RESET request with mode restart re-opens the model from flash, which is what a
 * host expects after re-flashing an image part under a running QEMU/board.
 */
#include "ek_image.h"
#include "ek_port.h"
#include "ek_port_config.h"
#include "ek_server.h"

#ifndef EK_MAX_CTX
#define EK_MAX_CTX 0u /* the model's max_seq_len; the plan sets a shorter context to fit the arena */
#endif
#ifndef EK_FIRMWARE_VERSION
#define EK_FIRMWARE_VERSION "edgekit-device 0.1.0 " EK_BOARD_NAME
#endif

static ek_server server; /* frame buffers + the model struct: far too big for an MCU stack */

int ek_app_main(void);

int ek_app_main(void)
{
    ek_server_config config;
    config.firmware_version = EK_FIRMWARE_VERSION;
    config.max_ctx = EK_MAX_CTX;
    config.verify_crc = EK_VERIFY_PAYLOAD_CRC;
    config.threads = 1;
    for (;;) {
        (void)ek_server_init(&server, &config); /* a bad image is reported over the link, not here */
        (void)ek_server_run(&server);
    }
}
