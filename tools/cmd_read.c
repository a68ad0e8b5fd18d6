// SPDX-License-Identifier: MIT
/*
 * `flux read`: modpoll's job. Reads coils, inputs or registers once, or polls them on absolute
 * deadlines (no drift: poll k is due at start + k x interval; missed periods are skipped and
 * counted) and prints a summary with RTT percentiles at the end or on SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/profile.h"
#include "tools/tool.h"
#include "rt/clock.h"
#include "rt/hist.h"
#include "rt/text.h"

#define CMD "read"

static volatile sig_atomic_t rd_stop;

static void on_signal(int sig)
{
	(void)sig;
	rd_stop = 1;
}

enum out_fmt { OUT_TEXT, OUT_JSON, OUT_CSV };

struct rd_opts {
	const char *host;
	struct tool_common co; /* -p -a -r -t --order -o --retries --one-based */
	uint8_t fc;
	uint16_t addr;	     /* PDU address */
	unsigned count;	     /* values */
	double scale;	     /* printed value = raw / scale; 0: none */
	int64_t interval_ns; /* 0: no polling */
	long times;	     /* polls; < 0 forever */
	enum out_fmt fmt;
	const char *profile; /* --profile NAME|FILE: every point of a device */
};

enum { OPT_SCALE = TOOL_OPT_OWN, OPT_JSON, OPT_CSV, OPT_PROFILE };

static const struct option options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "unit", required_argument, NULL, 'a' },
	{ "address", required_argument, NULL, 'r' },
	{ "count", required_argument, NULL, 'c' },
	{ "function", required_argument, NULL, 'f' },
	{ "type", required_argument, NULL, 't' },
	{ "order", required_argument, NULL, TOOL_OPT_ORDER },
	{ "scale", required_argument, NULL, OPT_SCALE },
	{ "timeout", required_argument, NULL, 'o' },
	{ "retries", required_argument, NULL, TOOL_OPT_RETRIES },
	{ "interval", required_argument, NULL, 'l' },
	{ "times", required_argument, NULL, 'n' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "one-based", no_argument, NULL, TOOL_OPT_ONE_BASED },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "mode", required_argument, NULL, 'm' },
	TOOL_LINE_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("usage: flux read [-p PORT] [-a UNIT] -r ADDR [-c COUNT] [-f 1|2|3|4]\n"
	      "                 [-t u16|i16|u32|i32|f32|hex] [--order abcd|cdab|badc|dcba]\n"
	      "                 [--scale S] [-o TIMEOUT] [--retries N] [-l INTERVAL]\n"
	      "                 [-n TIMES | -1] [--json|--csv] [--one-based] HOST\n"
	      "       flux read --profile NAME|FILE [-p PORT] [-a UNIT] [--order O] [-o TIMEOUT]\n"
	      "                 [--retries N] [--json] HOST\n"
	      "       flux read -m rtu --device PATH [-b BAUD] [--parity none|even|odd] [-d 7|8]\n"
	      "                 [-s 1|2] [the options above but -p]   (no HOST)\n"
	      "       flux read -m rtutcp [options] HOST               (RTU frames over TCP)\n"
	      "Read COUNT values from a Modbus unit and print them (modpoll's job).\n"
	      "  -m MODE         tcp (default), rtu (a serial line), rtutcp (RTU over TCP)\n"
	      "  --device PATH   the serial line's tty, /dev/ttyUSB0 (implies -m rtu)\n"
	      "  -b BAUD         1200..115200 or higher standard rates (9600)\n"
	      "  --parity P      none (default), even, odd\n"
	      "  -d 7|8          data bits (8);  -s 1|2  stop bits (1)\n"
	      "  -p PORT         TCP port (502)\n"
	      "  -a UNIT         unit id 0..255 (1); on RTU 1..247\n"
	      "  -r ADDR         first PDU address, 0..65535 (the seed's: SOE is 2026)\n"
	      "  -c COUNT        values to read (1); registers = COUNT x the type's width\n"
	      "  -f 1|2|3|4      function: coils, discrete inputs, holding (3, default), input\n"
	      "  -t TYPE         u16 (default) i16 u32 i32 f32 (2 registers each) hex\n"
	      "  --order O       word order of 32-bit types: abcd (default) cdab badc dcba\n"
	      "  --scale S       print raw / S (profile convention: 1000 turns W into kW)\n"
	      "  -o TIMEOUT      per request and for the connect: 500ms, 2s; bare = seconds (1s;\n"
	      "                  RTU: fitted to the baud rate, 687 ms at 9600)\n"
	      "  --retries N     more attempts after a timeout or a lost connection (0)\n"
	      "  -l INTERVAL     poll every INTERVAL: 100ms, 1s; bare = milliseconds\n"
	      "  -n TIMES        polls to make (with -l: forever until SIGINT; alone: every 1s)\n"
	      "  -1              poll once (the default without -l and -n)\n"
	      "  --json | --csv  machine-readable output (one JSON object or CSV row per poll)\n"
	      "  --one-based     ADDR is a 1-based reference as modpoll's -r (2027 reads 2026)\n"
	      "  --profile P     read every point of a device profile, a shipped one (powerpack,\n"
	      "                  acuvim2, acuvim2-manual) or a FILE.yaml, and print each with its\n"
	      "                  unit; -a and --order default to the profile's\n"
	      "Polling prints a timestamped line per poll and a summary (polls, errors, RTT\n"
	      "p50/p99/max) when TIMES is reached or on SIGINT.\n"
	      "Exit: 0 ok, 1 Modbus exception or protocol error, 2 usage, 3 connection/timeout.\n"
	      "example: flux read -a 1 -r 2026 -c 1 192.168.1.100       (BESS SOE)\n"
	      "         flux read --device /dev/ttyUSB0 -b 19200 --parity even -a 2 -r 0 -c 2\n"
	      "         flux read -r 0x40 -t f32 --scale 1000 -l 1s 192.168.1.101\n",
	      f);
}

