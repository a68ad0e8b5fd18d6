// SPDX-License-Identifier: MIT
/*
 * fluxtrace against the real thing: build/bin/flux sim and build/bin/fluxd as child processes
 * on 127.0.0.1, build/bin/fluxtrace attached to fluxd's USDT probes and the kernel. The
 * selftests' order: open_and_load -> attach -> trigger (fluxd runs) -> read (the JSON report)
 * -> destroy (fluxtrace exits). Needs root, kernel BTF and tracefs (mounted here when it is
 * not, as a fresh CI machine has it); skips (77) saying which is missing. Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/probe_list.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"
#include "tests/support/json_check.h"

#define SLOW_MS	       20000 /* bound on what compiles or loads BPF (bpftrace, fluxtrace) */
#define FLUXD_DURATION "4"   /* seconds fluxd runs in the counted test */
#define STATUS_EVERY_S 0.1   /* fluxd --status-interval in the counted test */
#define CYCLE_MS       50    /* the config's cycle */

static char flux[4096], fluxd[4096], fluxtrace[4096], bpftrace[256];
static char dir[] = "/tmp/flux-test-fluxtrace-XXXXXX";
static char cfg_path[256];
static bool has_status_socket; /* this fluxd has --status-socket (then: none) */
static struct th_proc sim;

/* Every probe fluxd declares (rt/probe_list.h): fluxtrace and bpftrace must see each. */
#define PROBE_NAME(name, thread, args) #name,
static const char *const probes[] = { FLUX_PROBES(PROBE_NAME) };
#undef PROBE_NAME
static const char *const latencies[] = { "soe_read",	"setpoint_write", "cycle_jitter",
					 "cycle_time",	"rt_wakeup_io",	  "rt_wakeup_ctl",
					 "cqe_to_parse" };
static const char *const scripts[] = { "bpf/soe_latency.bt", "bpf/setpoint_latency.bt",
				       "bpf/cycle_jitter.bt", "bpf/rtt.bt", "bpf/rt_wakeup.bt" };

/* The number after "key": at or after from, or -1. */
static long long json_num_after(const char *from, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(from, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The count of latency `name` in the report. */
static long long latency_count(const char *json, const char *name)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":{", name);
	p = strstr(json, pat);
	return p ? json_num_after(p, "count") : -1;
}

/* Copy the line of out that starts with prefix into buf (NUL-terminated). */
static bool line_starting(const char *out, const char *prefix, char *buf, size_t cap)
{
	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t n = strcspn(p, "\n");

		if (!strncmp(p, prefix, strlen(prefix)) && n < cap) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			return true;
		}
	}
	return false;
}

/* The last "cycle N " status line fluxd printed, or -1. */
static long long last_status_cycle(const char *out)
{
	long long last = -1;

	for (const char *p = out; (p = strstr(p, "\ncycle ")); p++)
		last = strtoll(p + strlen("\ncycle "), NULL, 10);
	return last;
}

/*
 * The text report's "probes: NAME N NAME N ..." line of the final report (the last one) lists
 * every probe of the list, in its order, each with its count. Attached to a running fluxd
 * for a short while, a probe may have none (setpoint_push fires when the setpoint changes):
 * the counted test, from fluxd's start, wants every one above 0.
 */
static void assert_probes_line_counts(const char *out)
{
	const char *line = NULL, *p;

	for (p = out; (p = strstr(p, "probes:")); p++)
		if (p == out || p[-1] == '\n')
			line = p;
	if (!line)
		fail_msg("no probes: line in:\n%s", out);
	p = line + strlen("probes:");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		size_t n = strlen(probes[i]);
		char *end;
		long long count;

		if (p[0] != ' ' || strncmp(p + 1, probes[i], n) || p[n + 1] != ' ')
			fail_msg("probe %s missing or out of order in: %.*s", probes[i],
				 (int)strcspn(line, "\n"), line);
		count = strtoll(p + n + 2, &end, 10);
		if (end == p + n + 2 || count < 0)
			fail_msg("probe %s has no count in: %.*s", probes[i],
				 (int)strcspn(line, "\n"), line);
		p = end;
	}
	if (*p != '\n')
		fail_msg("probes: line has more than the %zu probes: %.*s",
			 sizeof(probes) / sizeof(probes[0]), (int)strcspn(line, "\n"), line);
}

