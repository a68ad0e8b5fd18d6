// SPDX-License-Identifier: MIT
/*
 * Acuvim II simulator model and site load profiles. The meter sits at the grid connection:
 * grid power = site load - what the simulated batteries in the same process deliver. It serves
 * the shipped profile devices/profiles/acuvim2.yaml (loaded once per sim, sim->acu_prof), its
 * registers encoded through that profile itself, so the simulator and the decoder cannot
 * disagree about an address, a scale or a word order. Each point of the profile is one of the
 * quantities below, found by role or by name; a point it cannot measure is a setup error.
 * The grid frequency is constant, or a profile over time (a step, a CSV) in the same form as
 * the load's (struct sim_load, in Hz), for testing frequency response.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/sim_int.h"

#define DAY_S 86400.0

/* ---- load profiles ---------------------------------------------------------------- */

double sim_load_kw(const struct sim_load *load, double t_s)
{
	unsigned lo, hi;

	switch (load->kind) {
	case SIM_LOAD_STEP:
		return t_s < load->at_s ? load->kw : load->kw2;
	case SIM_LOAD_DAILY:
		return load->kw - load->kw2 * cos(2 * M_PI * t_s / DAY_S);
	case SIM_LOAD_CSV:
		if (!load->n)
			return 0;
		if (t_s <= load->t_s[0])
			return load->csv_kw[0];
		if (t_s >= load->t_s[load->n - 1])
			return load->csv_kw[load->n - 1];
		lo = 0;
		hi = load->n - 1;
		while (hi - lo > 1) { /* t_s[lo] < t_s <= t_s[hi] */
			unsigned mid = lo + (hi - lo) / 2;

			if (load->t_s[mid] < t_s)
				lo = mid;
			else
				hi = mid;
		}
		return load->csv_kw[lo] + (load->csv_kw[hi] - load->csv_kw[lo]) *
					      (t_s - load->t_s[lo]) /
					      (load->t_s[hi] - load->t_s[lo]);
	case SIM_LOAD_CONSTANT:
	default:
		return load->kw;
	}
}

void sim_load_exit(struct sim_load *load)
{
	free(load->t_s);
	free(load->csv_kw);
	load->t_s = NULL;
	load->csv_kw = NULL;
	load->n = 0;
}

/* Parse exactly n ':'-separated finite numbers from s. Returns 0 or -EINVAL. */
static int parse_numbers(const char *s, double *v, unsigned n)
{
	char *end;

	for (unsigned i = 0; i < n; i++) {
		v[i] = strtod(s, &end);
		if (end == s || !isfinite(v[i]))
			return -EINVAL;
		if (*end != (i + 1 < n ? ':' : '\0'))
			return -EINVAL;
		s = end + 1;
	}
	return 0;
}

/* One "seconds,kw" line into t and kw. Returns 1 when parsed, 0 when not numbers. */
static int parse_csv_line(const char *line, double *t, double *kw)
{
	char *end;

	*t = strtod(line, &end);
	if (end == line || *end != ',' || !isfinite(*t))
		return 0;
	line = end + 1;
	*kw = strtod(line, &end);
	if (end == line || !isfinite(*kw))
		return 0;
	end += strspn(end, " \t\r\n");
	return *end == '\0';
}

static int load_csv(const char *path, struct sim_load *load)
{
	unsigned cap = 0, lineno = 0;
	char line[256];
	int err = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	*load = (struct sim_load){ .kind = SIM_LOAD_CSV };
	while (fgets(line, sizeof(line), f)) {
		const char *p = line + strspn(line, " \t");
		double t, kw;

		lineno++;
		if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
			continue;
		if (!parse_csv_line(p, &t, &kw)) {
			if (load->n == 0 && lineno == 1)
				continue; /* a header line */
			err = -EINVAL;
			break;
		}
		if ((load->n && t <= load->t_s[load->n - 1]) || load->n == SIM_LOAD_MAX_POINTS) {
			err = -EINVAL;
			break;
		}
		if (load->n == cap) {
			unsigned ncap = cap ? 2 * cap : 64;
			double *nt = realloc(load->t_s, ncap * sizeof(double));
			double *nk;

			if (!nt) {
				err = -ENOMEM;
				break;
			}
			load->t_s = nt;
			nk = realloc(load->csv_kw, ncap * sizeof(double));
			if (!nk) {
				err = -ENOMEM;
				break;
			}
			load->csv_kw = nk;
			cap = ncap;
		}
		load->t_s[load->n] = t;
		load->csv_kw[load->n++] = kw;
	}
	if (!err && ferror(f))
		err = -EIO;
	if (!err && load->n == 0)
		err = -EINVAL;
	fclose(f);
	if (err)
		sim_load_exit(load);
	return err;
}

