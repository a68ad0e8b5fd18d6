// SPDX-License-Identifier: MIT
/*
 * Tests of `flux read` and `flux write` (tools/cmd_read.c, tools/cmd_write.c, tools/tool.c): each
 * tool runs in this process (its main called with stdout and stderr captured in a memory
 * file) against the device simulators (devices/sim.h, on a thread) and against the fault
 * server (tests/support/faultsrv.h) for every malformed reply class, checking values, exit
 * codes and that each message names the error and shows the bytes. Only 127.0.0.1 is used;
 * every wait is bounded by the tools' own timeouts.
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
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "tests/support/client.h"
#include "tests/support/faultsrv.h"
#include "tests/support/json_check.h"
#include "tests/support/proc.h"
#include "tests/support/toolrun.h"
#include "tools/tools.h"

/* ---- a site simulator on a thread: one powerpack (unit 1), one acuvim2 (unit 2) ---------- */

struct site {
	struct th_sim ts;
	int pp;
	int acu;
	char port[8];
};

static int site_setup(void **state)
{
	struct site *s = calloc(1, sizeof(*s));
	struct sim_endpoint ep = { .host = "127.0.0.1", .port = 0, .unit = 1 };
	struct sim_pp_params pp = SIM_PP_DEFAULTS;
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;

	assert_non_null(s);
	pp.startup_ms = 0;
	s->ts.sim = sim_new();
	assert_non_null(s->ts.sim);
	s->pp = sim_add_powerpack(s->ts.sim, &ep, &pp);
	assert_true(s->pp >= 0);
	ep.port = (uint16_t)sim_port(s->ts.sim, s->pp);
	ep.unit = 2;
	s->acu = sim_add_acuvim2(s->ts.sim, &ep, &acu);
	assert_true(s->acu >= 0);
	snprintf(s->port, sizeof(s->port), "%u", ep.port);
	assert_int_equal(th_sim_start(&s->ts), 0);
	*state = s;
	return 0;
}

static int site_teardown(void **state)
{
	struct site *s = *state;

	assert_int_equal(th_sim_stop(&s->ts), 0);
	free(s);
	return 0;
}

/* The value printed on the line of point `name` in `flux read --profile` output, or NAN. */
static double point_value(const char *out, const char *name)
{
	size_t len = strlen(name);

	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		double v;

		if (strncmp(l, name, len) == 0 && l[len] == ' ' && sscanf(l + len, "%lf", &v) == 1)
			return v;
	}
	return NAN;
}

/* `flux read --profile`: every point of a shipped profile (or a file), decoded, with units. */
static void test_read_profile_prints_every_point_with_its_unit(void **state)
{
	struct site *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char *json;

	assert_non_null(r);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile", "powerpack", "-p",
				     s->port, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "unit 1: profile powerpack, 6 points in 1 read(s)");
	th_tool_has(r, " 1 READY ");
	th_tool_expect(r, point_value(r->out, "soe_pct") == 60);
	th_tool_expect(r, point_value(r->out, "available_blocks") == 2);
	th_tool_has(r, " % ");
	/* The meter at unit 2, from the profile file rather than the built-in copy. */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile",
				     "devices/profiles/acuvim2.yaml", "-p", s->port, "-a", "2",
				     "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "profile acuvim2, 16 points in 2 read(s)");
	th_tool_expect(r, point_value(r->out, "voltage_l1n_v") == 230);
	th_tool_expect(r, point_value(r->out, "frequency_hz") == 50);
	/* JSON: one object that parses, enum names beside the codes. */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile", "powerpack", "--json",
				     "-p", s->port, "127.0.0.1", NULL),
			 0);
	json = strstr(r->out, "{\"host\"");
	th_tool_expect(r, json && th_json_is_valid(json));
	th_tool_has(r, "\"name\":\"status\",\"function\":3,\"address\":2000,\"unit\":\"\","
		       "\"value\":1,\"enum\":\"READY\"");
	th_tool_has(r, "\"name\":\"soe_pct\",\"function\":3,\"address\":2026,\"unit\":\"%\","
		       "\"value\":60}");
	/* A map the device does not have: each read's exception named, the points shown as
	 * unread, exit 1. */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile", "acuvim2-manual", "-p",
				     s->port, "-a", "2", "127.0.0.1", NULL),
			 1);
	th_tool_has(r, "exception 0x02 illegal data address at 16384");
	th_tool_expect(r, isnan(point_value(r->out, "frequency_hz")));
	/* Bad input: named, exit 2, nothing sent. */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile", "inverter", "-p",
				     s->port, "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "--profile inverter: no such shipped profile (powerpack, acuvim2");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile", "/nonexistent.yaml",
				     "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "/nonexistent.yaml: cannot read: No such file or directory");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile", "powerpack", "-r",
				     "2026", "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "--profile reads the profile's points: -r");
	free(r);
}

