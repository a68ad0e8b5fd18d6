// SPDX-License-Identifier: MIT
/*
 * Tests of devices/sim_acu.c: load profiles (constant, step, daily, CSV and their parse
 * errors), and the Acuvim II simulator over real sockets: every float in every word order
 * decoded by the shipped acuvim2 profile (prof_load_builtin(), as fluxd reads it), grid power =
 * load - BESS power of the powerpacks in the same sim, energy integration, and its exceptions.
 */
#include <errno.h>
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

#include "devices/powerpack.h"
#include "devices/profile.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"

static bool near(double a, double b, double tol)
{
	return fabs(a - b) <= tol;
}

/* devices/profiles/acuvim2.yaml, loaded once for the group: what the meters are read with. */
static struct prof_profile *meter_prof;

static int load_profile(void **state)
{
	char err[256] = "";

	(void)state;
	if (prof_load_builtin("acuvim2", &meter_prof, err, sizeof(err))) {
		print_error("%s\n", err);
		return -1;
	}
	return 0;
}

static int free_profile(void **state)
{
	(void)state;
	prof_free(meter_prof);
	return 0;
}

/* Index of the acuvim2 point `name`, which it must have. */
static unsigned pt(const char *name)
{
	int i = prof_point_index(meter_prof, name);

	if (i < 0)
		fail_msg("acuvim2 has no point %s", name);
	return (unsigned)i;
}

