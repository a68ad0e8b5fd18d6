// SPDX-License-Identifier: MIT
/*
 * The control cycle's fail-safe, end to end: the real engine and control thread against the
 * real simulators on 127.0.0.1 with faults injected (issue 14's holes, one test each). Each
 * asserts an outcome at the simulated device (its 2008, its 2010, what it delivers) or a
 * named error or event of the controller, never a duration; every wait is bounded.
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
#include <unistd.h>

#include <cmocka.h>

#include "control/ctl_hooks.h"
#include "control/policy.h"
#include "io/engine.h"
#include "rt/clock.h"
#include "tests/support/net.h"
#include "tests/support/rig.h"

static int teardown(void **state)
{
	(void)state;
	th_rig_free(th_rig_live());
	return 0;
}

static struct sim_pp_params pp_params(void)
{
	struct sim_pp_params p = SIM_PP_DEFAULTS;

	p.startup_ms = 100;
	p.response_ms = 100;
	return p;
}

/* A manual site at kw on one BESS, started and delivering it. */
static struct th_rig *manual_site(const struct sim_pp_params *pp, int kw)
{
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct th_rig *r = th_rig_new(1, pp, &acu);

	r->cfg.site.mode = CFG_STRATEGY_MANUAL;
	r->cfg.site.setpoint_kw = kw;
	return r;
}

static void start_and_reach(struct th_rig *r, int kw)
{
	th_rig_start(r);
	th_rig_wait_ours(r, 0, 3000);
	if (!th_rig_wait_target(r, 0, kw, 3000)) {
		th_rig_dump(r);
		fail_msg("the BESS never got %d kW (2008 holds %d)", kw,
			 th_rig_pp(r, 0).target_power_kw);
	}
}

static void fault(struct th_rig *r, int dev, unsigned flags, uint8_t exception)
{
	assert_int_equal(
	    sim_set_fault(r->sim, dev,
			  &(struct sim_fault){ .flags = flags, .exception = exception }),
	    0);
}

/* ---- 1: fluxd stalls or dies -------------------------------------------------------- */

/* Through the controller's test seam: the control cycle is held while is_stalled. */
static atomic_bool is_stalled;

static bool hold_while_stalled(void *ctx)
{
	return atomic_load_explicit((atomic_bool *)ctx, memory_order_relaxed);
}

static const struct ctl_hooks stall_hooks = { .hold_cycle = hold_while_stalled,
					      .ctx = &is_stalled };

static void stall(struct th_rig *r, bool on)
{
	atomic_store(&is_stalled, on);
	ctl_set_hooks(r->ctl, &stall_hooks);
}

static void test_stalled_control_thread_gets_zero_kw_from_the_io_thread(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 60);
	int64_t t0;

	(void)state;
	start_and_reach(r, 60);
	t0 = clk_now_ns();
	stall(r, true);
	/* stale_after is 500 ms: the I/O thread writes 0 kW by itself after it. */
	if (!th_rig_wait_target(r, 0, 0, 3000))
		fail_msg("stalled control: 2008 still holds %d kW",
			 th_rig_pp(r, 0).target_power_kw);
	print_message("measured: control stalled -> 0 kW at the BESS in %.0f ms (stale_after "
		      "500 ms)\n",
		      (double)(clk_now_ns() - t0) / 1e6);
	assert_true(th_rig_pp(r, 0).delivered_kw == 0 || th_rig_wait_target(r, 0, 0, 500));
	/* Released, control says what happened and writes its setpoint again. */
	stall(r, false);
	assert_true(th_rig_wait_target(r, 0, 60, 3000));
	for (int t = 0; t < 100 && !th_rig_said(r, CTL_EV_FAILSAFE, 0, NULL); t++)
		th_sleep_ms(20);
	assert_true(th_rig_said(r, CTL_EV_FAILSAFE, 0, NULL));
	th_rig_free(r);
}

