// SPDX-License-Identifier: MIT
/*
 * RT(ctl): the control thread, a PLC-style scan cycle. At each grid deadline: poll every
 * device, take samples until all arrived or the read window closed, decide (strategy, then
 * the safety filter per BESS), push the writes, publish the snapshot. Nothing here allocates,
 * prints or locks; what people should hear about goes into the log ring as an event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "control/ctl_int.h"
#include "rt/clock.h"
#include "rt/probe.h"

static void log_event(struct ctl *c, uint16_t event, unsigned dev, int err, double a, double b)
{
	struct ctl_log ev = { .t_ns = clk_now_ns(),
			      .event = event,
			      .dev = (uint16_t)dev,
			      .err = err,
			      .a = a,
			      .b = b };

	ring_push(&c->log, &ev); /* full: counted as a drop, never waited on */
}

static void push_write(struct ctl *c, unsigned bess, uint16_t addr, uint16_t value)
{
	struct eng_cmd w = { .kind = ENG_CMD_WRITE,
			     .fc = MB_FC_WRITE_SINGLE_REGISTER,
			     .dev = (uint16_t)bess,
			     .addr = addr,
			     .count = 1,
			     .cycle = c->cycle,
			     .t_push_ns = clk_now_ns(),
			     .values = { value } };

	eng_submit(c->eng, &w, 1);
}

/* ---- messages from the engine ------------------------------------------------------- */

static void on_bess_sample(struct ctl *c, unsigned i, const struct eng_msg *m, int64_t now)
{
	const struct cfg_bess *cb = &c->cfg->bess[i];
	struct ctl_bess *b = &c->bess[i];
	uint16_t old_status = b->status;

	if (m->err) {
		b->last_err = m->err;
		return;
	}
	prof_decode_block(&pp_profile, m->block, MB_ORDER_ABCD, m->data.regs, m->count, 0, b->v);
	b->status = (uint16_t)b->v[PP_PT_STATUS].value;
	b->command_source = (uint16_t)b->v[PP_PT_COMMAND_SOURCE].value;
	b->blocks = (uint16_t)b->v[PP_PT_AVAILABLE_BLOCKS].value;
	b->soe_pct = b->v[PP_PT_SOE].value / cb->soe_scale;
	if (b->last_ok_ns && b->status != old_status)
		log_event(c, CTL_EV_STATUS, i, 0, b->status, old_status);
	b->last_ok_ns = m->t_done_ns;
	b->last_err = 0;
	hist_record(&c->soe_read, now - m->t_cmd_ns);
	FLUX_PROBE(sample_consumed, i, m->cycle, (int64_t)(b->soe_pct * 100), m->t_cmd_ns);

	/* Command source: verify a claim with a read made after its ack; watch it after. */
	if (b->claim == CLAIM_VERIFY && m->t_sent_ns > b->claim_ack_ns) {
		if (b->command_source == cb->command_source_id) {
			b->claim = CLAIM_HELD;
			log_event(c, CTL_EV_CLAIMED, i, 0, 0, 0);
		} else {
			b->claim = CLAIM_LOST;
			log_event(c, CTL_EV_SOURCE_LOST, i, 0, b->command_source, 0);
		}
	} else if (b->claim == CLAIM_HELD && b->command_source != cb->command_source_id) {
		b->claim = CLAIM_LOST;
		log_event(c, CTL_EV_SOURCE_LOST, i, 0, b->command_source, 0);
	}
}

static void on_meter_sample(struct ctl *c, unsigned j, const struct eng_msg *m)
{
	struct ctl_meter *mt = &c->meters[j];
	bool is_whole = true;

	if (m->err) {
		mt->last_err = m->err;
		return;
	}
	prof_decode_block(&acu_profile, m->block, c->cfg->meters[j].word_order, m->data.regs,
			  m->count, 0, mt->v);
	mt->block_cycle[m->block] = m->cycle;
	/* Fresh only when every block of the meter was read in the same cycle. */
	for (unsigned b = 0; b < acu_profile.n_blocks; b++)
		is_whole &= mt->block_cycle[b] == m->cycle;
	if (is_whole && mt->v[ACU_PT_POWER_TOTAL].is_valid) {
		mt->last_ok_ns = m->t_done_ns;
		mt->last_err = 0;
	}
}

