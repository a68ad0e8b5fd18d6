// SPDX-License-Identifier: MIT
/*
 * Tests of tools/cmd_sim.c and the flux dispatcher (tools/flux.c) as a user runs
 * them: the real build/bin/flux started as a child process, its exit codes and messages, and
 * the devices it serves read over 127.0.0.1 with the Flux codec. `flux sim --config` is run on
 * site configs written to /tmp and on deploy/site.yaml. Modbus RTU: `--serial pty` prints a
 * slave path libmodbus's RTU backend reads, `--framing rtu` serves RTU frames on a TCP port,
 * a config's serial device is a pty linked at its path, and bad line settings are named.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <modbus.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"
#include "tests/support/toolrun.h"
#include "tools/tools.h"

/* The meter's power_total_kw in acuvim2.yaml (its grid_power): the seed's 0x0040, a float of W. */
#define METER_POWER_REG 0x0040

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
		{ { "sim", "--config", "/nonexistent/site.yaml" },
		  "/nonexistent/site.yaml: cannot open: No such file" },
		{ { "sim", "--config", "/nonexistent/a.yaml", "--config", "b.yaml" }, "twice" },
		{ { "sim", "--config", "/dev/null", "powerpack", "--port", "0" },
		  "no device type" },
		{ { "sim", "--time-scale", "0", "powerpack", "--port", "0" }, "--time-scale 0" },
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
		{ { "sim", "powerpack", "--port", "0", "--heartbeat-timeout", "-1" },
		  "--heartbeat-timeout -1: want a duration in 0..600000 ms" },
		{ { "sim", "powerpack", "--port", "0", "--heartbeat-timeout", "2.5x" },
		  "--heartbeat-timeout 2.5x: want a duration" },
		{ { "sim", "powerpack", "--port", "0", "--heartbeat-timeout", "11m" },
		  "--heartbeat-timeout 11m" },
		{ { "sim", "powerpack", "--port", "0", "--restart-after", "1h" },
		  "--restart-after 1h: want a duration" },
		{ { "sim", "powerpack", "--port", "0", "--heartbeat-timeout", "600001" },
		  "--heartbeat-timeout 600001" },
		{ { "sim", "powerpack", "--port", "0", "--heartbeat-timeout" }, "missing value" },
		{ { "sim", "--heartbeat-timeout", "x", "powerpack", "--port", "0" },
		  "--heartbeat-timeout x" },
		{ { "sim", "powerpack", "--port", "0", "--command-source-default", "65536" },
		  "--command-source-default 65536: want a number in 0..65535" },
		{ { "sim", "powerpack", "--port", "0", "--command-source-default", "-3" },
		  "--command-source-default -3" },
		{ { "sim", "--command-source-default", "3.5", "powerpack", "--port", "0" },
		  "--command-source-default 3.5: want a whole number" },
		{ { "sim", "powerpack", "--port", "0", "--restart-after", "-1" },
		  "--restart-after -1" },
		{ { "sim", "--restart-after", "1", "powerpack", "--port", "0" },
		  "--restart-after must follow a device" },
		{ { "sim", "acuvim2", "--port", "0", "--heartbeat-timeout", "100" },
		  "--heartbeat-timeout does not apply to acuvim2" },
		{ { "sim", "acuvim2", "--port", "0", "--restart-after", "1" }, "does not apply" },
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
	assert_non_null(strstr(p.out, "every host must be loopback"));
	assert_non_null(strstr(p.out, "--heartbeat-timeout MS"));
	assert_non_null(strstr(p.out, "--command-source-default N"));
	assert_non_null(strstr(p.out, "--restart-after S"));
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
	assert_int_equal(th_read(&meter, 2, METER_POWER_REG, 2, r), 0);
	assert_true(mb_get_f32(r, MB_ORDER_CDAB) == 80000.0f);
	/* The meter sees the battery in the same process. */
	assert_int_equal(th_write(&bess, 1, PP_REG_COMMAND_SOURCE, 3), 0);
	assert_int_equal(th_write(&bess, 1, PP_REG_TARGET_POWER, 30), 0);
	for (int i = 0; i < 600 && mb_get_f32(r, MB_ORDER_CDAB) != 50000.0f; i++) {
		th_sleep_ms(5);
		assert_int_equal(th_read(&meter, 2, METER_POWER_REG, 2, r), 0);
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
	/* Durations take units; a timeout under 1 ms rounds up to 1 ms, never to 0 (= off). */
	start(&p, (char *const[]){ "sim", "--duration", "500ms", "powerpack", "--port", "0",
				   "--exception", "4", "--heartbeat-timeout", "400us", NULL });
	assert_non_null(strstr(p.out, "faults: exception"));
	assert_non_null(strstr(p.out, "heartbeat timeout 1 ms"));
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

/* Read addr until it equals want (at most TH_TIMEOUT_MS). Returns the last value. */
static int wait_reg(struct th_client *c, uint16_t addr, int want)
{
	int64_t deadline = th_now_ns() + TH_TIMEOUT_MS * 1000000LL;
	int v = -1;

	for (int i = 0; i < 1000 && th_now_ns() < deadline; i++) {
		v = th_read1(c, 1, addr);
		if (v == want)
			break;
		th_sleep_ms(5);
	}
	return v;
}

static void test_heartbeat_timeout_and_command_source_default_from_flags(void **state)
{
	struct th_proc p;
	struct th_client c;
	int64_t t_beat;
	int port;

	(void)state;
	start(&p, (char *const[]){ "sim", "--duration", "60", "powerpack", "--port", "0",
				   "--startup-ms", "0", "--response-ms", "0", "--heartbeat-timeout",
				   "300", "--command-source-default", "7", NULL });
	assert_non_null(strstr(p.out, "command source 3) heartbeat timeout 300 ms"));
	assert_non_null(strstr(p.out, "2010 at power-up 7"));
	port = th_printed_port(p.out, "powerpack unit 1");
	assert_int_equal(th_open(&c, (uint16_t)port), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_COMMAND_SOURCE), 7);
	assert_int_equal(wait_reg(&c, PP_REG_STATUS, PP_STATUS_READY), PP_STATUS_READY);
	assert_int_equal(th_write(&c, 1, PP_REG_HEARTBEAT, 1), 0);
	assert_int_equal(th_write(&c, 1, PP_REG_COMMAND_SOURCE, 3), 0);
	t_beat = th_now_ns();
	assert_int_equal(th_write(&c, 1, PP_REG_HEARTBEAT, 2), 0);
	assert_int_equal(th_write(&c, 1, PP_REG_TARGET_POWER, 40), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_HEARTBEAT), 2);
	/* No more beats: 2008 goes back to 0 by itself, never before the timeout. */
	assert_int_equal(wait_reg(&c, PP_REG_TARGET_POWER, 0), 0);
	assert_true(th_now_ns() - t_beat >= 300 * 1000000LL);
	th_close(&c);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
}

