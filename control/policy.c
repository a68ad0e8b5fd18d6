// SPDX-License-Identifier: MIT
/*
 * Strategies, sharing and the safety filter (see policy.h). The one idea: the strategy may
 * ask for anything; the safety filter alone decides what reaches a battery, and it runs on
 * every BESS every cycle, after the strategy, with no way around it.
 */
#include <math.h>
#include <stddef.h>

#include "control/policy.h"

static double clamp(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/*
 * Peak shaving as an integrator on the grid meter: each cycle the site setpoint moves by
 * STRAT_PEAK_GAIN of the grid's excess over a limit (more discharge above the import limit,
 * more charge past the export limit), and back towards 0 by the same share of the room left
 * inside the band. An integrator, not "load = grid + setpoint", because a BESS answers a
 * setpoint only after its response time: the meter shows the old power for a few cycles, and
 * a full correction each cycle would overshoot and oscillate. Clamped to what the BESS can
 * give, so it never winds up.
 */
static double peak_step(const struct cfg_site *site, double p, double g)
{
	if (g > site->import_limit_kw)
		return p + STRAT_PEAK_GAIN * (g - site->import_limit_kw);
	if (g < -site->export_limit_kw)
		return p + STRAT_PEAK_GAIN * (g + site->export_limit_kw);
	if (p > 0) {
		double room = site->import_limit_kw - g;

		return p - STRAT_PEAK_GAIN * (room < p ? room : p);
	}
	if (p < 0) {
		double room = g + site->export_limit_kw;

		return p + STRAT_PEAK_GAIN * (room < -p ? room : -p);
	}
	return p;
}

static double peak_shaving(const struct cfg_site *site, const struct site_view *v)
{
	double p = v->prev_site_kw, room_dis, room_chg;

	/* One step per reading: a reading seen twice would count its excess twice. */
	if (!v->is_grid_repeat)
		p = peak_step(site, p, v->grid_kw);
	strat_room(site, v, &room_dis, &room_chg);
	return clamp(p, -room_chg, room_dis);
}

/*
 * The power a BESS can give in one direction (sign > 0: discharge) before SOE and state:
 * available_kw, capped by what it reports it can take that way now. A report that is absent,
 * negative or not finite caps nothing: it never widens, and never stands for more than rated.
 */
static double direction_kw(const struct bess_view *b, double sign)
{
	double avail = b->available_kw > 0 ? b->available_kw : 0;
	bool has = sign > 0 ? b->has_max_discharge : b->has_max_charge;
	double max = sign > 0 ? b->max_discharge_kw : b->max_charge_kw;

	return has && max >= 0 && max < avail ? max : avail;
}

/* RT(ctl) */
void strat_room(const struct cfg_site *site, const struct site_view *v, double *dis_kw,
		double *chg_kw)
{
	*dis_kw = *chg_kw = 0;
	for (unsigned i = 0; i < v->nbess; i++) {
		const struct bess_view *b = &v->bess[i];

		if (!b->is_fresh || !b->is_ready || !b->is_ours || !(b->available_kw > 0))
			continue;
		if (b->soe_pct > site->soe_min_pct)
			*dis_kw += direction_kw(b, 1);
		if (b->soe_pct < site->soe_max_pct)
			*chg_kw += direction_kw(b, -1);
	}
}

/* RT(ctl) */
double strat_site_kw(const struct cfg_site *site, const struct site_view *v, bool *is_valid)
{
	double soe = 0;
	unsigned n = 0;

	*is_valid = true;
	switch (site->mode) {
	case CFG_STRATEGY_MANUAL:
		return site->setpoint_kw;
	case CFG_STRATEGY_SOE_TARGET:
		for (unsigned i = 0; i < v->nbess; i++)
			if (v->bess[i].is_fresh) {
				soe += v->bess[i].soe_pct;
				n++;
			}
		if (!n)
			break;
		/* Above the target: discharge; below: charge; linear within the band. */
		return clamp((soe / n - site->target_soe_pct) / STRAT_SOE_FULL_POWER_PCT, -1, 1) *
		       site->max_power_kw;
	case CFG_STRATEGY_PEAK_SHAVING:
		if (!v->has_grid)
			break;
		return peak_shaving(site, v);
	default: /* monitor: nothing to ask */
		break;
	}
	*is_valid = false;
	return 0;
}

/* Power a BESS can give in the direction of `sign` this cycle, before the safety filter. */
static double headroom(const struct cfg_site *site, const struct bess_view *b, double sign)
{
	if (!b->is_fresh || !b->is_ready || !b->is_ours)
		return 0;
	if (sign > 0 && b->soe_pct <= site->soe_min_pct)
		return 0;
	if (sign < 0 && b->soe_pct >= site->soe_max_pct)
		return 0;
	return direction_kw(b, sign);
}

/* RT(ctl) */
void strat_share(const struct cfg_site *site, const struct site_view *v, double site_kw,
		 double *out_kw)
{
	double sign = site_kw >= 0 ? 1 : -1, total = 0;

	for (unsigned i = 0; i < v->nbess; i++)
		total += headroom(site, &v->bess[i], sign);
	for (unsigned i = 0; i < v->nbess; i++)
		out_kw[i] = total > 0 ? site_kw * headroom(site, &v->bess[i], sign) / total : 0;
}

/* RT(ctl): hard limits [lo, hi] first, then the ramp from prev_kw, then the limits again,
 * so a ramp never holds a battery beyond a limit (a stale input means 0 kW now). */
struct safety_out safety_filter(const struct cfg_site *site, const struct cfg_bess *cb,
				const struct bess_view *b, bool inputs_fresh, double want_kw,
				double prev_kw, int64_t dt_ns)
{
	struct safety_out out = { .may_write = true };
	double blocks = b->available_kw > 0 ? b->available_kw : 0;
	double hi = cb->power_kw, lo, want = isfinite(want_kw) ? want_kw : 0, step, ramped;

	if (!b->is_ready) {
		out.reasons |= SAFETY_NOT_READY;
		out.may_write = false;
	}
	if (b->is_faulted) { /* the fault bits make it not READY (ctl_loop.c): the same path */
		out.reasons |= SAFETY_FAULT;
		out.may_write = false;
	}
	if (!b->is_ours) {
		out.reasons |= SAFETY_NOT_OURS;
		out.may_write = false;
	}
	if (fabs(want) > hi)
		out.reasons |= SAFETY_RATED;
	if (blocks < hi) {
		if (fabs(want) > blocks)
			out.reasons |= SAFETY_BLOCKS;
		hi = blocks;
	}
	lo = -hi;
	/* What the BESS says it can take now: a narrower bound per direction, never a wider. */
	if (direction_kw(b, 1) < hi) {
		if (want > direction_kw(b, 1))
			out.reasons |= SAFETY_BESS_MAX;
		hi = direction_kw(b, 1);
	}
	if (direction_kw(b, -1) < -lo) {
		if (want < -direction_kw(b, -1))
			out.reasons |= SAFETY_BESS_MAX;
		lo = -direction_kw(b, -1);
	}
	/* At an SOE limit the reason stands while the limit is in force, asked or not. */
	if (b->soe_pct <= site->soe_min_pct) {
		out.reasons |= SAFETY_SOE_MIN;
		hi = 0;
	}
	if (b->soe_pct >= site->soe_max_pct) {
		out.reasons |= SAFETY_SOE_MAX;
		lo = 0;
	}
	if (!inputs_fresh || !b->is_fresh) {
		out.reasons |= SAFETY_STALE;
		lo = hi = 0;
	}
	want = clamp(want, lo, hi);
	step = site->ramp_kw_per_s * (double)dt_ns / 1e9;
	ramped = clamp(want, prev_kw - step, prev_kw + step);
	if (ramped != want)
		out.reasons |= SAFETY_RAMP;
	out.kw = clamp(ramped, lo, hi);
	return out;
}

static const char *const reason_names[SAFETY_NREASONS] = {
	"stale",   "not_ready", "not_ours",    "rated",	  "blocks", "soe_min",
	"soe_max", "ramp",	"not_started", "monitor", "fault",  "bess_max",
};

const char *safety_reason_name(unsigned bit)
{
	for (unsigned i = 0; i < SAFETY_NREASONS; i++)
		if (bit == 1u << i)
			return reason_names[i];
	return NULL;
}
