// SPDX-License-Identifier: MIT
/*
 * fluxtrace, the BPF side: fluxd's USDT probes (rt/probe_list.h) paired into latency
 * histograms, the scheduler's view of fluxd's RT threads (wake-up latency, preemptions),
 * io_uring completions, and heap allocations and page faults on the RT threads after start.
 * The one idea: every latency is timed with the kernel's clock at the probe hits, so it is
 * measured from outside the process; only samples over a budget are sent to user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "fluxtrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader between open and load. */
const volatile __u32 targ_tgid;		   /* --pid; 0: the first process that hits a probe */
const volatile __u64 warmup_cycles;	   /* allocs and faults count after this many cycles */
const volatile __u64 limit_ns[FT_NLIMITS]; /* over-budget event thresholds; 0: none */

/* Read by the loader through the mmapped .bss. */
__u32 seen_tgid;		     /* --exec: the process being traced */
__u64 counts[FT_NCOUNTS];	     /* enum ft_count */
__u64 over_budget[FT_NLIMITS];	     /* samples over limit_ns, by histogram */
__u64 dev_errors[FT_MAX_DEV];	     /* response_parsed with err != 0, by device */
struct ft_thread threads[FT_NROLES]; /* by enum ft_role */
__u64 cycles_seen;		     /* cycle_start hits */
__u64 count_from_ns;		     /* when allocs/faults started counting; 0: not yet */
__u64 last_cqe_ns;		     /* last completion on fluxd's ring */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FT_NHIST);
	__type(key, __u32);
	__type(value, struct ft_hist);
} hists SEC(".maps");

/* cycle -> when its POLLs were pushed */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} poll_ts SEC(".maps");

/* dev << 16 | tid -> when the request was sent */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} req_ts SEC(".maps");

struct write_start {
	__u64 t_ns;
	__u32 addr;
	__u32 pad;
};

/* dev -> the setpoint write pushed last */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct write_start);
} write_ts SEC(".maps");

/* RT thread tid -> when it was woken */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} wake_ts SEC(".maps");

/* tid -> enum ft_role, for threads of the traced process */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} roles SEC(".maps");

/* io_uring contexts of the I/O thread */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u64);
	__type(value, __u32);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------ */

static __always_inline __u32 target(void)
{
	return targ_tgid ? targ_tgid : seen_tgid;
}

/* In a USDT handler: is this the traced process? --exec follows the first one seen. */
static __always_inline bool is_probe_target(__u32 tgid)
{
	if (targ_tgid)
		return tgid == targ_tgid;
	if (!seen_tgid)
		seen_tgid = tgid;
	return tgid == seen_tgid;
}

static __always_inline void count(__u32 c)
{
	if (c < FT_NCOUNTS)
		__sync_fetch_and_add(&counts[c], 1);
}

/* The record of a role, by constant index (the verifier then needs no bounds proof). */
static __always_inline struct ft_thread *thread_of(__u32 role)
{
	if (role == FT_ROLE_IO)
		return &threads[FT_ROLE_IO];
	if (role == FT_ROLE_CTL)
		return &threads[FT_ROLE_CTL];
	return NULL;
}

static __always_inline void set_role(__u32 tid, __u32 role)
{
	__u32 *r = bpf_map_lookup_elem(&roles, &tid);
	struct ft_thread *t;

	if (!r || *r != role) {
		bpf_map_update_elem(&roles, &tid, &role, BPF_ANY);
		t = thread_of(role);
		if (t)
			t->tid = tid;
	}
}

static __always_inline __u32 role_of_tid(__u32 tid)
{
	__u32 *r = bpf_map_lookup_elem(&roles, &tid);

	return r ? *r : FT_ROLE_NONE;
}

/* A task of the traced process named flux-io or flux-ctl (rt/thread.h). */
static __always_inline __u32 task_role(struct task_struct *t)
{
	char comm[FT_COMM_LEN];
	__u32 tgid = BPF_CORE_READ(t, tgid), want = target();

	if (!want || tgid != want)
		return FT_ROLE_NONE;
	BPF_CORE_READ_STR_INTO(&comm, t, comm);
	if (comm[0] != 'f' || comm[1] != 'l' || comm[2] != 'u' || comm[3] != 'x' || comm[4] != '-')
		return FT_ROLE_NONE;
	if (comm[5] == 'i' && comm[6] == 'o' && comm[7] == 0)
		return FT_ROLE_IO;
	if (comm[5] == 'c' && comm[6] == 't' && comm[7] == 'l' && comm[8] == 0)
		return FT_ROLE_CTL;
	return FT_ROLE_NONE;
}

