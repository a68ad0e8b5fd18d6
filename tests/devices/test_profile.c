// SPDX-License-Identifier: MIT
/*
 * Tests of devices/profile.c with the shipped profiles as the programs load them
 * (prof_load_builtin() of devices/profiles/powerpack.yaml and acuvim2.yaml): table checks,
 * lookups, and decoding of hand-computed registers (all four float word orders), validity per
 * block, NaN/inf, and the encoder's ranges; and prof_check() of tables built by hand.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "devices/profile.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The shipped profiles, loaded once for the group. */
static struct prof_profile *pp, *acu;

static int load_shipped(void **state)
{
	char err[256] = "";

	(void)state;
	if (prof_load_builtin("powerpack", &pp, err, sizeof(err)) ||
	    prof_load_builtin("acuvim2", &acu, err, sizeof(err))) {
		print_error("%s\n", err);
		return -1;
	}
	return 0;
}

static int free_shipped(void **state)
{
	(void)state;
	prof_free(pp);
	prof_free(acu);
	return 0;
}

/* Index of point `name` of p, which must have it. */
static unsigned pt(const struct prof_profile *p, const char *name)
{
	int i = prof_point_index(p, name);

	if (i < 0)
		fail_msg("%s has no point %s", p->name, name);
	return (unsigned)i;
}

static void test_shipped_profiles_pass_their_own_checks(void **state)
{
	(void)state;
	assert_int_equal(prof_check(pp), 0);
	assert_int_equal(prof_check(acu), 0);
	assert_string_equal(pp->name, "powerpack");
	assert_string_equal(acu->name, "acuvim2");
	assert_int_equal(pp->kind, PROF_KIND_BESS);
	assert_int_equal(acu->kind, PROF_KIND_METER);
	assert_int_equal(prof_point_index(pp, NULL), -ENOENT);
	assert_int_equal(prof_point_index(acu, "status"), -ENOENT);
}

static void test_powerpack_profile_has_the_seed_registers(void **state)
{
	static const struct {
		const char *name;
		uint16_t addr;
		enum prof_type type;
		bool is_writable;
	} want[] = {
		{ "status", 2000, PROF_U16, false },
		{ "target_power_kw", 2008, PROF_I16, true },
		{ "command_source", 2010, PROF_U16, true },
		{ "heartbeat", 2012, PROF_U16, true }, /* the simulator's, not the seed's */
		{ "soe_pct", 2026, PROF_U16, false },
		{ "available_blocks", 2028, PROF_U16, false },
	};
	const struct prof_point *st;

	(void)state;
	assert_int_equal(pp->n_points, ARRAY_SIZE(want));
	assert_int_equal(pp->n_blocks, 1);
	assert_int_equal(pp->blocks[0].fc, MB_FC_READ_HOLDING_REGISTERS);
	assert_int_equal(pp->blocks[0].start, 2000);
	assert_int_equal(pp->blocks[0].count, 29);
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		unsigned idx = pt(pp, want[i].name);

		assert_int_equal(pp->points[idx].addr, want[i].addr);
		assert_int_equal(pp->points[idx].type, want[i].type);
		assert_int_equal(!!(pp->points[idx].flags & PROF_F_WRITABLE), want[i].is_writable);
		assert_int_equal(prof_point_block(pp, idx), 0);
	}
	assert_int_equal(prof_point_index(pp, "soc_pct"), -ENOENT);
	assert_int_equal(prof_point_block(pp, 99), -ENOENT);
	st = &pp->points[pt(pp, "status")];
	assert_string_equal(prof_enum_name(st, 0), "OFFLINE");
	assert_string_equal(prof_enum_name(st, 1), "READY");
	assert_string_equal(prof_enum_name(st, 2), "STANDBY");
	assert_string_equal(prof_enum_name(st, 3), "FAULT");
	assert_null(prof_enum_name(st, 9));
	assert_int_equal(prof_enum_value(st, PROF_E_READY), 1);
	assert_int_equal(prof_enum_value(st, PROF_E_FAULT), 3);
	assert_null(prof_enum_name(&pp->points[pt(pp, "soe_pct")], 1));
	assert_int_equal(prof_enum_value(&pp->points[pt(pp, "soe_pct")], PROF_E_READY), -ENOENT);
}

