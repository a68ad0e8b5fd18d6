/* SPDX-License-Identifier: MIT */
/*
 * Device profiles: a device type's register map as data. Poll blocks say what is read each
 * cycle (one request per block), points say where each value lives and how to decode it,
 * flags mark the writable points, enums name status codes. The decoder turns one sample's
 * raw registers into engineering values (raw / scale + offset), each with a validity flag.
 * Profiles are YAML files loaded at start (devices/profile_load.c; format in docs/profiles.md;
 * the shipped ones in devices/profiles/, embedded by devices/profiles_builtin.c), whose poll
 * blocks are planned from the points (devices/profile_plan.c). The decoder also takes a table
 * built by hand, which prof_check() checks the same way.
 */
#ifndef FLUX_DEVICES_PROFILE_H
#define FLUX_DEVICES_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/modbus.h"

#define PROF_MAX_BLOCKS 8  /* poll blocks per profile */
#define PROF_MAX_POINTS 32 /* points per profile */

/* Loaded profiles (prof_load_*()): sizes of their names and tables. */
#define PROF_NAME_MAX	     48		/* bytes of a profile, point or enum name, with the NUL */
#define PROF_UNIT_MAX	     16		/* bytes of a unit, with the NUL */
#define PROF_MAX_ENUMS	     16		/* named codes per enum point */
#define PROF_MAX_BITS	     64		/* named bits per profile, over all its bit fields */
#define PROF_MAX_GAP_DEFAULT 8		/* registers a poll block may span between two points */
#define PROF_FILE_MAX	     (1u << 20) /* a profile file is a few KiB; more is not one */

/*
 * Error codes of the loader, returned negated (-PROF_EOVERLAP); project codes start at 4096
 * (io/modbus.h 4096..4607, control/status.h 5120). The message (file:line: key: ...) says
 * which key; the code says what kind of mistake it is. File errors are -errno.
 */
enum {
	PROF_ERR_BASE = 6144,
	PROF_ESYNTAX = PROF_ERR_BASE, /* not YAML, or more than one document */
	PROF_EKEY,		      /* a key this mapping does not have */
	PROF_EDUPKEY,		      /* a key given twice in one mapping */
	PROF_EMISSING,		      /* a required key (or role) is not there */
	PROF_EVALUE,		      /* a value of the wrong kind or out of its range */
	PROF_EDUPNAME,		      /* two points (or two enum codes) with one name or value */
	PROF_EOVERLAP,		      /* two points sharing a register */
	PROF_EPAST,		      /* a point whose last register is past 65535 */
	PROF_ENOPOINT,		      /* a role, enum or limit naming a point there is not */
	PROF_ETYPE,		      /* a point whose type cannot serve its role (or enum) */
	PROF_EENUM,		      /* ready/fault naming a code the enum does not have */
	PROF_ETOOMANY,		      /* more points, codes or poll blocks than a profile holds */
	PROF_ERR_END,
};

enum prof_type {
	PROF_U16,
	PROF_I16,
	PROF_U32,
	PROF_I32,
	PROF_F32, /* IEEE 754 binary32 */
};

/* What a profile describes: a battery the controller writes, or a meter it reads. */
enum prof_kind {
	PROF_KIND_UNSET, /* a table built by hand that says none */
	PROF_KIND_BESS,
	PROF_KIND_METER,
};

/*
 * Roles: what a point means to the controller, independent of its name and address. A
 * profile maps each role it has to one point (prof_role_point()); control reads roles.
 */
