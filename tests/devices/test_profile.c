// SPDX-License-Identifier: MIT
/*
 * Tests of devices/profile.c with the built-in tables of devices/powerpack.c and
 * devices/acuvim2.c: table checks, and decoding of hand-computed registers (all four float
 * word orders), validity per block, NaN/inf, and the encoder's ranges.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/acuvim2.h"
#include "devices/powerpack.h"
#include "devices/profile.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_builtin_profiles_pass_their_own_checks(void **state)
{
	(void)state;
	assert_int_equal(prof_check(&pp_profile), 0);
	assert_int_equal(prof_check(&acu_profile), 0);
	assert_ptr_equal(prof_find("powerpack"), &pp_profile);
	assert_ptr_equal(prof_find("acuvim2"), &acu_profile);
	assert_null(prof_find("sunspec"));
	assert_null(prof_find(NULL));
}

static void test_powerpack_table_has_the_seed_registers(void **state)
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
		{ "soe_pct", 2026, PROF_U16, false },
		{ "available_blocks", 2028, PROF_U16, false },
	};

	(void)state;
	assert_int_equal(pp_profile.n_points, ARRAY_SIZE(want));
	assert_int_equal(pp_profile.n_blocks, 1);
	assert_int_equal(pp_profile.blocks[0].start, 2000);
	assert_int_equal(pp_profile.blocks[0].count, 29);
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		int idx = prof_point_index(&pp_profile, want[i].name);

		assert_true(idx >= 0);
		assert_int_equal(pp_profile.points[idx].addr, want[i].addr);
		assert_int_equal(pp_profile.points[idx].type, want[i].type);
		assert_int_equal(!!(pp_profile.points[idx].flags & PROF_F_WRITABLE),
				 want[i].is_writable);
		assert_int_equal(prof_point_block(&pp_profile, (unsigned)idx), 0);
	}
	assert_int_equal(prof_point_index(&pp_profile, "soc_pct"), -ENOENT);
	assert_int_equal(prof_point_block(&pp_profile, 99), -ENOENT);
	assert_string_equal(pp_status_name(0), "OFFLINE");
	assert_string_equal(pp_status_name(1), "READY");
	assert_string_equal(pp_status_name(2), "STANDBY");
	assert_string_equal(pp_status_name(3), "FAULT");
	assert_string_equal(pp_status_name(9), "unknown");
	assert_null(prof_enum_name(&pp_profile.points[PP_PT_SOE], 1));
}

static void test_powerpack_defaults_match_design(void **state)
{
	struct pp_params pp = PP_DEFAULTS;

	(void)state;
	assert_int_equal(pp.status_ready, 1);
	assert_int_equal(pp.command_source_id, 3);
	assert_true(pp.block_kw == 50);
	assert_true(pp.soe_scale == 1);
	assert_int_equal(pp_check_params(&pp), 0);
	assert_int_equal(pp_default_blocks(&pp), 2);
	pp.power_kw = 250;
	assert_int_equal(pp_default_blocks(&pp), 5);
	pp.power_kw = 251;
	assert_int_equal(pp_check_params(&pp), -ERANGE);
	pp.power_kw = 100;
	pp.capacity_kwh = 99;
	assert_int_equal(pp_check_params(&pp), -ERANGE);
	pp.capacity_kwh = 200;
	pp.block_kw = 0;
	assert_int_equal(pp_check_params(&pp), -EINVAL);
	pp.block_kw = 50;
	pp.soe_scale = 10;
	assert_true(pp_soe_pct(&pp, 605) == 60.5);
}

static void test_decodes_powerpack_registers(void **state)
{
	struct prof_sample s = { 0 };
	struct prof_value v[PP_N_POINTS];

	(void)state;
	s.regs[0][2000 - 2000] = 1;	 /* READY */
	s.regs[0][2008 - 2000] = 0xFFCE; /* -50 kW: charging */
	s.regs[0][2010 - 2000] = 3;
	s.regs[0][2026 - 2000] = 60;
	s.regs[0][2028 - 2000] = 2;
	prof_decode(&pp_profile, MB_ORDER_ABCD, &s, v);
	for (unsigned i = 0; i < PP_N_POINTS; i++)
		assert_true(v[i].is_valid);
	assert_true(v[PP_PT_STATUS].value == 1);
	assert_true(v[PP_PT_TARGET_POWER].value == -50);
	assert_true(v[PP_PT_COMMAND_SOURCE].value == 3);
	assert_true(v[PP_PT_SOE].value == 60);
	assert_true(v[PP_PT_AVAILABLE_BLOCKS].value == 2);
}

