// SPDX-License-Identifier: MIT
/*
 * Tests of devices/profile_load.c, devices/profile_plan.c and devices/profiles_builtin.c:
 * every shipped profile loads (embedded and from its file, the same text); powerpack.yaml and
 * acuvim2.yaml hold the seed's maps (addresses, types, units, scales, enums, roles, blocks,
 * written out below) and powerpack.yaml the registers the PowerPack simulator answers
 * (devices/powerpack.h's PP_REG_*, PP_STATUS_*); acuvim2-manual.yaml has the manual's
 * addresses and decodes them; each bad input gets its named code at its
 * file:line and key; poll blocks are the fewest reads (checked against an exhaustive search),
 * with holes, 125-register bounds, FC03/FC04 mixes and the split fallback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "devices/profile.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ERR_MAX	      512

static struct prof_profile *load_ok(const char *text)
{
	struct prof_profile *p = NULL;
	char err[ERR_MAX] = "";
	int ret = prof_load_text("t.yaml", text, strlen(text), &p, err, sizeof(err));

	if (ret)
		fail_msg("load failed (%d): %s", ret, err);
	assert_non_null(p);
	assert_int_equal(prof_check(p), 0);
	return p;
}

/* Whether loading `text` fails with -code and a message "t.yaml:LINE: KEY: ...SAYS...". */
static bool is_err(const char *text, int code, int line, const char *key, const char *says)
{
	struct prof_profile *p = (struct prof_profile *)1;
	char err[ERR_MAX] = "", head[128];
	int ret = prof_load_text("t.yaml", text, strlen(text), &p, err, sizeof(err));

	snprintf(head, sizeof(head), "t.yaml:%d: %s: ", line, key);
	if (ret != -code || strncmp(err, head, strlen(head)) != 0 || !strstr(err, says) || p) {
		print_error("want -%d (%s) \"%s...%s\", got %d: \"%s\"\n---\n%s---\n", code,
			    prof_strerror(-code), head, says, ret, err, text);
		if (!ret)
			prof_free(p);
		return false;
	}
	return true;
}

static void expect_err(const char *text, int code, int line, const char *key, const char *says)
{
	assert_true(is_err(text, code, line, key, says));
}

/* ---- shipped profiles ------------------------------------------------------------------ */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	assert_non_null(f);
	buf = malloc(PROF_FILE_MAX);
	assert_non_null(buf);
	*len = fread(buf, 1, PROF_FILE_MAX, f);
	fclose(f);
	return buf;
}

static void test_every_shipped_profile_loads_embedded_and_from_its_file(void **state)
{
	unsigned n = 0;

	(void)state;
	for (const char *name; (name = prof_builtin_name(n)); n++) {
		struct prof_profile *a, *b;
		char path[128], err[ERR_MAX] = "";
		const char *text;
		size_t len, flen;
		char *file;

		assert_int_equal(prof_builtin_text(name, &text, &len), 0);
		assert_int_equal(text[len], '\0');
		snprintf(path, sizeof(path), "devices/profiles/%s.yaml", name);
		file = read_all(path, &flen);
		assert_int_equal(flen, len); /* the binary has the file as it is */
		assert_memory_equal(file, text, len);
		free(file);
		assert_int_equal(prof_load_builtin(name, &a, err, sizeof(err)), 0);
		assert_int_equal(prof_load_file(path, &b, err, sizeof(err)), 0);
		assert_string_equal(a->name, name);
		assert_int_equal(prof_check(a), 0);
		assert_int_equal(a->n_points, b->n_points);
		assert_int_equal(a->n_blocks, b->n_blocks);
		for (unsigned i = 0; i < a->n_points; i++)
			assert_string_equal(a->points[i].name, b->points[i].name);
		prof_free(a);
		prof_free(b);
	}
	assert_int_equal(n, 4);
	assert_int_equal(prof_builtin_text("sunspec", &(const char *){ NULL }, &(size_t){ 0 }),
			 -ENOENT);
	{
		struct prof_profile *p = (struct prof_profile *)1;
		char err[ERR_MAX];

		assert_int_equal(prof_load_builtin("sunspec", &p, err, sizeof(err)), -ENOENT);
		assert_null(p);
		assert_non_null(strstr(err, "sunspec"));
	}
}

/* A point as a shipped file must give it. role: PROF_ROLE_N for none. */
struct want_point {
	const char *name;
	uint16_t addr;
	enum prof_type type;
	const char *unit;
	double scale;
	bool is_writable;
	enum prof_role role;
};

/* p's point `w->name` is exactly w: FC03, no offset, the device's word order for 32-bit types. */
static const struct prof_point *assert_point(const struct prof_profile *p,
					     const struct want_point *w)
{
	int i = prof_point_index(p, w->name);
	const struct prof_point *pt;

	if (i < 0)
		fail_msg("%s: point %s is missing", p->name, w->name);
	pt = &p->points[i];
	assert_int_equal(pt->fc, MB_FC_READ_HOLDING_REGISTERS);
	assert_int_equal(pt->addr, w->addr);
	assert_int_equal(pt->type, w->type);
	assert_string_equal(pt->unit, w->unit);
	assert_true(pt->scale == w->scale);
	assert_true(pt->offset == 0);
	assert_int_equal(!!(pt->flags & PROF_F_WRITABLE), w->is_writable);
	assert_int_equal(!!(pt->flags & PROF_F_DEVICE_ORDER), prof_type_width(w->type) == 2);
	if (w->role != PROF_ROLE_N)
		assert_int_equal(prof_role_point(p, w->role), i);
	return pt;
}

static void test_powerpack_yaml_has_the_seed_map_and_the_heartbeat(void **state)
{
	static const struct want_point want[] = {
		{ "status", 2000, PROF_U16, "", 1, false, PROF_ROLE_STATUS },
		{ "target_power_kw", 2008, PROF_I16, "kW", 1, true, PROF_ROLE_TARGET_POWER },
		{ "command_source", 2010, PROF_U16, "", 1, true, PROF_ROLE_COMMAND_SOURCE },
		{ "heartbeat", 2012, PROF_U16, "", 1, true, PROF_ROLE_HEARTBEAT },
		{ "soe_pct", 2026, PROF_U16, "%", 1, false, PROF_ROLE_SOE },
		{ "available_blocks", 2028, PROF_U16, "", 1, false, PROF_ROLE_AVAILABLE_BLOCKS },
	};
	static const char *const status[] = { "OFFLINE", "READY", "STANDBY", "FAULT" };
	const struct prof_point *st, *tp;
	struct prof_profile *p;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(prof_load_builtin("powerpack", &p, err, sizeof(err)), 0);
	assert_int_equal(p->kind, PROF_KIND_BESS);
	assert_int_equal(p->unit_id, 1);
	assert_int_equal(p->default_order, MB_ORDER_ABCD);
	assert_int_equal(p->max_gap, 16);
	assert_int_equal(p->n_points, ARRAY_SIZE(want));
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++)
		assert_point(p, &want[i]);
	/* The whole map 2000..2028 in one read, as the seed's device answers it. */
	assert_int_equal(p->n_blocks, 1);
	assert_int_equal(p->blocks[0].fc, MB_FC_READ_HOLDING_REGISTERS);
	assert_int_equal(p->blocks[0].start, 2000);
	assert_int_equal(p->blocks[0].count, 29);
	st = &p->points[prof_role_point(p, PROF_ROLE_STATUS)];
	assert_int_equal(st->n_enums, ARRAY_SIZE(status));
	for (unsigned k = 0; k < ARRAY_SIZE(status); k++) {
		assert_int_equal(st->enums[k].value, k);
		assert_string_equal(st->enums[k].name, status[k]);
	}
	assert_int_equal(prof_enum_value(st, PROF_E_READY), 1);
	assert_int_equal(prof_enum_value(st, PROF_E_FAULT), 3);
	for (unsigned i = 0; i < p->n_points; i++)
		if (&p->points[i] != st)
			assert_int_equal(p->points[i].n_enums, 0);
	tp = &p->points[prof_role_point(p, PROF_ROLE_TARGET_POWER)];
	assert_true(tp->has_limits);
	assert_true(tp->write_min == -250 && tp->write_max == 250);
	assert_true(tp->write_max == BESS_POWER_KW_MAX);
	for (unsigned r = PROF_ROLE_ACTIVE_POWER; r < PROF_ROLE_N; r++)
		assert_int_equal(prof_role_point(p, (enum prof_role)r), -ENOENT);
	prof_free(p);
}