/* The seam holds cycles, not the stop: ctl_stop() ends a hold and still writes 0 kW. */
static void test_stop_ends_a_held_cycle_and_writes_zero_kw(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 40);
	struct ctl_log ev;
	uint64_t cycles;

	(void)state;
	r->cfg.site.stale_after_ns = 8000 * TH_RIG_MS; /* the I/O thread's fail-safe stays out */
	start_and_reach(r, 40);
	stall(r, true);
	cycles = ctl_cycles(r->ctl);
	for (int t = 0; t < 50 && ctl_cycles(r->ctl) != cycles; t++) {
		cycles = ctl_cycles(r->ctl);
		th_sleep_ms(50);
	}
	assert_int_equal(ctl_cycles(r->ctl), cycles); /* held: no cycle completes */
	assert_int_equal(th_rig_pp(r, 0).target_power_kw, 40);
	ctl_stop(r->ctl); /* returns although the hook still says "hold" */
	assert_true(th_rig_said(r, CTL_EV_STOPPED, -1, &ev));
	assert_true(ev.a == 1 && ev.b == 1);
	assert_int_equal(th_rig_pp(r, 0).target_power_kw, 0);
	stall(r, false);
	th_rig_free(r);
}

static void test_bess_heartbeat_takes_it_to_zero_when_the_host_stops_writing(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r;
	struct sim_pp_state st;
	int64_t t0;

	(void)state;
	pp.heartbeat_timeout_ms = 300;
	r = manual_site(&pp, 50);
	r->cfg.bess[0].heartbeat_register = PP_REG_HEARTBEAT;
	/* Long enough that the I/O thread's own fail-safe cannot be what acts. */
	r->cfg.site.stale_after_ns = 8000 * TH_RIG_MS;
	r->cfg.site.heartbeat_ns = 10000 * TH_RIG_MS;
	start_and_reach(r, 50);
	th_sleep_ms(1000); /* three watchdog periods: the heartbeat keeps it alive */
	st = th_rig_pp(r, 0);
	assert_int_equal(st.target_power_kw, 50);
	assert_int_equal(st.heartbeat_trips, 0);
	assert_true(st.heartbeat > 0);
	t0 = clk_now_ns();
	stall(r, true); /* a dead host: nothing is written any more */
	assert_true(th_rig_wait_target(r, 0, 0, 3000));
	print_message("measured: host silent -> 0 kW by the BESS's heartbeat watchdog in %.0f ms "
		      "(timeout 300 ms)\n",
		      (double)(clk_now_ns() - t0) / 1e6);
	st = th_rig_pp(r, 0);
	assert_true(st.heartbeat_trips >= 1);
	assert_true(st.delivered_kw == 0);
	stall(r, false);
	th_rig_free(r);
}

/* ---- 3: one lost reply, a short outage ---------------------------------------------- */

/* Peak shaving over 180 kW of load, limit 100 kW, the seed-shaped retry defaults. */
static struct th_rig *shaving_site(void)
{
	struct sim_pp_params pp = pp_params();
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct th_rig *r;

	acu.load = (struct sim_load){ .kind = SIM_LOAD_CONSTANT, .kw = 180 };
	r = th_rig_new(1, &pp, &acu);
	r->cfg.site.mode = CFG_STRATEGY_PEAK_SHAVING;
	r->cfg.site.import_limit_kw = 100;
	r->cfg.site.stale_after_ns = 1000 * TH_RIG_MS;
	for (unsigned d = 0; d < 2; d++) {
		struct cfg_modbus *m = d ? &r->cfg.meters[0].modbus : &r->cfg.bess[0].modbus;

		m->timeout_ns = 250 * TH_RIG_MS; /* the config's defaults */
		m->retry_count = 3;
		m->retry_backoff_ns = 100 * TH_RIG_MS;
	}
	th_rig_start(r);
	th_rig_wait_ours(r, 0, 3000);
	/* Settled: the BESS gives the 80 kW over the limit. */
	for (int t = 0; t < 300 && abs(th_rig_pp(r, 0).target_power_kw - 80) > 1; t++)
		th_sleep_ms(20);
	assert_true(abs(th_rig_pp(r, 0).target_power_kw - 80) <= 1);
	return r;
}