static __always_inline void record(__u32 id, __u64 v, __u32 dev, __u32 cycle)
{
	struct ft_hist *h = bpf_map_lookup_elem(&hists, &id);
	unsigned b = ft_bucket(v);

	if (!h)
		return;
	if (b >= FT_NBUCKETS)
		b = FT_NBUCKETS - 1;
	__sync_fetch_and_add(&h->buckets[b], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, v);
	if (v > h->max_ns)
		h->max_ns = v; /* one writer thread per histogram: no lost maximum in practice */
	if (id < FT_NLIMITS && limit_ns[id] && v > limit_ns[id]) {
		struct ft_event *e;

		__sync_fetch_and_add(&over_budget[id], 1);
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count(FT_C_EVENTS_LOST);
			return;
		}
		e->hist = id;
		e->dev = dev;
		e->cycle = cycle;
		e->pad = 0;
		e->value_ns = v;
		e->t_ns = bpf_ktime_get_ns();
		bpf_ringbuf_submit(e, 0);
	}
}

static __always_inline __u64 since(__u64 now, __u64 then)
{
	return now > then ? now - then : 0;
}

/* ---- USDT probes (names and arguments: rt/probe_list.h) ----------------------------- */

SEC("usdt")
int BPF_USDT(cycle_start, __u32 cycle, __s64 planned_ns, __s64 wake_ns)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid();

	if (!is_probe_target(id >> 32))
		return 0;
	set_role((__u32)id, FT_ROLE_CTL);
	count(FT_C_PROBE(cycle_start));
	record(FT_H_CYCLE_JITTER, since(now, (__u64)planned_ns), ~0u, cycle);
	if (__sync_fetch_and_add(&cycles_seen, 1) >= warmup_cycles && !count_from_ns)
		count_from_ns = now;
	return 0;
}

SEC("usdt")
int BPF_USDT(cycle_end, __u32 cycle, __s64 planned_ns, __s64 end_ns)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid();

	if (!is_probe_target(id >> 32))
		return 0;
	count(FT_C_PROBE(cycle_end));
	record(FT_H_CYCLE_TIME, since(now, (__u64)planned_ns), ~0u, cycle);
	return 0;
}

