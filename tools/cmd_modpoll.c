// SPDX-License-Identifier: MIT
/*
 * `flux modpoll` and `flux mbpoll`: the options, 1-based references and output of proconX
 * modpoll 3.x and of mbpoll 1.4, on Flux's codec and the client of tools/tool.h. One parser
 * and one poll loop serve both; a flavour says which tool's defaults, flags and texts apply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/tool.h"
#include "rt/clock.h"

#define MP_MAX_UNITS 256

enum mp_flavour { MP_MODPOLL, MP_MBPOLL };
enum mp_fmt { MP_DEC, MP_HEX, MP_INT, MP_FLOAT };

struct mp_opts {
	enum mp_flavour fl;
	const char *cmd;  /* "modpoll" or "mbpoll" */
	const char *host; /* or the serial port */
	uint16_t port;
	enum tool_framing framing; /* -m tcp|rtu|enc (modpoll), tcp|rtu (mbpoll) */
	bool has_mode;
	const char *p_arg; /* modpoll's -p: a TCP port, or the parity on a serial line */
	struct ser_line line;
	bool has_line; /* -b -d -s (or a parity) given */
	uint8_t units[MP_MAX_UNITS];
	unsigned nunits;
	unsigned long ref; /* as given: 1-based, or 0-based with -0 */
	unsigned base;	   /* 1, or 0 with -0 */
	uint16_t addr;	   /* PDU address */
	unsigned table;	   /* -t: 0 coils, 1 inputs, 3 input registers, 4 holding */
	enum mp_fmt fmt;
	enum mb_order int_order, float_order;
	unsigned count;
	bool is_once;
	int64_t poll_ns, timeout_ns;
	char **values;
	unsigned nvalues;
};

static volatile sig_atomic_t mp_stop;

static void on_signal(int sig)
{
	(void)sig;
	mp_stop = 1;
}

static void usage(FILE *f, enum mp_flavour fl)
{
	if (fl == MP_MODPOLL)
		fputs("usage: flux modpoll [options] SERIALPORT|HOST [writevalues...]\n"
		      "proconX modpoll 3.x's options and numbering on Flux's codec.\n"
		      "  -m tcp        MODBUS/TCP (default, unless SERIALPORT has a '/')\n"
		      "  -m rtu        Modbus RTU on SERIALPORT (/dev/ttyUSB0)\n"
		      "  -m enc        Modbus RTU frames over TCP (encapsulated) to HOST\n"
		      "  -a #          slave address 0..255 (1)\n"
		      "  -r #          start reference, 1-BASED as modpoll's: -r 2026 is PDU\n"
		      "                address 2025, -r 2008 writes PDU 2007 (1 is default)\n"
		      "  -c #          number of values (1..125, 1)\n"
		      "  -t 0|1|3|4    coils, discrete inputs, input, holding registers (4)\n"
		      "  -t 3:hex|3:int|3:float|4:hex|4:int|4:float  display and 32-bit types\n"
		      "  -i            32-bit integers big-endian word order (default: low word "
		      "first)\n"
		      "  -f            32-bit floats big-endian word order (default: low word "
		      "first)\n"
		      "  -0            first reference is 0 (PDU addressing)\n"
		      "  -1            poll once; otherwise poll every -l until Ctrl-C\n"
		      "  -l #          poll rate in ms (1000)\n"
		      "  -o #          time-out in seconds (1.0)\n"
		      "  -p #          TCP port (502), with -m tcp and -m enc\n"
		      "Serial line (-m rtu):\n"
		      "  -b #          baud rate (19200)\n"
		      "  -d 7|8        data bits (8)\n"
		      "  -s 1|2        stop bits (1)\n"
		      "  -p none|even|odd  parity (even)\n"
		      "  -a 0          broadcast: writevalues only, no reply, 100 ms turnaround\n"
		      "writevalues: written from the reference on (FC06 one register, FC16 several "
		      "or\n"
		      "32-bit; FC05/FC15 with -t 0). flux read/write are PDU-addressed instead.\n"
		      "Exit: 0 ok, 1 Modbus exception or protocol error, 2 usage, 3 connection.\n",
		      f);
	else
		fputs("usage: flux mbpoll [options] DEVICE|HOST [writevalues...] [options]\n"
		      "mbpoll 1.4's options and numbering on Flux's codec.\n"
		      "  -m tcp|rtu    protocol (tcp); rtu: Modbus RTU on DEVICE (/dev/ttyUSB0)\n"
		      "  -b #          RTU baud rate (19200)\n"
		      "  -d 7|8        RTU data bits (8)\n"
		      "  -s 1|2        RTU stop bits (1)\n"
		      "  -P none|even|odd  RTU parity (even)\n"
		      "  -a #          slave address(es) 0..255 (1): a list, -a 1,2,5:7\n"
		      "  -r #          start reference, 1-BASED (-r 2027 is PDU 2026; 1 default)\n"
		      "  -c #          number of values (1..125, 1)\n"
		      "  -t 0|1|3|3:hex|3:int|3:float|4|4:hex|4:int|4:float  data type (4)\n"
		      "  -0            first reference is 0 (PDU addressing)\n"
		      "  -B            big-endian word order for 32-bit (default: little endian)\n"
		      "  -1            poll only once; otherwise every poll rate until Ctrl-C\n"
		      "  -l #          poll rate in ms (> 10, 1000)\n"
		      "  -o #          time-out in seconds (0.01..10.00, 1.00)\n"
		      "  -p #          TCP port (502)\n"
		      "Negative writevalues follow '--' (mbpoll -t4:int HOST -- 123 -1568).\n"
		      "Exit: 0 ok, 1 Modbus exception or protocol error, 2 usage, 3 connection.\n",
		      f);
}

