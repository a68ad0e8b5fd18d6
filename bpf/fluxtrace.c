// SPDX-License-Identifier: MIT
/*
 * fluxtrace: proves fluxd's latency budgets from outside the process. Loads fluxtrace.bpf.c
 * (libbpf CO-RE skeleton), attaches it to fluxd's USDT probes, the scheduler and io_uring
 * tracepoints, libc's allocator and user page faults, prints the histograms every interval
 * and at the end, and exits 1 naming each broken budget (0: all hold, 2: bad arguments).
 * Lifecycle as libbpf-bootstrap: open -> set rodata -> load -> attach -> poll -> destroy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fluxtrace.h"
#include "fluxtrace.skel.h"
#include "rt/text.h"

#define EXIT_USAGE	  2
#define FT_MAX_BUDGETS	  16
#define FT_MAX_OVER_LINES 20 /* over-budget samples printed, in all */
#define FT_POLL_MS	  100
#define FT_DEFAULT_PCT	  99.9

/* The probes, by FT_C_PROBE() index: rt/probe_list.h's names, in its order. */
#define FT_PROBE_NAME(name, thread, args) [FT_C_PROBE(name)] = #name,
static const char *const probe_names[FT_NPROBES] = { FLUX_PROBES(FT_PROBE_NAME) };
#undef FT_PROBE_NAME

static const char *const hist_names[FT_NLIMITS] = {
	[FT_H_SOE_READ] = "soe_read",	      [FT_H_SETPOINT_WRITE] = "setpoint_write",
	[FT_H_CYCLE_JITTER] = "cycle_jitter", [FT_H_CYCLE_TIME] = "cycle_time",
	[FT_H_WAKEUP_IO] = "rt_wakeup_io",    [FT_H_WAKEUP_CTL] = "rt_wakeup_ctl",
	[FT_H_CQE_TO_PARSE] = "cqe_to_parse",
};

static const char *const role_names[FT_NROLES] = { "", "flux-io", "flux-ctl" };

/* What a budget checks. */
enum ft_what {
	FT_W_HIST,	  /* one histogram: hist */
	FT_W_RTT,	  /* every device's rtt */
	FT_W_WAKEUP,	  /* both RT threads' wake-up latency */
	FT_W_ALLOCS,	  /* heap allocations on the RT threads after start */
	FT_W_FAULTS,	  /* page faults on the RT threads after start */
	FT_W_PREEMPTIONS, /* involuntary preemptions of the RT threads */
};

static const struct {
	const char *name;
	enum ft_what what;
	unsigned hist;
} budget_kinds[] = {
	{ "soe_read", FT_W_HIST, FT_H_SOE_READ },
	{ "setpoint_write", FT_W_HIST, FT_H_SETPOINT_WRITE },
	{ "cycle_jitter", FT_W_HIST, FT_H_CYCLE_JITTER },
	{ "cycle_time", FT_W_HIST, FT_H_CYCLE_TIME },
	{ "cqe_to_parse", FT_W_HIST, FT_H_CQE_TO_PARSE },
	{ "rtt", FT_W_RTT, 0 },
	{ "rt_wakeup", FT_W_WAKEUP, 0 },
	{ "allocs", FT_W_ALLOCS, 0 },
	{ "page_faults", FT_W_FAULTS, 0 },
	{ "preemptions", FT_W_PREEMPTIONS, 0 },
};

struct budget {
	const char *name;
	enum ft_what what;
	unsigned hist;
	double pct;  /* percentile; 100: the maximum */
	__u64 limit; /* ns, or a count */
	/* filled by check_budgets() */
	__u64 value;
	bool has_value; /* measured (samples, or counting ran) */
	bool is_ok;
};

struct opts {
	pid_t pid;
	const char *exec;
	double duration_s; /* 0: until Ctrl-C or the process exits */
	double interval_s; /* 0: only at the end */
	unsigned warmup;   /* cycles before allocs and faults count */
	bool is_json;
	bool is_verbose;
	struct budget budgets[FT_MAX_BUDGETS];
	unsigned nbudgets;
};