static void test_read_prints_soe_status_and_blocks(void **state)
{
	struct site *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-a", "1", "-r",
				     "2026", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2026]: 60\n");
	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2000", "127.0.0.1", NULL),
	    0);
	th_tool_has(r, "[2000]: 1\n"); /* READY */
	/* 100 kW of 50 kW blocks: 2 available; the whole map in one read. */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2000", "-c",
				     "29", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2028]: 2\n");
	th_tool_has(r, "[2026]: 60\n");
	free(r);
}

static void test_read_names_an_exception_with_the_bytes(void **state)
{
	struct site *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2099", "127.0.0.1", NULL),
	    1);
	th_tool_has(r, "exception 0x02 illegal data address at 2099");
	th_tool_has(r, "sent: 00 01 00 00 00 06 01 03 08 33 00 01");
	th_tool_has(r, "recv: 00 01 00 00 00 03 01 83 02");
	free(r);
}

static void test_read_one_based_reads_the_reference_minus_one(void **state)
{
	struct site *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	/* modpoll -r 2027 == PDU 2026 (SOE) */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2027",
				     "--one-based", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2027]: 60\n");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2100",
				     "--one-based", "127.0.0.1", NULL),
			 1);
	th_tool_has(r, "at 2099 (reference 2100)");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "0",
				     "--one-based", "127.0.0.1", NULL),
			 2);
	free(r);
}

static void test_read_float_in_every_word_order(void **state)
{
	static const char *const orders[] = { "abcd", "cdab", "badc", "dcba" };
	struct th_tool_run *r = calloc(1, sizeof(*r));

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		struct sim_endpoint ep = { .host = "127.0.0.1", .port = 0, .unit = 2 };
		struct sim_acu_params acu = SIM_ACU_DEFAULTS;
		struct th_sim ts = { .sim = sim_new() };
		char port[8], other[8];
		int dev;

		acu.order = (enum mb_order)i;
		assert_non_null(ts.sim);
		dev = sim_add_acuvim2(ts.sim, &ep, &acu);
		assert_true(dev >= 0);
		snprintf(port, sizeof(port), "%d", sim_port(ts.sim, dev));
		snprintf(other, sizeof(other), "%s", orders[(i + 1) % 4]);
		assert_int_equal(th_sim_start(&ts), 0);
		assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-a", "2", "-r",
					     "0", "-t", "f32", "--order", orders[i], "127.0.0.1",
					     NULL),
				 0);
		th_tool_has(r, "[0]: 230\n"); /* voltage L1-N */
		/* The power register in W, as kW with --scale 1000; two values, 2 registers each.
		 */
		assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-a", "2", "-r",
					     "0x40", "-c", "2", "-t", "f32", "--order", orders[i],
					     "--scale", "1000", "127.0.0.1", NULL),
				 0);
		th_tool_has(r, "[64]: 150\n");
		th_tool_has(r, "[66]: ");
		assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-a", "2", "-r",
					     "0", "-t", "f32", "--order", other, "127.0.0.1", NULL),
				 0);
		th_tool_lacks(r, "[0]: 230\n");
		assert_int_equal(th_sim_stop(&ts), 0);
	}
	free(r);
}

