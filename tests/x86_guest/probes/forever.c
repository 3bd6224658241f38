/* forever.c — a guest that never returns, for the runner's timeout test (tests/test_x86_guest.py). */
#include "ek_guest.h"

void ek_guest_main(uint8_t *io)
{
    (void)io;
    for (;;)
        __asm__ volatile("");
}
