// SPDX-License-Identifier: MIT
/*
 * Pseudo-terminal pairs for the RTU tests. The one idea: a spare fd keeps the slave open, so
 * the master reads bytes (never EIO) while the code under test closes and reopens the slave.
 */
#define _GNU_SOURCE
#include "tests/support/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "tests/support/net.h"

int th_pty_open(struct th_pty *p)
{
	struct termios t;
	int s;

	p->spare = -1;
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (p->master < 0)
		return -errno;
	if (grantpt(p->master) || unlockpt(p->master) ||
	    ptsname_r(p->master, p->slave, sizeof(p->slave)))
		goto out_err;
	s = open(p->slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		goto out_err;
	if (tcgetattr(s, &t) == 0) {
		cfmakeraw(&t);
		(void)tcsetattr(s, TCSANOW, &t);
	}
	p->spare = s;
	return 0;
out_err : {
	int err = -errno;

	close(p->master);
	p->master = -1;
	return err;
}
}

void th_pty_release_slave(struct th_pty *p)
{
	if (p->spare >= 0) {
		close(p->spare);
		p->spare = -1;
	}
}

void th_pty_close(struct th_pty *p)
{
	if (p->master < 0)
		return;
	th_pty_release_slave(p);
	close(p->master);
	p->master = -1;
}

size_t th_pty_read(struct th_pty *p, uint8_t *buf, size_t n, int timeout_ms)
{
	int64_t end = th_deadline_ns(timeout_ms);
	size_t got = 0;

	while (got < n) {
		int64_t left_ms = (end - th_now_ns()) / 1000000;
		struct pollfd pfd = { .fd = p->master, .events = POLLIN };
		ssize_t r;

		if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) != 1)
			break;
		r = read(p->master, buf + got, n - got);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

bool th_pty_write(struct th_pty *p, const uint8_t *buf, size_t n, int timeout_ms)
{
	int64_t end = th_deadline_ns(timeout_ms);

	while (n) {
		int64_t left_ms = (end - th_now_ns()) / 1000000;
		struct pollfd pfd = { .fd = p->master, .events = POLLOUT };
		ssize_t w;

		if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) != 1)
			return false;
		w = write(p->master, buf, n);
		if (w < 0 && errno == EAGAIN)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return true;
}

size_t th_pty_drain(struct th_pty *p, int quiet_ms)
{
	uint8_t buf[256];
	size_t total = 0;

	for (unsigned i = 0; i < 10000; i++) {
		struct pollfd pfd = { .fd = p->master, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, quiet_ms) != 1)
			break;
		r = read(p->master, buf, sizeof(buf));
		if (r <= 0)
			break;
		total += (size_t)r;
	}
	return total;
}