static void test_powerpack_defaults_match_design(void **state)
{
	struct pp_params prm = PP_DEFAULTS;

	(void)state;
	assert_int_equal(prm.status_ready, 1);
	assert_int_equal(prm.command_source_id, 3);
	assert_true(prm.block_kw == 50);
	assert_true(prm.soe_scale == 1);
	assert_int_equal(pp_check_params(&prm), 0);
	assert_int_equal(pp_default_blocks(&prm), 2);
	prm.power_kw = 250;
	assert_int_equal(pp_default_blocks(&prm), 5);
	prm.power_kw = 251;
	assert_int_equal(pp_check_params(&prm), -ERANGE);
	prm.power_kw = 100;
	prm.capacity_kwh = 99;
	assert_int_equal(pp_check_params(&prm), -ERANGE);
	prm.capacity_kwh = 200;
	prm.block_kw = 0;
	assert_int_equal(pp_check_params(&prm), -EINVAL);
	prm.block_kw = 50;
	prm.soe_scale = NAN;
	assert_int_equal(pp_check_params(&prm), -EINVAL);
	assert_int_equal(pp_check_params(NULL), -EINVAL);
}

static void test_decodes_powerpack_registers(void **state)
{
	struct prof_sample s = { 0 };
	struct prof_value v[PROF_MAX_POINTS];

	(void)state;
	s.regs[0][2000 - 2000] = 1;	 /* READY */
	s.regs[0][2008 - 2000] = 0xFFCE; /* -50 kW: charging */
	s.regs[0][2010 - 2000] = 3;
	s.regs[0][2012 - 2000] = 0xBEEF;
	s.regs[0][2026 - 2000] = 60;
	s.regs[0][2028 - 2000] = 2;
	prof_decode(pp, MB_ORDER_ABCD, &s, v);
	for (unsigned i = 0; i < pp->n_points; i++)
		assert_true(v[i].is_valid);
	assert_true(v[pt(pp, "status")].value == 1);
	assert_true(v[pt(pp, "target_power_kw")].value == -50);
	assert_true(v[pt(pp, "command_source")].value == 3);
	assert_true(v[pt(pp, "heartbeat")].value == 0xBEEF);
	assert_true(v[pt(pp, "soe_pct")].value == 60);
	assert_true(v[pt(pp, "available_blocks")].value == 2);
}

static void test_marks_every_point_of_a_failed_block_invalid(void **state)
{
	struct prof_sample s = { 0 };
	struct prof_value v[PROF_MAX_POINTS];

	(void)state;
	s.regs[0][26] = 60;
	s.err[0] = -ETIMEDOUT;
	prof_decode(pp, MB_ORDER_ABCD, &s, v);
	for (unsigned i = 0; i < pp->n_points; i++)
		assert_false(v[i].is_valid);
	/* A block that came back short (fewer registers than the point needs) is invalid too. */
	prof_decode_block(pp, 0, MB_ORDER_ABCD, s.regs[0], 26, 0, v);
	assert_true(v[pt(pp, "status")].is_valid);
	assert_true(v[pt(pp, "heartbeat")].is_valid);
	assert_false(v[pt(pp, "soe_pct")].is_valid);
	assert_false(v[pt(pp, "available_blocks")].is_valid);
}

/* 230.5 = 0x43668000 in each word order, as two registers. */
static const struct {
	enum mb_order order;
	uint16_t regs[2];
} v230_5[] = {
	{ MB_ORDER_ABCD, { 0x4366, 0x8000 } },
	{ MB_ORDER_CDAB, { 0x8000, 0x4366 } },
	{ MB_ORDER_BADC, { 0x6643, 0x0080 } },
	{ MB_ORDER_DCBA, { 0x0080, 0x6643 } },
};

