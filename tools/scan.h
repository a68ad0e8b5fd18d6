/* SPDX-License-Identifier: MIT */
/*
 * The Modbus TCP scanner behind `flux scan`: connects to every address x port of a set of
 * IPv4 ranges in parallel through one io_uring (every connect and every reply wait bounded by
 * a linked timeout), and on each open port probes unit ids one at a time with a harmless FC03
 * read of one register at address 0. A unit that answers with registers or with an exception
 * is present; silence is absent, and so are gateway exceptions 0x0A/0x0B ("no such target").
 * Not RT code; runs on the caller's thread and blocks until done.
 */
#ifndef FLUX_TOOLS_SCAN_H
#define FLUX_TOOLS_SCAN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define SCAN_MAX_CONCURRENCY 4096
#define SCAN_MAX_PORTS	     64

/* An inclusive range of IPv4 addresses in host byte order. */
struct scan_range {
	uint32_t first;
	uint32_t last;
};

enum scan_kind {
	SCAN_UNIT,	/* a unit answered with registers (value) */
	SCAN_UNIT_EXC,	/* a unit answered with an exception (err = -MB_EXC(code)) */
	SCAN_BAD_REPLY, /* something answered the unit's probe with a malformed frame (err) */
	SCAN_OPEN,	/* port open, no unit answered (probed: how many were asked) */
	SCAN_REFUSED,	/* connection refused */
	SCAN_NO_ANSWER, /* connect timed out */
	SCAN_CONN_ERR,	/* other connect or connection failure (err = -errno) */
};

/* One finding, given to scan_cfg.report as it is made. */
struct scan_result {
	enum scan_kind kind;
	uint32_t addr; /* host order */
	uint16_t port;
	uint8_t unit;
	uint16_t value; /* SCAN_UNIT: register 0 */
	int err;
	unsigned probed; /* SCAN_OPEN / SCAN_CONN_ERR: units probed on the port */
	int64_t rtt_ns;	 /* probe sent -> reply decoded, or connect time */
	uint8_t tx[12];	 /* SCAN_BAD_REPLY: the probe and the first bytes of the reply */
	uint8_t rx[16];
	unsigned rx_len;
};

struct scan_stats {
	uint64_t targets; /* address x port pairs tried */
	uint64_t open;
	uint64_t refused;
	uint64_t no_answer;
	uint64_t conn_err;
	uint64_t units;
	uint64_t bad_replies;
	int64_t elapsed_ns;
	bool is_interrupted;
};

struct scan_cfg {
	const struct scan_range *ranges;
	unsigned nranges;
	const uint16_t *ports;
	unsigned nports;
	uint8_t unit_first;
	uint8_t unit_last;
	int64_t timeout_ns;   /* connect, and each probe */
	unsigned concurrency; /* connections at once, 1..SCAN_MAX_CONCURRENCY */
	void (*report)(void *arg, const struct scan_result *r);
	void *arg;
	volatile sig_atomic_t *stop; /* optional: set (by a signal handler) to end early */
};

/*
 * Parse a TARGET: "a.b.c.d", "a.b.c.d-e" (last octet range), "a.b.c.d-e.f.g.h", or CIDR
 * "a.b.c.d/n" (n 0..32; for n <= 30 the network and broadcast addresses are left out).
 * Returns 0 or -EINVAL.
 */
int scan_parse_target(const char *s, struct scan_range *out);

/* Addresses in the ranges (a sum: overlaps count twice). */
uint64_t scan_count(const struct scan_range *r, unsigned n);

/*
 * Scan. Blocks until every target is done (or *cfg->stop), calling cfg->report for each
 * finding. Returns 0 (stats filled) or -errno when the io_uring cannot be set up, -EINVAL for
 * a bad cfg. Needs concurrency file descriptors.
 */
int scan_run(const struct scan_cfg *cfg, struct scan_stats *st);

/* Short name of a kind ("unit", "refused", ...). */
const char *scan_kind_name(enum scan_kind kind);

#endif /* FLUX_TOOLS_SCAN_H */
