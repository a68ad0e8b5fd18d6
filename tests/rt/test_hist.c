// SPDX-License-Identifier: MIT
/*
 * Tests for rt/hist.h and rt/hist.c: the bucket scheme's bounds, and percentiles checked
 * against exact percentiles (sorted samples) of known distributions within 1%.
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rt/hist.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SAMPLES 200000
#else
#define SAMPLES 1000000
#endif

static const double points[] = { 50.0, 90.0, 99.0, 99.9, 99.99 };

/* splitmix64: a fixed seed gives the same samples on every run and machine. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double rng_unit(void)
{
	return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Exact percentile of sorted v[n]: the value of rank ceil(p/100 x n), with p in hundredths
 * of a percent so the rank is integer arithmetic. */
static int64_t exact_percentile(const int64_t *v, size_t n, double p)
{
	uint64_t p100 = (uint64_t)llround(p * 100.0);
	uint64_t rank = (p100 * n + 9999) / 10000;

	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

/* Record v[n] into h, sort v, and check every percentile against the exact one. */
static void check_against_exact(int64_t *v, size_t n)
{
	static struct hist h;
	size_t i, k;

	hist_reset(&h);
	for (i = 0; i < n; i++)
		hist_record(&h, v[i]);
	qsort(v, n, sizeof(v[0]), cmp_i64);
	assert_int_equal(h.count, n);
	assert_int_equal(h.min_ns, v[0]);
	assert_int_equal(h.max_ns, v[n - 1]);
	assert_int_equal(hist_percentile(&h, 100.0), v[n - 1]);
	for (k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		int64_t want = exact_percentile(v, n, points[k]);
		int64_t got = hist_percentile(&h, points[k]);
		double err = fabs((double)(got - want)) / (double)(want ? want : 1);

		if (err > 0.01)
			fail_msg("p%g: got %lld, exact %lld (%.3f%% off)", points[k],
				 (long long)got, (long long)want, err * 100.0);
	}
}

static int64_t *samples(void)
{
	int64_t *v = malloc(SAMPLES * sizeof(*v));

	assert_non_null(v);
	rng_state = 0x5EED;
	return v;
}

static void test_hist_buckets_tile_the_range_within_1pct(void **state)
{
	uint32_t i;

	(void)state;
	assert_int_equal(hist_bucket_low(0), 0);
	for (i = 0; i < HIST_BUCKETS; i++) {
		int64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);

		assert_true(lo <= hi);
		assert_int_equal(hist_index(lo), i);
		assert_int_equal(hist_index(hi), i);
		if (i + 1 < HIST_BUCKETS)
			assert_int_equal(hist_bucket_low(i + 1), hi + 1);
		/* Buckets are exact (width 1) or at most 1/128 of their smallest value wide. */
		if (hi > lo)
			assert_true((double)(hi - lo + 1) / (double)lo <= 1.0 / 128.0);
	}
	assert_int_equal(hist_bucket_high(HIST_BUCKETS - 1), HIST_MAX_NS);
	assert_true(hist_index(10 * 1000000000LL) < HIST_BUCKETS - 1); /* 10 s is in range */
	assert_int_equal(hist_index(INT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist_index(-5), 0);
}

static void test_hist_empty_reports_zero(void **state)
{
	static struct hist h;
	char buf[HIST_FORMAT_MIN];

	(void)state;
	hist_reset(&h);
	assert_int_equal(hist_percentile(&h, 50.0), 0);
	assert_int_equal(hist_percentile(&h, 100.0), 0);
	assert_true(hist_mean_ns(&h) == 0.0);
	assert_int_equal(hist_count_le(&h, INT64_MAX), 0);
	assert_int_equal(hist_format(&h, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "n=0");
}

static void test_hist_percentiles_match_uniform_within_1pct(void **state)
{
	int64_t *v = samples();
	size_t i;

	(void)state;
	for (i = 0; i < SAMPLES; i++) /* 1 us .. 10 ms */
		v[i] = 1000 + (int64_t)(rng_unit() * 9999000.0);
	check_against_exact(v, SAMPLES);
	free(v);
}

static void test_hist_percentiles_match_exponential_within_1pct(void **state)
{
	int64_t *v = samples();
	size_t i;

	(void)state;
	for (i = 0; i < SAMPLES; i++) /* mean 50 us: a long tail into the ms */
		v[i] = (int64_t)(-log(rng_unit()) * 50000.0);
	check_against_exact(v, SAMPLES);
	free(v);
}

static void test_hist_percentiles_match_log_uniform_from_1ns_to_10s(void **state)
{
	int64_t *v = samples();
	size_t i;

	(void)state;
	for (i = 0; i < SAMPLES; i++) /* every decade from 1 ns to 10 s equally likely */
		v[i] = (int64_t)exp(rng_unit() * log(1e10));
	v[0] = 1;
	v[1] = 10000000000LL;
	check_against_exact(v, SAMPLES);
	free(v);
}

static void test_hist_constant_distribution_is_exact(void **state)
{
	static struct hist h;
	size_t k;
	int i;

	(void)state;
	hist_reset(&h);
	for (i = 0; i < 1000; i++)
		hist_record(&h, 1234567);
	for (k = 0; k < sizeof(points) / sizeof(points[0]); k++)
		assert_int_equal(hist_percentile(&h, points[k]), 1234567);
	assert_true(hist_mean_ns(&h) == 1234567.0);
}

static void test_hist_small_values_are_exact(void **state)
{
	static struct hist h;
	int64_t i;

	(void)state;
	hist_reset(&h);
	for (i = 1; i <= 200; i++)
		hist_record(&h, i);
	assert_int_equal(hist_percentile(&h, 50.0), 100);
	assert_int_equal(hist_percentile(&h, 90.0), 180);
	assert_int_equal(hist_percentile(&h, 99.0), 198);
	assert_int_equal(hist_percentile(&h, 0.0), 1);
	assert_int_equal(hist_count_le(&h, 100), 100);
	assert_int_equal(hist_count_le(&h, 0), 0);
	assert_int_equal(hist_count_le(&h, -1), 0);
}

static void test_hist_counts_overflow_and_clamps_negative(void **state)
{
	static struct hist h;

	(void)state;
	hist_reset(&h);
	hist_record(&h, -7);
	hist_record(&h, 20 * 1000000000LL);
	assert_int_equal(h.count, 2);
	assert_int_equal(h.overflows, 1);
	assert_int_equal(h.min_ns, 0);
	assert_int_equal(h.max_ns, 20 * 1000000000LL); /* exact even past the range */
	assert_int_equal(hist_percentile(&h, 100.0), 20 * 1000000000LL);
	assert_int_equal(h.buckets[0], 1);
	assert_int_equal(h.buckets[HIST_BUCKETS - 1], 1);
}

static void test_hist_merge_equals_recording_both(void **state)
{
	static struct hist a, b, both;
	int64_t x;
	int i;

	(void)state;
	hist_reset(&a);
	hist_reset(&b);
	hist_reset(&both);
	rng_state = 7;
	for (i = 0; i < 10000; i++) {
		x = (int64_t)(rng_next() % 5000000);
		hist_record(i % 3 ? &a : &b, x);
		hist_record(&both, x);
	}
	hist_merge(&a, &b);
	assert_memory_equal(&a, &both, sizeof(a));
	hist_reset(&a);
	hist_merge(&a, &both); /* into an empty one */
	assert_memory_equal(&a, &both, sizeof(a));
}

static void test_hist_reset_empties(void **state)
{
	static struct hist h;

	(void)state;
	hist_reset(&h);
	hist_record(&h, 5);
	hist_reset(&h);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.buckets[5], 0);
	hist_record(&h, 9);
	assert_int_equal(h.min_ns, 9);
	assert_int_equal(h.max_ns, 9);
}

static void test_hist_record_does_not_allocate(void **state)
{
	static struct hist h;
	struct mallinfo2 before, after;
	int64_t i;

	(void)state;
	hist_reset(&h);
	before = mallinfo2();
	for (i = 0; i < 100000; i++)
		hist_record(&h, i * 997);
	after = mallinfo2();
	assert_int_equal(before.uordblks, after.uordblks);
	assert_int_equal(before.arena, after.arena);
}

static void test_hist_format_renders_one_line_and_reports_truncation(void **state)
{
	static struct hist h;
	char buf[HIST_FORMAT_MIN], tiny[12];
	int n;

	(void)state;
	hist_reset(&h);
	hist_record(&h, 800);
	hist_record(&h, 25000);
	hist_record(&h, 3 * 1000000LL);
	n = hist_format(&h, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_non_null(strstr(buf, "n=3 min=800ns p50=25.0us"));
	assert_non_null(strstr(buf, "max=3.00ms"));
	assert_null(strchr(buf, '\n'));
	assert_int_equal(hist_format(&h, tiny, sizeof(tiny)), -ENOSPC);
	assert_true(strlen(tiny) < sizeof(tiny));
	/* The worst case fits in HIST_FORMAT_MIN. */
	h.count = UINT64_MAX;
	h.overflows = UINT64_MAX;
	h.max_ns = INT64_MAX;
	h.buckets[HIST_BUCKETS - 1] = UINT64_MAX;
	assert_true(hist_format(&h, buf, sizeof(buf)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets_tile_the_range_within_1pct),
		cmocka_unit_test(test_hist_empty_reports_zero),
		cmocka_unit_test(test_hist_percentiles_match_uniform_within_1pct),
		cmocka_unit_test(test_hist_percentiles_match_exponential_within_1pct),
		cmocka_unit_test(test_hist_percentiles_match_log_uniform_from_1ns_to_10s),
		cmocka_unit_test(test_hist_constant_distribution_is_exact),
		cmocka_unit_test(test_hist_small_values_are_exact),
		cmocka_unit_test(test_hist_counts_overflow_and_clamps_negative),
		cmocka_unit_test(test_hist_merge_equals_recording_both),
		cmocka_unit_test(test_hist_reset_empties),
		cmocka_unit_test(test_hist_record_does_not_allocate),
		cmocka_unit_test(test_hist_format_renders_one_line_and_reports_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
