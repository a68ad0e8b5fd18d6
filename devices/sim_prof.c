// SPDX-License-Identifier: MIT
/*
 * A simulated device for any profile (devices/profile.h): every point served at its function
 * and address, encoded by prof_encode() exactly as prof_decode() reads it back. The one idea:
 * the profile is the whole device. The model is one engineering value per point; constants,
 * a CSV stepped in time and a little physics for the roles the profile has (status, target
 * and active power, soe, energy, max charge/discharge, faults) move them, so nothing here
 * knows a device type. What a BESS reports of itself (max charge/discharge, alarm and fault
 * words) is read-only on a device; here it takes writes too, so a test or a person can
 * derate the battery or raise a fault while it runs.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "devices/sim_int.h"

#define SIM_PROF_STARTUP_MS_MAX 600000

/* ---- values and the CSV ------------------------------------------------------------- */

/* A bit field's value from bit names or numbers joined by '|' ("fan_fault|bit5|7"). */
static int parse_bits(const struct prof_point *pt, const char *s, double *v)
{
	uint32_t word = 0;
	unsigned width = 16 * prof_type_width(pt->type);

	for (const char *p = s;;) {
		size_t n = strcspn(p, "|");
		char *end;
		unsigned long b;
		unsigned k;

		for (k = 0; k < pt->n_bits; k++)
			if (strlen(pt->bits[k].name) == n && !strncmp(pt->bits[k].name, p, n))
				break;
		if (k < pt->n_bits) {
			b = pt->bits[k].bit;
		} else {
			if (n > 3 && !strncmp(p, "bit", 3))
				p += 3, n -= 3;
			b = strtoul(p, &end, 10);
			if (!n || end != p + n || b >= width)
				return -EINVAL;
		}
		word |= 1u << b;
		p += n;
		if (!*p)
			break;
		p++;
	}
	*v = word;
	return 0;
}

int sim_prof_parse_value(const struct prof_profile *p, unsigned idx, const char *s, double *v)
{
	const struct prof_point *pt;
	uint16_t regs[2];
	char *end;

	if (!p || idx >= p->n_points || !s)
		return -EINVAL;
	pt = &p->points[idx];
	if (pt->n_bits && *s && !(*s >= '0' && *s <= '9'))
		return parse_bits(pt, s, v);
	for (unsigned i = 0; i < pt->n_enums; i++) {
		if (strcmp(pt->enums[i].name, s) == 0) {
			*v = pt->enums[i].value;
			return 0;
		}
	}
	*v = strtod(s, &end);
	if (end == s || *end || !isfinite(*v))
		return -EINVAL;
	return prof_encode(p, idx, p->default_order, *v, regs) < 0 ? -ERANGE : 0;
}

void sim_prof_csv_exit(struct sim_prof_csv *csv)
{
	free(csv->t_s);
	free(csv->v);
	csv->t_s = NULL;
	csv->v = NULL;
	csv->n_rows = 0;
}

int sim_prof_csv_row(const struct sim_prof_csv *csv, double t_s)
{
	unsigned lo = 0, hi;

	if (!csv || !csv->n_rows || !(t_s >= csv->t_s[0]))
		return -1;
	hi = csv->n_rows; /* t_s[lo] <= t_s < t_s[hi] (hi = n_rows: past the last) */
	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;

		if (csv->t_s[mid] <= t_s)
			lo = mid;
		else
			hi = mid;
	}
	return (int)lo;
}

/* Cut line at its commas into at most cap fields, each trimmed of blanks. Returns the count,
 * or cap + 1 when there are more. */
static unsigned split_fields(char *line, char **field, unsigned cap)
{
	unsigned n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	for (char *s = line;; s++) {
		char *comma = strchr(s, ','), *e;

		if (comma)
			*comma = '\0';
		s += strspn(s, " \t");
		for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (n == cap)
			return cap + 1;
		field[n++] = s;
		if (!comma)
			return n;
		s = comma;
	}
}