int sim_load_parse(const char *spec, struct sim_load *load)
{
	double v[3];
	int err;

	*load = (struct sim_load){ .kind = SIM_LOAD_CONSTANT };
	if (!spec)
		return -EINVAL;
	if (strncmp(spec, "csv:", 4) == 0)
		return spec[4] ? load_csv(spec + 4, load) : -EINVAL;
	if (strncmp(spec, "step:", 5) == 0) {
		err = parse_numbers(spec + 5, v, 3);
		if (!err)
			*load = (struct sim_load){
				.kind = SIM_LOAD_STEP, .kw = v[0], .kw2 = v[1], .at_s = v[2]
			};
		return err;
	}
	if (strncmp(spec, "daily:", 6) == 0) {
		err = parse_numbers(spec + 6, v, 2);
		if (!err)
			*load =
			    (struct sim_load){ .kind = SIM_LOAD_DAILY, .kw = v[0], .kw2 = v[1] };
		return err;
	}
	if (strncmp(spec, "const:", 6) == 0)
		spec += 6;
	err = parse_numbers(spec, v, 1);
	if (!err)
		load->kw = v[0];
	return err;
}

/* ---- the meter -------------------------------------------------------------------- */

static void acu_step(struct sim *sim, struct sim_dev *d, int64_t now_ns)
{
	struct sim_acu *acu = &d->acu;
	double h, t_s;

	if (now_ns < d->last_ns)
		return;
	h = (double)(now_ns - d->last_ns) * acu->prm.time_scale / 3.6e12;
	/* Energy over the interval at the power measured at its start. */
	if (acu->grid_kw > 0)
		acu->import_kwh += acu->grid_kw * h;
	else
		acu->export_kwh -= acu->grid_kw * h;
	t_s = (double)(now_ns - d->start_ns) * acu->prm.time_scale / 1e9;
	acu->load_kw = sim_load_kw(&acu->prm.load, t_s);
	acu->bess_kw = sim_bess_kw(sim);
	acu->grid_kw = acu->load_kw - acu->bess_kw;
	acu->frequency_hz =
	    acu->prm.has_frequency ? sim_load_kw(&acu->prm.frequency, t_s) : acu->prm.frequency_hz;
	d->last_ns = now_ns;
}

/* What the meter measures; each point of its profile is one of them (sim_acu.qty). */
enum acu_qty {
	ACU_Q_VOLTAGE_LN,
	ACU_Q_VOLTAGE_LL,
	ACU_Q_CURRENT,
	ACU_Q_POWER,
	ACU_Q_REACTIVE,
	ACU_Q_APPARENT,
	ACU_Q_POWER_FACTOR,
	ACU_Q_FREQUENCY,
	ACU_Q_ENERGY_IMPORT,
	ACU_Q_ENERGY_EXPORT,
	ACU_Q_N,
};

/* The quantities that have a role, and those known by the point's name (acuvim2.yaml's). */
static const struct {
	enum prof_role role;
	enum acu_qty qty;
} acu_roles[] = {
	{ PROF_ROLE_GRID_POWER, ACU_Q_POWER },
	{ PROF_ROLE_FREQUENCY, ACU_Q_FREQUENCY },
	{ PROF_ROLE_ENERGY_IMPORT, ACU_Q_ENERGY_IMPORT },
	{ PROF_ROLE_ENERGY_EXPORT, ACU_Q_ENERGY_EXPORT },
};

static const struct {
	const char *name;
	enum acu_qty qty;
} acu_names[] = {
	{ "voltage_l1n_v", ACU_Q_VOLTAGE_LN },	  { "voltage_l2n_v", ACU_Q_VOLTAGE_LN },
	{ "voltage_l3n_v", ACU_Q_VOLTAGE_LN },	  { "voltage_l1l2_v", ACU_Q_VOLTAGE_LL },
	{ "voltage_l2l3_v", ACU_Q_VOLTAGE_LL },	  { "voltage_l3l1_v", ACU_Q_VOLTAGE_LL },
	{ "current_l1_a", ACU_Q_CURRENT },	  { "current_l2_a", ACU_Q_CURRENT },
	{ "current_l3_a", ACU_Q_CURRENT },	  { "reactive_total_kvar", ACU_Q_REACTIVE },
	{ "apparent_total_kva", ACU_Q_APPARENT }, { "power_factor", ACU_Q_POWER_FACTOR },
};

