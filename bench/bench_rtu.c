// SPDX-License-Identifier: MIT
/*
 * bench_rtu: Modbus RTU on one serial line (issue 17). The time to poll N meters once (N = 1,
 * 4, 8, 16 units on the one line, one FC03 read of 32 registers each) at 9600, 19200 and
 * 115200 baud, 8N2, on a pty made here, against the wire-time limit; Flux's engine and
 * libmodbus's RTU client (modbus_new_rtu on the same pty) side by side through the same
 * responder; then CPU per request, RTU on the pty against Modbus TCP on 127.0.0.1 (replies at
 * once, and 1.75 ms late: the sleep RTU's t3.5 costs, without a tty), for both.
 * Prints tables and, with --json, writes the figures; never asserts a time. Every register
 * read is checked against what the responder serves (a wrong one ends the run, exit 1).
 *
 * The one idea: a pty has no baud rate (bytes cross at once), so the responder is a paced line
 * and device. A request is taken to have finished arriving its wire time after the responder
 * read its last byte (mb_rtu_wire_ns: bytes x 11 bits / baud; 8N2, the spec's format without
 * parity, is 11 bits a character, so the figure is exact); the device answers TURNAROUND_NS after
 * that; the reply goes out in chunks of CHUNK_BYTES (a UART FIFO's or a USB adapter's delivery),
 * each written when its last byte would have crossed the line (clock_nanosleep to the deadline).
 * The limit of one round is then, per request, wire(request) + turnaround + wire(reply) + t3.5 (the
 * silence the master keeps before each request; rounds run back to back, so every request has one
 * before it). Measured: a round's wall time, POLL pushed (first modbus_read_registers called) ->
 * last block received (last call returned). The responder also measures, per request, the silence
 * the client left after the last reply (a master that keeps t3.5 leaves >= t3.5) and its own
 * lateness against the paced deadline (what it adds to every round).
 *
 *   bench_rtu [--json FILE]   (QUICK=1: a subset, shorter windows: under 20 s)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "io/engine.h"
#include "io/modbus.h"
#include "io/serial.h"
#include "rt/clock.h"

#define MAX_METERS    16
#define BLOCK_FC      MB_FC_READ_HOLDING_REGISTERS
#define BLOCK_START   0x0000 /* an Acuvim II's voltages, currents and powers, and beyond */
#define BLOCK_REGS    32
#define TURNAROUND_NS (1 * CLK_NS_PER_MS) /* the device's think time, request end -> reply */
#define CHUNK_BYTES   16		  /* reply bytes the responder writes at once, paced */
/* 8N2: 11 bits a character, as mb_rtu_wire_ns counts. Not 8E1: a pty keeps no parity, and
 * asking it for PARENB when it already has none is tcsetattr() EINVAL on Linux 6.18. */
#define STOP_BITS     2
#define STAMPS_MAX    16384 /* gaps and lateness samples per series */
#define POLL_MS	      20    /* the responders' poll, to see stop */

static const uint32_t bauds[] = { 9600, 19200, 115200 };
static const unsigned meters_full[] = { 1, 4, 8, 16 };
static const unsigned meters_quick[] = { 1, 4, 8 };
#define N_BAUDS	     (sizeof(bauds) / sizeof(bauds[0]))
#define MAX_N_METERS (sizeof(meters_full) / sizeof(meters_full[0]))

/* Per series (one client in one cell): rounds for ~budget, within [min, max]. */
struct pace {
	int64_t budget_ns;
	unsigned min_rounds, max_rounds;
	unsigned cpu_tcp, cpu_rtu; /* rounds of the CPU runs (one request each) */
};
static const struct pace pace_full = { 3 * CLK_NS_PER_SEC, 5, 300, 5000, 2000 };
static const struct pace pace_quick = { 300 * CLK_NS_PER_MS, 2, 30, 1000, 300 };

/*
 * The CPU rows: TCP answered at once; TCP answered after TCP_WAIT_NS, so that each client
 * sleeps per request about as long as Flux does on RTU (t3.5 at 115200), which sets apart
 * what sleeping costs from what the tty costs; RTU on the pty, answered at once.
 */
#define N_CPU_ROWS  6
#define TCP_WAIT_NS MB_RTU_T35_FIXED_NS

enum impl { IMPL_FLUX, IMPL_LIBMODBUS, IMPL_N };
static const char *const impl_key[IMPL_N] = { "flux", "libmodbus" };
static const char *const impl_label[IMPL_N] = { "Flux engine", "libmodbus 3.1" };

/* ---- the paced serial responder ----------------------------------------------------- */

/*
 * The device end of the pty: units 1..MAX_METERS, every holding register a value of its own
 * (reg_value). Its thread owns the master fd and the splitter; the stamps are shared with the
 * main thread under lock (the main thread resets them between series, when the line is idle).
 */
