// SPDX-License-Identifier: MIT
/*
 * The optional BESS roles (issue 16 item 6), end to end: the real controller against a
 * PowerPack of devices/profiles/powerpack-ext.yaml served by the profile simulator on
 * 127.0.0.1, which reports its max charge/discharge, its measured power and its alarm and fault
 * words, and takes writes to them so a test derates or faults it while it runs. Each test
 * asserts what reaches the device's target power register, the snapshot and flux status;
 * waits are bounded and nothing asserts a duration.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/config.h"
#include "control/policy.h"
#include "control/status.h"
#include "devices/profile.h"
#include "rt/clock.h"
#include "tests/support/client.h"
#include "tests/support/json_check.h"
#include "tests/support/net.h"
#include "tests/support/rig.h"

/* powerpack-ext.yaml's registers (test_profile_load holds the file to them). */
#define REG_MAX_CHARGE	  2031
#define REG_MAX_DISCHARGE 2032
#define REG_ALARMS	  2036
#define REG_FAULTS	  2038 /* u32, ABCD: the high word first */

#define BIT_FAN_DEGRADED  (1u << 2)
#define BIT_HVAC_DEGRADED (1u << 3)
#define BIT_EMERGENCY	  (1u << 16)

static char text[ST_RSP_MAX / 64]; /* one BESS's answer is a few KiB */

static int teardown(void **state)
{
	(void)state;
	th_rig_free(th_rig_live());
	return 0;
}

/* The one BESS of a test: its profile, sim device, and a client to poke the device with. */
struct site {
	struct th_rig *r;
	const struct prof_profile *p;
	int dev;
	struct th_client c;
};

/*
 * A manual site at kw on one powerpack-ext BESS (100 kW rated, 2 blocks of 50 kW, SOE 50 %),
 * the values of set_names[] given as flux sim --set would, started and ours.
 */
static void start_site(struct site *s, int kw, const char *const *set_names, const double *set_v,
		       unsigned nset)
{
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;

	memset(s, 0, sizeof(*s));
	s->r = th_rig_new(0, NULL, NULL);
	assert_int_equal(cfg_builtin_profile("powerpack-ext", &s->p, NULL, 0), 0);
	prm.startup_ms = 100;
	prm.has_value[prof_role_point(s->p, PROF_ROLE_SOE)] = true;
	prm.value[prof_role_point(s->p, PROF_ROLE_SOE)] = 50;
	prm.has_value[prof_role_point(s->p, PROF_ROLE_AVAILABLE_BLOCKS)] = true;
	prm.value[prof_role_point(s->p, PROF_ROLE_AVAILABLE_BLOCKS)] = 2;
	for (unsigned i = 0; i < nset; i++) {
		int k = prof_point_index(s->p, set_names[i]);

		assert_true(k >= 0);
		prm.has_value[k] = true;
		prm.value[k] = set_v[i];
	}
	assert_int_equal(th_rig_add_profile_bess(s->r, s->p, &prm, &s->dev), 0);
	s->r->cfg.site.mode = CFG_STRATEGY_MANUAL;
	s->r->cfg.site.setpoint_kw = kw;
	s->r->cfg.site.heartbeat_ns = 10000 * TH_RIG_MS; /* writes on change only */
	th_rig_start(s->r);
	th_rig_wait_ours(s->r, 0, 3000);
	assert_int_equal(th_open(&s->c, (uint16_t)sim_port(s->r->sim, s->dev)), 0);
}

static void stop_site(struct site *s)
{
	th_close(&s->c);
	th_rig_free(s->r);
}

/* The simulated device's value of point `name`. */
static double dev_value(struct site *s, const char *name)
{
	double v[PROF_MAX_POINTS];

	assert_true(sim_prof_get(s->r->sim, s->dev, v, PROF_MAX_POINTS) > 0);
	return v[prof_point_index(s->p, name)];
}

/* Wait (bounded) until the device's target power holds kw; fail with the log if it never does. */
static void wait_target(struct site *s, double kw)
{
	for (int t = 0; t < 200; t++) {
		if (dev_value(s, "target_power_kw") == kw)
			return;
		th_sleep_ms(20);
	}
	th_rig_dump(s->r);
	fail_msg("the target power register holds %.0f kW, want %.0f",
		 dev_value(s, "target_power_kw"), kw);
}

