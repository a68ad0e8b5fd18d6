// SPDX-License-Identifier: MIT
/*
 * `flux write`: modpoll's write job. FC06 for one 16-bit value, FC16 for several or for a
 * 32-bit type, FC05/FC0F for coils (--fc), negative values for signed types. The codec
 * verifies the echo of every write response; a reply that does not echo exactly is an error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/tool.h"
#include "rt/clock.h"

#define CMD	      "write"
#define WR_MAX_VALUES MB_MAX_WRITE_BITS

enum { OPT_FC = TOOL_OPT_OWN };

static const struct option options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "unit", required_argument, NULL, 'a' },
	{ "address", required_argument, NULL, 'r' },
	{ "type", required_argument, NULL, 't' },
	{ "order", required_argument, NULL, TOOL_OPT_ORDER },
	{ "fc", required_argument, NULL, OPT_FC },
	{ "timeout", required_argument, NULL, 'o' },
	{ "retries", required_argument, NULL, TOOL_OPT_RETRIES },
	{ "one-based", no_argument, NULL, TOOL_OPT_ONE_BASED },
	{ "mode", required_argument, NULL, 'm' },
	TOOL_LINE_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

struct wr_opts {
	const char *host;
	struct tool_common co; /* -p -a -r -t --order -o --retries --one-based */
	uint8_t fc;	       /* 0: chosen from type and count */
	uint16_t addr;
	char **values;
	unsigned nvalues;
};

static void usage(FILE *f)
{
	fputs("usage: flux write [-p PORT] [-a UNIT] -r ADDR [-t u16|i16|u32|i32|f32|hex]\n"
	      "                  [--order abcd|cdab|badc|dcba] [--fc 6|16|5|15] [-o TIMEOUT]\n"
	      "                  [--retries N] [--one-based] HOST VALUE...\n"
	      "       flux write -m rtu --device PATH [-b BAUD] [--parity none|even|odd]\n"
	      "                  [-d 7|8] [-s 1|2] [the options above but -p] [--] VALUE...\n"
	      "       flux write -m rtutcp [options] HOST VALUE...   (RTU frames over TCP)\n"
	      "Write VALUEs from PDU address ADDR on, verify the echo (modpoll's write job).\n"
	      "Options come before HOST: every word after HOST is a VALUE (so -50 is a value);\n"
	      "with -m rtu there is no HOST: put -- before a negative first VALUE.\n"
	      "  -m MODE         tcp (default), rtu (a serial line), rtutcp (RTU over TCP)\n"
	      "  --device PATH   the serial line's tty, /dev/ttyUSB0 (implies -m rtu)\n"
	      "  -b BAUD         1200..115200 or higher standard rates (9600)\n"
	      "  --parity P      none (default), even, odd\n"
	      "  -d 7|8          data bits (8);  -s 1|2  stop bits (1)\n"
	      "  -p PORT         TCP port (502)\n"
	      "  -a UNIT         unit id 0..255 (1); on RTU 0..247, 0 a broadcast: every unit\n"
	      "                  acts on it, none answers; the tool waits the 100 ms turnaround\n"
	      "  -r ADDR         first PDU address 0..65535 (the seed's target power is 2008)\n"
	      "  -t TYPE         u16 i16 u32 i32 f32 hex; default: -32768..65535, a negative\n"
	      "                  value written as a 16-bit two's complement (i16)\n"
	      "  --order O       word order of 32-bit types: abcd (default) cdab badc dcba\n"
	      "  --fc 6|16|5|15  force a function: 6 one register, 16 registers, 5 one coil,\n"
	      "                  15 coils (coil VALUEs: 0, 1, on, off). Default: 6 for one\n"
	      "                  16-bit value, 16 for several or for a 32-bit type\n"
	      "  -o TIMEOUT      per request and for the connect: 500ms, 2s; bare = seconds (1s)\n"
	      "  --retries N     more attempts after a timeout or a lost connection (0)\n"
	      "  --one-based     ADDR is a 1-based reference as modpoll's -r\n"
	      "Exit: 0 ok, 1 Modbus exception or protocol error, 2 usage, 3 connection/timeout.\n"
	      "example: flux write -a 1 -r 2010 192.168.1.100 3     (claim command source)\n"
	      "         flux write -a 1 -r 2008 192.168.1.100 -50   (charge at 50 kW)\n",
	      f);
}

static int bad_usage(const char *msg)
{
	tool_usage_error(CMD, msg);
	return TOOL_EXIT_USAGE;
}