static void test_write_target_power_after_claiming_command_source(void **state)
{
	struct site *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	struct sim_pp_state st;

	/* Not ours yet: the device refuses with 0x03, named, with both frames. */
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", s->port, "-a", "1", "-r",
				     "2008", "127.0.0.1", "50", NULL),
			 1);
	th_tool_has(r, "exception 0x03 illegal data value at 2008");
	th_tool_has(r, "sent: 00 01 00 00 00 06 01 06 07 d8 00 32");
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", s->port, "-r", "2010",
				     "127.0.0.1", "3", NULL),
			 0);
	th_tool_has(r, "echo verified");
	/* Negative: charge 50 kW, an option-looking VALUE after HOST. */
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", s->port, "-r", "2008",
				     "127.0.0.1", "-50", NULL),
			 0);
	th_tool_has(r, "function 0x06");
	assert_int_equal(sim_pp_get(s->ts.sim, s->pp, &st), 0);
	assert_int_equal(st.command_source, 3);
	assert_int_equal(st.target_power_kw, -50);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2008", "-t",
				     "i16", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2008]: -50\n");
	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2008", "127.0.0.1", NULL),
	    0);
	th_tool_has(r, "[2008]: 65486\n");
	/* Beyond the rated power: refused by the device. */
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", s->port, "-r", "2008", "-t",
				     "i16", "127.0.0.1", "-500", NULL),
			 1);
	th_tool_has(r, "exception 0x03");
	/* FC16 forced for one value. */
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", s->port, "-r", "2008",
				     "--fc", "16", "127.0.0.1", "25", NULL),
			 0);
	th_tool_has(r, "function 0x10");
	assert_int_equal(sim_pp_get(s->ts.sim, s->pp, &st), 0);
	assert_int_equal(st.target_power_kw, 25);
	free(r);
}

static void test_read_polls_on_an_interval_and_summarises(void **state)
{
	struct site *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	int64_t t0 = th_now_ns(), elapsed;
	unsigned lines = 0;

	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2026", "-l",
				     "20ms", "-n", "10", "127.0.0.1", NULL),
			 0);
	elapsed = th_now_ns() - t0;
	for (const char *p = r->out; (p = strstr(p, "Z [2026]: 60")); p++)
		lines++;
	th_tool_expect(r, lines == 10);
	th_tool_has(r, "10 polls, 0 errors, 0 missed intervals, rtt p50 ");
	th_tool_has(r, " p99 ");
	/* 9 intervals of 20 ms on absolute deadlines: at least 180 ms, and no pile-up. */
	assert_true(elapsed >= 180 * 1000000LL);
	assert_true(elapsed < 2000 * 1000000LL);
	free(r);
}

static void test_read_json_and_csv(void **state)
{
	struct site *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2026", "-c",
				     "3", "--json", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "\"address\":2026,\"type\":\"u16\"");
	th_tool_has(r, "\"values\":[60,0,2]}"); /* SOE, 2027, blocks */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2026", "-l",
				     "10ms", "-n", "2", "--csv", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "time,rtt_ms,2026,error\n");
	th_tool_has(r, ",60,\n");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", s->port, "-r", "2099",
				     "--json", "127.0.0.1", NULL),
			 1);
	th_tool_has(r, "\"error\":\"exception 0x02 illegal data address at 2099");
	th_tool_has(r, "\"exit\":1,\"sent\":\"00 01 00 00 00 06 01 03 08 33 00 01\"");
	free(r);
}

static void test_read_coils_of_the_fault_server(void **state)
{
	struct th_fsrv srv = { 0 };
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char port[8], want[32];

	(void)state;
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	snprintf(port, sizeof(port), "%u", srv.ports[0].port);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-a", "3", "-r", "10",
				     "-c", "2", "-f", "1", "127.0.0.1", NULL),
			 0);
	snprintf(want, sizeof(want), "[10]: %u\n", th_fsrv_value(srv.ports[0].port, 3, 10) & 1);
	th_tool_has(r, want);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-a", "3", "-r", "10",
				     "-f", "4", "-t", "hex", "127.0.0.1", NULL),
			 0);
	snprintf(want, sizeof(want), "[10]: 0x%04X\n", th_fsrv_value(srv.ports[0].port, 3, 10));
	th_tool_has(r, want);
	th_fsrv_close(&srv);
	free(r);
}