static int bad_usage(const struct mp_opts *o, const char *msg)
{
	tool_usage_error(o->cmd, msg);
	return TOOL_EXIT_USAGE;
}

/* mbpoll's -a list: "1,2,5:7". modpoll takes one address. Returns 0 or an exit code. */
static int parse_units(struct mp_opts *o, const char *arg)
{
	char buf[256], *save = NULL, *tok;
	unsigned long lo, hi;

	if (strlen(arg) >= sizeof(buf))
		return bad_usage(o, "-a: list too long");
	strcpy(buf, arg);
	o->nunits = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		if (colon && o->fl == MP_MODPOLL)
			return bad_usage(o, "-a: modpoll takes one slave address");
		if (colon)
			*colon = '\0';
		if (tool_parse_ulong(o->cmd, "-a", tok, 0, 255, &lo))
			return TOOL_EXIT_USAGE;
		hi = lo;
		if (colon && tool_parse_ulong(o->cmd, "-a", colon + 1, lo, 255, &hi))
			return TOOL_EXIT_USAGE;
		for (unsigned long u = lo; u <= hi; u++) {
			if (o->nunits >= MP_MAX_UNITS)
				return bad_usage(o, "-a: at most 256 addresses");
			o->units[o->nunits++] = (uint8_t)u;
		}
	}
	if (!o->nunits || (o->fl == MP_MODPOLL && o->nunits > 1))
		return bad_usage(o, o->fl == MP_MODPOLL ? "-a: modpoll takes one slave address"
							: "-a: want 1, 1,2 or 1:5");
	return 0;
}

static int parse_type(struct mp_opts *o, const char *arg)
{
	static const char *const fmts[] = {
		[MP_DEC] = "", [MP_HEX] = ":hex", [MP_INT] = ":int", [MP_FLOAT] = ":float"
	};
	const char *want = "-t: want 0, 1, 3, 3:hex, 3:int, 3:float, 4, 4:hex, 4:int or 4:float";

	if (!arg[0] || !strchr("0134", arg[0]))
		return bad_usage(o, want);
	o->table = (unsigned)(arg[0] - '0');
	for (unsigned i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		if (strcmp(arg + 1, fmts[i]) == 0) {
			if (i != MP_DEC && o->table < 3)
				return bad_usage(o, "-t: coils and inputs (0, 1) take no :format");
			o->fmt = (enum mp_fmt)i;
			return 0;
		}
	}
	return bad_usage(o, want);
}

static unsigned value_regs(const struct mp_opts *o)
{
	return o->fmt == MP_INT || o->fmt == MP_FLOAT ? 2 : 1;
}

