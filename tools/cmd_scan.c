// SPDX-License-Identifier: MIT
/*
 * `flux scan`: mbscan's job. Parses targets, ports and units, refuses more than a /16 without
 * --yes, runs tools/scan.c and prints each finding as it is made (a unit with what it says it
 * is and what it looks like), then a summary line; or, with --json, keeps the findings and
 * prints one JSON object at the end. With --device it probes the unit ids of one serial line
 * instead, one request at a time with the t3.5 silence between them (tools/tool.h's RTU client).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "devices/profile.h"
#include "tools/scan.h"
#include "tools/tool.h"
#include "rt/clock.h"
#include "rt/text.h"

#define CMD		 "scan"
#define SCAN_LIMIT	 65536ULL /* a /16: more needs --yes */
#define SCAN_MAX_TARGETS 256

static volatile sig_atomic_t scan_stop;

static void on_signal(int sig)
{
	(void)sig;
	scan_stop = 1;
}

enum {
	OPT_UNITS = TOOL_OPT_OWN,
	OPT_CONCURRENCY,
	OPT_YES,
	OPT_PER_HOST,
	OPT_DEPTH,
	OPT_JSON,
	OPT_NO_ID,
	OPT_RETRIES,
};

static const struct option options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "units", required_argument, NULL, OPT_UNITS },
	{ "timeout", required_argument, NULL, 'o' },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "per-host", required_argument, NULL, OPT_PER_HOST },
	{ "depth", required_argument, NULL, OPT_DEPTH },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-id", no_argument, NULL, OPT_NO_ID },
	{ "yes", no_argument, NULL, OPT_YES },
	{ "verbose", no_argument, NULL, 'v' },
	TOOL_LINE_OPTIONS,
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ NULL, 0, NULL, 0 },
};

struct sc_out {
	bool is_verbose;
	bool is_json;
	struct scan_result *res; /* --json: the findings, printed at the end */
	size_t nres, cap;
	bool is_short; /* --json: a finding was lost for want of memory */
};

static void usage(FILE *f)
{
	fputs("usage: flux scan [-p PORT[,PORT...]] [--units A-B] [-o TIMEOUT]\n"
	      "                 [--concurrency N] [--per-host N] [--depth N] [--no-id]\n"
	      "                 [--json] [--yes] [-v] TARGET...\n"
	      "       flux scan --device PATH [-b BAUD] [--parity none|even|odd] [-d 7|8]\n"
	      "                 [-s 1|2] [--units A-B] [-o TIMEOUT] [--retries N] [--json] [-v]\n"
	      "Find Modbus TCP units (mbscan's job) and say what they are. TARGET: an address\n"
	      "(10.0.0.5), a range (10.0.0.1-20 or 10.0.0.1-10.0.1.9) or a CIDR block\n"
	      "(10.0.0.0/24: network and broadcast addresses left out). Connects to every\n"
	      "address x port in parallel (io_uring); on each open port probes unit ids with a\n"
	      "harmless FC03 read of 1 register at 0, several at once: --per-host connections,\n"
	      "--depth requests outstanding on each. Registers or an exception: present.\n"
	      "Silence, or gateway exception 0x0A/0x0B: absent. A port silent for absent units\n"
	      "costs one TIMEOUT per per-host x depth units. Each unit found is asked FC43/14\n"
	      "(vendor, product, revision) and read for a fingerprint of the shipped profiles\n"
	      "(powerpack: FC03 2000 x 29, acuvim2: FC03 0 x 74).\n"
	      "  -p PORTS        comma-separated TCP ports (502)\n"
	      "  --units A-B     unit ids to probe, 0..255 (1-247); one number for one unit\n"
	      "  -o TIMEOUT      connect timeout, and silence after which the requests\n"
	      "                  outstanding on a connection are absent: 200ms, 1s; bare =\n"
	      "                  seconds (500ms)\n"
	      "  --concurrency N connections at once (256, at most 4096 and the fd limit)\n"
	      "  --per-host N    connections to one address:port (4, 1..16)\n"
	      "  --depth N       requests outstanding per connection (16, 1..32); 1 for devices\n"
	      "                  that drop requests sent before the last one is answered\n"
	      "  --no-id         no FC43/14 and no fingerprint reads: presence only\n"
	      "  --json          one JSON object at the end instead of lines\n"
	      "  --yes           allow more than 65536 addresses (a /16)\n"
	      "  -v              also list refused and silent addresses\n"
	      "Output: ADDRESS:PORT unit U: registers [0]=V | exception 0xNN NAME | bad reply,\n"
	      "with the probe's RTT, then its identification and the profile it looks like;\n"
	      "open ports where no unit answered; then a summary.\n"
	      "--device PATH: probe the unit ids of a serial line (Modbus RTU) instead, one\n"
	      "request at a time with the spec's t3.5 silence before each: FC03 of 1 register\n"
	      "at 0; registers or an exception (but 0x0A/0x0B) is present, silence absent.\n"
	      "  -b BAUD, --parity P, -d 7|8, -s 1|2   the line (9600 8N1)\n"
	      "  --units A-B     1..247 (1-247)\n"
	      "  -o TIMEOUT      per unit; default fitted to the baud rate: the request and a\n"
	      "                  reply on the wire plus 100 ms (117 ms at 9600)\n"
	      "  --retries N     ask a silent unit N more times (0)\n"
	      "  -v              also list the silent units\n"
	      "Exit: 0 scan done, 2 usage, 3 the scan could not run.\n"
	      "example: flux scan -p 502 192.168.1.0/24\n"
	      "         flux scan --device /dev/ttyUSB0 -b 19200 --parity even\n",
	      f);
}