enum prof_role {
	PROF_ROLE_SOE,		    /* state of energy */
	PROF_ROLE_STATUS,	    /* u16 code with an enum naming READY (and FAULT) */
	PROF_ROLE_TARGET_POWER,	    /* rw: the power setpoint, + discharge / - charge */
	PROF_ROLE_COMMAND_SOURCE,   /* rw u16: who holds control */
	PROF_ROLE_AVAILABLE_BLOCKS, /* integer: inverter blocks available */
	PROF_ROLE_HEARTBEAT,	    /* rw integer: a counter written every cycle */
	PROF_ROLE_ACTIVE_POWER,	    /* measured active power of the BESS, + discharge */
	/* What the BESS can take now, kW, both as magnitudes (>= 0): limits on top of rating */
	PROF_ROLE_MAX_CHARGE_POWER,
	PROF_ROLE_MAX_DISCHARGE_POWER,
	PROF_ROLE_GRID_POWER, /* meter: active power at the grid connection, + import */
	PROF_ROLE_FREQUENCY,
	PROF_ROLE_ENERGY_IMPORT,
	PROF_ROLE_ENERGY_EXPORT,
	PROF_ROLE_ALARMS, /* u16/u32 bit field: warnings, shown, not acted on */
	PROF_ROLE_FAULTS, /* u16/u32 bit field: any bit set, the BESS is faulted (0 kW) */
	PROF_ROLE_N,
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

/* prof_enum.flags: the code the controller acts on. */
#define PROF_E_READY 0x1 /* setpoints are written only in this state */
#define PROF_E_FAULT 0x2

/* A named code of an enum point (status). */
struct prof_enum {
	uint16_t value;
	const char *name;
	unsigned flags; /* PROF_E_* */
};

/* A named bit of a bit-field point (alarm and fault words): bit 0 is the least significant. */
struct prof_bit {
	uint8_t bit; /* 0..15 (u16), 0..31 (u32) */
	const char *name;
};

/* A point: engineering value = raw / scale + offset, in `unit`. Immutable once loaded. */
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
	/* Zero (as in a table built by hand) means "none". */
	double offset;		   /* engineering value = raw / scale + offset */
	bool has_range;		   /* a decoded value outside [range_lo, range_hi] is implausible */
	double range_lo, range_hi; /* engineering units */
	bool has_limits;	   /* writes outside [write_min, write_max] are refused */
	double write_min, write_max;
	/* A bit field (u16 or u32, scale 1, offset 0, no enum): its named bits, by bit number. */
	const struct prof_bit *bits;
	unsigned n_bits;
};

