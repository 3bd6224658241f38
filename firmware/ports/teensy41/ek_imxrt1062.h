/* ek_imxrt1062.h — the i.MX RT1062 registers the bare-metal Teensy 4.1 port touches, with the FlexSPI LUT
 * instruction encoding shared by the boot header (flash) and the PSRAM set-up (FlexSPI2).
 *
 * Source: NXP i.MX RT1060 Processor Reference Manual (IMXRT1060RM, Rev. 3); each block names its chapter and
 * register. Addresses are absolute; fields are the RM's, named as there. Only what the port uses is here. */
#ifndef EK_IMXRT1062_H
#define EK_IMXRT1062_H

#include "ek_board_profile.h" /* EK_MEM_PSRAM_BASE */
#include "ek_cortex_m.h"

/* ---- IOMUXC_GPR (IMXRT1060RM ch. "IOMUX Controller (IOMUXC)", IOMUXC_GPR_GPR14/16/17; FlexRAM banks also in
 * ch. "Flexible RAM (FlexRAM)" and AN12077 "Using the i.MX RT FlexRAM") ------------------------------------- */
#define IOMUXC_GPR_BASE 0x400AC000u
#define IOMUXC_GPR_GPR14_OFF 0x38u /* CM7_CFGITCMSZ [19:16], CM7_CFGDTCMSZ [23:20]: 0 = none ... 0xA = 512 KB */
#define IOMUXC_GPR_GPR16_OFF 0x40u /* INIT_ITCM_EN [0], INIT_DTCM_EN [1], FLEXRAM_BANK_CFG_SEL [2] (1: use GPR17) */
#define IOMUXC_GPR_GPR17_OFF 0x44u /* FLEXRAM_BANK_CFG: 2 bits per 32 KB bank, 00 off, 01 OCRAM, 10 DTCM, 11 ITCM */

/* ---- CCM (IMXRT1060RM ch. "Clock Controller Module (CCM)": CCM memory map) --------------------------------- */
#define CCM_BASE 0x400FC000u
#define CCM_CACRR EK_REG32(CCM_BASE + 0x10u)  /* ARM_PODF [2:0]: divide PLL1 by ARM_PODF + 1 */
#define CCM_CBCDR EK_REG32(CCM_BASE + 0x14u)  /* IPG_PODF [9:8], AHB_PODF [12:10], PERIPH_CLK_SEL [25], */
#define CCM_CBCMR EK_REG32(CCM_BASE + 0x18u)  /*   PERIPH_CLK2_PODF [29:27]; see the fields below */
#define CCM_CSCDR1 EK_REG32(CCM_BASE + 0x24u) /* UART_CLK_PODF [5:0], UART_CLK_SEL [6] (1: osc_clk 24 MHz) */
#define CCM_CDHIPR EK_REG32(CCM_BASE + 0x48u) /* handshake busy flags of the dividers/muxes changed on the fly */
#define CCM_CCGR(n) EK_REG32(CCM_BASE + 0x68u + 4u * (n)) /* clock gates, 2 bits each: 11 = on in run+wait */
#define CCM_CBCDR_IPG_PODF_SHIFT 8u
#define CCM_CBCDR_AHB_PODF_SHIFT 10u
#define CCM_CBCDR_PERIPH_CLK_SEL (1u << 25) /* 0: pre_periph_clk, 1: periph_clk2 */
#define CCM_CBCDR_PERIPH_CLK2_PODF_SHIFT 27u
#define CCM_CBCMR_FLEXSPI2_CLK_SEL_SHIFT 8u   /* 0 PLL2 PFD2, 1 PLL3 PFD0, 2 PLL3 PFD1, 3 PLL2 (528 MHz) */
#define CCM_CBCMR_PERIPH_CLK2_SEL_SHIFT 12u   /* 0 pll3_sw_clk, 1 osc_clk, 2 pll2_bypass_clk */
#define CCM_CBCMR_PRE_PERIPH_CLK_SEL_SHIFT 18u /* 3: PLL1 divided by ARM_PODF */
#define CCM_CBCMR_FLEXSPI2_PODF_SHIFT 29u
#define CCM_CSCDR1_UART_CLK_SEL (1u << 6)
#define CCM_CDHIPR_AHB_PODF_BUSY (1u << 1)
#define CCM_CDHIPR_PERIPH2_CLK_SEL_BUSY (1u << 3)
#define CCM_CDHIPR_PERIPH_CLK_SEL_BUSY (1u << 5)
#define CCM_CDHIPR_ARM_PODF_BUSY (1u << 16)
#define CCM_CG_ON 3u
/* Gate positions (CCGRn, CGx at bits 2x+1:2x): IMXRT1060RM CCM_CCGR0..7 field tables. */
#define CCM_GATE_LPUART6 3u, 3u
#define CCM_GATE_GPIO4 3u, 6u
#define CCM_GATE_IOMUXC 4u, 1u
#define CCM_GATE_DCDC 6u, 3u
#define CCM_GATE_FLEXSPI2 7u, 1u