struct csv_ctx {
	const char *path;
	const struct prof_profile *p;
	struct sim_prof_csv *csv;
	unsigned cap_rows;
	char *err;
	size_t cap;
};

/* The header `t,NAME,...`. Returns 0 or -EINVAL (message in ctx->err). */
static int csv_header(struct csv_ctx *x, char *line, unsigned lineno)
{
	char *f[PROF_MAX_POINTS + 2];
	unsigned n = split_fields(line, f, PROF_MAX_POINTS + 2);

	if (strcmp(f[0], "t") != 0) {
		snprintf(x->err, x->cap, "%s:%u: header: want t,NAME,... (t: seconds), got '%s'",
			 x->path, lineno, f[0]);
		return -EINVAL;
	}
	if (n < 2 || n > x->p->n_points + 1) {
		snprintf(x->err, x->cap, "%s:%u: header: want t and 1..%u point names", x->path,
			 lineno, x->p->n_points);
		return -EINVAL;
	}
	for (unsigned i = 1; i < n; i++) {
		int idx = prof_point_index(x->p, f[i]);

		if (idx < 0) {
			snprintf(x->err, x->cap,
				 "%s:%u: header: column %u: profile %s has no point '%s'", x->path,
				 lineno, i + 1, x->p->name, f[i]);
			return -EINVAL;
		}
		for (unsigned k = 0; k < i - 1; k++) {
			if (x->csv->col[k] == (unsigned)idx) {
				snprintf(x->err, x->cap,
					 "%s:%u: header: column %u: '%s' given twice", x->path,
					 lineno, i + 1, f[i]);
				return -EINVAL;
			}
		}
		x->csv->col[i - 1] = (unsigned)idx;
	}
	x->csv->n_cols = n - 1;
	return 0;
}

/* Room for one more row. Returns 0 or -ENOMEM. */
static int csv_grow(struct csv_ctx *x)
{
	struct sim_prof_csv *c = x->csv;
	unsigned ncap = x->cap_rows ? 2 * x->cap_rows : 64;
	double *t, *v;

	if (c->n_rows < x->cap_rows)
		return 0;
	t = realloc(c->t_s, ncap * sizeof(double));
	if (!t)
		return -ENOMEM;
	c->t_s = t;
	v = realloc(c->v, (size_t)ncap * c->n_cols * sizeof(double));
	if (!v)
		return -ENOMEM;
	c->v = v;
	x->cap_rows = ncap;
	return 0;
}

/* One data row. Returns 0, -EINVAL (message in ctx->err) or -ENOMEM. */
static int csv_row(struct csv_ctx *x, char *line, unsigned lineno)
{
	struct sim_prof_csv *c = x->csv;
	char *f[PROF_MAX_POINTS + 2], *end;
	unsigned n = split_fields(line, f, PROF_MAX_POINTS + 2);
	double t, *v;
	int err;

	if (n != c->n_cols + 1) {
		snprintf(x->err, x->cap, "%s:%u: %s%u fields, want %u (t and %u point(s))", x->path,
			 lineno, n > PROF_MAX_POINTS + 2 ? "more than " : "",
			 n > PROF_MAX_POINTS + 2 ? PROF_MAX_POINTS + 2 : n, c->n_cols + 1,
			 c->n_cols);
		return -EINVAL;
	}
	if (c->n_rows == SIM_PROF_CSV_ROWS_MAX) {
		snprintf(x->err, x->cap, "%s:%u: more than %u rows", x->path, lineno,
			 SIM_PROF_CSV_ROWS_MAX);
		return -EINVAL;
	}
	t = strtod(f[0], &end);
	if (end == f[0] || *end || !isfinite(t) || t < 0) {
		snprintf(x->err, x->cap, "%s:%u: t: want seconds >= 0, got '%s'", x->path, lineno,
			 f[0]);
		return -EINVAL;
	}
	if (c->n_rows && t <= c->t_s[c->n_rows - 1]) {
		snprintf(x->err, x->cap,
			 "%s:%u: t %g is not after the previous row's %g: times must rise", x->path,
			 lineno, t, c->t_s[c->n_rows - 1]);
		return -EINVAL;
	}
	err = csv_grow(x);
	if (err)
		return err;
	v = c->v + (size_t)c->n_rows * c->n_cols;
	for (unsigned i = 0; i < c->n_cols; i++) {
		const struct prof_point *pt = &x->p->points[c->col[i]];

		err = sim_prof_parse_value(x->p, c->col[i], f[i + 1], &v[i]);
		if (err == -ERANGE) {
			snprintf(x->err, x->cap, "%s:%u: %s: %s does not fit its %s register(s)",
				 x->path, lineno, pt->name, f[i + 1],
				 prof_type_width(pt->type) == 1 ? "16-bit" : "32-bit");
			return -EINVAL;
		}
		if (err) {
			snprintf(x->err, x->cap, "%s:%u: %s: want a number%s, got '%s'", x->path,
				 lineno, pt->name, pt->n_enums ? " or a code name" : "", f[i + 1]);
			return -EINVAL;
		}
	}
	c->t_s[c->n_rows++] = t;
	return 0;
}

