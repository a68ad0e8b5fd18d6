// SPDX-License-Identifier: MIT
/* Test support: a simulator on its own thread and a codec client (tests/support/client.h). */
#include "tests/support/client.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/net.h"

static void *th_sim_main(void *arg)
{
	struct th_sim *t = arg;

	t->err = sim_run(t->sim, 0);
	return NULL;
}

int th_sim_start(struct th_sim *t)
{
	int err = -pthread_create(&t->thread, NULL, th_sim_main, t);

	t->is_running = !err;
	return err;
}

int th_sim_stop(struct th_sim *t)
{
	if (t->is_running) {
		sim_stop(t->sim);
		pthread_join(t->thread, NULL);
		t->is_running = false;
	}
	sim_free(t->sim);
	t->sim = NULL;
	return t->err;
}

int th_connect_fd(uint16_t port)
{
	int fd = th_connect(port, TH_TIMEOUT_MS), err;

	if (fd < 0)
		return fd;
	err = th_set_timeouts(fd, TH_TIMEOUT_MS);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int th_open(struct th_client *c, uint16_t port)
{
	*c = (struct th_client){ .tid = 0x100 };
	c->fd = th_connect_fd(port);
	return c->fd < 0 ? c->fd : 0;
}

void th_close(struct th_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int th_send(int fd, const void *buf, size_t len)
{
	return th_send_all(fd, buf, len, th_deadline_ns(TH_TIMEOUT_MS));
}

size_t th_frame_left(const struct mb_splitter *s)
{
	if (s->len < 6)
		return 6u - s->len;
	return 6u + mb_get_u16(s->buf + 4) - s->len; /* the splitter checked the length */
}

int th_recv_frame(struct th_client *c, int timeout_ms, int *nrecv)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;
	uint8_t in[MB_ADU_MAX];

	for (int calls = 0; calls < 4 * MB_ADU_MAX; calls++) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int64_t left_ms = (deadline - th_now_ns()) / 1000000;
		const uint8_t *frame;
		size_t used;
		ssize_t n;
		int r;

		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
			return -ETIMEDOUT;
		/* One frame at most: the header, then exactly the rest its length announces. */
		n = recv(c->fd, in, th_frame_left(&c->split), 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (nrecv)
			(*nrecv)++;
		r = mb_split(&c->split, in, (size_t)n, &used, &frame);
		if (r < 0)
			return r;
		if (r > 0) {
			memcpy(c->frame, frame, (size_t)r);
			return r;
		}
	}
	return -ETIMEDOUT;
}

int th_xfer(struct th_client *c, struct mb_req *req, struct mb_rsp *rsp)
{
	uint8_t buf[MB_ADU_MAX];
	int n;

	req->tid = c->tid++;
	n = mb_encode_req(buf, sizeof(buf), req);
	if (n < 0)
		return n;
	n = th_send(c->fd, buf, (size_t)n);
	if (n)
		return n;
	n = th_recv_frame(c, TH_TIMEOUT_MS, NULL);
	if (n < 0)
		return n;
	return mb_decode_rsp(req, c->frame, (size_t)n, 0, rsp);
}

int th_read(struct th_client *c, uint8_t unit, uint16_t addr, uint16_t qty, uint16_t *regs)
{
	struct mb_req req = {
		.unit = unit, .fc = MB_FC_READ_HOLDING_REGISTERS, .addr = addr, .qty = qty
	};
	struct mb_rsp rsp;
	int err = th_xfer(c, &req, &rsp);

	if (!err)
		mb_regs_from_wire(regs, rsp.data, qty);
	return err;
}

int th_read1(struct th_client *c, uint8_t unit, uint16_t addr)
{
	uint16_t v;
	int err = th_read(c, unit, addr, 1, &v);

	return err ? err : v;
}

int th_write(struct th_client *c, uint8_t unit, uint16_t addr, uint16_t value)
{
	struct mb_req req = { .unit = unit,
			      .fc = MB_FC_WRITE_SINGLE_REGISTER,
			      .addr = addr,
			      .qty = 1,
			      .value = value };
	struct mb_rsp rsp;

	return th_xfer(c, &req, &rsp);
}
