// SPDX-License-Identifier: MIT
/*
 * Tests for control/config.c: the seed's YAML and docs/design.md's example load with the right
 * defaults; every class of bad input gives -EINVAL and "FILE:LINE: KEY.PATH: " exactly, and
 * the _diag loaders report every error and warning of a file, in file order; the dump reads
 * back to the same struct; 2000 seeded mutations of a valid config never crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "control/config.h"

#define MS  1000000LL
#define SEC 1000000000LL
#ifndef FUZZ_ROUNDS
#define FUZZ_ROUNDS 2000 /* -DFUZZ_ROUNDS=N for a longer run */
#endif

/* Large structs live here, not on cmocka's stack. */
static struct cfg cfg, cfg2;
static struct cfg_diag diag;
static char err[CFG_ERR_MAX];
static char root[4096]; /* the source tree: parent of BUILD/ */

/* The seed's "BESS Configuration" block, byte for byte. */
static const char seed_bess[] = "devices:\n"
				"  bess:\n"
				"    - id: \"uuid-here\"\n"
				"      name: \"Site-BESS-01\"\n"
				"      type: \"powerpack\"\n"
				"      modbus:\n"
				"        host: \"192.168.1.100\"\n"
				"        port: 502\n"
				"        address: 1\n"
				"        timeout: 5s\n"
				"        retry_count: 3\n";

/* The seed's "Meter Configuration" block, byte for byte. */
static const char seed_meter[] = "devices:\n"
				 "  meters:\n"
				 "    - id: \"uuid-here\"\n"
				 "      name: \"Grid-Meter\"\n"
				 "      type: \"acuvim2\"\n"
				 "      modbus:\n"
				 "        host: \"192.168.1.101\"\n"
				 "        port: 502\n"
				 "        address: 2\n"
				 "        timeout: 5s\n";

static int parse(const char *text)
{
	return cfg_parse(&cfg, "t.yaml", text, strlen(text), err, sizeof(err));
}

static void path_of(char *buf, size_t cap, const char *rel)
{
	int n = snprintf(buf, cap, "%s/%s", root, rel);

	assert_true(n > 0 && (size_t)n < cap);
}

static void assert_default_modbus(const struct cfg_modbus *m)
{
	assert_int_equal(m->retry_backoff_ns, 100 * MS);
	assert_true(m->match_tid);
}

static void test_accepts_the_seed_bess_block_as_written_with_defaults(void **state)
{
	const struct cfg_bess *b = &cfg.bess[0];

	(void)state;
	assert_int_equal(parse(seed_bess), 0);
	assert_int_equal(cfg.nbess, 1);
	assert_int_equal(cfg.nmeters, 0);
	assert_string_equal(b->id, "uuid-here");
	assert_string_equal(b->name, "Site-BESS-01");
	assert_string_equal(b->modbus.host, "192.168.1.100");
	assert_int_equal(b->modbus.port, 502);
	assert_int_equal(b->modbus.address, 1);
	assert_int_equal(b->modbus.timeout_ns, 5 * SEC);
	assert_int_equal(b->modbus.retry_count, 3);
	assert_default_modbus(&b->modbus);
	assert_int_equal(b->power_kw, 100);
	assert_int_equal(b->capacity_kwh, 200);
	assert_int_equal(b->block_kw, 50);
	assert_int_equal(b->status_ready, 1);
	assert_int_equal(b->command_source_id, 3);
	assert_int_equal(b->soe_scale, 1);
	assert_int_equal(b->line, 3);
	/* site: and rt: absent: every default. */
	assert_int_equal(cfg.site.cycle_ns, 100 * MS);
	assert_int_equal(cfg.site.read_window_ns, 50 * MS);
	assert_int_equal(cfg.site.stale_after_ns, SEC);
	assert_int_equal(cfg.site.heartbeat_ns, 5 * SEC);
	assert_true(cfg.site.ramp_kw_per_s == 1000);
	assert_true(cfg.site.soe_min_pct == 5 && cfg.site.soe_max_pct == 95);
	assert_string_equal(cfg.site.grid_meter, "");
	assert_int_equal(cfg.site.grid_meter_index, -1);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MANUAL);
	assert_true(cfg.site.import_limit_kw == 100 && cfg.site.export_limit_kw == 0);
	assert_true(cfg.site.setpoint_kw == 0 && cfg.site.target_soe_pct == 50);
	assert_true(cfg.site.max_power_kw == 100);
	assert_int_equal(cfg.rt.io_cpu, sysconf(_SC_NPROCESSORS_CONF) > 1 ? 1 : 0);
	assert_int_equal(cfg.rt.control_cpu, cfg.rt.io_cpu);
	assert_int_equal(cfg.rt.io_priority, 81);
	assert_int_equal(cfg.rt.control_priority, 80);
}

static void test_accepts_the_seed_blocks_combined_under_one_devices_key(void **state)
{
	char path[4200];
	const struct cfg_meter *m = &cfg.meters[0];

	(void)state;
	path_of(path, sizeof(path), "tests/control/configs/seed.yaml");
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.nbess, 1);
	assert_int_equal(cfg.nmeters, 1);
	assert_string_equal(cfg.bess[0].modbus.host, "192.168.1.100");
	assert_string_equal(m->id, "uuid-meter");
	assert_string_equal(m->name, "Grid-Meter");
	assert_string_equal(m->modbus.host, "192.168.1.101");
	assert_int_equal(m->modbus.port, 502);
	assert_int_equal(m->modbus.address, 2);
	assert_int_equal(m->modbus.timeout_ns, 5 * SEC);
	assert_int_equal(m->modbus.retry_count, 3); /* default: the seed's meter gives none */
	assert_default_modbus(&m->modbus);
	assert_int_equal(m->word_order, MB_ORDER_ABCD);
	assert_int_equal(m->line, 16);
}

/* Both seed blocks say id "uuid-here": pasted together as written, that is a duplicate id. */
static void test_seed_blocks_pasted_verbatim_clash_on_their_shared_id(void **state)
{
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), "%s%s", seed_bess, seed_meter + strlen("devices:\n"));
	assert_int_equal(parse(text), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:13: devices.meters[0].id: duplicate id 'uuid-here': "
				    "devices.bess[0] (line 3)"));
	/* The meter block alone is a monitoring site (see test_accepts_a_meter_only_site...). */
	assert_int_equal(parse(seed_meter), 0);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MONITOR);
}

static void assert_round_trip(struct cfg *c);

/* The seed's "Modbus Configuration" block as written, with the path of its line added. */
static void test_accepts_the_seed_serial_block_with_a_device_path(void **state)
{
	static const char text[] = "devices:\n"
				   "  meters:\n"
				   "    - id: m1\n"
				   "      type: acuvim2\n"
				   "      modbus:\n"
				   "        device: /dev/ttyUSB0\n"
				   "        address: 1\n"
				   "        baud: 9600\n"
				   "        parity: none\n"
				   "        data_bits: 8\n"
				   "        stop_bits: 1\n"
				   "    - id: m2\n"
				   "      type: acuvim2\n"
				   "      modbus: {device: /dev/ttyUSB0, address: 2, timeout: 1s}\n"
				   "    - id: m3\n"
				   "      type: acuvim2\n"
				   "      modbus: {device: /dev/ttyS1, baud: 115200, parity: even, "
				   "stop_bits: 2, data_bits: 7, rs485: true}\n"
				   "    - id: m4\n"
				   "      type: acuvim2\n"
				   "      modbus: {host: 127.0.0.1, port: 4001, framing: rtu}\n";
	const struct cfg_modbus *m;

	(void)state;
	assert_int_equal(parse(text), 0);
	assert_int_equal(cfg.nmeters, 4);
	m = &cfg.meters[0].modbus;
	assert_int_equal(m->framing, CFG_FRAMING_SERIAL);
	assert_string_equal(m->device, "/dev/ttyUSB0");
	assert_int_equal(m->line.baud, 9600);
	assert_int_equal(m->line.parity, SER_PARITY_NONE);
	assert_int_equal(m->line.data_bits, 8);
	assert_int_equal(m->line.stop_bits, 1);
	assert_false(m->line.rs485);
	assert_int_equal(m->address, 1);
	/* No timeout given: fitted to the baud rate (ser_timeout_default_ns). */
	assert_int_equal(m->timeout_ns, 687 * MS);
	assert_int_equal(m->retry_count, 3);
	/* The defaults: 9600 8N1; a timeout given is kept. */
	m = &cfg.meters[1].modbus;
	assert_int_equal(m->framing, CFG_FRAMING_SERIAL);
	assert_int_equal(m->line.baud, 9600);
	assert_int_equal(m->line.data_bits, 8);
	assert_int_equal(m->line.stop_bits, 1);
	assert_int_equal(m->timeout_ns, SEC);
	m = &cfg.meters[2].modbus;
	assert_int_equal(m->line.baud, 115200);
	assert_int_equal(m->line.parity, SER_PARITY_EVEN);
	assert_int_equal(m->line.data_bits, 7);
	assert_int_equal(m->line.stop_bits, 2);
	assert_true(m->line.rs485);
	assert_int_equal(m->timeout_ns, 149 * MS);
	m = &cfg.meters[3].modbus;
	assert_int_equal(m->framing, CFG_FRAMING_RTU);
	assert_string_equal(m->host, "127.0.0.1");
	assert_int_equal(m->port, 4001);
	assert_string_equal(m->device, "");
	assert_int_equal(m->timeout_ns, 250 * MS);
	/* A TCP device is framed as before. */
	assert_int_equal(parse(seed_bess), 0);
	assert_int_equal(cfg.bess[0].modbus.framing, CFG_FRAMING_TCP);
	assert_int_equal(parse(text), 0);
	assert_round_trip(&cfg);
}

static void test_accepts_the_design_example_with_every_key(void **state)
{
	char path[4200];
	int ret;

	(void)state;
	path_of(path, sizeof(path), "tests/control/configs/design.yaml");
	ret = cfg_load(&cfg, path, err, sizeof(err));
	if (sysconf(_SC_NPROCESSORS_CONF) < 2) { /* it pins to CPU 1 */
		assert_int_equal(ret, -EINVAL);
		assert_non_null(strstr(err, "rt.io_cpu: must be -1..0"));
		return;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(cfg.site.cycle_ns, 100 * MS);
	assert_int_equal(cfg.site.read_window_ns, 50 * MS);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_PEAK_SHAVING);
	assert_string_equal(cfg.site.grid_meter, "meter-1");
	assert_int_equal(cfg.site.grid_meter_index, 0);
	assert_int_equal(cfg.rt.io_cpu, 1);
	assert_int_equal(cfg.rt.control_priority, 80);
	assert_int_equal(cfg.bess[0].modbus.timeout_ns, 5 * SEC);
	assert_int_equal(cfg.bess[0].modbus.port, 502);
	assert_int_equal(cfg.meters[0].modbus.address, 2);
	assert_int_equal(cfg.meters[0].word_order, MB_ORDER_ABCD);
	assert_string_equal(cfg_strategy_name(cfg.site.mode), "peak_shaving");
}

/* docs/design.md's grid_meter "meter-id" names no meter: said with the line and the key. */
static void test_design_example_verbatim_names_its_missing_grid_meter(void **state)
{
	static const char text[] =
	    "site:\n"
	    "  grid_meter: \"meter-id\"\n"
	    "  strategy: {mode: peak_shaving}\n"
	    "devices:\n"
	    "  bess:\n"
	    "    - {id: bess-1, type: powerpack, modbus: {host: 127.0.0.1}}\n"
	    "  meters:\n"
	    "    - {id: meter-1, type: acuvim2, modbus: {host: 127.0.0.1, "
	    "address: 2}}\n";

	(void)state;
	assert_int_equal(parse(text), -EINVAL);
	assert_string_equal(err, "t.yaml:2: site.grid_meter: 'meter-id' names no meter in "
				 "devices.meters");
}