/* Wait (bounded) until the snapshot's BESS satisfies what(b). */
static const struct ctl_bess_snap *wait_snap(struct site *s,
					     bool (*what)(const struct ctl_bess_snap *b))
{
	for (int t = 0; t < 400; t++) {
		const struct ctl_bess_snap *b = &th_rig_snap(s->r)->bess[0];

		if (what(b))
			return b;
		th_sleep_ms(20);
	}
	th_rig_dump(s->r);
	fail_msg("the snapshot never showed it");
	return NULL;
}

/* Wait (bounded) until the controller said `event`; its first occurrence into *ev. */
static void wait_said(struct site *s, unsigned event, struct ctl_log *ev)
{
	for (int t = 0; t < 250 && !th_rig_said(s->r, event, 0, ev); t++)
		th_sleep_ms(20);
	if (!th_rig_said(s->r, event, 0, ev)) {
		th_rig_dump(s->r);
		fail_msg("event %u never said", event);
	}
}

/* FC16 of a u32 in the device's ABCD order (the fault word). */
static void write_u32(struct site *s, uint16_t addr, uint32_t v)
{
	uint16_t regs[2];
	uint8_t wire[4];
	struct mb_req req = { .unit = 1,
			      .fc = MB_FC_WRITE_MULTIPLE_REGISTERS,
			      .addr = addr,
			      .qty = 2,
			      .byte_count = 4,
			      .data = wire };
	struct mb_rsp rsp;

	mb_set_u32(regs, v, MB_ORDER_ABCD);
	mb_regs_to_wire(wire, regs, 2);
	assert_int_equal(th_xfer(&s->c, &req, &rsp), 0);
}

static const char *status_text(struct site *s)
{
	assert_true(
	    st_format_text(&s->r->cfg, th_rig_snap(s->r), clk_now_ns(), text, sizeof(text)) > 0);
	return text;
}

static const char *status_json(struct site *s)
{
	assert_true(
	    st_format_json(&s->r->cfg, th_rig_snap(s->r), clk_now_ns(), text, sizeof(text)) > 0);
	if (!th_json_is_valid(text))
		fail_msg("not JSON: %s", text);
	return text;
}

static void assert_has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not in: %s", needle, hay);
}

/* ---- max charge / discharge ------------------------------------------------------------ */

static bool is_capped_at_30(const struct ctl_bess_snap *b)
{
	return b->setpoint_kw == 30 && b->max_discharge_kw == 30 && b->active_kw == 30;
}

static bool has_rated_fallback(const struct ctl_bess_snap *b)
{
	return isnan(b->max_discharge_kw) && b->setpoint_kw == 100;
}

/*
 * The strategy asks 150 kW of a 100 kW BESS that reports 30 kW of discharge now: 30 kW is
 * written (never more), reason bess_max, and status says why. Derated live to 10 kW: 10. A
 * reading outside the point's plausible range (0..250) is no limit: the rated 100 kW, not the
 * reading, and not 0; a plausible one again is a limit again.
 */
static void
test_reported_max_discharge_caps_the_setpoint_and_an_implausible_one_is_rated(void **state)
{
	static const char *const names[] = { "max_discharge_kw" };
	static const double values[] = { 30 };
	const struct ctl_bess_snap *b;
	struct site s;

	(void)state;
	start_site(&s, 150, names, values, 1);
	wait_target(&s, 30);
	b = wait_snap(&s, is_capped_at_30);
	assert_true(b->reasons & SAFETY_BESS_MAX);
	assert_true(b->reasons & SAFETY_RATED);
	assert_true(isfinite(b->max_charge_kw) && b->max_charge_kw == 250);
	assert_has(status_text(&s), "max discharge 30.0 kW");
	assert_has(text, "safety rated,bess_max");
	assert_has(status_json(&s), "\"max_discharge_kw\":30.000");
	/* Derated while it runs. */
	assert_int_equal(th_write(&s.c, 1, REG_MAX_DISCHARGE, 10), 0);
	wait_target(&s, 10);
	/* Implausible (999 kW, outside 0..250): rated power, not 999 and not 0. */
	assert_int_equal(th_write(&s.c, 1, REG_MAX_DISCHARGE, 999), 0);
	wait_target(&s, 100);
	b = wait_snap(&s, has_rated_fallback);
	assert_false(b->reasons & SAFETY_BESS_MAX);
	assert_has(status_text(&s), "max discharge - (rated)");
	assert_has(status_json(&s), "\"max_discharge_kw\":null");
	/* Plausible again: a limit again. */
	assert_int_equal(th_write(&s.c, 1, REG_MAX_DISCHARGE, 40), 0);
	wait_target(&s, 40);
	stop_site(&s);
}