/* A device type: a loaded profile (prof_load_*()), or a table built by hand. */
struct prof_profile {
	const char *name; /* the config's `type:` */
	enum mb_order default_order;
	const struct prof_block *blocks;
	unsigned n_blocks;
	const struct prof_point *points;
	unsigned n_points;
	/* Zero (as in a table built by hand) means "none". */
	enum prof_kind kind;
	uint8_t unit_id;	/* default unit id, 1..247; 0: the site config says */
	unsigned max_gap;	/* registers a poll block may span (prof_plan_blocks()) */
	int roles[PROF_ROLE_N]; /* point index + 1 per role; 0: the profile lacks it */
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
 * scales non-zero and finite; offsets finite, ranges and limits ordered (limits on writable
 * points only), at most one READY and one FAULT code per enum, roles naming points; bits only
 * on u16/u32 points without an enum, scale 1 and offset 0, each within the type and named
 * once. Returns 0 or -EINVAL. Cold path.
 */
int prof_check(const struct prof_profile *p);

/* Index of the point named `name`, or -ENOENT. */
int prof_point_index(const struct prof_profile *p, const char *name);

/* Index of the block holding point `idx`, or -ENOENT. Never allocates. */
int prof_point_block(const struct prof_profile *p, unsigned idx);

/* Registers a point of this type occupies (1 or 2). */
unsigned prof_type_width(enum prof_type type);

/* Name of `value` in the point's enum, or NULL when it has none. */
const char *prof_enum_name(const struct prof_point *pt, uint16_t value);

/* Name of bit `bit` of a bit-field point, or NULL when it names none. Never allocates. */
const char *prof_bit_name(const struct prof_point *pt, unsigned bit);

/*
 * The set bits of `bits` by name, lowest first, comma-separated ("fan_fault,bit5": a bit the
 * point does not name, or any bit when pt is NULL, by number) into buf (NUL-terminated, cut
 * at len - 1). Returns the length written. Never allocates.
 */
size_t prof_bits_text(const struct prof_point *pt, uint32_t bits, char *buf, size_t len);

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
 * Encode engineering `value` of point `idx` into regs[] (raw = (value - offset) * scale, integers
 * rounded to nearest). Returns the register count (1 or 2), -ERANGE when the raw value does
 * not fit the type, -EINVAL for a bad index or a non-finite value. Never allocates.
 */
int prof_encode(const struct prof_profile *p, unsigned idx, enum mb_order order, double value,
		uint16_t *regs);

/* ---- roles and enums (devices/profile.c) -------------------------------------------- */

/* Index of the point serving `role`, or -ENOENT. Never allocates. */
int prof_role_point(const struct prof_profile *p, enum prof_role role);

/* Name of a role as profiles spell it ("target_power"), or NULL. */
const char *prof_role_name(enum prof_role role);

/* The code of the point's enum marked `flag` (PROF_E_READY, PROF_E_FAULT), or -ENOENT. */
int prof_enum_value(const struct prof_point *pt, unsigned flag);

/* ---- profiles as YAML files (devices/profile_load.c, cold path) ------------------------ */

/*
 * Load a profile from a YAML file (format: docs/profiles.md) into a new allocation, *out,
 * freed with prof_free(). Returns 0; or -PROF_E* with "FILE:LINE: KEY: message" in err (the
 * first error found), or -errno when the file cannot be read ("FILE: cannot read: ..."), and
 * *out is NULL. The result passes prof_check() and its blocks are prof_plan_blocks() of all
 * its points.
 */
int prof_load_file(const char *path, struct prof_profile **out, char *err, size_t cap);

/* The same from text in memory; `name` stands for the file in messages. */
int prof_load_text(const char *name, const char *text, size_t len, struct prof_profile **out,
		   char *err, size_t cap);

/* The same from a profile embedded in the binary (prof_builtin_text()); -ENOENT if none. */
int prof_load_builtin(const char *name, struct prof_profile **out, char *err, size_t cap);

/* Free what prof_load_*() gave (NULL is fine). Never call it on a table built by hand. */
void prof_free(struct prof_profile *p);

/* Message for a -PROF_E* code (or an errno), never NULL. */
const char *prof_strerror(int err);

/* ---- shipped profiles, embedded (devices/profiles_builtin.c) ------------------------- */

/*
 * The text of devices/profiles/NAME.yaml as built into the binary, NUL-terminated (len
 * excludes the NUL). Returns 0 or -ENOENT.
 */
int prof_builtin_text(const char *name, const char **text, size_t *len);

/* Name of shipped profile i ("powerpack"), or NULL past the last. */
const char *prof_builtin_name(unsigned i);

/* ---- poll blocks (devices/profile_plan.c, no allocation) ------------------------------ */

/*
 * The fewest reads covering the points idx[0..n_idx) (idx NULL: all points): one function
 * code per block, at most MB_MAX_READ_REGS registers, merging across gaps of at most max_gap
 * registers that hold no needed point (max_gap 0: only adjacent points share a read). Blocks
 * come sorted by function code, then address. Returns the block count, -E2BIG when more than
 * `cap` are needed, -EINVAL for a bad index or more than PROF_MAX_POINTS points.
 */
int prof_plan_blocks(const struct prof_profile *p, const unsigned *idx, unsigned n_idx,
		     unsigned max_gap, struct prof_block *out, unsigned cap);

/*
 * The fallback for a block the device refused with exception 0x02 (a read spanning a hole):
 * the points of idx (NULL: all) inside `b`, planned with max_gap 0. Returns the block count
 * (0 when b holds no point), -E2BIG, -EINVAL.
 */
int prof_plan_split(const struct prof_profile *p, const struct prof_block *b, const unsigned *idx,
		    unsigned n_idx, struct prof_block *out, unsigned cap);

#endif /* FLUX_DEVICES_PROFILE_H */
