/* ek_port_board.h — Arm MPS3 AN547 (Corstone SSE-300, Cortex-M55) as QEMU's mps3-an547 models it.
 * Source: QEMU hw/arm/mps2-tz.c (an547_raminfo, an547_ppcs, mps3tz_an547_class_init); boards/qemu-mps3-an547.toml. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#include "ek_board_profile.h" /* generated from the board profile: name, clock, link UART, memory map, arena */
#define EK_UART_CLOCK_HZ 25000000u          /* APB peripheral clock feeding the UARTs */
#define EK_PORT_DEFAULT_MARKER_UART_BASE 0x49304000u /* UART1: the emulated marker wire (QEMU -serial #2) */
#define EK_UART_IRQN 43u                     /* UART0 combined interrupt (TX 33, RX 34, combined 43) */
#define EK_PORT_IRQ_COUNT 96u                /* SSE-300 expansion interrupts */

/* Without a plan: one image part filling the QSPI flash (XIP), arena in DDR ("PSRAM"). */
#define EK_PORT_DEFAULT_IMAGE_ADDR EK_MEM_QSPI_BASE
#define EK_PORT_DEFAULT_IMAGE_SIZE EK_MEM_QSPI_SIZE

#endif
