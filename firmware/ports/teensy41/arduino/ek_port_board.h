/* ek_port_board.h — PJRC Teensy 4.1 (i.MX RT1062), Arduino/PlatformIO option (Teensyduino core, USB CDC link).
 * The bare-metal port one directory up has its own ek_port_board.h (LPUART6 link, register level); this one
 * is found first because platformio.ini puts only ports/teensy41/arduino on the include path. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#define EK_PORT_DEFAULT_BOARD_NAME "teensy41"
#define EK_PORT_DEFAULT_CLOCK_HZ 600000000u
#define EK_PORT_DEFAULT_UART_BASE 0u /* the link is USB CDC (Serial), not a UART */
/* Without a plan there is no image: platformio.ini's EK_IMAGE0_FILE links part 0 into the program. */
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
