/* SPDX-License-Identifier: MIT */
/*
 * `flux status`: the site snapshot over a Unix socket. fluxd's telemetry thread serves it
 * (st_server_*: non-blocking, bounded work per tick, it never waits); `flux status` asks
 * (tools/cmd_status.c). Answers are formatted from a ctl_snapshot copied through the seqlock, so a
 * question never touches the control thread, and a bad, slow or flooding client costs one slot
 * until ST_CONN_TIMEOUT_NS at most, or less: when every slot is taken, a newcomer evicts the
 * oldest connection of the user holding the most slots, so one user cannot lock others out.
 *
 * Where: st_default_path(): a directory only this user can write ($XDG_RUNTIME_DIR or
 * /run/user/UID, owned by us, mode 0700; /run/flux for root), never /tmp. st_server_open()
 * refuses a path that another user could have squatted or could replace (see there).
 *
 * Protocol: AF_UNIX SOCK_STREAM, one request per connection, socket file mode 0660.
 *   client -> server  one line of at most ST_REQ_MAX bytes with its '\n' ("\r\n" accepted):
 *                       "status\n"       the human view: several lines, see st_format_text()
 *                       "status json\n"  one JSON object and '\n', see st_format_json()
 *                     (st_parse_request() is the whole grammar.)
 *   server -> client  the answer, then it closes the connection. Errors are one line:
 *                       "error: unknown request\n"  any other line, or ST_REQ_MAX bytes
 *                                                   without a '\n'
 *                       "error: busy\n"             evicted for a newer client before an
 *                                                   answer was begun (every slot taken)
 *                       "error: answer too large\n" the snapshot did not fit ST_RSP_MAX
 *                     A client that has not sent its line and taken the whole answer
 *                     ST_CONN_TIMEOUT_NS after it was accepted is closed without one.
 */
#ifndef FLUX_CONTROL_STATUS_H
#define FLUX_CONTROL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "control/config.h"
#include "control/ctl.h"

/* ---- constants ---------------------------------------------------------------------- */

#define ST_REQ_MAX	 64 /* bytes of a request line, '\n' included */
/*
 * Bytes of an answer: ST_RSP_BASE, ST_RSP_PER_DEV per device, ST_RSP_PER_POINT per point of
 * its profile and, for a BESS's alarm and fault words, ST_RSP_PER_WORD each. A site at its
 * widest (every id, number and error the longest it can be, every bit set) fits: test_status
 * proves it at 1 device and at the config's maximum, and prints the margin. A point's line or
 * JSON object is bounded by its name (47 bytes of [A-Za-z0-9_]), its unit (15 bytes, 6 each
 * when escaped), a %.10g number (17) and an enum name (47); a set bit by its name (47) and
 * 3 bytes of quotes and comma. The server sizes its buffers for the site it serves
 * (st_rsp_size()); the client for any site.
 */
#define ST_RSP_BASE	 (16 * 1024)
#define ST_RSP_PER_DEV	 1536
#define ST_RSP_PER_POINT 320
#define ST_RSP_PER_WORD	 (32 * (PROF_NAME_MAX + 4))
#define ST_RSP_MAX                                                                                 \
	(ST_RSP_BASE +                                                                             \
	 (CFG_MAX_BESS + CFG_MAX_METERS) * (ST_RSP_PER_DEV + PROF_MAX_POINTS * ST_RSP_PER_POINT) + \
	 CFG_MAX_BESS * 2 * ST_RSP_PER_WORD)
#define ST_PATH_MAX	   108 /* sizeof(sockaddr_un.sun_path), NUL included */
#define ST_MAX_CONNS	   8   /* connections served at once; a newcomer evicts one beyond */
#define ST_BACKLOG	   16  /* listen() backlog */
#define ST_ACCEPT_PER_POLL 16  /* accepted per st_server_poll(): a whole backlog, bounded */
#define ST_CONN_TIMEOUT_NS (500LL * 1000 * 1000) /* accept -> answer sent, or closed */
#define ST_CLI_TIMEOUT_MS  2000 /* `flux status` default bound on connect + answer */
#define ST_WHY_MAX	   320	/* bytes of st_server.why */

/* `flux status` exit codes beyond 0 ok, 1 failure (an error answer), 2 usage. */
#define ST_EXIT_UNREACHABLE 3 /* cannot connect, or no answer in time */

/* Error codes, returned negated; project codes start at 4096 (io/modbus.h has 4096..4607). */
enum {
	/* st_default_path(): neither $XDG_RUNTIME_DIR nor /run/user/UID is a directory of
	 * ours with mode 0700, and we are not root: the socket needs an explicit path. */
	ST_ENORUNDIR = 5120,
};

