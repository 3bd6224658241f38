/* ek_psram_teensy41.c — FlexSPI2 and the APS6404L PSRAM chips of the Teensy 4.1 (0, 1 or 2 fitted), the
 * arena's home at 0x70000000.
 *
 * Board (PJRC Teensy 4.1 schematic): both PSRAM footprints share FlexSPI2 port A; chip select 0 is
 * GPIO_EMC_24, chip select 1 GPIO_EMC_22 (that footprint may hold a flash chip instead), SCLK GPIO_EMC_25,
 * DATA0..3 GPIO_EMC_26..29, DQS GPIO_EMC_23 (unconnected, used for the read-clock loopback); all ALT8
 * (IMXRT1060RM IOMUXC SW_MUX_CTL_PAD_GPIO_EMC_22..29 and the FLEXSPI2_IPP_IND_*_SELECT_INPUT daisy chain).
 * Chip (AP Memory APS6404L-3SQR datasheet): 8 MB, SPI at power-up; 0x66/0x99 reset, 0x9F read ID (24-bit
 * address, then MF ID 0x0D and KGD 0x5D), 0x35 enters quad (QPI) mode, 0xF5 leaves it; in QPI mode 0xEB
 * reads with 6 wait cycles and 0x38 writes; pages are 1 KB.
 *
 * FlexSPI2 (IMXRT1060RM ch. FlexSPI): AHB reads and writes go through LUT sequences 5 and 6. Prefetch is off:
 * every access is then one D-cache line (32 bytes, aligned), so no burst crosses a 1 KB PSRAM page or holds
 * chip select low long enough to delay the chip's self-refresh (its CE# low-time limit, tCEM), at any clock.
 * Each chip is probed by reading its ID; one that does not answer gets size 0 in FLSHxCR0 (not mapped), and
 * ek_uart_init reports an arena that would need it before the runtime touches the arena. */
#include <stdint.h>

#include "ek_imxrt1062.h"
#include "ek_teensy41.h"

#define EK_T41_PSRAM_SPINS 1000000u /* an IP command takes microseconds; this bounds a dead controller */

/* LUT sequence numbers (our choice; FLSHxCR2 and IPCR1 refer to them). */
enum {
    SEQ_EXIT_QPI = 0,
    SEQ_RESET_ENABLE = 1,
    SEQ_RESET = 2,
    SEQ_READ_ID = 3,
    SEQ_ENTER_QPI = 4,
    SEQ_QPI_READ = 5,
    SEQ_QPI_WRITE = 6,
    SEQ_COUNT = 7,
};

#define I(op, pads, operand) EK_LUT_INSTR(EK_LUT_##op, EK_LUT_PADS_##pads, (operand))
static const uint32_t ek_t41_psram_lut[SEQ_COUNT][4] = {
    [SEQ_EXIT_QPI] = {EK_LUT_WORD(I(CMD_SDR, 4, 0xF5), I(STOP, 1, 0))}, /* a chip left in QPI by a warm reset */
    [SEQ_RESET_ENABLE] = {EK_LUT_WORD(I(CMD_SDR, 1, 0x66), I(STOP, 1, 0))},
    [SEQ_RESET] = {EK_LUT_WORD(I(CMD_SDR, 1, 0x99), I(STOP, 1, 0))},
    [SEQ_READ_ID] = {EK_LUT_WORD(I(CMD_SDR, 1, 0x9F), I(RADDR_SDR, 1, 24)), EK_LUT_WORD(I(READ_SDR, 1, 4), 0)},
    [SEQ_ENTER_QPI] = {EK_LUT_WORD(I(CMD_SDR, 1, 0x35), I(STOP, 1, 0))},
    [SEQ_QPI_READ] = {EK_LUT_WORD(I(CMD_SDR, 4, 0xEB), I(RADDR_SDR, 4, 24)),
                      EK_LUT_WORD(I(DUMMY_SDR, 4, 6), I(READ_SDR, 4, 4))},
    [SEQ_QPI_WRITE] = {EK_LUT_WORD(I(CMD_SDR, 4, 0x38), I(RADDR_SDR, 4, 24)), EK_LUT_WORD(I(WRITE_SDR, 4, 4), 0)},
};
#undef I

#define APS6404_MFID 0x0Du
#define APS6404_KGD_PASS 0x5Du

