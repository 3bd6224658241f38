/* ek_stm32h747_extmem.c — the STM32H747I-DISCO's external memories, register level:
 *   FMC SDRAM bank 2: IS42S32800J, 32 MB at 0xD0000000 (the working arena / KV cache);
 *   QUADSPI: two MT25QL512ABB in dual-flash mode, 128 MB memory-mapped at 0x90000000 (image parts).
 * Timings and clocks come from ek_stm32h747_config.h; pins from UM2411 (the kit's user manual) and the
 * STM32H747xI datasheet's alternate-function table (AF12 = FMC; AF9/AF10 = QUADSPI).
 */
#include <stddef.h>
#include <stdint.h>

#include "ek_stm32h747_board.h"
#include "ek_stm32h747_config.h"
#include "ek_stm32h747_regs.h"

/* ---- FMC SDRAM (RM0399 FMC chapter: SDRAM controller, initialization sequence; IS42S32800J datasheet:
 *      power-up and initialization) ------------------------------------------------------------------------ */

/* UM2411 SDRAM signals, all AF12: D0-D31, A0-A11, BA0-1, NBL0-3, SDCLK, SDNCAS, SDNRAS, SDNWE and bank 2's
 * SDNE1 (PH6) / SDCKE1 (PH7). A12 (PG2) is not needed: the device has 12 row address bits. */
static const struct {
    uint8_t port;
    uint16_t pins;
} fmc_pins[] = {
    {PORT_D, (1u << 0) | (1u << 1) | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 14) | (1u << 15)}, /* D2-3,13-15,0-1 */
    {PORT_E, (1u << 0) | (1u << 1) | 0xFF80u},             /* NBL0-1, D4-D12 (PE7-PE15) */
    {PORT_F, 0x003Fu | 0xF800u},                           /* A0-A5 (PF0-5), SDNRAS (PF11), A6-A9 (PF12-15) */
    {PORT_G, (1u << 0) | (1u << 1) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 15)}, /* A10-11, BA0-1, SDCLK, SDNCAS */
    {PORT_H, 0xFFE0u},                                     /* SDNWE, SDNE1, SDCKE1, D16-D23 (PH5-PH15) */
    {PORT_I, 0x00FFu | (1u << 9) | (1u << 10)},            /* D24-27, NBL2-3, D28-29, D30-31 */
};

#define SDRAM_COLUMN_BITS 9u
#define SDRAM_ROW_BITS 12u
#define SDRAM_MWID_32 2u
#define SDRAM_COMMAND_SETTLE_US 10u /* no busy flag on the H7: a command takes a few SDCLK cycles at most */
#define SDRAM_POWER_UP_US 200u      /* the datasheet's 100 us of stable clock before the first command, doubled */

/* Mode register (JEDEC layout, IS42S32800J "mode register definition"): A2-A0 burst length 1 (000), A3
 * sequential (0), A6-A4 CAS latency, A8-A7 standard operation (00), A9 single-location write bursts (1). */
#define SDRAM_MODE_REGISTER(cas) ((0u << 0) | (0u << 3) | ((cas) << 4) | (0u << 7) | (1u << 9))

static void sdram_command(uint32_t mode, uint32_t refreshes, uint32_t mode_register)
{
    FMC_SDCMR = mode | FMC_SDCMR_CTB2 | ((refreshes - 1u) << FMC_SDCMR_NRFS_SHIFT) |
                (mode_register << FMC_SDCMR_MRD_SHIFT);
    ek_h747_delay_us(SDRAM_COMMAND_SETTLE_US);
}

/* Data lines, byte lanes and every address line, while the SDRAM is still uncached (the arena is NOLOAD and
 * not yet in use, so overwriting these words is harmless). */
