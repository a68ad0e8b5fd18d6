// SPDX-License-Identifier: MIT
/*
 * Tests of devices/sim_prof.c, the simulator made from a profile, over real sockets on
 * 127.0.0.1: the shipped acuvim2-manual.yaml read back with the profile's own decoder (floats in
 * each word order, the u32 energy in 0.1 kWh), powerpack.yaml's writes (rw applied, ro and
 * holes refused with 0x02, past its limits 0x03), a profile of FC04 points with scale, offset
 * and its own word order whose active power follows the target and whose SOE integrates it,
 * holes answered as zeros or refused (--strict-holes, max_gap 0), FC43, the CSV loader's
 * stepping and each of its named errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/profile.h"
#include "tests/support/client.h"

static bool near(double a, double b, double tol)
{
	return fabs(a - b) <= tol;
}

static struct prof_profile *builtin(const char *name)
{
	struct prof_profile *p = NULL;
	char err[256];

	if (prof_load_builtin(name, &p, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
	return p;
}

static struct prof_profile *from_text(const char *text)
{
	struct prof_profile *p = NULL;
	char err[256];

	if (prof_load_text("test.yaml", text, strlen(text), &p, err, sizeof(err)))
		fail_msg("%s", err);
	return p;
}

/* Set point `name` of p in prm. */
static void set(const struct prof_profile *p, struct sim_prof_params *prm, const char *name,
		double v)
{
	int idx = prof_point_index(p, name);

	assert_true(idx >= 0);
	prm->value[idx] = v;
	prm->has_value[idx] = true;
}

/* One read of fc; returns 0 or the error, registers into regs. */
static int read_fc(struct th_client *c, uint8_t unit, uint8_t fc, uint16_t addr, uint16_t qty,
		   uint16_t *regs)
{
	struct mb_req req = { .unit = unit, .fc = fc, .addr = addr, .qty = qty };
	struct mb_rsp rsp;
	int err = th_xfer(c, &req, &rsp);

	if (!err)
		mb_regs_from_wire(regs, rsp.data, qty);
	return err;
}

/* FC16 of regs[qty] at addr. Returns 0, -MB_EXC(code) or another error. */
static int write_regs(struct th_client *c, uint8_t unit, uint16_t addr, uint16_t qty,
		      const uint16_t *regs)
{
	uint8_t wire[2 * MB_MAX_WRITE_REGS];
	struct mb_req req = { .unit = unit,
			      .fc = MB_FC_WRITE_MULTIPLE_REGISTERS,
			      .addr = addr,
			      .qty = qty,
			      .byte_count = (uint8_t)(2 * qty),
			      .data = wire };
	struct mb_rsp rsp;

	mb_regs_to_wire(wire, regs, qty);
	return th_xfer(c, &req, &rsp);
}

/* Read every planned block of p and decode it as the controller would. */
static void read_all(struct th_client *c, uint8_t unit, const struct prof_profile *p,
		     enum mb_order order, struct prof_value *v)
{
	struct prof_sample *smp = calloc(1, sizeof(*smp));

	assert_non_null(smp);
	for (unsigned b = 0; b < p->n_blocks; b++)
		assert_int_equal(read_fc(c, unit, p->blocks[b].fc, p->blocks[b].start,
					 p->blocks[b].count, smp->regs[b]),
				 0);
	prof_decode(p, order, smp, v);
	free(smp);
}

static double value_of(const struct prof_profile *p, const struct prof_value *v, const char *name)
{
	int idx = prof_point_index(p, name);

	assert_true(idx >= 0);
	assert_true(v[idx].is_valid);
	return v[idx].value;
}