/* -m against -p, the line options and the units, after the options. 0 or an exit code. */
static int check_transport(struct mp_opts *o)
{
	unsigned long v;
	int r;

	/* modpoll: "-m rtu is the default if SERIALPORT contains a /". */
	if (!o->has_mode && o->fl == MP_MODPOLL && strchr(o->host, '/'))
		o->framing = TOOL_FRAMING_RTU;
	if (o->framing == TOOL_FRAMING_RTU) {
		if (o->p_arg && o->fl == MP_MBPOLL)
			return bad_usage(o, "-p is a TCP port: the RTU parity is -P");
		if (o->p_arg) {
			r = ser_parity_parse(o->p_arg);
			if (r < 0)
				return bad_usage(o, "-p: on a serial line (-m rtu) -p is the "
						    "parity: none, even or odd");
			o->line.parity = (enum ser_parity)r;
		}
		for (unsigned i = 0; i < o->nunits; i++) {
			if (o->units[i] > MB_RTU_UNIT_MAX)
				return bad_usage(o, "-a: RTU slave addresses are 1..247 (0: "
						    "broadcast, writevalues only)");
			if (o->units[i] == MB_UNIT_BROADCAST && !o->nvalues)
				return bad_usage(o, "-a 0 is the RTU broadcast address: writes "
						    "only, nothing answers a read");
		}
		return 0;
	}
	if (o->has_line)
		return bad_usage(o, o->fl == MP_MODPOLL
					? "-b, -d and -s are for a serial line (-m rtu)"
					: "-b, -d, -s and -P are for a serial line (-m rtu)");
	if (o->p_arg) {
		if (tool_parse_ulong(o->cmd, "-p", o->p_arg, 1, 65535, &v))
			return TOOL_EXIT_USAGE;
		o->port = (uint16_t)v;
	}
	if (o->framing == TOOL_FRAMING_RTUTCP)
		for (unsigned i = 0; i < o->nunits; i++)
			if (o->units[i] > MB_RTU_UNIT_MAX)
				return bad_usage(o, "-a: RTU slave addresses are 0..247");
	return 0;
}

