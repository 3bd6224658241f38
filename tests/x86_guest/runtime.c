/* runtime.c — the C library functions compilers emit calls to on their own (struct copies, array zeroing,
 * calls that are not expanded inline), for x86_guest programs, which link no libc; and strlen/strcmp, which
 * edgekit's self-test code (firmware/tests/selftest) calls.
 *
 * Plain byte loops: the emulator runs them fast enough for test inputs, and they are obviously right. Built
 * with -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns (tests/x86_guest.py RUNTIME_FLAGS) so
 * the compiler cannot turn a loop here back into a call to itself. */
#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else if (d > s) {
        /* overlapping with the destination above the source: copy from the end so no byte is read after
         * it was overwritten */
        for (size_t i = n; i > 0; i--)
            d[i - 1] = s[i - 1];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (*x != '\0' && *x == *y)
        x++, y++;
    return (*x > *y) - (*x < *y);
}
