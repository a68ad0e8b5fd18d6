// SPDX-License-Identifier: MIT
/*
 * The policy in closed loop with a plant model on a fake clock (see plant.h). The one idea:
 * each cycle runs exactly what the control thread runs between its reads and its writes
 * (strat_load_kw(), strat_site_kw(), strat_share(), safety_filter(), the setpoint history),
 * on values the plant computes instead of a meter and a BESS, so a figure here is a figure
 * of the controller, not of a copy of it. Time steps are 1 ms (a tenth of a cycle below
 * 10 ms); the meter reads the grid at the cycle's start, the write leaves at once.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "control/plant.h"
#include "control/policy.h"

#define MS	     (1000LL * 1000)
#define FIFO_N	     8192 /* writes waiting for the dead time: 1 s at a 1 ms cycle fits */
#define MIN_AFTER_NS (3000 * MS)

struct fifo {
	unsigned head, n;
	struct {
		int64_t due_ns;
		double kw;
	} e[FIFO_N];
};

/* The BESS: what it was written, what it applies after the dead time, what it delivers. */
struct bess {
	struct fifo q;
	double applied_kw; /* the setpoint in effect after the dead time */
	double kw;	   /* delivered, after the lag */
};

static void write_kw(struct bess *b, int64_t due_ns, double kw)
{
	unsigned i;

	if (b->q.n == FIFO_N) { /* full: the newest waiting one is superseded */
		b->q.e[(b->q.head + b->q.n - 1) % FIFO_N].kw = kw;
		return;
	}
	i = (b->q.head + b->q.n++) % FIFO_N;
	b->q.e[i].due_ns = due_ns;
	b->q.e[i].kw = kw;
}

static void advance(struct bess *b, int64_t t_ns, int64_t dt_ns, int64_t tau_ns)
{
	while (b->q.n && b->q.e[b->q.head].due_ns <= t_ns) {
		b->applied_kw = b->q.e[b->q.head].kw;
		b->q.head = (b->q.head + 1) % FIFO_N;
		b->q.n--;
	}
	if (tau_ns > 0)
		b->kw += (b->applied_kw - b->kw) * (1 - exp(-(double)dt_ns / (double)tau_ns));
	else
		b->kw = b->applied_kw;
}

static double clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static double freq_at(const struct plant_case *pc, int64_t t_ns, int64_t step_ns)
{
	double f = t_ns < step_ns ? pc->f0_hz : pc->f1_hz;

	return f > 0 ? f : STRAT_NOMINAL_HZ;
}