/* Returns 0 to go on, an exit code, or -1 after -h. */
static int parse(struct mp_opts *o, int argc, char **argv)
{
	const char *optstr =
	    o->fl == MP_MODPOLL ? "+hm:a:r:c:t:if01l:o:p:b:d:s:" : "hm:a:r:c:t:B01l:o:p:b:d:s:P:";
	unsigned long v;
	int c, r;

	o->port = 502;
	o->nunits = 1;
	o->units[0] = 1;
	o->ref = 1;
	o->base = 1;
	o->table = 4;
	o->count = 1;
	o->int_order = o->float_order = MB_ORDER_CDAB; /* both tools: low word first */
	o->poll_ns = 1000 * 1000000LL;
	o->timeout_ns = CLK_NS_PER_SEC;
	/* Both tools' serial defaults: 19200 baud, even parity, 8 data bits, 1 stop bit. */
	ser_line_init(&o->line);
	o->line.baud = 19200;
	o->line.parity = SER_PARITY_EVEN;
	optind = 0;
	opterr = 0;
	while ((c = getopt(argc, argv, optstr)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout, o->fl);
			return -1;
		case 'm':
			if (strcmp(optarg, "tcp") == 0)
				o->framing = TOOL_FRAMING_TCP;
			else if (strcmp(optarg, "rtu") == 0)
				o->framing = TOOL_FRAMING_RTU;
			else if (strcmp(optarg, "enc") == 0 && o->fl == MP_MODPOLL)
				o->framing = TOOL_FRAMING_RTUTCP;
			else
				return bad_usage(o, o->fl == MP_MODPOLL
							? "-m: want tcp, rtu or enc (RTU over TCP)"
							: "-m: want tcp or rtu");
			o->has_mode = true;
			break;
		case 'b':
			if (tool_parse_ulong(o->cmd, "-b", optarg, 1, 4000000, &v))
				return TOOL_EXIT_USAGE;
			if (!ser_baud_ok((uint32_t)v)) {
				fprintf(stderr,
					"flux %s: -b %s: not a standard baud rate (1200 2400 4800 "
					"9600 19200 38400 57600 115200, or 230400..4000000)\n",
					o->cmd, optarg);
				return TOOL_EXIT_USAGE;
			}
			o->line.baud = (uint32_t)v;
			o->has_line = true;
			break;
		case 'd':
			if (strcmp(optarg, "7") && strcmp(optarg, "8"))
				return bad_usage(o, "-d: data bits are 7 or 8");
			o->line.data_bits = (uint8_t)(optarg[0] - '0');
			o->has_line = true;
			break;
		case 's':
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				return bad_usage(o, "-s: stop bits are 1 or 2");
			o->line.stop_bits = (uint8_t)(optarg[0] - '0');
			o->has_line = true;
			break;
		case 'P':
			r = ser_parity_parse(optarg);
			if (r < 0)
				return bad_usage(o, "-P: parity is none, even or odd");
			o->line.parity = (enum ser_parity)r;
			o->has_line = true;
			break;
		case 'a':
			r = parse_units(o, optarg);
			if (r)
				return r;
			break;
		case 'r':
			if (tool_parse_ulong(o->cmd, "-r", optarg, 0, 65536, &o->ref))
				return TOOL_EXIT_USAGE;
			break;
		case 'c':
			if (tool_parse_ulong(o->cmd, "-c", optarg, 1, MB_MAX_READ_REGS, &v))
				return TOOL_EXIT_USAGE;
			o->count = (unsigned)v;
			break;
		case 't':
			r = parse_type(o, optarg);
			if (r)
				return r;
			break;
		case 'i':
			o->int_order = MB_ORDER_ABCD;
			break;
		case 'f':
			o->float_order = MB_ORDER_ABCD;
			break;
		case 'B':
			o->int_order = o->float_order = MB_ORDER_ABCD;
			break;
		case '0':
			o->base = 0;
			break;
		case '1':
			o->is_once = true;
			break;
		case 'l':
			if (tool_parse_duration(o->cmd, "-l", optarg, 1000000, 10 * 1000000LL,
						24 * 3600 * CLK_NS_PER_SEC, &o->poll_ns))
				return TOOL_EXIT_USAGE;
			break;
		case 'o':
			if (tool_parse_duration(o->cmd, "-o", optarg, CLK_NS_PER_SEC,
						10 * 1000000LL, 10 * CLK_NS_PER_SEC,
						&o->timeout_ns))
				return TOOL_EXIT_USAGE;
			break;
		case 'p':
			o->p_arg = optarg; /* modpoll: a port or a parity, once -m is known */
			break;
		default: {
			char msg[64];

			if (optopt && strchr(optstr, optopt))
				snprintf(msg, sizeof(msg), "option -%c needs a value", optopt);
			else
				snprintf(msg, sizeof(msg), "unknown option -%c",
					 optopt ? optopt : '?');
			return bad_usage(o, msg);
		}
		}
	}
	if (optind >= argc)
		return bad_usage(o, "SERIALPORT or HOST is required");
	o->host = argv[optind++];
	o->values = argv + optind;
	o->nvalues = (unsigned)(argc - optind);
	r = check_transport(o);
	if (r)
		return r;
	if (o->base && o->ref == 0)
		return bad_usage(o, "-r: references start at 1 (or give -0)");
	if (o->ref - o->base > 0xFFFF)
		return bad_usage(o, "-r: beyond the last reference");
	o->addr = (uint16_t)(o->ref - o->base);
	if (o->nvalues && (o->table == 1 || o->table == 3))
		return bad_usage(o, "writevalues: inputs (-t 1, -t 3) are read-only");
	if (o->nvalues && o->nunits > 1)
		return bad_usage(o, "writevalues: write to one slave address");
	if (o->count * value_regs(o) > MB_MAX_READ_REGS)
		return bad_usage(o, "-c: at most 125 registers per read");
	if ((uint32_t)o->addr + (o->nvalues ? o->nvalues : o->count) * value_regs(o) > 0x10000)
		return bad_usage(o, "-r/-c: runs past the last reference");
	return 0;
}

static enum mb_order order_of(const struct mp_opts *o)
{
	return o->fmt == MP_FLOAT ? o->float_order : o->int_order;
}

