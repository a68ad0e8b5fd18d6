// SPDX-License-Identifier: MIT
/*
 * `fluxd --preflight`: one function per check, each reading /proc and /sys through a root
 * prefix and adding one PASS/WARN/FAIL line with the fix. The one idea: a check never fails
 * to run; what it cannot read is itself the finding, said with the errno.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/preflight.h"
#include "rt/text.h"

#define CAP_SYS_NICE_BIT 23
#define CAP_IPC_LOCK_BIT 14
#define IRQ_LIST_MAX	 10 /* IRQ numbers named in a finding */
#define TEXT_MAX	 4096

/* What every check shares: where to read, and the CPUs that matter. */
struct pf_ctx {
	const char *root;
	struct cfg_rt rt;
	struct pf_cpus online;
	unsigned ncpus;		/* highest online CPU + 1 */
	struct pf_cpus rt_cpus; /* io_cpu and control_cpu, when pinned */
	bool has_rt_cpus;
	char rt_list[64];
	char online_list[64];
};

const char *pf_result_name(enum pf_result res)
{
	return res == PF_PASS ? "PASS" : res == PF_WARN ? "WARN" : "FAIL";
}

/* ---- cpulists ----------------------------------------------------------------------- */

static void cpus_set(struct pf_cpus *s, unsigned cpu)
{
	if (cpu < PF_CPUS_MAX)
		s->bits[cpu / 64] |= 1ull << (cpu % 64);
}

int pf_parse_cpulist(const char *s, unsigned ncpus, struct pf_cpus *out)
{
	const char *p = s;

	memset(out, 0, sizeof(*out));
	while (isspace((unsigned char)*p))
		p++;
	if (!strncmp(p, "all", 3) && (p[3] == '\0' || isspace((unsigned char)p[3]))) {
		if (!ncpus || ncpus > PF_CPUS_MAX)
			return -EINVAL;
		for (unsigned c = 0; c < ncpus; c++)
			cpus_set(out, c);
		return 0;
	}
	while (*p && !isspace((unsigned char)*p)) {
		char *end;
		unsigned long lo, hi;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		lo = strtoul(p, &end, 10);
		hi = lo;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return -EINVAL;
			hi = strtoul(end + 1, &end, 10);
		}
		if (hi < lo || hi >= PF_CPUS_MAX)
			return -EINVAL;
		for (unsigned long c = lo; c <= hi; c++)
			cpus_set(out, (unsigned)c);
		if (*end == ',')
			end++;
		else if (*end && !isspace((unsigned char)*end))
			return -EINVAL;
		p = end;
	}
	return 0;
}

int pf_format_cpulist(const struct pf_cpus *in, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	for (unsigned c = 0; c < PF_CPUS_MAX; c++) {
		unsigned hi = c;
		int n;

		if (!pf_cpus_has(in, c))
			continue;
		while (hi + 1 < PF_CPUS_MAX && pf_cpus_has(in, hi + 1))
			hi++;
		if (hi == c)
			n = snprintf(buf + used, len - used, "%s%u", used ? "," : "", c);
		else
			n = snprintf(buf + used, len - used, "%s%u-%u", used ? "," : "", c, hi);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
		c = hi;
	}
	return (int)used;
}

/* The CPUs of want that are not in have, as a cpulist. */
static void missing_list(const struct pf_cpus *want, const struct pf_cpus *have, char *buf,
			 size_t len)
{
	struct pf_cpus miss = { 0 };

	for (unsigned i = 0; i < PF_CPUS_MAX / 64; i++)
		miss.bits[i] = want->bits[i] & ~have->bits[i];
	pf_format_cpulist(&miss, buf, len);
}

static bool cpus_intersect(const struct pf_cpus *a, const struct pf_cpus *b)
{
	for (unsigned i = 0; i < PF_CPUS_MAX / 64; i++)
		if (a->bits[i] & b->bits[i])
			return true;
	return false;
}

/* ---- reading ------------------------------------------------------------------------ */

static void path_of(const struct pf_ctx *x, const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", x->root, path);
}

