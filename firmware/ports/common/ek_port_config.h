/* ek_port_config.h — the values a bare-metal port takes from the generated ek_config.h, with port defaults.
 *
 * `edgekit gen` writes ek_config.h (and the build defines EK_HAVE_CONFIG_H). Every macro below is optional
 * there; a port's ek_port_board.h supplies the default for a build without a plan (bring-up, tests), most of
 * them from its ek_board_profile.h (generated from the board profile by edgekit.gen.board_profile):
 *
 *   EK_BOARD_NAME      "qemu-mps3-an547"          board identity for the hello message
 *   EK_CLOCK_HZ        32000000u                  core clock (cycle counter rate)
 *   EK_UART_BASE       0x49303000u                link UART register base
 *   EK_UART_BAUD       115200u
 *   EK_IMAGE_COUNT     2                          image parts the plan placed
 *   EK_IMAGE_ADDRS     {0x28000000u, 0x60400000u} part i's first byte (where the flasher/loader put it)
 *   EK_IMAGE_SIZES     {8388608u, 1048576u}       bytes available to part i (>= its image_size)
 *   EK_ARENA_SIZE      4194304u                   working arena bytes (KV cache + activations)
 *   EK_ARENA_SECTION   ".ek_arena"                linker section of the arena (the linker script places it)
 *   EK_MARKER_UART_BASE 0x49304000u               power-meter marker as bytes on a TX-only UART (0: none)
 *   EK_SEMIHOSTING     1                          ek_port_exit uses semihosting (QEMU); 0: system reset
 */
#ifndef EK_PORT_CONFIG_H
#define EK_PORT_CONFIG_H

#ifdef EK_HAVE_CONFIG_H
#include "ek_config.h"
#endif
#include "ek_port_board.h"

#ifndef EK_BOARD_NAME
#ifdef EK_BUILD_BOARD /* -DEK_BOARD=<name> at configure time; ek_config.h wins over it */
#define EK_BOARD_NAME EK_BUILD_BOARD
#else
#define EK_BOARD_NAME EK_PORT_DEFAULT_BOARD_NAME
#endif
#endif
#ifndef EK_CLOCK_HZ
#define EK_CLOCK_HZ EK_PORT_DEFAULT_CLOCK_HZ
#endif
#ifndef EK_UART_BASE
#define EK_UART_BASE EK_PORT_DEFAULT_UART_BASE
#endif
#ifndef EK_UART_BAUD
#ifdef EK_PORT_DEFAULT_UART_BAUD
#define EK_UART_BAUD EK_PORT_DEFAULT_UART_BAUD
#else
#define EK_UART_BAUD 115200u
#endif
#endif
#ifndef EK_IMAGE_COUNT
#define EK_IMAGE_COUNT 1
#define EK_IMAGE_ADDRS { EK_PORT_DEFAULT_IMAGE_ADDR }
#define EK_IMAGE_SIZES { EK_PORT_DEFAULT_IMAGE_SIZE }
#endif
#ifndef EK_ARENA_SIZE
#define EK_ARENA_SIZE EK_PORT_DEFAULT_ARENA_SIZE
#endif
#ifndef EK_ARENA_SECTION
#define EK_ARENA_SECTION ".ek_arena"
#endif
#ifndef EK_MARKER_UART_BASE
#ifdef EK_PORT_DEFAULT_MARKER_UART_BASE
#define EK_MARKER_UART_BASE EK_PORT_DEFAULT_MARKER_UART_BASE
#else
#define EK_MARKER_UART_BASE 0u
#endif
#endif
#ifndef EK_SEMIHOSTING
#define EK_SEMIHOSTING 1
#endif

#endif /* EK_PORT_CONFIG_H */
