/* SPDX-License-Identifier: MIT */
/*
 * The fail-safe that does not need fluxd alive: `fluxd --failsafe -c FILE` writes 0 kW to
 * every BESS of the config whose command source (2010) holds our id, and to no other. The
 * unit runs it as ExecStopPost= after any end of fluxd (crash and SIGKILL included); an
 * operator may run it by hand. Plain non-blocking TCP sockets, one poll() loop, the project's
 * codec; not RT code (it allocates, prints and waits in poll()).
 */
#ifndef FLUX_CONTROL_FAILSAFE_H
#define FLUX_CONTROL_FAILSAFE_H

#include <stdio.h>

#include "control/config.h"

/* ---- constants ---------------------------------------------------------------------- */

#define FS_TIMEOUT_MIN_NS (200 * 1000 * 1000LL) /* a request waits at least this long */
#define FS_RETRY_PAUSE_NS (100 * 1000 * 1000LL) /* most a failed attempt waits before the next */

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Not RT: run by the unit's ExecStopPost= after any end of fluxd (crash and SIGKILL
 * included) and by hand. For each BESS of cfg: connect (bounded by the BESS's modbus
 * timeout, at least FS_TIMEOUT_MIN_NS), read 2010 (FC03); if it holds cb->command_source_id,
 * write 2008 := 0 (FC06), check the echo and read 2008 back; otherwise leave it alone
 * (another master holds it). A failure (no connection, timeout, a wrong TID/unit/function,
 * a bad frame, an exception) uses one of the BESS's retry_count attempts; the next one starts
 * again at the read of 2010, after min(retry_backoff, FS_RETRY_PAUSE_NS), on a new connection
 * unless the failure was a well-formed exception reply. All BESS are handled concurrently,
 * each within retry_count x timeout of its start, so the run takes about the largest of
 * those whatever the devices do (a site with more BESS than free file descriptors is
 * handled in waves). One line per BESS on out as each ends ("bess-1: 0 kW acknowledged",
 * "bess-2: command source held by id 7: not ours, left alone", "bess-3: no answer
 * (connection refused, 3 attempts): state unknown"), then one summary line. Returns 0 if
 * every BESS that holds our id acknowledged 0 kW and none is unknown, 1 otherwise (also when
 * the sockets or memory cannot be had, said on out).
 */
int fs_run(const struct cfg *cfg, FILE *out);

#endif /* FLUX_CONTROL_FAILSAFE_H */