static void test_deploy_site_yaml_loads_clean(void **state)
{
	char path[4200];

	(void)state;
	path_of(path, sizeof(path), "deploy/site.yaml");
	if (cfg_load(&cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg.nbess, 1);
	assert_int_equal(cfg.nmeters, 1);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_PEAK_SHAVING);
	assert_int_equal(cfg.site.grid_meter_index, 0);
	assert_string_equal(cfg.bess[0].modbus.host, "127.0.0.1");
	assert_int_equal(cfg.bess[0].modbus.port, 1502);
	assert_int_equal(cfg.meters[0].modbus.port, 1503);
	/* Clean means no warning either: its retry timing survives one lost reply. */
	assert_int_equal(cfg_load_diag(&cfg, path, &diag), 0);
	if (diag.n)
		fail_msg("%s", diag.items[0].text);
	assert_int_equal(diag.nerrors + diag.nwarnings + diag.ndropped, 0);
}

#define BESS5                                                                                      \
	"devices:\n  bess:\n    - id: b1\n      type: powerpack\n      modbus: {host: "            \
	"127.0.0.1}\n"
/* BESS5 with the modbus block as lines 5..: "      modbus:\n        host: 127.0.0.1\n" */
#define BESS_HEAD      "devices:\n  bess:\n    - id: b1\n      type: powerpack\n      modbus:\n"
#define HOST	       "        host: 127.0.0.1\n"
#define PS_SITE	       "site:\n  strategy:\n    mode: peak_shaving\n"
#define BESS5_ROLE     BESS5 "      heartbeat_role: true\n"
#define BESS5_ROLE_OFF BESS5 "      heartbeat_role: false\n"
/* A meter on a serial line, its modbus block as lines 5..6; more of its keys may follow. */
#define METER_SER                                                                                  \
	"devices:\n  meters:\n    - id: m1\n      type: acuvim2\n      modbus:\n"                  \
	"        device: /dev/ttyUSB0\n"

/* heartbeat_role: true writes the counter to the profile's heartbeat register (2012). */
static void test_heartbeat_role_takes_the_profiles_register(void **state)
{
	(void)state;
	assert_int_equal(parse(BESS5_ROLE), 0);
	assert_true(cfg.bess[0].is_heartbeat_role);
	assert_int_equal(cfg.bess[0].heartbeat_register, 2012);
	assert_round_trip(&cfg);
	assert_int_equal(parse(BESS5_ROLE_OFF), 0);
	assert_false(cfg.bess[0].is_heartbeat_role);
	assert_int_equal(cfg.bess[0].heartbeat_register, -1);
}

#define METER_GRID                                                                                 \
	"  meters:\n    - id: g\n      type: acuvim2\n      modbus: {host: 127.0.0.1, address: "   \
	"2}\n"

/* Issue 20's keys: controller, frequency response, a BESS's response_time; dumped back. */
static void test_control_quality_keys_parse_and_dump_back(void **state)
{
	static const char text[] =
	    "site:\n  grid_meter: g\n  strategy:\n    mode: peak_shaving\n"
	    "    controller: integrator\n    frequency_response: true\n    droop_pct: 0.2\n"
	    "    deadband_mhz: 50\n    max_kw: 80\n" BESS5
	    "      response_time: 300ms\n" METER_GRID;

	(void)state;
	assert_int_equal(parse(BESS5), 0);
	assert_int_equal(cfg.site.controller, CFG_CONTROLLER_PREDICTIVE);
	assert_false(cfg.site.is_frequency_response);
	assert_true(cfg.site.droop_pct == 0.4 && cfg.site.deadband_mhz == 100);
	assert_true(cfg.site.ffr_max_kw == 100);
	assert_true(cfg.bess[0].response_time_ns == 1000000000LL);
	assert_round_trip(&cfg);
	if (parse(text))
		fail_msg("%s", err);
	assert_int_equal(cfg.site.controller, CFG_CONTROLLER_INTEGRATOR);
	assert_true(cfg.site.is_frequency_response);
	assert_true(cfg.site.droop_pct == 0.2 && cfg.site.deadband_mhz == 50);
	assert_true(cfg.site.ffr_max_kw == 80);
	assert_true(cfg.bess[0].response_time_ns == 300000000LL);
	assert_round_trip(&cfg);
	if (parse("site:\n  grid_meter: g\n  strategy: {mode: frequency_response}\n" BESS5
		      METER_GRID))
		fail_msg("%s", err);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_FREQUENCY_RESPONSE);
	assert_string_equal(cfg_strategy_name(cfg.site.mode), "frequency_response");
	assert_round_trip(&cfg);
}

