/* ek_stm32h747_regs.h — the STM32H747 (Cortex-M7 side) registers this port touches, with the sections of the
 * documents they come from. Only what the port uses; offsets and bits checked against RM0399 (STM32H745/755/
 * 747/757 reference manual) and the ARMv7-M Architecture Reference Manual (cache and MPU). */
#ifndef EK_STM32H747_REGS_H
#define EK_STM32H747_REGS_H

#include "ek_cortex_m.h"

/* ---- PWR (RM0399 §7 "Power control (PWR)", register map) ------------------------------------------------- */
#define PWR_BASE 0x58024800u
#define PWR_CSR1 EK_REG32(PWR_BASE + 0x04u)
#define PWR_CR3 EK_REG32(PWR_BASE + 0x0Cu)
#define PWR_D3CR EK_REG32(PWR_BASE + 0x18u)
#define PWR_CSR1_ACTVOSRDY (1u << 13) /* the supply configuration in PWR_CR3 has been applied */
#define PWR_CR3_BYPASS (1u << 0)
#define PWR_CR3_LDOEN (1u << 1)
#define PWR_CR3_SMPSEN (1u << 2)
#define PWR_CR3_SMPSEXTHP (1u << 3)
#define PWR_CR3_SMPSLEVEL_MASK (3u << 4)
#define PWR_CR3_SUPPLY_MASK                                                                                  \
    (PWR_CR3_BYPASS | PWR_CR3_LDOEN | PWR_CR3_SMPSEN | PWR_CR3_SMPSEXTHP | PWR_CR3_SMPSLEVEL_MASK)
#define PWR_D3CR_VOSRDY (1u << 13)
#define PWR_D3CR_VOS_SHIFT 14u /* VOS[1:0]: 01 = scale 3, 10 = scale 2, 11 = scale 1 */
#define PWR_D3CR_VOS_MASK (3u << PWR_D3CR_VOS_SHIFT)

