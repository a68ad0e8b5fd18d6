/* SPDX-License-Identifier: MIT */
/*
 * Test support: a child process with its stdout and stderr on a pipe, the built flux and
 * fluxd programs, and a simulated site (flux sim plus its site config). Every wait is bounded, so a
 * bug fails a test instead of hanging it.
 */
#ifndef FLUX_TESTS_SUPPORT_PROC_H
#define FLUX_TESTS_SUPPORT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tests/support/net.h"

/* ---- a child process ----------------------------------------------------------------- */

struct th_proc {
	pid_t pid;
	int out_fd; /* the child's stdout and stderr */
	char out[8192];
	size_t out_len;
};

/* Start argv[0] (a path) with stdout+stderr on a pipe. Returns 0 or -errno. */
int th_spawn(struct th_proc *p, char *const argv[]);

/* Read the child's output until `needle` appears in it or timeout_ms. Returns true if found. */
bool th_wait_output(struct th_proc *p, const char *needle, int timeout_ms);

/* Wait for the child to exit within timeout_ms (then kill it). Returns its exit status, 128 +
 * signal when killed by one, or -ETIMEDOUT. */
int th_wait_exit(struct th_proc *p, int timeout_ms);

/* Path of bin/flux in the build tree of this test binary (BUILD/tests/devices/test_x). */
int th_flux_path(char *buf, size_t cap);

/*
 * build/bin/flux and build/bin/fluxd beside it, into buffers of len bytes each. Returns 0, or
 * 77 (the skip exit code) after printing which one is not built.
 */
int th_find_programs(char *flux, char *fluxd, size_t len);

/* The port printed for `what` ("powerpack unit 1") in `flux sim` output, or -ENOENT. */
int th_printed_port(const char *out, const char *what);

/*
 * Start `flux` sim (a PowerPack at SOE 60 %, unit 1; an Acuvim II, unit 2; free ports) for
 * duration_s, and write a site config for it to cfg_path: manual 50 kW, cycle_ms, unpinned.
 * Returns the PowerPack's port, or -1 (the sim may be running: th_wait_exit() it).
 */
int th_start_site(char *flux, struct th_proc *sim, const char *cfg_path, int cycle_ms,
		  int duration_s);

#endif /* FLUX_TESTS_SUPPORT_PROC_H */
