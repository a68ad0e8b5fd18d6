// SPDX-License-Identifier: MIT
/*
 * Controller setup and its non-RT faces: the engine's device table built from the config,
 * the threads started and stopped, the snapshot and the log lines formatted for people.
 * The one idea: the config is turned into fixed tables here, once; the control thread only
 * ever indexes them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctl_int.h"
#include "rt/clock.h"

static void modbus_to_dev(const struct cfg_modbus *m, struct eng_dev *d)
{
	static const enum eng_framing framing[] = {
		[CFG_FRAMING_TCP] = ENG_FRAMING_TCP,
		[CFG_FRAMING_RTU] = ENG_FRAMING_RTU_TCP,
		[CFG_FRAMING_SERIAL] = ENG_FRAMING_SERIAL,
	};

	d->framing = framing[m->framing];
	snprintf(d->host, sizeof(d->host), "%s", m->host);
	snprintf(d->device, sizeof(d->device), "%s", m->device);
	d->line = m->line;
	d->port = m->port;
	d->unit = m->address;
	d->ignore_tid = !m->match_tid;
	d->timeout_ns = m->timeout_ns;
	d->retry_count = m->retry_count;
	d->retry_backoff_ns = m->retry_backoff_ns;
}

static bool same_block(const struct prof_block *a, const struct prof_block *b)
{
	return a->fc == b->fc && a->start == b->start && a->count == b->count;
}

/*
 * The device's poll blocks (struct ctl_reads): the profile's planned ones, active, then each
 * one's fallback without holes, inactive, as far as ENG_MAX_BLOCKS has room (a block whose
 * split does not fit has none: a 0x02 to it stays the device's error, as before). Planned
 * here, at setup, so that the switch on the control thread is a change of bits.
 */
static void reads_of(const struct prof_profile *p, struct ctl_reads *rd, struct eng_dev *d)
{
	unsigned n = p->n_blocks < ENG_MAX_BLOCKS ? p->n_blocks : ENG_MAX_BLOCKS, total = n;

	*rd = (struct ctl_reads){ .n_plan = n };
	memcpy(rd->blocks, p->blocks, n * sizeof(rd->blocks[0]));
	for (unsigned b = 0; b < n; b++) {
		int k = prof_plan_split(p, &p->blocks[b], NULL, 0, rd->blocks + total,
					ENG_MAX_BLOCKS - total);

		/* One block equal to b: it spans no hole. -E2BIG: no room for its split. */
		if (k <= 0 || (k == 1 && same_block(&rd->blocks[total], &p->blocks[b])))
			continue;
		rd->split_first[b] = (uint8_t)total;
		rd->split_n[b] = (uint8_t)k;
		total += (unsigned)k;
	}
	for (unsigned b = 0; b < total; b++)
		for (unsigned i = 0; i < p->n_points && i < PROF_MAX_POINTS; i++) {
			const struct prof_point *pt = &p->points[i];
			const struct prof_block *k = &rd->blocks[b];

			if (pt->fc == k->fc && pt->addr >= k->start &&
			    pt->addr + prof_type_width(pt->type) <= (unsigned)k->start + k->count)
				rd->holds[b] |= 1u << i;
		}
	rd->active = (uint8_t)((1u << n) - 1);
	rd->n_active = (uint8_t)n;
	rd->view = *p;
	rd->view.blocks = rd->blocks;
	rd->view.n_blocks = total;
	d->nblocks = total;
	for (unsigned b = 0; b < total; b++)
		d->blocks[b] = (struct eng_block){ .fc = rd->blocks[b].fc,
						   .start = rd->blocks[b].start,
						   .count = rd->blocks[b].count };
}

