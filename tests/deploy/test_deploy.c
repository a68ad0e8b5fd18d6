// SPDX-License-Identifier: MIT
/*
 * deploy/: the systemd unit passes `systemd-analyze verify` as installed and scores an
 * exposure of at most 1.5 in `systemd-analyze security`; flux-ipallow prints a drop-in with
 * exactly a config's hosts and refuses what it cannot vouch for; `make install
 * DESTDIR=` lays out every file and `make uninstall` removes them (an edited site.yaml stays);
 * `fluxd --preflight` names what this non-RT machine lacks, with its documented exit code and
 * valid JSON, and every check reaches PASS, WARN and FAIL on a fake /proc + /sys tree;
 * rt-tune.sh --dry-run shows and changes nothing; fluxd's sd_notify messages on a
 * NOTIFY_SOCKET this test owns: READY=1, WATCHDOG=1 while healthy, none while the control
 * cycle is held by the test hook, kicks again after, STOPPING=1 at SIGTERM.
 * Runs from the repository root (as `make test` does); every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/preflight.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"

#if defined(__SANITIZE_ADDRESS__)
#define SAN_NAME "asan"
#elif defined(__SANITIZE_THREAD__)
#define SAN_NAME "tsan"
#else
#define SAN_NAME ""
#endif

#define CMD_TIMEOUT_MS	60000 /* make install may relink */
#define WATCHDOG_USEC	600000
#define STALL_AFTER_S	"1.5"
#define STALL_FOR_NS	(2000LL * 1000 * 1000)
#define NOTIFY_MSGS_MAX 512

static char flux[1024], fluxd[1024], build[1024];
static char dir[] = "/tmp/flux-test-deploy-XXXXXX";

/* ---- helpers ---------------------------------------------------------------------------- */

/* Run a shell command line; its output in p->out. Returns the exit status. */
static int sh(struct th_proc *p, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sh(struct th_proc *p, int timeout_ms, const char *fmt, ...)
{
	char cmd[4096], *argv[] = { "/bin/sh", "-c", cmd, NULL };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(th_spawn(p, argv), 0);
	return th_wait_exit(p, timeout_ms);
}

/* `make TARGET VARS...` on this test's build tree and sanitizer, outside any outer make. */
static int make(struct th_proc *p, const char *target, const char *vars)
{
	return sh(
	    p, CMD_TIMEOUT_MS,
	    "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u MAKEOVERRIDES make --no-print-directory "
	    "%s BUILD=%s SAN=%s %s 2>&1",
	    target, build, SAN_NAME, vars);
}

static bool has_tool(const char *name)
{
	struct th_proc p;

	return sh(&p, TH_TIMEOUT_MS, "command -v %s >/dev/null 2>&1", name) == 0;
}

static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(tmp, 0755);
			*s = '/';
		}
	mkdir(tmp, 0755);
}

/* Write text to root/rel, creating the folders. */
static void put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool is_file(const char *root, const char *rel, mode_t mode)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		printf("missing: %s\n", path);
		return false;
	}
	if ((st.st_mode & 07777) != mode) {
		printf("%s: mode %o, want %o\n", path, st.st_mode & 07777, mode);
		return false;
	}
	return true;
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

static void rm_rf(const char *path)
{
	struct th_proc p;

	if (strncmp(path, "/tmp/flux-test-deploy-", 22) == 0) /* never anything else */
		sh(&p, TH_TIMEOUT_MS, "rm -rf '%s'", path);
}

/*
 * The config path a unit line `key` (e.g. "ExecStart=") gives fluxd with -c, into buf; the
 * binary it runs into bin. Fails the test when the line or its -c is missing.
 */
static void unit_exec(const char *unit, const char *key, char *bin, char *buf, size_t len)
{
	const char *s = strstr(unit, key), *c, *end;

	if (!s || (s != unit && s[-1] != '\n'))
		fail_msg("no line %s in the unit", key);
	s += strlen(key);
	end = strchr(s, ' ');
	assert_non_null(end);
	snprintf(bin, len, "%.*s", (int)(end - s), s);
	c = strstr(s, " -c ");
	if (!c || (strchr(s, '\n') && c > strchr(s, '\n')))
		fail_msg("%s has no -c FILE", key);
	c += strlen(" -c ");
	end = c + strcspn(c, " \\\n");
	snprintf(buf, len, "%.*s", (int)(end - c), c);
}

/* ExecStopPost= runs `fluxd --failsafe` on the very binary and config ExecStart= runs. */
static void expect_failsafe_stop_post(const char *unit)
{
	char start_bin[512], start_cfg[512], post_bin[512], post_cfg[512], want[1200];

	unit_exec(unit, "ExecStart=", start_bin, start_cfg, sizeof(start_cfg));
	unit_exec(unit, "ExecStopPost=", post_bin, post_cfg, sizeof(post_cfg));
	assert_string_equal(post_bin, start_bin);
	assert_string_equal(post_cfg, start_cfg);
	snprintf(want, sizeof(want), "\nExecStopPost=%s --failsafe -c %s\n", start_bin, start_cfg);
	if (!strstr(unit, want))
		fail_msg("the unit lacks '%s'", want + 1);
}

/* ---- the unit and make install ---------------------------------------------------------- */

