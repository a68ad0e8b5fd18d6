// SPDX-License-Identifier: MIT
/*
 * A libmodbus RTU server on a pty, for one or several units (rtusrv.h). The one idea:
 * libmodbus never touches the tty; a pump thread copies the master's bytes into a socketpair
 * so the server thread can peek each frame's unit (MSG_PEEK) and tell libmodbus which unit to
 * expect before modbus_receive() reads the frame. Replies are captured through a pipe, bent
 * as the test asked, and written to the master by hand.
 */
#define _GNU_SOURCE
#include "tests/support/rtusrv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/net.h"

#define POLL_MS		20	 /* every wait of both threads; stop lands this fast */
#define LOOPS_MAX	5000000u /* bound on either thread's loop (> an hour of idle polls) */
#define WRITE_MS	1000	 /* bound on writing one answer to the master */
#define BYTE_TIMEOUT_US 100000	 /* libmodbus: longest gap inside a request */

/* CRC-16/MODBUS, bit by bit: written here, not taken from the codec under test. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = crc & 1 ? (uint16_t)(crc >> 1 ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Write all n bytes to the line within WRITE_MS. true if all went. */
static bool put(struct th_rtusrv *s, const uint8_t *buf, size_t n)
{
	int64_t end = th_deadline_ns(WRITE_MS);
	int fd = atomic_load(&s->line);

	while (n && fd >= 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t w;

		if (th_now_ns() >= end || poll(&pfd, 1, POLL_MS) < 0)
			return false;
		w = s->lfd >= 0 ? send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) : write(fd, buf, n);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return n == 0;
}

/* RTU over TCP: take a new connection in place of the old one. */
static void accept_one(struct th_rtusrv *s)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int old;

	if (fd < 0)
		return;
	old = atomic_exchange(&s->line, fd);
	if (old >= 0)
		close(old);
}

/* Copy what the code under test sends into the socketpair, until stopped. */
static void *pump_main(void *arg)
{
	struct th_rtusrv *s = arg;

	for (unsigned i = 0; i < LOOPS_MAX && !atomic_load(&s->stop); i++) {
		struct pollfd pfd[2] = { { .fd = atomic_load(&s->line), .events = POLLIN },
					 { .fd = s->lfd, .events = POLLIN } };
		uint8_t buf[512];
		ssize_t n;

		if (poll(pfd, 2, POLL_MS) <= 0)
			continue;
		if (pfd[1].revents & POLLIN)
			accept_one(s);
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) || pfd[0].fd < 0)
			continue;
		n = read(pfd[0].fd, buf, sizeof(buf));
		if (n == 0 && s->lfd >= 0) {
			/* The client closed: wait for the next one. */
			if (atomic_compare_exchange_strong(&s->line, &pfd[0].fd, -1))
				close(pfd[0].fd);
			continue;
		}
		if (n <= 0) {
			/* EAGAIN, or EIO with no slave open (after th_pty_release_slave()). */
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				th_sleep_ms(POLL_MS);
			continue;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(s->sp[0], buf + off, (size_t)(n - off));

			if (w <= 0)
				break;
			off += w;
		}
	}
	return NULL;
}

/*
 * Bend one answer as s->fault says and write it to the master. Counted first, so that a client
 * that got the answer sees it counted.
 */
static void send_answer(struct th_rtusrv *s, uint8_t *out, size_t len, int fault)
{
	static const uint8_t noise[] = { 0x00, 0xFF, 0xAA };

	if (fault == TH_RTUSRV_SILENT)
		return;
	atomic_fetch_add(&s->replies, 1);
	switch (fault) {
	case TH_RTUSRV_BAD_CRC:
		out[len - 1] ^= 0x5A;
		break;
	case TH_RTUSRV_OTHER_UNIT: {
		uint16_t crc;

		out[0] = (uint8_t)(out[0] % 247 + 1);
		crc = crc16(out, len - 2);
		out[len - 2] = (uint8_t)crc;
		out[len - 1] = (uint8_t)(crc >> 8);
		break;
	}
	case TH_RTUSRV_TRUNCATE:
		len = len > 3 ? len - 3 : 1;
		break;
	case TH_RTUSRV_NOISE:
		(void)put(s, noise, sizeof(noise));
		break;
	case TH_RTUSRV_LATE:
		th_sleep_ms(TH_RTUSRV_LATE_MS);
		break;
	case TH_RTUSRV_DRIP:
		for (size_t i = 0; i < len; i++) {
			if (!put(s, out + i, 1))
				return;
			th_sleep_ms(1);
		}
		return;
	default:
		break;
	}
	(void)put(s, out, len);
}

