// SPDX-License-Identifier: MIT
/*
 * fluxd as a user runs it: the real build/bin/fluxd and build/bin/flux sim as child
 * processes on 127.0.0.1. A valid config starts, claims the command source, writes the
 * setpoint, and SIGTERM leaves the BESS at 0 kW with exit 0; a bad config exits 1 naming
 * file:line:key; bad arguments exit 2. Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include "tests/devices/helpers.h"

static char flux[4096], fluxd[4096];
static char dir[] = "/tmp/flux-test-fluxd-XXXXXX";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_sigterm_leaves_bess_at_zero_kw(void **state)
{
	char *sim_argv[] = { flux, "sim", "powerpack", "--port", "0", "--soe", "60", "acuvim2",
			     "--port", "0", "--unit", "2", "--duration", "60", NULL };
	char cfg_path[256], cfg[2048], *fluxd_argv[8];
	struct th_proc sim, d;
	struct th_client cl;
	int pp_port, acu_port, v = -1;

	(void)state;
	assert_int_equal(th_spawn(&sim, sim_argv), 0);
	assert_true(th_wait_output(&sim, "flux sim: serving", TH_TIMEOUT_MS));
	pp_port = th_printed_port(sim.out, "powerpack unit 1");
	acu_port = th_printed_port(sim.out, "acuvim2 unit 2");
	assert_true(pp_port > 0 && acu_port > 0);
	snprintf(cfg, sizeof(cfg),
		 "site:\n"
		 "  cycle: 50ms\n"
		 "  read_window: 25ms\n"
		 "  grid_meter: \"grid\"\n"
		 "  strategy:\n"
		 "    mode: manual\n"
		 "    setpoint_kw: 50\n"
		 "rt:\n"
		 "  io_cpu: -1\n"
		 "  control_cpu: -1\n"
		 "devices:\n"
		 "  bess:\n"
		 "    - id: \"bess-1\"\n"
		 "      name: \"Site-BESS-01\"\n"
		 "      type: \"powerpack\"\n"
		 "      modbus:\n"
		 "        host: \"127.0.0.1\"\n"
		 "        port: %d\n"
		 "        address: 1\n"
		 "        timeout: 1s\n"
		 "        retry_count: 3\n"
		 "  meters:\n"
		 "    - id: \"grid\"\n"
		 "      name: \"Grid-Meter\"\n"
		 "      type: \"acuvim2\"\n"
		 "      modbus:\n"
		 "        host: \"127.0.0.1\"\n"
		 "        port: %d\n"
		 "        address: 2\n"
		 "        timeout: 1s\n",
		 pp_port, acu_port);
	snprintf(cfg_path, sizeof(cfg_path), "%s/site.yaml", dir);
	write_file(cfg_path, cfg);

	fluxd_argv[0] = fluxd;
	fluxd_argv[1] = "-c";
	fluxd_argv[2] = cfg_path;
	fluxd_argv[3] = "--no-rt";
	fluxd_argv[4] = "--status-interval";
	fluxd_argv[5] = "0.2";
	fluxd_argv[6] = NULL;
	assert_int_equal(th_spawn(&d, fluxd_argv), 0);
	assert_true(th_wait_output(&d, "command source is ours", TH_TIMEOUT_MS));
	assert_int_equal(th_open(&cl, (uint16_t)pp_port), 0);
	for (int i = 0; i < 100 && v != 50; i++) {
		v = th_read1(&cl, 1, PP_REG_TARGET_POWER);
		th_sleep_ms(30);
	}
	assert_int_equal(v, 50);
	assert_true(th_wait_output(&d, "cycle ", TH_TIMEOUT_MS)); /* the live status line */

	kill(d.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 0);
	assert_non_null(strstr(d.out, "SIGTERM received"));
	assert_non_null(strstr(d.out, "stopped: 1 of 1 BESS acknowledged 0 kW"));
	assert_int_equal(th_read1(&cl, 1, PP_REG_TARGET_POWER), 0);
	th_close(&cl);
	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, TH_TIMEOUT_MS), 0);
	unlink(cfg_path);
}

static void test_bad_config_exits_1_naming_file_line_and_key(void **state)
{
	char path[256], *argv[] = { fluxd, "--check-config", path, NULL };
	struct th_proc p;

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	write_file(path, "site:\n"
			 "  cycle: 100ms\n"
			 "  cycel_typo: 5\n"
			 "devices:\n"
			 "  bess:\n"
			 "    - id: a\n"
			 "      type: powerpack\n"
			 "      modbus: {host: 127.0.0.1}\n");
	assert_int_equal(th_spawn(&p, argv), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 1);
	if (!strstr(p.out, "bad.yaml:3:") || !strstr(p.out, "cycel_typo"))
		fail_msg("unexpected message: %s", p.out);
	/* The same file given to -c: the daemon does not start either. */
	argv[1] = "-c";
	assert_int_equal(th_spawn(&p, argv), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 1);
	unlink(path);
}

static void test_example_config_checks_clean(void **state)
{
	char *argv[] = { fluxd, "--check-config", "deploy/site.yaml", NULL };
	struct th_proc p;

	(void)state;
	assert_int_equal(th_spawn(&p, argv), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 0);
	assert_non_null(strstr(p.out, "deploy/site.yaml: ok"));
}

static void test_bad_arguments_exit_2(void **state)
{
	char *none[] = { fluxd, NULL };
	char *junk[] = { fluxd, "-c", "x.yaml", "--duration", "soon", NULL };
	char *extra[] = { fluxd, "-c", "x.yaml", "surplus", NULL };
	char *help[] = { fluxd, "--help", NULL };
	struct th_proc p;

	(void)state;
	assert_int_equal(th_spawn(&p, none), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_int_equal(th_spawn(&p, junk), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_non_null(strstr(p.out, "--duration"));
	assert_int_equal(th_spawn(&p, extra), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_int_equal(th_spawn(&p, help), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 0);
	assert_non_null(strstr(p.out, "usage: fluxd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigterm_leaves_bess_at_zero_kw),
		cmocka_unit_test(test_bad_config_exits_1_naming_file_line_and_key),
		cmocka_unit_test(test_example_config_checks_clean),
		cmocka_unit_test(test_bad_arguments_exit_2),
	};
	char *slash;
	int err, ret;

	err = th_flux_path(flux, sizeof(flux));
	if (err) {
		printf("skipped: %s not built (%s): make it first\n", flux, strerror(-err));
		return 77;
	}
	snprintf(fluxd, sizeof(fluxd), "%s", flux);
	slash = strrchr(fluxd, '/');
	snprintf(slash + 1, sizeof(fluxd) - (size_t)(slash + 1 - fluxd), "fluxd");
	if (access(fluxd, X_OK)) {
		printf("skipped: %s not built: make it first\n", fluxd);
		return 77;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests_name("control/fluxd", tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
