// SPDX-License-Identifier: MIT
/*
 * bench_control: control quality (issue 20). Peak shaving holds 100 kW while the load steps
 * from 150 to 190 kW; the BESS (100 kW) applies a setpoint DELAY late (0, 200, 500, 1000 ms)
 * and the cycle is 10, 100 or 1000 ms. Per case: the settle time (the grid within 2 % of the
 * limit for good) in ms and in cycles against the goal delay + 3 cycles, the overshoot (how far
 * the grid went inside the limit, % of it) and the kW*s spent over the limit, for the
 * predictive controller (response_time configured right, 50 % short, 50 % long, and with the
 * BESS's measured power as feed-forward) and the integrator it replaces, side by side. Then
 * frequency response: a step from 50 to 49.5 Hz (crossing 49.7 at once), droop 0.4 % with a
 * 100 mHz deadband (max_kw at 49.7 Hz), the time until 99 % of max_kw against Nordic FFR's
 * 0.7 s, alone and on top of peak shaving. Then the dead time with a 30 ms lag after it.
 *
 * The one idea: it runs control/plant.c, the controller's own policy functions in closed loop
 * with a plant model on a fake clock, so it is exact and fast (no wall clock, no threads) and
 * the same code tests/control/test_control_quality.c asserts on.
 *
 *   bench_control [--json FILE]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/plant.h"

#define MS (1000LL * 1000)

static const int delays_ms[] = { 0, 200, 500, 1000 };
static const int cycles_ms[] = { 10, 100, 1000 };

enum variant { V_MODEL, V_SHORT, V_LONG, V_MEASURED, V_INTEGRATOR, V_N };

static const struct {
	const char *key, *label;
} variants[V_N] = {
	[V_MODEL] = { "predictive", "predictive" },
	[V_SHORT] = { "predictive_short", "predictive, response_time 50 % short" },
	[V_LONG] = { "predictive_long", "predictive, response_time 50 % long" },
	[V_MEASURED] = { "feed_forward", "predictive, measured BESS power" },
	[V_INTEGRATOR] = { "integrator", "integrator (gain 0.15)" },
};

static struct cfg_site base_site(int cycle_ms)
{
	struct cfg cfg;

	cfg_defaults(&cfg);
	cfg.site.cycle_ns = cycle_ms * MS;
	cfg.site.mode = CFG_STRATEGY_PEAK_SHAVING;
	cfg.site.import_limit_kw = 100;
	cfg.site.export_limit_kw = 0;
	/* Fast enough not to be the limit: the controller is measured, not the slew rate. */
	cfg.site.ramp_kw_per_s = 100000;
	return cfg.site;
}

static struct plant_case peak_case(int delay_ms, int cycle_ms, int tau_ms, enum variant v)
{
	struct plant_case pc = { .site = base_site(cycle_ms),
				 .delay_ns = delay_ms * MS,
				 .tau_ns = tau_ms * MS,
				 .response_ns = (delay_ms + 3 * tau_ms) * MS,
				 .rated_kw = 100,
				 .soe_pct = 50,
				 .load0_kw = 150,
				 .load1_kw = 190,
				 .step_offset_ns = -1 };

	if (v == V_SHORT)
		pc.response_ns /= 2;
	if (v == V_LONG)
		pc.response_ns = pc.response_ns * 3 / 2;
	pc.is_measured = v == V_MEASURED;
	if (v == V_INTEGRATOR)
		pc.site.controller = CFG_CONTROLLER_INTEGRATOR;
	return pc;
}

struct row {
	int delay_ms, cycle_ms, tau_ms;
	struct plant_result r[V_N];
};

struct ffr_row {
	int delay_ms, cycle_ms;
	bool is_combined;
	struct plant_result r;
};

#define NROWS (sizeof(delays_ms) / sizeof(delays_ms[0]) * sizeof(cycles_ms) / sizeof(cycles_ms[0]))

static double goal_ms(const struct row *w)
{
	return w->delay_ms + 3.0 * w->tau_ms + 3.0 * w->cycle_ms;
}

static void print_row(const struct row *w)
{
	printf("%5d %5d %4d %7.0f", w->delay_ms, w->cycle_ms, w->tau_ms, goal_ms(w));
	for (int v = 0; v < V_N; v++) {
		const struct plant_result *r = &w->r[v];

		if (r->is_settled)
			printf(" | %7.0f %6.1f %5.1f %7.1f", r->settle_ns / 1e6, r->settle_cycles,
			       r->overshoot_pct, r->kws_over);
		else
			printf(" | %7s %6s %5.1f %7.1f", "never", "-", r->overshoot_pct,
			       r->kws_over);
	}
	printf("\n");
}

static void json_result(FILE *f, const char *key, const struct plant_result *r, double goal)
{
	fprintf(f, "\"%s\": {\"is_settled\": %s, ", key, r->is_settled ? "true" : "false");
	if (r->is_settled)
		fprintf(f, "\"settle_ms\": %.3f, \"settle_cycles\": %.3f, \"within_goal\": %s, ",
			r->settle_ns / 1e6, r->settle_cycles,
			r->settle_ns / 1e6 <= goal ? "true" : "false");
	else
		fprintf(f,
			"\"settle_ms\": null, \"settle_cycles\": null, \"within_goal\": false, ");
	fprintf(f, "\"overshoot_pct\": %.3f, \"kws_over\": %.3f, \"writes\": %u}", r->overshoot_pct,
		r->kws_over, r->writes);
}

