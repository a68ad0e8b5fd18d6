// SPDX-License-Identifier: MIT
/*
 * RT(io): the engine's loop. One turn: take commands, run every connection's timers and send
 * what is due, then one io_uring_enter that submits and waits until the nearest deadline,
 * then handle the batch of completions. The one idea: a request's fate is decided only here,
 * by deadlines and TIDs; a reply that comes after its request timed out is recognised by its
 * TID and dropped, never matched to the next request. Failures are counted per device (its
 * streak and backoff outlive any one command), and every command is answered exactly once,
 * with the cause of its last failure.
 *
 * RTU (a serial line, or RTU frames over TCP) has no TIDs: a reply is the awaited frame of
 * the request in flight, found by length and CRC (mb_rtu_split), and on a serial line a
 * t3.5 silence after the last byte either way comes before the next request.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/engine_int.h"
#include "io/serial.h"
#include "rt/clock.h"
#include "rt/probe.h"

#define NEVER INT64_MAX

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	/* Single writer (this thread): a relaxed load + store, no locked instruction. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static struct io_uring_sqe *get_sqe(struct eng *e)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	if (!sqe) {
		/* SQ full: flush without waiting; the ring is sized so this is rare. */
		io_uring_submit(&e->ring);
		sqe = io_uring_get_sqe(&e->ring);
	}
	return sqe;
}

/*
 * Mark a connection for service in the next turn (once). A turn services only marked
 * connections, plus all of them when the earliest deadline seen so far has passed: the
 * loop's cost follows what happened, not how many devices there are.
 */
static void want_service(struct eng *e, unsigned ci)
{
	struct eng_conn *c = &e->conns[ci];

	if (!c->is_in_work) {
		c->is_in_work = true;
		e->work[e->nwork++] = ci;
	}
}

/* True on the first item of each device in c->items (they are grouped by device). */
static bool is_dev_first(const struct eng *e, const struct eng_conn *c, unsigned k)
{
	return k == 0 || e->items[c->items[k]].dev != e->items[c->items[k - 1]].dev;
}

static bool is_failsafe_item(const struct eng_item *it)
{
	return it->kind == ENG_CMD_WRITE && it->index == ENG_FAILSAFE_SLOT;
}

/* ---- messages to the control thread ------------------------------------------------- */

static void push_msg(struct eng *e, const struct eng_msg *m)
{
	ring_push(&e->msg, m); /* a full ring is counted as a drop, never waited on */
	e->has_pushed = true;
}

/* Deliver an item's outcome: a sample (with data from rsp on success) or a write ack. */
static void deliver(struct eng *e, struct eng_item *it, int err, const struct mb_rsp *rsp,
		    int64_t now)
{
	const struct eng_dev *d = &e->devs[it->dev];
	struct eng_msg m = { 0 };

	m.kind = it->kind == ENG_CMD_POLL ? ENG_MSG_SAMPLE : ENG_MSG_WRITE_ACK;
	m.dev = it->dev;
	m.cycle = it->cycle;
	m.err = err;
	m.attempts = it->attempts;
	m.flags = is_failsafe_item(it) ? ENG_MSGF_FAILSAFE : 0;
	m.t_cmd_ns = it->t_cmd_ns;
	m.t_sent_ns = it->t_sent_ns;
	m.t_done_ns = now;
	if (it->kind == ENG_CMD_POLL) {
		const struct eng_block *b = &d->blocks[it->index];

		m.block = it->index;
		m.addr = b->start;
		m.count = b->count;
		if (!err && rsp) {
			if (b->fc >= MB_FC_READ_HOLDING_REGISTERS)
				mb_regs_from_wire(m.data.regs, rsp->data, b->count);
			else
				memcpy(m.data.bits, rsp->data, rsp->byte_count);
		}
	} else {
		/* The ack carries what was written, so the controller knows what is in effect. */
		m.block = it->wr.fc;
		m.addr = it->wr.addr;
		m.count = it->wr.count;
		memcpy(m.data.regs, it->wr.values,
		       (it->wr.count < ENG_WRITE_MAX_REGS ? it->wr.count : ENG_WRITE_MAX_REGS) *
			   sizeof(it->wr.values[0]));
	}
	push_msg(e, &m);
}

/*
 * What a command replaced by a newer one is answered with: its last attempt's error if it
 * was sent; if never, the device's last failure (why it waited), else -ENG_ESUPERSEDED.
 */
static int replaced_err(const struct eng *e, const struct eng_item *it)
{
	int dev_err = e->ds[it->dev].last_err;

	if (it->attempts)
		return it->last_err;
	return dev_err ? dev_err : -ENG_ESUPERSEDED;
}

/* The item is done: report it and free it, or queue the POLL that came while it flew. */
static void retire(struct eng *e, struct eng_item *it, int err, const struct mb_rsp *rsp,
		   int64_t now)
{
	deliver(e, it, err, rsp, now);
	if (is_failsafe_item(it) && err == 0)
		e->ds[it->dev].is_failsafe_done = true;
	it->is_queued = false;
	it->is_in_flight = false;
	if (it->has_again) {
		it->has_again = false;
		it->is_queued = true;
		it->attempts = 0;
		it->last_err = 0;
		it->cycle = it->again_cycle;
		it->t_cmd_ns = it->again_t_cmd_ns;
		it->t_sent_ns = 0;
		it->seq = ++e->seq;
	}
}

/* Errors worth another attempt on the same connection (the seed's retry rule). */
static bool is_retryable(int err)
{
	switch (-err) {
	case ETIMEDOUT:
	case MB_EXC_BASE + MB_EX_SERVER_DEVICE_FAILURE:
	case MB_EXC_BASE + MB_EX_ACKNOWLEDGE:
	case MB_EXC_BASE + MB_EX_SERVER_DEVICE_BUSY:
	case MB_EXC_BASE + MB_EX_GATEWAY_TARGET_FAILED:
		return true;
	default:
		/* Malformed or mismatched replies: the device may do better next time. */
		return -err >= MB_ERR_BASE && -err < MB_ERR_END;
	}
}