static const struct bad {
	const char *name;
	const char *text;
	const char *prefix; /* the message starts with this */
	const char *says;   /* and contains this */
	unsigned nerrors;   /* errors in all (0: one) */
} bad[] = {
	{ "unknown top-level key", "sitee:\n  cycle: 1s\n" BESS5,
	  "t.yaml:1: sitee: ", "unknown key (want site, rt, devices)" },
	{ "seed's singular meter: key at the top", "meter:\n  type: acuvim2\n" BESS5,
	  "t.yaml:1: meter: ", "devices go under devices:" },
	{ "unknown key in modbus", BESS_HEAD HOST "        prot: 502\n",
	  "t.yaml:7: devices.bess[0].modbus.prot: ", "unknown key (want host, port, address" },
	{ "unknown key in a device", BESS5 "      colour: red\n",
	  "t.yaml:6: devices.bess[0].colour: ", "unknown key" },
	{ "unknown controller", "site:\n  strategy:\n    controller: pid\n" BESS5,
	  "t.yaml:3: site.strategy.controller: ", "want predictive (the load estimated" },
	{ "droop of 0", "site:\n  strategy:\n    droop_pct: 0\n" BESS5,
	  "t.yaml:3: site.strategy.droop_pct: ", "" },
	{ "negative deadband", "site:\n  strategy:\n    deadband_mhz: -1\n" BESS5,
	  "t.yaml:3: site.strategy.deadband_mhz: ", "" },
	{ "max_kw of 0", "site:\n  strategy:\n    max_kw: 0\n" BESS5,
	  "t.yaml:3: site.strategy.max_kw: ", "" },
	{ "frequency_response not a bool", "site:\n  strategy:\n    frequency_response: 2\n" BESS5,
	  "t.yaml:3: site.strategy.frequency_response: ", "true or false" },
	{ "response_time over 5 s", BESS5 "      response_time: 6s\n",
	  "t.yaml:6: devices.bess[0].response_time: ", "" },
	{ "frequency_response without a grid meter",
	  "site:\n  strategy:\n    mode: "
	  "frequency_response\n" BESS5,
	  "t.yaml:3: site.strategy.mode: ", "frequency_response needs site.grid_meter" },
	{ "unknown key in strategy", "site:\n  strategy:\n    limit: 5\n" BESS5,
	  "t.yaml:3: site.strategy.limit: ", "unknown key (want mode, import_limit_kw" },
	{ "quoted number", BESS_HEAD HOST "        port: \"502\"\n",
	  "t.yaml:7: devices.bess[0].modbus.port: ", "want a whole number, got \"502\" (quoted" },
	{ "word for a number", BESS_HEAD HOST "        port: http\n",
	  "t.yaml:7: devices.bess[0].modbus.port: ",
	  "want a whole number in 1..65535, got 'http'" },
	{ "fraction for an integer", BESS5 "      power_kw: 100.5\n",
	  "t.yaml:6: devices.bess[0].power_kw: ", "want a whole number in 50..250" },
	{ "octal-looking integer", BESS_HEAD HOST "        port: 0502\n",
	  "t.yaml:7: devices.bess[0].modbus.port: ", "got '0502'" },
	{ "mapping where a list belongs", "devices:\n  bess: {id: b1}\n",
	  "t.yaml:2: devices.bess: ", "want a list of devices" },
	{ "list where a mapping belongs", "site: [1, 2]\n" BESS5,
	  "t.yaml:1: site: ", "want a mapping (cycle, read_window, strategy...), got a list" },
	{ "scalar where a device belongs", "devices:\n  bess:\n    - b1\n",
	  "t.yaml:3: devices.bess[0]: ",
	  "want a mapping (id, name, type or profile, modbus...), got 'b1'" },
	{ "mapping where a number belongs", BESS_HEAD HOST "        port: {a: 1}\n",
	  "t.yaml:7: devices.bess[0].modbus.port: ", "got a mapping" },
	{ "port out of range", BESS_HEAD HOST "        port: 70000\n",
	  "t.yaml:7: devices.bess[0].modbus.port: ", "must be 1..65535, got 70000" },
	{ "unit address out of range", BESS_HEAD HOST "        address: 248\n",
	  "t.yaml:7: devices.bess[0].modbus.address: ", "must be 0..247, got 248" },
	{ "cycle out of range", "site:\n  cycle: 20s\n" BESS5,
	  "t.yaml:2: site.cycle: ", "must be 1ms..10s, got 20s" },
	{ "timeout out of range", BESS_HEAD HOST "        timeout: 90s\n",
	  "t.yaml:7: devices.bess[0].modbus.timeout: ", "must be 1ms..60s, got 90s" },
	{ "retry_count out of range", BESS_HEAD HOST "        retry_count: 0\n",
	  "t.yaml:7: devices.bess[0].modbus.retry_count: ", "must be 1..10, got 0" },
	{ "rated power out of range", BESS5 "      power_kw: 300\n",
	  "t.yaml:6: devices.bess[0].power_kw: ", "must be 50..250, got 300" },
	{ "capacity out of range", BESS5 "      capacity_kwh: 50\n",
	  "t.yaml:6: devices.bess[0].capacity_kwh: ", "must be 100..500, got 50" },
	{ "SOE limit out of range", "site:\n  soe_min_pct: 101\n" BESS5,
	  "t.yaml:2: site.soe_min_pct: ", "must be 0..100, got 101" },
	{ "ramp rate not positive", "site:\n  ramp_kw_per_s: 0\n" BESS5,
	  "t.yaml:2: site.ramp_kw_per_s: ", "must be > 0, got 0" },
	{ "priority out of range", "rt:\n  io_priority: 100\n" BESS5,
	  "t.yaml:2: rt.io_priority: ", "must be 0..99, got 100" },
	{ "cpu below -1", "rt:\n  control_cpu: -2\n" BESS5,
	  "t.yaml:2: rt.control_cpu: ", "CPUs), got -2" },
	{ "cpu beyond the machine", "rt:\n  io_cpu: 4096\n" BESS5,
	  "t.yaml:2: rt.io_cpu: ", "this machine has" },
	{ "duration without unit", "site:\n  cycle: 100\n" BESS5, "t.yaml:2: site.cycle: ",
	  "want a duration: a number and a unit (ns, us, ms, s or m), like 250ms, 1.5s or 5s; "
	  "got '100'" },
	{ "duration with an unknown unit", BESS_HEAD HOST "        timeout: 5h\n",
	  "t.yaml:7: devices.bess[0].modbus.timeout: ", "want a duration" },
	{ "fraction without digits", "site:\n  heartbeat: 1.s\n" BESS5,
	  "t.yaml:2: site.heartbeat: ", "want a duration" },
	{ "duplicate id across bess and meters",
	  BESS5 "  meters:\n    - id: b1\n      type: acuvim2\n      modbus: {host: 127.0.0.2}\n",
	  "t.yaml:7: devices.meters[0].id: ",
	  "duplicate id 'b1': devices.bess[0] (line 3) has it" },
	{ "duplicate id within bess",
	  BESS5 "    - id: b1\n      type: powerpack\n      modbus: {host: 127.0.0.2}\n",
	  "t.yaml:6: devices.bess[1].id: ", "duplicate id 'b1'" },
	{ "same endpoint twice",
	  BESS5 "  meters:\n    - id: m1\n      type: acuvim2\n      modbus: {host: 127.0.0.1}\n",
	  "t.yaml:9: devices.meters[0].modbus: ", "127.0.0.1:502 unit 1 is also devices.bess[0]" },
	{ "missing id",
	  "devices:\n  bess:\n    - type: powerpack\n      modbus: {host: 127.0.0.1}\n",
	  "t.yaml:3: devices.bess[0].id: ", "missing (required)" },
	{ "empty id", "devices:\n  bess:\n    - id: \"\"\n      type: powerpack\n",
	  "t.yaml:3: devices.bess[0].id: ", "must not be empty", 2 /* and modbus missing */ },
	{ "missing type", "devices:\n  bess:\n    - id: b1\n      modbus: {host: 127.0.0.1}\n",
	  "t.yaml:3: devices.bess[0].type: ",
	  "missing (required: type: NAME, a shipped profile (powerpack, acuvim2" },
	{ "missing modbus", "devices:\n  bess:\n    - id: b1\n      type: powerpack\n",
	  "t.yaml:3: devices.bess[0].modbus: ", "missing (required)" },
	{ "missing modbus.host", BESS_HEAD "        port: 502\n",
	  "t.yaml:6: devices.bess[0].modbus.host: ", "missing (required" },
	{ "empty modbus block", BESS_HEAD "      name: x\n",
	  "t.yaml:5: devices.bess[0].modbus.host: ", "missing (required" },
	{ "meter type under bess",
	  "devices:\n  bess:\n    - id: b1\n      type: acuvim2\n      modbus: {host: 127.0.0.1}\n",
	  "t.yaml:4: devices.bess[0].type: ",
	  "unsupported type 'acuvim2' here: want a bess profile (acuvim2 is a meter: list it "
	  "under devices.meters)" },
	{ "bess type under meters",
	  BESS5 "  meters:\n    - id: m1\n      type: powerpack\n      modbus: {host: 127.0.0.2}\n",
	  "t.yaml:8: devices.meters[0].type: ",
	  "want a meter profile (powerpack is a bess: list it under devices.bess)" },
	{ "grid_meter naming no meter", "site:\n  grid_meter: m9\n" BESS5,
	  "t.yaml:2: site.grid_meter: ", "'m9' names no meter in devices.meters (there are none)" },
	{ "peak shaving without a grid meter", PS_SITE BESS5,
	  "t.yaml:3: site.strategy.mode: ", "peak_shaving needs site.grid_meter" },
	{ "read window not shorter than the cycle",
	  "site:\n  cycle: 100ms\n  read_window: 100ms\n" BESS5,
	  "t.yaml:3: site.read_window: ", "must be shorter than site.cycle (100ms), got 100ms" },
	{ "stale_after default shorter than a long cycle", "site:\n  cycle: 2s\n" BESS5,
	  "t.yaml:2: site.stale_after: ", "must be at least site.cycle (2s): its default 1s" },
	{ "heartbeat shorter than the cycle",
	  "site:\n  cycle: 2s\n  stale_after: 4s\n  heartbeat: 1s\n" BESS5,
	  "t.yaml:4: site.heartbeat: ", "must be at least site.cycle (2s), got 1s" },
	{ "soe_min above soe_max", "site:\n  soe_min_pct: 60\n  soe_max_pct: 50\n" BESS5,
	  "t.yaml:2: site.soe_min_pct: ", "must not exceed site.soe_max_pct (50), got 60" },
	{ "soe_max below the default soe_min", "site:\n  soe_max_pct: 4\n" BESS5,
	  "t.yaml:2: site.soe_max_pct: ", "must be at least site.soe_min_pct (5), got 4" },
	{ "duplicate key", "site:\n  cycle: 1s\n  cycle: 2s\n" BESS5,
	  "t.yaml:3: site.cycle: ", "duplicate key (first at line 2)" },
	{ "duplicate devices key", BESS5 "  bess: []\n",
	  "t.yaml:6: devices.bess: ", "duplicate key (first at line 2)" },
	{ "bad indentation", "devices:\n  bess:\n    - id: b1\n     type: powerpack\n",
	  "t.yaml:4: YAML: ", "" },
	{ "tab indentation", "devices:\n\tbess: []\n", "t.yaml:2: YAML: ", "" },
	{ "unclosed flow mapping", BESS_HEAD "        {host: 127.0.0.1\n", "t.yaml:", "YAML: " },
	{ "undefined alias", "site:\n  cycle: *c\n" BESS5, "t.yaml:2: YAML: ", "undefined alias" },
	{ "syntax error in a second document", BESS5 "---\n{bad\n", "t.yaml:8: YAML: ", "" },
	{ "second document", BESS5 "---\nsite: {}\n",
	  "t.yaml:6: YAML: ", "a second document: a site config is one document" },
	{ "document is a scalar", "hello\n",
	  "t.yaml:1: top level: ", "want a mapping (site, rt, devices), got 'hello'" },
	{ "empty file", "", "t.yaml:1: devices: ",
	  "a site needs at least one device: a BESS (devices.bess, type powerpack) or a meter "
	  "(devices.meters, type acuvim2)" },
	{ "only comments", "# nothing here\n", "t.yaml:1: devices: ", "at least one device" },
	{ "no devices", "site:\n  cycle: 1s\n", "t.yaml:1: devices: ", "at least one device" },
	{ "empty device lists", "site:\n  cycle: 1s\ndevices:\n  bess: []\n  meters: []\n",
	  "t.yaml:3: devices: ", "at least one device" },
	{ "meter-only site with peak shaving",
	  "site:\n  grid_meter: m1\n  strategy:\n    mode: peak_shaving\n"
	  "devices:\n  meters:\n    - {id: m1, type: acuvim2, modbus: {host: 127.0.0.1}}\n",
	  "t.yaml:4: site.strategy.mode: ",
	  "peak_shaving needs a BESS to control, and devices.bess has none: a site of meters only "
	  "runs mode monitor" },
	{ "meter-only site with manual",
	  "site: {strategy: {mode: manual}}\n"
	  "devices:\n  meters:\n    - {id: m1, type: acuvim2, modbus: {host: 127.0.0.1}}\n",
	  "t.yaml:1: site.strategy.mode: ", "manual needs a BESS to control" },
	{ "command_source_default out of range", BESS5 "      command_source_default: 65536\n",
	  "t.yaml:6: devices.bess[0].command_source_default: ", "must be 0..65535, got 65536" },
	{ "command_source_default negative", BESS5 "      command_source_default: -1\n",
	  "t.yaml:6: devices.bess[0].command_source_default: ", "must be 0..65535, got -1" },
	{ "heartbeat_role beside heartbeat_register",
	  BESS5 "      heartbeat_register: 2012\n      heartbeat_role: true\n",
	  "t.yaml:7: devices.bess[0].heartbeat_role: ",
	  "give heartbeat_role (the profile's register) or heartbeat_register (line 6), not both" },
	{ "heartbeat_role not a boolean", BESS5 "      heartbeat_role: 2012\n",
	  "t.yaml:6: devices.bess[0].heartbeat_role: ", "" },
	{ "heartbeat_register out of range", BESS5 "      heartbeat_register: 65536\n",
	  "t.yaml:6: devices.bess[0].heartbeat_register: ", "must be 0..65535, got 65536" },
	{ "heartbeat_register -1 written out", BESS5 "      heartbeat_register: -1\n",
	  "t.yaml:6: devices.bess[0].heartbeat_register: ", "must be 0..65535, got -1" },
	{ "heartbeat_register not a number", BESS5 "      heartbeat_register: none\n",
	  "t.yaml:6: devices.bess[0].heartbeat_register: ",
	  "want a whole number in 0..65535, got 'none'" },
	{ "heartbeat_register on the target power register",
	  BESS5 "      heartbeat_register: 2008\n",
	  "t.yaml:6: devices.bess[0].heartbeat_register: ",
	  "2008 is the powerpack profile's target_power register (target_power_kw): the heartbeat "
	  "needs a register of its own (not 2000, 2008, 2010, 2026 or 2028)" },
	{ "heartbeat_register on the command source", BESS5 "      heartbeat_register: 2010\n",
	  "t.yaml:6: devices.bess[0].heartbeat_register: ",
	  "the powerpack profile's command_source register (command_source)" },
	{ "seed's serial block without a device path",
	  "devices:\n  meters:\n    - id: m1\n      type: acuvim2\n      modbus:\n        address: "
	  "1\n"
	  "        baud: 9600\n        parity: none\n",
	  "t.yaml:7: devices.meters[0].modbus.device: ",
	  "missing: a serial device needs the path of its line (device: /dev/ttyUSB0), given "
	  "baud" },
	{ "RTU key beside host", BESS_HEAD HOST "        stop_bits: 1\n",
	  "t.yaml:7: devices.bess[0].modbus.stop_bits: ", "this device is on TCP (host is set)" },
	{ "host and device", METER_SER "        host: 127.0.0.1\n",
	  "t.yaml:6: devices.meters[0].modbus.device: ",
	  "a device has host (Modbus TCP) or device (a serial line), not both" },
	{ "port on a serial line", METER_SER "        port: 502\n",
	  "t.yaml:7: devices.meters[0].modbus.port: ",
	  "a TCP setting, but this device is on a serial line (device is set): remove it" },
	{ "framing on a serial line", METER_SER "        framing: rtu\n",
	  "t.yaml:7: devices.meters[0].modbus.framing: ", "on a serial line" },
	{ "relative device path",
	  "devices:\n  meters:\n    - id: m1\n      type: acuvim2\n      modbus:\n"
	  "        device: ttyUSB0\n",
	  "t.yaml:6: devices.meters[0].modbus.device: ",
	  "want an absolute path (/dev/ttyUSB0), got 'ttyUSB0'" },
	{ "empty device path",
	  "devices:\n  meters:\n    - id: m1\n      type: acuvim2\n      modbus:\n"
	  "        device: \"\"\n",
	  "t.yaml:6: devices.meters[0].modbus.device: ", "must not be empty" },
	{ "non-standard baud", METER_SER "        baud: 12345\n",
	  "t.yaml:7: devices.meters[0].modbus.baud: ",
	  "12345 is not a standard rate (1200 2400 4800 9600 19200 38400 57600 115200, or "
	  "230400 .. 4000000)" },
	{ "baud not a number", METER_SER "        baud: fast\n",
	  "t.yaml:7: devices.meters[0].modbus.baud: ", "want a whole number" },
	{ "unknown parity", METER_SER "        parity: mark\n",
	  "t.yaml:7: devices.meters[0].modbus.parity: ", "want none, even or odd, got 'mark'" },
	{ "six data bits", METER_SER "        data_bits: 6\n",
	  "t.yaml:7: devices.meters[0].modbus.data_bits: ", "must be 7..8, got 6" },
	{ "three stop bits", METER_SER "        stop_bits: 3\n",
	  "t.yaml:7: devices.meters[0].modbus.stop_bits: ", "must be 1..2, got 3" },
	{ "rs485 not a boolean", METER_SER "        rs485: yes please\n",
	  "t.yaml:7: devices.meters[0].modbus.rs485: ", "" },
	{ "broadcast address on a serial line", METER_SER "        address: 0\n",
	  "t.yaml:7: devices.meters[0].modbus.address: ",
	  "unit 0 is the broadcast address on a serial line" },
	{ "unknown framing", BESS_HEAD HOST "        framing: ascii\n",
	  "t.yaml:7: devices.bess[0].modbus.framing: ",
	  "want tcp (Modbus TCP, MBAP) or rtu (RTU frames over TCP, for a gateway that passes "
	  "them through), got 'ascii'" },
	{ "match_tid with RTU framing",
	  BESS_HEAD HOST "        framing: rtu\n        match_tid: "
			 "false\n",
	  "t.yaml:8: devices.bess[0].modbus.match_tid: ",
	  "RTU frames carry no transaction id (framing: rtu): remove it" },
	{ "two units of one line at different bauds",
	  METER_SER "    - id: m2\n      type: acuvim2\n      modbus:\n"
		    "        device: /dev/ttyUSB0\n        address: 2\n        baud: 19200\n",
	  "t.yaml:9: devices.meters[1].modbus: ",
	  "/dev/ttyUSB0 is at 19200 8N1 here but 9600 8N1 in devices.meters[0] (line 3): devices "
	  "on one serial line share its settings" },
	{ "two devices at one address of a line",
	  METER_SER "    - id: m2\n      type: acuvim2\n      modbus:\n"
		    "        device: /dev/ttyUSB0\n",
	  "t.yaml:9: devices.meters[1].modbus: ",
	  "/dev/ttyUSB0 unit 1 is also devices.meters[0] (line 3): each device on a line needs its "
	  "own address" },
	{ "one host:port with two framings",
	  BESS5 "  meters:\n    - id: m1\n      type: acuvim2\n      modbus: {host: 127.0.0.1, "
		"address: 2, framing: rtu}\n",
	  "t.yaml:9: devices.meters[0].modbus: ",
	  "127.0.0.1:502 is framing: rtu here but tcp in devices.bess[0] (line 3): one connection "
	  "carries one framing" },
	{ "unknown strategy", "site:\n  strategy: {mode: peak}\n" BESS5,
	  "t.yaml:2: site.strategy.mode: ",
	  "want manual, soe_target, peak_shaving, frequency_response or monitor, got 'peak'" },
	{ "unknown word order",
	  BESS5
	  "  meters:\n    - {id: m1, type: acuvim2, word_order: xyzw, modbus: {host: 127.0.0.2}}\n",
	  "t.yaml:7: devices.meters[0].word_order: ", "want abcd, cdab, badc or dcba, got 'xyzw'" },
	{ "not a boolean", BESS_HEAD HOST "        match_tid: maybe\n",
	  "t.yaml:7: devices.bess[0].modbus.match_tid: ", "want true or false, got 'maybe'" },
	{ "host name instead of address", BESS_HEAD "        host: plc.local\n",
	  "t.yaml:6: devices.bess[0].modbus.host: ", "want an IPv4 address like 192.168.1.100" },
	{ "host is no device address", BESS_HEAD "        host: 0.0.0.0\n",
	  "t.yaml:6: devices.bess[0].modbus.host: ", "0.0.0.0 is not a device address" },
	{ "id too long",
	  "devices:\n  bess:\n    - id: "
	  "a123456789012345678901234567890123456789012345678901234567890123\n",
	  "t.yaml:3: devices.bess[0].id: ", "too long: at most 63 bytes, got 64",
	  3 /* and type, modbus missing */ },
	{ "control character in a name", BESS5 "      name: \"a\\x1bb\"\n",
	  "t.yaml:6: devices.bess[0].name: ", "control characters are not allowed" },
	{ "NUL in a string", BESS5 "      name: \"a\\0b\"\n",
	  "t.yaml:6: devices.bess[0].name: ", "contains a NUL character" },
	{ "complex key", "? [a]\n: 1\n" BESS5,
	  "t.yaml:1: top level: ", "keys must be plain words" },
	{ "huge integer", BESS_HEAD HOST "        port: 99999999999999999999999\n",
	  "t.yaml:7: devices.bess[0].modbus.port: ", "want a whole number" },
	{ "huge duration", "site:\n  cycle: 999999999999999999m\n" BESS5,
	  "t.yaml:2: site.cycle: ", "must be 1ms..10s" },
	{ "invalid UTF-8", BESS5 "      name: \"\xff\"\n", "t.yaml:6: YAML: ", "invalid" },
};