SEC("usdt")
int BPF_USDT(poll_push, __u32 cycle, __u32 ndev, __s64 t_push_ns)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid();

	if (!is_probe_target(id >> 32))
		return 0;
	count(FT_C_PROBE(poll_push));
	bpf_map_update_elem(&poll_ts, &cycle, &now, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(request_sent, __u32 dev, __u32 fc, __u32 addr, __u32 tid, __u32 attempt)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid();
	__u32 key = dev << 16 | (tid & 0xFFFF);

	if (!is_probe_target(id >> 32))
		return 0;
	set_role((__u32)id, FT_ROLE_IO);
	count(FT_C_PROBE(request_sent));
	bpf_map_update_elem(&req_ts, &key, &now, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(response_parsed, __u32 dev, __u32 fc, __u32 addr, __u32 tid, __s32 err)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid(), *t;
	__u32 key = dev << 16 | (tid & 0xFFFF);
	struct write_start *w;

	if (!is_probe_target(id >> 32))
		return 0;
	count(FT_C_PROBE(response_parsed));
	if (err) {
		count(FT_C_RSP_ERR);
		if (dev < FT_MAX_DEV)
			__sync_fetch_and_add(&dev_errors[dev], 1);
	}
	t = bpf_map_lookup_elem(&req_ts, &key);
	if (t) {
		if (dev < FT_MAX_DEV)
			record(FT_H_RTT0 + dev, since(now, *t), dev, 0);
		bpf_map_delete_elem(&req_ts, &key);
	}
	if (last_cqe_ns)
		record(FT_H_CQE_TO_PARSE, since(now, last_cqe_ns), dev, 0);
	/* Writes: 0x05 0x06 0x0F 0x10; the echo of the setpoint write ends setpoint_write. */
	if (fc == 0x05 || fc == 0x06 || fc == 0x0F || fc == 0x10) {
		w = bpf_map_lookup_elem(&write_ts, &dev);
		if (w && w->addr == addr) {
			if (!err)
				record(FT_H_SETPOINT_WRITE, since(now, w->t_ns), dev, 0);
			bpf_map_delete_elem(&write_ts, &dev);
		}
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(sample_consumed, __u32 dev, __u32 cycle, __s64 soe_pct_x100, __s64 t_cmd_ns)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid(), *t;

	if (!is_probe_target(id >> 32))
		return 0;
	count(FT_C_PROBE(sample_consumed));
	t = bpf_map_lookup_elem(&poll_ts, &cycle);
	if (t)
		record(FT_H_SOE_READ, since(now, *t), dev, cycle);
	return 0;
}

SEC("usdt")
int BPF_USDT(setpoint_push, __u32 dev, __s32 kw, __u32 addr, __u32 cycle)
{
	struct write_start w = { .t_ns = bpf_ktime_get_ns(), .addr = addr };
	__u64 id = bpf_get_current_pid_tgid();

	if (!is_probe_target(id >> 32))
		return 0;
	count(FT_C_PROBE(setpoint_push));
	bpf_map_update_elem(&write_ts, &dev, &w, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(write_ack, __u32 dev, __s64 kw, __u32 cycle, __s64 t_done_ns)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!is_probe_target(id >> 32))
		return 0;
	count(FT_C_PROBE(write_ack));
	return 0;
}

/*
 * One program above per probe of rt/probe_list.h, named as the probe (the loader attaches
 * skel->progs.NAME to flux:NAME): a probe added to the list without its program fails here.
 * mk/probes.sh (`make lint`) checks the other way, and the arguments.
 */
#define FT_HAS_PROGRAM(name, thread, args)                                                         \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&name), int (*)(struct pt_regs *)), \
		       "fluxtrace.bpf.c: no BPF_USDT program for probe " #name);
FLUX_PROBES(FT_HAS_PROGRAM)
#undef FT_HAS_PROGRAM

/* ---- the scheduler's view of the RT threads ----------------------------------------- */

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	__u32 role = task_role(p), tid;
	struct ft_thread *t;
	__u64 now;

	if (role == FT_ROLE_NONE)
		return 0;
	tid = BPF_CORE_READ(p, pid);
	now = bpf_ktime_get_ns();
	set_role(tid, role);
	t = thread_of(role);
	if (t)
		__sync_fetch_and_add(&t->wakeups, 1);
	bpf_map_update_elem(&wake_ts, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 role = task_role(prev), tid;
	struct ft_thread *th = thread_of(role);
	__u64 *t;

	if (th && preempt)
		__sync_fetch_and_add(&th->preemptions, 1);
	role = task_role(next);
	if (role == FT_ROLE_NONE)
		return 0;
	tid = BPF_CORE_READ(next, pid);
	t = bpf_map_lookup_elem(&wake_ts, &tid);
	if (t) {
		record(role == FT_ROLE_IO ? FT_H_WAKEUP_IO : FT_H_WAKEUP_CTL,
		       since(bpf_ktime_get_ns(), *t), ~0u, 0);
		bpf_map_delete_elem(&wake_ts, &tid);
	}
	return 0;
}

/* ---- io_uring completions on the I/O thread's ring ---------------------------------- */

SEC("tracepoint/io_uring/io_uring_complete")
int io_uring_complete(struct trace_event_raw_io_uring_complete *args)
{
	__u64 ring = (__u64)BPF_CORE_READ(args, ctx), id = bpf_get_current_pid_tgid();
	__u32 one = 1;

	if (!bpf_map_lookup_elem(&rings, &ring)) {
		/* Learn the ring from a completion posted in the I/O thread's own context. */
		if ((__u32)(id >> 32) != target() || role_of_tid((__u32)id) != FT_ROLE_IO)
			return 0;
		bpf_map_update_elem(&rings, &ring, &one, BPF_ANY);
	}
	count(FT_C_CQE);
	if (BPF_CORE_READ(args, res) < 0)
		count(FT_C_CQE_ERR);
	last_cqe_ns = bpf_ktime_get_ns();
	return 0;
}

/* ---- the RT rules: no allocation, no page fault after start ------------------------- */

static __always_inline struct ft_thread *rt_thread_after_start(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 role;

	if (!count_from_ns || (__u32)(id >> 32) != target())
		return NULL;
	role = role_of_tid((__u32)id);
	return thread_of(role);
}

SEC("uprobe")
int BPF_KPROBE(heap_alloc)
{
	struct ft_thread *t = rt_thread_after_start();

	if (t)
		__sync_fetch_and_add(&t->allocs, 1);
	return 0;
}

SEC("tracepoint/exceptions/page_fault_user")
int page_fault_user(void *args)
{
	struct ft_thread *t = rt_thread_after_start();

	if (t)
		__sync_fetch_and_add(&t->faults, 1);
	return 0;
}
