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

	if (site->controller == CFG_CONTROLLER_PREDICTIVE) {
		/* The least power that keeps the grid inside the band at this load. */
		p = clamp(0, v->load_kw - site->import_limit_kw,
			  v->load_kw + site->export_limit_kw);
	} else if (!v->is_grid_repeat) {
		/* One step per reading: a reading seen twice would count its excess twice. */
		p = peak_step(site, p, v->grid_kw);
	}
	strat_room(site, v, &room_dis, &room_chg);
	return clamp(p, -room_chg, room_dis);
}

/* RT(ctl) */
void strat_hist_reset(struct strat_hist *h)
{
	h->n = 0;
}

/* RT(ctl) */
void strat_hist_push(struct strat_hist *h, int64_t t_ns, double kw)
{
	if (h->n == STRAT_HIST_N) {
		/* Merge the two oldest: from the first's time, either value may be in effect. */
		struct strat_hist_ent *a = &h->e[0], *b = &h->e[1];

		a->lo_kw = a->lo_kw < b->lo_kw ? a->lo_kw : b->lo_kw;
		a->hi_kw = a->hi_kw > b->hi_kw ? a->hi_kw : b->hi_kw;
		for (unsigned i = 1; i + 1 < h->n; i++)
			h->e[i] = h->e[i + 1];
		h->n--;
	}
	h->e[h->n++] = (struct strat_hist_ent){ .t_ns = t_ns, .lo_kw = kw, .hi_kw = kw };
}

/* RT(ctl) */
void strat_hist_range(struct strat_hist *h, int64_t now_ns, int64_t window_ns, double *lo_kw,
		      double *hi_kw)
{
	unsigned drop = 0;

	/* An entry is over once the next one took effect before the window opened. */
	while (drop + 1 < h->n && h->e[drop + 1].t_ns <= now_ns - window_ns)
		drop++;
	if (drop) {
		for (unsigned i = 0; i + drop < h->n; i++)
			h->e[i] = h->e[i + drop];
		h->n -= drop;
	}
	*lo_kw = *hi_kw = 0;
	for (unsigned i = 0; i < h->n; i++) {
		if (i == 0 || h->e[i].lo_kw < *lo_kw)
			*lo_kw = h->e[i].lo_kw;
		if (i == 0 || h->e[i].hi_kw > *hi_kw)
			*hi_kw = h->e[i].hi_kw;
	}
	/* Before its first setpoint it delivered 0: so while that one may not be in effect. */
	if (h->n && h->e[0].t_ns > now_ns - window_ns) {
		*lo_kw = *lo_kw < 0 ? *lo_kw : 0;
		*hi_kw = *hi_kw > 0 ? *hi_kw : 0;
	}
}

/* RT(ctl) */
int64_t strat_window_ns(int64_t response_ns, int64_t cycle_ns)
{
	return 2 * response_ns + cycle_ns;
}

/* RT(ctl) */
double strat_load_kw(const struct site_view *v, double prev_load_kw, bool has_prev)
{
	double lo = 0, hi = 0;

	for (unsigned i = 0; i < v->nbess; i++) {
		lo += v->bess[i].power_lo_kw;
		hi += v->bess[i].power_hi_kw;
	}
	lo += v->grid_kw;
	hi += v->grid_kw;
	return has_prev && isfinite(prev_load_kw) ? clamp(prev_load_kw, lo, hi) : (lo + hi) / 2;
}

/* RT(ctl) */
double strat_ffr_kw(const struct cfg_site *site, double f_hz)
{
	double df = f_hz - STRAT_NOMINAL_HZ, band = site->deadband_mhz / 1000.0, beyond;
	double full = site->droop_pct / 100.0 * STRAT_NOMINAL_HZ;

	/* The band's edge as written (50.1 - 50 is a hair over 0.1 in binary): 1 uHz slack. */
	if (!isfinite(df) || !(full > 0) || fabs(df) <= band + 1e-6)
		return 0;
	beyond = fabs(df) - band;
	/* Low frequency: too little generation, so discharge; high: charge. */
	return (df < 0 ? 1 : -1) * site->ffr_max_kw * clamp(beyond / full, 0, 1);
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

/* RT(ctl): the configured strategy alone. */
static double base_kw(const struct cfg_site *site, const struct site_view *v, bool *is_valid)
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
		if (!v->has_grid || (site->controller == CFG_CONTROLLER_PREDICTIVE && !v->has_load))
			break;
		return peak_shaving(site, v);
	case CFG_STRATEGY_FREQUENCY_RESPONSE:
		if (!v->has_freq)
			break;
		return strat_ffr_kw(site, v->freq_hz);
	default: /* monitor: nothing to ask */
		break;
	}
	*is_valid = false;
	return 0;
}

/* RT(ctl) */
double strat_site_kw(const struct cfg_site *site, const struct site_view *v, bool *is_valid)
{
	double kw = base_kw(site, v, is_valid), ffr, dis, chg;

	if (!site->is_frequency_response || site->mode == CFG_STRATEGY_FREQUENCY_RESPONSE ||
	    site->mode == CFG_STRATEGY_MONITOR || !v->has_freq)
		return kw;
	/* Frequency first: the droop takes what it needs of the room, the strategy the rest. */
	strat_room(site, v, &dis, &chg);
	ffr = clamp(strat_ffr_kw(site, v->freq_hz), -chg, dis);
	if (!*is_valid)
		kw = 0;
	*is_valid = true;
	return ffr + clamp(kw, -chg - ffr, dis - ffr);
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
