// SPDX-License-Identifier: MIT
/*
 * control/status.c: the two views of a snapshot (text names every field; JSON is valid, escapes
 * ids, and a full site fits ST_RSP_MAX), the server polled by hand with a clock the test sets
 * (answers, bad and over-long requests, silent clients dropped at the deadline, busy beyond
 * ST_MAX_CONNS, a racing snapshot retried, socket file mode, stale and live sockets, unlink),
 * and `flux status` in-process against a server thread (exit codes 0, 1, 2, 3).
 * Sockets live in a mkdtemp() directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/policy.h"
#include "control/status.h"
#include "devices/powerpack.h"
#include "rt/clock.h"
#include "tests/support/json_check.h"
#include "tools/tools.h"

#define MS CLK_NS_PER_MS

static char dir[] = "/tmp/flux-test-status-XXXXXX";
static struct cfg cfg;
static struct ctl_snapshot snap;
static char buf[ST_RSP_MAX];

/* ---- a site ------------------------------------------------------------------------------ */

static void make_site(unsigned nbess, unsigned nmeters)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(&snap, 0, sizeof(snap));
	cfg.nbess = snap.nbess = nbess;
	cfg.nmeters = snap.nmeters = nmeters;
	for (unsigned i = 0; i < nbess; i++) {
		snprintf(cfg.bess[i].id, CFG_ID_MAX, "bess-%u", i + 1);
		assert_int_equal(cfg_builtin_profile("powerpack", &cfg.bess[i].profile, NULL, 0),
				 0);
		/* As control publishes a BESS without the optional roles. */
		snap.bess[i].active_kw = snap.bess[i].max_charge_kw = NAN;
		snap.bess[i].max_discharge_kw = NAN;
	}
	for (unsigned i = 0; i < nmeters; i++) {
		snprintf(cfg.meters[i].id, CFG_ID_MAX, "meter-%u", i + 1);
		assert_int_equal(cfg_builtin_profile("acuvim2", &cfg.meters[i].profile, NULL, 0),
				 0);
	}
}

/* Two BESS (one fine, one in trouble) and a stale meter, 1000 cycles in. */
static void make_example(void)
{
	make_site(2, 1);
	snap.cycles = 1000;
	snap.overruns = 2;
	snap.t_ns = 5 * CLK_NS_PER_SEC;
	snap.site_kw = 50;
	snap.is_valid = snap.has_started = true;
	snap.bess[0] =
	    (struct ctl_bess_snap){ .soe_pct = 61.5,
				    .setpoint_kw = 50,
				    .status = PP_STATUS_READY,
				    .command_source = 3,
				    .blocks = 2,
				    .is_fresh = true,
				    .is_ready = true,
				    .is_ours = true,
				    .writes = 7,
				    /* heartbeat (bit 3) never read */
				    .pt = { .valid = 0x37, .points = { 1, 50, 3, 0, 61.5, 2 } } };
	snap.bess[0].active_kw = snap.bess[0].max_charge_kw = snap.bess[0].max_discharge_kw = NAN;
	snap.bess[1] = (struct ctl_bess_snap){ .soe_pct = 4,
					       .status = PP_STATUS_FAULT,
					       .command_source = 9,
					       .reasons = SAFETY_STALE | SAFETY_NOT_READY | 0x4000,
					       .last_err = -ECONNREFUSED,
					       .active_kw = NAN,
					       .max_charge_kw = NAN,
					       .max_discharge_kw = NAN };
	snap.meters[0] = (struct ctl_meter_snap){ .power_kw = -12.5, .last_err = -ETIMEDOUT };
	/* acuvim2: voltage_l1n_v, power_total_kw and frequency_hz read, the rest not yet. */
	snap.meters[0].pt.valid = 1u | 1u << 9 | 1u << 13;
	snap.meters[0].pt.points[0] = 230.25;
	snap.meters[0].pt.points[9] = -12.5;
	snap.meters[0].pt.points[13] = 50.01;
	snap.jitter = (struct ctl_lat){
		.p50_ns = 12000, .p99_ns = 45000, .p999_ns = 80000, .max_ns = 120000, .count = 999
	};
	snap.soe_read.p99_ns = 3 * MS;
	snap.setpoint_write.max_ns = 7 * MS;
	snap.rtt = (struct ctl_lat){ .p50_ns = 90000,
				     .p99_ns = 150000,
				     .p999_ns = 400000,
				     .max_ns = 900000,
				     .count = 3000 };
	snap.bess_rtt[1] = (struct ctl_lat){ .p50_ns = 91000, .max_ns = 800000, .count = 1000 };
	snap.meter_rtt[0] = (struct ctl_lat){ .p50_ns = 88000, .max_ns = 900000, .count = 1000 };
}

/* The line of the view that starts with `prefix`, copied into line. */
static bool find_line(const char *text, const char *prefix, char *line, size_t len)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			snprintf(line, len, "%.*s", (int)n, p);
			return true;
		}
		p += n + (nl != NULL);
	}
	return false;
}

static void assert_has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not in: %s", needle, hay);
}

/* ---- formatting ---------------------------------------------------------------------------- */