static const char *table_name(unsigned table)
{
	switch (table) {
	case 0:
		return "discrete output (coil)";
	case 1:
		return "discrete input";
	case 3:
		return "input register";
	default:
		return "output (holding) register";
	}
}

static void print_config(const struct mp_opts *o)
{
	static const char *const types[] = { [MP_DEC] = "16-bit register",
					     [MP_HEX] = "16-bit register",
					     [MP_INT] = "32-bit integer",
					     [MP_FLOAT] = "32-bit float" };
	const char *type = o->table < 3 ? NULL : types[o->fmt];
	const char *order = "";

	if (o->fmt >= MP_INT)
		order = order_of(o) == MB_ORDER_ABCD ? " (big endian)" : " (little endian)";
	printf("%s - Modbus master on the Flux codec (%s options)\n\n", o->cmd,
	       o->fl == MP_MODPOLL ? "modpoll 3.x" : "mbpoll 1.4");
	printf("Protocol configuration: %s\n", o->framing == TOOL_FRAMING_RTU ? "Modbus RTU"
					       : o->framing == TOOL_FRAMING_RTUTCP
						   ? "Encapsulated RTU over TCP"
						   : "Modbus TCP");
	if (o->fl == MP_MODPOLL) {
		printf("Slave configuration...: address = %u, start reference = %lu, count = %u\n",
		       o->units[0], o->ref, o->count);
	} else {
		printf("Slave configuration...: address = [");
		for (unsigned i = 0; i < o->nunits; i++)
			printf(i ? ",%u" : "%u", o->units[i]);
		printf("]\n                        start reference = %lu, count = %u\n", o->ref,
		       o->count);
	}
	if (o->framing == TOOL_FRAMING_RTU)
		printf("Communication.........: %s, %u, %u, %u, %s, t/o %.2f s, poll rate %lld "
		       "ms\n",
		       o->host, o->line.baud, o->line.data_bits, o->line.stop_bits,
		       ser_parity_name(o->line.parity), (double)o->timeout_ns / 1e9,
		       (long long)(o->poll_ns / 1000000));
	else
		printf("Communication.........: %s, port %u, t/o %.2f s, poll rate %lld ms\n",
		       o->host, o->port, (double)o->timeout_ns / 1e9,
		       (long long)(o->poll_ns / 1000000));
	if (type)
		printf("Data type.............: %s%s, %s table\n\n", type, order,
		       table_name(o->table));
	else
		printf("Data type.............: %s\n\n", table_name(o->table));
}

static void print_values(const struct mp_opts *o, const struct mb_rsp *rsp)
{
	const char *sep = o->fl == MP_MBPOLL ? " \t" : " ";
	unsigned ref = o->addr + o->base;

	for (unsigned i = 0; i < o->count; i++) {
		uint16_t regs[2] = { 0, 0 };

		printf("[%u]:%s", ref, sep);
		if (o->table < 3) {
			printf("%d\n", mb_get_bit(rsp->data, i));
			ref++;
			continue;
		}
		mb_regs_from_wire(regs, rsp->data + 2 * i * value_regs(o), value_regs(o));
		switch (o->fmt) {
		case MP_HEX:
			printf("0x%04X\n", regs[0]);
			break;
		case MP_INT:
			printf("%d\n", mb_get_i32(regs, o->int_order));
			break;
		case MP_FLOAT:
			printf("%g\n", (double)mb_get_f32(regs, o->float_order));
			break;
		case MP_DEC:
		default:
			if (o->fl == MP_MBPOLL && (regs[0] & 0x8000))
				printf("%u (%d)\n", regs[0], mb_get_i16(regs[0]));
			else if (o->fl == MP_MODPOLL)
				printf("%d\n", mb_get_i16(regs[0])); /* modpoll shows signed */
			else
				printf("%u\n", regs[0]);
			break;
		}
		ref += value_regs(o);
	}
}

