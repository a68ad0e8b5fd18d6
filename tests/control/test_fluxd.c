// SPDX-License-Identifier: MIT
/*
 * fluxd as a user runs it: the real build/bin/fluxd and build/bin/flux sim as child
 * processes on 127.0.0.1. A valid config starts, claims the command source, writes the
 * setpoint, and SIGTERM leaves the BESS at 0 kW with exit 0; `flux status` asks it over its
 * Unix socket (text and JSON), while hostile clients come and go and control keeps cycling;
 * a bad config exits 1 naming file:line:key; bad arguments exit 2. Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"

static char flux[4096], fluxd[4096];
static char dir[] = "/tmp/flux-test-fluxd-XXXXXX";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Start `flux sim` and write a config for it (manual, 50 kW, 50 ms cycle) to cfg_path. */
static int start_site(struct th_proc *sim, char *cfg_path, size_t cfg_path_len)
{
	int pp_port;

	snprintf(cfg_path, cfg_path_len, "%s/site.yaml", dir);
	pp_port = th_start_site(flux, sim, cfg_path, 50, 60);
	assert_true(pp_port > 0);
	return pp_port;
}

static void test_sigterm_leaves_bess_at_zero_kw(void **state)
{
	char cfg_path[256], *fluxd_argv[10];
	struct th_proc sim, d;
	struct th_client cl;
	int pp_port, v = -1;

	(void)state;
	pp_port = start_site(&sim, cfg_path, sizeof(cfg_path));
	fluxd_argv[0] = fluxd;
	fluxd_argv[1] = "-c";
	fluxd_argv[2] = cfg_path;
	fluxd_argv[3] = "--no-rt";
	fluxd_argv[4] = "--status-interval";
	fluxd_argv[5] = "0.2";
	fluxd_argv[6] = "--status-socket"; /* none: no socket in /run from a test */
	fluxd_argv[7] = "none";
	fluxd_argv[8] = NULL;
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

/* `flux status --socket sock [--json]`: its exit code, its output in p->out. */
static int run_status(struct th_proc *p, char *sock, bool is_json)
{
	char *argv[] = {
		flux, "status", "--socket", sock, "--timeout", "2000", is_json ? "--json" : NULL,
		NULL
	};

	assert_int_equal(th_spawn(p, argv), 0);
	return th_wait_exit(p, TH_TIMEOUT_MS);
}

static uint64_t json_u64(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	if (!p)
		fail_msg("%s not in %s", key, json);
	return strtoull(p + strlen(key), NULL, 10);
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* What the server sends on fd until it closes, within timeout_ms. Returns the length or -1. */
static int recv_until_closed(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left_ms = (deadline - th_now_ns()) / 1000000;
		ssize_t n;

		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
			return -1;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n < 0)
			return -1;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (int)len;
}

static void test_flux_status_answers_while_control_runs(void **state)
{
	static char junk[10 * 1024];
	char cfg_path[256], sock[256], *fluxd_argv[10], *py_argv[6], answer[256];
	struct th_proc sim, d, st, py;
	uint64_t cycles1, cycles2;
	double soe;
	int silent, hostile, r;

	(void)state;
	start_site(&sim, cfg_path, sizeof(cfg_path));
	snprintf(sock, sizeof(sock), "%s/fluxd.sock", dir);
	fluxd_argv[0] = fluxd;
	fluxd_argv[1] = "-c";
	fluxd_argv[2] = cfg_path;
	fluxd_argv[3] = "--no-rt";
	fluxd_argv[4] = "--status-interval";
	fluxd_argv[5] = "0";
	fluxd_argv[6] = "--status-socket";
	fluxd_argv[7] = sock;
	fluxd_argv[8] = NULL;
	assert_int_equal(th_spawn(&d, fluxd_argv), 0);
	assert_true(th_wait_output(&d, "command source is ours", TH_TIMEOUT_MS));

	/* JSON: the BESS's id, SOE and the acknowledged setpoint (within 100 x 30 ms). */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(run_status(&st, sock, true), 0);
		if (strstr(st.out, "\"setpoint_kw\":50.000"))
			break;
		th_sleep_ms(30);
	}
	assert_non_null(strstr(st.out, "\"bess\":[{\"id\":\"bess-1\",\"status\":\"READY\""));
	assert_non_null(strstr(st.out, "\"setpoint_kw\":50.000"));
	assert_non_null(strstr(st.out, "\"is_ours\":true"));
	soe = strtod(strstr(st.out, "\"soe_pct\":") + strlen("\"soe_pct\":"), NULL);
	assert_true(soe > 55 && soe < 65); /* the sim started at 60 %; 50 kW moves it slowly */
	cycles1 = json_u64(st.out, "\"cycles\":");
	/* Valid JSON by a real parser, when there is one (test_status checks the syntax too). */
	py_argv[0] = "/usr/bin/env";
	py_argv[1] = "python3";
	py_argv[2] = "-c";
	py_argv[3] = "import json, sys; json.loads(sys.argv[1])";
	py_argv[4] = st.out;
	py_argv[5] = NULL;
	assert_int_equal(th_spawn(&py, py_argv), 0);
	r = th_wait_exit(&py, TH_TIMEOUT_MS);
	if (r == 127)
		printf("note: no python3, JSON syntax left to test_status\n");
	else if (r != 0)
		fail_msg("not JSON: %s", py.out);

	/* The human view. */
	assert_int_equal(run_status(&st, sock, false), 0);
	if (!strstr(st.out, "bess  bess-1  READY ") ||
	    !strstr(st.out, "setpoint   +50.0 kW  fresh  ours  safety none  error none") ||
	    !strstr(st.out, "meter grid    ") || !strstr(st.out, "latency setpoint_write"))
		fail_msg("unexpected view:\n%s", st.out);

	/* A client that says nothing and one that sends 10 KB of junk: fluxd keeps serving. */
	silent = unix_connect(sock);
	hostile = unix_connect(sock);
	memset(junk, 'j', sizeof(junk));
	assert_int_equal(send(hostile, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
	assert_true(recv_until_closed(hostile, answer, sizeof(answer), TH_TIMEOUT_MS) > 0);
	assert_string_equal(answer, "error: unknown request\n");
	close(hostile);
	assert_int_equal(run_status(&st, sock, true), 0);
	cycles2 = json_u64(st.out, "\"cycles\":");
	assert_true(cycles2 > cycles1);
	/* The silent one is closed at its deadline (ST_CONN_TIMEOUT_NS, 500 ms), unanswered. */
	assert_int_equal(recv_until_closed(silent, answer, sizeof(answer), TH_TIMEOUT_MS), 0);
	close(silent);
	assert_int_equal(run_status(&st, sock, true), 0);
	assert_true(json_u64(st.out, "\"cycles\":") > cycles2);

	kill(d.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 0);
	assert_int_equal(access(sock, F_OK), -1); /* unlinked at exit */
	/* No server: exit 3, naming the path and the errno. */
	assert_int_equal(run_status(&st, sock, false), 3);
	if (!strstr(st.out, sock) || !strstr(st.out, "No such file or directory"))
		fail_msg("unexpected message: %s", st.out);
	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, TH_TIMEOUT_MS), 0);
	unlink(cfg_path);
}