/* Receive one request from the socketpair (a byte is waiting there) and answer it. */
static void serve_one(struct th_rtusrv *s)
{
	uint8_t req[MODBUS_RTU_MAX_ADU_LENGTH], out[MODBUS_RTU_MAX_ADU_LENGTH + 8];
	uint8_t unit;
	int rc, fault;
	ssize_t n;

	if (recv(s->sp[1], &unit, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
		return;
	if (unit > 247) {
		/* Reserved: modbus_set_slave() refuses it, so drop the byte as noise. */
		(void)recv(s->sp[1], &unit, 1, MSG_DONTWAIT);
		atomic_fetch_add(&s->bad, 1);
		return;
	}
	/* A broadcast passes libmodbus's unit filter whatever the slave is set to. */
	modbus_set_slave(s->mb, unit ? unit : 1);
	rc = modbus_receive(s->mb, req);
	if (rc <= 0) {
		atomic_fetch_add(&s->bad, 1);
		return;
	}
	atomic_fetch_add(&s->requests, 1);
	atomic_fetch_add(&s->unit_requests[unit], 1);
	if (unit == 0)
		atomic_fetch_add(&s->broadcasts, 1);
	else if (!atomic_load(&s->served[unit]))
		return;
	fault = atomic_load(&s->fault);
	pthread_mutex_lock(&s->lock);
	/* libmodbus writes its answer to the pipe; a broadcast is applied and not answered. */
	modbus_set_socket(s->mb, s->cap[1]);
	rc = modbus_reply(s->mb, req, rc, s->map);
	modbus_set_socket(s->mb, s->sp[1]);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0) {
		atomic_fetch_add(&s->bad, 1);
		return;
	}
	n = read(s->cap[0], out, sizeof(out));
	if (n >= 4)
		send_answer(s, out, (size_t)n, fault);
}

static void *server_main(void *arg)
{
	struct th_rtusrv *s = arg;

	for (unsigned i = 0; i < LOOPS_MAX && !atomic_load(&s->stop); i++) {
		struct pollfd pfd = { .fd = s->sp[1], .events = POLLIN };

		if (poll(&pfd, 1, POLL_MS) == 1)
			serve_one(s);
	}
	return NULL;
}

static void fill_pattern(modbus_mapping_t *m)
{
	for (unsigned i = 0; i < TH_RTUSRV_BANK; i++) {
		m->tab_registers[i] = (uint16_t)(0x1000 + i);
		m->tab_input_registers[i] = (uint16_t)(0x2000 + i);
		m->tab_bits[i] = i % 2;
		m->tab_input_bits[i] = i % 3 == 0;
	}
}

/* Everything but the line (s->pty or s->lfd, made by the caller; closed here on failure). */
static int start(struct th_rtusrv *s, uint8_t unit)
{
	int err;

	s->sp[0] = s->sp[1] = s->cap[0] = s->cap[1] = -1;
	atomic_store(&s->stop, false);
	atomic_store(&s->fault, TH_RTUSRV_OK);
	for (unsigned u = 0; u < 256; u++)
		atomic_store(&s->served[u], u == unit);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sp) ||
	    pipe2(s->cap, O_CLOEXEC | O_NONBLOCK)) {
		err = -errno;
		goto out_fds;
	}
	/* libmodbus keeps the path only as a name: it never opens it (no modbus_connect()). */
	s->mb =
	    modbus_new_rtu(s->lfd >= 0 ? "rtu-over-tcp" : s->pty.slave, (int)s->baud, 'N', 8, 1);
	if (!s->mb) {
		err = -errno;
		goto out_fds;
	}
	modbus_set_socket(s->mb, s->sp[1]);
	modbus_set_byte_timeout(s->mb, 0, BYTE_TIMEOUT_US);
	modbus_set_indication_timeout(s->mb, 0, 2 * BYTE_TIMEOUT_US);
	s->map = modbus_mapping_new(TH_RTUSRV_BANK, TH_RTUSRV_BANK, TH_RTUSRV_BANK, TH_RTUSRV_BANK);
	if (!s->map) {
		err = -ENOMEM;
		goto out_mb;
	}
	fill_pattern(s->map);
	err = pthread_mutex_init(&s->lock, NULL);
	if (err) {
		err = -err;
		goto out_map;
	}
	err = pthread_create(&s->pump, NULL, pump_main, s);
	if (err) {
		err = -err;
		goto out_lock;
	}
	err = pthread_create(&s->server, NULL, server_main, s);
	if (err) {
		err = -err;
		goto out_pump;
	}
	s->is_running = true;
	return 0;

