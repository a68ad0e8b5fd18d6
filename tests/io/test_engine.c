// SPDX-License-Identifier: MIT
/*
 * Integration tests of the io_uring engine against the fault server (tests/support/faultsrv)
 * on 127.0.0.1: many devices at once, every fault a device can commit, recovery, retries,
 * late replies, gateways, and each io_uring setup. Every sample's registers are checked
 * against the value the server derives from (port, unit, address): no stale or mismatched
 * data passes. Waits are bounded (5 s each); nothing asserts on how fast anything was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/engine.h"
#include "rt/clock.h"
#include "tests/support/faultsrv.h"
#include "tests/support/net.h"

#define WAIT_NS	     (5 * CLK_NS_PER_SEC)
#define CYCLE_NS     (20 * CLK_NS_PER_MS) /* the control cycle of the multi-cycle tests */
#define LOG_CAP	     4096		  /* messages one multi-cycle run keeps */
#define BLOCK_A_ADDR 100		  /* FC03, 10 registers */
#define BLOCK_B_ADDR 3000		  /* FC04, 4 registers */

/* Every message of a run of cycles, in arrival order, and how many are owed. */
struct msglog {
	struct eng_msg *m;
	unsigned n;
	unsigned owed; /* one per block of each POLL pushed, one per WRITE */
};

struct th_rig {
	struct th_fsrv srv;
	struct eng *e;
	struct eng_dev *devs;
	unsigned ndev;
	uint32_t cycle;
	struct eng_msg *msgs; /* collected */
	unsigned nmsgs;
	struct msglog log;
	int64_t failsafe_after_ns; /* eng_cfg.failsafe_after_ns */
};

static void dev_init(struct eng_dev *d, uint16_t port, uint8_t unit)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->host, sizeof(d->host), "127.0.0.1");
	d->port = port;
	d->unit = unit;
	d->timeout_ns = 300 * CLK_NS_PER_MS;
	d->retry_count = 1;
	d->retry_backoff_ns = 10 * CLK_NS_PER_MS;
	d->nblocks = 2;
	d->blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, BLOCK_A_ADDR, 10 };
	d->blocks[1] = (struct eng_block){ MB_FC_READ_INPUT_REGISTERS, BLOCK_B_ADDR, 4 };
}

/* The rig of the running test, closed by the teardown if a failed assertion skipped
 * th_rig_close(): a failure must not leave threads and sockets to the next test. */
static struct th_rig *live_rig;

/* Open `nports` server ports and `ndev` devices over them (device i on port i % nports,
 * unit 1 + i / nports); the caller may edit r->devs before th_rig_start(). */
static struct th_rig *th_rig_open(unsigned nports, unsigned ndev)
{
	struct th_rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	live_rig = r;
	assert_int_equal(th_fsrv_open(&r->srv, nports), 0);
	r->ndev = ndev;
	r->devs = calloc(ndev, sizeof(*r->devs));
	r->msgs = calloc(4 * ndev * ENG_MAX_BLOCKS + 64, sizeof(*r->msgs));
	r->log.m = calloc(LOG_CAP, sizeof(*r->log.m));
	assert_non_null(r->devs);
	assert_non_null(r->msgs);
	assert_non_null(r->log.m);
	for (unsigned i = 0; i < ndev; i++)
		dev_init(&r->devs[i], r->srv.ports[i % nports].port, (uint8_t)(1 + i / nports));
	return r;
}

static void th_rig_start_with(struct th_rig *r, enum eng_uring uring, bool no_buf_ring,
			      bool no_multishot)
{
	struct eng_cfg cfg = { .devs = r->devs,
			       .ndev = r->ndev,
			       .cpu = -1,
			       .uring = uring,
			       .no_buf_ring = no_buf_ring,
			       .no_multishot = no_multishot,
			       .connect_timeout_ns = 500 * CLK_NS_PER_MS,
			       .reconnect_min_ns = 20 * CLK_NS_PER_MS,
			       .reconnect_max_ns = 200 * CLK_NS_PER_MS,
			       .failsafe_after_ns = r->failsafe_after_ns };
	int err = eng_open(&r->e, &cfg);

	assert_int_equal(err, 0);
	err = eng_start(r->e);
	if (err)
		fail_msg("eng_start: %s", eng_strerror(err));
}

static void th_rig_start(struct th_rig *r)
{
	th_rig_start_with(r, ENG_URING_BEST, false, false);
}

static void th_rig_close(struct th_rig *r)
{
	eng_close(r->e);
	th_fsrv_close(&r->srv);
	free(r->devs);
	free(r->msgs);
	free(r->log.m);
	free(r);
	live_rig = NULL;
}

/*
 * A gateway with a unit-level fault, which faultsrv's per-port faults cannot make: one port,
 * one connection at a time, answering FC03 for the units in alive_units (a bit per unit) and
 * nothing for the others. Registers hold th_fsrv_value(), so check_sample() works.
 */
struct gw {
	int lfd;
	uint16_t port;
	pthread_t thread;
	bool is_running;
	atomic_bool stop;
	atomic_uint alive_units;
	atomic_uint accepts;
};

static struct gw *live_gw; /* closed by the teardown if an assertion skipped gw_close() */

static void gw_answer(struct gw *g, int fd, const uint8_t *frame, size_t len)
{
	uint8_t out[MB_ADU_MAX], data[2 * MB_MAX_READ_REGS];
	struct mb_req q;
	int n;

	if (mb_decode_req(frame, len, &q) || q.fc != MB_FC_READ_HOLDING_REGISTERS || q.unit >= 32 ||
	    !(atomic_load(&g->alive_units) & (1u << q.unit)))
		return;
	for (unsigned i = 0; i < q.qty; i++)
		mb_put_u16(data + 2 * i, th_fsrv_value(g->port, q.unit, (uint16_t)(q.addr + i)));
	n = mb_encode_rsp(out, sizeof(out), &q, data);
	if (n > 0)
		th_send_all(fd, out, (size_t)n, th_deadline_ns(1000));
}

