// SPDX-License-Identifier: MIT
/*
 * What `flux read`, `flux write` and `flux scan` share: argument parsing, hex and time
 * formatting, and a one-connection client on a non-blocking socket or tty with poll()
 * deadlines, for Modbus TCP, RTU on a serial line and RTU over TCP. The one idea: the client
 * keeps the last request and the bytes that came back, so every error names what was sent and
 * what was received.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/tool.h"
#include "devices/profile.h"
#include "rt/clock.h"
#include "rt/text.h"

/* ---- argument parsing --------------------------------------------------------------- */

int tool_parse_ulong(const char *cmd, const char *opt, const char *arg, unsigned long lo,
		     unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 0);
	if (!*arg || *end || errno || arg[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "flux %s: %s %s: want a whole number in %lu..%lu\n", cmd, opt, arg,
			lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

void tool_common_init(struct tool_common *co)
{
	*co = (struct tool_common){
		.port = 502, .unit = 1, .order = MB_ORDER_ABCD, .timeout_ns = CLK_NS_PER_SEC
	};
	ser_line_init(&co->line);
}

const char *tool_framing_name(enum tool_framing f)
{
	switch (f) {
	case TOOL_FRAMING_RTU:
		return "rtu";
	case TOOL_FRAMING_RTUTCP:
		return "rtutcp";
	case TOOL_FRAMING_TCP:
	default:
		return "tcp";
	}
}

/* The line options -b --parity -d -s. 1 parsed, 0 not one of them, -EINVAL after saying why. */
static int line_opt(const char *cmd, struct tool_common *co, int c, const char *arg)
{
	unsigned long v;
	int r;

	switch (c) {
	case 'b':
		if (tool_parse_ulong(cmd, "-b", arg, 1, 4000000, &v))
			return -EINVAL;
		if (!ser_baud_ok((uint32_t)v)) {
			fprintf(stderr,
				"flux %s: -b %s: not a standard baud rate (1200 2400 4800 9600 "
				"19200 38400 57600 115200, or 230400..4000000)\n",
				cmd, arg);
			return -EINVAL;
		}
		co->line.baud = (uint32_t)v;
		break;
	case TOOL_OPT_PARITY:
		r = ser_parity_parse(arg);
		if (r < 0) {
			fprintf(stderr, "flux %s: --parity %s: want none, even or odd\n", cmd, arg);
			return -EINVAL;
		}
		co->line.parity = (enum ser_parity)r;
		break;
	case 'd':
		if (strcmp(arg, "7") && strcmp(arg, "8")) {
			fprintf(stderr, "flux %s: -d %s: data bits are 7 or 8\n", cmd, arg);
			return -EINVAL;
		}
		co->line.data_bits = (uint8_t)(arg[0] - '0');
		break;
	case 's':
		if (strcmp(arg, "1") && strcmp(arg, "2")) {
			fprintf(stderr, "flux %s: -s %s: stop bits are 1 or 2\n", cmd, arg);
			return -EINVAL;
		}
		co->line.stop_bits = (uint8_t)(arg[0] - '0');
		break;
	default:
		return 0;
	}
	co->has_line = true;
	return 1;
}

int tool_usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "flux %s: %s (flux %s --help)\n", cmd, msg, cmd);
	return -EINVAL;
}