/* The quantity of each point of p into qty[]: 0, or -EINVAL when one is none of them. */
static int map_points(const struct prof_profile *p, uint8_t *qty)
{
	for (unsigned i = 0; i < p->n_points; i++) {
		int q = -1;

		for (unsigned r = 0; r < sizeof(acu_roles) / sizeof(acu_roles[0]); r++)
			if (prof_role_point(p, acu_roles[r].role) == (int)i)
				q = (int)acu_roles[r].qty;
		for (unsigned k = 0; q < 0 && k < sizeof(acu_names) / sizeof(acu_names[0]); k++)
			if (strcmp(p->points[i].name, acu_names[k].name) == 0)
				q = (int)acu_names[k].qty;
		if (q < 0)
			return -EINVAL;
		qty[i] = (uint8_t)q;
	}
	return 0;
}

/* Engineering value of each quantity now. */
static void measure(const struct sim_acu *acu, double *v)
{
	double p_kw = acu->grid_kw, s_kva = fabs(p_kw) / acu->prm.pf;
	double q_kvar = sqrt(fmax(0, s_kva * s_kva - p_kw * p_kw));
	double vln = acu->prm.voltage_ln_v, vll = vln * sqrt(3.0);
	double i_a = s_kva * 1000.0 / (3.0 * vln);

	v[ACU_Q_VOLTAGE_LN] = vln;
	v[ACU_Q_VOLTAGE_LL] = vll;
	v[ACU_Q_CURRENT] = i_a;
	v[ACU_Q_POWER] = p_kw;
	v[ACU_Q_REACTIVE] = q_kvar;
	v[ACU_Q_APPARENT] = s_kva;
	v[ACU_Q_POWER_FACTOR] = acu->prm.pf;
	v[ACU_Q_FREQUENCY] = acu->frequency_hz;
	v[ACU_Q_ENERGY_IMPORT] = acu->import_kwh;
	v[ACU_Q_ENERGY_EXPORT] = acu->export_kwh;
}

/* Reads inside one of the profile's poll blocks, of its function code; nothing else. */
static int acu_serve(struct sim_dev *d, const struct mb_req *req, uint8_t *out, int64_t now_ns)
{
	const struct prof_profile *p = d->acu.p;
	uint16_t regs[MB_MAX_READ_REGS] = { 0 }, two[2];
	uint8_t wire[2 * MB_MAX_READ_REGS];
	uint32_t end = (uint32_t)req->addr + req->qty;
	double v[ACU_Q_N];
	bool is_fc_served = false;
	int block = -1;

	(void)now_ns;
	for (unsigned b = 0; b < p->n_blocks; b++) {
		const struct prof_block *pb = &p->blocks[b];

		if (pb->fc != req->fc)
			continue;
		is_fc_served = true;
		if (req->addr >= pb->start && end <= (uint32_t)pb->start + pb->count)
			block = (int)b;
	}
	if (!is_fc_served)
		return mb_encode_exception(out, MB_ADU_MAX, req, MB_EX_ILLEGAL_FUNCTION);
	if (block < 0)
		return mb_encode_exception(out, MB_ADU_MAX, req, MB_EX_ILLEGAL_DATA_ADDRESS);

	measure(&d->acu, v);
	for (unsigned i = 0; i < p->n_points; i++) {
		const struct prof_point *pt = &p->points[i];
		int n;

		if (pt->fc != req->fc)
			continue;
		n = prof_encode(p, i, d->acu.prm.order, v[d->acu.qty[i]], two);
		if (n < 0)
			continue; /* not representable: reads as zero */
		/* Copy the registers of this point that the request covers (it may cut a float). */
		for (unsigned k = 0; k < (unsigned)n; k++)
			if (pt->addr + k >= req->addr && pt->addr + k < end)
				regs[pt->addr + k - req->addr] = two[k];
	}
	mb_regs_to_wire(wire, regs, req->qty);
	return mb_encode_rsp(out, MB_ADU_MAX, req, wire);
}

const struct sim_ops sim_acu_ops = {
	.step = acu_step,
	.serve = acu_serve,
	.product = "Acuvim II simulator",
};

