// SPDX-License-Identifier: MIT
/*
 * fluxd: the controller daemon. Loads the site config, sets the process up for real time,
 * starts the engine and the control thread, and is itself the telemetry thread: it prints
 * the control thread's events and the live status line, answers `flux status` on a Unix socket
 * (polled each tick, never waiting on a client), and on SIGINT/SIGTERM stops the controller,
 * which leaves every BESS at 0 kW before fluxd exits. Under systemd (Type=notify) it says
 * READY=1 after the first control cycle, STATUS= lines, WATCHDOG=1 only while both RT threads
 * make progress, and STOPPING=1. `fluxd --preflight` checks the machine instead of running.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "control/ctl.h"
#include "control/failsafe.h"
#include "control/preflight.h"
#include "control/status.h"
#include "rt/clock.h"
#include "rt/thread.h"

#define EXIT_USAGE 2
#define TICK_NS	   (50 * CLK_NS_PER_MS)

static volatile sig_atomic_t got_signal;
static bool is_journal; /* stderr goes to journald: prefix lines with <priority> */

/*
 * systemd's watchdog (WatchdogSec= sets WATCHDOG_USEC): kicked at most every half period,
 * and only when both RT threads made progress since the last kick: the control cycle count
 * advanced and the I/O thread turned its loop. A stuck thread stops the kicks, systemd
 * restarts the service. Owned by the main (telemetry) thread.
 */
struct wdog {
	int64_t interval_ns; /* half of WATCHDOG_USEC; 0: no watchdog asked */
	int64_t next_ns;     /* next kick due */
	uint64_t cycles;     /* ctl_cycles() at the last kick */
	uint64_t turns;	     /* ctl_io_turns() at the last kick */
	bool is_stalled;     /* said so once; kicks withheld */
};

/*
 * Test only (tests/deploy/test_deploy.c), not for sites: FLUXD_TEST_STALL_AFTER_S holds the
 * control cycle (ctl_test_stall()) that many seconds after start, FLUXD_TEST_STALL_FOR_S
 * (default: until stop) releases it again, so a test can watch the watchdog kicks stop.
 */
struct test_stall {
	int64_t at_ns;	/* 0: not asked */
	int64_t end_ns; /* INT64_MAX: until stop */
	bool is_held;
};

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	char path[ST_PATH_MAX];

	int err = st_default_path(path, sizeof(path));

	if (err)
		snprintf(path, sizeof(path), "%s",
			 err == -ST_ENORUNDIR ? "none: no private runtime directory"
					      : "(too long)");
	fputs("usage: fluxd -c FILE [--status-interval S] [--status-socket PATH] [--duration S]\n"
	      "             [--no-rt]\n"
	      "       fluxd --check-config FILE\n"
	      "       fluxd --preflight [-c FILE] [--json]\n"
	      "       fluxd --failsafe -c FILE  0 kW to each BESS whose 2010 is ours; exit 0 or 1\n"
	      "  -c, --config FILE        site configuration (YAML)\n"
	      "      --check-config FILE  validate FILE and exit 0 (valid) or 1\n"
	      "      --preflight          check this machine for real time (the config's rt: CPUs\n"
	      "                           and priorities): PASS/WARN/FAIL with the fix for each;\n"
	      "                           exit 0 all PASS, 3 WARN only, 1 any FAIL, 2 usage\n"
	      "      --json               --preflight prints one JSON object\n"
	      "      --status-interval S  print the live status every S seconds (default 1, 0: "
	      "off)\n",
	      f);
	fprintf(f,
		"      --status-socket PATH answer `flux status` there (default %s;\n"
		"                           none: no socket)\n",
		path);
	fputs("      --duration S         stop by itself after S seconds (default: run until "
	      "signal)\n"
	      "      --no-rt              no SCHED_FIFO, no pinning, no mlockall (laptops, tests)\n"
	      "  -h, --help\n",
	      f);
}

/* journald reads a "<N>" prefix as the priority; a terminal gets plain lines. */
static void say(int prio, const char *fmt, const char *text)
{
	if (is_journal)
		fprintf(stderr, "<%d>", prio);
	fprintf(stderr, fmt, text);
	fputc('\n', stderr);
}

static void drain_logs(struct ctl *c)
{
	struct ctl_log ev[32];
	unsigned n;

	while ((n = ctl_pop_logs(c, ev, 32))) {
		for (unsigned i = 0; i < n; i++) {
			char line[256];
			int prio = ctl_event_priority(ev[i].event);

			ctl_format_log(c, &ev[i], line, sizeof(line));
			say(prio, "fluxd: %s", line);
		}
	}
}

