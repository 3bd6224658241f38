/* ek_board_mps2.c — board bring-up for the MPS2 AN386/AN500 images: nothing beyond the shared Cortex-M
 * startup (no clock tree to program: the FPGA runs everything from the 25 MHz SYSCLK). The Cortex-M7's
 * caches are left off: the AN500 FPGA memories are single-cycle SSRAM, and QEMU does not model caches. */
#include "ek_cortex_m.h"

void ek_board_init(void)
{
}