/* The simulator's constants (devices/powerpack.h) are the file's roles: they cannot drift. */
static void test_powerpack_simulator_registers_are_the_yaml_roles(void **state)
{
	static const struct {
		enum prof_role role;
		unsigned reg;
	} regs[] = {
		{ PROF_ROLE_STATUS, PP_REG_STATUS },
		{ PROF_ROLE_TARGET_POWER, PP_REG_TARGET_POWER },
		{ PROF_ROLE_COMMAND_SOURCE, PP_REG_COMMAND_SOURCE },
		{ PROF_ROLE_HEARTBEAT, PP_REG_HEARTBEAT },
		{ PROF_ROLE_SOE, PP_REG_SOE },
		{ PROF_ROLE_AVAILABLE_BLOCKS, PP_REG_AVAILABLE_BLOCKS },
	};
	static const struct {
		const char *name;
		unsigned code;
	} codes[] = {
		{ "OFFLINE", PP_STATUS_OFFLINE },
		{ "READY", PP_STATUS_READY },
		{ "STANDBY", PP_STATUS_STANDBY },
		{ "FAULT", PP_STATUS_FAULT },
	};
	const struct prof_point *st;
	struct prof_profile *p;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(prof_load_builtin("powerpack", &p, err, sizeof(err)), 0);
	for (unsigned i = 0; i < ARRAY_SIZE(regs); i++) {
		int j = prof_role_point(p, regs[i].role);

		if (j < 0)
			fail_msg("powerpack.yaml has no %s role", prof_role_name(regs[i].role));
		assert_int_equal(p->points[j].addr, regs[i].reg);
	}
	st = &p->points[prof_role_point(p, PROF_ROLE_STATUS)];
	assert_int_equal(st->n_enums, ARRAY_SIZE(codes));
	for (unsigned i = 0; i < ARRAY_SIZE(codes); i++) {
		const char *name = prof_enum_name(st, (uint16_t)codes[i].code);

		assert_non_null(name);
		assert_string_equal(name, codes[i].name);
	}
	assert_int_equal(prof_enum_value(st, PROF_E_READY), PP_STATUS_READY);
	assert_int_equal(prof_enum_value(st, PROF_E_FAULT), PP_STATUS_FAULT);
	assert_int_equal(PP_DEFAULTS.status_ready, PP_STATUS_READY);
	/* The simulator answers exactly the block the controller reads. */
	assert_int_equal(p->n_blocks, 1);
	assert_int_equal(p->blocks[0].start, PP_MAP_FIRST);
	assert_int_equal(p->blocks[0].count, PP_MAP_COUNT);
	prof_free(p);
}

/*
 * powerpack-ext.yaml: the seed's PowerPack map as it is (every point of powerpack.yaml at its
 * address, type, access and role, the same status codes) plus measured power, max charge and
 * discharge, an alarm and a fault word after it, in the same one read.
 */
static void test_powerpack_ext_is_the_seed_map_plus_the_optional_roles(void **state)
{
	static const struct want_point extra[] = {
		{ "active_power_kw", 2030, PROF_I16, "kW", 1, false, PROF_ROLE_ACTIVE_POWER },
		{ "max_charge_kw", 2031, PROF_U16, "kW", 1, false, PROF_ROLE_MAX_CHARGE_POWER },
		{ "max_discharge_kw", 2032, PROF_U16, "kW", 1, false,
		  PROF_ROLE_MAX_DISCHARGE_POWER },
		{ "alarm_word", 2036, PROF_U16, "", 1, false, PROF_ROLE_ALARMS },
		{ "fault_word", 2038, PROF_U32, "", 1, false, PROF_ROLE_FAULTS },
	};
	struct prof_profile *pp, *x;
	const struct prof_point *f, *st;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(prof_load_builtin("powerpack", &pp, err, sizeof(err)), 0);
	assert_int_equal(prof_load_builtin("powerpack-ext", &x, err, sizeof(err)), 0);
	assert_int_equal(x->kind, PROF_KIND_BESS);
	assert_int_equal(x->n_points, pp->n_points + ARRAY_SIZE(extra));
	for (unsigned i = 0; i < pp->n_points; i++) {
		const struct prof_point *a = &pp->points[i];
		int k = prof_point_index(x, a->name);

		assert_true(k >= 0);
		assert_int_equal(x->points[k].addr, a->addr);
		assert_int_equal(x->points[k].type, a->type);
		assert_int_equal(x->points[k].flags, a->flags);
		assert_true(x->points[k].scale == a->scale);
		assert_int_equal(x->points[k].n_enums, a->n_enums);
		for (unsigned e = 0; e < a->n_enums; e++) {
			assert_int_equal(x->points[k].enums[e].value, a->enums[e].value);
			assert_string_equal(x->points[k].enums[e].name, a->enums[e].name);
			assert_int_equal(x->points[k].enums[e].flags, a->enums[e].flags);
		}
	}
	for (unsigned r = 0; r < PROF_ROLE_N; r++) {
		int a = prof_role_point(pp, (enum prof_role)r);

		if (a >= 0)
			assert_string_equal(x->points[prof_role_point(x, (enum prof_role)r)].name,
					    pp->points[a].name);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(extra); i++) {
		const struct prof_point *pt = assert_point(x, &extra[i]);

		assert_int_equal(prof_role_point(x, extra[i].role), prof_point_index(x, pt->name));
	}
	/* Magnitudes with a plausible range: a reading outside it is ignored by control. */
	for (int r = PROF_ROLE_MAX_CHARGE_POWER; r <= PROF_ROLE_MAX_DISCHARGE_POWER; r++) {
		const struct prof_point *pt = &x->points[prof_role_point(x, (enum prof_role)r)];

		assert_true(pt->has_range && pt->range_lo == 0 && pt->range_hi == 250);
	}
	f = &x->points[prof_role_point(x, PROF_ROLE_FAULTS)];
	assert_string_equal(prof_bit_name(f, 0), "dc_insulation_fault");
	assert_string_equal(prof_bit_name(f, 16), "emergency_stop");
	assert_true(x->points[prof_role_point(x, PROF_ROLE_ALARMS)].n_bits > 0);
	st = &x->points[prof_role_point(x, PROF_ROLE_STATUS)];
	assert_int_equal(prof_enum_value(st, PROF_E_FAULT), PP_STATUS_FAULT);
	/* Still the seed's one read, now to the fault word's last register. */
	assert_int_equal(x->n_blocks, 1);
	assert_int_equal(x->blocks[0].start, 2000);
	assert_int_equal(x->blocks[0].count, 40);
	prof_free(pp);
	prof_free(x);
}

