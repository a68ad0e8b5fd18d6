// SPDX-License-Identifier: MIT
/*
 * Engine setup and the control-side API. The one idea: everything the I/O thread will ever
 * touch is allocated and prefaulted here, before it starts; the thread then creates its
 * io_uring itself, so the ring's single issuer is the thread that uses it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/engine_int.h"
#include "io/serial.h"
#include "rt/clock.h"

#define DEFAULT_TIMEOUT_NS	 CLK_NS_PER_SEC
#define DEFAULT_BACKOFF_NS	 CLK_NS_PER_SEC
#define DEFAULT_CONNECT_NS	 CLK_NS_PER_SEC
#define DEFAULT_RECONNECT_MIN_NS (100 * CLK_NS_PER_MS)
#define DEFAULT_RECONNECT_MAX_NS (5 * CLK_NS_PER_SEC)
#define START_TIMEOUT_S		 5

static const char *const err_names[ENG_ERR_END - ENG_ERR_BASE] = {
	[ENG_ESUPERSEDED - ENG_ERR_BASE] = "superseded by a newer command",
	[ENG_ENOTCONN - ENG_ERR_BASE] = "device connection is down (reconnecting)",
	[ENG_ELATE - ENG_ERR_BASE] = "late reply to a timed-out request",
	[ENG_EBADCMD - ENG_ERR_BASE] = "command names no device, block or valid write",
	[ENG_EQUEUE - ENG_ERR_BASE] = "no free write slot for the device",
};

const char *eng_strerror(int err)
{
	int e = err < 0 ? -err : err;

	if (e >= ENG_ERR_BASE && e < ENG_ERR_END)
		return err_names[e - ENG_ERR_BASE];
	if (e >= MB_ERR_BASE && e < MB_EXC_END)
		return mb_strerror(e);
	if (e >= SER_ERR_BASE && e < SER_ERR_END)
		return ser_strerror(e);
	if (e == 0)
		return "success";
	/* strerror() of glibc returns a static string for every errno it knows. */
	return strerror(e);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 2;

	while (p < n && p < (1u << 20))
		p <<= 1;
	return p;
}