static void test_serves_the_manual_acuvim_map_as_set_in_each_word_order(void **state)
{
	struct prof_profile *p = builtin("acuvim2-manual");
	struct sim_prof_params prm = SIM_PROF_DEFAULTS, cdab;
	struct sim_endpoint ep = { .unit = 2 };
	struct prof_value v[PROF_MAX_POINTS];
	double got[PROF_MAX_POINTS];
	uint16_t r[4], f32[2];
	struct th_client c;
	struct th_sim ts;
	int a, b;

	(void)state;
	set(p, &prm, "frequency_hz", 49.9);
	set(p, &prm, "voltage_l1n_v", 231.5);
	set(p, &prm, "power_total_kw", -12.5);
	set(p, &prm, "power_factor", 0.97);
	set(p, &prm, "energy_import_kwh", 12345.6);
	set(p, &prm, "energy_export_kwh", 7.3);
	cdab = prm;
	cdab.order = MB_ORDER_CDAB;
	cdab.has_order = true;
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	a = sim_add_profile(ts.sim, &ep, p, &prm);
	assert_true(a >= 0);
	ep.port = (uint16_t)sim_port(ts.sim, a);
	ep.unit = 3;
	b = sim_add_profile(ts.sim, &ep, p, &cdab);
	assert_true(b >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, ep.port), 0);

	for (unsigned u = 2; u <= 3; u++) {
		enum mb_order order = u == 2 ? MB_ORDER_ABCD : MB_ORDER_CDAB;

		read_all(&c, (uint8_t)u, p, order, v);
		for (unsigned i = 0; i < p->n_points; i++)
			assert_true(v[i].is_valid);
		assert_true(near(value_of(p, v, "frequency_hz"), 49.9, 1e-5));
		assert_true(near(value_of(p, v, "voltage_l1n_v"), 231.5, 1e-5));
		assert_true(near(value_of(p, v, "power_total_kw"), -12.5, 1e-6));
		assert_true(near(value_of(p, v, "power_factor"), 0.97, 1e-6));
		assert_true(near(value_of(p, v, "energy_import_kwh"), 12345.6, 1e-9));
		assert_true(near(value_of(p, v, "energy_export_kwh"), 7.3, 1e-9));
		/* Unset: the middle of the range, else 0. */
		assert_true(value_of(p, v, "voltage_l2n_v") == 0);
		assert_true(value_of(p, v, "power_factor_l1") == 0);
		/* The raw registers: the float in the device's order, energy in 0.1 kWh. */
		assert_int_equal(th_read(&c, (uint8_t)u, 0x4000, 2, r), 0);
		mb_set_f32(f32, 49.9f, order);
		assert_int_equal(r[0], f32[0]);
		assert_int_equal(r[1], f32[1]);
		assert_int_equal(th_read(&c, (uint8_t)u, 0x4048, 4, r), 0);
		assert_int_equal(mb_get_u32(r, order), 123456);
		assert_int_equal(mb_get_u32(r + 2, order), 73);
	}
	/* Decoded in the other order, the frequency is not 49.9 Hz. */
	read_all(&c, 3, p, MB_ORDER_ABCD, v);
	assert_false(near(v[prof_point_index(p, "frequency_hz")].value, 49.9, 0.1));

	/* Outside the planned blocks (0x4000..0x403B, 0x4048..0x404B): exception 0x02, also for
	 * a read that starts inside one; the wrong table too. A cut float is fine. */
	assert_int_equal(th_read(&c, 2, 0x403C, 1, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 2, 0x403A, 4, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 2, 0x3FFF, 2, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(read_fc(&c, 2, MB_FC_READ_INPUT_REGISTERS, 0x4000, 2, r),
			 -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 2, 0x4001, 1, r), 0);
	mb_set_f32(f32, 49.9f, MB_ORDER_ABCD);
	assert_int_equal(r[0], f32[1]);
	/* Every point is ro: a write is 0x02. Coils are not served. */
	assert_int_equal(th_write(&c, 2, 0x4000, 1), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(read_fc(&c, 2, MB_FC_READ_COILS, 0, 1, r),
			 -MB_EXC(MB_EX_ILLEGAL_FUNCTION));

	assert_int_equal(sim_prof_get(ts.sim, a, got, PROF_MAX_POINTS), (int)p->n_points);
	assert_true(got[prof_point_index(p, "frequency_hz")] == 49.9);
	assert_true(got[prof_point_index(p, "energy_import_kwh")] == 12345.6);
	assert_int_equal(sim_prof_get(ts.sim, 99, got, PROF_MAX_POINTS), -ENOENT);
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);
	prof_free(p);
}

static void test_default_values_are_the_middle_of_each_range(void **state)
{
	struct prof_profile *p = builtin("acuvim2-manual");
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };
	struct prof_value v[PROF_MAX_POINTS];
	struct th_client c;
	struct th_sim ts;
	int dev;

	(void)state;
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	dev = sim_add_profile(ts.sim, &ep, p, &prm);
	assert_true(dev >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, (uint16_t)sim_port(ts.sim, dev)), 0);
	read_all(&c, 1, p, p->default_order, v);
	assert_true(value_of(p, v, "frequency_hz") == 55); /* range [40, 70] */
	assert_true(value_of(p, v, "power_factor") == 0);  /* [-1, 1] */
	assert_true(value_of(p, v, "current_l1_a") == 0);  /* no range */
	assert_true(value_of(p, v, "energy_import_kwh") == 0);
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);
	prof_free(p);
}