static void *gw_serve(void *arg)
{
	struct gw *g = arg;
	struct mb_splitter split = { 0 };
	int fd = -1;

	while (!atomic_load(&g->stop)) {
		struct pollfd p[2] = { { .fd = g->lfd, .events = POLLIN },
				       { .fd = fd, .events = POLLIN } };
		uint8_t in[512];
		const uint8_t *q = in;
		ssize_t n;

		if (poll(p, fd >= 0 ? 2 : 1, 20) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int nfd = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC);

			if (nfd >= 0) {
				if (fd >= 0)
					close(fd);
				fd = nfd;
				mb_split_reset(&split);
				atomic_fetch_add(&g->accepts, 1);
			}
			continue;
		}
		if (fd < 0 || !p[1].revents)
			continue;
		n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
		if (n <= 0) {
			close(fd);
			fd = -1;
			continue;
		}
		while (n > 0) {
			const uint8_t *frame;
			size_t used;
			int r = mb_split(&split, q, (size_t)n, &used, &frame);

			q += used;
			n -= (ssize_t)used;
			if (r <= 0)
				break;
			gw_answer(g, fd, frame, (size_t)r);
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static struct gw *gw_open(unsigned alive_units)
{
	struct gw *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	live_gw = g;
	g->lfd = th_listen(&g->port);
	assert_true(g->lfd >= 0);
	atomic_store(&g->alive_units, alive_units);
	assert_int_equal(pthread_create(&g->thread, NULL, gw_serve, g), 0);
	g->is_running = true;
	return g;
}

static void gw_close(struct gw *g)
{
	if (g->is_running) {
		atomic_store(&g->stop, true);
		pthread_join(g->thread, NULL);
	}
	if (g->lfd >= 0)
		close(g->lfd);
	free(g);
	live_gw = NULL;
}

static int close_live_rig(void **state)
{
	(void)state;
	if (live_rig)
		th_rig_close(live_rig);
	if (live_gw)
		gw_close(live_gw);
	return 0;
}

/* Collect messages until `want` arrived or WAIT_NS passed. Returns how many arrived. */
static unsigned collect(struct th_rig *r, unsigned want)
{
	int64_t deadline = clk_now_ns() + WAIT_NS;

	r->nmsgs = 0;
	while (r->nmsgs < want && clk_now_ns() < deadline) {
		r->nmsgs += eng_pop(r->e, r->msgs + r->nmsgs, want - r->nmsgs);
		if (r->nmsgs < want)
			eng_wait(r->e, deadline);
	}
	return r->nmsgs;
}

static void push_poll(struct th_rig *r, unsigned dev)
{
	struct eng_cmd c = { .kind = ENG_CMD_POLL,
			     .dev = (uint16_t)dev,
			     .cycle = r->cycle,
			     .t_push_ns = clk_now_ns() };

	assert_int_equal(eng_submit(r->e, &c, 1), 1);
}

/* Check a successful sample's registers against what the server holds. */
static void check_sample(const struct th_rig *r, const struct eng_msg *m)
{
	const struct eng_dev *d = &r->devs[m->dev];
	const struct eng_block *b = &d->blocks[m->block];

	assert_int_equal(m->kind, ENG_MSG_SAMPLE);
	assert_int_equal(m->addr, b->start);
	assert_int_equal(m->count, b->count);
	for (unsigned i = 0; i < b->count; i++)
		if (m->data.regs[i] != th_fsrv_value(d->port, d->unit, (uint16_t)(b->start + i)))
			fail_msg("dev %u block %u reg %u: got %u want %u", m->dev, m->block, i,
				 m->data.regs[i],
				 th_fsrv_value(d->port, d->unit, (uint16_t)(b->start + i)));
	assert_true(m->t_cmd_ns <= m->t_sent_ns);
	assert_true(m->t_sent_ns <= m->t_done_ns);
}

/* Poll one device; returns the error of its first block's sample (checking data if 0). */
static int poll_once(struct th_rig *r, unsigned dev)
{
	int err = 0;

	r->cycle++;
	push_poll(r, dev);
	assert_int_equal(collect(r, r->devs[dev].nblocks), r->devs[dev].nblocks);
	for (unsigned i = 0; i < r->nmsgs; i++) {
		assert_int_equal(r->msgs[i].dev, dev);
		assert_int_equal(r->msgs[i].cycle, r->cycle);
		if (r->msgs[i].err == 0)
			check_sample(r, &r->msgs[i]);
		if (r->msgs[i].block == 0)
			err = r->msgs[i].err;
	}
	return err;
}

/* Poll until the device answers again (bounded: 100 tries, 5 s). Returns 0 on recovery. */
static int poll_until_ok(struct th_rig *r, unsigned dev)
{
	int64_t deadline = clk_now_ns() + WAIT_NS;

	for (int i = 0; i < 100 && clk_now_ns() < deadline; i++) {
		struct timespec ts = { .tv_nsec = 20 * CLK_NS_PER_MS };

		if (poll_once(r, dev) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Poll every device once and check every sample. */
static void poll_all_ok(struct th_rig *r)
{
	unsigned want = 0;
	struct eng_cmd *cmds = calloc(r->ndev, sizeof(*cmds));

	assert_non_null(cmds);
	r->cycle++;
	for (unsigned i = 0; i < r->ndev; i++) {
		cmds[i] = (struct eng_cmd){ .kind = ENG_CMD_POLL,
					    .dev = (uint16_t)i,
					    .cycle = r->cycle,
					    .t_push_ns = clk_now_ns() };
		want += r->devs[i].nblocks;
	}
	assert_int_equal(eng_submit(r->e, cmds, r->ndev), r->ndev);
	free(cmds);
	assert_int_equal(collect(r, want), want);
	for (unsigned i = 0; i < r->nmsgs; i++) {
		if (r->msgs[i].err)
			fail_msg("dev %u: %s", r->msgs[i].dev, eng_strerror(r->msgs[i].err));
		assert_int_equal(r->msgs[i].cycle, r->cycle);
		check_sample(r, &r->msgs[i]);
	}
}

/* ---- many devices ------------------------------------------------------------------- */

static void test_polls_many_devices_and_checks_every_register(void **state)
{
	struct th_rig *r;

	(void)state;
	r = th_rig_open(50, 50);
	th_rig_start(r);
	for (int cycle = 0; cycle < 5; cycle++)
		poll_all_ok(r);
	for (unsigned i = 0; i < r->ndev; i++) {
		const struct eng_counters *c = eng_counters(r->e, i);

		assert_int_equal(atomic_load(&c->requests), 10);
		assert_int_equal(atomic_load(&c->responses), 10);
		assert_int_equal(atomic_load(&c->connects), 1);
	}
	assert_int_equal(eng_msg_drops(r->e), 0);
	th_rig_close(r);
}

static void test_polls_1000_devices_on_1000_connections(void **state)
{
	struct rlimit rl;
	struct th_rig *r;

	(void)state;
	/* 1000 engine sockets + 2000 server sockets in this process. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < 3100)
		skip();
	r = th_rig_open(1000, 1000);
	for (unsigned i = 0; i < r->ndev; i++)
		r->devs[i].timeout_ns = 3 * CLK_NS_PER_SEC;
	th_rig_start(r);
	poll_all_ok(r);
	poll_all_ok(r);
	th_rig_close(r);
}

static void test_gateway_units_share_one_connection(void **state)
{
	struct th_rig *r;

	(void)state;
	r = th_rig_open(1, 4); /* units 1..4 behind one port */
	th_rig_start(r);
	for (int cycle = 0; cycle < 3; cycle++)
		poll_all_ok(r);
	assert_int_equal(atomic_load(&r->srv.ports[0].accepts), 1);
	th_rig_close(r);
}

static bool kernel_has(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	return uname(&u) == 0 && sscanf(u.release, "%d.%d", &ma, &mi) == 2 &&
	       (ma > major || (ma == major && mi >= minor));
}

static void test_works_with_every_uring_setup(void **state)
{
	static const struct {
		enum eng_uring uring;
		bool no_buf_ring;
		bool no_multishot;
	} setups[] = {
		{ ENG_URING_PLAIN, true, true },	  { ENG_URING_PLAIN, false, true },
		{ ENG_URING_PLAIN, false, false },	  { ENG_URING_SINGLE_ISSUER, false, false },
		{ ENG_URING_DEFER_TASKRUN, false, true }, { ENG_URING_DEFER_TASKRUN, false, false },
		{ ENG_URING_BEST, true, true },
	};

	(void)state;
	for (unsigned s = 0; s < sizeof(setups) / sizeof(setups[0]); s++) {
		struct th_rig *r;
		struct eng_features f;

		r = th_rig_open(3, 6);
		th_rig_start_with(r, setups[s].uring, setups[s].no_buf_ring,
				  setups[s].no_multishot);
		f = eng_features(r->e);
		assert_int_equal(f.buf_ring, !setups[s].no_buf_ring);
		/* Multishot needs the buffer ring and a 6.0+ kernel. */
		assert_int_equal(f.recv_multishot, !setups[s].no_buf_ring &&
						       !setups[s].no_multishot && kernel_has(6, 0));
		assert_int_equal(f.single_issuer, setups[s].uring != ENG_URING_PLAIN);
		assert_int_equal(f.defer_taskrun, setups[s].uring == ENG_URING_DEFER_TASKRUN ||
						      setups[s].uring == ENG_URING_BEST);
		poll_all_ok(r);
		poll_all_ok(r);
		th_rig_close(r);
	}
}

/* ---- writes ------------------------------------------------------------------------- */

static void test_writes_registers_and_reads_them_back(void **state)
{
	struct eng_cmd w[2] = {
		{ .kind = ENG_CMD_WRITE,
		  .fc = MB_FC_WRITE_SINGLE_REGISTER,
		  .dev = 0,
		  .addr = 2008,
		  .count = 1,
		  .cycle = 7,
		  .values = { mb_from_i16(-50) } },
		{ .kind = ENG_CMD_WRITE,
		  .fc = MB_FC_WRITE_MULTIPLE_REGISTERS,
		  .dev = 0,
		  .addr = 2010,
		  .count = 3,
		  .cycle = 7,
		  .values = { 3, 0xBEEF, 42 } },
	};
	struct th_rig *r;

	(void)state;
	r = th_rig_open(1, 1);
	r->devs[0].blocks[1] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 2008, 5 };
	th_rig_start(r);
	assert_int_equal(eng_submit(r->e, w, 2), 2);
	assert_int_equal(collect(r, 2), 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(r->msgs[i].kind, ENG_MSG_WRITE_ACK);
		assert_int_equal(r->msgs[i].err, 0);
		assert_int_equal(r->msgs[i].cycle, 7);
	}
	r->cycle++;
	push_poll(r, 0);
	assert_int_equal(collect(r, 2), 2);
	for (unsigned i = 0; i < 2; i++) {
		if (r->msgs[i].block != 1)
			continue;
		assert_int_equal(r->msgs[i].err, 0);
		assert_int_equal(mb_get_i16(r->msgs[i].data.regs[0]), -50);
		assert_int_equal(r->msgs[i].data.regs[2], 3);
		assert_int_equal(r->msgs[i].data.regs[3], 0xBEEF);
		assert_int_equal(r->msgs[i].data.regs[4], 42);
	}
	th_rig_close(r);
}

static void test_newer_write_supersedes_queued_one_and_both_are_answered(void **state)
{
	struct eng_cmd w[2] = {
		{ .kind = ENG_CMD_WRITE,
		  .fc = MB_FC_WRITE_SINGLE_REGISTER,
		  .addr = 2008,
		  .count = 1,
		  .cycle = 1,
		  .values = { 10 } },
		{ .kind = ENG_CMD_WRITE,
		  .fc = MB_FC_WRITE_SINGLE_REGISTER,
		  .addr = 2008,
		  .count = 1,
		  .cycle = 2,
		  .values = { 20 } },
	};
	struct th_rig *r;

	(void)state;
	r = th_rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 2008, 1 };
	th_rig_start(r);
	assert_int_equal(eng_submit(r->e, w, 2), 2);
	assert_int_equal(collect(r, 2), 2);
	assert_int_equal(r->msgs[0].cycle, 1);
	assert_int_equal(r->msgs[0].err, -ENG_ESUPERSEDED);
	assert_int_equal(r->msgs[1].cycle, 2);
	assert_int_equal(r->msgs[1].err, 0);
	push_poll(r, 0);
	assert_int_equal(collect(r, 1), 1);
	assert_int_equal(r->msgs[0].err, 0);
	assert_int_equal(r->msgs[0].data.regs[0], 20);
	th_rig_close(r);
}

static void test_rejects_bad_commands_with_named_error(void **state)
{
	struct eng_cmd bad[3] = {
		{ .kind = ENG_CMD_POLL, .dev = 9, .cycle = 1 },
		{ .kind = ENG_CMD_WRITE, .fc = MB_FC_WRITE_SINGLE_REGISTER, .dev = 0, .count = 2 },
		{ .kind = 77, .dev = 0 },
	};
	struct th_rig *r;

	(void)state;
	r = th_rig_open(1, 1);
	th_rig_start(r);
	assert_int_equal(eng_submit(r->e, bad, 3), 3);
	assert_int_equal(collect(r, 3), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(r->msgs[i].err, -ENG_EBADCMD);
	assert_string_equal(eng_strerror(-ENG_EBADCMD),
			    "command names no device, block or valid write");
	assert_int_equal(poll_once(r, 0), 0);
	th_rig_close(r);
}

/* ---- faults ------------------------------------------------------------------------- */

/* Device 1 of 3 misbehaves; the others keep being served; device 1 gets `want`, then
 * recovers once the fault is cleared. */
static void fault_case(enum th_fsrv_fault fault, int param, int want)
{
	struct th_rig *r;
	int err;

	r = th_rig_open(3, 3);
	th_rig_start(r);
	poll_all_ok(r);
	th_fsrv_set(&r->srv, 1, fault, param);
	err = poll_once(r, 1);
	if (err != want)
		fail_msg("fault %d: got %d (%s), want %d (%s)", fault, err, eng_strerror(err), want,
			 eng_strerror(want));
	assert_int_equal(poll_once(r, 0), 0);
	assert_int_equal(poll_once(r, 2), 0);
	th_fsrv_set(&r->srv, 1, TH_FSRV_OK, 0);
	assert_int_equal(poll_until_ok(r, 1), 0);
	poll_all_ok(r);
	th_rig_close(r);
}

static void test_silent_device_times_out(void **state)
{
	(void)state;
	fault_case(TH_FSRV_SILENT, 0, -ETIMEDOUT);
}

static void test_disconnect_mid_frame_is_reported(void **state)
{
	(void)state;
	fault_case(TH_FSRV_CUT, 0, -ECONNRESET);
}

static void test_garbage_header_resets_connection(void **state)
{
	(void)state;
	fault_case(TH_FSRV_GARBAGE, 0, -MB_EPROTO);
}

static void test_wrong_tid_is_rejected(void **state)
{
	(void)state;
	fault_case(TH_FSRV_WRONG_TID, 0, -MB_ETID);
}

static void test_wrong_unit_is_rejected(void **state)
{
	(void)state;
	fault_case(TH_FSRV_WRONG_UNIT, 0, -MB_EUNIT);
}

static void test_short_byte_count_is_rejected(void **state)
{
	(void)state;
	fault_case(TH_FSRV_BAD_COUNT, 0, -MB_EBYTECOUNT);
}

static void test_exception_replies_are_named(void **state)
{
	(void)state;
	for (int code = 1; code <= 4; code++)
		fault_case(TH_FSRV_EXCEPTION, code, -MB_EXC(code));
}

static void test_one_byte_drip_still_parses(void **state)
{
	(void)state;
	fault_case(TH_FSRV_DRIP, 0, 0);
}

static void test_refused_and_restarted_device_recovers(void **state)
{
	struct th_rig *r;
	int err = 0;

	(void)state;
	r = th_rig_open(2, 2);
	th_rig_start(r);
	poll_all_ok(r);
	th_fsrv_set(&r->srv, 1, TH_FSRV_REFUSE, 0);
	/* The server closes the connection, then refuses new ones: errors until restart. */
	for (int i = 0; i < 50 && err == 0; i++)
		err = poll_once(r, 1);
	assert_true(err == -ECONNRESET || err == -ECONNREFUSED);
	assert_int_equal(poll_once(r, 0), 0);
	th_fsrv_set(&r->srv, 1, TH_FSRV_OK, 0);
	assert_int_equal(poll_until_ok(r, 1), 0);
	assert_true(atomic_load(&eng_counters(r->e, 1)->conn_failures) >= 1);
	assert_true(atomic_load(&eng_counters(r->e, 1)->connects) >= 2);
	th_rig_close(r);
}

static void test_refused_at_start_reports_connection_refused(void **state)
{
	struct th_rig *r;
	int err = 0;

	(void)state;
	r = th_rig_open(1, 1);
	th_fsrv_set(&r->srv, 0, TH_FSRV_REFUSE, 0);
	/* Let the server close its listener before the engine connects. */
	for (int i = 0; i < 100 && atomic_load(&r->srv.ports[0].is_listening); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 5 * CLK_NS_PER_MS }, NULL);
	th_rig_start(r);
	/* Until it listens again, every poll names the cause: refused (nothing is sent). */
	for (int i = 0; i < 5; i++) {
		err = poll_once(r, 0);
		assert_int_equal(err, -ECONNREFUSED);
	}
	th_fsrv_set(&r->srv, 0, TH_FSRV_OK, 0);
	assert_int_equal(poll_until_ok(r, 0), 0);
	th_rig_close(r);
}

/* ---- retries and late replies ------------------------------------------------------- */

static void test_retries_per_seed_rule_then_gives_up(void **state)
{
	struct th_rig *r;
	const struct eng_counters *c;

	(void)state;
	r = th_rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 3;
	r->devs[0].timeout_ns = 50 * CLK_NS_PER_MS;
	r->devs[0].retry_backoff_ns = 20 * CLK_NS_PER_MS;
	th_rig_start(r);
	th_fsrv_set(&r->srv, 0, TH_FSRV_SILENT, 0);
	assert_int_equal(poll_once(r, 0), -ETIMEDOUT);
	assert_int_equal(r->msgs[0].attempts, 3);
	/* Three timeouts and waits of 1x and 2x the backoff lie between command and verdict. */
	assert_true(r->msgs[0].t_done_ns - r->msgs[0].t_cmd_ns >=
		    3 * 50 * CLK_NS_PER_MS + 3 * 20 * CLK_NS_PER_MS);
	c = eng_counters(r->e, 0);
	assert_int_equal(atomic_load(&c->timeouts), 3);
	assert_int_equal(atomic_load(&c->retries), 2);
	assert_int_equal(atomic_load(&c->requests), 3);
	th_rig_close(r);
}

static void test_illegal_value_is_not_retried_but_busy_is(void **state)
{
	struct th_rig *r;

	(void)state;
	r = th_rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 3;
	th_rig_start(r);
	th_fsrv_set(&r->srv, 0, TH_FSRV_EXCEPTION, MB_EX_ILLEGAL_DATA_VALUE);
	assert_int_equal(poll_once(r, 0), -MB_EXC(3));
	assert_int_equal(r->msgs[0].attempts, 1);
	th_fsrv_set(&r->srv, 0, TH_FSRV_EXCEPTION, MB_EX_SERVER_DEVICE_BUSY);
	assert_int_equal(poll_once(r, 0), -MB_EXC(6));
	assert_int_equal(r->msgs[0].attempts, 3);
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->exceptions[6]), 3);
	th_rig_close(r);
}

/* Wait until the server has received at least n requests on port i (bounded). */
static void wait_requests(struct th_rig *r, unsigned i, uint64_t n)
{
	for (int k = 0; k < 500 && atomic_load(&r->srv.ports[i].requests) < n; k++)
		nanosleep(&(struct timespec){ .tv_nsec = 2 * CLK_NS_PER_MS }, NULL);
	assert_true(atomic_load(&r->srv.ports[i].requests) >= n);
}

static void test_late_reply_is_dropped_not_matched_to_next_request(void **state)
{
	struct th_rig *r;
	struct eng_cmd cmds[2];
	uint64_t before;

	(void)state;
	/* Two units behind one gateway port; unit 1's block times out, its late reply must not
	 * be taken for unit 2's request that follows on the same connection. retry_count 2: one
	 * timeout does not end the streak, so the connection stays up. */
	r = th_rig_open(1, 2);
	for (unsigned i = 0; i < 2; i++) {
		r->devs[i].nblocks = 1;
		r->devs[i].timeout_ns = 100 * CLK_NS_PER_MS;
		r->devs[i].retry_count = 2;
	}
	r->devs[1].blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 4000, 10 };
	th_rig_start(r);
	poll_all_ok(r);
	before = atomic_load(&r->srv.ports[0].requests);
	th_fsrv_set(&r->srv, 0, TH_FSRV_DELAY, 400);
	r->cycle++;
	for (unsigned i = 0; i < 2; i++)
		cmds[i] = (struct eng_cmd){ .kind = ENG_CMD_POLL,
					    .dev = (uint16_t)i,
					    .cycle = r->cycle,
					    .t_push_ns = clk_now_ns() };
	assert_int_equal(eng_submit(r->e, cmds, 2), 2);
	wait_requests(r, 0, before + 1);
	th_fsrv_set(&r->srv, 0, TH_FSRV_OK, 0);
	/* Unit 1 times out; unit 2's request goes out at once and its answer comes behind the
	 * late reply; then unit 1's retry is answered. Both carry their own registers. */
	assert_int_equal(collect(r, 2), 2);
	for (unsigned i = 0; i < 2; i++) {
		const struct eng_msg *m = &r->msgs[i];

		assert_int_equal(m->err, 0);
		check_sample(r, m);
		assert_int_equal(m->attempts, m->dev == 0 ? 2 : 1);
	}
	assert_int_equal(r->msgs[0].dev, 1); /* unit 2 was not held up by unit 1's backoff */
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->late) +
			     atomic_load(&eng_counters(r->e, 1)->late),
			 1);
	assert_int_equal(atomic_load(&r->srv.ports[0].accepts), 1);
	poll_all_ok(r);
	th_rig_close(r);
}