static void test_global_heartbeat_options_apply_to_every_powerpack(void **state)
{
	struct th_proc p;
	struct th_client c;
	int port;

	(void)state;
	start(&p, (char *const[]){ "sim", "--duration", "60", "--command-source-default", "5",
				   "--heartbeat-timeout", "250", "powerpack", "--port", "0",
				   "powerpack", "--port", "0", "--unit", "2",
				   "--command-source-default", "6", NULL });
	assert_non_null(strstr(p.out, "heartbeat timeout 250 ms 2010 at power-up 5"));
	assert_non_null(strstr(p.out, "heartbeat timeout 250 ms 2010 at power-up 6"));
	port = th_printed_port(p.out, "powerpack unit 2");
	assert_int_equal(th_open(&c, (uint16_t)port), 0);
	assert_int_equal(th_read1(&c, 2, PP_REG_COMMAND_SOURCE), 6);
	th_close(&c);
	port = th_printed_port(p.out, "powerpack unit 1");
	assert_int_equal(th_open(&c, (uint16_t)port), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_COMMAND_SOURCE), 5);
	th_close(&c);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
}

static void test_restart_after_reboots_the_battery_and_drops_its_clients(void **state)
{
	struct th_proc p;
	struct th_client c;
	int port;

	(void)state;
	start(&p, (char *const[]){ "sim", "--duration", "60", "powerpack", "--port", "0",
				   "--startup-ms", "0", "--command-source-default", "4",
				   "--restart-after", "1", NULL });
	assert_non_null(strstr(p.out, "restart after 1 s"));
	port = th_printed_port(p.out, "powerpack unit 1");
	assert_int_equal(th_open(&c, (uint16_t)port), 0);
	assert_int_equal(th_write(&c, 1, PP_REG_COMMAND_SOURCE, 3), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_COMMAND_SOURCE), 3);
	/* The reboot closes our connection: EOF without a request. */
	assert_int_equal(th_recv_frame(&c, TH_TIMEOUT_MS, NULL), -ECONNRESET);
	th_close(&c);
	assert_true(th_wait_output(&p, "powerpack unit 1: restart (2010 := 4", TH_TIMEOUT_MS));
	assert_int_equal(th_open(&c, (uint16_t)port), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_COMMAND_SOURCE), 4);
	assert_int_equal(wait_reg(&c, PP_REG_STATUS, PP_STATUS_READY), PP_STATUS_READY);
	th_close(&c);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
}

