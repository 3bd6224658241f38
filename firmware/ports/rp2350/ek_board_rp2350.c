/* ek_board_rp2350.c — RP2350 (Pimoroni Pico Plus 2) bring-up at register level, no Pico SDK.
 *
 *   boot block  IMAGE_DEF the boot ROM needs to run an Arm Secure image from flash (datasheet 5.9)
 *   clocks      12 MHz XOSC -> PLL_SYS 1500 MHz VCO / 5 / 2 = 150 MHz clk_sys; clk_ref = XOSC; clk_peri = clk_sys
 *   UART0       GP0 TX / GP1 RX, 8N1, RX interrupt (IRQ 33) into the link ring
 *   PSRAM       APS6404L on QMI chip select 1 (GPIO from [port_config]): ID check in direct mode, quad (QPI)
 *               mode, QMI window 1 timing/formats, writable through the XIP window at 0x11000000
 *   marker      GP26 through SIO for the power meter's logic input
 *
 * Code and image parts run in place from XIP flash in the mode the boot ROM found (datasheet 5.2.7: the ROM
 * enters the image "in whatever QSPI mode it discovered to work"; its slowest-clocked candidate uses SCK =
 * clk_sys / 3, i.e. <= 50 MHz at 150 MHz, within every serial-flash read command's limit), so the flash
 * (QMI window 0) is not reconfigured here.
 * The SysTick counts clk_sys (CLKSOURCE = processor clock), so the TICKS block (timer/watchdog ticks) is not
 * needed by anything in the firmware and is left as the ROM set it.
 * Every wait on hardware is bounded: a missing crystal or PSRAM ends in a message on the link, not a hang.
 */
#include <stddef.h>
#include <stdint.h>

#include "ek_cortex_m.h"
#include "ek_port.h"
#include "ek_port_config.h"
#include "ek_rp2350.h"

/* ---- checks of the build configuration --------------------------------------------------------------- */

#if EK_UART_BASE != 0x40070000u
#error "the rp2350 port drives UART0 (0x40070000, GP0/GP1): set [link] uart_base = 0x4007_0000 in the profile"
#endif
/* XIP_CS1n is function 9 on GP0, GP8, GP19 and GP47 only (datasheet 9.4, function table). */
#if EK_PORT_CFG_PSRAM_CS_GPIO != 0 && EK_PORT_CFG_PSRAM_CS_GPIO != 8 && EK_PORT_CFG_PSRAM_CS_GPIO != 19 &&          \
    EK_PORT_CFG_PSRAM_CS_GPIO != 47
#error "[port_config] psram_cs_gpio must be 0, 8, 19 or 47: only those pins carry XIP_CS1n"
#endif

/* ---- boot block: IMAGE_DEF (datasheet 5.9.1 "Blocks and block loops", 5.9.3.1 "IMAGE_DEF item",
 * 5.9.5.1 "Minimum Arm IMAGE_DEF") ----------------------------------------------------------------------
 * The ROM looks for it in the first 4 KB of flash; the linker puts .ek_boot_block right after the vector
 * table at 0x10000000. There is no VECTOR_TABLE or ENTRY_POINT item: without them the ROM takes the Arm vector
 * table at the start of the image (5.9.3.3) and enters ek_reset_handler with the table's initial SP. */
#define PICOBIN_BLOCK_MARKER_START 0xffffded3u
#define PICOBIN_BLOCK_MARKER_END 0xab123579u
/* item header byte 0: size_flag (bit 7: 0 = 1-byte size, 1 = 2-byte size) | item type (bits 6:0) */
#define PICOBIN_ITEM_1BS_IMAGE_TYPE 0x42u /* size_flag 0, type 0x42 */
#define PICOBIN_ITEM_2BS_LAST 0xffu       /* size_flag 1, type 0x7f */
/* IMAGE_TYPE flags (5.9.3.1): bits 3:0 image type, 5:4 EXE security, 10:8 EXE CPU, 14:12 EXE chip */
#define IMAGE_TYPE_EXE (1u << 0)
#define IMAGE_TYPE_EXE_SECURITY_S (2u << 4)
#define IMAGE_TYPE_EXE_CPU_ARM (0u << 8)
#define IMAGE_TYPE_EXE_CHIP_RP2350 (1u << 12)
#define IMAGE_TYPE_FLAGS                                                                                       \
    (IMAGE_TYPE_EXE | IMAGE_TYPE_EXE_SECURITY_S | IMAGE_TYPE_EXE_CPU_ARM | IMAGE_TYPE_EXE_CHIP_RP2350)
