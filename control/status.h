/* SPDX-License-Identifier: MIT */
/*
 * `flux status`: the site snapshot over a Unix socket. fluxd's telemetry thread serves it
 * (st_server_*: non-blocking, a few clients per tick, it never waits); `flux status` asks
 * (st_cli_main). Answers are formatted from a ctl_snapshot copied through the seqlock, so a
 * question never touches the control thread, and a bad or slow client costs one slot until
 * ST_CONN_TIMEOUT_NS, never a wait.
 *
 * Protocol: AF_UNIX SOCK_STREAM, one request per connection, socket file mode 0660.
 *   client -> server  one line of at most ST_REQ_MAX bytes with its '\n' ("\r\n" accepted):
 *                       "status\n"       the human view: several lines, see st_format_text()
 *                       "status json\n"  one JSON object and '\n', see st_format_json()
 *   server -> client  the answer, then it closes the connection. Errors are one line:
 *                       "error: unknown request\n"  any other line, or ST_REQ_MAX bytes
 *                                                   without a '\n'
 *                       "error: busy\n"             ST_MAX_CONNS connections already open
 *                       "error: answer too large\n" the snapshot did not fit ST_RSP_MAX
 *                     A client that has not sent its line and taken the whole answer
 *                     ST_CONN_TIMEOUT_NS after it was accepted is closed without one.
 */
#ifndef FLUX_CONTROL_STATUS_H
#define FLUX_CONTROL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control/config.h"
#include "control/ctl.h"

/* ---- constants ---------------------------------------------------------------------- */

#define ST_REQ_MAX	   64 /* bytes of a request line, '\n' included */
/* Bytes of an answer: ST_RSP_BASE + ST_RSP_PER_DEV per device. A site at its widest (every
 * id, number and error the longest it can be) fits: test_status proves it at 1 device and at
 * the config's maximum, and prints the margin (1040 devices: 1172 KiB of 1316 KiB). The server
 * sizes its buffers for the site it serves (st_rsp_size()); the client for any site. */
#define ST_RSP_BASE	   (16 * 1024)
#define ST_RSP_PER_DEV	   1280
#define ST_RSP_MAX	   (ST_RSP_BASE + (CFG_MAX_BESS + CFG_MAX_METERS) * ST_RSP_PER_DEV)
#define ST_PATH_MAX	   108 /* sizeof(sockaddr_un.sun_path), NUL included */
#define ST_MAX_CONNS	   8   /* connections served at once; more get "error: busy" */
#define ST_ACCEPT_PER_TICK 4   /* connections accepted per st_server_poll() */
#define ST_BACKLOG	   16
#define ST_CONN_TIMEOUT_NS (500LL * 1000 * 1000) /* accept -> answer sent, or closed */
#define ST_CLI_TIMEOUT_MS  2000 /* `flux status` default bound on connect + answer */

/* `flux status` exit codes beyond 0 ok, 1 failure (an error answer), 2 usage. */
#define ST_EXIT_UNREACHABLE 3 /* cannot connect, or no answer in time */

/* ---- structs ------------------------------------------------------------------------ */

/*
 * Where the server gets the snapshot it answers with: ctl_snapshot() in fluxd, a fixed one in
 * tests. Returns 0, or -errno to be asked again next tick (-EAGAIN: the writer kept racing).
 */
typedef int st_snapshot_fn(void *arg, struct ctl_snapshot *out);

/* One client. Owned by the thread that calls st_server_poll(). */
struct st_conn {
	int fd;		     /* -1: slot free */
	int64_t deadline_ns; /* closed without an answer after this */
	unsigned in_len;
	char in[ST_REQ_MAX];
	int req;		 /* what the line asked; 0 while it is incomplete */
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
	uint64_t answered; /* answers sent whole, errors included */
	uint64_t rejected; /* closed at accept: every slot taken */
	uint64_t dropped;  /* closed without an answer: timeout, peer gone, socket error */
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Any thread: the bytes an answer about cfg's site can take (<= ST_RSP_MAX). */
static inline size_t st_rsp_size(const struct cfg *cfg)
{
	return ST_RSP_BASE + (size_t)(cfg->nbess + cfg->nmeters) * ST_RSP_PER_DEV;
}

/*
 * Setup: the default socket path: /run/flux/fluxd.sock for root, else
 * $XDG_RUNTIME_DIR/fluxd.sock, else /tmp/fluxd-$UID.sock. Returns 0 or -ENAMETOOLONG.
 */
int st_default_path(char *buf, size_t len);

/*
 * Setup: listen on the Unix socket `path` (mode 0660; it sets the process umask around bind(),
 * so call it before other threads start). A stale socket file (nobody accepting) is replaced;
 * a live one is -EADDRINUSE, any other file -EEXIST. cfg and arg are kept by pointer.
 * Allocates the answer buffers once, st_rsp_size(cfg) each. Returns -errno or zero.
 */
int st_server_open(struct st_server *s, const char *path, const struct cfg *cfg,
		   st_snapshot_fn *snapshot, void *arg);

/*
 * Telemetry thread, once per tick: accept up to ST_ACCEPT_PER_TICK clients, read requests,
 * take at most one snapshot, send answers; every socket call is non-blocking, so it never
 * waits. now_ns is CLOCK_MONOTONIC (tests may pass their own). Returns the answers completed.
 */
int st_server_poll(struct st_server *s, int64_t now_ns);

/* Setup: close every connection and the listener, unlink the socket file if it is still ours,
 * free the buffers. Safe on a zeroed struct and twice. */
void st_server_close(struct st_server *s);

/*
 * Not RT: the human view. Lines: "fluxd ..." (cycles, overruns, snapshot age, site kW), one
 * "bess ..." per BESS (status, SOE, setpoint, fresh/stale, ours, safety reasons, last
 * error), one "meter ..." per meter, one "latency ..." each for jitter, soe_read,
 * setpoint_write and rtt (the whole site's round trips) (p50/p99/p99.9/max). now_ns dates the
 * snapshot. Returns the length, or -ENOSPC when len is too small (buf then holds a truncated
 * string).
 */
int st_format_text(const struct cfg *cfg, const struct ctl_snapshot *s, int64_t now_ns, char *buf,
		   size_t len);

/*
 * Not RT: the same as one JSON object and '\n':
 *   {"version":1,"cycles":N,"overruns":N,"age_ms":F,"site_kw":F,"is_valid":B,
 *    "has_started":B,
 *    "bess":[{"id":S,"status":S,"status_code":N,"soe_pct":F,"setpoint_kw":F,"is_fresh":B,
 *             "is_ready":B,"is_ours":B,"command_source":N,"blocks":N,"safety":[S...],
 *             "last_error":S|null,"last_errno":N,"writes":N,"rtt_ns":{LAT}}...],
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
 * `flux status [--socket PATH] [--json] [--timeout MS]`: argv[0] is "status". Prints the
 * answer to stdout. Returns the exit code: 0 ok, 1 error answer, 2 usage,
 * ST_EXIT_UNREACHABLE (the message names the path and the errno).
 */
int st_cli_main(int argc, char **argv);

#endif /* FLUX_CONTROL_STATUS_H */
