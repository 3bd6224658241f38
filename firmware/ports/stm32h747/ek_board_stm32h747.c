/* ek_board_stm32h747.c — STM32H747I-DISCO bring-up on the Cortex-M7, register level: supply and clocks,
 * MPU and caches, the external memories (ek_stm32h747_extmem.c), USART1 for the link and the PI12 marker.
 *
 * Order in ek_board_init, and why:
 *   1. supply (PWR_CR3 first: until it is written the core may not raise its voltage), VOS1, HSE, PLL1,
 *      flash wait states, bus prescalers, then switch SYSCLK to PLL1: 400 MHz core, 200 MHz AXI/AHB,
 *      100 MHz APB (numbers in ek_stm32h747_config.h);
 *   2. an MPU guard on the QUADSPI window before anything can reach it;
 *   3. SDRAM (tested while uncached), then QUADSPI; each opens its MPU region only once it works;
 *   4. I-cache and D-cache on.
 * Every wait is bounded. A failure is remembered and reported on the link UART as soon as ek_uart_init has
 * it running ("EK BOARD FAULT ..."), after which the board resets like ek_fault_handler does: a broken kit
 * says what broke instead of hanging silently.
 *
 * Memory choices: .data/.bss/stack in DTCM (boards/stm32h747-disco.toml [layout]): zero wait states for the
 * M7's load/store unit and outside the D-cache, so no maintenance is ever needed for them. The arena goes
 * where the plan puts it (default: SDRAM); nothing but the CPU touches it (no DMA), so the caches need no
 * maintenance after they are enabled.
 */
#include <stddef.h>
#include <stdint.h>

#include "ek_cortex_m.h"
#include "ek_port.h"
#include "ek_port_config.h"
#include "ek_stm32h747_board.h"
#include "ek_stm32h747_config.h"
#include "ek_stm32h747_regs.h"

#define EK_H747_MARKER_PORT PORT_I /* UM2411: user LED LD1 (green) is driven by PI12 */
#define EK_H747_MARKER_PIN 12u
#define EK_H747_FAULT_REPORT_MS 300u

static uint32_t ek_h747_core_hz = EK_H747_HSI_HZ; /* what the core runs at now (HSI until PLL1 takes over) */
static uint32_t ek_h747_pclk2_hz = EK_H747_HSI_HZ; /* USART1's kernel clock (rcc_pclk2) */
static const char *ek_h747_fault;                  /* first bring-up failure, reported by ek_uart_init */
static uint32_t ek_usart_base;

/* ---- time: DWT cycle counter (ARMv7-M ARM C1.8), started here, before ek_cycles_init takes it over ---- */

static void dwt_start(void)
{
    EK_DEMCR |= EK_DEMCR_TRCENA;
    EK_DWT_LAR = 0xC5ACCE55u; /* Cortex-M7: the DWT is locked until this key is written */
    EK_DWT_CTRL |= EK_DWT_CTRL_CYCCNTENA;
}

void ek_h747_delay_us(uint32_t us)
{
    uint32_t start = EK_DWT_CYCCNT;
    uint32_t cycles = us * (ek_h747_core_hz / 1000000u);
    while (EK_DWT_CYCCNT - start < cycles) {
    }
}

int ek_h747_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t timeout_us)
{
    uint32_t start = EK_DWT_CYCCNT;
    uint32_t cycles = timeout_us * (ek_h747_core_hz / 1000000u);
    for (;;) {
        if ((*reg & mask) == want) {
            return 1;
        }
        if (EK_DWT_CYCCNT - start >= cycles) {
            return (*reg & mask) == want;
        }
    }
}

/* ---- GPIO -------------------------------------------------------------------------------------------- */

void ek_h747_gpio_af(unsigned port, unsigned pin, unsigned af, unsigned pull)
{
    uint32_t two = 2u * pin, four = 4u * (pin % 8u);
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << four)) | ((uint32_t)af << four);
    GPIO_OSPEEDR(port) = (GPIO_OSPEEDR(port) & ~(3u << two)) | (GPIO_SPEED_VERY_HIGH << two);
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << two)) | ((uint32_t)pull << two);
    GPIO_OTYPER(port) &= ~(1u << pin);
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << two)) | (GPIO_MODE_AF << two);
}