int tool_common_opt(const char *cmd, struct tool_common *co, int c, const char *arg)
{
	unsigned long v;
	int r;

	r = line_opt(cmd, co, c, arg);
	if (r)
		return r;
	switch (c) {
	case 'p':
		if (tool_parse_ulong(cmd, "-p", arg, 1, 65535, &v))
			return -EINVAL;
		co->port = (uint16_t)v;
		co->has_port = true;
		return 1;
	case 'm':
		if (strcmp(arg, "tcp") == 0)
			co->framing = TOOL_FRAMING_TCP;
		else if (strcmp(arg, "rtu") == 0)
			co->framing = TOOL_FRAMING_RTU;
		else if (strcmp(arg, "rtutcp") == 0)
			co->framing = TOOL_FRAMING_RTUTCP;
		else
			return tool_usage_error(cmd, "-m: want tcp, rtu (serial line: --device "
						     "PATH) or rtutcp (RTU frames over TCP)");
		co->has_framing = true;
		return 1;
	case TOOL_OPT_DEVICE:
		if (!arg[0] || strlen(arg) >= SER_PATH_MAX)
			return tool_usage_error(cmd, "--device: want a tty path (/dev/ttyUSB0)");
		co->device = arg;
		return 1;
	case 'a':
		if (tool_parse_ulong(cmd, "-a", arg, 0, 255, &v))
			return -EINVAL;
		co->unit = (uint8_t)v;
		co->has_unit = true;
		return 1;
	case 'r':
		if (tool_parse_ulong(cmd, "-r", arg, 0, 65536, &co->ref))
			return -EINVAL;
		co->has_ref = true;
		return 1;
	case 't':
		r = tool_parse_type(arg);
		if (r < 0)
			return tool_usage_error(cmd, "-t: want u16, i16, u32, i32, f32 or hex");
		co->type = (enum tool_type)r;
		co->has_type = true;
		return 1;
	case TOOL_OPT_ORDER:
		r = mb_order_parse(arg);
		if (r < 0)
			return tool_usage_error(cmd, "--order: want abcd, cdab, badc or dcba");
		co->order = (enum mb_order)r;
		co->has_order = true;
		return 1;
	case 'o':
		if (tool_parse_duration(cmd, "-o", arg, CLK_NS_PER_SEC, 1000000,
					3600 * CLK_NS_PER_SEC, &co->timeout_ns))
			return -EINVAL;
		co->has_timeout = true;
		return 1;
	case TOOL_OPT_RETRIES:
		if (tool_parse_ulong(cmd, "--retries", arg, 0, 100, &v))
			return -EINVAL;
		co->retries = (unsigned)v;
		return 1;
	case TOOL_OPT_ONE_BASED:
		co->base = 1;
		return 1;
	default:
		return 0;
	}
}

int tool_common_transport(const char *cmd, struct tool_common *co, const char *host)
{
	if (co->device && !co->has_framing)
		co->framing = TOOL_FRAMING_RTU;
	if (co->framing == TOOL_FRAMING_RTU) {
		if (!co->device)
			return tool_usage_error(cmd, "-m rtu: --device PATH is required (the tty "
						     "of the serial line, /dev/ttyUSB0)");
		if (host)
			return tool_usage_error(cmd, "-m rtu talks on --device PATH: give no HOST");
		if (co->has_port)
			return tool_usage_error(cmd, "-p is a TCP port: not for -m rtu");
		if (!co->has_timeout)
			co->timeout_ns = ser_timeout_default_ns(co->line.baud);
	} else {
		if (co->device)
			return tool_usage_error(cmd, "--device is for -m rtu (a serial line)");
		if (co->has_line)
			return tool_usage_error(cmd, "-b, --parity, -d and -s are for -m rtu (a "
						     "serial line)");
		if (!host)
			return tool_usage_error(cmd, "HOST is required");
	}
	if (co->framing != TOOL_FRAMING_TCP && co->unit > MB_RTU_UNIT_MAX)
		return tool_usage_error(cmd, "-a: RTU unit ids are 0..247 (0: broadcast, writes "
					     "only; 248..255 are reserved)");
	return 0;
}

int tool_common_addr(const char *cmd, const struct tool_common *co, uint16_t *addr)
{
	if (!co->has_ref)
		return tool_usage_error(cmd, "-r ADDR is required");
	if (co->base && co->ref == 0)
		return tool_usage_error(cmd, "--one-based: references start at 1");
	if (co->ref - co->base > 0xFFFF)
		return tool_usage_error(
		    cmd, "-r: PDU addresses are 0..65535 (use --one-based for 1..65536)");
	*addr = (uint16_t)(co->ref - co->base);
	return 0;
}

int tool_parse_duration(const char *cmd, const char *opt, const char *arg, int64_t bare_unit_ns,
			int64_t lo_ns, int64_t hi_ns, int64_t *out_ns)
{
	int64_t v;

	if (txt_parse_duration(arg, bare_unit_ns, &v) || v < lo_ns || v > hi_ns) {
		fprintf(stderr,
			"flux %s: %s %s: want a duration in %g..%g ms (e.g. 500ms, 1.5s; a bare "
			"number is %s)\n",
			cmd, opt, arg, (double)lo_ns / 1e6, (double)hi_ns / 1e6,
			bare_unit_ns == CLK_NS_PER_SEC ? "seconds" : "milliseconds");
		return -EINVAL;
	}
	*out_ns = v;
	return 0;
}