static void test_installed_unit_passes_systemd_analyze_verify(void **state)
{
	static const char *const want[] = {
		"Type=notify\n",
		"WatchdogSec=",
		"DynamicUser=yes\n",
		"User=flux\n",
		"AmbientCapabilities=CAP_SYS_NICE CAP_IPC_LOCK\n",
		"LimitRTPRIO=",
		"LimitMEMLOCK=infinity\n",
		"ProtectSystem=strict\n",
		"NoNewPrivileges=yes\n",
		"PrivateTmp=yes\n",
		"ProtectHome=yes\n",
		"RestrictAddressFamilies=AF_INET AF_UNIX\n",
		"RuntimeDirectory=flux\n",
		"Restart=on-failure\n",
		"ProtectProc=invisible\n",
		"PrivateMounts=yes\n",
		"IPAddressDeny=any\n",
		"IPAddressAllow=localhost\n",
		"SystemCallFilter=~@privileged\n",
		"ExecReload=/bin/sh -c 'kill -HUP \"$$MAINPID\"'\n",
	};
	char pfx[256], vars[1024], unit[512], text[8192], expect[600];
	struct th_proc p;
	double exposure;
	int r;
	const char *s;

	(void)state;
	if (!has_tool("systemd-analyze")) {
		printf("skipped: no systemd-analyze here (apt install systemd)\n");
		skip();
	}
	/* Installed with real paths under a temp prefix, so the ExecStart binary exists. */
	snprintf(pfx, sizeof(pfx), "%s/pfx", dir);
	snprintf(vars, sizeof(vars), "PREFIX=%s SYSCONFDIR=%s/etc", pfx, pfx);
	r = make(&p, "install", vars);
	if (r)
		fail_msg("make install %s: exit %d\n%s", vars, r, p.out);
	snprintf(unit, sizeof(unit), "%s/lib/systemd/system/fluxd.service", pfx);
	slurp(unit, text, sizeof(text));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i]))
			fail_msg("%s lacks %s", unit, want[i]);
	snprintf(expect, sizeof(expect), "ExecStart=%s/bin/fluxd -c %s/etc/flux/site.yaml ", pfx,
		 pfx);
	if (!strstr(text, expect))
		fail_msg("%s: no '%s'", unit, expect);
	expect_failsafe_stop_post(text);

	r = sh(&p, CMD_TIMEOUT_MS, "systemd-analyze verify '%s' 2>&1", unit);
	printf("systemd-analyze verify: exit %d%s%s", r, p.out_len ? ":\n" : "\n", p.out);
	if (strstr(p.out, "fluxd.service"))
		fail_msg("systemd-analyze verify has findings on the unit");
	if (r) {
		printf("skipped: systemd-analyze verify cannot run in this container (exit %d)\n",
		       r);
		make(&p, "uninstall", vars);
		skip();
	}
	/* The hardening, as systemd scores it (0 best .. 10, one decimal): issue 22 asks <= 1.5. */
	r = sh(&p, CMD_TIMEOUT_MS, "systemd-analyze security --offline=yes '%s' 2>&1 | tail -n 3",
	       unit);
	s = strstr(p.out, "Overall exposure level for fluxd.service: ");
	if (r == 0 && s) {
		exposure = strtod(s + strlen("Overall exposure level for fluxd.service: "), NULL);
		printf("systemd-analyze security: exposure %.1f\n", exposure);
		if (exposure > 1.5 + 1e-9)
			fail_msg("exposure %.1f > 1.5:\n%s", exposure, p.out);
	}
	assert_int_equal(make(&p, "uninstall", vars), 0);
	rm_rf(pfx);
}

static void test_make_install_lays_out_files_and_uninstall_removes_them(void **state)
{
	static const char *const files[] = {
		"/usr/local/bin/fluxd",
		"/usr/local/bin/flux",
		"/usr/local/sbin/flux-rt-tune",
		"/usr/local/share/doc/flux/README.md",
		"/usr/local/share/doc/flux/site.yaml",
	};
	char root[256], vars[512], path[PATH_MAX], text[8192], shipped[8192];
	struct th_proc p;
	int r, nbt = 0;

	(void)state;
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(vars, sizeof(vars), "DESTDIR=%s", root);
	r = make(&p, "install", vars);
	if (r)
		fail_msg("make install %s: exit %d\n%s", vars, r, p.out);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		assert_true(is_file(root, files[i], strstr(files[i], "bin/") ? 0755 : 0644));
	snprintf(path, sizeof(path), "%s/bin/fluxtrace", build);
	if (access(path, X_OK) == 0)
		assert_true(is_file(root, "/usr/local/bin/fluxtrace", 0755));
	assert_true(is_file(root, "/usr/local/lib/systemd/system/fluxd.service", 0644));
	assert_true(is_file(root, "/usr/local/lib/sysusers.d/flux.conf", 0644));
	assert_true(is_file(root, "/etc/flux/site.yaml", 0644));
	/* Every bpftrace script of bpf/. */
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "ls bpf/*.bt 2>/dev/null"), p.out_len ? 0 : 2);
	for (char *save = NULL, *f = strtok_r(p.out, "\n", &save); f;
	     f = strtok_r(NULL, "\n", &save)) {
		snprintf(path, sizeof(path), "/usr/local/share/flux/bpf/%s", f + strlen("bpf/"));
		assert_true(is_file(root, path, 0644));
		nbt++;
	}
	/* The shipped device profiles, beside the copies built into the programs. */
	assert_true(is_file(root, "/usr/local/share/flux/profiles/powerpack.yaml", 0644));
	assert_true(is_file(root, "/usr/local/share/flux/profiles/acuvim2.yaml", 0644));
	assert_true(is_file(root, "/usr/local/share/flux/profiles/acuvim2-manual.yaml", 0644));
	printf("installed: programs, unit, sysusers, %d bpftrace scripts, profiles, docs, "
	       "site.yaml\n",
	       nbt);
	/* The unit as installed with the default prefix is the checked-in one. */
	snprintf(path, sizeof(path), "%s/usr/local/lib/systemd/system/fluxd.service", root);
	slurp(path, text, sizeof(text));
	slurp("deploy/fluxd.service", shipped, sizeof(shipped));
	assert_string_equal(text, shipped);
	expect_failsafe_stop_post(text);
	if (has_tool("systemd-sysusers")) {
		snprintf(path, sizeof(path), "%s/usr/local/lib/sysusers.d/flux.conf", root);
		r = sh(&p, TH_TIMEOUT_MS, "systemd-sysusers --dry-run --root='%s' '%s' 2>&1", root,
		       path);
		if (r || !strstr(p.out, "'flux'"))
			fail_msg("systemd-sysusers --dry-run: exit %d\n%s", r, p.out);
	}

	/* The site's edits survive install and uninstall. */
	snprintf(path, sizeof(path), "%s/etc/flux/site.yaml", root);
	put(root, "/etc/flux/site.yaml", "# this site's own config\n");
	assert_int_equal(make(&p, "install", vars), 0);
	assert_non_null(strstr(p.out, "KEEP  /etc/flux/site.yaml"));
	slurp(path, text, sizeof(text));
	assert_string_equal(text, "# this site's own config\n");
	assert_int_equal(make(&p, "uninstall", vars), 0);
	assert_non_null(strstr(p.out, "KEEP  /etc/flux/site.yaml (edited)"));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "find '%s' -type f", root), 0);
	if (p.out_len)
		fail_msg("left after uninstall:\n%s", p.out);

	/* Unchanged: uninstall takes the config too. A packager's PREFIX=/usr. */
	assert_int_equal(make(&p, "install", vars), 0);
	assert_int_equal(make(&p, "uninstall", vars), 0);
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "find '%s' -type f", root), 0);
	if (p.out_len)
		fail_msg("left after uninstall:\n%s", p.out);
	snprintf(vars, sizeof(vars), "DESTDIR=%s PREFIX=/usr", root);
	assert_int_equal(make(&p, "install", vars), 0);
	snprintf(path, sizeof(path), "%s/usr/lib/systemd/system/fluxd.service", root);
	slurp(path, text, sizeof(text));
	assert_non_null(strstr(text, "ExecStart=/usr/bin/fluxd -c /etc/flux/site.yaml"));
	assert_non_null(
	    strstr(text, "\nExecStopPost=/usr/bin/fluxd --failsafe -c /etc/flux/site.yaml\n"));
	expect_failsafe_stop_post(text);
	assert_true(is_file(root, "/usr/bin/fluxd", 0755));
	assert_int_equal(make(&p, "uninstall", vars), 0);
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "find '%s' -type f", root), 0);
	assert_int_equal(p.out_len, 0);
	rm_rf(root);
}