static int bad_usage(const char *msg)
{
	tool_usage_error(CMD, msg);
	return TOOL_EXIT_USAGE;
}

/* Returns 0 to go on, or an exit code (> 0), or -1 after --help. */
static int parse(struct rd_opts *o, int argc, char **argv)
{
	unsigned long v;
	bool has_times = false;
	int c, r;

	*o = (struct rd_opts){ .fc = MB_FC_READ_HOLDING_REGISTERS, .count = 1, .times = 1 };
	tool_common_init(&o->co);
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "hp:a:r:c:f:t:o:l:n:1m:b:d:s:0B", options, NULL)) !=
	       -1) {
		r = tool_common_opt(CMD, &o->co, c, optarg);
		if (r < 0)
			return TOOL_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'h':
			usage(stdout);
			return -1;
		case 'c':
			if (tool_parse_ulong(CMD, "-c", optarg, 1, MB_MAX_READ_BITS, &v))
				return TOOL_EXIT_USAGE;
			o->count = (unsigned)v;
			break;
		case 'f':
			if (tool_parse_ulong(CMD, "-f", optarg, 1, 4, &v))
				return TOOL_EXIT_USAGE;
			o->fc = (uint8_t)v;
			break;
		case OPT_SCALE: {
			char *end;

			o->scale = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(o->scale) || o->scale == 0)
				return bad_usage("--scale: want a non-zero number");
			break;
		}
		case 'l':
			if (tool_parse_duration(CMD, "-l", optarg, 1000000, 1000000,
						24 * 3600 * CLK_NS_PER_SEC, &o->interval_ns))
				return TOOL_EXIT_USAGE;
			if (!has_times)
				o->times = -1;
			break;
		case 'n':
			if (tool_parse_ulong(CMD, "-n", optarg, 1, 1000000000, &v))
				return TOOL_EXIT_USAGE;
			o->times = (long)v;
			has_times = true;
			break;
		case '1':
			o->times = 1;
			has_times = true;
			break;
		case '0':
		case 'B':
			/* modpoll/mbpoll-only flags: flux read stays PDU-addressed. */
			fprintf(stderr,
				"flux " CMD ": -%c is a modpoll/mbpoll option: use `flux modpoll` "
				"(or `flux mbpoll`) with those tools' options and 1-based -r\n",
				c);
			return TOOL_EXIT_USAGE;
		case OPT_JSON:
			o->fmt = OUT_JSON;
			break;
		case OPT_CSV:
			o->fmt = OUT_CSV;
			break;
		case OPT_PROFILE:
			o->profile = optarg;
			break;
		default:
			return bad_usage("unknown option");
		}
	}
	if (optind < argc - 1)
		return bad_usage("one HOST only");
	o->host = optind < argc ? argv[optind] : NULL;
	if (tool_common_transport(CMD, &o->co, o->host))
		return TOOL_EXIT_USAGE;
	if (o->co.framing != TOOL_FRAMING_TCP && o->co.unit == MB_UNIT_BROADCAST)
		return bad_usage("-a 0 is the RTU broadcast address: writes only (flux write), "
				 "nothing answers a read");
	if (o->profile) {
		if (o->co.has_ref || o->co.has_type || o->scale != 0 || o->interval_ns ||
		    has_times || o->count != 1 || o->fc != MB_FC_READ_HOLDING_REGISTERS ||
		    o->fmt == OUT_CSV)
			return bad_usage("--profile reads the profile's points: -r, -c, -f, -t, "
					 "--scale, -l, -n and --csv do not apply");
		return 0;
	}
	if (tool_common_addr(CMD, &o->co, &o->addr))
		return TOOL_EXIT_USAGE;
	if (o->fc <= MB_FC_READ_DISCRETE_INPUTS && o->co.has_type)
		return bad_usage("-t applies to registers (-f 3 or 4), not to coils or inputs");
	if (o->fc <= MB_FC_READ_DISCRETE_INPUTS && o->scale != 0)
		return bad_usage("--scale applies to registers (-f 3 or 4)");
	if (o->co.type == TOOL_HEX && o->scale != 0)
		return bad_usage("--scale does not apply to -t hex");
	if (o->fc >= MB_FC_READ_HOLDING_REGISTERS &&
	    o->count * tool_type_regs(o->co.type) > MB_MAX_READ_REGS)
		return bad_usage("-c: at most 125 registers per read (62 values of a 32-bit type)");
	if (o->addr + o->count *
			  (o->fc >= MB_FC_READ_HOLDING_REGISTERS ? tool_type_regs(o->co.type) : 1) >
	    0x10000)
		return bad_usage("-r/-c: the read would run past address 65535");
	if (has_times && o->times != 1 && !o->interval_ns)
		o->interval_ns = CLK_NS_PER_SEC;
	return 0;
}

