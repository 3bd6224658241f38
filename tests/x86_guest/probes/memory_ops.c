/* memory_ops.c — runs a list of memcpy/memmove/memset/memcmp/strcmp/strlen calls on the I/O region, for
 * tests/test_x86_guest.py: checks the guest runtime's functions and the I/O round trip byte for byte.
 *
 * io: uint64 count at 0, then count records of four uint64 (op, x, y, n) from 8: op 1 memcpy(io+x, io+y, n),
 * 2 memmove(io+x, io+y, n), 3 memset(io+x, y, n), 4 memcmp(io+x, io+y, n) and 5 strcmp(io+x, io+y), whose sign
 * (-1, 0, 1) is written as an int64 over that record's op, 6 strlen(io+x), written the same way. */
#include <string.h>

#include "ek_guest.h"

void ek_guest_main(uint8_t *io)
{
    uint64_t count;
    memcpy(&count, io, sizeof count);
    for (uint64_t i = 0; i < count; i++) {
        uint8_t *record = io + 8 + 32 * i;
        uint64_t r[4];
        memcpy(r, record, sizeof r);
        if (r[0] == 1) {
            memcpy(io + r[1], io + r[2], r[3]);
        } else if (r[0] == 2) {
            memmove(io + r[1], io + r[2], r[3]);
        } else if (r[0] == 3) {
            memset(io + r[1], (int)r[2], r[3]);
        } else if (r[0] == 4) {
            int c = memcmp(io + r[1], io + r[2], r[3]);
            int64_t sign = c < 0 ? -1 : c > 0;
            memcpy(record, &sign, sizeof sign);
        } else if (r[0] == 5) {
            int c = strcmp((const char *)io + r[1], (const char *)io + r[2]);
            int64_t sign = c < 0 ? -1 : c > 0;
            memcpy(record, &sign, sizeof sign);
        } else if (r[0] == 6) {
            uint64_t len = strlen((const char *)io + r[1]);
            memcpy(record, &len, sizeof len);
        }
    }
}
