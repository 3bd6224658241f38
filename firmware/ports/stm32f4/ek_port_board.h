/* ek_port_board.h — STM32F405 (Netduino Plus 2) with USART1 as the link, as QEMU's netduinoplus2 models it.
 * Sources: ST RM0090 (STM32F405/407 reference manual) for RCC/GPIO/USART/FLASH registers and DS8626 for the
 * memory map; QEMU hw/arm/stm32f405_soc.c wires -serial to USART1 (0x40011000, IRQ 37) and runs the core at
 * 168 MHz (hw/arm/netduinoplus2.c). boards/qemu-netduinoplus2.toml. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#include "ek_board_profile.h" /* generated from the board profile: name, clock, link UART, memory map, arena */
#define EK_UART_CLOCK_HZ 84000000u            /* APB2 = HCLK / 2 once the PLL runs at 168 MHz */
#define EK_PORT_DEFAULT_MARKER_UART_BASE 0x40004400u /* USART2: the emulated marker wire (QEMU -serial #2) */
#define EK_MARKER_UART_CLOCK_HZ 42000000u     /* APB1 = HCLK / 4 */
#define EK_UART_IRQN 37u
#define EK_PORT_IRQ_COUNT 82u

/* Without a plan: the firmware uses the first 512 KB of flash, one image part the rest; the arena takes
 * [layout] arena_bytes of the SRAM. Nothing goes in CCM: QEMU 7.2 does not model it. */
#define EK_PORT_DEFAULT_IMAGE_ADDR (EK_MEM_FLASH_BASE + 0x00080000u)
#define EK_PORT_DEFAULT_IMAGE_SIZE (EK_MEM_FLASH_SIZE - 0x00080000u)

#endif