static void test_decodes_acuvim_floats_in_all_four_word_orders(void **state)
{
	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(v230_5); i++) {
		struct prof_sample s = { 0 };
		struct prof_value v[PROF_MAX_POINTS];
		enum mb_order o = v230_5[i].order;
		uint16_t w12345[2], e[2];

		/* 12345.0 W = 0x4640E400, 1.5 kWh = 0x3FC00000: words laid out in order o. */
		mb_set_u32(w12345, 0x4640E400, o);
		mb_set_u32(e, 0x3FC00000, o);
		memcpy(&s.regs[0][0x0000], v230_5[i].regs, sizeof(v230_5[i].regs));
		memcpy(&s.regs[0][0x0040], w12345, sizeof(w12345));
		memcpy(&s.regs[1][0], e, sizeof(e));
		prof_decode(acu, o, &s, v);
		assert_true(v[pt(acu, "voltage_l1n_v")].is_valid);
		assert_true(v[pt(acu, "voltage_l1n_v")].value == 230.5);
		assert_true(v[pt(acu, "power_total_kw")].is_valid);
		assert_true(v[pt(acu, "power_total_kw")].value == 12.345); /* W / 1000 */
		assert_true(v[pt(acu, "energy_import_kwh")].value == 1.5);
		assert_true(v[pt(acu, "current_l1_a")].is_valid);
		assert_true(v[pt(acu, "current_l1_a")].value == 0);
	}
	/* The hand-computed words themselves, not just the helpers' round trip. */
	{
		struct prof_sample s = { 0 };
		struct prof_value v[PROF_MAX_POINTS];

		s.regs[0][0x0010] = 0x8000; /* CDAB 230.5 at current_l1_a */
		s.regs[0][0x0011] = 0x4366;
		prof_decode(acu, MB_ORDER_CDAB, &s, v);
		assert_true(v[pt(acu, "current_l1_a")].value == 230.5);
		prof_decode(acu, MB_ORDER_ABCD, &s, v);
		assert_true(v[pt(acu, "current_l1_a")].value != 230.5);
	}
}

static void test_acuvim_profile_keeps_the_seed_addresses_in_two_blocks(void **state)
{
	static const struct {
		const char *name;
		uint16_t addr;
		double scale;
	} seed[] = {
		{ "voltage_l1n_v", 0x0000, 1 },
		{ "current_l1_a", 0x0010, 1 },
		{ "power_total_kw", 0x0040, 1000 },
		{ "energy_import_kwh", 0x0100, 1 },
	};
	static const char *const others[] = {
		"voltage_l2n_v",      "voltage_l3n_v",	   "voltage_l1l2_v", "voltage_l2l3_v",
		"voltage_l3l1_v",     "current_l2_a",	   "current_l3_a",   "reactive_total_kvar",
		"apparent_total_kva", "energy_export_kwh", "power_factor",   "frequency_hz",
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(seed); i++) {
		int idx = prof_point_index(acu, seed[i].name);

		assert_true(idx >= 0);
		assert_int_equal(acu->points[idx].addr, seed[i].addr);
		assert_true(acu->points[idx].scale == seed[i].scale);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(others); i++)
		assert_true(prof_point_index(acu, others[i]) >= 0);
	assert_int_equal(acu->n_points, ARRAY_SIZE(seed) + ARRAY_SIZE(others));
	assert_int_equal(acu->n_blocks, 2);
	assert_int_equal(acu->blocks[0].start, 0x0000);
	assert_int_equal(acu->blocks[0].count, 0x004A); /* to frequency_hz at 0x0048..0x0049 */
	assert_int_equal(acu->blocks[1].start, 0x0100);
	assert_int_equal(acu->blocks[1].count, 4);
	for (unsigned i = 0; i < acu->n_points; i++) {
		assert_int_equal(acu->points[i].type, PROF_F32);
		assert_true(acu->points[i].flags & PROF_F_DEVICE_ORDER);
		assert_false(acu->points[i].flags & PROF_F_WRITABLE);
	}
}

