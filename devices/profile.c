// SPDX-License-Identifier: MIT
/*
 * Device profiles: table checks, lookups, and the decoder/encoder of point values. The one idea:
 * a point's meaning is entirely in its table row, so no code here knows any device type.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "devices/profile.h"

unsigned prof_type_width(enum prof_type type)
{
	return type == PROF_U16 || type == PROF_I16 ? 1 : 2;
}

static bool is_valid_type(enum prof_type type)
{
	return (unsigned)type <= PROF_F32;
}

static bool block_holds(const struct prof_block *b, uint8_t fc, uint32_t addr, unsigned width)
{
	return b->fc == fc && addr >= b->start && addr + width <= (uint32_t)b->start + b->count;
}

static bool ranges_overlap(uint32_t a, uint32_t an, uint32_t b, uint32_t bn)
{
	return a < b + bn && b < a + an;
}

static int check_blocks(const struct prof_profile *p)
{
	if (!p->n_blocks || p->n_blocks > PROF_MAX_BLOCKS)
		return -EINVAL;
	for (unsigned i = 0; i < p->n_blocks; i++) {
		const struct prof_block *b = &p->blocks[i];

		if (b->fc != MB_FC_READ_HOLDING_REGISTERS && b->fc != MB_FC_READ_INPUT_REGISTERS)
			return -EINVAL;
		if (!b->count || b->count > MB_MAX_READ_REGS || b->start + b->count > 0x10000)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (p->blocks[j].fc == b->fc &&
			    ranges_overlap(b->start, b->count, p->blocks[j].start,
					   p->blocks[j].count))
				return -EINVAL;
	}
	return 0;
}

/* The fields loaded profiles added: finite, ordered, limits only on writable points. */
static bool check_added(const struct prof_point *pt)
{
	unsigned ready = 0, fault = 0;

	if (!isfinite(pt->offset))
		return false;
	if (pt->has_range &&
	    !(isfinite(pt->range_lo) && isfinite(pt->range_hi) && pt->range_lo <= pt->range_hi))
		return false;
	if (pt->has_limits && !(isfinite(pt->write_min) && isfinite(pt->write_max) &&
				pt->write_min <= pt->write_max && (pt->flags & PROF_F_WRITABLE)))
		return false;
	for (unsigned i = 0; i < pt->n_enums; i++) {
		ready += !!(pt->enums[i].flags & PROF_E_READY);
		fault += !!(pt->enums[i].flags & PROF_E_FAULT);
	}
	if (ready > 1 || fault > 1)
		return false;
	if (pt->n_bits && (!pt->bits || pt->n_enums || pt->scale != 1 || pt->offset != 0 ||
			   (pt->type != PROF_U16 && pt->type != PROF_U32)))
		return false;
	for (unsigned i = 0; i < pt->n_bits; i++) {
		if (!pt->bits[i].name || pt->bits[i].bit >= 16 * prof_type_width(pt->type))
			return false;
		for (unsigned j = 0; j < i; j++)
			if (pt->bits[j].bit == pt->bits[i].bit)
				return false;
	}
	return true;
}

int prof_check(const struct prof_profile *p)
{
	int err;

	if (!p || !p->name || (unsigned)p->default_order > MB_ORDER_DCBA)
		return -EINVAL;
	err = check_blocks(p);
	if (err)
		return err;
	if (!p->n_points || p->n_points > PROF_MAX_POINTS)
		return -EINVAL;
	for (unsigned r = 0; r < PROF_ROLE_N; r++)
		if (p->roles[r] < 0 || (unsigned)p->roles[r] > p->n_points)
			return -EINVAL;
	for (unsigned i = 0; i < p->n_points; i++) {
		const struct prof_point *pt = &p->points[i];

		if (!pt->name || !pt->unit || !is_valid_type(pt->type) ||
		    (unsigned)pt->order > MB_ORDER_DCBA || !isfinite(pt->scale) || pt->scale == 0)
			return -EINVAL;
		if (pt->n_enums && !pt->enums)
			return -EINVAL;
		if (!check_added(pt))
			return -EINVAL;
		if (prof_point_block(p, i) < 0)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++) {
			const struct prof_point *o = &p->points[j];

			if (strcmp(o->name, pt->name) == 0)
				return -EINVAL;
			if (o->fc == pt->fc && ranges_overlap(o->addr, prof_type_width(o->type),
							      pt->addr, prof_type_width(pt->type)))
				return -EINVAL;
		}
	}
	return 0;
}

