/* ek_board_teensy41.c — Teensy 4.1 (i.MX RT1062) bring-up at register level: FlexRAM banks, MPU and caches,
 * core voltage and clocks, LPUART6 (the link), the pin-33 power-meter marker, and a one-line report on the
 * link when the hardware the plan relies on is missing.
 *
 * Order of events: the boot ROM configures FlexSPI from the FCB (ek_boot_teensy41.c) and jumps to
 * ek_reset_handler, which first calls ek_board_reset_hook (FlexRAM, below), then sets the stack, copies .data
 * and calls main -> ek_port_init -> ek_board_init (MPU, caches, clocks, pins, PSRAM) -> SysTick/DWT ->
 * ek_uart_init. All register facts: IMXRT1060RM Rev. 3 (ek_imxrt1062.h names the chapter of each block);
 * MPU and cache registers: ARMv7-M Architecture Reference Manual (DDI 0403E) B3.5 and B2.2. */
#include <stddef.h>
#include <stdint.h>

#include "ek_imxrt1062.h"
#include "ek_port.h"
#include "ek_port_config.h"
#include "ek_teensy41.h"

/* ---- FlexRAM ----------------------------------------------------------------------------------------------
 * The 512 KB FlexRAM is 16 banks of 32 KB, split between ITCM, DTCM and OCRAM. The fuse default gives DTCM
 * only 128 KB. Our code runs in place from flash (behind the I-cache), so no bank goes to ITCM: all 16 become
 * DTCM, the 512 KB at 0x20000000 that boards/teensy41.toml declares and where .data, .bss and the stack live
 * (single-cycle, no cache in the way). The dedicated 512 KB OCRAM at 0x20200000 is not FlexRAM and is
 * unaffected. This must happen before the first RAM access (the stack is in DTCM), so it is the reset hook:
 * naked, r0-r3 only (IMXRT1060RM IOMUXC_GPR_GPR14/16/17; AN12077 §2.1 "FlexRAM configuration"). */
__attribute__((naked)) void ek_board_reset_hook(void)
{
    __asm__ volatile(
        "ldr r0, =0x400AC000\n\t"  /* IOMUXC_GPR */
        "ldr r1, =0xAAAAAAAA\n\t"  /* GPR17 FLEXRAM_BANK_CFG: every bank 0b10 = DTCM */
        "str r1, [r0, #0x44]\n\t"
        "ldr r1, [r0, #0x40]\n\t"  /* GPR16: keep CM7_INIT_VTOR and the rest */
        "bic r1, r1, #1\n\t"       /* INIT_ITCM_EN = 0: no ITCM bank */
        "orr r1, r1, #6\n\t"       /* INIT_DTCM_EN = 1, FLEXRAM_BANK_CFG_SEL = 1 (GPR17, not the fuses) */
        "str r1, [r0, #0x40]\n\t"
        "ldr r1, [r0, #0x38]\n\t"  /* GPR14 */
        "bic r1, r1, #0xFF0000\n\t" /* CM7_CFGITCMSZ = 0 (no ITCM) */
        "orr r1, r1, #0xA00000\n\t" /* CM7_CFGDTCMSZ = 0b1010: 512 KB */
        "str r1, [r0, #0x38]\n\t"
        "dsb\n\t"
        "isb\n\t"
        "bx lr\n\t"
        ".ltorg\n\t");
}

/* ---- bounded waits ------------------------------------------------------------------------------------ */

/* Milliseconds at any clock the core runs at during start-up (80 ms at 24 MHz): PLL lock and DCDC settling
 * take well under 1 ms, so running out means the hardware did not respond. */
#define EK_T41_READY_SPINS 2000000u

