/* ek_cmsdk_uart.c — Arm CMSDK APB UART (MPS2 and MPS3 FPGA images), per the Cortex-M System Design Kit TRM
 * (DDI0479) and QEMU's model (hw/char/cmsdk-apb-uart.c): one-byte RX/TX buffers, sticky interrupt status. */
#include <stdint.h>

#include "ek_cortex_m.h"
#include "ek_port_config.h"

#define CMSDK_DATA 0x00u
#define CMSDK_STATE 0x04u
#define CMSDK_CTRL 0x08u
#define CMSDK_INTSTATUS 0x0Cu /* read: status; write 1: clear */
#define CMSDK_BAUDDIV 0x10u

#define CMSDK_STATE_TXFULL (1u << 0)
#define CMSDK_STATE_RXFULL (1u << 1)
#define CMSDK_CTRL_TX_EN (1u << 0)
#define CMSDK_CTRL_RX_EN (1u << 1)
#define CMSDK_CTRL_RX_INTEN (1u << 3)
#define CMSDK_INT_RX (1u << 1)

static uint32_t ek_uart_base;

#define UART(off) EK_REG32(ek_uart_base + (off))

static void cmsdk_setup(uint32_t base, uint32_t baud, uint32_t ctrl)
{
    EK_REG32(base + CMSDK_CTRL) = 0;
    /* The divider must be >= 16 or the UART stays silent (TRM; QEMU ignores smaller values too). */
    uint32_t div = EK_UART_CLOCK_HZ / baud;
    EK_REG32(base + CMSDK_BAUDDIV) = div < 16u ? 16u : div;
    EK_REG32(base + CMSDK_INTSTATUS) = 0xFu;
    EK_REG32(base + CMSDK_CTRL) = ctrl;
}

static void cmsdk_putc(uint32_t base, uint8_t byte)
{
    while (EK_REG32(base + CMSDK_STATE) & CMSDK_STATE_TXFULL) {
    }
    EK_REG32(base + CMSDK_DATA) = byte;
}

void ek_uart_init(uint32_t base, uint32_t baud)
{
    ek_uart_base = base;
    cmsdk_setup(base, baud, CMSDK_CTRL_TX_EN | CMSDK_CTRL_RX_EN | CMSDK_CTRL_RX_INTEN);
    ek_nvic_enable(EK_UART_IRQN);
}

void ek_uart_putc(uint8_t byte)
{
    if (ek_uart_base == 0) {
        return; /* a fault report before ek_uart_init: nowhere to print */
    }
    cmsdk_putc(ek_uart_base, byte);
}

/* The marker UART only transmits: no RX, no interrupt. */
static uint32_t ek_marker_uart_base;

void ek_marker_uart_init(uint32_t base, uint32_t baud)
{
    ek_marker_uart_base = base;
    cmsdk_setup(base, baud, CMSDK_CTRL_TX_EN);
}

void ek_marker_uart_putc(uint8_t byte)
{
    if (ek_marker_uart_base != 0) {
        cmsdk_putc(ek_marker_uart_base, byte);
    }
}

void ek_uart_irq_handler(void)
{
    /* Clear first, then drain: a byte landing after the last RXFULL check re-raises the interrupt. */
    UART(CMSDK_INTSTATUS) = CMSDK_INT_RX;
    while (UART(CMSDK_STATE) & CMSDK_STATE_RXFULL) {
        ek_link_rx_push((uint8_t)UART(CMSDK_DATA));
    }
}