static void test_rejects_each_bad_config_with_file_line_and_key(void **state)
{
	unsigned failed = 0;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad *b = &bad[i];
		int ret = cfg_parse(&cfg, "t.yaml", b->text, strlen(b->text), err, sizeof(err));

		if (ret != -EINVAL || strncmp(err, b->prefix, strlen(b->prefix)) != 0 ||
		    !strstr(err, b->says)) {
			printf("case %u (%s): got %d '%s'\n  want -EINVAL '%s...%s'\n", i, b->name,
			       ret, err, b->prefix, b->says);
			failed++;
		}
		/* A failed parse leaves the defaults, never half a config. */
		if (ret && (cfg.nbess || cfg.site.cycle_ns != 100 * MS)) {
			printf("case %u (%s): config not reset\n", i, b->name);
			failed++;
		}
		/* The diag form says the same first error, and this one mistake only once. */
		ret = cfg_parse_diag(&cfg, "t.yaml", b->text, strlen(b->text), &diag);
		if (ret != -EINVAL || diag.nerrors != (b->nerrors ? b->nerrors : 1) ||
		    diag.items[0].is_warning || strcmp(diag.items[0].text, err) != 0) {
			printf("case %u (%s): diag %d, %u error(s), first '%s'\n", i, b->name, ret,
			       diag.nerrors, diag.n ? diag.items[0].text : "");
			for (unsigned k = 1; k < diag.n; k++)
				printf("  then '%s'\n", diag.items[k].text);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* The rules above, one at a time, with the whole message spelled out. */
static void test_rejects_out_of_range_cycle_with_the_documented_message(void **state)
{
	(void)state;
	assert_int_equal(parse("site:\n  cycle: 20s\n" BESS5), -EINVAL);
	assert_string_equal(err, "t.yaml:2: site.cycle: must be 1ms..10s, got 20s");
}

static void test_rejects_more_devices_than_the_table_holds(void **state)
{
	static char text[(CFG_MAX_BESS + 32) * 96]; /* a line per device and then some */
	char want[128];
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "devices:\n  bess:\n");
	for (unsigned i = 0; i <= CFG_MAX_BESS; i++)
		n += (size_t)snprintf(
		    text + n, sizeof(text) - n,
		    "    - {id: b%u, type: powerpack, modbus: {host: 10.0.%u.%u}}\n", i, i / 200,
		    i % 200 + 1);
	assert_int_equal(parse(text), -EINVAL);
	/* The first list item is on line 3: item CFG_MAX_BESS is the one too many. */
	snprintf(want, sizeof(want), "t.yaml:%u: devices.bess[%u]: too many devices: at most %u",
		 3 + CFG_MAX_BESS, CFG_MAX_BESS, CFG_MAX_BESS);
	assert_string_equal(err, want);

	n = (size_t)snprintf(text, sizeof(text), BESS5 "  meters:\n");
	for (unsigned i = 0; i <= CFG_MAX_METERS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "    - {id: m%u, type: acuvim2, modbus: {host: 10.1.0.%u}}\n",
				      i, i + 1);
	assert_int_equal(parse(text), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:23: devices.meters[16]: too many devices: at most 16"));

	/* Exactly the maximum is fine. */
	n = (size_t)snprintf(text, sizeof(text), "devices:\n  bess:\n");
	for (unsigned i = 0; i < CFG_MAX_BESS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "    - {id: b%u, type: powerpack, modbus: {host: 10.0.%u.%u, "
				      "address: %u}}\n",
				      i, i / 200, i % 200 + 1, i % 200 + 1);
	assert_int_equal(parse(text), 0);
	assert_int_equal(cfg.nbess, CFG_MAX_BESS);
}

static void test_rejects_a_cpu_this_machine_lacks(void **state)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char text[256], want[128];

	(void)state;
	snprintf(text, sizeof(text), "rt:\n  io_cpu: %ld\n" BESS5, ncpu);
	assert_int_equal(parse(text), -EINVAL);
	snprintf(want, sizeof(want), "t.yaml:2: rt.io_cpu: must be -1..%ld", ncpu - 1);
	assert_non_null(strstr(err, want));
	snprintf(text, sizeof(text), "rt:\n  io_cpu: %ld\n  control_cpu: -1\n" BESS5, ncpu - 1);
	assert_int_equal(parse(text), 0);
	assert_int_equal(cfg.rt.io_cpu, ncpu - 1);
	assert_int_equal(cfg.rt.control_cpu, -1);
}

static void test_accepts_every_unit_flow_style_and_optional_keys(void **state)
{
	static const char text[] =
	    "site: {cycle: 10ms, stale_after: 2m, heartbeat: 30.5s, ramp_kw_per_s: 2.5e2,\n"
	    "       soe_min_pct: 10.5, soe_max_pct: 90, grid_meter: m1,\n"
	    "       strategy: {mode: soe_target, target_soe_pct: 80, max_power_kw: 50,\n"
	    "                  setpoint_kw: -20}}\n"
	    "rt: {io_cpu: -1, control_cpu: 0, io_priority: 0, control_priority: 99}\n"
	    "devices:\n"
	    "  bess:\n"
	    "    - id: b1\n"
	    "      type: powerpack\n"
	    "      power_kw: 250\n"
	    "      capacity_kwh: 500\n"
	    "      block_kw: 25\n"
	    "      status_ready: 2\n"
	    "      command_source_id: 7\n"
	    "      soe_scale: 10\n"
	    "      modbus: {host: 10.0.0.1, port: 1502, address: 0, timeout: 250000us,\n"
	    "               retry_count: 10, retry_backoff: 500000000ns, match_tid: false}\n"
	    "  meters:\n"
	    "    - id: m1\n"
	    "      name:\n"
	    "      type: acuvim2\n"
	    "      word_order: CDAB\n"
	    "      modbus: {host: 10.0.0.2, port: 502, address: 247}\n";
	const struct cfg_bess *b = &cfg.bess[0];

	(void)state;
	if (parse(text))
		fail_msg("%s", err);
	assert_int_equal(cfg.site.cycle_ns, 10 * MS);
	assert_int_equal(cfg.site.read_window_ns, 5 * MS); /* default: half the cycle */
	assert_int_equal(cfg.site.stale_after_ns, 120 * SEC);
	assert_int_equal(cfg.site.heartbeat_ns, 30 * SEC + 500 * MS); /* fractions too */
	assert_true(cfg.site.ramp_kw_per_s == 250);
	assert_true(cfg.site.soe_min_pct == 10.5);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_SOE_TARGET);
	assert_true(cfg.site.target_soe_pct == 80 && cfg.site.max_power_kw == 50);
	assert_true(cfg.site.setpoint_kw == -20);
	assert_int_equal(cfg.site.grid_meter_index, 0);
	assert_int_equal(cfg.rt.io_cpu, -1);
	assert_int_equal(cfg.rt.io_priority, 0);
	assert_int_equal(cfg.rt.control_priority, 99);
	assert_int_equal(b->power_kw, 250);
	assert_int_equal(b->block_kw, 25);
	assert_int_equal(b->status_ready, 2);
	assert_int_equal(b->command_source_id, 7);
	assert_int_equal(b->soe_scale, 10);
	assert_int_equal(b->modbus.port, 1502);
	assert_int_equal(b->modbus.address, 0);
	assert_int_equal(b->modbus.timeout_ns, 250 * MS);
	assert_int_equal(b->modbus.retry_count, 10);
	assert_int_equal(b->modbus.retry_backoff_ns, 500 * MS);
	assert_false(b->modbus.match_tid);
	assert_string_equal(cfg.meters[0].name, "");
	assert_int_equal(cfg.meters[0].word_order, MB_ORDER_CDAB);
	assert_int_equal(cfg.meters[0].modbus.address, 247);
	assert_int_equal(cfg.meters[0].modbus.retry_count, 3);
}

