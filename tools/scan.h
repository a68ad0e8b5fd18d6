/* SPDX-License-Identifier: MIT */
/*
 * The Modbus TCP scanner behind `flux scan`: connects to every address x port of a set of
 * IPv4 ranges in parallel through one io_uring, and on each open port probes unit ids with a
 * harmless FC03 read of one register at address 0, several at once: up to per_host
 * connections to each address:port, each with up to depth requests outstanding (distinct
 * MBAP transaction ids, matched by TID and unit). A unit that answers with registers or with
 * an exception is present; silence is absent, and so are gateway exceptions 0x0A/0x0B ("no
 * such target"). A server silent for absent units so costs about one timeout per window of
 * per_host x depth units, not one per unit. Each unit found is then identified: FC43/14
 * basic device identification (vendor, product, revision; an exception or silence is "none")
 * and a fingerprint against the shipped profiles (devices/), from one FC03 read of each
 * profile's first poll block.
 *
 * A connection counts as served once something answered on it: silence on a connection that
 * never answered (a server that leaves extra connections in its listen backlog) is not taken
 * for absence while another connection of the same port is served; its units are asked again.
 * Not RT code; runs on the caller's thread and blocks until done.
 */
#ifndef FLUX_TOOLS_SCAN_H
#define FLUX_TOOLS_SCAN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCAN_MAX_CONCURRENCY 4096
#define SCAN_MAX_PORTS	     64
#define SCAN_MAX_PER_HOST    16 /* connections to one address:port */
#define SCAN_MAX_DEPTH	     32 /* requests outstanding on one connection */
#define SCAN_ID_MAX	     64 /* bytes kept of each device identification object, with NUL */
#define SCAN_EVIDENCE_MAX    96 /* a fingerprint's evidence, with NUL */

/*
 * FC43/14 Read Device Identification (Modbus Application Protocol v1.1b3, 6.21), basic
 * objects, built and parsed here because io/modbus.h does not carry FC43:
 *
 *   request  PDU: 2B 0E 01 00                   (MEI type, read code 01 basic, object 0)
 *   response PDU: 2B 0E 01 conf more next n { id len value[len] } x n
 *   exception PDU: AB code                      (0x01: not supported)
 */
#define SCAN_FC_MEI	    0x2B
#define SCAN_MEI_DEVICE_ID  0x0E
#define SCAN_DEVID_BASIC    0x01
#define SCAN_DEVID_REQ_SIZE 11 /* MBAP 7 + PDU 4 */
#define SCAN_DEVID_HDR	    7  /* response PDU bytes before the first object */

/* Error codes of this module, returned negated; beyond io/modbus.h's range. */
enum scan_err {
	SCAN_ERR_BASE = 8192,
	SCAN_EDEVID_SHORT = SCAN_ERR_BASE, /* FC43 reply shorter than its header */
	SCAN_EDEVID_MEI,		   /* not a basic (01) reply of MEI type 0x0E */
	SCAN_EDEVID_OBJLEN,		   /* an object runs past the end of the frame */
	SCAN_EDEVID_TRAILING,		   /* bytes after the objects the reply counts */
	SCAN_ERR_END,
};

/* What FC43 said about a unit: objects 0x00..0x02, printable ASCII, '?' for other bytes. */
struct scan_devid {
	char vendor[SCAN_ID_MAX];
	char product[SCAN_ID_MAX];
	char revision[SCAN_ID_MAX];
	uint8_t conformity;
	bool has_more; /* the device has further objects; they are not asked for */
};

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

/*
 * One finding, given to scan_cfg.report as it is made: a unit once its identification is done
 * (or could not be), a port once every unit of it is.
 */
