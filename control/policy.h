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

/* ---- structs ------------------------------------------------------------------------ */

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
};

/* What the control thread knows of the site this cycle. */
struct site_view {
	unsigned nbess;
	const struct bess_view *bess;
	bool has_grid;	     /* the grid meter's reading is fresh */
	double grid_kw;	     /* + import */
	bool is_grid_repeat; /* grid_kw is a reading the strategy already used: no new step */
	double prev_site_kw; /* the strategy's last valid request (peak_shaving integrates) */
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
 * STRAT_SOE_FULL_POWER_PCT or more away. peak_shaving: integrates towards just enough
 * discharge to keep import <= import_limit_kw, or charge to keep export <= export_limit_kw,
 * and back to 0 in between (see STRAT_PEAK_GAIN), one step per new grid reading. Sets *is_valid
 * false (and returns 0) when the inputs it needs are not fresh.
 */
double strat_site_kw(const struct cfg_site *site, const struct site_view *v, bool *is_valid);

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