/* ---- processes ---------------------------------------------------------------------- */

/* Start fluxd on the config, --no-rt; extra args after. */
static void spawn_fluxd(struct th_proc *d, const char *duration, const char *status_s)
{
	char *argv[12];
	int n = 0;

	argv[n++] = fluxd;
	argv[n++] = "-c";
	argv[n++] = cfg_path;
	argv[n++] = "--no-rt";
	argv[n++] = "--duration";
	argv[n++] = (char *)duration;
	argv[n++] = "--status-interval";
	argv[n++] = (char *)status_s;
	if (has_status_socket) {
		argv[n++] = "--status-socket";
		argv[n++] = "none";
	}
	argv[n] = NULL;
	assert_int_equal(th_spawn(d, argv), 0);
}

static void stop(struct th_proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		th_wait_exit(p, TH_TIMEOUT_MS);
	}
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_bpftrace_lists_every_probe(void **state)
{
	char spec[4200], *argv[] = { bpftrace, "-l", spec, NULL };
	struct th_proc p;

	(void)state;
	if (!bpftrace[0])
		skip();
	snprintf(spec, sizeof(spec), "usdt:%s:*", fluxd);
	assert_int_equal(th_spawn(&p, argv), 0);
	assert_int_equal(th_wait_exit(&p, SLOW_MS), 0);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), ":flux:%s\n", probes[i]);
		if (!strstr(p.out, want))
			fail_msg("bpftrace -l does not list %s:\n%s", probes[i], p.out);
	}
	/* and none that the list does not have */
	for (const char *q = p.out; (q = strstr(q, ":flux:")); q++) {
		size_t n = strcspn(q + 6, "\n"), i;

		for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			if (strlen(probes[i]) == n && !strncmp(q + 6, probes[i], n))
				break;
		if (i == sizeof(probes) / sizeof(probes[0]))
			fail_msg("fluxd has probe flux:%.*s, rt/probe_list.h does not", (int)n,
				 q + 6);
	}
}

/*
 * fluxtrace --exec is attached before fluxd starts and ends when it exits, so it sees every
 * cycle. Tolerance: fluxd's last status line ("cycle N") is at most STATUS_EVERY_S old when
 * it stops, so cycle_start may exceed N by STATUS_EVERY_S / cycle + 2 (a boundary each side),
 * never fall below it. Per cycle one BESS sample is consumed (+-2: first and last cycle);
 * requests and responses differ by what was in flight at the end (<= 3, one per connection
 * and one retry).
 */