struct resp {
	int master, spare; /* spare: a slave fd held open, so the master never reads EIO */
	char slave[64];
	pthread_t thread;
	clockid_t clock;
	bool is_running;
	atomic_bool stop;
	_Atomic uint32_t baud; /* pacing; 0: replies written whole at once, no waits */
	pthread_mutex_t lock;
	/* The silence before each request: its first bytes read - the last reply's last write
	 * started. Both ends err long (a delay in the responder never makes a gap short). */
	int64_t gap_ns[STAMPS_MAX];
	int64_t late_ns[STAMPS_MAX]; /* each reply's last chunk: written - due */
	unsigned n_gap, n_late;
	uint64_t requests, bad; /* whole requests served; frames refused or writes failed */
	int64_t last_write_ns;	/* end of the last reply; 0: none since the reset */
};

static uint16_t reg_value(unsigned unit, unsigned addr)
{
	return (uint16_t)(unit << 10 ^ addr * 7 ^ 0x5A5A);
}

static void sleep_until(int64_t t_ns)
{
	struct timespec ts = clk_ns_to_ts(t_ns);

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* All n bytes to a non-blocking fd within 1 s. 0 or -errno. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
	int64_t end = clk_now_ns() + CLK_NS_PER_SEC;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (clk_now_ns() > end)
			return -ETIMEDOUT;
		(void)poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 10);
	}
	return 0;
}

/* One request frame, read whole at t_rx: the reply, paced as the line would carry it. */
static void resp_serve(struct resp *r, const uint8_t *frame, size_t len, int64_t t_rx)
{
	uint8_t payload[2 * MB_MAX_READ_REGS], out[MB_RTU_ADU_MAX];
	uint32_t baud = atomic_load_explicit(&r->baud, memory_order_relaxed);
	int64_t due = 0,
		now = 0; /* now: just before the last write (the reply's end on the line) */
	struct mb_req q;
	int n, err = 0;

	if (mb_rtu_decode_req(frame, len, &q) || q.unit < 1 || q.unit > MAX_METERS ||
	    (q.fc != MB_FC_READ_HOLDING_REGISTERS && q.fc != MB_FC_READ_INPUT_REGISTERS)) {
		pthread_mutex_lock(&r->lock);
		r->bad++;
		pthread_mutex_unlock(&r->lock);
		return; /* not one of ours: silence, as a device on a bus */
	}
	for (unsigned i = 0; i < q.qty; i++)
		mb_put_u16(payload + 2 * i, reg_value(q.unit, q.addr + i));
	n = mb_rtu_encode_rsp(out, sizeof(out), &q, payload);
	if (n < 0)
		return;
	if (baud) {
		/* The request ends on the line its wire time after we read it; the reply starts
		 * a turnaround later, and each chunk is read when its last byte would arrive. */
		int64_t start = t_rx + mb_rtu_wire_ns(baud, len) + TURNAROUND_NS;

		for (int off = 0; off < n && !err; off += CHUNK_BYTES) {
			int k = n - off < CHUNK_BYTES ? n - off : CHUNK_BYTES;

			due = start + mb_rtu_wire_ns(baud, (size_t)(off + k));
			sleep_until(due);
			now = clk_now_ns();
			err = write_all(r->master, out + off, (size_t)k);
		}
	} else {
		now = clk_now_ns();
		err = write_all(r->master, out, (size_t)n);
	}
	pthread_mutex_lock(&r->lock);
	r->requests++;
	if (err)
		r->bad++;
	if (baud && r->n_late < STAMPS_MAX)
		r->late_ns[r->n_late++] = now - due;
	r->last_write_ns = now;
	pthread_mutex_unlock(&r->lock);
}

static void *resp_main(void *arg)
{
	struct resp *r = arg;
	struct mb_rtu_splitter sp = { 0 };
	bool is_awaiting_gap = false; /* the next bytes start the request after our reply */
	uint8_t buf[512];

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct pollfd pfd = { .fd = r->master, .events = POLLIN };
		const uint8_t *frame;
		size_t off = 0, used;
		ssize_t n;
		int64_t now;
		int len;

		if (poll(&pfd, 1, POLL_MS) != 1)
			continue;
		n = read(r->master, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR && errno != EIO)
				break;
			if (n < 0 && errno == EIO) /* no slave open: wait for the next client */
				usleep(1000);
			continue;
		}
		now = clk_now_ns();
		pthread_mutex_lock(&r->lock);
		if (is_awaiting_gap && r->last_write_ns && r->n_gap < STAMPS_MAX)
			r->gap_ns[r->n_gap++] = now - r->last_write_ns;
		is_awaiting_gap = false;
		pthread_mutex_unlock(&r->lock);
		/* Feed the whole read, then call again until nothing is left (held-over bytes). */
		for (;;) {
			len = mb_rtu_split(&sp, NULL, buf + off, (size_t)n - off, &used, &frame);
			off += used;
			if (len <= 0)
				break;
			resp_serve(r, frame, (size_t)len, now);
			is_awaiting_gap = true;
		}
	}
	return NULL;
}

/* Gaps and lateness forgotten, for the next series. */
static void resp_reset(struct resp *r)
{
	pthread_mutex_lock(&r->lock);
	r->n_gap = r->n_late = 0;
	r->last_write_ns = 0;
	pthread_mutex_unlock(&r->lock);
}