static int bad_usage(const char *msg)
{
	tool_usage_error(CMD, msg);
	return TOOL_EXIT_USAGE;
}

static int parse_ports(const char *arg, uint16_t *ports, unsigned *n)
{
	char buf[512], *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long v;

		if (*n >= SCAN_MAX_PORTS || tool_parse_ulong(CMD, "-p", tok, 1, 65535, &v))
			return -EINVAL;
		ports[(*n)++] = (uint16_t)v;
	}
	return *n ? 0 : -EINVAL;
}

static int parse_units(const char *arg, uint8_t *first, uint8_t *last)
{
	const char *dash = strchr(arg, '-');
	unsigned long a, b;
	char buf[16];

	if (!dash)
		return tool_parse_ulong(CMD, "--units", arg, 0, 255, &a)
			   ? -EINVAL
			   : (*first = *last = (uint8_t)a, 0);
	if ((size_t)(dash - arg) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, arg, (size_t)(dash - arg));
	buf[dash - arg] = '\0';
	if (tool_parse_ulong(CMD, "--units", buf, 0, 255, &a) ||
	    tool_parse_ulong(CMD, "--units", dash + 1, 0, 255, &b) || b < a)
		return -EINVAL;
	*first = (uint8_t)a;
	*last = (uint8_t)b;
	return 0;
}

/* Why a unit has no identification, in a few words: "exception 0x01 illegal function". */
static void devid_why(char *buf, size_t cap, int err)
{
	if (-err >= MB_EXC_BASE && -err < MB_EXC_END)
		snprintf(buf, cap, "exception 0x%02X %s", (unsigned)(-err - MB_EXC_BASE),
			 mb_exception_name((unsigned)(-err - MB_EXC_BASE)));
	else if (err == -ETIMEDOUT)
		snprintf(buf, cap, "no answer");
	else if (err == -ECANCELED)
		snprintf(buf, cap, "not asked: the port's scan ended first");
	else
		snprintf(buf, cap, "bad reply: %s", scan_strerror(err));
}

static void print_identity(const struct scan_result *r)
{
	char why[96];

	if (r->has_devid) {
		printf("    id: vendor \"%s\", product \"%s\", revision \"%s\"\n", r->devid.vendor,
		       r->devid.product, r->devid.revision);
	} else if (r->devid_err) {
		devid_why(why, sizeof(why), r->devid_err);
		printf("    id: none (%s)\n", why);
	} else {
		return; /* --no-id */
	}
	if (r->profile)
		printf("    looks like %s: %s\n", r->profile, r->evidence);
	else
		printf("    looks like no shipped profile%s%s\n", r->fp_err ? ": bad reply: " : "",
		       r->fp_err ? scan_strerror(r->fp_err) : "");
}

/* --json: keep r for the end. */
static void keep_result(struct sc_out *out, const struct scan_result *r)
{
	if (out->nres == out->cap) {
		size_t cap = out->cap ? 2 * out->cap : 64;
		struct scan_result *p = realloc(out->res, cap * sizeof(*p));

		if (!p) {
			out->is_short = true;
			return;
		}
		out->res = p;
		out->cap = cap;
	}
	out->res[out->nres++] = *r;
}

