// SPDX-License-Identifier: MIT
/*
 * `flux scan`: mbscan's job. Parses targets, ports and units, refuses more than a /16 without
 * --yes, runs tools/scan.c and prints each finding as it is made, then a summary line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tools/scan.h"
#include "tools/tool.h"
#include "rt/clock.h"

#define CMD		 "scan"
#define SCAN_LIMIT	 65536ULL /* a /16: more needs --yes */
#define SCAN_MAX_TARGETS 256

static volatile sig_atomic_t scan_stop;

static void on_signal(int sig)
{
	(void)sig;
	scan_stop = 1;
}

enum { OPT_UNITS = 256, OPT_CONCURRENCY, OPT_YES };

static const struct option options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "units", required_argument, NULL, OPT_UNITS },
	{ "timeout", required_argument, NULL, 'o' },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "yes", no_argument, NULL, OPT_YES },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

struct sc_out {
	bool is_verbose;
};

static void usage(FILE *f)
{
	fputs("usage: flux scan [-p PORT[,PORT...]] [--units A-B] [-o TIMEOUT] [--concurrency N]\n"
	      "                 [--yes] [-v] TARGET...\n"
	      "Find Modbus TCP units (mbscan's job). TARGET: an address (10.0.0.5), a range\n"
	      "(10.0.0.1-20 or 10.0.0.1-10.0.1.9) or a CIDR block (10.0.0.0/24: network and\n"
	      "broadcast addresses left out). Connects to every address x port in parallel\n"
	      "(io_uring); on each open port probes unit ids one at a time with a harmless FC03\n"
	      "read of 1 register at 0. Registers or an exception: present. Silence, or gateway\n"
	      "exception 0x0A/0x0B: absent. A silent port costs units x TIMEOUT: narrow --units.\n"
	      "  -p PORTS        comma-separated TCP ports (502)\n"
	      "  --units A-B     unit ids to probe, 0..255 (1-247); one number for one unit\n"
	      "  -o TIMEOUT      connect and per-probe timeout: 200ms, 1s; bare = seconds (500ms)\n"
	      "  --concurrency N connections at once (256, at most 4096 and the fd limit)\n"
	      "  --yes           allow more than 65536 addresses (a /16)\n"
	      "  -v              also list refused and silent addresses\n"
	      "Output: ADDRESS:PORT unit U: registers [0]=V | exception 0xNN NAME | bad reply,\n"
	      "with the probe's RTT; open ports where no unit answered; then a summary.\n"
	      "Exit: 0 scan done, 2 usage, 3 the scan could not run.\n"
	      "example: flux scan -p 502 192.168.1.0/24\n",
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

static void print_result(void *arg, const struct scan_result *r)
{
	const struct sc_out *out = arg;
	char ip[INET_ADDRSTRLEN], rx[3 * 16 + 1], tx[3 * 12 + 1];
	struct in_addr a = { .s_addr = htonl(r->addr) };
	unsigned code;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	switch (r->kind) {
	case SCAN_UNIT:
		printf("%s:%u unit %u: registers [0]=%u (0x%04X)  %.3f ms\n", ip, r->port, r->unit,
		       r->value, r->value, clk_ns_to_ms(r->rtt_ns));
		break;
	case SCAN_UNIT_EXC:
		code = (unsigned)(-r->err - MB_EXC_BASE);
		printf("%s:%u unit %u: exception 0x%02X %s  %.3f ms\n", ip, r->port, r->unit, code,
		       mb_exception_name(code), clk_ns_to_ms(r->rtt_ns));
		break;
	case SCAN_BAD_REPLY:
		tool_hex(tx, sizeof(tx), r->tx, sizeof(r->tx));
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

int cmd_scan_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct scan_cfg cfg = {
		.unit_first = 1, .unit_last = 247, .timeout_ns = 500 * 1000000LL, .concurrency = 256
	};
	struct scan_range *ranges = NULL;
	uint16_t ports[SCAN_MAX_PORTS] = { 502 };
	struct sc_out out = { 0 };
	struct scan_stats st;
	struct rlimit rl;
	unsigned nports = 1;
	bool is_yes = false;
	uint64_t total;
	unsigned long v;
	int c, ret;

	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "hp:o:v", options, NULL)) != -1) {
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
			break;
		case 'o':
			if (tool_parse_duration(CMD, "-o", optarg, CLK_NS_PER_SEC, 1000000,
						60 * CLK_NS_PER_SEC, &cfg.timeout_ns))
				return TOOL_EXIT_USAGE;
			break;
		case OPT_CONCURRENCY:
			if (tool_parse_ulong(CMD, "--concurrency", optarg, 1, SCAN_MAX_CONCURRENCY,
					     &v))
				return TOOL_EXIT_USAGE;
			cfg.concurrency = (unsigned)v;
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
	if (optind >= argc)
		return bad_usage("at least one TARGET is required");
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
	printf("flux " CMD ": %llu address(es) x %u port(s) in %.3f s%s: %llu open, %llu unit(s), "
	       "%llu bad repl%s, %llu refused, %llu no answer, %llu error(s)\n",
	       (unsigned long long)total, nports, (double)st.elapsed_ns / 1e9,
	       st.is_interrupted ? " (interrupted)" : "", (unsigned long long)st.open,
	       (unsigned long long)st.units, (unsigned long long)st.bad_replies,
	       st.bad_replies == 1 ? "y" : "ies", (unsigned long long)st.refused,
	       (unsigned long long)st.no_answer, (unsigned long long)st.conn_err);
	ret = TOOL_EXIT_OK;
out_ranges:
	free(ranges);
	return ret;
}