/* Does write w put a value into holding register addr? */
static bool writes_reg(const struct eng_cmd *w, uint16_t addr)
{
	if (w->fc != MB_FC_WRITE_SINGLE_REGISTER && w->fc != MB_FC_WRITE_MULTIPLE_REGISTERS)
		return false;
	return addr >= w->addr && (uint32_t)addr < (uint32_t)w->addr + w->count;
}

/*
 * Is a newer write of the same device queued that would land on what it writes? Then a
 * failed write is not retried: its retry would overwrite the newer value with an older one.
 */
static bool has_newer_write(const struct eng *e, const struct eng_item *it)
{
	const struct eng_item *slots =
	    &e->items[e->ds[it->dev].first_item + e->devs[it->dev].nblocks];

	for (unsigned s = 0; s < ENG_DEV_WRITE_ITEMS; s++) {
		const struct eng_item *o = &slots[s];

		if (o == it || !o->is_queued || o->seq < it->seq)
			continue;
		if ((o->wr.fc == it->wr.fc && o->wr.addr == it->wr.addr) ||
		    (is_failsafe_item(o) && writes_reg(&it->wr, o->wr.addr)))
			return true;
	}
	return false;
}

/*
 * An attempt of the in-flight item failed. A retryable failure extends the device's streak:
 * nothing goes to it for k x backoff after its k-th; the command is tried again unless it
 * had its retry_count attempts, a newer command took its place, or the device's streak is
 * over. Anything else is answered at once and leaves the streak alone. Returns true when
 * the connection must be closed: retry_count consecutive failures, and no device on the
 * connection gave a valid frame since the streak began (a dead unit behind a live gateway
 * does not cut the others off).
 */
static bool fail_attempt(struct eng *e, struct eng_conn *c, struct eng_item *it, int err,
			 int64_t now)
{
	const struct eng_dev *d = &e->devs[it->dev];
	struct eng_devstate *ds = &e->ds[it->dev];
	unsigned k;
	bool is_over, must_close;

	c->cur = -1;
	it->is_in_flight = false;
	it->last_err = err;
	if (!is_retryable(err)) {
		retire(e, it, err, NULL, now);
		return false;
	}
	if (ds->fails == 0)
		ds->streak_start_ns = now;
	if (ds->fails < UINT16_MAX)
		ds->fails++;
	ds->last_err = err;
	k = ds->fails < d->retry_count ? ds->fails : d->retry_count;
	ds->not_before_ns = now + (int64_t)k * d->retry_backoff_ns;
	is_over = ds->fails >= d->retry_count;
	must_close = is_over && (c->ndev == 1 || c->t_alive_ns < ds->streak_start_ns);
	if (is_over || it->has_again || it->attempts >= d->retry_count ||
	    (it->kind == ENG_CMD_WRITE && has_newer_write(e, it))) {
		retire(e, it, err, NULL, now);
		return must_close;
	}
	/* Retried. A read goes behind the device's other blocks (one bad block must not starve
	 * them); a write keeps its place, so writes land in the order they were pushed. */
	if (it->kind == ENG_CMD_POLL)
		it->seq = ++e->seq;
	return must_close;
}

/* ---- connections -------------------------------------------------------------------- */

static void failsafe_queue(struct eng *e, unsigned dev, int64_t now);
static void on_reply(struct eng *e, struct eng_conn *c, struct eng_item *it, int err,
		     const struct mb_rsp *rsp, int64_t now);

static void arm_recv(struct eng *e, struct eng_conn *c, unsigned ci)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	if (!sqe)
		return;
	if (c->framing == ENG_FRAMING_SERIAL) {
		/* A tty: read(2) semantics, one completion per SQE (-1: the file's position). */
		if (e->feat.buf_ring) {
			io_uring_prep_read(sqe, c->fd, NULL, ENG_RX_BUF, (uint64_t)-1);
			sqe->flags |= IOSQE_BUFFER_SELECT;
			sqe->buf_group = 0;
		} else {
			io_uring_prep_read(sqe, c->fd, c->rx, ENG_RX_BUF, (uint64_t)-1);
		}
	} else if (e->feat.recv_multishot) {
		/* One SQE for as long as the connection lives (until an error or ENOBUFS). */
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
	} else if (e->feat.buf_ring) {
		io_uring_prep_recv(sqe, c->fd, NULL, ENG_RX_BUF, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
	} else {
		io_uring_prep_recv(sqe, c->fd, c->rx, ENG_RX_BUF, 0);
	}
	io_uring_sqe_set_data64(sqe, ud_make(UD_RECV, ci, c->gen));
	c->ops++;
	c->is_recv_armed = true;
}

static void send_tx(struct eng *e, struct eng_conn *c, unsigned ci)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	if (!sqe)
		return;
	if (c->framing == ENG_FRAMING_SERIAL)
		io_uring_prep_write(sqe, c->fd, c->tx + c->tx_off,
				    (unsigned)(c->tx_len - c->tx_off), (uint64_t)-1);
	else
		io_uring_prep_send(sqe, c->fd, c->tx + c->tx_off, (size_t)(c->tx_len - c->tx_off),
				   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(UD_SEND, ci, c->gen));
	c->ops++;
	c->is_send_busy = true;
}

/* All SQEs of a closing connection are back: close the socket, fail what waits, back off. */
static void conn_down(struct eng *e, struct eng_conn *c, int64_t now)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->gen++;
	c->state = CONN_DOWN;
	c->is_recv_armed = false;
	c->is_send_busy = false;
	mb_split_reset(&c->split);
	mb_rtu_split_reset(&c->rsplit);
	c->timer_ns = now + c->backoff_ns;
	c->backoff_ns = min64(c->backoff_ns * 2, e->cfg.reconnect_max_ns);
	for (unsigned k = 0; k < c->nitems; k++) {
		struct eng_item *it = &e->items[c->items[k]];

		if (is_dev_first(e, c, k)) {
			count(&e->ds[it->dev].c.conn_failures, 1);
			if (c->close_err)
				e->ds[it->dev].last_err = c->close_err;
		}
	}
	/* Every command still waiting is answered: with its own last failure if it had one. */
	for (unsigned k = 0; k < c->nitems; k++) {
		struct eng_item *it = &e->items[c->items[k]];

		if (it->is_queued)
			retire(e, it, it->attempts ? it->last_err : c->close_err, NULL, now);
	}
}