/* The reply to FC43/14 individual access of object 0x01 (ProductName) from unit. */
static void assert_product(struct th_client *c, uint8_t unit, const char *want)
{
	uint8_t buf[12] = { 0, 7, 0, 0, 0, 5, unit, 0x2B, 0x0E, 0x04, 0x01 };
	size_t n = strlen(want);
	int len;

	assert_int_equal(th_send(c->fd, buf, 11), 0);
	len = th_recv_frame(c, TH_TIMEOUT_MS, NULL);
	assert_int_equal(len, 16 + (int)n);
	assert_int_equal(c->frame[7], 0x2B);
	assert_int_equal(c->frame[14], 0x01);
	assert_int_equal(c->frame[15], n);
	assert_memory_equal(c->frame + 16, want, n);
}

static void test_powerpack_profile_applies_rw_writes_and_refuses_the_rest(void **state)
{
	struct prof_profile *p = builtin("powerpack");
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };
	uint16_t r[29], w[3] = { 40, 0, 3 };
	double got[PROF_MAX_POINTS];
	int soe = prof_point_index(p, "soe_pct"), dev, st;
	struct th_client c;
	struct th_sim ts;

	(void)state;
	prm.startup_ms = 0;
	prm.time_scale = 3600; /* 1 s is 1 h: 40 kW of 200 kWh is 20 % a second */
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	dev = sim_add_profile(ts.sim, &ep, p, &prm);
	assert_true(dev >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, (uint16_t)sim_port(ts.sim, dev)), 0);
	assert_product(&c, 1, "powerpack simulator");

	/* The whole map in one read: the holes between points read 0. READY after startup. */
	for (int i = 0; i < 200 && (st = th_read1(&c, 1, 2000)) != 1; i++)
		th_sleep_ms(5);
	assert_int_equal(st, 1);
	assert_int_equal(th_read(&c, 1, 2000, 29, r), 0);
	assert_int_equal(r[0], 1);
	for (unsigned i = 1; i < 8; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(r[26], 50); /* soe_pct: 50 when unset */

	/* rw points take writes (FC06, or FC16 over 2008..2010 would span the hole 2009). */
	assert_int_equal(th_write(&c, 1, 2010, 3), 0);
	assert_int_equal(th_read1(&c, 1, 2010), 3);
	assert_int_equal(th_write(&c, 1, 2012, 77), 0);
	assert_int_equal(th_read1(&c, 1, 2012), 77);
	assert_int_equal(write_regs(&c, 1, 2008, 3, w), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read1(&c, 1, 2008), 0); /* all or nothing */
	assert_int_equal(write_regs(&c, 1, 2008, 1, w), 0);
	assert_int_equal(th_read1(&c, 1, 2008), 40);
	assert_int_equal(th_write(&c, 1, 2008, mb_from_i16(-250)), 0);
	assert_int_equal((int16_t)th_read1(&c, 1, 2008), -250);
	/* Past the limits (+-250 kW): 0x03, the value stays. */
	assert_int_equal(th_write(&c, 1, 2008, 251), -MB_EXC(MB_EX_ILLEGAL_DATA_VALUE));
	assert_int_equal(th_write(&c, 1, 2008, mb_from_i16(-300)),
			 -MB_EXC(MB_EX_ILLEGAL_DATA_VALUE));
	assert_int_equal((int16_t)th_read1(&c, 1, 2008), -250);
	/* ro points and holes: 0x02. */
	assert_int_equal(th_write(&c, 1, 2000, 3), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_write(&c, 1, 2026, 90), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_write(&c, 1, 2001, 1), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read1(&c, 1, 2000), 1);

	/* Discharging at 40 kW the SOE falls; charging at -250 kW it rises to full. */
	assert_int_equal(th_write(&c, 1, 2008, 40), 0);
	st = th_read1(&c, 1, 2026);
	assert_true(st > 0);
	for (int i = 0; i < 400 && th_read1(&c, 1, 2026) >= st; i++)
		th_sleep_ms(5);
	assert_true(th_read1(&c, 1, 2026) < st);
	assert_int_equal(th_write(&c, 1, 2008, mb_from_i16(-250)), 0);
	for (int i = 0; i < 400; i++) {
		assert_int_equal(sim_prof_get(ts.sim, dev, got, PROF_MAX_POINTS), (int)p->n_points);
		if (got[soe] == 100)
			break;
		th_sleep_ms(5);
	}
	assert_true(got[soe] == 100); /* and it stops there */
	assert_int_equal(th_read1(&c, 1, 2026), 100);
	assert_true(got[prof_point_index(p, "target_power_kw")] == -250);
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);
	prof_free(p);
}

