/* SPDX-License-Identifier: MIT */
/*
 * Test support: a whole site in one process: the real controller (engine + control thread)
 * against the real simulators (devices/sim) on 127.0.0.1, with the controller's events kept
 * so a test can ask whether one was said. cmocka asserts inside: for cmocka tests only.
 * Every wait is bounded.
 */
#ifndef FLUX_TESTS_SUPPORT_RIG_H
#define FLUX_TESTS_SUPPORT_RIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/ctl.h"
#include "devices/sim.h"

#define RIG_MAX_BESS 4
#define RIG_MAX_LOGS 4096
#define RIG_MS	     (1000LL * 1000)

struct rig {
	struct sim *sim;
	pthread_t sim_thread;
	struct cfg cfg; /* filled by rig_new(); the test may change it before rig_start() */
	struct ctl *ctl;
	int pp[RIG_MAX_BESS]; /* sim device handles */
	int meter;	      /* -1: none */
	struct ctl_log logs[RIG_MAX_LOGS];
	unsigned nlogs;
};

/*
 * A site of nbess PowerPacks (unit 1 each, own port) and, if acu, one Acuvim II (unit 2) as
 * the grid meter: cycle 50 ms, read window 25 ms, stale_after 500 ms, ramp 10000 kW/s, each
 * device timeout 200 ms, 1 attempt, backoff 50 ms, no heartbeat register. The sim runs.
 */
struct rig *rig_new(unsigned nbess, const struct sim_pp_params *pp,
		    const struct sim_acu_params *acu);

/* Open and start the controller (no RT) on r->cfg. */
void rig_start(struct rig *r);

/* Stop and free everything. Safe on NULL. */
void rig_free(struct rig *r);

/* The rig a test made last (for a teardown after a failed assertion), or NULL. */
struct rig *rig_live(void);

/* The latest snapshot (one static copy: the next call overwrites it). */
const struct ctl_snapshot *rig_snap(struct rig *r);
struct sim_pp_state rig_pp(struct rig *r, int i);
struct sim_acu_state rig_acu(struct rig *r);

/* Wait (bounded by ms) until BESS i's command source is ours; fails the test if not. */
void rig_wait_ours(struct rig *r, int i, long ms);

/* Wait (bounded by ms) until the sim's BESS i holds target power kw; returns whether it did. */
bool rig_wait_target(struct rig *r, int i, int kw, long ms);

/* Take the controller's new events into r->logs. Returns how many there are now. */
unsigned rig_drain(struct rig *r);

/* Has event `event` been said (for dev, or any dev when dev < 0)? Drains first. The first
 * one found is copied to *out when out is not NULL. */
bool rig_said(struct rig *r, unsigned event, int dev, struct ctl_log *out);

/* Print the events so far (a failing test shows what the controller said). */
void rig_dump(struct rig *r);

void rig_sleep_ms(long ms);

#endif /* FLUX_TESTS_SUPPORT_RIG_H */