#define IMAGE_TYPE_ITEM_WORDS 1u

__attribute__((section(".ek_boot_block"), used, aligned(4))) const uint32_t ek_rp2350_image_def[5] = {
    PICOBIN_BLOCK_MARKER_START,
    PICOBIN_ITEM_1BS_IMAGE_TYPE | (IMAGE_TYPE_ITEM_WORDS << 8) | (IMAGE_TYPE_FLAGS << 16),
    PICOBIN_ITEM_2BS_LAST | (IMAGE_TYPE_ITEM_WORDS << 8), /* LAST: total words of the items before it; pad 0 */
    0u, /* byte offset from this block's header to the next block's: 0 = a loop of this block alone */
    PICOBIN_BLOCK_MARKER_END,
};

/* PLL_SYS parameters and the datasheet's limits (8.6.3 "Calculating PLL parameters"): reference
 * (FREF / REFDIV) >= 5 MHz, VCO 750..1600 MHz, FBDIV 16..320, POSTDIV1/2 1..7; clk_sys at most 150 MHz.
 * 12 MHz / 1 * 125 = 1500 MHz VCO; / 5 / 2 = 150 MHz (the higher post divider first: lower power, 8.6.3). */
#define PLL_SYS_REFDIV 1u
#define PLL_SYS_FBDIV 125u
#define PLL_SYS_POSTDIV1 5u
#define PLL_SYS_POSTDIV2 2u
#define PLL_SYS_VCO_HZ (EK_RP2350_XOSC_HZ / PLL_SYS_REFDIV * PLL_SYS_FBDIV)
#if EK_RP2350_XOSC_HZ / PLL_SYS_REFDIV < 5000000u
#error "PLL_SYS reference below 5 MHz"
#endif
#if PLL_SYS_VCO_HZ < 750000000u || PLL_SYS_VCO_HZ > 1600000000u
#error "PLL_SYS VCO outside 750..1600 MHz"
#endif
#if PLL_SYS_FBDIV < 16u || PLL_SYS_FBDIV > 320u || PLL_SYS_POSTDIV1 < 1u || PLL_SYS_POSTDIV1 > 7u ||                 \
    PLL_SYS_POSTDIV2 < 1u || PLL_SYS_POSTDIV2 > 7u
#error "PLL_SYS divider outside the datasheet's range"
#endif
#if PLL_SYS_VCO_HZ / (PLL_SYS_POSTDIV1 * PLL_SYS_POSTDIV2) != EK_CLOCK_HZ
#error "PLL_SYS output differs from the profile's cpu.clock_hz: change the PLL parameters or the profile"
#endif

/* ---- small helpers ---------------------------------------------------------------------------------- */

static int wait_bits(uint32_t addr, uint32_t mask, uint32_t want)
{
    for (uint32_t i = 0; i < READY_SPINS; i++) {
        if ((EK_REG32(addr) & mask) == want) {
            return 1;
        }
    }
    return 0;
}

/* Take blocks out of reset and wait until they are running (datasheet 7.5.2). */
static int unreset(uint32_t bits)
{
    EK_REG32(RESETS_BASE + REG_CLR + RESETS_RESET) = bits;
    return wait_bits(RESETS_BASE + RESETS_RESET_DONE, bits, bits);
}

/* IO function first, isolation off last (9.7), so the pad never shows a half-configured state. The pad keeps
 * its reset drive (4 mA) and Schmitt input; the reset pull-down is dropped unless asked for. */
static void gpio_function(unsigned gpio, uint32_t funcsel, uint32_t pad_bits)
{
    EK_REG32(PAD(gpio)) = PAD_SCHMITT | PAD_DRIVE_4MA | pad_bits | PAD_ISO;
    EK_REG32(GPIO_CTRL(gpio)) = funcsel;
    EK_REG32(PAD(gpio) + REG_CLR) = PAD_ISO;
}

/* ---- status reported on the link once the UART is up -------------------------------------------------- */

enum ek_rp2350_fault { EK_RP2350_OK = 0, EK_RP2350_NO_XOSC, EK_RP2350_NO_PLL, EK_RP2350_NO_CLK_SYS };
static enum ek_rp2350_fault ek_clock_fault;
static uint32_t ek_psram_id;    /* MF ID << 8 | KGD as read in direct mode */
static int ek_psram_ok;         /* ID matched and a write/read-back through the XIP window worked */

/* ---- clocks (datasheet 8.1.6 programmer's model, 8.2 XOSC, 8.6.4 PLL programming sequence) --------------- */