/* Start tearing a connection down: cancel its SQEs; it goes DOWN when they are all back. */
static void conn_close(struct eng *e, struct eng_conn *c, int err, int64_t now)
{
	struct io_uring_sqe *sqe;

	if (c->state == CONN_CLOSING || c->state == CONN_DOWN)
		return;
	if (c->cur >= 0)
		fail_attempt(e, c, &e->items[c->cur], err, now);
	c->close_err = err;
	c->state = CONN_CLOSING;
	if (c->ops == 0) {
		conn_down(e, c, now);
		return;
	}
	sqe = get_sqe(e);
	if (sqe) {
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_make(UD_CANCEL, 0, 0));
	} else {
		/* No SQE for the cancel: make the socket's operations fail by themselves. */
		shutdown(c->fd, SHUT_RDWR);
	}
}

/* The connection is up (connected, or the tty opened): a fresh streak for its devices. */
static void conn_ready(struct eng *e, struct eng_conn *c, unsigned ci, int64_t now)
{
	c->state = CONN_READY;
	c->close_err = 0;
	c->quiet_ns = now + c->t35_ns;
	for (unsigned k = 0; k < c->nitems; k++) {
		unsigned dev = e->items[c->items[k]].dev;
		struct eng_devstate *ds = &e->ds[dev];

		if (!is_dev_first(e, c, k))
			continue;
		/* A fresh connection, a fresh streak (the cause stays until a reply). */
		count(&ds->c.connects, 1);
		ds->fails = 0;
		ds->not_before_ns = 0;
		if (e->is_failsafe_episode)
			failsafe_queue(e, dev, now);
	}
	arm_recv(e, c, ci);
}

/*
 * A serial line opens at once: open(2) with O_NONBLOCK and tcsetattr(TCSANOW) never wait.
 * A line that cannot be opened (unplugged: ENOENT; a setting refused: SER_E*) is a failed
 * connect: its commands are answered with the cause, and it is tried again with backoff.
 */
static void serial_open(struct eng *e, struct eng_conn *c, unsigned ci, int64_t now)
{
	const struct eng_dev *d = &e->devs[c->dev0];
	int fd = ser_open(d->device, &d->line);

	c->nlate = 0;
	if (fd < 0) {
		c->close_err = fd;
		conn_down(e, c, now);
		return;
	}
	c->fd = fd;
	conn_ready(e, c, ci, now);
}

static void conn_connect(struct eng *e, struct eng_conn *c, unsigned ci, int64_t now)
{
	struct io_uring_sqe *sqe;
	int one = 1;

	if (c->framing == ENG_FRAMING_SERIAL) {
		serial_open(e, c, ci, now);
		return;
	}
	/* socket() and setsockopt() do not block; connect goes through the ring. */
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (c->fd < 0) {
		c->timer_ns = now + c->backoff_ns;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sqe = get_sqe(e);
	if (!sqe) {
		close(c->fd);
		c->fd = -1;
		c->timer_ns = now + c->backoff_ns;
		return;
	}
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->sa, sizeof(c->sa));
	io_uring_sqe_set_data64(sqe, ud_make(UD_CONNECT, ci, c->gen));
	c->ops++;
	c->state = CONN_CONNECTING;
	c->timer_ns = now + e->cfg.connect_timeout_ns;
	c->nlate = 0;
}

/* Build and send the request of an item. */
static void send_item(struct eng *e, struct eng_conn *c, unsigned ci, unsigned idx, int64_t now)
{
	struct eng_item *it = &e->items[idx];
	const struct eng_dev *d = &e->devs[it->dev];
	struct mb_req *q = &c->req;
	int n;

	memset(q, 0, sizeof(*q));
	q->tid = ++c->next_tid;
	q->unit = d->unit;
	if (it->kind == ENG_CMD_POLL) {
		const struct eng_block *b = &d->blocks[it->index];

		q->fc = b->fc;
		q->addr = b->start;
		q->qty = b->count;
	} else {
		const struct eng_cmd *w = &it->wr;

		q->fc = w->fc;
		q->addr = w->addr;
		q->qty = w->count;
		if (w->fc == MB_FC_WRITE_SINGLE_COIL) {
			q->value = w->values[0] ? MB_COIL_ON : MB_COIL_OFF;
		} else if (w->fc == MB_FC_WRITE_SINGLE_REGISTER) {
			q->value = w->values[0];
		} else if (w->fc == MB_FC_WRITE_MULTIPLE_COILS) {
			memset(c->payload, 0, sizeof(c->payload));
			for (unsigned i = 0; i < w->count; i++)
				mb_set_bit(c->payload, i, w->values[i] != 0);
			q->byte_count = (uint8_t)mb_payload_size(w->fc, w->count);
			q->data = c->payload;
		} else {
			mb_regs_to_wire(c->payload, w->values, w->count);
			q->byte_count = (uint8_t)(2 * w->count);
			q->data = c->payload;
		}
	}
	if (c->framing == ENG_FRAMING_TCP) {
		n = mb_encode_req(c->tx, sizeof(c->tx), q);
	} else {
		n = mb_rtu_encode_req(c->tx, sizeof(c->tx), q);
		mb_rtu_split_reset(&c->rsplit);
	}
	if (n < 0) {
		/* Checked when the command was taken; here only if that check has a hole. */
		retire(e, it, n, NULL, now);
		return;
	}
	c->tx_len = (uint16_t)n;
	c->tx_off = 0;
	c->cur = (int)idx;
	c->cur_tid = q->tid;
	c->timer_ns = now + d->timeout_ns;
	if (c->framing == ENG_FRAMING_SERIAL) {
		/* The request takes its wire time to go out; the reply's clock starts after. */
		int64_t wire = mb_rtu_wire_ns(d->line.baud, (size_t)n);

		c->timer_ns += wire;
		c->quiet_ns = now + wire + c->t35_ns;
	}
	it->is_in_flight = true;
	it->attempts++;
	it->t_sent_ns = now;
	count(&e->ds[it->dev].c.requests, 1);
	count(&e->ds[it->dev].c.bytes_tx, (uint64_t)n);
	if (e->ds[it->dev].fails)
		count(&e->ds[it->dev].c.retries, 1);
	if (is_failsafe_item(it))
		count(&e->ds[it->dev].c.failsafe_writes, 1);
	FLUX_PROBE(request_sent, it->dev, q->fc, q->addr, q->tid, it->attempts);
	send_tx(e, c, ci);
}