static void test_text_names_every_field(void **state)
{
	char line[512];
	int n;

	(void)state;
	make_example();
	n = st_format_text(&cfg, &snap, 5 * CLK_NS_PER_SEC + 20 * MS, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_true(find_line(buf, "fluxd ", line, sizeof(line)));
	assert_has(line, "cycles 1000");
	assert_has(line, "overruns 2");
	assert_has(line, "age 20.0 ms");
	assert_has(line, "site +50.0 kW");
	assert_true(find_line(buf, "bess  bess-1", line, sizeof(line)));
	assert_has(line, "READY");
	assert_has(line, "SOE  61.5 %");
	assert_has(line, "setpoint   +50.0 kW");
	assert_has(line, " fresh ");
	assert_has(line, " ours ");
	assert_has(line, "safety none");
	assert_has(line, "error none");
	assert_true(find_line(buf, "bess  bess-2", line, sizeof(line)));
	assert_has(line, "FAULT");
	assert_has(line, " stale ");
	assert_has(line, "NOT OURS");
	assert_has(line, "safety stale,not_ready,0x4000");
	/* powerpack has none of the optional roles: no line for them. */
	assert_null(strstr(buf, "    measured"));
	assert_null(strstr(buf, "alarms"));
	assert_has(line, "error Connection refused");
	assert_true(find_line(buf, "meter meter-1", line, sizeof(line)));
	assert_has(line, "-12.5 kW  stale  error Connection timed out");
	assert_true(find_line(buf, "latency jitter", line, sizeof(line)));
	assert_has(line, "p50 12.0 us  p99 45.0 us  p99.9 80.0 us  max 120.0 us  n 999");
	assert_true(find_line(buf, "latency soe_read", line, sizeof(line)));
	assert_has(line, "p99 3000.0 us");
	assert_true(find_line(buf, "latency setpoint_write", line, sizeof(line)));
	assert_has(line, "max 7000.0 us");
	assert_true(find_line(buf, "latency rtt", line, sizeof(line)));
	assert_has(line, "p50 90.0 us  p99 150.0 us  p99.9 400.0 us  max 900.0 us  n 3000");
}

static void test_text_before_the_first_cycle_has_no_age(void **state)
{
	(void)state;
	make_site(1, 0);
	assert_true(st_format_text(&cfg, &snap, 123, buf, sizeof(buf)) > 0);
	assert_has(buf, "cycles 0");
	assert_has(buf, "age -");
	assert_has(buf, "not started");
	assert_true(st_format_json(&cfg, &snap, 123, buf, sizeof(buf)) > 0);
	assert_has(buf, "\"age_ms\":null");
}

static void test_text_keeps_one_line_per_device_whatever_the_id(void **state)
{
	unsigned lines = 0;

	(void)state;
	make_example();
	snprintf(cfg.bess[0].id, CFG_ID_MAX, "evil\nbess\r\x1b[2J");
	assert_true(st_format_text(&cfg, &snap, 0, buf, sizeof(buf)) > 0);
	/* Lines that do not start with a space: the head, the devices, the latencies (points
	 * are indented under their device). */
	for (const char *p = buf; *p; p++)
		lines += *p == '\n' && p[1] != ' ';
	assert_int_equal(lines, 1 + 2 + 1 + 4);
	assert_has(buf, "evil?bess??[2J");
}

/* Every point of each device's profile, under the device, with its unit or enum name. */
static void test_text_and_json_show_every_point_with_its_unit(void **state)
{
	const struct prof_profile *acu = NULL;
	char line[512], name[64];
	const char *meter, *p;
	unsigned n = 0;

	(void)state;
	make_example();
	assert_true(st_format_text(&cfg, &snap, 0, buf, sizeof(buf)) > 0);
	/* Under bess-1: the status code with its name, kW, %, and "-" for what was never read. */
	assert_true(find_line(buf, "      status ", line, sizeof(line)));
	assert_has(line, " 1  (READY)");
	assert_true(find_line(buf, "      target_power_kw ", line, sizeof(line)));
	assert_has(line, " 50 kW");
	assert_true(find_line(buf, "      soe_pct ", line, sizeof(line)));
	assert_has(line, " 61.5 %");
	assert_true(find_line(buf, "      heartbeat ", line, sizeof(line)));
	assert_true(strlen(line) > 2 && !strcmp(line + strlen(line) - 2, " -")); /* no unit */
	/* The meter's 16 points follow its line, in the profile's order, each with its unit. */
	meter = strstr(buf, "\nmeter meter-1");
	assert_non_null(meter);
	assert_int_equal(cfg_builtin_profile("acuvim2", &acu, NULL, 0), 0);
	p = strchr(meter + 1, '\n') + 1;
	for (unsigned k = 0; k < acu->n_points; k++, n++) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		snprintf(name, sizeof(name), "      %s ", acu->points[k].name);
		if (strncmp(p, name, strlen(name)))
			fail_msg("point %u: want '%s...', got '%.*s'", k, name, (int)(nl - p), p);
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		snprintf(name, sizeof(name), " %s", acu->points[k].unit);
		assert_has(line, name);
		p = nl + 1;
	}
	assert_int_equal(n, 16);
	assert_true(find_line(meter + 1, "      voltage_l1n_v ", line, sizeof(line)));
	assert_has(line, " 230.25 V");
	assert_true(find_line(meter + 1, "      power_total_kw ", line, sizeof(line)));
	assert_has(line, " -12.5 kW");
	assert_true(find_line(meter + 1, "      frequency_hz ", line, sizeof(line)));
	assert_has(line, " 50.01 Hz");
	assert_true(find_line(meter + 1, "      current_l1_a ", line, sizeof(line)));
	assert_has(line, " - A");

	/* The same in JSON: one object per point, null until read. */
	assert_true(st_format_json(&cfg, &snap, 0, buf, sizeof(buf)) > 0);
	if (!th_json_is_valid(buf))
		fail_msg("not JSON: %s", buf);
	assert_has(buf, "\"points\":[{\"name\":\"voltage_l1n_v\",\"value\":230.25,\"unit\":\"V\"},"
			"{\"name\":\"voltage_l2n_v\",\"value\":null,\"unit\":\"V\"}");
	assert_has(buf, "{\"name\":\"power_total_kw\",\"value\":-12.5,\"unit\":\"kW\"}");
	assert_has(buf, "{\"name\":\"energy_export_kwh\",\"value\":null,\"unit\":\"kWh\"}],"
			"\"rtt_ns\"");
	/* bess-2 never had a good sample: its status point has no value and no name. */
	assert_has(buf, "\"writes\":0,\"active_power_kw\":null,");
	assert_has(buf, "\"deviations\":0,\"points\":[{\"name\":\"status\",\"value\":null,"
			"\"unit\":\"\"}");
}

static void test_json_is_valid_and_carries_the_fields(void **state)
{
	(void)state;
	make_example();
	assert_true(st_format_json(&cfg, &snap, 5 * CLK_NS_PER_SEC + 20 * MS, buf, sizeof(buf)) >
		    0);
	if (!th_json_is_valid(buf))
		fail_msg("not JSON: %s", buf);
	assert_int_equal(buf[strlen(buf) - 1], '\n');
	assert_has(buf, "\"cycles\":1000,\"overruns\":2,\"age_ms\":20.000,\"site_kw\":50.000");
	assert_has(buf, "{\"id\":\"bess-1\",\"status\":\"READY\",\"status_code\":1,"
			"\"soe_pct\":61.500,\"setpoint_kw\":50.000,\"is_fresh\":true,"
			"\"is_ready\":true,\"is_ours\":true,\"command_source\":3,\"blocks\":2,"
			"\"safety\":[],\"last_error\":null,\"last_errno\":0,\"writes\":7,"
			"\"active_power_kw\":null,\"max_charge_kw\":null,\"max_discharge_kw\":null,"
			"\"alarms\":[],\"faults\":[],\"is_faulted\":false,\"is_deviating\":false,"
			"\"deviations\":0,"
			"\"points\":[{\"name\":\"status\",\"value\":1,\"unit\":\"\","
			"\"text\":\"READY\"},{\"name\":\"target_power_kw\",\"value\":50,"
			"\"unit\":\"kW\"},{\"name\":\"command_source\",\"value\":3,\"unit\":\"\"},"
			"{\"name\":\"heartbeat\",\"value\":null,\"unit\":\"\"},"
			"{\"name\":\"soe_pct\",\"value\":61.5,\"unit\":\"%\"},"
			"{\"name\":\"available_blocks\",\"value\":2,\"unit\":\"\"}],"
			"\"rtt_ns\":{\"p50\":0,\"p99\":0,\"p999\":0,\"max\":0,\"count\":0}}");
	assert_has(buf, "\"rtt_ns\":{\"p50\":91000,\"p99\":0,\"p999\":0,\"max\":800000,"
			"\"count\":1000}}],\"meters\":");
	assert_has(buf, "\"safety\":[\"stale\",\"not_ready\",\"0x4000\"],"
			"\"last_error\":\"Connection refused\"");
	assert_has(buf, "{\"id\":\"meter-1\",\"power_kw\":-12.500,\"is_fresh\":false,"
			"\"last_error\":\"Connection timed out\"");
	assert_has(buf, "\"jitter\":{\"p50\":12000,\"p99\":45000,\"p999\":80000,\"max\":120000,"
			"\"count\":999}");
	assert_has(buf, "\"last_errno\":-110,\"points\":[{\"name\":\"voltage_l1n_v\"");
	assert_has(buf, "\"unit\":\"kWh\"}],\"rtt_ns\":{\"p50\":88000,\"p99\":0,\"p999\":0,"
			"\"max\":900000,\"count\":1000}}]");
	assert_has(buf, "\"rtt\":{\"p50\":90000,\"p99\":150000,\"p999\":400000,\"max\":900000,"
			"\"count\":3000}}}\n");
}