static void test_marks_every_point_of_a_failed_block_invalid(void **state)
{
	struct prof_sample s = { 0 };
	struct prof_value v[PP_N_POINTS];

	(void)state;
	s.regs[0][26] = 60;
	s.err[0] = -ETIMEDOUT;
	prof_decode(&pp_profile, MB_ORDER_ABCD, &s, v);
	for (unsigned i = 0; i < PP_N_POINTS; i++)
		assert_false(v[i].is_valid);
	/* A block that came back short (fewer registers than the point needs) is invalid too. */
	prof_decode_block(&pp_profile, 0, MB_ORDER_ABCD, s.regs[0], 26, 0, v);
	assert_true(v[PP_PT_STATUS].is_valid);
	assert_false(v[PP_PT_SOE].is_valid);
	assert_false(v[PP_PT_AVAILABLE_BLOCKS].is_valid);
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
		struct prof_value v[ACU_N_POINTS];
		enum mb_order o = v230_5[i].order;
		uint16_t w12345[2], e[2];

		/* 12345.0 W = 0x4640E400, 1.5 kWh = 0x3FC00000: words laid out in order o. */
		mb_set_u32(w12345, 0x4640E400, o);
		mb_set_u32(e, 0x3FC00000, o);
		memcpy(&s.regs[0][0x0000], v230_5[i].regs, sizeof(v230_5[i].regs));
		memcpy(&s.regs[0][0x0040], w12345, sizeof(w12345));
		memcpy(&s.regs[1][0], e, sizeof(e));
		prof_decode(&acu_profile, o, &s, v);
		assert_true(v[ACU_PT_VOLTAGE_L1N].is_valid);
		assert_true(v[ACU_PT_VOLTAGE_L1N].value == 230.5);
		assert_true(v[ACU_PT_POWER_TOTAL].is_valid);
		assert_true(v[ACU_PT_POWER_TOTAL].value == 12.345); /* W / 1000 */
		assert_true(v[ACU_PT_ENERGY_IMPORT].value == 1.5);
		assert_true(v[ACU_PT_CURRENT_L1].is_valid);
		assert_true(v[ACU_PT_CURRENT_L1].value == 0);
	}
	/* The hand-computed words themselves, not just the helpers' round trip. */
	{
		struct prof_sample s = { 0 };
		struct prof_value v[ACU_N_POINTS];

		s.regs[0][0x0010] = 0x8000; /* CDAB 230.5 at current_l1_a */
		s.regs[0][0x0011] = 0x4366;
		prof_decode(&acu_profile, MB_ORDER_CDAB, &s, v);
		assert_true(v[ACU_PT_CURRENT_L1].value == 230.5);
		prof_decode(&acu_profile, MB_ORDER_ABCD, &s, v);
		assert_true(v[ACU_PT_CURRENT_L1].value != 230.5);
	}
}

static void test_acuvim_table_keeps_the_seed_addresses_in_two_blocks(void **state)
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
		int idx = prof_point_index(&acu_profile, seed[i].name);

		assert_true(idx >= 0);
		assert_int_equal(acu_profile.points[idx].addr, seed[i].addr);
		assert_true(acu_profile.points[idx].scale == seed[i].scale);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(others); i++)
		assert_true(prof_point_index(&acu_profile, others[i]) >= 0);
	assert_int_equal(acu_profile.n_points, ARRAY_SIZE(seed) + ARRAY_SIZE(others));
	assert_int_equal(acu_profile.n_blocks, 2);
	for (unsigned i = 0; i < acu_profile.n_points; i++) {
		assert_int_equal(acu_profile.points[i].type, PROF_F32);
		assert_true(acu_profile.points[i].flags & PROF_F_DEVICE_ORDER);
		assert_false(acu_profile.points[i].flags & PROF_F_WRITABLE);
	}
}