static void test_meter_freeze_of_600_ms_does_not_drop_the_site_to_zero(void **state)
{
	struct th_rig *r = shaving_site();
	int lowest = 1000, highest = 0;

	(void)state;
	fault(r, r->meter, SIM_F_SILENCE, 0);
	for (int t = 0; t < 60; t++) { /* 600 ms */
		int kw = th_rig_pp(r, 0).target_power_kw;

		lowest = kw < lowest ? kw : lowest;
		highest = kw > highest ? kw : highest;
		th_sleep_ms(10);
	}
	fault(r, r->meter, 0, 0);
	for (int t = 0; t < 150; t++) { /* and 1.5 s after */
		int kw = th_rig_pp(r, 0).target_power_kw;

		lowest = kw < lowest ? kw : lowest;
		highest = kw > highest ? kw : highest;
		th_sleep_ms(10);
	}
	print_message("measured: through a 0.6 s meter freeze (and 1.5 s after) the BESS setpoint "
		      "stayed within %d..%d kW (80 needed)\n",
		      lowest, highest);
	if (lowest < 70) {
		th_rig_dump(r);
		fail_msg("through a 0.6 s meter freeze the BESS went down to %d kW", lowest);
	}
	assert_false(th_rig_said(r, CTL_EV_STALE, 1, NULL));
	th_rig_free(r);
}

static void test_control_resumes_from_its_last_state_after_an_outage(void **state)
{
	struct th_rig *r = shaving_site();
	int first = 0;

	(void)state;
	fault(r, r->meter, SIM_F_SILENCE, 0);
	/* 2 s: stale, 0 kW. */
	assert_true(th_rig_wait_target(r, 0, 0, 4000));
	fault(r, r->meter, 0, 0);
	/* The first setpoint after it is where control was, not an integrator's restart. */
	for (int t = 0; t < 400 && !first; t++) {
		first = th_rig_pp(r, 0).target_power_kw;
		if (!first)
			th_sleep_ms(5);
	}
	if (first < 70) {
		th_rig_dump(r);
		fail_msg("after the outage control restarted at %d kW, not near 80", first);
	}
	th_rig_free(r);
}

/* ---- 4: every fault named ------------------------------------------------------------ */

static void test_each_fault_is_named_never_superseded(void **state)
{
	static const struct {
		unsigned flags;
		uint8_t exception;
		int err;
	} cases[] = {
		{ SIM_F_WRONG_TID, 0, -MB_ETID },
		{ SIM_F_WRONG_UNIT, 0, -MB_EUNIT },
		{ SIM_F_EXCEPTION, 4, -MB_EXC(4) },
		{ SIM_F_SILENCE, 0, -ETIMEDOUT },
	};
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 20);

	(void)state;
	r->cfg.bess[0].modbus.retry_count = 2;
	start_and_reach(r, 20);
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int seen = 0;

		fault(r, r->pp[0], cases[k].flags, cases[k].exception);
		for (int t = 0; t < 300; t++) {
			seen = th_rig_snap(r)->bess[0].last_err;
			assert_int_not_equal(seen, -ENG_ESUPERSEDED);
			if (seen == cases[k].err)
				break;
			th_sleep_ms(10);
		}
		if (seen != cases[k].err)
			fail_msg("fault %#x: named '%s', not '%s'", cases[k].flags,
				 ctl_strerror(seen), ctl_strerror(cases[k].err));
		fault(r, r->pp[0], 0, 0);
		for (int t = 0; t < 300 && !th_rig_snap(r)->bess[0].is_fresh; t++)
			th_sleep_ms(10);
		assert_true(th_rig_snap(r)->bess[0].is_fresh);
	}
	th_rig_free(r);
}