static void on_ack(struct ctl *c, unsigned i, const struct eng_msg *m)
{
	struct ctl_bess *b = &c->bess[i];

	if (m->err == -ENG_ESUPERSEDED)
		return; /* a newer write took its place; its own ack follows */
	if (m->addr == PP_REG_COMMAND_SOURCE) {
		if (b->claim != CLAIM_SENT)
			return;
		if (m->err) {
			b->claim = CLAIM_NEEDED;
			b->last_err = m->err;
			log_event(c, CTL_EV_CLAIM_FAILED, i, m->err, 0, 0);
		} else {
			b->claim = CLAIM_VERIFY;
			b->claim_ack_ns = m->t_done_ns;
		}
		return;
	}
	if (m->addr != PP_REG_TARGET_POWER)
		return;
	if (m->err) {
		/* Refused (e.g. 0x03 out of limits): reported, not retried blindly. */
		b->last_err = m->err;
		log_event(c, CTL_EV_WRITE_FAILED, i, m->err, mb_get_i16(m->data.regs[0]), 0);
		return;
	}
	b->acked_kw = mb_get_i16(m->data.regs[0]);
	hist_record(&c->setpoint_write, m->t_done_ns - m->t_cmd_ns);
	FLUX_PROBE(write_ack, i, (int64_t)b->acked_kw, m->cycle, m->t_done_ns);
}

/* Returns 1 if m is a sample of the current cycle (one of those the window waits for). */
static int on_msg(struct ctl *c, const struct eng_msg *m, int64_t now)
{
	unsigned nbess = c->cfg->nbess;

	if (m->dev >= c->ndev)
		return 0;
	if (m->kind == ENG_MSG_WRITE_ACK) {
		if (m->dev < nbess)
			on_ack(c, m->dev, m);
		return 0;
	}
	if (m->dev < nbess)
		on_bess_sample(c, m->dev, m, now);
	else
		on_meter_sample(c, m->dev - nbess, m);
	return m->cycle == c->cycle;
}

/* Take messages until every sample of this cycle arrived or the deadline passed. */
static void gather(struct ctl *c, int64_t deadline_ns)
{
	unsigned got = 0;

	while (got < c->nblocks) {
		unsigned n = eng_pop(c->eng, c->msgs, CTL_MSG_BATCH);
		int64_t now = clk_now_ns();

		for (unsigned k = 0; k < n; k++)
			got += (unsigned)on_msg(c, &c->msgs[k], now);
		if (n)
			continue;
		if (now >= deadline_ns || eng_wait(c->eng, deadline_ns) == -ETIMEDOUT)
			break;
	}
	/* Whatever else is already there (acks, late samples) is taken now, not next cycle. */
	for (unsigned n; (n = eng_pop(c->eng, c->msgs, CTL_MSG_BATCH));) {
		int64_t now = clk_now_ns();

		for (unsigned k = 0; k < n; k++)
			on_msg(c, &c->msgs[k], now);
	}
}

/* ---- deciding ----------------------------------------------------------------------- */

static bool is_fresh(int64_t last_ok_ns, int64_t now, int64_t stale_after_ns)
{
	return last_ok_ns && now - last_ok_ns <= stale_after_ns;
}

/* Freshness of every device, with an event on each change. */
static void update_freshness(struct ctl *c, int64_t now)
{
	int64_t stale = c->cfg->site.stale_after_ns;

	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		struct ctl_bess *b = &c->bess[i];
		bool f = is_fresh(b->last_ok_ns, now, stale);

		if (f != b->is_fresh)
			log_event(c, f ? CTL_EV_FRESH : CTL_EV_STALE, i, b->last_err, 0, 0);
		b->is_fresh = f;
	}
	for (unsigned j = 0; j < c->cfg->nmeters; j++) {
		struct ctl_meter *m = &c->meters[j];
		bool f = is_fresh(m->last_ok_ns, now, stale);

		if (f != m->is_fresh)
			log_event(c, f ? CTL_EV_FRESH : CTL_EV_STALE, c->cfg->nbess + j,
				  m->last_err, 0, 0);
		m->is_fresh = f;
	}
}