static void test_acuvim2_yaml_has_the_seed_map(void **state)
{
	/* The seed's four addresses (0x0000, 0x0010, 0x0040, 0x0100), the rest packed after. */
	static const struct want_point want[] = {
		{ "voltage_l1n_v", 0x0000, PROF_F32, "V", 1, false, PROF_ROLE_N },
		{ "voltage_l2n_v", 0x0002, PROF_F32, "V", 1, false, PROF_ROLE_N },
		{ "voltage_l3n_v", 0x0004, PROF_F32, "V", 1, false, PROF_ROLE_N },
		{ "voltage_l1l2_v", 0x0006, PROF_F32, "V", 1, false, PROF_ROLE_N },
		{ "voltage_l2l3_v", 0x0008, PROF_F32, "V", 1, false, PROF_ROLE_N },
		{ "voltage_l3l1_v", 0x000A, PROF_F32, "V", 1, false, PROF_ROLE_N },
		{ "current_l1_a", 0x0010, PROF_F32, "A", 1, false, PROF_ROLE_N },
		{ "current_l2_a", 0x0012, PROF_F32, "A", 1, false, PROF_ROLE_N },
		{ "current_l3_a", 0x0014, PROF_F32, "A", 1, false, PROF_ROLE_N },
		{ "power_total_kw", 0x0040, PROF_F32, "kW", 1000, false, PROF_ROLE_GRID_POWER },
		{ "reactive_total_kvar", 0x0042, PROF_F32, "kvar", 1000, false, PROF_ROLE_N },
		{ "apparent_total_kva", 0x0044, PROF_F32, "kVA", 1000, false, PROF_ROLE_N },
		{ "power_factor", 0x0046, PROF_F32, "", 1, false, PROF_ROLE_N },
		{ "frequency_hz", 0x0048, PROF_F32, "Hz", 1, false, PROF_ROLE_FREQUENCY },
		{ "energy_import_kwh", 0x0100, PROF_F32, "kWh", 1, false, PROF_ROLE_ENERGY_IMPORT },
		{ "energy_export_kwh", 0x0102, PROF_F32, "kWh", 1, false, PROF_ROLE_ENERGY_EXPORT },
	};
	const struct prof_point *pf = NULL, *hz = NULL;
	struct prof_profile *p;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(prof_load_builtin("acuvim2", &p, err, sizeof(err)), 0);
	assert_int_equal(p->kind, PROF_KIND_METER);
	assert_int_equal(p->unit_id, 1);
	assert_int_equal(p->default_order, MB_ORDER_ABCD);
	assert_int_equal(p->max_gap, 64);
	assert_int_equal(p->n_points, ARRAY_SIZE(want));
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		const struct prof_point *pt = assert_point(p, &want[i]);

		assert_int_equal(pt->n_enums, 0);
		if (strcmp(pt->name, "power_factor") == 0)
			pf = pt;
		else if (strcmp(pt->name, "frequency_hz") == 0)
			hz = pt;
		else
			assert_false(pt->has_range);
	}
	assert_true(pf && pf->has_range && pf->range_lo == -1 && pf->range_hi == 1);
	assert_true(hz && hz->has_range && hz->range_lo == 40 && hz->range_hi == 70);
	/* Two reads, as the seed's meter was read: 0x0000..0x0049 and 0x0100..0x0103. */
	assert_int_equal(p->n_blocks, 2);
	assert_int_equal(p->blocks[0].fc, MB_FC_READ_HOLDING_REGISTERS);
	assert_int_equal(p->blocks[0].start, 0x0000);
	assert_int_equal(p->blocks[0].count, 0x004A);
	assert_int_equal(p->blocks[1].fc, MB_FC_READ_HOLDING_REGISTERS);
	assert_int_equal(p->blocks[1].start, 0x0100);
	assert_int_equal(p->blocks[1].count, 4);
	for (unsigned r = 0; r < PROF_ROLE_GRID_POWER; r++)
		assert_int_equal(prof_role_point(p, (enum prof_role)r), -ENOENT);
	prof_free(p);
}

static void test_acuvim2_manual_has_the_manual_map_and_decodes_it(void **state)
{
	static const struct {
		const char *name;
		uint16_t addr;
	} want[] = {
		{ "frequency_hz", 0x4000 },	  { "voltage_l1n_v", 0x4002 },
		{ "voltage_l3n_v", 0x4006 },	  { "voltage_ln_avg_v", 0x4008 },
		{ "voltage_l1l2_v", 0x400A },	  { "voltage_l3l1_v", 0x400E },
		{ "current_l1_a", 0x4012 },	  { "current_l3_a", 0x4016 },
		{ "current_n_a", 0x401A },	  { "power_l1_kw", 0x401C },
		{ "power_total_kw", 0x4022 },	  { "reactive_total_kvar", 0x402A },
		{ "apparent_total_kva", 0x4032 }, { "power_factor", 0x403A },
		{ "energy_import_kwh", 0x4048 },  { "energy_export_kwh", 0x404A },
	};
	struct prof_value v[PROF_MAX_POINTS];
	uint16_t regs[MB_MAX_READ_REGS] = { 0 };
	struct prof_profile *p;
	char err[ERR_MAX];
	int e, pw;

	(void)state;
	assert_int_equal(prof_load_builtin("acuvim2-manual", &p, err, sizeof(err)), 0);
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		int j = prof_point_index(p, want[i].name);

		assert_true(j >= 0);
		assert_int_equal(p->points[j].addr, want[i].addr);
		assert_int_equal(p->points[j].fc, MB_FC_READ_HOLDING_REGISTERS);
	}
	/* Every float of 0x4000..0x403B, the two energies: two reads with the default gap. */
	assert_int_equal(p->max_gap, PROF_MAX_GAP_DEFAULT);
	assert_int_equal(p->n_blocks, 2);
	assert_int_equal(p->blocks[0].start, 0x4000);
	assert_int_equal(p->blocks[0].count, 0x3C);
	assert_int_equal(p->blocks[1].start, 0x4048);
	assert_int_equal(p->blocks[1].count, 4);
	e = prof_point_index(p, "energy_import_kwh");
	assert_int_equal(p->points[e].type, PROF_U32);
	assert_string_equal(p->points[e].unit, "kWh");
	/* 1234567 x 0.1 kWh, high word first; -12.5 kW in W. */
	mb_set_u32(regs, 1234567, MB_ORDER_ABCD);
	prof_decode_block(p, 1, p->default_order, regs, 4, 0, v);
	assert_true(v[e].is_valid);
	assert_true(fabs(v[e].value - 123456.7) < 1e-6);
	pw = prof_point_index(p, "power_total_kw");
	memset(regs, 0, sizeof(regs));
	mb_set_f32(regs + (0x4022 - 0x4000), -12500.0f, MB_ORDER_ABCD);
	prof_decode_block(p, 0, p->default_order, regs, 0x3C, 0, v);
	assert_true(v[pw].is_valid);
	assert_true(v[pw].value == -12.5);
	assert_string_equal(p->points[pw].unit, "kW");
	assert_int_equal(prof_role_point(p, PROF_ROLE_GRID_POWER), pw);
	prof_free(p);
}

/* ---- the format ------------------------------------------------------------------------ */

#define HEAD  "name: t\nkind: bess\n"
#define ROLES "roles: { status: status, soe: soe_pct, target_power: power_kw }\n"
#define ENUMS                                                                                      \
	"enums:\n  status: { values: { 0: OFF, 1: READY, 3: FAULT }, ready: READY, fault: 3 }\n"
#define PTS                                                                                        \
	"points:\n"                                                                                \
	"  - { name: status, address: 0, type: u16 }\n"                                            \
	"  - { name: soe_pct, address: 1, type: u16, unit: \"%\" }\n"                              \
	"  - { name: power_kw, address: 2, type: i16, unit: kW, access: rw }\n"

static void test_a_minimal_profile_loads_with_its_defaults(void **state)
{
	struct prof_profile *p;
	int st;

	(void)state;
	p = load_ok(HEAD PTS ENUMS ROLES);
	assert_string_equal(p->name, "t");
	assert_int_equal(p->n_points, 3);
	assert_int_equal(p->unit_id, 1);
	assert_int_equal(p->default_order, MB_ORDER_ABCD);
	assert_int_equal(p->max_gap, PROF_MAX_GAP_DEFAULT);
	assert_int_equal(p->n_blocks, 1);
	assert_int_equal(p->blocks[0].count, 3);
	st = prof_role_point(p, PROF_ROLE_STATUS);
	assert_int_equal(st, 0);
	assert_int_equal(p->points[st].n_enums, 3);
	assert_int_equal(prof_enum_value(&p->points[st], PROF_E_READY), 1);
	assert_int_equal(prof_enum_value(&p->points[st], PROF_E_FAULT), 3);
	assert_string_equal(prof_enum_name(&p->points[st], 3), "FAULT");
	assert_false(p->points[1].flags & PROF_F_WRITABLE);
	assert_true(p->points[2].flags & PROF_F_WRITABLE);
	assert_int_equal(p->points[0].fc, MB_FC_READ_HOLDING_REGISTERS);
	prof_free(p);
	prof_free(NULL);
}