static void test_a_device_that_never_answered_is_named_in_the_log(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 20);
	struct ctl_log ev = { 0 };
	uint16_t port;
	int fd = th_listen(&port);

	(void)state;
	assert_true(fd >= 0);
	close(fd); /* nobody listens there now */
	r->cfg.bess[0].modbus.port = port;
	th_rig_start(r);
	for (int t = 0; t < 200 && !th_rig_said(r, CTL_EV_NO_ANSWER, 0, &ev); t++)
		th_sleep_ms(10);
	assert_true(th_rig_said(r, CTL_EV_NO_ANSWER, 0, &ev));
	assert_int_equal(ev.err, -ECONNREFUSED);
	th_rig_free(r);
}

static void test_writes_never_acknowledged_raise_a_named_alarm(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 20);
	struct ctl_log ev = { 0 };

	(void)state;
	r->cfg.bess[0].modbus.retry_count = 2;
	r->cfg.site.heartbeat_ns = 300 * TH_RIG_MS; /* the rewrite of 20 kW is never answered */
	start_and_reach(r, 20);
	fault(r, r->pp[0], SIM_F_MUTE_WRITES, 0);
	for (int t = 0; t < 300 && !th_rig_said(r, CTL_EV_NO_ACK, 0, &ev); t++)
		th_sleep_ms(10);
	assert_true(th_rig_said(r, CTL_EV_NO_ACK, 0, &ev));
	assert_int_equal(ev.err, -ETIMEDOUT);
	assert_true(ev.a == 20);
	/* Reads still succeed, and the status names the write's failure, not "none". */
	assert_true(th_rig_snap(r)->bess[0].is_fresh);
	assert_int_equal(th_rig_snap(r)->bess[0].last_err, -ETIMEDOUT);
	th_rig_free(r);
}

/* ---- 5: the command source is a lock ------------------------------------------------- */

static void test_reconnect_does_not_reclaim_over_another_master(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 30);
	uint64_t writes;

	(void)state;
	start_and_reach(r, 30);
	/* The link drops; meanwhile another master takes the BESS. */
	fault(r, r->pp[0], SIM_F_REFUSE, 0);
	th_sleep_ms(300);
	assert_int_equal(sim_pp_write(r->sim, r->pp[0], PP_REG_COMMAND_SOURCE, 7), 0);
	fault(r, r->pp[0], 0, 0);
	for (int t = 0; t < 300 && th_rig_snap(r)->bess[0].command_source != 7; t++)
		th_sleep_ms(10);
	assert_int_equal(th_rig_snap(r)->bess[0].command_source, 7);
	writes = th_rig_snap(r)->bess[0].writes;
	th_sleep_ms(1500); /* a claim retry period and more */
	assert_int_equal(th_rig_pp(r, 0).command_source, 7);
	assert_false(th_rig_snap(r)->bess[0].is_ours);
	assert_int_equal(th_rig_snap(r)->bess[0].writes, writes);
	assert_true(th_rig_said(r, CTL_EV_SOURCE_LOST, 0, NULL));
	th_rig_free(r);
}

static void test_stop_writes_nothing_to_a_bess_another_master_holds(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 30);
	struct ctl_log ev = { 0 };

	(void)state;
	start_and_reach(r, 30);
	assert_int_equal(sim_pp_write(r->sim, r->pp[0], PP_REG_COMMAND_SOURCE, 7), 0);
	for (int t = 0; t < 300 && th_rig_snap(r)->bess[0].is_ours; t++)
		th_sleep_ms(10);
	assert_false(th_rig_snap(r)->bess[0].is_ours);
	th_rig_drain(r);
	ctl_stop(r->ctl);
	assert_true(th_rig_said(r, CTL_EV_STOPPED, -1, &ev));
	assert_true(ev.b == 0);					    /* none held */
	assert_false(th_rig_said(r, CTL_EV_WRITE_FAILED, 0, NULL)); /* no refused 0 kW write */
	assert_int_equal(th_rig_pp(r, 0).command_source, 7);
	th_rig_free(r);
}