/*
 * The next item to send: a failsafe write first, else the oldest queued item, among those
 * whose device is out of backoff; -1 if none. *wake gets the earliest end of a backoff.
 */
static int next_item(struct eng *e, struct eng_conn *c, int64_t now, int64_t *wake)
{
	int best = -1;
	uint64_t best_seq = UINT64_MAX;

	for (unsigned k = 0; k < c->nitems; k++) {
		struct eng_item *it = &e->items[c->items[k]];
		int64_t not_before = e->ds[it->dev].not_before_ns;

		if (!it->is_queued || it->is_in_flight)
			continue;
		if (not_before > now) {
			*wake = min64(*wake, not_before);
			continue;
		}
		if (is_failsafe_item(it))
			return (int)c->items[k];
		if (it->seq < best_seq) {
			best_seq = it->seq;
			best = (int)c->items[k];
		}
	}
	return best;
}

/* Remember a timed-out TID so its late reply is recognised and dropped. */
static void remember_late(struct eng_conn *c, uint16_t tid)
{
	c->late_tids[c->nlate % ENG_LATE_TIDS] = tid;
	c->nlate++;
}

static bool is_late(const struct eng_conn *c, uint16_t tid)
{
	unsigned n = c->nlate < ENG_LATE_TIDS ? c->nlate : ENG_LATE_TIDS;

	for (unsigned i = 0; i < n; i++)
		if (c->late_tids[i] == tid)
			return true;
	return false;
}

/* The deadline of a connection that is down or connecting (closing has none: its CQEs come). */
static int64_t conn_wake(const struct eng_conn *c)
{
	return c->state == CONN_DOWN || c->state == CONN_CONNECTING ? c->timer_ns : NEVER;
}

/* Timers and sends of one connection. Returns its next deadline. */
static int64_t service_conn(struct eng *e, unsigned ci, int64_t now)
{
	struct eng_conn *c = &e->conns[ci];
	int64_t wake = NEVER;
	int idx;

	switch (c->state) {
	case CONN_DOWN:
		if (now < c->timer_ns)
			return c->timer_ns;
		conn_connect(e, c, ci, now);
		if (c->state != CONN_READY)
			return c->state == CONN_CLOSING ? NEVER : c->timer_ns;
		break; /* a serial line is ready at once */
	case CONN_CONNECTING:
		if (now >= c->timer_ns)
			conn_close(e, c, -ETIMEDOUT, now);
		return conn_wake(c);
	case CONN_CLOSING:
		return NEVER;
	case CONN_READY:
		break;
	}
	if (c->cur >= 0) {
		struct eng_item *it = &e->items[c->cur];
		const struct eng_dev *d = &e->devs[it->dev];
		bool must_close;

		int err = -ETIMEDOUT;

		if (now < c->timer_ns)
			return c->timer_ns;
		count(&e->ds[it->dev].c.timeouts, 1);
		remember_late(c, c->cur_tid);
		/* RTU: what came instead of the reply names the failure (a CRC that failed, a
		 * reply from another unit), else it is a timeout. */
		if (c->framing != ENG_FRAMING_TCP && c->rsplit.noise_err)
			err = c->rsplit.noise_err;
		must_close = fail_attempt(e, c, it, err, now);
		/* Without TIDs a late reply cannot be told from the next one: start afresh. On a
		 * serial line there is no afresh: the t3.5 silence before the next request does
		 * what it can (a reply later than that is taken for noise or, if it fits, the
		 * next reply; the spec's master has the same limit). */
		if (must_close || ((d->ignore_tid || c->framing == ENG_FRAMING_RTU_TCP) &&
				   c->framing != ENG_FRAMING_SERIAL)) {
			conn_close(e, c, err, now);
			return conn_wake(c);
		}
	}
	if (c->is_send_busy)
		return wake; /* the last request's send completes first (a partial one resumes) */
	if (c->framing == ENG_FRAMING_SERIAL && now < c->quiet_ns) {
		/* t3.5 of silence first; a byte that comes meanwhile moves it on (on_recv). */
		idx = next_item(e, c, now, &wake);
		return idx >= 0 ? min64(wake, c->quiet_ns) : wake;
	}
	idx = next_item(e, c, now, &wake);
	if (idx >= 0) {
		send_item(e, c, ci, (unsigned)idx, now);
		wake = min64(wake, c->timer_ns);
	}
	return wake;
}

/* ---- commands from the control thread ----------------------------------------------- */

static bool is_valid_write(const struct eng_cmd *w)
{
	switch (w->fc) {
	case MB_FC_WRITE_SINGLE_COIL:
	case MB_FC_WRITE_SINGLE_REGISTER:
		return w->count == 1;
	case MB_FC_WRITE_MULTIPLE_COILS:
	case MB_FC_WRITE_MULTIPLE_REGISTERS:
		return w->count >= 1 && w->count <= ENG_WRITE_MAX_REGS &&
		       (uint32_t)w->addr + w->count <= 0x10000u;
	default:
		return false;
	}
}

/* Down after a failure (not before the first connect): commands are answered at once. */
static bool is_failed(const struct eng_conn *c)
{
	return (c->state == CONN_DOWN && c->close_err) || c->state == CONN_CLOSING;
}