static void test_every_key_is_read(void **state)
{
	struct prof_profile *p;
	uint16_t regs[4] = { 0 };
	struct prof_value v[4];
	const struct prof_point *t, *w;

	(void)state;
	p = load_ok("name: every-key\nkind: meter\ndescription: all of them\n"
		    "defaults: { unit_id: 7, word_order: cdab }\nmax_gap: 0\n"
		    "points:\n"
		    "  - name: temp_c\n    address: 0x10\n    function: 4\n    type: i32\n"
		    "    word_order: BADC\n    scale: 10\n    offset: -40\n    unit: C\n"
		    "    access: ro\n    range: [-40, 125]\n"
		    "  - { name: p_kw, address: 0x10, type: f32, access: rw }\n"
		    "  - { name: setp, address: 0x12, type: u16, access: rw, scale: 2 }\n"
		    "limits:\n  setp: { min: 0, max: 1000 }\n"
		    "roles: { grid_power: p_kw }\n");
	assert_int_equal(p->unit_id, 7);
	assert_int_equal(p->default_order, MB_ORDER_CDAB);
	assert_int_equal(p->max_gap, 0);
	t = &p->points[0];
	assert_int_equal(t->fc, MB_FC_READ_INPUT_REGISTERS);
	assert_int_equal(t->type, PROF_I32);
	assert_int_equal(t->order, MB_ORDER_BADC);
	assert_false(t->flags & PROF_F_DEVICE_ORDER); /* its own order, fixed */
	assert_true(t->has_range && t->range_lo == -40 && t->range_hi == 125);
	assert_true(p->points[1].flags & PROF_F_DEVICE_ORDER);
	assert_int_equal(p->points[1].order, MB_ORDER_CDAB);
	w = &p->points[2];
	assert_true(w->has_limits && w->write_min == 0 && w->write_max == 1000);
	/* FC03 (0x10..0x12: adjacent) and FC04: never one read. */
	assert_int_equal(p->n_blocks, 2);
	assert_int_equal(p->blocks[0].fc, MB_FC_READ_HOLDING_REGISTERS);
	assert_int_equal(p->blocks[0].count, 3);
	assert_int_equal(p->blocks[1].fc, MB_FC_READ_INPUT_REGISTERS);
	/* raw 650 / 10 - 40 = 25 C, and back. */
	mb_set_i32(regs, 650, MB_ORDER_BADC);
	prof_decode_block(p, 1, p->default_order, regs, 2, 0, v);
	assert_true(v[0].is_valid && v[0].value == 25);
	memset(regs, 0, sizeof(regs));
	assert_int_equal(prof_encode(p, 0, p->default_order, 25, regs), 2);
	assert_int_equal(mb_get_i32(regs, MB_ORDER_BADC), 650);
	prof_free(p);
}

static void test_bad_inputs_get_their_named_error_at_their_line(void **state)
{
	static const struct {
		const char *text;
		int code, line;
		const char *key, *says;
	} cases[] = {
		/* overlapping points */
		{ HEAD "points:\n  - { name: a, address: 10, type: u32 }\n"
		       "  - { name: b, address: 11, type: u16 }\n",
		  PROF_EOVERLAP, 5, "points[1].address", "overlap point 'a' (line 4" },
		/* past 65535 */
		{ HEAD "points:\n  - { name: a, address: 65535, type: f32 }\n", PROF_EPAST, 4,
		  "points[0].address", "past the last, 65535" },
		{ HEAD "points:\n  - { name: a, address: 65536, type: u16 }\n", PROF_EVALUE, 4,
		  "points[0].address", "must be 0..65535" },
		/* a role naming a missing point */
		{ HEAD PTS ENUMS
		  "roles: { status: status, soe: soc_pct, target_power: power_kw }\n",
		  PROF_ENOPOINT, 9, "roles.soe", "no point named 'soc_pct'" },
		/* types that cannot serve their role */
		{ HEAD "points:\n  - { name: status, address: 0, type: f32 }\n"
		       "  - { name: soe_pct, address: 2, type: u16 }\n"
		       "  - { name: power_kw, address: 3, type: i16, access: rw }\n" ROLES,
		  PROF_ETYPE, 7, "roles.status", "'status' (line 4) is ro f32" },
		{ HEAD PTS ENUMS "roles: { status: status, soe: status, target_power: power_kw }\n",
		  PROF_ETYPE, 9, "roles.soe", "with an enum" },
		{ HEAD PTS "  - { name: src, address: 3, type: f32, access: rw }\n" ENUMS
			   "roles: { status: status, soe: soe_pct, target_power: power_kw, "
			   "command_source: src }\n",
		  PROF_ETYPE, 10, "roles.command_source", "an rw u16" },
		{ HEAD PTS ENUMS "roles: { status: status, soe: soe_pct, target_power: soe_pct }\n",
		  PROF_ETYPE, 9, "roles.target_power", "an rw number" },
		{ HEAD "points:\n  - { name: status, address: 0, type: f32 }\n"
		       "enums:\n  status: { values: { 0: OFF } }\n",
		  PROF_ETYPE, 6, "enums.status", "must be u16" },
		/* unknown enum values for READY / FAULT */
		{ HEAD PTS "enums:\n  status:\n    values: { 0: OFF, 1: READY }\n"
			   "    ready: BUSY\n",
		  PROF_EENUM, 10, "enums.status.ready",
		  "'BUSY' is not one of values (OFF, READY)" },
		{ HEAD PTS "enums:\n  status:\n    values: { 0: OFF, 1: READY }\n"
			   "    ready: 1\n    fault: 3\n",
		  PROF_EENUM, 11, "enums.status.fault", "'3' is not one of values" },
		{ HEAD PTS "enums:\n  status:\n    values: { 0: OFF, 1: READY }\n"
			   "    ready: 1\n    fault: READY\n",
		  PROF_EVALUE, 11, "enums.status.fault", "already the ready code" },
		{ HEAD PTS "enums:\n  stat: { values: { 0: OFF } }\n", PROF_ENOPOINT, 8,
		  "enums.stat", "no point named 'stat'" },
		{ HEAD PTS "enums:\n  status: { values: { 0: OFF, 0x0: ON } }\n", PROF_EDUPNAME, 8,
		  "enums.status.values", "code 0 is already named at line 8" },
		{ HEAD PTS "enums:\n  status: { values: { 0: OFF, 1: OFF } }\n", PROF_EDUPNAME, 8,
		  "enums.status.values", "name OFF is already used" },
		{ HEAD PTS "roles: { status: status, soe: soe_pct, target_power: power_kw }\n",
		  PROF_EMISSING, 7, "roles.status", "has no ready code" },
		/* unknown keys */
		{ HEAD PTS "colour: red\n", PROF_EKEY, 7, "colour",
		  "unknown key (want name, kind" },
		{ HEAD "points:\n  - { name: a, adress: 3, type: u16 }\n", PROF_EKEY, 4,
		  "points[0].adress", "unknown key (want name, address, function" },
		{ HEAD PTS ENUMS "roles: { state: status }\n", PROF_EKEY, 9, "roles.state",
		  "want soe, status, target_power" },
		{ HEAD "defaults: { unit: 3 }\n" PTS, PROF_EKEY, 3, "defaults.unit", "unit_id" },
		/* wrong types and values */
		{ HEAD "points:\n  - { name: a, address: \"12\", type: u16 }\n", PROF_EVALUE, 4,
		  "points[0].address", "(quoted: a string)" },
		{ HEAD "points:\n  - { name: a, address: twelve, type: u16 }\n", PROF_EVALUE, 4,
		  "points[0].address", "got 'twelve'" },
		{ HEAD "points:\n  - { name: a, address: 012, type: u16 }\n", PROF_EVALUE, 4,
		  "points[0].address", "got '012'" },
		{ HEAD "points:\n  - { name: a, address: 1, type: f64 }\n", PROF_EVALUE, 4,
		  "points[0].type", "want u16, i16, u32, i32 or f32, got 'f64'" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, function: 6 }\n",
		  PROF_EVALUE, 4, "points[0].function", "must be 3..4" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, scale: 0 }\n", PROF_EVALUE,
		  4, "points[0].scale", "must not be 0" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, scale: 1e999 }\n",
		  PROF_EVALUE, 4, "points[0].scale", "want a number" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, access: wo }\n", PROF_EVALUE,
		  4, "points[0].access", "want ro or rw" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, range: [5, 1] }\n",
		  PROF_EVALUE, 4, "points[0].range", "lo 5 is above hi 1" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, range: 5 }\n", PROF_EVALUE,
		  4, "points[0].range", "want [lo, hi]" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, word_order: CDAB }\n",
		  PROF_EVALUE, 4, "points[0].word_order", "for 32-bit types" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u32, word_order: ACBD }\n",
		  PROF_EVALUE, 4, "points[0].word_order", "want ABCD, CDAB, BADC or DCBA" },
		{ HEAD "points:\n  - { name: 9a, address: 1, type: u16 }\n", PROF_EVALUE, 4,
		  "points[0].name", "a letter, then" },
		{ HEAD "points:\n  - { name: a, address: 1, type: u16, unit: \"k\\tW\" }\n",
		  PROF_EVALUE, 4, "points[0].unit", "control characters" },
		{ HEAD "points: 3\n", PROF_EVALUE, 3, "points", "want a list of points" },
		{ HEAD "points: []\n", PROF_EVALUE, 3, "points", "want a list of points" },
		{ HEAD "points:\n  - 3\n", PROF_EVALUE, 4, "points[0]", "want a mapping" },
		{ "name: t\nkind: ups\n" PTS, PROF_EVALUE, 2, "kind", "want bess or meter" },
		{ HEAD "defaults: { unit_id: 248 }\n" PTS, PROF_EVALUE, 3, "defaults.unit_id",
		  "must be 1..247" },
		{ HEAD "max_gap: -1\n" PTS, PROF_EVALUE, 3, "max_gap", "must be 0..123" },
		{ "- a\n- b\n", PROF_EVALUE, 1, "top level", "want a mapping" },
		/* limits */
		{ HEAD PTS "limits:\n  soe_pct: { min: 0, max: 100 }\n", PROF_EVALUE, 8,
		  "limits.soe_pct", "not access: rw" },
		{ HEAD PTS "limits:\n  power_kw: { min: -40000, max: 100 }\n", PROF_EVALUE, 8,
		  "limits.power_kw.min", "-40000 does not fit 'power_kw' (i16" },
		{ HEAD PTS "limits:\n  power_kw: { min: 10, max: -10 }\n", PROF_EVALUE, 8,
		  "limits.power_kw", "min 10 is above max -10" },
		{ HEAD PTS "limits:\n  power_kw: { min: 10 }\n", PROF_EMISSING, 8,
		  "limits.power_kw.max", "missing" },
		{ HEAD PTS "limits:\n  pwr: { min: 0, max: 1 }\n", PROF_ENOPOINT, 8, "limits.pwr",
		  "no point named 'pwr'" },
		/* duplicate names and keys */
		{ HEAD "points:\n  - { name: a, address: 1, type: u16 }\n"
		       "  - { name: a, address: 2, type: u16 }\n",
		  PROF_EDUPNAME, 5, "points[1].name", "'a' is already defined at line 4" },
		{ HEAD "name: u\n" PTS, PROF_EDUPKEY, 3, "name",
		  "duplicate key (first at line 1)" },
		{ HEAD "points:\n  - { name: a, address: 1, address: 2, type: u16 }\n",
		  PROF_EDUPKEY, 4, "points[0].address", "duplicate key" },
		/* missing keys and roles */
		{ "name: t\n" PTS, PROF_EMISSING, 1, "kind", "missing (required)" },
		{ HEAD "points:\n  - { name: a, type: u16 }\n", PROF_EMISSING, 4,
		  "points[0].address", "missing (required)" },
		{ HEAD PTS ENUMS "roles: { status: status, soe: soe_pct }\n", PROF_EMISSING, 9,
		  "roles", "target_power missing: a bess profile needs" },
		{ "name: m\nkind: meter\npoints:\n  - { name: a, address: 1, type: f32 }\n",
		  PROF_EMISSING, 1, "roles", "grid_power missing" },
		{ "", PROF_EMISSING, 1, "top level", "empty" },
		/* YAML itself */
		{ HEAD "points: [\n", PROF_ESYNTAX, 4, "YAML", "" },
		{ HEAD PTS ENUMS ROLES "---\nname: again\n", PROF_ESYNTAX, 10, "YAML",
		  "a second document" },
		{ HEAD "points:\n  - {name: a, address: 1, type: u16}\n\xff\n", PROF_ESYNTAX, 5,
		  "YAML", "invalid" },
	};

	unsigned nbad = 0;

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++)
		nbad += !is_err(cases[i].text, cases[i].code, cases[i].line, cases[i].key,
				cases[i].says);
	assert_int_equal(nbad, 0);
}

