/* ek_port_board.h — Arm MPS2 with the AN386 (Cortex-M4) or AN500 (Cortex-M7) FPGA image, as QEMU's
 * mps2-an386 / mps2-an500 machines model them. Source: QEMU hw/arm/mps2.c; boards/qemu-mps2-an386.toml and
 * qemu-mps2-an500.toml. The two images differ only where noted; port.cmake defines EK_MPS2_AN386 or
 * EK_MPS2_AN500 from the board. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#define EK_PORT_DEFAULT_CLOCK_HZ 25000000u  /* SYSCLK: core, SysTick and the APB UARTs */
#define EK_UART_CLOCK_HZ 25000000u
#define EK_PORT_DEFAULT_UART_BASE 0x40004000u /* UART0 */
#define EK_PORT_DEFAULT_MARKER_UART_BASE 0x40005000u /* UART1: the emulated marker wire (QEMU -serial #2) */
#define EK_UART_IRQN 0u                      /* UART0 RX (TX is 1); the MPS2 images have no combined line */
#define EK_PORT_IRQ_COUNT 32u

#if defined(EK_MPS2_AN500)
#define EK_PORT_DEFAULT_BOARD_NAME "qemu-mps2-an500"
#define EK_MPS2_PSRAM_BASE 0x60000000u
#elif defined(EK_MPS2_AN386)
#define EK_PORT_DEFAULT_BOARD_NAME "qemu-mps2-an386"
#define EK_MPS2_PSRAM_BASE 0x21000000u
#else
#error "define EK_MPS2_AN386 or EK_MPS2_AN500 (port.cmake does, from EK_BOARD)"
#endif

/* Without a plan: the arena takes the first 4 MB of the 16 MB PSRAM (linker script), one image part sits
 * 8 MB in, with the remaining 8 MB for it. */
#define EK_PORT_DEFAULT_IMAGE_ADDR (EK_MPS2_PSRAM_BASE + 0x00800000u)
#define EK_PORT_DEFAULT_IMAGE_SIZE 0x00800000u
#define EK_PORT_DEFAULT_ARENA_SIZE 0x00400000u

#endif
