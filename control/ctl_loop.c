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

/* Push one FC06 write (arming the I/O thread's fail-safe while we hold the BESS). Returns
 * true if the command ring took it. */
static bool push_write(struct ctl *c, unsigned bess, uint16_t addr, uint16_t value)
{
	struct eng_cmd w = { .kind = ENG_CMD_WRITE,
			     .flags = c->bess[bess].claim == CLAIM_HELD ? ENG_CMDF_ARM : 0,
			     .fc = MB_FC_WRITE_SINGLE_REGISTER,
			     .dev = (uint16_t)bess,
			     .addr = addr,
			     .count = 1,
			     .cycle = c->cycle,
			     .t_push_ns = clk_now_ns(),
			     .values = { value } };

	return eng_submit(c->eng, &w, 1) == 1;
}

/* RT(ctl): the engineering value of a one-register point from its raw register. */
static double reg_value(const struct prof_point *pt, uint16_t raw)
{
	double v = pt->type == PROF_I16 ? (double)mb_get_i16(raw) : (double)raw;

	return v / pt->scale + pt->offset;
}

/* RT(ctl): the kW a write of the target power register carried. */
static double written_kw(const struct ctl_bess *b, uint16_t raw)
{
	return reg_value(&b->r.p->points[b->r.target], raw);
}

/* Push a setpoint (the target power role) and account for it: one ack per push comes back. */
static void push_setpoint(struct ctl *c, unsigned i, int kw, int64_t now)
{
	struct ctl_bess *b = &c->bess[i];
	uint16_t raw[2];

	/* One register (config.c checks); out of the type's range: not written. */
	if (prof_encode(b->r.p, (unsigned)b->r.target, b->r.order, kw, raw) != 1)
		return;
	/* Before the push: once the command is in the ring, the I/O thread may send it and
	 * parse its echo before this thread runs again, and fluxtrace would pair that echo
	 * with nothing and this push with the next echo at the address (seconds later). */
	FLUX_PROBE(setpoint_push, i, kw, b->r.target_addr, c->cycle);
	if (!push_write(c, i, b->r.target_addr, raw[0]))
		return; /* counted as a drop; the next cycle decides again */
	if (!b->in_flight++)
		b->oldest_push_ns = now;
	b->last_written_kw = kw;
	strat_hist_push(&b->hist, now, kw); /* what it may act on from now (policy.h) */
	b->writes++;
	b->has_written = true;
	b->last_write_ns = now;
}

/* ---- the command source: a lock held by one master ------------------------------------ */

/* Write our id to a source that shows the BESS's default (free), at most once a retry period. */
static void claim(struct ctl *c, unsigned i, int64_t now)
{
	struct ctl_bess *b = &c->bess[i];
	uint16_t id = (uint16_t)c->cfg->bess[i].command_source_id;

	if (b->claim_sent_ns && now - b->claim_sent_ns < CTL_CLAIM_RETRY_NS) {
		b->claim = CLAIM_CHECK; /* decided again by a later read */
		b->check_ns = now;
		return;
	}
	if (!push_write(c, i, b->r.source_addr, id))
		return;
	b->claim = CLAIM_SENT;
	b->claim_sent_ns = now;
	log_event(c, CTL_EV_CLAIM, i, 0, id, 0);
}

static void lose(struct ctl *c, unsigned i, uint16_t holder)
{
	c->bess[i].claim = CLAIM_LOST;
	log_event(c, CTL_EV_SOURCE_LOST, i, 0, holder, 0);
}

/*
 * What a good read of 2010 means. Ours: held (or handed back). The BESS's default: free (it
 * restarted, or the other master let go): claim it. Anything else: another master holds it,
 * and nothing of ours is written, not even 0 kW. Reads sent before the state's own event
 * (a reconnect, our claim's ack) do not count.
 */
static void watch_source(struct ctl *c, unsigned i, const struct eng_msg *m, int64_t now)
{
	const struct cfg_bess *cb = &c->cfg->bess[i];
	struct ctl_bess *b = &c->bess[i];
	uint16_t src = b->command_source;
	bool is_ours = src == cb->command_source_id, is_free = src == cb->command_source_default;

	if (c->is_monitor)
		return;
	switch (b->claim) {
	case CLAIM_CHECK:
	case CLAIM_VERIFY:
		if (m->t_sent_ns <= (b->claim == CLAIM_CHECK ? b->check_ns : b->claim_ack_ns))
			return;
		if (is_ours) {
			b->claim = CLAIM_HELD;
			log_event(c, CTL_EV_CLAIMED, i, 0, src, 0);
		} else if (is_free) {
			claim(c, i, now);
		} else {
			lose(c, i, src);
		}
		return;
	case CLAIM_SENT:
		return; /* on_ack() moves on */
	case CLAIM_HELD:
		if (is_ours)
			return;
		if (is_free) {
			log_event(c, CTL_EV_SOURCE_RESET, i, 0, src, 0);
			claim(c, i, now);
		} else {
			lose(c, i, src);
		}
		return;
	case CLAIM_LOST:
		if (is_ours) {
			b->claim = CLAIM_HELD;
			log_event(c, CTL_EV_REARMED, i, 0, src, 0);
		} else if (is_free) {
			log_event(c, CTL_EV_SOURCE_RESET, i, 0, src, 0);
			claim(c, i, now);
		}
		return;
	}
}

