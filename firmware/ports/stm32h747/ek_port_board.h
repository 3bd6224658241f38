/* ek_port_board.h — STM32H747I-DISCO (Cortex-M7 core) defaults; boards/stm32h747-disco.toml. */
#ifndef EK_PORT_BOARD_H
#define EK_PORT_BOARD_H

#define EK_PORT_DEFAULT_BOARD_NAME "stm32h747-disco"
#define EK_PORT_DEFAULT_CLOCK_HZ 400000000u /* the kit's direct-SMPS supply caps the M7 at 400 MHz (VOS1) */
#define EK_PORT_DEFAULT_UART_BASE 0x40011000u /* USART1: the ST-LINK virtual COM port (PA9/PA10) */
/* Without a plan: one image part in flash bank 2 (0x08100000, 1 MB); the arena in AXI SRAM. */
#define EK_PORT_DEFAULT_IMAGE_ADDR 0x08100000u
#define EK_PORT_DEFAULT_IMAGE_SIZE 0x00100000u
#define EK_PORT_DEFAULT_ARENA_SIZE (384u * 1024u)

#ifndef EK_ARENA_SECTION
#define EK_ARENA_SECTION ".bss.ek_arena" /* plain .bss in RAM_D1 (AXI SRAM) with the Cube linker script */
#endif

#endif