int sim_prof_csv_load(const char *path, const struct prof_profile *p, struct sim_prof_csv *csv,
		      char *err, size_t cap)
{
	struct csv_ctx x = { .path = path, .p = p, .csv = csv, .err = err, .cap = cap };
	char line[SIM_PROF_CSV_LINE_MAX];
	unsigned lineno = 0;
	bool has_header = false;
	size_t total = 0;
	struct stat st;
	int ret = 0;
	FILE *f;

	*csv = (struct sim_prof_csv){ 0 };
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, cap, "%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > (off_t)SIM_PROF_CSV_BYTES_MAX) {
		snprintf(err, cap, "%s: %lld bytes: a value CSV is at most %u", path,
			 (long long)st.st_size, SIM_PROF_CSV_BYTES_MAX);
		ret = -EFBIG;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		const char *s = line + strspn(line, " \t");

		lineno++;
		total += len;
		if (total > SIM_PROF_CSV_BYTES_MAX) { /* a pipe or a file that grows */
			snprintf(err, cap, "%s:%u: past %u bytes: a value CSV is not that long",
				 path, lineno, SIM_PROF_CSV_BYTES_MAX);
			ret = -EFBIG;
			goto out;
		}
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(err, cap, "%s:%u: line longer than %u bytes", path, lineno,
				 SIM_PROF_CSV_LINE_MAX - 2);
			ret = -EINVAL;
			goto out;
		}
		if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0')
			continue;
		ret = has_header ? csv_row(&x, line, lineno) : csv_header(&x, line, lineno);
		if (ret)
			goto out;
		has_header = true;
	}
	if (ferror(f)) {
		ret = -EIO;
		snprintf(err, cap, "%s: read error", path);
	} else if (!has_header) {
		ret = -EINVAL;
		snprintf(err, cap, "%s: no header: want a line t,NAME,... then rows", path);
	} else if (!csv->n_rows) {
		ret = -EINVAL;
		snprintf(err, cap, "%s: no rows after the header", path);
	}
out:
	if (ret == -ENOMEM)
		snprintf(err, cap, "%s:%u: out of memory", path, lineno);
	fclose(f);
	if (ret)
		sim_prof_csv_exit(csv);
	return ret;
}

/* ---- the device ------------------------------------------------------------------- */

/* Index of the point with role r, or -1. */
static int role(const struct sim_prof *sp, enum prof_role r)
{
	int idx = prof_role_point(sp->p, r);

	return idx >= 0 ? idx : -1;
}

/* The SOE's bounds: its range, or 0..100 %. */
static void soe_bounds(const struct prof_point *pt, double *lo, double *hi)
{
	*lo = pt->has_range ? pt->range_lo : 0;
	*hi = pt->has_range ? pt->range_hi : 100;
}