/* A TCP port on 127.0.0.1 that was free a moment ago (a config cannot say "pick one"). */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Write text to a new /tmp file; its name goes to path (at least 32 bytes). */
static void write_config(char *path, const char *text)
{
	size_t len = strlen(text);
	int fd;

	strcpy(path, "/tmp/flux-sim-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void test_config_serves_every_device_with_its_parameters(void **state)
{
	uint16_t p1 = free_port(), p2 = free_port();
	char text[1024], path[64], want[128];
	struct th_client bess, meter;
	struct th_proc p;
	uint16_t r[2] = { 0 };
	int status = -1;

	(void)state;
	snprintf(
	    text, sizeof(text),
	    "devices:\n"
	    "  bess:\n"
	    "    - id: bess-a\n"
	    "      type: powerpack\n"
	    "      power_kw: 60\n"
	    "      capacity_kwh: 150\n"
	    "      command_source_id: 7\n"
	    "      soe_scale: 10\n"
	    "      modbus: {host: 127.0.0.1, port: %u, address: 3}\n"
	    "    - {id: bess-b, type: powerpack, modbus: {host: 127.0.0.1, port: %u, address: 5}}\n"
	    "  meters:\n"
	    "    - id: grid\n"
	    "      type: acuvim2\n"
	    "      word_order: cdab\n"
	    "      modbus: {host: 127.0.0.1, port: %u, address: 4}\n",
	    p1, p1, p2);
	write_config(path, text);
	start(&p, (char *const[]){ "sim", "--config", path, "--duration", "60", "--time-scale", "2",
				   NULL });
	snprintf(want, sizeof(want), "bess-a: powerpack unit 3 on 127.0.0.1:%u (150 kWh, 60 kW",
		 p1);
	assert_non_null(strstr(p.out, want));
	assert_non_null(strstr(p.out, "command source 7)"));
	snprintf(want, sizeof(want), "bess-b: powerpack unit 5 on 127.0.0.1:%u (200 kWh, 100 kW",
		 p1);
	assert_non_null(strstr(p.out, want));
	snprintf(want, sizeof(want),
		 "grid: acuvim2 unit 4 on 127.0.0.1:%u (load 150 kW, word order "
		 "cdab",
		 p2);
	assert_non_null(strstr(p.out, want));
	assert_non_null(strstr(p.out, "serving 3 device(s) of"));

	assert_int_equal(th_open(&bess, p1), 0);
	assert_int_equal(th_open(&meter, p2), 0);
	/* soe_scale 10: the default 60 % reads 600. */
	assert_int_equal(th_read1(&bess, 3, PP_REG_SOE), 600);
	assert_int_equal(th_read1(&bess, 5, PP_REG_SOE), 60);
	for (int i = 0; i < 600 && status != PP_STATUS_READY; i++) {
		status = th_read1(&bess, 3, PP_REG_STATUS);
		th_sleep_ms(5);
	}
	assert_int_equal(status, PP_STATUS_READY);
	/* command_source_id 7: claiming with 3 is not enough; power_kw 60 caps the setpoint. */
	assert_int_equal(th_write(&bess, 3, PP_REG_COMMAND_SOURCE, 3), 0);
	assert_int_equal(th_write(&bess, 3, PP_REG_TARGET_POWER, 40),
			 -MB_EXC(MB_EX_ILLEGAL_DATA_VALUE));
	assert_int_equal(th_write(&bess, 3, PP_REG_COMMAND_SOURCE, 7), 0);
	assert_int_equal(th_write(&bess, 3, PP_REG_TARGET_POWER, 70),
			 -MB_EXC(MB_EX_ILLEGAL_DATA_VALUE));
	assert_int_equal(th_write(&bess, 3, PP_REG_TARGET_POWER, 40), 0);
	/* The meter speaks word order cdab at unit 4 and sees the battery: 150 - 40 kW. */
	assert_int_equal(th_read(&meter, 4, METER_POWER_REG, 2, r), 0);
	for (int i = 0; i < 600 && mb_get_f32(r, MB_ORDER_CDAB) != 110000.0f; i++) {
		th_sleep_ms(5);
		assert_int_equal(th_read(&meter, 4, METER_POWER_REG, 2, r), 0);
	}
	assert_true(mb_get_f32(r, MB_ORDER_CDAB) == 110000.0f);
	th_close(&bess);
	th_close(&meter);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	assert_non_null(strstr(p.out, "flux sim: stopped"));
	unlink(path);
}

static void test_config_refuses_non_loopback_hosts_naming_the_device(void **state)
{
	static const char text[] =
	    "devices:\n"
	    "  bess:\n"
	    "    - {id: bess-1, type: powerpack, modbus: {host: 127.0.0.1, port: 1502}}\n"
	    "  meters:\n"
	    "    - {id: grid-1, type: acuvim2, modbus: {host: 192.168.1.101, port: 502}}\n";
	char path[64];
	struct th_proc p;

	(void)state;
	write_config(path, text);
	assert_int_equal(RUN(&p, "sim", "--config", path), 2);
	assert_non_null(strstr(p.out, "flux sim: devices.meters[0] 'grid-1': host 192.168.1.101 is "
				      "not a loopback address"));
	assert_null(strstr(p.out, "serving"));
	unlink(path);
}

static void test_config_with_errors_exits_2_naming_file_line_and_key(void **state)
{
	static const char text[] = "devices:\n"
				   "  bess:\n"
				   "    - id: bess-1\n"
				   "      type: powerpack\n"
				   "      modbus: {host: 127.0.0.1, port: 70000}\n";
	char path[64], want[128];
	struct th_proc p;

	(void)state;
	write_config(path, text);
	assert_int_equal(RUN(&p, "sim", "--config", path), 2);
	snprintf(want, sizeof(want),
		 "flux sim: %s:5: devices.bess[0].modbus.port: must be 1..65535", path);
	assert_non_null(strstr(p.out, want));
	unlink(path);
}

static void test_config_takes_the_global_heartbeat_options(void **state)
{
	uint16_t port = free_port();
	char text[512], path[64];
	struct th_client c;
	struct th_proc p;

	(void)state;
	snprintf(text, sizeof(text),
		 "devices:\n"
		 "  bess:\n"
		 "    - {id: bess-a, type: powerpack, modbus: {host: 127.0.0.1, port: %u, "
		 "address: 1}}\n",
		 port);
	write_config(path, text);
	start(&p, (char *const[]){ "sim", "--heartbeat-timeout", "400", "--command-source-default",
				   "8", "--config", path, "--duration", "60", NULL });
	assert_non_null(strstr(p.out, "bess-a: powerpack unit 1"));
	assert_non_null(strstr(p.out, "heartbeat timeout 400 ms 2010 at power-up 8"));
	assert_int_equal(th_open(&c, port), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_COMMAND_SOURCE), 8);
	th_close(&c);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	unlink(path);
}

/* The example site serves as it is, on its fixed ports 1502 and 1503 (skipped if taken). */
static void test_config_serves_the_example_site(void **state)
{
	char path[4096];
	struct th_proc p;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "%s", flux);
	for (int i = 0; i < 3; i++)
		*strrchr(path, '/') = '\0'; /* BUILD/bin/flux -> the source tree */
	strcat(path, "/deploy/site.yaml");
	rc = RUN(&p, "sim", "--config", path, "--duration", "0.2");
	if (rc == 1 && strstr(p.out, "in use")) {
		printf("note: ports 1502/1503 busy, deploy/site.yaml not served: %s\n", p.out);
		return;
	}
	if (rc != 0)
		fail_msg("exit %d: %s", rc, p.out);
	assert_non_null(strstr(p.out, "bess-1: powerpack unit 1 on 127.0.0.1:1502"));
	assert_non_null(strstr(p.out, "grid-meter-1: acuvim2 unit 2 on 127.0.0.1:1503"));
	assert_non_null(strstr(p.out, "flux sim: stopped"));
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

/* `flux read --profile PROFILE -p PORT -a UNIT 127.0.0.1` in this process, into r. */
static int read_profile(struct th_tool_run *r, const char *profile, int port, const char *unit)
{
	char p[8];

	snprintf(p, sizeof(p), "%d", port);
	return th_tool_run(r, cmd_read_main, "read", "--profile", profile, "-p", p, "-a", unit,
			   "127.0.0.1", NULL);
}

static void test_sim_profile_is_read_back_by_flux_read_profile(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char csv[] = "/tmp/flux-simprof-csv-XXXXXX";
	const char *rows = "t,frequency_hz,voltage_l1n_v\n0,50.1,229.5\n";
	struct th_proc p;
	int port, bess, fd;

	(void)state;
	assert_non_null(r);
	fd = mkstemp(csv);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rows, strlen(rows)), (ssize_t)strlen(rows));
	close(fd);
	start(&p, (char *const[]){ "sim",
				   "--duration",
				   "60",
				   "--profile",
				   "acuvim2-manual",
				   "--port",
				   "0",
				   "--unit",
				   "2",
				   "--set",
				   "frequency_hz=49.9",
				   "--set",
				   "energy_import_kwh=1234.5",
				   "--load-kw",
				   "80",
				   "--profile",
				   "devices/profiles/powerpack.yaml",
				   "--port",
				   "0",
				   "--startup-ms",
				   "0",
				   "--set",
				   "soe_pct=64",
				   "--set",
				   "available_blocks=2",
				   "--profile",
				   "acuvim2-manual",
				   "--port",
				   "0",
				   "--unit",
				   "3",
				   "--csv",
				   csv,
				   "--strict-holes",
				   NULL });
	unlink(csv);
	assert_non_null(strstr(p.out, "(meter, 32 points in 2 read(s), word order abcd)"));
	assert_non_null(strstr(p.out, "profile powerpack unit 1 on 127.0.0.1:"));
	assert_non_null(strstr(p.out, "(bess, 6 points in 1 read(s), word order abcd, 200 kWh)"));
	assert_non_null(strstr(p.out, "csv /tmp/flux-simprof-csv-"));
	assert_non_null(strstr(p.out, ": 1 row(s), strict holes)"));

	port = th_printed_port(p.out, "profile acuvim2-manual unit 2");
	assert_true(port > 0);
	assert_int_equal(read_profile(r, "acuvim2-manual", port, "2"), 0);
	th_tool_has(r, "unit 2: profile acuvim2-manual, 32 points in 2 read(s)");
	th_tool_expect(r, point_value(r->out, "frequency_hz") == 49.9);
	th_tool_expect(r, point_value(r->out, "energy_import_kwh") == 1234.5);
	th_tool_expect(r, point_value(r->out, "power_total_kw") == 80);
	th_tool_expect(r, point_value(r->out, "voltage_l1n_v") == 0);

	bess = th_printed_port(p.out, "profile powerpack unit 1");
	assert_true(bess > 0);
	assert_int_equal(read_profile(r, "powerpack", bess, "1"), 0);
	th_tool_has(r, "status                            1 READY");
	th_tool_expect(r, point_value(r->out, "soe_pct") == 64);
	th_tool_expect(r, point_value(r->out, "available_blocks") == 2);

	/* The CSV's values; with --strict-holes the planned blocks have no holes to refuse. */
	port = th_printed_port(p.out, "profile acuvim2-manual unit 3");
	assert_true(port > 0);
	assert_int_equal(read_profile(r, "acuvim2-manual", port, "3"), 0);
	th_tool_expect(r, point_value(r->out, "frequency_hz") == 50.1);
	th_tool_expect(r, point_value(r->out, "voltage_l1n_v") == 229.5);

	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	assert_non_null(strstr(p.out, "flux sim: stopped"));
	free(r);
}