static void test_marks_nan_and_infinite_floats_invalid(void **state)
{
	struct prof_sample s = { 0 };
	struct prof_value v[PROF_MAX_POINTS];

	(void)state;
	mb_set_u32(&s.regs[0][0x0000], 0x7FC00000, MB_ORDER_ABCD); /* NaN */
	mb_set_u32(&s.regs[0][0x0002], 0x7F800000, MB_ORDER_ABCD); /* +inf */
	mb_set_u32(&s.regs[0][0x0004], 0xFF800000, MB_ORDER_ABCD); /* -inf */
	mb_set_u32(&s.regs[0][0x0048], 0x42480000, MB_ORDER_ABCD); /* 50.0 */
	s.err[1] = -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS);
	prof_decode(acu, MB_ORDER_ABCD, &s, v);
	assert_false(v[pt(acu, "voltage_l1n_v")].is_valid);
	assert_false(v[pt(acu, "voltage_l2n_v")].is_valid);
	assert_false(v[pt(acu, "voltage_l3n_v")].is_valid);
	assert_true(v[pt(acu, "frequency_hz")].is_valid);
	assert_true(v[pt(acu, "frequency_hz")].value == 50);
	/* Block 1 failed: both energies invalid, block 0's points unaffected. */
	assert_false(v[pt(acu, "energy_import_kwh")].is_valid);
	assert_false(v[pt(acu, "energy_export_kwh")].is_valid);
}

static void test_encodes_values_and_refuses_what_does_not_fit(void **state)
{
	uint16_t r[2];

	(void)state;
	assert_int_equal(prof_encode(pp, pt(pp, "target_power_kw"), MB_ORDER_ABCD, -50, r), 1);
	assert_int_equal(r[0], 0xFFCE);
	assert_int_equal(prof_encode(pp, pt(pp, "target_power_kw"), MB_ORDER_ABCD, 40000, r),
			 -ERANGE);
	assert_int_equal(prof_encode(pp, pt(pp, "soe_pct"), MB_ORDER_ABCD, -1, r), -ERANGE);
	assert_int_equal(prof_encode(pp, pt(pp, "soe_pct"), MB_ORDER_ABCD, 59.6, r), 1);
	assert_int_equal(r[0], 60);
	assert_int_equal(prof_encode(pp, pp->n_points, MB_ORDER_ABCD, 1, r), -EINVAL);
	assert_int_equal(prof_encode(pp, pt(pp, "soe_pct"), MB_ORDER_ABCD, NAN, r), -EINVAL);
	for (unsigned i = 0; i < ARRAY_SIZE(v230_5); i++) {
		assert_int_equal(
		    prof_encode(acu, pt(acu, "voltage_l1n_v"), v230_5[i].order, 230.5, r), 2);
		assert_memory_equal(r, v230_5[i].regs, sizeof(r));
	}
	/* 12.345 kW is sent as 12345 W. */
	assert_int_equal(prof_encode(acu, pt(acu, "power_total_kw"), MB_ORDER_ABCD, 12.345, r), 2);
	assert_int_equal(mb_get_u32(r, MB_ORDER_ABCD), 0x4640E400);
	assert_int_equal(prof_encode(acu, pt(acu, "power_total_kw"), MB_ORDER_ABCD, 1e37, r),
			 -ERANGE);
}

