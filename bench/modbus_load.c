// SPDX-License-Identifier: MIT
/*
 * modbus_load: closed-loop Modbus TCP load client, four ways over the same N connections
 * (connection i goes to address base+i at one port, see bench/load_int.h): the Flux engine,
 * libmodbus with a thread per connection, libmodbus from one thread, and a raw io_uring
 * client that sends fixed bytes and counts reply bytes (no Modbus logic: the kernel's floor).
 * Each connection has at most one request in flight and sends its next when the reply
 * arrives, until R requests are done; one JSON line per run. --poll-once N instead times
 * one poll of N devices (all at once for flux and raw-uring, one after another for libmodbus).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <modbus.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "bench/load_int.h"
#include "io/engine.h"
#include "io/modbus.h"
#include "rt/clock.h"

#define MAX_REQUESTS (100ULL * 1000 * 1000)
#define POP_BATCH    256
#define STALL_NS     (5 * CLK_NS_PER_SEC) /* no reply for this long: the run failed */
#define TIMEOUT_NS   CLK_NS_PER_SEC	  /* per request (engine and libmodbus) */
#define RT_PRIORITY  50			  /* --rt: the engine's SCHED_FIFO priority */
#define POLL_WARMUP  5			  /* poll-once batches not measured */
#define RAW_RX	     512

enum op { OP_READ, OP_WRITE };
enum impl { IMPL_FLUX, IMPL_LM_THREADS, IMPL_LM_SINGLE, IMPL_RAW };

static const char *const impl_names[] = {
	[IMPL_FLUX] = "flux",
	[IMPL_LM_THREADS] = "libmodbus-threads",
	[IMPL_LM_SINGLE] = "libmodbus-single",
	[IMPL_RAW] = "raw-uring",
};

/* The command line. Read-only after parse_args(). */
struct opts {
	uint32_t base; /* first address, host order */
	uint16_t port;
	unsigned conns;
	uint64_t requests;
	enum op op;
	enum impl impl;
	bool has_rt;
	unsigned poll_once; /* devices; 0: load mode */
	unsigned batches;
	int64_t run_timeout_ns;
};

/*
 * One run's result. lat_ns: one sample per request (load) or per batch (poll-once), written
 * by whichever thread completed it, at its own index. Owned by main.
 */
struct result {
	int64_t *lat_ns;
	uint64_t nlat;
	_Atomic uint64_t errors;
	int first_err;
	int64_t t0_ns, t1_ns;
	struct rusage ru0, ru1;
};

/* ---- measuring ---------------------------------------------------------------------- */

static void mark_start(struct result *r)
{
	getrusage(RUSAGE_SELF, &r->ru0);
	r->t0_ns = clk_now_ns();
}

static void mark_end(struct result *r)
{
	r->t1_ns = clk_now_ns();
	getrusage(RUSAGE_SELF, &r->ru1);
}

static void count_error(struct result *r, int err)
{
	if (atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed) == 0)
		r->first_err = err;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Value at percentile p of sorted v[n]: rank ceil(p/100 x n), as rt/hist.h defines it. */
