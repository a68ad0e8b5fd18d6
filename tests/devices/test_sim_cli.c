// SPDX-License-Identifier: MIT
/*
 * Tests of devices/sim_cli.c and the flux dispatcher (control/flux_main.c) as a user runs
 * them: the real build/bin/flux started as a child process, its exit codes and messages, and
 * the devices it serves read over 127.0.0.1 with the Flux codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "devices/acuvim2.h"
#include "devices/powerpack.h"
#include "tests/devices/helpers.h"

static char flux[4096];

/* Run flux with args (NULL-terminated), wait for it; returns the exit code, output in p. */
static int run(struct th_proc *p, char *const *args)
{
	char *argv[32] = { flux };
	unsigned n = 1;

	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	assert_int_equal(th_spawn(p, argv), 0);
	return th_wait_exit(p, 10000);
}

#define RUN(p, ...) run(p, (char *const[]){ __VA_ARGS__, NULL })

static void test_dispatcher_prints_usage_and_exits_2_on_unknown_commands(void **state)
{
	struct th_proc p;

	(void)state;
	assert_int_equal(RUN(&p, "--help"), 0);
	assert_non_null(strstr(p.out, "usage: flux COMMAND"));
	assert_non_null(strstr(p.out, "sim "));
	assert_int_equal(RUN(&p, "help"), 0);
	assert_int_equal(run(&p, (char *const[]){ NULL }), 2);
	assert_non_null(strstr(p.out, "usage: flux"));
	assert_int_equal(RUN(&p, "frobnicate"), 2);
	assert_non_null(strstr(p.out, "unknown command 'frobnicate'"));
}

static void test_sim_refuses_bad_arguments_with_exit_2(void **state)
{
	static const struct {
		const char *args[8];
		const char *says;
	} bad[] = {
		{ { "sim", "--config", "site.yaml" }, "config loader" },
		{ { "sim", "powerpack", "--host", "10.1.2.3", "--port", "0" }, "loopback" },
		{ { "sim", "powerpack", "--host", "plc.example", "--port", "0" }, "loopback" },
		{ { "sim", "powerpack" }, "needs --port" },
		{ { "sim" }, "no device" },
		{ { "sim", "--port", "0" }, "must follow a device" },
		{ { "sim", "powerpack", "--port", "0", "--soe", "101" }, "--soe 101" },
		{ { "sim", "powerpack", "--port", "0", "--power-kw", "300" }, "--power-kw 300" },
		{ { "sim", "powerpack", "--port", "70000" }, "--port 70000" },
		{ { "sim", "powerpack", "--port", "1502.5" }, "whole number" },
		{ { "sim", "acuvim2", "--port", "0", "--soe", "50" }, "does not apply" },
		{ { "sim", "powerpack", "--port", "0", "--load-kw", "5" }, "does not apply" },
		{ { "sim", "acuvim2", "--port", "0", "--load", "step:1" }, "load 'step:1'" },
		{ { "sim", "acuvim2", "--port", "0", "--word-order", "xyzw" }, "word-order" },
		{ { "sim", "inverter", "--port", "0" }, "unknown device type" },
		{ { "sim", "powerpack", "--port", "0", "--bogus" }, "bad option" },
	};
	struct th_proc p;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = run(&p, (char *const *)bad[i].args);

		if (rc != 2 || !strstr(p.out, bad[i].says))
			fail_msg("case %u: exit %d, output '%s', want 2 and '%s'", i, rc, p.out,
				 bad[i].says);
	}
	assert_int_equal(RUN(&p, "sim", "--help"), 0);
	assert_non_null(strstr(p.out, "--config FILE"));
	assert_non_null(strstr(p.out, "NOT AVAILABLE"));
}

