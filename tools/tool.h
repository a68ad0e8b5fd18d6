/* SPDX-License-Identifier: MIT */
/*
 * Private to tools/cmd_*.c and tools/tool.c: argument parsing shared by the tools, value types,
 * and a one-connection Modbus client that keeps the bytes it sent and received so every error
 * can show them: Modbus TCP, RTU on a serial line (one request at a time, the t3.5 silence
 * before each, frames found by length and CRC with noise discarded and counted), or RTU ADUs
 * over TCP (a gateway that passes frames through). Main thread of the tool only.
 */
#ifndef FLUX_TOOLS_TOOL_H
#define FLUX_TOOLS_TOOL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "io/modbus.h"
#include "io/serial.h"
#include "tools/tools.h"

#define TOOL_LATE_TIDS 8 /* TIDs of timed-out requests whose late replies are dropped */
#define TOOL_HEX_MAX   (3 * MB_ADU_MAX + 1)

/* Value types of -t. hex shows raw 16-bit registers. */
enum tool_type { TOOL_U16, TOOL_I16, TOOL_U32, TOOL_I32, TOOL_F32, TOOL_HEX };

/* ---- argument parsing: each prints "flux CMD: ..." on stderr and returns -EINVAL ------ */

/* Whole number in lo..hi (decimal or 0x hex). */
int tool_parse_ulong(const char *cmd, const char *opt, const char *arg, unsigned long lo,
		     unsigned long hi, unsigned long *out);

/*
 * A duration: "250ms", "1.5s", "200us", or a bare number in `bare_unit_ns` units (modpoll's
 * -o is seconds, its -l milliseconds). Must be in lo_ns..hi_ns.
 */
int tool_parse_duration(const char *cmd, const char *opt, const char *arg, int64_t bare_unit_ns,
			int64_t lo_ns, int64_t hi_ns, int64_t *out_ns);

/* u16 i16 u32 i32 f32 hex. Returns the type or -EINVAL (nothing printed). */
int tool_parse_type(const char *s);
const char *tool_type_name(enum tool_type t);

/* Long options every Modbus tool shares; a tool numbers its own from TOOL_OPT_OWN. */
enum {
	TOOL_OPT_ORDER = 256,
	TOOL_OPT_RETRIES,
	TOOL_OPT_ONE_BASED,
	TOOL_OPT_DEVICE,
	TOOL_OPT_PARITY,
	TOOL_OPT_OWN
};

/* The serial line's long options (--device --baud --parity --data-bits --stop-bits), for a
 * tool's getopt_long table; tool_common_opt() parses them. */
/* clang-format off */
#define TOOL_LINE_OPTIONS                                        \
	{ "device", required_argument, NULL, TOOL_OPT_DEVICE },  \
	{ "baud", required_argument, NULL, 'b' },                \
	{ "parity", required_argument, NULL, TOOL_OPT_PARITY },  \
	{ "data-bits", required_argument, NULL, 'd' },           \
	{ "stop-bits", required_argument, NULL, 's' }
/* clang-format on */

/* How a conn carries Modbus (-m tcp|rtu|rtutcp). */
enum tool_framing {
	TOOL_FRAMING_TCP,    /* MBAP on TCP */
	TOOL_FRAMING_RTU,    /* RTU ADUs on a serial line (--device) */
	TOOL_FRAMING_RTUTCP, /* RTU ADUs on TCP: a gateway that passes serial frames through */
};

/* "tcp", "rtu", "rtutcp". */
const char *tool_framing_name(enum tool_framing f);

/*
 * What -p -a -r -t --order -o --retries --one-based say, the same for read and write, and the
 * transport: -m tcp|rtu|rtutcp, --device PATH, -b BAUD, --parity none|even|odd, -d 7|8, -s 1|2.
 */
struct tool_common {
	uint16_t port;
	bool has_port;	  /* -p given */
	bool has_timeout; /* -o given (else RTU fits it to the baud rate) */
	enum tool_framing framing;
	bool has_framing;   /* -m given */
	const char *device; /* --device PATH (implies -m rtu) */
	struct ser_line line;
	bool has_line; /* -b --parity -d -s given */
	uint8_t unit;
	bool has_unit;	   /* -a given */
	unsigned long ref; /* -r as given: a PDU address, or 1-based with --one-based */
	bool has_ref;
	enum tool_type type;
	bool has_type;
	enum mb_order order;
	bool has_order; /* --order given */
	int64_t timeout_ns;
	unsigned retries;
	unsigned base; /* 1 with --one-based */
};

/* The defaults: port 502, unit 1, ABCD, 1 s, no retries, PDU addresses. */
void tool_common_init(struct tool_common *co);

/* "flux CMD: msg (flux CMD --help)" on stderr. Returns -EINVAL. */
int tool_usage_error(const char *cmd, const char *msg);

/* Parse getopt's option c if it is a shared one: 1 parsed, 0 not a shared option, -EINVAL
 * after printing why. */
int tool_common_opt(const char *cmd, struct tool_common *co, int c, const char *arg);

/*
 * After the options: check the transport against the positional HOST (NULL when none): RTU
 * needs --device and takes no HOST nor -p, TCP and RTU over TCP need HOST and take no line
 * settings, unit ids on RTU are 0..247. Fits the RTU timeout to the baud rate when -o was not
 * given. Returns 0, or -EINVAL after printing why.
 */
int tool_common_transport(const char *cmd, struct tool_common *co, const char *host);

/* After the options: -r given, and the PDU address it means with --one-based. Returns 0, or
 * -EINVAL after printing why. */
int tool_common_addr(const char *cmd, const struct tool_common *co, uint16_t *addr);

