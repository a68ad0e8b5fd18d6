// SPDX-License-Identifier: MIT
/*
 * Tests of control/policy.c: each strategy, the sharing over several BESS, and every rule
 * of the safety filter, with plain values (no threads, no sockets, no clock).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control/policy.h"

#define MS (1000LL * 1000)

static struct cfg_site site_defaults(void)
{
	static struct cfg cfg; /* ~340 KiB at CFG_MAX_BESS: not on the stack */

	cfg_defaults(&cfg);
	return cfg.site;
}

static struct cfg_bess bess_defaults(void)
{
	return (struct cfg_bess){ .power_kw = 100,
				  .capacity_kwh = 200,
				  .block_kw = 50,
				  .status_ready = 1,
				  .command_source_id = 3,
				  .soe_scale = 1 };
}

static struct bess_view healthy(double soe_pct)
{
	return (struct bess_view){ .is_fresh = true,
				   .is_ready = true,
				   .is_ours = true,
				   .soe_pct = soe_pct,
				   .available_kw = 100 };
}

/* ---- strategies --------------------------------------------------------------------- */

static void test_manual_asks_for_the_configured_setpoint(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(50);
	struct site_view v = { .nbess = 1, .bess = &b };
	bool ok;

	(void)state;
	s.mode = CFG_STRATEGY_MANUAL;
	s.setpoint_kw = -40;
	assert_true(strat_site_kw(&s, &v, &ok) == -40);
	assert_true(ok);
}

static void test_soe_target_discharges_above_and_charges_below_target(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(55);
	struct site_view v = { .nbess = 1, .bess = &b };
	bool ok;

	(void)state;
	s.mode = CFG_STRATEGY_SOE_TARGET;
	s.target_soe_pct = 50;
	s.max_power_kw = 80;
	/* 5 % above: half of full power (full at STRAT_SOE_FULL_POWER_PCT = 10 %). */
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 40) < 1e-9);
	b.soe_pct = 20;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) + 80) < 1e-9);
	b.soe_pct = 50;
	assert_true(strat_site_kw(&s, &v, &ok) == 0);
	b.is_fresh = false;
	strat_site_kw(&s, &v, &ok);
	assert_false(ok);
}

static void test_peak_shaving_integrates_towards_the_limits(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(50);
	struct site_view v = { .nbess = 1, .bess = &b, .has_grid = true };
	bool ok;

	(void)state;
	s.mode = CFG_STRATEGY_PEAK_SHAVING;
	s.controller = CFG_CONTROLLER_INTEGRATOR; /* the fallback mode */
	s.import_limit_kw = 100;
	s.export_limit_kw = 20;
	/* Import 150 over a limit of 100: discharge STRAT_PEAK_GAIN of the excess more. */
	v.grid_kw = 150;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - STRAT_PEAK_GAIN * 50) < 1e-9);
	assert_true(ok);
	/* At the limit: hold. */
	v.prev_site_kw = 50;
	v.grid_kw = 100;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 50) < 1e-9);
	/* Load fell: back towards 0 by the gain's share of the room. */
	v.grid_kw = 10;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - (50 - STRAT_PEAK_GAIN * 50)) < 1e-9);
	/* Export of 50 past a limit of 20: charge. */
	v.prev_site_kw = 0;
	v.grid_kw = -50;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) + STRAT_PEAK_GAIN * 30) < 1e-9);
	/* Never winds up past what the BESS can give. */
	v.prev_site_kw = 95;
	v.grid_kw = 300;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 100) < 1e-9);
	b.is_ours = false;
	assert_true(strat_site_kw(&s, &v, &ok) == 0);
	v.has_grid = false;
	assert_true(strat_site_kw(&s, &v, &ok) == 0);
	assert_false(ok);
}

