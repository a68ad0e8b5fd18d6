/* SPDX-License-Identifier: MIT */
/*
 * Private to control/ctl*.c: the controller's state. ctl.c allocates it; after ctl_start()
 * the control thread (ctl_loop.c) owns everything but the rings, the seqlock, the atomics.
 */
#ifndef FLUX_CONTROL_CTL_INT_H
#define FLUX_CONTROL_CTL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "control/ctl.h"
#include "control/ctl_hooks.h"
#include "control/policy.h"
#include "devices/profile.h"
#include "io/engine.h"
#include "rt/cycle.h"
#include "rt/hist.h"
#include "rt/ring.h"
#include "rt/seqlock.h"
#include "rt/thread.h"

#define CTL_MSG_BATCH	   64
#define CTL_STATS_NS	   (1000LL * 1000 * 1000) /* percentiles and fault counts, once a second */
#define CTL_CLAIM_RETRY_NS (1000LL * 1000 * 1000)
/* After an outage of the strategy's inputs shorter than this, it resumes from where it was. */
#define CTL_STRAT_HOLD_NS  (10LL * 1000 * 1000 * 1000)
/* Measured power (active_power) deviates when it is off the acknowledged setpoint by more than
 * CTL_DEV_TOL_KW and CTL_DEV_TOL_FRAC of rated power, CTL_DEV_SETTLE_NS after the ack. */
#define CTL_DEV_SETTLE_NS  (2LL * 1000 * 1000 * 1000)
#define CTL_DEV_TOL_KW	   5.0
#define CTL_DEV_TOL_FRAC   0.1
/* peak_shaving: the limit counts as unheld after this long over it with every BESS at cap. */
#define CTL_LIMIT_WARN_NS  (2LL * 1000 * 1000 * 1000)
#define CTL_LIMIT_TOL_KW   1.0
/* A write with no answer at all for this long (or stale_after if longer) is given up. */
#define CTL_ACK_LOST_NS	   (10LL * 1000 * 1000 * 1000)

/*
 * Who holds a BESS's command source (2010), as far as we know. It is a lock held by one
 * master: we take it only when it is free (the BESS's post-restart default) or already ours.
 */
enum claim_state {
	CLAIM_CHECK,  /* at start and after every reconnect: read 2010 before anything else */
	CLAIM_SENT,   /* it showed the default: our id written, ack awaited */
	CLAIM_VERIFY, /* acked; waiting for a read made after the ack */
	CLAIM_HELD,   /* read back our id: power may be written */
	CLAIM_LOST,   /* another master's id: nothing is written, 2010 is watched */
};

/*
 * What control reads of a device's profile, found once at ctl_open(): the points of its roles
 * (-1: the profile lacks it) and the registers it writes. The control thread only indexes.
 */
struct ctl_roles {
	const struct prof_profile *p;
	enum mb_order order; /* for the profile's device-order points */
	int status, soe, target, source, blocks, grid_power;
	int active_power, max_charge, max_discharge, alarms, faults; /* optional BESS roles */
	uint16_t target_addr, source_addr;
	uint16_t zero_raw; /* 0 kW as the target power register holds it */
};

/*
 * A device's poll blocks as the engine holds them (eng_dev.blocks, the same order): first the
 * profile's planned blocks [0, n_plan), then, for each of them that spans a hole, the same
 * points read without one (prof_plan_split()), split_n[b] blocks from split_first[b] (0: b
 * has no fallback: no hole, or no room left in ENG_MAX_BLOCKS). All are planned and given
 * to the engine at ctl_open(); each POLL reads only the blocks of `active` (eng_cmd's
 * block_mask), at first the planned ones. When planned block b is refused with exception
 * 0x02 (some meters refuse a read across a hole), the control thread swaps b's bit for its
 * split's once and says so (CTL_EV_BLOCK_SPLIT): a flag change, nothing allocated, and the
 * device keeps its connection, retry streak, counters and failsafe, as one engine device.
 * view is the profile with these blocks, so prof_decode_block() decodes any of them (its
 * blocks overlap: a table to decode with, never one to prof_check()).
 */