/* Pads: SS0/SS1 with 100 K pull-ups (deselected while the pins are not driven), data with 47 K pull-ups,
 * DQS with the keeper, SCLK plain; all fast slew, R0/6 drive, 200 MHz speed class, hysteresis on inputs. */
#define PAD_BASE (IOMUXC_PAD_SRE | IOMUXC_PAD_DSE(6) | IOMUXC_PAD_SPEED(3))
#define PAD_CS (PAD_BASE | IOMUXC_PAD_PKE | IOMUXC_PAD_PUE | IOMUXC_PAD_PUS(2) | IOMUXC_PAD_HYS)
#define PAD_DATA (PAD_BASE | IOMUXC_PAD_PKE | IOMUXC_PAD_PUE | IOMUXC_PAD_PUS(1) | IOMUXC_PAD_HYS)
#define PAD_DQS (PAD_BASE | IOMUXC_PAD_PKE | IOMUXC_PAD_HYS)
#define MUX_FLEXSPI2 (8u | IOMUXC_MUX_SION)

static void ek_t41_psram_pins(void)
{
    static const uint32_t pads[8] = {PAD_CS, PAD_DQS, PAD_CS, PAD_BASE, PAD_DATA, PAD_DATA, PAD_DATA, PAD_DATA};
    for (uint32_t i = 0; i < 8u; i++) { /* GPIO_EMC_22..29 */
        IOMUXC_PAD_EMC(22u + i) = pads[i];
        IOMUXC_MUX_EMC(22u + i) = MUX_FLEXSPI2;
    }
    IOMUXC_FLEXSPI2_DQS_FA_SELECT_INPUT = 1u;
    IOMUXC_FLEXSPI2_SCK_FA_SELECT_INPUT = 1u;
    for (uint32_t bit = 0; bit < 4u; bit++) {
        IOMUXC_FLEXSPI2_IO_FA_SELECT_INPUT(bit) = 1u;
    }
}

/* FlexSPI2 root clock = PLL2 (528 MHz) / 5 = 105.6 MHz; in SDR mode the serial clock equals it (the
 * APS6404L takes up to 133 MHz in QPI mode). PLL2 runs after the ROM; it is started here if not. */
#define EK_T41_FLEXSPI2_CLK_SEL_PLL2 3u
#define EK_T41_FLEXSPI2_PODF 5u

static const char *ek_t41_flexspi2_clock(void)
{
    const uint32_t running = CCM_ANALOG_PLL_LOCK | CCM_ANALOG_PLL_ENABLE;
    const uint32_t state = CCM_ANALOG_PLL_LOCK | CCM_ANALOG_PLL_ENABLE | CCM_ANALOG_PLL_POWERDOWN |
                           CCM_ANALOG_PLL_BYPASS;
    if ((CCM_ANALOG_PLL_SYS & state) != running) {
        CCM_ANALOG_PLL_SYS = (CCM_ANALOG_PLL_SYS & ~CCM_ANALOG_PLL_POWERDOWN) | CCM_ANALOG_PLL_ENABLE | 1u;
        if (!ek_t41_wait(&CCM_ANALOG_PLL_SYS, CCM_ANALOG_PLL_LOCK, CCM_ANALOG_PLL_LOCK, EK_T41_PSRAM_SPINS)) {
            return "PLL2 (FlexSPI2 clock source) did not lock";
        }
        CCM_ANALOG_PLL_SYS &= ~CCM_ANALOG_PLL_BYPASS;
    }
    /* The root clock's mux and divider change only while its gate is off. */
    CCM_CCGR(7u) &= ~(3u << 2u);
    CCM_CBCMR = (CCM_CBCMR & ~((7u << CCM_CBCMR_FLEXSPI2_PODF_SHIFT) | (3u << CCM_CBCMR_FLEXSPI2_CLK_SEL_SHIFT))) |
                ((EK_T41_FLEXSPI2_PODF - 1u) << CCM_CBCMR_FLEXSPI2_PODF_SHIFT) |
                (EK_T41_FLEXSPI2_CLK_SEL_PLL2 << CCM_CBCMR_FLEXSPI2_CLK_SEL_SHIFT);
    CCM_CCGR(7u) |= CCM_CG_ON << 2u; /* CCGR7 CG1: flexspi2 */
    return 0;
}