static void test_sim_profile_refuses_bad_input_with_exit_2(void **state)
{
	char csv[] = "/tmp/flux-simprof-bad-XXXXXX";
	const char *rows = "t,status\n0,READY\n1,BUSY\n";
	struct {
		const char *args[12];
		const char *says;
	} bad[] = {
		{ { "sim", "--profile", "inverter", "--port", "0" },
		  "--profile inverter: no such shipped profile (powerpack, acuvim2, "
		  "acuvim2-manual" },
		{ { "sim", "--profile", "/nonexistent/x.yaml", "--port", "0" },
		  "--profile: /nonexistent/x.yaml: cannot" },
		{ { "sim", "--profile", "powerpack" }, "profile powerpack needs --port" },
		{ { "sim", "--profile", "acuvim2-manual", "--port", "0", "--set", "bogus=1" },
		  "--set bogus=1: profile acuvim2-manual has no point 'bogus'" },
		{ { "sim", "--profile", "acuvim2-manual", "--port", "0", "--set", "frequency_hz" },
		  "--set frequency_hz: want NAME=VALUE" },
		{ { "sim", "--profile", "acuvim2-manual", "--port", "0", "--set",
		    "frequency_hz=x" },
		  "--set frequency_hz=x: want a number" },
		{ { "sim", "--profile", "powerpack", "--port", "0", "--set", "status=BUSY" },
		  "want a number or a name of its codes (OFFLINE, READY, STANDBY, FAULT)" },
		{ { "sim", "--profile", "acuvim2-manual", "--port", "0", "--set",
		    "energy_import_kwh=-1" },
		  "--set energy_import_kwh=-1: -1 does not fit energy_import_kwh's 32-bit" },
		{ { "sim", "--profile", "powerpack", "--port", "0", "--csv", "/nonexistent/v.csv" },
		  "--csv: /nonexistent/v.csv: cannot open: No such file" },
		{ { "sim", "--profile", "powerpack", "--port", "0", "--csv", csv },
		  ":3: status: want a number or a code name, got 'BUSY'" },
		{ { "sim", "--profile", "powerpack", "--port", "0", "--load-kw", "5" },
		  "--load-kw: profile powerpack has no grid_power point" },
		{ { "sim", "--profile", "powerpack", "--port", "0", "--soe", "50" },
		  "--soe does not apply to profile" },
		{ { "sim", "--profile", "powerpack", "--port", "0", "--capacity-kwh", "0" },
		  "--capacity-kwh 0" },
		{ { "sim", "powerpack", "--port", "0", "--strict-holes" },
		  "--strict-holes does not apply to powerpack" },
		{ { "sim", "acuvim2", "--port", "0", "--set", "a=1" },
		  "--set does not apply to acuvim2" },
		{ { "sim", "--set", "a=1", "--profile", "powerpack", "--port", "0" },
		  "--set must follow a device type" },
		{ { "sim", "--config", "/dev/null", "--profile", "powerpack", "--port", "0" },
		  "no device type" },
	};
	struct th_proc p;
	int fd;

	(void)state;
	fd = mkstemp(csv);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rows, strlen(rows)), (ssize_t)strlen(rows));
	close(fd);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = run(&p, (char *const *)bad[i].args);

		if (rc != 2 || !strstr(p.out, bad[i].says))
			fail_msg("case %u: exit %d, output '%s', want 2 and '%s'", i, rc, p.out,
				 bad[i].says);
	}
	unlink(csv);
	assert_int_equal(RUN(&p, "sim", "--help"), 0);
	assert_non_null(strstr(p.out, "--profile NAME|FILE"));
	assert_non_null(strstr(p.out, "--strict-holes"));
}