/*
 * The seed's "Modbus Configuration" block, with the path of its line added, as the grid
 * meter: a simulated Acuvim II on a pty (flux sim --serial pty --link) while the BESS stays
 * on Modbus TCP, and peak shaving controls the site through it: 150 kW of load, a 100 kW
 * import limit, so the BESS discharges about 50 kW.
 */
static void test_serial_grid_meter_controls_the_site(void **state)
{
	char cfg_path[256], link[256], sock[256], cfg[2048], *fluxd_argv[10];
	char *sim_argv[] = { flux,	  "sim",      "powerpack",  "--port", "0",  "--soe",  "60",
			     "acuvim2",	  "--serial", "pty",	    "--link", link, "--unit", "1",
			     "--load-kw", "150",      "--duration", "60",     NULL };
	struct th_proc sim, d, st;
	double kw = 0;
	int pp_port;

	(void)state;
	snprintf(link, sizeof(link), "%s/ttyUSB0", dir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/serial.yaml", dir);
	snprintf(sock, sizeof(sock), "%s/fluxd-serial.sock", dir);
	assert_int_equal(th_spawn(&sim, sim_argv), 0);
	assert_true(th_wait_output(&sim, "flux sim: serving", TH_TIMEOUT_MS));
	pp_port = th_printed_port(sim.out, "powerpack unit 1");
	assert_true(pp_port > 0);
	assert_non_null(strstr(sim.out, "serial: /dev/pts/"));
	snprintf(cfg, sizeof(cfg),
		 "site:\n  cycle: 50ms\n  read_window: 25ms\n  grid_meter: grid\n"
		 "  strategy: {mode: peak_shaving, import_limit_kw: 100}\n"
		 "rt: {io_cpu: -1, control_cpu: -1}\n"
		 "devices:\n"
		 "  bess:\n"
		 "    - {id: bess-1, type: powerpack, modbus: {host: 127.0.0.1, port: %d}}\n"
		 "  meters:\n"
		 "    - id: grid\n"
		 "      type: acuvim2\n"
		 "      modbus:\n"
		 "        device: %s\n"
		 "        address: 1\n"
		 "        baud: 9600\n"
		 "        parity: none\n"
		 "        data_bits: 8\n"
		 "        stop_bits: 1\n",
		 pp_port, link);
	write_file(cfg_path, cfg);
	fluxd_argv[0] = fluxd;
	fluxd_argv[1] = "-c";
	fluxd_argv[2] = cfg_path;
	fluxd_argv[3] = "--no-rt";
	fluxd_argv[4] = "--status-interval";
	fluxd_argv[5] = "0";
	fluxd_argv[6] = "--status-socket";
	fluxd_argv[7] = sock;
	fluxd_argv[8] = NULL;
	assert_int_equal(th_spawn(&d, fluxd_argv), 0);
	assert_true(th_wait_output(&d, "grid: fresh", TH_TIMEOUT_MS));
	assert_true(th_wait_output(&d, "command source is ours", TH_TIMEOUT_MS));
	/* The integrator settles in well under 20 s of 50 ms cycles. */
	for (int i = 0; i < 200; i++) {
		const char *p;

		assert_int_equal(run_status(&st, sock, true), 0);
		p = strstr(st.out, "\"setpoint_kw\":");
		kw = p ? strtod(p + strlen("\"setpoint_kw\":"), NULL) : 0;
		if (kw > 45 && kw < 55)
			break;
		th_sleep_ms(100);
	}
	if (!(kw > 45 && kw < 55))
		fail_msg("setpoint %.1f kW, want about 50:\n%s", kw, st.out);
	/* The meter on the line is fresh and read in full. */
	assert_non_null(strstr(st.out, "\"id\":\"grid\""));
	assert_int_equal(run_status(&st, sock, false), 0);
	if (!strstr(st.out, "meter grid "))
		fail_msg("no serial meter in the view:\n%s", st.out);
	kill(d.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 0);
	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, TH_TIMEOUT_MS), 0);
	assert_int_equal(access(link, F_OK), -1); /* the sim removed its link */
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

