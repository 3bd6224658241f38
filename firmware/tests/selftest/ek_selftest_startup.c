/* ek_selftest_startup.c — minimal Cortex-M start for the bare-metal kernel self-test: a vector table, .data/.bss
 * set-up, FPU/MVE enable, and Arm semihosting output and exit (QEMU -semihosting). Not a port: the real boards
 * use firmware/ports/. */
#include <stdint.h>

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);

static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void ek_semihost_write0(const char *text) { (void)semihost(0x04u, text); /* SYS_WRITE0 */ }

void ek_semihost_exit(int ok)
{
    /* SYS_EXIT: ADP_Stopped_ApplicationExit ends QEMU with status 0, ADP_Stopped_RunTimeErrorUnknown with 1 */
    (void)semihost(0x18u, (const void *)(uintptr_t)(ok ? 0x20026u : 0x20023u));
    for (;;) {
    }
}

void ek_selftest_reset(void)
{
    uint32_t *src = &__data_load, *dst;
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    for (dst = &__data_start; dst < &__data_end;)
        *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;)
        *dst++ = 0;
    *cpacr |= 0xFu << 20; /* CP10/CP11 full access: FPU and MVE */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    ek_semihost_exit(main() == 0);
}

static void ek_selftest_fault(void) { ek_semihost_exit(0); }

/* initial SP, reset, NMI, HardFault, MemManage, BusFault, UsageFault */
__attribute__((section(".vectors"), used)) static const uintptr_t vectors[7] = {
    (uintptr_t)&__stack_top, (uintptr_t)ek_selftest_reset, (uintptr_t)ek_selftest_fault,
    (uintptr_t)ek_selftest_fault, (uintptr_t)ek_selftest_fault, (uintptr_t)ek_selftest_fault,
    (uintptr_t)ek_selftest_fault};