/* Claim command sources that need it (at start, after a reconnect). */
static void claim_sources(struct ctl *c, int64_t now)
{
	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		struct ctl_bess *b = &c->bess[i];
		const struct eng_counters *k = eng_counters(c->eng, i);
		uint64_t connects = atomic_load_explicit(&k->connects, memory_order_relaxed);

		if (connects != b->connects_seen) {
			b->connects_seen = connects;
			b->claim = CLAIM_NEEDED;
		}
		if (b->claim == CLAIM_SENT && now - b->claim_sent_ns > CTL_CLAIM_RETRY_NS)
			b->claim = CLAIM_NEEDED; /* the ack never came */
		if (b->claim != CLAIM_NEEDED || !b->is_fresh ||
		    now - b->claim_sent_ns < CTL_CLAIM_RETRY_NS)
			continue;
		push_write(c, i, PP_REG_COMMAND_SOURCE,
			   (uint16_t)c->cfg->bess[i].command_source_id);
		b->claim = CLAIM_SENT;
		b->claim_sent_ns = now;
		log_event(c, CTL_EV_CLAIM, i, 0, c->cfg->bess[i].command_source_id, 0);
	}
}

static void decide(struct ctl *c, int64_t now)
{
	const struct cfg_site *site = &c->cfg->site;
	const struct cfg *cfg = c->cfg;
	bool needs_grid = site->mode == CFG_STRATEGY_PEAK_SHAVING, is_valid;
	const struct ctl_meter *grid =
	    site->grid_meter_index >= 0 ? &c->meters[site->grid_meter_index] : NULL;
	struct site_view v = { .nbess = cfg->nbess, .bess = c->views };
	double site_kw;

	v.has_grid = grid && grid->is_fresh;
	v.grid_kw = grid ? grid->v[ACU_PT_POWER_TOTAL].value : 0;
	if (!c->has_started && (!needs_grid || v.has_grid)) {
		c->has_started = true;
		log_event(c, CTL_EV_INPUTS_FRESH, 0, 0, 0, 0);
	}
	for (unsigned i = 0; i < cfg->nbess; i++) {
		const struct ctl_bess *b = &c->bess[i];
		const struct cfg_bess *cb = &cfg->bess[i];
		struct bess_view *bv = &c->views[i];
		double blocks_kw = b->blocks * (double)cb->block_kw;

		bv->is_fresh = b->is_fresh;
		bv->is_ready = b->status == cb->status_ready;
		bv->is_ours = b->claim == CLAIM_HELD;
		bv->soe_pct = b->soe_pct;
		bv->available_kw = blocks_kw < cb->power_kw ? blocks_kw : cb->power_kw;
		/* What it delivers now: only what it was told while READY and ours. */
		bv->setpoint_kw = bv->is_ready && bv->is_ours ? b->acked_kw : 0;
	}
	v.prev_site_kw = c->snap.site_kw;
	site_kw = strat_site_kw(site, &v, &is_valid);
	strat_share(site, &v, site_kw, c->share_kw);
	c->snap.site_kw = site_kw;
	c->snap.is_valid = is_valid;

	for (unsigned i = 0; i < cfg->nbess; i++) {
		struct ctl_bess *b = &c->bess[i];
		bool inputs = c->has_started && is_valid && (!needs_grid || v.has_grid);
		struct safety_out out =
		    safety_filter(site, &cfg->bess[i], &c->views[i], inputs, c->share_kw[i],
				  c->views[i].setpoint_kw, site->cycle_ns);
		int kw;

		b->reasons = out.reasons | (c->has_started ? 0 : SAFETY_NOT_STARTED);
		if (!out.may_write)
			continue;
		kw = (int)lround(out.kw);
		/* Write on change, and at least every heartbeat (the BESS may watch for it). */
		if (b->has_written && kw == b->last_written_kw &&
		    now - b->last_write_ns < site->heartbeat_ns)
			continue;
		push_write(c, i, PP_REG_TARGET_POWER, mb_from_i16((int16_t)kw));
		FLUX_PROBE(setpoint_push, i, kw, PP_REG_TARGET_POWER, c->cycle);
		b->last_written_kw = kw;
		b->writes++;
		b->has_written = true;
		b->last_write_ns = now;
	}
}

/* ---- publishing --------------------------------------------------------------------- */

