// SPDX-License-Identifier: MIT
/*
 * `fluxd --failsafe -c FILE` (control/failsafe.c) against the real PowerPack simulator and
 * misbehaving servers on 127.0.0.1: after SIGKILL of fluxd the BESS keeps its setpoint (the
 * hole), and the failsafe then leaves it at 0 kW; only a BESS whose 2010 holds our id is
 * written; an unreachable BESS, an exception, silence, a wrong TID and a refused write are
 * each named in its line and exit 1, within the budget. Prints the measured SIGKILL -> 0 kW
 * time with the failsafe run right after the kill. Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/failsafe.h"
#include "devices/powerpack.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"
#include "tests/support/rtusrv.h"
#include "tests/support/faultsrv.h"
#include "tests/support/net.h"

#define SETPOINT_KW 79
#define OTHER_ID    7	/* another master's command source id */
#define WAIT_STEPS  300 /* x 10 ms: bound on waiting for the sim to show a value */

static char flux[4096], fluxd[4096];
static char dir[] = "/tmp/flux-test-failsafe-XXXXXX";

/* ---- helpers ---------------------------------------------------------------------------- */

struct bess_spec {
	const char *id;
	uint16_t port;
	uint8_t unit;
	const char *timeout; /* "200ms" */
	unsigned retry_count;
};

/* A manual-mode config at SETPOINT_KW for these BESS, no meter, unpinned; path in path. */
static void write_config(char *path, size_t len, const char *name, const struct bess_spec *b,
			 unsigned n)
{
	FILE *f;

	snprintf(path, len, "%s/%s.yaml", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"site:\n  cycle: 50ms\n  read_window: 25ms\n"
		"  strategy: {mode: manual, setpoint_kw: %d}\n"
		"rt: {io_cpu: -1, control_cpu: -1}\n"
		"devices:\n  bess:\n",
		SETPOINT_KW);
	for (unsigned i = 0; i < n; i++)
		fprintf(
		    f,
		    "    - {id: \"%s\", type: powerpack, modbus: {host: \"127.0.0.1\", port: %u, "
		    "address: %u, timeout: %s, retry_count: %u, retry_backoff: 50ms}}\n",
		    b[i].id, b[i].port, b[i].unit, b[i].timeout, b[i].retry_count);
	assert_int_equal(fclose(f), 0);
}

/* `fluxd --failsafe -c path`: its exit code, its output in p->out, its run time in *ms. */
static int run_failsafe(struct th_proc *p, const char *path, double *ms)
{
	char *argv[] = { fluxd, "--failsafe", "-c", (char *)path, NULL };
	int64_t t0 = th_now_ns();
	int r;

	assert_int_equal(th_spawn(p, argv), 0);
	r = th_wait_exit(p, 4 * TH_TIMEOUT_MS);
	if (ms)
		*ms = (double)(th_now_ns() - t0) / 1e6;
	printf("fluxd --failsafe: exit %d\n%s", r, p->out);
	return r;
}

