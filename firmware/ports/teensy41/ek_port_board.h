/* ek_port_board.h — PJRC Teensy 4.1 (NXP i.MX RT1062), bare-metal register-level port; boards/teensy41.toml.
 * The link is LPUART6 on Teensy pins 0 (RX) / 1 (TX) at 3.3 V: connect a USB-serial adapter there. (The
 * Arduino option in arduino/ uses the USB CDC port instead and has its own ek_port_board.h.)
 * Sources: IMXRT1060RM ch. "Interrupts, DMA Events, and XBAR Assignments" (CM7 interrupt table: 160 IRQs,
 * LPUART6 = 25) and ch. "Memory Maps" (LPUART6 at 0x40198000). Defaults are for builds without a plan. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#include "ek_board_profile.h" /* generated from the board profile: name, clock, link UART, memory map, arena */
#define EK_UART_CLOCK_HZ 24000000u            /* UART clock root = 24 MHz oscillator (CSCDR1.UART_CLK_SEL) */
#define EK_UART_IRQN 25u                      /* LPUART6 */
#define EK_PORT_IRQ_COUNT 160u

/* Without a plan: one image part in the upper half of the flash (below the 256 KB PJRC keep for EEPROM
 * emulation and the restore program), the arena in the first PSRAM chip. */
#define EK_PORT_DEFAULT_IMAGE_ADDR (EK_MEM_FLASH_BASE + 0x00400000u)
#define EK_PORT_DEFAULT_IMAGE_SIZE (EK_MEM_FLASH_SIZE - 0x00400000u)

/* Clock tree: EK_PORT_CFG_ARM_PLL_DIV_SELECT, _ARM_PODF, _AHB_PODF, _IPG_PODF from boards/teensy41.toml
 * [port_config] (ek_config.h, or ek_board_profile.h without a plan): PLL1 = 24 MHz * DIV_SELECT / 2,
 * core = AHB = PLL1 / ARM_PODF / AHB_PODF, IPG = AHB / IPG_PODF (IMXRT1060RM CCM clock tree; PLL_ARM
 * DIV_SELECT range 54..108). */

#endif