/* ---- Modbus RTU ---------------------------------------------------------------------- */

/* The path of the n-th "serial: PATH" line flux sim printed, into buf; false if none. */
static bool printed_serial(const char *out, unsigned n, char *buf, size_t cap)
{
	const char *p = out;

	for (unsigned i = 0; p && (p = strstr(p, "serial: ")); i++, p++) {
		if ((p != out && p[-1] != '\n') || i != n)
			continue;
		p += strlen("serial: ");
		snprintf(buf, cap, "%.*s", (int)strcspn(p, "\n"), p);
		return true;
	}
	return false;
}

/* libmodbus's RTU client on path, as unit `unit`; FC03 of qty registers. Returns its result. */
static int mb_rtu_read(const char *path, int unit, uint16_t addr, int qty, uint16_t *regs)
{
	modbus_t *mb = modbus_new_rtu(path, 9600, 'N', 8, 1);
	int r = -1;

	assert_non_null(mb);
	modbus_set_slave(mb, unit);
	modbus_set_response_timeout(mb, 1, 0);
	if (modbus_connect(mb) == 0) {
		r = modbus_read_registers(mb, addr, qty, regs);
		modbus_close(mb);
	}
	modbus_free(mb);
	return r;
}

/* One FC03 of one register as an RTU frame on a TCP connection to port. Returns its value, or
 * a negative error. */
