/* SPDX-License-Identifier: MIT */
/*
 * The programs above the library: the subcommands of `flux` (tools/flux.c dispatches), one
 * file each, tools/cmd_<name>.c with its main cmd_<name>_main(). Each main takes argv[0] = its
 * command name and returns the exit code: 0 success, 1 Modbus exception, protocol error or
 * failure, 2 usage error, 3 connection or timeout error (fluxd unreachable for `status`).
 * Not RT code: they print, allocate and block.
 */
#ifndef FLUX_TOOLS_TOOLS_H
#define FLUX_TOOLS_TOOLS_H

#define TOOL_EXIT_OK	0
#define TOOL_EXIT_PROTO 1 /* Modbus exception, malformed or mismatched reply */
#define TOOL_EXIT_USAGE 2
#define TOOL_EXIT_CONN	3 /* connect failed, connection lost, no reply in time */

/* `flux read`: read coils, inputs or registers once or polling. Blocks; main thread only. */
int cmd_read_main(int argc, char **argv);

/* `flux write`: write registers (FC06/FC16) or coils (FC05/FC0F), echo verified. */
int cmd_write_main(int argc, char **argv);

/* `flux modpoll`: proconX modpoll 3.x's options and 1-based references (tools/cmd_modpoll.c). */
int cmd_modpoll_main(int argc, char **argv);

/* `flux mbpoll`: mbpoll 1.4's options, -a lists and -B (tools/cmd_modpoll.c). */
int cmd_mbpoll_main(int argc, char **argv);

/* `flux scan`: find Modbus TCP units on addresses, ranges and CIDR blocks (tools/scan.h). */
int cmd_scan_main(int argc, char **argv);

/* `flux sim`: serve simulated PowerPack and Acuvim II devices on loopback (devices/sim.h). */
int cmd_sim_main(int argc, char **argv);

/* `flux status`: ask a running fluxd for the site snapshot over its Unix socket. */
int cmd_status_main(int argc, char **argv);

#endif /* FLUX_TOOLS_TOOLS_H */
