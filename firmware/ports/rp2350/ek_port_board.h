/* ek_port_board.h — Pimoroni Pico Plus 2 (RP2350B, 16 MB flash, 8 MB PSRAM) defaults; boards/rp2350-psram.toml. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#define EK_PORT_DEFAULT_BOARD_NAME "rp2350-psram"
#define EK_PORT_DEFAULT_CLOCK_HZ 150000000u
#define EK_PORT_DEFAULT_UART_BASE 0u /* the link is USB CDC (Serial) */
/* Without a plan: one image part 2 MB into the XIP flash window (the program stays below it); flash it
 * with `picotool load -v -t bin model.ekm -o 0x10200000`. */
#define EK_PORT_DEFAULT_IMAGE_ADDR 0x10200000u
#define EK_PORT_DEFAULT_IMAGE_SIZE (14u * 1024u * 1024u)
#define EK_PORT_DEFAULT_ARENA_SIZE (4u * 1024u * 1024u)

#ifndef EK_ARENA_SECTION
#define EK_ARENA_SECTION ".psram" /* arduino-pico maps this section to the QMI CS1 PSRAM window */
#endif
#ifndef EK_MARKER_PIN
#define EK_MARKER_PIN 26 /* GP26; -DEK_MARKER_PIN=-1 disables the marker */
#endif

#endif
