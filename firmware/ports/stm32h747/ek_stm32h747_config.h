/* ek_stm32h747_config.h — the numbers the STM32H747I-DISCO bring-up is built from: clock tree, flash wait
 * states, SDRAM timings and QUADSPI settings. One source of truth: the macros below feed both the register
 * writes and the exported `ek_h747_*` constants (ek_stm32h747_config.c), which the code reads back and which
 * tests/test_board_stm32h747.py checks in the built ELF against the limits in the manuals.
 *
 * Documents: RM0399 (STM32H745/755/747/757 reference manual), DS12930 (STM32H747xI datasheet), UM2411 (the
 * kit's user manual), the IS42S32800J SDRAM and MT25QL512ABB NOR flash datasheets.
 */
#ifndef EK_STM32H747_CONFIG_H
#define EK_STM32H747_CONFIG_H

#include <stdint.h>

/* ---- clock tree (RM0399 RCC chapter: PLL1, system clock switch, bus prescalers) -----------------------
 * UM2411: the kit's HSE is a 25 MHz crystal. PLL1: ref = HSE / M = 5 MHz (input range 4-8 MHz),
 * VCO = ref * N = 800 MHz (wide VCO), sys_ck = VCO / P = 400 MHz. The kit supplies the core from the SMPS
 * directly, which limits it to VOS1: CPU 400 MHz, AXI/AHB (HCLK) 200 MHz, APB 100 MHz (DS12930 general
 * operating conditions). */
#define EK_H747_HSE_HZ 25000000u
#define EK_H747_PLL1_M 5u
#define EK_H747_PLL1_N 160u
#define EK_H747_PLL1_P 2u /* PLL1 DIVP allows 1 or an even divider only */
#define EK_H747_AHB_DIV 2u /* HPRE: sys_ck -> HCLK (AXI, AHB1-4) */
#define EK_H747_APB_DIV 2u /* D1PPRE, D2PPRE1, D2PPRE2, D3PPRE: HCLK -> APB1-4 */
#define EK_H747_VOS 1u     /* voltage scale 1 */
#define EK_H747_HSI_HZ 64000000u /* RM0399: HSI at reset (HSIDIV = 1), the clock before PLL1 runs */

#define EK_H747_SYSCLK_HZ (EK_H747_HSE_HZ / EK_H747_PLL1_M * EK_H747_PLL1_N / EK_H747_PLL1_P)
#define EK_H747_HCLK_HZ (EK_H747_SYSCLK_HZ / EK_H747_AHB_DIV)
#define EK_H747_PCLK_HZ (EK_H747_HCLK_HZ / EK_H747_APB_DIV)

/* RM0399 embedded flash, read latency table ("FLASH recommended number of wait states and programming
 * delay"): at VOS1 an AXI clock of 185-210 MHz needs 2 wait states and WRHIGHFREQ = 2. */
#define EK_H747_FLASH_LATENCY 2u
#define EK_H747_FLASH_WRHIGHFREQ 2u

/* ---- FMC SDRAM: IS42S32800J (8M x 32: 4 banks x 4096 rows x 512 columns) on SDRAM bank 2 --------------
 * SDCLK = HCLK / 2 = 100 MHz (FMC kernel clock = rcc_hclk3; SDCR1.SDCLK = 2 x HCLK period). Timings from the
 * IS42S32800J datasheet (-6 speed grade, AC characteristics), in ns unless said otherwise, converted to
 * SDCLK cycles rounding up. Refresh: 4096 rows every 64 ms. */
#define EK_H747_SDRAM_CLK_DIV 2u
#define EK_H747_SDCLK_HZ (EK_H747_HCLK_HZ / EK_H747_SDRAM_CLK_DIV)
#define EK_H747_SDRAM_TMRD_CK 2u  /* load mode register to active: 2 clocks */
#define EK_H747_SDRAM_TXSR_NS 70u /* exit self-refresh to active */
#define EK_H747_SDRAM_TRAS_NS 42u /* active to precharge (minimum self-refresh period) */
#define EK_H747_SDRAM_TRC_NS 60u  /* row cycle: refresh to activate, refresh to refresh */
#define EK_H747_SDRAM_TWR_CK 2u   /* write recovery: 2 clocks */
#define EK_H747_SDRAM_TRP_NS 18u  /* precharge to activate */
#define EK_H747_SDRAM_TRCD_NS 18u /* activate to read/write */
#define EK_H747_SDRAM_CAS 3u      /* CAS latency programmed in the mode register and FMC_SDCR */
#define EK_H747_SDRAM_ROWS 4096u
#define EK_H747_SDRAM_REFRESH_MS 64u
#define EK_H747_SDRAM_INIT_REFRESHES 8u /* auto-refresh cycles in the power-up sequence (at least 2) */

#define EK_H747_NS_TO_SDCLK(ns)                                                                              \
    ((uint32_t)(((uint64_t)(ns) * EK_H747_SDCLK_HZ + 999999999u) / 1000000000u))
/* RM0399 FMC_SDRTR: COUNT = refresh period per row x SDCLK - 20 (margin for a refresh request in flight). */
#define EK_H747_SDRAM_REFRESH_COUNT                                                                          \
    ((uint32_t)((uint64_t)EK_H747_SDRAM_REFRESH_MS * EK_H747_SDCLK_HZ / 1000u / EK_H747_SDRAM_ROWS) - 20u)

/* ---- QUADSPI: 2 x MT25QL512ABB in dual-flash mode (UM2411 Quad-SPI NOR flash section) ------------------
 * Kernel clock rcc_hclk3 = 200 MHz / 2 = 100 MHz. Memory-mapped reads use 4-BYTE QUAD INPUT/OUTPUT FAST READ
 * (ECh, 1-4-4): a 4-byte address always (each die holds 64 MB, past 3-byte reach) without switching the
 * device's address mode, and the device's default 10 dummy cycles for quad I/O reads, which the MT25Q
 * datasheet rates up to 133 MHz. FSIZE: 2^(FSIZE+1) bytes for both devices together; one more than the
 * 128 MB present because of the STM32H745/747 erratum "QUADSPI memory-mapped read of last memory byte fails"
 * (ES0392); the MPU keeps the upper 128 MB of the window inaccessible. */
#define EK_H747_QSPI_CLK_DIV 2u
#define EK_H747_QSPI_HZ (EK_H747_HCLK_HZ / EK_H747_QSPI_CLK_DIV)
#define EK_H747_QSPI_DUMMY_CYCLES 10u
#define EK_H747_QSPI_BYTES (128u * 1024u * 1024u)
#define EK_H747_QSPI_FSIZE 27u

/* The exported copies: what the code programs and what the test reads from the ELF. */
extern const uint32_t ek_h747_hse_hz, ek_h747_pll1_m, ek_h747_pll1_n, ek_h747_pll1_p;
extern const uint32_t ek_h747_ahb_div, ek_h747_apb_div, ek_h747_vos;
extern const uint32_t ek_h747_flash_latency, ek_h747_flash_wrhighfreq;
extern const uint32_t ek_h747_sdram_clk_div, ek_h747_sdram_refresh_count, ek_h747_sdram_cas;
/* FMC_SDTR field order (bits 3:0 up to 27:24): TMRD, TXSR, TRAS, TRC, TWR, TRP, TRCD, in SDCLK cycles. */
extern const uint32_t ek_h747_sdram_timing_ck[7];
extern const uint32_t ek_h747_qspi_clk_div, ek_h747_qspi_dummy_cycles, ek_h747_qspi_fsize;

#endif /* EK_STM32H747_CONFIG_H */