/*
 * A BESS of powerpack-ext: measured power, the limits it reports, and its alarm and fault
 * words by the names of the set bits (a bit it does not name by number), text and JSON.
 */
static void test_text_and_json_name_the_optional_roles_and_set_bits(void **state)
{
	const struct prof_profile *x = NULL;
	char line[1024];

	(void)state;
	make_example();
	assert_int_equal(cfg_builtin_profile("powerpack-ext", &x, NULL, 0), 0);
	cfg.bess[0].profile = x;
	snap.bess[0].active_kw = 29.5;
	snap.bess[0].max_charge_kw = NAN; /* implausible or unread: the rated limit */
	snap.bess[0].max_discharge_kw = 30;
	snap.bess[0].alarms = 1u << 2 | 1u << 5;  /* fan_degraded, and bit 5 it does not name */
	snap.bess[0].faults = 1u << 0 | 1u << 16; /* dc_insulation_fault, emergency_stop */
	snap.bess[0].is_faulted = true;
	snap.bess[0].is_deviating = true;
	snap.bess[0].deviations = 2;
	snap.bess[0].reasons = SAFETY_FAULT | SAFETY_NOT_READY | SAFETY_BESS_MAX;
	snap.bess[0].pt.valid = 0;
	assert_true(st_format_text(&cfg, &snap, 0, buf, sizeof(buf)) > 0);
	assert_true(find_line(buf, "bess  bess-1", line, sizeof(line)));
	assert_has(line, "safety not_ready,fault,bess_max");
	assert_true(find_line(buf, "    measured", line, sizeof(line)));
	assert_string_equal(line, "    measured +29.5 kW DEVIATING (deviations 2)  max charge - "
				  "(rated)  max discharge 30.0 kW  alarms fan_degraded,bit5  "
				  "FAULTS dc_insulation_fault,emergency_stop");
	/* The role line sits between the BESS line and its points. */
	assert_non_null(strstr(buf, "error none\n    measured"));
	assert_non_null(strstr(buf, "emergency_stop\n      status "));
	/* Clear words say so. */
	snap.bess[0].alarms = snap.bess[0].faults = 0;
	snap.bess[0].is_deviating = false;
	snap.bess[0].deviations = 0;
	assert_true(st_format_text(&cfg, &snap, 0, buf, sizeof(buf)) > 0);
	assert_true(find_line(buf, "    measured", line, sizeof(line)));
	assert_has(line, "measured +29.5 kW  max charge");
	assert_has(line, "alarms none  faults none");

	snap.bess[0].alarms = 1u << 2 | 1u << 5;
	snap.bess[0].faults = 1u << 0 | 1u << 16;
	assert_true(st_format_json(&cfg, &snap, 0, buf, sizeof(buf)) > 0);
	if (!th_json_is_valid(buf))
		fail_msg("not JSON: %s", buf);
	assert_has(buf,
		   "\"writes\":7,\"active_power_kw\":29.500,\"max_charge_kw\":null,"
		   "\"max_discharge_kw\":30.000,\"alarms\":[\"fan_degraded\",\"bit5\"],"
		   "\"faults\":[\"dc_insulation_fault\",\"emergency_stop\"],\"is_faulted\":true,"
		   "\"is_deviating\":false,\"deviations\":0,\"points\":");
	assert_has(buf, "\"safety\":[\"not_ready\",\"fault\",\"bess_max\"]");
}

static void test_json_escapes_ids_and_spells_nan_as_null(void **state)
{
	(void)state;
	make_example();
	snprintf(cfg.bess[0].id, CFG_ID_MAX, "a\"b\\c\nd\x01");
	snap.bess[1].soe_pct = NAN;
	snap.meters[0].power_kw = INFINITY;
	assert_true(st_format_json(&cfg, &snap, 0, buf, sizeof(buf)) > 0);
	if (!th_json_is_valid(buf))
		fail_msg("not JSON: %s", buf);
	assert_has(buf, "\"id\":\"a\\\"b\\\\c\\u000ad\\u0001\"");
	assert_has(buf, "\"soe_pct\":null");
	assert_has(buf, "\"power_kw\":null");
}

/*
 * The widest BESS profile there is: 32 points of 47-byte names, an alarm and a fault word of
 * 32 bits each with 47-byte names (PROF_MAX_BITS in all), every optional role.
 */