/*
 * 2008 as read must be what the BESS last acknowledged from us, once no write of ours is in
 * flight and the read was sent after that ack. Anything else is someone else's write: alarm
 * and restore it now (the read came in this cycle's window, so within one cycle).
 */
static void watch_setpoint(struct ctl *c, unsigned i, const struct eng_msg *m, int64_t now)
{
	struct ctl_bess *b = &c->bess[i];
	int acked = (int)lround(b->acked_kw);

	if (b->claim != CLAIM_HELD || !b->has_acked || b->in_flight ||
	    m->t_sent_ns <= b->acked_ns || b->target_seen == acked)
		return;
	log_event(c, CTL_EV_FOREIGN_SETPOINT, i, 0, b->target_seen, acked);
	push_setpoint(c, i, acked, now);
}

/* ---- messages from the engine ------------------------------------------------------- */

/* RT(ctl): is block b of the device read each cycle now? */
static bool is_read(const struct ctl_reads *rd, unsigned b)
{
	return b < ENG_MAX_BLOCKS && (rd->active & (1u << b));
}

/* RT(ctl): a whole reading: every block the device is read by came in this cycle. */
static bool is_whole(const struct ctl_reads *rd, const uint32_t *block_cycle, uint32_t cycle)
{
	for (unsigned b = 0; b < rd->view.n_blocks; b++)
		if (is_read(rd, b) && block_cycle[b] != cycle)
			return false;
	return true;
}

/* RT(ctl): does block b of the device hold point idx (a role's; -1: none)? */
static bool holds(const struct ctl_reads *rd, unsigned b, int idx)
{
	return b < ENG_MAX_BLOCKS && idx >= 0 && (rd->holds[b] & (1u << idx));
}

/* A sample breaking the profile's ranges is an error, not fresh data: each role point of the
 * sample's block (held: bit per point) is judged. Returns 0 or -CTL_E*. */
static int check_bess(const struct ctl_roles *r, const struct cfg_bess *cb,
		      const struct prof_value *v, uint32_t held, double *value)
{
	double status = v[r->status].value, soe = v[r->soe].value;

	if ((held & (1u << r->status)) && status != cb->status_ready &&
	    !prof_enum_name(&r->p->points[r->status], (uint16_t)status)) {
		*value = status;
		return -CTL_ESTATUS_UNKNOWN;
	}
	if ((held & (1u << r->soe)) && !(soe >= 0 && soe <= 100.0 * cb->soe_scale)) {
		*value = soe;
		return -CTL_ESOE_RANGE;
	}
	if (r->blocks >= 0 && (held & (1u << r->blocks))) {
		double blocks = v[r->blocks].value;

		if (!(blocks >= 0 && blocks <= ceil((double)cb->power_kw / cb->block_kw))) {
			*value = blocks;
			return -CTL_EBLOCKS_RANGE;
		}
	}
	return 0;
}

/* RT(ctl): a bit-field point's word (role point idx; -1: none), 0 when not valid. */
static uint32_t word_of(const struct prof_value *v, int idx)
{
	if (idx < 0 || !v[idx].is_valid || !(v[idx].value >= 0 && v[idx].value <= UINT32_MAX))
		return 0;
	return (uint32_t)v[idx].value;
}

/*
 * RT(ctl): a max charge/discharge reading fit to be a limit: valid, a magnitude (>= 0) and
 * within the point's plausible range. Anything else is no limit: the rated ones apply.
 */
static bool is_max_ok(const struct ctl_roles *r, int idx, const struct prof_value *v)
{
	const struct prof_point *pt;
	double x;

	if (idx < 0 || !v[idx].is_valid)
		return false;
	pt = &r->p->points[idx];
	x = v[idx].value;
	return isfinite(x) && x >= 0 &&
	       (!pt->has_range || (x >= pt->range_lo && x <= pt->range_hi));
}

/*
 * RT(ctl): the optional roles of a BESS from its values: measured power, the reported limits,
 * the alarm and fault words, each change of a word said once. A fault bit is acted on in
 * decide() (not READY, as status FAULT); alarms are only shown.
 */