static void test_late_reply_during_retry_is_dropped(void **state)
{
	struct th_rig *r;
	uint64_t before;

	(void)state;
	r = th_rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 2;
	r->devs[0].timeout_ns = 100 * CLK_NS_PER_MS;
	th_rig_start(r);
	poll_all_ok(r);
	before = atomic_load(&r->srv.ports[0].requests);
	th_fsrv_set(&r->srv, 0, TH_FSRV_DELAY, 300);
	r->cycle++;
	push_poll(r, 0);
	wait_requests(r, 0, before + 1);
	th_fsrv_set(&r->srv, 0, TH_FSRV_OK, 0);
	assert_int_equal(collect(r, 1), 1);
	assert_int_equal(r->msgs[0].err, 0);
	assert_int_equal(r->msgs[0].attempts, 2);
	check_sample(r, &r->msgs[0]);
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->late), 1);
	th_rig_close(r);
}

/* ---- retries belong to the device, and every fault is named ---------------------------- */

static void log_pop(struct th_rig *r, struct msglog *l)
{
	if (l->n < LOG_CAP)
		l->n += eng_pop(r->e, l->m + l->n, LOG_CAP - l->n);
}

/* Wait until every message owed arrived (bounded: WAIT_NS); each command gets exactly one. */
static void log_drain(struct th_rig *r, struct msglog *l)
{
	int64_t deadline = clk_now_ns() + WAIT_NS;

	log_pop(r, l);
	while (l->n < l->owed && clk_now_ns() < deadline) {
		eng_wait(r->e, deadline);
		log_pop(r, l);
	}
	assert_int_equal(l->n, l->owed);
}

