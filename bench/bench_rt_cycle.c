// SPDX-License-Identifier: MIT
/*
 * bench_rt_cycle: wake-up jitter of the Flux cycle timer (cyc_wait) at a 1 ms period, then
 * of cyclictest (rt-tests) at the same period, priority, duration and mlockall, in the same
 * run, with the ratio of their p99.9. Jitter = actual wake-up - planned deadline, as
 * cyclictest measures it. 10 s each; QUICK=1 gives 2 s, argv[1] any number of seconds.
 * Prints a table; never asserts. --json FILE also writes the figures as one JSON object.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/cycle.h"
#include "rt/hist.h"
#include "rt/thread.h"

#define PERIOD_US 1000
#define PRIORITY  80
#define CT_BINS	  20000 /* cyclictest histogram: 1 us bins up to 20 ms */

struct flux_run {
	long loops;
	struct hist hist;
	uint64_t overruns, missed;
	int err;
};

static void *flux_cycle(void *p)
{
	struct flux_run *r = p;
	struct cyc c;
	long i;
	int ret;

	ret = cyc_init(&c, PERIOD_US * CLK_NS_PER_US, clk_now_ns() + PERIOD_US * CLK_NS_PER_US,
		       &r->hist);
	for (i = 0; !ret && i < r->loops; i++) {
		ret = cyc_wait(&c);
		if (ret > 0)
			ret = 0;
	}
	r->err = ret;
	r->overruns = c.overruns;
	r->missed = c.missed;
	return NULL;
}

struct ct_result {
	uint64_t bins[CT_BINS];
	uint64_t count, overflows;
	long min_us, max_us;
	double avg_us;
};

/* cyclictest's histogram value at percentile p, in us: bin k holds [k, k+1) us. */
static double ct_percentile(const struct ct_result *ct, double p)
{
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)ct->count - 1e-9), seen = 0;
	int k;

	if (rank < 1)
		rank = 1;
	for (k = 0; k < CT_BINS; k++) {
		seen += ct->bins[k];
		if (seen >= rank)
			return k;
	}
	return (double)ct->max_us; /* in the overflow */
}

/* Run cyclictest and parse its histogram. Returns 0, or -1 with the reason printed. */
static int run_cyclictest(const char *path, long loops, struct ct_result *ct)
{
	char cmd[512], line[256];
	unsigned long long a, b;
	FILE *f;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s -m -q -p%d -i%d -l%ld -h %d 2>&1", path, PRIORITY, PERIOD_US,
		 loops, CT_BINS);
	printf("running: %s\n", cmd);
	fflush(stdout);
	f = popen(cmd, "r");
	if (!f) {
		printf("cyclictest: cannot start: %s\n", strerror(errno));
		return -1;
	}
	memset(ct, 0, sizeof(*ct));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llu %llu", &a, &b) == 2 && a < CT_BINS) {
			ct->bins[a] += b;
			ct->count += b;
		} else if (sscanf(line, "# Min Latencies: %llu", &a) == 1) {
			ct->min_us = (long)a;
		} else if (sscanf(line, "# Max Latencies: %llu", &a) == 1) {
			ct->max_us = (long)a;
		} else if (sscanf(line, "# Avg Latencies: %llu", &a) == 1) {
			ct->avg_us = (double)a;
		} else if (sscanf(line, "# Histogram Overflows: %llu", &a) == 1) {
			ct->overflows = a;
		} else if (line[0] != '#' && line[0] != '\n') {
			printf("cyclictest: %s", line); /* warnings, errors */
		}
	}
	rc = pclose(f);
	ct->count += ct->overflows;
	if (rc != 0 || ct->count == 0) {
		printf("cyclictest: failed (status %d, %llu samples)\n", rc,
		       (unsigned long long)ct->count);
		return -1;
	}
	return 0;
}

/* The figures as one JSON object in path (us; cyclictest null when it did not run). Returns
 * the exit code: 0, or 1 with the reason printed. */
