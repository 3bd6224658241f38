/* ek_board_mps3_an547.c — board bring-up for the MPS3 AN547 image: nothing beyond the shared Cortex-M
 * startup. The core boots Secure with the SAU off, so every address is Secure and the MPCs in front of SRAM,
 * QSPI and DDR (reset state: all blocks Secure) let the firmware through without configuration. The FPU and
 * MVE were enabled by the reset handler (CPACR CP10/CP11). */
#include "ek_cortex_m.h"

void ek_board_init(void)
{
}
