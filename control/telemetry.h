/* SPDX-License-Identifier: MIT */
/*
 * fluxd's telemetry tick: everything the daemon tells the world about a running controller,
 * done on the main thread (normal priority, never an RT one) once per tick. It prints the
 * control thread's events (with journald's <priority> prefixes when stderr goes there) and
 * the periodic status line, answers `flux status` on the status socket (polled, never waiting
 * on a client), and speaks sd_notify: READY=1 after the first control cycle, STATUS= lines,
 * WATCHDOG=1 only while both RT threads make progress, STOPPING=1. It reads the controller
 * only through its seqlock snapshot, log ring and counters.
 */
#ifndef FLUX_CONTROL_TELEMETRY_H
#define FLUX_CONTROL_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "control/config.h"
#include "control/ctl.h"
#include "control/status.h"

/* ---- structs ------------------------------------------------------------------------ */

/* What fluxd's command line says about telemetry. */
struct tel_opts {
	int64_t status_interval_ns; /* the status line on stdout this often; 0: never */
	const char *status_socket;  /* NULL: st_default_path(); "none": no socket */
};

/*
 * systemd's watchdog (WatchdogSec= sets WATCHDOG_USEC): kicked at most every half period,
 * and only when both RT threads made progress since the last kick: the control cycle count
 * advanced and the I/O thread turned its loop. A stuck thread stops the kicks, systemd
 * restarts the service.
 */
struct tel_wdog {
	int64_t interval_ns; /* half of WATCHDOG_USEC; 0: no watchdog asked */
	int64_t next_ns;     /* next kick due */
	uint64_t cycles;     /* ctl_cycles() at the last kick */
	uint64_t turns;	     /* ctl_io_turns() at the last kick */
	bool is_stalled;     /* said so once; kicks withheld */
};

/* Owned by the main thread. tel_close() is safe on a zeroed one. */
struct telemetry {
	struct ctl *ctl;
	const struct cfg *cfg;
	struct tel_opts opts;
	struct st_server srv;
	struct ctl_snapshot line_snap; /* the status line's copy (too large for a stack) */
	struct tel_wdog wd;
	int64_t next_status_ns; /* the status line on stdout */
	int64_t next_notify_ns; /* STATUS= with the live line, once a second */
	bool is_ready;		/* READY=1 said: the control thread completed a cycle */
	bool is_open;
};

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Setup, before ctl_start() (st_server_open() sets the umask around bind()): open the status
 * socket (root's /run/flux is made if missing; a user without a private runtime directory
 * runs without one, saying so) and read the watchdog's period. c and cfg must outlive t.
 * Returns 0, or -errno after saying why.
 */
int tel_open(struct telemetry *t, struct ctl *c, const struct cfg *cfg,
	     const struct tel_opts *opts);

/* Main thread, after ctl_start(): the status line's schedule starts at now. */
void tel_start(struct telemetry *t, int64_t now);

/*
 * Main thread, once per tick: print the control thread's events, serve the status socket,
 * say READY=1 after the first cycle, kick (or withhold) the watchdog, send STATUS= and print
 * the status line when due. Never blocks.
 */
void tel_tick(struct telemetry *t, int64_t now);

/* Main thread, before ctl_stop(): STOPPING=1, and what the stop does. */
void tel_stop(struct telemetry *t);

/* Main thread, after ctl_stop() and before ctl_close(): print the control thread's last
 * events (its stop report) and close the status socket (its file unlinked). Idempotent. */
void tel_close(struct telemetry *t);

/*
 * Main thread: fmt with text (one %s) as one line on stderr, prefixed "<prio>" (the syslog
 * priority: 3 error, 4 warning, 5 notice, 6 info) when JOURNAL_STREAM says journald reads it.
 */
void tel_say(int prio, const char *fmt, const char *text);

/* Main thread: sd_notify() fmt with text (one %s) when NOTIFY_SOCKET is set; else nothing. */
void tel_notify(const char *fmt, const char *text);

#endif /* FLUX_CONTROL_TELEMETRY_H */
