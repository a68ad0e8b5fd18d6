// SPDX-License-Identifier: MIT
/*
 * fluxd: the controller daemon. Loads the site config, sets the process up for real time,
 * starts the engine and the control thread, and is itself the telemetry thread
 * (control/telemetry.h: the events, the live status line, `flux status` on a Unix socket,
 * sd_notify and systemd's watchdog), until SIGINT/SIGTERM or --duration stops the controller,
 * which leaves every BESS at 0 kW before fluxd exits. SIGHUP (`systemctl reload fluxd`) reads
 * the config again: new site parameters go to the control thread at a cycle boundary, with no
 * pause in control (control/reload.h says what may change). `fluxd --preflight` checks the machine
 * instead of running, `--check-config` a file, `--failsafe` writes 0 kW and exits. The one
 * idea: main() is a short sequence of named steps, each a function below that returns 0 to go
 * on or the exit code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/ctl.h"
#include "control/ctl_hooks.h"
#include "control/failsafe.h"
#include "control/preflight.h"
#include "control/reload.h"
#include "control/status.h"
#include "control/telemetry.h"
#include "rt/clock.h"
#include "rt/text.h"
#include "rt/thread.h"

#define EXIT_USAGE 2
#define TICK_NS	   (50 * CLK_NS_PER_MS)

enum fluxd_mode {
	FLUXD_RUN,	    /* -c FILE: the daemon */
	FLUXD_CHECK_CONFIG, /* --check-config FILE */
	FLUXD_PREFLIGHT,    /* --preflight [-c FILE] [--json] */
	FLUXD_FAILSAFE,	    /* --failsafe -c FILE */
	FLUXD_HELP,	    /* -h, --help */
};

/* What the command line asked. */
struct fluxd_args {
	enum fluxd_mode mode;
	const char *path; /* -c or --check-config */
	bool is_json;
	bool no_rt;
	int64_t duration_ns; /* 0: until a signal */
	struct tel_opts tel;
};

/*
 * Test only (tests/deploy/test_deploy.c), not for sites: FLUXD_TEST_STALL_AFTER_S holds the
 * control cycle, through the controller's test seam (control/ctl_hooks.h), that long after
 * start, and FLUXD_TEST_STALL_FOR_S later releases it (unset or 0: held until stop), so a
 * test can watch the watchdog kicks stop and start again. The only test path in fluxd: the
 * section "test only" below. is_held is written by the main thread, read by the control one.
 */
struct test_stall {
	int64_t after_ns; /* since the start of the run */
	int64_t for_ns;	  /* 0: until stop */
	bool is_asked;	  /* FLUXD_TEST_STALL_AFTER_S set, and not yet released */
	atomic_bool is_held;
	struct ctl_hooks hooks;
};

/*
 * A reload (SIGHUP) on the main thread: the file read into next (allocated once, at start),
 * judged against the running cfg (control/reload.h), its site parameters handed to the control
 * thread (ctl_set_site()); systemd hears RELOADING=1, then READY=1 once the control thread
 * took them (or at once when nothing changes).
 */
struct fluxd_reload {
	struct cfg *next;	   /* the file as read again; defaults between reloads */
	struct rl_plan plan;	   /* the last one judged */
	int64_t pending_gen;	   /* handed over, not yet in force; 0: none */
	char pending[RL_TEXT_MAX]; /* its changes, said once in force */
	unsigned applied, refused; /* since start */
};

/* The daemon's state; owned by the main thread. */
struct fluxd {
	struct fluxd_args args;
	struct cfg *cfg; /* the running config: its site part follows each reload applied */
	struct fluxd_reload rl;
	struct ctl *ctl;
	struct thr_proc proc;
	struct telemetry tel;
	struct test_stall stall;
	int64_t start_ns; /* the run's start: after ctl_start() */
	int64_t end_ns;	  /* --duration's end; INT64_MAX: none */
};

static volatile sig_atomic_t got_signal, got_hup;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

