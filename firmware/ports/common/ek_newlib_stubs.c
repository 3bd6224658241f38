/* ek_newlib_stubs.c — the system calls newlib(-nano) expects, for a bare-metal port without an OS.
 *
 * The MCU path allocates nothing (the arena comes from the plan), so _sbrk refuses; stdio output has
 * nowhere to go (the UART carries framed link traffic, which stray text would corrupt), so it is dropped.
 * Linked only if something pulls them in; --gc-sections removes them otherwise. */
#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>

#include "ek_port.h"

void *_sbrk(ptrdiff_t increment);
int _write(int fd, const char *buf, int len);
int _read(int fd, char *buf, int len);
int _close(int fd);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _lseek(int fd, int offset, int whence);
void _exit(int code);
int _kill(int pid, int sig);
int _getpid(void);

void *_sbrk(ptrdiff_t increment)
{
    (void)increment;
    errno = ENOMEM;
    return (void *)-1;
}

int _write(int fd, const char *buf, int len)
{
    (void)fd;
    (void)buf;
    return len;
}

int _read(int fd, char *buf, int len)
{
    (void)fd;
    (void)buf;
    (void)len;
    return 0;
}

int _close(int fd)
{
    (void)fd;
    return -1;
}

int _fstat(int fd, struct stat *st)
{
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}

int _isatty(int fd)
{
    (void)fd;
    return 1;
}

int _lseek(int fd, int offset, int whence)
{
    (void)fd;
    (void)offset;
    (void)whence;
    return 0;
}

void _exit(int code)
{
    ek_port_exit(code);
    for (;;) {
    }
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    errno = EINVAL;
    return -1;
}

int _getpid(void)
{
    return 1;
}
