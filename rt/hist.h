/* SPDX-License-Identifier: MIT */
/*
 * Latency histogram, log-linear like HdrHistogram: values below 256 ns are counted exactly;
 * each power of two above is split into 128 linear sub-buckets, so a bucket is at most 1/128
 * of its value wide and a reported value (the bucket midpoint, clamped to [min, max]) is
 * within 0.4% of the true one. Covers 0 to 2^34 - 1 ns (17 s); larger values land in the top
 * bucket and are counted as overflows. Fixed size (about 28 KiB), no allocation, O(1) record.
 * A struct hist is owned by one thread; to show it to another, publish a copy (seqlock) or
 * merge after the owner stopped.
 */
#ifndef FLUX_RT_HIST_H
#define FLUX_RT_HIST_H

#include <stddef.h>
#include <stdint.h>

/* ---- constants ---------------------------------------------------------------------- */

#define HIST_SUB_BITS	7 /* 128 sub-buckets per power of two */
#define HIST_SUB_COUNT	(1 << HIST_SUB_BITS)
#define HIST_LINEAR_MAX (2 * HIST_SUB_COUNT) /* values < 256 ns: one bucket each */
#define HIST_TOP_BIT	33		     /* highest power of two covered */
#define HIST_MAX_NS	((INT64_C(1) << (HIST_TOP_BIT + 1)) - 1)		    /* 17.18 s */
#define HIST_BUCKETS	(HIST_LINEAR_MAX + (HIST_TOP_BIT + 1 - 8) * HIST_SUB_COUNT) /* 3584 */
#define HIST_FORMAT_MIN 256 /* a buffer this large always holds hist_format()'s line */

/* ---- structs ------------------------------------------------------------------------ */

/* Owned by one thread (the one recording); nothing in it is atomic. */
struct hist {
	uint64_t count;	    /* values recorded */
	uint64_t overflows; /* values above HIST_MAX_NS (counted in the top bucket) */
	uint64_t sum_ns;    /* for the mean */
	int64_t min_ns;	    /* exact; INT64_MAX when empty */
	int64_t max_ns;	    /* exact; 0 when empty */
	uint64_t buckets[HIST_BUCKETS];
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Any thread (owner): empty the histogram. Also the initialiser; no allocation. */
void hist_reset(struct hist *h);

/* RT(any, owner): count one value in ns; negative values count as 0. O(1), no syscall. */
static inline void hist_record(struct hist *h, int64_t ns);

/* Owner: add src's counts into dst (src unchanged). */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * Owner: the value at percentile p (0..100): the smallest recorded value v such that at least
 * p% of the values are <= v (rank ceil(p/100 x count)), to bucket precision (<= 0.4% error),
 * clamped to [min, max]; p >= 100 gives max exactly. 0 when empty. O(HIST_BUCKETS).
 */
int64_t hist_percentile(const struct hist *h, double p);

/* Owner: mean in ns (0 when empty). */
double hist_mean_ns(const struct hist *h);

/* Owner: how many recorded values are <= ns, to bucket precision (for Prometheus `le`). */
uint64_t hist_count_le(const struct hist *h, int64_t ns);

/*
 * Not RT (snprintf): render one line into buf, e.g.
 * "n=10000 min=12.1us p50=20.3us p90=... p99=... p99.9=... p99.99=... max=4.24ms mean=21.0us".
 * Returns the length written (excluding the NUL), or -ENOSPC if buf was too small (buf then
 * holds a truncated, NUL-terminated line). HIST_FORMAT_MIN bytes always suffice.
 */
int hist_format(const struct hist *h, char *buf, size_t len);

/* Any thread: bucket index of a value, and the bucket's [low, high] bounds in ns. */
static inline uint32_t hist_index(int64_t ns);
int64_t hist_bucket_low(uint32_t idx);
int64_t hist_bucket_high(uint32_t idx);

/* ---- inline bodies ------------------------------------------------------------------ */

static inline uint32_t hist_index(int64_t ns)
{
	uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
	uint32_t k, shift;

	if (v < HIST_LINEAR_MAX)
		return (uint32_t)v;
	if (v > (uint64_t)HIST_MAX_NS)
		return HIST_BUCKETS - 1;
	k = 63 - (uint32_t)__builtin_clzll(v); /* 8..HIST_TOP_BIT: v in [2^k, 2^(k+1)) */
	shift = k - HIST_SUB_BITS;
	return HIST_LINEAR_MAX + (k - 8) * HIST_SUB_COUNT +
	       (uint32_t)((v >> shift) - HIST_SUB_COUNT);
}

/* RT(any, owner): O(1), no syscall, no allocation. */
static inline void hist_record(struct hist *h, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	h->buckets[hist_index(ns)]++;
	h->count++;
	h->sum_ns += (uint64_t)ns;
	if (ns > HIST_MAX_NS)
		h->overflows++;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

#endif /* FLUX_RT_HIST_H */