struct prof_profile *tool_load_profile(const char *cmd, const char *arg)
{
	struct prof_profile *p = NULL;
	size_t len = strlen(arg);
	char err[512];
	int r;

	if (strchr(arg, '/') || (len > 5 && strcmp(arg + len - 5, ".yaml") == 0))
		r = prof_load_file(arg, &p, err, sizeof(err));
	else
		r = prof_load_builtin(arg, &p, err, sizeof(err));
	if (r == -ENOENT && !strchr(arg, '/')) {
		fprintf(stderr, "flux %s: --profile %s: no such shipped profile (", cmd, arg);
		for (unsigned i = 0; prof_builtin_name(i); i++)
			fprintf(stderr, "%s%s", i ? ", " : "", prof_builtin_name(i));
		fputs("; or give a FILE.yaml)\n", stderr);
	} else if (r) {
		fprintf(stderr, "flux %s: --profile: %s\n", cmd, err);
	}
	return r ? NULL : p;
}

static const char *const type_names[] = {
	[TOOL_U16] = "u16", [TOOL_I16] = "i16", [TOOL_U32] = "u32",
	[TOOL_I32] = "i32", [TOOL_F32] = "f32", [TOOL_HEX] = "hex",
};

int tool_parse_type(const char *s)
{
	for (unsigned i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(s, type_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *tool_type_name(enum tool_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

/* ---- output ------------------------------------------------------------------------- */

void tool_hex(char *buf, size_t cap, const uint8_t *p, size_t n)
{
	size_t off = 0;

	if (!cap)
		return;
	buf[0] = '\0';
	if (!n) {
		snprintf(buf, cap, "(nothing)");
		return;
	}
	for (size_t i = 0; i < n && off + 4 <= cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, i ? " %02x" : "%02x", p[i]);
}

void tool_timestamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char day[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%03ldZ", day, ts.tv_nsec / 1000000);
}

int tool_exit_code(int err)
{
	if (!err)
		return TOOL_EXIT_OK;
	if (-err >= MB_ERR_BASE && -err < MB_EXC_END)
		return TOOL_EXIT_PROTO;
	if (err == -SER_ENOTTY)
		return TOOL_EXIT_USAGE; /* --device names something that is not a serial line */
	return TOOL_EXIT_CONN;
}

/* ---- the client --------------------------------------------------------------------- */

int tool_conn_init(struct tool_conn *c, const char *host, uint16_t port, int64_t timeout_ns)
{
	*c = (struct tool_conn){ .fd = -1, .timeout_ns = timeout_ns, .next_tid = 1 };
	ser_line_init(&c->line);
	c->sa.sin_family = AF_INET;
	c->sa.sin_port = htons(port);
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &c->sa.sin_addr) != 1)
		return -EINVAL;
	snprintf(c->name, sizeof(c->name), "%s:%u", host, port);
	return 0;
}

int tool_conn_init_rtu(struct tool_conn *c, const char *device, const struct ser_line *line,
		       int64_t timeout_ns)
{
	*c = (struct tool_conn){ .fd = -1,
				 .framing = TOOL_FRAMING_RTU,
				 .timeout_ns = timeout_ns,
				 .next_tid = 1,
				 .line = *line };
	if (strlen(device) >= sizeof(c->device) || ser_line_check(line) < 0)
		return -EINVAL;
	snprintf(c->device, sizeof(c->device), "%s", device);
	snprintf(c->name, sizeof(c->name), "%s", device);
	return 0;
}

int tool_conn_setup(struct tool_conn *c, const char *cmd, const struct tool_common *co,
		    const char *host)
{
	if (co->framing == TOOL_FRAMING_RTU) {
		if (tool_conn_init_rtu(c, co->device, &co->line, co->timeout_ns)) {
			fprintf(stderr, "flux %s: --device %s: want a tty path\n", cmd, co->device);
			return TOOL_EXIT_USAGE;
		}
		return 0;
	}
	if (tool_conn_init(c, host, co->port, co->timeout_ns)) {
		fprintf(stderr, "flux %s: HOST %s: want an IPv4 address\n", cmd, host);
		return TOOL_EXIT_USAGE;
	}
	c->framing = co->framing;
	return 0;
}

void tool_conn_close(struct tool_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	mb_split_reset(&c->split);
	mb_rtu_split_reset(&c->rsplit);
	c->nlate = 0;
}

/* Wait for events on c->fd until deadline_ns. Returns 0, -ETIMEDOUT or -errno. */
static int wait_fd(const struct tool_conn *c, short events, int64_t deadline_ns)
{
	for (int i = 0; i < 1000; i++) {
		struct pollfd p = { .fd = c->fd, .events = events };
		int64_t left_ns = deadline_ns - clk_now_ns();
		int r;

		if (left_ns <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)((left_ns + 999999) / 1000000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r < 0)
			return -EINTR; /* a signal (SIGINT): let the caller look */
	}
	return -ETIMEDOUT;
}

int tool_conn_connect(struct tool_conn *c)
{
	int64_t deadline = clk_now_ns() + c->timeout_ns;
	socklen_t len = sizeof(int);
	int one = 1, soerr = 0, err;

	if (c->fd >= 0)
		return 0;
	if (c->framing == TOOL_FRAMING_RTU) {
		err = ser_open(c->device, &c->line);
		if (err < 0)
			return err;
		c->fd = err;
		/* The line was never quiet for us yet: keep t3.5 before the first request. */
		c->quiet_until_ns = clk_now_ns() + mb_rtu_t35_ns(c->line.baud);
		return 0;
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&c->sa, sizeof(c->sa)) == 0)
		return 0;
	err = -errno;
	if (err != -EINPROGRESS)
		goto out_close;
	err = wait_fd(c, POLLOUT, deadline);
	if (err)
		goto out_close;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	err = -soerr;
	if (err)
		goto out_close;
	return 0;
out_close:
	tool_conn_close(c);
	return err;
}

static bool is_late(const struct tool_conn *c, uint16_t tid)
{
	unsigned n = c->nlate < TOOL_LATE_TIDS ? c->nlate : TOOL_LATE_TIDS;

	for (unsigned i = 0; i < n; i++)
		if (c->late[i] == tid)
			return true;
	return false;
}

static int send_all(struct tool_conn *c, int64_t deadline_ns)
{
	size_t off = 0;

	for (int i = 0; i < 1000 && off < c->tx_len; i++) {
		ssize_t n = c->framing == TOOL_FRAMING_RTU
				? write(c->fd, c->tx + off, c->tx_len - off)
				: send(c->fd, c->tx + off, c->tx_len - off, MSG_NOSIGNAL);
		int err;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		err = wait_fd(c, POLLOUT, deadline_ns);
		if (err)
			return err;
	}
	return off == c->tx_len ? 0 : -EIO;
}

/* Bytes still missing from the frame the splitter holds (the header first). */
static size_t frame_left(const struct mb_splitter *s)
{
	if (s->len < 6)
		return 6u - s->len;
	return 6u + mb_get_u16(s->buf + 4) - s->len; /* mb_split checked the length */
}

/*
 * Receive until one whole frame (copied to c->rx), never reading past it. Returns its length,
 * -ETIMEDOUT, -ECONNRESET (EOF), -MB_EPROTO/-MB_EMBAPLEN (c->rx holds the raw bytes).
 */
static int recv_frame(struct tool_conn *c, int64_t deadline_ns)
{
	uint8_t in[MB_ADU_MAX];

	c->rx_len = 0;
	for (int calls = 0; calls < 4 * MB_ADU_MAX; calls++) {
		size_t want = frame_left(&c->split), used;
		const uint8_t *frame;
		ssize_t n;
		int r;

		n = recv(c->fd, in, want, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			r = wait_fd(c, POLLIN, deadline_ns);
			if (r)
				return r;
			continue;
		}
		if (c->rx_len + (size_t)n <= sizeof(c->rx)) {
			memcpy(c->rx + c->rx_len, in, (size_t)n);
			c->rx_len += (size_t)n;
		}
		r = mb_split(&c->split, in, (size_t)n, &used, &frame);
		if (r < 0) {
			/* Show what else came with the broken header. */
			n = recv(c->fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len, MSG_DONTWAIT);
			if (n > 0)
				c->rx_len += (size_t)n;
			return r;
		}
		if (r > 0) {
			memcpy(c->rx, frame, (size_t)r);
			c->rx_len = (size_t)r;
			return r;
		}
	}
	return -ETIMEDOUT;
}

/* ---- RTU framings: a serial line, or RTU ADUs over TCP ---------------------------------- */

/* Sleep until the absolute CLOCK_MONOTONIC time t_ns; -EINTR when a signal cut it short. */
static int sleep_until_ns(int64_t t_ns)
{
	struct timespec ts = clk_ns_to_ts(t_ns);

	return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR ? -EINTR : 0;
}

/*
 * Drop what came in since the last exchange (a reply that came after its timeout, noise), so
 * that it cannot be taken for the next reply; counted as noise. -ECONNRESET on a TCP EOF.
 */
static int drain_stale(struct tool_conn *c)
{
	uint8_t buf[MB_RTU_ADU_MAX];

	for (int i = 0; i < 64; i++) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n > 0) {
			c->noise += (uint64_t)n;
			continue;
		}
		if (n == 0)
			return c->framing == TOOL_FRAMING_RTUTCP ? -ECONNRESET : -EIO;
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -errno;
	}
	return 0;
}

