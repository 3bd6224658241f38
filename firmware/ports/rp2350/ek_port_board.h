/* ek_port_board.h — Raspberry Pi RP2350 (Pimoroni Pico Plus 2: RP2350B, 12 MHz crystal, 16 MB flash on QMI CS0,
 * 8 MB APS6404L PSRAM on QMI CS1), register level, no Pico SDK. boards/rp2350-psram.toml.
 * Sources: RP2350 datasheet 2.2 (address map), 3.2 (interrupts), 8.1/8.2/8.6 (clocks, XOSC, PLL), 9 (GPIO),
 * 12.1 (UART), 12.14 (QMI); pico-sdk boards/pimoroni_pico_plus2_rp2350.h for the board's pins. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#include "ek_board_profile.h" /* generated from the board profile: name, clock, link UART, memory map, arena */
/* EK_CLOCK_HZ is clk_sys from PLL_SYS (ek_board_rp2350.c checks the PLL gives it). */
#define EK_UART_CLOCK_HZ EK_CLOCK_HZ          /* clk_peri runs from clk_sys, undivided */
#define EK_UART_IRQN 33u                      /* UART0_IRQ (datasheet 3.2, Table "Interrupts") */
#define EK_PORT_IRQ_COUNT 52u                 /* IRQ 0..51 (the last six are SPARE_IRQ_0..5) */

/* Board facts that differ between RP2350 boards come from the profile's [port_config] (ek_config.h, and
 * ek_board_profile.h for builds without a plan), e.g. EK_PORT_CFG_PSRAM_CS_GPIO. */
#ifndef EK_RP2350_XOSC_HZ
#define EK_RP2350_XOSC_HZ 12000000u /* the crystal every RP2350 reference design and the Pico Plus 2 use */
#endif
#ifndef EK_MARKER_PIN
#define EK_MARKER_PIN 26 /* GP26 (docs/power.md); -DEK_MARKER_PIN=-1 disables the power-meter marker */
#endif

/* Without a plan: one image part 2 MB into the XIP flash window (the program stays below it); flash it
 * with `picotool load -v -t bin model.ekm -o 0x10200000`. The arena goes in PSRAM ([layout] arena). */
#define EK_PORT_DEFAULT_IMAGE_ADDR (EK_MEM_FLASH_BASE + 0x00200000u)
#define EK_PORT_DEFAULT_IMAGE_SIZE (EK_MEM_FLASH_SIZE - 0x00200000u)

#endif
