// SPDX-License-Identifier: MIT
/*
 * A stock Modbus client that is not ours (mbpoll, Debian package mbpoll) against `flux sim`:
 * read SOE, status and available blocks, claim the command source, write a target power,
 * watch the SOE move, see a refused write, read the meter's floats. mbpoll counts references
 * from 1 unless given -0; both forms are used, as an operator would. Skips (77) without mbpoll.
 */
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

#include "tests/support/client.h"
#include "tests/support/proc.h"

static char flux[4096], mbpoll[4096];
static char bess_port[8], meter_port[8];

/* Find prog in PATH into buf. Returns 0 or -ENOENT. */
static int which(const char *prog, char *buf, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	for (char *save, *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(buf, cap, "%s/%s", dir, prog);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Run mbpoll with args; returns its exit code, output in p->out. */
static int run_mbpoll(struct th_proc *p, char *const *args)
{
	char *argv[32] = { mbpoll };
	unsigned n = 1;

	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	assert_int_equal(th_spawn(p, argv), 0);
	return th_wait_exit(p, 10000);
}

#define MBPOLL(p, ...) run_mbpoll(p, (char *const[]){ __VA_ARGS__, NULL })

/* The value mbpoll printed for reference `ref` ("[2027]: \t60"), as a double. */
static double printed(const struct th_proc *p, const char *ref)
{
	char key[32];
	const char *at;

	snprintf(key, sizeof(key), "[%s]:", ref);
	at = strstr(p->out, key);
	if (!at)
		fail_msg("mbpoll printed no %s: '%s'", key, p->out);
	return strtod(at + strlen(key), NULL);
}

static void test_mbpoll_reads_and_controls_the_simulated_site(void **state)
{
	struct th_proc sim, p;
	double soe = 60;

	(void)state;
	/* 360x: 100 kW moves SOE of 200 kWh by 1 % in 0.2 s, and empties it in 12 s. */
	assert_int_equal(
	    th_spawn(&sim,
		     (char *const[]){
			 flux,	   "sim", "--duration",	  "60", "powerpack",	"--port", "0",
			 "--soe",  "60",  "--startup-ms", "0",	"--time-scale", "360",	  "acuvim2",
			 "--port", "0",	  "--unit",	  "2",	"--load-kw",	"150",	  NULL }),
	    0);
	assert_true(th_wait_output(&sim, "flux sim: serving", TH_TIMEOUT_MS));
	snprintf(bess_port, sizeof(bess_port), "%d", th_printed_port(sim.out, "powerpack unit 1"));
	snprintf(meter_port, sizeof(meter_port), "%d", th_printed_port(sim.out, "acuvim2 unit 2"));

	/* The line from the brief: one-based reference 2027 is PDU address 2026, the SOE. */
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-r", "2027", "-c", "1", "-1", "-p",
				bess_port, "127.0.0.1"),
			 0);
	assert_true(printed(&p, "2027") == 60);
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-0", "-r", "2000", "-c", "1", "-1",
				"-p", bess_port, "127.0.0.1"),
			 0);
	assert_true(printed(&p, "2000") == 1); /* READY */
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-0", "-r", "2028", "-c", "1", "-1",
				"-p", bess_port, "127.0.0.1"),
			 0);
	assert_true(printed(&p, "2028") == 2); /* 100 kW / 50 kW */

	/* Power before the claim is refused; claim, then discharge 100 kW. */
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-0", "-r", "2008", "-1", "-p",
				bess_port, "127.0.0.1", "100"),
			 1);
	assert_non_null(strstr(p.out, "Illegal data value"));
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-0", "-r", "2010", "-1", "-p",
				bess_port, "127.0.0.1", "3"),
			 0);
	assert_non_null(strstr(p.out, "Written 1 references"));
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-0", "-r", "2008", "-1", "-p",
				bess_port, "127.0.0.1", "100"),
			 0);
	for (int i = 0; i < 100 && soe >= 60; i++) {
		th_sleep_ms(20);
		assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-0", "-r", "2026", "-1", "-p",
					bess_port, "127.0.0.1"),
				 0);
		soe = printed(&p, "2026");
	}
	assert_true(soe < 60 && soe > 0);
	/* Beyond the rated 100 kW: exception 0x03. */
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "1", "-0", "-r", "2008", "-1", "-p",
				bess_port, "127.0.0.1", "101"),
			 1);
	assert_non_null(strstr(p.out, "Illegal data value"));

	/* The meter: big-endian floats (-B), 230 V and 150 kW load - 100 kW BESS = 50000 W. */
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "2", "-0", "-t", "4:float", "-B", "-r", "0",
				"-c", "1", "-1", "-p", meter_port, "127.0.0.1"),
			 0);
	assert_true(printed(&p, "0") == 230);
	assert_int_equal(MBPOLL(&p, "-m", "tcp", "-a", "2", "-0", "-t", "4:float", "-B", "-r", "64",
				"-c", "5", "-1", "-p", meter_port, "127.0.0.1"),
			 0);
	assert_true(printed(&p, "64") == 50000);
	assert_true(printed(&p, "70") > 0.979 && printed(&p, "70") < 0.981); /* power factor */
	assert_true(printed(&p, "72") == 50);				     /* Hz */

	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, 5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mbpoll_reads_and_controls_the_simulated_site),
	};
	int err;

	if (which("mbpoll", mbpoll, sizeof(mbpoll))) {
		printf("skipped: mbpoll is not installed (Debian: apt-get install mbpoll)\n");
		return 77;
	}
	err = th_flux_path(flux, sizeof(flux));
	if (err) {
		printf("skipped: %s not built (%s): make it first\n", flux, strerror(-err));
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