int ek_t41_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t spins)
{
    for (uint32_t i = 0; i < spins; i++) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static const char *ek_t41_clock_error; /* the step that failed, reported on the link by ek_uart_init */
static const char *ek_t41_psram_error;
static uint32_t ek_t41_psram_bytes;
static unsigned ek_t41_psram_chips;

/* ---- MPU and caches ---------------------------------------------------------------------------------------
 * With the MPU off the default memory map already makes 0x60000000 (flash) and 0x70000000 (PSRAM) Normal,
 * write-back cacheable memory (ARMv7-M B3.1 "The system address map": 0x60000000-0x9FFFFFFF is the RAM
 * region). We program the MPU anyway: the Cortex-M7 may read any Normal memory speculatively (Arm's note
 * "Why does the Cortex-M7 initiate AXIM read accesses to memory addresses that do not fall under a defined MPU
 * region?"), and where nothing answers such a read can stall or fault. Region 0 denies all 4 GB, the regions
 * after it (higher numbers win) open exactly what the board has. The PPB (0xE0000000) is never subject to
 * the MPU. A NULL dereference now faults instead of reading nothing in particular. */
#define MPU_CTRL EK_REG32(0xE000ED94u)
#define MPU_RNR EK_REG32(0xE000ED98u)
#define MPU_RBAR EK_REG32(0xE000ED9Cu)
#define MPU_RASR EK_REG32(0xE000EDA0u)
#define MPU_CTRL_ENABLE (1u << 0)
#define MPU_RASR_ENABLE (1u << 0)
#define MPU_RASR_SIZE(log2_bytes) ((uint32_t)((log2_bytes) - 1u) << 1) /* region = 2^(SIZE+1) bytes */
#define MPU_RASR_XN (1u << 28)
#define MPU_RASR_AP_NONE (0u << 24)
#define MPU_RASR_AP_RW (3u << 24)
#define MPU_RASR_AP_RO (6u << 24)
/* TEX/C/B memory types (B3.5.7): */
#define MPU_NORMAL_WBWA ((1u << 19) | (1u << 17) | (1u << 16)) /* TEX 001, C, B: write-back, write-allocate */
#define MPU_NORMAL_UNCACHED (1u << 19)                         /* TEX 001, C 0, B 0 */
#define MPU_DEVICE (1u << 16)                                  /* TEX 000, C 0, B 1: shareable device */

#define SCB_CCR EK_REG32(0xE000ED14u)
#define SCB_SHCSR EK_REG32(0xE000ED24u)
#define SCB_CCSIDR EK_REG32(0xE000ED80u)
#define SCB_CSSELR EK_REG32(0xE000ED84u)
#define SCB_ICIALLU EK_REG32(0xE000EF50u)
#define SCB_DCISW EK_REG32(0xE000EF60u)
#define SCB_CCR_DC (1u << 16)
#define SCB_CCR_IC (1u << 17)
#define SCB_SHCSR_FAULTS_ENA (7u << 16) /* MemManage, BusFault, UsageFault get their own exception numbers */

typedef struct {
    uint32_t base;
    uint32_t log2_bytes;
    uint32_t attributes;
} ek_t41_mpu_region;

static const ek_t41_mpu_region ek_t41_mpu_map[] = {
    {0x00000000u, 32u, MPU_RASR_AP_NONE | MPU_RASR_XN},                      /* background: nothing */
    {EK_MEM_DTCM_BASE, 19u, MPU_NORMAL_UNCACHED | MPU_RASR_AP_RW | MPU_RASR_XN}, /* DTCM 512 KB (never cached) */
    {EK_MEM_OCRAM_BASE, 19u, MPU_NORMAL_WBWA | MPU_RASR_AP_RW | MPU_RASR_XN},     /* OCRAM 512 KB */
    {0x40000000u, 26u, MPU_DEVICE | MPU_RASR_AP_RW | MPU_RASR_XN},          /* peripherals (AIPS, GPIO6-9) */
    {EK_MEM_FLASH_BASE, 23u, MPU_NORMAL_WBWA | MPU_RASR_AP_RO},                   /* QSPI flash 8 MB: code, images */
    {EK_MEM_PSRAM_BASE, 24u, MPU_NORMAL_WBWA | MPU_RASR_AP_RW | MPU_RASR_XN},     /* PSRAM: 2 chip selects x 8 MB */
};

static void ek_t41_mpu_init(void)
{
    ek_barrier();
    MPU_CTRL = 0;
    for (uint32_t i = 0; i < sizeof ek_t41_mpu_map / sizeof ek_t41_mpu_map[0]; i++) {
        const ek_t41_mpu_region *r = &ek_t41_mpu_map[i];
        MPU_RNR = i;
        MPU_RBAR = r->base;
        MPU_RASR = r->attributes | MPU_RASR_SIZE(r->log2_bytes) | MPU_RASR_ENABLE;
    }
    MPU_CTRL = MPU_CTRL_ENABLE;
    SCB_SHCSR |= SCB_SHCSR_FAULTS_ENA;
    ek_barrier();
}

/* I-cache: invalidate all, enable. D-cache: invalidate every set/way of the L1 data cache (its geometry
 * from CCSIDR), enable (ARMv7-M B2.2.7 cache maintenance operations). Skipped if the ROM left it on. */
static void ek_t41_caches_init(void)
{
    if (!(SCB_CCR & SCB_CCR_IC)) {
        ek_barrier();
        SCB_ICIALLU = 0;
        ek_barrier();
        SCB_CCR |= SCB_CCR_IC;
        ek_barrier();
    }
    if (!(SCB_CCR & SCB_CCR_DC)) {
        SCB_CSSELR = 0; /* level 1, data */
        ek_barrier();
        uint32_t ccsidr = SCB_CCSIDR;
        uint32_t line_shift = (ccsidr & 7u) + 4u; /* LineSize = log2(words per line) - 2 */
        uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
        uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
        uint32_t way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
        for (uint32_t set = 0; set < sets; set++) {
            for (uint32_t way = 0; way < ways; way++) {
                SCB_DCISW = (ways > 1u ? way << way_shift : 0u) | (set << line_shift);
            }
        }
        ek_barrier();
        SCB_CCR |= SCB_CCR_DC;
        ek_barrier();
    }
}

/* ---- core voltage and clocks --------------------------------------------------------------------------- */

#define EK_T41_PLL1_HZ (24000000u / 2u * EK_PORT_CFG_ARM_PLL_DIV_SELECT)
#if EK_PORT_CFG_ARM_PLL_DIV_SELECT < CCM_ANALOG_PLL_ARM_DIV_MIN ||                                             \
    EK_PORT_CFG_ARM_PLL_DIV_SELECT > CCM_ANALOG_PLL_ARM_DIV_MAX
#error "[port_config] arm_pll_div_select must lie in 54..108 (IMXRT1060RM CCM_ANALOG_PLL_ARM)"
#endif
#if EK_PORT_CFG_ARM_PODF < 1u || EK_PORT_CFG_ARM_PODF > 8u || EK_PORT_CFG_AHB_PODF < 1u ||                    \
    EK_PORT_CFG_AHB_PODF > 8u || EK_PORT_CFG_IPG_PODF < 1u || EK_PORT_CFG_IPG_PODF > 4u
#error "[port_config] dividers: arm_podf and ahb_podf 1..8, ipg_podf 1..4 (IMXRT1060RM CCM_CACRR, CCM_CBCDR)"
#endif
#if EK_T41_PLL1_HZ / EK_PORT_CFG_ARM_PODF / EK_PORT_CFG_AHB_PODF != EK_CLOCK_HZ
#error "PLL1 / ARM_PODF / AHB_PODF must equal the board's cpu.clock_hz (boards/teensy41.toml)"
#endif
#if EK_CLOCK_HZ / EK_PORT_CFG_IPG_PODF > 150000000u
#error "IPG clock above 150 MHz: raise [port_config] ipg_podf"
#endif

/* VDD_SOC for the core clock: above 528 MHz the RT1062 needs its overdrive level, 1.25 V (IMXRT1060CEC
 * datasheet, operating ranges: "Run mode, overdrive"); up to 528 MHz 1.15 V. Raised before the clock goes up. */
#define EK_T41_VDD_SOC_MV (EK_CLOCK_HZ > 528000000u ? 1250u : 1150u)
#define EK_T41_DCDC_TRG ((EK_T41_VDD_SOC_MV - 800u) / 25u)

static void ek_t41_gate_on(uint32_t ccgr, uint32_t cg)
{
    CCM_CCGR(ccgr) |= CCM_CG_ON << (2u * cg);
}

static void ek_t41_clock_init(void)
{
    ek_t41_gate_on(CCM_GATE_DCDC);
    if ((DCDC_REG3 & DCDC_REG3_TRG_MASK) < EK_T41_DCDC_TRG) {
        DCDC_REG3 = (DCDC_REG3 & ~DCDC_REG3_TRG_MASK) | EK_T41_DCDC_TRG;
        if (!ek_t41_wait(&DCDC_REG0, DCDC_REG0_STS_DC_OK, DCDC_REG0_STS_DC_OK, EK_T41_READY_SPINS)) {
            ek_t41_clock_error = "DCDC did not settle at the overdrive voltage; clock left as the ROM set it";
            return;
        }
    }
    /* Park the core on periph_clk2 = 24 MHz oscillator while PLL1 is reprogrammed: the ROM may run us from
     * PLL1 (glitch-free switch via the CDHIPR handshake; IMXRT1060RM CCM "Clock switching"). */
    if (!(CCM_CBCDR & CCM_CBCDR_PERIPH_CLK_SEL)) {
        CCM_CBCDR &= ~(7u << CCM_CBCDR_PERIPH_CLK2_PODF_SHIFT);
        CCM_CBCMR = (CCM_CBCMR & ~(3u << CCM_CBCMR_PERIPH_CLK2_SEL_SHIFT)) | (1u << CCM_CBCMR_PERIPH_CLK2_SEL_SHIFT);
        (void)ek_t41_wait(&CCM_CDHIPR, CCM_CDHIPR_PERIPH2_CLK_SEL_BUSY, 0, EK_T41_READY_SPINS);
        CCM_CBCDR |= CCM_CBCDR_PERIPH_CLK_SEL;
        if (!ek_t41_wait(&CCM_CDHIPR, CCM_CDHIPR_PERIPH_CLK_SEL_BUSY, 0, EK_T41_READY_SPINS)) {
            ek_t41_clock_error = "periph_clk did not switch to the oscillator; clock left as the ROM set it";
            return;
        }
    }
    /* PLL1 (ARM PLL): power-cycle into the new multiplier, wait for lock. */
    CCM_ANALOG_PLL_ARM = CCM_ANALOG_PLL_POWERDOWN;
    CCM_ANALOG_PLL_ARM = CCM_ANALOG_PLL_ENABLE | EK_PORT_CFG_ARM_PLL_DIV_SELECT;
    if (!ek_t41_wait(&CCM_ANALOG_PLL_ARM, CCM_ANALOG_PLL_LOCK, CCM_ANALOG_PLL_LOCK, EK_T41_READY_SPINS)) {
        ek_t41_clock_error = "ARM PLL did not lock: the core runs at 24 MHz and every time on the link is wrong";
        return;
    }
    CCM_CACRR = EK_PORT_CFG_ARM_PODF - 1u;
    (void)ek_t41_wait(&CCM_CDHIPR, CCM_CDHIPR_ARM_PODF_BUSY, 0, EK_T41_READY_SPINS);
    /* AHB (= core) and IPG dividers, set while the core still runs from periph_clk2. */
    uint32_t cbcdr = CCM_CBCDR & ~((7u << CCM_CBCDR_AHB_PODF_SHIFT) | (3u << CCM_CBCDR_IPG_PODF_SHIFT));
    CCM_CBCDR = cbcdr | ((EK_PORT_CFG_AHB_PODF - 1u) << CCM_CBCDR_AHB_PODF_SHIFT) |
                ((EK_PORT_CFG_IPG_PODF - 1u) << CCM_CBCDR_IPG_PODF_SHIFT);
    (void)ek_t41_wait(&CCM_CDHIPR, CCM_CDHIPR_AHB_PODF_BUSY, 0, EK_T41_READY_SPINS);
    /* pre_periph_clk = PLL1 / ARM_PODF, then periph_clk back from periph_clk2 to it. */
    CCM_CBCMR = (CCM_CBCMR & ~(3u << CCM_CBCMR_PRE_PERIPH_CLK_SEL_SHIFT)) | (3u << CCM_CBCMR_PRE_PERIPH_CLK_SEL_SHIFT);
    CCM_CBCDR &= ~CCM_CBCDR_PERIPH_CLK_SEL;
    if (!ek_t41_wait(&CCM_CDHIPR, CCM_CDHIPR_PERIPH_CLK_SEL_BUSY, 0, EK_T41_READY_SPINS)) {
        ek_t41_clock_error = "periph_clk did not switch to PLL1";
    }
}

/* ---- pins ----------------------------------------------------------------------------------------------
 * Teensy 4.1 pinout (PJRC): pin 0 = GPIO_AD_B0_03 (LPUART6_RX, ALT2), pin 1 = GPIO_AD_B0_02 (LPUART6_TX,
 * ALT2), pin 33 = GPIO_EMC_07 (GPIO4_IO07, ALT5). Mux modes and daisy values: IMXRT1060RM IOMUXC
 * SW_MUX_CTL_PAD_GPIO_AD_B0_02/03, SW_MUX_CTL_PAD_GPIO_EMC_07, LPUART6_RX/TX_SELECT_INPUT. */
#define EK_T41_MUX_LPUART6 2u
#define EK_T41_MUX_GPIO 5u
#define EK_T41_MARKER_PAD 7u /* GPIO_EMC_07 */
#define EK_T41_MARKER_BIT (1u << 7)
#define EK_T41_PAD_OUTPUT (IOMUXC_PAD_DSE(6) | IOMUXC_PAD_SPEED(2) | IOMUXC_PAD_PKE)
/* RX idles high: a 22 K pull-up keeps an unconnected pin from reading as a stream of break/framing errors. */
#define EK_T41_PAD_UART_RX (IOMUXC_PAD_DSE(6) | IOMUXC_PAD_SPEED(2) | IOMUXC_PAD_PKE | IOMUXC_PAD_PUE |        \
                            IOMUXC_PAD_PUS(3) | IOMUXC_PAD_HYS)