static int rtu_tcp_read1(uint16_t port, uint8_t unit, uint16_t addr)
{
	struct mb_req req = {
		.unit = unit, .fc = MB_FC_READ_HOLDING_REGISTERS, .addr = addr, .qty = 1
	};
	uint8_t buf[MB_RTU_ADU_MAX];
	int64_t end = th_deadline_ns(TH_TIMEOUT_MS);
	struct mb_rsp rsp;
	size_t got = 0;
	int fd = th_connect(port, TH_TIMEOUT_MS), n, r = -ETIMEDOUT;

	assert_true(fd >= 0);
	n = mb_rtu_encode_req(buf, sizeof(buf), &req);
	assert_int_equal(th_send_all(fd, buf, (size_t)n, end), 0);
	for (;;) { /* until the reply is whole by its own length */
		int k = th_recv_some(fd, buf + got, sizeof(buf) - got, end);

		if (k <= 0)
			break;
		got += (size_t)k;
		n = mb_rtu_rsp_size(&req, buf, got);
		if (n < 0 || (n > 0 && got >= (size_t)n)) {
			r = mb_rtu_decode_rsp(&req, buf, got, &rsp);
			break;
		}
	}
	if (r == 0)
		r = mb_get_u16(rsp.data);
	close(fd);
	return r;
}

static void test_sim_serial_pty_prints_a_slave_path_libmodbus_reads(void **state)
{
	char dir[] = "/tmp/flux-sim-pty-XXXXXX", link[64], path[128], target[128];
	uint16_t r[2] = { 0 };
	struct th_proc p;
	struct stat st;
	ssize_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/line", dir);
	start(&p, (char *const[]){ "sim", "--duration", "60",
				   /* the three share the line behind one link */
				   "powerpack", "--serial", "pty", "--link", link, "--soe", "55",
				   "--startup-ms", "0", "acuvim2", "--serial", "pty", "--link",
				   link, "--unit", "2", "--load-kw", "80", "--profile",
				   "acuvim2-manual", "--serial", "pty", "--link", link, "--unit",
				   "3", "--set", "frequency_hz=49.5", NULL });
	assert_true(printed_serial(p.out, 0, path, sizeof(path)));
	assert_false(printed_serial(p.out, 1, target, sizeof(target))); /* one shared line */
	assert_non_null(strstr(p.out, "powerpack unit 1 on serial "));
	assert_non_null(strstr(p.out, "(pty, link "));
	len = readlink(link, target, sizeof(target) - 1);
	assert_true(len > 0);
	target[len] = '\0';
	assert_string_equal(target, path);
	/* each unit answers on the printed path and behind the link */
	assert_int_equal(mb_rtu_read(path, 1, PP_REG_SOE, 1, r), 1);
	assert_int_equal(r[0], 55);
	assert_int_equal(mb_rtu_read(link, 2, METER_POWER_REG, 2, r), 2);
	assert_true(mb_get_f32(r, MB_ORDER_ABCD) == 80000.0f);
	assert_int_equal(mb_rtu_read(link, 3, 0x4000, 2, r), 2); /* a profile's device too */
	assert_true(mb_get_f32(r, MB_ORDER_ABCD) == 49.5f);
	/* a unit nobody serves: silence */
	assert_int_equal(mb_rtu_read(path, 9, PP_REG_SOE, 1, r), -1);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	assert_int_not_equal(lstat(link, &st), 0); /* the link goes with the sim */
	rmdir(dir);
}