/* The loader's state; one per run, owned by main. */
struct ft {
	struct opts o;
	struct fluxtrace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *alloc_links[3];
	char path[PATH_MAX]; /* the traced binary */
	pid_t pid;	     /* the traced process: --pid, or learnt (--exec) */
	bool has_allocs;     /* malloc/calloc/realloc uprobes attached */
	bool has_faults;     /* page_fault_user attached */
	bool has_uring;	     /* io_uring_complete attached */
	unsigned over_lines;
	struct timespec t0;
	struct ft_hist hists[FT_NHIST];
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	fputs(
	    "usage: fluxtrace (--pid PID | --exec PATH) [--duration S] [--interval S] [--json]\n"
	    "                 [--budget LIST] [--warmup N] [-v]\n"
	    "  -p, --pid PID       trace the running fluxd PID\n"
	    "  -e, --exec PATH     trace the fluxd binary PATH: the first process of it that runs\n"
	    "  -d, --duration S    stop after S seconds (default: Ctrl-C, or when fluxd exits)\n"
	    "  -i, --interval S    print the histograms every S seconds (default 1; 0: at the "
	    "end)\n"
	    "  -j, --json          one JSON object per report, one per line\n"
	    "  -b, --budget LIST   NAME[:PCT]=LIMIT,... exit 1 if one is broken, e.g.\n"
	    "                      soe_read=2ms,setpoint_write=2ms,cycle_jitter=500us,allocs=0\n"
	    "                      latencies (LIMIT with ns|us|ms|s): soe_read setpoint_write\n"
	    "                      cycle_jitter cycle_time rtt rt_wakeup cqe_to_parse;\n"
	    "                      counts: allocs page_faults preemptions.\n"
	    "                      PCT: p50, p99, p99.9 (default), max: soe_read:p99=2ms\n"
	    "  -w, --warmup N      cycles before allocations and page faults count (default 0:\n"
	    "                      from the control thread's first cycle_start seen)\n"
	    "  -v, --verbose       libbpf debug output\n"
	    "  -h, --help\n"
	    "Needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_RESOURCE on old kernels), tracefs\n"
	    "and kernel BTF (/sys/kernel/btf/vmlinux). Exit: 0 budgets hold, 1 a budget broke or\n"
	    "tracing failed, 2 bad arguments.\n",
	    f);
}

static int bad_arg(const char *fmt, ...)
{
	va_list ap;

	fputs("fluxtrace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (fluxtrace --help)\n", stderr);
	return -EINVAL;
}

/* ---- arguments ---------------------------------------------------------------------- */

