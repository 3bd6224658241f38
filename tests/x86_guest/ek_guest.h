/* ek_guest.h — the one entry point of an x86_guest program (tests/x86_guest.py runs it under the Bochs CPU
 * emulator).
 *
 * The runner calls ek_guest_main(io) in 64-bit user mode with RDI = the start of the I/O region (inputs written
 * by the test before the call, read back after it returns). There is no libc: the runtime (runtime.c) gives
 * memcpy, memset, memmove and memcmp, which compilers call even without a libc; anything else the guest needs,
 * it brings. Returning from ek_guest_main ends the run. */
#ifndef EK_GUEST_H
#define EK_GUEST_H

#include <stdint.h>

void ek_guest_main(uint8_t *io);

#endif