struct ctl_reads {
	struct prof_profile view;
	struct prof_block blocks[ENG_MAX_BLOCKS];
	unsigned n_plan;		     /* the profile's own blocks */
	uint8_t split_first[ENG_MAX_BLOCKS]; /* per planned block: where its split starts */
	uint8_t split_n[ENG_MAX_BLOCKS];     /* and how many blocks; 0: none */
	uint8_t active;			     /* bit b: blocks[b] is read each cycle */
	uint8_t n_active;		     /* bits set in active: samples one POLL yields */
	uint32_t holds[ENG_MAX_BLOCKS];	     /* bit i: blocks[b] holds point i */
};
_Static_assert(PROF_MAX_POINTS <= 32, "ctl_reads.holds has a bit per point");

/* One BESS as the control thread tracks it. */
struct ctl_bess {
	struct ctl_roles r;
	struct prof_value v[PROF_MAX_POINTS];
	uint32_t block_cycle[ENG_MAX_BLOCKS]; /* cycle of each block's last good read (ctl_reads) */
	int64_t last_ok_ns; /* t_done of the last whole reading (every block read); 0: never */
	bool is_fresh;
	bool has_said_err;   /* its first failure was logged (a device never fresh) */
	bool is_implausible; /* the last sample broke a range (logged once per episode) */
	uint16_t status;
	uint16_t command_source;
	uint16_t blocks;
	int target_seen; /* the target power as last read, kW */
	double soe_pct;
	enum claim_state claim;
	int64_t check_ns; /* CLAIM_CHECK since: a read sent after it decides */
	int64_t claim_ack_ns;
	int64_t claim_sent_ns;
	uint64_t connects_seen;
	double acked_kw; /* last setpoint the BESS acknowledged */
	bool has_acked;
	int64_t acked_ns;	/* when that ack came */
	unsigned in_flight;	/* 2008 writes pushed and not yet answered */
	int64_t oldest_push_ns; /* when the oldest of them was pushed */
	int last_written_kw;	/* last setpoint pushed */
	bool has_written;
	bool was_ready; /* READY at the last decision */
	int64_t last_write_ns;
	/* The optional roles as last read (docs/profiles.md): NaN / false / 0 without them. */
	double active_kw;			/* measured, + discharge; NaN: none valid */
	bool has_max_charge, has_max_discharge; /* a valid, plausible reading (policy.h) */
	double max_charge_kw, max_discharge_kw;
	uint32_t alarms, faults; /* the words; any fault bit: faulted, as status FAULT */
	bool is_deviating;	 /* measured power off the acknowledged setpoint, settled */
	uint64_t deviations;
	uint16_t heartbeat; /* counter written to heartbeat_register */
	int heartbeat_err;  /* its last write's error (logged on change) */
	unsigned reasons;
	int last_err;
	int write_err; /* last write failure, until a write is acknowledged */
	uint64_t writes;
	/* The setpoints pushed lately, for the predictive controller's range (policy.h). */
	struct strat_hist hist;
};

struct ctl_meter {
	struct ctl_roles r;
	struct prof_value v[PROF_MAX_POINTS];
	uint32_t block_cycle[ENG_MAX_BLOCKS]; /* cycle of each block's last good read (ctl_reads) */
	int64_t last_ok_ns;
	uint64_t readings; /* whole readings taken (the strategy integrates each once) */
	bool is_fresh;
	bool has_said_err;
	int last_err;
};

/*
 * The RTT summaries ctl_snapshot() hands out, recomputed from the engine's published
 * histograms at most every CTL_STATS_NS. Owned by the reader threads (never the RT ones),
 * under lock; allocated with the ctl.
 */
