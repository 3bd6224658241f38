/* ek_port.h — what a port (board support) provides to the edgekit runtime.
 *
 * The runtime (firmware/runtime) and kernels (firmware/kernels) are portable C99 and call only these
 * functions to touch hardware or the OS. Each port (firmware/ports/<port>/) implements all of them.
 * No malloc on the MCU path: the arena and images come from the port, sized by the host's plan.
 */
#ifndef EK_PORT_H
#define EK_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bring up clocks, FPU/MVE, cycle counter, the link UART/stream. Called once before anything else. */
void ek_port_init(void);

/* Free-running cycle counter (DWT CYCCNT, SysTick-extended, or a host clock scaled to clock_hz). */
uint64_t ek_port_cycles(void);
/* Nominal core clock in Hz, for converting cycles to time. */
uint32_t ek_port_clock_hz(void);
/* Monotonic microseconds since ek_port_init. */
uint64_t ek_port_time_us(void);

/* Link byte stream (UART, USB CDC, pty, TCP...).
 * read: waits up to timeout_ms for at least one byte; returns bytes read (0 on timeout, <0 if the link closed).
 * write: blocks until all n bytes are queued/sent. */
int ek_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_ms);
void ek_port_link_write(const uint8_t *buf, size_t n);

/* Model image parts as the plan placed them: part i's bytes (XIP flash address, mmap, or RAM copy). */
const uint8_t *ek_port_image(unsigned part, size_t *size_out);
unsigned ek_port_image_count(void);

/* The one working arena (KV cache + activations), sized by the host planner. */
uint8_t *ek_port_arena(size_t *size_out);

/* Optional hardware: a GPIO marker toggled around each token for external power meters, and an on-board
 * power sensor (returns 0 and fills microwatts if present, -1 if the board has none). */
void ek_port_marker(int on);
int ek_port_power_uw(uint32_t *microwatts);

/* Board identity for the hello message (short ASCII names). */
const char *ek_port_board_name(void);

/* End the program (semihosting exit on QEMU, process exit on Linux). Used by tests and "reset". */
void ek_port_exit(int code);

#ifdef __cplusplus
}
#endif
#endif /* EK_PORT_H */