static void test_too_many_points_or_reads_are_refused(void **state)
{
	char text[8192];
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "name: m\nkind: meter\npoints:\n");
	for (unsigned i = 0; i <= PROF_MAX_POINTS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "  - { name: p%u, address: %u, type: u16 }\n", i, i);
	expect_err(text, PROF_ETOOMANY, 4 + PROF_MAX_POINTS, "points[32]", "at most 32");
	/* 9 points 200 registers apart: 9 reads, one more than a profile polls. */
	n = (size_t)snprintf(text, sizeof(text), "name: m\nkind: meter\npoints:\n");
	for (unsigned i = 0; i < PROF_MAX_BLOCKS + 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "  - { name: p%u, address: %u, type: f32 }\n", i, i * 200);
	snprintf(text + n, sizeof(text) - n, "roles: { grid_power: p0 }\n");
	expect_err(text, PROF_ETOOMANY, 3, "points", "need 9 reads");
	{
		const char *many = "name: t\nkind: bess\npoints:\n"
				   "  - { name: status, address: 0, type: u16 }\n"
				   "enums:\n  status:\n    values: { 0: A0, 1: A1, 2: A2, 3: A3, "
				   "4: A4, 5: A5, 6: A6, 7: A7, 8: A8, 9: A9, 10: B0, 11: B1, 12: "
				   "B2, 13: B3, 14: B4, 15: B5, 16: B6 }\n";

		expect_err(many, PROF_ETOOMANY, 7, "enums.status.values", "at most 16");
	}
}