static int check_dev(const struct eng_dev *d)
{
	struct in_addr a;

	switch (d->framing) {
	case ENG_FRAMING_SERIAL:
		if (memchr(d->device, 0, sizeof(d->device)) == NULL || d->device[0] != '/')
			return -EINVAL;
		if (ser_line_check(&d->line) < 0)
			return -EINVAL;
		break;
	case ENG_FRAMING_TCP:
	case ENG_FRAMING_RTU_TCP:
		if (memchr(d->host, 0, sizeof(d->host)) == NULL ||
		    inet_pton(AF_INET, d->host, &a) != 1 || d->port == 0)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	/* RTU: unit 0 is a broadcast (never answered) and 248..255 are reserved. */
	if (d->framing != ENG_FRAMING_TCP &&
	    (d->unit == MB_UNIT_BROADCAST || d->unit > MB_RTU_UNIT_MAX))
		return -EINVAL;
	if (d->nblocks > ENG_MAX_BLOCKS || d->timeout_ns < 0 || d->retry_backoff_ns < 0)
		return -EINVAL;
	for (unsigned b = 0; b < d->nblocks; b++) {
		const struct eng_block *k = &d->blocks[b];
		struct mb_req probe = { .fc = k->fc, .addr = k->start, .qty = k->count };
		uint8_t buf[MB_ADU_MAX];

		/* A block must be a request the codec would send: FC01..04 within limits. */
		if (k->fc < MB_FC_READ_COILS || k->fc > MB_FC_READ_INPUT_REGISTERS ||
		    mb_encode_req(buf, sizeof(buf), &probe) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Write every page (keeping its content: tables are built already), so the I/O thread takes
 * no page fault on first use. */
static void prefault(void *p, size_t size)
{
	volatile uint8_t *b = p;
	long page = sysconf(_SC_PAGESIZE);

	for (size_t off = 0; off < size; off += (size_t)page) {
		uint8_t keep = b[off];

		b[off] = keep;
	}
}

/* One connection: the same tty, or the same host:port with the same framing. */
static bool same_endpoint(const struct eng_dev *a, const struct eng_dev *b)
{
	if (a->framing != b->framing)
		return false;
	if (a->framing == ENG_FRAMING_SERIAL)
		return strcmp(a->device, b->device) == 0;
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Group devices by host:port into connections; lay out items. */
static int build_tables(struct eng *e)
{
	unsigned n = e->cfg.ndev, it = 0;

	e->ds = calloc(n, sizeof(*e->ds));
	e->conns = calloc(n, sizeof(*e->conns));
	if (!e->ds || !e->conns)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		unsigned c = e->nconn;

		/* An earlier device at the same endpoint: its connection is ours. */
		for (unsigned j = 0; j < i; j++)
			if (same_endpoint(&e->devs[i], &e->devs[j])) {
				c = e->ds[j].conn;
				break;
			}
		if (c == e->nconn) {
			struct eng_conn *k = &e->conns[e->nconn++];

			k->framing = e->devs[i].framing;
			k->sa.sin_family = AF_INET;
			k->sa.sin_port = htons(e->devs[i].port);
			if (k->framing == ENG_FRAMING_SERIAL) {
				k->dev0 = i;
				k->t35_ns = mb_rtu_t35_ns(e->devs[i].line.baud);
			} else {
				inet_pton(AF_INET, e->devs[i].host, &k->sa.sin_addr);
			}
			k->fd = -1;
			k->cur = -1;
		}
		e->ds[i].conn = c;
		e->conns[c].ndev++;
		e->ds[i].first_item = it;
		it += e->devs[i].nblocks + ENG_DEV_WRITE_ITEMS;
	}
	e->nitems = it;
	e->items = calloc(it, sizeof(*e->items));
	e->conn_items = calloc(it, sizeof(*e->conn_items));
	if (!e->items || !e->conn_items)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		unsigned nb = e->devs[i].nblocks;

		for (unsigned k = 0; k < nb + ENG_DEV_WRITE_ITEMS; k++) {
			struct eng_item *item = &e->items[e->ds[i].first_item + k];

			item->dev = (uint16_t)i;
			item->kind = k < nb ? ENG_CMD_POLL : ENG_CMD_WRITE;
			item->index = (uint8_t)(k < nb ? k : k - nb);
		}
	}
	/* Each connection's item list is a slice of conn_items, in device order. */
	it = 0;
	for (unsigned c = 0; c < e->nconn; c++) {
		e->conns[c].items = &e->conn_items[it];
		for (unsigned i = 0; i < n; i++) {
			if (e->ds[i].conn != c)
				continue;
			for (unsigned k = 0; k < e->devs[i].nblocks + ENG_DEV_WRITE_ITEMS; k++)
				e->conn_items[it++] = e->ds[i].first_item + k;
		}
		e->conns[c].nitems = (unsigned)(&e->conn_items[it] - e->conns[c].items);
	}
	return 0;
}

static void apply_defaults(struct eng *e)
{
	struct eng_cfg *c = &e->cfg;

	if (!c->connect_timeout_ns)
		c->connect_timeout_ns = DEFAULT_CONNECT_NS;
	if (!c->reconnect_min_ns)
		c->reconnect_min_ns = DEFAULT_RECONNECT_MIN_NS;
	if (!c->reconnect_max_ns)
		c->reconnect_max_ns = DEFAULT_RECONNECT_MAX_NS;
	if (!c->cmd_capacity)
		c->cmd_capacity = pow2_at_least(4 * c->ndev + 64);
	if (!c->msg_capacity)
		c->msg_capacity = pow2_at_least(4 * c->ndev * ENG_MAX_BLOCKS + 64);
	for (unsigned i = 0; i < c->ndev; i++) {
		struct eng_dev *d = &e->devs[i];

		if (!d->timeout_ns)
			d->timeout_ns = DEFAULT_TIMEOUT_NS;
		if (!d->retry_count)
			d->retry_count = 1;
		if (!d->retry_backoff_ns)
			d->retry_backoff_ns = DEFAULT_BACKOFF_NS;
	}
}

int eng_open(struct eng **out, const struct eng_cfg *cfg)
{
	struct eng *e;
	int err;

	*out = NULL;
	if (!cfg || !cfg->devs || cfg->ndev == 0 || cfg->ndev > ENG_MAX_DEVICES)
		return -EINVAL;
	if (cfg->priority < 0 || cfg->priority > THR_PRIO_MAX || cfg->failsafe_after_ns < 0)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->ndev; i++) {
		err = check_dev(&cfg->devs[i]);
		if (err)
			return err;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	e->devs = calloc(cfg->ndev, sizeof(*e->devs));
	if (!e->devs) {
		err = -ENOMEM;
		goto out_free;
	}
	memcpy(e->devs, cfg->devs, cfg->ndev * sizeof(*e->devs));
	e->cfg.devs = e->devs;
	apply_defaults(e);

	err = build_tables(e);
	if (err)
		goto out_free;
	for (unsigned i = 0; i < cfg->ndev; i++) {
		hist_reset(&e->ds[i].rtt);
		err = seqlock_init(&e->ds[i].rtt_pub, sizeof(struct hist));
		if (err)
			goto out_free;
		seqlock_write(&e->ds[i].rtt_pub, &e->ds[i].rtt);
	}
	e->cmd_batch = calloc(ENG_POP_BATCH, sizeof(*e->cmd_batch));
	e->dirty = calloc(cfg->ndev, sizeof(*e->dirty));
	e->work = calloc(e->nconn, sizeof(*e->work));
	if (!e->cmd_batch || !e->dirty || !e->work) {
		err = -ENOMEM;
		goto out_free;
	}
	err = ring_init(&e->cmd, NULL, sizeof(struct eng_cmd), e->cfg.cmd_capacity, RING_F_EVENTFD);
	if (err)
		goto out_free;
	err = ring_init(&e->msg, NULL, sizeof(struct eng_msg), e->cfg.msg_capacity, 0);
	if (err)
		goto out_free;

	/* Receive buffers: one pool for the provided buffer ring, or one per connection. */
	e->nbufs = pow2_at_least(e->nconn < 16 ? 16 : e->nconn);
	if (e->nbufs > 4096)
		e->nbufs = 4096;
	e->bufs = calloc((size_t)e->nbufs + e->nconn, ENG_RX_BUF);
	if (!e->bufs) {
		err = -ENOMEM;
		goto out_free;
	}
	for (unsigned c = 0; c < e->nconn; c++)
		e->conns[c].rx = e->bufs + ((size_t)e->nbufs + c) * ENG_RX_BUF;
	if (sem_init(&e->started, 0, 0)) {
		err = -errno;
		goto out_free;
	}
	e->has_sem = true;
	prefault(e->bufs, ((size_t)e->nbufs + e->nconn) * ENG_RX_BUF);
	prefault(e->items, e->nitems * sizeof(*e->items));
	prefault(e->conns, e->nconn * sizeof(*e->conns));
	prefault(e->ds, e->cfg.ndev * sizeof(*e->ds));
	*out = e;
	return 0;

out_free:
	eng_close(e);
	return err;
}

static bool probe_multishot(struct eng *e);

/* Runs on the I/O thread itself, so that the ring's single issuer is the thread using it. */
int eng_ring_setup(struct eng *e)
{
	static const unsigned tries[][2] = {
		[ENG_URING_BEST] = { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 1 },
		[ENG_URING_PLAIN] = { 0, 0 },
		[ENG_URING_SINGLE_ISSUER] = { IORING_SETUP_SINGLE_ISSUER, 0 },
		[ENG_URING_DEFER_TASKRUN] = { IORING_SETUP_SINGLE_ISSUER |
						  IORING_SETUP_DEFER_TASKRUN,
					      0 },
	};
	unsigned entries = 2 * e->nconn + 16, flags = tries[e->cfg.uring][0];
	bool may_fall_back = tries[e->cfg.uring][1];
	struct io_uring_params p;
	int err;

	if (entries > 32768)
		entries = 32768;
	for (;;) {
		memset(&p, 0, sizeof(p));
		p.flags = flags;
		/* The completion queue holds every connection's SQEs plus the wake read. */
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = 2 * entries;
		err = io_uring_queue_init_params(entries, &e->ring, &p);
		if (err != -EINVAL || !may_fall_back || flags == 0)
			break;
		/* Older kernels: drop DEFER_TASKRUN (6.1), then SINGLE_ISSUER (6.0). */
		flags = flags & IORING_SETUP_DEFER_TASKRUN ? IORING_SETUP_SINGLE_ISSUER : 0;
	}
	if (err)
		return err;
	e->has_ring = true;
	e->feat.single_issuer = flags & IORING_SETUP_SINGLE_ISSUER;
	e->feat.defer_taskrun = flags & IORING_SETUP_DEFER_TASKRUN;
	e->feat.ext_arg = p.features & IORING_FEAT_EXT_ARG;

	if (!e->cfg.no_buf_ring) {
		struct io_uring_buf_reg reg = { 0 };
		size_t size = (size_t)e->nbufs * sizeof(struct io_uring_buf);
		void *mem = NULL;

		if (posix_memalign(&mem, 4096, size) == 0) {
			memset(mem, 0, size);
			reg.ring_addr = (uintptr_t)mem;
			reg.ring_entries = e->nbufs;
			reg.bgid = 0;
			if (io_uring_register_buf_ring(&e->ring, &reg, 0) == 0) {
				e->br = mem;
				io_uring_buf_ring_init(e->br);
				for (unsigned i = 0; i < e->nbufs; i++)
					io_uring_buf_ring_add(
					    e->br, e->bufs + (size_t)i * ENG_RX_BUF, ENG_RX_BUF,
					    (uint16_t)i, io_uring_buf_ring_mask(e->nbufs), (int)i);
				io_uring_buf_ring_advance(e->br, (int)e->nbufs);
				e->feat.buf_ring = true;
				e->feat.recv_multishot = !e->cfg.no_multishot && probe_multishot(e);
			} else {
				free(mem);
			}
		}
	}
	return 0;
}

/*
 * Does this kernel keep a receive armed (IORING_RECV_MULTISHOT, 6.0+)? Asked the only way
 * that cannot lie: one multishot receive on a socketpair, a byte sent, the completion read.
 * Bounded: one second at most. Runs on the I/O thread before its loop.
 */
static bool probe_multishot(struct eng *e)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	const uint64_t ud = UINT64_MAX; /* never a real user_data: kind 0xFF */
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	bool ok = false, is_done = false, has_cancelled = false;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return false;
	sqe = io_uring_get_sqe(&e->ring);
	if (!sqe)
		goto out;
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, ud);
	if (io_uring_submit(&e->ring) != 1 || write(sv[1], "x", 1) != 1)
		goto out;
	/* Until the probe's receive is over: its first completion says whether it stays armed;
	 * if it does, cancel it and wait for its last one. At most 8 completions, 1 s each. */
	for (int i = 0; i < 8 && !is_done && io_uring_wait_cqe_timeout(&e->ring, &cqe, &ts) == 0;
	     i++) {
		unsigned flags = cqe->flags;
		bool is_probe = io_uring_cqe_get_data64(cqe) == ud;

		if (is_probe) {
			ok |= cqe->res == 1 && (flags & IORING_CQE_F_MORE);
			is_done = !(flags & IORING_CQE_F_MORE);
		}
		if (flags & IORING_CQE_F_BUFFER) {
			unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

			io_uring_buf_ring_add(e->br, e->bufs + (size_t)bid * ENG_RX_BUF, ENG_RX_BUF,
					      (uint16_t)bid, io_uring_buf_ring_mask(e->nbufs), 0);
			io_uring_buf_ring_advance(e->br, 1);
		}
		io_uring_cqe_seen(&e->ring, cqe);
		if (!is_done && !has_cancelled && (sqe = io_uring_get_sqe(&e->ring))) {
			io_uring_prep_cancel64(sqe, ud, 0);
			io_uring_sqe_set_data64(sqe, ud - 1);
			io_uring_submit(&e->ring);
			has_cancelled = true;
		}
	}
	/* The cancel's own completion, if it is still there. */
	while (io_uring_peek_cqe(&e->ring, &cqe) == 0)
		io_uring_cqe_seen(&e->ring, cqe);
out:
	close(sv[0]);
	close(sv[1]);
	return ok;
}

void eng_ring_exit(struct eng *e)
{
	if (e->br) {
		io_uring_unregister_buf_ring(&e->ring, 0);
		free(e->br);
		e->br = NULL;
	}
	if (e->has_ring)
		io_uring_queue_exit(&e->ring);
	e->has_ring = false;
}

int eng_start(struct eng *e)
{
	struct thr_attr a = { .name = "flux-io", .priority = e->cfg.priority, .cpu = e->cfg.cpu };
	struct timespec ts;
	int err;

	if (e->is_running)
		return -EALREADY;
	atomic_store(&e->stop, false);
	err = thr_start(&e->thread, &a, eng_loop_main, e);
	if (err)
		return err;
	e->is_running = true;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += START_TIMEOUT_S;
	while (sem_timedwait(&e->started, &ts) != 0) {
		if (errno != EINTR) {
			eng_stop(e);
			return -ETIMEDOUT;
		}
	}
	if (e->start_err) {
		err = e->start_err;
		eng_stop(e);
		return err;
	}
	return 0;
}

void eng_stop(struct eng *e)
{
	if (!e || !e->is_running)
		return;
	atomic_store(&e->stop, true);
	/* The loop keeps a read armed on this eventfd; wake it whether it sleeps or not. */
	eventfd_write(ring_wake_fd(&e->cmd), 1);
	thr_join(&e->thread, NULL);
	e->is_running = false;
}

void eng_close(struct eng *e)
{
	if (!e)
		return;
	eng_stop(e);
	for (unsigned c = 0; e->conns && c < e->nconn; c++)
		if (e->conns[c].fd >= 0)
			close(e->conns[c].fd);
	for (unsigned i = 0; e->ds && i < e->cfg.ndev; i++)
		seqlock_exit(&e->ds[i].rtt_pub);
	ring_exit(&e->cmd);
	ring_exit(&e->msg);
	if (e->has_sem)
		sem_destroy(&e->started);
	free(e->bufs);
	free(e->cmd_batch);
	free(e->dirty);
	free(e->work);
	free(e->items);
	free(e->conn_items);
	free(e->conns);
	free(e->ds);
	free(e->devs);
	free(e);
}

int eng_read_rtt(const struct eng *e, unsigned dev, struct hist *out)
{
	if (dev >= e->cfg.ndev)
		return -EINVAL;
	(void)seqlock_read(&e->ds[dev].rtt_pub, out); /* its result counts retries: not an error */
	return 0;
}

struct eng_features eng_features(const struct eng *e)
{
	return e->feat;
}

uint64_t eng_cmd_drops(const struct eng *e)
{
	return ring_drops(&e->cmd);
}

uint64_t eng_msg_drops(const struct eng *e)
{
	return ring_drops(&e->msg);
}

uint64_t eng_turns(const struct eng *e)
{
	return atomic_load_explicit(&e->turns, memory_order_relaxed);
}
