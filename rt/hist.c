/* SPDX-License-Identifier: MIT */
/*
 * Histogram queries and rendering (not RT: hist_format() uses snprintf, the walks are
 * O(buckets)). Recording is inline in hist.h. Bucket i covers [hist_bucket_low(i),
 * hist_bucket_high(i)]; the whole scheme is in hist_index().
 */
#include "rt/hist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = INT64_MAX;
}

int64_t hist_bucket_low(uint32_t idx)
{
	uint32_t g, sub;

	if (idx < HIST_LINEAR_MAX)
		return idx;
	g = (idx - HIST_LINEAR_MAX) / HIST_SUB_COUNT; /* power of two 8 + g */
	sub = (idx - HIST_LINEAR_MAX) % HIST_SUB_COUNT;
	return (int64_t)(HIST_SUB_COUNT + sub) << (g + 8 - HIST_SUB_BITS);
}

int64_t hist_bucket_high(uint32_t idx)
{
	if (idx < HIST_LINEAR_MAX)
		return idx;
	if (idx == HIST_BUCKETS - 1)
		return HIST_MAX_NS;
	return hist_bucket_low(idx + 1) - 1;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	uint32_t i;

	for (i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->overflows += src->overflows;
	dst->sum_ns += src->sum_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

/* rank = ceil(p/100 x count), at least 1, at most count; floating noise (99.9 is not exact
 * in binary) within 1e-9 of an integer is rounded to that integer, not up past it. */
static uint64_t rank_of(double p, uint64_t count)
{
	double x = p / 100.0 * (double)count;
	double r = nearbyint(x);
	uint64_t rank;

	if (fabs(x - r) <= 1e-9 * (x > 1.0 ? x : 1.0))
		x = r;
	rank = (uint64_t)ceil(x);
	if (rank < 1)
		rank = 1;
	if (rank > count)
		rank = count;
	return rank;
}

int64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;
	int64_t lo, hi, v;
	uint32_t i;

	if (!h->count)
		return 0;
	if (p >= 100.0)
		return h->max_ns;
	if (!(p > 0.0))
		return h->min_ns;
	rank = rank_of(p, h->count);
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	if (i == HIST_BUCKETS)
		return h->max_ns;
	lo = hist_bucket_low(i);
	hi = hist_bucket_high(i);
	v = lo + (hi - lo + 1) / 2;
	if (v < h->min_ns)
		v = h->min_ns;
	if (v > h->max_ns)
		v = h->max_ns;
	return v;
}

double hist_mean_ns(const struct hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}

uint64_t hist_count_le(const struct hist *h, int64_t ns)
{
	uint64_t n = 0;
	uint32_t i, last;

	if (ns < 0)
		return 0;
	last = hist_index(ns);
	for (i = 0; i <= last; i++)
		n += h->buckets[i];
	return n;
}

/* Print a duration in ns, us, ms or s, whichever keeps it short. */
static void fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
}

int hist_format(const struct hist *h, char *buf, size_t len)
{
	static const struct {
		const char *name;
		double p;
	} pts[] = {
		{ "p50", 50.0 },   { "p90", 90.0 },	{ "p99", 99.0 },
		{ "p99.9", 99.9 }, { "p99.99", 99.99 },
	};
	char v[32];
	size_t off = 0, i;
	int n;

	if (!len)
		return -ENOSPC;
#define HIST_PUT(...)                                                                              \
	do {                                                                                       \
		n = snprintf(buf + off, len - off, __VA_ARGS__);                                   \
		if (n < 0 || (size_t)n >= len - off)                                               \
			return -ENOSPC;                                                            \
		off += (size_t)n;                                                                  \
	} while (0)

	HIST_PUT("n=%llu", (unsigned long long)h->count);
	if (!h->count)
		return (int)off;
	fmt_ns(v, sizeof(v), (double)h->min_ns);
	HIST_PUT(" min=%s", v);
	for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		fmt_ns(v, sizeof(v), (double)hist_percentile(h, pts[i].p));
		HIST_PUT(" %s=%s", pts[i].name, v);
	}
	fmt_ns(v, sizeof(v), (double)h->max_ns);
	HIST_PUT(" max=%s", v);
	fmt_ns(v, sizeof(v), hist_mean_ns(h));
	HIST_PUT(" mean=%s", v);
	if (h->overflows)
		HIST_PUT(" overflows=%llu", (unsigned long long)h->overflows);
#undef HIST_PUT
	return (int)off;
}