/*
 * Is c->rx a whole, CRC-valid reply to req from another unit? (On a shared bus: a unit that
 * answered late, or answers for the wrong id.) Its unit is rx[0].
 */
static bool is_other_unit_reply(const struct tool_conn *c, const struct mb_req *req)
{
	struct mb_req q = *req;
	int n;

	if (c->rx_len < MB_RTU_MIN || c->rx[0] == req->unit || c->rx[0] == MB_UNIT_BROADCAST ||
	    c->rx[0] > MB_RTU_UNIT_MAX)
		return false;
	q.unit = c->rx[0];
	n = mb_rtu_rsp_size(&q, c->rx, c->rx_len);
	return n >= MB_RTU_MIN && (size_t)n <= c->rx_len &&
	       mb_rtu_crc16(c->rx, (size_t)n - 2) == (c->rx[n - 2] | c->rx[n - 1] << 8);
}

/* Why no reply came by the deadline: what the bytes that did come say, most telling first. */
static int rtu_silence_err(const struct tool_conn *c, const struct mb_req *req)
{
	if (c->rsplit.noise_err == -MB_ECRC)
		return -MB_ECRC;
	if (is_other_unit_reply(c, req))
		return -MB_EUNIT;
	if (c->rsplit.noise_err && c->rsplit.len == 0)
		return c->rsplit.noise_err;
	return -ETIMEDOUT; /* nothing, or part of a frame (c->rx_len says) */
}