static int resp_start(struct resp *r)
{
	struct termios t;
	int err;

	r->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (r->master < 0)
		return -errno;
	if (grantpt(r->master) || unlockpt(r->master) ||
	    ptsname_r(r->master, r->slave, sizeof(r->slave)))
		return -errno;
	r->spare = open(r->slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (r->spare < 0)
		return -errno;
	/* Raw from the start, so no byte is echoed or translated before a client sets it. */
	if (tcgetattr(r->spare, &t) == 0) {
		cfmakeraw(&t);
		(void)tcsetattr(r->spare, TCSANOW, &t);
	}
	err = -pthread_mutex_init(&r->lock, NULL);
	if (err)
		return err;
	err = -pthread_create(&r->thread, NULL, resp_main, r);
	if (err)
		return err;
	r->is_running = true;
	return -pthread_getcpuclockid(r->thread, &r->clock);
}

static void resp_stop(struct resp *r)
{
	if (r->is_running) {
		atomic_store_explicit(&r->stop, true, memory_order_relaxed);
		pthread_join(r->thread, NULL);
		r->is_running = false;
	}
	if (r->spare >= 0)
		close(r->spare);
	if (r->master >= 0)
		close(r->master);
}

/* ---- a Modbus TCP responder on 127.0.0.1, for the CPU comparison -------------------- */

struct tcpsrv {
	int lfd;
	uint16_t port;
	pthread_t thread;
	clockid_t clock;
	bool is_running;
	atomic_bool stop;
	_Atomic int64_t delay_ns; /* each reply this long after its request was read; 0: at once */
};

/* One connection, answered until the peer closes or stop is set. */
static void tcpsrv_conn(struct tcpsrv *s, int fd)
{
	struct mb_splitter sp = { 0 };
	uint8_t buf[1024], payload[2 * MB_MAX_READ_REGS], out[MB_ADU_MAX];

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		const uint8_t *frame;
		size_t off = 0, used;
		int64_t t_rx;
		ssize_t n;
		int len;

		if (poll(&pfd, 1, POLL_MS) != 1)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		t_rx = clk_now_ns();
		for (;;) {
			int64_t delay = atomic_load_explicit(&s->delay_ns, memory_order_relaxed);
			struct mb_req q;
			int k;

			len = mb_split(&sp, buf + off, (size_t)n - off, &used, &frame);
			off += used;
			if (len < 0)
				return;
			if (len == 0)
				break;
			if (mb_decode_req(frame, (size_t)len, &q) ||
			    (q.fc != MB_FC_READ_HOLDING_REGISTERS &&
			     q.fc != MB_FC_READ_INPUT_REGISTERS))
				return;
			for (unsigned i = 0; i < q.qty; i++)
				mb_put_u16(payload + 2 * i, reg_value(q.unit, q.addr + i));
			k = mb_encode_rsp(out, sizeof(out), &q, payload);
			if (delay)
				sleep_until(t_rx + delay);
			if (k < 0 || write(fd, out, (size_t)k) != k)
				return;
		}
	}
}

static void *tcpsrv_main(void *arg)
{
	struct tcpsrv *s = arg;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
		int fd, one = 1;

		if (poll(&pfd, 1, POLL_MS) != 1)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		tcpsrv_conn(s, fd);
		close(fd);
	}
	return NULL;
}

static int tcpsrv_start(struct tcpsrv *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int err;

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 4) ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &alen))
		return -errno;
	s->port = ntohs(a.sin_port);
	err = -pthread_create(&s->thread, NULL, tcpsrv_main, s);
	if (err)
		return err;
	s->is_running = true;
	return -pthread_getcpuclockid(s->thread, &s->clock);
}

static void tcpsrv_stop(struct tcpsrv *s)
{
	if (s->is_running) {
		atomic_store_explicit(&s->stop, true, memory_order_relaxed);
		pthread_join(s->thread, NULL);
		s->is_running = false;
	}
	if (s->lfd >= 0)
		close(s->lfd);
}

/* ---- the two clients ----------------------------------------------------------------- */

/*
 * One client of `meters` units, on the serial line (path, baud) or on TCP (port; one unit).
 * Main thread only. A round reads every unit's block once and checks every register.
 */
struct client {
	enum impl impl;
	unsigned meters;
	struct eng *eng;
	struct eng_dev devs[MAX_METERS];
	struct eng_cmd cmds[MAX_METERS];
	struct eng_msg msgs[MAX_METERS];
	modbus_t *mb;
	uint32_t cycle;
	int64_t stall_ns; /* a round longer than this is an error */
};