/* The status server's view of the controller: the seqlock copy, never a wait on ctl. */
static int snapshot_of(void *arg, struct ctl_snapshot *out)
{
	return ctl_snapshot(arg, out);
}

/*
 * Listen for `flux status` on sock (NULL: the default path; root's /run/flux is made if
 * missing). Returns 0 or 1 after saying why.
 */
static int open_status(struct st_server *srv, const char *sock, const struct cfg *cfg,
		       struct ctl *c)
{
	char path[ST_PATH_MAX];
	int err;

	if (!sock) {
		err = st_default_path(path, sizeof(path));
		if (err == -ST_ENORUNDIR) {
			/* A user without a private runtime directory runs without the socket. */
			say(4, "fluxd: no status socket: %s; --status-socket PATH gives one",
			    st_strerror(err));
			return 0;
		}
		if (err) {
			say(3, "fluxd: %s",
			    "default status socket path too long: use --status-socket");
			return 1;
		}
		if (geteuid() == 0)
			mkdir("/run/flux", 0755); /* EEXIST is fine; anything else shows in bind */
		sock = path;
	}
	err = st_server_open(srv, sock, cfg, snapshot_of, c);
	if (err) {
		fprintf(stderr, "%sfluxd: cannot open the status socket %s: %s%s\n",
			is_journal ? "<3>" : "", sock, srv->why[0] ? srv->why : strerror(-err),
			err == -EADDRINUSE ? " (another fluxd is running)"
					   : " (--status-socket none runs without it)");
		return 1;
	}
	say(6, "fluxd: flux status answered on %s", sock);
	return 0;
}

/* sd_notify() when systemd (or a test) listens; a no-op otherwise. */
static void notify(const char *fmt, const char *text)
{
	char msg[1200];

	if (!getenv("NOTIFY_SOCKET"))
		return;
	snprintf(msg, sizeof(msg), fmt, text);
	sd_notify(0, msg);
}

static void wdog_init(struct wdog *w, const struct cfg *cfg)
{
	uint64_t usec = 0;

	*w = (struct wdog){ 0 };
	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return;
	w->interval_ns = (int64_t)(usec * 1000 / 2);
	if (w->interval_ns < 2 * cfg->site.cycle_ns)
		say(4, "fluxd: %s",
		    "WatchdogSec= is under 4 control cycles: a slow cycle may look like a stall");
}

/* Main thread, once per tick after READY=1. */
static void wdog_tick(struct wdog *w, const struct ctl *c, int64_t now)
{
	uint64_t cycles, turns;
	char why[160];

	if (!w->interval_ns || now < w->next_ns)
		return;
	cycles = ctl_cycles(c);
	turns = ctl_io_turns(c);
	if (cycles > w->cycles && turns > w->turns) {
		notify("WATCHDOG=1%s", w->is_stalled ? "\nSTATUS=control running again" : "");
		if (w->is_stalled)
			say(5, "fluxd: %s", "RT threads progress again: watchdog kicked");
		w->cycles = cycles;
		w->turns = turns;
		w->next_ns = now + w->interval_ns;
		w->is_stalled = false;
		return;
	}
	if (w->is_stalled)
		return; /* checked again next tick: kick as soon as both move */
	snprintf(why, sizeof(why), "%s made no progress for %.0f ms: watchdog not kicked",
		 cycles == w->cycles ? "control cycle" : "I/O thread",
		 (double)(now - w->next_ns + w->interval_ns) / 1e6);
	say(3, "fluxd: stalled: %s", why);
	notify("STATUS=stalled: %s", why);
	w->is_stalled = true;
}

static int parse_seconds(const char *arg, const char *name, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end || !(v >= 0) || v > 1e7) {
		fprintf(stderr, "fluxd: %s must be a number of seconds >= 0, got '%s'\n", name,
			arg);
		return -1;
	}
	*out = v;
	return 0;
}

/* The test stall's times from the environment. Returns 0, or -1 after saying why. */
static int test_stall_init(struct test_stall *t, int64_t start)
{
	const char *after = getenv("FLUXD_TEST_STALL_AFTER_S"),
		   *len = getenv("FLUXD_TEST_STALL_FOR_S");
	double after_s, for_s = 0;

	*t = (struct test_stall){ .end_ns = INT64_MAX };
	if (!after)
		return 0;
	if (parse_seconds(after, "FLUXD_TEST_STALL_AFTER_S", &after_s) ||
	    (len && parse_seconds(len, "FLUXD_TEST_STALL_FOR_S", &for_s)))
		return -1;
	t->at_ns = start + (int64_t)(after_s * 1e9);
	if (for_s > 0)
		t->end_ns = t->at_ns + (int64_t)(for_s * 1e9);
	say(4, "fluxd: %s",
	    "FLUXD_TEST_STALL_AFTER_S set: the control cycle will be held (test only)");
	return 0;
}

