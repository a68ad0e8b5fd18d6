// SPDX-License-Identifier: MIT
/*
 * Tests of `flux scan` (tools/scan.c, tools/cmd_scan.c), run in this process with its output
 * captured: it finds simulators bound to several 127.0.0.x addresses and nothing else, tells
 * silent, refused and misbehaving ports apart, and refuses more than a /16 without --yes
 * (only the refusal is tested: nothing large is ever scanned). Every target is in 127.0.0.0/8.
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

#include <cmocka.h>

#include "devices/powerpack.h"
#include "devices/profile.h"
#include "io/modbus.h"
#include "tools/scan.h"
#include "tools/tools.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"
#include "tests/support/faultsrv.h"
#include "tests/support/toolrun.h"

static void test_parses_addresses_ranges_and_cidr(void **state)
{
	struct scan_range r;

	(void)state;
	assert_int_equal(scan_parse_target("127.0.0.1", &r), 0);
	assert_int_equal(r.first, 0x7F000001);
	assert_int_equal(r.last, 0x7F000001);
	assert_int_equal(scan_parse_target("127.0.0.1-4", &r), 0);
	assert_int_equal(r.first, 0x7F000001);
	assert_int_equal(r.last, 0x7F000004);
	assert_int_equal(scan_parse_target("127.0.0.250-127.0.1.2", &r), 0);
	assert_int_equal(scan_count(&r, 1), 9);
	assert_int_equal(scan_parse_target("127.0.0.0/30", &r), 0); /* hosts .1 and .2 */
	assert_int_equal(r.first, 0x7F000001);
	assert_int_equal(r.last, 0x7F000002);
	assert_int_equal(scan_parse_target("127.0.0.5/31", &r), 0);
	assert_int_equal(scan_count(&r, 1), 2);
	assert_int_equal(scan_parse_target("127.0.0.9/32", &r), 0);
	assert_int_equal(scan_count(&r, 1), 1);
	assert_int_equal(scan_parse_target("10.0.0.0/16", &r), 0);
	assert_int_equal(scan_count(&r, 1), 65534);
	assert_int_equal(scan_parse_target("10.0.0.0/15", &r), 0);
	assert_int_equal(scan_count(&r, 1), 131070);
	assert_int_equal(scan_parse_target("127.0.0.4-1", &r), -EINVAL);
	assert_int_equal(scan_parse_target("127.0.0.1-256", &r), -EINVAL);
	assert_int_equal(scan_parse_target("127.0.0.0/33", &r), -EINVAL);
	assert_int_equal(scan_parse_target("127.0.0/24", &r), -EINVAL);
	assert_int_equal(scan_parse_target("host.example", &r), -EINVAL);
	assert_int_equal(scan_parse_target("127.0.0.1/24-3", &r), -EINVAL);
	assert_int_equal(scan_parse_target("", &r), -EINVAL);
}

static void test_refuses_more_than_a_slash_16_without_yes(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));

	(void)state;
	/* Refused before any socket is opened. */
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "127.0.0.0/15", NULL), 2);
	th_tool_has(r, "131070 addresses is more than a /16 (65536): refusing without --yes");
	assert_int_equal(
	    th_tool_run(r, cmd_scan_main, "scan", "127.0.0.0/16", "127.1.0.0/24", NULL), 2);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", NULL), 2);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "--units", "9-2", "127.0.0.1", NULL),
			 2);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "-p", "0", "127.0.0.1", NULL), 2);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "-p", "502,", "127.0.0.1/40", NULL),
			 2);
	assert_int_equal(
	    th_tool_run(r, cmd_scan_main, "scan", "--concurrency", "0", "127.0.0.1", NULL), 2);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "--help", NULL), 0);
	th_tool_has(r, "usage: flux scan");
	free(r);
}