/*
 * A control cycle in miniature: every CYCLE_NS push each of cmds (cycle id and push time set
 * here) and keep every message in r->log, for max_cycles or until stop(r). Returns the
 * cycles run.
 */
static unsigned run_cycles(struct th_rig *r, const struct eng_cmd *cmds, unsigned n,
			   unsigned max_cycles, bool (*stop)(struct th_rig *r))
{
	struct timespec ts;
	unsigned k;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (k = 0; k < max_cycles && !(stop && stop(r)); k++) {
		r->cycle++;
		for (unsigned i = 0; i < n; i++) {
			struct eng_cmd c = cmds[i];

			c.cycle = r->cycle;
			c.t_push_ns = clk_now_ns();
			assert_int_equal(eng_submit(r->e, &c, 1), 1);
			r->log.owed += c.kind == ENG_CMD_POLL ? r->devs[c.dev].nblocks : 1;
		}
		ts.tv_nsec += CYCLE_NS;
		if (ts.tv_nsec >= CLK_NS_PER_SEC) {
			ts.tv_sec++;
			ts.tv_nsec -= CLK_NS_PER_SEC;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		log_pop(r, &r->log);
	}
	return k;
}

/*
 * Every fault named: each message of dev whose command was sent carries `want`, and from the
 * first one that names it on, every message does (nothing "superseded" once the device is
 * known to fail). Returns how many named it.
 */
static unsigned check_named(const struct th_rig *r, unsigned dev, int want)
{
	unsigned named = 0;

	for (unsigned i = 0; i < r->log.n; i++) {
		const struct eng_msg *m = &r->log.m[i];

		if (m->dev != dev)
			continue;
		if ((m->attempts || named) && m->err != want)
			fail_msg(
			    "dev %u cycle %u (attempts %u, message %u of %u): \"%s\", want \"%s\"",
			    dev, m->cycle, m->attempts, i, r->log.n, eng_strerror(m->err),
			    eng_strerror(want));
		named += m->err == want;
	}
	return named;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static bool dev0_conn_failed(struct th_rig *r)
{
	return atomic_load(&eng_counters(r->e, 0)->conn_failures) > 0;
}

static void test_backoff_grows_across_cycles_and_new_polls_do_not_reset_it(void **state)
{
	const struct eng_cmd poll = { .kind = ENG_CMD_POLL, .dev = 0 };
	const int64_t timeout = 30 * CLK_NS_PER_MS, backoff = 60 * CLK_NS_PER_MS;
	int64_t *sent = calloc(LOG_CAP, sizeof(*sent));
	unsigned nsent = 0;
	struct th_rig *r;

	(void)state;
	assert_non_null(sent);
	r = th_rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 4;
	r->devs[0].timeout_ns = timeout;
	r->devs[0].retry_backoff_ns = backoff;
	th_rig_start(r);
	assert_int_equal(poll_once(r, 0), 0);
	/* Silent, polled every 20 ms: far shorter than timeout + backoff. */
	th_fsrv_set(&r->srv, 0, TH_FSRV_SILENT, 0);
	run_cycles(r, &poll, 1, 250, dev0_conn_failed);
	assert_true(dev0_conn_failed(r)); /* the 4th failure in a row closed the connection */
	log_drain(r, &r->log);
	for (unsigned i = 0; i < r->log.n; i++)
		if (r->log.m[i].attempts)
			sent[nsent++] = r->log.m[i].t_sent_ns;
	qsort(sent, nsent, sizeof(*sent), cmp_i64);
	assert_true(nsent >= 4);
	/* Send k+1 waited for send k's timeout and then k x the backoff: 1x, 2x, 3x. */
	for (unsigned k = 1; k <= 3; k++)
		if (sent[k] - sent[k - 1] < timeout + (int64_t)k * backoff)
			fail_msg("send %u came %lld ms after send %u: want >= %lld ms", k + 1,
				 (long long)((sent[k] - sent[k - 1]) / CLK_NS_PER_MS), k,
				 (long long)((timeout + (int64_t)k * backoff) / CLK_NS_PER_MS));
	assert_true(check_named(r, 0, -ETIMEDOUT) > 0);
	assert_true(atomic_load(&eng_counters(r->e, 0)->timeouts) >= 4);
	free(sent);
	th_rig_close(r);
}

static bool port0_reconnected(struct th_rig *r)
{
	return atomic_load(&r->srv.ports[0].accepts) >= 2;
}

static void test_connected_silent_device_is_reconnected_after_retry_count_attempts(void **state)
{
	const struct eng_cmd poll = { .kind = ENG_CMD_POLL, .dev = 0 };
	const struct eng_counters *c;
	struct th_rig *r;
	int64_t t0;

	(void)state;
	r = th_rig_open(1, 1);
	r->devs[0].nblocks = 1;
	/* The config's defaults (control/config.h), so that the figure printed is the site's. */
	r->devs[0].retry_count = 3;
	r->devs[0].timeout_ns = 250 * CLK_NS_PER_MS;
	r->devs[0].retry_backoff_ns = 100 * CLK_NS_PER_MS;
	th_rig_start(r);
	assert_int_equal(poll_once(r, 0), 0);
	assert_int_equal(atomic_load(&r->srv.ports[0].accepts), 1);
	/* Connected, reading requests, answering nothing (SIGSTOP, a half-open link). */
	th_fsrv_set(&r->srv, 0, TH_FSRV_SILENT, 0);
	t0 = clk_now_ns();
	run_cycles(r, &poll, 1, 250, port0_reconnected);
	assert_true(port0_reconnected(r));
	print_message("measured: reconnected %lld ms after the device fell silent (timeout "
		      "250 ms x 3, backoff 100 ms, cycle 20 ms)\n",
		      (long long)((clk_now_ns() - t0) / CLK_NS_PER_MS));
	c = eng_counters(r->e, 0);
	assert_true(atomic_load(&c->timeouts) >= 3);
	assert_true(atomic_load(&c->conn_failures) >= 1);
	log_drain(r, &r->log);
	assert_true(check_named(r, 0, -ETIMEDOUT) > 0);
	th_fsrv_set(&r->srv, 0, TH_FSRV_OK, 0);
	assert_int_equal(poll_until_ok(r, 0), 0);
	th_rig_close(r);
}

static struct gw *the_gw;

static bool gw_reconnected(struct th_rig *r)
{
	(void)r;
	return atomic_load(&the_gw->accepts) >= 2;
}

static void test_dead_unit_behind_live_gateway_does_not_cut_the_others_off(void **state)
{
	const struct eng_cmd polls[2] = { { .kind = ENG_CMD_POLL, .dev = 0 },
					  { .kind = ENG_CMD_POLL, .dev = 1 } };
	struct th_rig *r;
	unsigned ok = 0;

	(void)state;
	r = th_rig_open(1, 2);
	the_gw = gw_open(1u << 1 | 1u << 2);
	for (unsigned i = 0; i < 2; i++) {
		r->devs[i].port = the_gw->port;
		r->devs[i].unit = (uint8_t)(1 + i);
		r->devs[i].nblocks = 1;
		r->devs[i].retry_count = 2;
		r->devs[i].timeout_ns = 50 * CLK_NS_PER_MS;
		r->devs[i].retry_backoff_ns = 20 * CLK_NS_PER_MS;
	}
	th_rig_start(r);
	poll_all_ok(r);
	atomic_store(&the_gw->alive_units, 1u << 1); /* unit 2 dies, unit 1 keeps answering */
	run_cycles(r, polls, 2, 40, NULL);
	log_drain(r, &r->log);
	/* Unit 2's streak went past retry_count, yet the gateway was never reconnected. */
	assert_true(atomic_load(&eng_counters(r->e, 1)->timeouts) > r->devs[1].retry_count);
	assert_int_equal(atomic_load(&the_gw->accepts), 1);
	assert_true(check_named(r, 1, -ETIMEDOUT) > 0);
	for (unsigned i = 0; i < r->log.n; i++) {
		const struct eng_msg *m = &r->log.m[i];

		if (m->dev == 0 && m->err == 0) {
			check_sample(r, m);
			ok++;
		}
	}
	assert_true(ok >= 3);
	/* The whole gateway falls silent: no valid frame during the streak, so reconnect. */
	atomic_store(&the_gw->alive_units, 0);
	r->log.n = r->log.owed = 0;
	run_cycles(r, polls, 2, 250, gw_reconnected);
	assert_true(gw_reconnected(r));
	log_drain(r, &r->log);
	th_rig_close(r);
	gw_close(the_gw);
}

static void test_every_fault_is_named_at_a_cycle_shorter_than_the_timeout(void **state)
{
	static const struct {
		enum th_fsrv_fault fault;
		int param;
		int want;
	} cases[] = {
		{ TH_FSRV_BAD_COUNT, 0, -MB_EBYTECOUNT },
		{ TH_FSRV_WRONG_TID, 0, -MB_ETID },
		{ TH_FSRV_WRONG_UNIT, 0, -MB_EUNIT },
		{ TH_FSRV_EXCEPTION, MB_EX_SERVER_DEVICE_FAILURE, -MB_EXC(4) },
		{ TH_FSRV_SILENT, 0, -ETIMEDOUT },
	};
	const struct eng_cmd poll = { .kind = ENG_CMD_POLL, .dev = 0 };

	(void)state;
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct th_rig *r = th_rig_open(1, 1);

		/* Two blocks, timeout 300 ms, polled every 20 ms. */
		r->devs[0].retry_count = 3;
		r->devs[0].retry_backoff_ns = 50 * CLK_NS_PER_MS;
		th_rig_start(r);
		assert_int_equal(poll_once(r, 0), 0);
		th_fsrv_set(&r->srv, 0, cases[k].fault, cases[k].param);
		run_cycles(r, &poll, 1, 30, NULL);
		log_drain(r, &r->log);
		if (check_named(r, 0, cases[k].want) == 0)
			fail_msg("fault %d: no sample named \"%s\"", cases[k].fault,
				 eng_strerror(cases[k].want));
		th_fsrv_set(&r->srv, 0, TH_FSRV_OK, 0);
		assert_int_equal(poll_until_ok(r, 0), 0);
		th_rig_close(r);
	}
}

static void test_writes_to_a_silent_device_end_as_timeouts_never_dropped(void **state)
{
	const struct eng_cmd w = { .kind = ENG_CMD_WRITE,
				   .fc = MB_FC_WRITE_SINGLE_REGISTER,
				   .dev = 0,
				   .addr = 2008,
				   .count = 1,
				   .values = { 50 } };
	struct eng_cmd one = w;
	struct th_rig *r;

	(void)state;
	r = th_rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 2;
	r->devs[0].timeout_ns = 50 * CLK_NS_PER_MS;
	r->devs[0].retry_backoff_ns = 20 * CLK_NS_PER_MS;
	th_rig_start(r);
	assert_int_equal(poll_once(r, 0), 0);
	th_fsrv_set(&r->srv, 0, TH_FSRV_SILENT, 0);
	/* One write alone: its attempts, then an ack that names the timeout. */
	one.cycle = ++r->cycle;
	assert_int_equal(eng_submit(r->e, &one, 1), 1);
	assert_int_equal(collect(r, 1), 1);
	assert_int_equal(r->msgs[0].kind, ENG_MSG_WRITE_ACK);
	assert_int_equal(r->msgs[0].cycle, r->cycle);
	assert_int_equal(r->msgs[0].err, -ETIMEDOUT);
	assert_int_equal(r->msgs[0].attempts, 2);
	/* A write every cycle (a heartbeat shorter than the timeout): each answered, by cause. */
	run_cycles(r, &w, 1, 15, NULL);
	log_drain(r, &r->log);
	assert_int_equal(r->log.n, 15);
	for (unsigned i = 0; i < r->log.n; i++) {
		assert_int_equal(r->log.m[i].kind, ENG_MSG_WRITE_ACK);
		assert_int_not_equal(r->log.m[i].err, 0);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(r->log.m[i].cycle, r->log.m[j].cycle);
	}
	assert_true(check_named(r, 0, -ETIMEDOUT) > 0);
	th_rig_close(r);
}

/* ---- the I/O thread's fail-safe ------------------------------------------------------ */

#define FAILSAFE_AFTER_NS (150 * CLK_NS_PER_MS)

/* ndev devices on their own ports, one block reading 2008, a failsafe of 2008 := 0. */
static struct th_rig *failsafe_rig(unsigned ndev)
{
	struct th_rig *r = th_rig_open(ndev, ndev);

	for (unsigned i = 0; i < ndev; i++) {
		struct eng_dev *d = &r->devs[i];

		d->nblocks = 1;
		d->blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 2008, 1 };
		d->retry_count = 2;
		d->timeout_ns = 50 * CLK_NS_PER_MS;
		d->retry_backoff_ns = 20 * CLK_NS_PER_MS;
		d->has_failsafe = true;
		d->failsafe_addr = 2008;
		d->failsafe_value = 0;
	}
	r->failsafe_after_ns = FAILSAFE_AFTER_NS;
	return r;
}

