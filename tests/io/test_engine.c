// SPDX-License-Identifier: MIT
/*
 * Integration tests of the io_uring engine against the fault server (tests/support/faultsrv)
 * on 127.0.0.1: many devices at once, every fault a device can commit, recovery, retries,
 * late replies, gateways, and each io_uring setup. Every sample's registers are checked
 * against the value the server derives from (port, unit, address): no stale or mismatched
 * data passes. Waits are bounded (5 s each); nothing asserts on how fast anything was.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>

#include <cmocka.h>

#include "io/engine.h"
#include "rt/clock.h"
#include "tests/support/faultsrv.h"

#define WAIT_NS	     (5 * CLK_NS_PER_SEC)
#define BLOCK_A_ADDR 100  /* FC03, 10 registers */
#define BLOCK_B_ADDR 3000 /* FC04, 4 registers */

struct rig {
	struct fsrv srv;
	struct eng *e;
	struct eng_dev *devs;
	unsigned ndev;
	uint32_t cycle;
	struct eng_msg *msgs; /* collected */
	unsigned nmsgs;
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
 * rig_close(): a failure must not leave threads and sockets to the next test. */
static struct rig *live_rig;

/* Open `nports` server ports and `ndev` devices over them (device i on port i % nports,
 * unit 1 + i / nports); the caller may edit r->devs before rig_start(). */
static struct rig *rig_open(unsigned nports, unsigned ndev)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	live_rig = r;
	assert_int_equal(fsrv_open(&r->srv, nports), 0);
	r->ndev = ndev;
	r->devs = calloc(ndev, sizeof(*r->devs));
	r->msgs = calloc(4 * ndev * ENG_MAX_BLOCKS + 64, sizeof(*r->msgs));
	assert_non_null(r->devs);
	assert_non_null(r->msgs);
	for (unsigned i = 0; i < ndev; i++)
		dev_init(&r->devs[i], r->srv.ports[i % nports].port, (uint8_t)(1 + i / nports));
	return r;
}

static void rig_start_with(struct rig *r, enum eng_uring uring, bool no_buf_ring, bool no_multishot)
{
	struct eng_cfg cfg = { .devs = r->devs,
			       .ndev = r->ndev,
			       .cpu = -1,
			       .uring = uring,
			       .no_buf_ring = no_buf_ring,
			       .no_multishot = no_multishot,
			       .connect_timeout_ns = 500 * CLK_NS_PER_MS,
			       .reconnect_min_ns = 20 * CLK_NS_PER_MS,
			       .reconnect_max_ns = 200 * CLK_NS_PER_MS };
	int err = eng_open(&r->e, &cfg);

	assert_int_equal(err, 0);
	err = eng_start(r->e);
	if (err)
		fail_msg("eng_start: %s", eng_strerror(err));
}

static void rig_start(struct rig *r)
{
	rig_start_with(r, ENG_URING_BEST, false, false);
}

static void rig_close(struct rig *r)
{
	eng_close(r->e);
	fsrv_close(&r->srv);
	free(r->devs);
	free(r->msgs);
	free(r);
	live_rig = NULL;
}

static int close_live_rig(void **state)
{
	(void)state;
	if (live_rig)
		rig_close(live_rig);
	return 0;
}

/* Collect messages until `want` arrived or WAIT_NS passed. Returns how many arrived. */
static unsigned collect(struct rig *r, unsigned want)
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

static void push_poll(struct rig *r, unsigned dev)
{
	struct eng_cmd c = { .kind = ENG_CMD_POLL,
			     .dev = (uint16_t)dev,
			     .cycle = r->cycle,
			     .t_push_ns = clk_now_ns() };

	assert_int_equal(eng_submit(r->e, &c, 1), 1);
}

/* Check a successful sample's registers against what the server holds. */
static void check_sample(const struct rig *r, const struct eng_msg *m)
{
	const struct eng_dev *d = &r->devs[m->dev];
	const struct eng_block *b = &d->blocks[m->block];

	assert_int_equal(m->kind, ENG_MSG_SAMPLE);
	assert_int_equal(m->addr, b->start);
	assert_int_equal(m->count, b->count);
	for (unsigned i = 0; i < b->count; i++)
		if (m->data.regs[i] != fsrv_value(d->port, d->unit, (uint16_t)(b->start + i)))
			fail_msg("dev %u block %u reg %u: got %u want %u", m->dev, m->block, i,
				 m->data.regs[i],
				 fsrv_value(d->port, d->unit, (uint16_t)(b->start + i)));
	assert_true(m->t_cmd_ns <= m->t_sent_ns);
	assert_true(m->t_sent_ns <= m->t_done_ns);
}

