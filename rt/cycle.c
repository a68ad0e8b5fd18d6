/* SPDX-License-Identifier: MIT */
/*
 * RT(ctl): the cycle timer. All deadlines are computed from the grid (next += period), never
 * from the wake-up time, which is what keeps the period free of drift; see cycle.h for the
 * skip policy on overruns.
 */
#include "rt/cycle.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <time.h>

#include "rt/clock.h"

int cyc_init(struct cyc *c, int64_t period_ns, int64_t first_ns, struct hist *jitter_hist)
{
	if (period_ns < CYC_MIN_PERIOD_NS || first_ns < 0)
		return -EINVAL;
	*c = (struct cyc){
		.period_ns = period_ns,
		.next_ns = first_ns,
		.start_ns = first_ns - period_ns,
		.jitter_hist = jitter_hist,
	};
	return 0;
}

void cyc_set_clock(struct cyc *c, const struct cyc_clock *clk)
{
	c->clock = clk;
}

/* RT(owner): vDSO read or the seam. */
static inline int64_t cyc_now(const struct cyc *c)
{
	return c->clock ? c->clock->now_ns(c->clock->ctx) : clk_now_ns();
}

/* RT(owner): absolute sleep; restarting after a signal is exact because the deadline is
 * absolute. Returns zero or -errno. */
static int cyc_sleep_until(const struct cyc *c, int64_t deadline_ns)
{
	struct timespec ts;
	int ret;

	do {
		if (c->clock) {
			ret = c->clock->sleep_until(c->clock->ctx, deadline_ns);
		} else {
			ts = clk_ns_to_ts(deadline_ns);
			ret = -clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
	} while (ret == -EINTR);
	return ret;
}

int cyc_wait(struct cyc *c)
{
	int64_t now = cyc_now(c);
	int64_t skip = 0;
	int ret;

	if (now > c->next_ns) {
		/* Overrun: skip every grid deadline at or before now. */
		skip = (now - c->next_ns) / c->period_ns + 1;
		c->next_ns += skip * c->period_ns;
		c->overruns++;
		c->missed += (uint64_t)skip;
	}
	ret = cyc_sleep_until(c, c->next_ns);
	if (ret)
		return ret;
	c->wake_ns = cyc_now(c);
	c->start_ns = c->next_ns;
	c->jitter_ns = c->wake_ns - c->start_ns;
	if (c->jitter_hist)
		hist_record(c->jitter_hist, c->jitter_ns);
	c->next_ns += c->period_ns;
	c->cycles++;
	return skip > INT_MAX ? INT_MAX : (int)skip;
}