static void test_sim_framing_rtu_serves_rtu_frames_on_its_port(void **state)
{
	struct th_proc p;
	int port;

	(void)state;
	start(&p, (char *const[]){ "sim", "--duration", "60", "powerpack", "--port", "0",
				   "--framing", "rtu", "--soe", "42", "--bad-crc", NULL });
	assert_non_null(strstr(p.out, "framing rtu"));
	assert_non_null(strstr(p.out, "faults: bad-crc"));
	port = th_printed_port(p.out, "powerpack unit 1");
	assert_true(port > 0);
	assert_int_equal(rtu_tcp_read1((uint16_t)port, 1, PP_REG_SOE), -MB_ECRC);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	start(&p, (char *const[]){ "sim", "--duration", "60", "powerpack", "--port", "0",
				   "--framing", "rtu", "--soe", "42", "--unit", "7", NULL });
	port = th_printed_port(p.out, "powerpack unit 7");
	assert_true(port > 0);
	assert_int_equal(rtu_tcp_read1((uint16_t)port, 7, PP_REG_SOE), 42);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
}

static void test_sim_refuses_bad_rtu_arguments_by_name(void **state)
{
	static const struct {
		const char *args[10];
		int rc;
		const char *says;
	} bad[] = {
		{ { "sim", "powerpack", "--serial", "pty", "--baud", "12345" },
		  2,
		  "--baud 12345: not a standard rate" },
		{ { "sim", "powerpack", "--serial", "pty", "--baud", "fast" }, 2, "--baud fast" },
		{ { "sim", "powerpack", "--serial", "pty", "--parity", "mark" },
		  2,
		  "--parity mark: want none, even or odd" },
		{ { "sim", "powerpack", "--serial", "pty", "--data-bits", "9" },
		  2,
		  "--data-bits 9" },
		{ { "sim", "powerpack", "--serial", "pty", "--stop-bits", "3" },
		  2,
		  "--stop-bits 3" },
		{ { "sim", "powerpack", "--serial", "/dev/null" },
		  2,
		  "/dev/null: not a serial line" },
		{ { "sim", "powerpack", "--serial", "/nonexistent/ttyUSB9" },
		  1,
		  "/nonexistent/ttyUSB9: No such file" },
		{ { "sim", "powerpack", "--serial", "" },
		  2,
		  "--serial '': want pty or a tty path" },
		{ { "sim", "powerpack", "--port", "0", "--framing", "udp" },
		  2,
		  "--framing udp: want tcp or rtu" },
		{ { "sim", "powerpack", "--port", "0", "--link", "/tmp/x" },
		  2,
		  "--link needs --serial pty" },
		{ { "sim", "powerpack", "--port", "0", "--baud", "9600" }, 2, "need --serial" },
		{ { "sim", "powerpack", "--serial", "pty", "--port", "0" }, 2, "not both" },
		{ { "sim", "powerpack", "--serial", "pty", "--framing", "rtu" }, 2, "RTU already" },
		{ { "sim", "powerpack", "--serial", "/dev/null", "--link", "/tmp/x" },
		  2,
		  "--link is for --serial pty" },
		{ { "sim", "powerpack", "--serial", "pty", "--unit", "0" },
		  2,
		  "RTU units are 1..247" },
		{ { "sim", "powerpack", "--port", "0", "--framing", "rtu", "--unit", "248" },
		  2,
		  "RTU units are 1..247" },
		{ { "sim", "powerpack", "--serial", "pty", "acuvim2", "--serial", "/dev/null",
		    "--unit", "2" },
		  2,
		  "acuvim2 unit 2 on serial /dev/null: not a serial line" },
	};
	char file[] = "/tmp/flux-sim-file-XXXXXX";
	struct th_proc p;
	int fd;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = run(&p, (char *const *)bad[i].args);

		if (rc != bad[i].rc || !strstr(p.out, bad[i].says))
			fail_msg("case %u: exit %d, output '%s', want %d and '%s'", i, rc, p.out,
				 bad[i].rc, bad[i].says);
	}
	/* a link over a file is refused, the file kept */
	fd = mkstemp(file);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(RUN(&p, "sim", "powerpack", "--serial", "pty", "--link", file), 2);
	assert_non_null(strstr(p.out, "exists and is not a symlink"));
	assert_int_equal(access(file, F_OK), 0);
	unlink(file);
	assert_int_equal(RUN(&p, "sim", "--help"), 0);
	assert_non_null(strstr(p.out, "--serial pty"));
	assert_non_null(strstr(p.out, "--framing rtu"));
	assert_non_null(strstr(p.out, "--bad-crc"));
}

