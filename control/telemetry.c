// SPDX-License-Identifier: MIT
/*
 * fluxd's telemetry tick (control/telemetry.h): logs, the status line, the status socket,
 * sd_notify and the watchdog, on the main thread. The one idea: the watchdog is kicked only
 * when both RT threads moved since the last kick, so a stuck control cycle or I/O loop stops
 * the kicks while this thread, which only watches, keeps running.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "control/telemetry.h"
#include "rt/clock.h"

#define TEL_LOG_BATCH 32
#define TEL_LINE_MAX  1024

/* a + b, held at INT64_MAX (b >= 0): a huge --status-interval means "not again". */
static int64_t add_sat(int64_t a, int64_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

void tel_say(int prio, const char *fmt, const char *text)
{
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>", prio);
	fprintf(stderr, fmt, text);
	fputc('\n', stderr);
}

void tel_notify(const char *fmt, const char *text)
{
	char msg[1200];

	if (!getenv("NOTIFY_SOCKET"))
		return;
	snprintf(msg, sizeof(msg), fmt, text);
	sd_notify(0, msg);
}

static void drain_logs(struct ctl *c)
{
	struct ctl_log ev[TEL_LOG_BATCH];
	unsigned n;

	while ((n = ctl_pop_logs(c, ev, TEL_LOG_BATCH))) {
		for (unsigned i = 0; i < n; i++) {
			char line[256];

			ctl_format_log(c, &ev[i], line, sizeof(line));
			tel_say(ctl_event_priority(ev[i].event), "fluxd: %s", line);
		}
	}
}

/* The status server's view of the controller: the seqlock copy, never a wait on ctl. */
static int snapshot_of(void *arg, struct ctl_snapshot *out)
{
	return ctl_snapshot(arg, out);
}

/* Listen for `flux status` on sock (NULL: the default path). Returns 0 or -errno. */
static int open_status(struct telemetry *t, const char *sock)
{
	char path[ST_PATH_MAX], msg[ST_PATH_MAX + 512];
	int err;

	if (!sock) {
		err = st_default_path(path, sizeof(path));
		if (err == -ST_ENORUNDIR) {
			/* A user without a private runtime directory runs without the socket. */
			tel_say(4, "fluxd: no status socket: %s; --status-socket PATH gives one",
				st_strerror(err));
			return 0;
		}
		if (err) {
			tel_say(3, "fluxd: %s",
				"default status socket path too long: use --status-socket");
			return err;
		}
		if (geteuid() == 0)
			mkdir("/run/flux", 0755); /* EEXIST is fine; anything else shows in bind */
		sock = path;
	}
	err = st_server_open(&t->srv, sock, t->cfg, snapshot_of, t->ctl);
	if (err) {
		snprintf(msg, sizeof(msg), "cannot open the status socket %s: %s%s", sock,
			 t->srv.why[0] ? t->srv.why : strerror(-err),
			 err == -EADDRINUSE ? " (another fluxd is running)"
					    : " (--status-socket none runs without it)");
		tel_say(3, "fluxd: %s", msg);
		return err;
	}
	tel_say(6, "fluxd: flux status answered on %s", sock);
	return 0;
}

static void wdog_init(struct tel_wdog *w, const struct cfg *cfg)
{
	uint64_t usec = 0;

	*w = (struct tel_wdog){ 0 };
	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return;
	w->interval_ns = (int64_t)(usec * 1000 / 2);
	if (w->interval_ns < 2 * cfg->site.cycle_ns)
		tel_say(
		    4, "fluxd: %s",
		    "WatchdogSec= is under 4 control cycles: a slow cycle may look like a stall");
}

/* Once per tick after READY=1: kick when both RT threads moved, else say the stall once. */
static void wdog_tick(struct tel_wdog *w, const struct ctl *c, int64_t now)
{
	uint64_t cycles, turns;
	char why[160];

	if (!w->interval_ns || now < w->next_ns)
		return;
	cycles = ctl_cycles(c);
	turns = ctl_io_turns(c);
	if (cycles > w->cycles && turns > w->turns) {
		tel_notify("WATCHDOG=1%s", w->is_stalled ? "\nSTATUS=control running again" : "");
		if (w->is_stalled)
			tel_say(5, "fluxd: %s", "RT threads progress again: watchdog kicked");
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
	tel_say(3, "fluxd: stalled: %s", why);
	tel_notify("STATUS=stalled: %s", why);
	w->is_stalled = true;
}

/* Ready once the control thread has completed a cycle: it runs, on the engine. */
static void say_ready(struct telemetry *t, int64_t now)
{
	char line[TEL_LINE_MAX];

	snprintf(line, sizeof(line),
		 "READY=1\nSTATUS=controlling %u BESS and %u meter(s), cycle %.3g ms",
		 t->cfg->nbess, t->cfg->nmeters, (double)t->cfg->site.cycle_ns / 1e6);
	tel_notify("%s", line);
	t->is_ready = true;
	t->wd.cycles = ctl_cycles(t->ctl);
	t->wd.turns = ctl_io_turns(t->ctl);
	t->wd.next_ns = now + t->wd.interval_ns;
	t->next_notify_ns = now + CLK_NS_PER_SEC;
}

/* The live status line of the latest snapshot into line. Returns 0 or -errno. */
static int format_status(struct telemetry *t, char *line, size_t len)
{
	int err = ctl_snapshot(t->ctl, &t->line_snap);

	if (!err)
		ctl_format_status(t->ctl, &t->line_snap, line, len);
	return err;
}

int tel_open(struct telemetry *t, struct ctl *c, const struct cfg *cfg, const struct tel_opts *opts)
{
	const char *sock = opts->status_socket;
	int err = 0;

	*t = (struct telemetry){ .ctl = c, .cfg = cfg, .opts = *opts };
	if (!sock || strcmp(sock, "none") != 0)
		err = open_status(t, sock);
	if (err)
		return err;
	wdog_init(&t->wd, cfg);
	t->is_open = true;
	return 0;
}

void tel_start(struct telemetry *t, int64_t now)
{
	t->next_status_ns = add_sat(now, t->opts.status_interval_ns);
	t->next_notify_ns = now;
}

void tel_tick(struct telemetry *t, int64_t now)
{
	char line[TEL_LINE_MAX];

	drain_logs(t->ctl);
	st_server_poll(&t->srv, now);
	if (!t->is_ready && ctl_cycles(t->ctl) > 0)
		say_ready(t, now);
	if (t->is_ready)
		wdog_tick(&t->wd, t->ctl, now);
	if (t->is_ready && !t->wd.is_stalled && now >= t->next_notify_ns &&
	    getenv("NOTIFY_SOCKET")) {
		if (format_status(t, line, sizeof(line)) == 0)
			tel_notify("STATUS=%s", line);
		t->next_notify_ns = now + CLK_NS_PER_SEC;
	}
	if (t->opts.status_interval_ns > 0 && now >= t->next_status_ns) {
		if (format_status(t, line, sizeof(line)) == 0) {
			printf("%s\n", line);
			fflush(stdout);
		}
		t->next_status_ns = add_sat(t->next_status_ns, t->opts.status_interval_ns);
	}
}

void tel_stop(struct telemetry *t)
{
	(void)t;
	tel_notify("%s", "STOPPING=1\nSTATUS=stopping: writing 0 kW to every BESS");
}

void tel_close(struct telemetry *t)
{
	if (t->is_open)
		drain_logs(t->ctl);
	st_server_close(&t->srv); /* unlinks the socket file */
	t->is_open = false;
}
