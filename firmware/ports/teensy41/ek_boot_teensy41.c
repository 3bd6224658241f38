/* ek_boot_teensy41.c — what the i.MX RT1062 boot ROM reads from the start of the Teensy 4.1's QSPI flash
 * before it runs any of our code (IMXRT1060RM Rev. 3 ch. 9 "System Boot"):
 *
 *   0x60000000  FlexSPI NOR configuration block (FCB, 512 bytes): how to talk to the flash for XIP reads
 *               (§9.6.3.1 FlexSPI configuration block, §9.6.3.2 serial NOR configuration block)
 *   0x60001000  Image Vector Table (IVT, 32 bytes) and Boot Data (16 bytes) right after it (§9.7.1): where
 *               the program starts and how long the image is
 *   0x60001400  the vector table (ek_cortex_m.c; aligned to its size for VTOR by the linker)
 *
 * The ROM finds the FCB at the start of the FlexSPI window (0x60000000, where RT1060 XIP images keep it:
 * NXP's SDK boards and PJRC's core alike; §9.6.1.2 mentions offset 0x400, which RT1060 parts evidently do not
 * need), configures FlexSPI from it, then reads the IVT at offset 0x1000 (the fixed XIP IVT offset) and jumps
 * to `entry` with the ROM's own stack; ek_reset_handler sets ours. All of it is one object in the section
 * .ek_boot_header, which the shared linker script places first in the text region, so the offsets below
 * are the flash offsets. tests/test_board_teensy41.py parses these bytes back out of the built ELF against
 * the manual's layout. */
#include <stddef.h>
#include <stdint.h>

#include "ek_board_profile.h" /* EK_MEM_FLASH_BASE */
#include "ek_imxrt1062.h"
#include "ek_spec.h" /* EK_STATIC_ASSERT */

#define EK_T41_FLASH_BASE EK_MEM_FLASH_BASE /* FlexSPI AHB window (IMXRT1060RM ch. "Memory Maps") */
#define EK_T41_FLASH_BYTES (8u * 1024u * 1024u) /* W25Q64JV: 64 Mbit */
#define EK_T41_IVT_OFFSET 0x1000u

/* FlexSPI configuration block (IMXRT1060RM §9.6.3.1, 448 bytes) followed by the serial NOR fields
 * (§9.6.3.2, 64 bytes). Field names follow the manual's tables; offsets are checked below. */
typedef struct {
    uint32_t tag;                  /* 0x000 "FCFB" */
    uint32_t version;              /* 0x004 'V' major minor bugfix */
    uint32_t reserved_008;
    uint8_t read_sample_clk_src;   /* 0x00C 0: internal loopback, 1: loopback from DQS pad, 3: flash DQS */
    uint8_t cs_hold_time;          /* 0x00D serial clock cycles */
    uint8_t cs_setup_time;         /* 0x00E */
    uint8_t column_address_width;  /* 0x00F 0 for serial NOR */
    uint8_t device_mode_cfg_enable; /* 0x010 */
    uint8_t device_mode_type;      /* 0x011 */
    uint16_t wait_time_cfg_commands; /* 0x012 */
    uint32_t device_mode_seq;      /* 0x014 */
    uint32_t device_mode_arg;      /* 0x018 */
    uint8_t config_cmd_enable;     /* 0x01C */
    uint8_t config_mode_type[3];   /* 0x01D */
    uint32_t config_cmd_seqs[3];   /* 0x020 */
    uint32_t reserved_02c;
    uint32_t config_cmd_args[3];   /* 0x030 */
    uint32_t reserved_03c;
    uint32_t controller_misc_option; /* 0x040 */
    uint8_t device_type;           /* 0x044 1: serial NOR */
    uint8_t sflash_pad_type;       /* 0x045 data pads: 1, 2, 4 or 8 */
    uint8_t serial_clk_freq;       /* 0x046 RT1060 codes: 1 30 MHz, 2 50, 3 60, 4 75, 5 80, 6 100, 7 120, 8 133 */
    uint8_t lut_custom_seq_enable; /* 0x047 */
    uint32_t reserved_048[2];
    uint32_t sflash_a1_size;       /* 0x050 bytes of the flash on port A, chip select 0 */
    uint32_t sflash_a2_size;       /* 0x054 */
    uint32_t sflash_b1_size;       /* 0x058 */
    uint32_t sflash_b2_size;       /* 0x05C */
    uint32_t pad_setting_override[4]; /* 0x060 CS, SCLK, data, DQS (used only with the misc-option bit) */
    uint32_t timeout_ms;           /* 0x070 */
    uint32_t command_interval;     /* 0x074 */
    uint16_t data_valid_time[2];   /* 0x078 */
    uint16_t busy_offset;          /* 0x07C */
    uint16_t busy_bit_polarity;    /* 0x07E */
    uint32_t lookup_table[64];     /* 0x080 16 sequences x 4 words, loaded into the FlexSPI LUT */
    uint32_t lut_custom_seq[12];   /* 0x180 */
    uint32_t reserved_1b0[4];
    uint32_t page_size;            /* 0x1C0 serial NOR block (§9.6.3.2) */
    uint32_t sector_size;          /* 0x1C4 */
    uint8_t ipcmd_serial_clk_freq; /* 0x1C8 */
    uint8_t is_uniform_block_size; /* 0x1C9 */
    uint8_t reserved_1ca[2];
    uint8_t serial_nor_type;       /* 0x1CC */
    uint8_t need_exit_nocmd_mode;  /* 0x1CD */
    uint8_t half_clk_for_non_read_cmd; /* 0x1CE */
    uint8_t need_restore_nocmd_mode;   /* 0x1CF */
    uint32_t block_size;           /* 0x1D0 */
    uint32_t reserved_1d4[11];
} ek_t41_fcb;