static void test_check_config_reports_every_error_and_the_seeds_warning(void **state)
{
	char *bad[] = { fluxd, "--check-config", "tests/control/configs/bad/three-errors.yaml",
			NULL };
	char path[256], *seed[] = { fluxd, "--check-config", path, NULL };
	struct th_proc p;

	(void)state;
	assert_int_equal(th_spawn(&p, bad), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 1);
	if (!strstr(p.out, "three-errors.yaml:3: site.cycle") ||
	    !strstr(p.out, "three-errors.yaml:8: devices.bess[0].power_kw") ||
	    !strstr(p.out, "three-errors.yaml:14: devices.bess[1].modbus.port"))
		fail_msg("not every error named: %s", p.out);
	/* The seed's own YAML is accepted, with a WARN for its 5 s timeout. */
	snprintf(path, sizeof(path), "%s/seed.yaml", dir);
	write_file(path, "devices:\n"
			 "  bess:\n"
			 "    - id: \"uuid-here\"\n"
			 "      name: \"Site-BESS-01\"\n"
			 "      type: \"powerpack\"\n"
			 "      modbus:\n"
			 "        host: \"192.168.1.100\"\n"
			 "        port: 502\n"
			 "        address: 1\n"
			 "        timeout: 5s\n"
			 "        retry_count: 3\n");
	assert_int_equal(th_spawn(&p, seed), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 0);
	if (!strstr(p.out, "WARN ") ||
	    !strstr(p.out, "seed.yaml:10: devices.bess[0].modbus.timeout") ||
	    !strstr(p.out, "seed.yaml: ok"))
		fail_msg("no WARN for the seed's timeout: %s", p.out);
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

/* Durations take units, or count in seconds when bare: --duration 300ms stops by itself. */
static void test_duration_takes_units_and_refuses_junk(void **state)
{
	char cfg_path[256];
	char *short_run[] = { fluxd,
			      "-c",
			      cfg_path,
			      "--no-rt",
			      "--duration",
			      "300ms",
			      "--status-interval",
			      "100ms",
			      "--status-socket",
			      "none",
			      NULL };
	char *junk[] = { fluxd, "-c", cfg_path, "--duration", "5x", NULL };
	char *bad_interval[] = { fluxd, "-c", cfg_path, "--status-interval", "-1", NULL };
	struct th_proc sim, d;

	(void)state;
	start_site(&sim, cfg_path, sizeof(cfg_path));
	assert_int_equal(th_spawn(&d, short_run), 0);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 0); /* no signal sent */
	if (strstr(d.out, "received, stopping") || !strstr(d.out, "stopped: ") ||
	    !strstr(d.out, "jitter p99"))
		fail_msg("not a run that stopped by itself with status lines:\n%s", d.out);

	assert_int_equal(th_spawn(&d, junk), 0);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 2);
	if (!strstr(d.out, "fluxd: --duration must be a duration >= 0") ||
	    !strstr(d.out, "got '5x'"))
		fail_msg("unexpected message: %s", d.out);
	assert_int_equal(th_spawn(&d, bad_interval), 0);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 2);
	assert_non_null(strstr(d.out, "--status-interval must be a duration >= 0"));

	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, TH_TIMEOUT_MS), 0);
	unlink(cfg_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigterm_leaves_bess_at_zero_kw),
		cmocka_unit_test(test_flux_status_answers_while_control_runs),
		cmocka_unit_test(test_serial_grid_meter_controls_the_site),
		cmocka_unit_test(test_bad_config_exits_1_naming_file_line_and_key),
		cmocka_unit_test(test_check_config_reports_every_error_and_the_seeds_warning),
		cmocka_unit_test(test_example_config_checks_clean),
		cmocka_unit_test(test_bad_arguments_exit_2),
		cmocka_unit_test(test_duration_takes_units_and_refuses_junk),
	};
	int ret;

	if (th_find_programs(flux, fluxd, sizeof(flux)))
		return 77;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests_name("control/fluxd", tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
