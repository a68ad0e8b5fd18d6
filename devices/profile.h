/* SPDX-License-Identifier: MIT */
/*
 * Device profiles: a device type's register map as data. Poll blocks say what is read each
 * cycle (one request per block), points say where each value lives and how to decode it,
 * flags mark the writable points, enums name status codes. The decoder turns one sample's
 * raw registers into engineering values (raw / scale), each with a validity flag.
 */
#ifndef FLUX_DEVICES_PROFILE_H
#define FLUX_DEVICES_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "io/modbus.h"

#define PROF_MAX_BLOCKS 8  /* poll blocks per profile */
#define PROF_MAX_POINTS 32 /* points per profile */

enum prof_type {
	PROF_U16,
	PROF_I16,
	PROF_U32,
	PROF_I32,
	PROF_F32, /* IEEE 754 binary32 */
};

/* prof_point.flags */
#define PROF_F_WRITABLE	    0x1 /* the controller may write it (FC06 / FC10) */
#define PROF_F_DEVICE_ORDER 0x2 /* 32-bit word order is the device's configured one */

/* One read per cycle: function (FC03 or FC04), first PDU address, register count (<= 125). */
struct prof_block {
	uint8_t fc;
	uint16_t start;
	uint16_t count;
};

/* A named code of an enum point (status). */
struct prof_enum {
	uint16_t value;
	const char *name;
};

/* A point: engineering value = raw / scale, in `unit`. Immutable table data. */
struct prof_point {
	const char *name; /* "soe_pct": the unit is in the name, as everywhere in Flux */
	const char *unit; /* "%", "kW", "" */
	uint8_t fc;	  /* table it lives in: FC03 holding or FC04 input registers */
	uint16_t addr;	  /* PDU address of its first register */
	enum prof_type type;
	enum mb_order order; /* 32-bit types without PROF_F_DEVICE_ORDER */
	unsigned flags;
	double scale; /* non-zero */
	const struct prof_enum *enums;
	unsigned n_enums;
};

/* A device type. The built-in ones are const tables (pp_profile, acu_profile). */
struct prof_profile {
	const char *name; /* the config's `type:` */
	enum mb_order default_order;
	const struct prof_block *blocks;
	unsigned n_blocks;
	const struct prof_point *points;
	unsigned n_points;
};

/* One poll's raw registers, per block, in host order, and each block's read result. */
struct prof_sample {
	int err[PROF_MAX_BLOCKS]; /* 0: read ok; -errno or -MB_E* otherwise */
	uint16_t regs[PROF_MAX_BLOCKS][MB_MAX_READ_REGS];
};

/* A decoded point: valid only if its block was read in this sample and the value is finite. */
struct prof_value {
	double value;
	bool is_valid;
};

/*
 * Check a table: 1..PROF_MAX_BLOCKS blocks of 1..125 registers, FC03 or FC04, not
 * overlapping; every point inside one block, no two points sharing a register, names unique,
 * scales non-zero and finite. Returns 0 or -EINVAL. Cold path.
 */
int prof_check(const struct prof_profile *p);

/* Built-in profile by type name ("powerpack", "acuvim2"), or NULL. */
const struct prof_profile *prof_find(const char *type);

/* Index of the point named `name`, or -ENOENT. */
int prof_point_index(const struct prof_profile *p, const char *name);

/* Index of the block holding point `idx`, or -ENOENT. Never allocates. */
int prof_point_block(const struct prof_profile *p, unsigned idx);

/* Registers a point of this type occupies (1 or 2). */
unsigned prof_type_width(enum prof_type type);

/* Name of `value` in the point's enum, or NULL when it has none. */
const char *prof_enum_name(const struct prof_point *pt, uint16_t value);

/*
 * RT(ctl)-safe: decode the points of block `block` from its registers (`regs`, `nregs` as read,
 * host order) into values[] (indexed like p->points; other entries untouched). err != 0 or
 * too few registers marks them invalid. `order` applies to PROF_F_DEVICE_ORDER points.
 */
void prof_decode_block(const struct prof_profile *p, unsigned block, enum mb_order order,
		       const uint16_t *regs, unsigned nregs, int err, struct prof_value *values);

/* RT(ctl)-safe: decode every block of a sample into values[p->n_points]. */
void prof_decode(const struct prof_profile *p, enum mb_order order, const struct prof_sample *s,
		 struct prof_value *values);

/*
 * Encode engineering `value` of point `idx` into regs[] (raw = value * scale, integers
 * rounded to nearest). Returns the register count (1 or 2), -ERANGE when the raw value does
 * not fit the type, -EINVAL for a bad index or a non-finite value. Never allocates.
 */
int prof_encode(const struct prof_profile *p, unsigned idx, enum mb_order order, double value,
		uint16_t *regs);

#endif /* FLUX_DEVICES_PROFILE_H */
