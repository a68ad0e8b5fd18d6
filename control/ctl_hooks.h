/* SPDX-License-Identifier: MIT */
/*
 * The controller's test seam, as rt/cycle.h's struct cyc_clock is the timer's: what a test
 * may hook into the control thread. Production passes none; only tests include this header
 * (and fluxd, for its test-only FLUXD_TEST_STALL_* environment). Not for sites.
 */
#ifndef FLUX_CONTROL_CTL_HOOKS_H
#define FLUX_CONTROL_CTL_HOOKS_H

#include <stdbool.h>

#include "control/ctl.h"

/* ---- structs ------------------------------------------------------------------------ */

/* Caller-owned; must stay valid until ctl_close(). */
struct ctl_hooks {
	/*
	 * RT(ctl): asked at the top of every cycle, after the wake-up, and again each 1 ms while
	 * it returns true: true holds the cycle there (a stuck control thread, for the
	 * watchdogs to notice). ctl_stop() ends a hold. Must not block, allocate or print.
	 * NULL: never held.
	 */
	bool (*hold_cycle)(void *ctx);
	void *ctx;
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Any thread, tests only: the hooks the control thread consults from its next cycle on.
 * NULL: none (the default). */
void ctl_set_hooks(struct ctl *c, const struct ctl_hooks *h);

#endif /* FLUX_CONTROL_CTL_HOOKS_H */