static int write_json(const char *path, long seconds, const struct flux_run *fr, bool has_rt,
		      const struct ct_result *ct)
{
	static const double pts[] = { 50.0, 99.0, 99.9 };
	static const char *const keys[] = { "p50_us", "p99_us", "p999_us" };
	FILE *f = fopen(path, "w");
	size_t i;

	if (!f) {
		fprintf(stderr, "bench_rt_cycle: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f,
		"{\"bench\":\"rt_cycle\",\"period_us\":%d,\"priority\":%d,\"seconds\":%ld,"
		"\"has_rt\":%s,\"target_ratio\":1.2,\"flux\":{\"count\":%llu,\"overruns\":%llu,"
		"\"missed\":%llu,\"min_us\":%.2f",
		PERIOD_US, PRIORITY, seconds, has_rt ? "true" : "false",
		(unsigned long long)fr->hist.count, (unsigned long long)fr->overruns,
		(unsigned long long)fr->missed, clk_ns_to_us(fr->hist.min_ns));
	for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
		fprintf(f, ",\"%s\":%.2f", keys[i],
			clk_ns_to_us(hist_percentile(&fr->hist, pts[i])));
	fprintf(f,
		",\"max_us\":%.2f,\"mean_us\":%.2f},\"cyclictest\":", clk_ns_to_us(fr->hist.max_ns),
		hist_mean_ns(&fr->hist) / 1e3);
	if (ct) {
		/* bin middles, as the table's ratio uses */
		fprintf(f, "{\"count\":%llu,\"overflows\":%llu,\"min_us\":%ld",
			(unsigned long long)ct->count, (unsigned long long)ct->overflows,
			ct->min_us);
		for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
			fprintf(f, ",\"%s\":%.1f", keys[i], ct_percentile(ct, pts[i]) + 0.5);
		fprintf(f, ",\"max_us\":%ld,\"mean_us\":%.0f}}\n", ct->max_us, ct->avg_us);
	} else {
		fprintf(f, "null}\n");
	}
	return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const double pts[] = { 50.0, 99.0, 99.9 };
	const char *quick = getenv("QUICK");
	const char *ct_path = getenv("CYCLICTEST") ? getenv("CYCLICTEST") : "/usr/bin/cyclictest";
	const char *json_path = NULL;
	const struct thr_attr a = { .name = "bench-cycle", .priority = PRIORITY, .cpu = -1 };
	long seconds = quick && *quick && strcmp(quick, "0") ? 2 : 10;
	static struct flux_run fr;
	static struct ct_result ct;
	double f999, c999;
	struct thr_proc proc;
	char report[256];
	struct thr t;
	size_t i;
	int ret;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json") && k + 1 < argc)
			json_path = argv[++k];
		else
			seconds = strtol(argv[k], NULL, 0);
	}
	if (seconds <= 0) {
		fprintf(stderr, "usage: %s [seconds] [--json FILE]   (default 10, QUICK=1: 2)\n",
			argv[0]);
		return 2;
	}
	fr.loops = seconds * 1000000L / PERIOD_US;
	hist_reset(&fr.hist);
	thr_setup_process(&proc, THR_PROC_DMA_LATENCY);
	thr_format_process(&proc, report, sizeof(report));
	printf("bench_rt_cycle: %d us period, %ld s (%ld cycles) per timer\n  %s\n", PERIOD_US,
	       seconds, fr.loops, report);

	ret = thr_start(&t, &a, flux_cycle, &fr);
	if (ret) {
		printf("flux: thr_start failed: %s\n", strerror(-ret));
		return 1;
	}
	thr_join(&t, NULL);
	printf("flux: cycle thread ran %s; %llu overruns, %llu periods skipped%s%s\n",
	       thr_has_rt(&t) ? "SCHED_FIFO 80" : "SCHED_OTHER (no RT privilege)",
	       (unsigned long long)fr.overruns, (unsigned long long)fr.missed,
	       fr.err ? "; cyc_wait failed: " : "", fr.err ? strerror(-fr.err) : "");

	if (access(ct_path, X_OK) != 0) {
		printf("cyclictest: not found at %s (Debian package rt-tests); Flux only\n",
		       ct_path);
		ret = -1;
	} else {
		ret = run_cyclictest(ct_path, fr.loops, &ct);
	}

	printf("\n%-12s %8s %8s %8s %8s %8s %8s  (jitter, us)\n", "timer", "min", "p50", "p99",
	       "p99.9", "max", "mean");
	printf("%-12s %8.1f", "flux", clk_ns_to_us(fr.hist.min_ns));
	for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
		printf(" %8.1f", clk_ns_to_us(hist_percentile(&fr.hist, pts[i])));
	printf(" %8.1f %8.1f\n", clk_ns_to_us(fr.hist.max_ns), hist_mean_ns(&fr.hist) / 1e3);
	f999 = clk_ns_to_us(hist_percentile(&fr.hist, 99.9));
	c999 = 0;
	if (!ret) {
		printf("%-12s %8ld", "cyclictest", ct.min_us);
		for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
			printf(" %8.0f", ct_percentile(&ct, pts[i]));
		printf(" %8ld %8.0f\n", ct.max_us, ct.avg_us);
		/* cyclictest bins are whole us ([k, k+1)): compare against the bin's middle. */
		c999 = ct_percentile(&ct, 99.9) + 0.5;
		printf("\np99.9 flux / cyclictest = %.2f (cyclictest bin middle %.1f us); "
		       "target <= 1.2: %s\n",
		       f999 / c999, c999, f999 / c999 <= 1.2 ? "met" : "NOT met");
	}
	thr_release_process(&proc);
	return json_path ? write_json(json_path, seconds, &fr, thr_has_rt(&t), ret ? NULL : &ct)
			 : 0;
}
