// SPDX-License-Identifier: MIT
/*
 * The 0x02 fallback of poll blocks (issue 16 item 4), end to end: a meter whose profile has
 * holes, planned with max_gap 8 into a block that spans them, served by the profile simulator
 * in its strict mode (exception 0x02 to any read covering a register no point holds). The
 * controller's first read of that block is refused; from then on it reads the block's points
 * without holes, says so once, and every point decodes to what the simulator holds. A meter
 * that answers the merged block (the fault server, which counts requests) keeps it. And the
 * engine's side of it: a POLL reads only the blocks its block_mask names. Waits are bounded;
 * nothing asserts a duration.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/config.h"
#include "control/ctl_hooks.h"
#include "devices/profile.h"
#include "io/engine.h"
#include "rt/clock.h"
#include "tests/support/faultsrv.h"
#include "tests/support/net.h"
#include "tests/support/rig.h"

/*
 * Points at 100..101, 104..105 and 110..111 (holes 102..103 and 106..109) plan into one FC03
 * read 100+12, whose split is three reads; 200 is a block of its own without a hole. Integer
 * types only, so the fault server's register values decode exactly too.
 */
static const char holey_yaml[] = "name: holey-meter\n"
				 "kind: meter\n"
				 "max_gap: 8\n"
				 "points:\n"
				 "  - { name: power_kw, address: 100, type: i16, unit: kW }\n"
				 "  - { name: count_a, address: 101, type: u16 }\n"
				 "  - { name: count_b, address: 104, type: u16 }\n"
				 "  - { name: count_c, address: 105, type: u16 }\n"
				 "  - { name: energy_kwh, address: 110, type: u32, scale: 10 }\n"
				 "  - { name: count_d, address: 200, type: u16 }\n"
				 "roles:\n"
				 "  grid_power: power_kw\n";

#define HOLEY_MERGED 2 /* blocks prof_plan_blocks() gives it */
#define HOLEY_SPLIT  3 /* blocks its first one splits into */

/* What the running test holds, released by the teardown even after a failed assertion. */
static struct th_fsrv srv;
static struct prof_profile *live_profile;
static struct eng *live_eng;

static int teardown(void **state)
{
	(void)state;
	th_rig_free(th_rig_live());
	eng_close(live_eng);
	live_eng = NULL;
	th_fsrv_close(&srv);
	memset(&srv, 0, sizeof(srv));
	prof_free(live_profile);
	live_profile = NULL;
	return 0;
}

static struct prof_profile *holey_profile(void)
{
	struct prof_profile *p = NULL;
	struct prof_block split[ENG_MAX_BLOCKS];
	char err[256];
	int n;

	n = prof_load_text("holey.yaml", holey_yaml, sizeof(holey_yaml) - 1, &p, err, sizeof(err));
	if (n)
		fail_msg("holey.yaml: %s", err);
	live_profile = p;
	/* The premise: one planned block spans both holes, and splits into three. */
	assert_int_equal(p->n_blocks, HOLEY_MERGED);
	assert_int_equal(p->blocks[0].start, 100);
	assert_int_equal(p->blocks[0].count, 12);
	assert_int_equal(prof_plan_split(p, &p->blocks[0], NULL, 0, split, ENG_MAX_BLOCKS),
			 HOLEY_SPLIT);
	return p;
}

/* The profile simulator's values for it: distinct, exact, the u32 in 0.1 kWh. */
static struct sim_prof_params strict_params(const struct prof_profile *p)
{
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;

	prm.is_strict_holes = true;
	for (unsigned k = 0; k < p->n_points; k++) {
		prm.has_value[k] = true;
		prm.value[k] = p->points[k].type == PROF_U32 ? 4321.5 : 10 + 3 * k;
	}
	return prm;
}

/* The test seam as a gate: counts the cycles it lets through (each pushes one POLL per
 * device), and holds the next one at its top when asked. */
struct gate {
	atomic_bool should_hold;
	atomic_bool is_holding;
	_Atomic unsigned long passed;
};

static bool gate_hold(void *ctx)
{
	struct gate *g = ctx;

	if (atomic_load(&g->should_hold)) {
		atomic_store(&g->is_holding, true);
		return true;
	}
	atomic_fetch_add(&g->passed, 1);
	return false;
}