static double pct_us(const int64_t *v, uint64_t n, double p)
{
	uint64_t rank;

	if (n == 0)
		return 0;
	rank = (uint64_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1000.0;
}

static double cpu_us(const struct result *r)
{
	const struct rusage *a = &r->ru0, *b = &r->ru1;
	double s = (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) +
		   (double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec);
	double us = (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec) +
		    (double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec);

	return s * 1e6 + us;
}

static void print_load(const struct opts *o, struct result *r)
{
	double secs = (double)(r->t1_ns - r->t0_ns) / 1e9;

	qsort(r->lat_ns, r->nlat, sizeof(*r->lat_ns), cmp_i64);
	printf("{\"impl\":\"%s\",\"op\":\"%s\",\"conns\":%u,\"requests\":%llu,\"seconds\":%.3f,"
	       "\"req_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
	       "\"max_us\":%.1f,\"cpu_us_per_req\":%.2f}\n",
	       impl_names[o->impl], o->op == OP_READ ? "read" : "write", o->conns,
	       (unsigned long long)r->nlat, secs, secs > 0 ? (double)r->nlat / secs : 0,
	       pct_us(r->lat_ns, r->nlat, 50), pct_us(r->lat_ns, r->nlat, 99),
	       pct_us(r->lat_ns, r->nlat, 99.9), pct_us(r->lat_ns, r->nlat, 100),
	       r->nlat ? cpu_us(r) / (double)r->nlat : 0);
}

static void print_poll_once(const struct opts *o, struct result *r)
{
	qsort(r->lat_ns, r->nlat, sizeof(*r->lat_ns), cmp_i64);
	printf("{\"impl\":\"%s\",\"mode\":\"poll-once\",\"devices\":%u,\"batches\":%llu,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"cpu_us_per_batch\":%.1f}\n",
	       o->impl == IMPL_LM_SINGLE ? "libmodbus" : impl_names[o->impl], o->poll_once,
	       (unsigned long long)r->nlat, pct_us(r->lat_ns, r->nlat, 50),
	       pct_us(r->lat_ns, r->nlat, 99), pct_us(r->lat_ns, r->nlat, 100),
	       r->nlat ? cpu_us(r) / (double)r->nlat : 0);
}

/* ---- flux: the engine --------------------------------------------------------------- */

static void flux_cmd(const struct opts *o, struct eng_cmd *c, unsigned dev, uint32_t seq,
		     int64_t now)
{
	memset(c, 0, offsetof(struct eng_cmd, values) + sizeof(c->values[0]));
	c->dev = (uint16_t)dev;
	c->cycle = seq;
	c->t_push_ns = now;
	if (o->op == OP_READ || o->poll_once) {
		c->kind = ENG_CMD_POLL;
	} else {
		c->kind = ENG_CMD_WRITE;
		c->fc = MB_FC_WRITE_SINGLE_REGISTER;
		c->addr = LOAD_WRITE_ADDR;
		c->count = 1;
		c->values[0] = (uint16_t)seq;
	}
}

/* Wait for `want` messages; each one's latency goes to lat (if not NULL) and, while *issued
 * < limit, its device gets its next command. Returns 0 or -ETIMEDOUT on a stall. */
static int flux_drain(struct eng *e, const struct opts *o, struct result *r, int64_t *lat,
		      uint64_t want, uint64_t *issued, uint64_t limit, struct eng_msg *msgs,
		      struct eng_cmd *cmds)
{
	uint64_t got = 0;
	int64_t last = clk_now_ns();

	while (got < want) {
		unsigned n = eng_pop(e, msgs, POP_BATCH), k = 0;
		int64_t now;

		if (n == 0) {
			now = clk_now_ns();
			if (now - last > STALL_NS)
				return -ETIMEDOUT;
			eng_wait(e, now + 100 * CLK_NS_PER_MS);
			continue;
		}
		now = clk_now_ns();
		last = now;
		for (unsigned i = 0; i < n; i++) {
			const struct eng_msg *m = &msgs[i];

			if (m->err)
				count_error(r, m->err);
			if (lat)
				lat[got] = m->t_done_ns - m->t_cmd_ns;
			got++;
			if (*issued < limit) {
				flux_cmd(o, &cmds[k++], m->dev, (uint32_t)*issued, now);
				(*issued)++;
			}
		}
		if (k && eng_submit(e, cmds, k) != k)
			return -ENOBUFS;
	}
	return 0;
}

static int run_flux(const struct opts *o, struct result *r)
{
	unsigned n = o->poll_once ? o->poll_once : o->conns;
	struct eng_dev *devs = calloc(n, sizeof(*devs));
	struct eng_msg *msgs = calloc(POP_BATCH, sizeof(*msgs));
	struct eng_cmd *cmds = calloc(n > POP_BATCH ? n : POP_BATCH, sizeof(*cmds));
	struct eng_cfg cfg = { .devs = devs, .ndev = n, .cpu = -1 };
	struct eng *e = NULL;
	uint64_t issued;
	int err = -ENOMEM;

	if (!devs || !msgs || !cmds)
		goto out_free;
	for (unsigned i = 0; i < n; i++) {
		struct eng_dev *d = &devs[i];

		load_addr_str(o->base, i, d->host, sizeof(d->host));
		d->port = o->port;
		d->unit = LOAD_UNIT;
		d->timeout_ns = TIMEOUT_NS;
		d->retry_count = 1;
		d->nblocks = 1;
		d->blocks[0] = (struct eng_block){ .fc = MB_FC_READ_HOLDING_REGISTERS,
						   .start = LOAD_READ_ADDR,
						   .count = LOAD_READ_REGS };
	}
	cfg.priority = o->has_rt ? RT_PRIORITY : 0;
	err = eng_open(&e, &cfg);
	if (err) {
		fprintf(stderr, "modbus_load: eng_open: %s\n", eng_strerror(err));
		goto out_free;
	}
	err = eng_start(e);
	if (err) {
		fprintf(stderr, "modbus_load: eng_start: %s\n", eng_strerror(err));
		goto out_close;
	}

	/* Warm-up, not measured: every connection up and one request answered on each. */
	for (unsigned i = 0; i < n; i++)
		flux_cmd(o, &cmds[i], i, 0, clk_now_ns());
	issued = 0;
	if (eng_submit(e, cmds, n) != n) {
		err = -ENOBUFS;
		goto out_stop;
	}
	err = flux_drain(e, o, r, NULL, n, &issued, 0, msgs, cmds);
	if (err || atomic_load(&r->errors)) {
		fprintf(stderr, "modbus_load: flux warm-up: %s\n",
			err ? eng_strerror(err) : eng_strerror(r->first_err));
		err = err ? err : r->first_err;
		goto out_stop;
	}

	if (o->poll_once) {
		/* The control cycle's view: submit N polls, done when the last sample is popped. */
		for (unsigned b = 0; b < POLL_WARMUP + o->batches && !err; b++) {
			int64_t t0;

			if (b == POLL_WARMUP)
				mark_start(r);
			t0 = clk_now_ns();
			for (unsigned i = 0; i < n; i++)
				flux_cmd(o, &cmds[i], i, b, t0);
			if (eng_submit(e, cmds, n) != n) {
				err = -ENOBUFS;
				break;
			}
			err = flux_drain(e, o, r, NULL, n, &issued, 0, msgs, cmds);
			if (b >= POLL_WARMUP)
				r->lat_ns[r->nlat++] = clk_now_ns() - t0;
		}
		mark_end(r);
	} else {
		uint64_t first = o->requests < n ? o->requests : n;

		mark_start(r);
		issued = first;
		for (unsigned i = 0; i < first; i++)
			flux_cmd(o, &cmds[i], i, i, r->t0_ns);
		if (eng_submit(e, cmds, (unsigned)first) != first)
			err = -ENOBUFS;
		else
			err = flux_drain(e, o, r, r->lat_ns, o->requests, &issued, o->requests,
					 msgs, cmds);
		mark_end(r);
		r->nlat = o->requests;
	}
	if (err)
		fprintf(stderr, "modbus_load: flux: %s\n", eng_strerror(err));
	if (eng_cmd_drops(e) || eng_msg_drops(e)) {
		fprintf(stderr, "modbus_load: flux: %llu command and %llu message drops\n",
			(unsigned long long)eng_cmd_drops(e), (unsigned long long)eng_msg_drops(e));
		err = err ? err : -ENOBUFS;
	}
out_stop:
	eng_stop(e);
out_close:
	eng_close(e);
out_free:
	free(cmds);
	free(msgs);
	free(devs);
	return err;
}

/* ---- libmodbus ---------------------------------------------------------------------- */

/* Connect n libmodbus contexts, one per address. Returns 0 or -errno (contexts freed). */
static int lm_connect_all(const struct opts *o, unsigned n, modbus_t **ctx)
{
	for (unsigned i = 0; i < n; i++) {
		char host[INET_ADDRSTRLEN];
		int err;

		load_addr_str(o->base, i, host, sizeof(host));
		ctx[i] = modbus_new_tcp(host, o->port);
		if (!ctx[i]) {
			err = -errno;
			goto fail;
		}
		modbus_set_slave(ctx[i], LOAD_UNIT);
		modbus_set_response_timeout(ctx[i], TIMEOUT_NS / CLK_NS_PER_SEC, 0);
		if (modbus_connect(ctx[i]) < 0) {
			err = -errno;
			fprintf(stderr, "modbus_load: libmodbus connect %s:%u: %s\n", host, o->port,
				modbus_strerror(errno));
			modbus_free(ctx[i]);
			goto fail;
		}
		/* libmodbus waits with select(): a descriptor past FD_SETSIZE overflows its set. */
		if (modbus_get_socket(ctx[i]) >= FD_SETSIZE) {
			fprintf(stderr,
				"modbus_load: libmodbus cannot use fd %d >= FD_SETSIZE "
				"(%d): it waits with select()\n",
				modbus_get_socket(ctx[i]), FD_SETSIZE);
			modbus_close(ctx[i]);
			modbus_free(ctx[i]);
			err = -EMFILE;
			goto fail;
		}
		continue;
	fail:
		while (i--) {
			modbus_close(ctx[i]);
			modbus_free(ctx[i]);
		}
		return err;
	}
	return 0;
}

static void lm_free_all(modbus_t **ctx, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		modbus_close(ctx[i]);
		modbus_free(ctx[i]);
	}
}