static struct prof_profile *widest_bess_profile(void)
{
	static char text[32768];
	struct prof_profile *p = NULL;
	char err[512];
	size_t n = 0;

#define ADD(...) (n += (size_t)snprintf(text + n, sizeof(text) - n, __VA_ARGS__))
	ADD("name: wide\nkind: bess\nmax_gap: 0\npoints:\n");
	ADD("  - { name: status, address: 0, type: u16 }\n");
	ADD("  - { name: soe_pct, address: 1, type: u16 }\n");
	ADD("  - { name: target_kw, address: 2, type: i16, access: rw }\n");
	ADD("  - { name: active_kw, address: 3, type: i16 }\n");
	ADD("  - { name: max_charge_kw, address: 4, type: u16 }\n");
	ADD("  - { name: max_discharge_kw, address: 5, type: u16 }\n");
	for (unsigned w = 0; w < 2; w++) {
		ADD("  - name: %s\n    address: %u\n    type: u32\n    bits:\n",
		    w ? "fault_word" : "alarm_word", 6 + 2 * w);
		for (unsigned b = 0; b < 32; b++)
			ADD("      %u: %c%02u%s\n", b, w ? 'f' : 'a', b,
			    "_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	}
	for (unsigned k = 8; k < PROF_MAX_POINTS; k++)
		ADD("  - { name: p%02u%s, address: %u, type: f32, unit: \"\\\"\\\"\\\"\\\"\\\"\" "
		    "}\n",
		    k, "_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 10 + 2 * k);
	ADD("enums:\n  status: { values: { 1: READY }, ready: READY }\n");
	ADD("roles: { status: status, soe: soe_pct, target_power: target_kw, active_power: "
	    "active_kw, max_charge_power: max_charge_kw, max_discharge_power: max_discharge_kw, "
	    "alarms: alarm_word, faults: fault_word }\n");
#undef ADD
	assert_true(n < sizeof(text));
	if (prof_load_text("wide.yaml", text, n, &p, err, sizeof(err)))
		fail_msg("%s", err);
	return p;
}

/* A site of nbess + nmeters, every field at its widest, fits the answer the server sizes for
 * it, whatever the ids are made of. */
static void assert_widest_site_fits(unsigned nbess, unsigned nmeters)
{
	const char *fills[] = { "x", "\"", "\x01" };
	const struct ctl_lat widest = { .p50_ns = INT64_MIN,
					.p99_ns = INT64_MIN,
					.p999_ns = INT64_MIN,
					.max_ns = INT64_MIN,
					.count = UINT64_MAX };
	struct prof_profile *wide = widest_bess_profile();
	int text, json;

	for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
		size_t size;

		make_site(nbess, nmeters);
		for (unsigned i = 0; i < nbess; i++)
			cfg.bess[i].profile = wide;
		size = st_rsp_size(&cfg);
		assert_true(size <= ST_RSP_MAX);
		snap.cycles = snap.overruns = UINT64_MAX;
		snap.site_kw = -1e15;
		for (unsigned i = 0; i < nbess + nmeters; i++) {
			char *id = i < nbess ? cfg.bess[i].id : cfg.meters[i - nbess].id;

			memset(id, fills[f][0], CFG_ID_MAX - 1);
			id[CFG_ID_MAX - 1] = '\0';
		}
		for (unsigned i = 0; i < CFG_MAX_BESS; i++)
			snap.bess[i] = (struct ctl_bess_snap){ .soe_pct = -1e15,
							       .setpoint_kw = -1e15,
							       .status = 0xffff,
							       .command_source = 0xffff,
							       .blocks = 0xffff,
							       .reasons = ~0u,
							       .last_err = -ENOTRECOVERABLE,
							       .writes = UINT64_MAX,
							       .active_kw = -1e15,
							       .max_charge_kw = -1e15,
							       .max_discharge_kw = -1e15,
							       .alarms = ~0u,
							       .faults = ~0u,
							       .is_faulted = true,
							       .is_deviating = true,
							       .deviations = UINT64_MAX };
		for (unsigned i = 0; i < CFG_MAX_METERS; i++)
			snap.meters[i] = (struct ctl_meter_snap){ .power_kw = -1e15,
								  .last_err = -ENOTRECOVERABLE };
		/* Every point read, each the widest %.10g there is. */
		for (unsigned i = 0; i < CFG_MAX_BESS + CFG_MAX_METERS; i++) {
			struct ctl_points_snap *ps =
			    i < CFG_MAX_BESS ? &snap.bess[i].pt : &snap.meters[i - CFG_MAX_BESS].pt;

			ps->valid = ~0u;
			for (unsigned k = 0; k < PROF_MAX_POINTS; k++)
				ps->points[k] = -1.234567891e-300;
		}
		snap.jitter = snap.soe_read = snap.setpoint_write = snap.rtt = widest;
		for (unsigned i = 0; i < CFG_MAX_BESS; i++)
			snap.bess_rtt[i] = widest;
		for (unsigned i = 0; i < CFG_MAX_METERS; i++)
			snap.meter_rtt[i] = widest;
		text = st_format_text(&cfg, &snap, INT64_MAX, buf, size);
		json = st_format_json(&cfg, &snap, INT64_MAX, buf, size);
		printf("  %u BESS + %u meters, ids of 0x%02x: text %d, JSON %d of %zu bytes\n",
		       nbess, nmeters, fills[f][0], text, json, size);
		assert_true(text > 0);
		assert_true(json > 0);
		if (!th_json_is_valid(buf))
			fail_msg("not JSON (fill %zu)", f);
	}
	prof_free(wide);
}

static void test_full_site_fits_one_answer(void **state)
{
	(void)state;
	assert_widest_site_fits(1, 0);
	assert_widest_site_fits(0, 1);
	assert_widest_site_fits(1, 1);
	assert_widest_site_fits(CFG_MAX_BESS, CFG_MAX_METERS);
}

static void test_short_buffer_is_enospc(void **state)
{
	char small[64];

	(void)state;
	make_example();
	assert_int_equal(st_format_text(&cfg, &snap, 0, small, sizeof(small)), -ENOSPC);
	assert_int_equal(st_format_json(&cfg, &snap, 0, small, sizeof(small)), -ENOSPC);
	assert_int_equal(strlen(small), sizeof(small) - 1); /* truncated, terminated */
	assert_int_equal(st_format_text(&cfg, &snap, 0, small, 0), -ENOSPC);
}

/* ---- the server, polled by hand ------------------------------------------------------------ */

static int snapshot_calls, snapshot_fails;

static int fake_snapshot(void *arg, struct ctl_snapshot *out)
{
	(void)arg;
	snapshot_calls++;
	if (snapshot_fails > 0) {
		snapshot_fails--;
		return -EAGAIN;
	}
	*out = snap;
	return 0;
}

static void sock_path(char *path, size_t len, const char *name)
{
	snprintf(path, len, "%s/%s", dir, name);
}

static int open_server(struct st_server *s, const char *name)
{
	char path[ST_PATH_MAX];

	sock_path(path, sizeof(path), name);
	snapshot_calls = snapshot_fails = 0;
	return st_server_open(s, path, &cfg, fake_snapshot, NULL);
}

/* A client connected to s (non-blocking); the connection waits in the backlog until polled. */
static int client(const struct st_server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void client_send(int fd, const char *text, size_t len)
{
	assert_int_equal(send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT), (ssize_t)len);
}

/* Everything the server sent until it closed (or nothing more is there). Returns the length. */
static size_t client_read(int fd, char *out, size_t cap)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, out + len, cap - 1 - len, MSG_DONTWAIT);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	return len;
}

/* 1: the server closed this connection; 0: still open. */
static int client_is_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	return n == 0 || (n < 0 && errno != EAGAIN);
}

static void test_server_answers_text_and_json(void **state)
{
	struct st_server s;
	int fd;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	fd = client(&s);
	client_send(fd, "status\n", 7);
	assert_int_equal(st_server_poll(&s, 0), 1);
	client_read(fd, buf, sizeof(buf));
	assert_has(buf, "bess  bess-1");
	assert_true(client_is_closed(fd));
	close(fd);

	fd = client(&s);
	client_send(fd, "status json\r\n", 13);
	assert_int_equal(st_server_poll(&s, 0), 1);
	client_read(fd, buf, sizeof(buf));
	assert_true(th_json_is_valid(buf));
	close(fd);
	assert_int_equal(s.answered, 2);
	assert_int_equal(s.dropped, 0);
	st_server_close(&s);
}

static void test_server_request_may_arrive_in_pieces(void **state)
{
	struct st_server s;
	int fd;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	fd = client(&s);
	client_send(fd, "sta", 3);
	assert_int_equal(st_server_poll(&s, 0), 0);
	assert_int_equal(snapshot_calls, 0);
	client_send(fd, "tus\n", 4);
	assert_int_equal(st_server_poll(&s, 1 * MS), 1);
	client_read(fd, buf, sizeof(buf));
	assert_has(buf, "fluxd cycles 1000");
	close(fd);
	st_server_close(&s);
}