struct scan_result {
	enum scan_kind kind;
	uint32_t addr; /* host order */
	uint16_t port;
	uint8_t unit;
	uint16_t value; /* SCAN_UNIT: register 0 */
	int err;
	unsigned probed; /* SCAN_OPEN / SCAN_CONN_ERR: units probed on the port */
	int64_t rtt_ns;	 /* probe sent -> reply decoded, or connect time */
	uint8_t tx[12];	 /* SCAN_BAD_REPLY: the request (tx_len bytes) and the reply's first */
	unsigned tx_len; /* bytes (rx_len) */
	uint8_t rx[16];
	unsigned rx_len;
	/* SCAN_UNIT, SCAN_UNIT_EXC with cfg.is_identifying: */
	bool has_devid; /* devid holds the unit's FC43/14 answer */
	int devid_err;	/* else why not: -MB_EXC(code), -ETIMEDOUT (silence), -MB_E*, -SCAN_E*,
			 * -ECANCELED (the port's scan ended before it was asked or answered) */
	struct scan_devid devid;
	const char *profile; /* the shipped profile it looks like ("powerpack"), or NULL */
	char evidence[SCAN_EVIDENCE_MAX]; /* why, e.g. "2000 READY, 2026 SOE 60 in 0..100" */
	int fp_err;			  /* a malformed reply to a fingerprint read, or 0 */
};

struct scan_stats {
	uint64_t targets; /* address x port pairs tried */
	uint64_t open;
	uint64_t refused;
	uint64_t no_answer;
	uint64_t conn_err;
	uint64_t units;
	uint64_t bad_replies; /* malformed frames and unknown TIDs, identification replies too */
	uint64_t requests;    /* frames sent */
	uint64_t late;	      /* replies to requests that had timed out, dropped */
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
	int64_t timeout_ns;   /* connect; and silence on a connection with requests outstanding */
	unsigned concurrency; /* connections at once, 1..SCAN_MAX_CONCURRENCY */
	unsigned per_host;    /* connections to one address:port, 1..SCAN_MAX_PER_HOST (0: 4) */
	unsigned depth;	      /* requests outstanding per connection, 1..SCAN_MAX_DEPTH (0: 16) */
	bool is_identifying;  /* ask each unit found FC43/14 and read its fingerprint blocks */
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
 * a bad cfg. Needs min(concurrency, targets x per_host) file descriptors.
 */
int scan_run(const struct scan_cfg *cfg, struct scan_stats *st);

/* Encode the FC43/14 basic request for unit into buf. Returns SCAN_DEVID_REQ_SIZE or
 * -MB_ENOSPACE. */
int scan_encode_devid_req(uint8_t *buf, size_t cap, uint16_t tid, uint8_t unit);

/*
 * Decode one whole FC43 reply frame (as mb_split() gives it) to the request of tid and unit.
 * Checks the MBAP header against the frame, then every object length against what is left;
 * no buffer is sized from the peer. Returns 0 (out filled), -MB_EXC(code) for an exception
 * reply (0x01: not supported), -MB_E* (header, TID, unit, FC) or -SCAN_E* for a malformed one.
 */
int scan_decode_devid_rsp(const uint8_t *frame, size_t len, uint16_t tid, uint8_t unit,
			  struct scan_devid *out);

/*
 * Fingerprints against the shipped profiles (devices/profiles/, which scan_run() loads).
 * p: the profile (prof_load_builtin() of "powerpack", "acuvim2"); regs: the registers of its
 * first poll block as read (host order, n of them). Each returns true when they look like that
 * device and then writes the evidence to buf, e.g. "2000 READY, 2026 SOE 60 in 0..100". The
 * points come from the profile's roles (and the meter's L1-N voltage by name), a point's
 * plausible range from the profile when it gives one.
 */
struct prof_profile;

/* PowerPack (FC03 2000 x 29): the status role's value is one of its enum's named codes and the
 * soe role's is in its range (0..100 when the profile gives none). */
bool scan_looks_like_powerpack(const struct prof_profile *p, const uint16_t *regs, unsigned n,
			       char *buf, size_t cap);

/* Acuvim II (FC03 0x0000 x 74, floats in the profile's default order): voltage_l1n_v in
 * 50..1000 V and the frequency role in its range (40..70 Hz when the profile gives none). */
bool scan_looks_like_acuvim2(const struct prof_profile *p, const uint16_t *regs, unsigned n,
			     char *buf, size_t cap);

/* Name of an error code: this module's, io/modbus.h's or an errno. Never NULL. */
const char *scan_strerror(int err);

/* Short name of a kind ("unit", "refused", ...). */
const char *scan_kind_name(enum scan_kind kind);

#endif /* FLUX_TOOLS_SCAN_H */