/* The loop closed over a BESS that answers `delay` (1..7) cycles late converges. */
static void test_peak_shaving_converges_with_a_slow_bess(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(50);
	struct site_view v = { .nbess = 1, .bess = &b, .has_grid = true };
	double told[128] = { 0 }, load = 170, worst_late = 0;
	bool ok;

	(void)state;
	s.mode = CFG_STRATEGY_PEAK_SHAVING;
	s.controller = CFG_CONTROLLER_INTEGRATOR;
	s.import_limit_kw = 100;
	for (unsigned delay = 1; delay <= 7; delay++) {
		memset(told, 0, sizeof(told));
		v.prev_site_kw = 0;
		worst_late = 0;
		for (unsigned k = delay; k < 128; k++) {
			v.grid_kw = load - told[k - delay]; /* the meter sees the old setpoint */
			told[k] = strat_site_kw(&s, &v, &ok);
			v.prev_site_kw = told[k];
			if (k >= 100 && fabs(v.grid_kw - 100) > worst_late)
				worst_late = fabs(v.grid_kw - 100);
		}
		if (worst_late > 1.0)
			fail_msg("delay %u cycles: still %.2f kW off the limit after 100 cycles",
				 delay, worst_late);
	}
}

/* Predictive: the least power that keeps the grid in the band at the estimated load. */
static void test_predictive_peak_shaving_asks_for_the_load_past_the_limits(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(50);
	struct site_view v = { .nbess = 1, .bess = &b, .has_grid = true, .has_load = true };
	bool ok;

	(void)state;
	s.mode = CFG_STRATEGY_PEAK_SHAVING;
	s.import_limit_kw = 100;
	s.export_limit_kw = 20;
	assert_int_equal(s.controller, CFG_CONTROLLER_PREDICTIVE); /* the default */
	v.load_kw = 190;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 90) < 1e-9);
	assert_true(ok);
	/* Inside the band: nothing, whatever it asked before (no state to unwind). */
	v.prev_site_kw = 90;
	v.load_kw = 50;
	assert_true(strat_site_kw(&s, &v, &ok) == 0);
	/* Export 60 past a limit of 20: charge 40. */
	v.load_kw = -60;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) + 40) < 1e-9);
	/* Capped at what the BESS can give. */
	v.load_kw = 400;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 100) < 1e-9);
	/* No estimate yet: not valid. */
	v.has_load = false;
	assert_true(strat_site_kw(&s, &v, &ok) == 0);
	assert_false(ok);
}

/* The history: the range of what may be in effect within a window, merged when full. */
static void test_setpoint_history_gives_the_range_that_may_be_in_effect(void **state)
{
	struct strat_hist h = { 0 };
	double lo, hi;

	(void)state;
	strat_hist_range(&h, 0, 100 * MS, &lo, &hi);
	assert_true(lo == 0 && hi == 0);
	strat_hist_push(&h, 1000 * MS, 50);
	/* Just written: 0 (before it) or 50. */
	strat_hist_range(&h, 1000 * MS, 300 * MS, &lo, &hi);
	assert_true(lo == 0 && hi == 50);
	strat_hist_push(&h, 1100 * MS, 80);
	strat_hist_range(&h, 1200 * MS, 300 * MS, &lo, &hi);
	assert_true(lo == 0 && hi == 80);
	/* 50 took effect before the window opened: 0 is out, 50 and 80 remain. */
	strat_hist_range(&h, 1350 * MS, 300 * MS, &lo, &hi);
	assert_true(lo == 50 && hi == 80);
	/* 80 is the only one after its window: a point. */
	strat_hist_range(&h, 1500 * MS, 300 * MS, &lo, &hi);
	assert_true(lo == 80 && hi == 80);
	assert_int_equal(h.n, 1);
	/* Full: the two oldest merge into a range, never dropping a value in the window. */
	strat_hist_reset(&h);
	for (int k = 0; k < STRAT_HIST_N + 5; k++)
		strat_hist_push(&h, (2000 + k) * MS, k);
	assert_int_equal(h.n, STRAT_HIST_N);
	strat_hist_range(&h, (2000 + STRAT_HIST_N + 5) * MS, 10000 * MS, &lo, &hi);
	assert_true(lo == 0 && hi == STRAT_HIST_N + 4);
}

/* The load estimate moves only as far as the reading forces it. */
static void test_load_estimate_is_the_nearest_the_range_allows(void **state)
{
	struct bess_view b = healthy(50);
	struct site_view v = { .nbess = 1, .bess = &b, .has_grid = true };

	(void)state;
	b.power_lo_kw = b.power_hi_kw = 50; /* known: grid + 50 */
	v.grid_kw = 140;
	assert_true(strat_load_kw(&v, 0, false) == 190);
	assert_true(strat_load_kw(&v, 150, true) == 190);
	/* 50 or 90 may be in effect: a load of 190 is one the reading allows: kept. */
	b.power_hi_kw = 90;
	v.grid_kw = 100;
	assert_true(strat_load_kw(&v, 190, true) == 190);
	/* The reading says at least 220 now (a second step): moved just that far. */
	v.grid_kw = 170;
	assert_true(strat_load_kw(&v, 190, true) == 220);
	/* No estimate before: the middle. */
	assert_true(strat_load_kw(&v, 0, false) == 240);
}