/* The 32-bit integer types and an offset, which the shipped maps do not use, from a small file. */
static void test_decodes_and_encodes_32_bit_integers_with_scale_and_offset(void **state)
{
	static const char text[] =
	    "name: t32\n"
	    "kind: meter\n"
	    "defaults: { word_order: CDAB }\n"
	    "points:\n"
	    "  - { name: e_kwh, address: 10, type: u32, scale: 10 }\n"
	    "  - { name: t_c, address: 12, type: i32, scale: 100, offset: -40 }\n"
	    "  - { name: w_abcd, address: 14, type: u32, word_order: ABCD }\n"
	    "roles: { grid_power: w_abcd }\n";
	struct prof_profile *p = NULL;
	struct prof_sample s = { 0 };
	struct prof_value v[PROF_MAX_POINTS];
	char err[256] = "";
	uint16_t r[2];

	(void)state;
	if (prof_load_text("t32.yaml", text, strlen(text), &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(p->n_blocks, 1);
	assert_int_equal(p->blocks[0].start, 10);
	/* 1234567 (0x0012D687) x 0.1 kWh in CDAB; -1.5 C = raw 3850; 0x00010002 in ABCD. */
	s.regs[0][0] = 0xD687;
	s.regs[0][1] = 0x0012;
	mb_set_u32(&s.regs[0][2], (uint32_t)3850, MB_ORDER_CDAB);
	s.regs[0][4] = 0x0001;
	s.regs[0][5] = 0x0002;
	prof_decode(p, p->default_order, &s, v);
	assert_true(v[pt(p, "e_kwh")].is_valid);
	assert_true(fabs(v[pt(p, "e_kwh")].value - 123456.7) < 1e-9);
	assert_true(fabs(v[pt(p, "t_c")].value - -1.5) < 1e-9);
	assert_true(v[pt(p, "w_abcd")].value == 0x00010002); /* its own order, not the device's */
	/* Encoding inverts it: raw = (value - offset) x scale, rounded; out of range refused. */
	assert_int_equal(prof_encode(p, pt(p, "t_c"), p->default_order, -1.5, r), 2);
	assert_int_equal(mb_get_i32(r, MB_ORDER_CDAB), 3850);
	assert_int_equal(prof_encode(p, pt(p, "t_c"), p->default_order, -50, r), 2);
	assert_int_equal(mb_get_i32(r, MB_ORDER_CDAB), -1000);
	assert_int_equal(prof_encode(p, pt(p, "e_kwh"), p->default_order, -0.1, r), -ERANGE);
	assert_int_equal(prof_encode(p, pt(p, "e_kwh"), p->default_order, 5e8, r), -ERANGE);
	assert_int_equal(prof_encode(p, pt(p, "w_abcd"), MB_ORDER_DCBA, 0x00010002, r), 2);
	assert_int_equal(r[0], 0x0001);
	assert_int_equal(r[1], 0x0002);
	prof_free(p);
}

/* Tables a site might get wrong, each refused by prof_check(). */
static void test_check_rejects_broken_tables(void **state)
{
	static const struct prof_block one = { MB_FC_READ_HOLDING_REGISTERS, 100, 10 };
	static const struct prof_block big = { MB_FC_READ_HOLDING_REGISTERS, 0, 126 };
	static const struct prof_block coils = { MB_FC_READ_COILS, 0, 10 };
	static const struct prof_block two[] = { { MB_FC_READ_HOLDING_REGISTERS, 0, 10 },
						 { MB_FC_READ_HOLDING_REGISTERS, 5, 10 } };
	static const struct prof_point a = {
		.name = "a", .unit = "", .fc = 3, .addr = 100, .type = PROF_U32, .scale = 1
	};
	static const struct prof_point pts_overlap[] = {
		{ .name = "a", .unit = "", .fc = 3, .addr = 100, .type = PROF_U32, .scale = 1 },
		{ .name = "b", .unit = "", .fc = 3, .addr = 101, .type = PROF_U16, .scale = 1 },
	};
	static const struct prof_point pts_dup[] = {
		{ .name = "a", .unit = "", .fc = 3, .addr = 100, .type = PROF_U16, .scale = 1 },
		{ .name = "a", .unit = "", .fc = 3, .addr = 101, .type = PROF_U16, .scale = 1 },
	};
	static const struct prof_point outside = {
		.name = "x", .unit = "", .fc = 3, .addr = 109, .type = PROF_F32, .scale = 1
	};
	static const struct prof_point zero = {
		.name = "z", .unit = "", .fc = 3, .addr = 100, .type = PROF_U16, .scale = 0
	};
	static const struct prof_point input = {
		.name = "i", .unit = "", .fc = 4, .addr = 100, .type = PROF_U16, .scale = 1
	};
	struct prof_profile ok = {
		.name = "t", .blocks = &one, .n_blocks = 1, .points = &a, .n_points = 1
	};
	struct prof_profile p;

	(void)state;
	assert_int_equal(prof_check(&ok), 0);
	p = ok;
	p.blocks = &big;
	assert_int_equal(prof_check(&p), -EINVAL);
	p = ok;
	p.blocks = &coils;
	assert_int_equal(prof_check(&p), -EINVAL);
	p = ok;
	p.blocks = two;
	p.n_blocks = 2;
	assert_int_equal(prof_check(&p), -EINVAL);
	p = ok;
	p.points = pts_overlap;
	p.n_points = 2;
	assert_int_equal(prof_check(&p), -EINVAL);
	p.points = pts_dup;
	assert_int_equal(prof_check(&p), -EINVAL);
	p = ok;
	p.points = &outside; /* 109..110 leaves 100..109 */
	assert_int_equal(prof_check(&p), -EINVAL);
	p.points = &zero;
	assert_int_equal(prof_check(&p), -EINVAL);
	p.points = &input; /* in the input table, which no block reads */
	assert_int_equal(prof_check(&p), -EINVAL);
	p = ok;
	p.n_blocks = 0;
	assert_int_equal(prof_check(&p), -EINVAL);
	assert_int_equal(prof_check(NULL), -EINVAL);
}

/* prof_bits_text(): the set bits of a word by name, lowest first, unnamed ones by number. */
static void test_bits_text_names_the_set_bits(void **state)
{
	static const struct prof_bit bits[] = { { 0, "dc_insulation_fault" },
						{ 3, "fan_fault" },
						{ 31, "emergency_stop" } };
	const struct prof_point pt = { .name = "fault_word",
				       .unit = "",
				       .type = PROF_U32,
				       .scale = 1,
				       .bits = bits,
				       .n_bits = 3 };
	char buf[128], small[8];

	(void)state;
	assert_int_equal(prof_bits_text(&pt, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	prof_bits_text(&pt, 0x9, buf, sizeof(buf));
	assert_string_equal(buf, "dc_insulation_fault,fan_fault");
	prof_bits_text(&pt, 0x80000024u, buf, sizeof(buf));
	assert_string_equal(buf, "bit2,bit5,emergency_stop");
	prof_bits_text(&pt, 1u << 17, buf, sizeof(buf));
	assert_string_equal(buf, "bit17");
	prof_bits_text(NULL, 0x3, buf, sizeof(buf));
	assert_string_equal(buf, "bit0,bit1");
	/* Cut at the buffer, NUL-terminated. */
	assert_int_equal(prof_bits_text(&pt, 0x9, small, sizeof(small)), sizeof(small) - 1);
	assert_string_equal(small, "dc_insu");
	assert_int_equal(prof_bits_text(&pt, 0x9, small, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_profiles_pass_their_own_checks),
		cmocka_unit_test(test_powerpack_profile_has_the_seed_registers),
		cmocka_unit_test(test_powerpack_defaults_match_design),
		cmocka_unit_test(test_decodes_powerpack_registers),
		cmocka_unit_test(test_marks_every_point_of_a_failed_block_invalid),
		cmocka_unit_test(test_decodes_acuvim_floats_in_all_four_word_orders),
		cmocka_unit_test(test_acuvim_profile_keeps_the_seed_addresses_in_two_blocks),
		cmocka_unit_test(test_marks_nan_and_infinite_floats_invalid),
		cmocka_unit_test(test_encodes_values_and_refuses_what_does_not_fit),
		cmocka_unit_test(test_decodes_and_encodes_32_bit_integers_with_scale_and_offset),
		cmocka_unit_test(test_check_rejects_broken_tables),
		cmocka_unit_test(test_bits_text_names_the_set_bits),
	};

	return cmocka_run_group_tests(tests, load_shipped, free_shipped);
}