/* Line numbers are not part of the config's meaning: clear them before comparing. */
static void clear_lines(struct cfg *c)
{
	for (unsigned i = 0; i < CFG_MAX_BESS; i++)
		c->bess[i].line = 0;
	for (unsigned i = 0; i < CFG_MAX_METERS; i++)
		c->meters[i].line = 0;
}

/* dump(cfg) parses back to cfg itself. Returns 0 or fails the test. */
static void assert_round_trip(struct cfg *c)
{
	static char text[65536];
	int n = cfg_dump(c, text, sizeof(text));

	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(text));
	if (cfg_parse(&cfg2, "dump.yaml", text, (size_t)n, err, sizeof(err)))
		fail_msg("dump does not parse: %s\n%s", err, text);
	clear_lines(c);
	clear_lines(&cfg2);
	if (memcmp(c, &cfg2, sizeof(cfg2)) != 0)
		fail_msg("dump reads back different:\n%s", text);
}

static void test_dump_parses_back_to_the_same_config(void **state)
{
	static const char odd[] =
	    "site: {cycle: 3ms, read_window: 1500us, stale_after: 7ms, heartbeat: 90s,\n"
	    "       ramp_kw_per_s: 0.1, soe_min_pct: 0, soe_max_pct: 100, grid_meter: \"m 1\",\n"
	    "       strategy: {mode: manual, setpoint_kw: -123.456, import_limit_kw: 0.3}}\n"
	    "devices:\n"
	    "  bess:\n"
	    "    - {id: \"b\\\"1\\\\\", name: \"Bank #1: 'east'\", type: powerpack, soe_scale: "
	    "100,\n"
	    "       modbus: {host: 10.0.0.1, timeout: 1ms, retry_backoff: 0s, match_tid: no}}\n"
	    "  meters:\n"
	    "    - {id: \"m 1\", name: \"Zähler\", type: acuvim2, word_order: dcba,\n"
	    "       modbus: {host: 10.0.0.1, address: 2}}\n";
	char path[4200];
	char small[64];

	(void)state;
	path_of(path, sizeof(path), "tests/control/configs/seed.yaml");
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), 0);
	assert_round_trip(&cfg);
	path_of(path, sizeof(path), "deploy/site.yaml");
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), 0);
	assert_round_trip(&cfg);
	if (parse(odd))
		fail_msg("%s", err);
	assert_string_equal(cfg.bess[0].id, "b\"1\\");
	assert_round_trip(&cfg);
	/* Too small a buffer: -ENOSPC, and what was written is a terminated prefix. */
	assert_int_equal(cfg_dump(&cfg, small, sizeof(small)), -ENOSPC);
	assert_true(strlen(small) == sizeof(small) - 1);
}

static void test_load_of_a_missing_file_gives_enoent_naming_the_path(void **state)
{
	(void)state;
	assert_int_equal(cfg_load(&cfg, "/nonexistent/site.yaml", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/site.yaml: cannot open: No such file or directory");
	assert_int_equal(cfg_load(&cfg, "/", err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "/: is a directory"));
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void test_rejects_files_over_one_mib(void **state)
{
	size_t len = (1u << 20) + 1;
	char *big = malloc(len);
	char path[] = "/tmp/flux-test-config-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_non_null(big);
	assert_true(fd >= 0);
	close(fd);
	/* A valid config padded with a comment to one byte over the limit. */
	memset(big, '#', len);
	memcpy(big, BESS5, strlen(BESS5));
	big[len - 1] = '\n';
	assert_int_equal(cfg_parse(&cfg, "big.yaml", big, len, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "big.yaml: larger than 1048576 bytes"));
	write_file(path, big, len);
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than 1048576 bytes"));
	/* At the limit it loads. */
	big[len - 2] = '\n';
	write_file(path, big, len - 1);
	if (cfg_load(&cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	unlink(path);
	free(big);
}

/* A pipe has no size to check up front: the reader stops it at 1 MiB. */
static void test_load_stops_an_endless_stream_at_one_mib(void **state)
{
	static const char line[] = "# an endless comment from a pipe\n";
	char path[64];
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		signal(SIGPIPE, SIG_DFL);
		for (;;)
			if (write(fds[1], line, sizeof(line) - 1) < 0)
				_exit(0);
	}
	close(fds[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than 1048576 bytes"));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_load_reports_a_failed_read_with_its_errno(void **state)
{
	(void)state;
	/* Reading one's own /proc/self/mem at offset 0 (unmapped) fails with EIO. */
	assert_int_equal(cfg_load(&cfg, "/proc/self/mem", err, sizeof(err)), -EIO);
	assert_string_equal(err, "/proc/self/mem: cannot read: Input/output error");
}

static void test_reports_reader_errors_at_their_line_from_a_file(void **state)
{
	static char text[40000];
	char path[] = "/tmp/flux-test-config-XXXXXX";
	int fd = mkstemp(path);
	size_t n;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	/* 1000 comment lines put the bad byte far past libyaml's first read-ahead. */
	n = (size_t)snprintf(text, sizeof(text), "%s", BESS5);
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "# comment line %d\n", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "# bad \xfe byte\n");
	write_file(path, text, n);
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":1006: YAML: invalid"));
	assert_int_equal(cfg_parse(&cfg, "t.yaml", text, n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:1006: YAML: invalid"));
	unlink(path);
}

static void test_tolerates_a_null_or_tiny_error_buffer(void **state)
{
	char tiny[8];

	(void)state;
	assert_int_equal(cfg_parse(&cfg, "t.yaml", "x: 1\n", 5, NULL, 0), -EINVAL);
	assert_int_equal(cfg_parse(&cfg, "t.yaml", "x: 1\n", 5, tiny, sizeof(tiny)), -EINVAL);
	assert_string_equal(tiny, "t.yaml:");
	assert_int_equal(cfg_parse(&cfg, NULL, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "<config>:1: devices: a site needs at least one device: a BESS "
				 "(devices.bess, type powerpack) or a meter (devices.meters, type "
				 "acuvim2)");
	/* cfg_parse_diag() and cfg_load_diag() take no diag at all, too. */
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", "x: 1\n", 5, NULL), -EINVAL);
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", BESS5, strlen(BESS5), NULL), 0);
	assert_int_equal(cfg_load_diag(&cfg, "/nonexistent/site.yaml", NULL), -ENOENT);
}

/* ---- every error of a file, warnings, meter-only sites, fail-safe keys -------------------- */

static void assert_item(unsigned i, bool is_warning, int line, const char *text)
{
	assert_true(i < diag.n);
	if (diag.items[i].is_warning != is_warning || diag.items[i].line != line ||
	    strcmp(diag.items[i].text, text) != 0)
		fail_msg("item %u: %s %d '%s'\n  want %s %d '%s'", i,
			 diag.items[i].is_warning ? "WARN" : "ERROR", diag.items[i].line,
			 diag.items[i].text, is_warning ? "WARN" : "ERROR", line, text);
}

static void test_reports_all_three_errors_of_a_file_with_lines_and_keys(void **state)
{
	char path[4200], want[3][4400];
	int n = 0;

	(void)state;
	path_of(path, sizeof(path), "tests/control/configs/bad/three-errors.yaml");
	snprintf(want[0], sizeof(want[0]), "%s:3: site.cycle: must be 1ms..10s, got 20s", path);
	snprintf(want[1], sizeof(want[1]),
		 "%s:8: devices.bess[0].power_kw: must be 50..250, got 300", path);
	snprintf(want[2], sizeof(want[2]),
		 "%s:14: devices.bess[1].modbus.port: must be 1..65535, got 70000", path);
	assert_int_equal(cfg_load_diag(&cfg, path, &diag), -EINVAL);
	assert_int_equal(diag.nerrors, 3);
	assert_int_equal(diag.nwarnings, 0);
	assert_int_equal(diag.ndropped, 0);
	assert_int_equal(diag.n, 3);
	assert_item(0, false, 3, want[0]);
	assert_item(1, false, 8, want[1]);
	assert_item(2, false, 14, want[2]);
	/* A struct that failed is not used: the defaults, no devices. */
	assert_int_equal(cfg.nbess, 0);
	assert_int_equal(cfg.site.cycle_ns, 100 * MS);
	/* cfg_load() keeps its contract: the first error only. */
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want[0]);
	/* From memory the same, named by the given name. */
	{
		static char text[4096];
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		n = (int)read(fd, text, sizeof(text));
		close(fd);
		assert_true(n > 0);
		assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, (size_t)n, &diag), -EINVAL);
		assert_int_equal(diag.n, 3);
		assert_item(2, false, 14,
			    "t.yaml:14: devices.bess[1].modbus.port: must be 1..65535, got 70000");
	}
}

/* A check that spans keys runs last but is said at its own line: file order, not walk order. */
static void test_orders_cross_key_errors_by_their_line(void **state)
{
	static const char text[] = "site:\n"
				   "  soe_min_pct: 60\n"
				   "  soe_max_pct: 50\n"
				   "  colour: red\n" BESS5 "      block_kw: 0\n";

	(void)state;
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), -EINVAL);
	assert_int_equal(diag.nerrors, 3);
	assert_item(0, false, 2,
		    "t.yaml:2: site.soe_min_pct: must not exceed site.soe_max_pct (50), got 60");
	assert_item(1, false, 4,
		    "t.yaml:4: site.colour: unknown key (want cycle, read_window, stale_after, "
		    "heartbeat, ramp_kw_per_s, soe_min_pct, soe_max_pct, grid_meter, strategy)");
	assert_item(2, false, 10, "t.yaml:10: devices.bess[0].block_kw: must be 1..250, got 0");
	/* A YAML syntax error stops the parse: one error, whatever else is wrong. */
	assert_int_equal(
	    cfg_parse_diag(&cfg, "t.yaml", "site: {cycle: 20s\ndevices: [\n", 28, &diag), -EINVAL);
	assert_int_equal(diag.nerrors, 1);
	assert_non_null(strstr(diag.items[0].text, ": YAML: "));
	/* A cannot-open is one error without a line. */
	assert_int_equal(cfg_load_diag(&cfg, "/nonexistent/site.yaml", &diag), -ENOENT);
	assert_int_equal(diag.nerrors, 1);
	assert_item(0, false, 0, "/nonexistent/site.yaml: cannot open: No such file or directory");
}

/*
 * 40 bad devices and, above them, one cross-key error found after all of them: the first
 * CFG_DIAG_MAX in file order are kept (the cross-key one first), the rest counted.
 */
static void test_counts_errors_beyond_the_diag_limit_in_ndropped(void **state)
{
	static char text[16384];
	char want[128];
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text),
			     "site:\n  soe_min_pct: 60\n  soe_max_pct: 50\ndevices:\n  bess:\n");
	for (unsigned i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "    - {id: b%u, type: powerpack, power_kw: 300, modbus: "
				      "{host: 10.0.0.%u}}\n",
				      i, i + 1);
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, n, &diag), -EINVAL);
	assert_int_equal(diag.nerrors, 41);
	assert_int_equal(diag.nwarnings, 0);
	assert_int_equal(diag.n, CFG_DIAG_MAX);
	assert_int_equal(diag.ndropped, 41 - CFG_DIAG_MAX);
	assert_item(0, false, 2,
		    "t.yaml:2: site.soe_min_pct: must not exceed site.soe_max_pct (50), got 60");
	for (unsigned i = 1; i < CFG_DIAG_MAX; i++) {
		snprintf(want, sizeof(want),
			 "t.yaml:%u: devices.bess[%u].power_kw: must be 50..250, got 300", 5 + i,
			 i - 1);
		assert_item(i, false, (int)(5 + i), want);
	}
	assert_int_equal(cfg_parse(&cfg, "t.yaml", text, n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, diag.items[0].text);
}

