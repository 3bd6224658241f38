// ek_port_teensy41.cpp — edgekit port for the Teensy 4.1 on the Teensyduino (Arduino) core: the online
// PlatformIO option (platformio.ini here). The offline bare-metal port is one directory up.
//
// Link: USB CDC (`Serial`; the baud rate is ignored on USB). Cycles: the DWT cycle counter, which the core
// starts at boot (ARM_DWT_CYCCNT), extended to 64 bits. Image parts are linked into flash (PROGMEM) by
// ek_images_teensy41.S because teensy_loader only programs the one HEX file. The arena lives in EXTMEM
// (PSRAM) by default; with no PSRAM fitted (external_psram_size == 0) the arena is reported as empty, so the
// runtime answers ARENA_TOO_SMALL instead of writing into nothing.
#include <Arduino.h>

extern "C" {
#include "ek_app_server_entry.h"
#include "ek_port.h"
#include "ek_port_config.h"
}

extern "C" uint8_t external_psram_size; // MB of PSRAM the startup code found (Teensy core, startup.c)

static uint32_t cyc_last;
static uint32_t cyc_high;
static uint64_t boot_cycles;

extern "C" uint64_t ek_port_cycles(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    uint32_t now = ARM_DWT_CYCCNT;
    if (now < cyc_last) {
        cyc_high++; // 2^32 cycles is 7 s at 600 MHz: any caller more often than that sees every wrap
    }
    cyc_last = now;
    uint64_t cycles = ((uint64_t)cyc_high << 32) | now;
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return cycles;
}

extern "C" uint32_t ek_port_clock_hz(void) { return F_CPU_ACTUAL; }

extern "C" uint64_t ek_port_time_us(void) { return (ek_port_cycles() - boot_cycles) / (F_CPU_ACTUAL / 1000000u); }

extern "C" void ek_port_init(void)
{
    Serial.begin(115200);
    boot_cycles = ek_port_cycles();
#if EK_MARKER_PIN >= 0
    pinMode(EK_MARKER_PIN, OUTPUT);
    digitalWriteFast(EK_MARKER_PIN, LOW);
#endif
}

extern "C" int ek_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    elapsedMillis waited;
    while (Serial.available() <= 0) {
        if (waited >= timeout_ms) {
            return 0;
        }
        yield();
    }
    size_t n = 0;
    while (n < cap && Serial.available() > 0) {
        buf[n++] = (uint8_t)Serial.read();
    }
    return (int)n;
}

extern "C" void ek_port_link_write(const uint8_t *buf, size_t n)
{
    Serial.write(buf, n);
    Serial.send_now(); // a token is one small frame: do not wait for the USB packet to fill
}

// --- images: linked in by ek_images_teensy41.S (EK_IMAGE0_FILE...), or at fixed flash addresses ---
#if defined(EK_IMAGE0_FILE)
extern "C" const uint8_t ek_image0_start[], ek_image0_end[];
extern "C" const uint8_t *ek_port_image(unsigned part, size_t *size_out)
{
    if (part != 0) {
        if (size_out) *size_out = 0;
        return NULL;
    }
    if (size_out) *size_out = (size_t)(ek_image0_end - ek_image0_start);
    return ek_image0_start;
}
extern "C" unsigned ek_port_image_count(void) { return 1; }
#else
static const uintptr_t image_addrs[EK_IMAGE_COUNT] = EK_IMAGE_ADDRS;
static const size_t image_sizes[EK_IMAGE_COUNT] = EK_IMAGE_SIZES;
extern "C" const uint8_t *ek_port_image(unsigned part, size_t *size_out)
{
    if (part >= EK_IMAGE_COUNT || image_addrs[part] == 0) {
        if (size_out) *size_out = 0;
        return NULL;
    }
    if (size_out) *size_out = image_sizes[part];
    return (const uint8_t *)image_addrs[part];
}
extern "C" unsigned ek_port_image_count(void) { return image_addrs[0] ? EK_IMAGE_COUNT : 0; }
#endif

static uint8_t arena[EK_ARENA_SIZE] __attribute__((section(EK_ARENA_SECTION), aligned(64)));

extern "C" uint8_t *ek_port_arena(size_t *size_out)
{
    size_t size = sizeof arena;
    uintptr_t addr = (uintptr_t)arena;
    if (addr >= 0x70000000u && addr < 0x80000000u) {
        size_t fitted = (size_t)external_psram_size << 20;
        size_t offset = addr - 0x70000000u;
        size = offset + size <= fitted ? size : 0;
    }
    if (size_out) *size_out = size;
    return arena;
}

extern "C" void ek_port_marker(int on)
{
#if EK_MARKER_PIN >= 0
    digitalWriteFast(EK_MARKER_PIN, on ? HIGH : LOW);
#else
    (void)on;
#endif
}

extern "C" int ek_port_power_uw(uint32_t *microwatts)
{
    (void)microwatts;
    return -1; // an INA219/226/228 is read by the host-side meter tools unless a driver is added here
}

extern "C" const char *ek_port_board_name(void) { return EK_BOARD_NAME; }

extern "C" void ek_port_exit(int code)
{
    (void)code;
    Serial.flush();
    SCB_AIRCR = 0x05FA0004; // system reset: the closest thing to "exit" without an OS
    for (;;) {
    }
}

void setup() { ek_port_init(); }

void loop() { ek_app_main(); }