static const char *sdram_check(void)
{
    volatile uint32_t *words = (volatile uint32_t *)EK_H747_SDRAM_BASE;
    const uint32_t count = EK_H747_SDRAM_BYTES / 4u;

    words[0] = 0x5555AAAAu;
    words[1] = 0xAAAA5555u;
    if (words[0] != 0x5555AAAAu || words[1] != 0xAAAA5555u) {
        return "sdram: data lines fail a write/read-back at 0xD0000000";
    }
    volatile uint8_t *bytes = (volatile uint8_t *)&words[2];
    words[2] = 0u;
    for (uint32_t i = 0; i < 4u; i++) {
        bytes[i] = (uint8_t)(0x11u * (i + 1u));
    }
    if (words[2] != 0x44332211u) {
        return "sdram: a byte lane (NBL0-3) does not write";
    }
    /* Address lines: a distinct value at every power-of-two word offset; a stuck or shorted line aliases two. */
    words[0] = 0xFFFFFFFFu;
    for (uint32_t offset = 1u; offset < count; offset <<= 1) {
        words[offset] = offset;
    }
    if (words[0] != 0xFFFFFFFFu) {
        return "sdram: an address line aliases word 0";
    }
    for (uint32_t offset = 1u; offset < count; offset <<= 1) {
        if (words[offset] != offset) {
            return "sdram: an address line aliases (power-of-two offsets read back wrong)";
        }
    }
    return NULL;
}

const char *ek_h747_sdram_init(void)
{
    RCC_D1CCIPR &= ~RCC_D1CCIPR_FMCSEL_MASK; /* FMC kernel clock = rcc_hclk3 (200 MHz) */
    RCC_AHB3ENR |= RCC_AHB3ENR_FMCEN;
    (void)RCC_AHB3ENR;
    for (size_t i = 0; i < sizeof fmc_pins / sizeof fmc_pins[0]; i++) {
        for (unsigned pin = 0; pin < 16u; pin++) {
            if (fmc_pins[i].pins & (1u << pin)) {
                ek_h747_gpio_af(fmc_pins[i].port, pin, 12u, GPIO_PULL_UP);
            }
        }
    }

    /* FMC_SDCRx: geometry and CAS latency. SDCLK period, read burst and read pipe are only read from SDCR1,
     * for both banks (bank 1 is not populated on the kit and stays unused). */
    uint32_t sdcr = ((SDRAM_COLUMN_BITS - 8u) << FMC_SDCR_NC_SHIFT) | ((SDRAM_ROW_BITS - 11u) << FMC_SDCR_NR_SHIFT) |
                    (SDRAM_MWID_32 << FMC_SDCR_MWID_SHIFT) | FMC_SDCR_NB4 | (ek_h747_sdram_cas << FMC_SDCR_CAS_SHIFT);
    FMC_SDCR1 = sdcr | (ek_h747_sdram_clk_div << FMC_SDCR_SDCLK_SHIFT) | FMC_SDCR_RBURST;
    FMC_SDCR2 = sdcr;
    /* FMC_SDTRx: 4-bit fields of (cycles - 1), TMRD lowest. TRC and TRP are only read from SDTR1. */
    uint32_t sdtr = 0u;
    for (uint32_t i = 0; i < 7u; i++) {
        sdtr |= ((ek_h747_sdram_timing_ck[i] - 1u) & 0xFu) << (4u * i);
    }
    FMC_SDTR1 = sdtr;
    FMC_SDTR2 = sdtr;
    FMC_BCR1 |= FMC_BCR1_FMCEN;

    /* JEDEC power-up: clock enable, wait, precharge all, auto-refreshes, load mode register, refresh rate. */
    sdram_command(FMC_SDCMR_MODE_CLK_ENABLE, 1u, 0u);
    ek_h747_delay_us(SDRAM_POWER_UP_US);
    sdram_command(FMC_SDCMR_MODE_PALL, 1u, 0u);
    sdram_command(FMC_SDCMR_MODE_AUTO_REFRESH, EK_H747_SDRAM_INIT_REFRESHES, 0u);
    sdram_command(FMC_SDCMR_MODE_LOAD_MODE, 1u, SDRAM_MODE_REGISTER(ek_h747_sdram_cas));
    FMC_SDRTR = ek_h747_sdram_refresh_count << FMC_SDRTR_COUNT_SHIFT;
    if ((FMC_SDSR & FMC_SDSR_MODES2_MASK) != 0u) {
        return "sdram: FMC_SDSR says bank 2 is not in normal mode after initialization";
    }
    return sdram_check();
}

/* ---- QUADSPI, dual-flash (RM0399 QUADSPI chapter: dual-flash mode, indirect and memory-mapped modes;
 *      MT25QL512ABB datasheet: command set) ---------------------------------------------------------------- */

/* UM2411 Quad-SPI signals: CLK PB2 (AF9), BK1_NCS PG6 (AF10; in dual-flash mode it selects both devices),
 * bank 1 IO0-3 PD11, PF9 (AF10), PF7, PF6, bank 2 IO0-3 PH2, PH3, PG9, PG14. */