/* What a request line asks (st_parse_request()). */
enum st_req {
	ST_REQ_NONE, /* incomplete: no '\n' yet and fewer than ST_REQ_MAX bytes */
	ST_REQ_TEXT, /* "status" */
	ST_REQ_JSON, /* "status json" */
	ST_REQ_BAD,  /* anything else: answered "error: unknown request" */
};

/* ---- structs ------------------------------------------------------------------------ */

/*
 * Where the server gets the snapshot it answers with: ctl_snapshot() in fluxd, a fixed one in
 * tests. Returns 0, or -errno to be asked again next tick (-EAGAIN: the writer kept racing).
 */
typedef int st_snapshot_fn(void *arg, struct ctl_snapshot *out);

/* One client. Owned by the thread that calls st_server_poll(). */
struct st_conn {
	int fd;		     /* -1: slot free */
	uid_t uid;	     /* the peer's (SO_PEERCRED); (uid_t)-1 if unknown */
	uint64_t seq;	     /* accept order: the lowest of a uid is its oldest */
	int64_t deadline_ns; /* closed without an answer after this */
	unsigned in_len;
	char in[ST_REQ_MAX];
	enum st_req req;	 /* what the line asked; ST_REQ_NONE while it is incomplete */
	char *out;		 /* rsp_size bytes, allocated by st_server_open() */
	size_t out_len, out_off; /* out_len 0: no answer yet */
};

