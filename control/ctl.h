/* SPDX-License-Identifier: MIT */
/*
 * The controller: a fixed-cycle control thread on top of the I/O engine. Each cycle it polls
 * every device, waits for the samples until the read window closes, runs the strategy and
 * the safety filter, and writes setpoints; on stop it writes 0 kW to every BESS it holds the
 * command source of and waits for the acks. The command source is a lock: read before
 * anything else after a connect, claimed only when it shows our id or the BESS's default. Other
 * threads see it only through a seqlock snapshot and a log ring.
 */
#ifndef FLUX_CONTROL_CTL_H
#define FLUX_CONTROL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/config.h"

/* ---- constants ---------------------------------------------------------------------- */

#define CTL_MAX_DEVS	    (CFG_MAX_BESS + CFG_MAX_METERS)
#define CTL_STOP_TIMEOUT_NS (2000LL * 1000 * 1000) /* bound on the 0 kW writes at stop */
#define CTL_LOG_CAPACITY    1024		   /* events buffered for the log thread */

/* Events the control thread reports through the log ring (never printed on it). */
enum ctl_event {
	CTL_EV_STARTED = 1,	 /* a: cycle ms; b: number of devices */
	CTL_EV_INPUTS_FRESH,	 /* every needed input fresh: control starts */
	CTL_EV_STALE,		 /* dev went stale; err: last error */
	CTL_EV_FRESH,		 /* dev fresh again */
	CTL_EV_CLAIM,		 /* command source write sent; a: id */
	CTL_EV_CLAIMED,		 /* read back our id */
	CTL_EV_SOURCE_LOST,	 /* ALARM: a: the id someone else wrote; writes stop */
	CTL_EV_CLAIM_FAILED,	 /* err: the write's error */
	CTL_EV_STATUS,		 /* status changed; a: new, b: old */
	CTL_EV_WRITE_FAILED,	 /* setpoint write refused or failed; a: kW; err */
	CTL_EV_OVERRUN,		 /* a cycle ran past its deadline; a: periods skipped */
	CTL_EV_STOPPING,	 /* writing 0 kW to every BESS */
	CTL_EV_STOPPED,		 /* a: BESS acknowledged 0 kW, b: BESS total */
	CTL_EV_NO_ANSWER,	 /* a device that was never fresh failed; err: the cause */
	CTL_EV_REARMED,		 /* 2010 shows our id again after another master held it */
	CTL_EV_SOURCE_RESET,	 /* 2010 shows the BESS's default (it restarted): re-claiming; a */
	CTL_EV_LEFT_READY,	 /* a BESS we own left READY: 0 kW written once; a: status */
	CTL_EV_FOREIGN_SETPOINT, /* ALARM: 2008 holds a, not our b: restored */
	CTL_EV_NO_ACK,		 /* ALARM: setpoint a kW not acknowledged; err */
	CTL_EV_IMPLAUSIBLE,	 /* a sample out of its profile range: err names it, a: value */
	CTL_EV_LIMIT_UNHELD,	 /* WARN: peak shaving cannot hold its limit; a: grid, b: limit */
	CTL_EV_LIMIT_HELD,	 /* the limit holds again; a: grid kW, b: limit */
	CTL_EV_FAILSAFE,	 /* the I/O thread wrote 0 kW by itself (control was silent) */
	CTL_EV_HEARTBEAT_FAILED, /* heartbeat register a not written; err */
	CTL_EV_BLOCK_SPLIT,	 /* poll block a refused with 0x02 (err): read as b blocks now */
	CTL_EV_FAULTED,		 /* ALARM: fault bits a set (b: the word before): 0 kW, not READY */
	CTL_EV_FAULT_CLEARED,	 /* every fault bit clear again; b: the word before */
	CTL_EV_ALARMS,		 /* WARN: the alarm word is a now (b: before; 0: clear) */
	CTL_EV_DEVIATION,	 /* WARN: measured a kW, not the setpoint b kW it acknowledged */
	CTL_EV_RELOADED,	 /* site parameters of generation a in force from cycle b */
};

/*
 * Control's own error codes (negated, beside the engine's, the codec's and -errno), named by
 * ctl_strerror(). A sample that breaks its profile's range is an error, never fresh data.
 */
enum ctl_err {
	CTL_ERR_BASE = 12288,
	CTL_ESOE_RANGE = CTL_ERR_BASE, /* soe_pct outside 0..100 % x soe_scale */
	CTL_ESTATUS_UNKNOWN,	       /* status not in the profile's enum */
	CTL_EBLOCKS_RANGE,	       /* available_blocks above what the rating implies */
	CTL_ENOACK,		       /* a write was never acknowledged */
	CTL_ERR_END,
};

/* ---- structs ------------------------------------------------------------------------ */

/* One event; dev indexes BESS 0..nbess-1 then meters. */
struct ctl_log {
	int64_t t_ns;
	uint16_t event;
	uint16_t dev;
	int32_t err;
	double a, b;
};

/* Latency percentiles in ns, recomputed about once a second by the control thread. */
struct ctl_lat {
	int64_t p50_ns, p99_ns, p999_ns, max_ns;
	uint64_t count;
};

/*
 * Every point of a device's profile as last decoded, indexed like its profile's points: bit i
 * of valid says points[i] holds a value (a point of a block never read so far does not).
 */
struct ctl_points_snap {
	uint32_t valid;
	double points[PROF_MAX_POINTS];
};
_Static_assert(PROF_MAX_POINTS <= 32, "ctl_points_snap.valid has a bit per point");