static void test_server_answers_unknown_and_overlong_requests_with_an_error(void **state)
{
	static char junk[10 * 1024];
	const char *bad[] = { "status xml\n", "\n", "STATUS\n", "status json extra\n" };
	struct st_server s;
	int fd;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = client(&s);
		client_send(fd, bad[i], strlen(bad[i]));
		assert_int_equal(st_server_poll(&s, 0), 1);
		client_read(fd, buf, sizeof(buf));
		assert_string_equal(buf, "error: unknown request\n");
		close(fd);
	}
	/* 10 KB without a newline: the first ST_REQ_MAX bytes decide, the rest is never read. */
	memset(junk, 'j', sizeof(junk));
	fd = client(&s);
	client_send(fd, junk, sizeof(junk));
	assert_int_equal(st_server_poll(&s, 0), 1);
	client_read(fd, buf, sizeof(buf));
	assert_string_equal(buf, "error: unknown request\n");
	assert_true(client_is_closed(fd));
	close(fd);
	assert_int_equal(snapshot_calls, 0);
	/* And the next client is served as if nothing happened. */
	fd = client(&s);
	client_send(fd, "status\n", 7);
	assert_int_equal(st_server_poll(&s, 0), 1);
	client_read(fd, buf, sizeof(buf));
	assert_has(buf, "fluxd cycles");
	close(fd);
	st_server_close(&s);
}

static void test_server_drops_a_silent_client_at_its_deadline(void **state)
{
	struct st_server s;
	int fd, fd2;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	fd = client(&s);
	assert_int_equal(st_server_poll(&s, 1000 * MS), 0);
	assert_int_equal(st_server_poll(&s, 1000 * MS + ST_CONN_TIMEOUT_NS), 0);
	assert_false(client_is_closed(fd));
	/* A second client is served meanwhile. */
	fd2 = client(&s);
	client_send(fd2, "status\n", 7);
	assert_int_equal(st_server_poll(&s, 1000 * MS + ST_CONN_TIMEOUT_NS), 1);
	close(fd2);
	assert_int_equal(st_server_poll(&s, 1000 * MS + ST_CONN_TIMEOUT_NS + 1), 0);
	assert_true(client_is_closed(fd));
	assert_int_equal(s.dropped, 1);
	close(fd);
	st_server_close(&s);
}

/* Every slot taken by idle clients: the next one evicts the oldest, which is told "busy". */
static void test_server_evicts_the_oldest_when_every_slot_is_taken(void **state)
{
	int fds[ST_MAX_CONNS + 1];
	struct st_server s;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	for (unsigned i = 0; i < ST_MAX_CONNS + 1; i++) {
		fds[i] = client(&s);
		assert_int_equal(st_server_poll(&s, (int64_t)i * MS), 0);
	}
	client_read(fds[0], buf, sizeof(buf));
	assert_string_equal(buf, "error: busy\n");
	assert_true(client_is_closed(fds[0]));
	for (unsigned i = 1; i < ST_MAX_CONNS + 1; i++)
		assert_false(client_is_closed(fds[i]));
	assert_int_equal(s.evicted, 1);
	assert_int_equal(s.accepted, ST_MAX_CONNS + 1);
	for (unsigned i = 0; i < ST_MAX_CONNS + 1; i++)
		close(fds[i]);
	st_server_close(&s);
}

/* The attack of issue 14: idle connections on every slot. A normal `status` is answered in
 * the very poll that accepts it, however many idle ones wait. */
static void test_server_answers_while_idle_clients_hold_every_slot(void **state)
{
	int idle[ST_MAX_CONNS], fd;
	struct st_server s;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	for (unsigned i = 0; i < ST_MAX_CONNS; i++)
		idle[i] = client(&s);
	assert_int_equal(st_server_poll(&s, 0), 0);
	for (unsigned round = 0; round < 3; round++) {
		fd = client(&s);
		client_send(fd, "status\n", 7);
		assert_int_equal(st_server_poll(&s, (int64_t)(round + 1) * MS), 1);
		client_read(fd, buf, sizeof(buf));
		assert_has(buf, "fluxd cycles 1000");
		close(fd);
	}
	assert_int_equal(s.answered, 3);
	for (unsigned i = 0; i < ST_MAX_CONNS; i++)
		close(idle[i]);
	st_server_close(&s);
}

/* A client that trickles its line a byte per poll, never ending it, is closed unanswered at
 * its deadline, and never held more than its one slot. */
static void test_server_drops_a_byte_by_byte_client_at_its_deadline(void **state)
{
	const int64_t step_ns = 10 * MS;
	struct st_server s;
	int64_t now = 0;
	int fd, polls = 0;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	fd = client(&s);
	for (; now <= ST_CONN_TIMEOUT_NS; now += step_ns, polls++) {
		assert_int_equal(st_server_poll(&s, now), 0);
		assert_false(client_is_closed(fd));
		client_send(fd, polls % 2 ? " " : "s", 1);
	}
	assert_true(polls < ST_REQ_MAX); /* the line never reached its length limit */
	assert_int_equal(st_server_poll(&s, now), 0);
	assert_true(client_is_closed(fd));
	assert_int_equal(client_read(fd, buf, sizeof(buf)), 0);
	assert_int_equal(s.dropped, 1);
	assert_int_equal(s.answered, 0);
	close(fd);
	st_server_close(&s);
}

/* As many connections as the kernel queues, each with its request: one poll takes at most
 * ST_ACCEPT_PER_POLL of them and one snapshot; all are answered within a bounded number of
 * polls. */
static void test_server_work_per_poll_is_bounded_under_a_flood(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fds[256], nfds = 0, polls = 0;
	struct st_server s;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s.path);
	while (nfds < 256) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			assert_int_equal(errno, EAGAIN); /* the backlog is full */
			close(fd);
			break;
		}
		client_send(fd, "status\n", 7);
		fds[nfds++] = fd;
	}
	print_message("%d connections queued\n", nfds);
	assert_true(nfds > ST_ACCEPT_PER_POLL); /* the kernel queues ST_BACKLOG + 1 */
	while (s.answered < (uint64_t)nfds && polls < 100) {
		uint64_t before = s.accepted;
		int calls = snapshot_calls;

		st_server_poll(&s, (int64_t)polls * MS);
		polls++;
		assert_true(s.accepted - before <= ST_ACCEPT_PER_POLL);
		assert_true(snapshot_calls - calls <= 1);
	}
	assert_int_equal(s.answered, nfds);
	assert_int_equal(polls, (nfds + ST_ACCEPT_PER_POLL - 1) / ST_ACCEPT_PER_POLL);
	for (int i = 0; i < nfds; i++) {
		client_read(fds[i], buf, sizeof(buf));
		assert_has(buf, "fluxd cycles 1000");
		close(fds[i]);
	}
	st_server_close(&s);
}

/* Connect as uid (root only: seteuid around connect(); SO_PEERCRED records the euid). */
static int client_as(const struct st_server *s, uid_t uid)
{
	int fd;

	assert_int_equal(seteuid(uid), 0);
	fd = client(s);
	assert_int_equal(seteuid(0), 0);
	return fd;
}

