// SPDX-License-Identifier: MIT
/*
 * Tests for rt/cycle.c. The deadline arithmetic (grid, skip on overrun, no drift) is checked
 * exactly with a fake clock through the cyc_clock seam; the real clock is checked only for
 * properties that hold whatever the machine's latency (grid alignment, lower bounds).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/cycle.h"
#include "rt/hist.h"

#define T     (1000 * CLK_NS_PER_US) /* 1 ms period */
#define FIRST (5 * CLK_NS_PER_SEC)

/* A clock that only moves when told to: sleeping jumps to the deadline + wake_delay. */
struct fake {
	int64_t now;
	int64_t wake_delay; /* simulated wake-up latency */
	int sleeps;	    /* calls to sleep_until */
	int eintr;	    /* fail this many calls with -EINTR first */
	int fail;	    /* then fail with this (-errno) if non-zero */
};

static int64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static int fake_sleep_until(void *ctx, int64_t deadline_ns)
{
	struct fake *f = ctx;

	f->sleeps++;
	if (f->eintr) {
		f->eintr--;
		return -EINTR;
	}
	if (f->fail)
		return f->fail;
	if (deadline_ns > f->now)
		f->now = deadline_ns;
	f->now += f->wake_delay;
	return 0;
}

/* A 1 ms timer starting at FIRST on the fake clock. */
static void fake_cyc(struct cyc *c, const struct cyc_clock *clk, struct hist *h)
{
	assert_int_equal(cyc_init(c, T, FIRST, h), 0);
	cyc_set_clock(c, clk);
}

static void test_cyc_init_rejects_bad_period_and_start(void **state)
{
	struct cyc c;

	(void)state;
	assert_int_equal(cyc_init(&c, 999, FIRST, NULL), -EINVAL);
	assert_int_equal(cyc_init(&c, 0, FIRST, NULL), -EINVAL);
	assert_int_equal(cyc_init(&c, T, -1, NULL), -EINVAL);
	assert_int_equal(cyc_init(&c, CYC_MIN_PERIOD_NS, 0, NULL), 0);
}

static void test_cyc_on_time_cycles_start_on_the_grid_and_record_jitter(void **state)
{
	struct fake f = { .now = FIRST - 300 * CLK_NS_PER_US, .wake_delay = 7000 };
	const struct cyc_clock clk = { fake_now, fake_sleep_until, &f };
	static struct hist h;
	struct cyc c;
	int i;

	(void)state;
	hist_reset(&h);
	fake_cyc(&c, &clk, &h);
	for (i = 0; i < 100; i++) {
		assert_int_equal(cyc_wait(&c), 0);
		assert_int_equal(c.start_ns, FIRST + i * T);
		assert_int_equal(c.wake_ns, FIRST + i * T + 7000);
		assert_int_equal(c.jitter_ns, 7000);
		f.now += 200 * CLK_NS_PER_US; /* the cycle's work */
	}
	assert_int_equal(c.cycles, 100);
	assert_int_equal(c.overruns, 0);
	assert_int_equal(c.missed, 0);
	assert_int_equal(h.count, 100);
	assert_int_equal(h.min_ns, 7000);
	assert_int_equal(h.max_ns, 7000);
}

static void test_cyc_overrun_skips_missed_periods_and_stays_on_grid(void **state)
{
	struct fake f = { .now = FIRST - 1, .wake_delay = 5000 };
	const struct cyc_clock clk = { fake_now, fake_sleep_until, &f };
	struct cyc c;

	(void)state;
	fake_cyc(&c, &clk, NULL);
	assert_int_equal(cyc_wait(&c), 0); /* cycle 0 at FIRST */
	f.now += 3 * T + T / 2;		   /* work runs 3.5 periods */
	/* Deadlines FIRST+T, +2T, +3T have passed: skipped; the next cycle is FIRST+4T. */
	assert_int_equal(cyc_wait(&c), 3);
	assert_int_equal(c.start_ns, FIRST + 4 * T);
	assert_int_equal(c.jitter_ns, 5000);
	assert_int_equal(c.overruns, 1);
	assert_int_equal(c.missed, 3);
	/* Back on time: the following cycle is the next grid point. */
	assert_int_equal(cyc_wait(&c), 0);
	assert_int_equal(c.start_ns, FIRST + 5 * T);
	assert_int_equal(c.cycles, 3);
	assert_int_equal(c.overruns, 1);
}

static void test_cyc_work_ending_exactly_on_deadline_is_not_an_overrun(void **state)
{
	struct fake f = { .now = FIRST };
	const struct cyc_clock clk = { fake_now, fake_sleep_until, &f };
	struct cyc c;

	(void)state;
	fake_cyc(&c, &clk, NULL);
	assert_int_equal(cyc_wait(&c), 0);
	f.now = FIRST + T; /* exactly the next deadline */
	assert_int_equal(cyc_wait(&c), 0);
	assert_int_equal(c.start_ns, FIRST + T);
	f.now = FIRST + 2 * T + 1; /* 1 ns past it: that period is missed */
	assert_int_equal(cyc_wait(&c), 1);
	assert_int_equal(c.start_ns, FIRST + 3 * T);
	assert_int_equal(c.overruns, 1);
	assert_int_equal(c.missed, 1);
}

