/* ek_port_board.h — PJRC Teensy 4.1 (NXP i.MX RT1062), bare-metal register-level port; boards/teensy41.toml.
 * The link is LPUART6 on Teensy pins 0 (RX) / 1 (TX) at 3.3 V: connect a USB-serial adapter there. (The
 * Arduino option in arduino/ uses the USB CDC port instead and has its own ek_port_board.h.)
 * Sources: IMXRT1060RM ch. "Interrupts, DMA Events, and XBAR Assignments" (CM7 interrupt table: 160 IRQs,
 * LPUART6 = 25) and ch. "Memory Maps" (LPUART6 at 0x40198000). Defaults are for builds without a plan. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#define EK_PORT_DEFAULT_BOARD_NAME "teensy41"
#define EK_PORT_DEFAULT_CLOCK_HZ 600000000u
#define EK_PORT_DEFAULT_UART_BASE 0x40198000u /* LPUART6 */
#define EK_UART_CLOCK_HZ 24000000u            /* UART clock root = 24 MHz oscillator (CSCDR1.UART_CLK_SEL) */
#define EK_UART_IRQN 25u                      /* LPUART6 */
#define EK_PORT_IRQ_COUNT 160u

/* Without a plan: one image part in the upper half of the flash (below the 256 KB PJRC keep for EEPROM
 * emulation and the restore program), the arena in the first PSRAM chip. */
#define EK_PORT_DEFAULT_IMAGE_ADDR 0x60400000u
#define EK_PORT_DEFAULT_IMAGE_SIZE 0x003C0000u
#define EK_PORT_DEFAULT_ARENA_SIZE 0x00400000u

/* Clock tree (boards/teensy41.toml [port_config]; these defaults are for builds without a plan):
 * PLL1 = 24 MHz * DIV_SELECT / 2 = 1200 MHz, core = AHB = PLL1 / ARM_PODF / AHB_PODF = 600 MHz,
 * IPG = AHB / IPG_PODF = 150 MHz (IMXRT1060RM CCM clock tree; PLL_ARM DIV_SELECT range 54..108). */
#ifndef EK_PORT_CFG_ARM_PLL_DIV_SELECT
#define EK_PORT_CFG_ARM_PLL_DIV_SELECT 100u
#endif
#ifndef EK_PORT_CFG_ARM_PODF
#define EK_PORT_CFG_ARM_PODF 2u
#endif
#ifndef EK_PORT_CFG_AHB_PODF
#define EK_PORT_CFG_AHB_PODF 1u
#endif
#ifndef EK_PORT_CFG_IPG_PODF
#define EK_PORT_CFG_IPG_PODF 4u
#endif

#endif