/* ---- RCC (RM0399 "Reset and clock control (RCC)", register map) ------------------------------------------ */
#define RCC_BASE 0x58024400u
#define RCC_CR EK_REG32(RCC_BASE + 0x00u)
#define RCC_CFGR EK_REG32(RCC_BASE + 0x10u)
#define RCC_D1CFGR EK_REG32(RCC_BASE + 0x18u)
#define RCC_D2CFGR EK_REG32(RCC_BASE + 0x1Cu)
#define RCC_D3CFGR EK_REG32(RCC_BASE + 0x20u)
#define RCC_PLLCKSELR EK_REG32(RCC_BASE + 0x28u)
#define RCC_PLLCFGR EK_REG32(RCC_BASE + 0x2Cu)
#define RCC_PLL1DIVR EK_REG32(RCC_BASE + 0x30u)
#define RCC_D1CCIPR EK_REG32(RCC_BASE + 0x4Cu)
#define RCC_D2CCIP2R EK_REG32(RCC_BASE + 0x54u)
#define RCC_AHB3ENR EK_REG32(RCC_BASE + 0xD4u)
#define RCC_AHB2ENR EK_REG32(RCC_BASE + 0xDCu)
#define RCC_AHB4ENR EK_REG32(RCC_BASE + 0xE0u)
#define RCC_APB2ENR EK_REG32(RCC_BASE + 0xF0u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLL1ON (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)
#define RCC_CFGR_SW_MASK 7u
#define RCC_CFGR_SW_PLL1 3u
#define RCC_CFGR_SWS_MASK (7u << 3)
#define RCC_CFGR_SWS_PLL1 (3u << 3)
#define RCC_D1CFGR_HPRE_SHIFT 0u    /* 0xxx: /1, 1000: /2, 1001: /4 ... */
#define RCC_D1CFGR_D1PPRE_SHIFT 4u  /* 0xx: /1, 100: /2, 101: /4 ... (APB3) */
#define RCC_D1CFGR_D1CPRE_SHIFT 8u  /* CPU clock prescaler, kept at /1 */
#define RCC_D2CFGR_D2PPRE1_SHIFT 4u /* APB1 */
#define RCC_D2CFGR_D2PPRE2_SHIFT 8u /* APB2 (USART1) */
#define RCC_D3CFGR_D3PPRE_SHIFT 4u  /* APB4 */
#define RCC_PLLCKSELR_PLLSRC_MASK 3u
#define RCC_PLLCKSELR_PLLSRC_HSE 2u
#define RCC_PLLCKSELR_DIVM1_SHIFT 4u
#define RCC_PLLCKSELR_DIVM1_MASK (0x3Fu << 4)
#define RCC_PLLCFGR_PLL1FRACEN (1u << 0)
#define RCC_PLLCFGR_PLL1VCOSEL (1u << 1) /* 0: wide VCO range (192-836 MHz), 1: medium (150-420 MHz) */
#define RCC_PLLCFGR_PLL1RGE_SHIFT 2u     /* ref clock: 00 1-2 MHz, 01 2-4, 10 4-8, 11 8-16 MHz */
#define RCC_PLLCFGR_PLL1RGE_MASK (3u << 2)
#define RCC_PLLCFGR_DIVP1EN (1u << 16)
#define RCC_PLLCFGR_DIVQ1EN (1u << 17)
#define RCC_PLLCFGR_DIVR1EN (1u << 18)
#define RCC_PLL1DIVR_N1_SHIFT 0u /* each field holds divider - 1 */
#define RCC_PLL1DIVR_P1_SHIFT 9u
#define RCC_PLL1DIVR_Q1_SHIFT 16u
#define RCC_PLL1DIVR_R1_SHIFT 24u
#define RCC_D1CCIPR_FMCSEL_MASK (3u << 0)   /* 00: rcc_hclk3 */
#define RCC_D1CCIPR_QSPISEL_MASK (3u << 4)  /* 00: rcc_hclk3 */
#define RCC_D2CCIP2R_USART16SEL_MASK (7u << 3) /* 000: rcc_pclk2 */
#define RCC_AHB3ENR_FMCEN (1u << 12)
#define RCC_AHB3ENR_QSPIEN (1u << 14)
#define RCC_AHB2ENR_SRAM123EN (7u << 29) /* SRAM1EN, SRAM2EN, SRAM3EN (D2 domain SRAMs) */
#define RCC_AHB4ENR_GPIOEN(port) (1u << (port)) /* port 0 = GPIOA ... 10 = GPIOK */
#define RCC_APB2ENR_USART1EN (1u << 4)

/* ---- embedded flash (RM0399 "Embedded flash memory (FLASH)", FLASH_ACR) ---------------------------------- */
#define FLASH_ACR EK_REG32(0x52002000u)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_WRHIGHFREQ_SHIFT 4u
#define FLASH_ACR_WRHIGHFREQ_MASK (3u << 4)

/* ---- GPIO (RM0399 "General-purpose I/Os (GPIO)"): ports A..K, 0x400 apart -------------------------------- */
#define GPIO_BASE(port) (0x58020000u + 0x400u * (port))
#define GPIO_MODER(port) EK_REG32(GPIO_BASE(port) + 0x00u)
#define GPIO_OTYPER(port) EK_REG32(GPIO_BASE(port) + 0x04u)
#define GPIO_OSPEEDR(port) EK_REG32(GPIO_BASE(port) + 0x08u)
#define GPIO_PUPDR(port) EK_REG32(GPIO_BASE(port) + 0x0Cu)
#define GPIO_BSRR(port) EK_REG32(GPIO_BASE(port) + 0x18u)
#define GPIO_AFR(port, pin) EK_REG32(GPIO_BASE(port) + 0x20u + 4u * ((pin) / 8u))
#define GPIO_MODE_OUTPUT 1u
#define GPIO_MODE_AF 2u
#define GPIO_SPEED_LOW 0u
#define GPIO_SPEED_VERY_HIGH 3u
#define GPIO_PULL_NONE 0u
#define GPIO_PULL_UP 1u
enum { PORT_A, PORT_B, PORT_C, PORT_D, PORT_E, PORT_F, PORT_G, PORT_H, PORT_I, PORT_J, PORT_K };