static void test_cyc_late_wakeups_do_not_drift_the_period(void **state)
{
	/* Every wake-up 40% of a period late: a relative timer would drift 0.4 T per cycle. */
	struct fake f = { .now = 0, .wake_delay = T * 4 / 10 };
	const struct cyc_clock clk = { fake_now, fake_sleep_until, &f };
	struct cyc c;
	int i;

	(void)state;
	fake_cyc(&c, &clk, NULL);
	for (i = 0; i < 1000; i++)
		assert_int_equal(cyc_wait(&c), 0);
	assert_int_equal(c.start_ns, FIRST + 999 * T);
	assert_int_equal(c.next_ns, FIRST + 1000 * T);
	assert_int_equal(c.overruns, 0);
}

static void test_cyc_retries_sleep_interrupted_by_signal(void **state)
{
	struct fake f = { .now = 0, .eintr = 2 };
	const struct cyc_clock clk = { fake_now, fake_sleep_until, &f };
	struct cyc c;

	(void)state;
	fake_cyc(&c, &clk, NULL);
	assert_int_equal(cyc_wait(&c), 0);
	assert_int_equal(f.sleeps, 3);
	assert_int_equal(c.start_ns, FIRST);
	assert_int_equal(c.cycles, 1);
}

static void test_cyc_reports_sleep_failure_without_starting_a_cycle(void **state)
{
	struct fake f = { .now = 0, .fail = -EINVAL };
	const struct cyc_clock clk = { fake_now, fake_sleep_until, &f };
	struct cyc c;

	(void)state;
	fake_cyc(&c, &clk, NULL);
	assert_int_equal(cyc_wait(&c), -EINVAL);
	assert_int_equal(c.cycles, 0);
	assert_int_equal(c.next_ns, FIRST);
}

/* Real clock: only what holds however slow the machine is. */
static void test_cyc_real_clock_long_cycle_is_counted_and_grid_kept(void **state)
{
	const int64_t period = 5 * CLK_NS_PER_MS;
	struct timespec work = clk_ns_to_ts(period * 7 / 2); /* 3.5 periods */
	static struct hist h;
	int64_t first = clk_now_ns() + period;
	uint64_t skipped = 0;
	struct cyc c;
	int i, ret;

	(void)state;
	hist_reset(&h);
	assert_int_equal(cyc_init(&c, period, first, &h), 0);
	for (i = 0; i < 5; i++) {
		ret = cyc_wait(&c);
		assert_true(ret >= 0);
		skipped += (uint64_t)ret;
		assert_int_equal((c.start_ns - first) % period, 0); /* on the grid */
		assert_true(c.jitter_ns >= 0);			    /* never woken early */
		if (i == 1)
			clock_nanosleep(CLOCK_MONOTONIC, 0, &work, NULL);
	}
	assert_int_equal(c.cycles, 5);
	assert_true(c.overruns >= 1);
	assert_true(c.missed >= 3);
	assert_int_equal(c.missed, skipped);
	assert_int_equal(h.count, 5);
}

static void test_cyc_real_clock_start_in_the_past_skips_to_next_grid_point(void **state)
{
	const int64_t period = CLK_NS_PER_MS;
	int64_t first = clk_now_ns() - 10 * period;
	struct cyc c;
	int ret;

	(void)state;
	assert_int_equal(cyc_init(&c, period, first, NULL), 0);
	ret = cyc_wait(&c);
	assert_true(ret >= 11); /* first .. first + 10 T are all at or before now */
	assert_int_equal(c.start_ns, first + ret * period);
	assert_int_equal(c.overruns, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cyc_init_rejects_bad_period_and_start),
		cmocka_unit_test(test_cyc_on_time_cycles_start_on_the_grid_and_record_jitter),
		cmocka_unit_test(test_cyc_overrun_skips_missed_periods_and_stays_on_grid),
		cmocka_unit_test(test_cyc_work_ending_exactly_on_deadline_is_not_an_overrun),
		cmocka_unit_test(test_cyc_late_wakeups_do_not_drift_the_period),
		cmocka_unit_test(test_cyc_retries_sleep_interrupted_by_signal),
		cmocka_unit_test(test_cyc_reports_sleep_failure_without_starting_a_cycle),
		cmocka_unit_test(test_cyc_real_clock_long_cycle_is_counted_and_grid_kept),
		cmocka_unit_test(test_cyc_real_clock_start_in_the_past_skips_to_next_grid_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