int prof_point_index(const struct prof_profile *p, const char *name)
{
	for (unsigned i = 0; name && i < p->n_points; i++)
		if (strcmp(p->points[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

int prof_point_block(const struct prof_profile *p, unsigned idx)
{
	const struct prof_point *pt;

	if (idx >= p->n_points)
		return -ENOENT;
	pt = &p->points[idx];
	for (unsigned b = 0; b < p->n_blocks; b++)
		if (block_holds(&p->blocks[b], pt->fc, pt->addr, prof_type_width(pt->type)))
			return (int)b;
	return -ENOENT;
}

const char *prof_enum_name(const struct prof_point *pt, uint16_t value)
{
	for (unsigned i = 0; i < pt->n_enums; i++)
		if (pt->enums[i].value == value)
			return pt->enums[i].name;
	return NULL;
}

const char *prof_bit_name(const struct prof_point *pt, unsigned bit)
{
	for (unsigned i = 0; i < pt->n_bits; i++)
		if (pt->bits[i].bit == bit)
			return pt->bits[i].name;
	return NULL;
}

/* Append s to buf[*off..len - 1), cut there; buf stays NUL-terminated. */
static void append(char *buf, size_t len, size_t *off, const char *s)
{
	while (*s && *off + 1 < len)
		buf[(*off)++] = *s++;
	buf[*off] = '\0';
}

size_t prof_bits_text(const struct prof_point *pt, uint32_t bits, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	for (unsigned b = 0; b < 32; b++) {
		const char *name = pt ? prof_bit_name(pt, b) : NULL;
		char num[8] = "bit";

		if (!(bits & (1u << b)))
			continue;
		if (off)
			append(buf, len, &off, ",");
		if (!name) { /* "bit0".."bit31" */
			num[3] = (char)(b >= 10 ? '0' + b / 10 : '0' + b);
			num[4] = (char)(b >= 10 ? '0' + b % 10 : '\0');
			num[5] = '\0';
			name = num;
		}
		append(buf, len, &off, name);
	}
	return off;
}

static const char *const role_names[PROF_ROLE_N] = {
	[PROF_ROLE_SOE] = "soe",
	[PROF_ROLE_STATUS] = "status",
	[PROF_ROLE_TARGET_POWER] = "target_power",
	[PROF_ROLE_COMMAND_SOURCE] = "command_source",
	[PROF_ROLE_AVAILABLE_BLOCKS] = "available_blocks",
	[PROF_ROLE_HEARTBEAT] = "heartbeat",
	[PROF_ROLE_ACTIVE_POWER] = "active_power",
	[PROF_ROLE_MAX_CHARGE_POWER] = "max_charge_power",
	[PROF_ROLE_MAX_DISCHARGE_POWER] = "max_discharge_power",
	[PROF_ROLE_GRID_POWER] = "grid_power",
	[PROF_ROLE_FREQUENCY] = "frequency",
	[PROF_ROLE_ENERGY_IMPORT] = "energy_import",
	[PROF_ROLE_ENERGY_EXPORT] = "energy_export",
	[PROF_ROLE_ALARMS] = "alarms",
	[PROF_ROLE_FAULTS] = "faults",
};

const char *prof_role_name(enum prof_role role)
{
	return (unsigned)role < PROF_ROLE_N ? role_names[role] : NULL;
}

int prof_role_point(const struct prof_profile *p, enum prof_role role)
{
	int idx;

	if ((unsigned)role >= PROF_ROLE_N)
		return -ENOENT;
	idx = p->roles[role] - 1;
	return idx >= 0 && (unsigned)idx < p->n_points ? idx : -ENOENT;
}

int prof_enum_value(const struct prof_point *pt, unsigned flag)
{
	for (unsigned i = 0; i < pt->n_enums; i++)
		if (pt->enums[i].flags & flag)
			return pt->enums[i].value;
	return -ENOENT;
}

static enum mb_order point_order(const struct prof_point *pt, enum mb_order device)
{
	return pt->flags & PROF_F_DEVICE_ORDER ? device : pt->order;
}

/* Raw value of a point from its first register; NaN never comes out of the integer types. */
static double raw_value(const struct prof_point *pt, const uint16_t *r, enum mb_order order)
{
	switch (pt->type) {
	case PROF_U16:
		return r[0];
	case PROF_I16:
		return mb_get_i16(r[0]);
	case PROF_U32:
		return mb_get_u32(r, order);
	case PROF_I32:
		return mb_get_i32(r, order);
	case PROF_F32:
	default:
		return mb_get_f32(r, order);
	}
}

void prof_decode_block(const struct prof_profile *p, unsigned block, enum mb_order order,
		       const uint16_t *regs, unsigned nregs, int err, struct prof_value *values)
{
	const struct prof_block *b;

	if (block >= p->n_blocks)
		return;
	b = &p->blocks[block];
	for (unsigned i = 0; i < p->n_points; i++) {
		const struct prof_point *pt = &p->points[i];
		unsigned width = prof_type_width(pt->type), off;
		double v;

		if (!block_holds(b, pt->fc, pt->addr, width))
			continue;
		off = pt->addr - b->start;
		values[i] = (struct prof_value){ .value = 0, .is_valid = false };
		if (err || !regs || off + width > nregs)
			continue;
		v = raw_value(pt, regs + off, point_order(pt, order)) / pt->scale + pt->offset;
		if (!isfinite(v))
			continue;
		values[i] = (struct prof_value){ .value = v, .is_valid = true };
	}
}

void prof_decode(const struct prof_profile *p, enum mb_order order, const struct prof_sample *s,
		 struct prof_value *values)
{
	for (unsigned b = 0; b < p->n_blocks && b < PROF_MAX_BLOCKS; b++)
		prof_decode_block(p, b, order, s->regs[b], p->blocks[b].count, s->err[b], values);
}

int prof_encode(const struct prof_profile *p, unsigned idx, enum mb_order order, double value,
		uint16_t *regs)
{
	static const double lo[] = {
		[PROF_U16] = 0, [PROF_I16] = INT16_MIN, [PROF_U32] = 0, [PROF_I32] = INT32_MIN
	};
	static const double hi[] = { [PROF_U16] = UINT16_MAX,
				     [PROF_I16] = INT16_MAX,
				     [PROF_U32] = UINT32_MAX,
				     [PROF_I32] = INT32_MAX };
	const struct prof_point *pt;
	double raw;
	int64_t v = 0;

	if (idx >= p->n_points || !isfinite(value))
		return -EINVAL;
	pt = &p->points[idx];
	raw = (value - pt->offset) * pt->scale;
	order = point_order(pt, order);
	if (pt->type == PROF_F32) {
		if (!isfinite((float)raw))
			return -ERANGE;
		mb_set_f32(regs, (float)raw, order);
		return 2;
	}
	raw = nearbyint(raw);
	if (!(raw >= lo[pt->type] && raw <= hi[pt->type]))
		return -ERANGE;
	v = (int64_t)raw;
	if (pt->type == PROF_U32 || pt->type == PROF_I32)
		mb_set_u32(regs, (uint32_t)v, order);
	else
		regs[0] = (uint16_t)v;
	return (int)prof_type_width(pt->type);
}