static void test_write_32_bit_types_with_fc16(void **state)
{
	struct th_fsrv srv = { 0 };
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char port[8];

	(void)state;
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	snprintf(port, sizeof(port), "%u", srv.ports[0].port);
	th_tool_run(r, cmd_write_main, "write", "-p", port, "-r", "2000", "-t", "f32", "--order",
		    "cdab", "127.0.0.1", "-12.5", "1e3", NULL);
	th_tool_expect(r, r->rc == 0);
	th_tool_has(r, "wrote 4 registers at 2000 (function 0x10)");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-r", "2000", "-c", "2",
				     "-t", "f32", "--order", "cdab", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2000]: -12.5\n");
	th_tool_has(r, "[2002]: 1000\n");
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", port, "-r", "2010", "-t",
				     "i32", "127.0.0.1", "-100000", NULL),
			 0);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-r", "2010", "-t",
				     "i32", "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2010]: -100000\n");
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", port, "-r", "2020",
				     "127.0.0.1", "1", "2", "65535", NULL),
			 0);
	th_tool_has(r, "wrote 3 registers at 2020 (function 0x10)");
	/* The fault server stores no coils: it answers 0x01, which shows the frames. */
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", port, "-r", "2030", "--fc",
				     "15", "127.0.0.1", "1", "0", "on", NULL),
			 1);
	th_tool_has(r, "exception 0x01 illegal function at 2030 (function 0x0F, quantity 3)");
	th_tool_has(r, "sent: 00 01 00 00 00 08 01 0f 07 ee 00 03 01 05");
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-p", port, "-r", "2030", "--fc",
				     "5", "127.0.0.1", "on", NULL),
			 1);
	th_tool_has(r, "sent: 00 01 00 00 00 06 01 05 07 ee ff 00");
	th_fsrv_close(&srv);
	free(r);
}

/* ---- each malformed reply class of the fault server ------------------------------------ */

struct fault_case {
	enum th_fsrv_fault fault;
	int param;
	int rc;
	const char *needle;
};

static void run_fault_case(const struct fault_case *fc, bool is_write)
{
	struct th_fsrv srv = { 0 };
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char port[8];

	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	snprintf(port, sizeof(port), "%u", srv.ports[0].port);
	th_fsrv_set(&srv, 0, fc->fault, fc->param);
	/* The server closes its listener on its next loop turn (<= 20 ms): wait for it. */
	for (int i = 0;
	     i < 200 && fc->fault == TH_FSRV_REFUSE && atomic_load(&srv.ports[0].is_listening); i++)
		th_sleep_ms(5);
	if (is_write)
		th_tool_run(r, cmd_write_main, "write", "-p", port, "-a", "1", "-r", "2001", "-o",
			    "300ms", "127.0.0.1", "7", NULL);
	else
		th_tool_run(r, cmd_read_main, "read", "-p", port, "-a", "1", "-r", "100", "-c", "2",
			    "-o", "300ms", "127.0.0.1", NULL);
	th_tool_expect(r, r->rc == fc->rc);
	th_tool_has(r, fc->needle);
	if (fc->fault != TH_FSRV_REFUSE)
		th_tool_has(r, is_write ? "sent: 00 01 00 00 00 06 01 06 07 d1 00 07"
					: "sent: 00 01 00 00 00 06 01 03 00 64 00 02");
	th_fsrv_close(&srv);
	free(r);
}

