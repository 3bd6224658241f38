/* ek_link_uart.c — the link byte stream over a UART: an interrupt-fed receive ring and blocking transmit.
 *
 * The port's UART IRQ handler calls ek_link_rx_push() for every received byte; ek_port_link_read() drains
 * the ring, sleeping in WFI (woken by the UART or the 1 ms SysTick) until data or the timeout. */
#include <stddef.h>
#include <stdint.h>

#include "ek_cortex_m.h"
#include "ek_port.h"

#define EK_LINK_RX_RING_BYTES 2048u /* power of two; at 115200 baud ~180 ms of traffic */

static volatile uint8_t ek_rx_ring[EK_LINK_RX_RING_BYTES];
static volatile uint32_t ek_rx_head; /* written by the ISR only */
static volatile uint32_t ek_rx_tail; /* written by the reader only */
static volatile uint32_t ek_rx_dropped;

void ek_link_rx_push(uint8_t byte)
{
    uint32_t head = ek_rx_head;
    if (head - ek_rx_tail >= EK_LINK_RX_RING_BYTES) {
        ek_rx_dropped++; /* the protocol's CRC and resync recover from the lost bytes */
        return;
    }
    ek_rx_ring[head % EK_LINK_RX_RING_BYTES] = byte;
    ek_rx_head = head + 1u;
}

int ek_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    if (cap == 0) {
        return 0;
    }
    uint64_t deadline = ek_port_time_us() + (uint64_t)timeout_ms * 1000u;
    while (ek_rx_head == ek_rx_tail) {
        if (ek_port_time_us() >= deadline) {
            return 0;
        }
        ek_wait_for_interrupt();
    }
    size_t n = 0;
    uint32_t tail = ek_rx_tail;
    uint32_t head = ek_rx_head;
    while (tail != head && n < cap) {
        buf[n++] = ek_rx_ring[tail % EK_LINK_RX_RING_BYTES];
        tail++;
    }
    ek_rx_tail = tail;
    return (int)n;
}

void ek_port_link_write(const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ek_uart_putc(buf[i]);
    }
}