struct ctl_bess_snap {
	double soe_pct;
	double setpoint_kw; /* last acknowledged */
	uint16_t status;
	uint16_t command_source;
	uint16_t blocks;
	bool is_fresh, is_ready, is_ours;
	unsigned reasons; /* SAFETY_* bits of the last cycle */
	int last_err;	  /* of the last read or, while it stands, of the last write */
	uint64_t writes;  /* setpoint writes pushed since start */
	/* The optional roles (NaN or 0 where the profile lacks one, docs/profiles.md). */
	double active_kw;     /* measured power (active_power), + discharge; NaN: none valid */
	double max_charge_kw; /* the reported limits in force, magnitudes; NaN: none (rated) */
	double max_discharge_kw;
	uint32_t alarms, faults; /* the alarm and fault words as last read */
	bool is_faulted;	 /* a fault bit set: not READY, 0 kW */
	bool is_deviating;	 /* measured power far from the acknowledged setpoint, settled */
	uint64_t deviations;	 /* times it started deviating */
	struct ctl_points_snap pt;
};

struct ctl_meter_snap {
	double power_kw; /* its grid_power role, + import; NaN without one */
	bool is_fresh;
	int last_err;
	struct ctl_points_snap pt;
};

/*
 * The site as the control thread last saw it. Published each cycle through a seqlock: only
 * the fields up to bess[nbess - 1] (bess[] comes last among them, so a small site copies
 * little); the rtt fields after it are filled by ctl_snapshot() on the reading thread.
 */
struct ctl_snapshot {
	uint64_t cycles;
	uint64_t overruns;
	int64_t t_ns;	  /* planned start of the cycle it describes */
	double site_kw;	  /* what the strategy asked */
	bool is_valid;	  /* the strategy had its inputs */
	bool has_started; /* every needed input was fresh once */
	unsigned nbess, nmeters;
	uint64_t config_gen; /* site parameters in force: 1 at start, + 1 per reload taken */
	struct ctl_lat jitter, soe_read, setpoint_write;
	struct ctl_meter_snap meters[CFG_MAX_METERS];
	struct ctl_bess_snap bess[CFG_MAX_BESS]; /* entries past nbess are not copied */
	/* Request -> response round trips as the I/O thread published them (once a second per
	 * device, cumulative since start): the whole site, then each device. */
	struct ctl_lat rtt;
	struct ctl_lat bess_rtt[CFG_MAX_BESS];
	struct ctl_lat meter_rtt[CFG_MAX_METERS];
};

/* Options beyond the config. */
struct ctl_opts {
	bool no_rt; /* run both threads SCHED_OTHER, unpinned (tests, `make run` as a user) */
};

struct ctl; /* opaque */

/* ---- prototypes --------------------------------------------------------------------- */

/* Setup: build the engine's device table from cfg (kept by pointer: it must outlive ctl) and
 * allocate everything. The control thread keeps its own copy of cfg->site (see
 * ctl_set_site()), so cfg->site is its owner's to change after. Returns -errno or zero. */
int ctl_open(struct ctl **out, const struct cfg *cfg, const struct ctl_opts *opts);

/* Setup: start the engine and the control thread. Returns -errno or zero. */
int ctl_start(struct ctl *c);

/* Setup: stop the control thread (it writes 0 kW to every BESS it holds and waits for the
 * acks, at most CTL_STOP_TIMEOUT_NS), then the engine. Idempotent. */
void ctl_stop(struct ctl *c);

/* Setup: stop and free. Safe on NULL. */
void ctl_close(struct ctl *c);

/* Not RT: copy the latest snapshot, with the RTT summaries (recomputed from the engine's
 * histograms at most once a second, under a lock only readers take). Returns 0. */
int ctl_snapshot(const struct ctl *c, struct ctl_snapshot *out);

/* One reader thread: pop up to max events. Never blocks. */
unsigned ctl_pop_logs(struct ctl *c, struct ctl_log *out, unsigned max);

/* Any thread: cycles completed so far (the watchdog's sign of life). */
uint64_t ctl_cycles(const struct ctl *c);

/* Any thread: the I/O thread's loop turns so far (eng_turns(): its sign of life). */
uint64_t ctl_io_turns(const struct ctl *c);

/*
 * One thread (the reloader: fluxd's main), any time after ctl_open(): hand site parameters to
 * the control thread, which takes them at the start of its next cycle (no pause: a seqlock
 * it only tries, the latest handed over wins) and says CTL_EV_RELOADED. What the engine and
 * the threads were built from must not change: cycle_ns, stale_after_ns, and a change to or
 * from CFG_STRATEGY_MONITOR are refused (control/reload.h names them first). A grid meter
 * index must be one of the site's meters. Returns the generation handed over (> 1), or
 * -EINVAL.
 */
int64_t ctl_set_site(struct ctl *c, const struct cfg_site *site);

/* Any thread: the generation of the site parameters in force (1 until a reload is taken). */
uint64_t ctl_site_gen(const struct ctl *c);

/* Any thread: name of an error code: control's, the engine's, the codec's or errno's. */
const char *ctl_strerror(int err);

/* Any thread: is the event an ALARM (2), a WARN (4) or news (6)? Its syslog priority. */
int ctl_event_priority(unsigned event);

/* Not RT: one log line for an event ("bess-1: stale (connection refused)"). Returns length. */
int ctl_format_log(const struct ctl *c, const struct ctl_log *ev, char *buf, size_t len);

/* Not RT: the one-line live status of a snapshot. Returns length. */
int ctl_format_status(const struct ctl *c, const struct ctl_snapshot *s, char *buf, size_t len);

#endif /* FLUX_CONTROL_CTL_H */