static void test_source_handed_back_rearms_control(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 30);

	(void)state;
	start_and_reach(r, 30);
	assert_int_equal(sim_pp_write(r->sim, r->pp[0], PP_REG_COMMAND_SOURCE, 7), 0);
	assert_int_equal(sim_pp_write(r->sim, r->pp[0], PP_REG_COMMAND_SOURCE, 7), 0);
	for (int t = 0; t < 300 && th_rig_snap(r)->bess[0].is_ours; t++)
		th_sleep_ms(10);
	assert_false(th_rig_snap(r)->bess[0].is_ours);
	/* The other master zeroes it and hands it back with our id. */
	assert_int_equal(sim_pp_write(r->sim, r->pp[0], PP_REG_COMMAND_SOURCE, 3), 0);
	assert_int_equal(sim_pp_write(r->sim, r->pp[0], PP_REG_TARGET_POWER, 0), 0);
	th_rig_wait_ours(r, 0, 3000);
	assert_true(th_rig_wait_target(r, 0, 30, 3000));
	assert_true(th_rig_said(r, CTL_EV_REARMED, 0, NULL));
	th_rig_free(r);
}

static void test_bess_restart_is_reclaimed_without_alarm(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 40);

	(void)state;
	start_and_reach(r, 40);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(sim_pp_restart(r->sim, r->pp[0]), 0);
		assert_true(th_rig_wait_target(r, 0, 0, 1000) ||
			    th_rig_pp(r, 0).target_power_kw == 40);
		assert_true(th_rig_wait_target(r, 0, 40, 5000));
		assert_int_equal(th_rig_pp(r, 0).command_source, 3);
	}
	if (th_rig_said(r, CTL_EV_SOURCE_LOST, -1, NULL)) {
		th_rig_dump(r);
		fail_msg("a BESS restart raised the command-source ALARM");
	}
	th_rig_free(r);
}

/* ---- 6, 7: setpoint hygiene ----------------------------------------------------------- */

static void test_leaving_ready_writes_zero_once(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 50);
	uint64_t writes;

	(void)state;
	r->cfg.site.heartbeat_ns = 10000 * TH_RIG_MS;
	start_and_reach(r, 50);
	assert_int_equal(sim_pp_set_status(r->sim, r->pp[0], PP_STATUS_FAULT), 0);
	/* It must not keep 50 kW in 2008 to act on when it returns to READY. */
	if (!th_rig_wait_target(r, 0, 0, 2000))
		fail_msg("a BESS in FAULT still holds %d kW", th_rig_pp(r, 0).target_power_kw);
	assert_true(th_rig_said(r, CTL_EV_LEFT_READY, 0, NULL));
	writes = th_rig_snap(r)->bess[0].writes;
	th_sleep_ms(500);
	assert_int_equal(th_rig_snap(r)->bess[0].writes, writes); /* once */
	assert_int_equal(sim_pp_set_status(r->sim, r->pp[0], PP_STATUS_READY), 0);
	assert_true(th_rig_wait_target(r, 0, 50, 3000));
	th_rig_free(r);
}

static void test_foreign_setpoint_is_restored_and_alarmed(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 50);
	struct ctl_log ev = { 0 };
	int64_t t0;

	(void)state;
	r->cfg.site.heartbeat_ns = 10000 * TH_RIG_MS; /* the restore is not a heartbeat's rewrite */
	start_and_reach(r, 50);
	th_sleep_ms(200);
	t0 = clk_now_ns();
	assert_int_equal(sim_pp_write(r->sim, r->pp[0], PP_REG_TARGET_POWER, 90), 0);
	assert_int_equal(th_rig_pp(r, 0).target_power_kw, 90);
	if (!th_rig_wait_target(r, 0, 50, 2000))
		fail_msg("a foreign 90 kW in 2008 stands");
	print_message("measured: a foreign write to 2008 restored in %.0f ms (cycle 50 ms)\n",
		      (double)(clk_now_ns() - t0) / 1e6);
	for (int t = 0; t < 100 && !th_rig_said(r, CTL_EV_FOREIGN_SETPOINT, 0, &ev); t++)
		th_sleep_ms(10);
	assert_true(th_rig_said(r, CTL_EV_FOREIGN_SETPOINT, 0, &ev));
	assert_true(ev.a == 90 && ev.b == 50);
	th_rig_free(r);
}