/* A BESS of input registers with scales, an offset, a device word order and active power. */
static const char test_bess[] =
    "name: test-bess\n"
    "kind: bess\n"
    "defaults: { unit_id: 5, word_order: CDAB }\n"
    "points:\n"
    "  - { name: status, address: 100, type: u16 }\n"
    "  - { name: target_power_kw, address: 102, type: i32, scale: 10, unit: kW, access: rw }\n"
    "  - { name: command_source, address: 104, type: u16, access: rw }\n"
    "  - { name: soe_pct, address: 0, function: 4, type: f32, unit: \"%\", range: [0, 100] }\n"
    "  - { name: active_power_kw, address: 2, function: 4, type: i16, scale: 10, unit: kW }\n"
    "  - { name: cell_temp_c, address: 3, function: 4, type: u16, scale: 10, offset: -40 }\n"
    "enums:\n"
    "  status: { values: { 0: OFF, 1: RUN, 2: ERR }, ready: RUN, fault: ERR }\n"
    "roles:\n"
    "  status: status\n"
    "  target_power: target_power_kw\n"
    "  command_source: command_source\n"
    "  soe: soe_pct\n"
    "  active_power: active_power_kw\n"
    "limits:\n"
    "  target_power_kw: { min: -100, max: 100 }\n";

static void test_active_power_follows_the_target_and_the_soe_integrates_it(void **state)
{
	struct prof_profile *p = from_text(test_bess);
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;
	struct sim_endpoint ep = { .unit = 5 };
	uint16_t r[4], w[2];
	struct th_client c;
	struct th_sim ts;
	int dev;

	(void)state;
	prm.startup_ms = 0;
	prm.time_scale = 360; /* 42.5 kW of 100 kWh: 4.25 % a second */
	prm.capacity_kwh = 100;
	set(p, &prm, "cell_temp_c", 25);
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	dev = sim_add_profile(ts.sim, &ep, p, &prm);
	assert_true(dev >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, (uint16_t)sim_port(ts.sim, dev)), 0);
	assert_product(&c, 5, "test-bess simulator");

	/* FC04: the SOE in the device's order (CDAB) at 50, temperature (25 + 40) x 10. */
	assert_int_equal(read_fc(&c, 5, MB_FC_READ_INPUT_REGISTERS, 0, 4, r), 0);
	assert_true(mb_get_f32(r, MB_ORDER_CDAB) == 50.0f);
	assert_int_equal(r[2], 0);
	assert_int_equal(r[3], 650);
	assert_int_equal(th_read(&c, 5, 0, 1, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));

	/* 42.5 kW written as an i32 of 0.1 kW, CDAB: active power shows it, the SOE falls. */
	mb_set_i32(w, 425, MB_ORDER_CDAB);
	assert_int_equal(write_regs(&c, 5, 102, 2, w), 0);
	assert_int_equal(read_fc(&c, 5, MB_FC_READ_INPUT_REGISTERS, 0, 3, r), 0);
	assert_int_equal(r[2], 425);
	for (int i = 0; i < 400 && mb_get_f32(r, MB_ORDER_CDAB) >= 50.0f; i++) {
		th_sleep_ms(5);
		assert_int_equal(read_fc(&c, 5, MB_FC_READ_INPUT_REGISTERS, 0, 3, r), 0);
	}
	assert_true(mb_get_f32(r, MB_ORDER_CDAB) < 50.0f);
	/* Half an i32 (FC06 at 102) is not a point: 0x02; past 100 kW: 0x03. */
	assert_int_equal(th_write(&c, 5, 102, 1), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	mb_set_i32(w, 1001, MB_ORDER_CDAB);
	assert_int_equal(write_regs(&c, 5, 102, 2, w), -MB_EXC(MB_EX_ILLEGAL_DATA_VALUE));
	assert_int_equal(th_read(&c, 5, 102, 2, r), 0);
	assert_int_equal(mb_get_i32(r, MB_ORDER_CDAB), 425);
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);
	prof_free(p);
}

