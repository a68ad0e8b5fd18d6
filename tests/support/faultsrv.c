// SPDX-License-Identifier: MIT
/*
 * The fault-injecting Modbus TCP test server (see faultsrv.h). One thread polls every
 * listener and connection; each answer is built with the codec and then bent by the port's
 * fault. Bounded everywhere: poll() waits at most 20 ms, so stop and fault changes land fast.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/faultsrv.h"
#include "tests/support/net.h"

/* Listen on 127.0.0.1:port (0: any). Returns the fd or -errno; *port gets the port. */
static int listen_on(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(*port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static void drop_conn(struct th_fsrv_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static uint16_t reg_value(const struct th_fsrv_port *p, uint8_t unit, uint16_t addr)
{
	if (addr >= TH_FSRV_WRITABLE && addr < TH_FSRV_WRITABLE + TH_FSRV_NWRITABLE)
		return p->regs[addr - TH_FSRV_WRITABLE];
	return th_fsrv_value(p->port, unit, addr);
}

static bool is_writable(const struct mb_req *q)
{
	return q->addr >= TH_FSRV_WRITABLE &&
	       q->addr + q->qty <= TH_FSRV_WRITABLE + TH_FSRV_NWRITABLE;
}

/* The normal answer to q, into out. Returns its length, or 0 to drop the connection. */
static int normal_answer(struct th_fsrv_port *p, const struct mb_req *q, uint8_t *out, size_t cap)
{
	uint8_t data[256] = { 0 };

	switch (q->fc) {
	case MB_FC_READ_COILS:
	case MB_FC_READ_DISCRETE_INPUTS:
		for (unsigned i = 0; i < q->qty; i++)
			mb_set_bit(data, i, reg_value(p, q->unit, (uint16_t)(q->addr + i)) & 1);
		return mb_encode_rsp(out, cap, q, data);
	case MB_FC_READ_HOLDING_REGISTERS:
	case MB_FC_READ_INPUT_REGISTERS:
		for (unsigned i = 0; i < q->qty; i++)
			mb_put_u16(data + 2 * i, reg_value(p, q->unit, (uint16_t)(q->addr + i)));
		return mb_encode_rsp(out, cap, q, data);
	case MB_FC_WRITE_SINGLE_REGISTER:
	case MB_FC_WRITE_MULTIPLE_REGISTERS:
		if (!is_writable(q))
			return mb_encode_exception(out, cap, q, MB_EX_ILLEGAL_DATA_ADDRESS);
		if (q->fc == MB_FC_WRITE_SINGLE_REGISTER)
			p->regs[q->addr - TH_FSRV_WRITABLE] = q->value;
		else
			mb_regs_from_wire(&p->regs[q->addr - TH_FSRV_WRITABLE], q->data, q->qty);
		return mb_encode_rsp(out, cap, q, NULL);
	default:
		return mb_encode_exception(out, cap, q, MB_EX_ILLEGAL_FUNCTION);
	}
}

/* Answer one request frame as the port's fault says. */
static void answer(struct th_fsrv_port *p, struct th_fsrv_conn *c, const uint8_t *frame, size_t len)
{
	int fault = atomic_load(&p->fault), param = atomic_load(&p->param);
	uint8_t *out = c->out + c->out_len;
	size_t cap = sizeof(c->out) - c->out_len;
	struct mb_req q;
	int n, err;

	atomic_fetch_add(&p->requests, 1);
	if (fault == TH_FSRV_SILENT || cap < MB_ADU_MAX)
		return;
	err = mb_decode_req(frame, len, &q);
	if (err) {
		uint8_t code = mb_exception_for(err);

		if (!code || (q.fc & MB_EXC_BIT)) {
			c->close_after = true;
			return;
		}
		n = mb_encode_exception(out, cap, &q, code);
	} else if (fault == TH_FSRV_EXCEPTION) {
		n = mb_encode_exception(out, cap, &q, (uint8_t)param);
	} else if (fault == TH_FSRV_GARBAGE) {
		static const uint8_t junk[] = { 0xDE, 0xAD, 0xBE, 0xEF, 0xFF, 0xFF, 0x01, 0x03 };

		memcpy(out, junk, sizeof(junk));
		n = sizeof(junk);
	} else {
		n = normal_answer(p, &q, out, cap);
	}
	if (n <= 0) {
		c->close_after = true;
		return;
	}
	if (fault == TH_FSRV_WRONG_TID)
		mb_put_u16(out, (uint16_t)(q.tid + 1));
	if (fault == TH_FSRV_WRONG_UNIT)
		out[6] = (uint8_t)(q.unit + 1);
	if (fault == TH_FSRV_BAD_COUNT && !err && q.fc <= MB_FC_READ_INPUT_REGISTERS) {
		/* One data byte fewer, MBAP length and byte count both saying so. */
		out[8]--;
		mb_put_u16(out + 4, (uint16_t)(mb_get_u16(out + 4) - 1));
		n--;
	}
	c->out_len += (unsigned)n;
	c->send_at_ns = fault == TH_FSRV_DELAY ? th_now_ns() + param * 1000000LL : 0;
	c->is_drip = fault == TH_FSRV_DRIP;
	if (fault == TH_FSRV_CUT) {
		c->out_len -= (unsigned)n / 2;
		c->close_after = true;
	}
}

static void on_readable(struct th_fsrv_port *p, struct th_fsrv_conn *c)
{
	uint8_t in[1024];
	ssize_t n = recv(c->fd, in, sizeof(in), MSG_DONTWAIT);
	const uint8_t *q = in;

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			drop_conn(c);
		return;
	}
	while (n > 0) {
		const uint8_t *frame;
		size_t used;
		int r = mb_split(&c->split, q, (size_t)n, &used, &frame);

		q += used;
		n -= (ssize_t)used;
		if (r < 0) {
			drop_conn(c);
			return;
		}
		if (r == 0)
			break;
		answer(p, c, frame, (size_t)r);
	}
}

static void flush_out(struct th_fsrv_conn *c, int64_t now)
{
	size_t left = c->out_len - c->out_off;
	ssize_t n;

	if (left && now >= c->send_at_ns) {
		n = send(c->fd, c->out + c->out_off, c->is_drip ? 1 : left,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			drop_conn(c);
			return;
		}
		if (n > 0)
			c->out_off += (unsigned)n;
	}
	if (c->out_off == c->out_len) {
		c->out_len = c->out_off = 0;
		c->is_drip = false;
		if (c->close_after)
			drop_conn(c);
	}
}

static void on_accept(struct th_fsrv_port *p)
{
	int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	atomic_fetch_add(&p->accepts, 1);
	for (unsigned k = 0; k < TH_FSRV_MAX_CONNS; k++)
		if (p->conns[k].fd < 0) {
			p->conns[k].fd = fd;
			return;
		}
	close(fd);
}

/* Apply REFUSE: listener and connections closed while set, the listener back once cleared. */
static void apply_refuse(struct th_fsrv_port *p)
{
	bool refuse = atomic_load(&p->fault) == TH_FSRV_REFUSE;

	if (refuse && p->lfd >= 0) {
		close(p->lfd);
		p->lfd = -1;
		atomic_store(&p->is_listening, false);
		for (unsigned k = 0; k < TH_FSRV_MAX_CONNS; k++)
			drop_conn(&p->conns[k]);
	} else if (!refuse && p->lfd < 0) {
		uint16_t port = p->port;
		int fd = listen_on(&port);

		p->lfd = fd >= 0 ? fd : -1;
		atomic_store(&p->is_listening, p->lfd >= 0);
	}
}

static void *serve(void *arg)
{
	struct th_fsrv *s = arg;
	unsigned max = s->nports * (1 + TH_FSRV_MAX_CONNS);
	struct pollfd *pfd = calloc(max, sizeof(*pfd));
	int *owner = calloc(max, sizeof(*owner)); /* port index x 8 + 1 + conn, or x 8 + 0 */

	if (!pfd || !owner)
		goto out;
	while (!atomic_load(&s->stop)) {
		int64_t now = th_now_ns();
		unsigned n = 0;
		int timeout = 20;

		for (unsigned i = 0; i < s->nports; i++) {
			struct th_fsrv_port *p = &s->ports[i];

			apply_refuse(p);
			if (p->lfd >= 0) {
				pfd[n] = (struct pollfd){ .fd = p->lfd, .events = POLLIN };
				owner[n++] = (int)i * 8;
			}
			for (unsigned k = 0; k < TH_FSRV_MAX_CONNS; k++) {
				struct th_fsrv_conn *c = &p->conns[k];

				if (c->fd < 0)
					continue;
				if (c->out_len)
					flush_out(c, now);
				if (c->fd < 0)
					continue;
				if (c->out_len)
					timeout = 1;
				pfd[n] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
				owner[n++] = (int)(i * 8 + 1 + k);
			}
		}
		if (poll(pfd, n, timeout) <= 0)
			continue;
		for (unsigned j = 0; j < n; j++) {
			struct th_fsrv_port *p = &s->ports[owner[j] / 8];
			int k = owner[j] % 8 - 1;

			if (!pfd[j].revents)
				continue;
			if (k < 0)
				on_accept(p);
			else if (p->conns[k].fd >= 0)
				on_readable(p, &p->conns[k]);
		}
	}
out:
	free(pfd);
	free(owner);
	return NULL;
}

int th_fsrv_open(struct th_fsrv *s, unsigned n)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->ports = calloc(n, sizeof(*s->ports));
	if (!s->ports)
		return -ENOMEM;
	s->nports = n;
	for (unsigned i = 0; i < n; i++) {
		struct th_fsrv_port *p = &s->ports[i];

		for (unsigned k = 0; k < TH_FSRV_MAX_CONNS; k++)
			p->conns[k].fd = -1;
		p->lfd = -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct th_fsrv_port *p = &s->ports[i];

		p->lfd = listen_on(&p->port);
		if (p->lfd < 0) {
			err = p->lfd;
			p->lfd = -1;
			th_fsrv_close(s);
			return err;
		}
		atomic_store(&p->is_listening, true);
		for (unsigned r = 0; r < TH_FSRV_NWRITABLE; r++)
			p->regs[r] = th_fsrv_value(p->port, 0, (uint16_t)(TH_FSRV_WRITABLE + r));
	}
	err = pthread_create(&s->thread, NULL, serve, s);
	if (err) {
		th_fsrv_close(s);
		return -err;
	}
	s->is_running = true;
	return 0;
}

void th_fsrv_close(struct th_fsrv *s)
{
	if (s->is_running) {
		atomic_store(&s->stop, true);
		pthread_join(s->thread, NULL);
		s->is_running = false;
	}
	for (unsigned i = 0; s->ports && i < s->nports; i++) {
		struct th_fsrv_port *p = &s->ports[i];

		if (p->lfd >= 0)
			close(p->lfd);
		for (unsigned k = 0; k < TH_FSRV_MAX_CONNS; k++)
			if (p->conns[k].fd >= 0)
				close(p->conns[k].fd);
	}
	free(s->ports);
	s->ports = NULL;
	s->nports = 0;
}

void th_fsrv_set(struct th_fsrv *s, unsigned port_index, enum th_fsrv_fault fault, int param)
{
	struct th_fsrv_port *p = &s->ports[port_index];

	atomic_store(&p->param, param);
	atomic_store(&p->fault, (int)fault);
}
