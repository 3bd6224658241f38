/* port_echo.c — bring-up test app for a port (driven by tests/test_ports_qemu.py over the real link).
 *
 * Prints one ASCII banner line at boot, then serves binary requests until told to exit:
 *   request  : cmd(1) len(2, LE) payload(len)
 *   response : '<' cmd(1) len(2, LE) payload(len) '>'
 *   'B'                  -> the banner line again (for links that may miss boot output)
 *   'E' payload          -> the same bytes (echo through the interrupt-fed RX ring and TX)
 *   'I' part(1) off(4) n(2) -> n bytes of image part `part` at off (proves where the loader put it)
 *   'C'                  -> 2 x [cycles(8) time_us(8) cycles(8)] around a fixed busy loop, clock_hz(4): each
 *                           time_us is read between two cycle counts (so it must lie between their times)
 *   'A'                  -> arena addr(4) size(4) ok(1): first/last 64 bytes written and read back
 *   'T' ms(2)            -> n(4, int32) elapsed_us(8): ek_port_link_read with nothing to read times out
 *   'W'                  -> wrapped(1) backsteps(4) reads(4): with interrupts masked, reads the clock across a
 *                           SysTick wrap whose ISR cannot run yet; time must never step back (the race
 *                           that once made a 30 ms timeout measure 29.1 ms)
 *   'M' level(1)         -> nothing: ek_port_marker(level) (the emulated boards send it on their marker UART)
 *   'P' addr(4)          -> before(4) after(4): reads the word at addr, writes its complement, reads it back
 *                           and restores it (RAM: after == ~before; ROM/flash: after == before). Tests
 *                           probe every region of the board profile this way to check the memory map.
 *   'F'                  -> no reply: executes a permanently undefined instruction, so the port's fault
 *                           handler must report it on the link and end the program (status 3)
 *   'X' code(1)          -> reply, wait for one acknowledging byte (up to 1 s), then ek_port_exit(code):
 *                           QEMU exits with that status (semihosting). The wait lets the host read the
 *                           reply before QEMU's exit hangs up the pty and discards unread bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ek_cortex_m.h"
#include "ek_port.h"

#define REQUEST_TIMEOUT_MS 5000u
#define MAX_PAYLOAD 4096u

static uint8_t payload[MAX_PAYLOAD];

static void put_bytes(const void *p, size_t n) { ek_port_link_write((const uint8_t *)p, n); }

static void put_str(const char *s) { put_bytes(s, strlen(s)); }

static void put_dec(uint64_t v)
{
    char buf[21];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    put_bytes(buf + i, sizeof buf - i);
}

static void put_hex32(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[10] = {'0', 'x'};
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    }
    put_bytes(buf, sizeof buf);
}

static void le_store(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t le_load(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Read exactly n bytes; 0 on success, -1 if the link went quiet for timeout_ms. */
static int read_exact(uint8_t *buf, size_t n, uint32_t timeout_ms)
{
    size_t got = 0;
    while (got < n) {
        int r = ek_port_link_read(buf + got, n - got, timeout_ms);
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

static void reply(uint8_t cmd, const uint8_t *body, size_t n)
{
    uint8_t head[4] = {'<', cmd, (uint8_t)n, (uint8_t)(n >> 8)};
    put_bytes(head, sizeof head);
    put_bytes(body, n);
    put_bytes(">", 1);
}

static void banner(void)
{
    size_t image_size = 0, arena_size = 0;
    const uint8_t *image = ek_port_image(0, &image_size);
    uint8_t *arena = ek_port_arena(&arena_size);
    put_str("EKPORT board=");
    put_str(ek_port_board_name());
    put_str(" clock=");
    put_dec(ek_port_clock_hz());
    put_str(" images=");
    put_dec(ek_port_image_count());
    put_str(" image0=");
    put_hex32((uint32_t)(uintptr_t)image);
    put_str("/");
    put_dec(image_size);
    put_str(" arena=");
    put_hex32((uint32_t)(uintptr_t)arena);
    put_str("/");
    put_dec(arena_size);
    put_str(" uptime_us=");
    put_dec(ek_port_time_us());
    put_str("\n");
}

/* Probe one word with interrupts off, so no ISR sees the complemented value in between. */
static size_t probe(uint32_t addr, uint8_t *out)
{
    volatile uint32_t *word = (volatile uint32_t *)(uintptr_t)addr;
#if defined(__arm__) || defined(__thumb__)
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
#endif
    uint32_t before = *word;
    *word = ~before;
    uint32_t after = *word;
    *word = before;
#if defined(__arm__) || defined(__thumb__)
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
#endif
    le_store(out, before, 4);
    le_store(out + 4, after, 4);
    return 8;
}

static size_t bracket(uint8_t *out)
{
    le_store(out, ek_port_cycles(), 8);
    le_store(out + 8, ek_port_time_us(), 8);
    le_store(out + 16, ek_port_cycles(), 8);
    return 24;
}

static size_t measure(uint8_t *out)
{
    size_t n = bracket(out);
    volatile uint32_t sink = 0;
    /* Several SysTick periods even on a fast host: QEMU reloads the counter before it pends the interrupt, so a
     * reading right at a wrap may be placed a period late (never early); the two brackets must be further apart. */
    for (uint32_t i = 0; i < 2000000u; i++) {
        sink += i;
    }
    n += bracket(out + n);
    le_store(out + n, ek_port_clock_hz(), 4);
    return n + 4;
}

static size_t wrap_check(uint8_t *out)
{
    uint32_t primask = ek_irq_save();
    uint64_t last = ek_port_cycles();
    uint32_t backsteps = 0, reads = 0, after_wrap = 0;
    int wrapped = 0;
    /* Bounded: a 1 ms SysTick period is far fewer reads than this at any clock QEMU or silicon runs. */
    for (uint32_t i = 0; i < 20000000u && after_wrap < 2000u; i++) {
        uint64_t now = ek_port_cycles();
        backsteps += now < last;
        last = now;
        reads++;
        wrapped |= (EK_SCB_ICSR & EK_ICSR_PENDSTSET) != 0;
        after_wrap += (uint32_t)wrapped;
    }
    ek_irq_restore(primask);
    out[0] = (uint8_t)wrapped;
    le_store(out + 1, backsteps, 4);
    le_store(out + 5, reads, 4);
    return 9;
}

static size_t arena_check(uint8_t *out)
{
    size_t size = 0;
    uint8_t *arena = ek_port_arena(&size);
    int ok = arena != NULL && size >= 128 && ((uintptr_t)arena % 64u) == 0;
    if (ok) {
        for (size_t i = 0; i < 64; i++) {
            arena[i] = (uint8_t)(i * 7u + 1u);
            arena[size - 64 + i] = (uint8_t)(i * 13u + 5u);
        }
        for (size_t i = 0; i < 64; i++) {
            ok &= arena[i] == (uint8_t)(i * 7u + 1u);
            ok &= arena[size - 64 + i] == (uint8_t)(i * 13u + 5u);
        }
    }
    le_store(out, (uint32_t)(uintptr_t)arena, 4);
    le_store(out + 4, size, 4);
    out[8] = (uint8_t)ok;
    return 9;
}

int ek_app_main(void)
{
    uint8_t out[64];
    banner();
    for (;;) {
        uint8_t head[3];
        if (read_exact(head, 1, 0xFFFFFFFFu) != 0 || read_exact(head + 1, 2, REQUEST_TIMEOUT_MS) != 0) {
            continue;
        }
        size_t n = (size_t)le_load(head + 1, 2);
        if (n > MAX_PAYLOAD || read_exact(payload, n, REQUEST_TIMEOUT_MS) != 0) {
            reply('!', NULL, 0);
            continue;
        }
        switch (head[0]) {
        case 'B':
            banner();
            break;
        case 'E':
            reply('E', payload, n);
            break;
        case 'I': {
            size_t size = 0;
            const uint8_t *image = n == 7 ? ek_port_image(payload[0], &size) : NULL;
            uint32_t off = (uint32_t)le_load(payload + 1, 4);
            size_t len = (size_t)le_load(payload + 5, 2);
            if (image == NULL || off > size || len > size - off || len > MAX_PAYLOAD) {
                reply('!', NULL, 0);
            } else {
                reply('I', image + off, len);
            }
            break;
        }
        case 'C':
            reply('C', out, measure(out));
            break;
        case 'A':
            reply('A', out, arena_check(out));
            break;
        case 'T': {
            uint32_t ms = (uint32_t)le_load(payload, 2);
            uint64_t t0 = ek_port_time_us();
            int r = ek_port_link_read(out + 16, 1, ms);
            uint64_t elapsed = ek_port_time_us() - t0;
            le_store(out, (uint32_t)r, 4);
            le_store(out + 4, elapsed, 8);
            reply('T', out, 12);
            break;
        }
        case 'M':
            ek_port_marker(n >= 1 && payload[0] != 0);
            reply('M', NULL, 0);
            break;
        case 'W':
            reply('W', out, wrap_check(out));
            break;
        case 'P':
            if (n != 4) {
                reply('!', NULL, 0);
            } else {
                reply('P', out, probe((uint32_t)le_load(payload, 4), out));
            }
            break;
        case 'F':
#if defined(__arm__) || defined(__thumb__)
            __asm__ volatile("udf #0");
#endif
            reply('?', head, 1); /* not an Arm core: nothing to fault */
            break;
        case 'X':
            reply('X', NULL, 0);
            (void)ek_port_link_read(out, 1, 1000u);
            ek_port_exit(n ? payload[0] : 0);
            break;
        default:
            reply('?', head, 1);
            break;
        }
    }
}
