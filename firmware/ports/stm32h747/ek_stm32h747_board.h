/* ek_stm32h747_board.h — what the port's own files share (not part of the port interface). */
#ifndef EK_STM32H747_BOARD_H
#define EK_STM32H747_BOARD_H

#include <stdint.h>

#include "ek_board_profile.h" /* EK_MEM_SDRAM_*, EK_MEM_QSPI_BASE */

/* Microsecond delay and bounded register wait on the DWT cycle counter at the current core clock. */
void ek_h747_delay_us(uint32_t us);
int ek_h747_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t timeout_us);

/* One pin to an alternate function (very high speed, push-pull). */
void ek_h747_gpio_af(unsigned port, unsigned pin, unsigned af, unsigned pull);

/* External memories (ek_stm32h747_extmem.c). Each returns NULL when the memory is up, else what failed. */
const char *ek_h747_sdram_init(void);
const char *ek_h747_qspi_init(void);

#define EK_H747_SDRAM_BASE EK_MEM_SDRAM_BASE /* FMC SDRAM bank 2 (RM0399 FMC memory map, BMAP = 00) */
#define EK_H747_SDRAM_BYTES EK_MEM_SDRAM_SIZE
#define EK_H747_QSPI_MAP_BASE EK_MEM_QSPI_BASE /* QUADSPI memory-mapped window (256 MB; the profile's qspi) */

#endif /* EK_STM32H747_BOARD_H */