struct prof_profile;

/*
 * --profile NAME|FILE: a shipped profile by name, or a file (an argument with a '/' or ending
 * in .yaml). Returns it (prof_free() it), or NULL after saying why on stderr as "flux CMD:
 * --profile ...", listing the shipped names when NAME is none of them.
 */
struct prof_profile *tool_load_profile(const char *cmd, const char *arg);

/* Registers one value of type t takes (1 or 2). */
static inline unsigned tool_type_regs(enum tool_type t)
{
	return t == TOOL_U32 || t == TOOL_I32 || t == TOOL_F32 ? 2 : 1;
}

/* ---- output helpers ------------------------------------------------------------------ */

/* "00 01 00 00" into buf (TOOL_HEX_MAX bytes always suffice); "(nothing)" when n is 0. */
void tool_hex(char *buf, size_t cap, const uint8_t *p, size_t n);

/* Wall-clock time as "2025-06-01T10:00:00.123Z" (UTC). */
void tool_timestamp(char *buf, size_t cap);

/* Exit code for an error: 0, TOOL_EXIT_PROTO or TOOL_EXIT_CONN. */
int tool_exit_code(int err);

/* ---- a one-connection client --------------------------------------------------------- */

#define TOOL_NAME_MAX (SER_PATH_MAX + 32)

struct tool_conn {
	int fd; /* -1 when closed */
	enum tool_framing framing;
	struct sockaddr_in sa;
	char name[TOOL_NAME_MAX]; /* "127.0.0.1:502", or the device path */
	char device[SER_PATH_MAX];
	struct ser_line line;
	struct mb_rtu_splitter rsplit; /* RTU framings */
	int64_t quiet_until_ns;	       /* RTU: the line's t3.5 silence ends then */
	uint64_t noise;		       /* RTU: bytes discarded as noise in the last tool_xfer() */
	uint64_t noise_total;	       /* ... and since tool_conn_init*() */
	bool was_broadcast;	       /* the last tool_xfer() was a broadcast: nothing came */
	int64_t timeout_ns;
	uint16_t next_tid;
	uint16_t late[TOOL_LATE_TIDS];
	unsigned nlate;
	struct mb_splitter split;
	uint8_t tx[MB_ADU_MAX]; /* the last request sent */
	size_t tx_len;
	uint8_t rx[MB_ADU_MAX]; /* the last frame, or raw bytes that could not be framed */
	size_t rx_len;
	unsigned attempts; /* requests sent for the last tool_xfer() */
	unsigned late_dropped;
	int64_t rtt_ns; /* last request sent -> its reply decoded */
};

/*
 * Resolve host (IPv4 dotted or "localhost") and port; nothing connects yet. Returns 0 or
 * -EINVAL (message printed by the caller).
 */
int tool_conn_init(struct tool_conn *c, const char *host, uint16_t port, int64_t timeout_ns);

/*
 * A serial line: device opened (ser_open()) with line's settings on the first exchange.
 * Returns 0 or -EINVAL (a path too long, a setting out of range).
 */
int tool_conn_init_rtu(struct tool_conn *c, const char *device, const struct ser_line *line,
		       int64_t timeout_ns);

/*
 * As tool_common_transport() left co: the conn for -m tcp, rtu or rtutcp (host NULL for rtu).
 * Returns 0, or TOOL_EXIT_USAGE after printing "flux CMD: HOST ...: want an IPv4 address".
 */
int tool_conn_setup(struct tool_conn *c, const char *cmd, const struct tool_common *co,
		    const char *host);

/*
 * Connect within the timeout if not connected (RTU: open the tty). Returns 0, -ETIMEDOUT or
 * -errno, or -SER_E* for a tty. Blocks.
 */
int tool_conn_connect(struct tool_conn *c);

/* Close the socket (if open). Safe twice and on an initialised, never connected conn. */
void tool_conn_close(struct tool_conn *c);

/*
 * One exchange, with up to `retries` more attempts after a timeout or a lost connection
 * (reconnecting). req->tid is assigned. Returns 0 (rsp filled, rsp->data points into c->rx),
 * -MB_EXC(code), -MB_E* (the reply was malformed or answered something else; a TCP connection
 * is closed), -ETIMEDOUT, -ECONNRESET, -ECONNREFUSED, -errno. c->tx and c->rx keep the bytes.
 * RTU: -MB_ECRC (a damaged reply), -MB_EUNIT (another unit answered), the reason noise was
 * discarded when no reply came; a broadcast (unit 0) returns 0 after MB_RTU_TURNAROUND_NS with
 * nothing received (c->was_broadcast, rsp zeroed).
 */
int tool_xfer(struct tool_conn *c, struct mb_req *req, struct mb_rsp *rsp, unsigned retries);

/*
 * Describe err for req in one line, without a newline: "exception 0x02 illegal data address
 * at 2099", "response TID mismatch: sent 0x0001, got 0x0002", "MBAP length 65535 exceeds
 * 254", "no response within 1000 ms (2 attempts)". addr_base is 1 with --one-based (the
 * reference is shown beside the PDU address).
 */
void tool_describe(char *buf, size_t cap, const struct tool_conn *c, const struct mb_req *req,
		   int err, unsigned addr_base);

/*
 * Print "flux CMD: HOST:PORT unit U: <description>" and the sent/received bytes in hex on f.
 * Returns tool_exit_code(err).
 */
int tool_report(FILE *f, const char *cmd, const struct tool_conn *c, const struct mb_req *req,
		int err, unsigned addr_base);

#endif /* FLUX_TOOLS_TOOL_H */