static int parse(struct wr_opts *o, int argc, char **argv)
{
	unsigned long v;
	int c, r;

	*o = (struct wr_opts){ .fc = 0 };
	tool_common_init(&o->co);
	optind = 0;
	opterr = 1;
	/* "+": stop at HOST, so that negative VALUEs are not taken for options. */
	while ((c = getopt_long(argc, argv, "+hp:a:r:t:o:m:b:d:s:", options, NULL)) != -1) {
		r = tool_common_opt(CMD, &o->co, c, optarg);
		if (r < 0)
			return TOOL_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'h':
			usage(stdout);
			return -1;
		case OPT_FC:
			if (tool_parse_ulong(CMD, "--fc", optarg, 5, 16, &v) ||
			    (v != 5 && v != 6 && v != 15 && v != 16))
				return bad_usage("--fc: want 5, 6, 15 or 16");
			o->fc = (uint8_t)v;
			break;
		default:
			return bad_usage("unknown option");
		}
	}
	if (tool_common_addr(CMD, &o->co, &o->addr))
		return TOOL_EXIT_USAGE;
	/* On a serial line (-m rtu, or --device alone) every word after the options is a VALUE. */
	if (o->co.has_framing ? o->co.framing != TOOL_FRAMING_RTU : !o->co.device) {
		if (optind >= argc)
			return bad_usage("HOST is required");
		o->host = argv[optind++];
	}
	if (tool_common_transport(CMD, &o->co, o->host))
		return TOOL_EXIT_USAGE;
	if (optind >= argc)
		return bad_usage("at least one VALUE is required");
	o->values = argv + optind;
	o->nvalues = (unsigned)(argc - optind);
	return 0;
}

/* One VALUE of type t (has_type false: the default -32768..65535) into regs. */
static int parse_value(const struct wr_opts *o, const char *s, uint16_t *regs)
{
	char *end;
	long long v = 0;
	double d = 0;

	errno = 0;
	if (o->co.type == TOOL_F32) {
		d = strtod(s, &end);
	} else if (o->co.type == TOOL_HEX) {
		v = strtoll(s, &end, 16);
		if (s[0] == '-')
			return -EINVAL;
	} else {
		v = strtoll(s, &end, 0);
	}
	if (end == s || *end || errno)
		return -EINVAL;
	switch (o->co.type) {
	case TOOL_U16:
		if (v < (o->co.has_type ? 0 : -32768) || v > 65535)
			return -ERANGE;
		regs[0] = (uint16_t)v;
		return 1;
	case TOOL_HEX:
		if (v > 0xFFFF)
			return -ERANGE;
		regs[0] = (uint16_t)v;
		return 1;
	case TOOL_I16:
		if (v < -32768 || v > 32767)
			return -ERANGE;
		regs[0] = mb_from_i16((int16_t)v);
		return 1;
	case TOOL_U32:
		if (v < 0 || v > 0xFFFFFFFFLL)
			return -ERANGE;
		mb_set_u32(regs, (uint32_t)v, o->co.order);
		return 2;
	case TOOL_I32:
		if (v < INT32_MIN || v > INT32_MAX)
			return -ERANGE;
		mb_set_i32(regs, (int32_t)v, o->co.order);
		return 2;
	case TOOL_F32:
		if (!isfinite(d) || fabs(d) > 3.4028234663852886e38)
			return -ERANGE;
		mb_set_f32(regs, (float)d, o->co.order);
		return 2;
	}
	return -EINVAL;
}

static int parse_coil(const char *s)
{
	if (strcmp(s, "1") == 0 || strcasecmp(s, "on") == 0)
		return 1;
	if (strcmp(s, "0") == 0 || strcasecmp(s, "off") == 0)
		return 0;
	return -EINVAL;
}