/* The role points control reads of profile p (config.c made sure a BESS has what it needs). */
static void roles_of(const struct prof_profile *p, enum mb_order order, struct ctl_roles *r)
{
	uint16_t regs[2] = { 0 };

	*r = (struct ctl_roles){ .p = p,
				 .order = order,
				 .status = prof_role_point(p, PROF_ROLE_STATUS),
				 .soe = prof_role_point(p, PROF_ROLE_SOE),
				 .target = prof_role_point(p, PROF_ROLE_TARGET_POWER),
				 .source = prof_role_point(p, PROF_ROLE_COMMAND_SOURCE),
				 .blocks = prof_role_point(p, PROF_ROLE_AVAILABLE_BLOCKS),
				 .grid_power = prof_role_point(p, PROF_ROLE_GRID_POWER),
				 .active_power = prof_role_point(p, PROF_ROLE_ACTIVE_POWER),
				 .max_charge = prof_role_point(p, PROF_ROLE_MAX_CHARGE_POWER),
				 .max_discharge = prof_role_point(p, PROF_ROLE_MAX_DISCHARGE_POWER),
				 .alarms = prof_role_point(p, PROF_ROLE_ALARMS),
				 .faults = prof_role_point(p, PROF_ROLE_FAULTS) };
	if (r->target >= 0) {
		r->target_addr = p->points[r->target].addr;
		if (prof_encode(p, (unsigned)r->target, order, 0, regs) == 1)
			r->zero_raw = regs[0];
	}
	if (r->source >= 0)
		r->source_addr = p->points[r->source].addr;
}

/* Name of a BESS's status code in its profile's enum, or "unknown". */
static const char *status_name(const struct ctl *c, unsigned dev, double code)
{
	const struct ctl_roles *r = dev < c->cfg->nbess ? &c->bess[dev].r : NULL;
	const char *name = NULL;

	if (r && r->status >= 0)
		name = prof_enum_name(&r->p->points[r->status], (uint16_t)code);
	return name ? name : "unknown";
}

int ctl_open(struct ctl **out, const struct cfg *cfg, const struct ctl_opts *opts)
{
	struct eng_cfg ecfg = { 0 };
	struct ctl *c;
	int err;

	*out = NULL;
	if (!cfg || cfg->nbess + cfg->nmeters == 0 || cfg->nbess > CFG_MAX_BESS ||
	    cfg->nmeters > CFG_MAX_METERS)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nbess; i++) {
		const struct prof_profile *p = cfg->bess[i].profile;

		if (!p || p->n_points > PROF_MAX_POINTS ||
		    prof_role_point(p, PROF_ROLE_STATUS) < 0 ||
		    prof_role_point(p, PROF_ROLE_SOE) < 0 ||
		    prof_role_point(p, PROF_ROLE_TARGET_POWER) < 0 ||
		    prof_role_point(p, PROF_ROLE_COMMAND_SOURCE) < 0)
			return -EINVAL; /* not a config from cfg_load() */
	}
	for (unsigned j = 0; j < cfg->nmeters; j++)
		if (!cfg->meters[j].profile || cfg->meters[j].profile->n_points > PROF_MAX_POINTS)
			return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->rtt = calloc(1, sizeof(*c->rtt));
	if (!c->rtt) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->rtt->lock, NULL); /* default attributes: cannot fail */
	c->cfg = cfg;
	c->site = cfg->site;
	c->site_gen = c->site_handed = 1;
	atomic_init(&c->site_taken, 1);
	if (opts)
		c->opts = *opts;
	c->is_monitor = cfg->site.mode == CFG_STRATEGY_MONITOR;
	for (unsigned i = 0; i < cfg->nbess; i++) {
		struct eng_dev *d = &c->devs[c->ndev++];

		struct ctl_roles *r = &c->bess[i].r;

		roles_of(cfg->bess[i].profile, cfg->bess[i].profile->default_order, r);
		modbus_to_dev(&cfg->bess[i].modbus, d);
		reads_of(r->p, &c->reads[c->ndev - 1], d);
		/* What the I/O thread writes by itself if this thread falls silent (armed only
		 * while we hold the command source: see ENG_CMDF_ARM in ctl_loop.c). */
		d->has_failsafe = !c->is_monitor;
		d->failsafe_addr = r->target_addr;
		d->failsafe_value = r->zero_raw;
		c->bess[i].claim = CLAIM_CHECK;
	}
	for (unsigned i = 0; i < cfg->nmeters; i++) {
		roles_of(cfg->meters[i].profile, cfg->meters[i].word_order, &c->meters[i].r);
		modbus_to_dev(&cfg->meters[i].modbus, &c->devs[c->ndev]);
		reads_of(c->meters[i].r.p, &c->reads[c->ndev], &c->devs[c->ndev]);
		c->ndev++;
	}

	ecfg.devs = c->devs;
	ecfg.ndev = c->ndev;
	ecfg.failsafe_after_ns = cfg->site.stale_after_ns;
	ecfg.cpu = c->opts.no_rt ? -1 : cfg->rt.io_cpu;
	ecfg.priority = c->opts.no_rt ? 0 : cfg->rt.io_priority;
	err = eng_open(&c->eng, &ecfg);
	if (err)
		goto out_free;
	hist_reset(&c->jitter);
	hist_reset(&c->soe_read);
	hist_reset(&c->setpoint_write);
	/* Published: everything before bess[], and this site's BESS (see struct ctl_snapshot). */
	err = seqlock_init(&c->snap_pub, offsetof(struct ctl_snapshot, bess) +
					     cfg->nbess * sizeof(struct ctl_bess_snap));
	if (err)
		goto out_free;
	c->snap.nbess = cfg->nbess;
	c->snap.nmeters = cfg->nmeters;
	c->snap.config_gen = c->site_gen;
	seqlock_write(&c->snap_pub, &c->snap);
	err = ring_init(&c->log, NULL, sizeof(struct ctl_log), CTL_LOG_CAPACITY, 0);
	if (err)
		goto out_free;
	err = seqlock_init(&c->site_pub, sizeof(struct ctl_site_msg));
	if (err)
		goto out_free;
	*out = c;
	return 0;