/* Print value i of a successful read into buf. */
static void format_value(char *buf, size_t cap, const struct rd_opts *o, const struct mb_rsp *rsp,
			 unsigned i)
{
	uint16_t regs[2] = { 0, 0 };
	double v;

	if (o->fc <= MB_FC_READ_DISCRETE_INPUTS) {
		snprintf(buf, cap, "%d", mb_get_bit(rsp->data, i));
		return;
	}
	mb_regs_from_wire(regs, rsp->data + 2 * i * tool_type_regs(o->co.type),
			  tool_type_regs(o->co.type));
	switch (o->co.type) {
	case TOOL_HEX:
		snprintf(buf, cap, "0x%04X", regs[0]);
		return;
	case TOOL_I16:
		v = mb_get_i16(regs[0]);
		break;
	case TOOL_U32:
		v = mb_get_u32(regs, o->co.order);
		break;
	case TOOL_I32:
		v = mb_get_i32(regs, o->co.order);
		break;
	case TOOL_F32:
		v = mb_get_f32(regs, o->co.order);
		break;
	case TOOL_U16:
	default:
		v = regs[0];
		break;
	}
	if (o->scale != 0)
		v /= o->scale;
	if (o->fmt == OUT_JSON && !isfinite(v))
		snprintf(buf, cap, "null");
	else if (o->co.type == TOOL_F32 || o->scale != 0)
		snprintf(buf, cap, "%.7g", v);
	else
		snprintf(buf, cap, "%.0f", v);
}

/* Reference of value i in the user's numbering. */
static unsigned ref_of(const struct rd_opts *o, unsigned i)
{
	unsigned width = o->fc >= MB_FC_READ_HOLDING_REGISTERS ? tool_type_regs(o->co.type) : 1;

	return o->addr + i * width + o->co.base;
}