static void write_reg(struct th_rig *r, unsigned dev, uint16_t addr, uint16_t value)
{
	struct eng_cmd w = { .kind = ENG_CMD_WRITE,
			     .fc = MB_FC_WRITE_SINGLE_REGISTER,
			     .dev = (uint16_t)dev,
			     .addr = addr,
			     .count = 1,
			     .cycle = ++r->cycle,
			     .t_push_ns = clk_now_ns(),
			     .values = { value } };

	assert_int_equal(eng_submit(r->e, &w, 1), 1);
	assert_int_equal(collect(r, 1), 1);
	assert_int_equal(r->msgs[0].kind, ENG_MSG_WRITE_ACK);
	assert_int_equal(r->msgs[0].flags, 0);
	assert_int_equal(r->msgs[0].err, 0);
}

/* Poll a one-block device (flags: ENG_CMDF_ARM or 0); returns its first register. */
static uint16_t read_reg0(struct th_rig *r, unsigned dev, uint8_t flags)
{
	struct eng_cmd c = { .kind = ENG_CMD_POLL,
			     .dev = (uint16_t)dev,
			     .cycle = ++r->cycle,
			     .flags = flags,
			     .t_push_ns = clk_now_ns() };

	assert_int_equal(eng_submit(r->e, &c, 1), 1);
	assert_int_equal(collect(r, 1), 1);
	assert_int_equal(r->msgs[0].kind, ENG_MSG_SAMPLE);
	assert_int_equal(r->msgs[0].cycle, r->cycle);
	if (r->msgs[0].err)
		fail_msg("dev %u: %s", dev, eng_strerror(r->msgs[0].err));
	return r->msgs[0].data.regs[0];
}