out_free:
	ctl_close(c);
	return err;
}

int ctl_start(struct ctl *c)
{
	struct thr_attr a = { .name = "flux-ctl",
			      .priority = c->opts.no_rt ? 0 : c->cfg->rt.control_priority,
			      .cpu = c->opts.no_rt ? -1 : c->cfg->rt.control_cpu };
	int err;

	if (c->is_running)
		return -EALREADY;
	err = eng_start(c->eng);
	if (err)
		return err;
	err = cyc_init(&c->cyc, c->site.cycle_ns, clk_now_ns() + c->site.cycle_ns, &c->jitter);
	if (err)
		goto out_eng;
	atomic_store(&c->stop, false);
	err = thr_start(&c->thread, &a, ctl_loop_main, c);
	if (err)
		goto out_eng;
	c->is_running = true;
	return 0;

out_eng:
	eng_stop(c->eng);
	return err;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	if (c->is_running) {
		atomic_store(&c->stop, true); /* also ends a hold of the test seam */
		thr_join(&c->thread, NULL);
		c->is_running = false;
	}
	eng_stop(c->eng);
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	ctl_stop(c);
	eng_close(c->eng);
	seqlock_exit(&c->snap_pub);
	seqlock_exit(&c->site_pub);
	ring_exit(&c->log);
	if (c->rtt) {
		pthread_mutex_destroy(&c->rtt->lock);
		free(c->rtt);
	}
	free(c);
}

/* Reader side, under r->lock: each device's RTT percentiles and the site's, from the
 * histograms the I/O thread publishes (28 KiB each, so not more often than it does). */
static void rtt_refresh(const struct ctl *c, struct ctl_rtt *r)
{
	hist_reset(&r->all);
	for (unsigned d = 0; d < c->ndev; d++) {
		if (eng_read_rtt(c->eng, d, &r->one) < 0)
			continue; /* keeps the last summary */
		ctl_lat_of(&r->one, &r->dev[d]);
		hist_merge(&r->all, &r->one);
	}
	ctl_lat_of(&r->all, &r->site);
}

int ctl_snapshot(const struct ctl *c, struct ctl_snapshot *out)
{
	struct ctl_rtt *r = c->rtt;
	unsigned nbess = c->cfg->nbess, nmeters = c->cfg->nmeters;
	int64_t now;

	/* Retries until the copy is consistent: nothing torn is handed out. Its result counts
	 * the retries (a fast cycle and a large snapshot make some), not an error. */
	(void)seqlock_read(&c->snap_pub, out);
	/* Readers only (telemetry, tests): the RT threads never take this lock. */
	pthread_mutex_lock(&r->lock);
	now = clk_now_ns();
	if (!r->t_ns || now - r->t_ns >= CTL_STATS_NS) {
		rtt_refresh(c, r);
		r->t_ns = now;
	}
	out->rtt = r->site;
	memcpy(out->bess_rtt, r->dev, nbess * sizeof(r->dev[0]));
	memcpy(out->meter_rtt, r->dev + nbess, nmeters * sizeof(r->dev[0]));
	pthread_mutex_unlock(&r->lock);
	return 0;
}