/* ---- CCM_ANALOG (IMXRT1060RM ch. "Clock Controller Module (CCM)": CCM Analog memory map) -------------------- */
#define CCM_ANALOG_BASE 0x400D8000u
#define CCM_ANALOG_PLL_ARM EK_REG32(CCM_ANALOG_BASE + 0x00u) /* PLL1: Fout = 24 MHz * DIV_SELECT / 2 */
#define CCM_ANALOG_PLL_SYS EK_REG32(CCM_ANALOG_BASE + 0x30u) /* PLL2: 528 MHz (DIV_SELECT 1 = 22x) */
#define CCM_ANALOG_PLL_DIV_SELECT_MASK 0x7Fu
#define CCM_ANALOG_PLL_POWERDOWN (1u << 12)
#define CCM_ANALOG_PLL_ENABLE (1u << 13)
#define CCM_ANALOG_PLL_BYPASS (1u << 16)
#define CCM_ANALOG_PLL_LOCK (1u << 31)
#define CCM_ANALOG_PLL_ARM_DIV_MIN 54u  /* PLL_ARM DIV_SELECT range 54..108: 648..1296 MHz */
#define CCM_ANALOG_PLL_ARM_DIV_MAX 108u

/* ---- DCDC (IMXRT1060RM ch. "DCDC Converter (DCDC)": DCDC_REG0, DCDC_REG3) ------------------------------------ */
#define DCDC_BASE 0x40080000u
#define DCDC_REG0 EK_REG32(DCDC_BASE + 0x00u)
#define DCDC_REG3 EK_REG32(DCDC_BASE + 0x0Cu)
#define DCDC_REG0_STS_DC_OK (1u << 31) /* the output has settled at the target */
#define DCDC_REG3_TRG_MASK 0x1Fu       /* VDD_SOC target = 0.8 V + 25 mV * TRG */

/* ---- IOMUXC (IMXRT1060RM ch. "IOMUX Controller (IOMUXC)": SW_MUX_CTL_PAD_*, SW_PAD_CTL_PAD_*, *_SELECT_INPUT) - */
#define IOMUXC_BASE 0x401F8000u
#define IOMUXC_MUX_EMC(n) EK_REG32(IOMUXC_BASE + 0x014u + 4u * (n))   /* SW_MUX_CTL_PAD_GPIO_EMC_00.. */
#define IOMUXC_PAD_EMC(n) EK_REG32(IOMUXC_BASE + 0x204u + 4u * (n))   /* SW_PAD_CTL_PAD_GPIO_EMC_00.. */
#define IOMUXC_MUX_AD_B0(n) EK_REG32(IOMUXC_BASE + 0x0BCu + 4u * (n)) /* SW_MUX_CTL_PAD_GPIO_AD_B0_00.. */
#define IOMUXC_PAD_AD_B0(n) EK_REG32(IOMUXC_BASE + 0x2ACu + 4u * (n)) /* SW_PAD_CTL_PAD_GPIO_AD_B0_00.. */
#define IOMUXC_LPUART6_RX_SELECT_INPUT EK_REG32(IOMUXC_BASE + 0x550u)  /* 1: GPIO_AD_B0_03 ALT2 */
#define IOMUXC_LPUART6_TX_SELECT_INPUT EK_REG32(IOMUXC_BASE + 0x554u)  /* 1: GPIO_AD_B0_02 ALT2 */
#define IOMUXC_FLEXSPI2_DQS_FA_SELECT_INPUT EK_REG32(IOMUXC_BASE + 0x72Cu)        /* 1: GPIO_EMC_23 ALT8 */
#define IOMUXC_FLEXSPI2_IO_FA_SELECT_INPUT(b) EK_REG32(IOMUXC_BASE + 0x730u + 4u * (b)) /* 1: GPIO_EMC_26+b */
#define IOMUXC_FLEXSPI2_SCK_FA_SELECT_INPUT EK_REG32(IOMUXC_BASE + 0x750u)        /* 1: GPIO_EMC_25 ALT8 */
#define IOMUXC_MUX_SION (1u << 4) /* force the input path on (FlexSPI samples its DQS pad's own loopback) */
/* SW_PAD_CTL fields */
#define IOMUXC_PAD_SRE (1u << 0)               /* fast slew */
#define IOMUXC_PAD_DSE(n) ((uint32_t)(n) << 3) /* drive strength R0/n */
#define IOMUXC_PAD_SPEED(n) ((uint32_t)(n) << 6)
#define IOMUXC_PAD_PKE (1u << 12)
#define IOMUXC_PAD_PUE (1u << 13) /* 1: pull, 0: keeper */
#define IOMUXC_PAD_PUS(n) ((uint32_t)(n) << 14) /* 0 100K down, 1 47K up, 2 100K up, 3 22K up */
#define IOMUXC_PAD_HYS (1u << 16)

