/* ek_port_board.h — STM32H747I-DISCO, Cortex-M7 core, register level (no vendor SDK); boards/stm32h747-disco.toml.
 * Sources: RM0399 (STM32H745/755/747/757 reference manual) for addresses and the CM7 interrupt table; UM2411
 * (the kit's user manual) for the ST-LINK V3 virtual COM port on USART1 (PA9/PA10). */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#define EK_PORT_DEFAULT_BOARD_NAME "stm32h747-disco"
#define EK_PORT_DEFAULT_CLOCK_HZ 400000000u  /* the kit's direct-SMPS supply caps the M7 at 400 MHz (VOS1) */
#define EK_PORT_DEFAULT_UART_BASE 0x40011000u /* USART1 (APB2): the ST-LINK V3 virtual COM port */
#define EK_UART_IRQN 37u                      /* RM0399 NVIC table: USART1 global interrupt */
#define EK_PORT_IRQ_COUNT 150u                /* CM7 interrupt lines 0..149 (last: WKUP pins) */
/* No EK_PORT_DEFAULT_MARKER_UART_BASE: the kit's power-meter marker is the PI12 GPIO (ek_port_marker). */

/* Without a plan (port.cmake defaults, the [layout] of the profile): one image part filling the 128 MB
 * memory-mapped QSPI flash, the arena (4 MB) in the SDRAM. */
#define EK_PORT_DEFAULT_IMAGE_ADDR 0x90000000u
#define EK_PORT_DEFAULT_IMAGE_SIZE 0x08000000u
#define EK_PORT_DEFAULT_ARENA_SIZE 0x00400000u

#endif