/* ---- supply and clocks (RM0399 §7 PWR: supply configuration, voltage scaling; RCC: PLL1, SYSCLK) ------ */

static uint32_t ahb_prescaler_code(uint32_t div) /* HPRE: 0xxx = /1, 1000 = /2, 1001 = /4, 1010 = /8 ... */
{
    return div <= 1u ? 0u : 7u + (uint32_t)__builtin_ctz(div);
}

static uint32_t apb_prescaler_code(uint32_t div) /* DxPPREx: 0xx = /1, 100 = /2, 101 = /4, 110 = /8 ... */
{
    return div <= 1u ? 0u : 3u + (uint32_t)__builtin_ctz(div);
}

static uint32_t pll_input_range(uint32_t ref_hz) /* PLL1RGE: 1-2, 2-4, 4-8, 8-16 MHz */
{
    return ref_hz < 2000000u ? 0u : ref_hz < 4000000u ? 1u : ref_hz < 8000000u ? 2u : 3u;
}

static const char *clock_init(void)
{
    /* Direct SMPS supply (UM2411: the kit's default power configuration): SMPS on, LDO and bypass off. The
     * supply bits can be written once per power-on; if an earlier program chose otherwise, they stay. */
    PWR_CR3 = (PWR_CR3 & ~PWR_CR3_SUPPLY_MASK) | PWR_CR3_SMPSEN;
    if ((PWR_CR3 & PWR_CR3_SUPPLY_MASK) != PWR_CR3_SMPSEN) {
        return "supply: PWR_CR3 is locked to another supply configuration until power-off (power-cycle the kit)";
    }
    if (!ek_h747_wait(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY, 10000u)) {
        return "supply: PWR_CSR1.ACTVOSRDY never set after selecting the direct SMPS supply";
    }
    PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS_MASK) | ((4u - ek_h747_vos) << PWR_D3CR_VOS_SHIFT);
    if (!ek_h747_wait(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY, 10000u)) {
        return "supply: PWR_D3CR.VOSRDY never set for voltage scale 1";
    }

    /* A debugger may have left SYSCLK on a PLL (OpenOCD's reset-init does): back to HSI, PLL1 off, so PLL1
     * can be reprogrammed. */
    RCC_CFGR &= ~RCC_CFGR_SW_MASK;
    if (!ek_h747_wait(&RCC_CFGR, RCC_CFGR_SWS_MASK, 0u, 1000u)) {
        return "clock: SYSCLK would not return to HSI";
    }
    ek_h747_core_hz = EK_H747_HSI_HZ;
    RCC_CR &= ~RCC_CR_PLL1ON;
    if (!ek_h747_wait(&RCC_CR, RCC_CR_PLL1RDY, 0u, 1000u)) {
        return "clock: PLL1 would not stop";
    }

    RCC_CR = (RCC_CR & ~RCC_CR_HSEBYP) | RCC_CR_HSEON; /* a crystal, not an external clock: no bypass */
    if (!ek_h747_wait(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY, 100000u)) {
        return "clock: the 25 MHz HSE crystal did not start (RCC_CR.HSERDY)";
    }
    uint32_t ref_hz = ek_h747_hse_hz / ek_h747_pll1_m;
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~(RCC_PLLCKSELR_PLLSRC_MASK | RCC_PLLCKSELR_DIVM1_MASK)) |
                    RCC_PLLCKSELR_PLLSRC_HSE | (ek_h747_pll1_m << RCC_PLLCKSELR_DIVM1_SHIFT);
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(RCC_PLLCFGR_PLL1FRACEN | RCC_PLLCFGR_PLL1VCOSEL | RCC_PLLCFGR_PLL1RGE_MASK |
                                   RCC_PLLCFGR_DIVP1EN | RCC_PLLCFGR_DIVQ1EN | RCC_PLLCFGR_DIVR1EN)) |
                  (pll_input_range(ref_hz) << RCC_PLLCFGR_PLL1RGE_SHIFT) | RCC_PLLCFGR_DIVP1EN;
    /* Q and R outputs stay disabled; their dividers get a legal value (/2) anyway. */
    RCC_PLL1DIVR = ((ek_h747_pll1_n - 1u) << RCC_PLL1DIVR_N1_SHIFT) | ((ek_h747_pll1_p - 1u) << RCC_PLL1DIVR_P1_SHIFT) |
                   (1u << RCC_PLL1DIVR_Q1_SHIFT) | (1u << RCC_PLL1DIVR_R1_SHIFT);
    RCC_CR |= RCC_CR_PLL1ON;
    if (!ek_h747_wait(&RCC_CR, RCC_CR_PLL1RDY, RCC_CR_PLL1RDY, 10000u)) {
        return "clock: PLL1 did not lock (RCC_CR.PLL1RDY)";
    }

    /* Wait states first: the flash must be slow enough before its clock rises (RM0399 FLASH_ACR). */
    uint32_t acr = ek_h747_flash_latency | (ek_h747_flash_wrhighfreq << FLASH_ACR_WRHIGHFREQ_SHIFT);
    FLASH_ACR = (FLASH_ACR & ~(FLASH_ACR_LATENCY_MASK | FLASH_ACR_WRHIGHFREQ_MASK)) | acr;
    if ((FLASH_ACR & (FLASH_ACR_LATENCY_MASK | FLASH_ACR_WRHIGHFREQ_MASK)) != acr) {
        return "clock: FLASH_ACR did not take the wait states";
    }
    /* Bus prescalers before the switch, so AXI/AHB never run above 200 MHz nor APB above 100 MHz. */
    uint32_t apb = apb_prescaler_code(ek_h747_apb_div);
    RCC_D1CFGR = (ahb_prescaler_code(ek_h747_ahb_div) << RCC_D1CFGR_HPRE_SHIFT) | (apb << RCC_D1CFGR_D1PPRE_SHIFT);
    RCC_D2CFGR = (apb << RCC_D2CFGR_D2PPRE1_SHIFT) | (apb << RCC_D2CFGR_D2PPRE2_SHIFT);
    RCC_D3CFGR = apb << RCC_D3CFGR_D3PPRE_SHIFT;
    ek_h747_pclk2_hz = EK_H747_HSI_HZ / ek_h747_ahb_div / ek_h747_apb_div;

    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL1;
    if (!ek_h747_wait(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL1, 1000u)) {
        return "clock: SYSCLK did not switch to PLL1";
    }
    ek_h747_core_hz = ek_h747_hse_hz / ek_h747_pll1_m * ek_h747_pll1_n / ek_h747_pll1_p;
    ek_h747_pclk2_hz = ek_h747_core_hz / ek_h747_ahb_div / ek_h747_apb_div;
    return NULL;
}