/* Simulators on 127.0.0.1, .3 and .5, all on one port; the scan of the /28 finds just them. */
static void test_finds_simulators_on_several_addresses_and_nothing_else(void **state)
{
	static const char *const hosts[] = { "127.0.0.1", "127.0.0.3", "127.0.0.5" };
	struct sim_pp_params pp = SIM_PP_DEFAULTS;
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	struct th_sim ts = { .sim = sim_new() };
	struct sim_endpoint ep = { .host = hosts[0], .port = 0, .unit = 1 };
	char port[8], want[64];
	int64_t t0, elapsed;
	int dev;

	(void)state;
	assert_non_null(ts.sim);
	pp.startup_ms = 0;
	dev = sim_add_powerpack(ts.sim, &ep, &pp);
	assert_true(dev >= 0);
	ep.port = (uint16_t)sim_port(ts.sim, dev);
	ep.unit = 2;
	assert_true(sim_add_acuvim2(ts.sim, &ep, &acu) >= 0);
	for (unsigned i = 1; i < 3; i++) {
		ep.host = hosts[i];
		ep.unit = 1;
		dev = sim_add_powerpack(ts.sim, &ep, &pp);
		if (dev < 0) {
			print_message("cannot bind %s:%u (%d): skipped\n", hosts[i], ep.port, dev);
			sim_free(ts.sim);
			free(r);
			skip();
		}
	}
	snprintf(port, sizeof(port), "%u", ep.port);
	assert_int_equal(th_sim_start(&ts), 0);

	t0 = th_now_ns();
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "-p", port, "--units", "1-3", "-o",
				     "300ms", "127.0.0.0/28", NULL),
			 0);
	elapsed = th_now_ns() - t0;
	th_tool_expect(r, elapsed < 600 * 1000000LL); /* under 2x the timeout */
	for (unsigned i = 0; i < 3; i++) {
		/* The powerpack answers a read of 0 with 0x02: present. */
		snprintf(want, sizeof(want), "%s:%s unit 1: exception 0x02 illegal data address",
			 hosts[i], port);
		th_tool_has(r, want);
	}
	snprintf(want, sizeof(want), "127.0.0.1:%s unit 2: registers [0]=", port);
	th_tool_has(r, want);
	th_tool_lacks(r, "unit 3"); /* the sim answers unknown units with 0x0B: absent */
	th_tool_has(r, "14 address(es) x 1 port(s) in ");
	th_tool_has(r, ": 3 open, 4 unit(s), 0 bad replies, 11 refused, 0 no answer, 0 error(s)");
	/* -v lists the refused ones too. */
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "-v", "-p", port, "--units", "1",
				     "-o", "300ms", "127.0.0.2-4", NULL),
			 0);
	snprintf(want, sizeof(want), "127.0.0.2:%s: refused", port);
	th_tool_has(r, want);
	snprintf(want, sizeof(want), "127.0.0.3:%s unit 1: exception 0x02", port);
	th_tool_has(r, want);
	assert_int_equal(th_sim_stop(&ts), 0);
	free(r);
}

static void test_tells_silent_refused_and_bad_ports_apart(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));
	struct th_fsrv srv = { 0 };
	char ports[64], want[96];
	uint16_t p[4];

	(void)state;
	assert_int_equal(th_fsrv_open(&srv, 4), 0);
	for (unsigned i = 0; i < 4; i++)
		p[i] = srv.ports[i].port;
	th_fsrv_set(&srv, 1, TH_FSRV_SILENT, 0);
	th_fsrv_set(&srv, 2, TH_FSRV_REFUSE, 0);
	th_fsrv_set(&srv, 3, TH_FSRV_WRONG_TID, 0);
	for (int i = 0; i < 200 && atomic_load(&srv.ports[2].is_listening); i++)
		th_sleep_ms(5);
	snprintf(ports, sizeof(ports), "%u,%u,%u,%u", p[0], p[1], p[2], p[3]);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "-v", "-p", ports, "--units", "1-3",
				     "-o", "200ms", "127.0.0.1", NULL),
			 0);
	/* The good port: every unit answers with registers. */
	for (unsigned u = 1; u <= 3; u++) {
		snprintf(want, sizeof(want), "127.0.0.1:%u unit %u: registers [0]=%u ", p[0], u,
			 th_fsrv_value(p[0], (uint8_t)u, 0));
		th_tool_has(r, want);
	}
	snprintf(want, sizeof(want), "127.0.0.1:%u: open, no unit answered (3 probed)", p[1]);
	th_tool_has(r, want);
	snprintf(want, sizeof(want), "127.0.0.1:%u: refused", p[2]);
	th_tool_has(r, want);
	snprintf(want, sizeof(want),
		 "127.0.0.1:%u unit 1: bad reply: response transaction id differs", p[3]);
	th_tool_has(r, want);
	th_tool_has(r, "sent 00 01 00 00 00 06 01 03 00 00 00 01; recv 00 02 00 00 00 05 01 03 02");
	th_tool_has(r, ": 3 open, 3 unit(s), 1 bad reply, 1 refused, 0 no answer, 0 error(s)");
	th_fsrv_close(&srv);
	free(r);
}

