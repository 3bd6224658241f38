/* ek_port_stm32h747.c — edgekit port for the STM32H747I-DISCO's Cortex-M7 on STM32Cube HAL (RM0399).
 *
 * Clock: HSE 25 MHz -> PLL1 (M=5, N=160, P=2) -> 400 MHz SYSCLK, AHB 200 MHz, APBx 100 MHz, flash latency 4.
 * The kit powers the core from the direct SMPS, which rules out VOS0 and so the 480 MHz rating.
 * Link: USART1 (ST-LINK VCP) at EK_UART_BAUD, register-level RX interrupt into a ring, polled TX.
 * Cycles: DWT CYCCNT extended to 64 bits by the 1 kHz HAL SysTick. Caches: I and D on (the arena and images
 * are only read/written by the CPU, no DMA, so no maintenance is needed).
 * Options: -DEK_STM32H747_SDRAM brings up the 32 MB SDRAM (BSP_SDRAM_Init, arena can go to 0xD0000000);
 * -DEK_STM32H747_QSPI maps the 128 MB QSPI flash at 0x90000000 (BSP_QSPI_EnableMemoryMappedMode) for image parts.
 */
#include <stdint.h>
#include <string.h>

#include "stm32h7xx_hal.h"
#if defined(EK_STM32H747_SDRAM)
#include "stm32h747i_discovery_sdram.h"
#endif
#if defined(EK_STM32H747_QSPI)
#include "stm32h747i_discovery_qspi.h"
#endif

#include "ek_app_server_entry.h"
#include "ek_port.h"
#include "ek_port_config.h"

#define RX_RING_BYTES 2048u

static volatile uint8_t rx_ring[RX_RING_BYTES];
static volatile uint32_t rx_head, rx_tail;
static uint32_t cyc_last, cyc_high;
static uint64_t boot_cycles;

static void clock_init(void)
{
    RCC_OscInitTypeDef osc = {0};
    RCC_ClkInitTypeDef clk = {0};
    HAL_PWREx_ConfigSupply(PWR_DIRECT_SMPS_SUPPLY);
    __HAL_PWR_VOLTAGESCALING_CONFIG(PWR_REGULATOR_VOLTAGE_SCALE1);
    while (!__HAL_PWR_GET_FLAG(PWR_FLAG_VOSRDY)) {
    }
    osc.OscillatorType = RCC_OSCILLATORTYPE_HSE;
    osc.HSEState = RCC_HSE_ON;
    osc.PLL.PLLState = RCC_PLL_ON;
    osc.PLL.PLLSource = RCC_PLLSOURCE_HSE;
    osc.PLL.PLLM = 5;
    osc.PLL.PLLN = 160;
    osc.PLL.PLLP = 2;
    osc.PLL.PLLQ = 4;
    osc.PLL.PLLR = 2;
    osc.PLL.PLLRGE = RCC_PLL1VCIRANGE_2;
    osc.PLL.PLLVCOSEL = RCC_PLL1VCOWIDE;
    osc.PLL.PLLFRACN = 0;
    if (HAL_RCC_OscConfig(&osc) != HAL_OK) {
        return; /* stay on the 64 MHz HSI; ek_port_clock_hz reports what actually runs */
    }
    clk.ClockType = RCC_CLOCKTYPE_HCLK | RCC_CLOCKTYPE_SYSCLK | RCC_CLOCKTYPE_PCLK1 | RCC_CLOCKTYPE_PCLK2 |
                    RCC_CLOCKTYPE_D3PCLK1 | RCC_CLOCKTYPE_D1PCLK1;
    clk.SYSCLKSource = RCC_SYSCLKSOURCE_PLLCLK;
    clk.SYSCLKDivider = RCC_SYSCLK_DIV1;
    clk.AHBCLKDivider = RCC_HCLK_DIV2;
    clk.APB3CLKDivider = RCC_APB3_DIV2;
    clk.APB1CLKDivider = RCC_APB1_DIV2;
    clk.APB2CLKDivider = RCC_APB2_DIV2;
    clk.APB4CLKDivider = RCC_APB4_DIV2;
    (void)HAL_RCC_ClockConfig(&clk, FLASH_LATENCY_4);
}

static void usart_init(void)
{
    GPIO_InitTypeDef pins = {0};
    __HAL_RCC_GPIOA_CLK_ENABLE();
    __HAL_RCC_USART1_CLK_ENABLE();
    pins.Pin = GPIO_PIN_9 | GPIO_PIN_10;
    pins.Mode = GPIO_MODE_AF_PP;
    pins.Pull = GPIO_PULLUP;
    pins.Speed = GPIO_SPEED_FREQ_HIGH;
    pins.Alternate = GPIO_AF7_USART1;
    HAL_GPIO_Init(GPIOA, &pins);
    USART1->CR1 = 0;
    USART1->BRR = (HAL_RCC_GetPCLK2Freq() + EK_UART_BAUD / 2u) / EK_UART_BAUD; /* oversampling by 16 */
    USART1->CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE_RXFNEIE;
    HAL_NVIC_SetPriority(USART1_IRQn, 5, 0);
    HAL_NVIC_EnableIRQ(USART1_IRQn);
}