/*
 * Power the battery delivers at its target, kW (+ discharge): nothing unless READY and
 * without a fault bit, nothing past an SOE bound, at most the max charge/discharge it
 * reports (magnitudes; a negative one as 0).
 */
static double delivered_kw(const struct sim_prof *sp)
{
	int tgt = role(sp, PROF_ROLE_TARGET_POWER), st = role(sp, PROF_ROLE_STATUS);
	int soe = role(sp, PROF_ROLE_SOE), ready;
	int faults = role(sp, PROF_ROLE_FAULTS), mc = role(sp, PROF_ROLE_MAX_CHARGE_POWER);
	int md = role(sp, PROF_ROLE_MAX_DISCHARGE_POWER);
	double kw, lo, hi;

	if (tgt < 0)
		return 0;
	kw = sp->val[tgt];
	if (faults >= 0 && sp->val[faults] != 0)
		return 0;
	if (md >= 0 && kw > 0)
		kw = fmin(kw, fmax(0, sp->val[md]));
	if (mc >= 0 && kw < 0)
		kw = fmax(kw, -fmax(0, sp->val[mc]));
	if (st >= 0) {
		ready = prof_enum_value(&sp->p->points[st], PROF_E_READY);
		if (ready < 0 || sp->val[st] != ready)
			return 0;
	}
	if (soe >= 0) {
		soe_bounds(&sp->p->points[soe], &lo, &hi);
		if ((kw > 0 && sp->val[soe] <= lo) || (kw < 0 && sp->val[soe] >= hi))
			return 0;
	}
	return kw;
}

/* Recompute the delivered power and the active_power point that shows it. */
static void update_power(struct sim_prof *sp)
{
	int ap = role(sp, PROF_ROLE_ACTIVE_POWER);

	sp->delivered_kw = delivered_kw(sp);
	if (ap >= 0 && !sp->is_held[ap])
		sp->val[ap] = sp->delivered_kw;
}

/* Add kwh to energy point e unless held. */
static void add_energy(struct sim_prof *sp, int e, double kwh)
{
	if (e >= 0 && !sp->is_held[e])
		sp->val[e] += kwh;
}

/* Apply the CSV row in effect at t_s, if it is a new one. */
static void apply_csv(struct sim_prof *sp, double t_s)
{
	const struct sim_prof_csv *c = sp->prm.csv;
	int row = sim_prof_csv_row(c, t_s);

	if (row <= sp->csv_row)
		return;
	for (unsigned i = 0; i < c->n_cols; i++)
		sp->val[c->col[i]] = c->v[(size_t)row * c->n_cols + i];
	sp->csv_row = row;
}

static void prof_step(struct sim *sim, struct sim_dev *d, int64_t now_ns)
{
	struct sim_prof *sp = &d->prof;
	int soe = role(sp, PROF_ROLE_SOE), st = role(sp, PROF_ROLE_STATUS);
	int grid = role(sp, PROF_ROLE_GRID_POWER);
	double h, lo, hi;

	(void)sim;
	if (now_ns <= d->last_ns)
		return;
	/* Energy over the interval at the power in effect at its start. */
	h = (double)(now_ns - d->last_ns) * sp->prm.time_scale / 3.6e12;
	if (soe >= 0 && !sp->is_held[soe] && sp->delivered_kw != 0) {
		soe_bounds(&sp->p->points[soe], &lo, &hi);
		sp->val[soe] -= sp->delivered_kw * h / sp->prm.capacity_kwh * 100.0;
		sp->val[soe] = fmax(lo, fmin(hi, sp->val[soe]));
	}
	if (grid >= 0 && sp->val[grid] > 0)
		add_energy(sp, role(sp, PROF_ROLE_ENERGY_IMPORT), sp->val[grid] * h);
	else if (grid >= 0)
		add_energy(sp, role(sp, PROF_ROLE_ENERGY_EXPORT), -sp->val[grid] * h);
	if (!sp->is_started && now_ns >= sp->ready_ns) {
		int ready = st >= 0 ? prof_enum_value(&sp->p->points[st], PROF_E_READY) : -1;

		sp->is_started = true;
		if (ready >= 0 && !sp->is_held[st])
			sp->val[st] = ready;
	}
	apply_csv(sp, (double)(now_ns - d->start_ns) * sp->prm.time_scale / 1e9);
	update_power(sp);
	d->last_ns = now_ns;
}