static enum ek_rp2350_fault clocks_init(void)
{
    /* Move clk_sys off its auxiliary mux (it may run from PLL_SYS after a warm reset) before touching the PLL. */
    EK_REG32(CLOCKS_BASE + REG_CLR + CLK_SYS_CTRL) = CLK_SYS_CTRL_SRC_AUX;
    if (!wait_bits(CLOCKS_BASE + CLK_SYS_SELECTED, 0x3u, 0x1u)) {
        return EK_RP2350_NO_CLK_SYS;
    }

    EK_REG32(XOSC_BASE + XOSC_STARTUP) = XOSC_STARTUP_DELAY;
    EK_REG32(XOSC_BASE + XOSC_CTRL) = XOSC_CTRL_FREQ_RANGE_1_15MHZ | XOSC_CTRL_ENABLE;
    if (!wait_bits(XOSC_BASE + XOSC_STATUS, XOSC_STATUS_STABLE, XOSC_STATUS_STABLE)) {
        return EK_RP2350_NO_XOSC; /* still on the ring oscillator: the UART baud rate will be wrong */
    }
    /* clk_ref from the crystal: glitchless mux, SELECTED is one-hot by source */
    EK_REG32(CLOCKS_BASE + CLK_REF_DIV) = CLK_DIV_INT_1;
    EK_REG32(CLOCKS_BASE + CLK_REF_CTRL) = CLK_REF_CTRL_SRC_XOSC;
    if (!wait_bits(CLOCKS_BASE + CLK_REF_SELECTED, 0xfu, 1u << CLK_REF_CTRL_SRC_XOSC)) {
        return EK_RP2350_NO_XOSC;
    }

    /* PLL_SYS: reset, dividers, power up VCO, wait for lock, then the post dividers (8.6.4) */
    EK_REG32(RESETS_BASE + REG_SET + RESETS_RESET) = RESET_PLL_SYS;
    if (!unreset(RESET_PLL_SYS)) {
        return EK_RP2350_NO_PLL;
    }
    EK_REG32(PLL_SYS_BASE + PLL_CS) = PLL_SYS_REFDIV;
    EK_REG32(PLL_SYS_BASE + PLL_FBDIV_INT) = PLL_SYS_FBDIV;
    EK_REG32(PLL_SYS_BASE + REG_CLR + PLL_PWR) = PLL_PWR_PD | PLL_PWR_VCOPD;
    if (!wait_bits(PLL_SYS_BASE + PLL_CS, PLL_CS_LOCK, PLL_CS_LOCK)) {
        return EK_RP2350_NO_PLL;
    }
    EK_REG32(PLL_SYS_BASE + PLL_PRIM) =
        (PLL_SYS_POSTDIV1 << PLL_PRIM_POSTDIV1_LSB) | (PLL_SYS_POSTDIV2 << PLL_PRIM_POSTDIV2_LSB);
    EK_REG32(PLL_SYS_BASE + REG_CLR + PLL_PWR) = PLL_PWR_POSTDIVPD;

    /* clk_sys: aux source = PLL_SYS (changed only while the glitchless mux selects clk_ref), then switch */
    EK_REG32(CLOCKS_BASE + CLK_SYS_DIV) = CLK_DIV_INT_1;
    EK_REG32(CLOCKS_BASE + CLK_SYS_CTRL) = CLK_SYS_CTRL_AUXSRC_PLL_SYS;
    EK_REG32(CLOCKS_BASE + REG_SET + CLK_SYS_CTRL) = CLK_SYS_CTRL_SRC_AUX;
    if (!wait_bits(CLOCKS_BASE + CLK_SYS_SELECTED, 0x3u, 0x2u)) {
        return EK_RP2350_NO_CLK_SYS;
    }

    /* clk_peri (UART): no glitchless mux, so stop it, let it settle for a few cycles, re-source, restart */
    EK_REG32(CLOCKS_BASE + CLK_PERI_CTRL) = 0;
    for (volatile int i = 0; i < 16; i++) {
    }
    EK_REG32(CLOCKS_BASE + CLK_PERI_DIV) = CLK_DIV_INT_1;
    EK_REG32(CLOCKS_BASE + CLK_PERI_CTRL) = CLK_PERI_CTRL_ENABLE | CLK_PERI_CTRL_AUXSRC_CLK_SYS;
    return EK_RP2350_OK;
}

extern uint8_t __ek_arena_start[], __ek_arena_end[];

static int in_psram_window(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a >= PSRAM_WINDOW_BASE && a < PSRAM_WINDOW_BASE + XIP_WINDOW_BYTES;
}