int plant_run(const struct plant_case *pc, struct plant_result *out)
{
	const struct cfg_site *site = &pc->site;
	int64_t T = site->cycle_ns, dt, window, prime, step, end, next_cycle = 0, after;
	int64_t last_out = -1;
	struct cfg_bess cb = { .power_kw = (int)pc->rated_kw };
	struct strat_hist hist = { 0 };
	struct bess *b;
	double strat_kw = 0, load_kw = 0, last_kw = 0, target, tol, lim, ffr_full = 0, kw0 = 0;
	bool has_load = false, has_written = false;

	*out = (struct plant_result){ .settle_ns = -1, .activation_ns = -1 };
	if (T <= 0 || pc->delay_ns < 0 || pc->tau_ns < 0 || pc->response_ns < 0 ||
	    pc->after_ns < 0 || !(pc->rated_kw > 0))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	dt = T >= 10 * MS ? MS : T / 10;
	if (dt <= 0)
		dt = 1;
	window = strat_window_ns(pc->response_ns, T);
	/* Settled before the step: every window passed, the lag run out, many cycles. */
	prime = 2 * window + 2 * pc->delay_ns + 8 * pc->tau_ns + 20 * T;
	prime -= prime % T;
	step = prime + (pc->step_offset_ns >= 0 ? pc->step_offset_ns % T : T * 37 / 100);
	after = pc->after_ns;
	if (!after) {
		after = 4 * window + 8 * pc->delay_ns + 12 * pc->tau_ns + 60 * T;
		if (after < MIN_AFTER_NS)
			after = MIN_AFTER_NS;
		if (site->controller == CFG_CONTROLLER_INTEGRATOR && after < 200 * T)
			after = 200 * T; /* the integrator takes its time */
	}
	end = step + after;
	/* Where the grid should end up: the load held inside [-export, import]. */
	target = clampd(pc->load1_kw, -site->export_limit_kw, site->import_limit_kw);
	lim = pc->load1_kw > site->import_limit_kw ? site->import_limit_kw : site->export_limit_kw;
	tol = PLANT_SETTLE_PCT / 100 * lim;
	if (tol < 0.5)
		tol = 0.5;
	if (site->is_frequency_response || site->mode == CFG_STRATEGY_FREQUENCY_RESPONSE)
		ffr_full = strat_ffr_kw(site, pc->f1_hz > 0 ? pc->f1_hz : STRAT_NOMINAL_HZ);
	out->min_bess_kw = INFINITY;
	out->max_bess_kw = -INFINITY;

	for (int64_t t = 0; t <= end; t += dt) {
		double load = t < step ? pc->load0_kw : pc->load1_kw, g;

		advance(b, t, dt, pc->tau_ns);
		g = load - b->kw;
		if (t >= next_cycle) {
			struct bess_view bv = { .is_fresh = true,
						.is_ready = true,
						.is_ours = true,
						.soe_pct = pc->soe_pct,
						.available_kw = pc->rated_kw,
						.setpoint_kw = last_kw };
			struct site_view v = { .nbess = 1,
					       .bess = &bv,
					       .has_grid = true,
					       .grid_kw = g,
					       .prev_site_kw = strat_kw,
					       .has_freq = true,
					       .freq_hz = freq_at(pc, t, step) };
			struct safety_out so;
			double share, site_kw;
			bool is_valid;

			next_cycle += T;
			if (pc->is_measured)
				bv.power_lo_kw = bv.power_hi_kw = b->kw;
			else
				strat_hist_range(&hist, t, window, &bv.power_lo_kw,
						 &bv.power_hi_kw);
			load_kw = strat_load_kw(&v, load_kw, has_load);
			has_load = true;
			v.has_load = true;
			v.load_kw = load_kw;
			site_kw = strat_site_kw(site, &v, &is_valid);
			if (!is_valid)
				site_kw = 0;
			strat_kw = site_kw;
			strat_share(site, &v, site_kw, &share);
			so = safety_filter(site, &cb, &bv, true, share, last_kw, T);
			if (t >= step) {
				out->ramp_limited += !!(so.reasons & SAFETY_RAMP);
				out->soe_limited +=
				    !!(so.reasons & (SAFETY_SOE_MIN | SAFETY_SOE_MAX));
			}
			if (so.may_write && (!has_written || lround(so.kw) != lround(last_kw))) {
				last_kw = (double)lround(so.kw);
				has_written = true;
				write_kw(b, t + pc->delay_ns, last_kw);
				strat_hist_push(&hist, t, last_kw);
				out->writes += t >= step;
			}
		}
		if (t < step) {
			kw0 = b->kw; /* the frequency response is what comes on top of this */
			continue;
		}
		/* The grid past the limit, and how far into the band (overshoot). */
		if (g > site->import_limit_kw)
			out->kws_over += (g - site->import_limit_kw) * (double)dt / 1e9;
		if (g < -site->export_limit_kw)
			out->kws_over += (-site->export_limit_kw - g) * (double)dt / 1e9;
		if (lim > 0) {
			double past =
			    pc->load1_kw > site->import_limit_kw ? target - g : g - target;

			if (past / lim * 100 > out->overshoot_pct)
				out->overshoot_pct = past / lim * 100;
		}
		if (fabs(g - target) > tol)
			last_out = t;
		if (b->kw > out->max_bess_kw)
			out->max_bess_kw = b->kw;
		if (b->kw < out->min_bess_kw)
			out->min_bess_kw = b->kw;
		if (ffr_full != 0 && !out->is_activated &&
		    (b->kw - kw0) * (ffr_full > 0 ? 1 : -1) >=
			PLANT_FULL_PCT / 100 * fabs(ffr_full)) {
			out->is_activated = true;
			out->activation_ns = t - step;
		}
	}
	out->final_bess_kw = b->kw;
	out->is_settled = last_out < end - after / 5;
	if (out->is_settled) {
		out->settle_ns = last_out < 0 ? 0 : last_out + dt - step;
		out->settle_cycles = (double)out->settle_ns / (double)T;
	}
	free(b);
	return 0;
}