static void test_stall_tick(struct test_stall *t, struct ctl *c, int64_t now)
{
	if (!t->at_ns)
		return;
	if (!t->is_held && now >= t->at_ns && now < t->end_ns) {
		ctl_test_stall(c, true);
		t->is_held = true;
		say(4, "fluxd: %s", "test hook: control cycle held");
		notify("STATUS=%s", "test hook: control cycle held");
	} else if (t->is_held && now >= t->end_ns) {
		ctl_test_stall(c, false);
		t->is_held = false;
		t->at_ns = 0;
		say(4, "fluxd: %s", "test hook: control cycle released");
		notify("STATUS=%s", "test hook: control cycle released");
	}
}

/*
 * Load the config, saying every error and warning of the file (file:line:key each), on
 * stdout for --check-config, in the log at start. Returns 0, or -1 when it has errors.
 */
static int load_config(struct cfg *cfg, const char *path, bool check_only)
{
	static struct cfg_diag d; /* 16 KiB: not on the stack */
	int ret = cfg_load_diag(cfg, path, &d);

	for (unsigned k = 0; k < d.n; k++) {
		const struct cfg_diag_item *it = &d.items[k];

		if (check_only)
			printf("%s%s\n", it->is_warning ? "WARN " : "", it->text);
		else
			say(it->is_warning ? 4 : 3, it->is_warning ? "fluxd: WARN %s" : "fluxd: %s",
			    it->text);
	}
	if (d.ndropped) {
		char more[96];

		snprintf(more, sizeof(more), "... and %u more (%u errors, %u warnings in all)",
			 d.ndropped, d.nerrors, d.nwarnings);
		if (check_only)
			printf("%s\n", more);
		else
			say(4, "fluxd: %s", more);
	}
	if (check_only)
		fflush(stdout);
	return ret ? -1 : 0;
}

