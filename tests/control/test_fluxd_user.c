// SPDX-License-Identifier: MIT
/*
 * fluxd as a normal user runs it (issue 14, item 8): no root, no CAP_IPC_LOCK, a login
 * session's 8 MiB RLIMIT_MEMLOCK, and real-time settings asked for (no --no-rt). As root the
 * test becomes nobody (setpriv) for fluxd and `flux status`; otherwise it runs them as itself.
 * fluxd must start against a PowerPack + Acuvim II sim on 127.0.0.1, say in one line that it
 * locked no memory and why, keep cycling (its status lines count up, `flux status` answers on
 * a socket in the user's own directory) and exit 0 on SIGTERM. Every wait is bounded.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/client.h"
#include "tests/support/proc.h"

#define NOBODY	 65534u
#define MEMLOCK	 (8u << 20) /* bytes: the default of a login session */
#define RUN_MS	 2000	    /* how long fluxd runs before SIGTERM */
#define ARGV_MAX 24

static char flux[4096], fluxd[4096], prlimit_path[64], setpriv_path[64];
static char dir[] = "/tmp/flux-test-fluxd-user-XXXXXX";

/* argv for `cmd...` run under the low memlock limit, as nobody when we are root. */
static void as_user(char **argv, char *memlock_arg, char *const *cmd)
{
	int n = 0;

	argv[n++] = prlimit_path;
	argv[n++] = memlock_arg;
	if (geteuid() == 0) {
		argv[n++] = setpriv_path;
		argv[n++] = "--reuid=nobody";
		argv[n++] = "--regid=nogroup";
		argv[n++] = "--clear-groups";
	}
	while (*cmd && n < ARGV_MAX - 1)
		argv[n++] = *cmd++;
	argv[n] = NULL;
}

/* Each "cycle N " of fluxd's status lines, in order. Returns how many were found. */
static int cycles_printed(const char *out, unsigned long long *cycles, int max)
{
	int n = 0;

	for (const char *p = out; n < max && (p = strstr(p, "cycle ")); p += 6)
		if (p == out || p[-1] == '\n')
			cycles[n++] = strtoull(p + 6, NULL, 10);
	return n;
}

static void test_fluxd_runs_unprivileged_under_8mib_memlock(void **state)
{
	char cfg_path[256], sock[256], memlock_arg[64], *argv[ARGV_MAX];
	char *fluxd_cmd[] = { fluxd, "-c", cfg_path, "--status-interval", "0.2", "--status-socket",
			      sock,  NULL };
	char *status_cmd[] = { flux, "status", "--socket", sock, "--json", NULL };
	unsigned long long cycles[64];
	struct rlimit lim;
	struct th_proc sim, d, st;
	int n;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &lim), 0);
	/* A normal user may lower the soft limit, never raise it past the hard one. */
	snprintf(memlock_arg, sizeof(memlock_arg), "--memlock=%llu:",
		 (unsigned long long)(lim.rlim_max != RLIM_INFINITY && lim.rlim_max < MEMLOCK
					  ? lim.rlim_max
					  : MEMLOCK));
	snprintf(cfg_path, sizeof(cfg_path), "%s/site.yaml", dir);
	snprintf(sock, sizeof(sock), "%s/fluxd.sock", dir);
	assert_true(th_start_site(flux, &sim, cfg_path, 50, 60) > 0);
	assert_int_equal(chmod(cfg_path, 0644), 0);

	as_user(argv, memlock_arg, fluxd_cmd);
	assert_int_equal(th_spawn(&d, argv), 0);
	if (!th_wait_output(&d, "command source is ours", TH_TIMEOUT_MS))
		fail_msg("fluxd did not take control:\n%s", d.out);
	/* The one line about memory locking: what was not done, why, and the fix. */
	if (!strstr(d.out, "fluxd: mlockall: not done: RLIMIT_MEMLOCK ") ||
	    !strstr(d.out, " KiB cannot hold the process and no CAP_IPC_LOCK "
			   "(LimitMEMLOCK=infinity or run as root)"))
		fail_msg("no memlock line:\n%s", d.out);
	assert_null(strstr(d.out, "Cannot allocate memory"));

	th_sleep_ms(RUN_MS);
	/* `flux status`, as the same user, on the socket in that user's directory. */
	as_user(argv, memlock_arg, status_cmd);
	assert_int_equal(th_spawn(&st, argv), 0);
	assert_int_equal(th_wait_exit(&st, TH_TIMEOUT_MS), 0);
	if (!strstr(st.out, "\"bess\":[{\"id\":\"bess-1\"") || !strstr(st.out, "\"cycles\":") ||
	    strtoull(strstr(st.out, "\"cycles\":") + 9, NULL, 10) < 10)
		fail_msg("unexpected answer: %s", st.out);
	assert_false(th_wait_output(&d, "no such line", 100)); /* take what it printed */
	kill(d.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&d, TH_TIMEOUT_MS), 0);
	assert_non_null(strstr(d.out, "SIGTERM received"));
	assert_non_null(strstr(d.out, "stopped: 1 of 1 BESS acknowledged 0 kW"));
	assert_int_equal(access(sock, F_OK), -1); /* unlinked at exit */

	/* It kept cycling: status lines every 0.2 s over RUN_MS, each count above the last. */
	n = cycles_printed(d.out, cycles, 64);
	print_message("%d status lines, cycles %llu .. %llu\n", n, n ? cycles[0] : 0,
		      n ? cycles[n - 1] : 0);
	assert_true(n >= 3);
	for (int i = 1; i < n; i++)
		assert_true(cycles[i] > cycles[i - 1]);

	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, TH_TIMEOUT_MS), 0);
	unlink(cfg_path);
}

/* The first of /usr/bin/name and /bin/name that runs, into buf. Returns 0 or -ENOENT. */
static int find_tool(const char *name, char *buf, size_t len)
{
	const char *dirs[] = { "/usr/bin", "/bin" };

	for (size_t i = 0; i < 2; i++) {
		snprintf(buf, len, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fluxd_runs_unprivileged_under_8mib_memlock),
	};
	int ret;

	if (th_find_programs(flux, fluxd, sizeof(flux)))
		return 77;
	if (find_tool("prlimit", prlimit_path, sizeof(prlimit_path)) ||
	    (geteuid() == 0 && find_tool("setpriv", setpriv_path, sizeof(setpriv_path)))) {
		printf("skipped: needs prlimit and (as root) setpriv from util-linux\n");
		return 77;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	/* nobody's own directory (0700): the config, and the socket where no one else writes. */
	if (geteuid() == 0 && chown(dir, NOBODY, NOBODY)) {
		perror("chown");
		rmdir(dir);
		return 1;
	}
	ret = cmocka_run_group_tests_name("control/fluxd_user", tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