static void test_file_errors_name_the_file_and_errno(void **state)
{
	char dir[] = "/tmp/flux-prof-XXXXXX", path[64], err[ERR_MAX];
	struct prof_profile *p = (struct prof_profile *)1;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.yaml", dir);
	assert_int_equal(prof_load_file(path, &p, err, sizeof(err)), -ENOENT);
	assert_null(p);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_non_null(strstr(err, ": cannot read: No such file or directory"));
	assert_int_equal(prof_load_file(dir, &p, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "is a directory"));
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(HEAD PTS ENUMS "roles: { status: status }\n", f);
	fclose(f);
	/* A file's errors carry its path and line. */
	assert_int_equal(prof_load_file(path, &p, err, sizeof(err)), -PROF_EMISSING);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_non_null(strstr(err, ".yaml:9: roles: soe missing"));
	if (geteuid() != 0) { /* root reads a mode 000 file anyway */
		assert_int_equal(chmod(path, 0), 0);
		assert_int_equal(prof_load_file(path, &p, err, sizeof(err)), -EACCES);
		assert_non_null(strstr(err, "cannot read: Permission denied"));
	}
	unlink(path);
	rmdir(dir);
	assert_int_equal(prof_load_file(NULL, &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(prof_load_text("big.yaml", "", PROF_FILE_MAX + 1, &p, err, sizeof(err)),
			 -EFBIG);
	assert_null(p);
	/* No error buffer: the code alone. */
	assert_int_equal(prof_load_text("t.yaml", "kind: 1", 7, &p, NULL, 0), -PROF_EMISSING);
	assert_string_equal(prof_strerror(-PROF_EOVERLAP), "overlapping points");
	assert_string_equal(prof_strerror(-ENOENT), strerror(ENOENT));
}

/* The complete example of docs/profiles.md loads, and plans as the page says. */
static void test_the_documented_example_loads(void **state)
{
	const char *start, *end;
	struct prof_profile *p;
	size_t len;
	char *doc = read_all("docs/profiles.md", &len), err[ERR_MAX];
	int t;

	(void)state;
	doc[len < PROF_FILE_MAX ? len : PROF_FILE_MAX - 1] = '\0';
	start = strstr(doc, "```yaml\n");
	assert_non_null(start);
	start += strlen("```yaml\n");
	end = strstr(start, "```");
	assert_non_null(end);
	assert_int_equal(
	    prof_load_text("docs/profiles.md", start, (size_t)(end - start), &p, err, sizeof(err)),
	    0);
	assert_int_equal(p->kind, PROF_KIND_BESS);
	assert_int_equal(p->n_blocks, 3); /* 2000..2010, 2026 (15 > max_gap 8), FC04 0x10 */
	assert_int_equal(p->blocks[0].count, 11);
	assert_int_equal(p->blocks[2].fc, MB_FC_READ_INPUT_REGISTERS);
	t = prof_point_index(p, "cell_temp_c");
	assert_int_equal(p->points[t].order, MB_ORDER_CDAB);
	assert_true(p->points[t].offset == -40);
	assert_int_equal(prof_enum_value(&p->points[0], PROF_E_FAULT), 3);
	prof_free(p);
	free(doc);
}

static void test_check_rejects_broken_added_fields(void **state)
{
	struct prof_profile *p =
	    load_ok(HEAD PTS ENUMS ROLES "limits:\n  power_kw: { min: -5, max: 5 }\n");
	struct prof_point *pt = (struct prof_point *)&p->points[2];
	struct prof_enum *e = (struct prof_enum *)&p->points[0].enums[0];

	(void)state;
	pt->offset = NAN;
	assert_int_equal(prof_check(p), -EINVAL);
	pt->offset = 0;
	pt->write_min = 6;
	assert_int_equal(prof_check(p), -EINVAL);
	pt->write_min = -5;
	pt->flags &= ~(unsigned)PROF_F_WRITABLE;
	assert_int_equal(prof_check(p), -EINVAL);
	pt->flags |= PROF_F_WRITABLE;
	pt->has_range = true;
	pt->range_lo = 1;
	pt->range_hi = 0;
	assert_int_equal(prof_check(p), -EINVAL);
	pt->has_range = false;
	e->flags = PROF_E_READY; /* a second READY code */
	assert_int_equal(prof_check(p), -EINVAL);
	e->flags = 0;
	p->roles[PROF_ROLE_FREQUENCY] = (int)p->n_points + 1;
	assert_int_equal(prof_check(p), -EINVAL);
	assert_int_equal(prof_role_point(p, PROF_ROLE_FREQUENCY), -ENOENT);
	p->roles[PROF_ROLE_FREQUENCY] = 0;
	assert_int_equal(prof_check(p), 0);
	assert_int_equal(prof_role_point(p, PROF_ROLE_N), -ENOENT);
	assert_null(prof_role_name(PROF_ROLE_N));
	prof_free(p);
}

/* ---- bit fields: alarm and fault words ------------------------------------------------- */

#define BITS_PTS                                                                                   \
	PTS "  - name: alarm_word\n"                                                               \
	    "    address: 3\n"                                                                     \
	    "    type: u16\n"                                                                      \
	    "    bits: { 0: over_temperature, 3: fan_fault, 0xF: door_open }\n"                    \
	    "  - name: fault_word\n"                                                               \
	    "    address: 4\n"                                                                     \
	    "    type: u32\n"                                                                      \
	    "    bits: { 0: dc_insulation_fault, 31: emergency_stop }\n"

static void test_bits_name_the_bits_of_alarm_and_fault_words(void **state)
{
	struct prof_profile *p =
	    load_ok(HEAD BITS_PTS ENUMS "roles: { status: status, soe: soe_pct, target_power: "
					"power_kw, alarms: alarm_word, faults: fault_word }\n");
	const struct prof_point *a, *f;
	struct prof_value v[PROF_MAX_POINTS];
	uint16_t regs[6] = { 1, 50, 0, 0x8009, 0x8000, 0x0001 };

	(void)state;
	a = &p->points[prof_role_point(p, PROF_ROLE_ALARMS)];
	f = &p->points[prof_role_point(p, PROF_ROLE_FAULTS)];
	assert_string_equal(a->name, "alarm_word");
	assert_string_equal(f->name, "fault_word");
	assert_int_equal(a->n_bits, 3);
	assert_string_equal(prof_bit_name(a, 0), "over_temperature");
	assert_string_equal(prof_bit_name(a, 3), "fan_fault");
	assert_string_equal(prof_bit_name(a, 15), "door_open");
	assert_null(prof_bit_name(a, 1));
	assert_null(prof_bit_name(a, 16));
	assert_int_equal(f->n_bits, 2);
	assert_string_equal(prof_bit_name(f, 31), "emergency_stop");
	assert_string_equal(prof_role_name(PROF_ROLE_ALARMS), "alarms");
	assert_string_equal(prof_role_name(PROF_ROLE_FAULTS), "faults");
	/* Raw words: the decoder gives the bits as they are (u32 in the device's ABCD). */
	assert_int_equal(p->n_blocks, 1);
	prof_decode_block(p, 0, MB_ORDER_ABCD, regs, 6, 0, v);
	assert_true(v[3].is_valid && v[3].value == 0x8009);
	assert_true(v[4].is_valid && v[4].value == 0x80000001u);
	prof_free(p);

	/* A faults role without bits: its bits are unnamed, still a fault each. */
	p = load_ok(HEAD PTS "  - { name: fw, address: 3, type: u16 }\n" ENUMS
			     "roles: { status: status, soe: soe_pct, target_power: power_kw, "
			     "faults: fw }\n");
	assert_int_equal(p->points[prof_role_point(p, PROF_ROLE_FAULTS)].n_bits, 0);
	prof_free(p);
}

static void test_bad_bits_get_their_named_error_at_their_line(void **state)
{
	static const struct {
		const char *text;
		int code, line;
		const char *key, *says;
	} cases[] = {
		{ HEAD "points:\n  - { name: w, address: 1, type: u16, bits: { 16: x } }\n",
		  PROF_EVALUE, 4, "points[0].bits.16", "bit 16 is past a u16's 16 bits (0..15)" },
		{ HEAD "points:\n  - { name: w, address: 1, type: u32, bits: { 32: x } }\n",
		  PROF_EVALUE, 4, "points[0].bits.32", "past a u32's 32 bits (0..31)" },
		{ HEAD "points:\n  - { name: w, address: 1, type: u16, bits: { -1: x } }\n",
		  PROF_EVALUE, 4, "points[0].bits.-1", "past a u16's" },
		{ HEAD "points:\n  - name: w\n    address: 1\n    type: u16\n"
		       "    bits:\n      3: a\n      0x3: b\n",
		  PROF_EDUPNAME, 9, "points[0].bits.0x3", "bit 3 is already named at line 8" },
		{ HEAD "points:\n  - name: w\n    address: 1\n    type: u16\n"
		       "    bits:\n      1: a\n      2: a\n",
		  PROF_EDUPNAME, 9, "points[0].bits.2", "name a is already used at line 8" },
		{ HEAD "points:\n  - { name: w, address: 1, type: f32, bits: { 0: x } }\n",
		  PROF_ETYPE, 4, "points[0].bits", "a bit field is a u16 or u32, not a f32" },
		{ HEAD "points:\n  - { name: w, address: 1, type: i16, bits: { 0: x } }\n",
		  PROF_ETYPE, 4, "points[0].bits", "not a i16" },
		{ HEAD
		  "points:\n  - { name: w, address: 1, type: u16, scale: 10, bits: { 0: x } }\n",
		  PROF_EVALUE, 4, "points[0].bits", "takes no scale or offset" },
		{ HEAD "points:\n  - { name: w, address: 1, type: u16, bits: {} }\n", PROF_EVALUE,
		  4, "points[0].bits", "want a mapping of bit numbers to names" },
		{ HEAD "points:\n  - { name: w, address: 1, type: u16, bits: [0] }\n", PROF_EVALUE,
		  4, "points[0].bits", "want a mapping of bit numbers to names" },
		{ HEAD "points:\n  - { name: w, address: 1, type: u16, bits: { one: x } }\n",
		  PROF_EVALUE, 4, "points[0].bits.one", "want a bit number, got 'one'" },
		{ HEAD "points:\n  - { name: w, address: 1, type: u16, bits: { \"1\": x } }\n",
		  PROF_EVALUE, 4, "points[0].bits.1", "want a bit number" },
		{ HEAD "points:\n  - { name: w, address: 1, type: u16, bits: { 1: 9x } }\n",
		  PROF_EVALUE, 4, "points[0].bits.1", "a letter, then" },
		/* a point holds codes or bits */
		{ HEAD "points:\n  - { name: status, address: 1, type: u16, bits: { 1: x } }\n"
		       "enums:\n  status: { values: { 1: READY } }\n",
		  PROF_ETYPE, 6, "enums.status",
		  "is a bit field (bits:): a point holds codes or bits" },
		/* roles */
		{ HEAD PTS "  - { name: aw, address: 3, type: i16 }\n" ENUMS
			   "roles: { status: status, soe: soe_pct, target_power: power_kw, "
			   "alarms: aw }\n",
		  PROF_ETYPE, 10, "roles.alarms", "a u16 or u32 bit field" },
		{ HEAD PTS "  - { name: fw, address: 3, type: u16, scale: 2 }\n" ENUMS
			   "roles: { status: status, soe: soe_pct, target_power: power_kw, "
			   "faults: fw }\n",
		  PROF_ETYPE, 10, "roles.faults", "a u16 or u32 bit field" },
		{ HEAD PTS ENUMS "roles: { status: status, soe: soe_pct, target_power: power_kw, "
				 "faults: status }\n",
		  PROF_ETYPE, 9, "roles.faults", "with an enum" },
		{ HEAD PTS "  - { name: fw, address: 3, type: u16, bits: { 0: x } }\n" ENUMS
			   "roles: { status: status, soe: soe_pct, target_power: power_kw, "
			   "max_charge_power: fw }\n",
		  PROF_ETYPE, 10, "roles.max_charge_power", "not an enum of codes or a bit field" },
		{ HEAD PTS ENUMS "roles: { status: status, soe: soe_pct, target_power: power_kw, "
				 "active_power: status }\n",
		  PROF_ETYPE, 9, "roles.active_power", "a number, not an enum" },
	};
	unsigned nbad = 0;

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++)
		nbad += !is_err(cases[i].text, cases[i].code, cases[i].line, cases[i].key,
				cases[i].says);
	assert_int_equal(nbad, 0);
}

static void test_too_many_bits_are_refused(void **state)
{
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof(text), HEAD "points:\n");

	(void)state;
	/* Three u32 words of 32 named bits: the 65th name is one too many. */
	for (unsigned w = 0; w < 3; w++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "  - name: w%u\n    address: %u\n    type: u32\n    bits:\n",
				      w, 2 * w);
		for (unsigned b = 0; b < 32; b++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "      %u: b%u_%u\n", b,
					      w, b);
	}
	assert_true(n < sizeof(text));
	/* Line of w2's bit 0: 2 head lines, "points:", then 4 + 32 lines per word. */
	expect_err(text, PROF_ETOOMANY, 3 + 2 * 36 + 5, "points[2].bits.0",
		   "at most 64 in a profile");
}