/* One user's flood evicts that user's connections, never another user's. */
static void test_server_flood_evicts_the_flooders_own_connections(void **state)
{
	int mine, flood[3 * ST_MAX_CONNS];
	struct st_server s;

	(void)state;
	if (geteuid() != 0) {
		print_message("needs root to connect as another uid\n");
		skip();
	}
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	assert_int_equal(chmod(dir, 0711), 0);	  /* nobody may reach the socket... */
	assert_int_equal(chmod(s.path, 0666), 0); /* ...and connect to it */
	mine = client(&s);
	assert_int_equal(st_server_poll(&s, 0), 0);
	for (unsigned i = 0; i < 3 * ST_MAX_CONNS; i++) {
		flood[i] = client_as(&s, 65534);
		assert_int_equal(st_server_poll(&s, (int64_t)(i + 1) * MS), 0);
	}
	assert_int_equal(s.evicted, 3 * ST_MAX_CONNS - (ST_MAX_CONNS - 1));
	assert_false(client_is_closed(mine));
	for (unsigned i = 0; i < 3 * ST_MAX_CONNS; i++) {
		bool is_evicted = i < 2 * ST_MAX_CONNS + 1;

		client_read(flood[i], buf, sizeof(buf));
		assert_string_equal(buf, is_evicted ? "error: busy\n" : "");
		assert_int_equal(client_is_closed(flood[i]), is_evicted);
	}
	client_send(mine, "status\n", 7);
	assert_int_equal(st_server_poll(&s, 100 * MS), 1);
	client_read(mine, buf, sizeof(buf));
	assert_has(buf, "fluxd cycles 1000");
	close(mine);
	for (unsigned i = 0; i < 3 * ST_MAX_CONNS; i++)
		close(flood[i]);
	assert_int_equal(chmod(dir, 0700), 0);
	st_server_close(&s);
}

static void test_server_asks_again_when_the_snapshot_races(void **state)
{
	struct st_server s;
	int fd;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	snapshot_fails = 1;
	fd = client(&s);
	client_send(fd, "status\n", 7);
	assert_int_equal(st_server_poll(&s, 0), 0);
	assert_false(client_is_closed(fd));
	assert_int_equal(st_server_poll(&s, 50 * MS), 1);
	assert_int_equal(snapshot_calls, 2);
	client_read(fd, buf, sizeof(buf));
	assert_has(buf, "fluxd cycles");
	close(fd);
	st_server_close(&s);
}

static void test_server_survives_clients_that_leave(void **state)
{
	struct st_server s;
	int fd;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	fd = client(&s); /* gone before asking */
	close(fd);
	fd = client(&s); /* gone after asking, before the answer */
	client_send(fd, "status\n", 7);
	close(fd);
	fd = client(&s); /* half a request, then gone */
	client_send(fd, "stat", 4);
	shutdown(fd, SHUT_WR);
	st_server_poll(&s, 0);
	close(fd);
	st_server_poll(&s, 0);
	for (unsigned i = 0; i < ST_MAX_CONNS; i++)
		assert_int_equal(s.conns[i].fd, -1);
	fd = client(&s);
	client_send(fd, "status\n", 7);
	assert_int_equal(st_server_poll(&s, 0), 1);
	close(fd);
	st_server_close(&s);
}

/* ---- the socket file ----------------------------------------------------------------------- */