/* One request on ctx; returns 0 or -errno. */
static int lm_request(modbus_t *ctx, enum op op, uint16_t seq)
{
	uint16_t regs[LOAD_READ_REGS];
	int rc;

	if (op == OP_READ)
		rc = modbus_read_registers(ctx, LOAD_READ_ADDR, LOAD_READ_REGS, regs);
	else
		rc = modbus_write_register(ctx, LOAD_WRITE_ADDR, seq);
	return rc < 0 ? -errno : 0;
}

/* Shared by the libmodbus worker threads; the gate opens once, when all are started. */
struct lm_shared {
	const struct opts *o;
	struct result *r;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool is_open;
	_Atomic uint64_t next; /* next request index to claim */
};

struct lm_worker {
	struct lm_shared *sh;
	modbus_t *ctx;
	pthread_t tid;
};

static void *lm_worker_main(void *arg)
{
	struct lm_worker *w = arg;
	struct lm_shared *sh = w->sh;
	uint64_t idx;

	pthread_mutex_lock(&sh->lock);
	while (!sh->is_open)
		pthread_cond_wait(&sh->cond, &sh->lock);
	pthread_mutex_unlock(&sh->lock);
	while ((idx = atomic_fetch_add_explicit(&sh->next, 1, memory_order_relaxed)) <
	       sh->o->requests) {
		int64_t t = clk_now_ns();
		int err = lm_request(w->ctx, sh->o->op, (uint16_t)idx);

		sh->r->lat_ns[idx] = clk_now_ns() - t;
		if (err)
			count_error(sh->r, err);
	}
	return NULL;
}

