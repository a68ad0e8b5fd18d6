// SPDX-License-Identifier: MIT
/*
 * PowerPack simulator model: the seed's register map over a battery whose SOE integrates the
 * power it actually delivers. A written setpoint waits response_ms in a FIFO before it is
 * applied (a dead time); what is delivered then follows the applied setpoint capped by rated
 * power and available blocks, at once or as a first-order lag of response_tau_ms (the
 * response model: delay, then a ramp), and is zero at once unless the status is READY and
 * the command source is the controller's.
 * Target power writes are refused with exception 0x03 until the command source is claimed.
 * Time advances by events (startup, each setpoint's due time, the heartbeat watchdog's lapse),
 * each at its own instant, so the result does not depend on how often the model is stepped.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "devices/sim_int.h"

static bool is_ours(const struct sim_pp *pp)
{
	return pp->command_source == pp->prm.pp.command_source_id;
}

/* Where the ramp heads: the applied setpoint capped by rated power and available blocks. */
static double aim_kw(const struct sim_pp *pp)
{
	double cap = fmin(pp->prm.pp.power_kw, pp->blocks * pp->prm.pp.block_kw);

	return fmax(-cap, fmin(cap, pp->applied_kw));
}

/* Does the battery deliver kw now? Not unless READY and ours, and not past an SOE end. */
static bool may_deliver(const struct sim_pp *pp, double kw)
{
	if (pp->status != pp->prm.pp.status_ready || !is_ours(pp))
		return false;
	return !((kw > 0 && pp->soe_kwh <= 0) ||
		 (kw < 0 && pp->soe_kwh >= pp->prm.pp.capacity_kwh));
}

/* Power the battery delivers now, in kW (+ discharge): the ramp's, or 0 when it may not. */
static double delivered_kw(struct sim_pp *pp)
{
	if (!pp->prm.response_tau_ms)
		pp->ramp_kw = aim_kw(pp);
	if (!may_deliver(pp, pp->ramp_kw)) {
		pp->ramp_kw = 0; /* a stop is at once; the ramp starts again from 0 */
		return 0;
	}
	return pp->ramp_kw;
}

/*
 * From from_ns to to_ns (real time; the SOE's hours run time_scale faster): the ramp moves
 * towards its aim as y = u + (y0 - u) e^(-t / tau), and the SOE takes the exact integral of
 * that, u t + (y0 - u) tau (1 - e^(-t / tau)), so the step size does not change the result.
 */
static void integrate(struct sim_pp *pp, int64_t from_ns, int64_t to_ns)
{
	double dt_s = (double)(to_ns - from_ns) / 1e9, scale = pp->prm.time_scale / 3600.0;
	double y0 = delivered_kw(pp), u = aim_kw(pp), energy_kws;

	if (pp->prm.response_tau_ms && may_deliver(pp, y0 ? y0 : u)) {
		double tau = pp->prm.response_tau_ms / 1e3, k = exp(-dt_s / tau);

		energy_kws = u * dt_s + (y0 - u) * tau * (1 - k);
		pp->ramp_kw = u + (y0 - u) * k;
	} else {
		energy_kws = y0 * dt_s;
	}
	pp->soe_kwh = fmax(0, fmin(pp->prm.pp.capacity_kwh, pp->soe_kwh - energy_kws * scale));
	pp->delivered_kw = delivered_kw(pp);
}

static int64_t ms_ns(unsigned ms)
{
	return (int64_t)ms * 1000000;
}

/* (Re)start the heartbeat watchdog's timeout at now_ns; nothing when it has none. */
static void arm_watchdog(struct sim_pp *pp, int64_t now_ns)
{
	pp->is_wd_armed = pp->prm.heartbeat_timeout_ms > 0;
	pp->wd_due_ns = now_ns + ms_ns(pp->prm.heartbeat_timeout_ms);
}

/* Setpoints: none written, none waiting, none in effect. */
static void clear_setpoints(struct sim_pp *pp)
{
	pp->target_kw = 0;
	pp->p_head = pp->p_len = 0;
	pp->applied_kw = 0;
	pp->ramp_kw = 0;
}