static void test_check_rejects_broken_bits(void **state)
{
	struct prof_profile *p =
	    load_ok(HEAD BITS_PTS ENUMS "roles: { status: status, soe: soe_pct, target_power: "
					"power_kw, alarms: alarm_word, faults: fault_word }\n");
	struct prof_point *a = (struct prof_point *)&p->points[3];
	struct prof_bit *b = (struct prof_bit *)&a->bits[1];

	(void)state;
	b->bit = 16; /* past a u16 */
	assert_int_equal(prof_check(p), -EINVAL);
	b->bit = 0; /* a second bit 0 */
	assert_int_equal(prof_check(p), -EINVAL);
	b->bit = 3;
	a->scale = 10;
	assert_int_equal(prof_check(p), -EINVAL);
	a->scale = 1;
	a->type = PROF_I16;
	assert_int_equal(prof_check(p), -EINVAL);
	a->type = PROF_U16;
	assert_int_equal(prof_check(p), 0);
	prof_free(p);
}

/* ---- poll blocks ----------------------------------------------------------------------- */

struct fake {
	struct prof_point pts[PROF_MAX_POINTS];
	struct prof_profile p;
};

/* Points (fc, addr, width) as a profile; width 1: u16, 2: u32. */
static void fake_init(struct fake *f, const uint16_t (*spec)[3], unsigned n)
{
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < n; i++)
		f->pts[i] = (struct prof_point){ .name = "x",
						 .unit = "",
						 .fc = (uint8_t)spec[i][0],
						 .addr = spec[i][1],
						 .type = spec[i][2] == 2 ? PROF_U32 : PROF_U16,
						 .scale = 1 };
	f->p = (struct prof_profile){ .name = "fake", .points = f->pts, .n_points = n };
}

static void assert_block(const struct prof_block *b, uint8_t fc, uint16_t start, uint16_t count)
{
	if (b->fc != fc || b->start != start || b->count != count)
		fail_msg("block FC%02u %u x %u, want FC%02u %u x %u", b->fc, b->start, b->count, fc,
			 start, count);
}

static void test_plan_merges_holes_up_to_max_gap(void **state)
{
	static const uint16_t spec[][3] = { { 3, 20, 1 }, { 3, 0, 1 }, { 3, 1, 1 }, { 3, 5, 1 } };
	struct prof_block b[8];
	struct fake f;

	(void)state;
	fake_init(&f, spec, 4);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 8, b, 8), 2);
	assert_block(&b[0], 3, 0, 6);  /* hole 2..4 spanned */
	assert_block(&b[1], 3, 20, 1); /* hole 6..19 is 14 > 8 */
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 14, b, 8), 1);
	assert_block(&b[0], 3, 0, 21);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 3, b, 8), 2);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 2, b, 8), 3);
	/* max_gap 0: only neighbours share a read. */
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 0, b, 8), 3);
	assert_block(&b[0], 3, 0, 2);
	assert_block(&b[1], 3, 5, 1);
	assert_block(&b[2], 3, 20, 1);
	/* A subset: only what the caller needs. */
	assert_int_equal(prof_plan_blocks(&f.p, (const unsigned[]){ 3, 0 }, 2, 8, b, 8), 2);
	assert_block(&b[0], 3, 5, 1);
	assert_block(&b[1], 3, 20, 1);
	assert_int_equal(prof_plan_blocks(&f.p, (const unsigned[]){ 1, 1 }, 2, 8, b, 8), 1);
	assert_block(&b[0], 3, 0, 1);
	assert_int_equal(prof_plan_blocks(&f.p, (const unsigned[]){ 4 }, 1, 8, b, 8), -EINVAL);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 0, b, 2), -E2BIG);
	assert_int_equal(prof_plan_blocks(&f.p, (const unsigned[]){ 0 }, 0, 8, b, 8), 0);
}

static void test_plan_keeps_every_read_within_125_registers(void **state)
{
	static const uint16_t at124[][3] = { { 3, 0, 1 }, { 3, 124, 1 } };
	static const uint16_t at125[][3] = { { 3, 0, 1 }, { 3, 125, 1 } };
	static const uint16_t u32at123[][3] = { { 3, 0, 1 }, { 3, 123, 2 } };
	static const uint16_t u32at124[][3] = { { 3, 0, 1 }, { 3, 124, 2 } };
	static const uint16_t top[][3] = { { 3, 65534, 2 }, { 3, 65500, 1 } };
	struct prof_block b[8];
	struct fake f;

	(void)state;
	fake_init(&f, at124, 2);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 123, b, 8), 1);
	assert_block(&b[0], 3, 0, 125);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 122, b, 8), 2);
	fake_init(&f, at125, 2);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 1000, b, 8), 2);
	assert_block(&b[1], 3, 125, 1);
	fake_init(&f, u32at123, 2);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 1000, b, 8), 1);
	assert_block(&b[0], 3, 0, 125);
	fake_init(&f, u32at124, 2);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 1000, b, 8), 2);
	assert_block(&b[1], 3, 124, 2);
	fake_init(&f, top, 2);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 100, b, 8), 1);
	assert_block(&b[0], 3, 65500, 36);
}