static void print_header(const struct rd_opts *o)
{
	if (o->fmt != OUT_CSV)
		return;
	fputs("time,rtt_ms", stdout);
	for (unsigned i = 0; i < o->count; i++)
		printf(",%u", ref_of(o, i));
	fputs(",error\n", stdout);
}

static void print_ok(const struct rd_opts *o, const struct tool_conn *c, const struct mb_rsp *rsp,
		     bool is_poll)
{
	char ts[40], val[48];

	tool_timestamp(ts, sizeof(ts));
	switch (o->fmt) {
	case OUT_JSON:
		/* The host may be a device path: escaped. */
		printf("{\"time\":\"%s\",\"host\":", ts);
		txt_json_fputs(stdout, c->name);
		printf(",\"unit\":%u,\"function\":%u,\"address\":%u,\"type\":\"%s\",\"order\":"
		       "\"%s\",\"rtt_ms\":%.3f,",
		       o->co.unit, o->fc, o->addr,
		       o->fc <= MB_FC_READ_DISCRETE_INPUTS ? "bit" : tool_type_name(o->co.type),
		       mb_order_name(o->co.order), clk_ns_to_ms(c->rtt_ns));
		if (c->framing != TOOL_FRAMING_TCP)
			printf("\"noise_bytes\":%llu,", (unsigned long long)c->noise);
		fputs("\"values\":[", stdout);
		for (unsigned i = 0; i < o->count; i++) {
			format_value(val, sizeof(val), o, rsp, i);
			printf(i ? ",%s" : "%s", val);
		}
		fputs("]}\n", stdout);
		break;
	case OUT_CSV:
		printf("%s,%.3f", ts, clk_ns_to_ms(c->rtt_ns));
		for (unsigned i = 0; i < o->count; i++) {
			format_value(val, sizeof(val), o, rsp, i);
			printf(",%s", val);
		}
		fputs(",\n", stdout);
		break;
	case OUT_TEXT:
		if (is_poll) {
			printf("%s", ts);
			for (unsigned i = 0; i < o->count; i++) {
				format_value(val, sizeof(val), o, rsp, i);
				printf(" [%u]: %s", ref_of(o, i), val);
			}
			printf("  (%.3f ms)\n", clk_ns_to_ms(c->rtt_ns));
		} else {
			for (unsigned i = 0; i < o->count; i++) {
				format_value(val, sizeof(val), o, rsp, i);
				printf("[%u]: %s\n", ref_of(o, i), val);
			}
		}
		break;
	}
}

static void print_err(const struct rd_opts *o, const struct tool_conn *c, const struct mb_req *req,
		      int err, bool is_poll)
{
	char ts[40], what[256], tx[TOOL_HEX_MAX], rx[TOOL_HEX_MAX];

	if (o->fmt == OUT_TEXT && !is_poll) {
		tool_report(stderr, CMD, c, req, err, o->co.base);
		return;
	}
	tool_timestamp(ts, sizeof(ts));
	tool_describe(what, sizeof(what), c, req, err, o->co.base);
	tool_hex(tx, sizeof(tx), c->tx, c->tx_len);
	tool_hex(rx, sizeof(rx), c->rx, c->rx_len);
	switch (o->fmt) {
	case OUT_JSON:
		printf("{\"time\":\"%s\",\"host\":", ts);
		txt_json_fputs(stdout, c->name);
		printf(",\"unit\":%u,\"function\":%u,\"address\":%u,", o->co.unit, o->fc, o->addr);
		if (c->framing != TOOL_FRAMING_TCP)
			printf("\"noise_bytes\":%llu,", (unsigned long long)c->noise);
		fputs("\"error\":", stdout);
		txt_json_fputs(stdout, what);
		printf(",\"exit\":%d,\"sent\":\"%s\",\"recv\":\"%s\"}\n", tool_exit_code(err),
		       c->tx_len ? tx : "", c->rx_len ? rx : "");
		break;
	case OUT_CSV:
		printf("%s,", ts);
		for (unsigned i = 0; i < o->count; i++)
			putchar(',');
		printf(",\"%s; sent %s; recv %s\"\n", what, tx, rx);
		break;
	case OUT_TEXT:
		printf("%s error: %s; sent %s; recv %s\n", ts, what, tx, rx);
		break;
	}
}

