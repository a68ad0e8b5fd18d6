// SPDX-License-Identifier: MIT
/*
 * Tests for control/config.c: the seed's YAML and DESIGN.md's example load with the right
 * defaults; every class of bad input gives -EINVAL and "FILE:LINE: KEY.PATH: " exactly; the
 * dump reads back to the same struct; 2000 seeded mutations of a valid config never crash.
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

#include "control/config.h"

#define MS  1000000LL
#define SEC 1000000000LL
#ifndef FUZZ_ROUNDS
#define FUZZ_ROUNDS 2000 /* -DFUZZ_ROUNDS=N for a longer run */
#endif

/* Large structs live here, not on cmocka's stack. */
static struct cfg cfg, cfg2;
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
	assert_int_equal(m->retry_backoff_ns, SEC);
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
	/* The meter block alone is a site with no BESS. */
	assert_int_equal(parse(seed_meter), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:1: devices.bess: a site needs at least one BESS"));
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

/* DESIGN.md's grid_meter "meter-id" names no meter: said with the line and the key. */
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
}

#define BESS5                                                                                      \
	"devices:\n  bess:\n    - id: b1\n      type: powerpack\n      modbus: {host: "            \
	"127.0.0.1}\n"
/* BESS5 with the modbus block as lines 5..: "      modbus:\n        host: 127.0.0.1\n" */
#define BESS_HEAD "devices:\n  bess:\n    - id: b1\n      type: powerpack\n      modbus:\n"
#define HOST	  "        host: 127.0.0.1\n"
#define PS_SITE	  "site:\n  strategy:\n    mode: peak_shaving\n"

static const struct bad {
	const char *name;
	const char *text;
	const char *prefix; /* the message starts with this */
	const char *says;   /* and contains this */
} bad[] = {
	{ "unknown top-level key", "sitee:\n  cycle: 1s\n" BESS5,
	  "t.yaml:1: sitee: ", "unknown key (want site, rt, devices)" },
	{ "seed's singular meter: key at the top", "meter:\n  type: acuvim2\n" BESS5,
	  "t.yaml:1: meter: ", "devices go under devices:" },
	{ "unknown key in modbus", BESS_HEAD HOST "        prot: 502\n",
	  "t.yaml:7: devices.bess[0].modbus.prot: ", "unknown key (want host, port, address" },
	{ "unknown key in a device", BESS5 "      colour: red\n",
	  "t.yaml:6: devices.bess[0].colour: ", "unknown key" },
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
	  "t.yaml:3: devices.bess[0]: ", "want a mapping (id, name, type, modbus...), got 'b1'" },
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
	  "want a duration: a whole number and a unit (ns, us, ms, s or m), like 250ms or 5s; "
	  "got '100'" },
	{ "duration with an unknown unit", BESS_HEAD HOST "        timeout: 5h\n",
	  "t.yaml:7: devices.bess[0].modbus.timeout: ", "want a duration" },
	{ "fractional duration", "site:\n  heartbeat: 1.5s\n" BESS5,
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
	  "t.yaml:3: devices.bess[0].id: ", "must not be empty" },
	{ "missing type", "devices:\n  bess:\n    - id: b1\n      modbus: {host: 127.0.0.1}\n",
	  "t.yaml:3: devices.bess[0].type: ", "missing (required)" },
	{ "missing modbus", "devices:\n  bess:\n    - id: b1\n      type: powerpack\n",
	  "t.yaml:3: devices.bess[0].modbus: ", "missing (required)" },
	{ "missing modbus.host", BESS_HEAD "        port: 502\n",
	  "t.yaml:6: devices.bess[0].modbus.host: ", "missing (required" },
	{ "empty modbus block", BESS_HEAD "      name: x\n",
	  "t.yaml:5: devices.bess[0].modbus.host: ", "missing (required" },
	{ "meter type under bess", "devices:\n  bess:\n    - id: b1\n      type: acuvim2\n",
	  "t.yaml:4: devices.bess[0].type: ",
	  "unsupported type 'acuvim2' here: want powerpack (acuvim2 is a meter" },
	{ "bess type under meters",
	  BESS5 "  meters:\n    - id: m1\n      type: powerpack\n      modbus: {host: 127.0.0.2}\n",
	  "t.yaml:8: devices.meters[0].type: ", "want acuvim2 (powerpack is a BESS" },
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
	{ "empty file", "", "t.yaml:1: devices.bess: ", "a site needs at least one BESS" },
	{ "only comments", "# nothing here\n", "t.yaml:1: devices.bess: ", "at least one BESS" },
	{ "no devices", "site:\n  cycle: 1s\n", "t.yaml:1: devices.bess: ", "at least one BESS" },
	{ "empty bess list", "devices:\n  bess: []\n  meters: []\n",
	  "t.yaml:2: devices.bess: ", "at least one BESS" },
	{ "seed's RTU keys without host",
	  "devices:\n  meters:\n    - id: m1\n      type: acuvim2\n      modbus:\n        address: "
	  "1\n"
	  "        baud: 9600\n        parity: none\n",
	  "t.yaml:7: devices.meters[0].modbus.baud: ",
	  "serial Modbus RTU is not supported yet; use host/port (Modbus TCP)" },
	{ "RTU key beside host", BESS_HEAD HOST "        stop_bits: 1\n",
	  "t.yaml:7: devices.bess[0].modbus.stop_bits: ", "remove it" },
	{ "unknown strategy", "site:\n  strategy: {mode: peak}\n" BESS5,
	  "t.yaml:2: site.strategy.mode: ", "want manual, soe_target or peak_shaving, got 'peak'" },
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
	  "t.yaml:3: devices.bess[0].id: ", "too long: at most 63 bytes, got 64" },
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
	    "site: {cycle: 10ms, stale_after: 2m, heartbeat: 30s, ramp_kw_per_s: 2.5e2,\n"
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
	assert_int_equal(cfg.site.heartbeat_ns, 30 * SEC);
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
	assert_non_null(strstr(err, "<config>:1: devices.bess:"));
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
		if (ret == 0) {
			ok++;
			assert_true(cfg.nbess >= 1);
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
		cmocka_unit_test(test_survives_2000_mutations_of_a_valid_config),
	};

	if (find_root()) {
		printf("skipped: cannot find the source tree from /proc/self/exe\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
