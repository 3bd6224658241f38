/* ek_x86_variant_guest.c — ek_variant_check.c as a guest of tests/x86_guest.py (an emulated x86-64 CPU, no OS):
 * its report, which bare-metal builds send over semihosting, goes into the I/O region as one NUL-terminated
 * text. Driven by tests/test_x86_tiers.py. */
#include <stddef.h>
#include <stdint.h>

#define EK_VARIANT_TEXT_MAX 65535u /* the runner gives the region 64 KiB */

static uint8_t *text;
static size_t used;

void ek_semihost_write0(const char *s);
void ek_semihost_write0(const char *s)
{
    while (*s != '\0' && used < EK_VARIANT_TEXT_MAX - 1u)
        text[used++] = (uint8_t)*s++;
    text[used] = 0;
}

int main(void); /* ek_variant_check.c */
void ek_guest_main(uint8_t *io);
void ek_guest_main(uint8_t *io)
{
    text = io;
    used = 0;
    (void)main(); /* its verdict is in the text ("variant-check: PASS" or "FAIL") */
}
