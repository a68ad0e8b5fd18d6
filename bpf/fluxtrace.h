/* SPDX-License-Identifier: MIT */
/*
 * fluxtrace: what the BPF side (fluxtrace.bpf.c) and the loader (fluxtrace.c) share: the
 * histogram layout and its bucket math, the ids of histograms and counters, the per-thread
 * record and the over-budget event. Histograms are log-linear: 8 buckets per power of two
 * (12.5 % wide), exact below 8 ns, up to 2^41 ns (~37 min); the last bucket takes the rest.
 */
#ifndef FLUX_BPF_FLUXTRACE_H
#define FLUX_BPF_FLUXTRACE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "rt/probe_list.h"

/* ---- constants ---------------------------------------------------------------------- */

#define FT_SUB_BITS 3
#define FT_SUB	    (1u << FT_SUB_BITS) /* buckets per power of two */
#define FT_MAX_MSB  40
#define FT_NBUCKETS ((FT_MAX_MSB - FT_SUB_BITS + 2) * FT_SUB) /* 312 */
#define FT_MAX_DEV  64 /* devices with their own rtt histogram; the rest are counted only */
#define FT_COMM_LEN 16 /* TASK_COMM_LEN */

/* Histograms (the `hists` array map), all in ns. */
enum ft_hist_id {
	FT_H_SOE_READ,	     /* poll_push -> sample_consumed (same cycle) */
	FT_H_SETPOINT_WRITE, /* setpoint_push -> response_parsed of that write (dev, addr) */
	FT_H_CYCLE_JITTER,   /* planned_ns -> cycle_start probe */
	FT_H_CYCLE_TIME,     /* planned_ns -> cycle_end probe */
	FT_H_WAKEUP_IO,	     /* sched_wakeup -> sched_switch in, flux-io */
	FT_H_WAKEUP_CTL,     /* sched_wakeup -> sched_switch in, flux-ctl */
	FT_H_CQE_TO_PARSE,   /* last io_uring completion of fluxd's ring -> response_parsed */
	FT_H_RTT0,	     /* + dev: request_sent -> response_parsed (same dev, tid) */
	FT_NHIST = FT_H_RTT0 + FT_MAX_DEV,
};
#define FT_NLIMITS FT_H_RTT0 /* histograms that may carry an over-budget limit */

/* RT threads of fluxd, told apart by name (rt/thread.h names them). */
enum ft_role { FT_ROLE_NONE, FT_ROLE_IO, FT_ROLE_CTL, FT_NROLES };

/*
 * Counters (the `counts` array in .bss). The first FT_NPROBES count probe hits, one per probe
 * of rt/probe_list.h in its order: FT_C_PROBE(cycle_start) is cycle_start's.
 */
#define FT_C_PROBE(name) FLUX_PROBE_ID_##name
enum ft_count {
	FT_NPROBES = FLUX_NPROBES,
	FT_C_RSP_ERR = FT_NPROBES, /* response_parsed with err != 0 */
	FT_C_CQE,		   /* io_uring completions on fluxd's ring */
	FT_C_CQE_ERR,		   /* ... with res < 0 */
	FT_C_EVENTS_LOST,	   /* over-budget events the ring buffer had no room for */
	FT_NCOUNTS,
};

/* ---- structs ------------------------------------------------------------------------ */

/* One histogram. Written by BPF (atomic adds; max is racy but each has one writer thread). */
struct ft_hist {
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
	__u64 buckets[FT_NBUCKETS];
};

/* One RT thread of the traced fluxd, by role. allocs and faults count after the start. */
struct ft_thread {
	__u32 tid;
	__u32 pad;
	__u64 wakeups;	   /* sched_wakeup of the thread */
	__u64 preemptions; /* switched out while runnable (sched_switch preempt = true) */
	__u64 allocs;	   /* malloc/calloc/realloc calls */
	__u64 faults;	   /* user page faults */
};

/* BPF -> user space, only for a sample over its limit (ring buffer `events`). */
struct ft_event {
	__u32 hist; /* enum ft_hist_id */
	__u32 dev;  /* device, or ~0 when none */
	__u32 cycle;
	__u32 pad;
	__u64 value_ns;
	__u64 t_ns; /* CLOCK_MONOTONIC when it was seen */
};

/* ---- bucket math (both sides) ------------------------------------------------------- */

static inline unsigned ft_msb(__u64 v)
{
	unsigned r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

/* The bucket of v ns. */
static inline unsigned ft_bucket(__u64 v)
{
	unsigned msb;

	if (v < FT_SUB)
		return (unsigned)v;
	msb = ft_msb(v);
	if (msb > FT_MAX_MSB)
		return FT_NBUCKETS - 1;
	return (msb - FT_SUB_BITS + 1) * FT_SUB +
	       (unsigned)((v >> (msb - FT_SUB_BITS)) & (FT_SUB - 1));
}

/* The smallest value of bucket b; its values are [ft_bucket_lo(b), ft_bucket_lo(b + 1)). */
static inline __u64 ft_bucket_lo(unsigned b)
{
	unsigned g = b / FT_SUB, s = b % FT_SUB;

	if (g == 0)
		return b;
	return (__u64)(FT_SUB + s) << (g - 1);
}

#endif /* FLUX_BPF_FLUXTRACE_H */