static int run_lm_threads(const struct opts *o, struct result *r, modbus_t **ctx)
{
	struct lm_shared sh = {
		.o = o, .r = r, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER
	};
	struct lm_worker *w = calloc(o->conns, sizeof(*w));
	pthread_attr_t attr;
	unsigned started = 0;
	int err = 0;

	if (!w)
		return -ENOMEM;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	for (; started < o->conns; started++) {
		w[started] = (struct lm_worker){ .sh = &sh, .ctx = ctx[started] };
		err = -pthread_create(&w[started].tid, &attr, lm_worker_main, &w[started]);
		if (err) {
			fprintf(stderr, "modbus_load: thread %u: %s\n", started, strerror(-err));
			atomic_store(&sh.next, o->requests); /* the ones started find no work */
			break;
		}
	}
	pthread_attr_destroy(&attr);
	mark_start(r);
	pthread_mutex_lock(&sh.lock);
	sh.is_open = true;
	pthread_cond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	mark_end(r);
	r->nlat = err ? 0 : o->requests;
	free(w);
	return err;
}

static int run_lm_single(const struct opts *o, struct result *r, modbus_t **ctx)
{
	unsigned n = o->poll_once ? o->poll_once : o->conns;

	if (o->poll_once) {
		for (unsigned b = 0; b < POLL_WARMUP + o->batches; b++) {
			int64_t t0;

			if (b == POLL_WARMUP)
				mark_start(r);
			t0 = clk_now_ns();
			for (unsigned i = 0; i < n; i++) {
				int err = lm_request(ctx[i], OP_READ, 0);

				if (err)
					count_error(r, err);
			}
			if (b >= POLL_WARMUP)
				r->lat_ns[r->nlat++] = clk_now_ns() - t0;
		}
		mark_end(r);
		return 0;
	}
	mark_start(r);
	for (uint64_t idx = 0; idx < o->requests; idx++) {
		int64_t t = clk_now_ns();
		int err = lm_request(ctx[idx % n], o->op, (uint16_t)idx);

		r->lat_ns[idx] = clk_now_ns() - t;
		if (err)
			count_error(r, err);
	}
	mark_end(r);
	r->nlat = o->requests;
	return 0;
}