struct ctl_rtt {
	pthread_mutex_t lock;
	int64_t t_ns; /* when last recomputed; 0: never */
	struct ctl_lat site, dev[CTL_MAX_DEVS];
	struct hist one, all; /* scratch: a device's copy, and the site's sum */
};

/*
 * The site parameters a reload hands over (ctl_set_site()): written by one thread (fluxd's
 * main), read by the control thread at the start of a cycle through ctl.site_pub.
 */
struct ctl_site_msg {
	uint64_t gen; /* 1: the config ctl_open() had; each reload handed over adds one */
	struct cfg_site site;
};

struct ctl {
	const struct cfg *cfg;
	/* The site parameters the control thread runs with: its own copy (cfg->site was copied at
	 * ctl_open(); a reload replaces it at a cycle boundary), never cfg->site after start. */
	struct cfg_site site;
	uint64_t site_gen;	 /* gen of site; the control thread's after start */
	uint64_t site_writes;	 /* seqlock_writes(&site_pub) when last taken */
	struct seqlock site_pub; /* ctl_site_msg: the reloader writes, the control thread reads */
	_Atomic uint64_t site_taken; /* the gen in force: control thread writes, any reads */
	uint64_t site_handed;	     /* the last gen handed over; the reloader's */
	struct ctl_rtt *rtt;
	struct ctl_opts opts;
	struct eng *eng;
	struct eng_dev devs[CTL_MAX_DEVS]; /* BESS 0..nbess-1, then meters */
	unsigned ndev;
	/* Indexed like devs; active and n_active are the control thread's after start. */
	struct ctl_reads reads[CTL_MAX_DEVS];
	unsigned nblocks; /* samples this cycle's polls yield (the active blocks of every device) */
	struct ctl_bess bess[CFG_MAX_BESS];
	struct ctl_meter meters[CFG_MAX_METERS];
	struct eng_cmd cmds[CTL_MAX_DEVS * 2];
	struct eng_msg msgs[CTL_MSG_BATCH];
	struct bess_view views[CFG_MAX_BESS];
	double share_kw[CFG_MAX_BESS];

	struct cyc cyc;
	uint32_t cycle;
	bool has_started;
	bool is_monitor;	 /* strategy monitor: read and report, never claim or write */
	double strat_kw;	 /* the strategy's state (peak_shaving integrates from it) */
	double load_kw;		 /* the site load estimate (predictive peak_shaving) */
	bool has_load;		 /* load_kw holds one */
	int64_t strat_ok_ns;	 /* last cycle the strategy had its inputs */
	uint64_t grid_seen;	 /* grid meter readings the strategy has used */
	int64_t unheld_since_ns; /* peak_shaving over its limit at full power since; 0: not */
	bool is_unheld;		 /* said so (WARN); INFO when it holds again */
	int64_t stats_ns;
	struct hist jitter, soe_read, setpoint_write;
	struct ctl_snapshot snap; /* scratch, published through snap_pub */
	struct seqlock snap_pub;
	struct ring log;

	struct thr thread;
	atomic_bool stop;
	/* The test seam (ctl_hooks.h): set by any thread, read by the control thread each
	 * cycle; NULL in production. */
	_Atomic(const struct ctl_hooks *) hooks;
	_Atomic uint64_t cycles;
	bool is_running;
};

/* Any thread: a histogram's percentiles (p50, p99, p99.9, max, count). */
static inline void ctl_lat_of(const struct hist *h, struct ctl_lat *out)
{
	out->p50_ns = hist_percentile(h, 50);
	out->p99_ns = hist_percentile(h, 99);
	out->p999_ns = hist_percentile(h, 99.9);
	out->max_ns = h->max_ns;
	out->count = h->count;
}

/* RT(ctl), ctl_loop.c: the control thread's body. */
void *ctl_loop_main(void *arg);

#endif /* FLUX_CONTROL_CTL_INT_H */