/* Build the request from the VALUEs. payload holds FC0F/FC10 data. Returns 0 or an exit code. */
static int build(struct wr_opts *o, struct mb_req *req, uint8_t *payload, uint16_t *regs,
		 unsigned *nregs)
{
	bool is_coil = o->fc == MB_FC_WRITE_SINGLE_COIL || o->fc == MB_FC_WRITE_MULTIPLE_COILS;
	unsigned n = 0;
	char msg[160];

	if (o->nvalues > WR_MAX_VALUES)
		return bad_usage("too many VALUEs");
	if (is_coil) {
		if (o->co.has_type)
			return bad_usage("-t applies to registers, not to coils (--fc 5|15)");
		if (o->fc == MB_FC_WRITE_SINGLE_COIL && o->nvalues != 1)
			return bad_usage("--fc 5 writes one coil: give one VALUE (or --fc 15)");
		if (o->nvalues > MB_MAX_WRITE_BITS)
			return bad_usage("--fc 15: at most 1968 coils");
		memset(payload, 0, (MB_MAX_WRITE_BITS + 7) / 8);
		for (unsigned i = 0; i < o->nvalues; i++) {
			int b = parse_coil(o->values[i]);

			if (b < 0) {
				snprintf(msg, sizeof(msg), "coil VALUE '%s': want 0, 1, on or off",
					 o->values[i]);
				return bad_usage(msg);
			}
			mb_set_bit(payload, i, b);
			regs[i] = (uint16_t)b;
		}
		n = o->nvalues;
	} else {
		for (unsigned i = 0; i < o->nvalues; i++) {
			int k;

			if (n + tool_type_regs(o->co.type) > MB_MAX_WRITE_REGS)
				return bad_usage("at most 123 registers per write");
			k = parse_value(o, o->values[i], regs + n);
			if (k < 0) {
				snprintf(msg, sizeof(msg), "VALUE '%s': %s %s", o->values[i],
					 k == -ERANGE ? "out of range for" : "not a number of type",
					 o->co.has_type ? tool_type_name(o->co.type)
							: "u16 (or negative i16)");
				return bad_usage(msg);
			}
			n += (unsigned)k;
		}
		if (!o->fc)
			o->fc =
			    n == 1 ? MB_FC_WRITE_SINGLE_REGISTER : MB_FC_WRITE_MULTIPLE_REGISTERS;
		if (o->fc == MB_FC_WRITE_SINGLE_REGISTER && n != 1)
			return bad_usage("--fc 6 writes one 16-bit register: give one 16-bit VALUE "
					 "(or --fc 16)");
		mb_regs_to_wire(payload, regs, n);
	}
	if ((uint32_t)o->addr + n > 0x10000)
		return bad_usage("-r: the write would run past address 65535");
	*req =
	    (struct mb_req){ .unit = o->co.unit, .fc = o->fc, .addr = o->addr, .qty = (uint16_t)n };
	if (o->fc == MB_FC_WRITE_SINGLE_COIL)
		req->value = regs[0] ? MB_COIL_ON : MB_COIL_OFF;
	else if (o->fc == MB_FC_WRITE_SINGLE_REGISTER)
		req->value = regs[0];
	else {
		req->byte_count = (uint8_t)mb_payload_size(o->fc, req->qty);
		req->data = payload;
	}
	*nregs = n;
	return 0;
}

int cmd_write_main(int argc, char **argv)
{
	uint8_t payload[2 * MB_MAX_WRITE_REGS + (MB_MAX_WRITE_BITS + 7) / 8];
	uint16_t regs[WR_MAX_VALUES + 1];
	struct tool_conn c;
	struct mb_req req;
	struct mb_rsp rsp;
	struct wr_opts o;
	unsigned n;
	int ret, err;

	ret = parse(&o, argc, argv);
	if (ret)
		return ret < 0 ? TOOL_EXIT_OK : ret;
	ret = build(&o, &req, payload, regs, &n);
	if (ret)
		return ret;
	ret = tool_conn_setup(&c, CMD, &o.co, o.host);
	if (ret)
		return ret;
	err = tool_xfer(&c, &req, &rsp, o.co.retries);
	if (err) {
		ret = tool_report(stderr, CMD, &c, &req, err, o.co.base);
		goto out_conn;
	}
	printf("flux " CMD ": %s unit %u: %s %u %s at %u (function 0x%02X):", c.name, o.co.unit,
	       c.was_broadcast ? "broadcast" : "wrote", n,
	       o.fc == MB_FC_WRITE_SINGLE_COIL || o.fc == MB_FC_WRITE_MULTIPLE_COILS
		   ? (n == 1 ? "coil" : "coils")
		   : (n == 1 ? "register" : "registers"),
	       o.addr + o.co.base, o.fc);
	for (unsigned i = 0; i < o.nvalues && i < 16; i++)
		printf(" %s", o.values[i]);
	if (c.was_broadcast)
		printf("%s; no reply expected (unit 0: every unit acts, none answers), waited the "
		       "%d ms turnaround\n",
		       o.nvalues > 16 ? " ..." : "", MB_RTU_TURNAROUND_NS / 1000000);
	else
		printf("%s; echo verified (%.3f ms)\n", o.nvalues > 16 ? " ..." : "",
		       clk_ns_to_ms(c.rtt_ns));
	ret = TOOL_EXIT_OK;
out_conn:
	tool_conn_close(&c);
	return ret;
}