static const struct fault_case fault_cases[] = {
	{ TH_FSRV_WRONG_TID, 0, 1, "response TID mismatch: sent 0x0001, got 0x0002" },
	{ TH_FSRV_WRONG_UNIT, 0, 1, "response unit id mismatch: sent 1, got 2" },
	{ TH_FSRV_GARBAGE, 0, 1, "MBAP protocol id 0xBEEF is not 0" },
	{ TH_FSRV_EXCEPTION, 1, 1, "exception 0x01 illegal function at " },
	{ TH_FSRV_EXCEPTION, 2, 1, "exception 0x02 illegal data address at " },
	{ TH_FSRV_EXCEPTION, 3, 1, "exception 0x03 illegal data value at " },
	{ TH_FSRV_EXCEPTION, 4, 1, "exception 0x04 server device failure at " },
	{ TH_FSRV_SILENT, 0, 3, "no response within 300 ms (1 attempt)" },
	{ TH_FSRV_CUT, 0, 3, "connection closed by the peer" },
	{ TH_FSRV_REFUSE, 0, 3, "connect: Connection refused" },
};

static void test_read_names_each_malformed_reply(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]); i++)
		run_fault_case(&fault_cases[i], false);
}

static void test_read_names_a_bad_byte_count(void **state)
{
	static const struct fault_case bad_count = { TH_FSRV_BAD_COUNT, 0, 1,
						     "bad byte count: 2 register(s) want 4 bytes, "
						     "got 3" };

	(void)state;
	run_fault_case(&bad_count, false);
}

static void test_write_names_each_malformed_reply(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]); i++)
		run_fault_case(&fault_cases[i], true);
}

static void test_read_retries_a_silent_device_and_drops_late_replies(void **state)
{
	struct th_fsrv srv = { 0 };
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char port[8], want[32];

	(void)state;
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	snprintf(port, sizeof(port), "%u", srv.ports[0].port);
	/* Every reply comes 150 ms late against a 100 ms timeout: 3 attempts, all late. */
	th_fsrv_set(&srv, 0, TH_FSRV_DELAY, 150);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-r", "5", "-o", "100ms",
				     "--retries", "2", "127.0.0.1", NULL),
			 3);
	th_tool_has(r, "no response within 100 ms (3 attempts)");
	/* A timeout long enough: the value, not a stale late reply. */
	th_fsrv_set(&srv, 0, TH_FSRV_DELAY, 50);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-r", "6", "-o", "1s",
				     "127.0.0.1", NULL),
			 0);
	snprintf(want, sizeof(want), "[6]: %u\n", th_fsrv_value(srv.ports[0].port, 1, 6));
	th_tool_has(r, want);
	th_fsrv_close(&srv);
	free(r);
}

static void test_read_polling_counts_errors(void **state)
{
	struct th_fsrv srv = { 0 };
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char port[8];

	(void)state;
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	snprintf(port, sizeof(port), "%u", srv.ports[0].port);
	th_fsrv_set(&srv, 0, TH_FSRV_EXCEPTION, 4);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-p", port, "-r", "5", "-l", "10ms",
				     "-n", "3", "127.0.0.1", NULL),
			 1);
	th_tool_has(r, "Z error: exception 0x04 server device failure at 5");
	th_tool_has(r, "3 polls, 3 errors");
	th_fsrv_close(&srv);
	free(r);
}

/* ---- usage ----------------------------------------------------------------------------- */

