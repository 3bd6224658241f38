/* ek_rp2350.h — RP2350 registers and the PSRAM device facts the rp2350 port uses, shared by the board file and
 * the code that runs from SRAM. Register blocks cite the RP2350 datasheet section that documents them. */
#ifndef EK_RP2350_H
#define EK_RP2350_H

#include <stdint.h>

#include "ek_cortex_m.h"
#include "ek_port_config.h"

/* ---- registers ---------------------------------------------------------------------------------------
 * Each peripheral has atomic aliases: +0x2000 sets the written bits, +0x3000 clears them (datasheet 2.1.3). */
#define REG_SET 0x2000u
#define REG_CLR 0x3000u

/* RESETS (datasheet 7.5.3): RESET 0x0 (1 = held in reset), RESET_DONE 0x8 */
#define RESETS_BASE 0x40020000u
#define RESETS_RESET 0x0u
#define RESETS_RESET_DONE 0x8u
#define RESET_IO_BANK0 (1u << 6)
#define RESET_PADS_BANK0 (1u << 9)
#define RESET_PLL_SYS (1u << 14)
#define RESET_UART0 (1u << 26)

/* XOSC (datasheet 8.2.8): CTRL 0x0 (FREQ_RANGE 11:0, ENABLE 23:12 magic), STATUS 0x4, STARTUP 0xc */
#define XOSC_BASE 0x40048000u
#define XOSC_CTRL 0x0u
#define XOSC_STATUS 0x4u
#define XOSC_STARTUP 0xcu
#define XOSC_CTRL_FREQ_RANGE_1_15MHZ 0xaa0u
#define XOSC_CTRL_ENABLE (0xfabu << 12)
#define XOSC_STATUS_STABLE (1u << 31)
/* STARTUP.DELAY counts 256 crystal cycles (8.2.4); 4 ms is 4x the reference design's 1 ms, for margin. */
#define XOSC_STARTUP_MS 4u
#define XOSC_STARTUP_DELAY ((EK_RP2350_XOSC_HZ / 1000u * XOSC_STARTUP_MS + 255u) / 256u)

/* PLL_SYS (datasheet 8.6.5): CS 0x0 (REFDIV 5:0, LOCK 31), PWR 0x4, FBDIV_INT 0x8, PRIM 0xc */
#define PLL_SYS_BASE 0x40050000u
#define PLL_CS 0x0u
#define PLL_PWR 0x4u
#define PLL_FBDIV_INT 0x8u
#define PLL_PRIM 0xcu
#define PLL_CS_LOCK (1u << 31)
#define PLL_PWR_PD (1u << 0)
#define PLL_PWR_POSTDIVPD (1u << 3)
#define PLL_PWR_VCOPD (1u << 5)
#define PLL_PRIM_POSTDIV1_LSB 16u
#define PLL_PRIM_POSTDIV2_LSB 12u

/* CLOCKS (datasheet 8.1.7): CTRL/DIV/SELECTED per generator */
#define CLOCKS_BASE 0x40010000u
#define CLK_REF_CTRL 0x30u
#define CLK_REF_DIV 0x34u
#define CLK_REF_SELECTED 0x38u
#define CLK_SYS_CTRL 0x3cu
#define CLK_SYS_DIV 0x40u
#define CLK_SYS_SELECTED 0x44u
#define CLK_PERI_CTRL 0x48u
#define CLK_PERI_DIV 0x4cu
#define CLK_REF_CTRL_SRC_XOSC 2u           /* SRC 1:0 = xosc_clksrc */
#define CLK_SYS_CTRL_SRC_AUX (1u << 0)     /* SRC bit 0: 0 = clk_ref, 1 = clksrc_clk_sys_aux */
#define CLK_SYS_CTRL_AUXSRC_PLL_SYS (0u << 5)
#define CLK_PERI_CTRL_ENABLE (1u << 11)
#define CLK_PERI_CTRL_AUXSRC_CLK_SYS (0u << 5)
#define CLK_DIV_INT_1 (1u << 16) /* DIV.INT starts at bit 16 in every generator: divide by 1 */

/* IO_BANK0 (datasheet 9.11.1): GPIOn_CTRL at 8n + 4, FUNCSEL 4:0 (function table in 9.4) */
#define IO_BANK0_BASE 0x40028000u
#define GPIO_CTRL(n) (IO_BANK0_BASE + 8u * (n) + 4u)
#define FUNCSEL_UART 2u
#define FUNCSEL_SIO 5u
#define FUNCSEL_XIP_CS1 9u
/* PADS_BANK0 (datasheet 9.11.3): GPIOn at 4n + 4 */
#define PADS_BANK0_BASE 0x40038000u
#define PAD(n) (PADS_BANK0_BASE + 4u * (n) + 4u)
#define PAD_SCHMITT (1u << 1)
#define PAD_PUE (1u << 3)
#define PAD_DRIVE_4MA (1u << 4)
#define PAD_IE (1u << 6)
#define PAD_OD (1u << 7)
#define PAD_ISO (1u << 8) /* isolation latch (9.7): set at reset, cleared once the pad's function is chosen */