/* The line of BESS `id` in out must be exactly `want`. */
static void expect_line(const char *out, const char *id, const char *want)
{
	char head[96], line[512];
	const char *s;
	size_t n;

	snprintf(head, sizeof(head), "%s: ", id);
	for (s = out; s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
		if (!strncmp(s, head, strlen(head)))
			break;
	if (!s)
		fail_msg("no line for %s in:\n%s", id, out);
	n = strchr(s, '\n') ? (size_t)(strchr(s, '\n') - s) : strlen(s);
	snprintf(line, sizeof(line), "%.*s", (int)n, s);
	if (strcmp(line, want))
		fail_msg("%s: line\n  %s\nwant\n  %s", id, line, want);
	if (strstr(s + n, head))
		fail_msg("two lines for %s in:\n%s", id, out);
}

/* A simulator with n PowerPacks (unit 1 each, own port) on its thread; ports in port[]. */
static void start_sim(struct th_sim *ts, unsigned n, int *dev, uint16_t *port)
{
	struct sim_pp_params prm = SIM_PP_DEFAULTS;
	struct sim_endpoint ep = { .host = "127.0.0.1", .unit = 1 };

	prm.startup_ms = 50;
	*ts = (struct th_sim){ .sim = sim_new() };
	assert_non_null(ts->sim);
	for (unsigned i = 0; i < n; i++) {
		dev[i] = sim_add_powerpack(ts->sim, &ep, &prm);
		assert_true(dev[i] >= 0);
		port[i] = (uint16_t)sim_port(ts->sim, dev[i]);
	}
	assert_int_equal(th_sim_start(ts), 0);
}

static struct sim_pp_state pp_state(struct th_sim *ts, int dev)
{
	struct sim_pp_state st;

	assert_int_equal(sim_pp_get(ts->sim, dev, &st), 0);
	return st;
}

/* Wait until the sim delivers kw (bounded). */
static void wait_delivered(struct th_sim *ts, int dev, double kw)
{
	struct sim_pp_state st = { 0 };

	for (int i = 0; i < WAIT_STEPS; i++) {
		st = pp_state(ts, dev);
		if (st.delivered_kw == kw)
			return;
		th_sleep_ms(10);
	}
	fail_msg("the sim delivers %.1f kW, want %.1f", st.delivered_kw, kw);
}

static void spawn_fluxd(struct th_proc *d, const char *path)
{
	char *argv[] = {
		fluxd,	"-c", (char *)path, "--no-rt", "--status-interval", "0", "--status-socket",
		"none", NULL
	};

	assert_int_equal(th_spawn(d, argv), 0);
}

/* A port nothing listens on: bound once by the OS, then closed. */
static uint16_t dead_port(void)
{
	uint16_t port;
	int fd = th_listen(&port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

/* Claim a sim BESS as master `id` with setpoint kw, over Modbus as another master would. */
static void set_master(uint16_t port, uint16_t id, int16_t kw, uint16_t then_id)
{
	struct th_client cl;

	assert_int_equal(th_open(&cl, port), 0);
	assert_int_equal(th_write(&cl, 1, PP_REG_COMMAND_SOURCE, id), 0);
	assert_int_equal(th_write(&cl, 1, PP_REG_TARGET_POWER, mb_from_i16(kw)), 0);
	assert_int_equal(th_write(&cl, 1, PP_REG_COMMAND_SOURCE, then_id), 0);
	th_close(&cl);
}

/* ---- (a) the hole, and the failsafe that closes it -------------------------------------- */

static void test_sigkill_keeps_setpoint_and_failsafe_writes_zero(void **state)
{
	struct bess_spec b = { "bess-1", 0, 1, "1s", 3 };
	char path[256], want[128];
	struct th_sim ts;
	struct th_proc d, fs;
	struct sim_pp_state st;
	struct th_client cl;
	int dev;
	int64_t t_kill, t_target = 0, t_delivered = 0;

	(void)state;
	start_sim(&ts, 1, &dev, &b.port);
	write_config(path, sizeof(path), "one", &b, 1);

	/* The premise, today's behaviour: SIGKILL leaves the BESS at its last setpoint. */
	spawn_fluxd(&d, path);
	wait_delivered(&ts, dev, SETPOINT_KW);
	kill(d.pid, SIGKILL);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 128 + SIGKILL);
	th_sleep_ms(500);
	st = pp_state(&ts, dev);
	assert_int_equal(st.target_power_kw, SETPOINT_KW);
	assert_true(st.delivered_kw == SETPOINT_KW);
	assert_int_equal(st.command_source, PP_DEFAULTS.command_source_id);

	/* The failsafe: exit 0, one line for the BESS, 2008 reads 0, the sim delivers 0. */
	assert_int_equal(run_failsafe(&fs, path, NULL), 0);
	expect_line(fs.out, "bess-1", "bess-1: 0 kW acknowledged");
	assert_non_null(strstr(fs.out, "1 at 0 kW acknowledged, 0 not ours, 0 unknown"));
	assert_int_equal(pp_state(&ts, dev).target_power_kw, 0);
	assert_int_equal(th_open(&cl, b.port), 0);
	assert_int_equal(th_read1(&cl, 1, PP_REG_TARGET_POWER), 0);
	assert_int_equal(th_read1(&cl, 1, PP_REG_COMMAND_SOURCE), 3); /* the lock is kept */
	th_close(&cl);
	wait_delivered(&ts, dev, 0);

	/* Measured, not asserted: SIGKILL -> 0 kW with the failsafe started right after it. */
	spawn_fluxd(&d, path);
	wait_delivered(&ts, dev, SETPOINT_KW);
	t_kill = th_now_ns();
	kill(d.pid, SIGKILL);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 128 + SIGKILL);
	{
		char *argv[] = { fluxd, "--failsafe", "-c", path, NULL };

		assert_int_equal(th_spawn(&fs, argv), 0);
	}
	for (int i = 0; i < 5 * WAIT_STEPS && !t_delivered; i++) {
		int64_t now = th_now_ns();

		st = pp_state(&ts, dev);
		if (!t_target && st.target_power_kw == 0)
			t_target = now;
		if (t_target && st.delivered_kw == 0)
			t_delivered = now;
		th_sleep_ms(1);
	}
	assert_int_equal(th_wait_exit(&fs, TH_TIMEOUT_MS), 0);
	assert_true(t_target && t_delivered);
	snprintf(want, sizeof(want), "bess-1: 0 kW acknowledged");
	expect_line(fs.out, "bess-1", want);
	printf("measured: SIGKILL -> 2008 = 0 at the sim %.1f ms; -> 0 kW delivered %.1f ms "
	       "(the sim's response_ms %u included)\n",
	       (double)(t_target - t_kill) / 1e6, (double)(t_delivered - t_kill) / 1e6,
	       SIM_PP_DEFAULTS.response_ms);
	assert_int_equal(th_sim_stop(&ts), 0);
	unlink(path);
}

/* ---- (b) the command source is a lock: only ours is written ----------------------------- */

static void test_writes_only_the_bess_whose_source_is_ours(void **state)
{
	struct bess_spec b[3] = { { "ours", 0, 1, "500ms", 3 },
				  { "theirs", 0, 1, "500ms", 3 },
				  { "theirs-store", 0, 1, "500ms", 3 } };
	char path[256], want[128];
	struct th_sim ts;
	struct th_fsrv srv = { 0 };
	struct th_client cl;
	struct th_proc fs;
	uint16_t port[2];
	uint64_t before;
	int dev[2];

	(void)state;
	start_sim(&ts, 2, dev, port);
	b[0].port = port[0];
	b[1].port = port[1];
	th_sleep_ms(100); /* startup_ms: READY */
	set_master(port[0], 3, 40, 3);
	set_master(port[1], 3, 30, OTHER_ID); /* set by us, then taken over by master 7 */
	/* A plain register store as the third: it would take a wrong write, a sim refuses it. */
	assert_int_equal(th_fsrv_open(&srv, 1), 0);
	b[2].port = srv.ports[0].port;
	assert_int_equal(th_open(&cl, b[2].port), 0);
	assert_int_equal(th_write(&cl, 1, PP_REG_TARGET_POWER, 55), 0);
	assert_int_equal(th_write(&cl, 1, PP_REG_COMMAND_SOURCE, OTHER_ID), 0);
	th_close(&cl);
	before = atomic_load(&srv.ports[0].requests);
	write_config(path, sizeof(path), "lock", b, 3);

	assert_int_equal(run_failsafe(&fs, path, NULL), 0);
	expect_line(fs.out, "ours", "ours: 0 kW acknowledged");
	snprintf(want, sizeof(want), "theirs: command source held by id %d: not ours, left alone",
		 OTHER_ID);
	expect_line(fs.out, "theirs", want);
	snprintf(want, sizeof(want),
		 "theirs-store: command source held by id %d: not ours, left alone", OTHER_ID);
	expect_line(fs.out, "theirs-store", want);
	assert_non_null(strstr(fs.out, "3 BESS in "));
	assert_non_null(strstr(fs.out, "1 at 0 kW acknowledged, 2 not ours, 0 unknown"));
	assert_int_equal(pp_state(&ts, dev[0]).target_power_kw, 0);
	assert_int_equal(pp_state(&ts, dev[1]).target_power_kw, 30);
	assert_int_equal(pp_state(&ts, dev[1]).command_source, OTHER_ID);
	/* The store saw one request, the read of 2010, and still holds 55 kW. */
	assert_int_equal(atomic_load(&srv.ports[0].requests) - before, 1);
	assert_int_equal(th_open(&cl, b[2].port), 0);
	assert_int_equal(th_read1(&cl, 1, PP_REG_TARGET_POWER), 55);
	th_close(&cl);
	th_fsrv_close(&srv);
	assert_int_equal(th_sim_stop(&ts), 0);
	unlink(path);
}

/* ---- (c) an unreachable BESS ------------------------------------------------------------ */

static void test_unreachable_bess_is_unknown_and_exits_1(void **state)
{
	struct bess_spec b[2] = { { "bess-up", 0, 1, "200ms", 3 },
				  { "bess-down", 0, 1, "200ms", 3 } };
	char path[256];
	struct th_sim ts;
	struct th_proc fs;
	double ms;
	int dev;

	(void)state;
	start_sim(&ts, 1, &dev, &b[0].port);
	b[1].port = dead_port();
	th_sleep_ms(100);
	set_master(b[0].port, 3, 20, 3);
	write_config(path, sizeof(path), "down", b, 2);

	assert_int_equal(run_failsafe(&fs, path, &ms), 1);
	expect_line(fs.out, "bess-up", "bess-up: 0 kW acknowledged");
	expect_line(fs.out, "bess-down",
		    "bess-down: no answer (connection refused, 3 attempts): state unknown");
	assert_non_null(strstr(fs.out, "1 at 0 kW acknowledged, 0 not ours, 1 unknown"));
	assert_int_equal(pp_state(&ts, dev).target_power_kw, 0);
	printf("measured: run with a refused BESS (3 x 200 ms budget) %.0f ms\n", ms);
	assert_int_equal(th_sim_stop(&ts), 0);
	unlink(path);
}

/* ---- (d) misbehaving BESS: each fault named --------------------------------------------- */

static void test_faults_are_named_in_the_line_and_exit_1(void **state)
{
	static const struct {
		const char *id;
		enum th_fsrv_fault fault;
		int param;
		const char *line;
	} cases[] = {
		{ "exc4", TH_FSRV_EXCEPTION, 4,
		  "exc4: read 2010 failed (exception 0x04 server device failure, 3 attempts): "
		  "state unknown" },
		{ "silent", TH_FSRV_SILENT, 0,
		  "silent: no answer to read 2010 (timed out after 200 ms, 3 attempts): state "
		  "unknown" },
		{ "tid", TH_FSRV_WRONG_TID, 0,
		  "tid: read 2010 failed (response transaction id differs from the request's, 3 "
		  "attempts): state unknown" },
		{ "unit", TH_FSRV_WRONG_UNIT, 0,
		  "unit: read 2010 failed (response unit id differs from the request's, 3 "
		  "attempts): state unknown" },
		{ "cut", TH_FSRV_CUT, 0,
		  "cut: read 2010 failed (connection closed, 3 attempts): state unknown" },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct bess_spec b[N + 1];
	struct th_fsrv srv = { 0 };
	struct th_srv *ro = calloc(1, sizeof(*ro));
	struct th_client cl;
	struct th_proc fs;
	char path[256];
	double ms;

	(void)state;
	assert_non_null(ro);
	assert_int_equal(th_fsrv_open(&srv, N), 0);
	for (unsigned i = 0; i < N; i++) {
		b[i] = (struct bess_spec){ cases[i].id, srv.ports[i].port, 1, "200ms", 3 };
		assert_int_equal(th_open(&cl, b[i].port), 0); /* ours, so a write would follow */
		assert_int_equal(th_write(&cl, 1, PP_REG_COMMAND_SOURCE, 3), 0);
		th_close(&cl);
		th_fsrv_set(&srv, i, cases[i].fault, cases[i].param);
	}
	/* 2010 ours and readable, 2008 outside the device's map: the write is refused. */
	ro->bank.hold[PP_REG_COMMAND_SOURCE] = 3;
	ro->bank.win_addr = PP_REG_COMMAND_SOURCE;
	ro->bank.win_count = 1;
	assert_int_equal(th_srv_open(ro, 4 * TH_TIMEOUT_MS), 0);
	b[N] = (struct bess_spec){ "refuses", ro->port, 1, "200ms", 3 };
	write_config(path, sizeof(path), "faults", b, N + 1);

	assert_int_equal(run_failsafe(&fs, path, &ms), 1);
	for (unsigned i = 0; i < N; i++)
		expect_line(fs.out, cases[i].id, cases[i].line);
	expect_line(fs.out, "refuses",
		    "refuses: command source ours, but write 2008 := 0 failed (exception 0x02 "
		    "illegal data address, 3 attempts): 0 kW not acknowledged");
	assert_non_null(strstr(fs.out, "0 at 0 kW acknowledged, 0 not ours, 6 unknown"));
	/* Each retried: 3 requests at every server that answered or kept silent. */
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(atomic_load(&srv.ports[i].requests), 1 + 3);
	printf("measured: 6 failing BESS handled concurrently (3 x 200 ms budget each) %.0f ms\n",
	       ms);
	th_fsrv_close(&srv);
	th_srv_close(ro);
	free(ro);
	unlink(path);
}

/* ---- the same, in process: fs_run()'s return and lines ---------------------------------- */

static void test_fs_run_returns_1_unless_every_owned_bess_acknowledged(void **state)
{
	struct bess_spec b[2] = { { "a", 0, 1, "200ms", 2 }, { "b", 0, 1, "200ms", 1 } };
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[256], err[CFG_ERR_MAX], *buf = NULL;
	struct th_sim ts;
	size_t len = 0;
	FILE *out;
	int dev[2];
	uint16_t port[2];

	(void)state;
	assert_non_null(cfg);
	start_sim(&ts, 2, dev, port);
	b[0].port = port[0];
	b[1].port = port[1];
	th_sleep_ms(100);
	set_master(port[0], 3, 60, 3);
	set_master(port[1], 3, -25, 3);
	write_config(path, sizeof(path), "inproc", b, 2);
	assert_int_equal(cfg_load(cfg, path, err, sizeof(err)), 0);

	out = open_memstream(&buf, &len);
	assert_non_null(out);
	assert_int_equal(fs_run(cfg, out), 0);
	fclose(out);
	expect_line(buf, "a", "a: 0 kW acknowledged");
	expect_line(buf, "b", "b: 0 kW acknowledged");
	assert_int_equal(pp_state(&ts, dev[0]).target_power_kw, 0);
	assert_int_equal(pp_state(&ts, dev[1]).target_power_kw, 0);
	free(buf);

	/* b silent: one attempt (retry_count 1), a's 0 kW still written; returns 1. */
	set_master(port[0], 3, 60, 3);
	assert_int_equal(sim_set_fault(ts.sim, dev[1], &(struct sim_fault){ SIM_F_SILENCE }), 0);
	buf = NULL;
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	assert_int_equal(fs_run(cfg, out), 1);
	fclose(out);
	expect_line(buf, "a", "a: 0 kW acknowledged");
	expect_line(buf, "b",
		    "b: no answer to read 2010 (timed out after 200 ms, 1 attempt): state unknown");
	assert_int_equal(pp_state(&ts, dev[0]).target_power_kw, 0);
	free(buf);

	/* No BESS: nothing to do, 0. */
	cfg->nbess = 0;
	buf = NULL;
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	assert_int_equal(fs_run(cfg, out), 0);
	fclose(out);
	assert_non_null(strstr(buf, "nothing to do"));
	free(buf);
	assert_int_equal(th_sim_stop(&ts), 0);
	cfg_free(cfg);
	free(cfg);
	unlink(path);
}

/*
 * BESS on a serial line (libmodbus's RTU server on a pty, two units) and the same over a
 * missing tty: the two on one line take turns and both get 0 kW, one not ours is left
 * alone, and a line that is not there is named.
 */
static void test_fs_run_writes_zero_over_a_serial_line(void **state)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	struct th_rtusrv *srv = calloc(1, sizeof(*srv));
	char path[256], err[CFG_ERR_MAX], *buf = NULL;
	modbus_mapping_t *map;
	size_t len = 0;
	FILE *f, *out;

	(void)state;
	assert_non_null(cfg);
	assert_non_null(srv);
	assert_int_equal(th_rtusrv_start(srv, 1, 19200), 0);
	th_rtusrv_serve(srv, 2, true);
	th_rtusrv_serve(srv, 3, true);
	map = th_rtusrv_lock(srv);
	/* The units share one bank: 2010 holds 3 (ours for s1 and s2), 2008 60 kW. s3 has
	 * another command_source_id, so to it 2010 is another master's. */
	map->tab_registers[2010] = 3;
	map->tab_registers[2008] = 60;
	th_rtusrv_unlock(srv);
	snprintf(path, sizeof(path), "%s/serial.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"site: {strategy: {mode: manual}}\n"
		"rt: {io_cpu: -1, control_cpu: -1}\n"
		"devices:\n  bess:\n"
		"    - {id: s1, type: powerpack, modbus: {device: \"%s\", address: 1, baud: 19200, "
		"timeout: 300ms, retry_count: 2}}\n"
		"    - {id: s2, type: powerpack, modbus: {device: \"%s\", address: 2, baud: 19200, "
		"timeout: 300ms, retry_count: 2}}\n"
		"    - {id: s3, type: powerpack, command_source_id: %d, modbus: {device: \"%s\", "
		"address: 3, baud: 19200, timeout: 300ms}}\n"
		"    - {id: gone, type: powerpack, modbus: {device: /dev/flux-no-such-tty, "
		"timeout: 100ms}}\n",
		th_rtusrv_path(srv), th_rtusrv_path(srv), OTHER_ID, th_rtusrv_path(srv));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cfg_load(cfg, path, err, sizeof(err)), 0);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	assert_int_equal(fs_run(cfg, out), 1);
	fclose(out);
	printf("%s", buf);
	expect_line(buf, "s1", "s1: 0 kW acknowledged");
	expect_line(buf, "s2", "s2: 0 kW acknowledged");
	expect_line(buf, "s3", "s3: command source held by id 3: not ours, left alone");
	expect_line(buf, "gone",
		    "gone: no answer (no such file or directory, 3 attempts): state unknown");
	map = th_rtusrv_lock(srv);
	assert_int_equal(map->tab_registers[2008], 0);
	th_rtusrv_unlock(srv);
	/* Each unit on the line was asked; libmodbus refused no frame. */
	assert_true(srv->unit_requests[1] >= 3 && srv->unit_requests[2] >= 3);
	assert_true(srv->unit_requests[3] >= 1);
	assert_int_equal(srv->bad, 0);
	free(buf);
	th_rtusrv_stop(srv);
	free(srv);
	cfg_free(cfg);
	free(cfg);
	unlink(path);
}