static void ek_t41_pins_init(void)
{
    ek_t41_gate_on(CCM_GATE_IOMUXC);
    ek_t41_gate_on(CCM_GATE_GPIO4);
    IOMUXC_PAD_AD_B0(2) = EK_T41_PAD_OUTPUT;
    IOMUXC_PAD_AD_B0(3) = EK_T41_PAD_UART_RX;
    IOMUXC_MUX_AD_B0(2) = EK_T41_MUX_LPUART6;
    IOMUXC_MUX_AD_B0(3) = EK_T41_MUX_LPUART6;
    IOMUXC_LPUART6_TX_SELECT_INPUT = 1u;
    IOMUXC_LPUART6_RX_SELECT_INPUT = 1u;
    /* Marker low before the pin becomes an output, so a meter sees no false step at boot. */
    EK_REG32(GPIO4_BASE + GPIO_DR_CLEAR_OFF) = EK_T41_MARKER_BIT;
    EK_REG32(GPIO4_BASE + GPIO_GDIR_OFF) |= EK_T41_MARKER_BIT;
    IOMUXC_PAD_EMC(EK_T41_MARKER_PAD) = EK_T41_PAD_OUTPUT;
    IOMUXC_MUX_EMC(EK_T41_MARKER_PAD) = EK_T41_MUX_GPIO;
}

