/* SPDX-License-Identifier: MIT */
/*
 * What the controller decides each cycle, as pure functions of what it knows: the strategy
 * (a site setpoint in kW), the sharing of it over the BESS, and the safety filter that always
 * runs last. No I/O, no allocation, no clock: every rule is testable with plain values.
 * Sign convention: + discharge (power to the site), - charge; grid power + is import.
 */
#ifndef FLUX_CONTROL_POLICY_H
#define FLUX_CONTROL_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "control/config.h"

/* ---- constants ---------------------------------------------------------------------- */

/* Why a BESS's setpoint is not what the strategy asked: bits of safety_out.reasons. */
#define SAFETY_STALE	   0x001 /* a needed device had no fresh data within stale_after */
#define SAFETY_NOT_READY   0x002 /* status is not READY: no write at all */
#define SAFETY_NOT_OURS	   0x004 /* another party holds the command source: no write */
#define SAFETY_RATED	   0x008 /* clamped to rated power */
#define SAFETY_BLOCKS	   0x010 /* clamped to available blocks x block_kw */
#define SAFETY_SOE_MIN	   0x020 /* no discharge at or below soe_min */
#define SAFETY_SOE_MAX	   0x040 /* no charge at or above soe_max */
#define SAFETY_RAMP	   0x080 /* slew-limited */
#define SAFETY_NOT_STARTED 0x100 /* inputs not all fresh once yet: 0 kW */
#define SAFETY_MONITOR	   0x200 /* strategy monitor: nothing is written */
#define SAFETY_FAULT	   0x400 /* a fault bit is set (faults role): as status FAULT */
#define SAFETY_BESS_MAX	   0x800 /* clamped to what the BESS says it can take now */
#define SAFETY_NREASONS	   12

/* soe_target: full power when this many percent away from the target, linear below. */
#define STRAT_SOE_FULL_POWER_PCT 10.0
/*
 * peak_shaving: share of the grid's excess corrected per cycle. An integrator with a delay of
 * d cycles (the BESS's response time / cycle) is stable for gains below 2 sin(pi / (4d + 2)).
 * At 0.15, a step settles within 1 % in 20..60 cycles for d = 1..6 and in about 90 for d = 7
 * (e.g. a 700 ms response at a 100 ms cycle); tests/control/test_policy.c checks this.
 */
#define STRAT_PEAK_GAIN		 0.15

/*
 * The predictive controller (controller: predictive, the default). The site load is the grid
 * reading plus what the BESS deliver now; the setpoint is the least that keeps the grid inside
 * [-export_limit_kw, import_limit_kw] at that load, so a load step is answered in full on the
 * first reading and settles once the BESS delivers it: its response time plus a cycle or two.
 * What a BESS delivers now is measured where its profile has the active_power role; else it
 * is known only as a range: any setpoint written in the last strat_window_ns() (twice its
 * configured response_time, plus a cycle), since a BESS may act on a new setpoint anywhere
 * from at once to twice as late as configured. The load estimate is a set-membership one:
 * it moves only as far as a reading forces it, to the nearest load the range allows. A load
 * step after a quiet spell is seen whole at once; while a new setpoint may or may not be in
 * effect it holds, so a wrong response_time (up to 2x, or any shorter) never feeds back into
 * an oscillation, where a Smith predictor with a fixed delay does at 50 % wrong. The cost: a
 * second step within the window of a setpoint change is seen fully only once it passes.
 */
#define STRAT_HIST_N	 32 /* setpoint changes remembered per BESS; older ones merge */
/* Frequency response: the droop's nominal frequency. */
#define STRAT_NOMINAL_HZ 50.0

/* ---- structs ------------------------------------------------------------------------ */

/*
 * The setpoints a BESS was written lately, each the range [lo_kw, hi_kw] in effect from t_ns
 * (a point, or two merged when it is full), oldest first. Owned by the control thread.
 */
struct strat_hist {
	unsigned n;
	struct strat_hist_ent {
		int64_t t_ns;
		double lo_kw, hi_kw;
	} e[STRAT_HIST_N];
};

/* What the control thread knows of one BESS this cycle. Owned by the control thread. */
struct bess_view {
	bool is_fresh; /* data within stale_after */
	bool is_ready; /* status == status_ready */
	bool is_ours;  /* command source == our id */
	double soe_pct;
	double available_kw; /* min(rated power, available blocks x block_kw) */
	double setpoint_kw;  /* what it was last told (written and acknowledged) */
	/*
	 * What the BESS reports it can discharge / charge now (max_*_power roles), kW, both as
	 * magnitudes: a limit on top of available_kw, only where has_max_* (a reading that is
	 * valid and plausible); a negative or non-finite one is ignored too. Never widens.
	 */
	bool has_max_discharge, has_max_charge;
	double max_discharge_kw, max_charge_kw;
	bool is_faulted; /* a bit of its faults role is set (is_ready is false then too) */
	/* What it may be delivering now, kW: measured (lo = hi), or the range of the setpoints
	 * it may be acting on (strat_hist_range()); 0 when it delivers nothing of ours. */
	double power_lo_kw, power_hi_kw;
};