/* SIO GPIO (datasheet 3.1.3 / 3.1.11): GPIO 0..31 and the high bank 32..47 */
#define SIO_BASE 0xd0000000u
#define SIO_GPIO_OUT_SET 0x18u
#define SIO_GPIO_HI_OUT_SET 0x1cu
#define SIO_GPIO_OUT_CLR 0x20u
#define SIO_GPIO_HI_OUT_CLR 0x24u
#define SIO_GPIO_OE_SET 0x38u
#define SIO_GPIO_HI_OE_SET 0x3cu

/* UART (PL011, datasheet 12.1.8) */
#define UART_DR 0x00u
#define UART_FR 0x18u
#define UART_IBRD 0x24u
#define UART_FBRD 0x28u
#define UART_LCR_H 0x2cu
#define UART_CR 0x30u
#define UART_IFLS 0x34u
#define UART_IMSC 0x38u
#define UART_ICR 0x44u
#define UART_DR_FE (1u << 8)
#define UART_DR_PE (1u << 9)
#define UART_DR_BE (1u << 10)
#define UART_FR_RXFE (1u << 4)
#define UART_FR_TXFF (1u << 5)
#define UART_LCR_H_FEN (1u << 4)
#define UART_LCR_H_WLEN_8 (3u << 5)
#define UART_CR_UARTEN (1u << 0)
#define UART_CR_TXE (1u << 8)
#define UART_CR_RXE (1u << 9)
#define UART_IMSC_RXIM (1u << 4)
#define UART_IMSC_RTIM (1u << 6) /* receive timeout: fewer bytes than the FIFO level, line idle 32 bits */
#define UART_ICR_ALL 0x7ffu
#define UART_IFLS_RX_1_8 (0u << 3) /* RX interrupt at 1/8 full (4 bytes): low latency for short frames */

/* QMI (datasheet 12.14.6) and XIP_CTRL (4.4.5) */
#define QMI_BASE 0x400d0000u
#define QMI_DIRECT_CSR 0x00u
#define QMI_DIRECT_TX 0x04u
#define QMI_DIRECT_RX 0x08u
#define QMI_M1_TIMING 0x20u
#define QMI_M1_RFMT 0x24u
#define QMI_M1_RCMD 0x28u
#define QMI_M1_WFMT 0x2cu
#define QMI_M1_WCMD 0x30u
#define QMI_CSR_EN (1u << 0)
#define QMI_CSR_BUSY (1u << 1)
#define QMI_CSR_ASSERT_CS1N (1u << 3)
#define QMI_CSR_RXEMPTY (1u << 16)
#define QMI_CSR_CLKDIV_LSB 22u
#define QMI_TX_IWIDTH_QUAD (2u << 16)
#define QMI_TX_OE (1u << 19)
/* Mx_TIMING fields */
#define QMI_TIMING_CLKDIV_LSB 0u
#define QMI_TIMING_RXDELAY_LSB 8u
#define QMI_TIMING_MIN_DESELECT_LSB 12u
#define QMI_TIMING_MAX_SELECT_LSB 17u
#define QMI_TIMING_SELECT_HOLD_LSB 23u
#define QMI_TIMING_PAGEBREAK_1024 (2u << 28)
#define QMI_TIMING_COOLDOWN_LSB 30u
/* Mx_RFMT / Mx_WFMT fields (widths: 0 single, 1 dual, 2 quad) */
#define QMI_FMT_PREFIX_WIDTH_Q (2u << 0)
#define QMI_FMT_ADDR_WIDTH_Q (2u << 2)
#define QMI_FMT_SUFFIX_WIDTH_Q (2u << 4)
#define QMI_FMT_DUMMY_WIDTH_Q (2u << 6)
#define QMI_FMT_DATA_WIDTH_Q (2u << 8)
#define QMI_FMT_PREFIX_LEN_8 (1u << 12)
#define QMI_FMT_DUMMY_LEN_LSB 16u /* in units of 4 bits: one clock at quad width */
#define XIP_CTRL_BASE 0x400c8000u
#define XIP_CTRL_CTRL 0x00u
#define XIP_CTRL_WRITABLE_M1 (1u << 11)
/* uncached, non-allocating alias of the XIP windows (datasheet 2.2): CS1 at +16 MB */
#define XIP_NOCACHE_NOALLOC_BASE 0x14000000u
#define XIP_WINDOW_BYTES 0x01000000u
#define PSRAM_WINDOW_BASE EK_MEM_PSRAM_BASE /* QMI CS1's XIP window: the profile's psram region */

