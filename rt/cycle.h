/* SPDX-License-Identifier: MIT */
/*
 * Cycle timer for a periodic RT thread: absolute CLOCK_MONOTONIC deadlines on a fixed grid
 * (first_ns + n x period_ns) slept to with clock_nanosleep(TIMER_ABSTIME), so the period
 * never drifts. A cycle's timestamp is its planned start, not the wake-up time; the wake-up
 * jitter (actual - planned) is measured every cycle.
 *
 * Overrun policy, as cyclictest: when a cycle's work runs past the next deadline, the
 * deadlines already passed are skipped (counted in `missed`, the overrun counted once in
 * `overruns`) and the thread sleeps to the first grid point still ahead. No catch-up burst,
 * no drift: every cycle starts on the grid.
 */
#ifndef FLUX_RT_CYCLE_H
#define FLUX_RT_CYCLE_H

#include <stdint.h>

#include "rt/hist.h"

/* ---- constants ---------------------------------------------------------------------- */

#define CYC_MIN_PERIOD_NS 1000LL /* 1 us: below this the timer is meaningless */

/* ---- structs ------------------------------------------------------------------------ */

/* Test seam: where the timer reads time and sleeps. Both run on the cycling thread. */
struct cyc_clock {
	int64_t (*now_ns)(void *ctx);
	/* Sleep until deadline_ns; zero, or -errno (-EINTR is retried by the caller). */
	int (*sleep_until)(void *ctx, int64_t deadline_ns);
	void *ctx;
};

/* Owned by the cycling thread; others may read a copy published through a seqlock. */
struct cyc {
	int64_t period_ns;
	int64_t next_ns;   /* deadline the next cyc_wait() sleeps to, always on the grid */
	int64_t start_ns;  /* planned start of the current cycle: the cycle's timestamp */
	int64_t wake_ns;   /* actual wake-up of the current cycle */
	int64_t jitter_ns; /* wake_ns - start_ns of the current cycle (>= 0 on a real clock) */
	uint64_t cycles;   /* cycles started (successful cyc_wait() calls) */
	uint64_t overruns; /* cyc_wait() calls that found the next deadline already passed */
	uint64_t missed;   /* grid periods skipped because of overruns */
	struct hist *jitter_hist;      /* optional, caller-owned: every cycle's jitter */
	const struct cyc_clock *clock; /* NULL: CLOCK_MONOTONIC and clock_nanosleep */
};

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Setup: a timer of period_ns (>= CYC_MIN_PERIOD_NS) whose first cycle starts at first_ns
 * (absolute CLOCK_MONOTONIC ns, e.g. clk_now_ns() + period_ns). jitter_hist may be NULL.
 * Returns -EINVAL on bad arguments, or zero on success.
 */
int cyc_init(struct cyc *c, int64_t period_ns, int64_t first_ns, struct hist *jitter_hist);

/* Setup, tests only: read time and sleep through clk instead of the kernel (NULL: kernel). */
void cyc_set_clock(struct cyc *c, const struct cyc_clock *clk);

/*
 * RT(owner): end the current cycle and sleep (blocks, clock_nanosleep) until the next grid
 * deadline, skipping deadlines already passed. On return start_ns, wake_ns and jitter_ns
 * describe the new cycle. Returns the number of periods skipped (0 when on time), or -errno
 * if the sleep failed (the timer state is unchanged but for skipped periods).
 */
int cyc_wait(struct cyc *c);

#endif /* FLUX_RT_CYCLE_H */