static void take_roles(struct ctl *c, unsigned i)
{
	struct ctl_bess *b = &c->bess[i];
	const struct ctl_roles *r = &b->r;
	uint32_t alarms = word_of(b->v, r->alarms), faults = word_of(b->v, r->faults);

	b->active_kw = r->active_power >= 0 && b->v[r->active_power].is_valid
			   ? b->v[r->active_power].value
			   : NAN;
	b->has_max_charge = is_max_ok(r, r->max_charge, b->v);
	b->max_charge_kw = b->has_max_charge ? b->v[r->max_charge].value : NAN;
	b->has_max_discharge = is_max_ok(r, r->max_discharge, b->v);
	b->max_discharge_kw = b->has_max_discharge ? b->v[r->max_discharge].value : NAN;
	if (faults != b->faults)
		log_event(c, faults ? CTL_EV_FAULTED : CTL_EV_FAULT_CLEARED, i, 0, faults,
			  b->faults);
	if (alarms != b->alarms)
		log_event(c, CTL_EV_ALARMS, i, 0, alarms, b->alarms);
	b->faults = faults;
	b->alarms = alarms;
}

/*
 * A good sample of one block: decoded into the BESS's values, checked, taken. The BESS is
 * fresh once every block it is read by came in the same cycle (one block, as the shipped
 * powerpack plans it: each sample); the command source and the target power are judged only
 * on a sample of the block that holds them, so a read of another block never stands for a
 * read of 2010 or 2008 (several blocks: a site's profile, or a 0x02 fallback's split).
 */
static void on_bess_sample(struct ctl *c, unsigned i, const struct eng_msg *m, int64_t now)
{
	const struct cfg_bess *cb = &c->cfg->bess[i];
	struct ctl_bess *b = &c->bess[i];
	const struct ctl_roles *r = &b->r;
	const struct ctl_reads *rd = &c->reads[i];
	struct prof_value v[PROF_MAX_POINTS];
	uint16_t old_status = b->status;
	double bad = 0;
	int err;

	if (m->err) {
		/* Superseded is no fault: the newer poll's own sample follows. */
		if (m->err != -ENG_ESUPERSEDED)
			b->last_err = m->err;
		return;
	}
	memcpy(v, b->v, sizeof(v));
	prof_decode_block(&c->reads[i].view, m->block, r->order, m->data.regs, m->count, 0, v);
	err = check_bess(r, cb, v, m->block < ENG_MAX_BLOCKS ? rd->holds[m->block] : 0, &bad);
	if (err) {
		if (!b->is_implausible || b->last_err != err)
			log_event(c, CTL_EV_IMPLAUSIBLE, i, err, bad, 0);
		b->is_implausible = true;
		b->last_err = err;
		return;
	}
	b->is_implausible = false;
	memcpy(b->v, v, sizeof(v));
	b->status = (uint16_t)v[r->status].value;
	b->command_source = (uint16_t)v[r->source].value;
	b->blocks = r->blocks >= 0 ? (uint16_t)v[r->blocks].value : 0;
	b->target_seen = (int)lround(v[r->target].value);
	b->soe_pct = v[r->soe].value / cb->soe_scale;
	take_roles(c, i);
	if (b->last_ok_ns && b->status != old_status)
		log_event(c, CTL_EV_STATUS, i, 0, b->status, old_status);
	if (m->block < ENG_MAX_BLOCKS)
		b->block_cycle[m->block] = m->cycle;
	if (is_whole(rd, b->block_cycle, m->cycle)) {
		b->last_ok_ns = m->t_done_ns;
		b->last_err = 0;
	}
	if (holds(rd, m->block, r->soe)) {
		hist_record(&c->soe_read, now - m->t_cmd_ns);
		FLUX_PROBE(sample_consumed, i, m->cycle, (int64_t)(b->soe_pct * 100), m->t_cmd_ns);
	}
	if (holds(rd, m->block, r->source))
		watch_source(c, i, m, now);
	if (holds(rd, m->block, r->target))
		watch_setpoint(c, i, m, now);
}

static void on_meter_sample(struct ctl *c, unsigned j, const struct eng_msg *m)
{
	struct ctl_meter *mt = &c->meters[j];
	const struct ctl_reads *rd = &c->reads[c->cfg->nbess + j];

	if (m->err) {
		if (m->err != -ENG_ESUPERSEDED)
			mt->last_err = m->err;
		return;
	}
	if (m->block >= rd->view.n_blocks)
		return;
	prof_decode_block(&rd->view, m->block, mt->r.order, m->data.regs, m->count, 0, mt->v);
	mt->block_cycle[m->block] = m->cycle;
	/* Fresh only when every block the meter is read by was read in the same cycle. */
	if (is_whole(rd, mt->block_cycle, m->cycle) &&
	    (mt->r.grid_power < 0 || mt->v[mt->r.grid_power].is_valid)) {
		mt->last_ok_ns = m->t_done_ns;
		mt->last_err = 0;
		mt->readings++;
	}
}

static void on_claim_ack(struct ctl *c, unsigned i, const struct eng_msg *m)
{
	struct ctl_bess *b = &c->bess[i];

	if (b->claim != CLAIM_SENT || m->err == -ENG_ESUPERSEDED)
		return;
	if (m->err) {
		b->claim = CLAIM_CHECK;
		b->check_ns = m->t_done_ns;
		b->last_err = m->err;
		log_event(c, CTL_EV_CLAIM_FAILED, i, m->err, 0, 0);
		return;
	}
	b->claim = CLAIM_VERIFY;
	b->claim_ack_ns = m->t_done_ns;
}