/* ---- GPIO4 (IMXRT1060RM ch. "General Purpose Input/Output (GPIO)": DR, GDIR, DR_SET, DR_CLEAR) -------------- */
#define GPIO4_BASE 0x401C4000u
#define GPIO_GDIR_OFF 0x04u
#define GPIO_DR_SET_OFF 0x84u
#define GPIO_DR_CLEAR_OFF 0x88u

/* ---- LPUART6 (IMXRT1060RM ch. "Low Power Universal Asynchronous Receiver/Transmitter (LPUART)") -------------- */
#define LPUART_GLOBAL 0x08u /* RST [1] */
#define LPUART_BAUD 0x10u   /* SBR [12:0], BOTHEDGE [17], OSR [28:24] (ratio OSR + 1, 4..32) */
#define LPUART_STAT 0x14u   /* RDRF [21], TDRE [23]; OR/NF/FE/PF [19:16] are write-1-to-clear */
#define LPUART_CTRL 0x18u   /* RE [18], TE [19], RIE [21] */
#define LPUART_DATA 0x1Cu
#define LPUART_GLOBAL_RST (1u << 1)
#define LPUART_BAUD_BOTHEDGE (1u << 17)
#define LPUART_BAUD_OSR_SHIFT 24u
#define LPUART_STAT_ERRORS (0xFu << 16)
#define LPUART_STAT_RDRF (1u << 21)
#define LPUART_STAT_TDRE (1u << 23)
#define LPUART_CTRL_RE (1u << 18)
#define LPUART_CTRL_TE (1u << 19)
#define LPUART_CTRL_RIE (1u << 21)