/* Droop with a deadband: 0 inside, linear to max_kw, discharge below 50 Hz. */
static void test_frequency_response_is_a_droop_with_a_deadband(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(50);
	struct site_view v = { .nbess = 1, .bess = &b, .has_grid = true, .has_freq = true };
	bool ok;

	(void)state;
	s.droop_pct = 0.4; /* 0.2 Hz for max_kw */
	s.deadband_mhz = 100;
	s.ffr_max_kw = 80;
	assert_true(strat_ffr_kw(&s, 50.0) == 0);
	assert_true(strat_ffr_kw(&s, 49.95) == 0);
	assert_true(strat_ffr_kw(&s, 50.1) == 0);
	assert_true(fabs(strat_ffr_kw(&s, 49.8) - 40) < 1e-9);
	assert_true(fabs(strat_ffr_kw(&s, 49.7) - 80) < 1e-9);
	assert_true(fabs(strat_ffr_kw(&s, 49.0) - 80) < 1e-9);
	assert_true(fabs(strat_ffr_kw(&s, 50.2) + 40) < 1e-9);
	assert_true(fabs(strat_ffr_kw(&s, 51.0) + 80) < 1e-9);
	assert_true(strat_ffr_kw(&s, NAN) == 0);
	s.mode = CFG_STRATEGY_FREQUENCY_RESPONSE;
	v.freq_hz = 49.7;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 80) < 1e-9);
	assert_true(ok);
	v.has_freq = false;
	assert_true(strat_site_kw(&s, &v, &ok) == 0);
	assert_false(ok);
}

/* On top of peak shaving the droop comes first: peak shaving gets the room left. */
static void test_frequency_response_has_priority_over_peak_shaving(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(50);
	struct site_view v = { .nbess = 1,
			       .bess = &b,
			       .has_grid = true,
			       .has_load = true,
			       .has_freq = true,
			       .freq_hz = 50 };
	bool ok;

	(void)state;
	s.mode = CFG_STRATEGY_PEAK_SHAVING;
	s.import_limit_kw = 100;
	s.is_frequency_response = true;
	s.ffr_max_kw = 80;
	v.load_kw = 150; /* peak shaving wants 50 */
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 50) < 1e-9);
	v.freq_hz = 49.7; /* + 80: 130 asked of a 100 kW BESS: the droop's 80 first */
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 100) < 1e-9);
	v.freq_hz = 50.3; /* charge 80: the peak's 50 on top, -30 */
	assert_true(fabs(strat_site_kw(&s, &v, &ok) + 30) < 1e-9);
	v.load_kw = 60; /* inside the band: the droop alone */
	assert_true(fabs(strat_site_kw(&s, &v, &ok) + 80) < 1e-9);
	/* A stale frequency: peak shaving alone. */
	v.has_freq = false;
	v.load_kw = 150;
	assert_true(fabs(strat_site_kw(&s, &v, &ok) - 50) < 1e-9);
	assert_true(ok);
}

static void test_shares_by_available_power_and_skips_unusable_bess(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b[3] = { healthy(50), healthy(50), healthy(50) };
	struct site_view v = { .nbess = 3, .bess = b };
	double out[3];

	(void)state;
	b[0].available_kw = 100;
	b[1].available_kw = 50;
	b[2].is_ready = false;
	strat_share(&s, &v, 90, out);
	assert_true(fabs(out[0] - 60) < 1e-9);
	assert_true(fabs(out[1] - 30) < 1e-9);
	assert_true(out[2] == 0);
	/* An empty BESS gives nothing to a discharge, but takes its share of a charge. */
	b[1].soe_pct = s.soe_min_pct;
	strat_share(&s, &v, 90, out);
	assert_true(fabs(out[0] - 90) < 1e-9);
	assert_true(out[1] == 0);
	strat_share(&s, &v, -30, out);
	assert_true(fabs(out[0] + 20) < 1e-9);
	assert_true(fabs(out[1] + 10) < 1e-9);
}

/* ---- safety filter ------------------------------------------------------------------ */