static const struct {
    uint8_t port, pin, af, pull;
} qspi_pins[] = {
    {PORT_B, 2u, 9u, GPIO_PULL_NONE},   {PORT_G, 6u, 10u, GPIO_PULL_UP}, {PORT_D, 11u, 9u, GPIO_PULL_NONE},
    {PORT_F, 9u, 10u, GPIO_PULL_NONE},  {PORT_F, 7u, 9u, GPIO_PULL_NONE}, {PORT_F, 6u, 9u, GPIO_PULL_NONE},
    {PORT_H, 2u, 9u, GPIO_PULL_NONE},   {PORT_H, 3u, 9u, GPIO_PULL_NONE}, {PORT_G, 9u, 9u, GPIO_PULL_NONE},
    {PORT_G, 14u, 9u, GPIO_PULL_NONE},
};

/* MT25Q commands */
#define MT25Q_RESET_ENABLE 0x66u
#define MT25Q_RESET_MEMORY 0x99u
#define MT25Q_READ_ID 0x9Fu
#define MT25Q_READ_STATUS 0x05u
#define MT25Q_READ_4B_QUAD_IO_FAST 0xECu /* 4-BYTE QUAD INPUT/OUTPUT FAST READ (1-4-4) */
#define MT25Q_STATUS_WIP 0x01u
#define MT25Q_MANUFACTURER_MICRON 0x20u
#define MT25Q_CAPACITY_512MBIT 0x20u /* READ ID byte 3: 0x20 = 512 Mbit ... 0x22 = 2 Gbit */
#define MT25Q_CAPACITY_2GBIT 0x22u

#define QSPI_CSHT_CYCLES 6u      /* nCS high between commands: 60 ns >= the device's 50 ns tSHSL */
#define QSPI_IDLE_RELEASE 4096u  /* memory-mapped: drop nCS after ~41 us idle, the flashes fall to standby */
#define QSPI_TIMEOUT_US 10000u
#define QSPI_RESET_RECOVERY_US 1000u /* a margin over the datasheet's software-reset recovery (tSHSL3) */
#define QSPI_WIP_TIMEOUT_US 100000u

static int qspi_wait_fifo(void) /* until the receive FIFO holds a byte (QUADSPI_SR.FLEVEL > 0) */
{
    for (uint32_t waited_us = 0; (QSPI_SR & QSPI_SR_FLEVEL_MASK) == 0u; waited_us++) {
        if (waited_us >= QSPI_TIMEOUT_US) {
            return 0;
        }
        ek_h747_delay_us(1u);
    }
    return 1;
}

/* One indirect transaction without address: the instruction on `lines`, then `n` data bytes read on one line
 * (dual-flash: bytes alternate between the two devices). Returns 0 on timeout. */
static int qspi_transfer(uint8_t instruction, uint32_t lines, uint8_t *rx, uint32_t n)
{
    if (!ek_h747_wait(&QSPI_SR, QSPI_SR_BUSY, 0u, QSPI_TIMEOUT_US)) {
        return 0;
    }
    QSPI_FCR = QSPI_FCR_CTCF | QSPI_FCR_CTEF;
    if (n > 0u) {
        QSPI_DLR = n - 1u;
    }
    /* With no address phase, writing CCR starts the transfer. */
    QSPI_CCR = ((n > 0u ? QSPI_FMODE_INDIRECT_READ : QSPI_FMODE_INDIRECT_WRITE) << QSPI_CCR_FMODE_SHIFT) |
               ((n > 0u ? QSPI_LINES_1 : QSPI_LINES_NONE) << QSPI_CCR_DMODE_SHIFT) | (lines << QSPI_CCR_IMODE_SHIFT) |
               instruction;
    for (uint32_t i = 0; i < n; i++) {
        if (!qspi_wait_fifo()) {
            return 0;
        }
        rx[i] = QSPI_DR8;
    }
    if (!ek_h747_wait(&QSPI_SR, QSPI_SR_TCF, QSPI_SR_TCF, QSPI_TIMEOUT_US)) {
        return 0;
    }
    QSPI_FCR = QSPI_FCR_CTCF;
    return 1;
}

