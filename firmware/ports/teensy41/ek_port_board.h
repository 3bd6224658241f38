/* ek_port_board.h — PJRC Teensy 4.1 (i.MX RT1062) defaults; boards/teensy41.toml. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#define EK_PORT_DEFAULT_BOARD_NAME "teensy41"
#define EK_PORT_DEFAULT_CLOCK_HZ 600000000u
#define EK_PORT_DEFAULT_UART_BASE 0u /* the link is USB CDC (Serial), not a UART */
/* Without a plan there is no image: the generator embeds the parts (EK_IMAGE0_FILE...) into the program. */
#define EK_PORT_DEFAULT_IMAGE_ADDR 0u
#define EK_PORT_DEFAULT_IMAGE_SIZE 0u
#define EK_PORT_DEFAULT_ARENA_SIZE (8u * 1024u * 1024u)

#ifndef EK_ARENA_SECTION
#define EK_ARENA_SECTION ".externalram" /* EXTMEM: the PSRAM chips on FlexSPI2 */
#endif
#ifndef EK_MARKER_PIN
#define EK_MARKER_PIN 33 /* a free pin on the bottom row; -DEK_MARKER_PIN=-1 disables the marker */
#endif

#endif