/* A late reply to a timed-out probe is not taken for the next unit's answer. */
static void test_drops_late_replies_by_tid(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));
	struct th_fsrv srv = { 0 };
	char port[8];

	(void)state;
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	th_fsrv_set(&srv, 0, TH_FSRV_DELAY, 150);
	snprintf(port, sizeof(port), "%u", srv.ports[0].port);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "-p", port, "--units", "1-2", "-o",
				     "100ms", "127.0.0.1", NULL),
			 0);
	th_tool_lacks(r, "bad reply");
	th_tool_lacks(r, "unit 2: registers");
	th_tool_has(r, "open, no unit answered (2 probed)");
	th_fsrv_close(&srv);
	free(r);
}

static void test_scan_run_rejects_a_bad_config(void **state)
{
	struct scan_range range = { 0x7F000001, 0x7F000001 };
	uint16_t port = 1;
	struct scan_cfg cfg = { .ranges = &range,
				.nranges = 1,
				.ports = &port,
				.nports = 1,
				.unit_first = 2,
				.unit_last = 1,
				.timeout_ns = 1000000,
				.concurrency = 1 };
	struct scan_stats st;

	(void)state;
	assert_int_equal(scan_run(&cfg, &st), -EINVAL);
	cfg.unit_first = 1;
	cfg.concurrency = 0;
	assert_int_equal(scan_run(&cfg, &st), -EINVAL);
	cfg.concurrency = 1;
	port = 0;
	assert_int_equal(scan_run(&cfg, &st), -EINVAL);
}

/* An FC43 reply frame: MBAP for tid 7, unit 1, then the PDU given. Returns the frame length. */
static size_t devid_frame(uint8_t *f, const uint8_t *pdu, size_t pdu_len)
{
	mb_put_u16(f, 7);
	mb_put_u16(f + 2, 0);
	mb_put_u16(f + 4, (uint16_t)(pdu_len + 1));
	f[6] = 1;
	memcpy(f + 7, pdu, pdu_len);
	return 7 + pdu_len;
}

static void test_encodes_the_basic_device_identification_request(void **state)
{
	static const uint8_t want[] = { 0x00, 0x07, 0x00, 0x00, 0x00, 0x05,
					0x01, 0x2B, 0x0E, 0x01, 0x00 };
	uint8_t buf[SCAN_DEVID_REQ_SIZE];

	(void)state;
	assert_int_equal(scan_encode_devid_req(buf, sizeof(buf), 7, 1), SCAN_DEVID_REQ_SIZE);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(scan_encode_devid_req(buf, sizeof(buf) - 1, 7, 1), -MB_ENOSPACE);
}