enum pp_event { EV_NONE, EV_READY, EV_APPLY, EV_LAPSE };

/* The first event due at or before now_ns, its time in *at_ns. Ties: in enum order. */
static enum pp_event next_event(const struct sim_pp *pp, int64_t now_ns, int64_t *at_ns)
{
	enum pp_event ev = EV_NONE;

	*at_ns = now_ns;
	if (!pp->is_started && pp->ready_ns <= *at_ns) {
		ev = EV_READY;
		*at_ns = pp->ready_ns;
	}
	if (pp->p_len && pp->pending[pp->p_head].due_ns <= *at_ns &&
	    (ev == EV_NONE || pp->pending[pp->p_head].due_ns < *at_ns)) {
		ev = EV_APPLY;
		*at_ns = pp->pending[pp->p_head].due_ns;
	}
	if (pp->is_wd_armed && pp->wd_due_ns <= *at_ns &&
	    (ev == EV_NONE || pp->wd_due_ns < *at_ns)) {
		ev = EV_LAPSE;
		*at_ns = pp->wd_due_ns;
	}
	return ev;
}

static void pp_step(struct sim *sim, struct sim_dev *d, int64_t now_ns)
{
	struct sim_pp *pp = &d->pp;
	int64_t t = d->last_ns, at;
	enum pp_event ev;

	(void)sim;
	if (now_ns <= t)
		return;
	/* Piecewise: integrate up to each event, then let it change the model. */
	while ((ev = next_event(pp, now_ns, &at)) != EV_NONE) {
		if (at > t) {
			integrate(pp, t, at);
			t = at;
		}
		switch (ev) {
		case EV_READY:
			pp->is_started = true;
			if (pp->status == PP_STATUS_OFFLINE)
				pp->status = pp->prm.pp.status_ready;
			break;
		case EV_APPLY:
			pp->applied_kw = pp->pending[pp->p_head].kw;
			pp->p_head = (pp->p_head + 1) % SIM_PP_PENDING;
			pp->p_len--;
			break;
		case EV_LAPSE:
			/* No heartbeat for the timeout: the BESS stops by itself. */
			clear_setpoints(pp);
			pp->hb_trips++;
			pp->is_hb_expired = true;
			pp->is_wd_armed = false; /* until a heartbeat or a setpoint */
			break;
		case EV_NONE:
			break;
		}
	}
	integrate(pp, t, now_ns);
	d->last_ns = now_ns;
}

static uint16_t soe_reg(const struct sim_pp *pp)
{
	double pct = pp->soe_kwh * 100.0 / pp->prm.pp.capacity_kwh;

	return (uint16_t)fmin(UINT16_MAX, nearbyint(pct * pp->prm.pp.soe_scale));
}

static uint16_t read_reg(const struct sim_pp *pp, unsigned addr)
{
	switch (addr) {
	case PP_REG_STATUS:
		return pp->status;
	case PP_REG_TARGET_POWER:
		return mb_from_i16(pp->target_kw);
	case PP_REG_COMMAND_SOURCE:
		return pp->command_source;
	case PP_REG_HEARTBEAT:
		return pp->heartbeat;
	case PP_REG_SOE:
		return soe_reg(pp);
	case PP_REG_AVAILABLE_BLOCKS:
		return pp->blocks;
	default:
		return 0; /* inside the map, no point: reads as zero */
	}
}

/* Exception code a write of `value` at addr gets, or 0 when it is accepted. */
static uint8_t check_write(const struct sim_pp *pp, unsigned addr, uint16_t value)
{
	switch (addr) {
	case PP_REG_TARGET_POWER:
		if (fabs((double)mb_get_i16(value)) > pp->prm.pp.power_kw || !is_ours(pp))
			return MB_EX_ILLEGAL_DATA_VALUE;
		return 0;
	case PP_REG_COMMAND_SOURCE:
	case PP_REG_HEARTBEAT:
		return 0;
	default:
		return MB_EX_ILLEGAL_DATA_ADDRESS; /* read-only or outside the map */
	}
}