/* Charging: the charge limit is a magnitude (25 reported: -25 kW at most). */
static void test_reported_max_charge_caps_charging(void **state)
{
	static const char *const names[] = { "max_charge_kw" };
	static const double values[] = { 25 };
	struct site s;

	(void)state;
	start_site(&s, -80, names, values, 1);
	wait_target(&s, -25);
	assert_true(th_rig_snap(s.r)->bess[0].reasons & SAFETY_BESS_MAX);
	/* 0 reported: no charge at all (written as 0 kW). */
	assert_int_equal(th_write(&s.c, 1, REG_MAX_CHARGE, 0), 0);
	wait_target(&s, 0);
	stop_site(&s);
}

/* ---- fault and alarm bits ------------------------------------------------------------- */

static bool is_faulted(const struct ctl_bess_snap *b)
{
	return b->is_faulted && b->faults == BIT_EMERGENCY && (b->reasons & SAFETY_FAULT) &&
	       b->setpoint_kw == 0; /* the 0 kW write acknowledged */
}

static bool is_clear(const struct ctl_bess_snap *b)
{
	return !b->is_faulted && !b->faults && b->setpoint_kw == 40;
}

/*
 * A fault bit set while the BESS delivers 40 kW takes it to 0 kW the way status FAULT does:
 * one 0 kW write (LEFT_READY, saying the fault bits), not READY, no further writes; the ALARM
 * names the bit, and so does flux status. Cleared, it gets its setpoint back.
 */
static void test_fault_bit_takes_the_bess_to_zero_through_the_failsafe_path(void **state)
{
	const struct ctl_bess_snap *b;
	struct ctl_log ev;
	char line[256];
	uint64_t writes;
	struct site s;

	(void)state;
	start_site(&s, 40, NULL, NULL, 0);
	wait_target(&s, 40);
	assert_false(th_rig_said(s.r, CTL_EV_FAULTED, 0, NULL));
	write_u32(&s, REG_FAULTS, BIT_EMERGENCY);
	wait_target(&s, 0);
	wait_said(&s, CTL_EV_FAULTED, &ev);
	assert_true(ev.a == BIT_EMERGENCY && ev.b == 0);
	assert_int_equal(ctl_event_priority(CTL_EV_FAULTED), 2);
	ctl_format_log(s.r->ctl, &ev, line, sizeof(line));
	assert_has(line, "ALARM bess-1: fault bits emergency_stop (0x10000): 0 kW, not READY");
	wait_said(&s, CTL_EV_LEFT_READY, &ev);
	assert_true(ev.b == BIT_EMERGENCY);
	ctl_format_log(s.r->ctl, &ev, line, sizeof(line));
	assert_has(line, "left READY (READY, fault bits set): 0 kW written");
	b = wait_snap(&s, is_faulted);
	assert_false(b->is_ready);
	assert_true(b->reasons & SAFETY_NOT_READY);
	assert_true(b->setpoint_kw == 0);
	writes = b->writes;
	th_sleep_ms(300); /* several cycles: nothing more is written */
	assert_int_equal(th_rig_snap(s.r)->bess[0].writes, writes);
	assert_true(dev_value(&s, "target_power_kw") == 0);
	assert_true(dev_value(&s, "active_power_kw") == 0);
	assert_has(status_text(&s), "FAULTS emergency_stop");
	assert_has(text, "safety not_ready,fault");
	assert_has(status_json(&s), "\"faults\":[\"emergency_stop\"],\"is_faulted\":true");
	/* Cleared: READY again, its setpoint again. */
	write_u32(&s, REG_FAULTS, 0);
	wait_target(&s, 40);
	wait_said(&s, CTL_EV_FAULT_CLEARED, &ev);
	wait_snap(&s, is_clear);
	assert_has(status_text(&s), "faults none");
	stop_site(&s);
}

/* A BESS faulted from its first reading is never written anything but what it holds (0). */
static void test_bess_faulted_from_the_start_gets_nothing(void **state)
{
	static const char *const names[] = { "fault_word" };
	static const double values[] = { 1 }; /* dc_insulation_fault */
	struct site s;
	struct ctl_log ev;

	(void)state;
	start_site(&s, 40, names, values, 1);
	wait_said(&s, CTL_EV_FAULTED, &ev);
	assert_true(ev.a == 1);
	th_sleep_ms(300);
	assert_true(dev_value(&s, "target_power_kw") == 0);
	assert_int_equal(th_rig_snap(s.r)->bess[0].writes, 0);
	assert_has(status_text(&s), "FAULTS dc_insulation_fault");
	stop_site(&s);
}