static void test_a_status_set_by_hand_stays_and_nothing_is_delivered(void **state)
{
	struct prof_profile *p = from_text(test_bess);
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;
	struct sim_endpoint ep = { .unit = 5 };
	uint16_t r[3], w[2];
	struct th_client c;
	struct th_sim ts;
	double soe;
	int dev;

	(void)state;
	prm.startup_ms = 0;
	assert_int_equal(sim_prof_parse_value(p, 0, "ERR", &prm.value[0]), 0);
	assert_true(prm.value[0] == 2);
	prm.has_value[0] = true;
	set(p, &prm, "soe_pct", 70); /* a given SOE is where it starts */
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	dev = sim_add_profile(ts.sim, &ep, p, &prm);
	assert_true(dev >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, (uint16_t)sim_port(ts.sim, dev)), 0);
	mb_set_i32(w, 500, MB_ORDER_CDAB);
	assert_int_equal(write_regs(&c, 5, 102, 2, w), 0);
	assert_int_equal(th_read1(&c, 5, 100), 2); /* not READY: startup did not override it */
	assert_int_equal(read_fc(&c, 5, MB_FC_READ_INPUT_REGISTERS, 0, 3, r), 0);
	soe = mb_get_f32(r, MB_ORDER_CDAB);
	assert_true(soe == 70.0f);
	assert_int_equal(r[2], 0); /* no power while ERR */
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);
	prof_free(p);
}

/*
 * powerpack-ext.yaml served with its physics: the power delivered (active_power at 2030) is
 * capped by the max discharge / charge it reports (2032, 2031: magnitudes), nothing with a
 * fault bit set (2038, u32); those reported points take writes in the simulator (a test
 * derates or faults it live), the seed's ro points still do not.
 */
static void test_powerpack_ext_caps_power_at_its_reported_max_and_stops_on_a_fault(void **state)
{
	struct prof_profile *p = builtin("powerpack-ext");
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };
	uint16_t r[40], w[2];
	struct th_client c;
	struct th_sim ts;
	double word;
	int dev;

	(void)state;
	prm.startup_ms = 0;
	set(p, &prm, "max_discharge_kw", 30); /* as flux sim --set max_discharge_kw=30 */
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	dev = sim_add_profile(ts.sim, &ep, p, &prm);
	assert_true(dev >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, (uint16_t)sim_port(ts.sim, dev)), 0);
	/* The whole map in its one read: max charge defaults to the top of its range. */
	assert_int_equal(th_read(&c, 1, 2000, 40, r), 0);
	assert_int_equal(r[0], 1); /* READY */
	assert_int_equal(r[31], 250);
	assert_int_equal(r[32], 30);
	assert_int_equal(r[36], 0);
	assert_int_equal(r[38], 0);
	assert_int_equal(r[39], 0);
	/* 100 kW asked: 30 delivered; -100: all of it (250 may be charged). */
	assert_int_equal(th_write(&c, 1, 2008, 100), 0);
	assert_int_equal(th_read1(&c, 1, 2030), 30);
	assert_int_equal(th_write(&c, 1, 2008, (uint16_t)-100), 0);
	assert_int_equal(mb_get_i16((uint16_t)th_read1(&c, 1, 2030)), -100);
	/* Derated live: 40 kW of charge at most. */
	assert_int_equal(th_write(&c, 1, 2031, 40), 0);
	assert_int_equal(mb_get_i16((uint16_t)th_read1(&c, 1, 2030)), -40);
	/* A fault bit (emergency_stop, bit 16: the high word in ABCD): nothing delivered. */
	mb_set_u32(w, 1u << 16, MB_ORDER_ABCD);
	assert_int_equal(write_regs(&c, 1, 2038, 2, w), 0);
	assert_int_equal(th_read1(&c, 1, 2030), 0);
	assert_int_equal(th_read1(&c, 1, 2038), 1);
	/* Cleared: power again. An alarm word takes writes and changes nothing. */
	mb_set_u32(w, 0, MB_ORDER_ABCD);
	assert_int_equal(write_regs(&c, 1, 2038, 2, w), 0);
	assert_int_equal(th_write(&c, 1, 2036, 0x4), 0);
	assert_int_equal(mb_get_i16((uint16_t)th_read1(&c, 1, 2030)), -40);
	/* The seed's ro points still refuse; half the fault word is not a point. */
	assert_int_equal(th_write(&c, 1, 2000, 3), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_write(&c, 1, 2030, 3), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_write(&c, 1, 2038, 1), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);

	/* --set takes a bit field by names or numbers joined by '|'. */
	assert_int_equal(sim_prof_parse_value(p, (unsigned)prof_point_index(p, "fault_word"),
					      "dc_insulation_fault|emergency_stop", &word),
			 0);
	assert_true(word == (1u | 1u << 16));
	assert_int_equal(sim_prof_parse_value(p, (unsigned)prof_point_index(p, "alarm_word"),
					      "fan_degraded|bit5|7", &word),
			 0);
	assert_true(word == (1u << 2 | 1u << 5 | 1u << 7));
	assert_int_equal(
	    sim_prof_parse_value(p, (unsigned)prof_point_index(p, "alarm_word"), "9", &word), 0);
	assert_true(word == 9);
	assert_int_equal(
	    sim_prof_parse_value(p, (unsigned)prof_point_index(p, "alarm_word"), "bit16", &word),
	    -EINVAL);
	assert_int_equal(sim_prof_parse_value(p, (unsigned)prof_point_index(p, "alarm_word"),
					      "fan_degraded||bit1", &word),
			 -EINVAL);
	assert_int_equal(
	    sim_prof_parse_value(p, (unsigned)prof_point_index(p, "fault_word"), "smoke", &word),
	    -EINVAL);
	prof_free(p);
}