/* What a command for a failed connection is answered with: why it went down. */
static int down_err(const struct eng_conn *c)
{
	return c->close_err ? c->close_err : -ENG_ENOTCONN;
}

/* A new command in the item; it is sent when the device's backoff allows. */
static void queue_item(struct eng *e, struct eng_item *it, uint32_t cycle, int64_t t_cmd)
{
	it->is_queued = true;
	it->attempts = 0;
	it->last_err = 0;
	it->cycle = cycle;
	it->t_cmd_ns = t_cmd;
	it->t_sent_ns = 0;
	it->seq = ++e->seq;
}

static void reject_cmd(struct eng *e, const struct eng_cmd *cmd, int err, int64_t now)
{
	struct eng_item tmp = { .dev = cmd->dev, .cycle = cmd->cycle, .t_cmd_ns = cmd->t_push_ns };

	tmp.kind = cmd->kind == ENG_CMD_WRITE ? ENG_CMD_WRITE : ENG_CMD_POLL;
	tmp.wr = *cmd;
	if (tmp.kind == ENG_CMD_POLL) {
		/* A bad POLL has no block: answer with one sample naming block 0's place. */
		if (cmd->dev >= e->cfg.ndev || e->devs[cmd->dev].nblocks == 0) {
			struct eng_msg m = { .kind = ENG_MSG_SAMPLE,
					     .dev = cmd->dev,
					     .cycle = cmd->cycle,
					     .err = err,
					     .t_cmd_ns = cmd->t_push_ns,
					     .t_done_ns = now };

			push_msg(e, &m);
			return;
		}
	}
	deliver(e, &tmp, err, NULL, now);
}

static void set_armed(struct eng *e, struct eng_devstate *ds, bool is_arm)
{
	if (is_arm != ds->is_armed) {
		ds->is_armed = is_arm;
		e->narmed = is_arm ? e->narmed + 1 : e->narmed - 1;
	}
}

static void take_poll(struct eng *e, const struct eng_cmd *cmd, int64_t now)
{
	struct eng_devstate *ds = &e->ds[cmd->dev];
	const struct eng_conn *c = &e->conns[ds->conn];

	set_armed(e, ds, cmd->flags & ENG_CMDF_ARM);
	for (unsigned b = 0; b < e->devs[cmd->dev].nblocks; b++) {
		struct eng_item *it = &e->items[ds->first_item + b];

		if (cmd->block_mask && !(cmd->block_mask & (1u << b)))
			continue; /* a block this poll does not read: left as it is */
		if (is_failed(c)) {
			struct eng_item tmp = *it;

			tmp.cycle = cmd->cycle;
			tmp.t_cmd_ns = cmd->t_push_ns;
			tmp.attempts = 0;
			tmp.t_sent_ns = 0;
			deliver(e, &tmp, down_err(c), NULL, now);
		} else if (it->is_in_flight) {
			if (it->has_again) {
				/* The waiting one was never sent: the newer one takes its place. */
				struct eng_item tmp = *it;

				tmp.cycle = it->again_cycle;
				tmp.t_cmd_ns = it->again_t_cmd_ns;
				tmp.attempts = 0;
				tmp.t_sent_ns = 0;
				deliver(e, &tmp, replaced_err(e, &tmp), NULL, now);
			}
			it->has_again = true;
			it->again_cycle = cmd->cycle;
			it->again_t_cmd_ns = cmd->t_push_ns;
		} else if (it->is_queued) {
			/*
			 * Waiting, maybe in the device's backoff after a failed attempt: the
			 * newer poll takes its place in the queue, and the backoff still holds.
			 */
			uint64_t seq = it->seq;

			deliver(e, it, replaced_err(e, it), NULL, now);
			queue_item(e, it, cmd->cycle, cmd->t_push_ns);
			it->seq = seq;
		} else {
			queue_item(e, it, cmd->cycle, cmd->t_push_ns);
		}
	}
}

/* A POLL's block_mask names only blocks its device has (0: all of them). */
static bool is_valid_mask(const struct eng *e, const struct eng_cmd *cmd)
{
	unsigned all = (1u << e->devs[cmd->dev].nblocks) - 1;

	return (cmd->block_mask & ~all) == 0;
}

static void take_write(struct eng *e, const struct eng_cmd *cmd, int64_t now)
{
	struct eng_devstate *ds = &e->ds[cmd->dev];
	const struct eng_conn *c = &e->conns[ds->conn];
	struct eng_item *slots = &e->items[ds->first_item + e->devs[cmd->dev].nblocks];
	struct eng_item *free_slot = NULL;

	if (cmd->flags & ENG_CMDF_ARM)
		set_armed(e, ds, true);

	if (is_failed(c)) {
		reject_cmd(e, cmd, down_err(c), now);
		return;
	}
	for (unsigned s = 0; s < ENG_WRITE_SLOTS; s++) {
		struct eng_item *it = &slots[s];

		if (it->is_queued && !it->is_in_flight && it->wr.fc == cmd->fc &&
		    it->wr.addr == cmd->addr) {
			/* The newest setpoint wins; the older one is answered, not lost. */
			deliver(e, it, replaced_err(e, it), NULL, now);
			it->wr = *cmd;
			queue_item(e, it, cmd->cycle, cmd->t_push_ns);
			return;
		}
		if (!it->is_queued && !free_slot)
			free_slot = it;
	}
	if (!free_slot) {
		reject_cmd(e, cmd, -ENG_EQUEUE, now);
		return;
	}
	free_slot->wr = *cmd;
	queue_item(e, free_slot, cmd->cycle, cmd->t_push_ns);
}

/* ---- the fail-safe against a stalled control thread --------------------------------- */

/*
 * Queue a device's failsafe write if it is armed and has none pending or acknowledged in
 * this episode. Queued writes that would put a value into the failsafe register are
 * answered now, so that none lands after it. On a failed connection it is answered at once
 * (and tried again at the next failsafe deadline or connect).
 */