static void apply_write(struct sim_pp *pp, unsigned addr, uint16_t value, int64_t now_ns)
{
	unsigned tail;

	if (addr == PP_REG_COMMAND_SOURCE) {
		pp->command_source = value;
		return;
	}
	if (addr == PP_REG_HEARTBEAT) {
		pp->heartbeat = value;
		pp->is_hb_expired = false;
		arm_watchdog(pp, now_ns);
		return;
	}
	pp->target_kw = mb_get_i16(value);
	pp->target_writes++;
	if (pp->prm.heartbeat_timeout_ms && !pp->is_wd_armed)
		arm_watchdog(pp, now_ns); /* tripped: this setpoint lasts one timeout at most */
	if (pp->p_len == SIM_PP_PENDING) {
		/* Full: the newest waiting setpoint is superseded, keeping its due time. */
		tail = (pp->p_head + pp->p_len - 1) % SIM_PP_PENDING;
		pp->pending[tail].kw = pp->target_kw;
		return;
	}
	tail = (pp->p_head + pp->p_len) % SIM_PP_PENDING;
	pp->pending[tail].kw = pp->target_kw;
	pp->pending[tail].due_ns = now_ns + (int64_t)pp->prm.response_ms * 1000000;
	pp->p_len++;
}

static int pp_serve(struct sim_dev *d, const struct mb_req *req, uint8_t *out, int64_t now_ns)
{
	struct sim_pp *pp = &d->pp;
	uint16_t regs[MB_MAX_READ_REGS];
	uint8_t wire[2 * MB_MAX_READ_REGS];
	uint32_t end = (uint32_t)req->addr + req->qty;
	uint8_t code;

	switch (req->fc) {
	case MB_FC_READ_HOLDING_REGISTERS:
	case MB_FC_WRITE_SINGLE_REGISTER:
	case MB_FC_WRITE_MULTIPLE_REGISTERS:
		break;
	default:
		return mb_encode_exception(out, MB_ADU_MAX, req, MB_EX_ILLEGAL_FUNCTION);
	}
	if (req->addr < PP_MAP_FIRST || end > PP_MAP_FIRST + PP_MAP_COUNT)
		return mb_encode_exception(out, MB_ADU_MAX, req, MB_EX_ILLEGAL_DATA_ADDRESS);

	if (req->fc == MB_FC_READ_HOLDING_REGISTERS) {
		for (unsigned i = 0; i < req->qty; i++)
			regs[i] = read_reg(pp, req->addr + i);
		mb_regs_to_wire(wire, regs, req->qty);
		return mb_encode_rsp(out, MB_ADU_MAX, req, wire);
	}
	if (req->fc == MB_FC_WRITE_SINGLE_REGISTER)
		regs[0] = req->value;
	else
		mb_regs_from_wire(regs, req->data, req->qty);
	/* All or nothing: every register is checked before any is applied. */
	for (unsigned i = 0; i < req->qty; i++) {
		code = check_write(pp, req->addr + i, regs[i]);
		if (code)
			return mb_encode_exception(out, MB_ADU_MAX, req, code);
	}
	for (unsigned i = 0; i < req->qty; i++)
		apply_write(pp, req->addr + i, regs[i], now_ns);
	return mb_encode_rsp(out, MB_ADU_MAX, req, NULL);
}

const struct sim_ops sim_pp_ops = {
	.step = pp_step,
	.serve = pp_serve,
	.product = "PowerPack simulator",
};

int sim_pp_init(struct sim_dev *d, const struct sim_pp_params *prm)
{
	struct sim_pp *pp = &d->pp;
	int err = pp_check_params(&prm->pp);

	if (err)
		return err;
	if (!(prm->soe_pct >= 0 && prm->soe_pct <= 100) || !(prm->time_scale > 0) ||
	    !isfinite(prm->time_scale) || prm->response_ms > SIM_RESPONSE_MS_MAX ||
	    prm->response_tau_ms > SIM_RESPONSE_MS_MAX || prm->blocks > UINT16_MAX)
		return -ERANGE;
	*pp = (struct sim_pp){ .prm = *prm,
			       .status = PP_STATUS_OFFLINE,
			       .command_source = prm->command_source_default,
			       .ready_ns = d->start_ns + ms_ns(prm->startup_ms) };
	arm_watchdog(pp, d->start_ns);
	pp->blocks = (uint16_t)(prm->blocks ? prm->blocks : pp_default_blocks(&prm->pp));
	pp->soe_kwh = prm->soe_pct / 100.0 * prm->pp.capacity_kwh;
	return 0;
}