static void test_holes_read_as_zero_unless_strict_or_max_gap_zero(void **state)
{
	static const char gap0[] = "name: gap0\n"
				   "kind: meter\n"
				   "max_gap: 0\n"
				   "points:\n"
				   "  - { name: p_kw, address: 10, type: f32 }\n"
				   "  - { name: q_kvar, address: 14, type: f32 }\n"
				   "roles: { grid_power: p_kw }\n";
	struct prof_profile *pp = builtin("powerpack"), *g = from_text(gap0);
	struct sim_prof_params prm = SIM_PROF_DEFAULTS, strict;
	struct sim_endpoint ep = { .unit = 1 };
	uint16_t r[29];
	struct th_client c;
	struct th_sim ts;
	int a;

	(void)state;
	strict = prm;
	strict.is_strict_holes = true;
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	a = sim_add_profile(ts.sim, &ep, pp, &prm);
	assert_true(a >= 0);
	ep.port = (uint16_t)sim_port(ts.sim, a);
	ep.unit = 2;
	assert_true(sim_add_profile(ts.sim, &ep, pp, &strict) >= 0);
	ep.unit = 3;
	assert_true(sim_add_profile(ts.sim, &ep, g, &prm) >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, ep.port), 0);

	assert_int_equal(th_read(&c, 1, 2000, 29, r), 0);
	assert_int_equal(th_read(&c, 1, 2001, 7, r), 0); /* holes only, inside the block */
	assert_int_equal(r[0], 0);
	/* --strict-holes: any register no point holds is 0x02, each point alone is fine. */
	assert_int_equal(th_read(&c, 2, 2000, 29, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 2, 2008, 3, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 2, 2010, 1, r), 0);
	assert_int_equal(th_read(&c, 2, 2026, 1, r), 0);
	assert_int_equal(r[0], 50);
	/* max_gap 0: the planned blocks have no holes, so the device refuses spanning reads. */
	assert_int_equal(g->n_blocks, 2);
	assert_int_equal(th_read(&c, 3, 10, 6, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 3, 10, 2, r), 0);
	assert_int_equal(th_read(&c, 3, 14, 2, r), 0);
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);
	prof_free(pp);
	prof_free(g);
}