static int run_libmodbus(const struct opts *o, struct result *r)
{
	unsigned n = o->poll_once ? o->poll_once : o->conns;
	modbus_t **ctx = calloc(n, sizeof(*ctx));
	int err;

	if (!ctx)
		return -ENOMEM;
	err = lm_connect_all(o, n, ctx);
	if (err)
		goto out_free;
	/* Warm-up, not measured: one request on every connection. */
	for (unsigned i = 0; i < n && !err; i++)
		err = lm_request(ctx[i], o->op, 0);
	if (err) {
		fprintf(stderr, "modbus_load: libmodbus warm-up: %s\n", modbus_strerror(-err));
		goto out_close;
	}
	if (o->impl == IMPL_LM_THREADS)
		err = run_lm_threads(o, r, ctx);
	else
		err = run_lm_single(o, r, ctx);
out_close:
	lm_free_all(ctx, n);
out_free:
	free(ctx);
	return err;
}

/* ---- raw io_uring: the floor -------------------------------------------------------- */

/* One connection of the raw client. Owned by the client thread. */
struct raw_conn {
	int fd;
	unsigned got; /* reply bytes received towards the current reply */
	int64_t t_sent_ns;
	uint8_t rx[RAW_RX];
};

/* The raw client: fixed request bytes, a reply is rsp_len bytes. Owned by its one thread. */
struct raw_client {
	struct io_uring ring;
	struct raw_conn *cs;
	unsigned n;
	uint8_t req[MB_ADU_MAX];
	unsigned req_len;
	unsigned rsp_len;
};

enum { RAW_UD_SEND = 1, RAW_UD_RECV = 2 };

static int raw_ring_init(struct raw_client *rc)
{
	unsigned entries = 2 * rc->n + 16;
	unsigned flags[] = { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
			     IORING_SETUP_SINGLE_ISSUER, 0 };
	int err = -EINVAL;

	if (entries > 32768)
		entries = 32768;
	/* The engine's choice (ENG_URING_BEST), with the same fallbacks. */
	for (unsigned k = 0; k < 3 && err == -EINVAL; k++) {
		struct io_uring_params p = { .flags = flags[k] | IORING_SETUP_CQSIZE,
					     .cq_entries = 2 * entries };

		err = io_uring_queue_init_params(entries, &rc->ring, &p);
	}
	return err;
}

static struct io_uring_sqe *raw_sqe(struct raw_client *rc)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rc->ring);

	if (!sqe) {
		io_uring_submit(&rc->ring);
		sqe = io_uring_get_sqe(&rc->ring);
	}
	return sqe;
}

/* The floor's send: the engine's I/O (a send and a recv SQE per request, both completions
 * reaped) without its logic. (Sends with IOSQE_CQE_SKIP_SUCCESS measured no different.) */