const char *ek_h747_qspi_init(void)
{
    RCC_D1CCIPR &= ~RCC_D1CCIPR_QSPISEL_MASK; /* QUADSPI kernel clock = rcc_hclk3 (200 MHz) */
    RCC_AHB3ENR |= RCC_AHB3ENR_QSPIEN;
    (void)RCC_AHB3ENR;
    for (size_t i = 0; i < sizeof qspi_pins / sizeof qspi_pins[0]; i++) {
        ek_h747_gpio_af(qspi_pins[i].port, qspi_pins[i].pin, qspi_pins[i].af, qspi_pins[i].pull);
    }

    QSPI_CR = 0u;
    QSPI_DCR = (ek_h747_qspi_fsize << QSPI_DCR_FSIZE_SHIFT) | ((QSPI_CSHT_CYCLES - 1u) << QSPI_DCR_CSHT_SHIFT);
    QSPI_LPTR = QSPI_IDLE_RELEASE;
    /* Dual-flash; sample half a cycle late (SSHIFT) for the board's round-trip delay at 100 MHz. */
    QSPI_CR = ((ek_h747_qspi_clk_div - 1u) << QSPI_CR_PRESCALER_SHIFT) | QSPI_CR_DFM | QSPI_CR_SSHIFT |
              QSPI_CR_TCEN;
    QSPI_CR |= QSPI_CR_EN;

    /* Back to the power-on state whatever an earlier program or debugger left (OpenOCD's kit script puts
     * both devices in QPI mode; their volatile configuration survives an MCU reset): RESET ENABLE + RESET
     * MEMORY sent on four lines, then two, then one. Widest first: each form resets devices in that protocol
     * (QPI, DPI, extended SPI), and a device in a narrower protocol sees a wider form as a fragment of fewer
     * than 8 bits before nCS rises, which it ignores. */
    static const uint32_t reset_lines[] = {QSPI_LINES_4, QSPI_LINES_2, QSPI_LINES_1};
    for (size_t i = 0; i < sizeof reset_lines / sizeof reset_lines[0]; i++) {
        if (!qspi_transfer(MT25Q_RESET_ENABLE, reset_lines[i], NULL, 0u) ||
            !qspi_transfer(MT25Q_RESET_MEMORY, reset_lines[i], NULL, 0u)) {
            return "qspi: QUADSPI did not complete the software-reset commands";
        }
    }
    ek_h747_delay_us(QSPI_RESET_RECOVERY_US);

    /* READ ID, 3 bytes from each device, interleaved: manufacturer, memory type, capacity. */
    uint8_t id[6];
    if (!qspi_transfer(MT25Q_READ_ID, QSPI_LINES_1, id, sizeof id)) {
        return "qspi: READ ID timed out";
    }
    if (id[0] != MT25Q_MANUFACTURER_MICRON || id[1] != MT25Q_MANUFACTURER_MICRON || id[2] != id[3] ||
        id[4] != id[5] || id[4] < MT25Q_CAPACITY_512MBIT || id[4] > MT25Q_CAPACITY_2GBIT) {
        return "qspi: READ ID did not return two Micron MT25Q devices of at least 512 Mbit";
    }
    /* Neither device may still be busy (a reset cut an erase short, or one is finishing). */
    uint32_t start_waiting = 0u;
    for (;;) {
        uint8_t status[2];
        if (!qspi_transfer(MT25Q_READ_STATUS, QSPI_LINES_1, status, sizeof status)) {
            return "qspi: READ STATUS timed out";
        }
        if (!((status[0] | status[1]) & MT25Q_STATUS_WIP)) {
            break;
        }
        if (start_waiting >= QSPI_WIP_TIMEOUT_US) {
            return "qspi: a flash device stays busy (status WIP)";
        }
        ek_h747_delay_us(100u);
        start_waiting += 100u;
    }

    if (!ek_h747_wait(&QSPI_SR, QSPI_SR_BUSY, 0u, QSPI_TIMEOUT_US)) {
        return "qspi: QUADSPI stays busy";
    }
    QSPI_CCR = (QSPI_FMODE_MEMORY_MAPPED << QSPI_CCR_FMODE_SHIFT) | (QSPI_LINES_4 << QSPI_CCR_DMODE_SHIFT) |
               (ek_h747_qspi_dummy_cycles << QSPI_CCR_DCYC_SHIFT) | (QSPI_ADSIZE_32 << QSPI_CCR_ADSIZE_SHIFT) |
               (QSPI_LINES_4 << QSPI_CCR_ADMODE_SHIFT) | (QSPI_LINES_1 << QSPI_CCR_IMODE_SHIFT) |
               MT25Q_READ_4B_QUAD_IO_FAST;
    return NULL;
}