/* ---- preflight on this machine ---------------------------------------------------------- */

static const char *const check_ids[] = {
	"preempt_rt",	 "rt_cpus",	   "isolcpus",	       "nohz_full",
	"rcu_nocbs",	 "irq_affinity",   "cpufreq_governor", "sched_rt_runtime",
	"rlimit_rtprio", "rlimit_memlock", "clocksource",      "tracefs",
	"btf",		 "io_uring",
};

static bool is_rt_kernel(void)
{
	struct utsname u;
	char rt[8] = "";

	slurp("/sys/kernel/realtime", rt, sizeof(rt));
	return rt[0] == '1' || (uname(&u) == 0 && strstr(u.version, "PREEMPT_RT"));
}

static void test_preflight_here_names_causes_with_documented_exit(void **state)
{
	char *argv[] = { fluxd, "--preflight", "-c", "deploy/site.yaml", NULL, NULL };
	char line[64], summary[64], json[8192];
	struct th_proc p, py;
	int r, jr, n_warn = 0, n_fail = 0;
	char *py_argv[] = {
		"/usr/bin/env",
		"python3",
		"-c",
		"import json, sys\n"
		"d = json.loads(sys.argv[1])\n"
		"ids = [c['id'] for c in d['checks']]\n"
		"assert len(ids) == 14 and len(set(ids)) == 14, ids\n"
		"assert all(c['result'] in ('PASS', 'WARN', 'FAIL') for c in d['checks'])\n"
		"assert all(c['fix'] for c in d['checks'] if c['result'] != 'PASS')\n"
		"assert d['exit'] == int(sys.argv[2])\n"
		"assert d['pass'] + d['warn'] + d['fail'] == 14\n",
		json,
		line,
		NULL
	};

	(void)state;
	assert_int_equal(th_spawn(&p, argv), 0);
	r = th_wait_exit(&p, TH_TIMEOUT_MS);
	printf("%s", p.out);
	assert_true(r == 0 || r == 1 || r == 3);
	for (size_t i = 0; i < sizeof(check_ids) / sizeof(check_ids[0]); i++) {
		char pass[64], warn[64], fail[64];

		snprintf(pass, sizeof(pass), "\nPASS  %-17s ", check_ids[i]);
		snprintf(warn, sizeof(warn), "\nWARN  %-17s ", check_ids[i]);
		snprintf(fail, sizeof(fail), "\nFAIL  %-17s ", check_ids[i]);
		n_warn += !!strstr(p.out, warn);
		n_fail += !!strstr(p.out, fail);
		if (!strstr(p.out, pass) && !strstr(p.out, warn) && !strstr(p.out, fail))
			fail_msg("no line for %s", check_ids[i]);
	}
	/* Each WARN and FAIL line is followed by its fix. */
	for (const char *s = p.out; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
		if (strncmp(s, "WARN  ", 6) && strncmp(s, "FAIL  ", 6))
			continue;
		s = strchr(s, '\n');
		assert_non_null(s);
		if (strncmp(s, "\n                        fix: ", 30))
			fail_msg("no fix line under a WARN or FAIL:\n%s", p.out);
	}
	if (!is_rt_kernel()) {
		assert_non_null(strstr(p.out, "FAIL  preempt_rt        not a PREEMPT_RT kernel"));
		assert_int_equal(r, PF_EXIT_FAIL);
	}
	assert_int_equal(r, n_fail ? PF_EXIT_FAIL : n_warn ? PF_EXIT_WARN : PF_EXIT_PASS);
	snprintf(summary, sizeof(summary), "FAIL: exit %d (0 all PASS, 3 WARN only, 1 FAIL)", r);
	assert_non_null(strstr(p.out, summary));

	argv[4] = "--json";
	assert_int_equal(th_spawn(&p, argv), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), r);
	assert_true(p.out[0] == '{' && p.out_len > 2 && p.out[p.out_len - 2] == '}');
	snprintf(json, sizeof(json), "%s", p.out);
	snprintf(line, sizeof(line), "%d", r);
	assert_int_equal(th_spawn(&py, py_argv), 0);
	jr = th_wait_exit(&py, TH_TIMEOUT_MS);
	if (jr == 127)
		printf("note: no python3: JSON checked by shape only\n");
	else if (jr != 0)
		fail_msg("JSON wrong: %s\n%s", py.out, json);
}