/* Main thread: "fluxd: " what tag text as one log line (tel_say()'s one %s). */
static void say_what(int prio, const char *what, const char *tag, const char *text)
{
	char line[RL_TEXT_MAX + 128];

	snprintf(line, sizeof(line), "%s%s%s", what, tag, text);
	tel_say(prio, "fluxd: %s", line);
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
	      "      --status-interval S  print the live status every S (default 1, 0: off)\n",
	      f);
	fprintf(f,
		"      --status-socket PATH answer `flux status` there (default %s;\n"
		"                           none: no socket)\n",
		path);
	fputs(
	    "      --duration S         stop by itself after S (default: run until signal)\n"
	    "      --no-rt              no SCHED_FIFO, no pinning, no mlockall (laptops, tests)\n"
	    "  -h, --help\n"
	    "SIGHUP (systemctl reload fluxd) reads FILE again: site parameters apply at the next\n"
	    "cycle; a change to devices:, rt:, site.cycle or site.stale_after is refused by name\n"
	    "S is a duration: seconds (5, 1.5) or with a unit: ns, us, ms, s, m (500ms, 2m)\n",
	    f);
}

/* A duration argument (a bare number counts in seconds) into *ns. Returns 0 or EXIT_USAGE. */
static int parse_duration(const char *arg, const char *name, int64_t *ns)
{
	int err = txt_parse_duration(arg, CLK_NS_PER_SEC, ns);

	if (!err)
		return 0;
	if (err == -ERANGE)
		fprintf(stderr, "fluxd: %s %s: too long (at most about 292 years)\n", name, arg);
	else
		fprintf(stderr,
			"fluxd: %s must be a duration >= 0 (e.g. 5, 1.5s, 500ms), got '%s'\n", name,
			arg);
	return EXIT_USAGE;
}

/* The command line into *a. Returns 0 or EXIT_USAGE after the usage. */
static int parse_args(struct fluxd_args *a, int argc, char **argv)
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
	bool check_only = false, is_preflight = false, is_failsafe = false;
	int opt;

	*a = (struct fluxd_args){ .tel.status_interval_ns = CLK_NS_PER_SEC };
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->path = optarg;
			break;
		case 'C':
			a->path = optarg;
			check_only = true;
			break;
		case 's':
			if (parse_duration(optarg, "--status-interval", &a->tel.status_interval_ns))
				return EXIT_USAGE;
			break;
		case 'S':
			a->tel.status_socket = optarg;
			break;
		case 'd':
			if (parse_duration(optarg, "--duration", &a->duration_ns))
				return EXIT_USAGE;
			break;
		case 'n':
			a->no_rt = true;
			break;
		case 'P':
			is_preflight = true;
			break;
		case 'j':
			a->is_json = true;
			break;
		case 'F':
			is_failsafe = true;
			break;
		case 'h':
			a->mode = FLUXD_HELP;
			return 0;
		default:
			goto out_usage;
		}
	}
	if (optind != argc || (a->is_json && !is_preflight) || (is_preflight && check_only))
		goto out_usage;
	if (is_failsafe) {
		if (!a->path || check_only || is_preflight)
			goto out_usage;
		a->mode = FLUXD_FAILSAFE;
	} else if (is_preflight) {
		a->mode = FLUXD_PREFLIGHT;
	} else if (!a->path) {
		goto out_usage;
	} else {
		a->mode = check_only ? FLUXD_CHECK_CONFIG : FLUXD_RUN;
	}
	return 0;

out_usage:
	usage(stderr);
	return EXIT_USAGE;
}

/*
 * Read the config into cfg, saying every error and warning of the file (file:line:key each),
 * on stdout (to_stdout: --check-config) or in the log, each line after "fluxd: " + what ("" or
 * "reload: "). Returns 0, or -1 when it has errors.
 */