static void test_warns_where_one_lost_reply_makes_a_device_stale(void **state)
{
	char path[4200], text[512];

	(void)state;
	/* The seed's BESS block: accepted, with the warning at its timeout. */
	assert_int_equal(cfg_parse_diag(&cfg, "site.yaml", seed_bess, strlen(seed_bess), &diag), 0);
	assert_int_equal(cfg.nbess, 1);
	assert_int_equal(diag.nerrors, 0);
	assert_int_equal(diag.nwarnings, 1);
	assert_item(0, true, 10,
		    "site.yaml:10: devices.bess[0].modbus.timeout: 5s + retry_backoff 100ms >= "
		    "site.stale_after 1s: one lost reply makes uuid-here stale (0 kW)");
	/* cfg_parse() accepts it, and a warning is no error. */
	assert_int_equal(parse(seed_bess), 0);
	assert_string_equal(err, "");
	/* The defaults: no warning. */
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", BESS5, strlen(BESS5), &diag), 0);
	assert_int_equal(diag.nwarnings + diag.nerrors + diag.n, 0);
	assert_true(cfg.bess[0].modbus.timeout_ns + cfg.bess[0].modbus.retry_backoff_ns <
		    cfg.site.stale_after_ns);
	/* At the limit (>=) it warns, 1 ms under it does not. */
	snprintf(text, sizeof(text), BESS_HEAD HOST "        timeout: 900ms\n");
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), 0);
	assert_item(0, true, 7,
		    "t.yaml:7: devices.bess[0].modbus.timeout: 900ms + retry_backoff 100ms >= "
		    "site.stale_after 1s: one lost reply makes b1 stale (0 kW)");
	snprintf(text, sizeof(text), BESS_HEAD HOST "        timeout: 899ms\n");
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), 0);
	assert_int_equal(diag.nwarnings, 0);
	/* Only the backoff given: said there. Neither given: said at the modbus block. */
	snprintf(text, sizeof(text), BESS_HEAD HOST "        retry_backoff: 1s\n");
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), 0);
	assert_item(0, true, 7,
		    "t.yaml:7: devices.bess[0].modbus.retry_backoff: timeout 250ms + 1s >= "
		    "site.stale_after 1s: one lost reply makes b1 stale (0 kW)");
	snprintf(text, sizeof(text), "site: {stale_after: 350ms}\n" BESS_HEAD HOST);
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), 0);
	assert_item(0, true, 6,
		    "t.yaml:6: devices.bess[0].modbus: timeout 250ms + retry_backoff 100ms >= "
		    "site.stale_after 350ms: one lost reply makes b1 stale (0 kW)");
	/* The seed's two blocks: the BESS and the meter, in file order, warnings only. */
	path_of(path, sizeof(path), "tests/control/configs/seed.yaml");
	assert_int_equal(cfg_load_diag(&cfg, path, &diag), 0);
	assert_int_equal(diag.nwarnings, 2);
	assert_int_equal(diag.items[0].line, 13);
	assert_non_null(strstr(diag.items[0].text, ":13: devices.bess[0].modbus.timeout: 5s + "
						   "retry_backoff 100ms >= site.stale_after 1s: "
						   "one lost reply makes uuid-bess stale (0 kW)"));
	assert_non_null(strstr(diag.items[1].text, ":23: devices.meters[0].modbus.timeout: 5s + "
						   "retry_backoff 100ms >= site.stale_after 1s: "
						   "one lost reply makes uuid-meter stale"));
	/* The grid meter of peak shaving takes the site to 0 kW as well. */
	path_of(path, sizeof(path), "tests/control/configs/design.yaml");
	if (sysconf(_SC_NPROCESSORS_CONF) >= 2) {
		assert_int_equal(cfg_load_diag(&cfg, path, &diag), 0);
		assert_int_equal(diag.nwarnings, 2);
		assert_non_null(strstr(diag.items[1].text,
				       ":40: devices.meters[0].modbus.timeout: 5s + retry_backoff "
				       "100ms >= site.stale_after 1s: one lost reply makes meter-1 "
				       "stale (0 kW at every BESS: peak_shaving needs it)"));
	}
	/* Errors and warnings together: both said, in file order; the config fails. */
	snprintf(text, sizeof(text),
		 "%s    - {id: b2, type: powerpack, power_kw: 10, modbus: "
		 "{host: 127.0.0.2}}\n",
		 seed_bess);
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), -EINVAL);
	assert_int_equal(diag.nerrors, 1);
	assert_int_equal(diag.nwarnings, 1);
	assert_true(diag.items[0].is_warning && diag.items[0].line == 10);
	assert_item(1, false, 12, "t.yaml:12: devices.bess[1].power_kw: must be 50..250, got 10");
	/* A device with an error is not judged for its timing; a bad stale_after judges none. */
	snprintf(text, sizeof(text), "%s      power_kw: 10\n", seed_bess);
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), -EINVAL);
	assert_int_equal(diag.nwarnings, 0);
	assert_int_equal(diag.nerrors, 1);
	snprintf(text, sizeof(text), "site: {stale_after: 1}\n%s", seed_bess);
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), -EINVAL);
	assert_int_equal(diag.nwarnings, 0);
	assert_int_equal(diag.nerrors, 1);
}

static void test_new_retry_defaults_keep_the_seeds_shape(void **state)
{
	const struct cfg_modbus *m = &cfg.bess[0].modbus;

	(void)state;
	assert_int_equal(parse(BESS5), 0);
	assert_int_equal(m->timeout_ns, 250 * MS);
	assert_int_equal(m->retry_backoff_ns, 100 * MS);
	assert_int_equal(m->retry_count, 3);
	assert_int_equal(cfg.site.stale_after_ns, SEC);
	/* The seed's rule (retry k waits k x backoff) at these: all retries fit in stale_after. */
	assert_true(m->timeout_ns * 3 + m->retry_backoff_ns * (1 + 2) <
		    2 * cfg.site.stale_after_ns);
	assert_true(m->timeout_ns + m->retry_backoff_ns < cfg.site.stale_after_ns);
}

static void test_accepts_a_meter_only_site_in_monitor_mode(void **state)
{
	static const char with_bess[] = "site: {strategy: {mode: monitor}}\n" BESS5;
	static const char explicit_monitor[] =
	    "site: {grid_meter: m1, strategy: {mode: monitor}}\n"
	    "devices:\n  meters:\n    - {id: m1, type: acuvim2, modbus: {host: 127.0.0.1}}\n";
	char path[4200];

	(void)state;
	/* The seed's meter block alone: monitor by default, with the 5 s timeout warning. */
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", seed_meter, strlen(seed_meter), &diag), 0);
	assert_int_equal(cfg.nbess, 0);
	assert_int_equal(cfg.nmeters, 1);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MONITOR);
	assert_string_equal(cfg_strategy_name(cfg.site.mode), "monitor");
	assert_int_equal(diag.nerrors, 0);
	assert_int_equal(diag.nwarnings, 1);
	assert_item(0, true, 10,
		    "t.yaml:10: devices.meters[0].modbus.timeout: 5s + retry_backoff 100ms >= "
		    "site.stale_after 1s: one lost reply makes uuid-here stale");
	assert_round_trip(&cfg);
	/* Said outright, with a grid meter for the reports. */
	assert_int_equal(parse(explicit_monitor), 0);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MONITOR);
	assert_int_equal(cfg.site.grid_meter_index, 0);
	assert_round_trip(&cfg);
	/* The example file: clean. */
	path_of(path, sizeof(path), "tests/control/configs/meters-only.yaml");
	assert_int_equal(cfg_load_diag(&cfg, path, &diag), 0);
	assert_int_equal(diag.nerrors + diag.nwarnings, 0);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MONITOR);
	/* A site with BESS may choose monitor (commissioning); a 5 s timeout then says no 0 kW. */
	assert_int_equal(parse(with_bess), 0);
	assert_int_equal(cfg.nbess, 1);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MONITOR);
	assert_round_trip(&cfg);
	/* Without mode, a site with BESS stays manual. */
	assert_int_equal(parse(BESS5), 0);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MANUAL);
	/* Meters only, peak_shaving: the key named, the config refused. */
	assert_int_equal(parse("site:\n  grid_meter: m1\n  strategy:\n    mode: peak_shaving\n"
			       "devices:\n  meters:\n    - {id: m1, type: acuvim2, modbus: {host: "
			       "127.0.0.1}}\n"),
			 -EINVAL);
	assert_string_equal(err, "t.yaml:4: site.strategy.mode: peak_shaving needs a BESS to "
				 "control, and devices.bess has none: a site of meters only runs "
				 "mode monitor");
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MANUAL); /* the defaults again */
}

static void test_parses_range_checks_and_dumps_the_fail_safe_keys(void **state)
{
	static char text[65536];
	static const char keys[] = BESS5 "      command_source_default: 65535\n"
					 "      heartbeat_register: 0\n";
	const struct cfg_bess *b = &cfg.bess[0];
	char path[4200];
	int n;

	(void)state;
	/* Defaults: 0 after a restart, no heartbeat. */
	assert_int_equal(parse(BESS5), 0);
	assert_int_equal(b->command_source_default, 0);
	assert_int_equal(b->heartbeat_register, -1);
	n = cfg_dump(&cfg, text, sizeof(text));
	assert_true(n > 0);
	assert_non_null(strstr(text, "      command_source_default: 0"));
	assert_non_null(strstr(text, "      heartbeat_register: null"));
	assert_round_trip(&cfg);
	/* The ends of the range. */
	assert_int_equal(parse(keys), 0);
	assert_int_equal(b->command_source_default, 65535);
	assert_int_equal(b->heartbeat_register, 0);
	n = cfg_dump(&cfg, text, sizeof(text));
	assert_true(n > 0);
	assert_non_null(strstr(text, "      command_source_default: 65535"));
	assert_non_null(strstr(text, "      heartbeat_register: 0\n"));
	assert_round_trip(&cfg);
	/* The example: per-BESS values, an explicit null. */
	path_of(path, sizeof(path), "tests/control/configs/failsafe.yaml");
	assert_int_equal(cfg_load_diag(&cfg, path, &diag), 0);
	assert_int_equal(diag.nerrors + diag.nwarnings, 0);
	assert_int_equal(cfg.site.mode, CFG_STRATEGY_MONITOR);
	assert_int_equal(cfg.bess[0].command_source_default, 1);
	assert_int_equal(cfg.bess[0].heartbeat_register, 2100);
	assert_int_equal(cfg.bess[1].command_source_default, 0);
	assert_int_equal(cfg.bess[1].heartbeat_register, -1);
	n = cfg_dump(&cfg, text, sizeof(text));
	assert_true(n > 0);
	assert_non_null(strstr(text, "      heartbeat_register: 2100\n"));
	assert_round_trip(&cfg);
	/* Out of range and reserved, each named, all in one pass. */
	snprintf(text, sizeof(text),
		 BESS5 "      command_source_default: 70000\n      heartbeat_register: 2026\n"
		       "    - {id: b2, type: powerpack, heartbeat_register: 65536, modbus: {host: "
		       "127.0.0.2}}\n");
	assert_int_equal(cfg_parse_diag(&cfg, "t.yaml", text, strlen(text), &diag), -EINVAL);
	assert_int_equal(diag.nerrors, 3);
	assert_item(
	    0, false, 6,
	    "t.yaml:6: devices.bess[0].command_source_default: must be 0..65535, got 70000");
	assert_item(
	    1, false, 7,
	    "t.yaml:7: devices.bess[0].heartbeat_register: 2026 is the powerpack profile's soe "
	    "register (soe_pct): the heartbeat needs a register of its own (not 2000, 2008, "
	    "2010, 2026 or 2028)");
	assert_item(2, false, 8,
		    "t.yaml:8: devices.bess[1].heartbeat_register: must be 0..65535, got 65536");
}