unsigned ctl_pop_logs(struct ctl *c, struct ctl_log *out, unsigned max)
{
	return ring_pop_n(&c->log, out, max);
}

uint64_t ctl_cycles(const struct ctl *c)
{
	return atomic_load_explicit(&c->cycles, memory_order_relaxed);
}

uint64_t ctl_io_turns(const struct ctl *c)
{
	return eng_turns(c->eng);
}

int64_t ctl_set_site(struct ctl *c, const struct cfg_site *site)
{
	struct ctl_site_msg m;
	const struct cfg_site *now = &c->cfg->site; /* what ctl_open() built the threads for */
	bool was_monitor = now->mode == CFG_STRATEGY_MONITOR;

	if (!site || site->cycle_ns != now->cycle_ns ||
	    site->stale_after_ns != now->stale_after_ns ||
	    (site->mode == CFG_STRATEGY_MONITOR) != was_monitor ||
	    site->grid_meter_index >= (int)c->cfg->nmeters || site->grid_meter_index < -1 ||
	    site->read_window_ns <= 0 || site->read_window_ns >= site->cycle_ns)
		return -EINVAL;
	m = (struct ctl_site_msg){ .gen = ++c->site_handed, .site = *site };
	seqlock_write(&c->site_pub, &m); /* one writer: this thread; the control thread tries */
	return (int64_t)m.gen;
}

uint64_t ctl_site_gen(const struct ctl *c)
{
	/* Acquire: pairs with the release in ctl_loop.c's take_site(). */
	return atomic_load_explicit(&c->site_taken, memory_order_acquire);
}

void ctl_set_hooks(struct ctl *c, const struct ctl_hooks *h)
{
	/* Release: pairs with the acquire in ctl_loop.c's is_held(). */
	atomic_store_explicit(&c->hooks, h, memory_order_release);
}

static const char *dev_id(const struct ctl *c, unsigned dev)
{
	if (dev < c->cfg->nbess)
		return c->cfg->bess[dev].id;
	if (dev < c->cfg->nbess + c->cfg->nmeters)
		return c->cfg->meters[dev - c->cfg->nbess].id;
	return "?";
}

const char *ctl_strerror(int err)
{
	switch (-err) {
	case CTL_ESOE_RANGE:
		return "implausible SOE (outside 0..100 % x soe_scale)";
	case CTL_ESTATUS_UNKNOWN:
		return "implausible status (not one the profile names)";
	case CTL_EBLOCKS_RANGE:
		return "implausible available blocks (more than the rating has)";
	case CTL_ENOACK:
		return "write never acknowledged";
	default:
		return eng_strerror(err);
	}
}

int ctl_event_priority(unsigned event)
{
	switch (event) {
	case CTL_EV_SOURCE_LOST:
	case CTL_EV_FOREIGN_SETPOINT:
	case CTL_EV_NO_ACK:
	case CTL_EV_FAULTED:
		return 2; /* LOG_CRIT: an ALARM */
	case CTL_EV_STALE:
	case CTL_EV_NO_ANSWER:
	case CTL_EV_WRITE_FAILED:
	case CTL_EV_CLAIM_FAILED:
	case CTL_EV_OVERRUN:
	case CTL_EV_IMPLAUSIBLE:
	case CTL_EV_LIMIT_UNHELD:
	case CTL_EV_FAILSAFE:
	case CTL_EV_HEARTBEAT_FAILED:
	case CTL_EV_LEFT_READY:
	case CTL_EV_ALARMS:
	case CTL_EV_DEVIATION:
	/* The device works, but its profile's max_gap does not suit it: worth a look. */
	case CTL_EV_BLOCK_SPLIT:
		return 4; /* LOG_WARNING */
	default:
		return 6; /* LOG_INFO */
	}
}