static int read_config(struct cfg *cfg, const char *path, bool to_stdout, const char *what)
{
	static struct cfg_diag d; /* 16 KiB: not on the stack */
	int ret = cfg_load_diag(cfg, path, &d);

	for (unsigned k = 0; k < d.n; k++) {
		const struct cfg_diag_item *it = &d.items[k];

		if (to_stdout)
			printf("%s%s\n", it->is_warning ? "WARN " : "", it->text);
		else
			say_what(it->is_warning ? 4 : 3, what, it->is_warning ? "WARN " : "",
				 it->text);
	}
	if (d.ndropped) {
		char more[96];

		snprintf(more, sizeof(more), "... and %u more (%u errors, %u warnings in all)",
			 d.ndropped, d.nerrors, d.nwarnings);
		if (to_stdout)
			printf("%s\n", more);
		else
			say_what(4, what, "", more);
	}
	if (to_stdout)
		fflush(stdout);
	return ret ? -1 : 0;
}

/* fluxd --check-config FILE: every error and warning on stdout, exit 0 (valid) or 1. */
static int check_config(const char *path)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	int ret = 1;

	if (!cfg) {
		perror("fluxd");
		return 1;
	}
	if (read_config(cfg, path, true, "") == 0) {
		printf("%s: ok (%u BESS, %u meters, strategy %s, cycle %.3g ms)\n", path,
		       cfg->nbess, cfg->nmeters, cfg_strategy_name(cfg->site.mode),
		       (double)cfg->site.cycle_ns / 1e6);
		ret = 0;
	}
	cfg_free(cfg);
	free(cfg);
	return ret;
}

/* fluxd --failsafe -c FILE, the unit's ExecStopPost: exit 0 all acknowledged, 1 otherwise. */
static int failsafe(const char *path)
{
	char err[CFG_ERR_MAX];
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	int ret = 1;

	if (!cfg || cfg_load(cfg, path, err, sizeof(err)))
		fprintf(stderr, "fluxd: %s\n", cfg ? err : strerror(errno));
	else
		ret = fs_run(cfg, stdout);
	cfg_free(cfg);
	free(cfg);
	return ret;
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
	cfg_free(cfg);
	free(cfg);
	return ret;
}

/* ---- test only: the stall (struct test_stall) ---------------------------------------- */

/* RT(ctl), the seam's hook: is the cycle held? */
static bool test_stall_holds(void *ctx)
{
	return atomic_load_explicit((atomic_bool *)ctx, memory_order_relaxed);
}

/*
 * Setup, before ctl_start(): read FLUXD_TEST_STALL_AFTER_S and _FOR_S and, when asked, hook
 * the stall into c. Returns 0, or EXIT_USAGE after saying which is bad.
 */
static int test_stall_init(struct test_stall *t, struct ctl *c)
{
	const char *after = getenv("FLUXD_TEST_STALL_AFTER_S"),
		   *len = getenv("FLUXD_TEST_STALL_FOR_S");

	t->is_asked = false;
	atomic_init(&t->is_held, false);
	if (!after)
		return 0;
	if (parse_duration(after, "FLUXD_TEST_STALL_AFTER_S", &t->after_ns) ||
	    (len && parse_duration(len, "FLUXD_TEST_STALL_FOR_S", &t->for_ns)))
		return EXIT_USAGE;
	t->hooks = (struct ctl_hooks){ .hold_cycle = test_stall_holds, .ctx = &t->is_held };
	ctl_set_hooks(c, &t->hooks);
	t->is_asked = true;
	tel_say(4, "fluxd: %s",
		"FLUXD_TEST_STALL_AFTER_S set: the control cycle will be held (test only)");
	return 0;
}

/* Main thread, each tick: hold or release the cycle, elapsed_ns after the start. */
static void test_stall_tick(struct test_stall *t, int64_t elapsed_ns)
{
	bool is_due =
	    elapsed_ns >= t->after_ns && (!t->for_ns || elapsed_ns - t->after_ns < t->for_ns);
	bool is_held = atomic_load_explicit(&t->is_held, memory_order_relaxed);

	if (!t->is_asked || is_due == is_held)
		return;
	atomic_store_explicit(&t->is_held, is_due, memory_order_relaxed);
	if (is_due) {
		tel_say(4, "fluxd: %s", "test hook: control cycle held");
		tel_notify("STATUS=%s", "test hook: control cycle held");
	} else {
		t->is_asked = false; /* once */
		tel_say(4, "fluxd: %s", "test hook: control cycle released");
		tel_notify("STATUS=%s", "test hook: control cycle released");
	}
}