/* Whether register addr of table fc answers a read. */
static bool is_readable(const struct sim_prof *sp, uint8_t fc, uint32_t addr)
{
	const struct prof_profile *p = sp->p;

	if (sp->prm.is_strict_holes) {
		for (unsigned i = 0; i < p->n_points; i++)
			if (p->points[i].fc == fc && addr >= p->points[i].addr &&
			    addr < p->points[i].addr + prof_type_width(p->points[i].type))
				return true;
		return false;
	}
	for (unsigned b = 0; b < p->n_blocks; b++)
		if (p->blocks[b].fc == fc && addr >= p->blocks[b].start &&
		    addr < (uint32_t)p->blocks[b].start + p->blocks[b].count)
			return true;
	return false;
}

static int serve_read(struct sim_prof *sp, const struct mb_req *req, uint8_t *out)
{
	uint16_t regs[MB_MAX_READ_REGS] = { 0 }, two[2];
	uint8_t wire[2 * MB_MAX_READ_REGS];
	uint32_t end = (uint32_t)req->addr + req->qty;

	for (uint32_t a = req->addr; a < end; a++)
		if (!is_readable(sp, req->fc, a))
			return mb_encode_exception(out, MB_ADU_MAX, req,
						   MB_EX_ILLEGAL_DATA_ADDRESS);
	for (unsigned i = 0; i < sp->p->n_points; i++) {
		const struct prof_point *pt = &sp->p->points[i];
		int n;

		if (pt->fc != req->fc || pt->addr >= end ||
		    pt->addr + prof_type_width(pt->type) <= req->addr)
			continue;
		n = prof_encode(sp->p, i, sp->order, sp->val[i], two);
		/* Not representable (a value the physics took out of range): reads as zero. */
		for (unsigned k = 0; n > 0 && k < (unsigned)n; k++)
			if (pt->addr + k >= req->addr && pt->addr + k < end)
				regs[pt->addr + k - req->addr] = two[k];
	}
	mb_regs_to_wire(wire, regs, req->qty);
	return mb_encode_rsp(out, MB_ADU_MAX, req, wire);
}

/* Engineering value of point pt from its registers r. */
static double decode_point(const struct prof_point *pt, const uint16_t *r, enum mb_order device)
{
	enum mb_order o = pt->flags & PROF_F_DEVICE_ORDER ? device : pt->order;
	double raw;

	switch (pt->type) {
	case PROF_U16:
		raw = r[0];
		break;
	case PROF_I16:
		raw = mb_get_i16(r[0]);
		break;
	case PROF_U32:
		raw = mb_get_u32(r, o);
		break;
	case PROF_I32:
		raw = mb_get_i32(r, o);
		break;
	case PROF_F32:
	default:
		raw = mb_get_f32(r, o);
		break;
	}
	return raw / pt->scale + pt->offset;
}

/* Whether point i takes writes: rw, or what the BESS reports of itself (see the top). */
static bool is_writable(const struct sim_prof *sp, int i)
{
	static const enum prof_role reported[] = { PROF_ROLE_MAX_CHARGE_POWER,
						   PROF_ROLE_MAX_DISCHARGE_POWER, PROF_ROLE_ALARMS,
						   PROF_ROLE_FAULTS };

	if (sp->p->points[i].flags & PROF_F_WRITABLE)
		return true;
	for (unsigned k = 0; k < sizeof(reported) / sizeof(reported[0]); k++)
		if (role(sp, reported[k]) == i)
			return true;
	return false;
}