/* Image Vector Table (IMXRT1060RM §9.7.1.1). The header is tag 0xD1, a big-endian length 0x0020, version. */
typedef struct {
    uint32_t header;
    void (*entry)(void);   /* first instruction the ROM runs (Thumb bit set) */
    uint32_t reserved1;
    const void *dcd;       /* device configuration data: none */
    const void *boot_data;
    const void *self;      /* where the IVT itself is: the ROM checks it against where it found it */
    const void *csf;       /* HAB signature: none (the image is not signed) */
    uint32_t reserved2;
} ek_t41_ivt;

/* Boot Data (IMXRT1060RM §9.7.1.2): the image the ROM copies (non-XIP boot) or authenticates (HAB closed). */
typedef struct {
    uint32_t start;        /* absolute address of the image: the start of flash */
    uint32_t length;       /* bytes from start */
    uint32_t plugin;       /* 0: a normal image, not a ROM plugin */
    uint32_t reserved;     /* pads the block to 16 bytes */
} ek_t41_boot_data;

typedef struct {
    ek_t41_fcb fcb;
    uint8_t gap[EK_T41_IVT_OFFSET - sizeof(ek_t41_fcb)]; /* the ROM reads nothing here */
    ek_t41_ivt ivt;
    ek_t41_boot_data boot_data;
} ek_t41_boot_header;

EK_STATIC_ASSERT(sizeof(ek_t41_fcb) == 512, t41_fcb_size);
EK_STATIC_ASSERT(offsetof(ek_t41_fcb, read_sample_clk_src) == 0x00C, t41_fcb_clk_src_offset);
EK_STATIC_ASSERT(offsetof(ek_t41_fcb, controller_misc_option) == 0x040, t41_fcb_misc_offset);
EK_STATIC_ASSERT(offsetof(ek_t41_fcb, device_type) == 0x044, t41_fcb_device_type_offset);
EK_STATIC_ASSERT(offsetof(ek_t41_fcb, sflash_a1_size) == 0x050, t41_fcb_a1_size_offset);
EK_STATIC_ASSERT(offsetof(ek_t41_fcb, lookup_table) == 0x080, t41_fcb_lut_offset);
EK_STATIC_ASSERT(offsetof(ek_t41_fcb, page_size) == 0x1C0, t41_fcb_page_size_offset);
EK_STATIC_ASSERT(offsetof(ek_t41_fcb, block_size) == 0x1D0, t41_fcb_block_size_offset);
EK_STATIC_ASSERT(sizeof(ek_t41_ivt) == 32, t41_ivt_size);
EK_STATIC_ASSERT(offsetof(ek_t41_boot_header, ivt) == EK_T41_IVT_OFFSET, t41_ivt_offset);
EK_STATIC_ASSERT(sizeof(ek_t41_boot_data) == 16, t41_boot_data_size);

#define EK_T41_IVT_HEADER(version) (0xD1u | (0x00u << 8) | (0x20u << 16) | ((uint32_t)(version) << 24))

/* LUT sequence numbers the ROM's serial NOR driver uses (§9.6.3.1 lookupTable): 0 read (the only one XIP
 * boot needs), 1 read status, 3 write enable, 5 erase sector, 9 page program, 11 chip erase. */