out_pump:
	atomic_store(&s->stop, true);
	pthread_join(s->pump, NULL);
out_lock:
	pthread_mutex_destroy(&s->lock);
out_map:
	modbus_mapping_free(s->map);
	s->map = NULL;
out_mb:
	modbus_free(s->mb);
	s->mb = NULL;
out_fds:
	close_fd(&s->sp[0]);
	close_fd(&s->sp[1]);
	close_fd(&s->cap[0]);
	close_fd(&s->cap[1]);
	th_pty_close(&s->pty);
	close_fd(&s->lfd);
	return err;
}

int th_rtusrv_start(struct th_rtusrv *s, uint8_t unit, uint32_t baud)
{
	int err;

	if (unit < 1 || unit > 247)
		return -EINVAL;
	s->baud = baud ? baud : 9600;
	s->lfd = -1;
	err = th_pty_open(&s->pty);
	if (err)
		return err;
	atomic_store(&s->line, s->pty.master);
	return start(s, unit);
}

int th_rtusrv_start_tcp(struct th_rtusrv *s, uint8_t unit, uint16_t *port)
{
	int fd;

	if (unit < 1 || unit > 247)
		return -EINVAL;
	s->baud = 9600;
	s->pty.master = s->pty.spare = -1;
	s->port = 0;
	fd = th_listen(&s->port);
	if (fd < 0)
		return fd;
	s->lfd = fd;
	atomic_store(&s->line, -1);
	*port = s->port;
	return start(s, unit);
}

void th_rtusrv_stop(struct th_rtusrv *s)
{
	if (!s->is_running)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->server, NULL);
	pthread_join(s->pump, NULL);
	pthread_mutex_destroy(&s->lock);
	modbus_mapping_free(s->map);
	s->map = NULL;
	/* modbus_free() does not close the socket it was given. */
	modbus_free(s->mb);
	s->mb = NULL;
	close_fd(&s->sp[0]);
	close_fd(&s->sp[1]);
	close_fd(&s->cap[0]);
	close_fd(&s->cap[1]);
	if (s->lfd >= 0) {
		int fd = atomic_exchange(&s->line, -1);

		close_fd(&fd);
		close_fd(&s->lfd);
	}
	th_pty_close(&s->pty);
	s->is_running = false;
}

const char *th_rtusrv_path(const struct th_rtusrv *s)
{
	return s->pty.slave;
}

void th_rtusrv_serve(struct th_rtusrv *s, uint8_t unit, bool on)
{
	if (unit >= 1 && unit <= 247)
		atomic_store(&s->served[unit], on);
}

void th_rtusrv_set_fault(struct th_rtusrv *s, enum th_rtusrv_fault fault)
{
	atomic_store(&s->fault, (int)fault);
}

modbus_mapping_t *th_rtusrv_lock(struct th_rtusrv *s)
{
	pthread_mutex_lock(&s->lock);
	return s->map;
}

void th_rtusrv_unlock(struct th_rtusrv *s)
{
	pthread_mutex_unlock(&s->lock);
}

bool th_rtusrv_wait_requests(struct th_rtusrv *s, uint64_t n, int timeout_ms)
{
	int64_t end = th_deadline_ns(timeout_ms);

	while (atomic_load(&s->requests) < n) {
		if (th_now_ns() >= end)
			return false;
		th_sleep_ms(1);
	}
	return true;
}
