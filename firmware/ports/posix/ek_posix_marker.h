/* ek_posix_marker.h — the power-meter marker of the POSIX device (`--marker SPEC`).
 *
 *   gpiochipN:LINE   a GPIO line driven through the Linux GPIO character device (uAPI v2), e.g. a Raspberry
 *                    Pi pin wired to a PPK2's D0 (`gpiochip0:17`; `gpiochip4:17` on older Pi 5 kernels)
 *   unix:PATH        an emulated wire: each level change is one byte on a Unix stream socket (bit 0 = the
 *                    marker), the way tools/fake_ppk2.py samples its logic input
 *
 * Changes never block the model: a socket that cannot take the byte right now drops it (and counts it). */
#ifndef EK_POSIX_MARKER_H
#define EK_POSIX_MARKER_H

/* 0 on success; -1 with a message on stderr. */
int ek_posix_marker_open(const char *spec);
void ek_posix_marker_set(int on);
void ek_posix_marker_close(void);

#endif