static void raw_send(struct raw_client *rc, unsigned ci, int64_t now)
{
	struct io_uring_sqe *sqe = raw_sqe(rc);

	io_uring_prep_send(sqe, rc->cs[ci].fd, rc->req, rc->req_len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)RAW_UD_SEND << 32 | ci);
	rc->cs[ci].t_sent_ns = now;
}

static void raw_recv(struct raw_client *rc, unsigned ci)
{
	struct io_uring_sqe *sqe = raw_sqe(rc);
	struct raw_conn *c = &rc->cs[ci];

	io_uring_prep_recv(sqe, c->fd, c->rx, sizeof(c->rx), 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)RAW_UD_RECV << 32 | ci);
}

static int raw_connect(const struct opts *o, struct raw_conn *c, unsigned i)
{
	struct sockaddr_in sa = load_addr(o->base, i, o->port);
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(c->fd);
		c->fd = -1;
		return err;
	}
	return 0;
}

/*
 * Closed loop until `total` replies: each completed reply sends the next request on its
 * connection while *sent < total. lat gets one sample per reply (NULL: none). Batch mode
 * (poll-once): send one request on each connection, then call with total == *sent == n.
 * Returns 0 or -errno.
 */
static int raw_loop(struct raw_client *rc, uint64_t total, uint64_t *sent, int64_t *lat)
{
	uint64_t done = 0;
	int64_t last = clk_now_ns();

	while (done < total) {
		struct __kernel_timespec ts = { .tv_nsec = 100 * CLK_NS_PER_MS };
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int64_t now;
		int ret = io_uring_submit_and_wait_timeout(&rc->ring, &cqe, 1, &ts, NULL);

		now = clk_now_ns();
		if (ret == -ETIME || ret == -EINTR) {
			if (now - last > STALL_NS)
				return -ETIMEDOUT;
			continue;
		}
		if (ret < 0)
			return ret;
		last = now;
		io_uring_for_each_cqe(&rc->ring, head, cqe)
		{
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			unsigned ci = (unsigned)ud;
			struct raw_conn *c = &rc->cs[ci];
			int res = cqe->res;

			seen++;
			if ((ud >> 32) == RAW_UD_SEND) {
				if (res != (int)rc->req_len)
					return res < 0 ? res : -EIO; /* short send: not expected */
				continue;
			}
			if (res <= 0)
				return res < 0 ? res : -ECONNRESET;
			c->got += (unsigned)res;
			raw_recv(rc, ci);
			if (c->got < rc->rsp_len)
				continue;
			if (c->got > rc->rsp_len)
				return -EPROTO; /* more than one reply: cannot be with one in flight
						 */
			c->got = 0;
			if (lat)
				lat[done] = now - c->t_sent_ns;
			done++;
			if (*sent < total) {
				raw_send(rc, ci, now);
				(*sent)++;
			}
		}
		io_uring_cq_advance(&rc->ring, seen);
	}
	return 0;
}

