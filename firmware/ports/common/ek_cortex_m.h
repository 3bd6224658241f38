/* ek_cortex_m.h — the few Cortex-M core registers the bare-metal ports touch (ARMv7-M / ARMv8-M ARM).
 * Addresses are architectural (System Control Space), the same on every M3/M4/M7/M33/M55. */
#ifndef EK_CORTEX_M_H
#define EK_CORTEX_M_H

#include <stdint.h>

#define EK_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* SysTick (ARMv7-M ARM B3.3) */
#define EK_SYST_CSR EK_REG32(0xE000E010u)
#define EK_SYST_RVR EK_REG32(0xE000E014u)
#define EK_SYST_CVR EK_REG32(0xE000E018u)
#define EK_SYST_CSR_ENABLE (1u << 0)
#define EK_SYST_CSR_TICKINT (1u << 1)
#define EK_SYST_CSR_CLKSOURCE_CPU (1u << 2)
#define EK_SYST_CSR_COUNTFLAG (1u << 16) /* set when the counter wrapped; cleared by reading CSR */

/* System control block */
#define EK_SCB_ICSR EK_REG32(0xE000ED04u)
#define EK_ICSR_PENDSTSET (1u << 26) /* SysTick exception pending: wrapped, ISR not yet run */
#define EK_SCB_VTOR EK_REG32(0xE000ED08u)
#define EK_SCB_AIRCR EK_REG32(0xE000ED0Cu)
#define EK_SCB_CPACR EK_REG32(0xE000ED88u)
#define EK_SCB_CFSR EK_REG32(0xE000ED28u)
#define EK_SCB_HFSR EK_REG32(0xE000ED2Cu)
#define EK_AIRCR_SYSRESETREQ ((0x05FAu << 16) | (1u << 2))

/* Debug: DEMCR.TRCENA gates the DWT; DWT_LAR must be unlocked on Cortex-M7. */
#define EK_DEMCR EK_REG32(0xE000EDFCu)
#define EK_DEMCR_TRCENA (1u << 24)
#define EK_DWT_CTRL EK_REG32(0xE0001000u)
#define EK_DWT_CYCCNT EK_REG32(0xE0001004u)
#define EK_DWT_LAR EK_REG32(0xE0001FB0u)
#define EK_DWT_CTRL_CYCCNTENA (1u << 0)
#define EK_DWT_CTRL_NOCYCCNT (1u << 25)

/* NVIC */
#define EK_NVIC_ISER(n) EK_REG32(0xE000E100u + 4u * (n))

static inline void ek_nvic_enable(unsigned irqn)
{
    EK_NVIC_ISER(irqn / 32u) = 1u << (irqn % 32u);
}

static inline uint32_t ek_irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

static inline void ek_irq_restore(uint32_t primask)
{
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}

static inline void ek_irq_enable(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void ek_wait_for_interrupt(void) { __asm__ volatile("wfi" ::: "memory"); }
static inline void ek_barrier(void) { __asm__ volatile("dsb 0xF\n\tisb 0xF" ::: "memory"); }

/* Optional, weak in ek_cortex_m.c: the port's first code after reset, before any RAM is used (naked). */
void ek_board_reset_hook(void);

/* Implemented by every bare-metal port (firmware/ports/<port>/): clocks, pins, the UART driver. */
void ek_board_init(void);
void ek_uart_init(uint32_t base, uint32_t baud);
void ek_uart_putc(uint8_t byte);
void ek_uart_irq_handler(void);
/* The marker wire of the emulated boards: a second, transmit-only UART (see ek_port_marker). */
void ek_marker_uart_init(uint32_t base, uint32_t baud);
void ek_marker_uart_putc(uint8_t byte);

/* Implemented in ek_link_uart.c: the UART IRQ handler hands each received byte to the link ring. */
void ek_link_rx_push(uint8_t byte);

#endif /* EK_CORTEX_M_H */