static void test_refuses_bad_parameters(void **state)
{
	struct prof_profile *p = builtin("powerpack");
	struct sim_prof_params prm = SIM_PROF_DEFAULTS, bad;
	struct sim_endpoint ep = { .unit = 1 };
	struct sim *sim = sim_new();
	int dev;
	double v;

	(void)state;
	assert_non_null(sim);
	bad = prm;
	set(p, &bad, "status", 70000); /* a u16 */
	assert_int_equal(sim_add_profile(sim, &ep, p, &bad), -ERANGE);
	bad = prm;
	bad.capacity_kwh = 0;
	assert_int_equal(sim_add_profile(sim, &ep, p, &bad), -EINVAL);
	bad = prm;
	bad.time_scale = NAN;
	assert_int_equal(sim_add_profile(sim, &ep, p, &bad), -EINVAL);
	assert_int_equal(sim_add_profile(sim, &ep, NULL, &prm), -EINVAL);
	ep.host = "10.0.0.1";
	assert_int_equal(sim_add_profile(sim, &ep, p, &prm), -EADDRNOTAVAIL);
	ep.host = NULL;
	dev = sim_add_profile(sim, &ep, p, &prm);
	assert_true(dev >= 0);
	ep.port = (uint16_t)sim_port(sim, dev);
	assert_int_equal(sim_add_profile(sim, &ep, p, &prm), -EINVAL); /* unit 1 taken */
	sim_free(sim);

	assert_int_equal(sim_prof_parse_value(p, 0, "READY", &v), 0);
	assert_true(v == 1);
	assert_int_equal(sim_prof_parse_value(p, 0, "3", &v), 0);
	assert_int_equal(sim_prof_parse_value(p, 0, "BUSY", &v), -EINVAL);
	assert_int_equal(sim_prof_parse_value(p, 0, "70000", &v), -ERANGE);
	assert_int_equal(sim_prof_parse_value(p, 0, "-1", &v), -ERANGE);
	assert_int_equal(sim_prof_parse_value(p, 0, "1x", &v), -EINVAL);
	assert_int_equal(sim_prof_parse_value(p, 99, "1", &v), -EINVAL);
	prof_free(p);
}

/* ---- the CSV ------------------------------------------------------------------------- */