/* ---- usage and config errors ------------------------------------------------------------ */

static void test_failsafe_usage_exits_2_and_bad_config_1(void **state)
{
	char bad[256];
	char *no_config[] = { fluxd, "--failsafe", NULL };
	char *with_check[] = { fluxd, "--failsafe", "--check-config", "deploy/site.yaml", NULL };
	char *with_preflight[] = { fluxd, "--failsafe", "--preflight", "-c", "x.yaml", NULL };
	char *missing[] = { fluxd, "--failsafe", "-c", "/nonexistent/site.yaml", NULL };
	char *broken[] = { fluxd, "--failsafe", "-c", bad, NULL };
	struct th_proc p;
	FILE *f;

	(void)state;
	assert_int_equal(th_spawn(&p, no_config), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_non_null(strstr(p.out, "fluxd --failsafe -c FILE"));
	assert_int_equal(th_spawn(&p, with_check), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_int_equal(th_spawn(&p, with_preflight), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_int_equal(th_spawn(&p, missing), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 1);
	assert_non_null(strstr(p.out, "/nonexistent/site.yaml"));
	snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
	f = fopen(bad, "w");
	assert_non_null(f);
	fputs("site:\n  cycle: 100ms\n  cycel_typo: 5\ndevices:\n  bess:\n"
	      "    - {id: a, type: powerpack, modbus: {host: 127.0.0.1}}\n",
	      f);
	fclose(f);
	assert_int_equal(th_spawn(&p, broken), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 1);
	if (!strstr(p.out, "bad.yaml:3:") || !strstr(p.out, "cycel_typo"))
		fail_msg("unexpected message: %s", p.out);
	unlink(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_keeps_setpoint_and_failsafe_writes_zero),
		cmocka_unit_test(test_writes_only_the_bess_whose_source_is_ours),
		cmocka_unit_test(test_unreachable_bess_is_unknown_and_exits_1),
		cmocka_unit_test(test_faults_are_named_in_the_line_and_exit_1),
		cmocka_unit_test(test_fs_run_returns_1_unless_every_owned_bess_acknowledged),
		cmocka_unit_test(test_fs_run_writes_zero_over_a_serial_line),
		cmocka_unit_test(test_failsafe_usage_exits_2_and_bad_config_1),
	};
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if (th_find_programs(flux, fluxd, sizeof(flux)))
		return 77;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests_name("control/failsafe_cmd", tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