static int run_raw(const struct opts *o, struct result *r)
{
	struct raw_client *rc = calloc(1, sizeof(*rc));
	struct mb_req q = { .tid = 1, .unit = LOAD_UNIT };
	unsigned opened = 0;
	uint64_t sent;
	int err = -ENOMEM;

	if (!rc)
		return -ENOMEM;
	rc->n = o->poll_once ? o->poll_once : o->conns;
	rc->cs = calloc(rc->n, sizeof(*rc->cs));
	if (!rc->cs)
		goto out_free;
	if (o->op == OP_READ || o->poll_once) {
		q.fc = MB_FC_READ_HOLDING_REGISTERS;
		q.addr = LOAD_READ_ADDR;
		q.qty = LOAD_READ_REGS;
		rc->rsp_len = MB_MBAP_SIZE + 2 + 2 * LOAD_READ_REGS;
	} else {
		q.fc = MB_FC_WRITE_SINGLE_REGISTER;
		q.addr = LOAD_WRITE_ADDR;
		q.qty = 1;
		q.value = 1234;
		rc->rsp_len = MB_MBAP_SIZE + 5;
	}
	rc->req_len = (unsigned)mb_encode_req(rc->req, sizeof(rc->req), &q);
	for (; opened < rc->n; opened++) {
		err = raw_connect(o, &rc->cs[opened], opened);
		if (err) {
			fprintf(stderr, "modbus_load: raw connect #%u: %s\n", opened,
				strerror(-err));
			goto out_close;
		}
	}
	err = raw_ring_init(rc);
	if (err) {
		fprintf(stderr, "modbus_load: io_uring_queue_init: %s\n", strerror(-err));
		goto out_close;
	}
	/* Warm-up, not measured: one request on each connection; then recv stays armed. */
	for (unsigned i = 0; i < rc->n; i++) {
		raw_recv(rc, i);
		raw_send(rc, i, clk_now_ns());
	}
	sent = rc->n;
	err = raw_loop(rc, rc->n, &sent, NULL);
	if (err)
		goto out_ring;

	if (o->poll_once) {
		for (unsigned b = 0; b < POLL_WARMUP + o->batches && !err; b++) {
			int64_t t0;

			if (b == POLL_WARMUP)
				mark_start(r);
			t0 = clk_now_ns();
			for (unsigned i = 0; i < rc->n; i++)
				raw_send(rc, i, t0);
			sent = rc->n;
			err = raw_loop(rc, rc->n, &sent, NULL);
			if (b >= POLL_WARMUP)
				r->lat_ns[r->nlat++] = clk_now_ns() - t0;
		}
		mark_end(r);
	} else {
		uint64_t first = o->requests < rc->n ? o->requests : rc->n;

		mark_start(r);
		for (unsigned i = 0; i < first; i++)
			raw_send(rc, i, r->t0_ns);
		sent = first;
		err = raw_loop(rc, o->requests, &sent, r->lat_ns);
		mark_end(r);
		r->nlat = o->requests;
	}
out_ring:
	if (err)
		fprintf(stderr, "modbus_load: raw-uring: %s\n", strerror(-err));
	io_uring_queue_exit(&rc->ring);
out_close:
	while (opened--)
		close(rc->cs[opened].fd);
	free(rc->cs);
out_free:
	free(rc);
	return err;
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: modbus_load --host A --port P --conns N --requests R --op read|write\n"
	    "                   --impl flux|libmodbus-threads|libmodbus-single|raw-uring [--rt]\n"
	    "       modbus_load --host A --port P --poll-once N [--batches B]\n"
	    "                   --impl flux|libmodbus|raw-uring [--rt]\n"
	    "  connection i goes to address A+i (all in 127.0.0.0/8): start modbus_srv with\n"
	    "  --addrs >= N. Load mode: closed loop, one request in flight per connection,\n"
	    "  R requests in all. Poll-once: time to read N devices once (B batches, default\n"
	    "  50, after %d warm-up). One JSON line on stdout; exit 1 on any error.\n",
	    POLL_WARMUP);
}

static int parse_impl(const char *s, enum impl *out)
{
	for (unsigned k = 0; k < sizeof(impl_names) / sizeof(impl_names[0]); k++)
		if (!strcmp(s, impl_names[k])) {
			*out = (enum impl)k;
			return 0;
		}
	if (!strcmp(s, "libmodbus")) {
		*out = IMPL_LM_SINGLE;
		return 0;
	}
	return -EINVAL;
}

