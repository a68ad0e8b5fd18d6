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
#include "tests/support/net.h"

#define TH_RIG_MAX_BESS 4
#define TH_RIG_MAX_LOGS 4096
#define TH_RIG_MS	(1000LL * 1000)

struct th_rig {
	struct sim *sim;
	pthread_t sim_thread;
	struct cfg cfg; /* filled by th_rig_new(); the test may change it before th_rig_start() */
	struct ctl *ctl;
	int pp[TH_RIG_MAX_BESS]; /* sim device handles */
	int meter;		 /* -1: none */
	struct ctl_log logs[TH_RIG_MAX_LOGS];
	unsigned nlogs;
};

/*
 * A site of nbess PowerPacks (unit 1 each, own port) and, if acu, one Acuvim II (unit 2) as
 * the grid meter: cycle 50 ms, read window 25 ms, stale_after 500 ms, ramp 10000 kW/s, each
 * device timeout 200 ms, 1 attempt, backoff 50 ms, no heartbeat register. The sim runs.
 */
struct th_rig *th_rig_new(unsigned nbess, const struct sim_pp_params *pp,
			  const struct sim_acu_params *acu);

/*
 * A monitor site of one meter of profile p (borrowed: it must outlive the rig), served by the
 * profile simulator with prm, unit 1, as the grid meter "grid"; the timing of th_rig_new().
 */
struct th_rig *th_rig_new_meter(const struct prof_profile *p, const struct sim_prof_params *prm);

/*
 * Add a meter "id" of profile p (borrowed) read at 127.0.0.1:port, unit, served by whatever
 * the test runs there (a fault server, say); the timing of th_rig_new(). Returns its index in
 * r->cfg.meters. Before th_rig_start().
 */
int th_rig_add_meter(struct th_rig *r, const char *id, const struct prof_profile *p, uint16_t port,
		     uint8_t unit);

/*
 * Add a BESS "bess-N" of profile p (borrowed), served by the profile simulator with prm, unit 1
 * on a port of its own: 100 kW, 200 kWh, 50 kW blocks, READY as p's enum names it, command
 * source id 3 (default 0), no heartbeat register; the timing of th_rig_new(). Returns its index
 * in r->cfg.bess, its sim device in *sim_dev. Before th_rig_start().
 */
int th_rig_add_profile_bess(struct th_rig *r, const struct prof_profile *p,
			    const struct sim_prof_params *prm, int *sim_dev);

/* Open and start the controller (no RT) on r->cfg. */
void th_rig_start(struct th_rig *r);

/* Stop and free everything. Safe on NULL. */
void th_rig_free(struct th_rig *r);

/* The rig a test made last (for a teardown after a failed assertion), or NULL. */
struct th_rig *th_rig_live(void);

/* The latest snapshot (one static copy: the next call overwrites it). */
const struct ctl_snapshot *th_rig_snap(struct th_rig *r);
struct sim_pp_state th_rig_pp(struct th_rig *r, int i);
struct sim_acu_state th_rig_acu(struct th_rig *r);

/* Wait (bounded by ms) until BESS i's command source is ours; fails the test if not. */
void th_rig_wait_ours(struct th_rig *r, int i, long ms);

/* Wait (bounded by ms) until the sim's BESS i holds target power kw; returns whether it did. */
bool th_rig_wait_target(struct th_rig *r, int i, int kw, long ms);

/* Take the controller's new events into r->logs. Returns how many there are now. */
unsigned th_rig_drain(struct th_rig *r);

/* Has event `event` been said (for dev, or any dev when dev < 0)? Drains first. The first
 * one found is copied to *out when out is not NULL. */
bool th_rig_said(struct th_rig *r, unsigned event, int dev, struct ctl_log *out);

/* Print the events so far (a failing test shows what the controller said). */
void th_rig_dump(struct th_rig *r);

#endif /* FLUX_TESTS_SUPPORT_RIG_H */