static void test_preflight_usage_and_bad_config(void **state)
{
	char *json_alone[] = { fluxd, "--json", NULL };
	char *both[] = { fluxd, "--preflight", "--check-config", "deploy/site.yaml", NULL };
	char *missing[] = { fluxd, "--preflight", "-c", "/nonexistent/site.yaml", NULL };
	char *defaults[] = { fluxd, "--preflight", NULL };
	struct th_proc p;
	int r;

	(void)state;
	assert_int_equal(th_spawn(&p, json_alone), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_int_equal(th_spawn(&p, both), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 2);
	assert_int_equal(th_spawn(&p, missing), 0);
	assert_int_equal(th_wait_exit(&p, TH_TIMEOUT_MS), 1);
	assert_non_null(strstr(p.out, "/nonexistent/site.yaml"));
	assert_int_equal(th_spawn(&p, defaults), 0); /* no -c: the rt: defaults */
	r = th_wait_exit(&p, TH_TIMEOUT_MS);
	assert_true(r == 0 || r == 1 || r == 3);
	assert_non_null(strstr(p.out, "preflight: "));
}

/* ---- preflight on a fake tree ----------------------------------------------------------- */

/* A machine that passes everything: PREEMPT_RT, CPU 2 of 0-3 isolated, IRQs on 0-1. */
static void fake_good_machine(const char *root)
{
	put(root, "/proc/sys/kernel/osrelease", "6.1.0-18-rt-amd64\n");
	put(root, "/proc/sys/kernel/version", "#1 SMP PREEMPT_RT Debian 6.1.76-1 (2024-02-01)\n");
	put(root, "/sys/kernel/realtime", "1\n");
	put(root, "/sys/devices/system/cpu/online", "0-3\n");
	put(root, "/proc/cmdline",
	    "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet "
	    "isolcpus=managed_irq,domain,2-3 nohz_full=2-3 rcu_nocbs=2-3\n");
	put(root, "/proc/irq/0/smp_affinity_list", "0\n");
	put(root, "/proc/irq/24/smp_affinity_list", "0-1\n");
	put(root, "/proc/irq/default_smp_affinity", "3\n");
	put(root, "/sys/devices/system/cpu/cpu2/cpufreq/scaling_governor", "performance\n");
	put(root, "/proc/sys/kernel/sched_rt_runtime_us", "-1\n");
	put(root, "/proc/self/limits",
	    "Limit                     Soft Limit           Hard Limit   "
	    "        Units     \n"
	    "Max locked memory         unlimited            unlimited    "
	    "        bytes     \n"
	    "Max realtime priority     95                   95           "
	    "        \n");
	put(root, "/proc/self/status", "Name:\tfluxd\nCapEff:\t0000000000000000\n");
	put(root, "/sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc\n");
	put(root, "/sys/kernel/tracing/trace", "");
	put(root, "/sys/kernel/btf/vmlinux", "");
	put(root, "/proc/sys/kernel/io_uring_disabled", "0\n");
}

static int probe_ok(void)
{
	return 0;
}

static int probe_eperm(void)
{
	return -EPERM;
}

static const struct pf_check *find(const struct pf_report *r, const char *id)
{
	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->checks[i].id, id))
			return &r->checks[i];
	fail_msg("no check %s", id);
	return NULL;
}

static void expect(const struct pf_report *r, const char *id, enum pf_result res,
		   const char *needle)
{
	const struct pf_check *c = find(r, id);

	if (c->result != res || (needle && !strstr(c->detail, needle)) ||
	    (res != PF_PASS && !c->fix[0]))
		fail_msg("%s: %s %s (fix: %s); want %s with '%s'", id, pf_result_name(c->result),
			 c->detail, c->fix, pf_result_name(res), needle ? needle : "");
}