/* The write request from the writevalues. payload holds FC0F/FC10 data. Returns 0 or exit. */
static int build_write(const struct mp_opts *o, struct mb_req *req, uint8_t *payload)
{
	uint16_t regs[MB_MAX_WRITE_REGS + 1];
	unsigned n = 0;
	char msg[160];

	*req = (struct mb_req){ .unit = o->units[0], .addr = o->addr };
	if (o->table == 0) {
		if (o->nvalues > MB_MAX_WRITE_BITS)
			return bad_usage(o, "writevalues: at most 1968 coils");
		memset(payload, 0, (MB_MAX_WRITE_BITS + 7) / 8);
		for (unsigned i = 0; i < o->nvalues; i++) {
			if (strcmp(o->values[i], "0") && strcmp(o->values[i], "1")) {
				snprintf(msg, sizeof(msg), "coil value '%s': want 0 or 1",
					 o->values[i]);
				return bad_usage(o, msg);
			}
			mb_set_bit(payload, i, o->values[i][0] == '1');
		}
		req->qty = (uint16_t)o->nvalues;
		if (o->nvalues == 1) {
			req->fc = MB_FC_WRITE_SINGLE_COIL;
			req->value = o->values[0][0] == '1' ? MB_COIL_ON : MB_COIL_OFF;
		} else {
			req->fc = MB_FC_WRITE_MULTIPLE_COILS;
			req->byte_count = (uint8_t)mb_payload_size(req->fc, req->qty);
			req->data = payload;
		}
		return 0;
	}
	for (unsigned i = 0; i < o->nvalues; i++) {
		const char *s = o->values[i];
		char *end;
		long long v = 0;
		double d = 0;

		if (n + value_regs(o) > MB_MAX_WRITE_REGS)
			return bad_usage(o, "writevalues: at most 123 registers per write");
		errno = 0;
		if (o->fmt == MP_FLOAT)
			d = strtod(s, &end);
		else
			v = strtoll(s, &end, 0);
		if (end == s || *end || errno ||
		    (o->fmt == MP_INT && (v < INT32_MIN || v > INT32_MAX)) ||
		    (o->fmt < MP_INT && (v < -32768 || v > 65535))) {
			snprintf(msg, sizeof(msg), "writevalue '%s': not a %s", s,
				 o->fmt == MP_FLOAT ? "number"
				 : o->fmt == MP_INT ? "32-bit integer"
						    : "16-bit value (-32768..65535)");
			return bad_usage(o, msg);
		}
		if (o->fmt == MP_FLOAT)
			mb_set_f32(regs + n, (float)d, o->float_order);
		else if (o->fmt == MP_INT)
			mb_set_i32(regs + n, (int32_t)v, o->int_order);
		else
			regs[n] = (uint16_t)v;
		n += value_regs(o);
	}
	req->qty = (uint16_t)n;
	if (n == 1) {
		req->fc = MB_FC_WRITE_SINGLE_REGISTER;
		req->value = regs[0];
	} else {
		req->fc = MB_FC_WRITE_MULTIPLE_REGISTERS;
		mb_regs_to_wire(payload, regs, n);
		req->byte_count = (uint8_t)mb_payload_size(req->fc, req->qty);
		req->data = payload;
	}
	return 0;
}

static void print_failure(const struct mp_opts *o, const struct tool_conn *c,
			  const struct mb_req *req, int err, bool is_write)
{
	char what[256];

	tool_describe(what, sizeof(what), c, req, err, o->base);
	fprintf(stderr, "%s %s failed: %s\n", is_write ? "Write" : "Read", table_name(o->table),
		what);
}

