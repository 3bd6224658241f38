/* ek_posix_link.c — stdio, pty, tty and TCP links for the POSIX device, and ek_port_link_read/write. */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* posix_openpt & co. next to the strict POSIX set */
#else
#define _XOPEN_SOURCE 600 /* posix_openpt, grantpt, unlockpt, ptsname */
#endif

#include "ek_posix_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "ek_port.h"

volatile sig_atomic_t ek_posix_stop = 0;

static ek_posix_link *active;

/* How long one blocked write waits before re-checking for a stop signal. A host that stops reading
 * stalls the device (flow control), it never loses bytes. */
#define WRITE_POLL_MS 200

static void init_link(ek_posix_link *l, ek_posix_link_kind kind)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->in_fd = l->out_fd = l->keep_fd = l->listen_fd = -1;
}

/* Raw 8-bit mode: no echo, no line editing, no CR/LF translation, no flow-control characters. */
static int make_raw(int fd, long baud, const char *what)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        fprintf(stderr, "edgekit-device: %s is not a terminal: %s\n", what, strerror(errno));
        return -1;
    }
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (baud > 0) {
        speed_t speed;
        switch (baud) {
        case 9600: speed = B9600; break;
        case 19200: speed = B19200; break;
        case 38400: speed = B38400; break;
        case 57600: speed = B57600; break;
        case 115200: speed = B115200; break;
        case 230400: speed = B230400; break;
#ifdef B460800
        case 460800: speed = B460800; break;
#endif
#ifdef B921600
        case 921600: speed = B921600; break;
#endif
        default:
            fprintf(stderr, "edgekit-device: unsupported baud rate %ld (use 9600..921600)\n", baud);
            return -1;
        }
        cfsetispeed(&t, speed);
        cfsetospeed(&t, speed);
    }
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        fprintf(stderr, "edgekit-device: cannot set raw mode on %s: %s\n", what, strerror(errno));
        return -1;
    }
    return 0;
}

int ek_posix_link_open_stdio(ek_posix_link *l)
{
    init_link(l, EK_LINK_STDIO);
    l->in_fd = STDIN_FILENO;
    l->out_fd = STDOUT_FILENO;
    strcpy(l->name, "stdio");
    if (isatty(STDIN_FILENO))
        (void)make_raw(STDIN_FILENO, 0, "stdin");
    return 0;
}

int ek_posix_link_open_pty(ek_posix_link *l)
{
    int master;
    const char *slave;
    init_link(l, EK_LINK_PTY);
    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (slave = ptsname(master)) == NULL) {
        fprintf(stderr, "edgekit-device: cannot create a pty: %s\n", strerror(errno));
        if (master >= 0)
            close(master);
        return -1;
    }
    snprintf(l->name, sizeof l->name, "%s", slave);
    /* Hold the slave open ourselves: the master then never reads EIO/hangup while no host is attached,
     * and the raw mode set here is in place before the host's first byte. */
    l->keep_fd = open(l->name, O_RDWR | O_NOCTTY);
    if (l->keep_fd < 0 || make_raw(l->keep_fd, 0, l->name) != 0) {
        fprintf(stderr, "edgekit-device: cannot open pty slave %s: %s\n", l->name, strerror(errno));
        close(master);
        return -1;
    }
    l->in_fd = l->out_fd = master;
    return 0;
}