/* The server. Owned by the thread that calls st_server_poll() (fluxd's telemetry thread). */
struct st_server {
	bool is_open;
	int lfd;
	char path[ST_PATH_MAX];
	dev_t dev; /* the socket file we made: unlinked at close only if still it */
	ino_t ino;
	const struct cfg *cfg; /* device ids; must outlive the server */
	st_snapshot_fn *snapshot;
	void *arg;
	struct ctl_snapshot snap; /* this tick's copy */
	size_t rsp_size;	  /* bytes of each answer buffer: st_rsp_size(cfg) */
	struct st_conn conns[ST_MAX_CONNS];
	uint64_t accepted;    /* connections taken from the backlog */
	uint64_t answered;    /* answers sent whole, errors included */
	uint64_t evicted;     /* closed to make room for a newer client ("error: busy") */
	uint64_t dropped;     /* closed without an answer: timeout, peer gone, socket error */
	char why[ST_WHY_MAX]; /* st_server_open()'s failure as a sentence naming the path */
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Any thread: the bytes an answer about cfg's site can take (<= ST_RSP_MAX). */
static inline size_t st_rsp_size(const struct cfg *cfg)
{
	size_t n = ST_RSP_BASE + (size_t)(cfg->nbess + cfg->nmeters) * ST_RSP_PER_DEV;

	for (unsigned i = 0; i < cfg->nbess + cfg->nmeters; i++) {
		const struct prof_profile *p =
		    i < cfg->nbess ? cfg->bess[i].profile : cfg->meters[i - cfg->nbess].profile;
		unsigned np = p ? p->n_points : 0;

		n += (size_t)(np < PROF_MAX_POINTS ? np : PROF_MAX_POINTS) * ST_RSP_PER_POINT;
		if (p && i < cfg->nbess)
			n += (size_t)((prof_role_point(p, PROF_ROLE_ALARMS) >= 0) +
				      (prof_role_point(p, PROF_ROLE_FAULTS) >= 0)) *
			     ST_RSP_PER_WORD;
	}
	return n;
}

/*
 * Setup: the default socket path, the same for fluxd and `flux status`: /run/flux/fluxd.sock
 * for root (fluxd makes /run/flux), else $XDG_RUNTIME_DIR/fluxd.sock if that directory is
 * ours with mode 0700, else /run/user/UID/fluxd.sock if that one is. Never /tmp. Returns 0,
 * -ENAMETOOLONG, or -ST_ENORUNDIR (no such directory: pass a path; st_strerror() says so).
 */
int st_default_path(char *buf, size_t len);

/* Any thread: the text of a -errno or -ST_E* code returned here. */
const char *st_strerror(int err);

/*
 * Setup: listen on the Unix socket `path` (mode 0660; it sets the process umask around bind(),
 * so call it before other threads start). Refused, never unlinked, when another user could
 * have put something there or could replace our socket:
 *   -EPERM       a directory on the way (the socket's and each above it) is not owned by us or
 *                root, or is writable by group or others without the sticky bit;
 *   -EEXIST      the path exists and is not a socket owned by us;
 *   -EADDRINUSE  a socket of ours with someone accepting on it (another fluxd).
 * A socket of ours nobody accepts on (ECONNREFUSED: left by a crash) is replaced. On failure
 * s->why holds one sentence naming the path, the owner (uid and name) and the fix. cfg and arg
 * are kept by pointer. Allocates the answer buffers once, st_rsp_size(cfg) each. Returns
 * -errno or zero.
 */
int st_server_open(struct st_server *s, const char *path, const struct cfg *cfg,
		   st_snapshot_fn *snapshot, void *arg);

/*
 * Telemetry thread, once per tick: close connections past their deadline, serve the open ones,
 * then accept up to ST_ACCEPT_PER_POLL clients and serve each at once (a request already sent
 * is answered in the same call). With every slot taken, a newcomer evicts the oldest
 * connection of the user (SO_PEERCRED) holding the most slots, the newcomer counted; that one
 * is told "error: busy" if its answer had not begun. At most one snapshot per call; every
 * socket call is non-blocking, so it never waits, and its work is bounded by ST_MAX_CONNS +
 * ST_ACCEPT_PER_POLL connections whatever the clients do. now_ns is CLOCK_MONOTONIC (tests
 * may pass their own). Returns the answers completed.
 */
int st_server_poll(struct st_server *s, int64_t now_ns);

/* Setup: close every connection and the listener, unlink the socket file if it is still ours,
 * free the buffers. Safe on a zeroed struct and twice. */
void st_server_close(struct st_server *s);

/*
 * Not RT: the human view. Lines: "fluxd ..." (cycles, overruns, snapshot age, site kW), one
 * "bess ..." per BESS (status, SOE, setpoint, fresh/stale, ours, safety reasons, last
 * error), then, for a profile with optional roles, one "    measured ..." line (measured
 * power, the reported max charge/discharge in force, the names of the set alarm and fault
 * bits), then its points; one "meter ..." per meter, one "latency ..." each for jitter, soe_read,
 * setpoint_write and rtt (the whole site's round trips) (p50/p99/p99.9/max). now_ns dates the
 * snapshot. Returns the length, or -ENOSPC when len is too small (buf then holds a truncated
 * string).
 */
int st_format_text(const struct cfg *cfg, const struct ctl_snapshot *s, int64_t now_ns, char *buf,
		   size_t len);

/*
 * Not RT: the same as one JSON object and '\n':
 *   {"version":1,"cycles":N,"overruns":N,"age_ms":F,"site_kw":F,"is_valid":B,
 *    "has_started":B,"config_gen":N,
 *    "bess":[{"id":S,"status":S,"status_code":N,"soe_pct":F,"setpoint_kw":F,"is_fresh":B,
 *             "is_ready":B,"is_ours":B,"command_source":N,"blocks":N,"safety":[S...],
 *             "last_error":S|null,"last_errno":N,"writes":N,"active_power_kw":F|null,
 *             "max_charge_kw":F|null,"max_discharge_kw":F|null,"alarms":[S...],"faults":[S...],
 *             "is_faulted":B,"is_deviating":B,"deviations":N,"points":[...],"rtt_ns":{LAT}}...],
 *    "meters":[{"id":S,"power_kw":F,"is_fresh":B,"last_error":S|null,"last_errno":N,
 *               "rtt_ns":{LAT}}...],
 *    "latency_ns":{"jitter":{LAT},"soe_read":{LAT},"setpoint_write":{LAT},"rtt":{LAT}}}
 *   where LAT is "p50":N,"p99":N,"p999":N,"max":N,"count":N (ns; rtt: request sent ->
 *   response parsed, cumulative since start, as ctl_snapshot() summarises it).
 * Returns the length, or -ENOSPC when len is too small.
 */
int st_format_json(const struct cfg *cfg, const struct ctl_snapshot *s, int64_t now_ns, char *buf,
		   size_t len);

/*
 * Any thread: what the first len bytes a client sent ask. Only the first ST_REQ_MAX bytes
 * count: a line is "status" or "status json", ended by '\n' or "\r\n"; no '\n' in them is
 * ST_REQ_NONE below ST_REQ_MAX bytes (wait for more) and ST_REQ_BAD at ST_REQ_MAX. Once a
 * prefix decides (not ST_REQ_NONE), every longer input gives the same answer.
 */
static inline enum st_req st_parse_request(const char *buf, size_t len)
{
	const char *nl;
	size_t n;

	if (len > ST_REQ_MAX)
		len = ST_REQ_MAX;
	nl = len ? (const char *)memchr(buf, '\n', len) : NULL;
	if (!nl)
		return len == ST_REQ_MAX ? ST_REQ_BAD : ST_REQ_NONE;
	n = (size_t)(nl - buf);
	if (n && buf[n - 1] == '\r')
		n--;
	if (n == 6 && memcmp(buf, "status", 6) == 0)
		return ST_REQ_TEXT;
	if (n == 11 && memcmp(buf, "status json", 11) == 0)
		return ST_REQ_JSON;
	return ST_REQ_BAD;
}

#endif /* FLUX_CONTROL_STATUS_H */