/* Hold the control thread at the top of a cycle, then wait until the fault server port's
 * request count settles (every poll pushed so far answered). Returns that count. */
static uint64_t hold_and_settle(struct gate *g, const struct th_fsrv_port *port)
{
	uint64_t last, now;
	int t, still = 0;

	atomic_store(&g->is_holding, false);
	atomic_store(&g->should_hold, true);
	for (t = 0; t < 200 && !atomic_load(&g->is_holding); t++)
		th_sleep_ms(10);
	assert_true(atomic_load(&g->is_holding));
	last = atomic_load(&port->requests);
	for (t = 0; t < 200 && still < 10; t++) {
		th_sleep_ms(20);
		now = atomic_load(&port->requests);
		still = now == last ? still + 1 : 0;
		last = now;
	}
	assert_int_equal(still, 10);
	return last;
}

static unsigned count_events(struct th_rig *r, unsigned event, unsigned dev, struct ctl_log *out)
{
	unsigned n = 0;

	th_rig_drain(r);
	for (unsigned k = 0; k < r->nlogs; k++)
		if (r->logs[k].event == event && r->logs[k].dev == dev) {
			if (out && !n)
				*out = r->logs[k];
			n++;
		}
	return n;
}

/* Wait (bounded) until meter j is fresh with every point valid. */
static const struct ctl_snapshot *wait_whole(struct th_rig *r, unsigned j, uint32_t all)
{
	const struct ctl_snapshot *s = NULL;

	for (int t = 0; t < 150; t++) {
		s = th_rig_snap(r);
		if (s->meters[j].is_fresh && s->meters[j].pt.valid == all)
			return s;
		th_sleep_ms(20);
	}
	th_rig_dump(r);
	fail_msg("meter %u never fresh with every point (valid 0x%x, err %s)", j,
		 s->meters[j].pt.valid, ctl_strerror(s->meters[j].last_err));
	return s;
}

/* What the fault server's registers decode to as point k of p (integer points, ABCD). */
static double fsrv_point(const struct prof_profile *p, unsigned k, uint16_t port, uint8_t unit)
{
	const struct prof_point *pt = &p->points[k];
	uint16_t hi = th_fsrv_value(port, unit, pt->addr);
	double raw;

	switch (pt->type) {
	case PROF_I16:
		raw = (int16_t)hi;
		break;
	case PROF_U32:
		raw = (double)((uint32_t)hi << 16 | th_fsrv_value(port, unit, pt->addr + 1));
		break;
	default:
		raw = hi;
	}
	return raw / pt->scale + pt->offset;
}

/*
 * Meter 0 (strict) refuses the merged read 100+12 with 0x02: the controller says so once, reads
 * its points as three blocks from the next cycle, and every point equals the simulator's with
 * the meter fresh (the refusal is not reported as the device's failure). Meter 1 (the fault
 * server, which answers any read) keeps its two merged reads: requests per cycle stay 2.
 */