/* ---- profile: PATH ------------------------------------------------------------------ */

static const char site_bess_profile[] =
    "name: site-bess\n"
    "kind: bess\n"
    "defaults: { unit_id: 7 }\n"
    "points:\n"
    "  - { name: state, address: 100, type: u16 }\n"
    "  - { name: setpoint_kw, address: 101, type: i16, access: rw }\n"
    "  - { name: owner, address: 102, type: u16, access: rw }\n"
    "  - { name: soc, address: 103, type: u16, unit: \"%\" }\n"
    "enums:\n"
    "  state:\n"
    "    values: { 0: OFF, 5: RUN, 9: TRIP }\n"
    "    ready: RUN\n"
    "    fault: TRIP\n"
    "roles: { status: state, target_power: setpoint_kw, "
    "command_source: owner, soe: soc }\n"
    "limits:\n"
    "  setpoint_kw: { min: -120, max: 120 }\n";

static const char site_meter_profile[] = "name: site-meter\n"
					 "kind: meter\n"
					 "defaults: { word_order: CDAB }\n"
					 "points:\n"
					 "  - { name: p_kw, address: 0, type: f32, unit: kW }\n"
					 "roles: { grid_power: p_kw }\n";

/* A directory of its own for a site and its profile files. */
struct site_dir {
	char dir[64];
	char site[128];
};

static void site_dir_init(struct site_dir *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/flux-test-profile-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->site, sizeof(d->site), "%s/site.yaml", d->dir);
}

static void site_dir_put(const struct site_dir *d, const char *name, const char *text)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	write_file(path, text, strlen(text));
}

static void site_dir_exit(struct site_dir *d)
{
	static const char *const names[] = { "site.yaml", "bess.yaml",	"meter.yaml",
					     "bad.yaml",  "small.yaml", "nosource.yaml" };
	char path[192];

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->dir, names[i]);
		unlink(path);
	}
	rmdir(d->dir);
}

/* Load d's site.yaml, written from text. Returns cfg_load()'s result (message in err). */
static int load_site(const struct site_dir *d, const char *text)
{
	site_dir_put(d, "site.yaml", text);
	return cfg_load(&cfg, d->site, err, sizeof(err));
}

static void test_profile_key_loads_a_site_file_relative_to_the_config(void **state)
{
	static const char text[] =
	    "devices:\n"
	    "  bess:\n"
	    "    - {id: b1, profile: bess.yaml, modbus: {host: 127.0.0.1}}\n"
	    "    - {id: b2, profile: ./bess.yaml, status_ready: 0,\n"
	    "       modbus: {host: 127.0.0.2, address: 3}}\n"
	    "    - {id: b3, type: powerpack, modbus: {host: 127.0.0.3}}\n"
	    "  meters:\n"
	    "    - {id: m1, profile: meter.yaml, modbus: {host: 127.0.0.4}}\n"
	    "    - {id: m2, profile: meter.yaml, word_order: abcd,\n"
	    "       modbus: {host: 127.0.0.5}}\n";
	static char dump[65536];
	const struct prof_profile *p;
	struct site_dir d;
	int n;

	(void)state;
	site_dir_init(&d);
	site_dir_put(&d, "bess.yaml", site_bess_profile);
	site_dir_put(&d, "meter.yaml", site_meter_profile);
	if (load_site(&d, text))
		fail_msg("%s", err);
	/* One file, loaded once, however many devices (and spellings) name it. */
	assert_int_equal(cfg.nprofiles, 2);
	p = cfg.bess[0].profile;
	assert_non_null(p);
	assert_ptr_equal(cfg.bess[1].profile, p);
	assert_string_equal(p->name, "site-bess");
	assert_int_equal(p->kind, PROF_KIND_BESS);
	assert_int_equal(cfg.bess[0].profile_file, cfg.bess[1].profile_file);
	assert_string_equal(cfg.bess[0].type, "");
	/* The profile's READY code and unit id, where the site gives none. */
	assert_int_equal(cfg.bess[0].status_ready, 5);
	assert_int_equal(cfg.bess[0].modbus.address, 7);
	assert_int_equal(cfg.bess[1].status_ready, 0);
	assert_int_equal(cfg.bess[1].modbus.address, 3);
	/* type: still means the shipped profile, READY 1. */
	assert_string_equal(cfg.bess[2].type, "powerpack");
	assert_int_equal(cfg.bess[2].profile_file, -1);
	assert_string_equal(cfg.bess[2].profile->name, "powerpack");
	assert_int_equal(cfg.bess[2].status_ready, 1);
	/* The meter's word order is its profile's unless the site says. */
	assert_string_equal(cfg.meters[0].profile->name, "site-meter");
	assert_int_equal(cfg.meters[0].word_order, MB_ORDER_CDAB);
	assert_int_equal(cfg.meters[1].word_order, MB_ORDER_ABCD);
	/* The dump names the files by full path, and reads back from anywhere. */
	n = cfg_dump(&cfg, dump, sizeof(dump));
	assert_true(n > 0);
	assert_non_null(strstr(dump, "      profile: \"/"));
	assert_non_null(strstr(dump, "/bess.yaml\"\n"));
	assert_int_equal(cfg_parse(&cfg2, "elsewhere/dump.yaml", dump, (size_t)n, err, sizeof(err)),
			 0);
	assert_int_equal(cfg2.nprofiles, 2);
	assert_string_equal(cfg2.bess[1].profile->name, "site-bess");
	assert_int_equal(cfg2.bess[1].status_ready, 0);
	assert_int_equal(cfg2.meters[0].word_order, MB_ORDER_CDAB);
	assert_ptr_equal(cfg2.bess[2].profile, cfg.bess[2].profile); /* shipped: shared */
	cfg_free(&cfg2);
	/* cfg_free() gives the files back and leaves the defaults; twice is fine. */
	cfg_free(&cfg);
	assert_int_equal(cfg.nprofiles, 0);
	assert_int_equal(cfg.nbess, 0);
	cfg_free(&cfg);
	site_dir_exit(&d);
}

