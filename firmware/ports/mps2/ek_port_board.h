/* ek_port_board.h — Arm MPS2 with the AN386 (Cortex-M4) or AN500 (Cortex-M7) FPGA image, as QEMU's
 * mps2-an386 / mps2-an500 machines model them. Source: QEMU hw/arm/mps2.c; boards/qemu-mps2-an386.toml and
 * qemu-mps2-an500.toml. The two images differ in their memory map, which ek_board_profile.h (generated
 * from those profiles) gives for the board port.cmake selects. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#include "ek_board_profile.h" /* generated from the board profile: name, clock, link UART, memory map, arena */
#define EK_UART_CLOCK_HZ 25000000u /* SYSCLK ([cpu] clock_hz): core, SysTick and the APB UARTs */
#define EK_PORT_DEFAULT_MARKER_UART_BASE 0x40005000u /* UART1: the emulated marker wire (QEMU -serial #2) */
#define EK_UART_IRQN 0u                      /* UART0 RX (TX is 1); the MPS2 images have no combined line */
#define EK_PORT_IRQ_COUNT 32u

/* Without a plan: the arena takes the start of the PSRAM (linker script), one image part sits 8 MB in, with
 * the rest of the region for it. */
#define EK_PORT_DEFAULT_IMAGE_ADDR (EK_MEM_PSRAM_BASE + 0x00800000u)
#define EK_PORT_DEFAULT_IMAGE_SIZE (EK_MEM_PSRAM_SIZE - 0x00800000u)

#endif