/* Wait up to max_ns for the engine's next failsafe ack; any other message fails the test. */
static bool wait_failsafe(struct th_rig *r, struct eng_msg *m, int64_t max_ns)
{
	int64_t deadline = clk_now_ns() + max_ns;

	while (clk_now_ns() < deadline) {
		if (eng_pop(r->e, m, 1) == 1) {
			if (m->flags & ENG_MSGF_FAILSAFE)
				return true;
			fail_msg("unexpected message: kind %u dev %u cycle %u", m->kind, m->dev,
				 m->cycle);
		}
		eng_wait(r->e, deadline);
	}
	return false;
}

static void test_failsafe_writes_armed_devices_when_commands_stop(void **state)
{
	struct eng_msg *m = calloc(1, sizeof(*m));
	struct th_rig *r;

	(void)state;
	assert_non_null(m);
	r = failsafe_rig(2);
	r->devs[1].has_failsafe = false; /* armed, but has no failsafe to write */
	th_rig_start(r);
	for (unsigned i = 0; i < 2; i++) {
		write_reg(r, i, 2008, 50);
		assert_int_equal(read_reg0(r, i, ENG_CMDF_ARM), 50);
	}
	/* The control thread falls silent: the engine writes 2008 := 0 by itself, once. */
	assert_true(wait_failsafe(r, m, WAIT_NS));
	assert_int_equal(m->kind, ENG_MSG_WRITE_ACK);
	assert_int_equal(m->dev, 0);
	assert_int_equal(m->cycle, 0);
	assert_int_equal(m->err, 0);
	assert_int_equal(m->addr, 2008);
	assert_int_equal(m->data.regs[0], 0);
	assert_false(wait_failsafe(r, m, 4 * FAILSAFE_AFTER_NS));
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->failsafe_writes), 1);
	assert_int_equal(atomic_load(&eng_counters(r->e, 1)->failsafe_writes), 0);
	/* The device's register reads 0 now (it had 50); the one without a failsafe keeps 50. */
	assert_int_equal(read_reg0(r, 0, ENG_CMDF_ARM), 0);
	assert_int_equal(read_reg0(r, 1, ENG_CMDF_ARM), 50);
	/* Commands flowing (every 50 ms for 4 x failsafe_after): no failsafe write. */
	write_reg(r, 0, 2008, 50);
	for (int k = 0; k < 12; k++) {
		assert_int_equal(read_reg0(r, 0, ENG_CMDF_ARM), 50);
		nanosleep(&(struct timespec){ .tv_nsec = 50 * CLK_NS_PER_MS }, NULL);
	}
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->failsafe_writes), 1);
	/* A new silence is a new episode: written again. */
	assert_true(wait_failsafe(r, m, WAIT_NS));
	assert_int_equal(m->err, 0);
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->failsafe_writes), 2);
	assert_int_equal(read_reg0(r, 0, ENG_CMDF_ARM), 0);
	free(m);
	th_rig_close(r);
}

