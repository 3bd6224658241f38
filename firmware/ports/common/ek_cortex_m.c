/* ek_cortex_m.c — what every bare-metal Cortex-M port shares: vector table and reset handler, the cycle
 * counter (DWT CYCCNT where it counts, SysTick otherwise), images and arena from the plan, and exit.
 *
 * The board-specific parts (clocks, pins, UART registers, IRQ numbers) live in the port directory:
 * ek_port_board.h (addresses, defaults) and ek_board_init()/ek_uart_*().
 */
#include <stddef.h>
#include <stdint.h>

#include "ek_cortex_m.h"
#include "ek_port.h"
#include "ek_port_config.h"

/* Symbols from the linker script (firmware/ports/common/cortex-m.ld.in). */
extern uint32_t __ek_data_start[], __ek_data_end[], __ek_data_load[];
extern uint32_t __ek_bss_start[], __ek_bss_end[];
extern uint32_t __ek_stack_top[];

#define EK_FAULT_REPORT_MS 300u /* time the host gets to read the fault line before the program ends */

int main(void);
void ek_reset_handler(void);
void ek_default_handler(void);
void ek_fault_handler(void);
void ek_systick_handler(void);

/* ---- vector table -------------------------------------------------------------------------------------
 * Unused IRQ slots stay 0: only the UART and SysTick interrupts are ever enabled, and a stray vector of 0
 * faults into ek_fault_handler (INVSTATE), which reports it instead of hanging silently. */
typedef void (*ek_vector)(void);

/* VTOR needs the table aligned to its size rounded up to a power of two (at least 128 bytes). It only matters
 * where a boot header sits before the table; elsewhere the table starts its region. */
#define EK_VECTOR_BYTES ((16u + EK_PORT_IRQ_COUNT) * 4u)
#define EK_VECTOR_ALIGN                                                                                        \
    (EK_VECTOR_BYTES <= 128u    ? 128u                                                                         \
     : EK_VECTOR_BYTES <= 256u  ? 256u                                                                         \
     : EK_VECTOR_BYTES <= 512u  ? 512u                                                                         \
     : EK_VECTOR_BYTES <= 1024u ? 1024u                                                                        \
                                : 2048u)

__attribute__((section(".ek_vectors"), used, aligned(EK_VECTOR_ALIGN))) const ek_vector
    ek_vector_table[16 + EK_PORT_IRQ_COUNT] = {
    [0] = (ek_vector)(uintptr_t)__ek_stack_top,
    [1] = ek_reset_handler,
    [2] = ek_default_handler,  /* NMI */
    [3] = ek_fault_handler,    /* HardFault */
    [4] = ek_fault_handler,    /* MemManage */
    [5] = ek_fault_handler,    /* BusFault */
    [6] = ek_fault_handler,    /* UsageFault */
    [7] = ek_fault_handler,    /* SecureFault (ARMv8-M) */
    [11] = ek_default_handler, /* SVCall */
    [12] = ek_default_handler, /* DebugMonitor */
    [14] = ek_default_handler, /* PendSV */
    [15] = ek_systick_handler,
    [16 + EK_UART_IRQN] = ek_uart_irq_handler,
};

/* A port's first words of code, before any RAM is used: memory the stack or .data needs may not exist yet
 * (i.MX RT FlexRAM banks are assigned here). It runs with no valid stack, so it must be naked, touch only
 * registers r0-r3 and return with `bx lr`. The default does nothing. */
__attribute__((naked, weak)) void ek_board_reset_hook(void)
{
    __asm__ volatile("bx lr");
}

/* Runs before .data/.bss exist: only touches registers. The FPU (and on ARMv8.1-M the MVE, which shares
 * CP10/CP11) is enabled first because GCC may vectorise or use FP registers in any later C code. */
__attribute__((naked, noreturn)) void ek_reset_handler(void)
{
    __asm__ volatile(
        "bl ek_board_reset_hook\n\t"
        "ldr r0, =0xE000ED88\n\t" /* CPACR */
        "ldr r1, [r0]\n\t"
        "orr r1, r1, #(0xF << 20)\n\t" /* CP10, CP11: full access */
        "str r1, [r0]\n\t"
        "dsb\n\t"
        "isb\n\t"
        "ldr r0, =__ek_stack_top\n\t"
        "msr msp, r0\n\t"
        "bl ek_c_startup\n\t"
        "b .\n\t");
}

__attribute__((noreturn, used)) void ek_c_startup(void);
__attribute__((noreturn, used)) void ek_c_startup(void)
{
    /* volatile: the loops stay plain word copies (no libc call, no vectorised body), so start-up depends on
     * nothing that start-up itself initialises. */
    volatile uint32_t *dst = __ek_data_start;
    const volatile uint32_t *src = __ek_data_load;
    while (dst < __ek_data_end) {
        *dst++ = *src++;
    }
    for (dst = __ek_bss_start; dst < __ek_bss_end;) {
        *dst++ = 0;
    }
    EK_SCB_VTOR = (uint32_t)(uintptr_t)ek_vector_table;
    ek_barrier();
    int code = main();
    ek_port_exit(code);
    for (;;) {
    }
}

