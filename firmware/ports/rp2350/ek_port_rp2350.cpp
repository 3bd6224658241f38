// ek_port_rp2350.cpp — edgekit port for RP2350 boards with PSRAM (Pimoroni Pico Plus 2) on the arduino-pico
// core (earlephilhower), which brings up the PSRAM on QMI CS1 at boot when the board defines RP2350_PSRAM_CS.
//
// Link: USB CDC (`Serial`). Cycles: rp2040.getCycleCount64() (SysTick extended by the core). Time: the
// 1 MHz system timer (time_us_64). Image parts sit in the XIP flash window where picotool wrote them; the
// arena in PSRAM is reported empty if no PSRAM was detected, so the runtime answers ARENA_TOO_SMALL.
#include <Arduino.h>

extern "C" {
#include "ek_app_server_entry.h"
#include "ek_port.h"
#include "ek_port_config.h"
}

static uint64_t boot_us;

extern "C" uint64_t ek_port_cycles(void) { return rp2040.getCycleCount64(); }

extern "C" uint32_t ek_port_clock_hz(void) { return (uint32_t)rp2040.f_cpu(); }

extern "C" uint64_t ek_port_time_us(void) { return time_us_64() - boot_us; }

extern "C" void ek_port_init(void)
{
    Serial.begin(115200);
    boot_us = time_us_64();
#if EK_MARKER_PIN >= 0
    pinMode(EK_MARKER_PIN, OUTPUT);
    digitalWrite(EK_MARKER_PIN, LOW);
#endif
}

extern "C" int ek_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    uint64_t deadline = time_us_64() + (uint64_t)timeout_ms * 1000u;
    while (Serial.available() <= 0) {
        if (time_us_64() >= deadline) {
            return 0;
        }
        delay(0); // lets the USB stack run
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
    Serial.flush();
}

static const uintptr_t image_addrs[EK_IMAGE_COUNT] = EK_IMAGE_ADDRS;
static const size_t image_sizes[EK_IMAGE_COUNT] = EK_IMAGE_SIZES;

extern "C" const uint8_t *ek_port_image(unsigned part, size_t *size_out)
{
    if (part >= EK_IMAGE_COUNT) {
        if (size_out) *size_out = 0;
        return NULL;
    }
    if (size_out) *size_out = image_sizes[part];
    return (const uint8_t *)image_addrs[part];
}

extern "C" unsigned ek_port_image_count(void) { return EK_IMAGE_COUNT; }

static uint8_t arena[EK_ARENA_SIZE] __attribute__((section(EK_ARENA_SECTION), aligned(64)));

extern "C" uint8_t *ek_port_arena(size_t *size_out)
{
    size_t size = sizeof arena;
    uintptr_t addr = (uintptr_t)arena;
    if (addr >= 0x11000000u && addr < 0x12000000u) {
        size_t fitted = rp2040.getPSRAMSize();
        size = (addr - 0x11000000u) + size <= fitted ? size : 0;
    }
    if (size_out) *size_out = size;
    return arena;
}

extern "C" void ek_port_marker(int on)
{
#if EK_MARKER_PIN >= 0
    digitalWrite(EK_MARKER_PIN, on ? HIGH : LOW);
#else
    (void)on;
#endif
}

extern "C" int ek_port_power_uw(uint32_t *microwatts)
{
    (void)microwatts;
    return -1;
}

extern "C" const char *ek_port_board_name(void) { return EK_BOARD_NAME; }

extern "C" void ek_port_exit(int code)
{
    (void)code;
    Serial.flush();
    rp2040.reboot();
}

void setup() { ek_port_init(); }

void loop() { ek_app_main(); }