/* End-to-end check of the QPI read/write formats: distinct words at the window's first byte and at the
 * arena's last word, written and read back through the uncached alias (no cache line can hide a failure). */
static int psram_read_back_ok(void)
{
    uintptr_t arena_start = (uintptr_t)__ek_arena_start, arena_end = (uintptr_t)__ek_arena_end;
    uint32_t last = 0;
    if (in_psram_window(__ek_arena_start) && arena_end > arena_start) {
        last = ((uint32_t)arena_end - 4u - PSRAM_WINDOW_BASE) & ~3u;
    }
    volatile uint32_t *first_word = (volatile uint32_t *)(XIP_NOCACHE_NOALLOC_BASE + XIP_WINDOW_BYTES);
    volatile uint32_t *last_word = (volatile uint32_t *)(XIP_NOCACHE_NOALLOC_BASE + XIP_WINDOW_BYTES + last);
    *first_word = 0x5a17c3e1u;
    if (last) {
        *last_word = 0xa5e83c1eu;
    }
    return *first_word == 0x5a17c3e1u && (!last || *last_word == 0xa5e83c1eu);
}

static void psram_init(void)
{
    gpio_function(EK_PORT_CFG_PSRAM_CS_GPIO, FUNCSEL_XIP_CS1, 0);
    ek_psram_id = ek_rp2350_psram_probe_and_map();
    if (ek_psram_id != PSRAM_ID_WANTED) {
        return;
    }
    EK_REG32(XIP_CTRL_BASE + XIP_CTRL_CTRL) |= XIP_CTRL_WRITABLE_M1;
    ek_psram_ok = psram_read_back_ok();
}

/* ---- power-meter marker: GP26 (docs/power.md) driven through SIO ----------------------------------------- */

#if EK_MARKER_PIN >= 32
#define MARKER_OUT_SET SIO_GPIO_HI_OUT_SET
#define MARKER_OUT_CLR SIO_GPIO_HI_OUT_CLR
#define MARKER_OE_SET SIO_GPIO_HI_OE_SET
#define MARKER_BIT (1u << (EK_MARKER_PIN - 32))
#else
#define MARKER_OUT_SET SIO_GPIO_OUT_SET
#define MARKER_OUT_CLR SIO_GPIO_OUT_CLR
#define MARKER_OE_SET SIO_GPIO_OE_SET
#define MARKER_BIT (1u << (EK_MARKER_PIN & 31))
#endif

static void marker_init(void)
{
#if EK_MARKER_PIN >= 0
    EK_REG32(SIO_BASE + MARKER_OUT_CLR) = MARKER_BIT;
    EK_REG32(SIO_BASE + MARKER_OE_SET) = MARKER_BIT;
    gpio_function((unsigned)EK_MARKER_PIN, FUNCSEL_SIO, 0);
#endif
}

void ek_port_marker(int on)
{
#if EK_MARKER_PIN >= 0
    EK_REG32(SIO_BASE + (on ? MARKER_OUT_SET : MARKER_OUT_CLR)) = MARKER_BIT;
#else
    (void)on;
#endif
}

/* ---- board init ---------------------------------------------------------------------------------------- */

/* First code after reset (naked, no RAM yet): arm the Armv8-M main stack limit at the bottom of our stack
 * (set here rather than trusting whatever the boot ROM left), so an overflow stops the core with a stack-limit
 * fault instead of silently running over .bss. The fault report itself needs stack, so it may not get out. */
__attribute__((naked)) void ek_board_reset_hook(void)
{
    __asm__ volatile("ldr r0, =__ek_stack_limit\n\t"
                     "msr msplim, r0\n\t"
                     "bx lr\n\t");
}

void ek_board_init(void)
{
    ek_clock_fault = clocks_init();
    (void)unreset(RESET_IO_BANK0 | RESET_PADS_BANK0);
    marker_init();
    if (ek_clock_fault == EK_RP2350_OK) {
        psram_init(); /* its timing is computed for the 150 MHz clk_sys */
    }
}

/* ---- UART0 (PL011) ---------------------------------------------------------------------------------------- */

#define UART(off) EK_REG32(EK_UART_BASE + (off))

static int ek_uart_ready;

static void puts_raw(const char *s)
{
    while (*s) {
        ek_uart_putc((uint8_t)*s++);
    }
}

static void put_hex(uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) {
        ek_uart_putc((uint8_t)hex[(v >> shift) & 0xfu]);
    }
}

