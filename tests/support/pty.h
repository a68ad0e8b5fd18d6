/* SPDX-License-Identifier: MIT */
/*
 * Test support: pseudo-terminal pairs, the serial lines of the RTU tests. The test holds the
 * master fd (the "other end of the cable"); the code under test opens the slave path as it
 * would /dev/ttyUSB0. Every wait is bounded. Test code only: it prints nothing.
 */
#ifndef FLUX_TESTS_SUPPORT_PTY_H
#define FLUX_TESTS_SUPPORT_PTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct th_pty {
	int master; /* non-blocking; -1 when closed */
	int spare;  /* a slave fd held open, or -1 */
	char slave[64];
};

/*
 * A new pair: the master non-blocking, the slave in raw mode (so any byte passes both ways
 * unchanged even before the code under test sets its termios) and held open by a spare fd so
 * that the master never reads EIO between the slave's users. Returns 0 or -errno.
 */
int th_pty_open(struct th_pty *p);
void th_pty_close(struct th_pty *p);

/*
 * Close the spare slave fd (th_pty_open() keeps it): after that, once the code under test
 * closes the slave, the master reads EIO, as when a cable is pulled.
 */
void th_pty_release_slave(struct th_pty *p);

/* Read exactly n bytes from the master within timeout_ms. Returns n, or the bytes got. */
size_t th_pty_read(struct th_pty *p, uint8_t *buf, size_t n, int timeout_ms);

/* Write all n bytes to the master within timeout_ms. true if all went. */
bool th_pty_write(struct th_pty *p, const uint8_t *buf, size_t n, int timeout_ms);

/* Read and drop whatever arrives until quiet_ms pass with nothing. Returns bytes dropped. */
size_t th_pty_drain(struct th_pty *p, int quiet_ms);

#endif /* FLUX_TESTS_SUPPORT_PTY_H */