/* ---- 9: plausibility and honest messages ---------------------------------------------- */

/* A BESS served by the test's own codec server, so its registers can say anything. */
static void test_implausible_samples_are_named_errors(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_srv *srv = calloc(1, sizeof(*srv));
	struct th_rig *r = manual_site(&pp, 50);
	struct ctl_log ev = { 0 };

	(void)state;
	assert_non_null(srv);
	srv->bank.hold[PP_REG_STATUS] = PP_STATUS_READY;
	srv->bank.hold[PP_REG_COMMAND_SOURCE] = 3;
	srv->bank.hold[PP_REG_SOE] = 2026; /* % */
	srv->bank.hold[PP_REG_AVAILABLE_BLOCKS] = 2;
	assert_int_equal(th_srv_open(srv, 10000), 0);
	r->cfg.bess[0].modbus.port = srv->port;
	th_rig_start(r);
	for (int t = 0; t < 300 && th_rig_snap(r)->bess[0].last_err != -CTL_ESOE_RANGE; t++)
		th_sleep_ms(10);
	assert_int_equal(th_rig_snap(r)->bess[0].last_err, -CTL_ESOE_RANGE);
	assert_false(th_rig_snap(r)->bess[0].is_fresh);
	assert_true(th_rig_said(r, CTL_EV_IMPLAUSIBLE, 0, &ev));
	assert_true(ev.a == 2026);
	pthread_mutex_lock(&srv->lock);
	assert_int_equal(srv->bank.hold[PP_REG_TARGET_POWER], 0); /* nothing written */
	srv->bank.hold[PP_REG_SOE] = 50;
	srv->bank.hold[PP_REG_STATUS] = 2000;
	pthread_mutex_unlock(&srv->lock);
	for (int t = 0; t < 300 && th_rig_snap(r)->bess[0].last_err != -CTL_ESTATUS_UNKNOWN; t++)
		th_sleep_ms(10);
	assert_int_equal(th_rig_snap(r)->bess[0].last_err, -CTL_ESTATUS_UNKNOWN);
	assert_false(th_rig_snap(r)->bess[0].is_fresh);
	th_rig_free(r);
	th_srv_close(srv);
	free(srv);
}

static void test_live_and_inputs_ok_only_when_true(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct th_rig *r = manual_site(&pp, 50);
	uint16_t port;
	int fd = th_listen(&port);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	r->cfg.bess[0].modbus.port = port; /* every BESS stale */
	th_rig_start(r);
	th_sleep_ms(1500);
	assert_false(th_rig_said(r, CTL_EV_INPUTS_FRESH, -1, NULL));
	assert_false(th_rig_snap(r)->is_valid);
	assert_true(th_rig_snap(r)->cycles > 10);
	th_rig_free(r);
}