#define EK_T41_SEQ(n) (4u * (n))
#define I(op, pads, operand) EK_LUT_INSTR(EK_LUT_##op, EK_LUT_PADS_##pads, (operand))

extern const uint8_t __ek_load_end[]; /* linker: end of text + .data's load image (cortex-m.ld.in) */
void ek_reset_handler(void);

__attribute__((section(".ek_boot_header"), used, aligned(4))) const ek_t41_boot_header ek_t41_boot_header_data = {
    .fcb = {
        .tag = 0x42464346u,     /* "FCFB" as a little-endian word */
        .version = 0x56010400u, /* 'V' 1.4.0 */
        /* 1: sample read data with the clock looped back through the DQS pad (it follows the pad delays;
         * the internal loopback, 0, only suits low clock rates). The pad itself needs no connection. */
        .read_sample_clk_src = 1u,
        .cs_hold_time = 3u,
        .cs_setup_time = 3u,
        .device_type = 1u,      /* serial NOR */
        .sflash_pad_type = 4u,  /* quad */
        .serial_clk_freq = 6u,  /* 100 MHz: within the W25Q64JV's 133 MHz for Fast Read Quad I/O */
        .sflash_a1_size = EK_T41_FLASH_BYTES,
        .lookup_table = {
            /* Fast Read Quad I/O (W25Q64JV 0xEB): command on 1 pad, 24-bit address on 4, mode byte M7-0 on
             * 4 (0xF0: M5-4 != 10, so the chip never enters continuous-read mode), 4 dummy clocks, data on
             * 4 pads. The ROM and then every XIP fetch uses this sequence. It needs the chip's QE bit set,
             * as it is on every Teensy 4.1: PJRC's own boot block reads the flash with 0xEB on 4 pads too. */
            [EK_T41_SEQ(0)] = EK_LUT_WORD(I(CMD_SDR, 1, 0xEB), I(RADDR_SDR, 4, 24)),
            [EK_T41_SEQ(0) + 1] = EK_LUT_WORD(I(MODE8_SDR, 4, 0xF0), I(DUMMY_SDR, 4, 4)),
            [EK_T41_SEQ(0) + 2] = EK_LUT_WORD(I(READ_SDR, 4, 4), I(STOP, 1, 0)),
            /* The rest serve the ROM's flash driver (serial downloader tools), never XIP boot. */
            [EK_T41_SEQ(1)] = EK_LUT_WORD(I(CMD_SDR, 1, 0x05), I(READ_SDR, 1, 1)), /* read status 1 */
            [EK_T41_SEQ(3)] = EK_LUT_WORD(I(CMD_SDR, 1, 0x06), I(STOP, 1, 0)),     /* write enable */
            [EK_T41_SEQ(5)] = EK_LUT_WORD(I(CMD_SDR, 1, 0x20), I(RADDR_SDR, 1, 24)), /* 4 KB sector erase */
            [EK_T41_SEQ(9)] = EK_LUT_WORD(I(CMD_SDR, 1, 0x02), I(RADDR_SDR, 1, 24)), /* page program */
            [EK_T41_SEQ(9) + 1] = EK_LUT_WORD(I(WRITE_SDR, 1, 4), I(STOP, 1, 0)),
            [EK_T41_SEQ(11)] = EK_LUT_WORD(I(CMD_SDR, 1, 0x60), I(STOP, 1, 0)),    /* chip erase */
        },
        .page_size = 256u,
        .sector_size = 4096u,
        .ipcmd_serial_clk_freq = 1u, /* 30 MHz for the ROM's IP (program/erase) commands */
        .block_size = 64u * 1024u,
    },
    .ivt = {
        .header = EK_T41_IVT_HEADER(0x41u),
        .entry = ek_reset_handler,
        .boot_data = &ek_t41_boot_header_data.boot_data,
        .self = &ek_t41_boot_header_data.ivt,
    },
    /* In XIP boot the ROM copies nothing: the length only bounds what HAB authenticates on a closed
     * (secure-boot) part and what a non-XIP boot would copy. It covers the program the flasher writes
     * (__ek_load_end: text, rodata and .data's load image). The model's image parts sit higher in flash and
     * are read by the running program, never by the ROM, so they stay outside. */
    .boot_data = {
        .start = EK_T41_FLASH_BASE,
        .length = (uint32_t)(uintptr_t)(__ek_load_end - EK_T41_FLASH_BASE),
    },
};

#undef I