static void test_failsafe_never_writes_an_unarmed_device(void **state)
{
	struct eng_msg *m = calloc(1, sizeof(*m));
	struct th_rig *r;

	(void)state;
	assert_non_null(m);
	r = failsafe_rig(1);
	th_rig_start(r);
	read_reg0(r, 0, ENG_CMDF_ARM);
	write_reg(r, 0, 2008, 50);
	/* A POLL without ENG_CMDF_ARM disarms (another master holds the command source). */
	assert_int_equal(read_reg0(r, 0, 0), 50);
	assert_false(wait_failsafe(r, m, 4 * FAILSAFE_AFTER_NS));
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->failsafe_writes), 0);
	assert_int_equal(read_reg0(r, 0, 0), 50);
	free(m);
	th_rig_close(r);
}

static void test_failsafe_is_tried_again_while_the_device_fails(void **state)
{
	struct eng_msg *m = calloc(1, sizeof(*m));
	struct th_rig *r;

	(void)state;
	assert_non_null(m);
	r = failsafe_rig(1);
	th_rig_start(r);
	write_reg(r, 0, 2008, 50);
	assert_int_equal(read_reg0(r, 0, ENG_CMDF_ARM), 50);
	th_fsrv_set(&r->srv, 0, TH_FSRV_SILENT, 0);
	/* Silent control thread, silent device: the failsafe write fails, named, and again. */
	for (int k = 0; k < 2; k++) {
		assert_true(wait_failsafe(r, m, WAIT_NS));
		assert_int_equal(m->err, -ETIMEDOUT);
	}
	th_fsrv_set(&r->srv, 0, TH_FSRV_OK, 0);
	for (int k = 0; k < 20 && wait_failsafe(r, m, WAIT_NS) && m->err; k++)
		;
	assert_int_equal(m->err, 0);
	assert_true(atomic_load(&eng_counters(r->e, 0)->failsafe_writes) >= 3);
	assert_int_equal(read_reg0(r, 0, ENG_CMDF_ARM), 0);
	free(m);
	th_rig_close(r);
}

