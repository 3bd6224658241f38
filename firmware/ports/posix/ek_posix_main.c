/* ek_posix_main.c — edgekit-device: the POSIX port (Linux, macOS; Raspberry Pi and qemu-aarch64 too).
 *
 * An ordinary process that maps the model image parts named on the command line, allocates the arena
 * and serves the link protocol (docs/protocol.md) on stdio, a pty, a tty or TCP:
 *
 *   edgekit-device [options] (--stdio | --pty | --tty PATH [--baud N] | --tcp PORT) IMAGE [IMAGE...]
 *
 * --pty prints "PTY <slave path>" and --tcp prints "TCP 127.0.0.1:<port>" on stdout (then flushes) once
 * the link is ready, so a host tool can start the process and read where to connect. Diagnostics go to
 * stderr. Exits 0 on SIGINT/SIGTERM, EOF on stdio, or a RESET restart request.
 */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1
#else
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sigaction, posix_memalign */
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ek_model.h"
#include "ek_options.h"
#include "ek_port.h"
#include "ek_posix_link.h"
#include "ek_posix_marker.h"
#include "ek_posix_threads.h"
#include "ek_server.h"

#ifndef EK_FIRMWARE_VERSION
#define EK_FIRMWARE_VERSION "edgekit-device 0.1.0 posix"
#endif

/* ------------------------------------------------------------------------------------------------- */
/* the port interface (ek_port.h)                                                                      */

static struct {
    const uint8_t *image[EK_MAX_PARTS]; /* mmap of each part file */
    size_t image_size[EK_MAX_PARTS];
    unsigned n_images;
    uint8_t *arena;
    size_t arena_size;
    uint32_t clock_hz; /* nominal: cycles are the monotonic clock scaled to this rate */
    struct timespec t0;
    char board[96];
} port;

static uint64_t elapsed_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - port.t0.tv_sec) * 1000000000u + (uint64_t)t.tv_nsec - (uint64_t)port.t0.tv_nsec;
}

void ek_port_init(void) { clock_gettime(CLOCK_MONOTONIC, &port.t0); }

/* A process cannot read the core's cycle counter portably (Linux hides PMCCNTR, macOS has no API), so
 * cycles are nanoseconds scaled to the nominal clock given with --clock-hz (default 1 GHz: cycles = ns). */
uint64_t ek_port_cycles(void)
{
    uint64_t ns = elapsed_ns();
    if (port.clock_hz == 1000000000u)
        return ns;
    return (uint64_t)((double)ns * ((double)port.clock_hz / 1e9));
}

uint32_t ek_port_clock_hz(void) { return port.clock_hz; }
uint64_t ek_port_time_us(void) { return elapsed_ns() / 1000u; }

const uint8_t *ek_port_image(unsigned part, size_t *size_out)
{
    if (part >= port.n_images) {
        *size_out = 0;
        return NULL;
    }
    *size_out = port.image_size[part];
    return port.image[part];
}

unsigned ek_port_image_count(void) { return port.n_images; }

uint8_t *ek_port_arena(size_t *size_out)
{
    *size_out = port.arena_size;
    return port.arena;
}

void ek_port_marker(int on) { ek_posix_marker_set(on); } /* --marker: a GPIO line or an emulated wire */

int ek_port_power_uw(uint32_t *microwatts)
{
    (void)microwatts;
    return -1; /* no on-board sensor; host-side meters or OS counters are read by the host tools */
}

const char *ek_port_board_name(void) { return port.board; }

void ek_port_exit(int code) { exit(code); }

/* ------------------------------------------------------------------------------------------------- */
/* command line                                                                                        */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: edgekit-device [options] LINK IMAGE [IMAGE...]\n"
            "LINK (one of):\n"
            "  --stdio             serve on stdin/stdout\n"
            "  --pty               create a pty, print \"PTY <path>\" on stdout\n"
            "  --tty PATH          serve on an existing tty/serial device (with --baud N, default 115200)\n"
            "  --tcp PORT          listen on 127.0.0.1:PORT (0: pick one), print \"TCP 127.0.0.1:<port>\"\n"
            "options:\n"
            "  --ctx N             KV-cache positions (default: the model's max_seq_len)\n"
            "  --arena-bytes N     arena size (default: exactly what the model needs)\n"
            "  --threads N         worker threads for ternary matvecs (default 1)\n"
            "  --prefill-chunk N   prompt tokens per prefill chunk (the largest power of two <= N, at most 32,\n"
            "                      the default; 1: token by token)\n"
            "  --clock-hz N        nominal clock that cycle counts are scaled to (default 1000000000)\n"
#if defined(EK_KERNEL_AVX512)
            "  --x86-tier NAME     the best kernel tier to run: avx2, avx512 or avx512vnni (default: the best\n"
            "                      this CPU runs; a higher one than the CPU has changes nothing)\n"