/* ---- MPU (ARMv7-M ARM B3.5) ------------------------------------------------------------------------------
 * The ARMv7-M default memory map makes 0xC0000000-0xDFFFFFFF Device memory: no caching, and unaligned
 * accesses fault, which compiled C (memcpy, packed loads) does freely. An MPU region makes the SDRAM Normal,
 * write-back cacheable instead; the alternative, FMC_BCR1.BMAP swapping SDRAM to 0x60000000/0x70000000, would
 * move the SDRAM away from the 0xD0000000 that UM2411 and the board profile give. PRIVDEFENA keeps the
 * default map everywhere else (the firmware runs privileged). Regions (a higher number wins where they overlap):
 *   0  0x90000000 256 MB  no access      the whole QUADSPI window: the M7 may read Normal memory speculatively
 *                                        and a read there stalls the bus while QUADSPI is not memory-mapped;
 *                                        also covers the unpopulated upper 128 MB (FSIZE is one larger)
 *   1  0x90000000 128 MB  read-only, Normal write-through, execute-never: the image parts (after QSPI is up)
 *   2  0xD0000000  32 MB  read-write, Normal write-back write-allocate, execute-never: the SDRAM (after init)
 */
enum { MPU_REGION_QSPI_GUARD, MPU_REGION_QSPI, MPU_REGION_SDRAM };