static void test_plan_never_mixes_function_codes(void **state)
{
	static const uint16_t spec[][3] = {
		{ 4, 11, 1 }, { 3, 10, 1 }, { 3, 12, 2 }, { 4, 13, 1 }, { 4, 200, 1 }
	};
	struct prof_block b[8];
	struct fake f;

	(void)state;
	fake_init(&f, spec, 5);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 8, b, 8), 3);
	assert_block(&b[0], 3, 10, 4);
	assert_block(&b[1], 4, 11, 3);
	assert_block(&b[2], 4, 200, 1);
}

/* The fewest blocks by exhaustive search over where runs end (sorted points). */
static unsigned fewest(const uint16_t (*s)[3], unsigned n, unsigned gap)
{
	unsigned best[PROF_MAX_POINTS + 1];

	best[0] = 0;
	for (unsigned j = 1; j <= n; j++) {
		best[j] = ~0u;
		for (unsigned i = 0; i < j; i++) { /* points i..j-1 as one read */
			bool ok = true;
			uint32_t end = s[i][1] + s[i][2];

			for (unsigned k = i + 1; k < j && ok; k++) {
				ok = s[k][0] == s[i][0] && s[k][1] >= end && s[k][1] - end <= gap;
				end = s[k][1] + s[k][2];
			}
			ok = ok && end - s[i][1] <= MB_MAX_READ_REGS;
			if (ok && best[i] + 1 < best[j])
				best[j] = best[i] + 1;
		}
	}
	return best[n];
}

static void test_plan_is_the_fewest_reads_and_covers_every_point(void **state)
{
	uint64_t rng = 0x243F6A8885A308D3ull;
	struct prof_block b[PROF_MAX_POINTS];
	struct fake f;

	(void)state;
	for (unsigned round = 0; round < 500; round++) {
		uint16_t s[12][3];
		unsigned n = 1 + round % 12, gap = (unsigned)(round / 12) % 20;
		uint32_t addr[2] = { 0, 0 };
		int nb;

		for (unsigned i = 0; i < n; i++) {
			unsigned fc;

			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			fc = (rng >> 8) % 5 == 0 ? 1 : 0;
			s[i][0] = (uint16_t)(3 + fc);
			s[i][2] = (uint16_t)(1 + (rng >> 16) % 2);
			s[i][1] = (uint16_t)(addr[fc] + (rng >> 24) % 40);
			addr[fc] = s[i][1] + s[i][2];
		}
		/* fewest() wants them sorted by (fc, addr): FC03 ones first. */
		{
			uint16_t t[12][3];
			unsigned k = 0;

			for (unsigned want = 3; want <= 4; want++)
				for (unsigned i = 0; i < n; i++)
					if (s[i][0] == want)
						memcpy(t[k++], s[i], sizeof(t[0]));
			fake_init(&f, (const uint16_t(*)[3])s, n);
			nb = prof_plan_blocks(&f.p, NULL, 0, gap, b, PROF_MAX_POINTS);
			assert_int_equal(nb, fewest((const uint16_t(*)[3])t, n, gap));
		}
		for (unsigned i = 0; i < n; i++) { /* each point in exactly one block */
			unsigned in = 0;

			for (int k = 0; k < nb; k++)
				in += b[k].fc == s[i][0] && s[i][1] >= b[k].start &&
				      s[i][1] + s[i][2] <= b[k].start + b[k].count;
			assert_int_equal(in, 1);
		}
		for (int k = 0; k < nb; k++)
			assert_true(b[k].count >= 1 && b[k].count <= MB_MAX_READ_REGS);
	}
}

static void test_split_fallback_reads_a_refused_block_without_its_holes(void **state)
{
	static const uint16_t spec[][3] = { { 3, 0, 1 }, { 3, 1, 2 }, { 3, 5, 1 },
					    { 3, 9, 2 }, { 4, 2, 1 }, { 3, 40, 1 } };
	struct prof_block merged[8], b[8];
	struct fake f;
	struct prof_profile *p;
	char err[ERR_MAX];

	(void)state;
	fake_init(&f, spec, 6);
	assert_int_equal(prof_plan_blocks(&f.p, NULL, 0, 8, merged, 8), 3);
	assert_block(&merged[0], 3, 0, 11);
	/* The device answered 0x02 to 0..10: read the runs 0..2, 5, 9..10 instead. */
	assert_int_equal(prof_plan_split(&f.p, &merged[0], NULL, 0, b, 8), 3);
	assert_block(&b[0], 3, 0, 3);
	assert_block(&b[1], 3, 5, 1);
	assert_block(&b[2], 3, 9, 2);
	/* Only the needed points; the FC04 point at 2 and the one at 40 are not in it. */
	assert_int_equal(prof_plan_split(&f.p, &merged[0], (const unsigned[]){ 3, 0, 4 }, 3, b, 8),
			 2);
	assert_block(&b[0], 3, 0, 1);
	assert_block(&b[1], 3, 9, 2);
	assert_int_equal(prof_plan_split(&f.p, &merged[0], NULL, 0, b, 2), -E2BIG);
	assert_int_equal(prof_plan_split(&f.p, &(struct prof_block){ 3, 100, 10 }, NULL, 0, b, 8),
			 0);
	assert_int_equal(prof_plan_split(&f.p, NULL, NULL, 0, b, 8), -EINVAL);
	/* The shipped manual map: its float block splits into one read of 0x4000..0x403B. */
	assert_int_equal(prof_load_builtin("acuvim2-manual", &p, err, sizeof(err)), 0);
	assert_int_equal(prof_plan_split(p, &p->blocks[0], NULL, 0, b, 8), 1);
	assert_block(&b[0], 3, 0x4000, 0x3C);
	/* ...and the seed map's spanning read splits at its holes. */
	prof_free(p);
	assert_int_equal(prof_load_builtin("acuvim2", &p, err, sizeof(err)), 0);
	assert_int_equal(prof_plan_split(p, &p->blocks[0], NULL, 0, b, 8), 3);
	assert_block(&b[0], 3, 0x0000, 12);
	assert_block(&b[1], 3, 0x0010, 6);
	assert_block(&b[2], 3, 0x0040, 10);
	prof_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_shipped_profile_loads_embedded_and_from_its_file),
		cmocka_unit_test(test_powerpack_yaml_has_the_seed_map_and_the_heartbeat),
		cmocka_unit_test(test_powerpack_simulator_registers_are_the_yaml_roles),
		cmocka_unit_test(test_powerpack_ext_is_the_seed_map_plus_the_optional_roles),
		cmocka_unit_test(test_acuvim2_yaml_has_the_seed_map),
		cmocka_unit_test(test_acuvim2_manual_has_the_manual_map_and_decodes_it),
		cmocka_unit_test(test_a_minimal_profile_loads_with_its_defaults),
		cmocka_unit_test(test_every_key_is_read),
		cmocka_unit_test(test_bad_inputs_get_their_named_error_at_their_line),
		cmocka_unit_test(test_too_many_points_or_reads_are_refused),
		cmocka_unit_test(test_file_errors_name_the_file_and_errno),
		cmocka_unit_test(test_the_documented_example_loads),
		cmocka_unit_test(test_check_rejects_broken_added_fields),
		cmocka_unit_test(test_bits_name_the_bits_of_alarm_and_fault_words),
		cmocka_unit_test(test_bad_bits_get_their_named_error_at_their_line),
		cmocka_unit_test(test_too_many_bits_are_refused),
		cmocka_unit_test(test_check_rejects_broken_bits),
		cmocka_unit_test(test_plan_merges_holes_up_to_max_gap),
		cmocka_unit_test(test_plan_keeps_every_read_within_125_registers),
		cmocka_unit_test(test_plan_never_mixes_function_codes),
		cmocka_unit_test(test_plan_is_the_fewest_reads_and_covers_every_point),
		cmocka_unit_test(test_split_fallback_reads_a_refused_block_without_its_holes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