static void on_ack(struct ctl *c, unsigned i, const struct eng_msg *m)
{
	const struct cfg_bess *cb = &c->cfg->bess[i];
	struct ctl_bess *b = &c->bess[i];

	if (m->flags & ENG_MSGF_FAILSAFE) {
		/* The I/O thread wrote 0 kW by itself while this thread was silent. */
		if (m->addr == b->r.target_addr && !m->err) {
			b->acked_kw = 0;
			b->has_acked = true;
			b->acked_ns = m->t_done_ns;
		}
		log_event(c, CTL_EV_FAILSAFE, i, m->err, 0, 0);
		return;
	}
	if (m->addr == b->r.source_addr) {
		on_claim_ack(c, i, m);
		return;
	}
	if (cb->heartbeat_register >= 0 && m->addr == cb->heartbeat_register) {
		if (m->err && m->err != -ENG_ESUPERSEDED && m->err != b->heartbeat_err)
			log_event(c, CTL_EV_HEARTBEAT_FAILED, i, m->err, m->addr, 0);
		if (m->err != -ENG_ESUPERSEDED)
			b->heartbeat_err = m->err;
		return;
	}
	if (m->addr != b->r.target_addr)
		return;
	if (b->in_flight)
		b->in_flight--;
	if (m->err == -ENG_ESUPERSEDED)
		return; /* a newer write took its place; its own ack follows */
	if (m->err) {
		/* Refused (e.g. 0x03 out of limits): reported, not retried blindly. Never
		 * answered: an alarm, once until a write is acknowledged again. */
		bool is_silent = m->err == -ETIMEDOUT;

		if (!is_silent || b->write_err != m->err)
			log_event(c, is_silent ? CTL_EV_NO_ACK : CTL_EV_WRITE_FAILED, i, m->err,
				  written_kw(b, m->data.regs[0]), m->attempts);
		b->write_err = m->err;
		return;
	}
	b->acked_kw = written_kw(b, m->data.regs[0]);
	b->has_acked = true;
	b->acked_ns = m->t_done_ns;
	b->write_err = 0;
	hist_record(&c->setpoint_write, m->t_done_ns - m->t_cmd_ns);
	FLUX_PROBE(write_ack, i, (int64_t)b->acked_kw, m->cycle, m->t_done_ns);
}

/*
 * A planned block that spans a hole, refused with exception 0x02: some devices refuse a read
 * across registers they lack. From the next poll on, its points are read by the split blocks
 * ctl_open() registered for it (struct ctl_reads): its bit goes, theirs come, said once (the
 * bit is gone after, so a late sample of it cannot say it again). The refusal is the switch,
 * not the device's error. A block with no split, or a split refused in turn, stays an error
 * like any other. Returns true if m was such a refusal.
 */
static bool fall_back(struct ctl *c, const struct eng_msg *m)
{
	struct ctl_reads *rd = &c->reads[m->dev];
	unsigned b = m->block;

	if (m->err != -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS) || b >= rd->n_plan || !rd->split_n[b] ||
	    !is_read(rd, b))
		return false;
	rd->active &= (uint8_t) ~(1u << b);
	rd->active |= (uint8_t)(((1u << rd->split_n[b]) - 1) << rd->split_first[b]);
	rd->n_active = (uint8_t)(rd->n_active + rd->split_n[b] - 1);
	log_event(c, CTL_EV_BLOCK_SPLIT, m->dev, m->err, b, rd->split_n[b]);
	return true;
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
	/* A block no longer read (a late sample from before a fallback) tells nothing new. */
	if (fall_back(c, m) || !is_read(&c->reads[m->dev], m->block))
		return m->cycle == c->cycle;
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

/* Freshness of every device, with an event on each change, and a device's first failure
 * when it was never fresh (it would otherwise never be heard of). */
static void update_freshness(struct ctl *c, int64_t now)
{
	int64_t stale = c->site.stale_after_ns;

	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		struct ctl_bess *b = &c->bess[i];
		bool f = is_fresh(b->last_ok_ns, now, stale);

		if (f != b->is_fresh)
			log_event(c, f ? CTL_EV_FRESH : CTL_EV_STALE, i, b->last_err, 0, 0);
		b->is_fresh = f;
		if (!b->last_ok_ns && b->last_err && !b->has_said_err) {
			log_event(c, CTL_EV_NO_ANSWER, i, b->last_err, 0, 0);
			b->has_said_err = true;
		}
	}
	for (unsigned j = 0; j < c->cfg->nmeters; j++) {
		struct ctl_meter *m = &c->meters[j];
		bool f = is_fresh(m->last_ok_ns, now, stale);

		if (f != m->is_fresh)
			log_event(c, f ? CTL_EV_FRESH : CTL_EV_STALE, c->cfg->nbess + j,
				  m->last_err, 0, 0);
		m->is_fresh = f;
		if (!m->last_ok_ns && m->last_err && !m->has_said_err) {
			log_event(c, CTL_EV_NO_ANSWER, c->cfg->nbess + j, m->last_err, 0, 0);
			m->has_said_err = true;
		}
	}
}