/* APS6404L commands (AP Memory APS6404L-3SQR datasheet, command table). The device powers up in SPI mode with
 * linear bursts; 1 KB pages; linear bursts run up to 84 MHz; CE# may stay low at most tCEM = 8 us (-40..85 C)
 * so the device can refresh. */
#define PSRAM_CMD_READ_ID 0x9fu    /* SPI: 9Fh, 24 address bits, then MF ID, KGD, EID... */
#define PSRAM_CMD_RESET_EN 0x66u
#define PSRAM_CMD_RESET 0x99u
#define PSRAM_CMD_ENTER_QPI 0x35u
#define PSRAM_CMD_EXIT_QPI 0xf5u   /* sent on four lines: a warm reset finds the device still in QPI */
#define PSRAM_CMD_QPI_READ 0xebu   /* fast quad read: 6 wait cycles in QPI mode */
#define PSRAM_CMD_QPI_WRITE 0x38u  /* quad write: no wait cycles */
#define PSRAM_READ_WAIT_CYCLES 6u
#define PSRAM_MFID_AP_MEMORY 0x0du
#define PSRAM_KGD_PASS 0x5du       /* known-good-die byte of a tested part */
#define PSRAM_MAX_SCK_HZ 84000000u /* linear bursts (the QMI never uses wrapped bursts) */
#define PSRAM_TCEM_NS 8000u
/* CE# high time between bursts. 50 ns is a conservative assumption, not a datasheet figure: the device's AC
 * table could not be consulted here (it costs 7 clk_sys a burst). */
#define PSRAM_MIN_DESELECT_NS 50u

/* QMI window 1 timing from clk_sys, all in whole system clocks (12.14.3 and the TIMING field descriptions). */
#define SYS_PERIOD_PS (1000000000000ull / EK_CLOCK_HZ)
#define PSRAM_CLKDIV ((EK_CLOCK_HZ + PSRAM_MAX_SCK_HZ - 1u) / PSRAM_MAX_SCK_HZ)
/* MAX_SELECT counts 64 clk_sys; the access in flight when it expires still completes (at most one command,
 * address, wait and an 8-byte cache line: 30 SCK = 60 clk_sys at CLKDIV 2), so one unit is kept in hand. */
#define PSRAM_MAX_SELECT ((uint32_t)(PSRAM_TCEM_NS * 1000ull / (64u * SYS_PERIOD_PS)) - 1u)
/* CS stays high half an SCK (rounded up) plus MIN_DESELECT clk_sys. */
#define PSRAM_MIN_DESELECT                                                                                     \
    ((uint32_t)((PSRAM_MIN_DESELECT_NS * 1000ull + SYS_PERIOD_PS - 1u) / SYS_PERIOD_PS) - (PSRAM_CLKDIV + 1u) / 2u)
/* Read sampling: the round trip clk_sys -> QSPI pad -> device -> pad -> sampling register is 2.5 + 1.5 ns on the
 * RP2350 side (datasheet 12.14.3.4, Table 1292) plus the device's clock-to-output delay, more than the half
 * SCK period (6.7 ns at 75 MHz) the QMI allows by default: delay sampling by one half clk_sys (3.3 ns), the
 * value public RP2350 APS6404L drivers use at this divisor. Not verified on this board (no hardware here). */
#define PSRAM_RXDELAY 1u
#define PSRAM_SELECT_HOLD 3u /* 3 extra clk_sys of CS hold after the last SCK: costs 20 ns a burst */
#define PSRAM_COOLDOWN 1u    /* keep CS low 64 clk_sys after a burst so a sequential access can continue it */
/* Direct-mode commands run slowly: the device is still in SPI mode and nothing here is speed-critical. */
#define PSRAM_DIRECT_SCK_HZ 10000000u
#define PSRAM_DIRECT_CLKDIV ((EK_CLOCK_HZ + PSRAM_DIRECT_SCK_HZ - 1u) / PSRAM_DIRECT_SCK_HZ)

#define READY_SPINS 2000000u /* polls before a wait on hardware gives up: tens of ms at 150 MHz */

typedef char ek_check_psram_timing[(PSRAM_CLKDIV >= 2u && PSRAM_CLKDIV <= 255u && PSRAM_MAX_SELECT <= 63u &&
                                    PSRAM_MIN_DESELECT <= 31u && PSRAM_DIRECT_CLKDIV <= 255u)
                                       ? 1
                                       : -1];

#define PSRAM_ID_WANTED ((PSRAM_MFID_AP_MEMORY << 8) | PSRAM_KGD_PASS)

/* ek_rp2350_psram_ram.c, in SRAM: probe the PSRAM in QMI direct mode; when its ID is right, put it in QPI mode
 * and set up QMI window 1. Returns MF ID << 8 | KGD. long_call: SRAM is out of a BL's reach from flash. */
__attribute__((long_call)) uint32_t ek_rp2350_psram_probe_and_map(void);

#endif /* EK_RP2350_H */