/* ---- exit ------------------------------------------------------------------------------------------- */

#if EK_SEMIHOSTING
/* ARM semihosting SYS_EXIT_EXTENDED (0x20): reason ADP_Stopped_ApplicationExit with the exit code as
 * subcode, so QEMU (-semihosting-config enable=on) exits with exactly `code`. */
static void ek_semihosting_exit(int code)
{
    uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}
#endif

void ek_port_exit(int code)
{
#if EK_SEMIHOSTING
    ek_semihosting_exit(code);
#else
    (void)code;
#endif
    /* Without a debugger to catch the exit, a reset is the closest thing to "end the program". */
    EK_SCB_AIRCR = EK_AIRCR_SYSRESETREQ;
    ek_barrier();
    for (;;) {
    }
}

static void ek_puts_raw(const char *s)
{
    while (*s) {
        ek_uart_putc((uint8_t)*s++);
    }
}

static void ek_put_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int shift = 28; shift >= 0; shift -= 4) {
        ek_uart_putc((uint8_t)digits[(v >> shift) & 0xFu]);
    }
}

/* Busy-wait in fault context, where the SysTick interrupt cannot run: count its COUNTFLAG wraps (1 ms each). */
static void ek_fault_delay_ms(uint32_t ms)
{
    if (!(EK_SYST_CSR & EK_SYST_CSR_ENABLE)) {
        return;
    }
    for (uint32_t n = 0; n < ms;) {
        if (EK_SYST_CSR & EK_SYST_CSR_COUNTFLAG) {
            n++;
        }
    }
}

/* A fault leaves a one-line trace on the link (the host's frame decoder skips it as garbage) and ends
 * the program with status 3, so tests fail loudly instead of timing out. The pause before exiting lets the
 * host read the line: when QEMU exits, the pty hangs up and unread bytes are gone. */
void ek_fault_handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    ek_puts_raw("\r\nEK FAULT exc=");
    ek_put_hex(ipsr & 0x1FFu);
    ek_puts_raw(" cfsr=");
    ek_put_hex(EK_SCB_CFSR);
    ek_puts_raw(" hfsr=");
    ek_put_hex(EK_SCB_HFSR);
    ek_puts_raw("\r\n");
    ek_fault_delay_ms(EK_FAULT_REPORT_MS);
    ek_port_exit(3);
}

void ek_default_handler(void)
{
    ek_fault_handler();
}

/* ---- cycle counter ----------------------------------------------------------------------------------
 * SysTick interrupts every millisecond (reload = clock/1000 - 1): it counts core cycles exactly and wakes
 * WFI so link timeouts are honoured to the millisecond. Where the DWT cycle counter runs (real silicon;
 * QEMU does not model the DWT) it is the source instead and the SysTick ISR extends it to 64 bits often
 * enough never to miss a wrap (2^32 cycles is 7 s even at 600 MHz). */

#define EK_SYSTICK_RELOAD (EK_CLOCK_HZ / 1000u - 1u)
#if EK_CLOCK_HZ / 1000u - 1u > 0xFFFFFFu
#error "EK_CLOCK_HZ too high for a 1 ms SysTick period (24-bit reload)"
#endif

static volatile uint64_t ek_systick_ticks;
static int ek_use_dwt;
static uint32_t ek_dwt_last;
static uint32_t ek_dwt_high;

static uint64_t ek_dwt_extend(void)
{
    uint32_t primask = ek_irq_save();
    uint32_t now = EK_DWT_CYCCNT;
    if (now < ek_dwt_last) {
        ek_dwt_high++;
    }
    ek_dwt_last = now;
    uint64_t result = ((uint64_t)ek_dwt_high << 32) | now;
    ek_irq_restore(primask);
    return result;
}

void ek_systick_handler(void)
{
    ek_systick_ticks++;
    if (ek_use_dwt) {
        (void)ek_dwt_extend();
    }
}

static void ek_cycles_init(void)
{
    EK_SYST_CSR = 0;
    EK_SYST_RVR = EK_SYSTICK_RELOAD;
    EK_SYST_CVR = 0;
    EK_SYST_CSR = EK_SYST_CSR_ENABLE | EK_SYST_CSR_TICKINT | EK_SYST_CSR_CLKSOURCE_CPU;

    EK_DEMCR |= EK_DEMCR_TRCENA;
    EK_DWT_LAR = 0xC5ACCE55u; /* Cortex-M7 locks the DWT until this key is written */
    ek_use_dwt = 0;
    if (!(EK_DWT_CTRL & EK_DWT_CTRL_NOCYCCNT)) {
        EK_DWT_CYCCNT = 0;
        EK_DWT_CTRL |= EK_DWT_CTRL_CYCCNTENA;
        uint32_t before = EK_DWT_CYCCNT;
        for (volatile int i = 0; i < 64; i++) {
        }
        ek_use_dwt = EK_DWT_CYCCNT != before; /* QEMU: reads as zero, never moves */
    }
    ek_dwt_last = ek_use_dwt ? EK_DWT_CYCCNT : 0;
}