/* One IP command on sequence `seq` at FlexSPI2 address `addr`, optionally reading `read_bytes` (<= 8). */
static int ek_t41_flexspi2_ip(uint32_t seq, uint32_t addr, uint32_t read_bytes, uint32_t *data)
{
    FLEXSPI2(FLEXSPI_INTR) = FLEXSPI_INTR_IPCMDDONE | FLEXSPI_INTR_IPCMDERR | FLEXSPI_INTR_IPRXWA;
    if (read_bytes) {
        FLEXSPI2(FLEXSPI_IPRXFCR) |= 1u; /* CLRIPRXF */
    }
    FLEXSPI2(FLEXSPI_IPCR0) = addr;
    FLEXSPI2(FLEXSPI_IPCR1) = (seq << 16) | read_bytes;
    FLEXSPI2(FLEXSPI_IPCMD) = 1u;
    if (!ek_t41_wait(&FLEXSPI2(FLEXSPI_INTR), FLEXSPI_INTR_IPCMDDONE, FLEXSPI_INTR_IPCMDDONE, EK_T41_PSRAM_SPINS)) {
        return 0;
    }
    int ok = !(FLEXSPI2(FLEXSPI_INTR) & FLEXSPI_INTR_IPCMDERR);
    if (data) {
        *data = FLEXSPI2(FLEXSPI_RFDR(0));
    }
    FLEXSPI2(FLEXSPI_INTR) = FLEXSPI_INTR_IPCMDDONE | FLEXSPI_INTR_IPCMDERR | FLEXSPI_INTR_IPRXWA;
    return ok;
}

/* Reset the chip at `addr` into SPI mode and read its ID: 1 if it is an APS6404 that passed its test. */
static int ek_t41_psram_probe(uint32_t addr)
{
    uint32_t id = 0;
    if (!ek_t41_flexspi2_ip(SEQ_EXIT_QPI, addr, 0, 0) || !ek_t41_flexspi2_ip(SEQ_RESET_ENABLE, addr, 0, 0) ||
        !ek_t41_flexspi2_ip(SEQ_RESET, addr, 0, 0) || !ek_t41_flexspi2_ip(SEQ_READ_ID, addr, 4u, &id)) {
        return 0;
    }
    return (id & 0xFFu) == APS6404_MFID && ((id >> 8) & 0xFFu) == APS6404_KGD_PASS;
}

#define SCB_DCCIMVAC EK_REG32(0xE000EF70u) /* clean and invalidate D-cache line by address (ARMv7-M B2.2.7) */

/* Write two words at `p`, push them out of the D-cache and read them back over AHB (sequences 5 and 6). */
static int ek_t41_psram_readback(volatile uint32_t *p)
{
    static const uint32_t pattern[2] = {0x5AA5C33Cu, 0x0FF0E11Eu};
    p[0] = pattern[0];
    p[1] = pattern[1];
    ek_barrier();
    SCB_DCCIMVAC = (uint32_t)(uintptr_t)p;
    ek_barrier();
    return p[0] == pattern[0] && p[1] == pattern[1];
}