static void test_preflight_fake_tree_reaches_pass_warn_and_fail(void **state)
{
	struct cfg_rt rt = {
		.io_cpu = 2, .control_cpu = 2, .io_priority = 81, .control_priority = 80
	};
	struct pf_opts o = { .rt = &rt, .probe_uring = probe_ok };
	struct pf_report *r = calloc(1, sizeof(*r));
	char root[256], path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(r);
	snprintf(root, sizeof(root), "%s/fake", dir);
	o.root = root;
	fake_good_machine(root);
	assert_int_equal(pf_run(r, &o), PF_EXIT_PASS);
	assert_int_equal(r->n, 14);
	for (unsigned i = 0; i < r->n; i++)
		expect(r, r->checks[i].id, PF_PASS, NULL);
	assert_string_equal(r->rt_cpus, "2");
	assert_string_equal(r->online, "0-3");
	expect(r, "rlimit_rtprio", PF_PASS, "RLIMIT_RTPRIO 95 >= priority 81");

	/* WARNs: a partial isolcpus without "domain", an IRQ on CPU 2, a slow clock, throttling. */
	put(root, "/proc/cmdline", "isolcpus=managed_irq,3 nohz_full=2-3 rcu_nocbs=all\n");
	put(root, "/proc/irq/31/smp_affinity_list", "0-3\n");
	put(root, "/sys/devices/system/clocksource/clocksource0/current_clocksource", "hpet\n");
	put(root, "/proc/sys/kernel/sched_rt_runtime_us", "950000\n");
	put(root, "/sys/devices/system/cpu/cpu2/cpufreq/scaling_governor", "powersave\n");
	assert_int_equal(pf_run(r, &o), PF_EXIT_WARN);
	expect(r, "isolcpus", PF_WARN, "leaves RT CPU 2 out");
	expect(r, "nohz_full", PF_PASS, "nohz_full=2-3 covers RT CPU 2");
	expect(r, "rcu_nocbs", PF_PASS, NULL);
	expect(r, "irq_affinity", PF_WARN, "1 of 3 IRQs may run on RT CPU 2: 31");
	expect(r, "clocksource", PF_WARN, "hpet");
	expect(r, "sched_rt_runtime", PF_WARN, "950000");
	expect(r, "cpufreq_governor", PF_WARN, "CPU 2 powersave");
	put(root, "/proc/cmdline", "isolcpus=managed_irq,2-3 nohz_full=2-3 rcu_nocbs=2-3\n");
	pf_run(r, &o);
	expect(r, "isolcpus", PF_WARN, "without the domain flag");

	/* FAILs: not RT, no privilege, io_uring off, an offline RT CPU. */
	fake_good_machine(root);
	snprintf(path, sizeof(path), "%s/sys/kernel/realtime", root);
	assert_int_equal(unlink(path), 0);
	put(root, "/proc/sys/kernel/version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1\n");
	put(root, "/proc/self/limits",
	    "Max locked memory         65536                65536"
	    "                bytes\n"
	    "Max realtime priority     0                    0\n");
	put(root, "/proc/sys/kernel/io_uring_disabled", "2\n");
	assert_int_equal(pf_run(r, &o), PF_EXIT_FAIL);
	expect(r, "preempt_rt", PF_FAIL, "PREEMPT_DYNAMIC");
	expect(r, "rlimit_rtprio", PF_FAIL, "RLIMIT_RTPRIO 0 < priority 81");
	expect(r, "rlimit_memlock", PF_FAIL, "RLIMIT_MEMLOCK 64 KiB");
	expect(r, "io_uring", PF_FAIL, "io_uring_disabled = 2");
	put(root, "/proc/self/status", "CapEff:\t0000000000804000\n"); /* SYS_NICE, IPC_LOCK */
	put(root, "/proc/sys/kernel/io_uring_disabled", "0\n");
	o.probe_uring = probe_eperm;
	pf_run(r, &o);
	expect(r, "rlimit_rtprio", PF_PASS, "CAP_SYS_NICE");
	expect(r, "rlimit_memlock", PF_PASS, "CAP_IPC_LOCK");
	expect(r, "io_uring", PF_FAIL, "Operation not permitted");
	rt.io_cpu = 7;
	pf_run(r, &o);
	expect(r, "rt_cpus", PF_FAIL, "RT CPU 7 not online (online: 0-3)");
	rt.io_cpu = rt.control_cpu = -1;
	pf_run(r, &o);
	expect(r, "rt_cpus", PF_WARN, "float");
	expect(r, "isolcpus", PF_WARN, "no RT CPU pinned");

	/* Both printers; JSON escapes what the kernel strings carry. */
	put(root, "/proc/sys/kernel/version", "#1 \"quoted\\\" \t\n");
	pf_run(r, &o);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	pf_print_json(r, f);
	fclose(f);
	assert_non_null(strstr(buf, "\\\"quoted\\\\\\\""));
	assert_non_null(strstr(buf, "\\u0009"));
	assert_non_null(strstr(buf, "\"exit\":1}"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	pf_print_text(r, f);
	fclose(f);
	assert_non_null(strstr(buf, "RT CPUs none pinned"));
	assert_non_null(strstr(buf, "exit 1 (0 all PASS, 3 WARN only, 1 FAIL)"));
	free(buf);
	free(r);
	rm_rf(root);
}

static void test_cpulists_parse_and_format(void **state)
{
	struct pf_cpus s;
	char buf[64];

	(void)state;
	assert_int_equal(pf_parse_cpulist("0-3,6", 0, &s), 0);
	assert_true(pf_cpus_has(&s, 0) && pf_cpus_has(&s, 3) && pf_cpus_has(&s, 6));
	assert_false(pf_cpus_has(&s, 4));
	assert_int_equal(pf_format_cpulist(&s, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "0-3,6");
	assert_int_equal(pf_parse_cpulist("all", 3, &s), 0);
	pf_format_cpulist(&s, buf, sizeof(buf));
	assert_string_equal(buf, "0-2");
	assert_int_equal(pf_parse_cpulist("1023", 0, &s), 0);
	assert_int_equal(pf_parse_cpulist("", 0, &s), 0);
	assert_int_equal(pf_format_cpulist(&s, buf, sizeof(buf)), 0);
	assert_int_equal(pf_parse_cpulist("3-1", 0, &s), -EINVAL);
	assert_int_equal(pf_parse_cpulist("x", 0, &s), -EINVAL);
	assert_int_equal(pf_parse_cpulist("1-", 0, &s), -EINVAL);
	assert_int_equal(pf_parse_cpulist("1024", 0, &s), -EINVAL);
	assert_int_equal(pf_parse_cpulist("all", 0, &s), -EINVAL);
	assert_int_equal(pf_parse_cpulist("0-1023", 0, &s), 0);
	assert_int_equal(pf_format_cpulist(&s, buf, 4), -ENOSPC);
}

/* ---- rt-tune.sh --dry-run --------------------------------------------------------------- */

/* What rt-tune.sh would change, read back (it must not change any of it in a dry run). */
static void tunables(char *buf, size_t len)
{
	struct th_proc p;

	sh(&p, TH_TIMEOUT_MS,
	   "cat /proc/sys/kernel/sched_rt_runtime_us /proc/sys/kernel/timer_migration "
	   "/proc/irq/default_smp_affinity /proc/irq/*/smp_affinity_list "
	   "/sys/devices/virtual/workqueue/cpumask "
	   "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null | md5sum");
	snprintf(buf, len, "%.64s", p.out); /* an md5sum line */
}

static void test_rt_tune_dry_run_shows_and_changes_nothing(void **state)
{
	char before[128], after[128], want[128];
	struct th_proc p;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	(void)state;
	tunables(before, sizeof(before));
	r = sh(&p, TH_TIMEOUT_MS, "deploy/rt-tune.sh --dry-run --cpus %ld 2>&1", ncpu - 1);
	tunables(after, sizeof(after));
	assert_string_equal(before, after);
	if (ncpu < 2) {
		assert_int_equal(r, 2);
		assert_non_null(strstr(p.out, "none left for housekeeping"));
		return;
	}
	if (r)
		fail_msg("rt-tune.sh --dry-run: exit %d\n%s", r, p.out);
	snprintf(want, sizeof(want), "isolcpus=managed_irq,domain,%ld nohz_full=%ld rcu_nocbs=%ld",
		 ncpu - 1, ncpu - 1, ncpu - 1);
	assert_non_null(strstr(p.out, want));
	assert_non_null(strstr(p.out, "dry run"));
	assert_non_null(strstr(p.out, "none made"));
	assert_null(strstr(p.out, "  set    "));

	/* The RT CPUs from a config, through fluxd --preflight --json. */
	r = sh(&p, TH_TIMEOUT_MS, "FLUXD='%s' deploy/rt-tune.sh -n -c deploy/site.yaml 2>&1",
	       fluxd);
	tunables(after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(r, 0);
	assert_non_null(strstr(p.out, "rt-tune: RT CPUs 1, housekeeping CPUs 0"));

	/* Refusals: no housekeeping CPU left, an offline CPU, a bad list, a bad option. */
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "deploy/rt-tune.sh -n --cpus 0-%ld 2>&1", ncpu - 1),
			 2);
	assert_non_null(strstr(p.out, "none left for housekeeping"));
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "deploy/rt-tune.sh -n --cpus 4096 2>&1"), 2);
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "deploy/rt-tune.sh -n --cpus 1x 2>&1"), 2);
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "deploy/rt-tune.sh --bogus 2>&1"), 2);
	assert_non_null(strstr(p.out, "usage: rt-tune.sh"));
	tunables(after, sizeof(after));
	assert_string_equal(before, after);
}

