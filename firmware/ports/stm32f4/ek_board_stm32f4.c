/* ek_board_stm32f4.c — STM32F405 clocks, pins, USART1 (link) and USART2 (marker), register level (RM0090).
 *
 * Clock: HSE crystal (EK_STM32F4_HSE_HZ, 25 MHz on the Netduino Plus 2) -> PLL -> 168 MHz
 * SYSCLK, AHB 168, APB1 42, APB2 84 MHz; flash 5 wait states with prefetch and caches. QEMU does not model
 * the RCC (its registers read as zero and the machine always runs at 168 MHz), so every wait for a ready
 * flag is bounded and the setup is skipped when the RCC reads as all zeros, which real silicon never does
 * (HSION/HSIRDY are set at reset).
 */
#include <stdint.h>

#include "ek_cortex_m.h"
#include "ek_port_config.h"

#ifndef EK_STM32F4_HSE_HZ
#define EK_STM32F4_HSE_HZ 25000000u /* Netduino Plus 2: 25 MHz crystal */
#endif

#define RCC_BASE 0x40023800u
#define RCC_CR EK_REG32(RCC_BASE + 0x00u)
#define RCC_PLLCFGR EK_REG32(RCC_BASE + 0x04u)
#define RCC_CFGR EK_REG32(RCC_BASE + 0x08u)
#define RCC_AHB1ENR EK_REG32(RCC_BASE + 0x30u)
#define RCC_APB1ENR EK_REG32(RCC_BASE + 0x40u)
#define RCC_APB2ENR EK_REG32(RCC_BASE + 0x44u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_APB2ENR_USART1EN (1u << 4)
#define RCC_APB1ENR_USART2EN (1u << 17)

#define FLASH_ACR EK_REG32(0x40023C00u)
#define FLASH_ACR_LATENCY_5WS 5u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER EK_REG32(GPIOA_BASE + 0x00u)
#define GPIOA_OSPEEDR EK_REG32(GPIOA_BASE + 0x08u)
#define GPIOA_AFRL EK_REG32(GPIOA_BASE + 0x20u)
#define GPIOA_AFRH EK_REG32(GPIOA_BASE + 0x24u)

#define USART_SR 0x00u
#define USART_DR 0x04u
#define USART_BRR 0x08u
#define USART_CR1 0x0Cu
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE (1u << 13)

#define READY_SPINS 1000000u /* ~10 ms at 16 MHz HSI: the crystal and PLL lock in well under 2 ms */

static int wait_set(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    for (uint32_t i = 0; i < READY_SPINS; i++) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static void clock_init(void)
{
    if (RCC_CR == 0) {
        return; /* RCC not modelled (QEMU): the emulated clock tree is fixed at 168 MHz already */
    }
    RCC_CR |= RCC_CR_HSEON;
    if (!wait_set(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        return; /* no crystal: stay on HSI; EK_CLOCK_HZ must then say 16 MHz */
    }
    /* VCO in = HSE / M = 1 MHz (M = HSE in MHz), VCO = 336 MHz (N = 336), SYSCLK = VCO / 2, USB = VCO / 7. */
    uint32_t m = EK_STM32F4_HSE_HZ / 1000000u;
    RCC_PLLCFGR = m | (336u << 6) | (0u << 16) /* P = 2 */ | (1u << 22) /* HSE */ | (7u << 24);
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_set(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        return;
    }
    FLASH_ACR = FLASH_ACR_LATENCY_5WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    RCC_CFGR = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2 | RCC_CFGR_SW_PLL;
    (void)wait_set(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);
}

void ek_board_init(void)
{
    clock_init();
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    /* PA9 = USART1_TX, PA10 = USART1_RX: alternate function 7, high speed. */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 18) | (3u << 20))) | (2u << 18) | (2u << 20);
    GPIOA_OSPEEDR |= (3u << 18) | (3u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (7u << 4) | (7u << 8);
}

static uint32_t ek_usart_base;
static uint32_t ek_marker_usart_base;

#define USART(off) EK_REG32(ek_usart_base + (off))

static void usart_setup(uint32_t base, uint32_t clock_hz, uint32_t baud, uint32_t cr1)
{
    EK_REG32(base + USART_CR1) = 0;
    /* Oversampling by 16: BRR = f_pclk / baud, mantissa in [15:4] and fraction in [3:0] (RM0090 30.3.4). */
    EK_REG32(base + USART_BRR) = (clock_hz + baud / 2u) / baud;
    EK_REG32(base + USART_CR1) = cr1;
}

static void usart_putc(uint32_t base, uint8_t byte)
{
    while (!(EK_REG32(base + USART_SR) & USART_SR_TXE)) {
    }
    EK_REG32(base + USART_DR) = byte;
}

void ek_uart_init(uint32_t base, uint32_t baud)
{
    ek_usart_base = base;
    usart_setup(base, EK_UART_CLOCK_HZ, baud, USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE);
    ek_nvic_enable(EK_UART_IRQN);
}

void ek_uart_putc(uint8_t byte)
{
    if (ek_usart_base == 0) {
        return; /* a fault report before ek_uart_init: nowhere to print */
    }
    usart_putc(ek_usart_base, byte);
}

/* The marker USART (USART2 on APB1, PA2 = TX) only transmits. */
void ek_marker_uart_init(uint32_t base, uint32_t baud)
{
    RCC_APB1ENR |= RCC_APB1ENR_USART2EN;
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 4)) | (2u << 4);
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFu << 8)) | (7u << 8);
    ek_marker_usart_base = base;
    usart_setup(base, EK_MARKER_UART_CLOCK_HZ, baud, USART_CR1_UE | USART_CR1_TE);
}

void ek_marker_uart_putc(uint8_t byte)
{
    if (ek_marker_usart_base != 0) {
        usart_putc(ek_marker_usart_base, byte);
    }
}

void ek_uart_irq_handler(void)
{
    while (USART(USART_SR) & USART_SR_RXNE) {
        ek_link_rx_push((uint8_t)USART(USART_DR));
    }
}