void ek_port_marker(int on)
{
    EK_REG32(GPIO4_BASE + (on ? GPIO_DR_SET_OFF : GPIO_DR_CLEAR_OFF)) = EK_T41_MARKER_BIT;
}

void ek_board_init(void)
{
    ek_t41_mpu_init();
    ek_t41_caches_init();
    ek_t41_clock_init();
    ek_t41_pins_init();
    ek_t41_psram_bytes = ek_t41_psram_init(&ek_t41_psram_chips, &ek_t41_psram_error);
}

/* ---- LPUART6 ----------------------------------------------------------------------------------------------
 * Clocked from the 24 MHz oscillator (CSCDR1: UART_CLK_SEL = osc, UART_CLK_PODF = /1), independent of the
 * core clock. Baud = clock / (SBR * (OSR + 1)); the ratio 4..32 and SBR are chosen for the smallest error,
 * BOTHEDGE is required for ratios 4..7 (IMXRT1060RM LPUART BAUD register). */
static uint32_t ek_lpuart_base;

#define LPUART(off) EK_REG32(ek_lpuart_base + (off))

static uint32_t ek_t41_baud_register(uint32_t clock_hz, uint32_t baud)
{
    uint32_t best = 0, best_error = 0xFFFFFFFFu;
    for (uint32_t ratio = 4u; ratio <= 32u; ratio++) {
        uint32_t sbr = (clock_hz + baud * ratio / 2u) / (baud * ratio);
        if (sbr == 0u || sbr > 0x1FFFu) {
            continue;
        }
        uint32_t actual = clock_hz / (sbr * ratio);
        uint32_t error = actual > baud ? actual - baud : baud - actual;
        if (error < best_error) {
            best_error = error;
            best = ((ratio - 1u) << LPUART_BAUD_OSR_SHIFT) | sbr | (ratio < 8u ? LPUART_BAUD_BOTHEDGE : 0u);
        }
    }
    return best;
}

