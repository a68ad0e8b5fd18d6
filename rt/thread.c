/* SPDX-License-Identifier: MIT */
/*
 * RT thread creation and process setup (cold path only). The one idea: a thread is created
 * with every scheduling attribute set (PTHREAD_EXPLICIT_SCHED), so it never runs a single
 * instruction at the wrong priority or on the wrong CPU, and its stack is already resident.
 */
#define _GNU_SOURCE
#include "rt/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int os_lock_memory(int flags)
{
	return mlockall(flags);
}

static int os_get_rlimit(int resource, struct rlimit *lim)
{
	return getrlimit(resource, lim);
}

/* glibc has no capget() wrapper (libcap does; one call does not justify the library). */
static int os_get_caps(struct __user_cap_header_struct *hdr, struct __user_cap_data_struct *data)
{
	return (int)syscall(SYS_capget, hdr, data);
}

static int os_open_dev(const char *path, int flags)
{
	return open(path, flags);
}

static const struct thr_os libc_os = {
	.create = pthread_create,
	.lock_memory = os_lock_memory,
	.get_rlimit = os_get_rlimit,
	.get_caps = os_get_caps,
	.open_dev = os_open_dev,
	.write_dev = write,
};

static const struct thr_os *os = &libc_os;

/* Set once per process by the first thr_start() that falls back to SCHED_OTHER. */
static atomic_bool fallback_reported;

void thr_set_os(const struct thr_os *ops)
{
	os = ops ? ops : &libc_os;
}

/* Map guard page + stack, make the guard inaccessible, touch every stack page. */
static int stack_map(struct thr *t, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *map;

	t->map_size = size + page;
	map = mmap(NULL, t->map_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	/* The stack grows down: the guard is the lowest page. */
	if (mprotect(map, page, PROT_NONE)) {
		int err = -errno;

		munmap(map, t->map_size);
		return err;
	}
	memset((char *)map + page, 0, size);
	t->map = map;
	return 0;
}

static void stack_unmap(struct thr *t)
{
	munmap(t->map, t->map_size);
	t->map = NULL;
	t->map_size = 0;
}

/* Runs first on the new thread: name it, then run the caller's function. */
static void *thr_trampoline(void *p)
{
	struct thr *t = p;

	/* Cosmetic: the name only shows in ps/top/traces; a failure (no /proc) is harmless. */
	pthread_setname_np(pthread_self(), t->name);
	return t->fn(t->arg);
}

static int set_sched(pthread_attr_t *attr, int policy, int priority)
{
	struct sched_param sp = { .sched_priority = priority };
	int ret;

	ret = -pthread_attr_setschedpolicy(attr, policy);
	if (ret)
		return ret;
	return -pthread_attr_setschedparam(attr, &sp);
}

static void report_fallback(const struct thr_attr *a)
{
	if (atomic_exchange(&fallback_reported, true))
		return;
	fprintf(stderr,
		"flux: no permission for SCHED_FIFO (thread %s, priority %d): running RT threads "
		"SCHED_OTHER; grant CAP_SYS_NICE or an rtprio limit for real-time scheduling\n",
		a->name, a->priority);
}

int thr_start(struct thr *t, const struct thr_attr *a, void *(*fn)(void *), void *arg)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = a->stack_size ? a->stack_size : THR_STACK_DEFAULT;
	size_t name_len = a->name ? strlen(a->name) : 0;
	pthread_attr_t attr;
	cpu_set_t cpus;
	int ret;

	memset(t, 0, sizeof(*t));
	if (!fn || name_len == 0 || name_len >= THR_NAME_MAX || a->priority < 0 ||
	    a->priority > THR_PRIO_MAX || a->cpu < -1 || a->cpu >= CPU_SETSIZE)
		return -EINVAL;
	if (size < THR_STACK_MIN)
		size = THR_STACK_MIN;
	size = (size + page - 1) & ~(page - 1);
	memcpy(t->name, a->name, name_len + 1);
	t->fn = fn;
	t->arg = arg;

	ret = stack_map(t, size);
	if (ret)
		return ret;
	ret = -pthread_attr_init(&attr);
	if (ret)
		goto out_stack;
	ret = -pthread_attr_setstack(&attr, (char *)t->map + page, size);
	if (ret)
		goto out_attr;
	ret = -pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	if (ret)
		goto out_attr;
	if (a->cpu >= 0) {
		CPU_ZERO(&cpus);
		CPU_SET(a->cpu, &cpus);
		ret = -pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
		if (ret)
			goto out_attr;
	}
	ret = set_sched(&attr, a->priority ? SCHED_FIFO : SCHED_OTHER, a->priority);
	if (ret)
		goto out_attr;

	/* Written before pthread_create(), which orders it before anything the thread reads. */
	t->has_rt = a->priority > 0;
	ret = -os->create(&t->tid, &attr, thr_trampoline, t);
	if (ret == -EPERM && a->priority > 0) {
		report_fallback(a);
		ret = set_sched(&attr, SCHED_OTHER, 0);
		if (ret)
			goto out_attr;
		t->has_rt = false;
		ret = -os->create(&t->tid, &attr, thr_trampoline, t);
	}
	if (ret)
		goto out_attr;
	pthread_attr_destroy(&attr);
	t->is_running = true;
	return 0;

out_attr:
	pthread_attr_destroy(&attr);
out_stack:
	stack_unmap(t);
	t->has_rt = false;
	return ret;
}