/* The holding-register point holding addr, or -1. */
static int point_at(const struct prof_profile *p, uint32_t addr)
{
	for (unsigned i = 0; i < p->n_points; i++)
		if (p->points[i].fc == MB_FC_READ_HOLDING_REGISTERS && addr >= p->points[i].addr &&
		    addr < p->points[i].addr + prof_type_width(p->points[i].type))
			return (int)i;
	return -1;
}

/*
 * FC06/FC16, all or nothing: every register must belong to a writable holding-register point
 * (rw, or a reported one: is_writable()) the write covers whole (else 0x02), every value must
 * be finite and within its limits (else 0x03); only then is any applied. A reported point
 * written stays as written (held).
 */
static int serve_write(struct sim_prof *sp, const struct mb_req *req, uint8_t *out)
{
	const struct prof_profile *p = sp->p;
	uint16_t regs[MB_MAX_WRITE_REGS];
	double v[PROF_MAX_POINTS] = { 0 };
	int idx[PROF_MAX_POINTS] = { 0 }, st = role(sp, PROF_ROLE_STATUS);
	unsigned n = 0;

	if (req->fc == MB_FC_WRITE_SINGLE_REGISTER)
		regs[0] = req->value;
	else
		mb_regs_from_wire(regs, req->data, req->qty);
	for (unsigned off = 0; off < req->qty;) {
		int i = point_at(p, (uint32_t)req->addr + off);
		const struct prof_point *pt = i >= 0 ? &p->points[i] : NULL;
		unsigned width = pt ? prof_type_width(pt->type) : 1;

		if (!pt || !is_writable(sp, i) || pt->addr != req->addr + off ||
		    off + width > req->qty)
			return mb_encode_exception(out, MB_ADU_MAX, req,
						   MB_EX_ILLEGAL_DATA_ADDRESS);
		v[n] = decode_point(pt, regs + off, sp->order);
		if (!isfinite(v[n]) ||
		    (pt->has_limits && (v[n] < pt->write_min || v[n] > pt->write_max)))
			return mb_encode_exception(out, MB_ADU_MAX, req, MB_EX_ILLEGAL_DATA_VALUE);
		idx[n++] = i;
		off += width;
	}
	for (unsigned k = 0; k < n; k++) {
		sp->val[idx[k]] = v[k];
		if (!(p->points[idx[k]].flags & PROF_F_WRITABLE))
			sp->is_held[idx[k]] = true;
		if (idx[k] == st) { /* a status written: no startup overrides it */
			sp->is_started = true;
			sp->is_held[st] = true;
		}
	}
	update_power(sp);
	return mb_encode_rsp(out, MB_ADU_MAX, req, NULL);
}

static int prof_serve(struct sim_dev *d, const struct mb_req *req, uint8_t *out, int64_t now_ns)
{
	(void)now_ns;
	switch (req->fc) {
	case MB_FC_READ_HOLDING_REGISTERS:
	case MB_FC_READ_INPUT_REGISTERS:
		return serve_read(&d->prof, req, out);
	case MB_FC_WRITE_SINGLE_REGISTER:
	case MB_FC_WRITE_MULTIPLE_REGISTERS:
		return serve_write(&d->prof, req, out);
	default:
		return mb_encode_exception(out, MB_ADU_MAX, req, MB_EX_ILLEGAL_FUNCTION);
	}
}

static const char *prof_product(const struct sim_dev *d)
{
	return d->prof.product;
}

const struct sim_ops sim_prof_ops = {
	.step = prof_step,
	.serve = prof_serve,
	.product = "profile simulator",
	.product_of = prof_product,
};