static struct safety_out filter(const struct bess_view *b, double want, double prev)
{
	struct cfg_site s = site_defaults();
	struct cfg_bess cb = bess_defaults();

	s.ramp_kw_per_s = 1e9; /* no ramp unless a test asks */
	return safety_filter(&s, &cb, b, true, want, prev, 100 * MS);
}

static void test_writes_nothing_unless_ready_and_ours(void **state)
{
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	b.is_ready = false;
	o = filter(&b, 50, 0);
	assert_false(o.may_write);
	assert_true(o.reasons & SAFETY_NOT_READY);
	b = healthy(50);
	b.is_ours = false;
	o = filter(&b, 50, 0);
	assert_false(o.may_write);
	assert_true(o.reasons & SAFETY_NOT_OURS);
	o = filter(&(struct bess_view){ .is_fresh = true,
					.is_ready = true,
					.is_ours = true,
					.soe_pct = 50,
					.available_kw = 100 },
		   50, 0);
	assert_true(o.may_write);
	assert_true(o.kw == 50);
	assert_int_equal(o.reasons, 0);
}

static void test_clamps_to_rated_power_and_available_blocks(void **state)
{
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	o = filter(&b, 250, 0);
	assert_true(o.kw == 100);
	assert_true(o.reasons & SAFETY_RATED);
	b.available_kw = 50; /* one block of 50 kW left */
	o = filter(&b, -80, 0);
	assert_true(o.kw == -50);
	assert_true(o.reasons & SAFETY_BLOCKS);
	b.available_kw = 0;
	o = filter(&b, 10, 0);
	assert_true(o.kw == 0);
}

static void test_no_discharge_below_soe_min_no_charge_above_soe_max(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b = healthy(s.soe_min_pct);
	struct safety_out o;

	(void)state;
	o = filter(&b, 40, 0);
	assert_true(o.kw == 0);
	assert_true(o.reasons & SAFETY_SOE_MIN);
	o = filter(&b, -40, 0); /* charging an empty battery is fine */
	assert_true(o.kw == -40);
	b.soe_pct = s.soe_max_pct;
	o = filter(&b, -40, 0);
	assert_true(o.kw == 0);
	assert_true(o.reasons & SAFETY_SOE_MAX);
	o = filter(&b, 40, 0);
	assert_true(o.kw == 40);
}

static void test_ramp_limits_slew_both_ways(void **state)
{
	struct cfg_site s = site_defaults();
	struct cfg_bess cb = bess_defaults();
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	s.ramp_kw_per_s = 100; /* 10 kW per 100 ms cycle */
	o = safety_filter(&s, &cb, &b, true, 80, 0, 100 * MS);
	assert_true(fabs(o.kw - 10) < 1e-9);
	assert_true(o.reasons & SAFETY_RAMP);
	o = safety_filter(&s, &cb, &b, true, -80, 10, 100 * MS);
	assert_true(fabs(o.kw - 0) < 1e-9);
	o = safety_filter(&s, &cb, &b, true, 15, 10, 100 * MS);
	assert_true(fabs(o.kw - 15) < 1e-9);
	assert_false(o.reasons & SAFETY_RAMP);
}

static void test_hard_limits_win_over_the_ramp(void **state)
{
	struct cfg_site s = site_defaults();
	struct cfg_bess cb = bess_defaults();
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	s.ramp_kw_per_s = 100;
	/* Discharging 100, blocks drop to 50: down to 50 now, not 10 kW per cycle. */
	b.available_kw = 50;
	o = safety_filter(&s, &cb, &b, true, 100, 100, 100 * MS);
	assert_true(o.kw == 50);
	/* Stale inputs: 0 kW at once, whatever the ramp. */
	b = healthy(50);
	o = safety_filter(&s, &cb, &b, false, 100, 100, 100 * MS);
	assert_true(o.kw == 0);
	assert_true(o.reasons & SAFETY_STALE);
	/* Reaching soe_min while discharging 100: 0 at once. */
	b.soe_pct = s.soe_min_pct - 1;
	o = safety_filter(&s, &cb, &b, true, 100, 100, 100 * MS);
	assert_true(o.kw == 0);
}

