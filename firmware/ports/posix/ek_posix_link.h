/* ek_posix_link.h — the byte streams the POSIX device serves the link protocol on.
 *
 * One link at a time: stdio, a pty this process creates, an existing tty/serial device, or a TCP socket
 * on 127.0.0.1. All of them end up as a pair of file descriptors polled with poll(2), so the server's
 * "wait up to N ms for a byte" maps onto one system call. POSIX only (Linux, macOS).
 */
#ifndef EK_POSIX_LINK_H
#define EK_POSIX_LINK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { EK_LINK_STDIO, EK_LINK_PTY, EK_LINK_TTY, EK_LINK_TCP } ek_posix_link_kind;

typedef struct {
    ek_posix_link_kind kind;
    int in_fd;      /* read side (stdin, pty master, tty, TCP client; -1 while no TCP client) */
    int out_fd;     /* write side (stdout, or the same fd as in_fd) */
    int keep_fd;    /* pty: our own open slave fd, so the master never sees a hangup between hosts */
    int listen_fd;  /* TCP: the listening socket */
    char name[128]; /* pty slave path or "127.0.0.1:port" */
} ek_posix_link;

/* Set by SIGINT/SIGTERM: every wait returns and the server loop ends. */
extern volatile sig_atomic_t ek_posix_stop;

/* Open the link. Returns 0, or -1 after printing the reason to stderr. */
int ek_posix_link_open_stdio(ek_posix_link *l);
int ek_posix_link_open_pty(ek_posix_link *l);
int ek_posix_link_open_tty(ek_posix_link *l, const char *path, long baud);
int ek_posix_link_open_tcp(ek_posix_link *l, int port);
void ek_posix_link_close(ek_posix_link *l);

/* The port's link functions (ek_port_link_read/write) use this link. */
void ek_posix_link_use(ek_posix_link *l);

#endif /* EK_POSIX_LINK_H */