int thr_join(struct thr *t, void **retval)
{
	int ret;

	if (!t->is_running)
		return -EINVAL;
	ret = -pthread_join(t->tid, retval);
	if (ret)
		return ret;
	t->is_running = false;
	stack_unmap(t);
	return 0;
}

/* Whether the effective set holds CAP_IPC_LOCK (false when it cannot be read). */
static bool has_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (os->get_caps(&hdr, data))
		return false;
	return data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK);
}

/*
 * The memory lock, where it is safe. mlockall(MCL_FUTURE) charges every later mapping to
 * RLIMIT_MEMLOCK and refuses the mapping (ENOMEM from malloc, mmap, pthread stacks) once the
 * limit is reached; with CAP_IPC_LOCK no limit applies. What the process maps after this call
 * (engine tables sized by the config, thread stacks, answer buffers, sanitizer shadow) is not
 * known here, so no finite limit can be judged big enough: then nothing is locked (MCL_CURRENT
 * alone would lock the libraries but not the tables the RT threads use) and p says why.
 */
static void lock_memory(struct thr_proc *p)
{
	struct rlimit lim;

	p->has_ipc_lock = has_cap_ipc_lock();
	if (os->get_rlimit(RLIMIT_MEMLOCK, &lim) == 0) {
		p->memlock_bytes = lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : lim.rlim_cur;
	} else {
		p->memlock_err = -errno;
		p->memlock_bytes = 0;
	}
	if (!p->has_ipc_lock && p->memlock_bytes != UINT64_MAX) {
		p->is_lock_skipped = true;
		return;
	}
	if (os->lock_memory(MCL_CURRENT | MCL_FUTURE) == 0)
		p->is_locked = true;
	else
		p->lock_err = -errno;
}

int thr_setup_process(struct thr_proc *p, unsigned flags)
{
	int32_t zero_us = 0;
	int missing = 0;

	memset(p, 0, sizeof(*p));
	p->dma_fd = -1;

	lock_memory(p);
	if (!p->is_locked)
		missing++;

	/* mallopt() returns 1 on success. With these, freed memory stays in the process (and
	 * locked), and large blocks come from the locked heap instead of fresh mmaps. */
	p->is_malloc_tuned = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
	if (!p->is_malloc_tuned)
		missing++;

	if (flags & THR_PROC_DMA_LATENCY) {
		/* The PM QoS request holds only while the fd stays open. */
		p->dma_fd = os->open_dev(THR_DMA_LATENCY_PATH, O_RDWR | O_CLOEXEC);
		if (p->dma_fd < 0) {
			p->dma_err = -errno;
		} else if (os->write_dev(p->dma_fd, &zero_us, sizeof(zero_us)) !=
			   (ssize_t)sizeof(zero_us)) {
			p->dma_err = errno ? -errno : -EIO;
			close(p->dma_fd);
			p->dma_fd = -1;
		} else {
			p->has_dma_latency = true;
		}
		if (!p->has_dma_latency)
			missing++;
	}
	return missing;
}

void thr_release_process(struct thr_proc *p)
{
	/* Guarded by the flag, not the fd: a zeroed struct has dma_fd 0, which is stdin. */
	if (p->has_dma_latency)
		close(p->dma_fd);
	p->dma_fd = -1;
	p->has_dma_latency = false;
}

int thr_format_process(const struct thr_proc *p, char *buf, size_t len)
{
	char dma[96], lock[192];
	int n;

	if (p->is_locked)
		snprintf(lock, sizeof(lock), "ok");
	else if (p->is_lock_skipped && p->memlock_err)
		snprintf(lock, sizeof(lock),
			 "not done: RLIMIT_MEMLOCK unreadable (%s) and no CAP_IPC_LOCK "
			 "(LimitMEMLOCK=infinity or run as root)",
			 strerror(-p->memlock_err));
	else if (p->is_lock_skipped)
		snprintf(lock, sizeof(lock),
			 "not done: RLIMIT_MEMLOCK %llu KiB cannot hold the process and no "
			 "CAP_IPC_LOCK (LimitMEMLOCK=infinity or run as root)",
			 (unsigned long long)(p->memlock_bytes / 1024));
	else
		snprintf(lock, sizeof(lock), "failed (%s)", strerror(-p->lock_err));
	if (p->has_dma_latency)
		snprintf(dma, sizeof(dma), "held at 0 us");
	else if (p->dma_err)
		snprintf(dma, sizeof(dma), "not held (%s)", strerror(-p->dma_err));
	else
		snprintf(dma, sizeof(dma), "not asked");
	n = snprintf(buf, len, "mlockall: %s; malloc trim/mmap off: %s; cpu_dma_latency: %s", lock,
		     p->is_malloc_tuned ? "yes" : "no", dma);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