static void print_result(void *arg, const struct scan_result *r)
{
	struct sc_out *out = arg;
	char ip[INET_ADDRSTRLEN], rx[3 * 16 + 1], tx[3 * 12 + 1];
	struct in_addr a = { .s_addr = htonl(r->addr) };
	unsigned code;

	if (out->is_json) {
		if (out->is_verbose || (r->kind != SCAN_REFUSED && r->kind != SCAN_NO_ANSWER))
			keep_result(out, r);
		return;
	}
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	switch (r->kind) {
	case SCAN_UNIT:
		printf("%s:%u unit %u: registers [0]=%u (0x%04X)  %.3f ms\n", ip, r->port, r->unit,
		       r->value, r->value, clk_ns_to_ms(r->rtt_ns));
		print_identity(r);
		break;
	case SCAN_UNIT_EXC:
		code = (unsigned)(-r->err - MB_EXC_BASE);
		printf("%s:%u unit %u: exception 0x%02X %s  %.3f ms\n", ip, r->port, r->unit, code,
		       mb_exception_name(code), clk_ns_to_ms(r->rtt_ns));
		print_identity(r);
		break;
	case SCAN_BAD_REPLY:
		tool_hex(tx, sizeof(tx), r->tx, r->tx_len);
		tool_hex(rx, sizeof(rx), r->rx, r->rx_len);
		printf("%s:%u unit %u: bad reply: %s; sent %s; recv %s%s\n", ip, r->port, r->unit,
		       mb_strerror(r->err), tx, rx, r->rx_len == sizeof(r->rx) ? " ..." : "");
		break;
	case SCAN_OPEN:
		printf("%s:%u: open, no unit answered (%u probed)\n", ip, r->port, r->probed);
		break;
	case SCAN_CONN_ERR:
		printf("%s:%u: %s (after %u probes)\n", ip, r->port, strerror(-r->err), r->probed);
		break;
	case SCAN_REFUSED:
		if (out->is_verbose)
			printf("%s:%u: refused\n", ip, r->port);
		break;
	case SCAN_NO_ANSWER:
		if (out->is_verbose)
			printf("%s:%u: no answer to connect\n", ip, r->port);
		break;
	}
	fflush(stdout);
}

/* ---- --json ------------------------------------------------------------------------- */

static int rank(enum scan_kind kind)
{
	return kind == SCAN_UNIT_EXC ? SCAN_UNIT : (int)kind;
}

/* Findings by address, port, then kind (units before the port's verdict), then unit. */
static int cmp_result(const void *a, const void *b)
{
	const struct scan_result *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (rank(x->kind) != rank(y->kind))
		return rank(x->kind) < rank(y->kind) ? -1 : 1;
	return (int)x->unit - (int)y->unit;
}

static const char *port_state(const struct scan_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].kind == SCAN_REFUSED)
			return "refused";
		if (r[i].kind == SCAN_NO_ANSWER)
			return "no answer";
		if (r[i].kind == SCAN_CONN_ERR && n == 1)
			return "error";
	}
	return "open";
}