/* Receive until the reply to req (decoded into rsp), a damaged reply, or the deadline. */
static int recv_rtu(struct tool_conn *c, const struct mb_req *req, struct mb_rsp *rsp, int64_t t0,
		    int64_t deadline_ns)
{
	uint8_t in[MB_RTU_ADU_MAX];

	for (int calls = 0; calls < 8 * MB_RTU_ADU_MAX; calls++) {
		ssize_t n = read(c->fd, in, sizeof(in));
		size_t off = 0;
		int r;

		if (n == 0)
			return c->framing == TOOL_FRAMING_RTUTCP ? -ECONNRESET : -EIO;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			r = wait_fd(c, POLLIN, deadline_ns);
			if (r == -ETIMEDOUT)
				return rtu_silence_err(c, req);
			if (r)
				return r;
			continue;
		}
		/* Keep what came (the first bytes, if more), to show it when no frame does. */
		if (c->rx_len < sizeof(c->rx)) {
			size_t k = (size_t)n < sizeof(c->rx) - c->rx_len
				       ? (size_t)n
				       : sizeof(c->rx) - c->rx_len;

			memcpy(c->rx + c->rx_len, in, k);
			c->rx_len += k;
		}
		for (int frames = 0; frames < 2 * MB_RTU_ADU_MAX; frames++) {
			const uint8_t *frame;
			size_t used;

			r = mb_rtu_split(&c->rsplit, req, in + off, (size_t)n - off, &used, &frame);
			off += used;
			if (r < 0)
				return r;
			if (r > 0) {
				memcpy(c->rx, frame, (size_t)r);
				c->rx_len = (size_t)r;
				c->rtt_ns = clk_now_ns() - t0;
				return mb_rtu_decode_rsp(req, c->rx, (size_t)r, rsp);
			}
			if (off >= (size_t)n)
				break;
		}
		/* The reply came, damaged: say so now rather than at the deadline. */
		if (c->rsplit.noise_err == -MB_ECRC)
			return -MB_ECRC;
	}
	return rtu_silence_err(c, req);
}