static void print_summary(const struct rd_opts *o, const struct tool_conn *c, long polls,
			  long errors, uint64_t missed, const struct hist *rtt)
{
	double p50 = clk_ns_to_ms(hist_percentile(rtt, 50));
	double p99 = clk_ns_to_ms(hist_percentile(rtt, 99));
	double max = clk_ns_to_ms(rtt->max_ns);

	if (o->fmt == OUT_JSON) {
		fputs("{\"summary\":{\"host\":", stdout);
		txt_json_fputs(stdout, c->name);
		printf(",\"unit\":%u,\"polls\":%ld,\"errors\":%ld,\"missed_intervals\":%llu,"
		       "\"rtt_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}}}\n",
		       o->co.unit, polls, errors, (unsigned long long)missed, p50, p99, max);
		return;
	}
	fprintf(o->fmt == OUT_CSV ? stderr : stdout,
		"--- %s unit %u: %ld polls, %ld errors, %llu missed intervals, rtt p50 %.3f ms "
		"p99 %.3f ms max %.3f ms\n",
		c->name, o->co.unit, polls, errors, (unsigned long long)missed, p50, p99, max);
}

/* Sleep until deadline_ns (absolute, CLOCK_MONOTONIC) or a signal. */
static void sleep_until(int64_t deadline_ns)
{
	struct timespec ts = clk_ns_to_ts(deadline_ns);

	while (!rd_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int run(const struct rd_opts *o, struct tool_conn *c, struct hist *rtt)
{
	struct mb_req req = { .unit = o->co.unit, .fc = o->fc, .addr = o->addr };
	bool is_poll = o->interval_ns > 0 && o->times != 1;
	int64_t start = clk_now_ns(), next = start;
	long polls = 0, errors = 0;
	uint64_t missed = 0;
	int ret = TOOL_EXIT_OK;

	req.qty =
	    (uint16_t)(o->fc >= MB_FC_READ_HOLDING_REGISTERS ? o->count * tool_type_regs(o->co.type)
							     : o->count);
	print_header(o);
	while (!rd_stop && (o->times < 0 || polls < o->times)) {
		struct mb_rsp rsp;
		int err = tool_xfer(c, &req, &rsp, o->co.retries);

		if (err == -EINTR && rd_stop)
			break;
		polls++;
		if (err) {
			errors++;
			ret = tool_exit_code(err);
			print_err(o, c, &req, err, is_poll);
		} else {
			hist_record(rtt, c->rtt_ns);
			print_ok(o, c, &rsp, is_poll);
			if (c->noise && o->fmt == OUT_TEXT)
				fprintf(stderr,
					"flux " CMD ": %s: %llu byte(s) of line noise discarded "
					"before the reply\n",
					c->name, (unsigned long long)c->noise);
		}
		fflush(stdout);
		if (!is_poll || (o->times >= 0 && polls >= o->times))
			break;
		/* Absolute deadlines: poll k is due at start + k x interval, whatever the RTT. */
		next += o->interval_ns;
		if (clk_now_ns() > next) {
			int64_t behind = (clk_now_ns() - next) / o->interval_ns + 1;

			missed += (uint64_t)behind;
			next += behind * o->interval_ns;
		}
		sleep_until(next);
	}
	if (is_poll)
		print_summary(o, c, polls, errors, missed, rtt);
	return ret;
}

/* ---- --profile: every point of a device ----------------------------------------------- */

static void print_point(const struct rd_opts *o, const struct prof_point *pt,
			const struct prof_value *v, bool *is_first)
{
	const char *name =
	    v->is_valid && pt->n_enums ? prof_enum_name(pt, (uint16_t)v->value) : NULL;

	if (o->fmt == OUT_JSON) {
		printf("%s{\"name\":", *is_first ? "" : ",");
		txt_json_fputs(stdout, pt->name);
		printf(",\"function\":%u,\"address\":%u,\"unit\":", pt->fc, pt->addr);
		txt_json_fputs(stdout, pt->unit);
		if (v->is_valid)
			printf(",\"value\":%.10g", v->value);
		else
			fputs(",\"value\":null", stdout);
		if (name) {
			fputs(",\"enum\":", stdout);
			txt_json_fputs(stdout, name);
		}
		fputs("}", stdout);
	} else if (!v->is_valid) {
		printf("%-28s %12s %-6s  FC%02u %u (0x%04X)\n", pt->name, "-", pt->unit, pt->fc,
		       pt->addr, pt->addr);
	} else {
		char val[48];

		if (name)
			snprintf(val, sizeof(val), "%.0f %s", v->value, name);
		else
			snprintf(val, sizeof(val), "%.7g", v->value);
		printf("%-28s %12s %-6s  FC%02u %u (0x%04X)\n", pt->name, val, pt->unit, pt->fc,
		       pt->addr, pt->addr);
	}
	*is_first = false;
}

/* Read each of the profile's poll blocks once, decode every point, print them. */
static int run_profile(const struct rd_opts *o, struct tool_conn *c, const struct prof_profile *p)
{
	struct prof_value *values = calloc(p->n_points ? p->n_points : 1, sizeof(*values));
	uint8_t unit = o->co.has_unit || !p->unit_id ? o->co.unit : p->unit_id;
	enum mb_order order = o->co.has_order ? o->co.order : p->default_order;
	int ret = TOOL_EXIT_OK, nerr = 0;
	bool is_first = true;

	if (!values) {
		perror("flux " CMD);
		return TOOL_EXIT_CONN;
	}
	for (unsigned b = 0; b < p->n_blocks; b++) {
		struct mb_req req = { .unit = unit,
				      .fc = p->blocks[b].fc,
				      .addr = p->blocks[b].start,
				      .qty = p->blocks[b].count };
		uint16_t regs[MB_MAX_READ_REGS];
		struct mb_rsp rsp;
		int err = tool_xfer(c, &req, &rsp, o->co.retries);

		if (!err)
			mb_regs_from_wire(regs, rsp.data, req.qty);
		else if (o->fmt == OUT_TEXT)
			tool_report(stderr, CMD, c, &req, err, 0);
		if (err) {
			nerr++;
			if (ret == TOOL_EXIT_OK || tool_exit_code(err) == TOOL_EXIT_CONN)
				ret = tool_exit_code(err);
		}
		prof_decode_block(p, b, order, regs, err ? 0 : req.qty, err, values);
	}
	if (o->fmt == OUT_JSON) {
		fputs("{\"host\":", stdout);
		txt_json_fputs(stdout, c->name);
		printf(",\"unit\":%u,\"profile\":", unit);
		txt_json_fputs(stdout, p->name);
		printf(",\"reads\":%u,\"errors\":%d,\"points\":[", p->n_blocks, nerr);
	} else {
		printf("%s unit %u: profile %s, %u points in %u read(s)\n", c->name, unit, p->name,
		       p->n_points, p->n_blocks);
	}
	for (unsigned i = 0; i < p->n_points; i++)
		print_point(o, &p->points[i], &values[i], &is_first);
	if (o->fmt == OUT_JSON)
		fputs("]}\n", stdout);
	free(values);
	return ret;
}

int cmd_read_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct tool_conn c;
	struct rd_opts o;
	struct hist *rtt;
	int ret;

	ret = parse(&o, argc, argv);
	if (ret)
		return ret < 0 ? TOOL_EXIT_OK : ret;
	ret = tool_conn_setup(&c, CMD, &o.co, o.host);
	if (ret)
		return ret;
	rtt = malloc(sizeof(*rtt));
	if (!rtt) {
		perror("flux " CMD);
		return TOOL_EXIT_CONN;
	}
	hist_reset(rtt);
	if (o.profile) {
		struct prof_profile *p = tool_load_profile(CMD, o.profile);

		ret = p ? run_profile(&o, &c, p) : TOOL_EXIT_USAGE;
		prof_free(p);
		tool_conn_close(&c);
		free(rtt);
		return ret;
	}
	rd_stop = 0;
	sigemptyset(&sa.sa_mask); /* no SA_RESTART: SIGINT ends a wait at once */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	ret = run(&o, &c, rtt);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	tool_conn_close(&c);
	free(rtt);
	return ret;
}