static void test_marks_nan_and_infinite_floats_invalid(void **state)
{
	struct prof_sample s = { 0 };
	struct prof_value v[ACU_N_POINTS];

	(void)state;
	mb_set_u32(&s.regs[0][0x0000], 0x7FC00000, MB_ORDER_ABCD); /* NaN */
	mb_set_u32(&s.regs[0][0x0002], 0x7F800000, MB_ORDER_ABCD); /* +inf */
	mb_set_u32(&s.regs[0][0x0004], 0xFF800000, MB_ORDER_ABCD); /* -inf */
	mb_set_u32(&s.regs[0][0x0048], 0x42480000, MB_ORDER_ABCD); /* 50.0 */
	s.err[1] = -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS);
	prof_decode(&acu_profile, MB_ORDER_ABCD, &s, v);
	assert_false(v[ACU_PT_VOLTAGE_L1N].is_valid);
	assert_false(v[ACU_PT_VOLTAGE_L2N].is_valid);
	assert_false(v[ACU_PT_VOLTAGE_L3N].is_valid);
	assert_true(v[ACU_PT_FREQUENCY].is_valid);
	assert_true(v[ACU_PT_FREQUENCY].value == 50);
	/* Block 1 failed: both energies invalid, block 0's points unaffected. */
	assert_false(v[ACU_PT_ENERGY_IMPORT].is_valid);
	assert_false(v[ACU_PT_ENERGY_EXPORT].is_valid);
}

static void test_encodes_values_and_refuses_what_does_not_fit(void **state)
{
	uint16_t r[2];

	(void)state;
	assert_int_equal(prof_encode(&pp_profile, PP_PT_TARGET_POWER, MB_ORDER_ABCD, -50, r), 1);
	assert_int_equal(r[0], 0xFFCE);
	assert_int_equal(prof_encode(&pp_profile, PP_PT_TARGET_POWER, MB_ORDER_ABCD, 40000, r),
			 -ERANGE);
	assert_int_equal(prof_encode(&pp_profile, PP_PT_SOE, MB_ORDER_ABCD, -1, r), -ERANGE);
	assert_int_equal(prof_encode(&pp_profile, PP_PT_SOE, MB_ORDER_ABCD, 59.6, r), 1);
	assert_int_equal(r[0], 60);
	assert_int_equal(prof_encode(&pp_profile, PP_N_POINTS, MB_ORDER_ABCD, 1, r), -EINVAL);
	assert_int_equal(prof_encode(&pp_profile, PP_PT_SOE, MB_ORDER_ABCD, NAN, r), -EINVAL);
	for (unsigned i = 0; i < ARRAY_SIZE(v230_5); i++) {
		assert_int_equal(
		    prof_encode(&acu_profile, ACU_PT_VOLTAGE_L1N, v230_5[i].order, 230.5, r), 2);
		assert_memory_equal(r, v230_5[i].regs, sizeof(r));
	}
	/* 12.345 kW is sent as 12345 W. */
	assert_int_equal(prof_encode(&acu_profile, ACU_PT_POWER_TOTAL, MB_ORDER_ABCD, 12.345, r),
			 2);
	assert_int_equal(mb_get_u32(r, MB_ORDER_ABCD), 0x4640E400);
	assert_int_equal(prof_encode(&acu_profile, ACU_PT_POWER_TOTAL, MB_ORDER_ABCD, 1e37, r),
			 -ERANGE);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_profiles_pass_their_own_checks),
		cmocka_unit_test(test_powerpack_table_has_the_seed_registers),
		cmocka_unit_test(test_powerpack_defaults_match_design),
		cmocka_unit_test(test_decodes_powerpack_registers),
		cmocka_unit_test(test_marks_every_point_of_a_failed_block_invalid),
		cmocka_unit_test(test_decodes_acuvim_floats_in_all_four_word_orders),
		cmocka_unit_test(test_acuvim_table_keeps_the_seed_addresses_in_two_blocks),
		cmocka_unit_test(test_marks_nan_and_infinite_floats_invalid),
		cmocka_unit_test(test_encodes_values_and_refuses_what_does_not_fit),
		cmocka_unit_test(test_check_rejects_broken_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