/* Start flux sim with args; wait for its "serving" line. */
static void start(struct th_proc *p, char *const *args)
{
	char *argv[40] = { flux };
	unsigned n = 1;

	for (; args[n - 1] && n < 39; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	assert_int_equal(th_spawn(p, argv), 0);
	if (!th_wait_output(p, "flux sim: serving", TH_TIMEOUT_MS)) {
		th_wait_exit(p, 100);
		fail_msg("flux sim did not start: '%s'", p->out);
	}
}

static void test_serves_a_site_until_sigterm(void **state)
{
	struct th_proc p;
	struct th_client bess, meter;
	uint16_t r[2] = { 0 };
	int port;

	(void)state;
	start(&p, (char *const[]){ "sim",
				   "--duration",
				   "60",
				   "powerpack",
				   "--port",
				   "0",
				   "--unit",
				   "1",
				   "--soe",
				   "55",
				   "--startup-ms",
				   "0",
				   "acuvim2",
				   "--port",
				   "0",
				   "--unit",
				   "2",
				   "--load-kw",
				   "80",
				   "--word-order",
				   "cdab",
				   NULL });
	port = th_printed_port(p.out, "powerpack unit 1");
	assert_true(port > 0);
	assert_int_equal(th_open(&bess, (uint16_t)port), 0);
	port = th_printed_port(p.out, "acuvim2 unit 2");
	assert_true(port > 0);
	assert_int_equal(th_open(&meter, (uint16_t)port), 0);
	assert_int_equal(th_read1(&bess, 1, PP_REG_SOE), 55);
	assert_int_equal(th_read(&meter, 2, ACU_REG_POWER_TOTAL, 2, r), 0);
	assert_true(mb_get_f32(r, MB_ORDER_CDAB) == 80000.0f);
	/* The meter sees the battery in the same process. */
	assert_int_equal(th_write(&bess, 1, PP_REG_COMMAND_SOURCE, 3), 0);
	assert_int_equal(th_write(&bess, 1, PP_REG_TARGET_POWER, 30), 0);
	for (int i = 0; i < 600 && mb_get_f32(r, MB_ORDER_CDAB) != 50000.0f; i++) {
		th_sleep_ms(5);
		assert_int_equal(th_read(&meter, 2, ACU_REG_POWER_TOTAL, 2, r), 0);
	}
	assert_true(mb_get_f32(r, MB_ORDER_CDAB) == 50000.0f);
	th_close(&bess);
	th_close(&meter);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	assert_non_null(strstr(p.out, "flux sim: stopped"));
}

static void test_stops_after_duration_and_injects_faults_from_flags(void **state)
{
	struct th_proc p;
	struct th_client c;
	int port;

	(void)state;
	start(&p, (char *const[]){ "sim", "--duration", "0.5", "powerpack", "--port", "0",
				   "--exception", "4", NULL });
	assert_non_null(strstr(p.out, "faults: exception"));
	port = th_printed_port(p.out, "powerpack unit 1");
	assert_int_equal(th_open(&c, (uint16_t)port), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_SOE), -MB_EXC(MB_EX_SERVER_DEVICE_FAILURE));
	th_close(&c);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	assert_non_null(strstr(p.out, "for 0.5 s"));
	assert_non_null(strstr(p.out, "flux sim: stopped"));
}

static void test_fault_after_puts_the_battery_in_fault(void **state)
{
	struct th_proc p;
	struct th_client c;
	int port, status = -1;

	(void)state;
	start(&p, (char *const[]){ "sim", "--duration", "60", "powerpack", "--port", "0",
				   "--startup-ms", "0", "--fault-after", "0.2", NULL });
	port = th_printed_port(p.out, "powerpack unit 1");
	assert_int_equal(th_open(&c, (uint16_t)port), 0);
	for (int i = 0; i < 600 && status != PP_STATUS_FAULT; i++) {
		status = th_read1(&c, 1, PP_REG_STATUS);
		th_sleep_ms(5);
	}
	assert_int_equal(status, PP_STATUS_FAULT);
	th_close(&c);
	assert_true(th_wait_output(&p, "status FAULT", TH_TIMEOUT_MS));
	kill(p.pid, SIGINT);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatcher_prints_usage_and_exits_2_on_unknown_commands),
		cmocka_unit_test(test_sim_refuses_bad_arguments_with_exit_2),
		cmocka_unit_test(test_serves_a_site_until_sigterm),
		cmocka_unit_test(test_stops_after_duration_and_injects_faults_from_flags),
		cmocka_unit_test(test_fault_after_puts_the_battery_in_fault),
	};
	int err = th_flux_path(flux, sizeof(flux));

	if (err) {
		printf("skipped: %s not built (%s): make it first\n", flux, strerror(-err));
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
