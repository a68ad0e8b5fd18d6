/* SPDX-License-Identifier: MIT */
/*
 * Reload (SIGHUP, `systemctl reload fluxd`): what a config file read again would change in a
 * running fluxd. The site's parameters (strategy and its limits and setpoints, ramp, SOE
 * limits, read window, heartbeat, grid meter) may change at a cycle boundary; whatever the
 * engine and the threads were built from (every key under devices: and rt:, site.cycle,
 * site.stale_after, a change to or from strategy monitor) needs a restart, and is named.
 * Pure functions of two loaded configs: no I/O, main thread (setup code, never RT).
 */
#ifndef FLUX_CONTROL_RELOAD_H
#define FLUX_CONTROL_RELOAD_H

#include <stddef.h>

#include "control/config.h"

/* ---- constants ---------------------------------------------------------------------- */

#define RL_TEXT_MAX 1024 /* bytes of rl_plan.why and rl_plan.changes, with the NUL */

/* What a reload of a file may do. */
enum rl_verdict {
	RL_SAME,    /* nothing that matters changed (comments, order, line numbers) */
	RL_APPLY,   /* only site parameters changed: they apply at the next cycle */
	RL_RESTART, /* a key that needs a restart changed: refused, the running config stays */
};

/* ---- structs ------------------------------------------------------------------------ */

/* The verdict and its words. Owned by the caller (the main thread). */
struct rl_plan {
	enum rl_verdict verdict;
	/* RL_RESTART: the first such key in file order and why it needs one:
	 * "devices.bess[0].modbus.host changed" or "site.cycle changed (the cycle timer ...)". */
	char why[RL_TEXT_MAX];
	/* RL_APPLY (and RL_RESTART, for what else would change): each changed site key,
	 * "site.strategy.import_limit_kw 100 -> 80, site.ramp_kw_per_s 1000 -> 500" (cut with
	 * "..." when long). */
	char changes[RL_TEXT_MAX];
	unsigned nchanges; /* site keys that changed (and may apply) */
};

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Not RT: compare next (the file as loaded now, valid) with run (the config running) and say
 * what a reload would do. Returns the verdict, also in out->verdict.
 */
enum rl_verdict rl_plan(const struct cfg *run, const struct cfg *next, struct rl_plan *out);

/* Not RT: do two profiles read the same points in the same way (content, not identity)? */
bool rl_profile_equal(const struct prof_profile *a, const struct prof_profile *b);

#endif /* FLUX_CONTROL_RELOAD_H */