/* Returns 0, or 2 (usage) after saying why. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	const char *host = NULL;
	bool has_port = false, has_impl = false, has_op = false;
	char err[160];
	uint64_t v;

	*o = (struct opts){ .batches = 50, .run_timeout_ns = 600 * CLK_NS_PER_SEC };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(a, "--rt")) {
			o->has_rt = true;
			continue;
		}
		if (!val) {
			fprintf(stderr, "modbus_load: %s needs a value\n", a);
			goto bad;
		}
		i++;
		if (!strcmp(a, "--host")) {
			host = val;
		} else if (!strcmp(a, "--port")) {
			if (load_parse_u64(val, 1, 65535, &v))
				goto bad_val;
			o->port = (uint16_t)v;
			has_port = true;
		} else if (!strcmp(a, "--conns")) {
			if (load_parse_u64(val, 1, LOAD_MAX_CONNS, &v))
				goto bad_val;
			o->conns = (unsigned)v;
		} else if (!strcmp(a, "--requests")) {
			if (load_parse_u64(val, 1, MAX_REQUESTS, &v))
				goto bad_val;
			o->requests = v;
		} else if (!strcmp(a, "--poll-once")) {
			if (load_parse_u64(val, 1, LOAD_MAX_CONNS, &v))
				goto bad_val;
			o->poll_once = (unsigned)v;
		} else if (!strcmp(a, "--batches")) {
			if (load_parse_u64(val, 1, 100000, &v))
				goto bad_val;
			o->batches = (unsigned)v;
		} else if (!strcmp(a, "--op")) {
			if (!strcmp(val, "read"))
				o->op = OP_READ;
			else if (!strcmp(val, "write"))
				o->op = OP_WRITE;
			else
				goto bad_val;
			has_op = true;
		} else if (!strcmp(a, "--impl")) {
			if (parse_impl(val, &o->impl))
				goto bad_val;
			has_impl = true;
		} else {
			fprintf(stderr, "modbus_load: unknown option %s\n", a);
			goto bad;
		}
		continue;
	bad_val:
		fprintf(stderr, "modbus_load: bad value for %s: '%s'\n", a, val);
		goto bad;
	}
	if (!host || !has_port || !has_impl) {
		fprintf(stderr, "modbus_load: --host, --port and --impl are required\n");
		goto bad;
	}
	if (o->poll_once) {
		if (o->impl == IMPL_LM_THREADS) {
			fprintf(stderr, "modbus_load: --poll-once compares flux, libmodbus (one "
					"thread, one device after another) and raw-uring\n");
			goto bad;
		}
		o->conns = o->poll_once;
	} else if (!o->conns || !o->requests || !has_op) {
		fprintf(stderr, "modbus_load: --conns, --requests and --op are required\n");
		goto bad;
	}
	if (load_parse_base(host, o->conns, &o->base, err, sizeof(err))) {
		fprintf(stderr, "modbus_load: refusing: %s\n", err);
		return 2;
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct result r = { 0 };
	uint64_t nsamples;
	long nofile;
	int err, ret;

	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret;
	signal(SIGPIPE, SIG_IGN);
	nofile = load_raise_nofile(2 * (unsigned long)o.conns + 64);
	if (nofile < 0 || (unsigned long)nofile < o.conns + 32UL) {
		fprintf(stderr, "modbus_load: RLIMIT_NOFILE too low for %u connections\n", o.conns);
		return 1;
	}
	nsamples = o.poll_once ? o.batches : o.requests;
	r.lat_ns = calloc(nsamples, sizeof(*r.lat_ns));
	if (!r.lat_ns) {
		fprintf(stderr, "modbus_load: out of memory for %llu samples\n",
			(unsigned long long)nsamples);
		return 1;
	}
	/* Touch the samples now, not during the run. */
	memset(r.lat_ns, 0, nsamples * sizeof(*r.lat_ns));

	switch (o.impl) {
	case IMPL_FLUX:
		err = run_flux(&o, &r);
		break;
	case IMPL_RAW:
		err = run_raw(&o, &r);
		break;
	default:
		err = run_libmodbus(&o, &r);
		break;
	}
	ret = 0;
	if (err) {
		ret = 1;
	} else {
		if (o.poll_once)
			print_poll_once(&o, &r);
		else
			print_load(&o, &r);
		if (atomic_load(&r.errors)) {
			fprintf(stderr, "modbus_load: %s: %llu requests failed (first: %s)\n",
				impl_names[o.impl], (unsigned long long)atomic_load(&r.errors),
				o.impl == IMPL_FLUX ? eng_strerror(r.first_err)
						    : strerror(-r.first_err));
			ret = 1;
		}
	}
	free(r.lat_ns);
	return ret;
}