static void write_file(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/flux-simprof-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* sim_prof_csv_load() of text for p; the message goes to err. */
static int load_text(const struct prof_profile *p, const char *text, char *err, size_t cap)
{
	struct sim_prof_csv csv;
	char path[64];
	int r;

	write_file(path, text);
	r = sim_prof_csv_load(path, p, &csv, err, cap);
	if (!r)
		sim_prof_csv_exit(&csv);
	else
		assert_null(csv.t_s);
	unlink(path);
	return r;
}

static void test_csv_steps_values_at_their_times(void **state)
{
	struct prof_profile *p = builtin("acuvim2-manual");
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };
	int f = prof_point_index(p, "frequency_hz"), e = prof_point_index(p, "energy_import_kwh");
	struct sim_prof_csv csv;
	char path[64], err[256];
	double got[PROF_MAX_POINTS];
	struct th_sim ts;
	int dev;

	(void)state;
	write_file(path, "# recorded\n"
			 "t, frequency_hz, energy_import_kwh\n"
			 "0, 50, 100\n"
			 "\n"
			 "0.2, 50.5, 100.5\n"
			 "100000, 51, 101\n");
	assert_int_equal(sim_prof_csv_load(path, p, &csv, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(csv.n_cols, 2);
	assert_int_equal(csv.col[0], f);
	assert_int_equal(csv.col[1], e);
	assert_int_equal(csv.n_rows, 3);
	assert_int_equal(sim_prof_csv_row(&csv, -1), -1);
	assert_int_equal(sim_prof_csv_row(&csv, 0), 0);
	assert_int_equal(sim_prof_csv_row(&csv, 0.19), 0);
	assert_int_equal(sim_prof_csv_row(&csv, 0.2), 1);
	assert_int_equal(sim_prof_csv_row(&csv, 99999), 1);
	assert_int_equal(sim_prof_csv_row(&csv, 1e9), 2);
	assert_int_equal(sim_prof_csv_row(NULL, 1), -1);

	/* Served: row 0 at once, row 1 after 0.2 s, row 2 not for a day. */
	prm.csv = &csv;
	set(p, &prm, "frequency_hz", 60);     /* the CSV's t = 0 row wins */
	set(p, &prm, "power_total_kw", 1000); /* would add to an energy not in the CSV */
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	dev = sim_add_profile(ts.sim, &ep, p, &prm);
	assert_true(dev >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(sim_prof_get(ts.sim, dev, got, PROF_MAX_POINTS), (int)p->n_points);
	assert_true(got[f] == 50 || got[f] == 50.5);
	for (int i = 0; i < 400 && got[f] != 50.5; i++) {
		th_sleep_ms(5);
		sim_prof_get(ts.sim, dev, got, PROF_MAX_POINTS);
	}
	assert_true(got[f] == 50.5);
	assert_true(got[e] == 100.5); /* a CSV point: not integrated */
	assert_int_equal(th_sim_stop(&ts), 0);
	sim_prof_csv_exit(&csv);
	sim_prof_csv_exit(&csv); /* twice is fine */
	prof_free(p);
}

static void test_csv_errors_name_the_file_and_line(void **state)
{
	static const struct {
		const char *text;
		int ret;
		const char *says;
	} bad[] = {
		{ "", -EINVAL, "no header" },
		{ "# only a comment\n", -EINVAL, "no header" },
		{ "t,frequency_hz\n", -EINVAL, "no rows after the header" },
		{ "time,frequency_hz\n0,50\n", -EINVAL, ":1: header: want t,NAME" },
		{ "t\n0\n", -EINVAL, ":1: header: want t and 1..32 point names" },
		{ "t,frequency_hz,bogus\n", -EINVAL,
		  ":1: header: column 3: profile acuvim2-manual "
		  "has no point 'bogus'" },
		{ "t,frequency_hz,frequency_hz\n", -EINVAL,
		  "column 3: 'frequency_hz' given twice" },
		{ "t,frequency_hz\n0,50\n1,50,3\n", -EINVAL, ":3: 3 fields, want 2" },
		{ "t,frequency_hz\n0,50\n\n1\n", -EINVAL, ":4: 1 fields, want 2" },
		{ "t,frequency_hz\n0,fifty\n", -EINVAL,
		  ":2: frequency_hz: want a number, got 'fifty'" },
		{ "t,frequency_hz\n0,nan\n", -EINVAL, ":2: frequency_hz: want a number" },
		{ "t,frequency_hz\n-1,50\n", -EINVAL, ":2: t: want seconds >= 0, got '-1'" },
		{ "t,frequency_hz\n5,50\n5,51\n", -EINVAL,
		  ":3: t 5 is not after the previous row's 5" },
		{ "t,energy_import_kwh\n0,-5\n", -EINVAL,
		  ":2: energy_import_kwh: -5 does not fit its 32-bit register(s)" },
		{ "t,energy_import_kwh\n0,1e12\n", -EINVAL, "does not fit" },
	};
	struct prof_profile *p = builtin("acuvim2-manual");
	char err[256], path[64], *big;
	struct sim_prof_csv csv;
	int fd;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = load_text(p, bad[i].text, err, sizeof(err));

		if (r != bad[i].ret || !strstr(err, bad[i].says) ||
		    !strstr(err, "/tmp/flux-simprof-"))
			fail_msg("case %u: %d '%s', want %d '%s'", i, r, err, bad[i].ret,
				 bad[i].says);
	}
	/* A missing file, one too big (sparse: nothing is written), a line too long. */
	assert_int_equal(sim_prof_csv_load("/nonexistent/v.csv", p, &csv, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/v.csv: cannot open: No such file"));
	strcpy(path, "/tmp/flux-simprof-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SIM_PROF_CSV_BYTES_MAX + 1), 0);
	close(fd);
	assert_int_equal(sim_prof_csv_load(path, p, &csv, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "a value CSV is at most"));
	unlink(path);
	big = malloc(SIM_PROF_CSV_LINE_MAX + 64);
	assert_non_null(big);
	strcpy(big, "t,frequency_hz\n0,");
	memset(big + strlen(big), '5', SIM_PROF_CSV_LINE_MAX);
	strcpy(big + strlen("t,frequency_hz\n0,") + SIM_PROF_CSV_LINE_MAX, "\n");
	assert_int_equal(load_text(p, big, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: line longer than"));
	free(big);
	/* Enum names are values too. */
	prof_free(p);
	p = builtin("powerpack");
	assert_int_equal(load_text(p, "t,status\n0,READY\n1,FAULT\n", err, sizeof(err)), 0);
	assert_int_equal(load_text(p, "t,status\n0,BUSY\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: status: want a number or a code name, got 'BUSY'"));
	prof_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_the_manual_acuvim_map_as_set_in_each_word_order),
		cmocka_unit_test(test_default_values_are_the_middle_of_each_range),
		cmocka_unit_test(test_powerpack_profile_applies_rw_writes_and_refuses_the_rest),
		cmocka_unit_test(test_active_power_follows_the_target_and_the_soe_integrates_it),
		cmocka_unit_test(test_a_status_set_by_hand_stays_and_nothing_is_delivered),
		cmocka_unit_test(
		    test_powerpack_ext_caps_power_at_its_reported_max_and_stops_on_a_fault),
		cmocka_unit_test(test_holes_read_as_zero_unless_strict_or_max_gap_zero),
		cmocka_unit_test(test_refuses_bad_parameters),
		cmocka_unit_test(test_csv_steps_values_at_their_times),
		cmocka_unit_test(test_csv_errors_name_the_file_and_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
