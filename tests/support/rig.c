// SPDX-License-Identifier: MIT
/*
 * A site in one process for the controller's tests (see rig.h). The one idea: the test
 * drives the simulators (faults, other masters, restarts) and reads both sides: the sim's
 * state and the controller's snapshot and events.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tests/support/rig.h"

static struct th_rig *live;

static void *run_sim(void *arg)
{
	sim_run(arg, 120 * 1000 * TH_RIG_MS);
	return NULL;
}

static void modbus_of(struct cfg_modbus *m, uint16_t port, uint8_t unit)
{
	*m = (struct cfg_modbus){ .port = port,
				  .address = unit,
				  .timeout_ns = 200 * TH_RIG_MS,
				  .retry_count = 1,
				  .retry_backoff_ns = 50 * TH_RIG_MS,
				  .match_tid = true };
	snprintf(m->host, sizeof(m->host), "127.0.0.1");
}

/* A shipped profile, as `type: name` gives it. */
static const struct prof_profile *shipped(const char *name)
{
	const struct prof_profile *p = NULL;
	char err[CFG_ERR_MAX];

	if (cfg_builtin_profile(name, &p, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
	return p;
}

struct th_rig *th_rig_new(unsigned nbess, const struct sim_pp_params *pp,
			  const struct sim_acu_params *acu)
{
	struct th_rig *r = calloc(1, sizeof(*r));
	struct cfg *c;

	assert_non_null(r);
	assert_true(nbess <= TH_RIG_MAX_BESS);
	live = r;
	r->meter = -1;
	r->sim = sim_new();
	assert_non_null(r->sim);
	c = &r->cfg;
	cfg_defaults(c);
	c->site.cycle_ns = 50 * TH_RIG_MS;
	c->site.read_window_ns = 25 * TH_RIG_MS;
	c->site.stale_after_ns = 500 * TH_RIG_MS;
	c->site.ramp_kw_per_s = 10000;
	c->rt.io_cpu = c->rt.control_cpu = -1;
	for (unsigned i = 0; i < nbess; i++) {
		struct cfg_bess *b = &c->bess[c->nbess++];

		r->pp[i] = sim_add_powerpack(r->sim, &(struct sim_endpoint){ .unit = 1 }, pp);
		assert_true(r->pp[i] >= 0);
		snprintf(b->id, sizeof(b->id), "bess-%u", i + 1);
		snprintf(b->type, sizeof(b->type), "powerpack");
		b->profile = shipped("powerpack");
		b->profile_file = -1;
		modbus_of(&b->modbus, (uint16_t)sim_port(r->sim, r->pp[i]), 1);
		b->power_kw = (int)pp->pp.power_kw;
		b->capacity_kwh = (int)pp->pp.capacity_kwh;
		b->block_kw = 50;
		b->status_ready = 1;
		b->command_source_id = 3;
		b->command_source_default = pp->command_source_default;
		b->heartbeat_register = -1;
		b->soe_scale = 1;
	}
	if (acu) {
		r->meter = sim_add_acuvim2(r->sim, &(struct sim_endpoint){ .unit = 2 }, acu);
		assert_true(r->meter >= 0);
		snprintf(c->meters[0].id, sizeof(c->meters[0].id), "grid");
		snprintf(c->meters[0].type, sizeof(c->meters[0].type), "acuvim2");
		c->meters[0].profile = shipped("acuvim2");
		c->meters[0].profile_file = -1;
		modbus_of(&c->meters[0].modbus, (uint16_t)sim_port(r->sim, r->meter), 2);
		c->meters[0].word_order = acu->order;
		c->nmeters = 1;
		snprintf(c->site.grid_meter, sizeof(c->site.grid_meter), "grid");
		c->site.grid_meter_index = 0;
	}
	assert_int_equal(pthread_create(&r->sim_thread, NULL, run_sim, r->sim), 0);
	return r;
}

struct th_rig *th_rig_new_meter(const struct prof_profile *p, const struct sim_prof_params *prm)
{
	struct th_rig *r = th_rig_new(0, NULL, NULL);
	struct cfg_meter *m = &r->cfg.meters[0];

	/* The sim runs already; adding a device takes its lock, and its loop listens anew. */
	r->meter = sim_add_profile(r->sim, &(struct sim_endpoint){ .unit = 1 }, p, prm);
	assert_true(r->meter >= 0);
	snprintf(m->id, sizeof(m->id), "grid");
	m->profile = p;
	m->profile_file = -1;
	modbus_of(&m->modbus, (uint16_t)sim_port(r->sim, r->meter), 1);
	m->word_order = p->default_order;
	r->cfg.nmeters = 1;
	r->cfg.site.mode = CFG_STRATEGY_MONITOR;
	snprintf(r->cfg.site.grid_meter, sizeof(r->cfg.site.grid_meter), "grid");
	r->cfg.site.grid_meter_index = 0;
	return r;
}

int th_rig_add_meter(struct th_rig *r, const char *id, const struct prof_profile *p, uint16_t port,
		     uint8_t unit)
{
	struct cfg_meter *m;

	assert_true(r->cfg.nmeters < CFG_MAX_METERS);
	m = &r->cfg.meters[r->cfg.nmeters];
	*m = (struct cfg_meter){ .profile = p, .profile_file = -1, .word_order = p->default_order };
	snprintf(m->id, sizeof(m->id), "%s", id);
	modbus_of(&m->modbus, port, unit);
	return (int)r->cfg.nmeters++;
}

int th_rig_add_profile_bess(struct th_rig *r, const struct prof_profile *p,
			    const struct sim_prof_params *prm, int *sim_dev)
{
	int st = prof_role_point(p, PROF_ROLE_STATUS), ready;
	struct cfg_bess *b;

	assert_true(r->cfg.nbess < CFG_MAX_BESS && st >= 0);
	ready = prof_enum_value(&p->points[st], PROF_E_READY);
	assert_true(ready >= 0);
	*sim_dev = sim_add_profile(r->sim, &(struct sim_endpoint){ .unit = 1 }, p, prm);
	assert_true(*sim_dev >= 0);
	b = &r->cfg.bess[r->cfg.nbess];
	*b = (struct cfg_bess){ .profile = p,
				.profile_file = -1,
				.power_kw = 100,
				.capacity_kwh = 200,
				.block_kw = 50,
				.status_ready = (unsigned)ready,
				.command_source_id = 3,
				.soe_scale = 1,
				.heartbeat_register = -1 };
	snprintf(b->id, sizeof(b->id), "bess-%u", r->cfg.nbess + 1);
	snprintf(b->type, sizeof(b->type), "%s", p->name);
	modbus_of(&b->modbus, (uint16_t)sim_port(r->sim, *sim_dev), 1);
	return (int)r->cfg.nbess++;
}

void th_rig_start(struct th_rig *r)
{
	assert_int_equal(ctl_open(&r->ctl, &r->cfg, &(struct ctl_opts){ .no_rt = true }), 0);
	assert_int_equal(ctl_start(r->ctl), 0);
}

void th_rig_free(struct th_rig *r)
{
	if (!r)
		return;
	ctl_close(r->ctl);
	sim_stop(r->sim);
	pthread_join(r->sim_thread, NULL);
	sim_free(r->sim);
	if (live == r)
		live = NULL;
	free(r);
}

struct th_rig *th_rig_live(void)
{
	return live;
}

const struct ctl_snapshot *th_rig_snap(struct th_rig *r)
{
	static struct ctl_snapshot s; /* large (~100 KiB at CFG_MAX_BESS): not on the stack */

	assert_int_equal(ctl_snapshot(r->ctl, &s), 0);
	return &s;
}

struct sim_pp_state th_rig_pp(struct th_rig *r, int i)
{
	struct sim_pp_state st;

	assert_int_equal(sim_pp_get(r->sim, r->pp[i], &st), 0);
	return st;
}

struct sim_acu_state th_rig_acu(struct th_rig *r)
{
	struct sim_acu_state st;

	assert_int_equal(sim_acu_get(r->sim, r->meter, &st), 0);
	return st;
}

void th_rig_wait_ours(struct th_rig *r, int i, long ms)
{
	for (long t = 0; t < ms; t += 20) {
		if (th_rig_snap(r)->bess[i].is_ours)
			return;
		th_sleep_ms(20);
	}
	th_rig_dump(r);
	fail_msg("bess %d: command source never became ours", i);
}

bool th_rig_wait_target(struct th_rig *r, int i, int kw, long ms)
{
	for (long t = 0; t < ms; t += 10) {
		if (th_rig_pp(r, i).target_power_kw == kw)
			return true;
		th_sleep_ms(10);
	}
	return false;
}

unsigned th_rig_drain(struct th_rig *r)
{
	if (r->ctl && r->nlogs < TH_RIG_MAX_LOGS)
		r->nlogs += ctl_pop_logs(r->ctl, r->logs + r->nlogs, TH_RIG_MAX_LOGS - r->nlogs);
	return r->nlogs;
}

bool th_rig_said(struct th_rig *r, unsigned event, int dev, struct ctl_log *out)
{
	th_rig_drain(r);
	for (unsigned k = 0; k < r->nlogs; k++) {
		const struct ctl_log *ev = &r->logs[k];

		if (ev->event != event || (dev >= 0 && ev->dev != (unsigned)dev))
			continue;
		if (out)
			*out = *ev;
		return true;
	}
	return false;
}

void th_rig_dump(struct th_rig *r)
{
	char line[256];

	th_rig_drain(r);
	for (unsigned k = 0; k < r->nlogs; k++) {
		ctl_format_log(r->ctl, &r->logs[k], line, sizeof(line));
		print_message("  event: %s\n", line);
	}
}