static void ek_t41_report(const char *what, const char *detail);

void ek_uart_init(uint32_t base, uint32_t baud)
{
    CCM_CSCDR1 = (CCM_CSCDR1 & ~0x3Fu) | CCM_CSCDR1_UART_CLK_SEL;
    ek_t41_gate_on(CCM_GATE_LPUART6);
    ek_lpuart_base = base;
    LPUART(LPUART_GLOBAL) = LPUART_GLOBAL_RST;
    LPUART(LPUART_GLOBAL) = 0;
    LPUART(LPUART_BAUD) = ek_t41_baud_register(EK_UART_CLOCK_HZ, baud);
    LPUART(LPUART_CTRL) = LPUART_CTRL_RE | LPUART_CTRL_TE | LPUART_CTRL_RIE;
    ek_nvic_enable(EK_UART_IRQN);

    if (ek_t41_clock_error) {
        ek_t41_report("EK CLOCK: ", ek_t41_clock_error);
    }
    /* The arena is where the plan put it; if that is PSRAM that is not there, every access would return
     * garbage or fault mid-generation. Say so on the link (the host logs non-frame bytes) and never start. */
    size_t arena_size;
    uintptr_t arena = (uintptr_t)ek_port_arena(&arena_size);
    uintptr_t psram_end = FLEXSPI2_AHB_BASE + ek_t41_psram_bytes;
    if (arena >= FLEXSPI2_AHB_BASE && arena < FLEXSPI2_AHB_BASE + 0x10000000u && arena + arena_size > psram_end) {
        const char *why = ek_t41_psram_error ? ek_t41_psram_error
                          : ek_t41_psram_chips == 0u ? "no APS6404 PSRAM answered on either chip select"
                                                     : "the arena runs past the PSRAM that is fitted";
        for (;;) {
            ek_t41_report("EK PSRAM: ", why);
            ek_t41_report("EK PSRAM: ", "fit PSRAM or regenerate with a smaller --ctx so the arena fits");
            for (uint32_t ms = 0; ms < 2000u; ms++) { /* SysTick counts; interrupts are not enabled yet */
                while (!(EK_SYST_CSR & EK_SYST_CSR_COUNTFLAG)) {
                }
            }
        }
    }
}