static void test_decodes_device_identification_replies(void **state)
{
	static const uint8_t ok[] = { 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00,
				      0x04, 'F',  'l',	'u',  'x',  0x01, 0x02, 'P',
				      'P',  0x02, 0x04, '1',  '.',  0x0A, '"' };
	static const uint8_t unsupported[] = { 0xAB, 0x01 };
	static const uint8_t short_hdr[] = { 0x2B, 0x0E, 0x01 };
	static const uint8_t past_end[] = { 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00,
					    0x01, 0x00, 0x09, 'F',  'l',  'u' };
	static const uint8_t missing_obj[] = { 0x2B, 0x0E, 0x01, 0x01, 0x00,
					       0x00, 0x02, 0x00, 0x01, 'F' };
	static const uint8_t trailing[] = { 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x00, 0x55 };
	static const uint8_t wrong_mei[] = { 0x2B, 0x0D, 0x01, 0x01, 0x00, 0x00, 0x00 };
	static const uint8_t long_exc[] = { 0xAB, 0x01, 0x00 };
	static const uint8_t other_fc[] = { 0x03, 0x02, 0x00, 0x00 };
	struct scan_devid id;
	uint8_t f[MB_ADU_MAX];
	size_t n;

	(void)state;
	n = devid_frame(f, ok, sizeof(ok));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), 0);
	assert_string_equal(id.vendor, "Flux");
	assert_string_equal(id.product, "PP");
	assert_string_equal(id.revision, "1.?\""); /* control bytes shown as '?' */
	assert_int_equal(id.conformity, 1);
	assert_false(id.has_more);
	assert_int_equal(scan_decode_devid_rsp(f, n, 8, 1, &id), -MB_ETID);
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 2, &id), -MB_EUNIT);
	assert_int_equal(scan_decode_devid_rsp(f, n - 1, 7, 1, &id), -MB_EFRAMELEN);
	assert_int_equal(scan_decode_devid_rsp(f, 5, 7, 1, &id), -SCAN_EDEVID_SHORT);

	n = devid_frame(f, unsupported, sizeof(unsupported));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -MB_EXC(MB_EX_ILLEGAL_FUNCTION));
	n = devid_frame(f, short_hdr, sizeof(short_hdr));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -SCAN_EDEVID_SHORT);
	n = devid_frame(f, past_end, sizeof(past_end));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -SCAN_EDEVID_OBJLEN);
	n = devid_frame(f, missing_obj, sizeof(missing_obj));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -SCAN_EDEVID_OBJLEN);
	n = devid_frame(f, trailing, sizeof(trailing));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -SCAN_EDEVID_TRAILING);
	n = devid_frame(f, wrong_mei, sizeof(wrong_mei));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -SCAN_EDEVID_MEI);
	n = devid_frame(f, long_exc, sizeof(long_exc));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -MB_EEXCLEN);
	n = devid_frame(f, other_fc, sizeof(other_fc));
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -MB_EFCMISMATCH);
	f[3] = 1;
	assert_int_equal(scan_decode_devid_rsp(f, n, 7, 1, &id), -MB_EPROTO);

	/* Every error has its own name. */
	assert_string_equal(scan_strerror(-SCAN_EDEVID_OBJLEN),
			    "device identification object length past the end of the frame");
	assert_string_equal(scan_strerror(-SCAN_EDEVID_SHORT),
			    "device identification reply too short");
	assert_string_equal(scan_strerror(-MB_ETID), mb_strerror(-MB_ETID));
	assert_string_equal(scan_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
}

/* Every length of a valid reply cut short, and every byte value in the object length, give
 * an error or a value, never a read past the frame (ASan watches the heap copy). */
static void test_device_identification_survives_cut_and_corrupt_frames(void **state)
{
	static const uint8_t ok[] = { 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x02,
				      0x00, 0x02, 'A',	'B',  0x01, 0x01, 'C' };
	uint8_t full[MB_ADU_MAX];
	struct scan_devid id;
	size_t n = devid_frame(full, ok, sizeof(ok));

	(void)state;
	for (size_t cut = 0; cut <= n; cut++) {
		uint8_t *f = malloc(cut ? cut : 1);

		assert_non_null(f);
		memcpy(f, full, cut);
		if (cut >= 6)
			mb_put_u16(f + 4, (uint16_t)(cut - 6)); /* a consistent MBAP */
		assert_true(scan_decode_devid_rsp(f, cut, 7, 1, &id) <= 0);
		free(f);
	}
	for (unsigned v = 0; v < 256; v++) {
		uint8_t *f = malloc(n);
		int err;

		assert_non_null(f);
		memcpy(f, full, n);
		f[7 + 8] = (uint8_t)v; /* the first object's length */
		err = scan_decode_devid_rsp(f, n, 7, 1, &id);
		assert_true(err == 0 || err == -SCAN_EDEVID_OBJLEN || err == -SCAN_EDEVID_TRAILING);
		free(f);
	}
}

/* The shipped profile `name`, as scan_run() loads it. */
static struct prof_profile *shipped(const char *name)
{
	struct prof_profile *p = NULL;
	char err[256] = "";