static void test_profile_key_errors_name_the_config_key_and_the_profile_file(void **state)
{
	static const char bad_yaml[] = "name: bad\n"
				       "kind: meter\n"
				       "points:\n"
				       "  - { name: p_kw, address: 0, type: f32 }\n"
				       "  - { name: q, address: 1, type: float }\n"
				       "roles: { grid_power: p_kw }\n";
	static const char small[] =
	    "name: small\n"
	    "kind: bess\n"
	    "points:\n"
	    "  - { name: st, address: 0, type: u16 }\n"
	    "  - { name: sp, address: 1, type: i16, access: rw }\n"
	    "  - { name: src, address: 2, type: u16, access: rw }\n"
	    "  - { name: soe, address: 3, type: u16 }\n"
	    "enums: { st: { values: { 1: ON }, ready: ON } }\n"
	    "roles: { status: st, target_power: sp, command_source: src, soe: soe }\n"
	    "limits: { sp: { min: -60, max: 80 } }\n";
	static const char nosource[] = "name: nosource\n"
				       "kind: bess\n"
				       "points:\n"
				       "  - { name: st, address: 0, type: u16 }\n"
				       "  - { name: sp, address: 1, type: i16, access: rw }\n"
				       "  - { name: soe, address: 3, type: u16 }\n"
				       "enums: { st: { values: { 1: ON }, ready: ON } }\n"
				       "roles: { status: st, target_power: sp, soe: soe }\n";
	char want[512];
	struct site_dir d;

	(void)state;
	site_dir_init(&d);
	site_dir_put(&d, "bad.yaml", bad_yaml);
	site_dir_put(&d, "meter.yaml", site_meter_profile);
	site_dir_put(&d, "small.yaml", small);
	site_dir_put(&d, "nosource.yaml", nosource);

	/* A missing file: the config's file:line:key, then the loader's "FILE: cannot read". */
	assert_int_equal(
	    load_site(&d, "devices:\n  meters:\n"
			  "    - {id: m1, profile: nope.yaml, modbus: {host: 127.0.0.1}}\n"),
	    -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: devices.meters[0].profile: %s/nope.yaml: cannot read: No such file or "
		 "directory",
		 d.site, d.dir);
	assert_string_equal(err, want);
	assert_int_equal(cfg.nmeters, 0); /* defaults, never half a config */

	/* A directory is no profile either. */
	assert_int_equal(load_site(&d, "devices:\n  meters:\n"
				       "    - {id: m1, profile: /, modbus: {host: 127.0.0.1}}\n"),
			 -EINVAL);
	assert_non_null(strstr(err, ":3: devices.meters[0].profile: /: "));

	/* A bad profile: its own file:line: key and message after the config's. */
	assert_int_equal(
	    load_site(&d, "devices:\n  meters:\n"
			  "    - {id: m1, profile: bad.yaml, modbus: {host: 127.0.0.1}}\n"),
	    -EINVAL);
	snprintf(want, sizeof(want), "%s:3: devices.meters[0].profile: %s/bad.yaml:5: ", d.site,
		 d.dir);
	if (strncmp(err, want, strlen(want)))
		fail_msg("got '%s'\nwant '%s...'", err, want);
	assert_non_null(strstr(err, "float"));

	/* A meter profile under bess, a BESS profile under meters. */
	assert_int_equal(
	    load_site(&d, "devices:\n  bess:\n"
			  "    - {id: b1, profile: meter.yaml, modbus: {host: 127.0.0.1}}\n"),
	    -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: devices.bess[0].profile: meter.yaml is a meter profile (kind: meter), but "
		 "devices.bess takes kind bess",
		 d.site);
	assert_string_equal(err, want);
	assert_int_equal(load_site(&d,
				   "devices:\n  meters:\n"
				   "    - {id: m1, type: powerpack, modbus: {host: 127.0.0.1}}\n"),
			 -EINVAL);
	assert_non_null(strstr(err,
			       ":3: devices.meters[0].type: unsupported type 'powerpack' here: "
			       "want a meter profile (powerpack is a bess"));

	/* type and profile both: said at the second one, naming the first one's line. */
	assert_int_equal(load_site(&d,
				   "devices:\n  meters:\n    - id: m1\n      type: acuvim2\n"
				   "      profile: meter.yaml\n      modbus: {host: 127.0.0.1}\n"),
			 -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:5: devices.meters[0].profile: give type or profile, not both (type is at "
		 "line 4)",
		 d.site);
	assert_string_equal(err, want);

	/* An unknown type names the shipped ones. */
	assert_int_equal(load_site(&d,
				   "devices:\n  meters:\n"
				   "    - {id: m1, type: acuvim3, modbus: {host: 127.0.0.1}}\n"),
			 -EINVAL);
	assert_non_null(strstr(err, ":3: devices.meters[0].type: unknown type 'acuvim3': want a "
				    "shipped profile (powerpack, acuvim2"));

	/* What the controller needs of a BESS profile beyond what the loader checks. */
	assert_int_equal(load_site(&d, "devices:\n  bess:\n"
				       "    - {id: b1, profile: nosource.yaml, modbus: {host: "
				       "127.0.0.1}}\n"),
			 -EINVAL);
	assert_non_null(strstr(err, ":3: devices.bess[0].profile: profile 'nosource' has no "
				    "command_source role"));
	/* Its target power limits cap the rated power: -60..80 allows 60 kW each way. */
	assert_int_equal(load_site(&d, "devices:\n  bess:\n"
				       "    - {id: b1, profile: small.yaml, power_kw: 70,\n"
				       "       modbus: {host: 127.0.0.1}}\n"),
			 -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: devices.bess[0].power_kw: must be at most 60: the small profile's sp takes "
		 "-60..80, got 70",
		 d.site);
	assert_string_equal(err, want);
	assert_int_equal(load_site(&d, "devices:\n  bess:\n"
				       "    - {id: b1, profile: small.yaml, power_kw: 60,\n"
				       "       modbus: {host: 127.0.0.1}}\n"),
			 0);
	assert_int_equal(cfg.nprofiles, 1);
	cfg_free(&cfg);
	/* heartbeat_role: true on a profile without a heartbeat role. */
	assert_int_equal(load_site(&d, "devices:\n  bess:\n"
				       "    - {id: b1, profile: small.yaml, heartbeat_role: true,\n"
				       "       modbus: {host: 127.0.0.1}}\n"),
			 -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: devices.bess[0].heartbeat_role: the small profile has no heartbeat role: "
		 "name the register with heartbeat_register",
		 d.site);
	assert_string_equal(err, want);
	site_dir_exit(&d);
}

/* A path that does not fit, as given or joined to the config's directory, is said, not cut. */
static void test_profile_paths_too_long_are_refused(void **state)
{
	static char text[8192], name[400], arg[CFG_PATH_MAX + 1];

	(void)state;
	memset(arg, 'a', sizeof(arg) - 1);
	snprintf(text, sizeof(text),
		 "devices:\n  meters:\n    - {id: m1, profile: %s, modbus: {host: 127.0.0.1}}\n",
		 arg);
	assert_int_equal(parse(text), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:3: devices.meters[0].profile: too long: at most 4095"));
	/* 4000 bytes fit the key, not under a 300-byte directory. */
	arg[4000] = '\0';
	memset(name, 'd', 300);
	strcpy(name + 300, "/site.yaml");
	snprintf(text, sizeof(text),
		 "devices:\n  meters:\n    - {id: m1, profile: %s, modbus: {host: 127.0.0.1}}\n",
		 arg);
	assert_int_equal(cfg_parse(&cfg, name, text, strlen(text), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: devices.meters[0].profile: path too long"));
}

/* parse -> dump -> parse is the identity for every example config of the tree. */
static void test_every_example_config_round_trips_through_the_dump(void **state)
{
	char dir[4200], path[4200 + 258];
	unsigned nfiles = 0;
	struct dirent *e;
	DIR *dp;

	(void)state;
	path_of(path, sizeof(path), "deploy/site.yaml");
	assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), 0);
	assert_round_trip(&cfg);
	path_of(dir, sizeof(dir), "tests/control/configs");
	dp = opendir(dir);
	assert_non_null(dp);
	while ((e = readdir(dp))) {
		size_t len = strlen(e->d_name);
		int ret;

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ret = cfg_load(&cfg, path, err, sizeof(err));
		if (ret && sysconf(_SC_NPROCESSORS_CONF) < 2 && strstr(err, "rt.io_cpu"))
			continue; /* design.yaml pins to CPU 1 */
		if (ret)
			fail_msg("%s", err);
		assert_round_trip(&cfg);
		nfiles++;
	}
	closedir(dp);
	printf("round trip: deploy/site.yaml and %u example configs\n", nfiles);
	assert_true(nfiles >= 4);
}

/* xorshift32: the same 2000 mutants on every run. */
static uint32_t rng = 2463534242u;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static const char *const tokens[] = {
	":",
	" ",
	"\n",
	"- ",
	"[",
	"]",
	"{",
	"}",
	",",
	"\"",
	"'",
	"#",
	"&a ",
	"*a",
	"!!str ",
	"---\n",
	"...\n",
	"\t",
	"\xff",
	"\\",
	"~",
	"null",
	"0",
	"-1",
	"1e400",
	"100ms",
	"99999999999999999999",
	"? ",
	"<<: ",
	"id: ",
	"bess",
	"meters",
	"host: ",
	"type: acuvim2",
	"  ",
	"powerpack",
	"%YAML 1.1\n",
};

/* One random edit of buf (length *len, capacity cap). */
static void mutate(char *buf, size_t *len, size_t cap)
{
	size_t at = *len ? next() % *len : 0, n;
	const char *tok;

	switch (next() % 5) {
	case 0: /* overwrite a byte */
		if (*len)
			buf[at] = (char)(next() & 0xff);
		break;
	case 1: /* delete up to 16 bytes */
		n = next() % 16;
		n = n > *len - at ? *len - at : n;
		memmove(buf + at, buf + at + n, *len - at - n);
		*len -= n;
		break;
	case 2: /* duplicate up to 64 bytes */
		n = next() % 64;
		n = n > *len - at ? *len - at : n;
		if (*len + n <= cap) {
			memmove(buf + at + n, buf + at, *len - at);
			*len += n;
		}
		break;
	default: /* insert a token */
		tok = tokens[next() % (sizeof(tokens) / sizeof(tokens[0]))];
		n = strlen(tok);
		if (*len + n <= cap) {
			memmove(buf + at + n, buf + at, *len - at);
			memcpy(buf + at, tok, n);
			*len += n;
		}
		break;
	}
}

/*
 * cfg_parse_diag() on the same text: the same verdict, items in file order, counts that add
 * up, the first error the one cfg_parse() gave, and every text "f.yaml:...".
 */
static void assert_diag_agrees(const char *buf, size_t len, int ret, unsigned mutant)
{
	static struct cfg cfg3;
	int dret = cfg_parse_diag(&cfg3, "f.yaml", buf, len, &diag);
	bool has_err = false;

	if (dret != ret)
		fail_msg("mutant %u: cfg_parse %d, cfg_parse_diag %d", mutant, ret, dret);
	assert_true(diag.n <= CFG_DIAG_MAX);
	assert_int_equal(diag.ndropped, diag.nerrors + diag.nwarnings - diag.n);
	assert_true(ret != -EINVAL || diag.nerrors > 0);
	assert_true(ret != 0 || diag.nerrors == 0);
	for (unsigned k = 0; k < diag.n; k++) {
		assert_true(k == 0 || diag.items[k - 1].line <= diag.items[k].line);
		assert_int_equal(strncmp(diag.items[k].text, "f.yaml:", 7), 0);
		if (!diag.items[k].is_warning && !has_err) {
			has_err = true;
			if (strcmp(diag.items[k].text, err) != 0)
				fail_msg("mutant %u: first error '%s', cfg_parse said '%s'", mutant,
					 diag.items[k].text, err);
		}
	}
}

static void test_survives_2000_mutations_of_a_valid_config(void **state)
{
	static char seed[8192], buf[16384];
	char path[4200];
	unsigned ok = 0, rejected = 0;
	size_t seed_len;
	int fd;

	(void)state;
	path_of(path, sizeof(path), "tests/control/configs/design.yaml");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	seed_len = (size_t)read(fd, seed, sizeof(seed));
	close(fd);
	assert_true(seed_len > 0 && seed_len < sizeof(seed));
	for (unsigned i = 0; i < FUZZ_ROUNDS; i++) {
		size_t len = seed_len;
		unsigned edits = 1 + next() % 4;
		int ret;

		memcpy(buf, seed, seed_len);
		for (unsigned e = 0; e < edits; e++)
			mutate(buf, &len, sizeof(buf));
		err[0] = '\0';
		ret = cfg_parse(&cfg, "f.yaml", buf, len, err, sizeof(err));
		assert_diag_agrees(buf, len, ret, i);
		if (ret == 0) {
			ok++;
			assert_true(cfg.nbess + cfg.nmeters >= 1);
			assert_true(cfg.nbess || cfg.site.mode == CFG_STRATEGY_MONITOR);
			assert_true(cfg.site.read_window_ns < cfg.site.cycle_ns);
			assert_round_trip(&cfg);
		} else if (ret == -EINVAL) {
			rejected++;
			if (strncmp(err, "f.yaml:", 7) != 0 || strlen(err) < 12)
				fail_msg("mutant %u: message '%s'", i, err);
		} else {
			fail_msg("mutant %u: returned %d (%s)", i, ret, err);
		}
	}
	printf("mutants: %u accepted, %u rejected\n", ok, rejected);
	assert_true(rejected > FUZZ_ROUNDS / 2);
	assert_true(ok > 0);
}

/* The source tree is the parent of BUILD/ (this binary is BUILD/tests/control/test_config). */
static int find_root(void)
{
	ssize_t n = readlink("/proc/self/exe", root, sizeof(root) - 1);

	if (n < 0)
		return -1;
	root[n] = '\0';
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(root, '/');

		if (!slash)
			return -1;
		*slash = '\0';
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_the_seed_bess_block_as_written_with_defaults),
		cmocka_unit_test(test_accepts_the_seed_blocks_combined_under_one_devices_key),
		cmocka_unit_test(test_seed_blocks_pasted_verbatim_clash_on_their_shared_id),
		cmocka_unit_test(test_accepts_the_seed_serial_block_with_a_device_path),
		cmocka_unit_test(test_heartbeat_role_takes_the_profiles_register),
		cmocka_unit_test(test_control_quality_keys_parse_and_dump_back),
		cmocka_unit_test(test_accepts_the_design_example_with_every_key),
		cmocka_unit_test(test_design_example_verbatim_names_its_missing_grid_meter),
		cmocka_unit_test(test_deploy_site_yaml_loads_clean),
		cmocka_unit_test(test_rejects_each_bad_config_with_file_line_and_key),
		cmocka_unit_test(test_rejects_out_of_range_cycle_with_the_documented_message),
		cmocka_unit_test(test_rejects_more_devices_than_the_table_holds),
		cmocka_unit_test(test_rejects_a_cpu_this_machine_lacks),
		cmocka_unit_test(test_accepts_every_unit_flow_style_and_optional_keys),
		cmocka_unit_test(test_dump_parses_back_to_the_same_config),
		cmocka_unit_test(test_load_of_a_missing_file_gives_enoent_naming_the_path),
		cmocka_unit_test(test_rejects_files_over_one_mib),
		cmocka_unit_test(test_load_stops_an_endless_stream_at_one_mib),
		cmocka_unit_test(test_load_reports_a_failed_read_with_its_errno),
		cmocka_unit_test(test_reports_reader_errors_at_their_line_from_a_file),
		cmocka_unit_test(test_tolerates_a_null_or_tiny_error_buffer),
		cmocka_unit_test(test_reports_all_three_errors_of_a_file_with_lines_and_keys),
		cmocka_unit_test(test_orders_cross_key_errors_by_their_line),
		cmocka_unit_test(test_counts_errors_beyond_the_diag_limit_in_ndropped),
		cmocka_unit_test(test_warns_where_one_lost_reply_makes_a_device_stale),
		cmocka_unit_test(test_new_retry_defaults_keep_the_seeds_shape),
		cmocka_unit_test(test_accepts_a_meter_only_site_in_monitor_mode),
		cmocka_unit_test(test_parses_range_checks_and_dumps_the_fail_safe_keys),
		cmocka_unit_test(test_every_example_config_round_trips_through_the_dump),
		cmocka_unit_test(test_profile_key_loads_a_site_file_relative_to_the_config),
		cmocka_unit_test(test_profile_key_errors_name_the_config_key_and_the_profile_file),
		cmocka_unit_test(test_profile_paths_too_long_are_refused),
		cmocka_unit_test(test_survives_2000_mutations_of_a_valid_config),
	};

	if (find_root()) {
		printf("skipped: cannot find the source tree from /proc/self/exe\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