/* ---- FlexSPI2 (IMXRT1060RM ch. "Flexible Serial Peripheral Interface (FlexSPI)": memory map) ---------------- */
#define FLEXSPI2_BASE 0x402A4000u
/* its AHB window (IMXRT1060RM ch. "Memory Maps", system memory map): the profile's psram region */
#define FLEXSPI2_AHB_BASE EK_MEM_PSRAM_BASE
#define FLEXSPI2(off) EK_REG32(FLEXSPI2_BASE + (off))
#define FLEXSPI_MCR0 0x000u /* SWRESET [0], MDIS [1], RXCLKSRC [5:4], IPGRANTWAIT [23:16], AHBGRANTWAIT [31:24] */
#define FLEXSPI_MCR1 0x004u /* AHBBUSWAIT [15:0], SEQWAIT [31:16] (timeouts) */
#define FLEXSPI_MCR2 0x008u /* SAMEDEVICEEN [15]: all chips share FLSHA1CR1/CR2 */
#define FLEXSPI_AHBCR 0x00Cu /* PREFETCHEN [5] */
#define FLEXSPI_INTR 0x014u  /* IPCMDDONE [0], IPCMDERR [3], IPRXWA [5] (write 1: pop one RX watermark) */
#define FLEXSPI_LUTKEY 0x018u
#define FLEXSPI_LUTCR 0x01Cu /* LOCK [0], UNLOCK [1] */
#define FLEXSPI_AHBRXBUFCR0(n) (0x020u + 4u * (n)) /* PREFETCHEN [31] per AHB RX buffer */
#define FLEXSPI_FLSHCR0(port) (0x060u + 4u * (port)) /* A1, A2, B1, B2: device size in KB (0: absent) */
#define FLEXSPI_FLSHCR1(port) (0x070u + 4u * (port)) /* TCSS [4:0], TCSH [9:5], CSINTERVAL [31:16] */
#define FLEXSPI_FLSHCR2(port) (0x080u + 4u * (port)) /* ARDSEQID [3:0], AWRSEQID [11:8] (AHB read/write) */
#define FLEXSPI_IPCR0 0x0A0u /* IP command address, from the start of the FlexSPI2 space */
#define FLEXSPI_IPCR1 0x0A4u /* IDATSZ [15:0], ISEQID [19:16], ISEQNUM [26:24] */
#define FLEXSPI_IPCMD 0x0B0u /* TRG [0] */
#define FLEXSPI_IPRXFCR 0x0B8u /* CLRIPRXF [0] */
#define FLEXSPI_STS0 0x0E0u  /* SEQIDLE [0], ARBIDLE [1] */
#define FLEXSPI_RFDR(n) (0x100u + 4u * (n))
#define FLEXSPI_LUT(n) (0x200u + 4u * (n))
#define FLEXSPI_MCR0_SWRESET (1u << 0)
#define FLEXSPI_MCR0_MDIS (1u << 1)
#define FLEXSPI_MCR0_RXCLKSRC_SHIFT 4u
#define FLEXSPI_MCR0_ARDFEN (1u << 6) /* 0: IP RX FIFO read over the IP bus (RFDR) */
#define FLEXSPI_MCR0_ATDFEN (1u << 7)
#define FLEXSPI_MCR2_SAMEDEVICEEN (1u << 15)
#define FLEXSPI_AHBCR_PREFETCHEN (1u << 5)
#define FLEXSPI_AHBRXBUFCR0_PREFETCHEN (1u << 31)
#define FLEXSPI_INTR_IPCMDDONE (1u << 0)
#define FLEXSPI_INTR_IPCMDERR (1u << 3)
#define FLEXSPI_INTR_IPRXWA (1u << 5)
#define FLEXSPI_LUTKEY_VALUE 0x5AF05AF0u
#define FLEXSPI_LUTCR_LOCK (1u << 0)
#define FLEXSPI_LUTCR_UNLOCK (1u << 1)
#define FLEXSPI_STS0_IDLE 3u
#define FLEXSPI_PORT_A1 0u
#define FLEXSPI_PORT_A2 1u
#define FLEXSPI_PORT_B1 2u
#define FLEXSPI_PORT_B2 3u

/* FlexSPI LUT (IMXRT1060RM ch. FlexSPI, "Look Up Table" / "Instruction set"): a sequence is 4 words = 8
 * instructions; each 16-bit instruction is opcode [15:10], pads [9:8] (0: 1 pad, 1: 2, 2: 4, 3: 8), operand
 * [7:0]; instruction 0 of a word sits in its low half. A STOP (all zero) ends the sequence. */
#define EK_LUT_STOP 0x00u
#define EK_LUT_CMD_SDR 0x01u
#define EK_LUT_RADDR_SDR 0x02u
#define EK_LUT_MODE8_SDR 0x07u
#define EK_LUT_WRITE_SDR 0x08u
#define EK_LUT_READ_SDR 0x09u
#define EK_LUT_DUMMY_SDR 0x0Cu
#define EK_LUT_PADS_1 0u
#define EK_LUT_PADS_4 2u
#define EK_LUT_INSTR(op, pads, operand) ((uint32_t)(((op) << 10) | ((pads) << 8) | ((operand) & 0xFFu)))
#define EK_LUT_WORD(i0, i1) ((i0) | ((i1) << 16))

#endif /* EK_IMXRT1062_H */