/* The value point i starts at when none is given. */
static double default_value(const struct prof_profile *p, unsigned i)
{
	const struct prof_point *pt = &p->points[i];
	int tgt = prof_role_point(p, PROF_ROLE_TARGET_POWER);

	/* Max charge/discharge: all it may take (the top of its range, else of the target's
	 * limits), so a battery is not derated unless told. */
	if ((int)i == prof_role_point(p, PROF_ROLE_MAX_CHARGE_POWER) ||
	    (int)i == prof_role_point(p, PROF_ROLE_MAX_DISCHARGE_POWER)) {
		if (pt->has_range)
			return pt->range_hi;
		if (tgt >= 0 && p->points[tgt].has_limits)
			return fmax(fabs(p->points[tgt].write_min), fabs(p->points[tgt].write_max));
		return 0;
	}
	if (pt->has_range)
		return (pt->range_lo + pt->range_hi) / 2;
	if ((int)i == prof_role_point(p, PROF_ROLE_SOE))
		return 50;
	return 0;
}

static int check_params(const struct prof_profile *p, const struct sim_prof_params *prm)
{
	const struct sim_prof_csv *c = prm->csv;
	uint16_t regs[2];

	if (prof_check(p) || (prm->has_order && (unsigned)prm->order > MB_ORDER_DCBA) ||
	    !(prm->capacity_kwh > 0) || !isfinite(prm->capacity_kwh) || !(prm->time_scale > 0) ||
	    !isfinite(prm->time_scale) || prm->startup_ms > SIM_PROF_STARTUP_MS_MAX)
		return -EINVAL;
	if (c && (!c->n_rows || !c->t_s || !c->v || !c->n_cols || c->n_cols > p->n_points))
		return -EINVAL;
	for (unsigned i = 0; c && i < c->n_cols; i++)
		if (c->col[i] >= p->n_points)
			return -EINVAL;
	for (unsigned i = 0; i < p->n_points; i++) {
		if (!prm->has_value[i])
			continue;
		if (!isfinite(prm->value[i]))
			return -EINVAL;
		if (prof_encode(p, i, p->default_order, prm->value[i], regs) < 0)
			return -ERANGE;
	}
	return 0;
}

int sim_prof_init(struct sim_dev *d, const struct sim_prof_args *args)
{
	const struct prof_profile *p = args->p;
	struct sim_prof *sp = &d->prof;
	int err;

	if (!p || !args->prm)
		return -EINVAL;
	err = check_params(p, args->prm);
	if (err)
		return err;
	*sp =
	    (struct sim_prof){ .p = p,
			       .prm = *args->prm,
			       .order = args->prm->has_order ? args->prm->order : p->default_order,
			       .ready_ns = d->start_ns + (int64_t)args->prm->startup_ms * 1000000,
			       .csv_row = -1 };
	for (unsigned i = 0; i < p->n_points; i++) {
		sp->val[i] = sp->prm.has_value[i] ? sp->prm.value[i] : default_value(p, i);
		/* A given SOE is where the battery starts; any other given value stays. */
		sp->is_held[i] =
		    sp->prm.has_value[i] && (int)i != prof_role_point(p, PROF_ROLE_SOE);
	}
	for (unsigned i = 0; sp->prm.csv && i < sp->prm.csv->n_cols; i++)
		sp->is_held[sp->prm.csv->col[i]] = true;
	snprintf(sp->product, sizeof(sp->product), "%s simulator", p->name);
	apply_csv(sp, 0);
	update_power(sp);
	return 0;
}

int sim_prof_get(struct sim *sim, int dev, double *values, unsigned cap)
{
	const struct sim_prof *sp;
	int ret = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	if (dev >= 0 && (unsigned)dev < sim->n_dev && sim->dev[dev].kind == SIM_PROFILE) {
		sim_step_all(sim, sim_now_ns());
		sp = &sim->dev[dev].prof;
		for (unsigned i = 0; i < sp->p->n_points && i < cap; i++)
			values[i] = sp->val[i];
		ret = (int)sp->p->n_points;
	}
	pthread_mutex_unlock(&sim->lock);
	return ret;
}