/* A duration option: bare seconds or a unit (rt/text.h), in [min, max] s. 0 or -EINVAL. */
static int parse_seconds(const char *s, double min, double max, double *out)
{
	int64_t ns;
	double v;

	if (txt_parse_duration(s, 1000000000, &ns))
		return -EINVAL;
	v = (double)ns / 1e9;
	if (!(v >= min) || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= min) || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_count(const char *s, __u64 *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One NAME[:PCT]=LIMIT. */
static int parse_budget(char *item, struct budget *b)
{
	char *eq = strchr(item, '='), *colon;
	const char *value;
	int64_t ns;
	size_t k;
	int err;

	if (!eq)
		return bad_arg("--budget: '%s' has no '=LIMIT'", item);
	*eq = '\0';
	value = eq + 1;
	colon = strchr(item, ':');
	if (colon)
		*colon = '\0';
	for (k = 0; k < sizeof(budget_kinds) / sizeof(budget_kinds[0]); k++)
		if (strcmp(item, budget_kinds[k].name) == 0)
			break;
	if (k == sizeof(budget_kinds) / sizeof(budget_kinds[0]))
		return bad_arg("--budget: unknown name '%s'", item);
	*b = (struct budget){ .name = budget_kinds[k].name,
			      .what = budget_kinds[k].what,
			      .hist = budget_kinds[k].hist,
			      .pct = FT_DEFAULT_PCT };
	if (b->what >= FT_W_ALLOCS) {
		if (colon)
			return bad_arg("--budget: %s is a count: no percentile", b->name);
		if (parse_count(value, &b->limit))
			return bad_arg("--budget: %s wants a whole number, got '%s'", b->name,
				       value);
		return 0;
	}
	if (colon) {
		const char *p = colon + 1;

		if (strcmp(p, "max") == 0)
			b->pct = 100;
		else if (p[0] != 'p' || parse_num(p + 1, 0.001, 100, &b->pct))
			return bad_arg(
			    "--budget: %s: percentile '%s' is not pN (0 < N <= 100) or max",
			    b->name, p);
	}
	/* A limit needs its unit: "2" is not a latency. */
	err = txt_parse_duration(value, 0, &ns);
	if (err == -ERANGE)
		return bad_arg("--budget: %s: '%s' is too long a time", b->name, value);
	if (err)
		return bad_arg("--budget: %s wants a time with a unit (ns, us, ms, s, m), got '%s'",
			       b->name, value);
	b->limit = (__u64)ns;
	return 0;
}

static int parse_budgets(const char *arg, struct opts *o)
{
	char buf[1024], *save = NULL, *item;

	if (strlen(arg) >= sizeof(buf))
		return bad_arg("--budget: list too long");
	snprintf(buf, sizeof(buf), "%s", arg);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (o->nbudgets == FT_MAX_BUDGETS)
			return bad_arg("--budget: more than %d budgets", FT_MAX_BUDGETS);
		if (parse_budget(item, &o->budgets[o->nbudgets]))
			return -EINVAL;
		o->nbudgets++;
	}
	if (!o->nbudgets)
		return bad_arg("--budget: empty list");
	return 0;
}

/* Returns 0, 1 after --help, or -EINVAL after saying why. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "exec", required_argument, NULL, 'e' },
		{ "duration", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "budget", required_argument, NULL, 'b' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	double v;
	int opt;

	*o = (struct opts){ .interval_s = 1 };
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:e:d:i:jb:w:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_num(optarg, 1, INT_MAX, &v) || v != floor(v))
				return bad_arg("--pid wants a process id, got '%s'", optarg);
			o->pid = (pid_t)v;
			break;
		case 'e':
			o->exec = optarg;
			break;
		case 'd':
			if (parse_seconds(optarg, 0.001, 1e7, &o->duration_s))
				return bad_arg(
				    "--duration wants seconds > 0 (5, 1.5, 500ms), got '%s'",
				    optarg);
			break;
		case 'i':
			if (parse_seconds(optarg, 0, 1e6, &o->interval_s) ||
			    (o->interval_s > 0 && o->interval_s < 0.1))
				return bad_arg("--interval wants 0 or seconds >= 0.1, got '%s'",
					       optarg);
			break;
		case 'j':
			o->is_json = true;
			break;
		case 'b':
			if (parse_budgets(optarg, o))
				return -EINVAL;
			break;
		case 'w':
			if (parse_num(optarg, 0, 1e9, &v) || v != floor(v))
				return bad_arg("--warmup wants a number of cycles, got '%s'",
					       optarg);
			o->warmup = (unsigned)v;
			break;
		case 'v':
			o->is_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			return bad_arg("%s needs a value", argv[optind - 1]);
		default:
			return bad_arg("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return bad_arg("unexpected argument '%s'", argv[optind]);
	if (!o->pid == !o->exec)
		return bad_arg("give one of --pid PID or --exec PATH");
	return 0;
}

/* ---- the traced process ------------------------------------------------------------- */

/* Is pid a live (not zombie) process? */
static bool is_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* The path of the libc that pid has mapped, into buf. Returns 0 or -ENOENT. */
static int find_libc(pid_t pid, char *buf, size_t cap)
{
	char path[64], line[PATH_MAX + 128];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/'), *base;

		if (!p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		base = strrchr(p, '/') + 1;
		if (strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0) {
			snprintf(buf, cap, "/proc/%d/root%s", (int)pid, p);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* Uprobes on pid's malloc, calloc, realloc. Returns 0 or -errno (then none stay). */
static int attach_allocs(struct ft *t, pid_t pid)
{
	static const char *const fns[3] = { "malloc", "calloc", "realloc" };
	char libc[PATH_MAX + 32];
	int err = find_libc(pid, libc, sizeof(libc));

	if (err) {
		fprintf(stderr, "fluxtrace: no libc mapped in pid %d: allocations not counted\n",
			(int)pid);
		return err;
	}
	for (int i = 0; i < 3; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = fns[i]);

		t->alloc_links[i] =
		    bpf_program__attach_uprobe_opts(t->skel->progs.heap_alloc, pid, libc, 0, &uo);
		if (!t->alloc_links[i]) {
			err = -errno;
			fprintf(stderr, "fluxtrace: cannot attach to %s in %s: %s\n", fns[i], libc,
				strerror(-err));
			for (int k = 0; k < i; k++) {
				bpf_link__destroy(t->alloc_links[k]);
				t->alloc_links[k] = NULL;
			}
			return err;
		}
	}
	t->has_allocs = true;
	return 0;
}

/* ---- reading and printing ----------------------------------------------------------- */

static double elapsed_s(const struct ft *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->t0.tv_sec) + (double)(now.tv_nsec - t->t0.tv_nsec) / 1e9;
}

static int read_hists(struct ft *t)
{
	int fd = bpf_map__fd(t->skel->maps.hists);

	for (__u32 id = 0; id < FT_NHIST; id++) {
		if (bpf_map_lookup_elem(fd, &id, &t->hists[id]))
			return -errno;
	}
	return 0;
}

/* The pct-th percentile of h: the top of its bucket (never above the maximum). */
static __u64 hist_pct(const struct ft_hist *h, double pct)
{
	__u64 rank, seen = 0;

	if (!h->count)
		return 0;
	if (pct >= 100)
		return h->max_ns;
	rank = (__u64)ceil(pct / 100 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (unsigned b = 0; b < FT_NBUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= rank) {
			__u64 top = b + 1 < FT_NBUCKETS ? ft_bucket_lo(b + 1) - 1 : h->max_ns;

			return top < h->max_ns ? top : h->max_ns;
		}
	}
	return h->max_ns;
}

static const char *fmt_ns(__u64 ns, char *buf, size_t cap)
{
	if (ns < 1000)
		snprintf(buf, cap, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, cap, "%.3g us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, cap, "%.3g ms", (double)ns / 1e6);
	else
		snprintf(buf, cap, "%.3g s", (double)ns / 1e9);
	return buf;
}

static const char *fmt_pct(double pct, char *buf, size_t cap)
{
	if (pct >= 100)
		snprintf(buf, cap, "max");
	else
		snprintf(buf, cap, "p%g", pct);
	return buf;
}

static void print_hist_row(const char *name, const struct ft_hist *h)
{
	char a[32], b[32], c[32], d[32];

	printf("%-22s %8llu %10s %10s %10s %10s\n", name, (unsigned long long)h->count,
	       fmt_ns(hist_pct(h, 50), a, sizeof(a)), fmt_ns(hist_pct(h, 99), b, sizeof(b)),
	       fmt_ns(hist_pct(h, 99.9), c, sizeof(c)), fmt_ns(h->max_ns, d, sizeof(d)));
}

static __u64 sum_threads(const struct ft *t, size_t field_off)
{
	__u64 sum = 0;

	for (unsigned r = FT_ROLE_IO; r < FT_NROLES; r++)
		sum += *(const __u64 *)((const char *)&t->skel->bss->threads[r] + field_off);
	return sum;
}

/* Evaluate every budget on what was read last. Returns how many broke. */
static unsigned check_budgets(struct ft *t)
{
	const struct fluxtrace_bpf__bss *bss = t->skel->bss;
	unsigned broken = 0;

	for (unsigned i = 0; i < t->o.nbudgets; i++) {
		struct budget *b = &t->o.budgets[i];
		unsigned first = 0, last = 0;

		b->value = 0;
		b->has_value = false;
		switch (b->what) {
		case FT_W_HIST:
			first = last = b->hist;
			break;
		case FT_W_RTT:
			first = FT_H_RTT0;
			last = FT_H_RTT0 + FT_MAX_DEV - 1;
			break;
		case FT_W_WAKEUP:
			first = FT_H_WAKEUP_IO;
			last = FT_H_WAKEUP_CTL;
			break;
		case FT_W_ALLOCS:
			b->has_value = t->has_allocs && bss->count_from_ns;
			b->value = sum_threads(t, offsetof(struct ft_thread, allocs));
			break;
		case FT_W_FAULTS:
			b->has_value = t->has_faults && bss->count_from_ns;
			b->value = sum_threads(t, offsetof(struct ft_thread, faults));
			break;
		case FT_W_PREEMPTIONS:
			b->has_value =
			    bss->threads[FT_ROLE_IO].tid || bss->threads[FT_ROLE_CTL].tid;
			b->value = sum_threads(t, offsetof(struct ft_thread, preemptions));
			break;
		}
		if (b->what <= FT_W_WAKEUP) {
			for (unsigned id = first; id <= last; id++) {
				__u64 v;

				if (!t->hists[id].count)
					continue;
				v = hist_pct(&t->hists[id], b->pct);
				b->value = v > b->value ? v : b->value;
				b->has_value = true;
			}
		}
		b->is_ok = b->has_value && b->value <= b->limit;
		broken += !b->is_ok;
	}
	return broken;
}

static void print_budgets_text(const struct ft *t)
{
	char a[32], l[32], p[16];

	if (!t->o.nbudgets)
		return;
	printf("budgets:\n");
	for (unsigned i = 0; i < t->o.nbudgets; i++) {
		const struct budget *b = &t->o.budgets[i];

		if (b->what >= FT_W_ALLOCS) {
			if (b->has_value)
				printf("  %-16s %10llu <= %-10llu %s\n", b->name,
				       (unsigned long long)b->value, (unsigned long long)b->limit,
				       b->is_ok ? "ok" : "BROKEN");
			else
				printf("  %-16s not measured (limit %llu) BROKEN\n", b->name,
				       (unsigned long long)b->limit);
			continue;
		}
		fmt_pct(b->pct, p, sizeof(p));
		if (b->has_value)
			printf("  %-16s %-5s %10s <= %-10s %s\n", b->name, p,
			       fmt_ns(b->value, a, sizeof(a)), fmt_ns(b->limit, l, sizeof(l)),
			       b->is_ok ? "ok" : "BROKEN");
		else
			printf("  %-16s %-5s no samples (limit %s) BROKEN\n", b->name, p,
			       fmt_ns(b->limit, l, sizeof(l)));
	}
}

static void print_text(struct ft *t, bool is_final)
{
	const struct fluxtrace_bpf__bss *bss = t->skel->bss;
	char name[32];

	printf("%sfluxtrace: pid %d %s, %.1f s\n", is_final ? "\n" : "", (int)t->pid, t->path,
	       elapsed_s(t));
	printf("%-22s %8s %10s %10s %10s %10s\n", "latency", "count", "p50", "p99", "p99.9", "max");
	for (unsigned id = 0; id < FT_H_RTT0; id++)
		print_hist_row(hist_names[id], &t->hists[id]);
	for (unsigned d = 0; d < FT_MAX_DEV; d++) {
		if (!t->hists[FT_H_RTT0 + d].count && !bss->dev_errors[d])
			continue;
		snprintf(name, sizeof(name), "rtt dev %u", d);
		print_hist_row(name, &t->hists[FT_H_RTT0 + d]);
	}
	printf("%-10s %8s %8s %12s %8s %12s\n", "thread", "tid", "wakeups", "preemptions", "allocs",
	       "page_faults");
	for (unsigned r = FT_ROLE_IO; r < FT_NROLES; r++) {
		const struct ft_thread *th = &bss->threads[r];
		char allocs[24] = "n/a", faults[24] = "n/a";

		if (t->has_allocs)
			snprintf(allocs, sizeof(allocs), "%llu", (unsigned long long)th->allocs);
		if (t->has_faults)
			snprintf(faults, sizeof(faults), "%llu", (unsigned long long)th->faults);
		printf("%-10s %8u %8llu %12llu %8s %12s\n", role_names[r], th->tid,
		       (unsigned long long)th->wakeups, (unsigned long long)th->preemptions, allocs,
		       faults);
	}
	printf("probes:");
	for (unsigned c = 0; c < FT_NPROBES; c++)
		printf(" %s %llu", probe_names[c], (unsigned long long)bss->counts[c]);
	printf("\nresponse errors %llu, io_uring completions %llu (errors %llu)%s\n",
	       (unsigned long long)bss->counts[FT_C_RSP_ERR],
	       (unsigned long long)bss->counts[FT_C_CQE],
	       (unsigned long long)bss->counts[FT_C_CQE_ERR],
	       t->has_uring ? "" : " (io_uring tracepoint not attached)");
	if (is_final)
		print_budgets_text(t);
	fflush(stdout);
}

static void json_hist(const char *name, const struct ft_hist *h, bool comma)
{
	/* name NULL: only the fields, inside an object the caller opened */
	if (name)
		printf("\"%s\":{", name);
	printf("\"count\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,"
	       "\"max_ns\":%llu,\"mean_ns\":%llu%s%s",
	       (unsigned long long)h->count, (unsigned long long)hist_pct(h, 50),
	       (unsigned long long)hist_pct(h, 99), (unsigned long long)hist_pct(h, 99.9),
	       (unsigned long long)h->max_ns,
	       (unsigned long long)(h->count ? h->sum_ns / h->count : 0), name ? "}" : "",
	       comma ? "," : "");
}

static void print_json(struct ft *t, bool is_final, unsigned broken)
{
	const struct fluxtrace_bpf__bss *bss = t->skel->bss;
	struct utsname u;
	bool first = true;

	uname(&u);
	printf("{\"tool\":\"fluxtrace\",\"final\":%s,\"pid\":%d,\"binary\":",
	       is_final ? "true" : "false", (int)t->pid);
	txt_json_fputs(stdout, t->path);
	printf(",\"kernel\":");
	txt_json_fputs(stdout, u.release);
	printf(",\"elapsed_s\":%.3f,\"latencies\":{", elapsed_s(t));
	for (unsigned id = 0; id < FT_H_RTT0; id++)
		json_hist(hist_names[id], &t->hists[id], id + 1 < FT_H_RTT0);
	printf("},\"rtt\":[");
	for (unsigned d = 0; d < FT_MAX_DEV; d++) {
		const struct ft_hist *h = &t->hists[FT_H_RTT0 + d];

		if (!h->count && !bss->dev_errors[d])
			continue;
		printf("%s{\"dev\":%u,\"errors\":%llu,", first ? "" : ",", d,
		       (unsigned long long)bss->dev_errors[d]);
		json_hist(NULL, h, false);
		printf("}");
		first = false;
	}
	printf("],\"threads\":{");
	for (unsigned r = FT_ROLE_IO; r < FT_NROLES; r++) {
		const struct ft_thread *th = &bss->threads[r];

		printf("\"%s\":{\"tid\":%u,\"wakeups\":%llu,\"preemptions\":%llu,", role_names[r],
		       th->tid, (unsigned long long)th->wakeups,
		       (unsigned long long)th->preemptions);
		if (t->has_allocs)
			printf("\"allocs\":%llu,", (unsigned long long)th->allocs);
		else
			printf("\"allocs\":null,");
		if (t->has_faults)
			printf("\"page_faults\":%llu}", (unsigned long long)th->faults);
		else
			printf("\"page_faults\":null}");
		printf("%s", r + 1 < FT_NROLES ? "," : "");
	}
	printf("},\"counting_after_start\":%s,\"probes\":{", bss->count_from_ns ? "true" : "false");
	for (unsigned c = 0; c < FT_NPROBES; c++)
		printf("\"%s\":%llu%s", probe_names[c], (unsigned long long)bss->counts[c],
		       c + 1 < FT_NPROBES ? "," : "");
	printf("},\"response_errors\":%llu,\"io_uring\":{\"completions\":%llu,\"errors\":%llu},"
	       "\"over_budget\":{",
	       (unsigned long long)bss->counts[FT_C_RSP_ERR],
	       (unsigned long long)bss->counts[FT_C_CQE],
	       (unsigned long long)bss->counts[FT_C_CQE_ERR]);
	for (unsigned id = 0; id < FT_NLIMITS; id++)
		printf("\"%s\":%llu%s", hist_names[id], (unsigned long long)bss->over_budget[id],
		       id + 1 < FT_NLIMITS ? "," : "");
	printf("}");
	if (is_final) {
		printf(",\"budgets\":[");
		for (unsigned i = 0; i < t->o.nbudgets; i++) {
			const struct budget *b = &t->o.budgets[i];

			printf("%s{\"name\":\"%s\",", i ? "," : "", b->name);
			if (b->what < FT_W_ALLOCS)
				printf("\"percentile\":%g,\"limit_ns\":%llu,\"value_ns\":", b->pct,
				       (unsigned long long)b->limit);
			else
				printf("\"limit\":%llu,\"value\":", (unsigned long long)b->limit);
			if (b->has_value)
				printf("%llu", (unsigned long long)b->value);
			else
				printf("null");
			printf(",\"ok\":%s}", b->is_ok ? "true" : "false");
		}
		printf("],\"budgets_ok\":%s", broken ? "false" : "true");
	}
	printf("}\n");
	fflush(stdout);
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct ft *t = ctx;
	const struct ft_event *e = data;
	char v[32], l[32];

	if (len < sizeof(*e) || t->o.is_json || e->hist >= FT_NLIMITS)
		return 0;
	if (t->over_lines++ >= FT_MAX_OVER_LINES) {
		if (t->over_lines == FT_MAX_OVER_LINES + 1)
			printf("over budget: more samples over their limit are only counted\n");
		return 0;
	}
	printf("over budget: %s %s > %s", hist_names[e->hist], fmt_ns(e->value_ns, v, sizeof(v)),
	       fmt_ns(t->skel->rodata->limit_ns[e->hist], l, sizeof(l)));
	if (e->dev != ~0u)
		printf(" dev %u", e->dev);
	if (e->cycle)
		printf(" cycle %u", e->cycle);
	printf("\n");
	return 0;
}

/* ---- setup and the loop ------------------------------------------------------------- */

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	return vfprintf(stderr, fmt, args);
}

static int libbpf_print_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || level == LIBBPF_INFO)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Resolve --pid / --exec to t->path. Returns 0 or -EINVAL after saying why. */
static int resolve_target(struct ft *t)
{
	char link[64];
	ssize_t n;

	if (t->o.pid) {
		if (!is_alive(t->o.pid))
			return bad_arg("--pid %d: no such process", (int)t->o.pid);
		snprintf(link, sizeof(link), "/proc/%d/exe", (int)t->o.pid);
		n = readlink(link, t->path, sizeof(t->path) - 1);
		if (n < 0)
			return bad_arg("--pid %d: cannot read %s: %s", (int)t->o.pid, link,
				       strerror(errno));
		t->path[n] = '\0';
		/* A binary replaced on disk since it started: go through /proc. */
		if (access(t->path, R_OK))
			snprintf(t->path, sizeof(t->path), "%s", link);
		t->pid = t->o.pid;
		return 0;
	}
	if (!realpath(t->o.exec, t->path) || access(t->path, X_OK))
		return bad_arg("--exec %s: not an executable file", t->o.exec);
	return 0;
}

/* Everything the system must offer; says what is missing. Returns 0 or -errno. */
static int check_system(void)
{
	int err;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "fluxtrace: /sys/kernel/btf/vmlinux missing: the kernel needs "
				"CONFIG_DEBUG_INFO_BTF=y\n");
		return -ENOENT;
	}
	err = access("/sys/kernel/tracing/events", F_OK) ? -errno : 0;
	if (err && access("/sys/kernel/debug/tracing/events", F_OK)) {
		if (err == -EACCES || errno == EACCES)
			fprintf(stderr, "fluxtrace: no access to tracefs: run as root, or with "
					"CAP_BPF, CAP_PERFMON and read access to "
					"/sys/kernel/tracing\n");
		else
			fprintf(stderr, "fluxtrace: tracefs not mounted: mount -t tracefs nodev "
					"/sys/kernel/tracing\n");
		return err;
	}
	return 0;
}