/* fluxd --preflight [-c FILE] [--json]: the report on stdout, exit PF_EXIT_*. */
static int preflight(const char *path, bool is_json)
{
	struct pf_opts o = { .probe_uring = pf_probe_uring };
	char err[CFG_ERR_MAX];
	struct pf_report *r;
	struct cfg *cfg;
	int ret = PF_EXIT_FAIL;

	cfg = calloc(1, sizeof(*cfg));
	r = calloc(1, sizeof(*r));
	if (!cfg || !r) {
		perror("fluxd");
		goto out_free;
	}
	if (path) {
		if (cfg_load(cfg, path, err, sizeof(err))) {
			fprintf(stderr, "fluxd: %s\n", err);
			goto out_free;
		}
		o.rt = &cfg->rt;
	}
	ret = pf_run(r, &o);
	if (is_json)
		pf_print_json(r, stdout);
	else
		pf_print_text(r, stdout);
	fflush(stdout);
out_free:
	free(r);
	free(cfg);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "status-interval", required_argument, NULL, 's' },
		{ "status-socket", required_argument, NULL, 'S' },
		{ "duration", required_argument, NULL, 'd' },
		{ "no-rt", no_argument, NULL, 'n' },
		{ "preflight", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "failsafe", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *sock = NULL;
	double interval_s = 1, duration_s = 0;
	bool check_only = false, no_rt = false, is_preflight = false, is_json = false,
	     is_failsafe = false;
	struct cfg *cfg = NULL;
	struct ctl *c = NULL;
	struct st_server srv = { 0 };
	struct thr_proc proc = { .dma_fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct wdog wd;
	struct test_stall ts;
	char err[CFG_ERR_MAX], line[1024];
	int opt, ret = 1;
	int64_t start, next_status, next_notify, end;
	bool is_ready = false;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			path = optarg;
			check_only = true;
			break;
		case 's':
			if (parse_seconds(optarg, "--status-interval", &interval_s))
				return EXIT_USAGE;
			break;
		case 'S':
			sock = optarg;
			break;
		case 'd':
			if (parse_seconds(optarg, "--duration", &duration_s))
				return EXIT_USAGE;
			break;
		case 'n':
			no_rt = true;
			break;
		case 'P':
			is_preflight = true;
			break;
		case 'j':
			is_json = true;
			break;
		case 'F':
			is_failsafe = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (is_json && !is_preflight) || (is_preflight && check_only)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (is_failsafe) { /* the unit's ExecStopPost: exit 0 all acknowledged, 1 otherwise */
		if (!path || check_only || is_preflight) {
			usage(stderr);
			return EXIT_USAGE;
		}
		cfg = calloc(1, sizeof(*cfg));
		if (!cfg || cfg_load(cfg, path, err, sizeof(err)))
			fprintf(stderr, "fluxd: %s\n", cfg ? err : strerror(errno));
		else
			ret = fs_run(cfg, stdout);
		free(cfg);
		return ret;
	}
	if (is_preflight)
		return preflight(path, is_json);
	if (!path) {
		usage(stderr);
		return EXIT_USAGE;
	}
	is_journal = getenv("JOURNAL_STREAM") != NULL;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		perror("fluxd");
		return 1;
	}
	if (load_config(cfg, path, check_only)) {
		if (!check_only)
			say(3, "fluxd: %s", "not started: the configuration has errors");
		goto out;
	}
	if (check_only) {
		printf("%s: ok (%u BESS, %u meters, strategy %s, cycle %.3g ms)\n", path,
		       cfg->nbess, cfg->nmeters, cfg_strategy_name(cfg->site.mode),
		       (double)cfg->site.cycle_ns / 1e6);
		ret = 0;
		goto out;
	}

	if (!no_rt) {
		thr_setup_process(&proc, 0);
		thr_format_process(&proc, line, sizeof(line));
		say(6, "fluxd: %s", line);
	}
	ret = ctl_open(&c, cfg, &(struct ctl_opts){ .no_rt = no_rt });
	if (ret) {
		say(3, "fluxd: cannot set up the controller: %s", strerror(-ret));
		ret = 1;
		goto out;
	}
	/* Before ctl_start(): st_server_open() sets the umask around bind(). */
	if (!sock || strcmp(sock, "none") != 0) {
		ret = open_status(&srv, sock, cfg, c);
		if (ret)
			goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = ctl_start(c);
	if (ret) {
		say(3, "fluxd: cannot start: %s", strerror(-ret));
		ret = 1;
		goto out;
	}

	start = clk_now_ns();
	next_status = start + (int64_t)(interval_s * 1e9);
	next_notify = start;
	end = duration_s > 0 ? start + (int64_t)(duration_s * 1e9) : INT64_MAX;
	wdog_init(&wd, cfg);
	if (test_stall_init(&ts, start)) {
		ret = EXIT_USAGE;
		goto out_stop;
	}
	while (!got_signal && clk_now_ns() < end) {
		struct timespec tick = clk_ns_to_ts(TICK_NS);
		int64_t now;

		nanosleep(&tick, NULL);
		drain_logs(c);
		now = clk_now_ns();
		st_server_poll(&srv, now);
		/* Ready once the control thread has completed a cycle: it runs, on the engine. */
		if (!is_ready && ctl_cycles(c) > 0) {
			snprintf(
			    line, sizeof(line),
			    "READY=1\nSTATUS=controlling %u BESS and %u meter(s), cycle %.3g ms",
			    cfg->nbess, cfg->nmeters, (double)cfg->site.cycle_ns / 1e6);
			notify("%s", line);
			is_ready = true;
			wd.cycles = ctl_cycles(c);
			wd.turns = ctl_io_turns(c);
			wd.next_ns = now + wd.interval_ns;
			next_notify = now + CLK_NS_PER_SEC;
		}
		test_stall_tick(&ts, c, now);
		if (is_ready)
			wdog_tick(&wd, c, now);
		if (is_ready && !wd.is_stalled && now >= next_notify && getenv("NOTIFY_SOCKET")) {
			struct ctl_snapshot snap;

			if (ctl_snapshot(c, &snap) == 0) {
				ctl_format_status(c, &snap, line, sizeof(line));
				notify("STATUS=%s", line);
			}
			next_notify = now + CLK_NS_PER_SEC;
		}
		if (interval_s > 0 && now >= next_status) {
			struct ctl_snapshot snap;

			if (ctl_snapshot(c, &snap) == 0) {
				ctl_format_status(c, &snap, line, sizeof(line));
				printf("%s\n", line);
				fflush(stdout);
			}
			next_status += (int64_t)(interval_s * 1e9);
		}
	}
	if (got_signal)
		say(6, "fluxd: %s received, stopping", got_signal == SIGINT ? "SIGINT" : "SIGTERM");
	ret = 0;
out_stop:
	notify("%s", "STOPPING=1\nSTATUS=stopping: writing 0 kW to every BESS");
	ctl_stop(c); /* writes 0 kW to every BESS and waits for the acks, bounded */
	drain_logs(c);
out:
	st_server_close(&srv); /* unlinks the socket file */
	ctl_close(c);
	thr_release_process(&proc);
	free(cfg);
	return ret;
}