static void failsafe_queue(struct eng *e, unsigned dev, int64_t now)
{
	const struct eng_dev *d = &e->devs[dev];
	struct eng_devstate *ds = &e->ds[dev];
	const struct eng_conn *c = &e->conns[ds->conn];
	struct eng_item *slots = &e->items[ds->first_item + d->nblocks];
	struct eng_item *fs = &slots[ENG_FAILSAFE_SLOT];

	if (!d->has_failsafe || !ds->is_armed || ds->is_failsafe_done || fs->is_queued)
		return;
	fs->wr = (struct eng_cmd){ .kind = ENG_CMD_WRITE,
				   .fc = MB_FC_WRITE_SINGLE_REGISTER,
				   .dev = (uint16_t)dev,
				   .addr = d->failsafe_addr,
				   .count = 1,
				   .t_push_ns = now,
				   .values = { d->failsafe_value } };
	queue_item(e, fs, 0, now);
	if (is_failed(c)) {
		retire(e, fs, down_err(c), NULL, now);
		return;
	}
	for (unsigned s = 0; s < ENG_WRITE_SLOTS; s++) {
		struct eng_item *it = &slots[s];

		if (it->is_queued && !it->is_in_flight && writes_reg(&it->wr, d->failsafe_addr))
			retire(e, it, replaced_err(e, it), NULL, now);
	}
	want_service(e, ds->conn);
}

/* The control thread has been silent for failsafe_after: write every armed failsafe. */
static void failsafe_due(struct eng *e, int64_t now)
{
	e->is_failsafe_episode = true;
	e->failsafe_next_ns = now + e->cfg.failsafe_after_ns;
	for (unsigned d = 0; d < e->cfg.ndev; d++)
		if (e->ds[d].is_armed)
			failsafe_queue(e, d, now);
}

/* A command came: the silence, if there was one, is over. */
static void failsafe_end(struct eng *e, int64_t now)
{
	e->t_last_cmd_ns = now;
	e->failsafe_next_ns = now + e->cfg.failsafe_after_ns;
	if (!e->is_failsafe_episode)
		return;
	e->is_failsafe_episode = false;
	for (unsigned d = 0; d < e->cfg.ndev; d++)
		e->ds[d].is_failsafe_done = false;
}

static bool is_failsafe_on(const struct eng *e)
{
	return e->cfg.failsafe_after_ns > 0 && e->narmed > 0;
}

static void take_commands(struct eng *e, int64_t now)
{
	unsigned n;

	while ((n = ring_pop_n(&e->cmd, e->cmd_batch, ENG_POP_BATCH))) {
		failsafe_end(e, now);
		for (unsigned i = 0; i < n; i++) {
			const struct eng_cmd *cmd = &e->cmd_batch[i];

			if (cmd->dev < e->cfg.ndev)
				want_service(e, e->ds[cmd->dev].conn);
			if (cmd->dev >= e->cfg.ndev)
				reject_cmd(e, cmd, -ENG_EBADCMD, now);
			else if (cmd->kind == ENG_CMD_POLL && is_valid_mask(e, cmd))
				take_poll(e, cmd, now);
			else if (cmd->kind == ENG_CMD_WRITE && is_valid_write(cmd))
				take_write(e, cmd, now);
			else
				reject_cmd(e, cmd, -ENG_EBADCMD, now);
		}
		if (n < ENG_POP_BATCH)
			break;
	}
}

/* ---- completions -------------------------------------------------------------------- */

static void publish_rtt(struct eng *e, unsigned dev, int64_t now)
{
	struct eng_devstate *ds = &e->ds[dev];

	seqlock_write(&ds->rtt_pub, &ds->rtt);
	ds->rtt_pub_ns = now;
	ds->is_rtt_dirty = false;
}

/* One whole frame from connection c. */
static void handle_frame(struct eng *e, struct eng_conn *c, const uint8_t *frame, size_t len,
			 int64_t now)
{
	struct eng_item *it;
	struct eng_devstate *ds;
	struct mb_rsp rsp;
	uint16_t tid = mb_peek_tid(frame);
	int err;

	if (c->cur < 0) {
		/* Nothing in flight: a late reply, or a peer talking out of turn. */
		struct eng_item *any = &e->items[c->items[0]];

		count(is_late(c, tid) ? &e->ds[any->dev].c.late : &e->ds[any->dev].c.bad_frames, 1);
		return;
	}
	it = &e->items[c->cur];
	ds = &e->ds[it->dev];
	count(&ds->c.bytes_rx, len);
	if (!e->devs[it->dev].ignore_tid && tid != c->cur_tid && is_late(c, tid)) {
		count(&ds->c.late, 1);
		return;
	}
	err = mb_decode_rsp(&c->req, frame, len, e->devs[it->dev].ignore_tid ? MB_RSP_ANY_TID : 0,
			    &rsp);
	FLUX_PROBE(response_parsed, it->dev, c->req.fc, c->req.addr, tid, err);
	on_reply(e, c, it, err, &rsp, now);
}

/* The reply to the item in flight, decoded (err 0 or an exception) or not (-MB_E*). */
static void on_reply(struct eng *e, struct eng_conn *c, struct eng_item *it, int err,
		     const struct mb_rsp *rsp, int64_t now)
{
	struct eng_devstate *ds = &e->ds[it->dev];

	if (err == 0 || (-err >= MB_EXC_BASE && -err < MB_EXC_END)) {
		/* A valid frame: the link is alive; only a retryable exception fails the attempt.
		 */
		count(&ds->c.responses, 1);
		hist_record(&ds->rtt, now - it->t_sent_ns);
		if (!ds->is_rtt_dirty) {
			ds->is_rtt_dirty = true;
			e->dirty[e->ndirty++] = it->dev;
		}
		c->backoff_ns = e->cfg.reconnect_min_ns;
		c->t_alive_ns = now;
		if (!is_retryable(err)) {
			ds->fails = 0;
			ds->last_err = 0;
			ds->not_before_ns = 0;
		}
		if (err) {
			unsigned code = rsp->exception;

			count(&ds->c.exceptions[code < 16 ? code : 0], 1);
			if (fail_attempt(e, c, it, err, now))
				conn_close(e, c, err, now);
			return;
		}
		c->cur = -1;
		retire(e, it, 0, rsp, now);
		return;
	}
	count(&ds->c.bad_frames, 1);
	if (fail_attempt(e, c, it, err, now))
		conn_close(e, c, err, now);
}