static int attach_all(struct ft *t)
{
	struct fluxtrace_bpf *s = t->skel;
	/* Each probe's program and link are named as the probe (fluxtrace.bpf.c). */
#define FT_PROBE_PROG(name, thread, args) [FT_C_PROBE(name)] = s->progs.name,
#define FT_PROBE_LINK(name, thread, args) [FT_C_PROBE(name)] = &s->links.name,
	struct bpf_program *progs[FT_NPROBES] = { FLUX_PROBES(FT_PROBE_PROG) };
	struct bpf_link **links[FT_NPROBES] = { FLUX_PROBES(FT_PROBE_LINK) };
#undef FT_PROBE_PROG
#undef FT_PROBE_LINK
	int err;

	for (unsigned i = 0; i < FT_NPROBES; i++) {
		*links[i] = bpf_program__attach_usdt(progs[i], t->pid ? t->pid : -1, t->path,
						     "flux", probe_names[i], NULL);
		if (!*links[i]) {
			err = -errno;
			fprintf(stderr, "fluxtrace: cannot attach to usdt flux:%s in %s: %s%s\n",
				probe_names[i], t->path, strerror(-err),
				err == -ENOENT ? " (built without <sys/sdt.h>?)" : "");
			return err;
		}
	}
	s->links.sched_wakeup = bpf_program__attach(s->progs.sched_wakeup);
	s->links.sched_switch = bpf_program__attach(s->progs.sched_switch);
	if (!s->links.sched_wakeup || !s->links.sched_switch) {
		err = -errno;
		fprintf(stderr, "fluxtrace: cannot attach to sched_wakeup/sched_switch: %s\n",
			strerror(-err));
		return err;
	}
	s->links.io_uring_complete = bpf_program__attach(s->progs.io_uring_complete);
	t->has_uring = s->links.io_uring_complete != NULL;
	if (!t->has_uring)
		fprintf(stderr,
			"fluxtrace: io_uring:io_uring_complete not attached (%s): "
			"no completion counts\n",
			strerror(errno));
	s->links.page_fault_user = bpf_program__attach(s->progs.page_fault_user);
	t->has_faults = s->links.page_fault_user != NULL;
	if (!t->has_faults)
		fprintf(stderr,
			"fluxtrace: exceptions:page_fault_user not attached (%s): "
			"page faults not counted\n",
			strerror(errno));
	if (t->pid)
		attach_allocs(t, t->pid); /* says why if not; allocs then "not measured" */
	return 0;
}

