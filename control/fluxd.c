// SPDX-License-Identifier: MIT
/*
 * fluxd: the controller daemon. Loads the site config, sets the process up for real time,
 * starts the engine and the control thread, and is itself the telemetry thread: it prints
 * the control thread's events and the live status line, answers `flux status` on a Unix socket
 * (polled each tick, never waiting on a client), and on SIGINT/SIGTERM stops the controller,
 * which leaves every BESS at 0 kW before fluxd exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/ctl.h"
#include "control/status.h"
#include "rt/clock.h"
#include "rt/thread.h"

#define EXIT_USAGE 2
#define TICK_NS (50 * CLK_NS_PER_MS)

static volatile sig_atomic_t got_signal;
static bool is_journal; /* stderr goes to journald: prefix lines with <priority> */

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	char path[ST_PATH_MAX];

	if (st_default_path(path, sizeof(path)))
		snprintf(path, sizeof(path), "(too long)");
	fputs("usage: fluxd -c FILE [--status-interval S] [--status-socket PATH] [--duration S]\n"
	      "             [--no-rt]\n"
	      "       fluxd --check-config FILE\n"
	      "  -c, --config FILE        site configuration (YAML)\n"
	      "      --check-config FILE  validate FILE and exit 0 (valid) or 1\n"
	      "      --status-interval S  print the live status every S seconds (default 1, 0: off)\n",
	      f);
	fprintf(f,
		"      --status-socket PATH answer `flux status` there (default %s;\n"
		"                           none: no socket)\n",
		path);
	fputs("      --duration S         stop by itself after S seconds (default: run until signal)\n"
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
			int prio = ev[i].event == CTL_EV_SOURCE_LOST ? 2 :
				   ev[i].event == CTL_EV_STALE || ev[i].event == CTL_EV_WRITE_FAILED ||
						   ev[i].event == CTL_EV_CLAIM_FAILED ||
						   ev[i].event == CTL_EV_OVERRUN ?
								    4 :
								    6;

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
		if (st_default_path(path, sizeof(path))) {
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
			is_journal ? "<3>" : "", sock, strerror(-err),
			err == -EADDRINUSE ? " (another fluxd is running)" :
					     " (--status-socket none runs without it)");
		return 1;
	}
	say(6, "fluxd: flux status answered on %s", sock);
	return 0;
}

static int parse_seconds(const char *arg, const char *name, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end || !(v >= 0) || v > 1e7) {
		fprintf(stderr, "fluxd: %s must be a number of seconds >= 0, got '%s'\n", name, arg);
		return -1;
	}
	*out = v;
	return 0;
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *sock = NULL;
	double interval_s = 1, duration_s = 0;
	bool check_only = false, no_rt = false;
	struct cfg *cfg = NULL;
	struct ctl *c = NULL;
	struct st_server srv = { 0 };
	struct thr_proc proc = { .dma_fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	char err[CFG_ERR_MAX], line[1024];
	int opt, ret = 1;
	int64_t start, next_status, end;

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
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	is_journal = getenv("JOURNAL_STREAM") != NULL;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		perror("fluxd");
		return 1;
	}
	if (cfg_load(cfg, path, err, sizeof(err))) {
		say(3, "fluxd: %s", err);
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
	end = duration_s > 0 ? start + (int64_t)(duration_s * 1e9) : INT64_MAX;
	while (!got_signal && clk_now_ns() < end) {
		struct timespec ts = clk_ns_to_ts(TICK_NS);

		nanosleep(&ts, NULL);
		drain_logs(c);
		st_server_poll(&srv, clk_now_ns());
		if (interval_s > 0 && clk_now_ns() >= next_status) {
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
	ctl_stop(c); /* writes 0 kW to every BESS and waits for the acks, bounded */
	drain_logs(c);
	ret = 0;
out:
	st_server_close(&srv); /* unlinks the socket file */
	ctl_close(c);
	thr_release_process(&proc);
	free(cfg);
	return ret;
}