/* Bytes the RTU frame finder discarded since the last look, counted to dev. */
static void count_noise(struct eng *e, struct eng_conn *c, unsigned dev)
{
	if (c->rsplit.discarded != c->noise_seen) {
		count(&e->ds[dev].c.noise_bytes, c->rsplit.discarded - c->noise_seen);
		c->noise_seen = c->rsplit.discarded;
	}
}

/*
 * RTU bytes: only the awaited reply is a frame; whatever else comes (a late reply, another
 * unit, line noise, a frame whose CRC fails) is discarded and counted, and the hunt goes on
 * until the request's deadline, which then names what came instead (service_conn).
 */
static void feed_rtu(struct eng *e, struct eng_conn *c, const uint8_t *p, size_t n, int64_t now)
{
	if (c->framing == ENG_FRAMING_SERIAL)
		c->quiet_ns = now + c->t35_ns; /* the line was busy until now */
	while (c->state == CONN_READY) {
		struct eng_item *it;
		const uint8_t *frame;
		struct mb_rsp rsp;
		size_t used = 0;
		int r, err;

		if (c->cur < 0) {
			/* Nothing awaited: not a reply to anything of ours. */
			if (n)
				count(&e->ds[e->items[c->items[0]].dev].c.noise_bytes, n);
			return;
		}
		it = &e->items[c->cur];
		r = mb_rtu_split(&c->rsplit, &c->req, p, n, &used, &frame);
		p += used;
		n -= used;
		count_noise(e, c, it->dev);
		if (r <= 0)
			return; /* r < 0 only for a request without a reply, never sent */
		count(&e->ds[it->dev].c.bytes_rx, (uint64_t)r);
		err = mb_rtu_decode_rsp(&c->req, frame, (size_t)r, &rsp);
		FLUX_PROBE(response_parsed, it->dev, c->req.fc, c->req.addr, 0, err);
		on_reply(e, c, it, err, &rsp, now);
	}
}

static void feed_bytes(struct eng *e, struct eng_conn *c, const uint8_t *p, size_t n, int64_t now)
{
	if (c->framing != ENG_FRAMING_TCP) {
		feed_rtu(e, c, p, n, now);
		return;
	}
	while (n && c->state == CONN_READY) {
		const uint8_t *frame;
		size_t used;
		int r = mb_split(&c->split, p, n, &used, &frame);

		p += used;
		n -= used;
		if (r < 0) {
			/* The MBAP header is broken: the stream cannot be re-synchronised. */
			if (c->cur >= 0)
				count(&e->ds[e->items[c->cur].dev].c.bad_frames, 1);
			conn_close(e, c, r, now);
			return;
		}
		if (r == 0)
			return;
		handle_frame(e, c, frame, (size_t)r, now);
	}
}

static void recycle_buf(struct eng *e, unsigned bid)
{
	io_uring_buf_ring_add(e->br, e->bufs + (size_t)bid * ENG_RX_BUF, ENG_RX_BUF, (uint16_t)bid,
			      io_uring_buf_ring_mask(e->nbufs), 0);
	io_uring_buf_ring_advance(e->br, 1);
}

static void on_recv(struct eng *e, struct eng_conn *c, unsigned ci, int res, unsigned flags,
		    int64_t now)
{
	/* A multishot receive stays armed while its completions say "more". */
	c->is_recv_armed = flags & IORING_CQE_F_MORE;
	if (res > 0) {
		const uint8_t *p = c->rx;
		bool has_buf = flags & IORING_CQE_F_BUFFER;
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

		if (has_buf)
			p = e->bufs + (size_t)bid * ENG_RX_BUF;
		feed_bytes(e, c, p, (size_t)res, now);
		if (has_buf)
			recycle_buf(e, bid);
		if (c->state == CONN_READY && !c->is_recv_armed)
			arm_recv(e, c, ci);
		return;
	}
	if (res == -ENOBUFS && c->state == CONN_READY && !c->is_recv_armed) {
		arm_recv(e, c, ci); /* the pool ran dry for a moment: buffers come back this turn */
		return;
	}
	/* A tty reads 0 on hangup (a USB adapter unplugged, the far end of a pty closed). */
	conn_close(e, c, res == 0 ? (c->framing == ENG_FRAMING_SERIAL ? -EIO : -ECONNRESET) : res,
		   now);
}

static void on_cqe(struct eng *e, const struct io_uring_cqe *cqe, int64_t now)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	enum ud_kind kind = (enum ud_kind)(ud >> 56);
	unsigned ci = (unsigned)(ud >> 32) & 0xFFFFFF;
	uint32_t gen = (uint32_t)ud;
	struct eng_conn *c;

	if (kind == UD_WAKE) {
		e->is_wake_armed = false;
		return;
	}
	if (kind == UD_CANCEL || ci >= e->nconn)
		return;
	c = &e->conns[ci];
	want_service(e, ci);
	/* A multishot receive's SQE is done only with its last completion (no F_MORE). */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->ops--;
	if (gen != c->gen) {
		/* A buffer taken for a completion of an old socket still goes back. */
		if (cqe->flags & IORING_CQE_F_BUFFER)
			recycle_buf(e, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	switch (kind) {
	case UD_CONNECT:
		if (c->state != CONN_CONNECTING)
			break;
		if (cqe->res < 0) {
			conn_close(e, c, cqe->res, now);
			break;
		}
		conn_ready(e, c, ci, now);
		break;
	case UD_RECV:
		if (c->state == CONN_READY) {
			on_recv(e, c, ci, cqe->res, cqe->flags, now);
		} else {
			c->is_recv_armed = false;
			if (cqe->flags & IORING_CQE_F_BUFFER)
				recycle_buf(e, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		}
		break;
	case UD_SEND:
		if (c->state != CONN_READY)
			break;
		c->is_send_busy = false;
		if (cqe->res < 0) {
			conn_close(e, c, cqe->res, now);
		} else if (c->tx_off + cqe->res < c->tx_len) {
			c->tx_off = (uint16_t)(c->tx_off + cqe->res);
			send_tx(e, c, ci);
		}
		break;
	default:
		break;
	}
	if (c->state == CONN_CLOSING && c->ops == 0)
		conn_down(e, c, now);
}

/* ---- the loop ----------------------------------------------------------------------- */

static void arm_wake(struct eng *e)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, ring_wake_fd(&e->cmd), &e->wake_buf, sizeof(e->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_WAKE, 0, 0));
	e->is_wake_armed = true;
}