/* ---- flux-ipallow ---------------------------------------------------------------------- */

/* How many lines of text start with prefix. */
static unsigned count_lines(const char *text, const char *prefix)
{
	unsigned n = 0;

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		n += !strncmp(l, prefix, strlen(prefix));
	return n;
}

static void test_ipallow_prints_exactly_the_configs_hosts(void **state)
{
	/* Block and flow style, quoted three ways, a host twice, hosts in comments, a serial
	 * device (no IP). */
	static const char site[] =
	    "site:\n  cycle: 100ms\n  strategy: {mode: manual, setpoint_kw: 0}\n"
	    "devices:\n  bess:\n"
	    "    - id: \"bess-1\"\n      type: powerpack\n      modbus:\n"
	    "        host: \"10.1.2.3\"   # host: 9.9.9.8 in a comment\n"
	    "        port: 502\n        address: 1\n"
	    "    - {id: \"bess-2\", type: powerpack, modbus: {host: 10.1.2.3, port: 503, address: "
	    "1}}\n"
	    "# host: 9.9.9.9 (a commented-out device)\n"
	    "  meters:\n"
	    "    - {id: \"m-1\", type: acuvim2, modbus: {host: '10.1.2.4', port: 502, address: "
	    "2}}\n"
	    "    - {id: \"m-2\", type: acuvim2, modbus: {device: /dev/ttyUSB0, address: 1}}\n";
	static const char serial_only[] =
	    "site:\n  cycle: 100ms\n  strategy: {mode: manual, setpoint_kw: 0}\n"
	    "devices:\n  bess:\n"
	    "    - {id: \"b\", type: powerpack, modbus: {device: /dev/ttyS0, address: 1}}\n";
	char cfg[512];
	struct th_proc p;
	int r;

	(void)state;
	snprintf(cfg, sizeof(cfg), "%s/ipallow.yaml", dir);
	put(cfg, "", site);
	r = sh(&p, TH_TIMEOUT_MS, "deploy/flux-ipallow.sh -c '%s' --fluxd '%s' 2>&1", cfg, fluxd);
	if (r)
		fail_msg("flux-ipallow: exit %d\n%s", r, p.out);
	assert_non_null(strstr(p.out, "\n[Service]\nIPAddressDeny=any\n"));
	assert_non_null(strstr(p.out, "\nIPAddressAllow=\nIPAddressAllow=10.1.2.3\n"
				      "IPAddressAllow=10.1.2.4\n"));
	assert_int_equal(count_lines(p.out, "IPAddressAllow="), 3); /* the reset and two hosts */
	assert_int_equal(count_lines(p.out, "IPAddressDeny="), 1);
	assert_null(strstr(p.out, "9.9.9."));

	/* Serial lines only: no IP at all (the reset, no host). */
	put(cfg, "", serial_only);
	assert_int_equal(
	    sh(&p, TH_TIMEOUT_MS, "deploy/flux-ipallow.sh -c '%s' --fluxd '%s' 2>&1", cfg, fluxd),
	    0);
	assert_int_equal(count_lines(p.out, "IPAddressAllow="), 1);
	assert_non_null(strstr(p.out, "no IP at all"));

	/* A config fluxd refuses: its error, no drop-in. */
	put(cfg, "",
	    "site: {cycle: 100ms}\ndevices:\n  bess:\n    - {id: b, type: powerpack, "
	    "modbus: {host: plc.local, port: 502}}\n");
	assert_int_equal(
	    sh(&p, TH_TIMEOUT_MS, "deploy/flux-ipallow.sh -c '%s' --fluxd '%s' 2>&1", cfg, fluxd),
	    1);
	assert_non_null(strstr(p.out, "does not check: no drop-in printed"));
	assert_null(strstr(p.out, "[Service]"));
	/* Unchecked, a host that is not an IPv4 address is refused by name, not guessed at. */
	assert_int_equal(
	    sh(&p, TH_TIMEOUT_MS, "deploy/flux-ipallow.sh -c '%s' --no-check 2>&1", cfg), 1);
	assert_non_null(strstr(p.out, "host \"plc.local\" is not an IPv4 address"));
	assert_null(strstr(p.out, "[Service]"));

	/* No file; usage. */
	assert_int_equal(
	    sh(&p, TH_TIMEOUT_MS, "deploy/flux-ipallow.sh -c '%s/none.yaml' 2>&1", dir), 1);
	assert_non_null(strstr(p.out, "cannot read"));
	assert_int_equal(sh(&p, TH_TIMEOUT_MS, "deploy/flux-ipallow.sh --bogus 2>&1"), 2);
	assert_non_null(strstr(p.out, "usage: flux-ipallow"));
	unlink(cfg);
}