/*
 * After every (re)connect a BESS's command source is read before anything is written to it:
 * the engine counts connects, and a new one sends the BESS back to CLAIM_CHECK. A claim whose
 * ack never came is checked again; writes never answered at all become an alarm.
 */
static void claim_sources(struct ctl *c, int64_t now)
{
	int64_t lost_ns =
	    c->site.stale_after_ns > CTL_ACK_LOST_NS ? c->site.stale_after_ns : CTL_ACK_LOST_NS;

	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		struct ctl_bess *b = &c->bess[i];
		const struct eng_counters *k = eng_counters(c->eng, i);
		uint64_t connects = atomic_load_explicit(&k->connects, memory_order_relaxed);

		if (connects != b->connects_seen) {
			b->connects_seen = connects;
			if (b->claim != CLAIM_LOST)
				b->claim = CLAIM_CHECK;
			b->check_ns = now;
		}
		if (b->claim == CLAIM_SENT && now - b->claim_sent_ns > 5 * CTL_CLAIM_RETRY_NS) {
			b->claim = CLAIM_CHECK; /* the ack never came */
			b->check_ns = now;
		}
		if (b->in_flight && now - b->oldest_push_ns > lost_ns) {
			b->in_flight = 0;
			b->write_err = -CTL_ENOACK;
			log_event(c, CTL_EV_NO_ACK, i, -CTL_ENOACK, b->last_written_kw, 0);
		}
	}
}

/* Every needed input fresh: each BESS, the grid meter where the strategy needs it, and in a
 * meter-only site every meter. */
static bool are_inputs_fresh(const struct ctl *c, bool has_grid)
{
	const struct cfg *cfg = c->cfg;

	if ((c->site.mode == CFG_STRATEGY_PEAK_SHAVING ||
	     c->site.mode == CFG_STRATEGY_FREQUENCY_RESPONSE) &&
	    !has_grid)
		return false;
	for (unsigned i = 0; i < cfg->nbess; i++)
		if (!c->bess[i].is_fresh)
			return false;
	if (cfg->nbess == 0)
		for (unsigned j = 0; j < cfg->nmeters; j++)
			if (!c->meters[j].is_fresh)
				return false;
	return cfg->nbess + cfg->nmeters > 0;
}

/* peak_shaving at full power and still over a limit for CTL_LIMIT_WARN_NS: WARN; INFO once
 * the grid is inside the band again. */
static void watch_limit(struct ctl *c, const struct site_view *v, double site_kw, double dis,
			double chg, int64_t now)
{
	const struct cfg_site *site = &c->site;
	double g = v->grid_kw;
	bool is_over, is_inside;

	if (site->mode != CFG_STRATEGY_PEAK_SHAVING || !v->has_grid)
		return;
	is_over =
	    (g > site->import_limit_kw + CTL_LIMIT_TOL_KW && site_kw >= dis - CTL_LIMIT_TOL_KW) ||
	    (g < -site->export_limit_kw - CTL_LIMIT_TOL_KW && site_kw <= -chg + CTL_LIMIT_TOL_KW);
	is_inside = g <= site->import_limit_kw + CTL_LIMIT_TOL_KW &&
		    g >= -site->export_limit_kw - CTL_LIMIT_TOL_KW;
	if (!is_over) {
		c->unheld_since_ns = 0;
	} else if (!c->unheld_since_ns) {
		c->unheld_since_ns = now;
	} else if (!c->is_unheld && now - c->unheld_since_ns >= CTL_LIMIT_WARN_NS) {
		c->is_unheld = true;
		log_event(c, CTL_EV_LIMIT_UNHELD, 0, 0, g,
			  g > 0 ? site->import_limit_kw : -site->export_limit_kw);
	}
	if (c->is_unheld && is_inside) {
		c->is_unheld = false;
		log_event(c, CTL_EV_LIMIT_HELD, 0, 0, g,
			  g > 0 ? site->import_limit_kw : -site->export_limit_kw);
	}
}

/*
 * RT(ctl): what BESS i may be delivering now, into its view: what it measures (active_power,
 * fresh and valid), else the range of the setpoints pushed within its response window; 0 when
 * it delivers nothing of ours (not READY, not ours: its history starts again).
 */