uint64_t ek_port_cycles(void)
{
    if (ek_use_dwt) {
        return ek_dwt_extend();
    }
    /* The counter runs 0, R, R-1, ..., 1, 0, ...: the interrupt is raised as it reaches 0, so a period of
     * R+1 cycles starts at 0 and (R+1-value) mod (R+1) cycles of it have passed. The tick count lags a wrap
     * until the ISR runs (interrupts masked, or not yet taken); on silicon a pending SysTick is exactly that
     * one uncounted wrap. QEMU reloads the counter a little before it pends the interrupt, so a reading that
     * would step back from the last one is that same uncounted wrap too. Interrupts are masked so the count
     * cannot move under us; re-read if the counter wrapped between the two registers. */
    static uint64_t last;
    uint32_t primask = ek_irq_save();
    uint64_t seen = ek_systick_ticks;
    uint32_t value, pending;
    do {
        pending = EK_SCB_ICSR & EK_ICSR_PENDSTSET;
        value = EK_SYST_CVR;
    } while (pending != (EK_SCB_ICSR & EK_ICSR_PENDSTSET));
    uint32_t period = EK_SYSTICK_RELOAD + 1u;
    uint64_t now = (seen + (pending != 0)) * (uint64_t)period + (period - value) % period;
    if (now < last) {
        now += period;
    }
    if (now < last) {
        now = last; /* cannot happen with at most one uncounted wrap; time still never steps back */
    }
    last = now;
    ek_irq_restore(primask);
    return now;
}

uint32_t ek_port_clock_hz(void)
{
    return EK_CLOCK_HZ;
}

uint64_t ek_port_time_us(void)
{
    /* Split so neither step overflows or rounds: exact for any clock, good for centuries of uptime. */
    uint64_t cycles = ek_port_cycles();
    return (cycles / EK_CLOCK_HZ) * 1000000u + (cycles % EK_CLOCK_HZ) * 1000000u / EK_CLOCK_HZ;
}

/* ---- init ---------------------------------------------------------------------------------------- */

void ek_port_init(void)
{
    ek_board_init();
    ek_cycles_init();
    ek_uart_init(EK_UART_BASE, EK_UART_BAUD);
    if (EK_MARKER_UART_BASE != 0u) {
        ek_marker_uart_init(EK_MARKER_UART_BASE, EK_UART_BAUD);
    }
    ek_irq_enable();
}

/* ---- images and arena from the plan --------------------------------------------------------------- */

static const uintptr_t ek_image_addrs[EK_IMAGE_COUNT] = EK_IMAGE_ADDRS;
static const size_t ek_image_sizes[EK_IMAGE_COUNT] = EK_IMAGE_SIZES;

const uint8_t *ek_port_image(unsigned part, size_t *size_out)
{
    if (part >= EK_IMAGE_COUNT) {
        if (size_out) {
            *size_out = 0;
        }
        return NULL;
    }
    if (size_out) {
        *size_out = ek_image_sizes[part];
    }
    return (const uint8_t *)ek_image_addrs[part];
}

unsigned ek_port_image_count(void)
{
    return EK_IMAGE_COUNT;
}

/* NOLOAD: the arena is not zeroed at boot (it may be megabytes of PSRAM); the runtime lays it out. */
static uint8_t ek_arena_storage[EK_ARENA_SIZE] __attribute__((section(EK_ARENA_SECTION), aligned(64), used));

uint8_t *ek_port_arena(size_t *size_out)
{
    if (size_out) {
        *size_out = sizeof ek_arena_storage;
    }
    return ek_arena_storage;
}

/* ---- optional hardware ------------------------------------------------------------------------------
 * The power-meter marker. A real board drives a GPIO into the meter's logic input (a port overrides this).
 * The emulated boards have no pin a host can watch, so their marker wire is a transmit-only UART that QEMU
 * connects to a host socket: each byte is the new level of the marker lines (bit 0: a model step is
 * running), which a meter's logic input (or tools/fake_ppk2.py) samples like a pin. */

__attribute__((weak)) void ek_port_marker(int on)
{
    if (EK_MARKER_UART_BASE != 0u) {
        ek_marker_uart_putc(on ? 1u : 0u);
    }
}

__attribute__((weak)) int ek_port_power_uw(uint32_t *microwatts)
{
    (void)microwatts;
    return -1;
}

const char *ek_port_board_name(void)
{
    return EK_BOARD_NAME;
}
