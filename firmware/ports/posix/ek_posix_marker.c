/* ek_posix_marker.c — the marker line of the POSIX device: a Linux GPIO line or an emulated wire. */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1
#else
#define _POSIX_C_SOURCE 200809L
#endif

#include "ek_posix_marker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/gpio.h>
#include <sys/ioctl.h>
#if defined(GPIO_V2_GET_LINE_IOCTL)
#define EK_HAVE_GPIO_V2 1
#endif
#endif

enum { MARKER_NONE, MARKER_SOCKET, MARKER_GPIO };

static int marker_kind = MARKER_NONE;
static int marker_fd = -1;
static int marker_level = -1;
static unsigned long marker_dropped;

static int open_socket(const char *path)
{
    struct sockaddr_un addr;
    int fd, flags;
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "edgekit-device: --marker unix:%s: path longer than %u bytes\n", path,
                (unsigned)sizeof addr.sun_path - 1u);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        fprintf(stderr, "edgekit-device: --marker: socket: %s\n", strerror(errno));
        return -1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "edgekit-device: --marker unix:%s: cannot connect: %s (is the meter listening?)\n", path,
                strerror(errno));
        close(fd);
        return -1;
    }
    flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    marker_fd = fd;
    marker_kind = MARKER_SOCKET;
    return 0;
}

#if defined(EK_HAVE_GPIO_V2)
static int open_gpio(const char *chip, unsigned line)
{
    struct gpio_v2_line_request req;
    char path[64];
    int fd;
    if (strncmp(chip, "/dev/", 5) == 0)
        snprintf(path, sizeof path, "%s", chip);
    else
        snprintf(path, sizeof path, "/dev/%s", chip);
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "edgekit-device: --marker: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    memset(&req, 0, sizeof req);
    req.offsets[0] = line;
    req.num_lines = 1;
    req.config.flags = GPIO_V2_LINE_FLAG_OUTPUT;
    strncpy(req.consumer, "edgekit-marker", sizeof req.consumer - 1);
    if (ioctl(fd, GPIO_V2_GET_LINE_IOCTL, &req) != 0) {
        fprintf(stderr, "edgekit-device: --marker: cannot claim line %u of %s: %s\n", line, path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd); /* the request fd holds the line */
    marker_fd = req.fd;
    marker_kind = MARKER_GPIO;
    return 0;
}
#endif

int ek_posix_marker_open(const char *spec)
{
    const char *colon;
    if (strncmp(spec, "unix:", 5) == 0)
        return open_socket(spec + 5);
    colon = strrchr(spec, ':');
    if (colon != NULL && strstr(spec, "gpiochip") != NULL) {
        char chip[48], *end;
        unsigned long line = strtoul(colon + 1, &end, 10);
        size_t n = (size_t)(colon - spec);
        if (*end != '\0' || end == colon + 1 || n == 0 || n >= sizeof chip) {
            fprintf(stderr, "edgekit-device: --marker %s: expected gpiochipN:LINE\n", spec);
            return -1;
        }
        memcpy(chip, spec, n);
        chip[n] = '\0';
#if defined(EK_HAVE_GPIO_V2)
        return open_gpio(chip, (unsigned)line);
#else
        fprintf(stderr, "edgekit-device: --marker %s: GPIO lines need Linux's GPIO character device (uAPI v2)\n",
                spec);
        return -1;
#endif
    }
    fprintf(stderr, "edgekit-device: --marker %s: expected gpiochipN:LINE or unix:PATH\n", spec);
    return -1;
}

void ek_posix_marker_set(int on)
{
    int level = on ? 1 : 0;
    if (marker_kind == MARKER_NONE || level == marker_level)
        return;
    marker_level = level;
    if (marker_kind == MARKER_SOCKET) {
        unsigned char byte = (unsigned char)level;
        if (write(marker_fd, &byte, 1) != 1)
            marker_dropped++;
    }
#if defined(EK_HAVE_GPIO_V2)
    else if (marker_kind == MARKER_GPIO) {
        struct gpio_v2_line_values values;
        values.bits = (uint64_t)level;
        values.mask = 1u;
        if (ioctl(marker_fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &values) != 0)
            marker_dropped++;
    }
#endif
}

void ek_posix_marker_close(void)
{
    if (marker_kind != MARKER_NONE) {
        ek_posix_marker_set(0);
        close(marker_fd);
        if (marker_dropped)
            fprintf(stderr, "edgekit-device: %lu marker changes could not be written\n", marker_dropped);
    }
    marker_kind = MARKER_NONE;
    marker_fd = -1;
}