static void take_power(struct ctl *c, unsigned i, int64_t now)
{
	struct ctl_bess *b = &c->bess[i];
	struct bess_view *bv = &c->views[i];
	int64_t rt = c->cfg->bess[i].response_time_ns;

	if (!bv->is_ready || !bv->is_ours) {
		strat_hist_reset(&b->hist);
		bv->power_lo_kw = bv->power_hi_kw = 0;
	} else if (b->r.active_power >= 0 && isfinite(b->active_kw) && b->is_fresh) {
		bv->power_lo_kw = bv->power_hi_kw = b->active_kw;
	} else {
		strat_hist_range(
		    &b->hist, now,
		    strat_window_ns(rt > 0 ? rt : CFG_RESPONSE_TIME_NS, c->site.cycle_ns),
		    &bv->power_lo_kw, &bv->power_hi_kw);
	}
}

/* RT(ctl): the grid meter's frequency (its frequency role), when fresh and valid. */
static void take_frequency(const struct ctl_meter *grid, struct site_view *v)
{
	int fi = grid ? prof_role_point(grid->r.p, PROF_ROLE_FREQUENCY) : -1;

	v->has_freq = grid && grid->is_fresh && fi >= 0 && grid->v[fi].is_valid &&
		      isfinite(grid->v[fi].value);
	v->freq_hz = v->has_freq ? grid->v[fi].value : 0;
}

static void decide(struct ctl *c, int64_t now)
{
	const struct cfg_site *site = &c->site;
	const struct cfg *cfg = c->cfg;
	bool needs_grid = site->mode == CFG_STRATEGY_PEAK_SHAVING ||
			  site->mode == CFG_STRATEGY_FREQUENCY_RESPONSE,
	     is_valid, inputs;
	const struct ctl_meter *grid =
	    site->grid_meter_index >= 0 ? &c->meters[site->grid_meter_index] : NULL;
	struct site_view v = { .nbess = cfg->nbess, .bess = c->views };
	double site_kw, dis = 0, chg = 0;
	unsigned usable = 0;

	v.has_grid = grid && grid->is_fresh;
	v.grid_kw = grid && grid->r.grid_power >= 0 ? grid->v[grid->r.grid_power].value : 0;
	v.is_grid_repeat = grid && grid->readings == c->grid_seen;
	if (!c->has_started && are_inputs_fresh(c, v.has_grid)) {
		c->has_started = true;
		log_event(c, CTL_EV_INPUTS_FRESH, 0, 0, c->is_monitor, 0);
	}
	for (unsigned i = 0; i < cfg->nbess; i++) {
		const struct ctl_bess *b = &c->bess[i];
		const struct cfg_bess *cb = &cfg->bess[i];
		struct bess_view *bv = &c->views[i];
		double blocks_kw =
		    b->r.blocks >= 0 ? b->blocks * (double)cb->block_kw : (double)cb->power_kw;

		bv->is_fresh = b->is_fresh;
		/* A fault bit takes it out of READY as its status's FAULT code would. */
		bv->is_faulted = b->faults != 0;
		bv->is_ready = b->status == cb->status_ready && !bv->is_faulted;
		bv->is_ours = b->claim == CLAIM_HELD;
		bv->soe_pct = b->soe_pct;
		bv->available_kw = blocks_kw < cb->power_kw ? blocks_kw : cb->power_kw;
		/* Limits from a fresh reading only; a stale BESS gets 0 kW anyway. */
		bv->has_max_charge = b->has_max_charge && b->is_fresh;
		bv->max_charge_kw = b->max_charge_kw;
		bv->has_max_discharge = b->has_max_discharge && b->is_fresh;
		bv->max_discharge_kw = b->max_discharge_kw;
		/* What it delivers now: only what it was told while READY and ours. */
		bv->setpoint_kw = bv->is_ready && bv->is_ours ? b->acked_kw : 0;
		take_power(c, i, now);
		usable += bv->is_fresh;
	}
	v.prev_site_kw = c->strat_kw;
	take_frequency(grid, &v);
	/* The load past the BESS's response, once per new grid reading (policy.h). */
	if (v.has_grid && !v.is_grid_repeat) {
		c->load_kw = strat_load_kw(&v, c->load_kw, c->has_load);
		c->has_load = true;
	}
	v.has_load = c->has_load && v.has_grid;
	v.load_kw = c->load_kw;
	site_kw = strat_site_kw(site, &v, &is_valid);
	strat_room(site, &v, &dis, &chg);
	/* The strategy's state survives a short outage: control resumes where it was. */
	if (is_valid && dis + chg > 0) {
		c->strat_kw = site_kw;
		c->strat_ok_ns = now;
		if (grid)
			c->grid_seen = grid->readings;
	} else if (now - c->strat_ok_ns > CTL_STRAT_HOLD_NS) {
		c->strat_kw = 0;
		c->has_load = false; /* a long outage: estimate afresh */
	}
	if (!is_valid)
		site_kw = 0;
	strat_share(site, &v, site_kw, c->share_kw);
	watch_limit(c, &v, site_kw, dis, chg, now);
	inputs = c->has_started && is_valid && (!needs_grid || v.has_grid);
	c->snap.site_kw = site_kw;
	c->snap.is_valid = c->is_monitor ? are_inputs_fresh(c, v.has_grid) : inputs && usable > 0;

	for (unsigned i = 0; i < cfg->nbess; i++) {
		struct ctl_bess *b = &c->bess[i];
		const struct cfg_bess *cb = &cfg->bess[i];
		struct safety_out out;
		int kw;

		if (c->is_monitor) {
			b->reasons = SAFETY_MONITOR;
			continue;
		}
		out = safety_filter(site, cb, &c->views[i], inputs, c->share_kw[i],
				    c->views[i].setpoint_kw, site->cycle_ns);
		b->reasons = out.reasons | (c->has_started ? 0 : SAFETY_NOT_STARTED);
		/* Leaving READY leaves no setpoint behind to act on when it comes back. */
		if (b->was_ready && !c->views[i].is_ready && b->claim == CLAIM_HELD) {
			push_setpoint(c, i, 0, now);
			log_event(c, CTL_EV_LEFT_READY, i, 0, b->status, b->faults);
		}
		b->was_ready = c->views[i].is_ready;
		if (b->claim == CLAIM_HELD && cb->heartbeat_register >= 0)
			push_write(c, i, (uint16_t)cb->heartbeat_register, ++b->heartbeat);
		if (!out.may_write)
			continue;
		kw = (int)lround(out.kw);
		/* Write on change, and at least every heartbeat (the BESS may watch for it). */
		if (b->has_written && kw == b->last_written_kw &&
		    now - b->last_write_ns < site->heartbeat_ns)
			continue;
		push_setpoint(c, i, kw, now);
	}
}