/* One attempt on an open line or connection: t3.5 silence, the request, its reply. */
static int xfer_once_rtu(struct tool_conn *c, struct mb_req *req, struct mb_rsp *rsp)
{
	bool is_serial = c->framing == TOOL_FRAMING_RTU;
	uint64_t discarded = c->rsplit.discarded;
	int64_t t0, deadline, wire;
	int n, err;

	req->tid = c->next_tid++; /* not sent: RTU has no transaction id */
	n = mb_rtu_encode_req(c->tx, sizeof(c->tx), req);
	if (n < 0)
		return n;
	c->tx_len = (size_t)n;
	c->rx_len = 0;
	err = drain_stale(c);
	if (err)
		return err;
	if (is_serial) {
		/* The spec's inter-frame silence before each request. */
		err = sleep_until_ns(c->quiet_until_ns);
		if (err)
			return err;
	}
	wire = is_serial ? mb_rtu_wire_ns(c->line.baud, c->tx_len) : 0;
	t0 = clk_now_ns();
	deadline = t0 + wire + c->timeout_ns;
	err = send_all(c, deadline);
	if (err)
		return err == -EPIPE ? -ECONNRESET : err;
	c->attempts++;
	mb_rtu_split_reset(&c->rsplit);
	if (!mb_rtu_expects_rsp(req)) {
		/* A broadcast: no unit answers; each needs the turnaround to act on it. */
		err = sleep_until_ns(t0 + wire + MB_RTU_TURNAROUND_NS);
		c->quiet_until_ns = clk_now_ns();
		c->was_broadcast = true;
		memset(rsp, 0, sizeof(*rsp));
		rsp->fc = req->fc;
		c->rtt_ns = clk_now_ns() - t0;
		return err;
	}
	err = recv_rtu(c, req, rsp, t0, deadline);
	c->noise += c->rsplit.discarded - discarded;
	c->quiet_until_ns = clk_now_ns() + (is_serial ? mb_rtu_t35_ns(c->line.baud) : 0);
	return err;
}

/* One attempt on a connected socket. */
static int xfer_once(struct tool_conn *c, struct mb_req *req, struct mb_rsp *rsp)
{
	int64_t t0 = clk_now_ns(), deadline = t0 + c->timeout_ns;
	int n, err;

	req->tid = c->next_tid++;
	n = mb_encode_req(c->tx, sizeof(c->tx), req);
	if (n < 0)
		return n;
	c->tx_len = (size_t)n;
	c->rx_len = 0;
	err = send_all(c, deadline);
	if (err)
		return err == -EPIPE ? -ECONNRESET : err;
	c->attempts++;
	for (int frames = 0; frames < 64; frames++) {
		n = recv_frame(c, deadline);
		if (n == -ETIMEDOUT) {
			c->late[c->nlate++ % TOOL_LATE_TIDS] = req->tid;
			return n;
		}
		if (n < 0)
			return n;
		if (mb_peek_tid(c->rx) != req->tid && is_late(c, mb_peek_tid(c->rx))) {
			c->late_dropped++; /* the reply to an attempt that timed out */
			continue;
		}
		err = mb_decode_rsp(req, c->rx, (size_t)n, 0, rsp);
		c->rtt_ns = clk_now_ns() - t0;
		return err;
	}
	return -ETIMEDOUT;
}

int tool_xfer(struct tool_conn *c, struct mb_req *req, struct mb_rsp *rsp, unsigned retries)
{
	int err = -ETIMEDOUT;

	c->attempts = 0;
	c->tx_len = 0;
	c->rx_len = 0;
	c->noise = 0;
	c->was_broadcast = false;
	for (unsigned a = 0; a <= retries; a++) {
		err = tool_conn_connect(c);
		if (err == -EINTR)
			return err;
		if (-err >= SER_ERR_BASE && -err < SER_ERR_END)
			break; /* settings the tty refused: another try changes nothing */
		if (err)
			continue; /* tx_len 0: the failure was the connect */
		err = c->framing == TOOL_FRAMING_TCP ? xfer_once(c, req, rsp)
						     : xfer_once_rtu(c, req, rsp);
		if (err == -ETIMEDOUT || err == -EINTR)
			continue;
		if (err == 0 || (-err >= MB_EXC_BASE && -err < MB_EXC_END))
			break;
		/* RTU resyncs by itself (the splitter hunts for the next frame): keep the line. */
		if (c->framing != TOOL_FRAMING_TCP && -err >= MB_ERR_BASE && -err < MB_ERR_END)
			break;
		/* Malformed, mismatched, or the connection broke: start the stream afresh. */
		tool_conn_close(c);
		if (-err >= MB_ERR_BASE && -err < MB_ERR_END)
			return err;
		if (err == -MB_EINVAL || err == -EINTR)
			break;
	}
	c->noise_total += c->noise;
	return err;
}

