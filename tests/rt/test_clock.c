// SPDX-License-Identifier: MIT
/* Tests for rt/clock.h: ns <-> timespec conversions, including negative values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rt/clock.h"

static void test_clk_round_trips_ns_through_timespec(void **state)
{
	static const int64_t vals[] = { 0,	    1,		999999999,
					1000000000, 1500000000, INT64_MAX / 2,
					-1,	    -999999999, -1000000000,
					-1500000001 };
	struct timespec ts;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		ts = clk_ns_to_ts(vals[i]);
		assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < CLK_NS_PER_SEC);
		assert_int_equal(clk_ts_to_ns(&ts), vals[i]);
	}
	ts = clk_ns_to_ts(-1);
	assert_int_equal(ts.tv_sec, -1);
	assert_int_equal(ts.tv_nsec, 999999999);
}

static void test_clk_now_is_monotonic_and_matches_clock_gettime(void **state)
{
	struct timespec ts;
	int64_t a, b, c;

	(void)state;
	a = clk_now_ns();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	b = clk_ts_to_ns(&ts);
	c = clk_now_ns();
	assert_true(a <= b && b <= c);
}

static void test_clk_converts_to_ms_and_us_for_printing(void **state)
{
	(void)state;
	assert_true(clk_ns_to_ms(2500000) == 2.5);
	assert_true(clk_ns_to_us(1500) == 1.5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clk_round_trips_ns_through_timespec),
		cmocka_unit_test(test_clk_now_is_monotonic_and_matches_clock_gettime),
		cmocka_unit_test(test_clk_converts_to_ms_and_us_for_printing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