static void json_unit(FILE *f, const struct scan_result *r)
{
	char why[96];

	fprintf(f, "{\"unit\":%u,", r->unit);
	if (r->kind == SCAN_UNIT) {
		fprintf(f, "\"answer\":\"registers\",\"register0\":%u,", r->value);
	} else {
		unsigned code = (unsigned)(-r->err - MB_EXC_BASE);

		fprintf(f, "\"answer\":\"exception\",\"exception\":%u,\"exception_name\":", code);
		txt_json_fputs(f, mb_exception_name(code));
		fputc(',', f);
	}
	fprintf(f, "\"rtt_ms\":%.3f,\"identification\":", clk_ns_to_ms(r->rtt_ns));
	if (r->has_devid) {
		fputs("{\"vendor\":", f);
		txt_json_fputs(f, r->devid.vendor);
		fputs(",\"product\":", f);
		txt_json_fputs(f, r->devid.product);
		fputs(",\"revision\":", f);
		txt_json_fputs(f, r->devid.revision);
		fprintf(f, ",\"conformity\":%u}", r->devid.conformity);
	} else {
		fputs("null", f);
		if (r->devid_err) {
			devid_why(why, sizeof(why), r->devid_err);
			fputs(",\"identification_error\":", f);
			txt_json_fputs(f, why);
		}
	}
	fputs(",\"fingerprint\":", f);
	if (r->profile) {
		fputs("{\"profile\":", f);
		txt_json_fputs(f, r->profile);
		fputs(",\"evidence\":", f);
		txt_json_fputs(f, r->evidence);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputc('}', f);
}

/* One port's findings r[0..n-1] as an object. */
static void json_port(FILE *f, const struct scan_result *r, size_t n)
{
	char tx[3 * 12 + 1], rx[3 * 16 + 1];
	bool is_first = true;

	fprintf(f, "{\"port\":%u,\"state\":", r[0].port);
	txt_json_fputs(f, port_state(r, n));
	fputs(",\"units\":[", f);
	for (size_t i = 0; i < n; i++) {
		if (r[i].kind != SCAN_UNIT && r[i].kind != SCAN_UNIT_EXC)
			continue;
		if (!is_first)
			fputc(',', f);
		is_first = false;
		json_unit(f, &r[i]);
	}
	fputc(']', f);
	for (size_t i = 0; i < n; i++) {
		switch (r[i].kind) {
		case SCAN_OPEN:
			fprintf(f, ",\"probed\":%u", r[i].probed);
			break;
		case SCAN_BAD_REPLY:
			tool_hex(tx, sizeof(tx), r[i].tx, r[i].tx_len);
			tool_hex(rx, sizeof(rx), r[i].rx, r[i].rx_len);
			fprintf(f, ",\"bad_reply\":{\"unit\":%u,\"error\":", r[i].unit);
			txt_json_fputs(f, scan_strerror(r[i].err));
			fputs(",\"sent\":", f);
			txt_json_fputs(f, tx);
			fputs(",\"received\":", f);
			txt_json_fputs(f, rx);
			fputc('}', f);
			break;
		case SCAN_CONN_ERR:
			fputs(",\"error\":", f);
			txt_json_fputs(f, scan_strerror(r[i].err));
			fprintf(f, ",\"probed\":%u", r[i].probed);
			break;
		default:
			break;
		}
	}
	fputc('}', f);
}

static void print_json(struct sc_out *out, const struct scan_stats *st, uint64_t total,
		       unsigned nports)
{
	struct scan_result *r = out->res;
	size_t n = out->nres;
	FILE *f = stdout;

	if (n)
		qsort(r, n, sizeof(*r), cmp_result);
	fputs("{\"hosts\":[", f);
	for (size_t i = 0; i < n;) {
		char ip[INET_ADDRSTRLEN];
		struct in_addr a = { .s_addr = htonl(r[i].addr) };
		size_t h = i;

		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		fputs(i ? ",{\"address\":" : "{\"address\":", f);
		txt_json_fputs(f, ip);
		fputs(",\"ports\":[", f);
		while (h < n && r[h].addr == r[i].addr) {
			size_t p = h;

			while (p < n && r[p].addr == r[h].addr && r[p].port == r[h].port)
				p++;
			if (h != i)
				fputc(',', f);
			json_port(f, r + h, p - h);
			h = p;
		}
		fputs("]}", f);
		i = h;
	}
	fprintf(f,
		"],\"summary\":{\"addresses\":%llu,\"ports\":%u,\"targets\":%llu,\"open\":%llu,"
		"\"units\":%llu,\"bad_replies\":%llu,\"refused\":%llu,\"no_answer\":%llu,"
		"\"errors\":%llu,\"requests\":%llu,\"late_replies\":%llu,\"elapsed_s\":%.3f,"
		"\"is_interrupted\":%s,\"is_complete\":%s}}\n",
		(unsigned long long)total, nports, (unsigned long long)st->targets,
		(unsigned long long)st->open, (unsigned long long)st->units,
		(unsigned long long)st->bad_replies, (unsigned long long)st->refused,
		(unsigned long long)st->no_answer, (unsigned long long)st->conn_err,
		(unsigned long long)st->requests, (unsigned long long)st->late,
		(double)st->elapsed_ns / 1e9, st->is_interrupted ? "true" : "false",
		out->is_short ? "false" : "true");
	fflush(f);
}

/* ---- --device: the unit ids of one serial line ------------------------------------------ */

#define SCAN_RTU_REQ 8		       /* FC03 request: unit, FC, address, quantity, CRC */
#define SCAN_RTU_RSP 7		       /* its reply: unit, FC, byte count, one register, CRC */
#define SCAN_RTU_DEV (100 * 1000000LL) /* what a device may take to answer */

struct sc_serial {
	struct tool_common co; /* --device, the line, -o */
	uint8_t first, last;
	unsigned retries;
	bool is_json, is_verbose;
	bool is_identifying; /* read each unit found for the shipped profiles' fingerprints */
};

/* The fingerprints a serial scan tries (FC43 is not framed on RTU: io/modbus.h has no FC43). */
static const struct {
	const char *name;
	bool (*looks_like)(const struct prof_profile *p, const uint16_t *regs, unsigned n,
			   char *buf, size_t cap);
} rtu_fps[] = {
	{ "powerpack", scan_looks_like_powerpack },
	{ "acuvim2", scan_looks_like_acuvim2 },
};

#define N_RTU_FP (sizeof(rtu_fps) / sizeof(rtu_fps[0]))

/* A unit's fingerprint: the profile it looks like, or NULL; why in evidence. */
struct sc_fp {
	const char *profile;
	char evidence[SCAN_EVIDENCE_MAX];
};

/* Read the first poll block of each profile from unit and test it. */
static void fingerprint(struct tool_conn *c, uint8_t unit, struct prof_profile *const *fp,
			struct sc_fp *out)
{
	*out = (struct sc_fp){ 0 };
	for (unsigned i = 0; i < N_RTU_FP; i++) {
		const struct prof_block *b;
		uint16_t regs[MB_MAX_READ_REGS];
		struct mb_req req;
		struct mb_rsp rsp;

		if (!fp[i] || !fp[i]->n_blocks)
			continue;
		b = &fp[i]->blocks[0];
		req =
		    (struct mb_req){ .unit = unit, .fc = b->fc, .addr = b->start, .qty = b->count };
		if (b->fc < MB_FC_READ_HOLDING_REGISTERS || tool_xfer(c, &req, &rsp, 0))
			continue;
		mb_regs_from_wire(regs, rsp.data, b->count);
		if (rtu_fps[i].looks_like(fp[i], regs, b->count, out->evidence,
					  sizeof(out->evidence))) {
			out->profile = rtu_fps[i].name;
			return;
		}
	}
}

/* A probe's timeout at baud: request and reply on the wire plus the device's time. */
static int64_t rtu_probe_timeout_ns(uint32_t baud)
{
	return mb_rtu_wire_ns(baud, SCAN_RTU_REQ + SCAN_RTU_RSP) + SCAN_RTU_DEV;
}

static void json_str_hex(const char *key, const uint8_t *p, size_t n)
{
	char hex[TOOL_HEX_MAX];

	tool_hex(hex, sizeof(hex), p, n);
	printf(",\"%s\":", key);
	txt_json_fputs(stdout, n ? hex : "");
}

/* --json: a bad reply, kept for the end. */
struct sc_bad {
	uint8_t unit;
	uint8_t tx[MB_RTU_ADU_MAX], rx[MB_ADU_MAX];
	size_t tx_len, rx_len;
	char what[256];
};

/*
 * One unit found: its register 0 (err 0) or its exception (err -MB_EXC(code)), its probe's RTT
 * (is_late: none) and its fingerprint (NULL without identification).
 */
static void print_unit(const struct sc_serial *o, const struct tool_conn *c, uint8_t unit, int err,
		       uint16_t value, int64_t rtt_ns, bool is_late, const struct sc_fp *fp,
		       bool *is_first)
{
	unsigned code = (unsigned)(-err - MB_EXC_BASE);
	char late[64] = "";

	if (is_late)
		snprintf(late, sizeof(late), "  (late: after the %.0f ms timeout)",
			 (double)o->co.timeout_ns / 1e6);
	if (o->is_json) {
		printf("%s{\"unit\":%u,", *is_first ? "" : ",", unit);
		if (err == 0) {
			printf("\"answer\":\"registers\",\"register0\":%u,", value);
		} else {
			printf("\"answer\":\"exception\",\"exception\":%u,\"exception_name\":",
			       code);
			txt_json_fputs(stdout, mb_exception_name(code));
			fputc(',', stdout);
		}
		if (is_late)
			printf("\"late\":true");
		else
			printf("\"rtt_ms\":%.3f", clk_ns_to_ms(rtt_ns));
		if (fp && fp->profile) {
			fputs(",\"fingerprint\":{\"profile\":", stdout);
			txt_json_fputs(stdout, fp->profile);
			fputs(",\"evidence\":", stdout);
			txt_json_fputs(stdout, fp->evidence);
			fputc('}', stdout);
		} else if (fp) {
			fputs(",\"fingerprint\":null", stdout);
		}
		fputc('}', stdout);
		*is_first = false;
		return;
	} else if (err == 0) {
		printf("%s unit %u: registers [0]=%u (0x%04X)", c->name, unit, value, value);
		if (is_late)
			printf("%s\n", late);
		else
			printf("  %.3f ms\n", clk_ns_to_ms(rtt_ns));
	} else {
		printf("%s unit %u: exception 0x%02X %s", c->name, unit, code,
		       mb_exception_name(code));
		if (is_late)
			printf("%s\n", late);
		else
			printf("  %.3f ms\n", clk_ns_to_ms(rtt_ns));
	}
	if (fp && fp->profile)
		printf("    looks like %s: %s\n", fp->profile, fp->evidence);
	else if (fp)
		printf("    looks like no shipped profile\n");
}

/* Probe first..last one at a time; print each finding (or keep it for --json). */
static int scan_serial(const struct sc_serial *o)
{
	struct prof_profile *fps[N_RTU_FP] = { NULL };
	bool found[256] = { false };
	struct sc_bad *bads;
	struct tool_conn c;
	char line[48], what[256], hex[TOOL_HEX_MAX];
	unsigned probed = 0, units = 0, bad = 0;
	int64_t t0 = clk_now_ns();
	bool is_first_unit = true, is_first_bad = true, is_stopped = false;
	int err = 0;

	if (tool_conn_init_rtu(&c, o->co.device, &o->co.line, o->co.timeout_ns)) {
		fprintf(stderr, "flux " CMD ": --device %s: want a tty path\n", o->co.device);
		return TOOL_EXIT_USAGE;
	}
	ser_line_describe(line, sizeof(line), &o->co.line);
	err = tool_conn_connect(&c);
	if (err) {
		fprintf(stderr, "flux " CMD ": %s: open at %s: %s\n", c.name, line,
			ser_strerror(err));
		return tool_exit_code(err);
	}
	for (unsigned i = 0; o->is_identifying && i < N_RTU_FP; i++) {
		char msg[256];

		if (prof_load_builtin(rtu_fps[i].name, &fps[i], msg, sizeof(msg)))
			fprintf(stderr,
				"flux " CMD ": profile %s: %s (its fingerprint is skipped)\n",
				rtu_fps[i].name, msg);
	}
	if (o->is_json) {
		fputs("{\"device\":", stdout);
		txt_json_fputs(stdout, c.name);
		fputs(",\"line\":", stdout);
		txt_json_fputs(stdout, line);
		fputs(",\"units\":[", stdout);
	}
	/* --json lists the bad replies after the units: keep them until then. */
	bads = calloc((size_t)(o->last - o->first + 1), sizeof(*bads));
	if (!bads) {
		perror("flux " CMD);
		err = -ENOMEM;
		goto out_fps;
	}
	for (unsigned u = o->first; u <= o->last && !is_stopped; u++) {
		struct mb_req req = {
			.unit = (uint8_t)u, .fc = MB_FC_READ_HOLDING_REGISTERS, .addr = 0, .qty = 1
		};
		struct mb_rsp rsp;
		bool is_exc, is_gw;
		unsigned code;

		err = tool_xfer(&c, &req, &rsp, o->retries);
		if (err == -EINTR || scan_stop) {
			is_stopped = true;
			err = 0;
			break;
		}
		probed++;
		code = (unsigned)(-err - MB_EXC_BASE);
		is_exc = -err > MB_EXC_BASE && -err < MB_EXC_END;
		/* A gateway's "no such target" is absence, as on TCP. */
		is_gw = is_exc && (code == MB_EX_GATEWAY_PATH_UNAVAILABLE ||
				   code == MB_EX_GATEWAY_TARGET_FAILED);
		if (!is_gw && (err == 0 || is_exc)) {
			uint16_t value = err ? 0 : mb_get_u16(rsp.data);
			int64_t rtt_ns = c.rtt_ns;
			struct sc_fp fp;

			units++;
			found[u] = true;
			if (o->is_identifying)
				fingerprint(&c, (uint8_t)u, fps, &fp);
			print_unit(o, &c, (uint8_t)u, err, value, rtt_ns, false,
				   o->is_identifying ? &fp : NULL, &is_first_unit);
		} else if (err == -MB_EUNIT && c.rx[0] >= o->first && c.rx[0] < u &&
			   !found[c.rx[0]]) {
			/*
			 * The reply of a unit probed before, come after its timeout (a whole,
			 * CRC-valid frame: tool.c checked it). It counts for that unit; this one
			 * stayed silent.
			 */
			uint8_t v = c.rx[0];
			bool is_late_exc = c.rx[1] & MB_EXC_BIT;

			units++;
			found[v] = true;
			print_unit(o, &c, v, is_late_exc ? -MB_EXC(c.rx[2]) : 0,
				   is_late_exc ? 0 : mb_get_u16(c.rx + 3), 0, true, NULL,
				   &is_first_unit);
			if (o->is_verbose && !o->is_json)
				printf("%s unit %u: no answer\n", c.name, u);
		} else if (is_gw || (err == -ETIMEDOUT && c.rx_len == 0)) {
			if (o->is_verbose && !o->is_json)
				printf("%s unit %u: no answer\n", c.name, u);
		} else if (err == -ETIMEDOUT || (-err >= MB_ERR_BASE && -err < MB_EXC_END)) {
			/* Something answered, but not a reply we can take: say what. */
			tool_describe(what, sizeof(what), &c, &req, err, 0);
			if (o->is_json) {
				bads[bad].unit = (uint8_t)u;
				memcpy(bads[bad].tx, c.tx, c.tx_len);
				bads[bad].tx_len = c.tx_len;
				memcpy(bads[bad].rx, c.rx, c.rx_len);
				bads[bad].rx_len = c.rx_len;
				snprintf(bads[bad].what, sizeof(bads[bad].what), "%s", what);
			} else {
				printf("%s unit %u: bad reply: %s", c.name, u, what);
				tool_hex(hex, sizeof(hex), c.tx, c.tx_len);
				printf("; sent %s", hex);
				tool_hex(hex, sizeof(hex), c.rx, c.rx_len);
				printf("; recv %s\n", hex);
			}
			bad++;
		} else {
			/* The line itself failed (unplugged: EIO, ENODEV): stop. */
			fprintf(stderr, "flux " CMD ": %s unit %u: %s\n", c.name, u,
				ser_strerror(err));
			break;
		}
		fflush(stdout);
		err = 0;
	}
	if (o->is_json) {
		fputs("],\"bad_replies\":[", stdout);
		for (unsigned i = 0; i < bad; i++) {
			printf("%s{\"unit\":%u,\"error\":", is_first_bad ? "" : ",", bads[i].unit);
			txt_json_fputs(stdout, bads[i].what);
			json_str_hex("sent", bads[i].tx, bads[i].tx_len);
			json_str_hex("received", bads[i].rx, bads[i].rx_len);
			fputc('}', stdout);
			is_first_bad = false;
		}
		printf("],\"summary\":{\"probed\":%u,\"units\":%u,\"bad_replies\":%u,"
		       "\"noise_bytes\":%llu,\"timeout_ms\":%.3f,\"elapsed_s\":%.3f,"
		       "\"is_interrupted\":%s,\"is_complete\":%s}}\n",
		       probed, units, bad, (unsigned long long)c.noise_total,
		       (double)o->co.timeout_ns / 1e6, (double)(clk_now_ns() - t0) / 1e9,
		       is_stopped ? "true" : "false", err ? "false" : "true");
	} else {
		printf("flux " CMD ": %s at %s: %u unit id(s) probed in %.3f s%s: %u unit(s), %u "
		       "bad repl%s, %llu noise byte(s), timeout %.0f ms\n",
		       c.name, line, probed, (double)(clk_now_ns() - t0) / 1e9,
		       is_stopped ? " (interrupted)" : "", units, bad, bad == 1 ? "y" : "ies",
		       (unsigned long long)c.noise_total, (double)o->co.timeout_ns / 1e6);
	}
	free(bads);
out_fps:
	for (unsigned i = 0; i < N_RTU_FP; i++)
		prof_free(fps[i]);
	tool_conn_close(&c);
	return err ? tool_exit_code(err) : TOOL_EXIT_OK;
}

int cmd_scan_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct scan_cfg cfg = { .unit_first = 1,
				.unit_last = 247,
				.timeout_ns = 500 * 1000000LL,
				.concurrency = 256,
				.per_host = 4,
				.depth = 16,
				.is_identifying = true };
	struct scan_range *ranges = NULL;
	uint16_t ports[SCAN_MAX_PORTS] = { 502 };
	struct sc_out out = { 0 };
	struct scan_stats st;
	struct rlimit rl;
	struct sc_serial sline = { .first = 1, .last = 247 };
	bool has_units = false, has_tcp_opt = false, has_timeout = false;
	unsigned nports = 1;
	bool is_yes = false;
	uint64_t total;
	unsigned long v;
	int c, ret;

	tool_common_init(&sline.co);
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "hp:o:vb:d:s:", options, NULL)) != -1) {
		/* The serial line's options: --device, -b, --parity, -d, -s. */
		if (c == TOOL_OPT_DEVICE || c == 'b' || c == TOOL_OPT_PARITY || c == 'd' ||
		    c == 's') {
			if (tool_common_opt(CMD, &sline.co, c, optarg) < 0)
				return TOOL_EXIT_USAGE;
			continue;
		}
		if (c == 'p' || c == OPT_CONCURRENCY || c == OPT_PER_HOST || c == OPT_DEPTH ||
		    c == OPT_YES)
			has_tcp_opt = true;
		switch (c) {
		case 'h':
			usage(stdout);
			return TOOL_EXIT_OK;
		case 'p':
			if (parse_ports(optarg, ports, &nports))
				return bad_usage(
				    "-p: want PORT[,PORT...], ports 1..65535, at most 64");
			break;
		case OPT_UNITS:
			if (parse_units(optarg, &cfg.unit_first, &cfg.unit_last))
				return bad_usage("--units: want A-B with 0 <= A <= B <= 255");
			has_units = true;
			break;
		case 'o':
			if (tool_parse_duration(CMD, "-o", optarg, CLK_NS_PER_SEC, 1000000,
						60 * CLK_NS_PER_SEC, &cfg.timeout_ns))
				return TOOL_EXIT_USAGE;
			has_timeout = true;
			break;
		case OPT_RETRIES:
			if (tool_parse_ulong(CMD, "--retries", optarg, 0, 10, &v))
				return TOOL_EXIT_USAGE;
			sline.retries = (unsigned)v;
			break;
		case OPT_CONCURRENCY:
			if (tool_parse_ulong(CMD, "--concurrency", optarg, 1, SCAN_MAX_CONCURRENCY,
					     &v))
				return TOOL_EXIT_USAGE;
			cfg.concurrency = (unsigned)v;
			break;
		case OPT_PER_HOST:
			if (tool_parse_ulong(CMD, "--per-host", optarg, 1, SCAN_MAX_PER_HOST, &v))
				return TOOL_EXIT_USAGE;
			cfg.per_host = (unsigned)v;
			break;
		case OPT_DEPTH:
			if (tool_parse_ulong(CMD, "--depth", optarg, 1, SCAN_MAX_DEPTH, &v))
				return TOOL_EXIT_USAGE;
			cfg.depth = (unsigned)v;
			break;
		case OPT_JSON:
			out.is_json = true;
			break;
		case OPT_NO_ID:
			cfg.is_identifying = false;
			break;
		case OPT_YES:
			is_yes = true;
			break;
		case 'v':
			out.is_verbose = true;
			break;
		default:
			return bad_usage("unknown option");
		}
	}
	if (sline.co.device) {
		if (optind < argc)
			return bad_usage("--device scans a serial line: give no TARGET");
		if (has_tcp_opt)
			return bad_usage("-p, --concurrency, --per-host, --depth and --yes are for "
					 "TCP targets, not --device");
		if (has_units && (cfg.unit_first < 1 || cfg.unit_last > MB_RTU_UNIT_MAX))
			return bad_usage("--units: a serial line's unit ids are 1..247 (0 is the "
					 "broadcast, which nothing answers)");
		if (has_units) {
			sline.first = cfg.unit_first;
			sline.last = cfg.unit_last;
		}
		sline.co.timeout_ns =
		    has_timeout ? cfg.timeout_ns : rtu_probe_timeout_ns(sline.co.line.baud);
		sline.is_json = out.is_json;
		sline.is_identifying = cfg.is_identifying;
		sline.is_verbose = out.is_verbose;
		scan_stop = 0;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		ret = scan_serial(&sline);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		return ret;
	}
	if (sline.co.has_line)
		return bad_usage("-b, --parity, -d and -s are for --device (a serial line)");
	if (sline.retries)
		return bad_usage("--retries is for --device (a serial line)");
	if (optind >= argc)
		return bad_usage("at least one TARGET (or --device PATH) is required");
	if (argc - optind > SCAN_MAX_TARGETS)
		return bad_usage("at most 256 TARGETs");
	ranges = calloc((size_t)(argc - optind), sizeof(*ranges));
	if (!ranges) {
		perror("flux " CMD);
		return TOOL_EXIT_CONN;
	}
	for (int i = optind; i < argc; i++) {
		if (scan_parse_target(argv[i], &ranges[i - optind])) {
			fprintf(stderr,
				"flux " CMD ": TARGET %s: want a.b.c.d, a.b.c.d-e, a.b.c.d-e.f.g.h "
				"or a.b.c.d/n (flux scan --help)\n",
				argv[i]);
			ret = TOOL_EXIT_USAGE;
			goto out_ranges;
		}
	}
	cfg.ranges = ranges;
	cfg.nranges = (unsigned)(argc - optind);
	cfg.ports = ports;
	cfg.nports = nports;
	total = scan_count(ranges, cfg.nranges);
	if (total > SCAN_LIMIT && !is_yes) {
		fprintf(stderr,
			"flux " CMD ": %llu addresses is more than a /16 (65536): refusing without "
			"--yes\n",
			(unsigned long long)total);
		ret = TOOL_EXIT_USAGE;
		goto out_ranges;
	}
	/* Each connection is a file descriptor: stay well inside the limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    cfg.concurrency + 32 > rl.rlim_cur)
		cfg.concurrency = rl.rlim_cur > 64 ? (unsigned)rl.rlim_cur - 32 : 16;
	cfg.report = print_result;
	cfg.arg = &out;
	cfg.stop = &scan_stop;
	scan_stop = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	ret = scan_run(&cfg, &st);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (ret) {
		fprintf(stderr, "flux " CMD ": cannot scan: %s\n", strerror(-ret));
		ret = TOOL_EXIT_CONN;
		goto out_ranges;
	}
	if (out.is_json) {
		print_json(&out, &st, total, nports);
		ret = TOOL_EXIT_OK;
		goto out_ranges;
	}
	printf("flux " CMD ": %llu address(es) x %u port(s) in %.3f s%s: %llu open, %llu unit(s), "
	       "%llu bad repl%s, %llu refused, %llu no answer, %llu error(s)\n",
	       (unsigned long long)total, nports, (double)st.elapsed_ns / 1e9,
	       st.is_interrupted ? " (interrupted)" : "", (unsigned long long)st.open,
	       (unsigned long long)st.units, (unsigned long long)st.bad_replies,
	       st.bad_replies == 1 ? "y" : "ies", (unsigned long long)st.refused,
	       (unsigned long long)st.no_answer, (unsigned long long)st.conn_err);
	ret = TOOL_EXIT_OK;
out_ranges:
	free(out.res);
	free(ranges);
	return ret;
}