static void test_socket_is_0660_and_unlinked_at_close(void **state)
{
	struct st_server s;
	struct stat st;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	assert_int_equal(lstat(s.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	st_server_close(&s);
	assert_int_equal(lstat(s.path, &st), -1);
	assert_int_equal(errno, ENOENT);
	st_server_close(&s); /* twice is fine */
}

static void test_stale_socket_is_replaced_live_one_refused(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct st_server s, s2;
	char path[ST_PATH_MAX];
	int fd;

	(void)state;
	make_example();
	/* A socket file whose owner died: bound, never unlinked. */
	sock_path(path, sizeof(path), "stale.sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(open_server(&s, "stale.sock"), 0);
	assert_int_equal(open_server(&s2, "stale.sock"), -EADDRINUSE);
	assert_has(s2.why, "stale.sock: another fluxd answers there");
	st_server_close(&s2);  /* a failed open leaves nothing to close */
	st_server_poll(&s, 0); /* the probe's connection comes and goes */
	st_server_close(&s);

	sock_path(path, sizeof(path), "plain");
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(open_server(&s, "plain"), -EEXIST);
	assert_has(s.why, "plain exists and is not a socket (owner uid ");
	assert_int_equal(access(path, F_OK), 0); /* not ours to remove */
	unlink(path);
}

static void test_close_leaves_a_socket_file_that_is_not_ours(void **state)
{
	struct st_server s;
	int fd;

	(void)state;
	make_example();
	assert_int_equal(open_server(&s, "a.sock"), 0);
	unlink(s.path);
	fd = open(s.path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	st_server_close(&s);
	assert_int_equal(access(s.path, F_OK), 0);
	unlink(s.path);
}

static void test_open_errors(void **state)
{
	struct st_server s;
	char path[200];

	(void)state;
	make_example();
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(st_server_open(&s, path, &cfg, fake_snapshot, NULL), -ENAMETOOLONG);
	assert_has(s.why, "longer than 107 bytes");
	assert_int_equal(st_server_open(&s, "", &cfg, fake_snapshot, NULL), -EINVAL);
	assert_int_equal(st_server_open(&s, "x", &cfg, NULL, NULL), -EINVAL);
	assert_int_equal(open_server(&s, "no-such-dir/a.sock"), -ENOENT);
	assert_has(s.why, "no-such-dir: No such file or directory");
	st_server_close(&s);
	assert_int_equal(st_server_poll(&s, 0), 0);
}

/* A directory where others may remove or rename names: they could swap our socket for
 * theirs. Refused (-EPERM, saying which directory and why); sticky like /tmp is fine. */
static void test_open_refuses_a_directory_others_can_write(void **state)
{
	char sub[ST_PATH_MAX];
	struct st_server s;

	(void)state;
	make_example();
	sock_path(sub, sizeof(sub), "open");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(open_server(&s, "open/a.sock"), -EPERM);
	assert_has(s.why, "/open (owner uid ");
	assert_has(s.why, "mode 0777) is writable by others and not sticky");
	assert_int_equal(chmod(sub, 0770), 0); /* group alone is others too */
	assert_int_equal(open_server(&s, "open/a.sock"), -EPERM);
	assert_int_equal(chmod(sub, 01777), 0);
	assert_int_equal(open_server(&s, "open/a.sock"), 0);
	st_server_close(&s);
	/* Higher up counts as much: a private directory inside the open one. */
	assert_int_equal(chmod(sub, 0777), 0);
	sock_path(sub, sizeof(sub), "open/private");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(open_server(&s, "open/private/a.sock"), -EPERM);
	assert_has(s.why, "/open (owner");
	assert_int_equal(rmdir(sub), 0);
	sock_path(sub, sizeof(sub), "open");
	assert_int_equal(rmdir(sub), 0);
}

/* Root only: a directory and a socket that belong to another user. */
static void test_open_refuses_what_another_user_owns(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char sub[ST_PATH_MAX];
	struct st_server s;
	int fd;

	(void)state;
	if (geteuid() != 0) {
		print_message("needs root to chown\n");
		skip();
	}
	make_example();
	sock_path(sub, sizeof(sub), "theirs");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chown(sub, 65534, 65534), 0);
	assert_int_equal(open_server(&s, "theirs/a.sock"), -EPERM);
	assert_has(s.why, "/theirs is owned by uid 65534");
	assert_int_equal(rmdir(sub), 0);

	/* Someone else's socket at our path (they were first): named, and left alone. */
	sock_path(sa.sun_path, sizeof(sa.sun_path), "squat.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(lchown(sa.sun_path, 65534, 65534), 0);
	assert_int_equal(open_server(&s, "squat.sock"), -EEXIST);
	assert_has(s.why, "squat.sock exists and belongs to uid 65534");
	assert_int_equal(access(sa.sun_path, F_OK), 0);
	unlink(sa.sun_path);
}

static void test_close_is_safe_on_a_zeroed_server(void **state)
{
	struct st_server s = { 0 };

	(void)state;
	st_server_close(&s);
	assert_int_equal(st_server_poll(&s, 0), 0);
}

/* What st_default_path() gives in this process, as "path" or "error N". */
static void default_path_of(char *out, size_t len)
{
	char path[ST_PATH_MAX];
	int err = st_default_path(path, sizeof(path));

	if (err)
		snprintf(out, len, "error %d", err);
	else
		snprintf(out, len, "%s", path);
}

/* The rule for a user: $XDG_RUNTIME_DIR if ours and 0700, else /run/user/UID if it is, else
 * -ST_ENORUNDIR; never /tmp. `private` is a 0700 directory of this user. */
static int check_user_default_path(const char *private)
{
	char got[ST_PATH_MAX + 16], want[ST_PATH_MAX + 16], run_user[64], wide[ST_PATH_MAX];
	struct stat st;
	int bad = 0;

	snprintf(run_user, sizeof(run_user), "/run/user/%u", (unsigned)geteuid());
	if (stat(run_user, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 07777) == 0700)
		snprintf(want, sizeof(want), "%s/fluxd.sock", run_user);
	else
		snprintf(want, sizeof(want), "error %d", -ST_ENORUNDIR);

	setenv("XDG_RUNTIME_DIR", private, 1);
	default_path_of(got, sizeof(got));
	bad |=
	    strncmp(got, private, strlen(private)) || strcmp(got + strlen(private), "/fluxd.sock");
	/* Not ours alone: mode 0755, or someone else's (root's /). Then the next rule. */
	snprintf(wide, sizeof(wide), "%s/wide", private);
	bad |= mkdir(wide, 0755) || chmod(wide, 0755);
	setenv("XDG_RUNTIME_DIR", wide, 1);
	default_path_of(got, sizeof(got));
	bad |= strcmp(got, want) != 0;
	setenv("XDG_RUNTIME_DIR", "/", 1);
	default_path_of(got, sizeof(got));
	bad |= strcmp(got, want) != 0;
	unsetenv("XDG_RUNTIME_DIR");
	default_path_of(got, sizeof(got));
	bad |= strcmp(got, want) != 0 || strncmp(got, "/tmp/", 5) == 0;
	rmdir(wide);
	if (bad)
		fprintf(stderr, "default path: got '%s', want '%s'\n", got, want);
	return bad;
}

static void test_default_path(void **state)
{
	char path[ST_PATH_MAX], private[ST_PATH_MAX];
	const char *saved = getenv("XDG_RUNTIME_DIR");
	char *keep = saved ? strdup(saved) : NULL;
	pid_t pid;
	int status;

	(void)state;
	assert_has(st_strerror(-ST_ENORUNDIR), "no private runtime directory");
	assert_string_equal(st_strerror(-ENOENT), "No such file or directory");
	sock_path(private, sizeof(private), "xdg");
	assert_int_equal(mkdir(private, 0700), 0);
	if (geteuid() != 0) {
		assert_int_equal(check_user_default_path(private), 0);
		goto out;
	}
	assert_int_equal(st_default_path(path, 8), -ENAMETOOLONG);
	assert_int_equal(st_default_path(path, sizeof(path)), 0);
	assert_string_equal(path, "/run/flux/fluxd.sock");
	/* The user rule in a child that gives up root (its own 0700 directory, reachable). */
	assert_int_equal(chown(private, 65534, 65534), 0);
	assert_int_equal(chmod(dir, 0711), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		_exit(check_user_default_path(private));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
out:
	rmdir(private);
	if (keep)
		setenv("XDG_RUNTIME_DIR", keep, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(keep);
}

/* `flux status` with no --socket and no private directory: exit 2, saying to pass one. */
static void test_cli_without_a_default_socket_asks_for_one(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "status", NULL };
		char run_user[64];
		int devnull = open("/dev/null", O_WRONLY);

		if (geteuid() == 0 &&
		    (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
			_exit(10);
		snprintf(run_user, sizeof(run_user), "/run/user/%u", (unsigned)geteuid());
		if (access(run_user, F_OK) == 0)
			_exit(77); /* this user has one: nothing to show */
		setenv("XDG_RUNTIME_DIR", "/", 1);
		dup2(devnull, 1);
		dup2(devnull, 2);
		_exit(cmd_status_main(1, argv));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("/run/user/UID exists here\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 2);
}

/* ---- `flux status` in-process --------------------------------------------------------------- */

/* stdout and stderr of cmd_status_main(), captured in a file. */
struct capture {
	int saved_out, saved_err, fd;
	char text[ST_RSP_MAX + 1024];
};

static int run_cli(struct capture *c, char **argv)
{
	int argc = 0, ret;
	ssize_t n;

	while (argv[argc])
		argc++;
	fflush(stdout);
	fflush(stderr);
	c->fd = open(dir, O_TMPFILE | O_RDWR, 0600);
	assert_true(c->fd >= 0);
	c->saved_out = dup(1);
	c->saved_err = dup(2);
	dup2(c->fd, 1);
	dup2(c->fd, 2);
	ret = cmd_status_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(c->saved_out, 1);
	dup2(c->saved_err, 2);
	close(c->saved_out);
	close(c->saved_err);
	n = pread(c->fd, c->text, sizeof(c->text) - 1, 0);
	c->text[n > 0 ? n : 0] = '\0';
	close(c->fd);
	return ret;
}

struct srv_thread {
	struct st_server srv;
	pthread_t thread;
	atomic_bool stop;
};

/* fluxd's loop in small: poll every 2 ms. */
static void *srv_main(void *arg)
{
	struct srv_thread *t = arg;
	struct timespec ts = { .tv_nsec = 2 * MS };

	while (!atomic_load(&t->stop)) {
		st_server_poll(&t->srv, clk_now_ns());
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void test_cli_prints_the_answer(void **state)
{
	static struct srv_thread t;
	static struct capture cap;
	char *text[] = { "status", "--socket", t.srv.path, NULL };
	char *json[] = { "status", "-s", t.srv.path, "--json", "--timeout", "1000", NULL };

	(void)state;
	make_example();
	assert_int_equal(open_server(&t.srv, "cli.sock"), 0);
	atomic_store(&t.stop, false);
	assert_int_equal(pthread_create(&t.thread, NULL, srv_main, &t), 0);
	assert_int_equal(run_cli(&cap, text), 0);
	assert_has(cap.text, "bess  bess-2   FAULT");
	assert_int_equal(run_cli(&cap, json), 0);
	if (!th_json_is_valid(cap.text))
		fail_msg("not JSON: %s", cap.text);
	atomic_store(&t.stop, true);
	pthread_join(t.thread, NULL);
	st_server_close(&t.srv);
}

static void test_cli_exit_3_when_unreachable(void **state)
{
	static struct capture cap;
	struct st_server s;
	char path[ST_PATH_MAX];
	char *argv[] = { "status", "--socket", path, "--timeout", "200", NULL };
	int64_t t0;

	(void)state;
	make_example();
	sock_path(path, sizeof(path), "nobody.sock");
	assert_int_equal(run_cli(&cap, argv), ST_EXIT_UNREACHABLE);
	assert_has(cap.text, "cannot connect to ");
	assert_has(cap.text, path);
	assert_has(cap.text, "No such file or directory");
	/* A server that accepts (the backlog does) but never answers: the timeout holds. */
	assert_int_equal(open_server(&s, "nobody.sock"), 0);
	t0 = clk_now_ns();
	assert_int_equal(run_cli(&cap, argv), ST_EXIT_UNREACHABLE);
	assert_true(clk_now_ns() - t0 < 2000 * MS);
	assert_has(cap.text, "no answer from ");
	assert_has(cap.text, "within 200 ms");
	st_server_close(&s);
}

/* A server that answers one connection at once, without reading (as "error: busy" is sent),
 * with `answer` (maybe empty), and closes. */
struct rude_srv {
	int lfd;
	const char *answer;
};

static void *rude_main(void *arg)
{
	struct rude_srv *r = arg;
	int fd = accept(r->lfd, NULL, NULL);

	if (fd >= 0) {
		(void)!send(fd, r->answer, strlen(r->answer), MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static int run_cli_against_rude(struct capture *cap, const char *answer)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *argv[] = { "status", "--socket", sa.sun_path, NULL };
	struct rude_srv r = { .answer = answer };
	pthread_t thread;
	int ret;

	sock_path(sa.sun_path, sizeof(sa.sun_path), "rude.sock");
	r.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(r.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r.lfd, 1), 0);
	assert_int_equal(pthread_create(&thread, NULL, rude_main, &r), 0);
	ret = run_cli(cap, argv);
	pthread_join(thread, NULL);
	close(r.lfd);
	unlink(sa.sun_path);
	return ret;
}

static void test_cli_exit_1_on_an_error_answer(void **state)
{
	static struct capture cap;

	(void)state;
	for (int i = 0; i < 20; i++) { /* the answer races the request: both orders */
		assert_int_equal(run_cli_against_rude(&cap, "error: busy\n"), 1);
		assert_has(cap.text, "answered: error: busy");
	}
}

static void test_cli_exit_3_when_closed_without_an_answer(void **state)
{
	static struct capture cap;

	(void)state;
	assert_int_equal(run_cli_against_rude(&cap, ""), ST_EXIT_UNREACHABLE);
	if (!strstr(cap.text, "without an answer") && !strstr(cap.text, "cannot send"))
		fail_msg("unexpected message: %s", cap.text);
}

static void test_cli_usage(void **state)
{
	static struct capture cap;
	char *help[] = { "status", "--help", NULL };
	char *bad_timeout[] = { "status", "--timeout", "0", NULL };
	char *junk_timeout[] = { "status", "--timeout", "5x", NULL };
	char *extra[] = { "status", "now", NULL };
	char *unknown[] = { "status", "--yaml", NULL };
	char *empty[] = { "status", "--socket", "", NULL };

	(void)state;
	assert_int_equal(run_cli(&cap, help), 0);
	assert_has(cap.text, "usage: flux status");
	assert_int_equal(run_cli(&cap, bad_timeout), 2);
	assert_has(cap.text, "--timeout");
	assert_int_equal(run_cli(&cap, junk_timeout), 2);
	assert_int_equal(run_cli(&cap, extra), 2);
	assert_has(cap.text, "unexpected argument 'now'");
	assert_int_equal(run_cli(&cap, unknown), 2);
	assert_int_equal(run_cli(&cap, empty), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_names_every_field),
		cmocka_unit_test(test_text_before_the_first_cycle_has_no_age),
		cmocka_unit_test(test_text_keeps_one_line_per_device_whatever_the_id),
		cmocka_unit_test(test_json_is_valid_and_carries_the_fields),
		cmocka_unit_test(test_text_and_json_show_every_point_with_its_unit),
		cmocka_unit_test(test_text_and_json_name_the_optional_roles_and_set_bits),
		cmocka_unit_test(test_json_escapes_ids_and_spells_nan_as_null),
		cmocka_unit_test(test_full_site_fits_one_answer),
		cmocka_unit_test(test_short_buffer_is_enospc),
		cmocka_unit_test(test_server_answers_text_and_json),
		cmocka_unit_test(test_server_request_may_arrive_in_pieces),
		cmocka_unit_test(test_server_answers_unknown_and_overlong_requests_with_an_error),
		cmocka_unit_test(test_server_drops_a_silent_client_at_its_deadline),
		cmocka_unit_test(test_server_evicts_the_oldest_when_every_slot_is_taken),
		cmocka_unit_test(test_server_answers_while_idle_clients_hold_every_slot),
		cmocka_unit_test(test_server_drops_a_byte_by_byte_client_at_its_deadline),
		cmocka_unit_test(test_server_work_per_poll_is_bounded_under_a_flood),
		cmocka_unit_test(test_server_flood_evicts_the_flooders_own_connections),
		cmocka_unit_test(test_server_asks_again_when_the_snapshot_races),
		cmocka_unit_test(test_server_survives_clients_that_leave),
		cmocka_unit_test(test_socket_is_0660_and_unlinked_at_close),
		cmocka_unit_test(test_stale_socket_is_replaced_live_one_refused),
		cmocka_unit_test(test_close_leaves_a_socket_file_that_is_not_ours),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_open_refuses_a_directory_others_can_write),
		cmocka_unit_test(test_open_refuses_what_another_user_owns),
		cmocka_unit_test(test_close_is_safe_on_a_zeroed_server),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_cli_prints_the_answer),
		cmocka_unit_test(test_cli_exit_3_when_unreachable),
		cmocka_unit_test(test_cli_exit_1_on_an_error_answer),
		cmocka_unit_test(test_cli_exit_3_when_closed_without_an_answer),
		cmocka_unit_test(test_cli_usage),
		cmocka_unit_test(test_cli_without_a_default_socket_asks_for_one),
	};
	int ret;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests_name("control/status", tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