static int client_open(struct client *c, enum impl impl, unsigned meters, const char *path,
		       uint32_t baud, uint16_t port)
{
	struct eng_cfg cfg = { .cpu = -1 };
	int err;

	memset(c, 0, sizeof(*c));
	c->impl = impl;
	c->meters = meters;
	c->stall_ns = 5 * CLK_NS_PER_SEC;
	if (impl == IMPL_LIBMODBUS) {
		c->mb = path ? modbus_new_rtu(path, (int)baud, 'N', 8, STOP_BITS)
			     : modbus_new_tcp("127.0.0.1", port);
		if (!c->mb)
			return -errno;
		modbus_set_response_timeout(c->mb, 2, 0);
		if (modbus_connect(c->mb)) {
			err = -errno;
			fprintf(stderr, "bench_rtu: libmodbus connect: %s\n",
				modbus_strerror(errno));
			return err;
		}
		return 0;
	}
	for (unsigned d = 0; d < meters; d++) {
		struct eng_dev *ed = &c->devs[d];

		if (path) {
			ed->framing = ENG_FRAMING_SERIAL;
			snprintf(ed->device, sizeof(ed->device), "%s", path);
			ser_line_init(&ed->line);
			ed->line.baud = baud;
			ed->line.stop_bits = STOP_BITS;
			ed->timeout_ns = ser_timeout_default_ns(baud);
		} else {
			ed->framing = ENG_FRAMING_TCP;
			snprintf(ed->host, sizeof(ed->host), "127.0.0.1");
			ed->port = port;
			ed->timeout_ns = CLK_NS_PER_SEC;
		}
		ed->unit = (uint8_t)(d + 1);
		ed->retry_count = 1;
		ed->nblocks = 1;
		ed->blocks[0] = (struct eng_block){ BLOCK_FC, BLOCK_START, BLOCK_REGS };
	}
	cfg.devs = c->devs;
	cfg.ndev = meters;
	err = eng_open(&c->eng, &cfg);
	return err ? err : eng_start(c->eng);
}

static void client_close(struct client *c)
{
	eng_close(c->eng);
	c->eng = NULL;
	if (c->mb) {
		modbus_close(c->mb);
		modbus_free(c->mb);
		c->mb = NULL;
	}
}

static int check_regs(unsigned unit, const uint16_t *regs)
{
	for (unsigned i = 0; i < BLOCK_REGS; i++)
		if (regs[i] != reg_value(unit, BLOCK_START + i)) {
			fprintf(stderr,
				"bench_rtu: unit %u register %u: read 0x%04x, served 0x%04x\n",
				unit, BLOCK_START + i, regs[i], reg_value(unit, BLOCK_START + i));
			return -EBADMSG;
		}
	return 0;
}

static int flux_round(struct client *c, int64_t *wall_ns)
{
	int64_t t0 = clk_now_ns(), t1 = t0;
	unsigned got = 0;
	uint32_t cycle = ++c->cycle;

	for (unsigned d = 0; d < c->meters; d++)
		c->cmds[d] = (struct eng_cmd){
			.kind = ENG_CMD_POLL, .dev = (uint16_t)d, .cycle = cycle, .t_push_ns = t0
		};
	if (eng_submit(c->eng, c->cmds, c->meters) != c->meters)
		return -ENOBUFS;
	while (got < c->meters) {
		unsigned n = eng_pop(c->eng, c->msgs, MAX_METERS);

		if (n == 0) {
			int64_t now = clk_now_ns();

			if (now - t0 > c->stall_ns)
				return -ETIMEDOUT;
			eng_wait(c->eng, now + 100 * CLK_NS_PER_MS);
			continue;
		}
		t1 = clk_now_ns();
		for (unsigned k = 0; k < n; k++) {
			const struct eng_msg *m = &c->msgs[k];
			int err;

			if (m->kind != ENG_MSG_SAMPLE || m->cycle != cycle)
				return -EPROTO;
			if (m->err)
				return m->err;
			err = check_regs(m->dev + 1u, m->data.regs);
			if (err)
				return err;
			got++;
		}
	}
	*wall_ns = t1 - t0;
	return 0;
}

static int libmodbus_round(struct client *c, int64_t *wall_ns)
{
	uint16_t regs[MAX_METERS][BLOCK_REGS];
	int64_t t0 = clk_now_ns();

	for (unsigned u = 1; u <= c->meters; u++) {
		if (modbus_set_slave(c->mb, (int)u) ||
		    modbus_read_registers(c->mb, BLOCK_START, BLOCK_REGS, regs[u - 1]) !=
			BLOCK_REGS) {
			fprintf(stderr, "bench_rtu: libmodbus unit %u: %s\n", u,
				modbus_strerror(errno));
			return -EIO;
		}
	}
	*wall_ns = clk_now_ns() - t0;
	for (unsigned u = 1; u <= c->meters; u++) {
		int err = check_regs(u, regs[u - 1]);

		if (err)
			return err;
	}
	return 0;
}

static int client_round(struct client *c, int64_t *wall_ns)
{
	return c->impl == IMPL_FLUX ? flux_round(c, wall_ns) : libmodbus_round(c, wall_ns);
}

/* ---- figures ------------------------------------------------------------------------- */

static int64_t cpu_now_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return 0;
	return clk_ts_to_ns(&ts);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of v[n] (sorted here), in ns; 0 for none. */