static void turn(struct eng *e)
{
	int64_t now = clk_now_ns(), next = NEVER;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts, *tsp = NULL;
	unsigned head, seen = 0, wait_nr = 0;

	take_commands(e, now);
	if (is_failsafe_on(e) && now >= e->failsafe_next_ns)
		failsafe_due(e, now);
	if (now >= e->next_timer_ns) {
		/* A deadline passed: every connection, and the earliest deadline anew. */
		e->next_timer_ns = NEVER;
		for (unsigned ci = 0; ci < e->nconn; ci++)
			e->next_timer_ns = min64(e->next_timer_ns, service_conn(e, ci, now));
		for (unsigned k = 0; k < e->nwork; k++)
			e->conns[e->work[k]].is_in_work = false;
	} else {
		for (unsigned k = 0; k < e->nwork; k++) {
			unsigned ci = e->work[k];

			e->conns[ci].is_in_work = false;
			e->next_timer_ns = min64(e->next_timer_ns, service_conn(e, ci, now));
		}
	}
	e->nwork = 0;
	next = e->next_timer_ns;
	/* Nothing else wakes the loop when the control thread stalls: its own deadline does. */
	if (is_failsafe_on(e))
		next = min64(next, e->failsafe_next_ns);
	/* Only devices with new RTTs, at most once a second each (a list, not a scan). */
	for (unsigned k = 0; k < e->ndirty;) {
		unsigned d = e->dirty[k];

		if (now - e->ds[d].rtt_pub_ns >= ENG_RTT_PUBLISH_NS) {
			publish_rtt(e, d, now);
			e->dirty[k] = e->dirty[--e->ndirty];
		} else {
			next = min64(next, e->ds[d].rtt_pub_ns + ENG_RTT_PUBLISH_NS);
			k++;
		}
	}
	if (e->has_pushed) {
		ring_notify(&e->msg);
		e->has_pushed = false;
	}
	if (!e->is_wake_armed)
		arm_wake(e);

	/* Sleep only if no command slipped in since take_commands() (the producer then wakes
	 * us through the eventfd read armed above). */
	if (ring_prepare_sleep(&e->cmd)) {
		wait_nr = 1;
		if (next != NEVER) {
			int64_t dt = next - clk_now_ns();

			if (dt < 0)
				dt = 0;
			ts.tv_sec = dt / CLK_NS_PER_SEC;
			ts.tv_nsec = dt % CLK_NS_PER_SEC;
			tsp = &ts;
		}
	}
	io_uring_submit_and_wait_timeout(&e->ring, &cqe, wait_nr, tsp, NULL);
	ring_end_sleep(&e->cmd);

	now = clk_now_ns();
	io_uring_for_each_cqe(&e->ring, head, cqe)
	{
		on_cqe(e, cqe, now);
		seen++;
	}
	io_uring_cq_advance(&e->ring, seen);
	/* Replies parsed in this batch reach the control thread now, not after the next scan. */
	if (e->has_pushed) {
		ring_notify(&e->msg);
		e->has_pushed = false;
	}
}

static void teardown(struct eng *e)
{
	int64_t now = clk_now_ns(), end = now + CLK_NS_PER_SEC;

	for (unsigned ci = 0; ci < e->nconn; ci++)
		conn_close(e, &e->conns[ci], -ECANCELED, now);
	/* Bounded: wait for the cancellations to come back, at most a second. */
	for (int guard = 0; guard < 1000 && clk_now_ns() < end; guard++) {
		struct __kernel_timespec ts = { .tv_nsec = 10 * CLK_NS_PER_MS };
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, busy = 0;

		for (unsigned ci = 0; ci < e->nconn; ci++)
			busy += e->conns[ci].state == CONN_CLOSING;
		if (!busy)
			break;
		io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &ts, NULL);
		io_uring_for_each_cqe(&e->ring, head, cqe)
		{
			on_cqe(e, cqe, clk_now_ns());
			seen++;
		}
		io_uring_cq_advance(&e->ring, seen);
	}
	for (unsigned d = 0; d < e->cfg.ndev; d++)
		publish_rtt(e, d, clk_now_ns());
	e->ndirty = 0;
	if (e->has_pushed)
		ring_notify(&e->msg);
	eng_ring_exit(e);
}

void *eng_loop_main(void *arg)
{
	struct eng *e = arg;
	int64_t now = clk_now_ns();

	e->start_err = eng_ring_setup(e);
	if (e->start_err) {
		sem_post(&e->started);
		return NULL;
	}
	for (unsigned ci = 0; ci < e->nconn; ci++) {
		e->conns[ci].backoff_ns = e->cfg.reconnect_min_ns;
		e->conns[ci].timer_ns = now; /* connect at once */
	}
	e->nwork = 0;
	e->next_timer_ns = 0; /* the first turn services every connection */
	e->t_last_cmd_ns = now;
	e->failsafe_next_ns = now + e->cfg.failsafe_after_ns;
	for (unsigned ci = 0; ci < e->nconn; ci++)
		e->conns[ci].is_in_work = false;
	sem_post(&e->started);
	while (!atomic_load_explicit(&e->stop, memory_order_relaxed)) {
		turn(e);
		count(&e->turns, 1);
	}
	teardown(e);
	return NULL;
}