/* ---- sd_notify -------------------------------------------------------------------------- */

struct note {
	int64_t t_ns;
	char text[512];
};

struct notes {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned n;
	struct note msg[NOTIFY_MSGS_MAX];
};

static void notes_open(struct notes *ns)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	ns->n = 0;
	snprintf(ns->path, sizeof(ns->path), "%s/notify.sock", dir);
	unlink(ns->path);
	ns->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(ns->fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ns->path);
	assert_int_equal(bind(ns->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void notes_close(struct notes *ns)
{
	close(ns->fd);
	unlink(ns->path);
}

/* Receive messages until one contains needle (returns its index) or timeout_ms (-1). */
static int notes_wait(struct notes *ns, const char *needle, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;

	for (unsigned i = 0; i < ns->n; i++)
		if (strstr(ns->msg[i].text, needle))
			return (int)i;
	while (ns->n < NOTIFY_MSGS_MAX) {
		struct pollfd p = { .fd = ns->fd, .events = POLLIN };
		int64_t left_ms = (deadline - th_now_ns()) / 1000000;
		struct note *m = &ns->msg[ns->n];
		ssize_t len;

		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
			return -1;
		len = recv(ns->fd, m->text, sizeof(m->text) - 1, 0);
		if (len < 0)
			return -1;
		m->text[len] = '\0';
		m->t_ns = th_now_ns();
		if (strstr(m->text, needle))
			return (int)ns->n++;
		ns->n++;
	}
	return -1;
}

static bool is_kick(const struct note *m)
{
	return !strncmp(m->text, "WATCHDOG=1", 10);
}

/* Start `flux sim` and write a config for it (manual 50 kW, 50 ms cycle, unpinned). */
static void start_site(struct th_proc *sim, char *cfg_path, size_t len)
{
	snprintf(cfg_path, len, "%s/site.yaml", dir);
	assert_true(th_start_site(flux, sim, cfg_path, 50, 60) > 0);
}

static void spawn_fluxd(struct th_proc *d, struct notes *ns, const char *cfg_path,
			const char *watchdog_usec, const char *stall_after, const char *stall_for)
{
	char *argv[] = { fluxd,
			 "-c",
			 (char *)cfg_path,
			 "--no-rt",
			 "--status-interval",
			 "0",
			 "--status-socket",
			 "none",
			 NULL };

	setenv("NOTIFY_SOCKET", ns->path, 1);
	if (watchdog_usec)
		setenv("WATCHDOG_USEC", watchdog_usec, 1);
	if (stall_after)
		setenv("FLUXD_TEST_STALL_AFTER_S", stall_after, 1);
	if (stall_for)
		setenv("FLUXD_TEST_STALL_FOR_S", stall_for, 1);
	assert_int_equal(th_spawn(d, argv), 0);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("FLUXD_TEST_STALL_AFTER_S");
	unsetenv("FLUXD_TEST_STALL_FOR_S");
}

static void test_sd_notify_ready_watchdog_stall_stopping(void **state)
{
	struct notes *ns = calloc(1, sizeof(*ns));
	char cfg_path[256], stall_for[32];
	struct th_proc sim, d;
	int ready, held, stalled, released, resumed, stopping, kicks = 0;
	int64_t last = 0, max_gap = 0, gap;

	(void)state;
	assert_non_null(ns);
	start_site(&sim, cfg_path, sizeof(cfg_path));
	notes_open(ns);
	snprintf(stall_for, sizeof(stall_for), "%.1f", STALL_FOR_NS / 1e9);
	spawn_fluxd(&d, ns, cfg_path, "600000", STALL_AFTER_S, stall_for);

	ready = notes_wait(ns, "READY=1", TH_TIMEOUT_MS);
	assert_true(ready >= 0);
	assert_non_null(strstr(ns->msg[ready].text, "STATUS=controlling 1 BESS and 1 meter(s)"));
	held = notes_wait(ns, "STATUS=test hook: control cycle held", TH_TIMEOUT_MS);
	stalled = notes_wait(ns, "STATUS=stalled: control cycle made no progress", TH_TIMEOUT_MS);
	released = notes_wait(ns, "STATUS=test hook: control cycle released", TH_TIMEOUT_MS);
	resumed = notes_wait(ns, "STATUS=control running again", TH_TIMEOUT_MS);
	if (held < 0 || stalled < 0 || released < 0 || resumed < 0)
		fail_msg("held %d stalled %d released %d resumed %d of %u messages", held, stalled,
			 released, resumed, ns->n);
	assert_true(ready < held && held < stalled && stalled < released && released < resumed);

	/* Healthy: kicks at least every WATCHDOG_USEC (systemd's deadline), several of them. */
	last = ns->msg[ready].t_ns;
	for (int i = ready + 1; i < held; i++)
		if (is_kick(&ns->msg[i])) {
			gap = ns->msg[i].t_ns - last;
			max_gap = gap > max_gap ? gap : max_gap;
			last = ns->msg[i].t_ns;
			kicks++;
		}
	printf("healthy: %d kicks, longest gap %.0f ms (WATCHDOG_USEC %d us)\n", kicks,
	       (double)max_gap / 1e6, WATCHDOG_USEC);
	assert_true(kicks >= 3);
	assert_true(max_gap < WATCHDOG_USEC * 1000LL);
	/* Held: noticed within a watchdog period; from then on no kick until released. */
	assert_true(ns->msg[stalled].t_ns - ns->msg[held].t_ns < WATCHDOG_USEC * 1000LL);
	for (int i = stalled; i <= released; i++)
		if (is_kick(&ns->msg[i]))
			fail_msg("WATCHDOG=1 while the cycle was held: message %d", i);
	for (int i = held; i < resumed; i++)
		if (is_kick(&ns->msg[i]))
			last = ns->msg[i].t_ns;
	gap = ns->msg[resumed].t_ns - last;
	printf("held: stall seen after %.0f ms; no kick for %.0f ms\n",
	       (double)(ns->msg[stalled].t_ns - ns->msg[held].t_ns) / 1e6, (double)gap / 1e6);
	assert_true(gap > STALL_FOR_NS - WATCHDOG_USEC * 1000LL);
	/* Released: the kick that says so comes within a watchdog period. */
	assert_true(is_kick(&ns->msg[resumed]));
	assert_true(ns->msg[resumed].t_ns - ns->msg[released].t_ns < WATCHDOG_USEC * 1000LL);
	assert_true(notes_wait(ns, "STATUS=cycle ", 2 * TH_TIMEOUT_MS) >= 0); /* the live line */

	kill(d.pid, SIGTERM);
	stopping = notes_wait(ns, "STOPPING=1", TH_TIMEOUT_MS);
	assert_true(stopping >= 0);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 0);
	assert_non_null(strstr(d.out, "stalled: control cycle made no progress"));
	/* "stopped: 1 of 1 BESS ..." or, once the lock rules land, "1 of the 1 BESS we hold". */
	assert_non_null(strstr(d.out, "stopped: 1 of "));
	assert_non_null(strstr(strstr(d.out, "stopped: 1 of "), "1 BESS"));
	assert_non_null(strstr(strstr(d.out, "stopped: 1 of "), "acknowledged 0 kW"));
	notes_close(ns);

	/* No WATCHDOG_USEC: READY and STOPPING, never a kick. */
	notes_open(ns);
	spawn_fluxd(&d, ns, cfg_path, NULL, NULL, NULL);
	assert_true(notes_wait(ns, "READY=1", TH_TIMEOUT_MS) >= 0);
	assert_true(notes_wait(ns, "WATCHDOG=1", 1200) < 0);
	kill(d.pid, SIGTERM);
	assert_true(notes_wait(ns, "STOPPING=1", TH_TIMEOUT_MS) >= 0);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 0);
	for (unsigned i = 0; i < ns->n; i++)
		assert_false(is_kick(&ns->msg[i]));
	notes_close(ns);

	/* A bad test knob is a usage error, said by name, before the controller starts. */
	notes_open(ns);
	spawn_fluxd(&d, ns, cfg_path, NULL, "soon", NULL);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 2);
	assert_non_null(strstr(d.out, "FLUXD_TEST_STALL_AFTER_S must be a duration >= 0"));
	assert_null(strstr(d.out, "control started"));
	notes_close(ns);

	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, TH_TIMEOUT_MS), 0);
	unlink(cfg_path);
	free(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_installed_unit_passes_systemd_analyze_verify),
		cmocka_unit_test(test_make_install_lays_out_files_and_uninstall_removes_them),
		cmocka_unit_test(test_preflight_here_names_causes_with_documented_exit),
		cmocka_unit_test(test_preflight_usage_and_bad_config),
		cmocka_unit_test(test_preflight_fake_tree_reaches_pass_warn_and_fail),
		cmocka_unit_test(test_cpulists_parse_and_format),
		cmocka_unit_test(test_rt_tune_dry_run_shows_and_changes_nothing),
		cmocka_unit_test(test_ipallow_prints_exactly_the_configs_hosts),
		cmocka_unit_test(test_sd_notify_ready_watchdog_stall_stopping),
	};
	char cwd[4096], *slash;
	size_t n;
	int ret;

	if (th_find_programs(flux, fluxd, sizeof(flux)))
		return 77;
	if (access("deploy/fluxd.service", R_OK) || access("Makefile", R_OK)) {
		printf("skipped: run from the repository root (make test does)\n");
		return 77;
	}
	/* BUILD for make: this binary's tree, relative to the repository when inside it. */
	snprintf(build, sizeof(build), "%s", flux);
	for (int i = 0; i < 2; i++) {
		slash = strrchr(build, '/');
		*slash = '\0';
	}
	n = getcwd(cwd, sizeof(cwd)) ? strlen(cwd) : 0;
	if (n && !strncmp(build, cwd, n) && build[n] == '/')
		memmove(build, build + n + 1, strlen(build + n + 1) + 1);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests_name("deploy", tests, NULL, NULL);
	rm_rf(dir);
	return ret;
}