static void report(struct ft *t, bool is_final, unsigned *broken)
{
	if (read_hists(t)) {
		fprintf(stderr, "fluxtrace: cannot read the histograms: %s\n", strerror(errno));
		return;
	}
	*broken = check_budgets(t);
	if (t->o.is_json)
		print_json(t, is_final, *broken);
	else
		print_text(t, is_final);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct ft *t;
	double next_report;
	unsigned broken = 0;
	int err, ret = 1;

	t = calloc(1, sizeof(*t));
	if (!t) {
		perror("fluxtrace");
		return 1;
	}
	err = parse_args(argc, argv, &t->o);
	if (err) {
		free(t);
		return err > 0 ? 0 : EXIT_USAGE;
	}
	if (resolve_target(t)) {
		free(t);
		return EXIT_USAGE;
	}
	if (check_system())
		goto out_free;
	libbpf_set_print(t->o.is_verbose ? libbpf_print : libbpf_print_quiet);

	t->skel = fluxtrace_bpf__open();
	if (!t->skel) {
		fprintf(stderr, "fluxtrace: cannot open the BPF skeleton: %s\n", strerror(errno));
		goto out_free;
	}
	t->skel->rodata->targ_tgid = (__u32)t->pid;
	t->skel->rodata->warmup_cycles = t->o.warmup;
	for (unsigned i = 0; i < t->o.nbudgets; i++) {
		const struct budget *b = &t->o.budgets[i];

		if (b->what == FT_W_HIST)
			t->skel->rodata->limit_ns[b->hist] = b->limit;
	}
	err = fluxtrace_bpf__load(t->skel);
	if (err) {
		fprintf(stderr, "fluxtrace: cannot load the BPF programs: %s%s\n", strerror(-err),
			err == -EPERM ? " (run as root, or with CAP_BPF and CAP_PERFMON)"
				      : " (-v shows libbpf's log)");
		goto out_destroy;
	}
	err = attach_all(t);
	if (err) {
		if (err == -EPERM || err == -EACCES)
			fprintf(stderr, "fluxtrace: attaching needs root, or CAP_BPF and "
					"CAP_PERFMON\n");
		goto out_destroy;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_event, t, NULL);
	if (!t->rb) {
		fprintf(stderr, "fluxtrace: cannot open the event ring buffer: %s\n",
			strerror(errno));
		goto out_destroy;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (t->pid)
		fprintf(stderr, "fluxtrace: attached to pid %d (%s)\n", (int)t->pid, t->path);
	else
		fprintf(stderr, "fluxtrace: attached to %s, waiting for it to run\n", t->path);

	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	next_report = t->o.interval_s;
	/* Bounded by --duration, a signal, or the traced process ending. */
	while (!got_signal) {
		double now;

		err = ring_buffer__poll(t->rb, FT_POLL_MS);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "fluxtrace: polling the ring buffer: %s\n", strerror(-err));
			break;
		}
		if (!t->pid && t->skel->bss->seen_tgid) {
			t->pid = (pid_t)t->skel->bss->seen_tgid;
			attach_allocs(t, t->pid);
		}
		now = elapsed_s(t);
		if (t->o.duration_s > 0 && now >= t->o.duration_s)
			break;
		if (t->pid && !is_alive(t->pid))
			break;
		if (t->o.interval_s > 0 && now >= next_report) {
			report(t, false, &broken);
			next_report += t->o.interval_s;
		}
	}
	ring_buffer__consume(t->rb);
	report(t, true, &broken);
	ret = broken ? 1 : 0;
	for (unsigned i = 0; i < t->o.nbudgets; i++) {
		const struct budget *b = &t->o.budgets[i];
		char v[32], l[32], p[16];

		if (b->is_ok)
			continue;
		if (!b->has_value)
			fprintf(stderr, "fluxtrace: budget %s broken: not measured (%s)\n", b->name,
				b->what >= FT_W_ALLOCS ? "counting never started" : "no samples");
		else if (b->what >= FT_W_ALLOCS)
			fprintf(stderr, "fluxtrace: budget %s broken: %llu > %llu\n", b->name,
				(unsigned long long)b->value, (unsigned long long)b->limit);
		else
			fprintf(stderr, "fluxtrace: budget %s broken: %s %s > %s\n", b->name,
				fmt_pct(b->pct, p, sizeof(p)), fmt_ns(b->value, v, sizeof(v)),
				fmt_ns(b->limit, l, sizeof(l)));
	}
	if (t->o.nbudgets && !broken)
		fprintf(stderr, "fluxtrace: all %u budgets hold\n", t->o.nbudgets);

	ring_buffer__free(t->rb);
out_destroy:
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(t->alloc_links[i]);
	fluxtrace_bpf__destroy(t->skel);
out_free:
	free(t);
	return ret;
}