/* ---- errors ------------------------------------------------------------------------- */

/* An RTU frame's fault, from the bytes in c->rx (unit first, CRC last). */
static int describe_rtu_err(char *buf, size_t cap, const struct tool_conn *c,
			    const struct mb_req *req, int err)
{
	const uint8_t *rx = c->rx;
	int n;

	switch (-err) {
	case MB_ECRC:
		n = mb_rtu_rsp_size(req, rx, c->rx_len);
		if (n >= MB_RTU_MIN && (size_t)n <= c->rx_len && rx[0] == req->unit)
			return snprintf(buf, cap,
					"CRC mismatch: the reply's CRC is 0x%04X, its bytes give "
					"0x%04X (line noise, or a wrong baud rate or parity)",
					rx[n - 2] | rx[n - 1] << 8,
					mb_rtu_crc16(rx, (size_t)n - 2));
		return snprintf(buf, cap,
				"CRC mismatch: a damaged reply (line noise, or a wrong "
				"baud rate or parity)");
	case MB_EUNIT:
		if (c->rx_len >= 1)
			return snprintf(buf, cap,
					"wrong unit: unit %u answered, not %u (a shared bus: "
					"another unit replied)",
					rx[0], req->unit);
		break;
	case MB_EFCMISMATCH:
		if (c->rx_len >= 2 && rx[0] == req->unit)
			return snprintf(buf, cap,
					"response function code mismatch: sent 0x%02X, got 0x%02X",
					req->fc, rx[1]);
		return snprintf(buf, cap, "noise: bytes that start no reply to function 0x%02X",
				req->fc);
	case MB_EBYTECOUNT:
		if (c->rx_len >= 3 && rx[0] == req->unit && rx[1] == req->fc)
			return snprintf(
			    buf, cap, "bad byte count: %u %s want %u bytes, got %u", req->qty,
			    req->fc <= MB_FC_READ_DISCRETE_INPUTS ? "bit(s)" : "register(s)",
			    mb_payload_size(req->fc, req->qty), rx[2]);
		break;
	case MB_EBROADCAST:
		return snprintf(buf, cap,
				"unit 0 is the broadcast address: writes only, and "
				"nothing answers");
	}
	return snprintf(buf, cap, "%s", mb_strerror(err));
}

static int describe_frame_err(char *buf, size_t cap, const struct tool_conn *c,
			      const struct mb_req *req, int err)
{
	const uint8_t *rx = c->rx;

	switch (-err) {
	case MB_EPROTO:
		if (c->rx_len >= 4)
			return snprintf(buf, cap, "MBAP protocol id 0x%04X is not 0",
					mb_get_u16(rx + 2));
		break;
	case MB_EMBAPLEN:
		if (c->rx_len >= 6 && mb_get_u16(rx + 4) > MB_MBAP_LEN_MAX)
			return snprintf(buf, cap, "MBAP length %u exceeds %u", mb_get_u16(rx + 4),
					(unsigned)MB_MBAP_LEN_MAX);
		if (c->rx_len >= 6)
			return snprintf(buf, cap, "MBAP length %u is below %u", mb_get_u16(rx + 4),
					(unsigned)MB_MBAP_LEN_MIN);
		break;
	case MB_ETID:
		if (c->rx_len >= 2)
			return snprintf(buf, cap, "response TID mismatch: sent 0x%04X, got 0x%04X",
					req->tid, mb_get_u16(rx));
		break;
	case MB_EUNIT:
		if (c->rx_len >= 7)
			return snprintf(buf, cap, "response unit id mismatch: sent %u, got %u",
					req->unit, rx[6]);
		break;
	case MB_EFCMISMATCH:
		if (c->rx_len >= 8)
			return snprintf(buf, cap,
					"response function code mismatch: sent 0x%02X, got 0x%02X",
					req->fc, rx[7]);
		break;
	case MB_EBYTECOUNT:
		if (c->rx_len >= 9)
			return snprintf(
			    buf, cap, "bad byte count: %u %s want %u bytes, got %u", req->qty,
			    req->fc <= MB_FC_READ_DISCRETE_INPUTS ? "bit(s)" : "register(s)",
			    mb_payload_size(req->fc, req->qty), rx[8]);
		break;
	}
	return snprintf(buf, cap, "%s", mb_strerror(err));
}

