/* ek_stm32h747_config.c — the bring-up numbers of ek_stm32h747_config.h as linked constants. The board code
 * reads them from here (another translation unit, so they stay in the ELF under their names), and
 * tests/test_board_stm32h747.py recomputes the clock tree, flash latency, SDRAM timings and QUADSPI clock from
 * them against the manuals' limits. */
#include "ek_stm32h747_config.h"
#include "ek_port_config.h"

#if EK_H747_SYSCLK_HZ != EK_CLOCK_HZ
#error "PLL1 settings in ek_stm32h747_config.h do not give the board profile's cpu.clock_hz"
#endif

#define EK_MAX(a, b) ((a) > (b) ? (a) : (b))

#define EK_H747_TRAS_CK EK_H747_NS_TO_SDCLK(EK_H747_SDRAM_TRAS_NS)
#define EK_H747_TRC_CK EK_H747_NS_TO_SDCLK(EK_H747_SDRAM_TRC_NS)
#define EK_H747_TRP_CK EK_H747_NS_TO_SDCLK(EK_H747_SDRAM_TRP_NS)
#define EK_H747_TRCD_CK EK_H747_NS_TO_SDCLK(EK_H747_SDRAM_TRCD_NS)
/* RM0399 FMC_SDTR.TWR: besides the device's tWR it must cover TRAS - TRCD and TRC - TRCD - TRP, because the
 * controller uses TWR to time the precharge that closes a row after a write. */
#define EK_H747_TWR_CK                                                                                       \
    EK_MAX(EK_H747_SDRAM_TWR_CK, EK_MAX(EK_H747_TRAS_CK - EK_H747_TRCD_CK,                                  \
                                        EK_H747_TRC_CK - EK_H747_TRCD_CK - EK_H747_TRP_CK))

const uint32_t ek_h747_hse_hz = EK_H747_HSE_HZ;
const uint32_t ek_h747_pll1_m = EK_H747_PLL1_M;
const uint32_t ek_h747_pll1_n = EK_H747_PLL1_N;
const uint32_t ek_h747_pll1_p = EK_H747_PLL1_P;
const uint32_t ek_h747_ahb_div = EK_H747_AHB_DIV;
const uint32_t ek_h747_apb_div = EK_H747_APB_DIV;
const uint32_t ek_h747_vos = EK_H747_VOS;
const uint32_t ek_h747_flash_latency = EK_H747_FLASH_LATENCY;
const uint32_t ek_h747_flash_wrhighfreq = EK_H747_FLASH_WRHIGHFREQ;

const uint32_t ek_h747_sdram_clk_div = EK_H747_SDRAM_CLK_DIV;
const uint32_t ek_h747_sdram_refresh_count = EK_H747_SDRAM_REFRESH_COUNT;
const uint32_t ek_h747_sdram_cas = EK_H747_SDRAM_CAS;
const uint32_t ek_h747_sdram_timing_ck[7] = {
    EK_H747_SDRAM_TMRD_CK,
    EK_H747_NS_TO_SDCLK(EK_H747_SDRAM_TXSR_NS),
    EK_H747_TRAS_CK,
    EK_H747_TRC_CK,
    EK_H747_TWR_CK,
    EK_H747_TRP_CK,
    EK_H747_TRCD_CK,
};

const uint32_t ek_h747_qspi_clk_div = EK_H747_QSPI_CLK_DIV;
const uint32_t ek_h747_qspi_dummy_cycles = EK_H747_QSPI_DUMMY_CYCLES;
const uint32_t ek_h747_qspi_fsize = EK_H747_QSPI_FSIZE;