/*
 * Measured power (active_power) against the setpoint the BESS acknowledged, once it had
 * CTL_DEV_SETTLE_NS to follow it and nothing newer is in flight: off by more than the
 * tolerance, it is deviating, counted and said once per episode. Only shown (issue 20 may
 * act on the measured power); a BESS without the role never deviates.
 */
static void watch_power(struct ctl *c, int64_t now)
{
	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		struct ctl_bess *b = &c->bess[i];
		double tol = CTL_DEV_TOL_FRAC * c->cfg->bess[i].power_kw;
		bool is_off;

		if (tol < CTL_DEV_TOL_KW)
			tol = CTL_DEV_TOL_KW;
		is_off = b->r.active_power >= 0 && isfinite(b->active_kw) && b->is_fresh &&
			 c->views[i].is_ready && b->claim == CLAIM_HELD && !c->is_monitor &&
			 b->has_acked && !b->in_flight && now - b->acked_ns >= CTL_DEV_SETTLE_NS &&
			 fabs(b->active_kw - b->acked_kw) > tol;
		if (is_off && !b->is_deviating) {
			b->deviations++;
			log_event(c, CTL_EV_DEVIATION, i, 0, b->active_kw, b->acked_kw);
		}
		b->is_deviating = is_off;
	}
}

/* ---- publishing --------------------------------------------------------------------- */