static void test_parses_every_load_profile_kind(void **state)
{
	struct sim_load l;

	(void)state;
	assert_int_equal(sim_load_parse("150", &l), 0);
	assert_int_equal(l.kind, SIM_LOAD_CONSTANT);
	assert_true(sim_load_kw(&l, 1e6) == 150);
	assert_int_equal(sim_load_parse("const:-20.5", &l), 0);
	assert_true(sim_load_kw(&l, 0) == -20.5);
	assert_int_equal(sim_load_parse("step:100:200:30", &l), 0);
	assert_int_equal(l.kind, SIM_LOAD_STEP);
	assert_true(sim_load_kw(&l, 29.9) == 100);
	assert_true(sim_load_kw(&l, 30) == 200);
	assert_int_equal(sim_load_parse("daily:150:50", &l), 0);
	assert_int_equal(l.kind, SIM_LOAD_DAILY);
	assert_true(near(sim_load_kw(&l, 0), 100, 1e-9));	      /* midnight: lowest */
	assert_true(near(sim_load_kw(&l, 43200), 200, 1e-9));	      /* noon: highest */
	assert_true(near(sim_load_kw(&l, 21600), 150, 1e-9));	      /* 06:00: the mean */
	assert_true(near(sim_load_kw(&l, 86400 + 43200), 200, 1e-9)); /* every day */

	static const char *const bad[] = { "",		"abc",		"150kw",
					   "step:1:2",	"step:1:2:3:4", "daily:150",
					   "daily:a:b", "csv:",		"nan",
					   "inf" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sim_load_parse(bad[i], &l) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(sim_load_parse("csv:/nonexistent/load.csv", &l), -ENOENT);
}

/* Write text to a fresh temporary file; its path goes to path[]. */
static void write_tmp(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/flux-load-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* sim_load_parse() of a CSV file holding text. */
static int parse_tmp(const char *text)
{
	char path[64], spec[80];
	struct sim_load l;
	int err;

	write_tmp(path, text);
	snprintf(spec, sizeof(spec), "csv:%s", path);
	err = sim_load_parse(spec, &l);
	sim_load_exit(&l);
	unlink(path);
	return err;
}

static void test_interpolates_a_recorded_csv_load(void **state)
{
	char path[64], spec[80];
	struct sim_load l;

	(void)state;
	write_tmp(path, "seconds,kw\n# recorded at the site\n0,100\n10,200\n\n20,50\n");
	snprintf(spec, sizeof(spec), "csv:%s", path);
	assert_int_equal(sim_load_parse(spec, &l), 0);
	assert_int_equal(l.kind, SIM_LOAD_CSV);
	assert_int_equal(l.n, 3);
	assert_true(sim_load_kw(&l, -5) == 100);
	assert_true(sim_load_kw(&l, 0) == 100);
	assert_true(near(sim_load_kw(&l, 5), 150, 1e-9));
	assert_true(sim_load_kw(&l, 10) == 200);
	assert_true(near(sim_load_kw(&l, 15), 125, 1e-9));
	assert_true(sim_load_kw(&l, 99) == 50);
	sim_load_exit(&l);
	sim_load_exit(&l); /* twice is fine */
	unlink(path);

	/* Time must rise; every line after the header must be numbers; some line must be. */
	assert_int_equal(parse_tmp("0,100\n0,200\n"), -EINVAL);
	assert_int_equal(parse_tmp("0,100\n5,abc\n"), -EINVAL);
	assert_int_equal(parse_tmp("0,100,7\n"), -EINVAL);
	assert_int_equal(parse_tmp("# nothing\n"), -EINVAL);
	assert_int_equal(parse_tmp("t,kw\n0,1\n"), 0);
}

struct site {
	struct th_sim ts;
	int pp, acu[4];
	uint16_t pp_port, acu_port;
};

/* A powerpack (unit 1) and four meters (units 2..5, one per word order) sharing one port. */
static struct site *start_site(const struct sim_load *load, double time_scale)
{
	struct site *s = calloc(1, sizeof(*s));
	struct sim_pp_params pp = SIM_PP_DEFAULTS;
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct sim_endpoint ep = { .host = "localhost", .unit = 1 };

	assert_non_null(s);
	s->ts.sim = sim_new();
	assert_non_null(s->ts.sim);
	pp.startup_ms = 0;
	pp.response_ms = 0;
	s->pp = sim_add_powerpack(s->ts.sim, &ep, &pp);
	assert_true(s->pp >= 0);
	s->pp_port = (uint16_t)sim_port(s->ts.sim, s->pp);
	acu.load = *load;
	acu.time_scale = time_scale;
	for (unsigned i = 0; i < 4; i++) {
		ep = (struct sim_endpoint){ .host = "127.0.0.1",
					    .port = s->acu_port,
					    .unit = (uint8_t)(2 + i) };
		acu.order = (enum mb_order)i;
		s->acu[i] = sim_add_acuvim2(s->ts.sim, &ep, &acu);
		assert_true(s->acu[i] >= 0);
		s->acu_port = (uint16_t)sim_port(s->ts.sim, s->acu[i]);
	}
	assert_int_equal(th_sim_start(&s->ts), 0);
	return s;
}

static void stop_site(struct site *s)
{
	assert_int_equal(th_sim_stop(&s->ts), 0);
	free(s);
}

/* Read every block of a meter and decode them with the profile. Returns 0 or an error. */
static int read_meter(struct th_client *c, uint8_t unit, enum mb_order order, struct prof_value *v)
{
	struct prof_sample smp = { 0 };
	int err = 0;

	for (unsigned b = 0; b < meter_prof->n_blocks; b++) {
		smp.err[b] = th_read(c, unit, meter_prof->blocks[b].start,
				     meter_prof->blocks[b].count, smp.regs[b]);
		if (!err)
			err = smp.err[b];
	}
	prof_decode(meter_prof, order, &smp, v);
	return err;
}

static void test_serves_every_measurement_in_every_word_order(void **state)
{
	struct sim_load load = { .kind = SIM_LOAD_CONSTANT, .kw = 150 };
	struct site *s = start_site(&load, 1);
	struct prof_value v[PROF_MAX_POINTS];
	struct th_client c;
	double s_kva = 150 / 0.98, i_a = s_kva * 1000 / (3 * 230);

	(void)state;
	assert_int_equal(th_open(&c, s->acu_port), 0);
	for (unsigned o = 0; o < 4; o++) {
		assert_int_equal(read_meter(&c, (uint8_t)(2 + o), (enum mb_order)o, v), 0);
		for (unsigned i = 0; i < meter_prof->n_points; i++)
			assert_true(v[i].is_valid);
		assert_true(near(v[pt("voltage_l1n_v")].value, 230, 1e-3));
		assert_true(near(v[pt("voltage_l3n_v")].value, 230, 1e-3));
		assert_true(near(v[pt("voltage_l1l2_v")].value, 398.37, 0.01));
		assert_true(near(v[pt("voltage_l3l1_v")].value, 398.37, 0.01));
		assert_true(near(v[pt("current_l2_a")].value, i_a, 0.01));
		assert_true(near(v[pt("power_total_kw")].value, 150, 1e-3));
		assert_true(near(v[pt("apparent_total_kva")].value, s_kva, 1e-3));
		assert_true(near(v[pt("reactive_total_kvar")].value,
				 sqrt(s_kva * s_kva - 150 * 150), 1e-2));
		assert_true(near(v[pt("power_factor")].value, 0.98, 1e-6));
		assert_true(near(v[pt("frequency_hz")].value, 50, 1e-6));
		assert_true(v[pt("energy_import_kwh")].value >= 0);
		assert_true(v[pt("energy_export_kwh")].value == 0);
		/* Decoded with another word order, the voltage is not 230 V. */
		read_meter(&c, (uint8_t)(2 + o), (enum mb_order)((o + 1) % 4), v);
		assert_false(v[pt("voltage_l1n_v")].is_valid &&
			     near(v[pt("voltage_l1n_v")].value, 230, 1));
	}
	th_close(&c);
	stop_site(s);
}

static void test_grid_power_is_load_minus_bess_power(void **state)
{
	struct sim_load load = { .kind = SIM_LOAD_CONSTANT, .kw = 150 };
	struct site *s = start_site(&load, 1);
	struct prof_value v[PROF_MAX_POINTS];
	struct sim_acu_state st;
	struct th_client bess, meter;

	(void)state;
	assert_int_equal(th_open(&bess, s->pp_port), 0);
	assert_int_equal(th_open(&meter, s->acu_port), 0);
	assert_int_equal(th_write(&bess, 1, PP_REG_COMMAND_SOURCE, 3), 0);
	assert_int_equal(th_write(&bess, 1, PP_REG_TARGET_POWER, 100), 0);
	for (int i = 0; i < 600; i++) {
		assert_int_equal(read_meter(&meter, 2, MB_ORDER_ABCD, v), 0);
		if (near(v[pt("power_total_kw")].value, 50, 1e-3))
			break;
		th_sleep_ms(5);
	}
	assert_true(near(v[pt("power_total_kw")].value, 50, 1e-3));
	/* Charging at 100 kW adds to the import. */
	assert_int_equal(th_write(&bess, 1, PP_REG_TARGET_POWER, mb_from_i16(-100)), 0);
	for (int i = 0; i < 600; i++) {
		assert_int_equal(read_meter(&meter, 3, MB_ORDER_CDAB, v), 0);
		if (near(v[pt("power_total_kw")].value, 250, 1e-3))
			break;
		th_sleep_ms(5);
	}
	assert_true(near(v[pt("power_total_kw")].value, 250, 1e-3));
	assert_int_equal(sim_acu_get(s->ts.sim, s->acu[0], &st), 0);
	assert_true(st.load_kw == 150);
	assert_true(st.bess_kw == -100);
	assert_true(st.grid_kw == 250);
	assert_int_equal(sim_acu_get(s->ts.sim, s->pp, &st), -ENOENT);
	th_close(&bess);
	th_close(&meter);
	stop_site(s);
}

static void test_exports_when_bess_exceeds_load_and_integrates_energy(void **state)
{
	struct sim_load load = { .kind = SIM_LOAD_CONSTANT, .kw = 20 };
	struct site *s = start_site(&load, 3600); /* 1 s = 1 h */
	struct prof_value v[PROF_MAX_POINTS];
	struct sim_acu_state st = { 0 };
	struct th_client bess, meter;
	double import0;

	(void)state;
	assert_int_equal(th_open(&bess, s->pp_port), 0);
	assert_int_equal(th_open(&meter, s->acu_port), 0);
	assert_int_equal(read_meter(&meter, 2, MB_ORDER_ABCD, v), 0);
	import0 = v[pt("energy_import_kwh")].value;
	for (int i = 0; i < 600 && v[pt("energy_import_kwh")].value < import0 + 1; i++) {
		th_sleep_ms(5);
		assert_int_equal(read_meter(&meter, 2, MB_ORDER_ABCD, v), 0);
	}
	assert_true(v[pt("energy_import_kwh")].value >= import0 + 1);
	assert_true(v[pt("energy_export_kwh")].value == 0);
	assert_int_equal(th_write(&bess, 1, PP_REG_COMMAND_SOURCE, 3), 0);
	assert_int_equal(th_write(&bess, 1, PP_REG_TARGET_POWER, 70), 0);
	for (int i = 0; i < 600 && st.export_kwh < 1; i++) {
		th_sleep_ms(5);
		assert_int_equal(sim_acu_get(s->ts.sim, s->acu[1], &st), 0);
	}
	assert_true(st.grid_kw == -50);
	assert_true(st.export_kwh >= 1);
	assert_int_equal(read_meter(&meter, 3, MB_ORDER_CDAB, v), 0);
	assert_true(near(v[pt("power_total_kw")].value, -50, 1e-3));
	assert_true(v[pt("power_factor")].value > 0);
	assert_true(v[pt("energy_export_kwh")].value >= 1);
	th_close(&bess);
	th_close(&meter);
	stop_site(s);
}

static void test_follows_a_step_load_over_the_socket(void **state)
{
	struct sim_load load = { .kind = SIM_LOAD_STEP, .kw = 100, .kw2 = 300, .at_s = 60 };
	struct site *s = start_site(&load, 600); /* the step comes 0.1 s after start */
	struct prof_value v[PROF_MAX_POINTS];
	struct th_client meter;

	(void)state;
	assert_int_equal(th_open(&meter, s->acu_port), 0);
	for (int i = 0; i < 600; i++) {
		assert_int_equal(read_meter(&meter, 4, MB_ORDER_BADC, v), 0);
		if (near(v[pt("power_total_kw")].value, 300, 1e-3))
			break;
		th_sleep_ms(5);
	}
	assert_true(near(v[pt("power_total_kw")].value, 300, 1e-3));
	th_close(&meter);
	stop_site(s);
}

/* One meter on its own port with frequency profile f (a sim_load in Hz), time_scale 600. */
static void read_frequency(const struct sim_load *f, double *first, double *last, double want)
{
	struct th_sim ts = { .sim = sim_new() };
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct sim_endpoint ep = { .host = "127.0.0.1", .unit = 2 };
	struct prof_value v[PROF_MAX_POINTS];
	struct sim_acu_state st;
	struct th_client c;
	int dev;

	assert_non_null(ts.sim);
	acu.time_scale = 600;
	acu.has_frequency = true;
	acu.frequency = *f;
	dev = sim_add_acuvim2(ts.sim, &ep, &acu);
	assert_true(dev >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	assert_int_equal(th_open(&c, (uint16_t)sim_port(ts.sim, dev)), 0);
	assert_int_equal(read_meter(&c, 2, MB_ORDER_ABCD, v), 0);
	*first = v[pt("frequency_hz")].value;
	for (int i = 0; i < 600; i++) {
		assert_int_equal(read_meter(&c, 2, MB_ORDER_ABCD, v), 0);
		if (near(v[pt("frequency_hz")].value, want, 1e-4))
			break;
		th_sleep_ms(5);
	}
	*last = v[pt("frequency_hz")].value;
	assert_int_equal(sim_acu_get(ts.sim, dev, &st), 0);
	assert_true(near(st.frequency_hz, want, 1e-4));
	th_close(&c);
	assert_int_equal(th_sim_stop(&ts), 0);
}

/* The frequency profile: a step (50 -> 49.5 Hz at 60 s, 0.1 s real) and a CSV over time. */
static void test_follows_a_frequency_step_and_a_csv(void **state)
{
	struct sim_load f;
	char path[64], spec[80];
	double first, last;

	(void)state;
	assert_int_equal(sim_load_parse("step:50:49.5:60", &f), 0);
	read_frequency(&f, &first, &last, 49.5);
	assert_true(near(first, 50, 1e-4));
	assert_true(near(last, 49.5, 1e-4));
	write_tmp(path, "t,hz\n0,50\n30,49.8\n60,49.6\n");
	snprintf(spec, sizeof(spec), "csv:%s", path);
	assert_int_equal(sim_load_parse(spec, &f), 0);
	unlink(path);
	read_frequency(&f, &first, &last, 49.6);
	assert_true(first <= 50 && first > 49.6); /* between the first rows at first */
	assert_true(near(last, 49.6, 1e-4));
	sim_load_exit(&f);
	/* Outside the meter's range (40..70 Hz), or a daily profile: refused. */
	{
		struct sim *sim = sim_new();
		struct sim_endpoint ep = { .host = "127.0.0.1", .unit = 1 };
		struct sim_acu_params prm = SIM_ACU_DEFAULTS;

		assert_non_null(sim);
		prm.has_frequency = true;
		assert_int_equal(sim_load_parse("step:50:30:1", &prm.frequency), 0);
		assert_int_equal(sim_add_acuvim2(sim, &ep, &prm), -EINVAL);
		assert_int_equal(sim_load_parse("daily:50:1", &prm.frequency), 0);
		assert_int_equal(sim_add_acuvim2(sim, &ep, &prm), -EINVAL);
		assert_int_equal(sim_load_parse("49.9", &prm.frequency), 0);
		assert_true(sim_add_acuvim2(sim, &ep, &prm) >= 0);
		sim_free(sim);
	}
}

static void test_meter_refuses_writes_and_addresses_outside_its_blocks(void **state)
{
	struct sim_load load = { .kind = SIM_LOAD_CONSTANT, .kw = 150 };
	struct site *s = start_site(&load, 1);
	struct th_client c;
	uint16_t r[4];

	(void)state;
	assert_int_equal(th_open(&c, s->acu_port), 0);
	assert_int_equal(th_write(&c, 2, 0x0000, 1), -MB_EXC(MB_EX_ILLEGAL_FUNCTION));
	assert_int_equal(th_read(&c, 2, 0x0048, 4, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 2, 0x0104, 1, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_int_equal(th_read(&c, 2, 0x00FF, 2, r), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	/* Seed addresses one at a time, as a stock client would read them. */
	assert_int_equal(th_read(&c, 2, 0x0040, 2, r), 0);
	assert_true(near(mb_get_f32(r, MB_ORDER_ABCD), 150000, 0.5));
	assert_int_equal(th_read(&c, 2, 0x0100, 2, r), 0);
	/* No meter at unit 9: a gateway's "target failed to respond". */
	assert_int_equal(th_read(&c, 9, 0x0000, 2, r), -MB_EXC(MB_EX_GATEWAY_TARGET_FAILED));
	th_close(&c);
	stop_site(s);
}

static void test_rejects_bad_meter_params(void **state)
{
	struct sim *sim = sim_new();
	struct sim_endpoint ep = { .host = "127.0.0.1", .unit = 1 };
	struct sim_acu_params prm = SIM_ACU_DEFAULTS;

	(void)state;
	assert_non_null(sim);
	prm.pf = 0;
	assert_int_equal(sim_add_acuvim2(sim, &ep, &prm), -EINVAL);
	prm = SIM_ACU_DEFAULTS;
	prm.load.kind = SIM_LOAD_CSV; /* with no points */
	assert_int_equal(sim_add_acuvim2(sim, &ep, &prm), -EINVAL);
	prm = SIM_ACU_DEFAULTS;
	prm.time_scale = 0;
	assert_int_equal(sim_add_acuvim2(sim, &ep, &prm), -EINVAL);
	sim_free(sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_every_load_profile_kind),
		cmocka_unit_test(test_interpolates_a_recorded_csv_load),
		cmocka_unit_test(test_serves_every_measurement_in_every_word_order),
		cmocka_unit_test(test_grid_power_is_load_minus_bess_power),
		cmocka_unit_test(test_exports_when_bess_exceeds_load_and_integrates_energy),
		cmocka_unit_test(test_follows_a_step_load_over_the_socket),
		cmocka_unit_test(test_follows_a_frequency_step_and_a_csv),
		cmocka_unit_test(test_meter_refuses_writes_and_addresses_outside_its_blocks),
		cmocka_unit_test(test_rejects_bad_meter_params),
	};

	return cmocka_run_group_tests(tests, load_profile, free_profile);
}