static void test_config_serves_a_serial_meter_on_a_pty_at_its_device_path(void **state)
{
	char dir[] = "/tmp/flux-sim-cfg-XXXXXX", dev[64], text[1024], path[64];
	uint16_t p1 = free_port(), p2 = free_port(), r[2] = { 0 };
	struct th_proc p;
	struct th_client c;
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(dev, sizeof(dev), "%s/ttyUSB0", dir);
	snprintf(text, sizeof(text),
		 "devices:\n"
		 "  bess:\n"
		 "    - {id: bess-1, type: powerpack, modbus: {host: 127.0.0.1, port: %u}}\n"
		 "  meters:\n"
		 "    - {id: grid, type: acuvim2,\n"
		 "       modbus: {device: %s, baud: 19200, parity: even, address: 2}}\n"
		 "    - {id: gw, type: acuvim2,\n"
		 "       modbus: {host: 127.0.0.1, port: %u, framing: rtu, address: 3}}\n",
		 p1, dev, p2);
	write_config(path, text);
	start(&p, (char *const[]){ "sim", "--config", path, "--duration", "60", NULL });
	assert_non_null(strstr(p.out, "grid: acuvim2 unit 2 on serial "));
	assert_int_equal(lstat(dev, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* the config's device path reaches the meter; the BESS is on TCP, the gateway RTU */
	assert_int_equal(mb_rtu_read(dev, 2, METER_POWER_REG, 2, r), 2);
	assert_true(mb_get_f32(r, MB_ORDER_ABCD) == 150000.0f);
	assert_int_equal(th_open(&c, p1), 0);
	assert_int_equal(th_read1(&c, 1, PP_REG_SOE), 60);
	th_close(&c);
	assert_true(rtu_tcp_read1(p2, 3, METER_POWER_REG) >= 0);
	kill(p.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	assert_int_not_equal(lstat(dev, &st), 0);
	/* a file at the device path is not replaced: a named error */
	fd = open(dev, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(RUN(&p, "sim", "--config", path), 2);
	assert_non_null(strstr(p.out, "grid unit 2: "));
	assert_non_null(strstr(p.out, "exists and is not a symlink"));
	assert_null(strstr(p.out, "serving"));
	unlink(dev);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatcher_prints_usage_and_exits_2_on_unknown_commands),
		cmocka_unit_test(test_sim_refuses_bad_arguments_with_exit_2),
		cmocka_unit_test(test_serves_a_site_until_sigterm),
		cmocka_unit_test(test_stops_after_duration_and_injects_faults_from_flags),
		cmocka_unit_test(test_fault_after_puts_the_battery_in_fault),
		cmocka_unit_test(test_heartbeat_timeout_and_command_source_default_from_flags),
		cmocka_unit_test(test_global_heartbeat_options_apply_to_every_powerpack),
		cmocka_unit_test(test_restart_after_reboots_the_battery_and_drops_its_clients),
		cmocka_unit_test(test_config_serves_every_device_with_its_parameters),
		cmocka_unit_test(test_config_refuses_non_loopback_hosts_naming_the_device),
		cmocka_unit_test(test_config_with_errors_exits_2_naming_file_line_and_key),
		cmocka_unit_test(test_config_takes_the_global_heartbeat_options),
		cmocka_unit_test(test_config_serves_the_example_site),
		cmocka_unit_test(test_sim_profile_is_read_back_by_flux_read_profile),
		cmocka_unit_test(test_sim_profile_refuses_bad_input_with_exit_2),
		cmocka_unit_test(test_sim_serial_pty_prints_a_slave_path_libmodbus_reads),
		cmocka_unit_test(test_sim_framing_rtu_serves_rtu_frames_on_its_port),
		cmocka_unit_test(test_sim_refuses_bad_rtu_arguments_by_name),
		cmocka_unit_test(test_config_serves_a_serial_meter_on_a_pty_at_its_device_path),
	};
	int err = th_flux_path(flux, sizeof(flux));

	if (err) {
		printf("skipped: %s not built (%s): make it first\n", flux, strerror(-err));
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