static void test_histograms_fill_and_counts_match_fluxd(void **state)
{
	char *argv[] = { fluxtrace,    "--exec",
			 fluxd,	       "--json",
			 "--interval", "0",
			 "--duration", "30",
			 "--budget",   "allocs=0,soe_read=1s,setpoint_write=1s,cycle_jitter=1s",
			 NULL };
	static char json[8192];
	struct th_proc t, d;
	long long cycles, n, slack = (long long)(STATUS_EVERY_S * 1000 / CYCLE_MS) + 2;
	char status_s[16];

	(void)state;
	assert_int_equal(th_spawn(&t, argv), 0);
	if (!th_wait_output(&t, "fluxtrace: attached", SLOW_MS)) {
		stop(&t);
		fail_msg("fluxtrace did not attach:\n%s", t.out);
	}
	snprintf(status_s, sizeof(status_s), "%g", STATUS_EVERY_S);
	spawn_fluxd(&d, FLUXD_DURATION, status_s);
	assert_int_equal(th_wait_exit(&d, 15000), 0);
	/* allocs=0 and the loose ones hold; if not, say which broke (fluxtrace prints it) */
	if (th_wait_exit(&t, SLOW_MS) != 0)
		fail_msg("fluxtrace did not exit 0: a budget broke or it failed:\n%s", t.out);

	assert_true(line_starting(t.out, "{\"tool\":\"fluxtrace\"", json, sizeof(json)));
	if (!th_json_is_valid(json))
		fail_msg("not valid JSON: %s", json);
	for (size_t i = 0; i < sizeof(latencies) / sizeof(latencies[0]); i++) {
		n = latency_count(json, latencies[i]);
		if (n <= 0)
			fail_msg("histogram %s has no samples (%lld): %s", latencies[i], n, json);
	}
	assert_non_null(strstr(json, "\"rtt\":[{\"dev\":0,"));
	assert_non_null(strstr(json, "{\"dev\":1,"));
	assert_non_null(strstr(json, "\"budgets_ok\":true"));
	assert_non_null(strstr(json, "\"name\":\"allocs\",\"limit\":0,\"value\":0,\"ok\":true"));
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_true(json_num_after(strstr(json, "\"probes\":"), probes[i]) > 0);

	cycles = last_status_cycle(d.out);
	n = json_num_after(json, "cycle_start");
	printf("fluxd's last status: cycle %lld; fluxtrace saw %lld cycle_start (allowed "
	       "%lld..%lld)\n",
	       cycles, n, cycles, cycles + slack);
	assert_true(cycles > 10);
	assert_in_range(n, cycles, cycles + slack);
	assert_in_range(json_num_after(json, "cycle_end"), n - 1, n);
	assert_in_range(json_num_after(json, "poll_push"), n - 1, n);
	assert_in_range(json_num_after(json, "sample_consumed"), n - 2, n + 2);
	n = json_num_after(json, "request_sent");
	assert_in_range(json_num_after(json, "response_parsed"), n - 3, n);
	assert_true(json_num_after(json, "write_ack") <= json_num_after(json, "setpoint_push"));
}

/* --pid on a running fluxd: a loose budget (with allocs=0) holds, an impossible one breaks. */
static void test_pid_budgets_hold_and_break(void **state)
{
	char pid[16];
	char *loose[] = { fluxtrace,	"--pid",    pid,
			  "--duration", "2",	    "--interval",
			  "0",		"--budget", "allocs=0,cycle_jitter:max=1s,rtt:p99=999.5ms",
			  NULL };
	char *tight[] = { fluxtrace,	"--pid", pid,	     "--duration",   "2",
			  "--interval", "1",	 "--budget", "soe_read=1ns", NULL };
	struct th_proc d, t;

	(void)state;
	spawn_fluxd(&d, "20", "0.2");
	assert_true(th_wait_output(&d, "cycle ", TH_TIMEOUT_MS));
	snprintf(pid, sizeof(pid), "%d", (int)d.pid);

	assert_int_equal(th_spawn(&t, loose), 0);
	assert_int_equal(th_wait_exit(&t, SLOW_MS), 0);
	assert_non_null(strstr(t.out, "all 3 budgets hold"));
	assert_non_null(strstr(t.out, "soe_read "));
	assert_probes_line_counts(t.out);

	assert_int_equal(th_spawn(&t, tight), 0);
	assert_int_equal(th_wait_exit(&t, SLOW_MS), 1);
	if (!strstr(t.out, "budget soe_read broken"))
		fail_msg("no broken soe_read budget named:\n%s", t.out);
	assert_non_null(strstr(t.out, "over budget: soe_read"));
	stop(&d);
}

static void test_bpftrace_scripts_run_against_live_fluxd(void **state)
{
	char pid[16];
	struct th_proc d;

	(void)state;
	if (!bpftrace[0])
		skip();
	spawn_fluxd(&d, "60", "0");
	th_sleep_ms(500);
	snprintf(pid, sizeof(pid), "%d", (int)d.pid);
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		char *argv[] = { bpftrace, (char *)scripts[i], "-p", pid, NULL };
		struct th_proc b;

		assert_int_equal(th_spawn(&b, argv), 0);
		if (!th_wait_output(&b, "Ctrl-C to end", SLOW_MS)) {
			stop(&b);
			stop(&d);
			fail_msg("%s did not start:\n%s", scripts[i], b.out);
		}
		th_sleep_ms(1500);
		kill(b.pid, SIGINT);
		assert_int_equal(th_wait_exit(&b, SLOW_MS), 0);
		if (!strstr(b.out, "\n@")) {
			stop(&d);
			fail_msg("%s printed no map:\n%s", scripts[i], b.out);
		}
	}
	stop(&d);
}

