/* SPDX-License-Identifier: MIT */
/*
 * A site on a fake clock: the controller's own policy (control/policy.h: the strategy, the
 * sharing, the safety filter) in closed loop with a plant model, one BESS and the grid meter,
 * stepped in fine time steps with no threads, sockets or wall clock. The BESS answers a
 * setpoint as devices/sim_pp.c does: a dead time, then a first-order lag. What it measures of
 * one load step (or frequency step) is what the control-quality bench (bench/bench_control.c)
 * tabulates and what tests/control/test_control_quality.c asserts, in cycles, never in
 * wall-clock time. Not RT code: setup, tests and benchmarks only.
 */
#ifndef FLUX_CONTROL_PLANT_H
#define FLUX_CONTROL_PLANT_H

#include <stdbool.h>
#include <stdint.h>

#include "control/config.h"

/* ---- constants ---------------------------------------------------------------------- */

#define PLANT_SETTLE_PCT 2.0  /* settled: the grid within this % of the limit it holds */
#define PLANT_FULL_PCT	 99.0 /* frequency response fully active at this % of max_kw */

/* ---- structs ------------------------------------------------------------------------ */

/* One run. The site's strategy, limits, ramp, cycle and frequency settings come from site. */
struct plant_case {
	struct cfg_site site;
	int64_t delay_ns;	/* the BESS's dead time */
	int64_t tau_ns;		/* then a first-order lag; 0: at once */
	int64_t response_ns;	/* the response_time the controller is configured with */
	bool is_measured;	/* the BESS reports its power (active_power): feed-forward */
	double rated_kw;	/* the BESS's power_kw */
	double soe_pct;		/* constant over the run (the run is short) */
	double load0_kw;	/* before the step */
	double load1_kw;	/* from the step on */
	double f0_hz, f1_hz;	/* grid frequency before and from the step (0: 50 Hz) */
	int64_t after_ns;	/* how long to run after the step; 0: long enough to judge */
	int64_t step_offset_ns; /* where in a cycle the step falls; < 0: 0.37 of a cycle */
};

/* What the run measured, from the step on. Times are simulated. */
struct plant_result {
	bool is_settled;   /* inside the band over the run's last fifth */
	int64_t settle_ns; /* step -> the grid inside PLANT_SETTLE_PCT for good */
	double settle_cycles;
	double overshoot_pct; /* the grid's farthest past the limit into the band, % of it */
	double kws_over;      /* integral of the grid past the limit, kW*s */
	double max_bess_kw;   /* the most the BESS delivered (+ discharge) */
	double min_bess_kw;
	double final_bess_kw;
	bool is_activated;     /* frequency response reached PLANT_FULL_PCT of max_kw */
	int64_t activation_ns; /* the frequency step -> fully active */
	unsigned writes;       /* setpoints written after the step */
	unsigned ramp_limited; /* cycles the safety filter slew-limited (SAFETY_RAMP) */
	unsigned soe_limited;  /* cycles an SOE limit held the BESS (SAFETY_SOE_*) */
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Run one case. Returns 0, or -EINVAL for a case outside the model (no cycle, a negative time). */
int plant_run(const struct plant_case *pc, struct plant_result *out);

#endif /* FLUX_CONTROL_PLANT_H */