static void test_stale_bess_gets_zero_and_a_reason(void **state)
{
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	b.is_fresh = false;
	o = filter(&b, 60, 60);
	assert_true(o.kw == 0);
	assert_true(o.reasons & SAFETY_STALE);
	assert_true(o.may_write);
	b = healthy(50);
	o = filter(&b, NAN, 0);
	assert_true(o.kw == 0);
}

/* ---- what the BESS reports it can take now (max_charge/max_discharge_power roles) ------- */

static void test_reported_max_discharge_caps_what_is_written(void **state)
{
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	/* The strategy asks 100 kW; rated 100, blocks 100; the BESS says 30 kW now. */
	b.has_max_discharge = true;
	b.max_discharge_kw = 30;
	o = filter(&b, 100, 0);
	assert_true(o.kw == 30);
	assert_true(o.reasons & SAFETY_BESS_MAX);
	assert_false(o.reasons & SAFETY_RATED);
	/* A discharge limit leaves charging alone. */
	o = filter(&b, -80, 0);
	assert_true(o.kw == -80);
	assert_false(o.reasons & SAFETY_BESS_MAX);
	/* Asked for less than the limit: nothing to say. */
	o = filter(&b, 20, 0);
	assert_true(o.kw == 20 && !(o.reasons & SAFETY_BESS_MAX));
	/* A ramp from above the limit never holds it there. */
	o = filter(&b, 100, 90);
	assert_true(o.kw == 30);
	/* 0 kW reported: no discharge at all, still a write. */
	b.max_discharge_kw = 0;
	o = filter(&b, 50, 0);
	assert_true(o.kw == 0 && o.may_write && (o.reasons & SAFETY_BESS_MAX));
}

static void test_reported_max_charge_is_a_magnitude_capping_charge(void **state)
{
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	b.has_max_charge = true;
	b.max_charge_kw = 25; /* a magnitude: charge at most 25 kW, i.e. target >= -25 */
	o = filter(&b, -100, 0);
	assert_true(o.kw == -25);
	assert_true(o.reasons & SAFETY_BESS_MAX);
	o = filter(&b, 70, 0);
	assert_true(o.kw == 70 && !(o.reasons & SAFETY_BESS_MAX));
	/* Both directions at once, each its own. */
	b.has_max_discharge = true;
	b.max_discharge_kw = 10;
	assert_true(filter(&b, 70, 0).kw == 10);
	assert_true(filter(&b, -70, 0).kw == -25);
}

static void test_reported_max_never_widens_rated_or_blocks(void **state)
{
	struct bess_view b = healthy(50);
	struct safety_out o;

	(void)state;
	/* More than rated (100 kW) reported: rated holds. */
	b.has_max_discharge = b.has_max_charge = true;
	b.max_discharge_kw = b.max_charge_kw = 400;
	o = filter(&b, 300, 0);
	assert_true(o.kw == 100 && (o.reasons & SAFETY_RATED) && !(o.reasons & SAFETY_BESS_MAX));
	assert_true(filter(&b, -300, 0).kw == -100);
	/* One block of 50 kW left: blocks hold. */
	b.available_kw = 50;
	o = filter(&b, 80, 0);
	assert_true(o.kw == 50 && (o.reasons & SAFETY_BLOCKS));
	/* Nonsense a reading cannot mean (negative, NaN, infinite): ignored, rated applies. */
	b.available_kw = 100;
	for (int k = 0; k < 3; k++) {
		double bad = k == 0 ? -20 : k == 1 ? NAN : INFINITY;

		b.max_discharge_kw = b.max_charge_kw = bad;
		o = filter(&b, 300, 0);
		assert_true(o.kw == 100 && !(o.reasons & SAFETY_BESS_MAX));
		assert_true(filter(&b, -300, 0).kw == -100);
	}
	/* A value with has_max_* false (stale or implausible, ctl_loop.c says): ignored too. */
	b.has_max_discharge = b.has_max_charge = false;
	b.max_discharge_kw = b.max_charge_kw = 5;
	assert_true(filter(&b, 300, 0).kw == 100);
	assert_true(filter(&b, -300, 0).kw == -100);
	/* Stale BESS: 0 kW, whatever it reported. */
	b.has_max_discharge = true;
	b.max_discharge_kw = 30;
	b.is_fresh = false;
	assert_true(filter(&b, 100, 0).kw == 0);
}