#endif
            "  --board NAME        board name reported in IDENTITY (default posix-<os>-<arch>)\n"
            "  --marker SPEC       power-meter marker, high while the model computes: gpiochipN:LINE (a\n"
            "                      Linux GPIO line) or unix:PATH (an emulated wire: one byte per change)\n"
            "  --no-verify-crc     skip section payload CRC checks at startup\n"
            "  --version           print the firmware version\n");
}

static int map_image(const char *path, void *unused)
{
    (void)unused;
    struct stat st;
    void *p;
    int fd;
    if (port.n_images == EK_MAX_PARTS) {
        fprintf(stderr, "edgekit-device: at most %d image parts\n", EK_MAX_PARTS);
        return -1;
    }
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "edgekit-device: cannot open image %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        fprintf(stderr, "edgekit-device: image %s is empty\n", path);
        close(fd);
        return -1;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        fprintf(stderr, "edgekit-device: cannot map image %s: %s\n", path, strerror(errno));
        return -1;
    }
    port.image[port.n_images] = (const uint8_t *)p;
    port.image_size[port.n_images] = (size_t)st.st_size;
    port.n_images++;
    return 0;
}

static void on_stop(int sig)
{
    (void)sig;
    ek_posix_stop = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked poll/read/write returns EINTR and the loop sees the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a TCP host that vanished shows up as EPIPE, not a dead device */
}

#if defined(EK_KERNEL_AVX512)
/* --x86-tier: cap the run-time kernel tier (ek_isa.h), e.g. to time the AVX2 bodies on an AVX-512 machine */
static int set_x86_tier(const char *value, void *unused)
{
    static const struct {
        const char *name;
        int tier;
    } tiers[] = {{EK_ISA_NAME(EK_ISA_AVX2), EK_ISA_AVX2},
                 {EK_ISA_NAME(EK_ISA_AVX512), EK_ISA_AVX512},
                 {EK_ISA_NAME(EK_ISA_AVX512VNNI), EK_ISA_AVX512VNNI}};
    size_t i;
    (void)unused;
    for (i = 0; i < sizeof tiers / sizeof tiers[0]; i++)
        if (strcmp(value, tiers[i].name) == 0) {
            ek_isa_x86_limit(tiers[i].tier);
            return 0;
        }
    return -1;
}
#endif

static ek_server server; /* frame buffers and the model struct: too big for the stack of small boards */

