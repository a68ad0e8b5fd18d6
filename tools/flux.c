// SPDX-License-Identifier: MIT
/*
 * flux: the operator's tool. A table of subcommands, each in its own tools/cmd_<name>.c above
 * the library it drives (tools/tools.h); this file only dispatches and prints the usage.
 */
#include <stdio.h>
#include <string.h>

#include "tools/tools.h"

#define EXIT_USAGE 2

struct flux_cmd {
	const char *name;
	int (*main)(int argc, char **argv); /* argv[0] is the command name; returns exit code */
	const char *summary;
};

static const struct flux_cmd cmds[] = {
	{ .name = "sim",
	  .main = cmd_sim_main,
	  .summary = "serve simulated PowerPack and Acuvim II devices on loopback" },
	{ .name = "status",
	  .main = cmd_status_main,
	  .summary = "ask a running fluxd for the site snapshot (Unix socket)" },
	{ .name = "read",
	  .main = cmd_read_main,
	  .summary = "read Modbus registers or coils (TCP, RTU), once or polling (modpoll)" },
	{ .name = "write",
	  .main = cmd_write_main,
	  .summary = "write Modbus registers or coils (TCP, RTU), echo verified (modpoll)" },
	{ .name = "modpoll",
	  .main = cmd_modpoll_main,
	  .summary = "modpoll's options and 1-based references (-r 2026 is PDU 2025)" },
	{ .name = "mbpoll",
	  .main = cmd_mbpoll_main,
	  .summary = "mbpoll's options: -a 1,2 lists, -B, -t 4:float, 1-based -r" },
	{ .name = "scan",
	  .main = cmd_scan_main,
	  .summary = "find Modbus units on addresses, ranges, CIDR blocks, serial lines" },
};

static void usage(FILE *f)
{
	fputs("usage: flux COMMAND [options]\n"
	      "       flux COMMAND --help\n"
	      "commands:\n",
	      f);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].main(argc - 1, argv + 1);
	fprintf(stderr, "flux: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