static void test_refused_merged_block_is_read_split_and_said_once(void **state)
{
	static struct gate gate;
	static const struct ctl_hooks hooks = { .hold_cycle = gate_hold, .ctx = &gate };
	struct prof_profile *p = holey_profile();
	struct sim_prof_params prm = strict_params(p);
	uint32_t all = (1u << p->n_points) - 1;
	double want[PROF_MAX_POINTS];
	const struct ctl_snapshot *s;
	struct ctl_log ev;
	struct th_rig *r;
	uint64_t req0, req1;
	unsigned long cyc0, cyc1;
	char line[256];
	uint16_t fport;

	(void)state;
	atomic_store(&gate.should_hold, false);
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	fport = srv.ports[0].port;
	r = th_rig_new_meter(p, &prm);
	assert_int_equal(th_rig_add_meter(r, "plain", p, fport, 1), 1);
	th_rig_start(r);
	ctl_set_hooks(r->ctl, &hooks);

	s = wait_whole(r, 0, all);
	assert_int_equal(sim_prof_get(r->sim, r->meter, want, PROF_MAX_POINTS), (int)p->n_points);
	for (unsigned k = 0; k < p->n_points; k++)
		if (s->meters[0].pt.points[k] != want[k])
			fail_msg("%s: decoded %.9g, the simulator holds %.9g", p->points[k].name,
				 s->meters[0].pt.points[k], want[k]);
	assert_true(s->meters[0].power_kw == want[0]);
	assert_int_equal(s->meters[0].last_err, 0);

	/* Said once, about block 0 (100+12), with the refusal's code and the split's size. */
	assert_int_equal(count_events(r, CTL_EV_BLOCK_SPLIT, 0, &ev), 1);
	assert_int_equal(ev.err, -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_true(ev.a == 0 && ev.b == HOLEY_SPLIT);
	ctl_format_log(r->ctl, &ev, line, sizeof(line));
	assert_string_equal(line, "grid: block FC03 0x0064+12 refused with exception 0x02 (a "
				  "read across a hole): reading it as 3 blocks from now on");
	assert_int_equal(ctl_event_priority(CTL_EV_BLOCK_SPLIT), 4);
	/* The refusal switched the reads; it was never the meter's error. */
	assert_false(th_rig_said(r, CTL_EV_NO_ANSWER, 0, NULL));
	assert_false(th_rig_said(r, CTL_EV_STALE, 0, NULL));

	/* Meter 1: its points as the fault server derives them, its blocks merged. */
	s = wait_whole(r, 1, all);
	for (unsigned k = 0; k < p->n_points; k++)
		assert_true(s->meters[1].pt.points[k] == fsrv_point(p, k, fport, 1));
	req0 = hold_and_settle(&gate, &srv.ports[0]);
	cyc0 = atomic_load(&gate.passed);
	atomic_store(&gate.should_hold, false);
	th_sleep_ms(600); /* about a dozen cycles of 50 ms */
	req1 = hold_and_settle(&gate, &srv.ports[0]);
	cyc1 = atomic_load(&gate.passed);
	assert_true(cyc1 > cyc0);
	assert_int_equal(req1 - req0, HOLEY_MERGED * (cyc1 - cyc0));
	atomic_store(&gate.should_hold, false);

	/* Cycles later: still once, still fresh, still the simulator's values. */
	s = wait_whole(r, 0, all);
	for (unsigned k = 0; k < p->n_points; k++)
		assert_true(s->meters[0].pt.points[k] == want[k]);
	assert_int_equal(count_events(r, CTL_EV_BLOCK_SPLIT, 0, NULL), 1);
	assert_int_equal(count_events(r, CTL_EV_BLOCK_SPLIT, 1, NULL), 0);
	th_rig_free(r);
}

/*
 * A meter that refuses the split reads too (every request answered 0x02) is a failing device
 * as any other: never fresh, its error named; the fallback is said once and tried once.
 */
static void test_split_blocks_refused_too_leave_a_failing_device(void **state)
{
	struct prof_profile *p = holey_profile();
	struct sim_prof_params prm = strict_params(p);
	const struct ctl_snapshot *s;
	struct ctl_log ev;
	struct th_rig *r;
	char line[256];
	int t;

	(void)state;
	r = th_rig_new_meter(p, &prm);
	assert_int_equal(
	    sim_set_fault(r->sim, r->meter,
			  &(struct sim_fault){ .flags = SIM_F_EXCEPTION,
					       .exception = MB_EX_ILLEGAL_DATA_ADDRESS }),
	    0);
	th_rig_start(r);
	for (t = 0; t < 200 && !th_rig_said(r, CTL_EV_NO_ANSWER, 0, NULL); t++)
		th_sleep_ms(10);
	assert_true(th_rig_said(r, CTL_EV_NO_ANSWER, 0, &ev));
	assert_int_equal(ev.err, -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	ctl_format_log(r->ctl, &ev, line, sizeof(line));
	assert_non_null(strstr(line, "illegal data address"));
	th_sleep_ms(300); /* several more cycles refused */
	s = th_rig_snap(r);
	assert_false(s->meters[0].is_fresh);
	assert_int_equal(s->meters[0].last_err, -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(count_events(r, CTL_EV_BLOCK_SPLIT, 0, &ev), 1);
	assert_true(ev.a == 0 && ev.b == HOLEY_SPLIT);
	th_rig_free(r);
}

/* ---- a BESS --------------------------------------------------------------------------- */

#define PP_SPLIT 6 /* powerpack.yaml's one read 2000+29: 2000, 2008, 2010, 2012, 2026, 2028 */

/* A strict PowerPack by its profile: READY after 100 ms, SOE 50 %, 2 blocks, 2010 := source. */
static int strict_bess(struct th_rig *r, const struct prof_profile **pp, uint16_t source)
{
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;
	const struct prof_profile *p = NULL;
	int dev;

	assert_int_equal(cfg_builtin_profile("powerpack", &p, NULL, 0), 0);
	assert_int_equal(p->n_blocks, 1);
	prm.is_strict_holes = true;
	prm.startup_ms = 100;
	prm.has_value[prof_role_point(p, PROF_ROLE_SOE)] = true;
	prm.value[prof_role_point(p, PROF_ROLE_SOE)] = 50;
	prm.has_value[prof_role_point(p, PROF_ROLE_AVAILABLE_BLOCKS)] = true;
	prm.value[prof_role_point(p, PROF_ROLE_AVAILABLE_BLOCKS)] = 2;
	prm.has_value[prof_role_point(p, PROF_ROLE_COMMAND_SOURCE)] = true;
	prm.value[prof_role_point(p, PROF_ROLE_COMMAND_SOURCE)] = source;
	assert_int_equal(th_rig_add_profile_bess(r, p, &prm, &dev), 0);
	*pp = p;
	return dev;
}

static double sim_point(struct th_rig *r, int dev, const struct prof_profile *p,
			enum prof_role role)
{
	double v[PROF_MAX_POINTS];

	assert_true(sim_prof_get(r->sim, dev, v, PROF_MAX_POINTS) > 0);
	return v[prof_role_point(p, role)];
}

/*
 * A BESS that refuses its one merged read (2000+29) is read in six, and controlled through
 * them: its command source read and claimed (2010 := 3), the manual setpoint written to 2008,
 * the fallback said once.
 */
static void test_bess_refusing_its_merged_read_is_controlled_through_split_reads(void **state)
{
	const struct prof_profile *p;
	struct th_rig *r = th_rig_new(0, NULL, NULL);
	struct ctl_log ev;
	int dev, t;

	(void)state;
	dev = strict_bess(r, &p, 0);
	r->cfg.site.setpoint_kw = 20;
	th_rig_start(r);
	th_rig_wait_ours(r, 0, 3000);
	for (t = 0; t < 150 && sim_point(r, dev, p, PROF_ROLE_TARGET_POWER) != 20; t++)
		th_sleep_ms(20);
	if (t == 150) {
		th_rig_dump(r);
		fail_msg("2008 holds %.0f, want 20", sim_point(r, dev, p, PROF_ROLE_TARGET_POWER));
	}
	assert_true(sim_point(r, dev, p, PROF_ROLE_COMMAND_SOURCE) == 3);
	assert_true(th_rig_snap(r)->bess[0].is_fresh);
	assert_true(th_rig_snap(r)->bess[0].soe_pct == 50);
	assert_int_equal(count_events(r, CTL_EV_BLOCK_SPLIT, 0, &ev), 1);
	assert_true(ev.a == 0 && ev.b == PP_SPLIT);
	assert_false(th_rig_said(r, CTL_EV_NO_ANSWER, 0, NULL));
}

/*
 * The same BESS held by another master (2010 = 7): reads of its other split blocks never stand
 * for a read of 2010, so nothing is claimed or written: the lock is seen as another's.
 */
static void test_split_reads_never_claim_a_source_they_did_not_read(void **state)
{
	const struct prof_profile *p;
	struct th_rig *r = th_rig_new(0, NULL, NULL);
	int dev, t;

	(void)state;
	dev = strict_bess(r, &p, 7);
	r->cfg.site.setpoint_kw = 20;
	th_rig_start(r);
	for (t = 0; t < 150 && !th_rig_said(r, CTL_EV_SOURCE_LOST, 0, NULL); t++)
		th_sleep_ms(20);
	assert_true(th_rig_said(r, CTL_EV_SOURCE_LOST, 0, NULL));
	th_sleep_ms(300); /* several more cycles */
	assert_false(th_rig_said(r, CTL_EV_CLAIM, 0, NULL));
	assert_true(sim_point(r, dev, p, PROF_ROLE_COMMAND_SOURCE) == 7);
	assert_true(sim_point(r, dev, p, PROF_ROLE_TARGET_POWER) == 0);
	assert_int_equal(count_events(r, CTL_EV_BLOCK_SPLIT, 0, NULL), 1);
}

/* ---- the engine's side: a POLL reads the blocks its mask names ----------------------- */

static unsigned pop_until(struct eng *e, struct eng_msg *out, unsigned cap, unsigned want)
{
	unsigned n = 0;
	int64_t deadline = clk_now_ns() + 5 * CLK_NS_PER_SEC;

	while (n < want && clk_now_ns() < deadline) {
		n += eng_pop(e, out + n, cap - n);
		if (n < want)
			eng_wait(e, clk_now_ns() + 20 * CLK_NS_PER_MS);
	}
	return n;
}

/*
 * Three blocks: a mask of block 1 reads block 1 alone (one request, one sample, its
 * registers); mask 0 reads all three; a mask naming a fourth block is -ENG_EBADCMD, sent
 * nowhere.
 */
static void test_engine_poll_reads_only_the_masked_blocks(void **state)
{
	static struct eng_msg msgs[16];
	struct eng_dev d = { .port = 0,
			     .unit = 1,
			     .timeout_ns = 300 * CLK_NS_PER_MS,
			     .retry_count = 1,
			     .nblocks = 3 };
	struct eng *e = NULL;
	struct eng_cmd cmd = { .kind = ENG_CMD_POLL, .dev = 0 };
	unsigned n, seen;
	uint64_t req;

	(void)state;
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	snprintf(d.host, sizeof(d.host), "127.0.0.1");
	d.port = srv.ports[0].port;
	d.blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 100, 12 };
	d.blocks[1] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 104, 2 };
	d.blocks[2] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 110, 2 };
	assert_int_equal(eng_open(&e, &(struct eng_cfg){ .devs = &d, .ndev = 1, .cpu = -1 }), 0);
	live_eng = e;
	assert_int_equal(eng_start(e), 0);

	cmd.cycle = 1;
	cmd.block_mask = 1u << 1;
	assert_int_equal(eng_submit(e, &cmd, 1), 1);
	n = pop_until(e, msgs, 16, 1);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].err, 0);
	assert_int_equal(msgs[0].block, 1);
	assert_int_equal(msgs[0].addr, 104);
	assert_int_equal(msgs[0].data.regs[1], th_fsrv_value(d.port, 1, 105));
	th_sleep_ms(50); /* nothing else follows */
	assert_int_equal(eng_pop(e, msgs, 16), 0);
	assert_int_equal(atomic_load(&srv.ports[0].requests), 1);

	cmd.cycle = 2;
	cmd.block_mask = 0;
	assert_int_equal(eng_submit(e, &cmd, 1), 1);
	assert_int_equal(pop_until(e, msgs, 16, 3), 3);
	seen = 0;
	for (unsigned k = 0; k < 3; k++) {
		assert_int_equal(msgs[k].err, 0);
		seen |= 1u << msgs[k].block;
	}
	assert_int_equal(seen, 0x7); /* each block once */

	req = atomic_load(&srv.ports[0].requests);
	cmd.cycle = 3;
	cmd.block_mask = 1u << 1 | 1u << 3;
	assert_int_equal(eng_submit(e, &cmd, 1), 1);
	assert_int_equal(pop_until(e, msgs, 16, 1), 1);
	assert_int_equal(msgs[0].err, -ENG_EBADCMD);
	assert_int_equal(msgs[0].cycle, 3);
	th_sleep_ms(50);
	assert_int_equal(eng_pop(e, msgs, 16), 0);
	assert_int_equal(atomic_load(&srv.ports[0].requests), req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_refused_merged_block_is_read_split_and_said_once,
					  teardown),
		cmocka_unit_test_teardown(test_split_blocks_refused_too_leave_a_failing_device,
					  teardown),
		cmocka_unit_test_teardown(
		    test_bess_refusing_its_merged_read_is_controlled_through_split_reads, teardown),
		cmocka_unit_test_teardown(test_split_reads_never_claim_a_source_they_did_not_read,
					  teardown),
		cmocka_unit_test_teardown(test_engine_poll_reads_only_the_masked_blocks, teardown),
	};

	return cmocka_run_group_tests_name("control/split_fallback", tests, NULL, NULL);
}
