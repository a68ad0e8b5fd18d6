/* SPDX-License-Identifier: MIT */
/*
 * Time inside Flux: int64_t nanoseconds of CLOCK_MONOTONIC, converted to struct timespec only
 * at the edges (clock_nanosleep, futex timeouts). int64_t ns lasts 292 years; no overflow
 * checks are needed for uptime-sized values. Header only; every function is safe on any
 * thread, including the RT ones (clock_gettime is a vDSO call, no syscall, no lock).
 */
#ifndef FLUX_RT_CLOCK_H
#define FLUX_RT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* ---- constants ---------------------------------------------------------------------- */

#define CLK_NS_PER_US  1000LL
#define CLK_NS_PER_MS  1000000LL
#define CLK_NS_PER_SEC 1000000000LL

/* ---- prototypes --------------------------------------------------------------------- */

/* Any thread: CLOCK_MONOTONIC now, in ns. */
static inline int64_t clk_now_ns(void);

/* Any thread: timespec -> ns. */
static inline int64_t clk_ts_to_ns(const struct timespec *ts);

/* Any thread: ns -> timespec; negative ns give a normalised timespec (tv_nsec in 0..1e9-1). */
static inline struct timespec clk_ns_to_ts(int64_t ns);

/* Any thread: ns -> floating milliseconds / microseconds, for printing only. */
static inline double clk_ns_to_ms(int64_t ns);
static inline double clk_ns_to_us(int64_t ns);

/* ---- inline bodies ------------------------------------------------------------------ */

static inline int64_t clk_ts_to_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * CLK_NS_PER_SEC + ts->tv_nsec;
}

static inline struct timespec clk_ns_to_ts(int64_t ns)
{
	struct timespec ts;
	int64_t sec = ns / CLK_NS_PER_SEC;
	int64_t rem = ns % CLK_NS_PER_SEC;

	/* C division truncates toward zero; move a negative remainder into the seconds. */
	if (rem < 0) {
		rem += CLK_NS_PER_SEC;
		sec -= 1;
	}
	ts.tv_sec = (time_t)sec;
	ts.tv_nsec = (long)rem;
	return ts;
}

/* RT(any): vDSO clock read, never blocks. */
static inline int64_t clk_now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer; nothing to check. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return clk_ts_to_ns(&ts);
}

static inline double clk_ns_to_ms(int64_t ns)
{
	return (double)ns / (double)CLK_NS_PER_MS;
}

static inline double clk_ns_to_us(int64_t ns)
{
	return (double)ns / (double)CLK_NS_PER_US;
}

#endif /* FLUX_RT_CLOCK_H */