	if (prof_load_builtin(name, &p, err, sizeof(err)))
		fail_msg("%s", err);
	return p;
}

static void test_fingerprints_powerpack_and_acuvim2_maps(void **state)
{
	struct prof_profile *ppp = shipped("powerpack"), *acp = shipped("acuvim2");
	uint16_t pp[PP_MAP_COUNT] = { 0 }, acu[74] = { 0 };
	uint16_t volts = acp->points[prof_point_index(acp, "voltage_l1n_v")].addr;
	uint16_t hz = acp->points[prof_role_point(acp, PROF_ROLE_FREQUENCY)].addr;
	char buf[96];

	(void)state;
	pp[PP_REG_STATUS - PP_MAP_FIRST] = PP_STATUS_READY;
	pp[PP_REG_SOE - PP_MAP_FIRST] = 60;
	assert_true(scan_looks_like_powerpack(ppp, pp, PP_MAP_COUNT, buf, sizeof(buf)));
	assert_string_equal(buf, "2000 READY, 2026 SOE 60 in 0..100");
	assert_false(
	    scan_looks_like_powerpack(ppp, pp, PP_REG_SOE - PP_MAP_FIRST, buf, sizeof(buf)));
	pp[PP_REG_SOE - PP_MAP_FIRST] = 101;
	assert_false(scan_looks_like_powerpack(ppp, pp, PP_MAP_COUNT, buf, sizeof(buf)));
	pp[PP_REG_SOE - PP_MAP_FIRST] = 60;
	pp[PP_REG_STATUS - PP_MAP_FIRST] = 9; /* no such status */
	assert_false(scan_looks_like_powerpack(ppp, pp, PP_MAP_COUNT, buf, sizeof(buf)));

	mb_set_f32(acu + volts, 230.0f, MB_ORDER_ABCD);
	mb_set_f32(acu + hz, 50.0f, MB_ORDER_ABCD);
	assert_true(scan_looks_like_acuvim2(acp, acu, 74, buf, sizeof(buf)));
	assert_string_equal(buf, "0x0000 230.0 V, 0x0048 50.0 Hz");
	assert_false(scan_looks_like_acuvim2(acp, acu, 2, buf, sizeof(buf)));
	mb_set_f32(acu + hz, NAN, MB_ORDER_ABCD);
	assert_false(scan_looks_like_acuvim2(acp, acu, 74, buf, sizeof(buf)));
	mb_set_f32(acu + hz, 50.0f, MB_ORDER_ABCD);
	mb_set_f32(acu + volts, 0.0f, MB_ORDER_ABCD);
	assert_false(scan_looks_like_acuvim2(acp, acu, 74, buf, sizeof(buf)));
	/* A PowerPack map is no meter and zeros are neither. */
	assert_false(scan_looks_like_acuvim2(acp, pp, PP_MAP_COUNT, buf, sizeof(buf)));
	/* Each test needs its own profile's roles: a meter has no status, a BESS no frequency. */
	mb_set_f32(acu + volts, 230.0f, MB_ORDER_ABCD);
	assert_false(scan_looks_like_powerpack(acp, acu, 74, buf, sizeof(buf)));
	assert_false(scan_looks_like_acuvim2(ppp, acu, 74, buf, sizeof(buf)));
	prof_free(ppp);
	prof_free(acp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_addresses_ranges_and_cidr),
		cmocka_unit_test(test_refuses_more_than_a_slash_16_without_yes),
		cmocka_unit_test(test_finds_simulators_on_several_addresses_and_nothing_else),
		cmocka_unit_test(test_tells_silent_refused_and_bad_ports_apart),
		cmocka_unit_test(test_drops_late_replies_by_tid),
		cmocka_unit_test(test_scan_run_rejects_a_bad_config),
		cmocka_unit_test(test_encodes_the_basic_device_identification_request),
		cmocka_unit_test(test_decodes_device_identification_replies),
		cmocka_unit_test(test_device_identification_survives_cut_and_corrupt_frames),
		cmocka_unit_test(test_fingerprints_powerpack_and_acuvim2_maps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