/* What the control thread knows of the site this cycle. */
struct site_view {
	unsigned nbess;
	const struct bess_view *bess;
	bool has_grid;	     /* the grid meter's reading is fresh */
	double grid_kw;	     /* + import */
	bool is_grid_repeat; /* grid_kw is a reading the strategy already used: no new step */
	double prev_site_kw; /* the strategy's last valid request (peak_shaving integrates) */
	bool has_load;	     /* load_kw holds an estimate (predictive peak_shaving) */
	double load_kw;	     /* the site load, kW: strat_load_kw() of this reading */
	bool has_freq;	     /* the grid meter's frequency is fresh and valid */
	double freq_hz;
};

/* The safety filter's verdict for one BESS. */
struct safety_out {
	double kw;	  /* what to write */
	bool may_write;	  /* false: write nothing (not READY, or not ours) */
	unsigned reasons; /* SAFETY_* bits that changed the request */
};

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * RT(ctl): the site setpoint the configured strategy asks for. manual: setpoint_kw.
 * soe_target: towards target_soe_pct from the mean SOE of the fresh BESS, max_power_kw when
 * STRAT_SOE_FULL_POWER_PCT or more away. peak_shaving: just enough discharge to keep import <=
 * import_limit_kw, or charge to keep export <= export_limit_kw, and 0 in between: predictive,
 * from v->load_kw (see STRAT_HIST_N), or the integrator (see STRAT_PEAK_GAIN), one step per new
 * grid reading. frequency_response: strat_ffr_kw(). With is_frequency_response on top of
 * another strategy, the droop comes first and the other gets the room left. Sets *is_valid
 * false (and returns 0) when the inputs it needs are not fresh.
 */
double strat_site_kw(const struct cfg_site *site, const struct site_view *v, bool *is_valid);

/* RT(ctl): forget every setpoint (nothing written yet, or it delivers nothing now). */
void strat_hist_reset(struct strat_hist *h);

/* RT(ctl): a setpoint of kw written at t_ns (rising). Full: the two oldest merge. */
void strat_hist_push(struct strat_hist *h, int64_t t_ns, double kw);

/*
 * RT(ctl): the range of the setpoints in effect at some time in [now_ns - window_ns, now_ns]
 * into *lo_kw, *hi_kw (0, 0 when none was written), dropping what is older.
 */
void strat_hist_range(struct strat_hist *h, int64_t now_ns, int64_t window_ns, double *lo_kw,
		      double *hi_kw);

/* RT(ctl): how far back a BESS of response time response_ns may still act on a setpoint. */
int64_t strat_window_ns(int64_t response_ns, int64_t cycle_ns);

/*
 * RT(ctl): the site load from a new grid reading: in [grid + sum of power_lo_kw, grid + sum of
 * power_hi_kw], the nearest to prev_load_kw (has_prev), else the middle.
 */
double strat_load_kw(const struct site_view *v, double prev_load_kw, bool has_prev);

/*
 * RT(ctl): frequency response: the droop's kW at f_hz (+ discharge below nominal): 0 inside
 * the deadband, then max_kw per droop_pct % of STRAT_NOMINAL_HZ beyond it, capped at max_kw.
 */
double strat_ffr_kw(const struct cfg_site *site, double f_hz);

/*
 * RT(ctl): the power the BESS can give together: *dis_kw discharging, *chg_kw charging (both
 * >= 0; only BESS fresh, READY, ours and inside the SOE limit of that direction count, each
 * with available_kw capped by what it reports it can take in that direction).
 */
void strat_room(const struct cfg_site *site, const struct site_view *v, double *dis_kw,
		double *chg_kw);

/*
 * RT(ctl): share site_kw over the BESS in proportion to the power each can give in that
 * direction (available_kw, capped by its reported max in that direction; 0 for a BESS that
 * is stale, not READY, not ours, or at its SOE limit in that direction). Writes nbess values
 * into out_kw.
 */
void strat_share(const struct cfg_site *site, const struct site_view *v, double site_kw,
		 double *out_kw);

/*
 * RT(ctl): the safety filter for one BESS: READY and ours or no write (a fault bit: not READY,
 * SAFETY_FAULT); stale inputs (the BESS's or, when needed, the grid meter's) -> 0 kW; clamp to
 * rated power and available blocks, then to the max discharge / charge the BESS reports now
 * (has_max_*); no discharge at or below soe_min, no charge at or above soe_max; slew at most
 * ramp_kw_per_s x dt_ns from prev_kw (what it is doing now).
 */
struct safety_out safety_filter(const struct cfg_site *site, const struct cfg_bess *cb,
				const struct bess_view *b, bool inputs_fresh, double want_kw,
				double prev_kw, int64_t dt_ns);

/* Names of SAFETY_* bits, for logs: "stale", "not_ready", ... NULL for an unknown bit. */
const char *safety_reason_name(unsigned bit);

#endif /* FLUX_CONTROL_POLICY_H */