static void test_usage_errors_exit_2(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "127.0.0.1", NULL), 2);
	th_tool_has(r, "-r ADDR is required");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-r", "1", NULL), 2);
	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-r", "1", "-f", "5", "127.0.0.1", NULL), 2);
	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-r", "1", "-t", "f64", "127.0.0.1", NULL), 2);
	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-r", "1", "--order", "abdc", "127.0.0.1", NULL),
	    2);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-r", "65536", "127.0.0.1", NULL),
			 2);
	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-r", "65535", "-c", "2", "127.0.0.1", NULL), 2);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-r", "0", "-c", "63", "-t", "f32",
				     "127.0.0.1", NULL),
			 2);
	assert_int_equal(
	    th_tool_run(r, cmd_read_main, "read", "-r", "0", "-o", "5parsecs", "127.0.0.1", NULL),
	    2);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-r", "0", "-f", "1", "-t", "f32",
				     "127.0.0.1", NULL),
			 2);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-r", "0", "not-an-address", NULL),
			 2);
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-r", "1", "127.0.0.1", NULL), 2);
	th_tool_has(r, "at least one VALUE");
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-r", "1", "-t", "u16",
				     "127.0.0.1", "-5", NULL),
			 2);
	th_tool_has(r, "out of range for u16");
	assert_int_equal(
	    th_tool_run(r, cmd_write_main, "write", "-r", "1", "127.0.0.1", "70000", NULL), 2);
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-r", "1", "-t", "i16",
				     "127.0.0.1", "40000", NULL),
			 2);
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-r", "1", "--fc", "6",
				     "127.0.0.1", "1", "2", NULL),
			 2);
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "-r", "1", "--fc", "6", "-t",
				     "f32", "127.0.0.1", "1.5", NULL),
			 2);
	assert_int_equal(
	    th_tool_run(r, cmd_write_main, "write", "-r", "1", "--fc", "5", "127.0.0.1", "2", NULL),
	    2);
	assert_int_equal(
	    th_tool_run(r, cmd_write_main, "write", "-r", "1", "--fc", "7", "127.0.0.1", "2", NULL),
	    2);
	assert_int_equal(
	    th_tool_run(r, cmd_write_main, "write", "-r", "1", "127.0.0.1", "abc", NULL), 2);
	free(r);
}

static void test_help_exits_0(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--help", NULL), 0);
	th_tool_has(r, "usage: flux read");
	th_tool_has(r, "--one-based");
	assert_int_equal(th_tool_run(r, cmd_write_main, "write", "--help", NULL), 0);
	th_tool_has(r, "usage: flux write");
	free(r);
}

/* The dispatcher: `flux read` through the built binary, when it is there. */
static void test_flux_binary_dispatches_read(void **state)
{
	struct site *s = *state;
	char path[512];
	struct th_proc p;

	if (th_flux_path(path, sizeof(path))) {
		print_message("flux binary not built: dispatch not checked\n");
		return;
	}
	{
		char *argv[] = { path, "read", "-p", s->port, "-r", "2026", "127.0.0.1", NULL };

		int rc;

		assert_int_equal(th_spawn(&p, argv), 0);
		rc = th_wait_exit(&p, 5000);
		if (!strstr(p.out, "[2026]: 60"))
			print_message("flux read via the binary: %s\n", p.out);
		/* An older binary without `read` exits 2: the dispatch is added last. */
		assert_true((rc == 0 && strstr(p.out, "[2026]: 60")) ||
			    (rc == 2 && strstr(p.out, "unknown command")));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_prints_soe_status_and_blocks, site_setup,
						site_teardown),
		cmocka_unit_test_setup_teardown(test_read_names_an_exception_with_the_bytes,
						site_setup, site_teardown),
		cmocka_unit_test_setup_teardown(test_read_one_based_reads_the_reference_minus_one,
						site_setup, site_teardown),
		cmocka_unit_test(test_read_float_in_every_word_order),
		cmocka_unit_test_setup_teardown(
		    test_write_target_power_after_claiming_command_source, site_setup,
		    site_teardown),
		cmocka_unit_test_setup_teardown(test_read_polls_on_an_interval_and_summarises,
						site_setup, site_teardown),
		cmocka_unit_test_setup_teardown(test_read_json_and_csv, site_setup, site_teardown),
		cmocka_unit_test_setup_teardown(test_read_profile_prints_every_point_with_its_unit,
						site_setup, site_teardown),
		cmocka_unit_test(test_read_coils_of_the_fault_server),
		cmocka_unit_test(test_write_32_bit_types_with_fc16),
		cmocka_unit_test(test_read_names_each_malformed_reply),
		cmocka_unit_test(test_read_names_a_bad_byte_count),
		cmocka_unit_test(test_write_names_each_malformed_reply),
		cmocka_unit_test(test_read_retries_a_silent_device_and_drops_late_replies),
		cmocka_unit_test(test_read_polling_counts_errors),
		cmocka_unit_test(test_usage_errors_exit_2),
		cmocka_unit_test(test_help_exits_0),
		cmocka_unit_test_setup_teardown(test_flux_binary_dispatches_read, site_setup,
						site_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