int ctl_format_log(const struct ctl *c, const struct ctl_log *ev, char *buf, size_t len)
{
	const char *id = dev_id(c, ev->dev), *why = ctl_strerror(ev->err);
	/* The BESS's command source and target power registers, as its profile places them. */
	unsigned src = ev->dev < c->cfg->nbess ? c->bess[ev->dev].r.source_addr : 0;
	unsigned tgt = ev->dev < c->cfg->nbess ? c->bess[ev->dev].r.target_addr : 0;

	switch (ev->event) {
	case CTL_EV_STARTED:
		return snprintf(buf, len, "control started: cycle %.3g ms, %.0f devices", ev->a,
				ev->b);
	case CTL_EV_INPUTS_FRESH:
		return snprintf(buf, len,
				ev->a ? "every device is fresh: monitoring (no writes)"
				      : "every needed input is fresh: control is live");
	case CTL_EV_STALE:
		return snprintf(buf, len, "%s: stale, 0 kW to what depends on it (%s)", id,
				ev->err ? why : "no fresh data");
	case CTL_EV_FRESH:
		return snprintf(buf, len, "%s: fresh (reading it)", id);
	case CTL_EV_NO_ANSWER:
		return snprintf(buf, len, "%s: no good reply yet (%s)", id, why);
	case CTL_EV_CLAIM:
		return snprintf(buf, len, "%s: command source free: claiming it (%u := %.0f)", id,
				src, ev->a);
	case CTL_EV_CLAIMED:
		return snprintf(buf, len, "%s: command source is ours (%u = %.0f)", id, src, ev->a);
	case CTL_EV_SOURCE_LOST:
		return snprintf(buf, len,
				"ALARM %s: command source held by id %.0f, not ours: nothing is "
				"written to it",
				id, ev->a);
	case CTL_EV_REARMED:
		return snprintf(buf, len,
				"%s: command source handed back (%u = %.0f): control re-armed", id,
				src, ev->a);
	case CTL_EV_SOURCE_RESET:
		return snprintf(buf, len,
				"%s: command source shows the BESS's default %.0f (restarted or "
				"released): re-claiming",
				id, ev->a);
	case CTL_EV_CLAIM_FAILED:
		return snprintf(buf, len, "%s: command source write failed: %s", id, why);
	case CTL_EV_STATUS:
		return snprintf(buf, len, "%s: status %s (was %s)", id,
				status_name(c, ev->dev, ev->a), status_name(c, ev->dev, ev->b));
	case CTL_EV_LEFT_READY: /* b: the fault word, when its bits took it out of READY */
		return snprintf(buf, len, "%s: left READY (%s%s): 0 kW written", id,
				status_name(c, ev->dev, ev->a), ev->b ? ", fault bits set" : "");
	case CTL_EV_FAULTED:
	case CTL_EV_FAULT_CLEARED:
	case CTL_EV_ALARMS: {
		const struct ctl_roles *r = ev->dev < c->cfg->nbess ? &c->bess[ev->dev].r : NULL;
		int k = !r ? -1 : ev->event == CTL_EV_ALARMS ? r->alarms : r->faults;
		char names[256];

		prof_bits_text(k >= 0 ? &r->p->points[k] : NULL, (uint32_t)ev->a, names,
			       sizeof(names));
		if (ev->event == CTL_EV_FAULTED)
			return snprintf(buf, len, "ALARM %s: fault bits %s (0x%X): 0 kW, not READY",
					id, names, (unsigned)ev->a);
		if (ev->event == CTL_EV_FAULT_CLEARED)
			return snprintf(buf, len, "%s: fault bits clear", id);
		return snprintf(buf, len, "%s: alarms %s (0x%X)", id, ev->a ? names : "clear",
				(unsigned)ev->a);
	}
	case CTL_EV_DEVIATION:
		return snprintf(buf, len, "%s: measured %+.1f kW, not the acknowledged %+.0f kW",
				id, ev->a, ev->b);
	case CTL_EV_FOREIGN_SETPOINT:
		return snprintf(buf, len,
				"ALARM %s: target power %u holds %.0f kW, not our %.0f kW: another "
				"master wrote it; restored",
				id, tgt, ev->a, ev->b);
	case CTL_EV_WRITE_FAILED:
		return snprintf(buf, len, "%s: setpoint %.0f kW not accepted: %s", id, ev->a, why);
	case CTL_EV_NO_ACK:
		return snprintf(buf, len, "ALARM %s: setpoint %.0f kW not acknowledged: %s", id,
				ev->a, why);
	case CTL_EV_HEARTBEAT_FAILED:
		return snprintf(buf, len, "%s: heartbeat register %.0f not written: %s", id, ev->a,
				why);
	case CTL_EV_BLOCK_SPLIT: {
		/* ev->a: the refused planned block; ev->b: the blocks now read in its place. */
		const struct prof_block *k =
		    ev->dev < c->ndev && ev->a >= 0 && ev->a < c->reads[ev->dev].n_plan
			? &c->reads[ev->dev].blocks[(unsigned)ev->a]
			: &(const struct prof_block){ 0 };

		return snprintf(buf, len,
				"%s: block FC%02X 0x%04X+%u refused with exception 0x02 (a read "
				"across a hole): reading it as %.0f blocks from now on",
				id, k->fc, k->start, k->count, ev->b);
	}
	case CTL_EV_IMPLAUSIBLE:
		return snprintf(buf, len, "%s: sample rejected, %s: read %.0f", id, why, ev->a);
	case CTL_EV_LIMIT_UNHELD:
		return snprintf(
		    buf, len,
		    "WARN peak shaving cannot hold its limit: grid %+.1f kW against %+.0f "
		    "kW with every BESS at its cap",
		    ev->a, ev->b);
	case CTL_EV_LIMIT_HELD:
		return snprintf(
		    buf, len, "peak shaving holds its limit again: grid %+.1f kW (limit %+.0f kW)",
		    ev->a, ev->b);
	case CTL_EV_FAILSAFE:
		return snprintf(buf, len,
				"%s: the I/O thread wrote 0 kW by itself: the control thread was "
				"silent for stale_after (%s)",
				id, ev->err ? why : "acknowledged");
	case CTL_EV_RELOADED:
		return snprintf(buf, len, "reload: site parameters %.0f in force from cycle %.0f",
				ev->a, ev->b);
	case CTL_EV_OVERRUN:
		return snprintf(buf, len, "cycle overrun: %.0f period(s) skipped", ev->a);
	case CTL_EV_STOPPING:
		return snprintf(buf, len, "stopping: writing 0 kW to every BESS we hold");
	case CTL_EV_STOPPED:
		return snprintf(buf, len, "stopped: %.0f of %.0f BESS acknowledged 0 kW", ev->a,
				ev->b);
	default:
		return snprintf(buf, len, "event %u dev %u", ev->event, ev->dev);
	}
}