/* ---- USART (RM0399 "Universal synchronous/asynchronous receiver transmitter (USART/UART)", register map) --- */
#define USART_CR1 0x00u
#define USART_BRR 0x0Cu
#define USART_ISR 0x1Cu
#define USART_ICR 0x20u
#define USART_RDR 0x24u
#define USART_TDR 0x28u
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)  /* also raises the interrupt on overrun (ORE) */
#define USART_ISR_PE (1u << 0)
#define USART_ISR_FE (1u << 1)
#define USART_ISR_NE (1u << 2)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)
#define USART_ICR_PECF (1u << 0)
#define USART_ICR_FECF (1u << 1)
#define USART_ICR_NECF (1u << 2)
#define USART_ICR_ORECF (1u << 3)

/* ---- QUADSPI (RM0399 "Quad-SPI interface (QUADSPI)", register map) --------------------------------------- */
#define QSPI_BASE 0x52005000u
#define QSPI_CR EK_REG32(QSPI_BASE + 0x00u)
#define QSPI_DCR EK_REG32(QSPI_BASE + 0x04u)
#define QSPI_SR EK_REG32(QSPI_BASE + 0x08u)
#define QSPI_FCR EK_REG32(QSPI_BASE + 0x0Cu)
#define QSPI_DLR EK_REG32(QSPI_BASE + 0x10u)
#define QSPI_CCR EK_REG32(QSPI_BASE + 0x14u)
#define QSPI_DR8 (*(volatile uint8_t *)(uintptr_t)(QSPI_BASE + 0x20u)) /* byte access pops one byte */
#define QSPI_LPTR EK_REG32(QSPI_BASE + 0x30u)
#define QSPI_CR_EN (1u << 0)
#define QSPI_CR_ABORT (1u << 1)
#define QSPI_CR_TCEN (1u << 3)   /* memory-mapped: release nCS after LPTR idle cycles */
#define QSPI_CR_SSHIFT (1u << 4) /* sample half a clock later */
#define QSPI_CR_DFM (1u << 6)    /* dual-flash mode */
#define QSPI_CR_PRESCALER_SHIFT 24u
#define QSPI_DCR_CKMODE (1u << 0)
#define QSPI_DCR_CSHT_SHIFT 8u
#define QSPI_DCR_FSIZE_SHIFT 16u
#define QSPI_SR_TEF (1u << 0)
#define QSPI_SR_TCF (1u << 1)
#define QSPI_SR_BUSY (1u << 5)
#define QSPI_SR_FLEVEL_SHIFT 8u
#define QSPI_SR_FLEVEL_MASK (0x3Fu << 8)
#define QSPI_FCR_CTEF (1u << 0)
#define QSPI_FCR_CTCF (1u << 1)
#define QSPI_CCR_IMODE_SHIFT 8u
#define QSPI_CCR_ADMODE_SHIFT 10u
#define QSPI_CCR_ADSIZE_SHIFT 12u
#define QSPI_CCR_DCYC_SHIFT 18u
#define QSPI_CCR_DMODE_SHIFT 24u
#define QSPI_CCR_FMODE_SHIFT 26u
#define QSPI_LINES_NONE 0u /* IMODE/ADMODE/DMODE: 00 none, 01 one line, 10 two, 11 four */
#define QSPI_LINES_1 1u
#define QSPI_LINES_2 2u
#define QSPI_LINES_4 3u
#define QSPI_ADSIZE_32 3u
#define QSPI_FMODE_INDIRECT_WRITE 0u
#define QSPI_FMODE_INDIRECT_READ 1u
#define QSPI_FMODE_MEMORY_MAPPED 3u

