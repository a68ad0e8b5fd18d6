/* SPDX-License-Identifier: MIT */
/*
 * The operator's Modbus tools behind `flux read`, `flux write` and `flux scan` (modpoll's and
 * mbscan's jobs), built on the codec (io/modbus.h). Each main takes argv[0] = its command name
 * and returns the exit code: 0 success, 1 Modbus exception or protocol error, 2 usage error,
 * 3 connection or timeout error. Not RT code: they print, allocate and block.
 */
#ifndef FLUX_IO_TOOLS_H
#define FLUX_IO_TOOLS_H

#define TOOL_EXIT_OK	0
#define TOOL_EXIT_PROTO 1 /* Modbus exception, malformed or mismatched reply */
#define TOOL_EXIT_USAGE 2
#define TOOL_EXIT_CONN	3 /* connect failed, connection lost, no reply in time */

/* `flux read`: read coils, inputs or registers once or polling. Blocks; main thread only. */
int rd_main(int argc, char **argv);

/* `flux write`: write registers (FC06/FC16) or coils (FC05/FC0F), echo verified. */
int wr_main(int argc, char **argv);

/* `flux scan`: find Modbus TCP units on addresses, ranges and CIDR blocks (io/scan.h). */
int scan_main(int argc, char **argv);

#endif /* FLUX_IO_TOOLS_H */