void tool_describe(char *buf, size_t cap, const struct tool_conn *c, const struct mb_req *req,
		   int err, unsigned addr_base)
{
	int ms = (int)(c->timeout_ns / 1000000);
	int n;

	if (-err > MB_EXC_BASE && -err < MB_EXC_END) {
		unsigned code = (unsigned)(-err - MB_EXC_BASE);

		n = snprintf(buf, cap, "exception 0x%02X %s at %u", code, mb_exception_name(code),
			     req->addr);
		if (addr_base && n > 0 && (size_t)n < cap)
			n += snprintf(buf + n, cap - (size_t)n, " (reference %u)",
				      req->addr + addr_base);
		if (n > 0 && (size_t)n < cap)
			snprintf(buf + n, cap - (size_t)n, " (function 0x%02X, quantity %u)",
				 req->fc, req->qty);
		return;
	}
	if (-err >= MB_ERR_BASE && -err < MB_ERR_END) {
		if (c->framing == TOOL_FRAMING_TCP)
			describe_frame_err(buf, cap, c, req, err);
		else
			describe_rtu_err(buf, cap, c, req, err);
		return;
	}
	if (c->tx_len == 0 && c->framing == TOOL_FRAMING_RTU) {
		/* Nothing was sent: the tty did not open with these settings. */
		char line[48];

		ser_line_describe(line, sizeof(line), &c->line);
		snprintf(buf, cap, "open at %s: %s", line, ser_strerror(err));
		return;
	}
	if (err == -ETIMEDOUT && c->framing != TOOL_FRAMING_TCP && c->rx_len) {
		snprintf(buf, cap,
			 "no whole reply within %d ms (%u attempt%s): %zu byte(s) came, no frame "
			 "of unit %u with a valid CRC (noise, or a truncated frame)",
			 ms, c->attempts, c->attempts == 1 ? "" : "s", c->rx_len, req->unit);
		return;
	}
	if (c->tx_len == 0) {
		/* Nothing was sent: the connect failed. */
		if (err == -ETIMEDOUT)
			snprintf(buf, cap, "connect: no answer within %d ms", ms);
		else
			snprintf(buf, cap, "connect: %s", strerror(-err));
		return;
	}
	if (c->framing == TOOL_FRAMING_RTU && (err == -EIO || err == -ENODEV || err == -ENXIO)) {
		snprintf(buf, cap, "the serial line went away (%s: a USB adapter unplugged?)",
			 strerror(-err));
		return;
	}
	switch (-err) {
	case ETIMEDOUT:
		snprintf(buf, cap, "no response within %d ms (%u attempt%s)", ms, c->attempts,
			 c->attempts == 1 ? "" : "s");
		break;
	case ECONNRESET:
		snprintf(buf, cap, "connection closed by the peer before a whole reply");
		break;
	case EINTR:
		snprintf(buf, cap, "interrupted");
		break;
	default:
		snprintf(buf, cap, "%s", strerror(-err));
		break;
	}
}

int tool_report(FILE *f, const char *cmd, const struct tool_conn *c, const struct mb_req *req,
		int err, unsigned addr_base)
{
	char what[256], hex[TOOL_HEX_MAX];

	tool_describe(what, sizeof(what), c, req, err, addr_base);
	fprintf(f, "flux %s: %s unit %u: %s\n", cmd, c->name, req->unit, what);
	if (c->tx_len) {
		tool_hex(hex, sizeof(hex), c->tx, c->tx_len);
		fprintf(f, "  sent: %s\n", hex);
		tool_hex(hex, sizeof(hex), c->rx, c->rx_len);
		fprintf(f, "  recv: %s\n", hex);
	}
	if (c->noise)
		fprintf(f, "  noise: %llu byte(s) discarded\n", (unsigned long long)c->noise);
	return tool_exit_code(err);
}