int ek_posix_link_open_tty(ek_posix_link *l, const char *path, long baud)
{
    init_link(l, EK_LINK_TTY);
    snprintf(l->name, sizeof l->name, "%s", path);
    l->in_fd = open(path, O_RDWR | O_NOCTTY);
    if (l->in_fd < 0) {
        fprintf(stderr, "edgekit-device: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (make_raw(l->in_fd, baud, path) != 0) {
        close(l->in_fd);
        return -1;
    }
    l->out_fd = l->in_fd;
    return 0;
}

int ek_posix_link_open_tcp(ek_posix_link *l, int port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1;
    init_link(l, EK_LINK_TCP);
    l->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (l->listen_fd < 0) {
        fprintf(stderr, "edgekit-device: socket: %s\n", strerror(errno));
        return -1;
    }
    setsockopt(l->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never exposed beyond this machine */
    if (bind(l->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l->listen_fd, 1) != 0 ||
        getsockname(l->listen_fd, (struct sockaddr *)&addr, &len) != 0) {
        fprintf(stderr, "edgekit-device: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        close(l->listen_fd);
        return -1;
    }
    snprintf(l->name, sizeof l->name, "127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    return 0;
}

/* Closing a pty master hangs up the slave, and a hangup discards input the host has not read yet (the
 * ACK of a restart request, say). So let go of our own slave fd and wait, boundedly, for the host to
 * close its end (the master then reports POLLHUP) before closing the master. */
#define PTY_LINGER_MS 2000

static void pty_linger(ek_posix_link *l)
{
    struct pollfd p;
    char sink[256];
    int waited;
    close(l->keep_fd);
    l->keep_fd = -1;
    for (waited = 0; waited < PTY_LINGER_MS; waited += 50) {
        p.fd = l->in_fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 50) < 0 || (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            return;
        if ((p.revents & POLLIN) && read(l->in_fd, sink, sizeof sink) <= 0)
            return; /* late bytes from the host are dropped: we are going away */
    }
}

void ek_posix_link_close(ek_posix_link *l)
{
    if (l->kind == EK_LINK_PTY && l->keep_fd >= 0)
        pty_linger(l);
    if (l->kind != EK_LINK_STDIO) {
        if (l->in_fd >= 0)
            close(l->in_fd);
        if (l->keep_fd >= 0)
            close(l->keep_fd);
        if (l->listen_fd >= 0)
            close(l->listen_fd);
    }
    init_link(l, l->kind);
    if (active == l)
        active = NULL;
}

void ek_posix_link_use(ek_posix_link *l) { active = l; }

/* TCP: take the next client (the device serves one host at a time, one after another, like a board). */
static void tcp_accept(ek_posix_link *l)
{
    int fd = accept(l->listen_fd, NULL, NULL), one = 1;
    if (fd < 0)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* a TOKEN frame should leave at once */
    l->in_fd = l->out_fd = fd;
}

static void tcp_drop_client(ek_posix_link *l)
{
    close(l->in_fd);
    l->in_fd = l->out_fd = -1;
}

int ek_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    ek_posix_link *l = active;
    struct pollfd p;
    ssize_t n;
    int r;
    if (l == NULL || ek_posix_stop)
        return -1;
    p.fd = l->in_fd >= 0 ? l->in_fd : l->listen_fd;
    p.events = POLLIN;
    p.revents = 0;
    r = poll(&p, 1, (int)timeout_ms);
    if (ek_posix_stop)
        return -1;
    if (r <= 0)
        return 0; /* timeout, or EINTR from a signal that is not a stop */
    if (l->in_fd < 0) { /* TCP, listening */
        tcp_accept(l);
        return 0;
    }
    n = read(l->in_fd, buf, cap);
    if (n > 0)
        return (int)n;
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (l->kind == EK_LINK_TCP) { /* host went away: wait for the next one */
        tcp_drop_client(l);
        return 0;
    }
    return -1; /* EOF on stdio, a tty that went away */
}

void ek_port_link_write(const uint8_t *buf, size_t n)
{
    ek_posix_link *l = active;
    while (n > 0 && l != NULL && l->out_fd >= 0 && !ek_posix_stop) {
        ssize_t w = write(l->out_fd, buf, n);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p;
            p.fd = l->out_fd;
            p.events = POLLOUT;
            p.revents = 0;
            (void)poll(&p, 1, WRITE_POLL_MS);
            continue;
        }
        if (l->kind == EK_LINK_TCP)
            tcp_drop_client(l); /* EPIPE: the host closed; the frame is lost with it */
        return;
    }
}