static void mpu_set(uint32_t region, uint32_t base, uint32_t rasr)
{
    __asm__ volatile("dmb 0xF" ::: "memory");
    MPU_CTRL = 0u;
    MPU_RNR = region;
    MPU_RBAR = base;
    MPU_RASR = rasr;
    MPU_CTRL = MPU_CTRL_PRIVDEFENA | MPU_CTRL_ENABLE;
    ek_barrier();
}

/* ---- caches (ARMv7-M ARM B2.2.7 cache maintenance; Cortex-M7: invalidate before enabling) -------------- */

static void caches_enable(void)
{
    if (!(SCB_CCR & SCB_CCR_IC)) {
        ek_barrier();
        SCB_ICIALLU = 0u;
        ek_barrier();
        SCB_CCR |= SCB_CCR_IC;
        ek_barrier();
    }
    if (!(SCB_CCR & SCB_CCR_DC)) {
        /* After reset the D-cache holds random lines: invalidate every set and way of L1 data first. */
        SCB_CSSELR = 0u;
        ek_barrier();
        uint32_t ccsidr = SCB_CCSIDR;
        uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
        uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
        uint32_t line_shift = (ccsidr & 7u) + 4u;
        uint32_t way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
        for (uint32_t set = 0; set < sets; set++) {
            for (uint32_t way = 0; way < ways; way++) {
                SCB_DCISW = (way_shift ? way << way_shift : 0u) | (set << line_shift);
            }
        }
        ek_barrier();
        SCB_CCR |= SCB_CCR_DC;
        ek_barrier();
    }
}

/* ---- marker: PI12 (UM2411 LD1), logic high while a model step runs --------------------------------------
 * LD1 is lit by a low level, so the LED is on while idle and goes dark during steps; a meter's logic input
 * clips onto PI12 (LD1's MCU side) and GND. */

static void marker_init(void)
{
    uint32_t two = 2u * EK_H747_MARKER_PIN;
    GPIO_BSRR(EK_H747_MARKER_PORT) = 1u << (EK_H747_MARKER_PIN + 16u);
    GPIO_OTYPER(EK_H747_MARKER_PORT) &= ~(1u << EK_H747_MARKER_PIN);
    GPIO_OSPEEDR(EK_H747_MARKER_PORT) = (GPIO_OSPEEDR(EK_H747_MARKER_PORT) & ~(3u << two)) | (GPIO_SPEED_LOW << two);
    GPIO_MODER(EK_H747_MARKER_PORT) = (GPIO_MODER(EK_H747_MARKER_PORT) & ~(3u << two)) | (GPIO_MODE_OUTPUT << two);
}

void ek_port_marker(int on)
{
    GPIO_BSRR(EK_H747_MARKER_PORT) = on ? 1u << EK_H747_MARKER_PIN : 1u << (EK_H747_MARKER_PIN + 16u);
}

/* ---- bring-up ------------------------------------------------------------------------------------------ */

void ek_board_init(void)
{
    dwt_start();
    ek_h747_fault = clock_init();
    /* GPIO ports used: A (USART1), B, D-I (QUADSPI, FMC, marker). The read back lets the enable take effect
     * before the first access (RM0399 RCC: peripheral clock enable delay). */
    RCC_AHB4ENR |= RCC_AHB4ENR_GPIOEN(PORT_A) | RCC_AHB4ENR_GPIOEN(PORT_B) | RCC_AHB4ENR_GPIOEN(PORT_D) |
                   RCC_AHB4ENR_GPIOEN(PORT_E) | RCC_AHB4ENR_GPIOEN(PORT_F) | RCC_AHB4ENR_GPIOEN(PORT_G) |
                   RCC_AHB4ENR_GPIOEN(PORT_H) | RCC_AHB4ENR_GPIOEN(PORT_I);
    (void)RCC_AHB4ENR;
    /* SRAM1-3 (0x30000000, D2 domain) are clock-gated at reset (RCC_AHB2ENR.SRAMxEN = 0); the plan may put the
     * arena there. */
    RCC_AHB2ENR |= RCC_AHB2ENR_SRAM123EN;
    (void)RCC_AHB2ENR;
    marker_init();
    if (ek_h747_fault != NULL) {
        return; /* no point bringing memories up on the wrong clock; ek_uart_init reports it */
    }
    mpu_set(MPU_REGION_QSPI_GUARD, EK_H747_QSPI_MAP_BASE,
            MPU_RASR_XN | MPU_RASR_AP_NONE | MPU_RASR_SIZE(28u) | MPU_RASR_ENABLE);
    ek_h747_fault = ek_h747_sdram_init();
    if (ek_h747_fault == NULL) {
        mpu_set(MPU_REGION_SDRAM, EK_H747_SDRAM_BASE,
                MPU_RASR_XN | MPU_RASR_AP_FULL | MPU_RASR_TEX(1u) | MPU_RASR_C | MPU_RASR_B | MPU_RASR_SIZE(25u) |
                    MPU_RASR_ENABLE);
        ek_h747_fault = ek_h747_qspi_init();
    }
    if (ek_h747_fault == NULL) {
        mpu_set(MPU_REGION_QSPI, EK_H747_QSPI_MAP_BASE,
                MPU_RASR_XN | MPU_RASR_AP_RO | MPU_RASR_C | MPU_RASR_SIZE(27u) | MPU_RASR_ENABLE);
    }
    caches_enable();
}