void USART1_IRQHandler(void)
{
    if (USART1->ISR & USART_ISR_ORE) {
        USART1->ICR = USART_ICR_ORECF; /* an overrun would otherwise block further RXNE interrupts */
    }
    while (USART1->ISR & USART_ISR_RXNE_RXFNE) {
        uint8_t byte = (uint8_t)USART1->RDR;
        if (rx_head - rx_tail < RX_RING_BYTES) {
            rx_ring[rx_head % RX_RING_BYTES] = byte;
            rx_head++;
        }
    }
}

void SysTick_Handler(void)
{
    HAL_IncTick();
    (void)ek_port_cycles(); /* sample CYCCNT every ms so the 64-bit extension never misses a wrap */
}

uint64_t ek_port_cycles(void)
{
    uint32_t primask = __get_PRIMASK();
    __disable_irq();
    uint32_t now = DWT->CYCCNT;
    if (now < cyc_last) {
        cyc_high++;
    }
    cyc_last = now;
    uint64_t cycles = ((uint64_t)cyc_high << 32) | now;
    __set_PRIMASK(primask);
    return cycles;
}

uint32_t ek_port_clock_hz(void) { return HAL_RCC_GetSysClockFreq(); }

uint64_t ek_port_time_us(void) { return (ek_port_cycles() - boot_cycles) / (ek_port_clock_hz() / 1000000u); }

void ek_port_init(void)
{
    SCB_EnableICache();
    SCB_EnableDCache();
    HAL_Init();
    clock_init();
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
    DWT->LAR = 0xC5ACCE55u;
    DWT->CYCCNT = 0;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    boot_cycles = ek_port_cycles();
#if defined(EK_STM32H747_SDRAM)
    (void)BSP_SDRAM_Init(0);
#endif
#if defined(EK_STM32H747_QSPI)
    BSP_QSPI_Init_t qspi = {BSP_QSPI_SPI_MODE, BSP_QSPI_DTR_TRANSFER};
    if (BSP_QSPI_Init(0, &qspi) == BSP_ERROR_NONE) {
        (void)BSP_QSPI_EnableMemoryMappedMode(0);
    }
#endif
    usart_init();
}

int ek_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    uint32_t start = HAL_GetTick();
    while (rx_head == rx_tail) {
        if (HAL_GetTick() - start >= timeout_ms) {
            return 0;
        }
        __WFI(); /* the UART or the 1 ms SysTick wakes us */
    }
    size_t n = 0;
    uint32_t tail = rx_tail;
    while (tail != rx_head && n < cap) {
        buf[n++] = rx_ring[tail % RX_RING_BYTES];
        tail++;
    }
    rx_tail = tail;
    return (int)n;
}

void ek_port_link_write(const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (!(USART1->ISR & USART_ISR_TXE_TXFNF)) {
        }
        USART1->TDR = buf[i];
    }
}

static const uintptr_t image_addrs[EK_IMAGE_COUNT] = EK_IMAGE_ADDRS;
static const size_t image_sizes[EK_IMAGE_COUNT] = EK_IMAGE_SIZES;

const uint8_t *ek_port_image(unsigned part, size_t *size_out)
{
    if (part >= EK_IMAGE_COUNT) {
        if (size_out) {
            *size_out = 0;
        }
        return NULL;
    }
    if (size_out) {
        *size_out = image_sizes[part];
    }
    return (const uint8_t *)image_addrs[part];
}

unsigned ek_port_image_count(void) { return EK_IMAGE_COUNT; }

static uint8_t arena[EK_ARENA_SIZE] __attribute__((section(EK_ARENA_SECTION), aligned(64)));

uint8_t *ek_port_arena(size_t *size_out)
{
    if (size_out) {
        *size_out = sizeof arena;
    }
    return arena;
}

void ek_port_marker(int on)
{
    /* LD1 (PI12) doubles as the marker: visible, and on the CN7 header for a meter's trigger input. */
    static int ready;
    if (!ready) {
        GPIO_InitTypeDef pin = {0};
        __HAL_RCC_GPIOI_CLK_ENABLE();
        pin.Pin = GPIO_PIN_12;
        pin.Mode = GPIO_MODE_OUTPUT_PP;
        pin.Speed = GPIO_SPEED_FREQ_HIGH;
        HAL_GPIO_Init(GPIOI, &pin);
        ready = 1;
    }
    HAL_GPIO_WritePin(GPIOI, GPIO_PIN_12, on ? GPIO_PIN_SET : GPIO_PIN_RESET);
}

int ek_port_power_uw(uint32_t *microwatts)
{
    (void)microwatts;
    return -1;
}

const char *ek_port_board_name(void) { return EK_BOARD_NAME; }

void ek_port_exit(int code)
{
    (void)code;
    NVIC_SystemReset();
}

int main(void)
{
    ek_port_init();
    return ek_app_main();
}