/* Poll one device; returns the error of its first block's sample (checking data if 0). */
static int poll_once(struct rig *r, unsigned dev)
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
static int poll_until_ok(struct rig *r, unsigned dev)
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
static void poll_all_ok(struct rig *r)
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
	struct rig *r;

	(void)state;
	r = rig_open(50, 50);
	rig_start(r);
	for (int cycle = 0; cycle < 5; cycle++)
		poll_all_ok(r);
	for (unsigned i = 0; i < r->ndev; i++) {
		const struct eng_counters *c = eng_counters(r->e, i);

		assert_int_equal(atomic_load(&c->requests), 10);
		assert_int_equal(atomic_load(&c->responses), 10);
		assert_int_equal(atomic_load(&c->connects), 1);
	}
	assert_int_equal(eng_msg_drops(r->e), 0);
	rig_close(r);
}

static void test_polls_1000_devices_on_1000_connections(void **state)
{
	struct rlimit rl;
	struct rig *r;

	(void)state;
	/* 1000 engine sockets + 2000 server sockets in this process. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < 3100)
		skip();
	r = rig_open(1000, 1000);
	for (unsigned i = 0; i < r->ndev; i++)
		r->devs[i].timeout_ns = 3 * CLK_NS_PER_SEC;
	rig_start(r);
	poll_all_ok(r);
	poll_all_ok(r);
	rig_close(r);
}

static void test_gateway_units_share_one_connection(void **state)
{
	struct rig *r;

	(void)state;
	r = rig_open(1, 4); /* units 1..4 behind one port */
	rig_start(r);
	for (int cycle = 0; cycle < 3; cycle++)
		poll_all_ok(r);
	assert_int_equal(atomic_load(&r->srv.ports[0].accepts), 1);
	rig_close(r);
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
		struct rig *r;
		struct eng_features f;

		r = rig_open(3, 6);
		rig_start_with(r, setups[s].uring, setups[s].no_buf_ring, setups[s].no_multishot);
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
		rig_close(r);
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
	struct rig *r;

	(void)state;
	r = rig_open(1, 1);
	r->devs[0].blocks[1] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 2008, 5 };
	rig_start(r);
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
	rig_close(r);
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
	struct rig *r;

	(void)state;
	r = rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 2008, 1 };
	rig_start(r);
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
	rig_close(r);
}