/* The first len-1 bytes of root+path, trailing newlines cut. Returns 0 or -errno. */
static int read_text(const struct pf_ctx *x, const char *path, char *buf, size_t len)
{
	char full[PATH_MAX];
	FILE *f;
	size_t n;
	int err = 0;

	path_of(x, path, full, sizeof(full));
	f = fopen(full, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	if (ferror(f))
		err = -EIO;
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return err;
}

static int exists(const struct pf_ctx *x, const char *path)
{
	char full[PATH_MAX];
	struct stat st;

	path_of(x, path, full, sizeof(full));
	return stat(full, &st) ? -errno : 0;
}

/* The value of the last `name=` parameter on the kernel command line into buf; returns 1
 * when present, 0 when absent, -errno when the command line cannot be read. */
static int cmdline_param(const struct pf_ctx *x, const char *name, char *buf, size_t len)
{
	char line[TEXT_MAX], *save = NULL;
	size_t nlen = strlen(name);
	int err, found = 0;

	err = read_text(x, "/proc/cmdline", line, sizeof(line));
	if (err)
		return err;
	for (char *tok = strtok_r(line, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
		if (!strncmp(tok, name, nlen) && tok[nlen] == '=') {
			snprintf(buf, len, "%s", tok + nlen + 1);
			found = 1;
		}
	return found;
}

/* ---- the report --------------------------------------------------------------------- */

static struct pf_check *add(struct pf_report *r, const char *id, enum pf_result res,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct pf_check *add(struct pf_report *r, const char *id, enum pf_result res,
			    const char *fmt, ...)
{
	static struct pf_check spare; /* past PF_MAX_CHECKS: written, never reported */
	struct pf_check *c = r->n < PF_MAX_CHECKS ? &r->checks[r->n++] : &spare;
	va_list ap;

	c->id = id;
	c->result = res;
	c->fix[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return c;
}

static void set_fix(struct pf_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_fix(struct pf_check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof(c->fix), fmt, ap);
	va_end(ap);
}

int pf_exit_code(const struct pf_report *r)
{
	bool has_warn = false;

	for (unsigned i = 0; i < r->n; i++) {
		if (r->checks[i].result == PF_FAIL)
			return PF_EXIT_FAIL;
		has_warn |= r->checks[i].result == PF_WARN;
	}
	return has_warn ? PF_EXIT_WARN : PF_EXIT_PASS;
}

/* ---- the checks --------------------------------------------------------------------- */

static void check_preempt_rt(struct pf_ctx *x, struct pf_report *r)
{
	char rt[16] = "", version[128] = "";
	struct pf_check *c;

	read_text(x, "/proc/sys/kernel/version", version, sizeof(version));
	if (read_text(x, "/sys/kernel/realtime", rt, sizeof(rt)) == 0 && !strcmp(rt, "1")) {
		add(r, "preempt_rt", PF_PASS, "PREEMPT_RT kernel (/sys/kernel/realtime is 1)");
		return;
	}
	if (strstr(version, "PREEMPT_RT")) {
		add(r, "preempt_rt", PF_PASS, "PREEMPT_RT kernel (uname -v: %s)", version);
		return;
	}
	c = add(r, "preempt_rt", PF_FAIL,
		"not a PREEMPT_RT kernel (uname -v: %s; no /sys/kernel/realtime)",
		*version ? version : "unreadable");
	set_fix(c,
		"apt install linux-image-rt-amd64 (arm64: linux-image-rt-arm64), reboot into it; "
		"uname -v then shows PREEMPT_RT");
}

static void check_rt_cpus(struct pf_ctx *x, struct pf_report *r)
{
	struct pf_check *c;
	char off[64];

	if (!x->has_rt_cpus) {
		c = add(r, "rt_cpus", PF_WARN,
			"io_cpu and control_cpu are -1: the RT threads float over every CPU");
		set_fix(c, "pin them in the config, to a CPU you isolate: "
			   "rt: {io_cpu: 1, control_cpu: 1}");
		return;
	}
	missing_list(&x->rt_cpus, &x->online, off, sizeof(off));
	if (*off) {
		c = add(r, "rt_cpus", PF_FAIL, "RT CPU %s not online (online: %s)", off,
			*x->online_list ? x->online_list : "unknown");
		set_fix(c,
			"set rt: io_cpu and control_cpu to online CPUs (the last CPU is a good "
			"choice), or bring CPU %s online",
			off);
		return;
	}
	if (pf_cpus_has(&x->rt_cpus, 0) && x->ncpus > 1) {
		c = add(r, "rt_cpus", PF_WARN,
			"RT CPU 0: it takes the housekeeping (timers, IRQs, RCU) no one else can");
		set_fix(c, "pin the RT threads to another CPU: rt: {io_cpu: %u, control_cpu: %u}",
			x->ncpus - 1, x->ncpus - 1);
		return;
	}
	add(r, "rt_cpus", PF_PASS,
	    "io thread on CPU %d, control thread on CPU %d (online: %u CPUs)", x->rt.io_cpu,
	    x->rt.control_cpu, x->ncpus);
}

static const char cmdline_fix[] =
    "add \"isolcpus=managed_irq,domain,%s nohz_full=%s rcu_nocbs=%s\" to GRUB_CMDLINE_LINUX "
    "in /etc/default/grub, run update-grub, reboot (flux-rt-tune prints the line)";

/* isolcpus, nohz_full or rcu_nocbs covering the RT CPUs. */
static void check_cmdline_cpus(struct pf_ctx *x, struct pf_report *r, const char *id,
			       const char *why)
{
	char val[512], list[512] = "", miss[64];
	struct pf_cpus cpus;
	struct pf_check *c;
	bool has_flags = false, has_domain = false;
	int found;

	if (!x->has_rt_cpus) {
		c = add(r, id, PF_WARN,
			"no RT CPU pinned (rt: io_cpu/control_cpu -1): nothing to %s", why);
		set_fix(c, "pin the RT threads first (rt: {io_cpu: 1, control_cpu: 1})");
		return;
	}
	found = cmdline_param(x, id, val, sizeof(val));
	if (found < 0) {
		c = add(r, id, PF_WARN, "cannot read /proc/cmdline: %s", strerror(-found));
		set_fix(c, cmdline_fix, x->rt_list, x->rt_list, x->rt_list);
		return;
	}
	if (!found) {
		c = add(r, id, PF_WARN, "%s= not on the kernel command line: RT CPU %s not %s", id,
			x->rt_list, why);
		set_fix(c, cmdline_fix, x->rt_list, x->rt_list, x->rt_list);
		return;
	}
	/* isolcpus=[flag,...,]cpulist: flags are words, the list is what starts with a digit. */
	for (char *save = NULL, *tok = strtok_r(val, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (isdigit((unsigned char)*tok) || !strcmp(tok, "all")) {
			strncat(list, list[0] ? "," : "", sizeof(list) - strlen(list) - 1);
			strncat(list, tok, sizeof(list) - strlen(list) - 1);
		} else {
			has_flags = true;
			has_domain |= !strcmp(tok, "domain");
		}
	}
	if (pf_parse_cpulist(list, x->ncpus, &cpus)) {
		c = add(r, id, PF_WARN, "%s=%s: cannot read that CPU list", id, list);
		set_fix(c, cmdline_fix, x->rt_list, x->rt_list, x->rt_list);
		return;
	}
	missing_list(&x->rt_cpus, &cpus, miss, sizeof(miss));
	if (*miss) {
		c = add(r, id, PF_WARN, "%s=%s leaves RT CPU %s out: not %s", id, list, miss, why);
		set_fix(c, cmdline_fix, x->rt_list, x->rt_list, x->rt_list);
		return;
	}
	if (!strcmp(id, "isolcpus") && has_flags && !has_domain) {
		c = add(r, id, PF_WARN,
			"isolcpus=%s without the domain flag: the scheduler still balances tasks "
			"onto RT CPU %s",
			list, x->rt_list);
		set_fix(c, cmdline_fix, x->rt_list, x->rt_list, x->rt_list);
		return;
	}
	add(r, id, PF_PASS, "%s=%s covers RT CPU %s", id, list, x->rt_list);
}

static bool is_running(const struct pf_ctx *x, const char *comm)
{
	char path[PATH_MAX], name[64];
	struct dirent *de;
	bool found = false;
	DIR *d;

	path_of(x, "/proc", path, sizeof(path));
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char rel[300];

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(rel, sizeof(rel), "/proc/%s/comm", de->d_name);
		found = read_text(x, rel, name, sizeof(name)) == 0 && !strcmp(name, comm);
	}
	closedir(d);
	return found;
}

static void check_irq_affinity(struct pf_ctx *x, struct pf_report *r)
{
	char path[PATH_MAX], irqs[IRQ_LIST_MAX * 8] = "";
	unsigned total = 0, bad = 0;
	struct pf_check *c;
	struct dirent *de;
	DIR *d;

	if (!x->has_rt_cpus) {
		c = add(r, "irq_affinity", PF_WARN,
			"no RT CPU pinned: IRQs may interrupt the RT threads anywhere");
		set_fix(c, "pin the RT threads first (rt: {io_cpu: 1, control_cpu: 1})");
		return;
	}
	path_of(x, "/proc/irq", path, sizeof(path));
	d = opendir(path);
	if (!d) {
		c = add(r, "irq_affinity", PF_WARN, "cannot list /proc/irq: %s", strerror(errno));
		set_fix(c, "run the preflight where /proc is the host's");
		return;
	}
	while ((de = readdir(d))) {
		char rel[300], val[256];
		struct pf_cpus aff;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(rel, sizeof(rel), "/proc/irq/%s/smp_affinity_list", de->d_name);
		if (read_text(x, rel, val, sizeof(val)) || pf_parse_cpulist(val, x->ncpus, &aff))
			continue;
		total++;
		if (!cpus_intersect(&aff, &x->rt_cpus))
			continue;
		if (bad++ < IRQ_LIST_MAX) {
			strncat(irqs, bad > 1 ? " " : "", sizeof(irqs) - strlen(irqs) - 1);
			strncat(irqs, de->d_name, sizeof(irqs) - strlen(irqs) - 1);
		}
	}
	closedir(d);
	if (!bad) {
		add(r, "irq_affinity", PF_PASS, "none of %u IRQs may run on RT CPU %s", total,
		    x->rt_list);
		return;
	}
	c = add(r, "irq_affinity", PF_WARN, "%u of %u IRQs may run on RT CPU %s: %s%s", bad, total,
		x->rt_list, irqs, bad > IRQ_LIST_MAX ? " ..." : "");
	set_fix(c,
		"flux-rt-tune (deploy/rt-tune.sh) moves them now; irqaffinity=<housekeeping CPUs> "
		"on the kernel "
		"command line keeps them off from boot%s",
		is_running(x, "irqbalance")
		    ? "; irqbalance is running: set IRQBALANCE_BANNED_CPULIST in "
		      "/etc/default/irqbalance or it moves them back"
		    : "");
}

static void check_governor(struct pf_ctx *x, struct pf_report *r)
{
	const struct pf_cpus *cpus = x->has_rt_cpus ? &x->rt_cpus : &x->online;
	char slow[256] = "";
	unsigned seen = 0, bad = 0;
	struct pf_check *c;

	for (unsigned cpu = 0; cpu < PF_CPUS_MAX; cpu++) {
		char rel[96], gov[64], one[96];

		if (!pf_cpus_has(cpus, cpu))
			continue;
		snprintf(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_governor",
			 cpu);
		if (read_text(x, rel, gov, sizeof(gov)))
			continue;
		seen++;
		if (!strcmp(gov, "performance"))
			continue;
		bad++;
		snprintf(one, sizeof(one), "%sCPU %u %s", *slow ? ", " : "", cpu, gov);
		strncat(slow, one, sizeof(slow) - strlen(slow) - 1);
	}
	if (!seen) {
		c = add(r, "cpufreq_governor", PF_WARN,
			"no cpufreq on CPU %s (virtual machine, or no driver): cannot check the "
			"governor",
			x->has_rt_cpus ? x->rt_list : "any");
		set_fix(c, "set the firmware (BIOS/UEFI) power profile to maximum performance and "
			   "limit deep C-states");
		return;
	}
	if (!bad) {
		add(r, "cpufreq_governor", PF_PASS, "performance on CPU %s",
		    x->has_rt_cpus ? x->rt_list : "every CPU");
		return;
	}
	c = add(r, "cpufreq_governor", PF_WARN, "%s: frequency changes add wake-up latency", slow);
	set_fix(c, "flux-rt-tune sets the performance governor now; keep it at boot with "
		   "cpufrequtils (GOVERNOR=performance) or a udev rule");
}

static void check_rt_runtime(struct pf_ctx *x, struct pf_report *r)
{
	char val[32], period[32] = "1000000";
	struct pf_check *c;
	int err;

	err = read_text(x, "/proc/sys/kernel/sched_rt_runtime_us", val, sizeof(val));
	if (err) {
		c = add(r, "sched_rt_runtime", PF_WARN,
			"cannot read kernel.sched_rt_runtime_us: %s", strerror(-err));
		set_fix(c, "check that /proc/sys is the host's");
		return;
	}
	if (!strcmp(val, "-1")) {
		add(r, "sched_rt_runtime", PF_PASS,
		    "kernel.sched_rt_runtime_us = -1 (no RT throttling)");
		return;
	}
	read_text(x, "/proc/sys/kernel/sched_rt_period_us", period, sizeof(period));
	c = add(r, "sched_rt_runtime", PF_WARN,
		"kernel.sched_rt_runtime_us = %s of %s: RT threads are throttled for the rest of "
		"each period once they used that much",
		val, period);
	set_fix(c, "sysctl -w kernel.sched_rt_runtime_us=-1 (flux-rt-tune does it; keep it in "
		   "/etc/sysctl.d/90-flux-rt.conf)");
}

/* The soft limit of a /proc/self/limits row ("Max realtime priority"); UINT64_MAX is
 * unlimited. Returns 0 or -errno. */
static int soft_limit(const struct pf_ctx *x, const char *row, uint64_t *out)
{
	char text[TEXT_MAX], *p, word[32];
	int err = read_text(x, "/proc/self/limits", text, sizeof(text));

	if (err)
		return err;
	p = strstr(text, row);
	if (!p || sscanf(p + strlen(row), " %31s", word) != 1)
		return -ENOENT;
	if (!strcmp(word, "unlimited")) {
		*out = UINT64_MAX;
		return 0;
	}
	if (!isdigit((unsigned char)word[0]))
		return -EINVAL;
	*out = strtoull(word, NULL, 10);
	return 0;
}

static bool has_cap(const struct pf_ctx *x, unsigned bit)
{
	char text[TEXT_MAX], *p;

	if (read_text(x, "/proc/self/status", text, sizeof(text)))
		return false;
	p = strstr(text, "CapEff:");
	return p && (strtoull(p + strlen("CapEff:"), NULL, 16) >> bit & 1);
}

static void check_rtprio(struct pf_ctx *x, struct pf_report *r)
{
	int need =
	    x->rt.io_priority > x->rt.control_priority ? x->rt.io_priority : x->rt.control_priority;
	struct pf_check *c;
	uint64_t lim = 0;
	int err;

	if (need <= 0) {
		add(r, "rlimit_rtprio", PF_PASS, "no SCHED_FIFO asked (rt: priorities 0)");
		return;
	}
	if (has_cap(x, CAP_SYS_NICE_BIT)) {
		add(r, "rlimit_rtprio", PF_PASS, "CAP_SYS_NICE: SCHED_FIFO %d allowed", need);
		return;
	}
	err = soft_limit(x, "Max realtime priority", &lim);
	if (!err && lim >= (uint64_t)need) {
		add(r, "rlimit_rtprio", PF_PASS, "RLIMIT_RTPRIO %" PRIu64 " >= priority %d", lim,
		    need);
		return;
	}
	if (err)
		c = add(r, "rlimit_rtprio", PF_FAIL,
			"cannot read RLIMIT_RTPRIO (%s) and no CAP_SYS_NICE", strerror(-err));
	else
		c = add(r, "rlimit_rtprio", PF_FAIL,
			"RLIMIT_RTPRIO %" PRIu64
			" < priority %d and no CAP_SYS_NICE: fluxd would run "
			"SCHED_OTHER",
			lim, need);
	set_fix(c,
		"run fluxd from fluxd.service (LimitRTPRIO=, AmbientCapabilities=CAP_SYS_NICE); "
		"by hand: as root, or \"ulimit -r %d\" with a rtprio line in "
		"/etc/security/limits.d/",
		need);
}

static void check_memlock(struct pf_ctx *x, struct pf_report *r)
{
	struct pf_check *c;
	uint64_t lim = 0;
	int err;

	if (has_cap(x, CAP_IPC_LOCK_BIT)) {
		add(r, "rlimit_memlock", PF_PASS, "CAP_IPC_LOCK: mlockall may lock everything");
		return;
	}
	err = soft_limit(x, "Max locked memory", &lim);
	if (!err && lim == UINT64_MAX) {
		add(r, "rlimit_memlock", PF_PASS, "RLIMIT_MEMLOCK unlimited");
		return;
	}
	if (err)
		c = add(r, "rlimit_memlock", PF_FAIL,
			"cannot read RLIMIT_MEMLOCK (%s) and no CAP_IPC_LOCK", strerror(-err));
	else
		c = add(r, "rlimit_memlock", PF_FAIL,
			"RLIMIT_MEMLOCK %" PRIu64 " KiB and no CAP_IPC_LOCK: fluxd locks nothing "
			"(MCL_FUTURE would fail later allocations), page faults stay possible",
			lim / 1024);
	set_fix(c,
		"run fluxd from fluxd.service (LimitMEMLOCK=infinity, "
		"AmbientCapabilities=CAP_IPC_LOCK); by hand: as root, or \"ulimit -l unlimited\"");
}

static void check_clocksource(struct pf_ctx *x, struct pf_report *r)
{
	static const char *const good[] = { "tsc", "arch_sys_counter", "kvm-clock",
					    "riscv_clocksource" };
	char cur[64], avail[256] = "";
	struct pf_check *c;
	int err;

	err = read_text(x, "/sys/devices/system/clocksource/clocksource0/current_clocksource", cur,
			sizeof(cur));
	if (err) {
		c = add(r, "clocksource", PF_WARN, "cannot read the clocksource: %s",
			strerror(-err));
		set_fix(c, "check /sys/devices/system/clocksource/clocksource0/");
		return;
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!strcmp(cur, good[i])) {
			add(r, "clocksource", PF_PASS, "%s (read in user space through the vDSO)",
			    cur);
			return;
		}
	read_text(x, "/sys/devices/system/clocksource/clocksource0/available_clocksource", avail,
		  sizeof(avail));
	c = add(r, "clocksource", PF_WARN,
		"%s (available: %s): every clock read is a slow system call or device access", cur,
		*avail ? avail : "?");
	set_fix(c, "use tsc: look for \"TSC unstable\" in dmesg; check the BIOS; "
		   "tsc=reliable on the kernel command line only if the TSC is known good");
}

static void check_tracefs(struct pf_ctx *x, struct pf_report *r)
{
	struct pf_check *c;
	int err;

	err = exists(x, "/sys/kernel/tracing/trace");
	if (!err) {
		add(r, "tracefs", PF_PASS,
		    "mounted at /sys/kernel/tracing (fluxtrace's tracepoints)");
		return;
	}
	if (!exists(x, "/sys/kernel/debug/tracing/trace")) {
		add(r, "tracefs", PF_PASS, "mounted at /sys/kernel/debug/tracing");
		return;
	}
	c = add(r, "tracefs", PF_WARN, "no /sys/kernel/tracing/trace (%s): fluxtrace cannot attach",
		strerror(-err));
	set_fix(c, err == -EACCES
		       ? "run the preflight as root, as fluxtrace runs"
		       : "as root: mount -t tracefs tracefs /sys/kernel/tracing "
			 "(and an fstab line: tracefs /sys/kernel/tracing tracefs defaults 0 0)");
}

static void check_btf(struct pf_ctx *x, struct pf_report *r)
{
	struct pf_check *c;
	int err = exists(x, "/sys/kernel/btf/vmlinux");

	if (!err) {
		add(r, "btf", PF_PASS, "/sys/kernel/btf/vmlinux present (fluxtrace's CO-RE)");
		return;
	}
	c = add(r, "btf", PF_WARN, "no /sys/kernel/btf/vmlinux (%s): fluxtrace cannot load",
		strerror(-err));
	set_fix(c, "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's are)");
}

static void check_io_uring(struct pf_ctx *x, const struct pf_opts *o, struct pf_report *r)
{
	char val[16] = "", gid[16] = "?";
	struct pf_check *c;
	int err, probe = 0;

	err = read_text(x, "/proc/sys/kernel/io_uring_disabled", val, sizeof(val));
	if (!err && strcmp(val, "0")) {
		read_text(x, "/proc/sys/kernel/io_uring_group", gid, sizeof(gid));
		c = add(r, "io_uring", PF_FAIL, "kernel.io_uring_disabled = %s: %s", val,
			!strcmp(val, "1")
			    ? "only CAP_SYS_ADMIN or kernel.io_uring_group members may "
			      "use io_uring"
			    : "io_uring is off for everyone");
		set_fix(c,
			"sysctl -w kernel.io_uring_disabled=0 (and in /etc/sysctl.d/), or =1 "
			"with kernel.io_uring_group (now %s) set to fluxd's group",
			gid);
		return;
	}
	if (o->probe_uring)
		probe = o->probe_uring();
	if (probe) {
		c = add(r, "io_uring", PF_FAIL, "io_uring_setup failed: %s", strerror(-probe));
		set_fix(c,
			probe == -EPERM || probe == -ENOSYS
			    ? "allow io_uring: a container's seccomp profile or an LSM refuses it"
			    : "check the kernel config (CONFIG_IO_URING) and RLIMIT_MEMLOCK");
		return;
	}
	add(r, "io_uring", PF_PASS, "enabled (kernel.io_uring_disabled = %s)%s",
	    err ? "absent, before 6.6" : val, o->probe_uring ? ", io_uring_setup works" : "");
}

int pf_probe_uring(void)
{
	struct io_uring ring;
	int err = io_uring_queue_init(4, &ring, 0);

	if (err)
		return err;
	io_uring_queue_exit(&ring);
	return 0;
}

int pf_run(struct pf_report *r, const struct pf_opts *o)
{
	struct pf_ctx x = { .root = o->root ? o->root : "" };
	char online[256], release[64] = "", version[128] = "";

	memset(r, 0, sizeof(*r));
	if (o->rt) {
		x.rt = *o->rt;
	} else {
		struct cfg *defaults = calloc(1, sizeof(*defaults));

		x.rt = (struct cfg_rt){
			.io_cpu = 1, .control_cpu = 1, .io_priority = 81, .control_priority = 80
		};
		if (defaults) {
			cfg_defaults(defaults);
			x.rt = defaults->rt;
			free(defaults);
		}
	}
	if (read_text(&x, "/sys/devices/system/cpu/online", online, sizeof(online)) == 0 &&
	    pf_parse_cpulist(online, 0, &x.online) == 0)
		for (unsigned c = 0; c < PF_CPUS_MAX; c++)
			if (pf_cpus_has(&x.online, c))
				x.ncpus = c + 1;
	if (x.rt.io_cpu >= 0)
		cpus_set(&x.rt_cpus, (unsigned)x.rt.io_cpu);
	if (x.rt.control_cpu >= 0)
		cpus_set(&x.rt_cpus, (unsigned)x.rt.control_cpu);
	x.has_rt_cpus = x.rt.io_cpu >= 0 || x.rt.control_cpu >= 0;
	pf_format_cpulist(&x.rt_cpus, x.rt_list, sizeof(x.rt_list));
	pf_format_cpulist(&x.online, x.online_list, sizeof(x.online_list));

	read_text(&x, "/proc/sys/kernel/osrelease", release, sizeof(release));
	read_text(&x, "/proc/sys/kernel/version", version, sizeof(version));
	snprintf(r->kernel, sizeof(r->kernel), "%s %s", *release ? release : "?", version);
	snprintf(r->online, sizeof(r->online), "%s", x.online_list);
	snprintf(r->rt_cpus, sizeof(r->rt_cpus), "%s", x.rt_list);

	check_preempt_rt(&x, r);
	check_rt_cpus(&x, r);
	check_cmdline_cpus(&x, r, "isolcpus", "kept free of other tasks");
	check_cmdline_cpus(&x, r, "nohz_full", "spared the scheduler tick");
	check_cmdline_cpus(&x, r, "rcu_nocbs", "spared RCU callbacks");
	check_irq_affinity(&x, r);
	check_governor(&x, r);
	check_rt_runtime(&x, r);
	check_rtprio(&x, r);
	check_memlock(&x, r);
	check_clocksource(&x, r);
	check_tracefs(&x, r);
	check_btf(&x, r);
	check_io_uring(&x, o, r);
	return pf_exit_code(r);
}

/* ---- output ------------------------------------------------------------------------- */

static void counts(const struct pf_report *r, unsigned n[3])
{
	n[PF_PASS] = n[PF_WARN] = n[PF_FAIL] = 0;
	for (unsigned i = 0; i < r->n; i++)
		n[r->checks[i].result]++;
}

void pf_print_text(const struct pf_report *r, FILE *f)
{
	unsigned n[3];

	fprintf(f, "fluxd preflight: kernel %s; CPUs %s; RT CPUs %s\n", r->kernel,
		*r->online ? r->online : "?", *r->rt_cpus ? r->rt_cpus : "none pinned");
	for (unsigned i = 0; i < r->n; i++) {
		const struct pf_check *c = &r->checks[i];

		fprintf(f, "%s  %-17s %s\n", pf_result_name(c->result), c->id, c->detail);
		if (*c->fix)
			fprintf(f, "      %-17s fix: %s\n", "", c->fix);
	}
	counts(r, n);
	fprintf(f,
		"preflight: %u PASS, %u WARN, %u FAIL: exit %d (0 all PASS, 3 WARN only, 1 FAIL)\n",
		n[PF_PASS], n[PF_WARN], n[PF_FAIL], pf_exit_code(r));
}

void pf_print_json(const struct pf_report *r, FILE *f)
{
	unsigned n[3];

	fputs("{\"kernel\":", f);
	txt_json_fputs(f, r->kernel);
	fputs(",\"online_cpus\":", f);
	txt_json_fputs(f, r->online);
	fputs(",\"rt_cpus\":", f);
	txt_json_fputs(f, r->rt_cpus);
	fputs(",\"checks\":[", f);
	for (unsigned i = 0; i < r->n; i++) {
		const struct pf_check *c = &r->checks[i];

		fprintf(f, "%s{\"id\":", i ? "," : "");
		txt_json_fputs(f, c->id);
		fprintf(f, ",\"result\":\"%s\",\"detail\":", pf_result_name(c->result));
		txt_json_fputs(f, c->detail);
		fputs(",\"fix\":", f);
		txt_json_fputs(f, c->fix);
		fputc('}', f);
	}
	counts(r, n);
	fprintf(f, "],\"pass\":%u,\"warn\":%u,\"fail\":%u,\"exit\":%d}\n", n[PF_PASS], n[PF_WARN],
		n[PF_FAIL], pf_exit_code(r));
}