/* ---- FMC SDRAM controller (RM0399 "Flexible memory controller (FMC)", SDRAM registers) ------------------- */
#define FMC_BASE 0x52004000u
#define FMC_BCR1 EK_REG32(FMC_BASE + 0x000u)
#define FMC_SDCR1 EK_REG32(FMC_BASE + 0x140u)
#define FMC_SDCR2 EK_REG32(FMC_BASE + 0x144u)
#define FMC_SDTR1 EK_REG32(FMC_BASE + 0x148u)
#define FMC_SDTR2 EK_REG32(FMC_BASE + 0x14Cu)
#define FMC_SDCMR EK_REG32(FMC_BASE + 0x150u)
#define FMC_SDRTR EK_REG32(FMC_BASE + 0x154u)
#define FMC_SDSR EK_REG32(FMC_BASE + 0x158u)
#define FMC_BCR1_FMCEN (1u << 31) /* FMC controller enable, shared by every bank */
#define FMC_SDCR_NC_SHIFT 0u      /* column bits - 8 */
#define FMC_SDCR_NR_SHIFT 2u      /* row bits - 11 */
#define FMC_SDCR_MWID_SHIFT 4u    /* 00: 8, 01: 16, 10: 32 bits */
#define FMC_SDCR_NB4 (1u << 6)    /* four internal banks */
#define FMC_SDCR_CAS_SHIFT 7u
#define FMC_SDCR_SDCLK_SHIFT 10u  /* SDCR1 only: SDCLK = HCLK / n (2 or 3) */
#define FMC_SDCR_RBURST (1u << 12) /* SDCR1 only */
#define FMC_SDCMR_MODE_CLK_ENABLE 1u
#define FMC_SDCMR_MODE_PALL 2u
#define FMC_SDCMR_MODE_AUTO_REFRESH 3u
#define FMC_SDCMR_MODE_LOAD_MODE 4u
#define FMC_SDCMR_CTB2 (1u << 3)   /* command targets SDRAM bank 2 */
#define FMC_SDCMR_NRFS_SHIFT 5u    /* auto-refresh count - 1 */
#define FMC_SDCMR_MRD_SHIFT 9u     /* mode register value */
#define FMC_SDRTR_COUNT_SHIFT 1u
#define FMC_SDSR_MODES2_SHIFT 3u   /* bank 2 status: 00 normal, 01 self-refresh, 10 power-down */
#define FMC_SDSR_MODES2_MASK (3u << 3)

/* ---- Cortex-M7 caches and MPU (ARMv7-M ARM: B3.2 SCB, B2.2 cache maintenance, B3.5 MPU) ------------------ */
#define SCB_CCR EK_REG32(0xE000ED14u)
#define SCB_CCR_DC (1u << 16)
#define SCB_CCR_IC (1u << 17)
#define SCB_CCSIDR EK_REG32(0xE000ED80u)
#define SCB_CSSELR EK_REG32(0xE000ED84u)
#define SCB_ICIALLU EK_REG32(0xE000EF50u)
#define SCB_DCISW EK_REG32(0xE000EF60u)
#define MPU_CTRL EK_REG32(0xE000ED94u)
#define MPU_RNR EK_REG32(0xE000ED98u)
#define MPU_RBAR EK_REG32(0xE000ED9Cu)
#define MPU_RASR EK_REG32(0xE000EDA0u)
#define MPU_CTRL_ENABLE (1u << 0)
#define MPU_CTRL_PRIVDEFENA (1u << 2) /* privileged accesses outside every region use the default map */
#define MPU_RASR_ENABLE (1u << 0)
#define MPU_RASR_SIZE(log2_bytes) (((log2_bytes) - 1u) << 1)
#define MPU_RASR_B (1u << 16)
#define MPU_RASR_C (1u << 17)
#define MPU_RASR_TEX(n) ((uint32_t)(n) << 19)
#define MPU_RASR_AP_NONE (0u << 24)
#define MPU_RASR_AP_FULL (3u << 24)
#define MPU_RASR_AP_RO (6u << 24) /* read-only, privileged and unprivileged */
#define MPU_RASR_XN (1u << 28)

#endif /* EK_STM32H747_REGS_H */