/* The shipped acuvim2 profile, loaded by the sim's first meter. Returns 0 or -errno/-PROF_E*. */
static int get_profile(struct sim *sim)
{
	char err[256];

	if (sim->acu_prof)
		return 0;
	return prof_load_builtin("acuvim2", &sim->acu_prof, err, sizeof(err));
}

/* A frequency profile the meter can show: a step or a CSV of 40..70 Hz (its range), no daily. */
static bool is_frequency_ok(const struct sim_load *f)
{
	if (f->kind == SIM_LOAD_CSV) {
		if (!f->n)
			return false;
		for (unsigned i = 0; i < f->n; i++)
			if (!(f->csv_kw[i] >= 40 && f->csv_kw[i] <= 70))
				return false;
		return true;
	}
	return (f->kind == SIM_LOAD_CONSTANT || f->kind == SIM_LOAD_STEP) && f->kw >= 40 &&
	       f->kw <= 70 && (f->kind == SIM_LOAD_CONSTANT || (f->kw2 >= 40 && f->kw2 <= 70));
}

/* A copy of src's CSV arrays into dst (which holds src's fields); 0 or -ENOMEM (none kept). */
static int copy_series(struct sim_load *dst, const struct sim_load *src)
{
	dst->t_s = NULL;
	dst->csv_kw = NULL;
	if (src->kind != SIM_LOAD_CSV)
		return 0;
	dst->t_s = malloc(src->n * sizeof(double));
	dst->csv_kw = malloc(src->n * sizeof(double));
	if (!dst->t_s || !dst->csv_kw) {
		sim_load_exit(dst);
		return -ENOMEM;
	}
	memcpy(dst->t_s, src->t_s, src->n * sizeof(double));
	memcpy(dst->csv_kw, src->csv_kw, src->n * sizeof(double));
	return 0;
}

int sim_acu_init(struct sim *sim, struct sim_dev *d, const struct sim_acu_params *prm)
{
	struct sim_acu *acu = &d->acu;
	const struct sim_load *l = &prm->load;
	int err;

	if (!(prm->pf > 0 && prm->pf <= 1) || !(prm->time_scale > 0) ||
	    !isfinite(prm->time_scale) || !(prm->voltage_ln_v > 0) ||
	    !isfinite(prm->voltage_ln_v) || !(prm->frequency_hz > 0) ||
	    !isfinite(prm->frequency_hz) || (unsigned)prm->order > MB_ORDER_DCBA ||
	    (unsigned)l->kind > SIM_LOAD_CSV || (l->kind == SIM_LOAD_CSV && !l->n) ||
	    (prm->has_frequency && !is_frequency_ok(&prm->frequency)))
		return -EINVAL;
	err = get_profile(sim);
	if (err)
		return err;
	*acu = (struct sim_acu){ .prm = *prm, .p = sim->acu_prof };
	err = map_points(acu->p, acu->qty);
	if (err)
		return err;
	acu->prm.frequency.t_s = acu->prm.frequency.csv_kw = NULL;
	err = copy_series(&acu->prm.load, l);
	if (!err && prm->has_frequency)
		err = copy_series(&acu->prm.frequency, &prm->frequency);
	if (err) {
		sim_load_exit(&acu->prm.load);
		return err;
	}
	acu->load_kw = sim_load_kw(&acu->prm.load, 0);
	acu->frequency_hz =
	    prm->has_frequency ? sim_load_kw(&acu->prm.frequency, 0) : prm->frequency_hz;
	acu->grid_kw = acu->load_kw;
	return 0;
}

void sim_acu_exit(struct sim_dev *d)
{
	sim_load_exit(&d->acu.prm.load);
	sim_load_exit(&d->acu.prm.frequency);
}

int sim_acu_get(struct sim *sim, int dev, struct sim_acu_state *st)
{
	struct sim_dev *d;
	int err = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	if (dev >= 0 && (unsigned)dev < sim->n_dev && sim->dev[dev].kind == SIM_ACUVIM2) {
		d = &sim->dev[dev];
		sim_step_all(sim, sim_now_ns());
		*st = (struct sim_acu_state){
			.load_kw = d->acu.load_kw,
			.bess_kw = d->acu.bess_kw,
			.grid_kw = d->acu.grid_kw,
			.import_kwh = d->acu.import_kwh,
			.export_kwh = d->acu.export_kwh,
			.frequency_hz = d->acu.frequency_hz,
		};
		err = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	return err;
}
