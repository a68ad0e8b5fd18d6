/* SPDX-License-Identifier: MIT */
/*
 * RT threads and process setup. thr_start() creates a thread that starts already at its
 * SCHED_FIFO priority (PTHREAD_EXPLICIT_SCHED), on its CPU, on a stack that was mapped and
 * touched before it ran (no page faults), with a guard page below it. Without the privilege
 * for SCHED_FIFO it says so once on stderr (at setup, from the creating thread) and runs the
 * thread SCHED_OTHER; the caller asks thr_has_rt(). thr_setup_process() does the process-wide
 * part: mlockall, malloc tuning, the /dev/cpu_dma_latency hold, and reports what it obtained.
 * It locks memory only where the lock cannot make a later allocation fail (CAP_IPC_LOCK or an
 * unlimited RLIMIT_MEMLOCK), so a normal user runs unlocked instead of failing with ENOMEM.
 * Everything here is setup code: none of it runs on an RT thread.
 */
#ifndef FLUX_RT_THREAD_H
#define FLUX_RT_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <linux/capability.h>

/* ---- constants ---------------------------------------------------------------------- */

#define THR_NAME_MAX	  16	       /* with the NUL, as pthread_setname_np() allows */
#define THR_STACK_DEFAULT (256 * 1024) /* bytes, when thr_attr.stack_size is 0 */
#if defined(__SANITIZE_THREAD__)
#define THR_STACK_MIN (2 * 1024 * 1024) /* TSan's runtime refuses smaller given stacks */
#else
#define THR_STACK_MIN (64 * 1024) /* smaller requests are raised to this */
#endif
#define THR_PRIO_MAX	     99 /* SCHED_FIFO range is 1..99 on Linux */
#define THR_DMA_LATENCY_PATH "/dev/cpu_dma_latency"

/* thr_setup_process() flags */
#define THR_PROC_DMA_LATENCY 0x1u /* hold /dev/cpu_dma_latency at 0 us while open */

/* ---- structs ------------------------------------------------------------------------ */

/* What to start; read by thr_start() only. */
struct thr_attr {
	const char *name;  /* 1..15 chars, shown by ps/top and in traces */
	int priority;	   /* 1..99: SCHED_FIFO; 0: SCHED_OTHER */
	int cpu;	   /* pin to this CPU; -1: not pinned */
	size_t stack_size; /* bytes; 0: THR_STACK_DEFAULT; rounded up to whole pages */
};

/* A started thread; owned by the thread that called thr_start(), until thr_join(). */
struct thr {
	pthread_t tid;
	void *(*fn)(void *);
	void *arg;
	void *map;	 /* guard page + stack */
	size_t map_size; /* bytes */
	char name[THR_NAME_MAX];
	bool has_rt;	 /* runs SCHED_FIFO at the requested priority */
	bool is_running; /* started, not yet joined */
};

/* What thr_setup_process() obtained; owned by the setup thread. */
struct thr_proc {
	bool is_locked;		/* mlockall(MCL_CURRENT | MCL_FUTURE) succeeded */
	int lock_err;		/* else its -errno, or 0 when it was not tried (is_lock_skipped) */
	bool is_lock_skipped;	/* not tried: the memlock limit cannot hold the process */
	bool has_ipc_lock;	/* CAP_IPC_LOCK effective: no limit applies to mlockall */
	uint64_t memlock_bytes; /* RLIMIT_MEMLOCK soft limit; UINT64_MAX: unlimited */
	int memlock_err;	/* -errno of getrlimit(RLIMIT_MEMLOCK), 0 if read */
	bool is_malloc_tuned;	/* M_MMAP_MAX = 0 and M_TRIM_THRESHOLD = -1 accepted */
	bool has_dma_latency;	/* /dev/cpu_dma_latency held at 0 through dma_fd */
	int dma_err;		/* -errno of the hold, or 0 when it was not asked for */
	int dma_fd;		/* open while held; -1 otherwise */
};

/* Test seam: the OS calls this module makes. Each returns as its libc namesake does. */
struct thr_os {
	int (*create)(pthread_t *tid, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
	int (*lock_memory)(int flags);			     /* mlockall */
	int (*get_rlimit)(int resource, struct rlimit *lim); /* getrlimit */
	int (*get_caps)(struct __user_cap_header_struct *hdr,
			struct __user_cap_data_struct *data);	   /* capget(2), data[2] */
	int (*open_dev)(const char *path, int flags);		   /* open */
	ssize_t (*write_dev)(int fd, const void *buf, size_t len); /* write */
};

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Setup thread: start fn(arg) as described by a. On EPERM for SCHED_FIFO, reports once per
 * process on stderr and starts it SCHED_OTHER (thr_has_rt() then says false). t must stay
 * valid until thr_join(). Returns -errno on error (-EINVAL for a bad name, priority, CPU or
 * a CPU not allowed, -ENOMEM, pthread errors), or zero on success.
 */
int thr_start(struct thr *t, const struct thr_attr *a, void *(*fn)(void *), void *arg);

/* Setup thread: wait for the thread to end (blocks), store its return in *retval if not
 * NULL, unmap its stack. Returns -EINVAL if t is not running, -errno, or zero on success. */
int thr_join(struct thr *t, void **retval);

/* Any thread: whether the started thread runs SCHED_FIFO at its priority. */
static inline bool thr_has_rt(const struct thr *t)
{
	return t->has_rt;
}

/*
 * Setup thread, before RT threads start: mlockall(MCL_CURRENT | MCL_FUTURE) when the process
 * has CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK (else nothing is locked: under a finite
 * limit MCL_FUTURE makes every allocation past it fail with ENOMEM, and the tables, stacks and
 * buffers made after this call are not known here), tell glibc never to return memory or mmap
 * allocations, and with THR_PROC_DMA_LATENCY hold /dev/cpu_dma_latency at 0. Fills p. Returns
 * how many of the asked things were not obtained (0: all), never fails otherwise.
 */
int thr_setup_process(struct thr_proc *p, unsigned flags);

/* Setup thread: drop the cpu_dma_latency hold (memory stays locked). Safe twice and on zeroed. */
void thr_release_process(struct thr_proc *p);

/* Not RT (snprintf): one line saying what p obtained, and for what was not, why and the fix
 * ("mlockall: not done: RLIMIT_MEMLOCK 8192 KiB cannot hold the process and no CAP_IPC_LOCK
 * (LimitMEMLOCK=infinity or run as root); ..."). Returns its length, or -ENOSPC if buf was too
 * small (truncated, NUL-terminated). */
int thr_format_process(const struct thr_proc *p, char *buf, size_t len);

/* Tests only: route OS calls through os (NULL: libc). Not thread-safe; call from setup. */
void thr_set_os(const struct thr_os *os);

#endif /* FLUX_RT_THREAD_H */