/* The powerpack `dev`, every model stepped to now_ns, or NULL. Lock held. */
static struct sim_pp *find_pp_at(struct sim *sim, int dev, int64_t now_ns)
{
	if (dev < 0 || (unsigned)dev >= sim->n_dev || sim->dev[dev].kind != SIM_POWERPACK)
		return NULL;
	sim_step_all(sim, now_ns);
	return &sim->dev[dev].pp;
}

static struct sim_pp *find_pp(struct sim *sim, int dev)
{
	return find_pp_at(sim, dev, sim_now_ns());
}

int sim_pp_set_status(struct sim *sim, int dev, uint16_t status)
{
	struct sim_pp *pp;
	int err = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	pp = find_pp(sim, dev);
	if (pp) {
		pp->status = status;
		pp->is_started = true; /* a forced status is not overridden by the startup */
		pp->delivered_kw = delivered_kw(pp);
		err = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	return err;
}

int sim_pp_set_blocks(struct sim *sim, int dev, unsigned blocks)
{
	struct sim_pp *pp;
	int err = -ENOENT;

	if (blocks > UINT16_MAX)
		return -EINVAL;
	pthread_mutex_lock(&sim->lock);
	pp = find_pp(sim, dev);
	if (pp) {
		pp->blocks = (uint16_t)blocks;
		pp->delivered_kw = delivered_kw(pp);
		err = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	return err;
}

int sim_pp_restart(struct sim *sim, int dev)
{
	int64_t now = sim_now_ns();
	struct sim_pp *pp;
	int err = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	pp = find_pp_at(sim, dev, now);
	if (pp) {
		pp->status = PP_STATUS_OFFLINE;
		pp->is_started = false;
		pp->ready_ns = now + ms_ns(pp->prm.startup_ms);
		pp->command_source = pp->prm.command_source_default;
		clear_setpoints(pp);
		pp->heartbeat = 0;
		pp->is_hb_expired = false;
		arm_watchdog(pp, now);
		pp->delivered_kw = delivered_kw(pp);
		sim_drop_conns(sim, sim->dev[dev].lst);
		err = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	return err;
}

int sim_pp_write(struct sim *sim, int dev, uint16_t addr, uint16_t value)
{
	int64_t now = sim_now_ns();
	struct sim_pp *pp;
	int ret = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	pp = find_pp_at(sim, dev, now);
	if (pp) {
		ret = check_write(pp, addr, value);
		if (!ret) {
			apply_write(pp, addr, value, now);
			pp->delivered_kw = delivered_kw(pp);
		}
	}
	pthread_mutex_unlock(&sim->lock);
	return ret;
}

int sim_pp_get(struct sim *sim, int dev, struct sim_pp_state *st)
{
	struct sim_pp *pp;
	int err = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	pp = find_pp(sim, dev);
	if (pp) {
		*st = (struct sim_pp_state){
			.status = pp->status,
			.command_source = pp->command_source,
			.blocks = pp->blocks,
			.target_power_kw = pp->target_kw,
			.applied_kw = pp->applied_kw,
			.delivered_kw = pp->delivered_kw,
			.soe_kwh = pp->soe_kwh,
			.soe_pct = pp->soe_kwh * 100.0 / pp->prm.pp.capacity_kwh,
			.heartbeat = pp->heartbeat,
			.heartbeat_trips = pp->hb_trips,
			.is_heartbeat_expired = pp->is_hb_expired,
			.target_writes = pp->target_writes,
		};
		err = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	return err;
}