/* The traced binary's path is a JSON string in the report: a quote and a backslash escaped. */
static void test_json_escapes_the_binary_path(void **state)
{
	char sub[512], bin[600];
	char *cp[] = { "/bin/cp", fluxd, bin, NULL };
	char *argv[] = { fluxtrace, "--exec",	  bin, "--json", "--interval",
			 "0",	    "--duration", "1", NULL };
	static char json[8192];
	struct th_proc c, t;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/q\"b\\s", dir);
	snprintf(bin, sizeof(bin), "%s/fluxd", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(th_spawn(&c, cp), 0);
	assert_int_equal(th_wait_exit(&c, TH_TIMEOUT_MS), 0);
	assert_int_equal(th_spawn(&t, argv), 0);
	assert_int_equal(th_wait_exit(&t, SLOW_MS), 0); /* nothing ran: no budget, no failure */
	unlink(bin);
	rmdir(sub);
	assert_true(line_starting(t.out, "{\"tool\":\"fluxtrace\"", json, sizeof(json)));
	if (!th_json_is_valid(json))
		fail_msg("not valid JSON: %s", json);
	if (!strstr(json, "/q\\\"b\\\\s/fluxd\","))
		fail_msg("binary path not escaped as a JSON string: %s", json);
}

static void test_binary_without_probes_exits_1(void **state)
{
	char *argv[] = { fluxtrace, "--exec", "/bin/true", "--duration", "1", NULL };
	struct th_proc t;

	(void)state;
	assert_int_equal(th_spawn(&t, argv), 0);
	assert_int_equal(th_wait_exit(&t, SLOW_MS), 1);
	assert_non_null(strstr(t.out, "cannot attach to usdt flux:cycle_start"));
}

static void test_bad_arguments_exit_2(void **state)
{
	static const struct {
		const char *args[6];
		const char *says;
	} cases[] = {
		{ { NULL }, "give one of --pid PID or --exec PATH" },
		{ { "--pid", "1", "--exec", "/bin/true" }, "give one of" },
		{ { "--pid", "x" }, "--pid wants a process id" },
		{ { "--exec", "/nonexistent/fluxd" }, "not an executable file" },
		{ { "--exec", "/bin/true", "--duration", "-1" }, "--duration" },
		{ { "--exec", "/bin/true", "--budget", "soe_read=2" }, "with a unit" },
		{ { "--exec", "/bin/true", "--budget", "soe_read=-2ms" }, "with a unit" },
		{ { "--exec", "/bin/true", "--budget", "rtt=2 ms" }, "with a unit" },
		{ { "--exec", "/bin/true", "--budget", "rtt=9999999999s" }, "too long a time" },
		{ { "--exec", "/bin/true", "--budget", "nope=2ms" }, "unknown name 'nope'" },
		{ { "--exec", "/bin/true", "--budget", "soe_read:q9=2ms" }, "percentile" },
		{ { "--exec", "/bin/true", "--budget", "allocs=lots" }, "whole number" },
		{ { "--exec", "/bin/true", "--frobnicate" }, "unknown option" },
		{ { "--exec", "/bin/true", "surplus" }, "unexpected argument" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[8] = { fluxtrace };
		struct th_proc t;

		for (int k = 0; k < 6 && cases[i].args[k]; k++)
			argv[k + 1] = (char *)cases[i].args[k];
		assert_int_equal(th_spawn(&t, argv), 0);
		assert_int_equal(th_wait_exit(&t, TH_TIMEOUT_MS), 2);
		if (!strstr(t.out, cases[i].says))
			fail_msg("case %zu: expected '%s' in:\n%s", i, cases[i].says, t.out);
	}
}

/* ---- setup: one simulator and one config for every test ----------------------------- */

static int group_setup(void **state)
{
	char *help_argv[] = { fluxd, "--help", NULL };
	struct th_proc h;

	(void)state;
	if (th_spawn(&h, help_argv) == 0 && th_wait_exit(&h, TH_TIMEOUT_MS) == 0)
		has_status_socket = strstr(h.out, "--status-socket") != NULL;
	snprintf(cfg_path, sizeof(cfg_path), "%s/site.yaml", dir);
	return th_start_site(flux, &sim, cfg_path, CYCLE_MS, 300) > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	stop(&sim);
	unlink(cfg_path);
	return 0;
}

/* A sibling of bin/flux in the same build tree. */
static void sibling(char *out, size_t cap, const char *name)
{
	char *slash;

	snprintf(out, cap, "%s", flux);
	slash = strrchr(out, '/');
	snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "%s", name);
}