static void test_rejects_bad_commands_with_named_error(void **state)
{
	struct eng_cmd bad[3] = {
		{ .kind = ENG_CMD_POLL, .dev = 9, .cycle = 1 },
		{ .kind = ENG_CMD_WRITE, .fc = MB_FC_WRITE_SINGLE_REGISTER, .dev = 0, .count = 2 },
		{ .kind = 77, .dev = 0 },
	};
	struct rig *r;

	(void)state;
	r = rig_open(1, 1);
	rig_start(r);
	assert_int_equal(eng_submit(r->e, bad, 3), 3);
	assert_int_equal(collect(r, 3), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(r->msgs[i].err, -ENG_EBADCMD);
	assert_string_equal(eng_strerror(-ENG_EBADCMD),
			    "command names no device, block or valid write");
	assert_int_equal(poll_once(r, 0), 0);
	rig_close(r);
}

/* ---- faults ------------------------------------------------------------------------- */

/* Device 1 of 3 misbehaves; the others keep being served; device 1 gets `want`, then
 * recovers once the fault is cleared. */
static void fault_case(enum fsrv_fault fault, int param, int want)
{
	struct rig *r;
	int err;

	r = rig_open(3, 3);
	rig_start(r);
	poll_all_ok(r);
	fsrv_set(&r->srv, 1, fault, param);
	err = poll_once(r, 1);
	if (err != want)
		fail_msg("fault %d: got %d (%s), want %d (%s)", fault, err, eng_strerror(err), want,
			 eng_strerror(want));
	assert_int_equal(poll_once(r, 0), 0);
	assert_int_equal(poll_once(r, 2), 0);
	fsrv_set(&r->srv, 1, FSRV_OK, 0);
	assert_int_equal(poll_until_ok(r, 1), 0);
	poll_all_ok(r);
	rig_close(r);
}

static void test_silent_device_times_out(void **state)
{
	(void)state;
	fault_case(FSRV_SILENT, 0, -ETIMEDOUT);
}

static void test_disconnect_mid_frame_is_reported(void **state)
{
	(void)state;
	fault_case(FSRV_CUT, 0, -ECONNRESET);
}

static void test_garbage_header_resets_connection(void **state)
{
	(void)state;
	fault_case(FSRV_GARBAGE, 0, -MB_EPROTO);
}

static void test_wrong_tid_is_rejected(void **state)
{
	(void)state;
	fault_case(FSRV_WRONG_TID, 0, -MB_ETID);
}

static void test_wrong_unit_is_rejected(void **state)
{
	(void)state;
	fault_case(FSRV_WRONG_UNIT, 0, -MB_EUNIT);
}

static void test_short_byte_count_is_rejected(void **state)
{
	(void)state;
	fault_case(FSRV_BAD_COUNT, 0, -MB_EBYTECOUNT);
}

static void test_exception_replies_are_named(void **state)
{
	(void)state;
	for (int code = 1; code <= 4; code++)
		fault_case(FSRV_EXCEPTION, code, -MB_EXC(code));
}

static void test_one_byte_drip_still_parses(void **state)
{
	(void)state;
	fault_case(FSRV_DRIP, 0, 0);
}

static void test_refused_and_restarted_device_recovers(void **state)
{
	struct rig *r;
	int err = 0;

	(void)state;
	r = rig_open(2, 2);
	rig_start(r);
	poll_all_ok(r);
	fsrv_set(&r->srv, 1, FSRV_REFUSE, 0);
	/* The server closes the connection, then refuses new ones: errors until restart. */
	for (int i = 0; i < 50 && err == 0; i++)
		err = poll_once(r, 1);
	assert_true(err == -ECONNRESET || err == -ECONNREFUSED);
	assert_int_equal(poll_once(r, 0), 0);
	fsrv_set(&r->srv, 1, FSRV_OK, 0);
	assert_int_equal(poll_until_ok(r, 1), 0);
	assert_true(atomic_load(&eng_counters(r->e, 1)->conn_failures) >= 1);
	assert_true(atomic_load(&eng_counters(r->e, 1)->connects) >= 2);
	rig_close(r);
}

static void test_refused_at_start_reports_connection_refused(void **state)
{
	struct rig *r;
	int err = 0;

	(void)state;
	r = rig_open(1, 1);
	fsrv_set(&r->srv, 0, FSRV_REFUSE, 0);
	/* Let the server close its listener before the engine connects. */
	for (int i = 0; i < 100 && atomic_load(&r->srv.ports[0].is_listening); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 5 * CLK_NS_PER_MS }, NULL);
	rig_start(r);
	/* Until it listens again, every poll names the cause: refused (nothing is sent). */
	for (int i = 0; i < 5; i++) {
		err = poll_once(r, 0);
		assert_int_equal(err, -ECONNREFUSED);
	}
	fsrv_set(&r->srv, 0, FSRV_OK, 0);
	assert_int_equal(poll_until_ok(r, 0), 0);
	rig_close(r);
}

/* ---- retries and late replies ------------------------------------------------------- */

static void test_retries_per_seed_rule_then_gives_up(void **state)
{
	struct rig *r;
	const struct eng_counters *c;

	(void)state;
	r = rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 3;
	r->devs[0].timeout_ns = 50 * CLK_NS_PER_MS;
	r->devs[0].retry_backoff_ns = 20 * CLK_NS_PER_MS;
	rig_start(r);
	fsrv_set(&r->srv, 0, FSRV_SILENT, 0);
	assert_int_equal(poll_once(r, 0), -ETIMEDOUT);
	assert_int_equal(r->msgs[0].attempts, 3);
	/* Three timeouts and waits of 1x and 2x the backoff lie between command and verdict. */
	assert_true(r->msgs[0].t_done_ns - r->msgs[0].t_cmd_ns >=
		    3 * 50 * CLK_NS_PER_MS + 3 * 20 * CLK_NS_PER_MS);
	c = eng_counters(r->e, 0);
	assert_int_equal(atomic_load(&c->timeouts), 3);
	assert_int_equal(atomic_load(&c->retries), 2);
	assert_int_equal(atomic_load(&c->requests), 3);
	rig_close(r);
}