/* ---- USART1: the link (RM0399 USART; UM2411: ST-LINK V3 virtual COM port on PA9 TX / PA10 RX, AF7) ----- */

#define USART(off) EK_REG32(ek_usart_base + (off))

static void puts_raw(const char *s)
{
    while (*s) {
        ek_uart_putc((uint8_t)*s++);
    }
}

void ek_uart_init(uint32_t base, uint32_t baud)
{
    RCC_D2CCIP2R &= ~RCC_D2CCIP2R_USART16SEL_MASK; /* kernel clock = rcc_pclk2 */
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    (void)RCC_APB2ENR;
    ek_h747_gpio_af(PORT_A, 9u, 7u, GPIO_PULL_NONE);
    ek_h747_gpio_af(PORT_A, 10u, 7u, GPIO_PULL_UP); /* idle-high line even with the ST-LINK unpowered */
    ek_usart_base = base;
    USART(USART_CR1) = 0u;
    USART(USART_BRR) = (ek_h747_pclk2_hz + baud / 2u) / baud; /* oversampling by 16, PRESC = /1 */
    USART(USART_CR1) = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    ek_nvic_enable(EK_UART_IRQN);
    if (ek_h747_fault != NULL) {
        puts_raw("\r\nEK BOARD FAULT stm32h747: ");
        puts_raw(ek_h747_fault);
        puts_raw("\r\n");
        ek_h747_delay_us(EK_H747_FAULT_REPORT_MS * 1000u); /* let the host read the line before the reset */
        ek_port_exit(3);
    }
}

void ek_uart_putc(uint8_t byte)
{
    if (ek_usart_base == 0u) {
        return; /* a fault report before ek_uart_init: nowhere to print */
    }
    while (!(USART(USART_ISR) & USART_ISR_TXE)) {
    }
    USART(USART_TDR) = byte;
}

void ek_uart_irq_handler(void)
{
    while (USART(USART_ISR) & USART_ISR_RXNE) {
        ek_link_rx_push((uint8_t)USART(USART_RDR));
    }
    /* Overrun: a byte arrived while RDR was still full and is lost (the link's CRC and resync recover).
     * ORE must be cleared: with RXNEIE set it keeps the interrupt asserted and reception stalled. Framing,
     * noise and parity flags are cleared too; their byte was already delivered above. */
    uint32_t errors = USART(USART_ISR) & (USART_ISR_ORE | USART_ISR_FE | USART_ISR_NE | USART_ISR_PE);
    if (errors) {
        USART(USART_ICR) = USART_ICR_ORECF | USART_ICR_FECF | USART_ICR_NECF | USART_ICR_PECF;
    }
}

/* The kit has no spare UART wired for a marker: the marker is PI12 (ek_port_marker above). These exist for
 * the shared Cortex-M code, which only calls them when EK_MARKER_UART_BASE is non-zero (never here). */
void ek_marker_uart_init(uint32_t base, uint32_t baud)
{
    (void)base;
    (void)baud;
}

void ek_marker_uart_putc(uint8_t byte)
{
    (void)byte;
}