static bool has_two_alarms(const struct ctl_bess_snap *b)
{
	return b->alarms == (BIT_FAN_DEGRADED | BIT_HVAC_DEGRADED);
}

/* Alarm bits are named in the log and status and change nothing: 40 kW stays. */
static void test_alarm_bits_are_shown_not_acted_on(void **state)
{
	const struct ctl_bess_snap *b;
	struct ctl_log ev;
	char line[256];
	struct site s;

	(void)state;
	start_site(&s, 40, NULL, NULL, 0);
	wait_target(&s, 40);
	assert_int_equal(th_write(&s.c, 1, REG_ALARMS, BIT_FAN_DEGRADED | BIT_HVAC_DEGRADED), 0);
	b = wait_snap(&s, has_two_alarms);
	assert_false(b->is_faulted);
	assert_true(b->is_ready);
	assert_false(b->reasons & SAFETY_FAULT);
	wait_said(&s, CTL_EV_ALARMS, &ev);
	ctl_format_log(s.r->ctl, &ev, line, sizeof(line));
	assert_has(line, "bess-1: alarms fan_degraded,hvac_degraded (0xC)");
	assert_has(status_text(&s), "alarms fan_degraded,hvac_degraded  faults none");
	assert_has(status_json(&s),
		   "\"alarms\":[\"fan_degraded\",\"hvac_degraded\"],\"faults\":[]");
	th_sleep_ms(300);
	assert_true(dev_value(&s, "target_power_kw") == 40);
	assert_false(th_rig_said(s.r, CTL_EV_LEFT_READY, 0, NULL));
	stop_site(&s);
}

/* ---- measured power -------------------------------------------------------------------- */

static bool measures_40(const struct ctl_bess_snap *b)
{
	return b->active_kw == 40;
}

static bool is_deviating(const struct ctl_bess_snap *b)
{
	return b->is_deviating && b->deviations == 1;
}

/*
 * The measured power (2030) is decoded into the snapshot and flux status. A BESS whose
 * measured power stays far from what it acknowledged is flagged and counted once; nothing is
 * acted on.
 */
static void test_measured_power_is_shown_and_a_deviation_flagged(void **state)
{
	static const char *const names[] = { "active_power_kw" };
	static const double values[] = { 5 }; /* held: the device keeps saying 5 kW */
	struct ctl_log ev;
	char line[256];
	struct site s;

	(void)state;
	start_site(&s, 40, NULL, NULL, 0);
	wait_target(&s, 40);
	wait_snap(&s, measures_40);
	assert_has(status_text(&s), "    measured +40.0 kW  max charge 250.0 kW  max discharge "
				    "250.0 kW  alarms none  faults none");
	assert_has(status_json(&s), "\"active_power_kw\":40.000");
	assert_false(th_rig_snap(s.r)->bess[0].is_deviating);
	stop_site(&s);

	start_site(&s, 40, names, values, 1);
	wait_target(&s, 40);
	wait_snap(&s, is_deviating);
	wait_said(&s, CTL_EV_DEVIATION, &ev);
	assert_true(ev.a == 5 && ev.b == 40);
	ctl_format_log(s.r->ctl, &ev, line, sizeof(line));
	assert_has(line, "bess-1: measured +5.0 kW, not the acknowledged +40 kW");
	assert_has(status_text(&s), "measured +5.0 kW DEVIATING (deviations 1)");
	assert_has(status_json(&s), "\"is_deviating\":true,\"deviations\":1");
	assert_true(dev_value(&s, "target_power_kw") == 40); /* shown, not acted on */
	stop_site(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    test_reported_max_discharge_caps_the_setpoint_and_an_implausible_one_is_rated,
		    teardown),
		cmocka_unit_test_teardown(test_reported_max_charge_caps_charging, teardown),
		cmocka_unit_test_teardown(
		    test_fault_bit_takes_the_bess_to_zero_through_the_failsafe_path, teardown),
		cmocka_unit_test_teardown(test_bess_faulted_from_the_start_gets_nothing, teardown),
		cmocka_unit_test_teardown(test_alarm_bits_are_shown_not_acted_on, teardown),
		cmocka_unit_test_teardown(test_measured_power_is_shown_and_a_deviation_flagged,
					  teardown),
	};

	return cmocka_run_group_tests_name("control/bess_roles", tests, NULL, NULL);
}
