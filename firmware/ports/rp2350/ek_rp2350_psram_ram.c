/* ek_rp2350_psram_ram.c — the APS6404L PSRAM probe and QPI set-up (datasheet 12.14.5 direct mode, 12.14.3 timing).
 *
 * In QMI direct mode every memory-mapped access to either QMI window is a bus error, the flash included, so this
 * code runs from SRAM (a .data.* section: the start-up code copies it there with .data), with interrupts masked,
 * and calls nothing; tests/test_board_rp2350.py checks the built function for calls and flash literals.
 * The section name carries the flags the assembler expects of a .data.* section ("aw"; the trailing '@' comments
 * out the "ax" GCC appends for code), so it does not warn (no MPU: SRAM is executable). port.cmake builds this
 * file without debug line info, which the assembler would otherwise drop for a non-"x" section with a warning. */
#include "ek_rp2350.h"

#define EK_RAMFUNC __attribute__((section(".data.ek_rp2350_ramfunc,\"aw\" @"), noinline, long_call))

#define QMI(off) EK_REG32(QMI_BASE + (off))

/* One byte out, one byte in (direct mode pushes an RX entry per TX entry). */
static inline __attribute__((always_inline)) uint32_t qmi_byte(uint32_t tx)
{
    QMI(QMI_DIRECT_TX) = tx;
    for (uint32_t i = 0; i < READY_SPINS && (QMI(QMI_DIRECT_CSR) & QMI_CSR_RXEMPTY); i++) {
    }
    return QMI(QMI_DIRECT_RX) & 0xffu;
}

static inline __attribute__((always_inline)) void qmi_wait_idle(void)
{
    for (uint32_t i = 0; i < READY_SPINS && (QMI(QMI_DIRECT_CSR) & QMI_CSR_BUSY); i++) {
    }
}

static inline __attribute__((always_inline)) void spin_cycles(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++) { /* >= 1 clk_sys per iteration */
    }
}

/* A one-byte command framed by CS1. */
static inline __attribute__((always_inline)) void psram_command(uint32_t tx)
{
    QMI(QMI_DIRECT_CSR) |= QMI_CSR_ASSERT_CS1N;
    (void)qmi_byte(tx);
    qmi_wait_idle();
    QMI(QMI_DIRECT_CSR) &= ~QMI_CSR_ASSERT_CS1N;
    spin_cycles(EK_CLOCK_HZ / 1000000u); /* 1 us deselected between commands (> tCPH, > reset recovery) */
}

uint32_t EK_RAMFUNC ek_rp2350_psram_probe_and_map(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory"); /* inline: no call into flash */
    QMI(QMI_DIRECT_CSR) = (PSRAM_DIRECT_CLKDIV << QMI_CSR_CLKDIV_LSB) | QMI_CSR_EN;
    qmi_wait_idle(); /* a memory-mapped transfer may still be in its cooldown */
    spin_cycles(EK_CLOCK_HZ / 5000u); /* 200 us: the device's power-up wait (150 us), long over after boot */

    psram_command(QMI_TX_OE | QMI_TX_IWIDTH_QUAD | PSRAM_CMD_EXIT_QPI);
    psram_command(PSRAM_CMD_RESET_EN);
    psram_command(PSRAM_CMD_RESET);

    QMI(QMI_DIRECT_CSR) |= QMI_CSR_ASSERT_CS1N;
    (void)qmi_byte(PSRAM_CMD_READ_ID);
    (void)qmi_byte(0);
    (void)qmi_byte(0);
    (void)qmi_byte(0);
    uint32_t mfid = qmi_byte(0xff);
    uint32_t kgd = qmi_byte(0xff);
    qmi_wait_idle();
    QMI(QMI_DIRECT_CSR) &= ~QMI_CSR_ASSERT_CS1N;
    uint32_t id = (mfid << 8) | kgd;

    if (mfid == PSRAM_MFID_AP_MEMORY && kgd == PSRAM_KGD_PASS) {
        psram_command(PSRAM_CMD_ENTER_QPI);
        /* QPI everywhere: 8-bit command on four lines, 24-bit address, reads wait 6 clocks */
        QMI(QMI_M1_TIMING) = (PSRAM_COOLDOWN << QMI_TIMING_COOLDOWN_LSB) | QMI_TIMING_PAGEBREAK_1024 |
                             (PSRAM_SELECT_HOLD << QMI_TIMING_SELECT_HOLD_LSB) |
                             (PSRAM_MAX_SELECT << QMI_TIMING_MAX_SELECT_LSB) |
                             (PSRAM_MIN_DESELECT << QMI_TIMING_MIN_DESELECT_LSB) |
                             (PSRAM_RXDELAY << QMI_TIMING_RXDELAY_LSB) | (PSRAM_CLKDIV << QMI_TIMING_CLKDIV_LSB);
        QMI(QMI_M1_RFMT) = QMI_FMT_PREFIX_WIDTH_Q | QMI_FMT_ADDR_WIDTH_Q | QMI_FMT_SUFFIX_WIDTH_Q |
                           QMI_FMT_DUMMY_WIDTH_Q | QMI_FMT_DATA_WIDTH_Q | QMI_FMT_PREFIX_LEN_8 |
                           (PSRAM_READ_WAIT_CYCLES << QMI_FMT_DUMMY_LEN_LSB);
        QMI(QMI_M1_RCMD) = PSRAM_CMD_QPI_READ;
        QMI(QMI_M1_WFMT) = QMI_FMT_PREFIX_WIDTH_Q | QMI_FMT_ADDR_WIDTH_Q | QMI_FMT_SUFFIX_WIDTH_Q |
                           QMI_FMT_DUMMY_WIDTH_Q | QMI_FMT_DATA_WIDTH_Q | QMI_FMT_PREFIX_LEN_8;
        QMI(QMI_M1_WCMD) = PSRAM_CMD_QPI_WRITE;
    }
    QMI(QMI_DIRECT_CSR) = PSRAM_DIRECT_CLKDIV << QMI_CSR_CLKDIV_LSB; /* direct mode off: XIP works again */
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return id;
}