/* ---- the daemon's steps --------------------------------------------------------------- */

/* Step: the site config, its errors and warnings in the log. Returns 0 or 1. A SIGHUP from
 * now on is a reload (taken in run()), never the default's death. */
static int load_config(struct fluxd *d)
{
	struct sigaction hup = { .sa_handler = on_hup };

	sigaction(SIGHUP, &hup, NULL);
	d->cfg = calloc(1, sizeof(*d->cfg));
	d->rl.next = calloc(1, sizeof(*d->rl.next)); /* for reloads: allocated once, now */
	if (!d->cfg || !d->rl.next) {
		perror("fluxd");
		return 1;
	}
	if (read_config(d->cfg, d->args.path, false, "")) {
		tel_say(3, "fluxd: %s", "not started: the configuration has errors");
		return 1;
	}
	return 0;
}

/* Step: memory locked, malloc tuned, the DMA latency held, all said (unless --no-rt). */
static int setup_process(struct fluxd *d)
{
	char line[1024];

	if (d->args.no_rt)
		return 0;
	thr_setup_process(&d->proc, 0);
	thr_format_process(&d->proc, line, sizeof(line));
	tel_say(6, "fluxd: %s", line);
	return 0;
}

/* Step: the controller built, the status socket open, the signals caught, the threads
 * started. Returns 0, 1 (said why) or EXIT_USAGE (a bad test stall). */
static int start_controller(struct fluxd *d)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int err = ctl_open(&d->ctl, d->cfg, &(struct ctl_opts){ .no_rt = d->args.no_rt });

	if (err) {
		tel_say(3, "fluxd: cannot set up the controller: %s", strerror(-err));
		return 1;
	}
	if (test_stall_init(&d->stall, d->ctl))
		return EXIT_USAGE;
	if (tel_open(&d->tel, d->ctl, d->cfg, &d->args.tel))
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = ctl_start(d->ctl);
	if (err) {
		tel_say(3, "fluxd: cannot start: %s", strerror(-err));
		return 1;
	}
	return 0;
}

/* ---- reload (SIGHUP) ------------------------------------------------------------------ */

/* Main thread: a reload's outcome in the log at prio, and systemd told it is done. */
static void reload_done(int prio, const char *text)
{
	tel_say(prio, "fluxd: %s", text);
	tel_notify("READY=1\nSTATUS=%s", text);
}

/* Main thread, on SIGHUP: read the file again, judge it, hand the site parameters over. A
 * file with errors, or one that changes what needs a restart, changes nothing. */
static void reload(struct fluxd *d)
{
	struct fluxd_reload *r = &d->rl;
	char line[RL_TEXT_MAX + 128];
	int64_t gen;

	snprintf(line, sizeof(line), "RELOADING=1\nMONOTONIC_USEC=%lld",
		 (long long)(clk_now_ns() / 1000));
	tel_notify("%s", line);
	tel_say(6, "fluxd: reload: SIGHUP: reading %s again", d->args.path);
	cfg_free(r->next); /* the last reload's: back to the defaults */
	if (read_config(r->next, d->args.path, false, "reload: ")) {
		r->refused++;
		reload_done(3, "reload refused: the file has errors (above), nothing changed");
		return;
	}
	switch (rl_plan(d->cfg, r->next, &r->plan)) {
	case RL_SAME:
		reload_done(6, "reload: nothing to change (the file says what runs)");
		break;
	case RL_RESTART:
		r->refused++;
		snprintf(line, sizeof(line),
			 "reload refused: %s (restart fluxd to apply); the running config stays",
			 r->plan.why);
		reload_done(3, line);
		break;
	case RL_APPLY:
		gen = ctl_set_site(d->ctl, &r->next->site);
		if (gen < 0) { /* rl_plan() refuses all ctl_set_site() does: a bug if seen */
			r->refused++;
			reload_done(3, "reload refused: the controller cannot take these site "
				       "parameters, nothing changed");
			break;
		}
		if (r->pending_gen) /* the one before is taken with this one */
			say_what(6, "reload: ", "taken with the next reload: ", r->pending);
		d->cfg->site = r->next->site; /* the control thread reads only its own copy */
		r->pending_gen = gen;
		snprintf(r->pending, sizeof(r->pending), "%s", r->plan.changes);
		break;
	}
	cfg_free(r->next);
}