static void test_peak_shaving_says_when_it_cannot_hold_its_limit(void **state)
{
	struct sim_pp_params pp = pp_params();
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct th_rig *r;
	struct ctl_log ev = { 0 };

	(void)state;
	/* 400 kW of load against a 100 kW limit and a 100 kW BESS; 150 kW after 6 s. */
	acu.load = (struct sim_load){ .kind = SIM_LOAD_STEP, .kw = 400, .kw2 = 150, .at_s = 6 };
	r = th_rig_new(1, &pp, &acu);
	r->cfg.site.mode = CFG_STRATEGY_PEAK_SHAVING;
	r->cfg.site.import_limit_kw = 100;
	th_rig_start(r);
	for (int t = 0; t < 600 && !th_rig_said(r, CTL_EV_LIMIT_UNHELD, -1, &ev); t++)
		th_sleep_ms(10);
	assert_true(th_rig_said(r, CTL_EV_LIMIT_UNHELD, -1, &ev));
	assert_true(ev.a > 250 && ev.b == 100);
	assert_false(th_rig_said(r, CTL_EV_LIMIT_HELD, -1, NULL));
	for (int t = 0; t < 800 && !th_rig_said(r, CTL_EV_LIMIT_HELD, -1, &ev); t++)
		th_sleep_ms(10);
	assert_true(th_rig_said(r, CTL_EV_LIMIT_HELD, -1, &ev));
	assert_true(ev.a <= 101);
	th_rig_free(r);
}

/* ---- 11: a meter-only site ------------------------------------------------------------ */

static void test_meter_only_site_is_monitored(void **state)
{
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct th_rig *r = th_rig_new(0, NULL, &acu);
	struct ctl_log ev = { 0 };

	(void)state;
	r->cfg.site.mode = CFG_STRATEGY_MONITOR;
	r->cfg.site.grid_meter[0] = '\0';
	r->cfg.site.grid_meter_index = -1;
	th_rig_start(r);
	for (int t = 0; t < 300 && !th_rig_said(r, CTL_EV_INPUTS_FRESH, -1, &ev); t++)
		th_sleep_ms(10);
	assert_true(th_rig_said(r, CTL_EV_INPUTS_FRESH, -1, &ev));
	assert_true(ev.a == 1); /* "monitoring", not "control is live" */
	assert_true(th_rig_snap(r)->meters[0].is_fresh);
	assert_true(fabs(th_rig_snap(r)->meters[0].power_kw - 150) < 1);
	assert_true(th_rig_snap(r)->is_valid);
	th_rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    test_stalled_control_thread_gets_zero_kw_from_the_io_thread, teardown),
		cmocka_unit_test_teardown(test_stop_ends_a_held_cycle_and_writes_zero_kw, teardown),
		cmocka_unit_test_teardown(
		    test_bess_heartbeat_takes_it_to_zero_when_the_host_stops_writing, teardown),
		cmocka_unit_test_teardown(
		    test_meter_freeze_of_600_ms_does_not_drop_the_site_to_zero, teardown),
		cmocka_unit_test_teardown(test_control_resumes_from_its_last_state_after_an_outage,
					  teardown),
		cmocka_unit_test_teardown(test_each_fault_is_named_never_superseded, teardown),
		cmocka_unit_test_teardown(test_a_device_that_never_answered_is_named_in_the_log,
					  teardown),
		cmocka_unit_test_teardown(test_writes_never_acknowledged_raise_a_named_alarm,
					  teardown),
		cmocka_unit_test_teardown(test_reconnect_does_not_reclaim_over_another_master,
					  teardown),
		cmocka_unit_test_teardown(test_stop_writes_nothing_to_a_bess_another_master_holds,
					  teardown),
		cmocka_unit_test_teardown(test_source_handed_back_rearms_control, teardown),
		cmocka_unit_test_teardown(test_bess_restart_is_reclaimed_without_alarm, teardown),
		cmocka_unit_test_teardown(test_leaving_ready_writes_zero_once, teardown),
		cmocka_unit_test_teardown(test_foreign_setpoint_is_restored_and_alarmed, teardown),
		cmocka_unit_test_teardown(test_implausible_samples_are_named_errors, teardown),
		cmocka_unit_test_teardown(test_live_and_inputs_ok_only_when_true, teardown),
		cmocka_unit_test_teardown(test_peak_shaving_says_when_it_cannot_hold_its_limit,
					  teardown),
		cmocka_unit_test_teardown(test_meter_only_site_is_monitored, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