static int64_t pct(int64_t *v, unsigned n, double p)
{
	unsigned rank;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	rank = (unsigned)((p / 100.0) * n + 0.999999);
	rank = rank < 1 ? 1 : rank > n ? n : rank;
	return v[rank - 1];
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* One client's figures in one cell. */
struct series {
	unsigned rounds;
	int64_t p50_ns, p99_ns, max_ns;
	int64_t gap_min_ns, gap_p50_ns, late_p50_ns, late_p99_ns;
	unsigned n_gap, short_gaps; /* silences measured; of them, shorter than t3.5 */
	double cpu_ns_per_req;
};

/* One baud rate and meter count: the limit and both clients. */
struct cell {
	uint32_t baud;
	unsigned meters, rounds;
	int64_t limit_ns, wire_ns, t35_ns; /* per round; wire_ns: the limit less the silences */
	struct series s[IMPL_N];
};

/*
 * One row of the CPU comparison: many one-request rounds of one client on one transport. CPU
 * per request: the client's (process less responders), of it the main thread's and the
 * engine thread's; the rest is other threads of the process (io_uring's io-wq workers).
 */
struct cpu_row {
	const char *transport; /* "tcp", "tcp_wait" (replies after TCP_WAIT_NS), "rtu" */
	enum impl impl;
	unsigned requests;
	double cpu_ns_per_req, main_ns_per_req, engine_ns_per_req, wall_us_per_req;
	double turns_per_req; /* the engine's loop turns (Flux) */
};

struct bench {
	struct resp resp;
	struct tcpsrv tcp;
	const struct pace *pace;
	bool is_quick;
	int req_len, rsp_len;
	struct cell cells[N_BAUDS * MAX_N_METERS];
	unsigned n_cells;
	struct cpu_row cpu[N_CPU_ROWS];
	int64_t *wall; /* scratch: one series' round times */
};

/* The client's CPU: the process's, less the responders' threads'. */
static int64_t client_cpu_ns(const struct bench *b)
{
	return cpu_now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_now_ns(b->resp.clock) -
	       cpu_now_ns(b->tcp.clock);
}

/* `rounds` measured rounds of c (after one warm-up round), into *s. */
static int run_series(struct bench *b, struct client *c, unsigned rounds, int64_t t35_ns,
		      struct series *s)
{
	int64_t w, cpu0;
	int err = client_round(c, &w);

	if (err)
		return err;
	resp_reset(&b->resp);
	cpu0 = client_cpu_ns(b);
	for (unsigned k = 0; k < rounds; k++) {
		err = client_round(c, &b->wall[k]);
		if (err)
			return err;
	}
	s->cpu_ns_per_req = (double)(client_cpu_ns(b) - cpu0) / ((double)rounds * c->meters);
	s->rounds = rounds;
	s->p50_ns = pct(b->wall, rounds, 50);
	s->p99_ns = pct(b->wall, rounds, 99);
	s->max_ns = pct(b->wall, rounds, 100);
	pthread_mutex_lock(&b->resp.lock);
	s->n_gap = b->resp.n_gap;
	s->short_gaps = 0;
	for (unsigned k = 0; k < s->n_gap; k++)
		s->short_gaps += b->resp.gap_ns[k] < t35_ns;
	s->gap_min_ns = pct(b->resp.gap_ns, s->n_gap, 0);
	s->gap_p50_ns = pct(b->resp.gap_ns, s->n_gap, 50);
	s->late_p50_ns = pct(b->resp.late_ns, b->resp.n_late, 50);
	s->late_p99_ns = pct(b->resp.late_ns, b->resp.n_late, 99);
	pthread_mutex_unlock(&b->resp.lock);
	return 0;
}

static int run_cell(struct bench *b, struct cell *cl, unsigned idx)
{
	int64_t per_req = mb_rtu_wire_ns(cl->baud, (size_t)b->req_len) + TURNAROUND_NS +
			  mb_rtu_wire_ns(cl->baud, (size_t)b->rsp_len);
	int64_t want;

	cl->t35_ns = mb_rtu_t35_ns(cl->baud);
	cl->wire_ns = (int64_t)cl->meters * per_req;
	cl->limit_ns = (int64_t)cl->meters * (per_req + cl->t35_ns);
	want = b->pace->budget_ns / cl->limit_ns;
	cl->rounds = want < b->pace->min_rounds	  ? b->pace->min_rounds
		     : want > b->pace->max_rounds ? b->pace->max_rounds
						  : (unsigned)want;
	atomic_store_explicit(&b->resp.baud, cl->baud, memory_order_relaxed);
	for (int k = 0; k < IMPL_N; k++) {
		/* Alternate which client goes first, so neither always follows the other. */
		enum impl impl = (enum impl)(idx % 2 ? IMPL_N - 1 - k : k);
		struct client c;
		int err = client_open(&c, impl, cl->meters, b->resp.slave, cl->baud, 0);

		if (!err)
			err = run_series(b, &c, cl->rounds, cl->t35_ns, &cl->s[impl]);
		client_close(&c);
		if (err) {
			fprintf(stderr, "bench_rtu: %s, %u baud, %u meters: %s\n", impl_label[impl],
				cl->baud, cl->meters, eng_strerror(err));
			return err;
		}
	}
	return 0;
}

/*
 * The CPU clock of this process's thread named `name` (the engine's I/O thread is "flux-io";
 * one engine runs at a time), or -1. Linux's clockid of a thread id: (~tid << 3) | 6, as glibc's
 * pthread_getcpuclockid() makes it.
 */
static clockid_t thread_clock_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	clockid_t clk = -1;
	struct dirent *de;

	if (!d)
		return -1;
	while (clk == -1 && (de = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
		if (!strcmp(comm, name))
			clk = (clockid_t)(~(unsigned)atoi(de->d_name) << 3 | 6);
	}
	closedir(d);
	return clk;
}

/* CPU per request of one client on one transport: one request per round, back to back. */
static int run_cpu(struct bench *b, struct cpu_row *row)
{
	bool is_rtu = !strcmp(row->transport, "rtu");
	clockid_t eng_clock = -1;
	struct client c;
	int64_t cpu0, main0, eng0 = 0, t0, w;
	uint64_t turns0 = 0;
	double n = row->requests;
	int err;

	atomic_store_explicit(&b->resp.baud, 0, memory_order_relaxed); /* replies at once */
	atomic_store_explicit(&b->tcp.delay_ns,
			      strcmp(row->transport, "tcp_wait") ? 0 : TCP_WAIT_NS,
			      memory_order_relaxed);
	err = client_open(&c, row->impl, 1, is_rtu ? b->resp.slave : NULL, 115200, b->tcp.port);
	for (unsigned k = 0; !err && k < 20; k++)
		err = client_round(&c, &w);
	if (c.eng) {
		eng_clock = thread_clock_named("flux-io");
		eng0 = eng_clock == -1 ? 0 : cpu_now_ns(eng_clock);
		turns0 = eng_turns(c.eng);
	}
	cpu0 = client_cpu_ns(b);
	main0 = cpu_now_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = clk_now_ns();
	for (unsigned k = 0; !err && k < row->requests; k++)
		err = client_round(&c, &w);
	row->wall_us_per_req = (double)(clk_now_ns() - t0) / n / 1e3;
	row->cpu_ns_per_req = (double)(client_cpu_ns(b) - cpu0) / n;
	row->main_ns_per_req = (double)(cpu_now_ns(CLOCK_THREAD_CPUTIME_ID) - main0) / n;
	if (eng_clock != -1)
		row->engine_ns_per_req = (double)(cpu_now_ns(eng_clock) - eng0) / n;
	if (c.eng)
		row->turns_per_req = (double)(eng_turns(c.eng) - turns0) / n;
	client_close(&c);
	if (err)
		fprintf(stderr, "bench_rtu: CPU run, %s over %s: %s\n", impl_label[row->impl],
			row->transport, eng_strerror(err));
	return err;
}

/* ---- output -------------------------------------------------------------------------- */

static double ms(int64_t ns)
{
	return clk_ns_to_ms(ns);
}

static double us(int64_t ns)
{
	return clk_ns_to_us(ns);
}

static const struct cpu_row *cpu_of(const struct bench *b, const char *transport, enum impl impl)
{
	for (unsigned k = 0; k < N_CPU_ROWS; k++)
		if (!strcmp(b->cpu[k].transport, transport) && b->cpu[k].impl == impl)
			return &b->cpu[k];
	return NULL;
}

static void print_tables(const struct bench *b)
{
	printf("\nPoll N meters once (ms per round; limit = N x (wire(req) + %.0f ms + "
	       "wire(reply) + t3.5))\n",
	       ms(TURNAROUND_NS));
	printf("%6s %3s %6s %8s | %8s %8s %6s %6s | %8s %8s %6s %6s | %7s\n", "baud", "N", "rounds",
	       "limit", "Flux p50", "p99", "p50/L", "p99/L", "lmb p50", "p99", "p50/L", "p99/L",
	       "Flx/lmb");
	for (unsigned k = 0; k < b->n_cells; k++) {
		const struct cell *cl = &b->cells[k];
		const struct series *f = &cl->s[IMPL_FLUX], *l = &cl->s[IMPL_LIBMODBUS];
		double lim = (double)cl->limit_ns;

		printf("%6u %3u %6u %8.2f | %8.2f %8.2f %6.3f %6.3f | %8.2f %8.2f %6.3f %6.3f | "
		       "%7.3f\n",
		       cl->baud, cl->meters, cl->rounds, ms(cl->limit_ns), ms(f->p50_ns),
		       ms(f->p99_ns), ratio((double)f->p50_ns, lim), ratio((double)f->p99_ns, lim),
		       ms(l->p50_ns), ms(l->p99_ns), ratio((double)l->p50_ns, lim),
		       ratio((double)l->p99_ns, lim), ratio((double)f->p50_ns, (double)l->p50_ns));
	}
	printf("\nThe line: silence the client left before each request (us; < t3.5: requests "
	       "sent early), responder lateness, client CPU per request\n");
	printf("%6s %3s %6s | %8s %8s %6s | %8s %8s %6s | %8s %8s | %8s %8s\n", "baud", "N", "t3.5",
	       "Flux min", "p50", "<t3.5", "lmb min", "p50", "<t3.5", "late p50", "p99", "Flux CPU",
	       "lmb CPU");
	for (unsigned k = 0; k < b->n_cells; k++) {
		const struct cell *cl = &b->cells[k];
		const struct series *f = &cl->s[IMPL_FLUX], *l = &cl->s[IMPL_LIBMODBUS];

		printf("%6u %3u %6.0f | %8.0f %8.0f %6u | %8.0f %8.0f %6u | %8.0f %8.0f | %8.1f "
		       "%8.1f\n",
		       cl->baud, cl->meters, us(cl->t35_ns), us(f->gap_min_ns), us(f->gap_p50_ns),
		       f->short_gaps, us(l->gap_min_ns), us(l->gap_p50_ns), l->short_gaps,
		       us(f->late_p50_ns), us(f->late_p99_ns), f->cpu_ns_per_req / 1e3,
		       l->cpu_ns_per_req / 1e3);
	}
	printf("(late: the responder's last reply chunk written after its paced deadline, Flux "
	       "series; CPU in us: the process less the responder's thread)\n");
	printf("\nCPU per request, one request per round back to back (RTU: the pty at 115200, "
	       "replies at once, t3.5 kept by Flux; tcp_wait: replies %.2f ms late)\n",
	       ms(TCP_WAIT_NS));
	printf("%-9s %-14s %8s %11s %9s %9s %9s %11s %10s\n", "transport", "client", "requests",
	       "CPU ns/req", "main", "engine", "other", "turns/req", "wall us");
	for (unsigned k = 0; k < N_CPU_ROWS; k++) {
		const struct cpu_row *r = &b->cpu[k];

		printf("%-9s %-14s %8u %11.0f %9.0f %9.0f %9.0f %11.1f %10.1f\n", r->transport,
		       impl_label[r->impl], r->requests, r->cpu_ns_per_req, r->main_ns_per_req,
		       r->engine_ns_per_req,
		       r->cpu_ns_per_req - r->main_ns_per_req - r->engine_ns_per_req,
		       r->turns_per_req, r->wall_us_per_req);
	}
	printf("(main: the thread that submits and waits, or calls libmodbus; engine: Flux's I/O "
	       "thread; other: the rest of the process, io_uring's workers)\n");
	for (int i = 0; i < IMPL_N; i++) {
		const struct cpu_row *t = cpu_of(b, "tcp", (enum impl)i);
		const struct cpu_row *r = cpu_of(b, "rtu", (enum impl)i);

		const struct cpu_row *w = cpu_of(b, "tcp_wait", (enum impl)i);

		printf("%s: CPU per request RTU / TCP = %.2f, RTU / TCP replying late = %.2f\n",
		       impl_label[i], ratio(r->cpu_ns_per_req, t->cpu_ns_per_req),
		       ratio(r->cpu_ns_per_req, w->cpu_ns_per_req));
	}
}

static void json_series(FILE *jf, const struct cell *cl, enum impl i)
{
	const struct series *s = &cl->s[i];
	double lim = (double)cl->limit_ns;

	fprintf(jf,
		"\"%s\":{\"rounds\":%u,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
		"\"p50_vs_limit\":%.4f,\"p99_vs_limit\":%.4f,\"cpu_us_per_req\":%.2f,"
		"\"gaps\":%u,\"gap_min_us\":%.1f,\"gap_p50_us\":%.1f,\"short_gaps\":%u,"
		"\"late_p50_us\":%.1f,\"late_p99_us\":%.1f}",
		impl_key[i], s->rounds, ms(s->p50_ns), ms(s->p99_ns), ms(s->max_ns),
		ratio((double)s->p50_ns, lim), ratio((double)s->p99_ns, lim),
		s->cpu_ns_per_req / 1e3, s->n_gap, us(s->gap_min_ns), us(s->gap_p50_ns),
		s->short_gaps, us(s->late_p50_ns), us(s->late_p99_ns));
}

static int write_json(const char *path, const struct bench *b)
{
	FILE *jf = fopen(path, "w");

	if (!jf) {
		fprintf(stderr, "bench_rtu: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(jf,
		"{\"bench\":\"rtu\",\"quick\":%s,\"line\":\"8N2\",\"bits_per_char\":%d,"
		"\"fc\":%d,\"start\":%d,\"registers\":%d,\"req_bytes\":%d,\"rsp_bytes\":%d,"
		"\"turnaround_us\":%.0f,\"chunk_bytes\":%d,\"polls\":[",
		b->is_quick ? "true" : "false", MB_RTU_CHAR_BITS, BLOCK_FC, BLOCK_START, BLOCK_REGS,
		b->req_len, b->rsp_len, us(TURNAROUND_NS), CHUNK_BYTES);
	for (unsigned k = 0; k < b->n_cells; k++) {
		const struct cell *cl = &b->cells[k];

		fprintf(jf,
			"%s{\"baud\":%u,\"meters\":%u,\"limit_ms\":%.3f,\"wire_ms\":%.3f,"
			"\"t35_us\":%.1f,",
			k ? "," : "", cl->baud, cl->meters, ms(cl->limit_ns), ms(cl->wire_ns),
			us(cl->t35_ns));
		json_series(jf, cl, IMPL_FLUX);
		fputc(',', jf);
		json_series(jf, cl, IMPL_LIBMODBUS);
		fprintf(
		    jf, ",\"flux_vs_libmodbus_p50\":%.4f,\"flux_vs_libmodbus_p99\":%.4f}",
		    ratio((double)cl->s[IMPL_FLUX].p50_ns, (double)cl->s[IMPL_LIBMODBUS].p50_ns),
		    ratio((double)cl->s[IMPL_FLUX].p99_ns, (double)cl->s[IMPL_LIBMODBUS].p99_ns));
	}
	fprintf(jf, "],\"cpu\":[");
	for (unsigned k = 0; k < N_CPU_ROWS; k++) {
		const struct cpu_row *r = &b->cpu[k];

		fprintf(jf,
			"%s{\"transport\":\"%s\",\"impl\":\"%s\",\"requests\":%u,"
			"\"cpu_ns_per_req\":%.0f,\"main_ns_per_req\":%.0f,"
			"\"engine_ns_per_req\":%.0f,\"turns_per_req\":%.2f,"
			"\"wall_us_per_req\":%.1f}",
			k ? "," : "", r->transport, impl_key[r->impl], r->requests,
			r->cpu_ns_per_req, r->main_ns_per_req, r->engine_ns_per_req,
			r->turns_per_req, r->wall_us_per_req);
	}
	fprintf(jf, "],\"cpu_rtu_vs_tcp\":{");
	for (int i = 0; i < IMPL_N; i++)
		fprintf(jf, "%s\"%s\":%.4f", i ? "," : "", impl_key[i],
			ratio(cpu_of(b, "rtu", (enum impl)i)->cpu_ns_per_req,
			      cpu_of(b, "tcp", (enum impl)i)->cpu_ns_per_req));
	fprintf(jf, "},\"cpu_rtu_vs_tcp_wait\":{");
	for (int i = 0; i < IMPL_N; i++)
		fprintf(jf, "%s\"%s\":%.4f", i ? "," : "", impl_key[i],
			ratio(cpu_of(b, "rtu", (enum impl)i)->cpu_ns_per_req,
			      cpu_of(b, "tcp_wait", (enum impl)i)->cpu_ns_per_req));
	fprintf(jf, "},\"tcp_wait_us\":%.0f}\n", us(TCP_WAIT_NS));
	return fclose(jf) ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *quick = getenv("QUICK");
	const char *json_path = NULL;
	static struct bench b;
	const unsigned *meters;
	unsigned n_meters;
	struct mb_req q = { .unit = 1, .fc = BLOCK_FC, .addr = BLOCK_START, .qty = BLOCK_REGS };
	uint8_t buf[MB_RTU_ADU_MAX];
	int err, rc = 1;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json") && k + 1 < argc) {
			json_path = argv[++k];
		} else {
			fprintf(stderr, "usage: %s [--json FILE]   (QUICK=1: the short run)\n",
				argv[0]);
			return 2;
		}
	}
	b.is_quick = quick && *quick && strcmp(quick, "0");
	b.pace = b.is_quick ? &pace_quick : &pace_full;
	meters = b.is_quick ? meters_quick : meters_full;
	n_meters = b.is_quick ? sizeof(meters_quick) / sizeof(meters_quick[0]) : MAX_N_METERS;
	b.req_len = mb_rtu_encode_req(buf, sizeof(buf), &q);
	b.rsp_len = mb_rtu_rsp_len(&q);
	b.resp.master = b.resp.spare = b.tcp.lfd = -1;
	b.wall = calloc(pace_full.max_rounds, sizeof(int64_t));
	if (b.req_len <= 0 || b.rsp_len <= 0 || !b.wall) {
		fprintf(stderr, "bench_rtu: setup failed\n");
		goto out;
	}
	err = resp_start(&b.resp);
	if (!err)
		err = tcpsrv_start(&b.tcp);
	if (err) {
		fprintf(stderr, "bench_rtu: pty or TCP responder: %s\n", strerror(-err));
		goto out;
	}
	printf("bench_rtu: a pty (%s) paced as an 8N2 line; units 1..N on it, one FC%02d read of "
	       "%d registers each (request %d bytes, reply %d);\n  the responder answers %.0f ms "
	       "after the request's wire time, writing the reply in %d-byte chunks at the baud "
	       "rate; rounds back to back, %s\n",
	       b.resp.slave, BLOCK_FC, BLOCK_REGS, b.req_len, b.rsp_len, ms(TURNAROUND_NS),
	       CHUNK_BYTES, b.is_quick ? "QUICK" : "full run");
	fflush(stdout);
	for (unsigned i = 0; i < N_BAUDS; i++)
		for (unsigned j = 0; j < n_meters; j++) {
			struct cell *cl = &b.cells[b.n_cells];

			cl->baud = bauds[i];
			cl->meters = meters[j];
			if (run_cell(&b, cl, b.n_cells))
				goto out;
			b.n_cells++;
		}
	b.cpu[0] = (struct cpu_row){ "tcp", IMPL_FLUX, b.pace->cpu_tcp };
	b.cpu[1] = (struct cpu_row){ "tcp", IMPL_LIBMODBUS, b.pace->cpu_tcp };
	b.cpu[2] = (struct cpu_row){ "tcp_wait", IMPL_FLUX, b.pace->cpu_rtu };
	b.cpu[3] = (struct cpu_row){ "tcp_wait", IMPL_LIBMODBUS, b.pace->cpu_rtu };
	b.cpu[4] = (struct cpu_row){ "rtu", IMPL_FLUX, b.pace->cpu_rtu };
	b.cpu[5] = (struct cpu_row){ "rtu", IMPL_LIBMODBUS, b.pace->cpu_rtu };
	for (unsigned k = 0; k < N_CPU_ROWS; k++)
		if (run_cpu(&b, &b.cpu[k]))
			goto out;
	print_tables(&b);
	rc = json_path ? write_json(json_path, &b) : 0;
out:
	tcpsrv_stop(&b.tcp);
	resp_stop(&b.resp);
	free(b.wall);
	return rc;
}
