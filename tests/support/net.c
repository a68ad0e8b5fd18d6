// SPDX-License-Identifier: MIT
/*
 * Test support: loopback sockets with deadlines, and a one-connection Modbus TCP server on
 * the Flux codec. The one idea: every wait is a poll() against an absolute CLOCK_MONOTONIC
 * deadline, and the server thread waits in short slices so that th_srv_close() stops it.
 */
#define _GNU_SOURCE /* accept4() */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/modbus.h"
#include "tests/support/net.h"

#define SLICE_MS      50      /* server thread checks its stop flag this often */
#define SRV_MAX_READS 1000000 /* bound on the server loop besides its deadlines */

int64_t th_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void th_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

int64_t th_deadline_ns(int timeout_ms)
{
	return th_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Wait for events on fd until deadline_ns, at most max_ms. Returns 0 ready, or -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ns, int max_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left_ns = deadline_ns - th_now_ns();
	int ms, ret;

	if (left_ns <= 0)
		return -ETIMEDOUT;
	ms = (int)((left_ns + 999999) / 1000000);
	if (max_ms >= 0 && ms > max_ms)
		ms = max_ms;
	ret = poll(&pfd, 1, ms);
	if (ret < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (ret == 0)
		return left_ns <= (int64_t)ms * 1000000 ? -ETIMEDOUT : -EAGAIN;
	return 0; /* POLLHUP and POLLERR also end the wait: the next call reports them */
}

/* The same, retried until ready or the deadline. */
static int wait_until(int fd, short events, int64_t deadline_ns)
{
	int ret;

	do
		ret = wait_fd(fd, events, deadline_ns, -1);
	while (ret == -EAGAIN);
	return ret;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

int th_listen(uint16_t *port)
{
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int th_accept(int lfd, int timeout_ms)
{
	int ret = wait_until(lfd, POLLIN, th_deadline_ns(timeout_ms));

	if (ret)
		return ret;
	ret = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return ret < 0 ? -errno : ret;
}

int th_connect(uint16_t port, int timeout_ms)
{
	struct sockaddr_in sa = loopback(port);
	int fd, err, one = 1;
	socklen_t len = sizeof(err);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		err = -errno;
		goto out_close;
	}
	err = wait_until(fd, POLLOUT, th_deadline_ns(timeout_ms));
	if (err)
		goto out_close;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) {
		err = -errno;
		goto out_close;
	}
	if (err) {
		err = -err;
		goto out_close;
	}
	if (fcntl(fd, F_SETFL, 0) || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		err = -errno;
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return err;
}

int th_set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

int th_send_all(int fd, const void *buf, size_t len, int64_t deadline_ns)
{
	const uint8_t *p = buf;
	ssize_t n;
	int ret;

	while (len) {
		ret = wait_until(fd, POLLOUT, deadline_ns);
		if (ret)
			return ret;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int th_recv_some(int fd, void *buf, size_t cap, int64_t deadline_ns)
{
	ssize_t n;
	int ret;

	for (;;) {
		ret = wait_until(fd, POLLIN, deadline_ns);
		if (ret)
			return ret;
		n = recv(fd, buf, cap, MSG_DONTWAIT);
		if (n >= 0)
			return (int)n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

int th_recv_exact(int fd, void *buf, size_t len, int64_t deadline_ns)
{
	uint8_t *p = buf;
	int n;

	while (len) {
		n = th_recv_some(fd, p, len, deadline_ns);
		if (n < 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- codec server ------------------------------------------------------------------- */

/*
 * Answer one decoded request from the bank (called with srv->lock held). Returns the ADU
 * length written to out, or -MB_E*.
 */
static int serve_req(struct th_bank *b, const struct mb_req *req, uint8_t *out, size_t cap)
{
	uint32_t end = b->win_count ? (uint32_t)b->win_addr + b->win_count : TH_NADDR;
	uint8_t payload[MB_PDU_MAX] = { 0 };
	unsigned i;

	if (req->addr < b->win_addr || (uint32_t)req->addr + req->qty > end)
		return mb_encode_exception(out, cap, req, MB_EX_ILLEGAL_DATA_ADDRESS);

	switch (req->fc) {
	case MB_FC_READ_COILS:
	case MB_FC_READ_DISCRETE_INPUTS:
		for (i = 0; i < req->qty; i++)
			mb_set_bit(
			    payload, i,
			    (req->fc == MB_FC_READ_COILS ? b->coils : b->discrete)[req->addr + i]);
		break;
	case MB_FC_READ_HOLDING_REGISTERS:
		mb_regs_to_wire(payload, b->hold + req->addr, req->qty);
		break;
	case MB_FC_READ_INPUT_REGISTERS:
		mb_regs_to_wire(payload, b->input + req->addr, req->qty);
		break;
	case MB_FC_WRITE_SINGLE_COIL:
		b->coils[req->addr] = req->value == MB_COIL_ON;
		break;
	case MB_FC_WRITE_SINGLE_REGISTER:
		b->hold[req->addr] = req->value;
		break;
	case MB_FC_WRITE_MULTIPLE_COILS:
		for (i = 0; i < req->qty; i++)
			b->coils[req->addr + i] = mb_get_bit(req->data, i);
		break;
	case MB_FC_WRITE_MULTIPLE_REGISTERS:
		mb_regs_from_wire(b->hold + req->addr, req->data, req->qty);
		break;
	default:
		return mb_encode_exception(out, cap, req, MB_EX_ILLEGAL_FUNCTION);
	}
	return mb_encode_rsp(out, cap, req, payload);
}

/* Decode one frame and send its answer. Returns 0, or -errno / -MB_E* to drop the peer. */
static int serve_frame(struct th_srv *srv, int fd, const uint8_t *frame, size_t len)
{
	uint8_t out[MB_ADU_MAX];
	struct mb_req req;
	uint8_t code;
	int n;

	n = mb_decode_req(frame, len, &req);
	if (n) {
		code = mb_exception_for(n);
		if (!code)
			return n;
		n = mb_encode_exception(out, sizeof(out), &req, code);
	} else {
		pthread_mutex_lock(&srv->lock);
		n = serve_req(&srv->bank, &req, out, sizeof(out));
		pthread_mutex_unlock(&srv->lock);
	}
	if (n < 0)
		return n;
	atomic_fetch_add_explicit(&srv->served, 1, memory_order_relaxed);
	return th_send_all(fd, out, (size_t)n, th_deadline_ns(srv->timeout_ms));
}

/* Wait for input on fd in slices, watching the stop flag. 0 ready, 1 stopped, or -errno. */
static int srv_wait(struct th_srv *srv, int fd)
{
	int64_t deadline_ns = th_deadline_ns(srv->timeout_ms);
	int ret;

	do {
		if (atomic_load_explicit(&srv->stop, memory_order_relaxed))
			return 1;
		ret = wait_fd(fd, POLLIN, deadline_ns, SLICE_MS);
	} while (ret == -EAGAIN);
	return ret;
}

/* Serve one connection on fd until it ends. Returns the thread's err (see net.h). */
static int srv_serve(struct th_srv *srv, int fd)
{
	struct mb_splitter sp = { 0 };
	const uint8_t *frame;
	uint8_t in[1024];
	size_t off, used;
	int n, ret;

	for (long reads = 0; reads < SRV_MAX_READS; reads++) {
		ret = srv_wait(srv, fd);
		if (ret)
			return ret > 0 ? 0 : ret;
		n = (int)recv(fd, in, sizeof(in), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -errno;
		if (n == 0)
			return 0;
		for (off = 0; off < (size_t)n; off += used) {
			ret = mb_split(&sp, in + off, (size_t)n - off, &used, &frame);
			if (ret < 0)
				return ret;
			if (ret > 0)
				ret = serve_frame(srv, fd, frame, (size_t)ret);
			if (ret < 0)
				return ret;
			if (!used)
				return -EPROTO; /* the splitter broke its contract: do not spin */
		}
	}
	return -E2BIG;
}

static void *srv_main(void *arg)
{
	struct th_srv *srv = arg;
	int fd, err, one = 1;

	err = srv_wait(srv, srv->lfd);
	if (err == 0) {
		fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			err = -errno;
		} else {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			err = srv_serve(srv, fd);
			close(fd);
		}
	} else if (err > 0) {
		err = 0; /* stopped before anyone connected */
	}
	srv->err = err; /* read by th_srv_close() after the join */
	return NULL;
}

int th_srv_open(struct th_srv *srv, int timeout_ms)
{
	int err;

	srv->timeout_ms = timeout_ms;
	srv->err = 0;
	atomic_store(&srv->stop, false);
	atomic_store(&srv->served, 0);
	srv->lfd = th_listen(&srv->port);
	if (srv->lfd < 0)
		return srv->lfd;
	err = -pthread_mutex_init(&srv->lock, NULL);
	if (err)
		goto out_close;
	err = -pthread_create(&srv->thread, NULL, srv_main, srv);
	if (err)
		goto out_mutex;
	srv->is_running = true;
	return 0;

out_mutex:
	pthread_mutex_destroy(&srv->lock);
out_close:
	close(srv->lfd);
	srv->lfd = -1;
	return err;
}

int th_srv_close(struct th_srv *srv)
{
	if (!srv->is_running)
		return srv->err;
	atomic_store(&srv->stop, true);
	pthread_join(srv->thread, NULL);
	pthread_mutex_destroy(&srv->lock);
	close(srv->lfd);
	srv->lfd = -1;
	srv->is_running = false;
	return srv->err;
}