static void test_publishes_rtt_histogram(void **state)
{
	struct th_rig *r;
	struct hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	r = th_rig_open(1, 1);
	th_rig_start(r);
	for (int i = 0; i < 5; i++)
		poll_all_ok(r);
	eng_stop(r->e); /* publishes the final histograms */
	assert_int_equal(eng_read_rtt(r->e, 0, h), 0);
	assert_int_equal(h->count, 10);
	assert_true(h->min_ns > 0);
	assert_true(h->max_ns >= h->min_ns);
	free(h);
	th_rig_close(r);
}

static void test_rejects_invalid_configuration(void **state)
{
	struct eng_dev d;
	struct eng_cfg cfg = { .devs = &d, .ndev = 1, .cpu = -1 };
	struct eng *e;

	(void)state;
	dev_init(&d, 502, 1);
	snprintf(d.host, sizeof(d.host), "plc.example");
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	dev_init(&d, 502, 1);
	d.blocks[0].count = 126;
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	dev_init(&d, 502, 1);
	d.blocks[0].fc = MB_FC_WRITE_SINGLE_REGISTER;
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	dev_init(&d, 0, 1);
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	cfg.ndev = 0;
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	assert_null(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_polls_many_devices_and_checks_every_register,
					  close_live_rig),
		cmocka_unit_test_teardown(test_polls_1000_devices_on_1000_connections,
					  close_live_rig),
		cmocka_unit_test_teardown(test_gateway_units_share_one_connection, close_live_rig),
		cmocka_unit_test_teardown(test_works_with_every_uring_setup, close_live_rig),
		cmocka_unit_test_teardown(test_writes_registers_and_reads_them_back,
					  close_live_rig),
		cmocka_unit_test_teardown(
		    test_newer_write_supersedes_queued_one_and_both_are_answered, close_live_rig),
		cmocka_unit_test_teardown(test_rejects_bad_commands_with_named_error,
					  close_live_rig),
		cmocka_unit_test_teardown(test_silent_device_times_out, close_live_rig),
		cmocka_unit_test_teardown(test_disconnect_mid_frame_is_reported, close_live_rig),
		cmocka_unit_test_teardown(test_garbage_header_resets_connection, close_live_rig),
		cmocka_unit_test_teardown(test_wrong_tid_is_rejected, close_live_rig),
		cmocka_unit_test_teardown(test_wrong_unit_is_rejected, close_live_rig),
		cmocka_unit_test_teardown(test_short_byte_count_is_rejected, close_live_rig),
		cmocka_unit_test_teardown(test_exception_replies_are_named, close_live_rig),
		cmocka_unit_test_teardown(test_one_byte_drip_still_parses, close_live_rig),
		cmocka_unit_test_teardown(test_refused_and_restarted_device_recovers,
					  close_live_rig),
		cmocka_unit_test_teardown(test_refused_at_start_reports_connection_refused,
					  close_live_rig),
		cmocka_unit_test_teardown(test_retries_per_seed_rule_then_gives_up, close_live_rig),
		cmocka_unit_test_teardown(test_illegal_value_is_not_retried_but_busy_is,
					  close_live_rig),
		cmocka_unit_test_teardown(test_late_reply_is_dropped_not_matched_to_next_request,
					  close_live_rig),
		cmocka_unit_test_teardown(test_late_reply_during_retry_is_dropped, close_live_rig),
		cmocka_unit_test_teardown(
		    test_backoff_grows_across_cycles_and_new_polls_do_not_reset_it, close_live_rig),
		cmocka_unit_test_teardown(
		    test_connected_silent_device_is_reconnected_after_retry_count_attempts,
		    close_live_rig),
		cmocka_unit_test_teardown(
		    test_dead_unit_behind_live_gateway_does_not_cut_the_others_off, close_live_rig),
		cmocka_unit_test_teardown(
		    test_every_fault_is_named_at_a_cycle_shorter_than_the_timeout, close_live_rig),
		cmocka_unit_test_teardown(
		    test_writes_to_a_silent_device_end_as_timeouts_never_dropped, close_live_rig),
		cmocka_unit_test_teardown(test_failsafe_writes_armed_devices_when_commands_stop,
					  close_live_rig),
		cmocka_unit_test_teardown(test_failsafe_never_writes_an_unarmed_device,
					  close_live_rig),
		cmocka_unit_test_teardown(test_failsafe_is_tried_again_while_the_device_fails,
					  close_live_rig),
		cmocka_unit_test_teardown(test_publishes_rtt_histogram, close_live_rig),
		cmocka_unit_test_teardown(test_rejects_invalid_configuration, close_live_rig),
	};

	return cmocka_run_group_tests_name("io/engine", tests, NULL, NULL);
}