void ek_uart_putc(uint8_t byte)
{
    if (ek_lpuart_base == 0) {
        return; /* a fault report before ek_uart_init: nowhere to print */
    }
    while (!(LPUART(LPUART_STAT) & LPUART_STAT_TDRE)) {
    }
    LPUART(LPUART_DATA) = byte;
}

static void ek_t41_report(const char *what, const char *detail)
{
    for (const char *s = what; *s; s++) {
        ek_uart_putc((uint8_t)*s);
    }
    for (const char *s = detail; *s; s++) {
        ek_uart_putc((uint8_t)*s);
    }
    ek_uart_putc('\r');
    ek_uart_putc('\n');
}

void ek_uart_irq_handler(void)
{
    uint32_t stat;
    while ((stat = LPUART(LPUART_STAT)) & LPUART_STAT_RDRF) {
        ek_link_rx_push((uint8_t)LPUART(LPUART_DATA));
    }
    if (stat & LPUART_STAT_ERRORS) {
        /* An overrun stops reception until cleared; the link's CRC and resync recover the lost bytes. */
        LPUART(LPUART_STAT) = stat & LPUART_STAT_ERRORS;
    }
}

/* No marker UART on real hardware: the marker is the pin-33 GPIO above. */
void ek_marker_uart_init(uint32_t base, uint32_t baud)
{
    (void)base;
    (void)baud;
}

void ek_marker_uart_putc(uint8_t byte)
{
    (void)byte;
}