/* Main thread, each tick: a reload handed over is in force once the control thread took it
 * at the start of a cycle (ctl_site_gen()): said, and READY=1. */
static void reload_tick(struct fluxd *d)
{
	struct fluxd_reload *r = &d->rl;
	char line[RL_TEXT_MAX + 64];

	if (!r->pending_gen || ctl_site_gen(d->ctl) < (uint64_t)r->pending_gen)
		return;
	r->pending_gen = 0;
	r->applied++;
	snprintf(line, sizeof(line), "reload: applied: %s", r->pending);
	reload_done(5, line);
}

static bool stop_requested(const struct fluxd *d)
{
	return got_signal || clk_now_ns() >= d->end_ns;
}

static void sleep_until_next_tick(void)
{
	struct timespec tick = clk_ns_to_ts(TICK_NS);

	nanosleep(&tick, NULL); /* a signal ends it early: stop_requested() says so */
}

/* Step: the main thread's loop, one telemetry tick every TICK_NS, until a signal or
 * --duration. Returns 0. */
static int run(struct fluxd *d)
{
	d->start_ns = clk_now_ns();
	d->end_ns = d->args.duration_ns > INT64_MAX - d->start_ns || !d->args.duration_ns
			? INT64_MAX
			: d->start_ns + d->args.duration_ns;
	tel_start(&d->tel, d->start_ns);
	while (!stop_requested(d)) {
		int64_t now;

		sleep_until_next_tick();
		now = clk_now_ns();
		tel_tick(&d->tel, now);
		test_stall_tick(&d->stall, now - d->start_ns);
		if (got_hup) {
			got_hup = 0;
			reload(d);
		}
		reload_tick(d);
	}
	if (got_signal)
		tel_say(6, "fluxd: %s received, stopping",
			got_signal == SIGINT ? "SIGINT" : "SIGTERM");
	return 0;
}

/* Step: 0 kW to every BESS and the acks awaited (bounded), then its report printed. */
static void stop_controller(struct fluxd *d)
{
	tel_stop(&d->tel);
	ctl_stop(d->ctl);
	tel_close(&d->tel);
}

/* Step: everything undone, whatever the steps before reached. */
static void release(struct fluxd *d)
{
	tel_close(&d->tel); /* unlinks the socket file */
	ctl_close(d->ctl);
	thr_release_process(&d->proc);
	cfg_free(d->cfg);
	free(d->cfg);
	cfg_free(d->rl.next);
	free(d->rl.next);
}

int main(int argc, char **argv)
{
	static struct fluxd d = { .proc = { .dma_fd = -1 } };
	int ret = parse_args(&d.args, argc, argv);

	if (ret)
		return ret;
	switch (d.args.mode) {
	case FLUXD_HELP:
		usage(stdout);
		return 0;
	case FLUXD_CHECK_CONFIG:
		return check_config(d.args.path);
	case FLUXD_PREFLIGHT:
		return preflight(d.args.path, d.args.is_json);
	case FLUXD_FAILSAFE:
		return failsafe(d.args.path);
	case FLUXD_RUN:
		break;
	}
	ret = load_config(&d);
	if (!ret)
		ret = setup_process(&d);
	if (!ret)
		ret = start_controller(&d);
	if (!ret) {
		ret = run(&d);
		stop_controller(&d);
	}
	release(&d);
	return ret;
}