static void test_sharing_and_room_count_the_reported_max(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b[2] = { healthy(50), healthy(50) };
	struct site_view v = { .nbess = 2, .bess = b };
	double out[2], dis, chg;

	(void)state;
	b[0].has_max_discharge = true;
	b[0].max_discharge_kw = 20; /* 20 + 100 kW to discharge, 100 + 100 to charge */
	strat_room(&s, &v, &dis, &chg);
	assert_true(dis == 120 && chg == 200);
	strat_share(&s, &v, 60, out);
	assert_true(fabs(out[0] - 10) < 1e-9 && fabs(out[1] - 50) < 1e-9);
	strat_share(&s, &v, -100, out);
	assert_true(fabs(out[0] + 50) < 1e-9 && fabs(out[1] + 50) < 1e-9);
	b[0].max_discharge_kw = NAN; /* ignored: its whole available power again */
	strat_room(&s, &v, &dis, &chg);
	assert_true(dis == 200);
}

/* ---- fault bits (faults role) -------------------------------------------------------- */

static void test_fault_bits_write_nothing_and_say_why(void **state)
{
	struct cfg_site s = site_defaults();
	struct bess_view b[2] = { healthy(50), healthy(50) };
	struct site_view v = { .nbess = 2, .bess = b };
	struct safety_out o;
	double out[2];

	(void)state;
	/* As ctl_loop.c builds it: a fault bit makes the BESS not READY. */
	b[0].is_faulted = true;
	b[0].is_ready = false;
	o = filter(&b[0], 60, 0);
	assert_false(o.may_write);
	assert_true(o.reasons & SAFETY_FAULT);
	assert_true(o.reasons & SAFETY_NOT_READY);
	/* The other BESS takes the site's share alone. */
	strat_share(&s, &v, 60, out);
	assert_true(out[0] == 0 && fabs(out[1] - 60) < 1e-9);
	b[0].is_faulted = false;
	b[0].is_ready = true;
	o = filter(&b[0], 60, 0);
	assert_true(o.may_write && o.kw == 60 && !(o.reasons & SAFETY_FAULT));
}

static void test_names_every_reason(void **state)
{
	(void)state;
	for (unsigned i = 0; i < SAFETY_NREASONS; i++)
		assert_non_null(safety_reason_name(1u << i));
	assert_string_equal(safety_reason_name(SAFETY_SOE_MIN), "soe_min");
	assert_string_equal(safety_reason_name(SAFETY_FAULT), "fault");
	assert_string_equal(safety_reason_name(SAFETY_BESS_MAX), "bess_max");
	assert_null(safety_reason_name(1u << 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manual_asks_for_the_configured_setpoint),
		cmocka_unit_test(test_soe_target_discharges_above_and_charges_below_target),
		cmocka_unit_test(test_peak_shaving_integrates_towards_the_limits),
		cmocka_unit_test(test_peak_shaving_converges_with_a_slow_bess),
		cmocka_unit_test(test_predictive_peak_shaving_asks_for_the_load_past_the_limits),
		cmocka_unit_test(test_setpoint_history_gives_the_range_that_may_be_in_effect),
		cmocka_unit_test(test_load_estimate_is_the_nearest_the_range_allows),
		cmocka_unit_test(test_frequency_response_is_a_droop_with_a_deadband),
		cmocka_unit_test(test_frequency_response_has_priority_over_peak_shaving),
		cmocka_unit_test(test_shares_by_available_power_and_skips_unusable_bess),
		cmocka_unit_test(test_writes_nothing_unless_ready_and_ours),
		cmocka_unit_test(test_clamps_to_rated_power_and_available_blocks),
		cmocka_unit_test(test_no_discharge_below_soe_min_no_charge_above_soe_max),
		cmocka_unit_test(test_ramp_limits_slew_both_ways),
		cmocka_unit_test(test_hard_limits_win_over_the_ramp),
		cmocka_unit_test(test_stale_bess_gets_zero_and_a_reason),
		cmocka_unit_test(test_reported_max_discharge_caps_what_is_written),
		cmocka_unit_test(test_reported_max_charge_is_a_magnitude_capping_charge),
		cmocka_unit_test(test_reported_max_never_widens_rated_or_blocks),
		cmocka_unit_test(test_sharing_and_room_count_the_reported_max),
		cmocka_unit_test(test_fault_bits_write_nothing_and_say_why),
		cmocka_unit_test(test_names_every_reason),
	};

	return cmocka_run_group_tests_name("control/policy", tests, NULL, NULL);
}