static void publish(struct ctl *c, int64_t now)
{
	struct ctl_snapshot *s = &c->snap;

	s->cycles = c->cyc.cycles;
	s->overruns = c->cyc.overruns;
	s->t_ns = c->cyc.start_ns;
	s->has_started = c->has_started;
	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		const struct ctl_bess *b = &c->bess[i];
		struct ctl_bess_snap *o = &s->bess[i];

		o->soe_pct = b->soe_pct;
		o->setpoint_kw = b->acked_kw;
		o->status = b->status;
		o->command_source = b->command_source;
		o->blocks = b->blocks;
		o->is_fresh = b->is_fresh;
		o->is_ready = c->views[i].is_ready;
		o->is_ours = b->claim == CLAIM_HELD;
		o->reasons = b->reasons;
		o->last_err = b->last_err;
		o->writes = b->writes;
	}
	for (unsigned j = 0; j < c->cfg->nmeters; j++) {
		s->meters[j].power_kw = c->meters[j].v[ACU_PT_POWER_TOTAL].value;
		s->meters[j].is_fresh = c->meters[j].is_fresh;
		s->meters[j].last_err = c->meters[j].last_err;
	}
	if (now - c->stats_ns >= CTL_STATS_NS) {
		ctl_lat_of(&c->jitter, &s->jitter);
		ctl_lat_of(&c->soe_read, &s->soe_read);
		ctl_lat_of(&c->setpoint_write, &s->setpoint_write);
		c->stats_ns = now;
	}
	seqlock_write(&c->snap_pub, s);
	atomic_store_explicit(&c->cycles, c->cyc.cycles, memory_order_relaxed);
}

/* ---- stop: 0 kW everywhere, bounded -------------------------------------------------- */

static void shutdown_bess(struct ctl *c)
{
	int64_t deadline = clk_now_ns() + CTL_STOP_TIMEOUT_NS;
	unsigned want = 0, acked = 0;
	bool pending[CFG_MAX_BESS] = { false };

	log_event(c, CTL_EV_STOPPING, 0, 0, 0, 0);
	c->cycle++;
	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		/* Only where we hold the source or ever wrote: another party's BESS is theirs. */
		if (c->bess[i].claim != CLAIM_HELD && !c->bess[i].has_written)
			continue;
		push_write(c, i, PP_REG_TARGET_POWER, 0);
		pending[i] = true;
		want++;
	}
	while (acked < want && clk_now_ns() < deadline) {
		unsigned n = eng_pop(c->eng, c->msgs, CTL_MSG_BATCH);

		for (unsigned k = 0; k < n; k++) {
			const struct eng_msg *m = &c->msgs[k];

			if (m->kind != ENG_MSG_WRITE_ACK || m->dev >= c->cfg->nbess ||
			    m->cycle != c->cycle || !pending[m->dev])
				continue;
			pending[m->dev] = false;
			if (m->err == 0) {
				c->bess[m->dev].acked_kw = 0;
				acked++;
			} else {
				want--; /* failed: reported below as not acknowledged */
				c->bess[m->dev].last_err = m->err;
				log_event(c, CTL_EV_WRITE_FAILED, m->dev, m->err, 0, 0);
			}
		}
		if (!n)
			eng_wait(c->eng, deadline);
	}
	log_event(c, CTL_EV_STOPPED, 0, 0, acked, c->cfg->nbess);
}

void *ctl_loop_main(void *arg)
{
	struct ctl *c = arg;

	log_event(c, CTL_EV_STARTED, 0, 0, (double)c->cfg->site.cycle_ns / 1e6, c->ndev);
	c->stats_ns = clk_now_ns();
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		int64_t t0, now;
		int skipped = cyc_wait(&c->cyc);

		if (skipped > 0)
			log_event(c, CTL_EV_OVERRUN, 0, 0, skipped, 0);
		/* Test hook: a stuck cycle (the watchdog must notice). */
		while (atomic_load_explicit(&c->stall, memory_order_relaxed) &&
		       !atomic_load_explicit(&c->stop, memory_order_relaxed))
			clock_nanosleep(CLOCK_MONOTONIC, 0,
					&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		t0 = c->cyc.start_ns;
		c->cycle++;
		FLUX_PROBE(cycle_start, c->cycle, c->cyc.start_ns, c->cyc.wake_ns);
		for (unsigned d = 0; d < c->ndev; d++)
			c->cmds[d] = (struct eng_cmd){ .kind = ENG_CMD_POLL,
						       .dev = (uint16_t)d,
						       .cycle = c->cycle,
						       .t_push_ns = clk_now_ns() };
		FLUX_PROBE(poll_push, c->cycle, c->ndev, c->cmds[0].t_push_ns);
		eng_submit(c->eng, c->cmds, c->ndev);
		gather(c, t0 + c->cfg->site.read_window_ns);
		now = clk_now_ns();
		update_freshness(c, now);
		claim_sources(c, now);
		decide(c, now);
		publish(c, now);
		FLUX_PROBE(cycle_end, c->cycle, t0, clk_now_ns());
	}
	shutdown_bess(c);
	publish(c, clk_now_ns());
	return NULL;
}
