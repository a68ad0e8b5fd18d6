// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the simulator's load profiles, sim_load_parse(). The input is a CSV file (it
 * goes to a memfd, read as "csv:/proc/self/fd/N") and, when it is one string not naming a
 * file, also a spec ("150", "step:KW1:KW2:AT_S", "daily:MEAN:AMPL"). An accepted CSV has
 * 1..SIM_LOAD_MAX_POINTS rising times, and sim_load_kw() gives each point's kW at its time
 * and stays between neighbours; an accepted spec written with %.17g parses to itself; a
 * rejected one leaves nothing allocated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPEC_MAX 4096
#define SANE_KW	 1e12 /* beyond this the interpolation may overflow: only "no crash" is asked */

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_load: %s: %s failed\n", __func__, #cond);            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static int memfd = -1;

/* Equal but for rounding: interpolating between a and b errs by a few ulps of max(|a|, |b|). */
static bool is_near(double v, double want, double a, double b)
{
	return fabs(v - want) <= 1e-12 * fmax(1, fmax(fabs(a), fabs(b)));
}

static void check_csv(const struct sim_load *l)
{
	bool is_sane = true;

	check(l->kind == SIM_LOAD_CSV && l->n >= 1 && l->n <= SIM_LOAD_MAX_POINTS);
	for (unsigned i = 0; i < l->n; i++) {
		check(isfinite(l->t_s[i]) && isfinite(l->csv_kw[i]));
		check(i == 0 || l->t_s[i] > l->t_s[i - 1]);
		is_sane = is_sane && fabs(l->csv_kw[i]) <= SANE_KW;
	}
	check(sim_load_kw(l, l->t_s[0] - 1) == l->csv_kw[0]);
	check(sim_load_kw(l, l->t_s[l->n - 1] + 1) == l->csv_kw[l->n - 1]);
	check(sim_load_kw(l, l->t_s[l->n - 1]) == l->csv_kw[l->n - 1]);
	if (!is_sane)
		return;
	for (unsigned i = 0; i + 1 < l->n; i++) {
		double lo = fmin(l->csv_kw[i], l->csv_kw[i + 1]);
		double hi = fmax(l->csv_kw[i], l->csv_kw[i + 1]);
		double mid = sim_load_kw(l, l->t_s[i] / 2 + l->t_s[i + 1] / 2);
		double at = sim_load_kw(l, l->t_s[i + 1]);

		check(is_near(at, l->csv_kw[i + 1], lo, hi));
		check((mid >= lo && mid <= hi) || is_near(mid, lo, lo, hi) ||
		      is_near(mid, hi, lo, hi));
	}
}

static void fuzz_csv(const uint8_t *data, size_t size)
{
	struct sim_load load;
	char spec[64];
	int err;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_load", MFD_CLOEXEC);
		check(memfd >= 0);
	}
	check(ftruncate(memfd, 0) == 0);
	check(size == 0 || pwrite(memfd, data, size, 0) == (ssize_t)size);
	snprintf(spec, sizeof(spec), "csv:/proc/self/fd/%d", memfd);
	err = sim_load_parse(spec, &load);
	check(err == 0 || err == -EINVAL);
	if (err) {
		check(!load.t_s && !load.csv_kw);
		return;
	}
	check_csv(&load);
	sim_load_exit(&load);
	check(!load.t_s && !load.csv_kw && load.n == 0);
}

static void fuzz_spec(const char *spec)
{
	struct sim_load load, again;
	char text[128];
	int err;

	err = sim_load_parse(spec, &load);
	check(err == 0 || err == -EINVAL);
	check(!load.t_s && !load.csv_kw);
	if (err)
		return;
	switch (load.kind) {
	case SIM_LOAD_STEP:
		check(!strncmp(spec, "step:", 5));
		check(sim_load_kw(&load, load.at_s) == load.kw2);
		snprintf(text, sizeof(text), "step:%.17g:%.17g:%.17g", load.kw, load.kw2,
			 load.at_s);
		break;
	case SIM_LOAD_DAILY:
		check(!strncmp(spec, "daily:", 6));
		snprintf(text, sizeof(text), "daily:%.17g:%.17g", load.kw, load.kw2);
		break;
	case SIM_LOAD_CONSTANT:
		check(sim_load_kw(&load, 12345) == load.kw);
		snprintf(text, sizeof(text), "%.17g", load.kw);
		break;
	default:
		fprintf(stderr, "fuzz_load: \"%s\" (not csv:) gave a CSV load\n", spec);
		abort();
	}
	check(isfinite(load.kw) && isfinite(load.kw2) && isfinite(load.at_s));
	check(sim_load_parse(text, &again) == 0);
	check(again.kind == load.kind && again.kw == load.kw && again.kw2 == load.kw2 &&
	      again.at_s == load.at_s);
	sim_load_exit(&load);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char spec[SPEC_MAX + 1];

	fuzz_csv(data, size);
	/* One string, and not a file name: "csv:/dev/stdin" would wait, "csv:/dev/zero" loop. */
	if (size <= SPEC_MAX && !memchr(data, '\0', size) &&
	    !(size >= 4 && !memcmp(data, "csv:", 4))) {
		memcpy(spec, data, size);
		spec[size] = '\0';
		fuzz_spec(spec);
	}
	return 0;
}