int main(int argc, char **argv)
{
    ek_posix_link link;
    ek_server_config cfg;
    const char *tty_path = NULL, *marker = NULL, *board = NULL;
    long baud = 115200, tcp_port = -1, ctx = 0, arena_bytes = -1, threads = 1, prefill_chunk = EK_PREFILL_MAX_CHUNK;
    uint8_t *prefill_scratch = NULL;
    unsigned long clock_hz = 1000000000ul;
    int mode = -1, show = 0, verify_crc = EK_VERIFY_PAYLOAD_CRC, i, code;
    struct utsname u;

    memset(&cfg, 0, sizeof cfg);
    port.clock_hz = 1000000000u;
    if (uname(&u) == 0)
        snprintf(port.board, sizeof port.board, "posix-%.40s-%.40s", u.sysname, u.machine);
    else
        strcpy(port.board, "posix");

    {
        const ek_option options[] = {
            {"--stdio", EK_OPT_SET, &mode, 0, 0, NULL, EK_LINK_STDIO, NULL},
            {"--pty", EK_OPT_SET, &mode, 0, 0, NULL, EK_LINK_PTY, NULL},
            {"--tty", EK_OPT_STRING, &tty_path, 0, 0, &mode, EK_LINK_TTY, NULL},
            {"--tcp", EK_OPT_LONG, &tcp_port, 0, 65535, &mode, EK_LINK_TCP, NULL},
            {"--baud", EK_OPT_LONG, &baud, 50, 4000000, NULL, 0, NULL},
            {"--ctx", EK_OPT_LONG, &ctx, 1, 0x7FFFFFFFL, NULL, 0, NULL},
            {"--arena-bytes", EK_OPT_LONG, &arena_bytes, 0, 0x7FFFFFFFL, NULL, 0, NULL},
            {"--threads", EK_OPT_LONG, &threads, 1, EK_POSIX_MAX_THREADS, NULL, 0, NULL},
            {"--prefill-chunk", EK_OPT_LONG, &prefill_chunk, 1, EK_PREFILL_MAX_CHUNK, NULL, 0, NULL},
            /* clocks of real boards pass 2^31 (a Raspberry Pi 5 runs at 2.4 GHz): the full uint32 range */
            {"--clock-hz", EK_OPT_ULONG, &clock_hz, 1, 0xFFFFFFFFul, NULL, 0, NULL},
            {"--board", EK_OPT_STRING, &board, 0, 0, NULL, 0, NULL},
#if defined(EK_KERNEL_AVX512)
            {"--x86-tier", EK_OPT_CALL, NULL, 0, 0, NULL, 0, set_x86_tier},
#endif
            {"--marker", EK_OPT_STRING, &marker, 0, 0, NULL, 0, NULL},
            {"--no-verify-crc", EK_OPT_SET, &verify_crc, 0, 0, NULL, 0, NULL},
            {"--version", EK_OPT_SET, &show, 0, 0, NULL, 1, NULL},
            {"--help", EK_OPT_SET, &show, 0, 0, NULL, 2, NULL},
            {"-h", EK_OPT_SET, &show, 0, 0, NULL, 2, NULL},
        };
        const int parsed = ek_options_parse("edgekit-device", options, (int)(sizeof options / sizeof options[0]),
                                            argc - 1, argv + 1, map_image, NULL, 0);
        if (parsed == -1) /* an option: show them all; an image names its own problem */
            usage(stderr);
        if (parsed < 0)
            return 2;
    }
    if (show == 1) {
        printf("%s\n", EK_FIRMWARE_VERSION);
        return 0;
    }
    if (show == 2) {
        usage(stdout);
        return 0;
    }
    cfg.verify_crc = verify_crc;
    if (board != NULL)
        snprintf(port.board, sizeof port.board, "%s", board);
    if (mode < 0 || port.n_images == 0) {
        fprintf(stderr, "edgekit-device: need a link (--stdio, --pty, --tty PATH or --tcp PORT) and at least "
                        "one image file\n");
        usage(stderr);
        return 2;
    }
    port.clock_hz = (uint32_t)clock_hz;

    /* Arena: exactly what this model and context need unless told otherwise. 0 means the image did not
     * check out: start anyway, so the host hears why (IDENTITY.model_status) instead of a silent device. */
    {
        size_t need = arena_bytes >= 0 ? (size_t)arena_bytes
                                       : ek_model_arena_size(port.image, port.image_size, port.n_images,
                                                             (uint32_t)ctx);
        void *mem = NULL;
        /* Sections first: an arena sized from a header whose tables lie would be gigabytes for nothing. CRCs
         * are left to ek_model_open (the server's choice); the directory is at most 65534 layers' worth. */
        uint32_t slots = ek_model_directory_slots(port.image, port.image_size, port.n_images);
        uint32_t *directory = slots ? (uint32_t *)malloc((size_t)slots * sizeof *directory) : NULL;
        if (arena_bytes < 0 && (directory == NULL ||
                                ek_model_check_sections(port.image, port.image_size, port.n_images, 0, directory) !=
                                    EK_OK))
            need = 0;
        free(directory);
        if (need > 0 && posix_memalign(&mem, EK_ARENA_ALIGN, need) != 0) {
            fprintf(stderr, "edgekit-device: cannot allocate a %lu-byte arena\n", (unsigned long)need);
            return 2;
        }
        port.arena = (uint8_t *)mem;
        port.arena_size = mem ? need : 0;
    }

    if (marker != NULL && ek_posix_marker_open(marker) != 0)
        return 2;
    install_signals();
    ek_port_init();
    cfg.firmware_version = EK_FIRMWARE_VERSION;
    cfg.max_ctx = (uint32_t)ctx;
    cfg.threads = (uint16_t)ek_posix_threads_start((unsigned)threads);
    if (ek_server_init(&server, &cfg) != EK_OK)
        fprintf(stderr, "edgekit-device: model did not open (status %d); serving anyway so the host can "
                        "ask why\n", (int)server.model_status);
    else if (prefill_chunk > 1) {
        /* allocated once here, like the arena: the model never allocates */
        const size_t need = ek_model_prefill_scratch_size(&server.model, (uint32_t)prefill_chunk);
        prefill_scratch = (uint8_t *)malloc(need);
        if (prefill_scratch != NULL)
            ek_model_set_prefill_scratch(&server.model, prefill_scratch, need);
    } else {
        ek_model_set_prefill_scratch(&server.model, NULL, 0); /* --prefill-chunk 1: token by token, arena or not */
    }

    switch (mode) {
    case EK_LINK_STDIO: code = ek_posix_link_open_stdio(&link); break;
    case EK_LINK_PTY: code = ek_posix_link_open_pty(&link); break;
    case EK_LINK_TTY: code = ek_posix_link_open_tty(&link, tty_path, baud); break;
    default: code = ek_posix_link_open_tcp(&link, (int)tcp_port); break;
    }
    if (code != 0)
        return 2;
    if (mode == EK_LINK_PTY)
        printf("PTY %s\n", link.name);
    else if (mode == EK_LINK_TCP)
        printf("TCP %s\n", link.name);
    fflush(stdout);

    ek_posix_link_use(&link);
    code = ek_server_run(&server);
    ek_posix_link_close(&link);
    ek_posix_threads_stop();
    ek_posix_marker_close();
    for (i = 0; i < (int)port.n_images; i++)
        munmap((void *)(uintptr_t)port.image[i], port.image_size[i]);
    free(port.arena);
    free(prefill_scratch);
    (void)code; /* link closed, stop signal and restart request all end this process normally */
    return 0;
}