static int write_json(const char *path, const struct row *rows, unsigned n,
		      const struct ffr_row *ffr, unsigned nffr)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return 1;
	}
	fprintf(f,
		"{\"bench\": \"control\", \"limit_kw\": 100, \"load0_kw\": 150, "
		"\"load1_kw\": 190, \"rated_kw\": 100, \"settle_pct\": %g, \"rows\": [\n",
		PLANT_SETTLE_PCT);
	for (unsigned i = 0; i < n; i++) {
		const struct row *w = &rows[i];

		fprintf(f, "  {\"delay_ms\": %d, \"cycle_ms\": %d, \"tau_ms\": %d, \"goal_ms\": %g",
			w->delay_ms, w->cycle_ms, w->tau_ms, goal_ms(w));
		for (int v = 0; v < V_N; v++) {
			fprintf(f, ", ");
			json_result(f, variants[v].key, &w->r[v], goal_ms(w));
		}
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "], \"ffr\": {\"f0_hz\": 50, \"f1_hz\": 49.5, \"droop_pct\": 0.4, "
		   "\"deadband_mhz\": 100, \"max_kw\": 100, \"required_ms\": 700, \"rows\": [\n");
	for (unsigned i = 0; i < nffr; i++) {
		const struct ffr_row *w = &ffr[i];

		fprintf(f,
			"  {\"delay_ms\": %d, \"cycle_ms\": %d, \"with_peak_shaving\": %s, "
			"\"is_activated\": %s, \"activation_ms\": %.3f, \"within_0_7_s\": %s}%s\n",
			w->delay_ms, w->cycle_ms, w->is_combined ? "true" : "false",
			w->r.is_activated ? "true" : "false",
			w->r.is_activated ? w->r.activation_ns / 1e6 : -1.0,
			w->r.is_activated && w->r.activation_ns <= 700 * MS ? "true" : "false",
			i + 1 < nffr ? "," : "");
	}
	fprintf(f, "]}}\n");
	return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *json_path = NULL;
	struct row rows[2 * NROWS];
	struct ffr_row ffr[2 * NROWS];
	unsigned n = 0, nffr = 0;
	int rc = 0;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json") && k + 1 < argc) {
			json_path = argv[++k];
		} else {
			fprintf(stderr, "usage: %s [--json FILE]\n", argv[0]);
			return 2;
		}
	}
	printf("peak shaving at 100 kW, load 150 -> 190 kW, BESS 100 kW; settle: grid within "
	       "%g %% of the limit for good;\ngoal: delay + 3 tau + 3 cycles. Per controller: "
	       "settle ms, cycles, overshoot %%, kW*s over the limit\n",
	       PLANT_SETTLE_PCT);
	printf("delay cycle  tau    goal");
	for (int v = 0; v < V_N; v++)
		printf(" | %-28.28s", variants[v].key);
	printf("\n");
	for (int tau = 0; tau <= 30; tau += 30)
		for (unsigned c = 0; c < sizeof(cycles_ms) / sizeof(cycles_ms[0]); c++)
			for (unsigned d = 0; d < sizeof(delays_ms) / sizeof(delays_ms[0]); d++) {
				struct row *w = &rows[n++];

				*w = (struct row){ .delay_ms = delays_ms[d],
						   .cycle_ms = cycles_ms[c],
						   .tau_ms = tau };
				for (int v = 0; v < V_N; v++) {
					struct plant_case pc =
					    peak_case(w->delay_ms, w->cycle_ms, tau, v);

					if (plant_run(&pc, &w->r[v]))
						rc = 1;
				}
				print_row(w);
			}
	printf("\nfrequency response: 50 -> 49.5 Hz step, droop 0.4 %%, deadband 100 mHz, "
	       "max_kw 100: time to %g %% of max_kw (Nordic FFR: 0.7 s)\n",
	       PLANT_FULL_PCT);
	for (int comb = 0; comb < 2; comb++)
		for (unsigned c = 0; c < sizeof(cycles_ms) / sizeof(cycles_ms[0]); c++)
			for (unsigned d = 0; d < sizeof(delays_ms) / sizeof(delays_ms[0]); d++) {
				struct ffr_row *w = &ffr[nffr++];
				struct plant_case pc =
				    peak_case(delays_ms[d], cycles_ms[c], 0, V_MODEL);

				pc.site.droop_pct = 0.4;
				pc.site.deadband_mhz = 100;
				pc.site.ffr_max_kw = 100;
				pc.f0_hz = 50;
				pc.f1_hz = 49.5;
				pc.load0_kw = pc.load1_kw = comb ? 120 : 50;
				if (comb)
					pc.site.is_frequency_response = true;
				else
					pc.site.mode = CFG_STRATEGY_FREQUENCY_RESPONSE;
				pc.rated_kw = 200; /* room for max_kw and the peak */
				*w = (struct ffr_row){ .delay_ms = delays_ms[d],
						       .cycle_ms = cycles_ms[c],
						       .is_combined = comb };
				if (plant_run(&pc, &w->r))
					rc = 1;
				printf("%-32s delay %4d ms cycle %4d ms: %s%8.0f ms\n",
				       comb ? "with peak shaving (120 kW load)"
					    : "frequency_response",
				       w->delay_ms, w->cycle_ms, w->r.is_activated ? "" : "never ",
				       w->r.activation_ns / 1e6);
			}
	if (json_path && write_json(json_path, rows, n, ffr, nffr))
		rc = 1;
	return rc;
}