/*
 * tracefs, where bpftrace and libbpf find the tracepoints: at /sys/kernel/tracing, or under
 * debugfs at /sys/kernel/debug/tracing. Mounts it when neither is there (needs root) and
 * leaves it mounted, as the kernel's selftests do. Returns 0, or -errno with why filled in.
 */
static int ensure_tracefs(char *why, size_t len)
{
	static const char tracing[] = "/sys/kernel/tracing", debug[] = "/sys/kernel/debug";
	int err;

	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return 0;
	if (!mount("nodev", tracing, "tracefs", 0, NULL)) {
		printf("note: tracefs was not mounted: mounted it on %s\n", tracing);
		return 0;
	}
	err = -errno;
	/* Older kernels have tracefs only inside debugfs, which mounts it by itself. */
	if (!mount("nodev", debug, "debugfs", 0, NULL) &&
	    !access("/sys/kernel/debug/tracing/events", F_OK)) {
		printf("note: tracefs was not mounted: mounted debugfs on %s (tracing inside)\n",
		       debug);
		return 0;
	}
	snprintf(why, len, "tracefs not mounted, and mount -t tracefs nodev %s failed: %s", tracing,
		 strerror(-err));
	return err;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments_exit_2),
		cmocka_unit_test(test_bpftrace_lists_every_probe),
		cmocka_unit_test(test_binary_without_probes_exits_1),
		cmocka_unit_test(test_json_escapes_the_binary_path),
		cmocka_unit_test(test_histograms_fill_and_counts_match_fluxd),
		cmocka_unit_test(test_pid_budgets_hold_and_break),
		cmocka_unit_test(test_bpftrace_scripts_run_against_live_fluxd),
	};
	static const char *const bpftrace_paths[] = { "/usr/bin/bpftrace", "/usr/sbin/bpftrace",
						      "/usr/local/bin/bpftrace" };
	char why[256];
	int err, ret;

	err = th_flux_path(flux, sizeof(flux));
	if (err) {
		printf("skipped: %s not built (%s): make it first\n", flux, strerror(-err));
		return 77;
	}
	sibling(fluxd, sizeof(fluxd), "fluxd");
	sibling(fluxtrace, sizeof(fluxtrace), "fluxtrace");
	if (access(fluxd, X_OK) || access(fluxtrace, X_OK)) {
		printf("skipped: %s or %s not built: make it first\n", fluxd, fluxtrace);
		return 77;
	}
	if (geteuid() != 0) {
		printf(
		    "skipped: fluxtrace loads BPF programs: needs root (or CAP_BPF+CAP_PERFMON)\n");
		return 77;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		printf("skipped: no kernel BTF (/sys/kernel/btf/vmlinux)\n");
		return 77;
	}
	if (ensure_tracefs(why, sizeof(why))) {
		printf("skipped: %s\n", why);
		return 77;
	}
	for (size_t i = 0; i < sizeof(bpftrace_paths) / sizeof(bpftrace_paths[0]); i++)
		if (!access(bpftrace_paths[i], X_OK)) {
			snprintf(bpftrace, sizeof(bpftrace), "%s", bpftrace_paths[i]);
			break;
		}
	if (!bpftrace[0])
		printf("note: bpftrace not installed: its tests are skipped\n");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests_name("bpf/fluxtrace", tests, group_setup, group_teardown);
	rmdir(dir);
	return ret ? 1 : 0;
}