static void test_illegal_value_is_not_retried_but_busy_is(void **state)
{
	struct rig *r;

	(void)state;
	r = rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 3;
	rig_start(r);
	fsrv_set(&r->srv, 0, FSRV_EXCEPTION, MB_EX_ILLEGAL_DATA_VALUE);
	assert_int_equal(poll_once(r, 0), -MB_EXC(3));
	assert_int_equal(r->msgs[0].attempts, 1);
	fsrv_set(&r->srv, 0, FSRV_EXCEPTION, MB_EX_SERVER_DEVICE_BUSY);
	assert_int_equal(poll_once(r, 0), -MB_EXC(6));
	assert_int_equal(r->msgs[0].attempts, 3);
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->exceptions[6]), 3);
	rig_close(r);
}

/* Wait until the server has received at least n requests on port i (bounded). */
static void wait_requests(struct rig *r, unsigned i, uint64_t n)
{
	for (int k = 0; k < 500 && atomic_load(&r->srv.ports[i].requests) < n; k++)
		nanosleep(&(struct timespec){ .tv_nsec = 2 * CLK_NS_PER_MS }, NULL);
	assert_true(atomic_load(&r->srv.ports[i].requests) >= n);
}

static void test_late_reply_is_dropped_not_matched_to_next_request(void **state)
{
	struct rig *r;
	uint64_t before;

	(void)state;
	/* Two units behind one gateway port; unit 1's block times out, its late reply must not
	 * be taken for unit 2's request that follows on the same connection. */
	r = rig_open(1, 2);
	for (unsigned i = 0; i < 2; i++) {
		r->devs[i].nblocks = 1;
		r->devs[i].timeout_ns = 100 * CLK_NS_PER_MS;
	}
	r->devs[1].blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 4000, 10 };
	rig_start(r);
	poll_all_ok(r);
	before = atomic_load(&r->srv.ports[0].requests);
	fsrv_set(&r->srv, 0, FSRV_DELAY, 400);
	r->cycle++;
	push_poll(r, 0);
	wait_requests(r, 0, before + 1);
	fsrv_set(&r->srv, 0, FSRV_OK, 0);
	assert_int_equal(collect(r, 1), 1);
	assert_int_equal(r->msgs[0].err, -ETIMEDOUT);
	/* Unit 2's request goes out at once and is answered at once, behind the late reply. */
	assert_int_equal(poll_once(r, 1), 0);
	for (int k = 0; k < 250 && atomic_load(&eng_counters(r->e, 0)->late) == 0; k++)
		nanosleep(&(struct timespec){ .tv_nsec = 2 * CLK_NS_PER_MS }, NULL);
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->late) +
			     atomic_load(&eng_counters(r->e, 1)->late),
			 1);
	poll_all_ok(r);
	rig_close(r);
}

static void test_late_reply_during_retry_is_dropped(void **state)
{
	struct rig *r;
	uint64_t before;

	(void)state;
	r = rig_open(1, 1);
	r->devs[0].nblocks = 1;
	r->devs[0].retry_count = 2;
	r->devs[0].timeout_ns = 100 * CLK_NS_PER_MS;
	rig_start(r);
	poll_all_ok(r);
	before = atomic_load(&r->srv.ports[0].requests);
	fsrv_set(&r->srv, 0, FSRV_DELAY, 300);
	r->cycle++;
	push_poll(r, 0);
	wait_requests(r, 0, before + 1);
	fsrv_set(&r->srv, 0, FSRV_OK, 0);
	assert_int_equal(collect(r, 1), 1);
	assert_int_equal(r->msgs[0].err, 0);
	assert_int_equal(r->msgs[0].attempts, 2);
	check_sample(r, &r->msgs[0]);
	assert_int_equal(atomic_load(&eng_counters(r->e, 0)->late), 1);
	rig_close(r);
}

static void test_publishes_rtt_histogram(void **state)
{
	struct rig *r;
	struct hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	r = rig_open(1, 1);
	rig_start(r);
	for (int i = 0; i < 5; i++)
		poll_all_ok(r);
	eng_stop(r->e); /* publishes the final histograms */
	assert_int_equal(eng_read_rtt(r->e, 0, h), 0);
	assert_int_equal(h->count, 10);
	assert_true(h->min_ns > 0);
	assert_true(h->max_ns >= h->min_ns);
	free(h);
	rig_close(r);
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
		cmocka_unit_test_teardown(test_publishes_rtt_histogram, close_live_rig),
		cmocka_unit_test_teardown(test_rejects_invalid_configuration, close_live_rig),
	};

	return cmocka_run_group_tests_name("io/engine", tests, NULL, NULL);
}