static void put_dec(uint32_t v)
{
    if (v >= 10u) {
        put_dec(v / 10u);
    }
    ek_uart_putc((uint8_t)('0' + v % 10u));
}

/* Boot problems become one line on the link (the host's frame decoder skips it as garbage). A PSRAM that holds
 * the arena but failed stops the boot here, repeating the line every second, instead of faulting at first use. */
static void report_boot_faults(void)
{
    static const char *const clock_faults[] = {"", "XOSC did not start", "PLL_SYS did not lock",
                                               "clk_sys did not switch to PLL_SYS"};
    if (ek_clock_fault == EK_RP2350_OK && ek_psram_ok) {
        return;
    }
    int halt = in_psram_window(__ek_arena_start);
    do {
        puts_raw("\r\nEK BOARD rp2350: ");
        if (ek_clock_fault != EK_RP2350_OK) {
            puts_raw(clock_faults[ek_clock_fault]);
            puts_raw(", so the PSRAM was not set up");
        } else {
            puts_raw("PSRAM on GP");
            put_dec(EK_PORT_CFG_PSRAM_CS_GPIO);
            if (ek_psram_id == PSRAM_ID_WANTED) {
                puts_raw(" answered but failed its write/read-back test");
            } else {
                puts_raw(" did not answer: ID ");
                put_hex(ek_psram_id, 4);
                puts_raw(", want ");
                put_hex(PSRAM_ID_WANTED, 4);
            }
        }
        puts_raw(halt ? "; the arena is there: halted\r\n" : "\r\n");
        for (uint32_t ms = 0; halt && ms < 1000u;) { /* SysTick runs (ek_cycles_init precedes ek_uart_init) */
            if (EK_SYST_CSR & EK_SYST_CSR_COUNTFLAG) {
                ms++;
            }
        }
    } while (halt);
}

void ek_uart_init(uint32_t base, uint32_t baud)
{
    (void)base; /* UART0, checked against EK_UART_BASE at compile time */
    EK_REG32(RESETS_BASE + REG_SET + RESETS_RESET) = RESET_UART0;
    if (!unreset(RESET_UART0)) {
        return;
    }
    /* PL011 divisor in 1/64ths: clk_peri / (16 * baud) = IBRD + FBRD / 64, rounded to nearest (12.1.3.2.1) */
    uint32_t div64 = (4u * EK_UART_CLOCK_HZ + baud / 2u) / baud;
    UART(UART_IBRD) = div64 >> 6;
    UART(UART_FBRD) = div64 & 63u;
    UART(UART_LCR_H) = UART_LCR_H_WLEN_8 | UART_LCR_H_FEN; /* 8N1, FIFOs on; also latches IBRD/FBRD */
    UART(UART_IFLS) = UART_IFLS_RX_1_8;
    UART(UART_ICR) = UART_ICR_ALL;
    UART(UART_IMSC) = UART_IMSC_RXIM | UART_IMSC_RTIM;
    UART(UART_CR) = UART_CR_UARTEN | UART_CR_TXE | UART_CR_RXE;
    gpio_function(0, FUNCSEL_UART, PAD_IE);           /* GP0 = UART0 TX */
    gpio_function(1, FUNCSEL_UART, PAD_IE | PAD_PUE); /* GP1 = UART0 RX, idle high when nothing is attached */
    ek_uart_ready = 1;
    ek_nvic_enable(EK_UART_IRQN);
    report_boot_faults();
}

void ek_uart_putc(uint8_t byte)
{
    if (!ek_uart_ready) {
        return; /* a fault report before ek_uart_init: nowhere to print */
    }
    for (uint32_t i = 0; i < READY_SPINS && (UART(UART_FR) & UART_FR_TXFF); i++) {
    }
    UART(UART_DR) = byte;
}

void ek_uart_irq_handler(void)
{
    while (!(UART(UART_FR) & UART_FR_RXFE)) {
        uint32_t dr = UART(UART_DR);
        if (!(dr & (UART_DR_FE | UART_DR_PE | UART_DR_BE))) { /* error bits (12.1.3.2.3) clear: a whole byte */
            ek_link_rx_push((uint8_t)dr);
        }
    }
    UART(UART_ICR) = UART_ICR_ALL;
}

/* The marker is a GPIO on this board (ek_port_marker above); EK_MARKER_UART_BASE is 0, so ek_port_init never
 * calls these. */
void ek_marker_uart_init(uint32_t base, uint32_t baud)
{
    (void)base;
    (void)baud;
}

void ek_marker_uart_putc(uint8_t byte)
{
    (void)byte;
}