uint32_t ek_t41_psram_init(unsigned *chips_out, const char **error_out)
{
    *chips_out = 0;
    *error_out = 0;
    ek_t41_psram_pins();
    const char *clock_error = ek_t41_flexspi2_clock();
    if (clock_error) {
        *error_out = clock_error;
        return 0;
    }
    FLEXSPI2(FLEXSPI_MCR0) |= FLEXSPI_MCR0_MDIS;
    uint32_t mcr0 = FLEXSPI2(FLEXSPI_MCR0) & ~((0xFFu << 24) | (0xFFu << 16) | (3u << FLEXSPI_MCR0_RXCLKSRC_SHIFT) |
                                               FLEXSPI_MCR0_ARDFEN | FLEXSPI_MCR0_ATDFEN | FLEXSPI_MCR0_SWRESET);
    /* Longest grant waits; read clock = loopback from the DQS pad (RXCLKSRC 1). */
    FLEXSPI2(FLEXSPI_MCR0) = mcr0 | (0xFFu << 24) | (0xFFu << 16) | (1u << FLEXSPI_MCR0_RXCLKSRC_SHIFT) |
                             FLEXSPI_MCR0_MDIS;
    FLEXSPI2(FLEXSPI_MCR1) = (0xFFFFu << 16) | 0xFFFFu;       /* SEQWAIT, AHBBUSWAIT timeouts */
    FLEXSPI2(FLEXSPI_MCR2) &= ~FLEXSPI_MCR2_SAMEDEVICEEN;     /* each chip select has its own FLSHxCR1/2 */
    FLEXSPI2(FLEXSPI_AHBCR) &= ~FLEXSPI_AHBCR_PREFETCHEN;
    for (uint32_t n = 0; n < 4u; n++) {
        FLEXSPI2(FLEXSPI_AHBRXBUFCR0(n)) &= ~FLEXSPI_AHBRXBUFCR0_PREFETCHEN;
    }
    /* While probing both chip selects are mapped (A1 at 0, A2 at 8 MB); port B has no device. */
    const uint32_t chip_kb = EK_T41_PSRAM_CHIP_BYTES / 1024u;
    FLEXSPI2(FLEXSPI_FLSHCR0(FLEXSPI_PORT_A1)) = chip_kb;
    FLEXSPI2(FLEXSPI_FLSHCR0(FLEXSPI_PORT_A2)) = chip_kb;
    FLEXSPI2(FLEXSPI_FLSHCR0(FLEXSPI_PORT_B1)) = 0;
    FLEXSPI2(FLEXSPI_FLSHCR0(FLEXSPI_PORT_B2)) = 0;
    for (uint32_t port = FLEXSPI_PORT_A1; port <= FLEXSPI_PORT_A2; port++) {
        /* TCSS = TCSH = 1 clock; CSINTERVAL = 2 clocks (19 ns) of chip select high between commands, a margin
         * over the PSRAM's minimum CE# high time (tCPH). */
        FLEXSPI2(FLEXSPI_FLSHCR1(port)) = (2u << 16) | (1u << 5) | 1u;
        FLEXSPI2(FLEXSPI_FLSHCR2(port)) = ((uint32_t)SEQ_QPI_WRITE << 8) | (uint32_t)SEQ_QPI_READ;
    }
    FLEXSPI2(FLEXSPI_MCR0) &= ~FLEXSPI_MCR0_MDIS;
    FLEXSPI2(FLEXSPI_MCR0) |= FLEXSPI_MCR0_SWRESET;
    if (!ek_t41_wait(&FLEXSPI2(FLEXSPI_MCR0), FLEXSPI_MCR0_SWRESET, 0, EK_T41_PSRAM_SPINS)) {
        *error_out = "FlexSPI2 did not come out of its software reset";
        return 0;
    }
    FLEXSPI2(FLEXSPI_LUTKEY) = FLEXSPI_LUTKEY_VALUE;
    FLEXSPI2(FLEXSPI_LUTCR) = FLEXSPI_LUTCR_UNLOCK;
    for (uint32_t seq = 0; seq < SEQ_COUNT; seq++) {
        for (uint32_t w = 0; w < 4u; w++) {
            FLEXSPI2(FLEXSPI_LUT(4u * seq + w)) = ek_t41_psram_lut[seq][w];
        }
    }
    FLEXSPI2(FLEXSPI_LUTKEY) = FLEXSPI_LUTKEY_VALUE;
    FLEXSPI2(FLEXSPI_LUTCR) = FLEXSPI_LUTCR_LOCK;

    unsigned chips = 0;
    for (uint32_t chip = 0; chip < EK_T41_PSRAM_MAX_CHIPS; chip++) {
        uint32_t addr = chip * EK_T41_PSRAM_CHIP_BYTES;
        if (ek_t41_psram_probe(addr) && ek_t41_flexspi2_ip(SEQ_ENTER_QPI, addr, 0, 0)) {
            chips |= 1u << chip;
        }
    }
    /* Map only the chips that answered; they stay contiguous from 0x70000000 (A1, then A2). */
    FLEXSPI2(FLEXSPI_FLSHCR0(FLEXSPI_PORT_A1)) = (chips & 1u) ? chip_kb : 0u;
    FLEXSPI2(FLEXSPI_FLSHCR0(FLEXSPI_PORT_A2)) = (chips & 2u) ? chip_kb : 0u;
    uint32_t bytes = (uint32_t)__builtin_popcount(chips) * EK_T41_PSRAM_CHIP_BYTES;
    for (uint32_t off = 0; off < bytes; off += EK_T41_PSRAM_CHIP_BYTES) {
        if (!ek_t41_psram_readback((volatile uint32_t *)(uintptr_t)(FLEXSPI2_AHB_BASE + off))) {
            *error_out = "a PSRAM chip answered its ID but does not read back what was written";
            return 0;
        }
    }
    *chips_out = chips;
    return bytes;
}
