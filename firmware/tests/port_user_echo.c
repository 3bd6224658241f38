/* port_user_echo.c — a trivial aarch64 Linux program for the QEMU user-mode runner (qemu-rpi* boards).
 *
 * Listens on 127.0.0.1 (an ephemeral port), prints "TCP 127.0.0.1:N" like the POSIX port does, then serves
 * one client: 'h' answers a line "EKUSER asimd=A dotprod=D" from the CPU's hardware capabilities (so a test
 * can see that `-cpu cortex-a72` really lacks the dot product), 'q' exits with status 7 (the runner's
 * exit-status path), every other byte is echoed. Nothing is sent unasked: pyserial's socket:// discards
 * whatever arrives while it opens.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <unistd.h>

#define HWCAP_ASIMD_BIT (1ul << 1)    /* arch/arm64/include/uapi/asm/hwcap.h */
#define HWCAP_ASIMDDP_BIT (1ul << 20)

int main(void)
{
    int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (server < 0 || bind(server, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(server, 1) != 0 ||
        getsockname(server, (struct sockaddr *)&addr, &len) != 0) {
        perror("port_user_echo: listen");
        return 1;
    }
    printf("TCP 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    int client = accept(server, NULL, NULL);
    if (client < 0) {
        perror("port_user_echo: accept");
        return 1;
    }
    unsigned long hwcap = getauxval(AT_HWCAP);
    unsigned char buf[4096];
    for (;;) {
        ssize_t r = read(client, buf, sizeof buf);
        if (r <= 0) {
            return 1;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == 'q') {
                close(client);
                close(server);
                return 7;
            }
            if (buf[i] == 'h') {
                char line[64];
                int n = snprintf(line, sizeof line, "EKUSER asimd=%d dotprod=%d\n", !!(hwcap & HWCAP_ASIMD_BIT),
                                 !!(hwcap & HWCAP_ASIMDDP_BIT));
                if (write(client, line, (size_t)n) != n) {
                    return 1;
                }
            } else if (write(client, &buf[i], 1) != 1) {
                return 1;
            }
        }
    }
}
