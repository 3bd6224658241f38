/* ek_teensy41.h — what the Teensy 4.1 port's files share (not part of the port interface). */
#ifndef EK_TEENSY41_H
#define EK_TEENSY41_H

#include <stdint.h>

#define EK_T41_PSRAM_CHIP_BYTES (8u * 1024u * 1024u) /* APS6404L: 64 Mbit */
#define EK_T41_PSRAM_MAX_CHIPS 2u

/* Bounded busy-wait: 1 when (*reg & mask) == want within `spins` reads, 0 otherwise. */
int ek_t41_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t spins);

/* Brings up FlexSPI2 and the PSRAM chips behind it (ek_psram_teensy41.c). Returns the bytes mapped at
 * 0x70000000 (0, 8 or 16 MB) and sets *chips_out to a bit per chip found (bit 0: chip select 0). A second
 * return path, *error_out, names the step that failed (NULL when none did). */
uint32_t ek_t41_psram_init(unsigned *chips_out, const char **error_out);

#endif