/* RT(ctl): a device's decoded points into its snapshot (a copy, no allocation). */
static void snap_points(const struct prof_profile *p, const struct prof_value *v,
			struct ctl_points_snap *o)
{
	o->valid = 0;
	for (unsigned k = 0; k < p->n_points && k < PROF_MAX_POINTS; k++) {
		o->points[k] = v[k].value;
		o->valid |= (uint32_t)v[k].is_valid << k;
	}
}

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
		o->last_err = b->last_err ? b->last_err : b->write_err;
		o->writes = b->writes;
		o->active_kw = b->r.active_power >= 0 && b->v[b->r.active_power].is_valid
				   ? b->v[b->r.active_power].value
				   : NAN;
		o->max_charge_kw = b->has_max_charge ? b->max_charge_kw : NAN;
		o->max_discharge_kw = b->has_max_discharge ? b->max_discharge_kw : NAN;
		o->alarms = b->alarms;
		o->faults = b->faults;
		o->is_faulted = b->faults != 0;
		o->is_deviating = b->is_deviating;
		o->deviations = b->deviations;
		snap_points(b->r.p, b->v, &o->pt);
	}
	for (unsigned j = 0; j < c->cfg->nmeters; j++) {
		const struct ctl_meter *mt = &c->meters[j];

		s->meters[j].power_kw = mt->r.grid_power >= 0 ? mt->v[mt->r.grid_power].value : NAN;
		s->meters[j].is_fresh = c->meters[j].is_fresh;
		s->meters[j].last_err = c->meters[j].last_err;
		snap_points(mt->r.p, mt->v, &s->meters[j].pt);
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
	unsigned want = 0, acked = 0, held = 0;
	bool pending[CFG_MAX_BESS] = { false };

	log_event(c, CTL_EV_STOPPING, 0, 0, 0, 0);
	c->cycle++;
	for (unsigned i = 0; i < c->cfg->nbess; i++) {
		/* Only where we hold the source: another master's BESS is theirs, even at 0 kW. */
		if (c->bess[i].claim != CLAIM_HELD || c->is_monitor)
			continue;
		held++;
		if (!push_write(c, i, c->bess[i].r.target_addr, c->bess[i].r.zero_raw))
			continue;
		pending[i] = true;
		want++;
	}
	while (acked < want && clk_now_ns() < deadline) {
		unsigned n = eng_pop(c->eng, c->msgs, CTL_MSG_BATCH);

		for (unsigned k = 0; k < n; k++) {
			const struct eng_msg *m = &c->msgs[k];

			if (m->kind != ENG_MSG_WRITE_ACK || m->dev >= c->cfg->nbess ||
			    m->cycle != c->cycle || m->addr != c->bess[m->dev].r.target_addr ||
			    !pending[m->dev])
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
	log_event(c, CTL_EV_STOPPED, 0, 0, acked, held);
}

/* RT(ctl): does the test seam hold this cycle (ctl_hooks.h)? Never once stop is asked. */
static bool is_held(const struct ctl *c)
{
	/* Acquire: pairs with the release in ctl_set_hooks(). */
	const struct ctl_hooks *h = atomic_load_explicit(&c->hooks, memory_order_acquire);

	return !atomic_load_explicit(&c->stop, memory_order_relaxed) && h && h->hold_cycle &&
	       h->hold_cycle(h->ctx);
}

/*
 * RT(ctl), at the start of a cycle: site parameters a reload handed over (ctl_set_site()), if
 * any, become this cycle's. One relaxed load when there are none; a try of the seqlock when
 * there are, never a wait: a write that overlapped is tried again next cycle. The strategy's
 * state carries over (the safety filter ramps from what each BESS does now); a new grid
 * meter's readings count from now; the limit warning starts afresh.
 */
static void take_site(struct ctl *c)
{
	uint64_t writes = seqlock_writes(&c->site_pub);
	struct ctl_site_msg m;

	if (writes == c->site_writes || !seqlock_try_read(&c->site_pub, &m))
		return;
	c->site_writes = writes;
	if (m.gen <= c->site_gen)
		return; /* taken already (a write completed between the count and the copy) */
	if (m.site.grid_meter_index != c->site.grid_meter_index)
		c->grid_seen = m.site.grid_meter_index >= 0
				   ? c->meters[m.site.grid_meter_index].readings - 1
				   : 0;
	c->site = m.site;
	c->site_gen = m.gen;
	c->unheld_since_ns = 0;
	c->snap.config_gen = m.gen;
	/* Release: pairs with the acquire in ctl_site_gen(). */
	atomic_store_explicit(&c->site_taken, m.gen, memory_order_release);
	log_event(c, CTL_EV_RELOADED, 0, 0, (double)m.gen, c->cycle);
}

void *ctl_loop_main(void *arg)
{
	struct ctl *c = arg;

	log_event(c, CTL_EV_STARTED, 0, 0, (double)c->site.cycle_ns / 1e6, c->ndev);
	c->stats_ns = clk_now_ns();
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		int64_t t0, now;
		int skipped = cyc_wait(&c->cyc);

		if (skipped > 0)
			log_event(c, CTL_EV_OVERRUN, 0, 0, skipped, 0);
		/* Test seam: a stuck cycle (the watchdogs must notice). */
		while (is_held(c))
			clock_nanosleep(CLOCK_MONOTONIC, 0,
					&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		t0 = c->cyc.start_ns;
		c->cycle++;
		take_site(c);
		FLUX_PROBE(cycle_start, c->cycle, c->cyc.start_ns, c->cyc.wake_ns);
		/* The poll arms the I/O thread's fail-safe for each BESS we hold (ENG_CMDF_ARM),
		 * and reads each device's active blocks (struct ctl_reads). */
		c->nblocks = 0;
		for (unsigned d = 0; d < c->ndev; d++) {
			c->cmds[d] =
			    (struct eng_cmd){ .kind = ENG_CMD_POLL,
					      .flags = d < c->cfg->nbess &&
							       c->bess[d].claim == CLAIM_HELD &&
							       !c->is_monitor
							   ? ENG_CMDF_ARM
							   : 0,
					      .dev = (uint16_t)d,
					      .cycle = c->cycle,
					      .block_mask = c->reads[d].active,
					      .t_push_ns = clk_now_ns() };
			c->nblocks += c->reads[d].n_active;
		}
		FLUX_PROBE(poll_push, c->cycle, c->ndev, c->cmds[0].t_push_ns);
		eng_submit(c->eng, c->cmds, c->ndev);
		gather(c, t0 + c->site.read_window_ns);
		now = clk_now_ns();
		update_freshness(c, now);
		claim_sources(c, now);
		decide(c, now);
		watch_power(c, now);
		publish(c, now);
		FLUX_PROBE(cycle_end, c->cycle, t0, clk_now_ns());
	}
	shutdown_bess(c);
	publish(c, clk_now_ns());
	return NULL;
}
