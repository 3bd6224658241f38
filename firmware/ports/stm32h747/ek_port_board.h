/* ek_port_board.h — STM32H747I-DISCO, Cortex-M7 core, register level (no vendor SDK); boards/stm32h747-disco.toml.
 * Sources: RM0399 (STM32H745/755/747/757 reference manual) for addresses and the CM7 interrupt table; UM2411
 * (the kit's user manual) for the ST-LINK V3 virtual COM port on USART1 (PA9/PA10). */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#include "ek_board_profile.h" /* generated from the board profile: name, clock, link UART, memory map, arena */
/* [cpu] clock_hz: the kit's direct-SMPS supply caps the M7 at 400 MHz (VOS1). [link] USART1 (APB2): the
 * ST-LINK V3 virtual COM port. */
#define EK_UART_IRQN 37u                      /* RM0399 NVIC table: USART1 global interrupt */
#define EK_PORT_IRQ_COUNT 150u                /* CM7 interrupt lines 0..149 (last: WKUP pins) */
/* No EK_PORT_DEFAULT_MARKER_UART_BASE: the kit's power-meter marker is the PI12 GPIO (ek_port_marker). */

/* Without a plan (port.cmake defaults, the [layout] of the profile): one image part filling the
 * memory-mapped QSPI flash, the arena in the SDRAM. */
#define EK_PORT_DEFAULT_IMAGE_ADDR EK_MEM_QSPI_BASE
#define EK_PORT_DEFAULT_IMAGE_SIZE EK_MEM_QSPI_SIZE

#endif
