/* SPDX-License-Identifier: MIT */
/*
 * `fluxd --preflight`: is this machine ready to run the controller in real time? Each check
 * reads /proc and /sys (under a root prefix, so tests can hand it a fake tree), says PASS,
 * WARN or FAIL with what it found, and for WARN and FAIL the fix. Setup code, never RT.
 *
 * Exit codes (pf_exit_code()): 0 every check PASS, 3 WARN but no FAIL, 1 any FAIL.
 */
#ifndef FLUX_CONTROL_PREFLIGHT_H
#define FLUX_CONTROL_PREFLIGHT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "control/config.h"

/* ---- constants ---------------------------------------------------------------------- */

#define PF_CPUS_MAX   1024 /* CPUs a list may name (the kernel's default NR_CPUS range) */
#define PF_MAX_CHECKS 16
#define PF_DETAIL_MAX 256
#define PF_FIX_MAX    384

#define PF_EXIT_PASS 0 /* every check passed */
#define PF_EXIT_FAIL 1 /* at least one FAIL (or the checks could not run) */
#define PF_EXIT_WARN 3 /* WARN, no FAIL: runs, with worse latency than it could have */

enum pf_result { PF_PASS, PF_WARN, PF_FAIL };

/* ---- structs ------------------------------------------------------------------------ */

/* A set of CPU numbers, as the kernel's cpulist format ("0,2-3") names them. */
struct pf_cpus {
	uint64_t bits[PF_CPUS_MAX / 64];
};

/* One check's outcome; owned by the caller's pf_report. */
struct pf_check {
	const char *id; /* stable name, e.g. "preempt_rt" (JSON key, docs, tests) */
	enum pf_result result;
	char detail[PF_DETAIL_MAX]; /* what was found */
	char fix[PF_FIX_MAX];	    /* what to do about it; empty on PASS */
};

/* The whole report; filled by pf_run(). Large-ish (~10 KiB): not for small stacks. */
struct pf_report {
	char kernel[192]; /* uname -r and uname -v, as /proc/sys/kernel says them */
	char online[64];  /* online CPUs, cpulist */
	char rt_cpus[64]; /* the configured RT CPUs, cpulist ("" when none is pinned) */
	unsigned n;
	struct pf_check checks[PF_MAX_CHECKS];
};

/* What to check against. Read by pf_run() only. */
struct pf_opts {
	const char *root;	  /* prefix of /proc and /sys; NULL or "": the running system */
	const struct cfg_rt *rt;  /* the RT threads' CPUs and priorities (NULL: defaults) */
	int (*probe_uring)(void); /* tries io_uring_setup: 0 or -errno; NULL: not tried */
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Setup: run every check into r. Returns the exit code (PF_EXIT_*). Never fails otherwise:
 * an unreadable file is itself a finding. */
int pf_run(struct pf_report *r, const struct pf_opts *o);

/* The exit code r calls for: PF_EXIT_FAIL, PF_EXIT_WARN or PF_EXIT_PASS. */
int pf_exit_code(const struct pf_report *r);

/* Not RT (stdio): the report for people, one line per check and a fix line under each WARN
 * and FAIL, then the totals. */
void pf_print_text(const struct pf_report *r, FILE *f);

/* Not RT (stdio): the report as one JSON object with a trailing newline. */
void pf_print_json(const struct pf_report *r, FILE *f);

/* "PASS", "WARN" or "FAIL". */
const char *pf_result_name(enum pf_result res);

/* Parse a kernel cpulist ("0-3,6", "all" when ncpus > 0) into *out. Returns 0 or -EINVAL. */
int pf_parse_cpulist(const char *s, unsigned ncpus, struct pf_cpus *out);

/* Format *in as a cpulist into buf ("" when empty). Returns the length or -ENOSPC. */
int pf_format_cpulist(const struct pf_cpus *in, char *buf, size_t len);

/* Whether cpu is in the set. */
static inline bool pf_cpus_has(const struct pf_cpus *s, unsigned cpu)
{
	return cpu < PF_CPUS_MAX && (s->bits[cpu / 64] >> (cpu % 64) & 1);
}

/* Setup: create and destroy a small io_uring, as the engine will. Returns 0 or -errno. */
int pf_probe_uring(void);

#endif /* FLUX_CONTROL_PREFLIGHT_H */