static void sleep_until(int64_t deadline_ns)
{
	struct timespec ts = clk_ns_to_ts(deadline_ns);

	while (!mp_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int run_write(const struct mp_opts *o, struct tool_conn *c)
{
	uint8_t payload[2 * MB_MAX_WRITE_REGS + (MB_MAX_WRITE_BITS + 7) / 8];
	struct mb_req req;
	struct mb_rsp rsp;
	int ret, err;

	ret = build_write(o, &req, payload);
	if (ret)
		return ret;
	print_config(o);
	err = tool_xfer(c, &req, &rsp, 0);
	if (err) {
		print_failure(o, c, &req, err, true);
		return tool_exit_code(err);
	}
	if (o->fl == MP_MBPOLL)
		printf("Written %u references.\n", o->nvalues);
	else
		printf("Written %u reference%s.\n", o->nvalues, o->nvalues == 1 ? "" : "s");
	if (c->was_broadcast)
		printf("Broadcast: no reply expected, waited the %d ms turnaround.\n",
		       MB_RTU_TURNAROUND_NS / 1000000);
	return TOOL_EXIT_OK;
}

static int run_poll(const struct mp_opts *o, struct tool_conn *c)
{
	static const uint8_t fcs[] = { [0] = MB_FC_READ_COILS,
				       [1] = MB_FC_READ_DISCRETE_INPUTS,
				       [3] = MB_FC_READ_INPUT_REGISTERS,
				       [4] = MB_FC_READ_HOLDING_REGISTERS };
	struct mb_req req = { .fc = fcs[o->table], .addr = o->addr };
	int64_t next = clk_now_ns();
	unsigned long tx = 0, rx = 0;
	int ret = TOOL_EXIT_OK;

	req.qty = (uint16_t)(o->table < 3 ? o->count : o->count * value_regs(o));
	print_config(o);
	while (!mp_stop) {
		for (unsigned u = 0; u < o->nunits && !mp_stop; u++) {
			struct mb_rsp rsp;
			int err;

			req.unit = o->units[u];
			if (o->fl == MP_MODPOLL)
				printf("-- Polling slave...%s\n",
				       o->is_once ? "" : " (Ctrl-C to stop)");
			else
				printf("-- Polling slave %u...%s\n", req.unit,
				       o->is_once ? "" : " Ctrl-C to stop)");
			fflush(stdout);
			err = tool_xfer(c, &req, &rsp, 0);
			if (err == -EINTR && mp_stop)
				break;
			tx++;
			if (err) {
				print_failure(o, c, &req, err, false);
				ret = tool_exit_code(err);
			} else {
				rx++;
				print_values(o, &rsp);
			}
			fflush(stdout);
		}
		if (o->is_once)
			break;
		next += o->poll_ns;
		if (clk_now_ns() > next)
			next = clk_now_ns();
		sleep_until(next);
	}
	if (o->fl == MP_MBPOLL && o->is_once)
		putchar('\n');
	else if (o->fl == MP_MBPOLL)
		printf("--- %s poll statistics ---\n"
		       "%lu frames transmitted, %lu received, %lu errors, %.1f%% frame loss\n\n"
		       "everything was closed.\nHave a nice day !\n",
		       o->host, tx, rx, tx - rx, tx ? 100.0 * (double)(tx - rx) / (double)tx : 0.0);
	return ret;
}

static int mp_main(enum mp_flavour fl, int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct mp_opts *o;
	struct tool_conn c;
	int ret;

	o = calloc(1, sizeof(*o));
	if (!o) {
		perror("flux");
		return TOOL_EXIT_PROTO;
	}
	o->fl = fl;
	o->cmd = fl == MP_MODPOLL ? "modpoll" : "mbpoll";
	ret = parse(o, argc, argv);
	if (ret) {
		ret = ret < 0 ? TOOL_EXIT_OK : ret;
		goto out_free;
	}
	if (o->framing == TOOL_FRAMING_RTU) {
		if (tool_conn_init_rtu(&c, o->host, &o->line, o->timeout_ns)) {
			fprintf(stderr, "flux %s: SERIALPORT %s: want a tty path\n", o->cmd,
				o->host);
			ret = TOOL_EXIT_USAGE;
			goto out_free;
		}
	} else if (tool_conn_init(&c, o->host, o->port, o->timeout_ns)) {
		fprintf(stderr, "flux %s: HOST %s: want an IPv4 address\n", o->cmd, o->host);
		ret = TOOL_EXIT_USAGE;
		goto out_free;
	} else {
		c.framing = o->framing;
	}
	mp_stop = 0;
	sigemptyset(&sa.sa_mask); /* no SA_RESTART: Ctrl-C ends a wait at once */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	ret = o->nvalues ? run_write(o, &c) : run_poll(o, &c);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	tool_conn_close(&c);
out_free:
	free(o);
	return ret;
}

int cmd_modpoll_main(int argc, char **argv)
{
	return mp_main(MP_MODPOLL, argc, argv);
}

int cmd_mbpoll_main(int argc, char **argv)
{
	return mp_main(MP_MBPOLL, argc, argv);
}