int ctl_format_status(const struct ctl *c, const struct ctl_snapshot *s, char *buf, size_t len)
{
	size_t off = 0;
	unsigned stale = 0;
	int n;

	n = snprintf(buf, len, "cycle %llu site %+.1f kW", (unsigned long long)s->cycles,
		     s->site_kw);
	off = n > 0 ? (size_t)n : 0;
	for (unsigned i = 0; i < s->nbess && off < len; i++) {
		const struct ctl_bess_snap *b = &s->bess[i];

		n = snprintf(buf + off, len - off, " | %s %s SOE %.0f%% %+.0f kW%s",
			     c->cfg->bess[i].id, status_name(c, i, b->status), b->soe_pct,
			     b->setpoint_kw, b->is_ours ? "" : " (not ours)");
		off += n > 0 ? (size_t)n : 0;
		stale += !b->is_fresh;
	}
	for (unsigned i = 0; i < s->nmeters && off < len; i++) {
		const struct ctl_meter_snap *m = &s->meters[i];

		n = snprintf(buf + off, len - off, " | %s %+.1f kW", c->cfg->meters[i].id,
			     m->power_kw);
		off += n > 0 ? (size_t)n : 0;
		stale += !m->is_fresh;
	}
	if (off < len) {
		n = snprintf(buf + off, len - off, " | jitter p99 %.0f us | stale %u",
			     (double)s->jitter.p99_ns / 1e3, stale);
		off += n > 0 ? (size_t)n : 0;
	}
	return (int)(off < len ? off : len - 1);
}
