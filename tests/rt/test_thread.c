// SPDX-License-Identifier: MIT
/*
 * Tests for rt/thread.c. Scheduling checks read back what the thread really got, so they hold
 * as root (SCHED_FIFO) and as a normal user (the fallback). The EPERM fallback, creation
 * failures and the process setup's partial results are forced through the thr_os seam.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/thread.h"

/* What the started thread saw of itself. */
struct seen {
	int policy;
	int priority;
	int cpu;
	int ncpus;
	bool is_cpu0_allowed;
	char name[THR_NAME_MAX];
	uintptr_t stack_addr;
};

static void *observe(void *p)
{
	struct seen *s = p;
	struct sched_param sp;
	cpu_set_t cpus;
	int marker = 0;

	pthread_getschedparam(pthread_self(), &s->policy, &sp);
	s->priority = sp.sched_priority;
	s->cpu = sched_getcpu();
	pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	s->ncpus = CPU_COUNT(&cpus);
	s->is_cpu0_allowed = CPU_ISSET(0, &cpus);
	pthread_getname_np(pthread_self(), s->name, sizeof(s->name));
	s->stack_addr = (uintptr_t)&marker;
	return s;
}

/* ---- seams ---------------------------------------------------------------------------- */

/* pthread_create that refuses SCHED_FIFO as an unprivileged process would. */
static int create_eperm_for_fifo(pthread_t *tid, const pthread_attr_t *attr, void *(*fn)(void *),
				 void *arg)
{
	int policy = SCHED_OTHER;

	pthread_attr_getschedpolicy(attr, &policy);
	if (policy == SCHED_FIFO)
		return EPERM;
	return pthread_create(tid, attr, fn, arg);
}

static int create_eagain(pthread_t *tid, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	(void)tid, (void)attr, (void)fn, (void)arg;
	return EAGAIN;
}

static int lock_eperm(int flags)
{
	(void)flags;
	errno = EPERM;
	return -1;
}

static int lock_ok(int flags)
{
	(void)flags;
	return 0;
}

static int lock_calls, lock_flags;

static int lock_record(int flags)
{
	lock_calls++;
	lock_flags = flags;
	return 0;
}

/* The default limit of a login session: 8 MiB. */
static int rlimit_8mib(int resource, struct rlimit *lim)
{
	(void)resource;
	lim->rlim_cur = lim->rlim_max = 8u << 20;
	return 0;
}

static int rlimit_unlimited(int resource, struct rlimit *lim)
{
	(void)resource;
	lim->rlim_cur = lim->rlim_max = RLIM_INFINITY;
	return 0;
}

static int rlimit_efault(int resource, struct rlimit *lim)
{
	(void)resource, (void)lim;
	errno = EFAULT;
	return -1;
}

static int caps_none(struct __user_cap_header_struct *hdr, struct __user_cap_data_struct *data)
{
	(void)hdr;
	memset(data, 0, 2 * sizeof(*data));
	return 0;
}

/* Everything but CAP_IPC_LOCK: the check must look at that bit, not at "has caps". */
static int caps_all_but_ipc_lock(struct __user_cap_header_struct *hdr,
				 struct __user_cap_data_struct *data)
{
	(void)hdr;
	memset(data, 0xff, 2 * sizeof(*data));
	data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	return 0;
}

static int caps_ipc_lock(struct __user_cap_header_struct *hdr, struct __user_cap_data_struct *data)
{
	caps_none(hdr, data);
	data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective |= CAP_TO_MASK(CAP_IPC_LOCK);
	return 0;
}

static int caps_eperm(struct __user_cap_header_struct *hdr, struct __user_cap_data_struct *data)
{
	(void)hdr, (void)data;
	errno = EPERM;
	return -1;
}

/* glibc's getrlimit() takes an enum under _GNU_SOURCE. */
static int rlimit_real(int resource, struct rlimit *lim)
{
	return getrlimit((__rlimit_resource_t)resource, lim);
}

static int caps_real(struct __user_cap_header_struct *hdr, struct __user_cap_data_struct *data)
{
	return (int)syscall(SYS_capget, hdr, data);
}

static int open_enoent(const char *path, int flags)
{
	(void)path, (void)flags;
	errno = ENOENT;
	return -1;
}

/* Opens /dev/null instead of the device, so the hold can "succeed" without privilege. */
static int open_devnull(const char *path, int flags)
{
	(void)path;
	return open("/dev/null", flags);
}

static int open_real(const char *path, int flags)
{
	return open(path, flags);
}

static int32_t written_value = -1;

static ssize_t write_record(int fd, const void *buf, size_t len)
{
	(void)fd;
	if (len == sizeof(written_value))
		memcpy(&written_value, buf, len);
	return (ssize_t)len;
}

static ssize_t write_short(int fd, const void *buf, size_t len)
{
	(void)fd, (void)buf, (void)len;
	errno = 0;
	return 1;
}

static int reset_os(void **state)
{
	(void)state;
	thr_set_os(NULL);
	return 0;
}

/* ---- thread tests --------------------------------------------------------------------- */

/* First in the list: the report is once per process, so no earlier test may trigger it. */
static void test_thr_falls_back_to_sched_other_on_eperm_and_reports_once(void **state)
{
	const struct thr_os os = { .create = create_eperm_for_fifo };
	const struct thr_attr a = { .name = "flux-fb", .priority = 50, .cpu = -1 };
	struct seen s1 = { 0 }, s2 = { 0 };
	struct thr t1, t2;
	char line[512];
	int saved, lines = 0;
	FILE *cap;

	(void)state;
	cap = tmpfile();
	assert_non_null(cap);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(cap), STDERR_FILENO);
	thr_set_os(&os);
	assert_int_equal(thr_start(&t1, &a, observe, &s1), 0);
	assert_int_equal(thr_start(&t2, &a, observe, &s2), 0);
	thr_set_os(NULL);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	assert_int_equal(thr_join(&t1, NULL), 0);
	assert_int_equal(thr_join(&t2, NULL), 0);
	assert_false(thr_has_rt(&t1));
	assert_false(thr_has_rt(&t2));
	assert_int_equal(s1.policy, SCHED_OTHER);
	assert_int_equal(s2.policy, SCHED_OTHER);
	rewind(cap);
	while (fgets(line, sizeof(line), cap))
		if (strstr(line, "SCHED_FIFO") && strstr(line, "SCHED_OTHER"))
			lines++;
	fclose(cap);
	assert_int_equal(lines, 1);
}

static void test_thr_start_rejects_bad_attributes(void **state)
{
	const struct thr_attr bad[] = {
		{ .name = NULL, .cpu = -1 },
		{ .name = "", .cpu = -1 },
		{ .name = "sixteen-chars-xx", .cpu = -1 },
		{ .name = "p", .priority = 100, .cpu = -1 },
		{ .name = "p", .priority = -1, .cpu = -1 },
		{ .name = "c", .cpu = -2 },
		{ .name = "c", .cpu = CPU_SETSIZE },
	};
	const struct thr_attr ok = { .name = "ok", .cpu = -1 };
	struct thr t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(thr_start(&t, &bad[i], observe, NULL), -EINVAL);
	assert_int_equal(thr_start(&t, &ok, NULL, NULL), -EINVAL);
	assert_false(t.is_running);
}

static void test_thr_join_returns_the_thread_result(void **state)
{
	const struct thr_attr a = { .name = "flux-join", .cpu = -1 };
	struct seen s = { 0 };
	void *ret = NULL;
	struct thr t;

	(void)state;
	assert_int_equal(thr_start(&t, &a, observe, &s), 0);
	assert_true(t.is_running);
	assert_int_equal(thr_join(&t, &ret), 0);
	assert_ptr_equal(ret, &s);
	assert_false(t.is_running);
	assert_null(t.map);
	assert_int_equal(thr_join(&t, NULL), -EINVAL); /* joined already */
}

static void test_thr_runs_at_requested_priority_or_reports_no_rt(void **state)
{
	const struct thr_attr a = { .name = "flux-prio", .priority = 10, .cpu = -1 };
	struct seen s = { 0 };
	struct thr t;

	(void)state;
	assert_int_equal(thr_start(&t, &a, observe, &s), 0);
	assert_int_equal(thr_join(&t, NULL), 0);
	/* Root here gets SCHED_FIFO; an unprivileged run gets the fallback. Either way has_rt
	 * tells the truth about what the thread ran with from its first instruction. */
	if (thr_has_rt(&t)) {
		assert_int_equal(s.policy, SCHED_FIFO);
		assert_int_equal(s.priority, 10);
	} else {
		assert_int_equal(s.policy, SCHED_OTHER);
	}
	print_message("SCHED_FIFO %s\n", thr_has_rt(&t) ? "granted" : "not permitted");
}

static void test_thr_priority_zero_runs_sched_other_without_report(void **state)
{
	const struct thr_attr a = { .name = "flux-other", .priority = 0, .cpu = -1 };
	struct seen s = { 0 };
	struct thr t;

	(void)state;
	assert_int_equal(thr_start(&t, &a, observe, &s), 0);
	assert_int_equal(thr_join(&t, NULL), 0);
	assert_false(thr_has_rt(&t));
	assert_int_equal(s.policy, SCHED_OTHER);
}

static void test_thr_pins_thread_to_its_cpu(void **state)
{
	const struct thr_attr a = { .name = "flux-pin", .cpu = 0 };
	struct seen s = { 0 };
	struct thr t;

	(void)state;
	assert_int_equal(thr_start(&t, &a, observe, &s), 0);
	assert_int_equal(thr_join(&t, NULL), 0);
	assert_int_equal(s.ncpus, 1);
	assert_true(s.is_cpu0_allowed);
	assert_int_equal(s.cpu, 0);
}

static void test_thr_names_thread_before_its_function_runs(void **state)
{
	const struct thr_attr a = { .name = "flux-ctl", .cpu = -1 };
	struct seen s = { 0 };
	struct thr t;

	(void)state;
	assert_int_equal(thr_start(&t, &a, observe, &s), 0);
	assert_int_equal(thr_join(&t, NULL), 0);
	assert_string_equal(s.name, "flux-ctl");
}

static void test_thr_stack_is_prefaulted_mapping_of_requested_size(void **state)
{
	const struct thr_attr a = { .name = "flux-stk", .cpu = -1, .stack_size = 100000 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = (100000 + page - 1) & ~(page - 1), i;
	struct seen s = { 0 };
	unsigned char *vec;
	uintptr_t lo, hi;
	struct thr t;

	(void)state;
	if (size < THR_STACK_MIN)
		size = THR_STACK_MIN; /* raised under TSan */
	assert_int_equal(thr_start(&t, &a, observe, &s), 0);
	assert_int_equal(t.map_size, size + page);
	lo = (uintptr_t)t.map + page;
	hi = (uintptr_t)t.map + t.map_size;
	/* Every stack page was resident before the thread ran (touched by thr_start). */
	vec = malloc(size / page);
	assert_non_null(vec);
	assert_int_equal(mincore((char *)t.map + page, size, vec), 0);
	for (i = 0; i < size / page; i++)
		assert_true(vec[i] & 1);
	free(vec);
	assert_int_equal(thr_join(&t, NULL), 0);
	assert_true(s.stack_addr >= lo && s.stack_addr < hi);
}

static void test_thr_start_unwinds_when_create_fails(void **state)
{
	const struct thr_os os = { .create = create_eagain };
	const struct thr_attr a = { .name = "flux-fail", .priority = 20, .cpu = 0 };
	struct thr t;

	(void)state;
	thr_set_os(&os);
	assert_int_equal(thr_start(&t, &a, observe, NULL), -EAGAIN);
	assert_null(t.map);
	assert_false(t.is_running);
	assert_false(thr_has_rt(&t));
}

static void test_thr_start_fails_for_cpu_not_present(void **state)
{
	const struct thr_attr a = { .name = "flux-cpu", .cpu = CPU_SETSIZE - 1 };
	struct thr t;

	(void)state;
	assert_int_equal(thr_start(&t, &a, observe, NULL), -EINVAL);
	assert_null(t.map);
	assert_false(t.is_running);
}

/* ---- process setup -------------------------------------------------------------------- */

static void test_thr_setup_process_reports_lock_failure_and_dma_hold(void **state)
{
	const struct thr_os os = {
		.lock_memory = lock_eperm,
		.get_rlimit = rlimit_unlimited,
		.get_caps = caps_none,
		.open_dev = open_devnull,
		.write_dev = write_record,
	};
	struct thr_proc p;
	char buf[256];
	int missing;
	bool had_fd0;

	(void)state;
	thr_set_os(&os);
	missing = thr_setup_process(&p, THR_PROC_DMA_LATENCY);
	assert_false(p.is_locked);
	assert_int_equal(p.lock_err, -EPERM);
	assert_true(p.has_dma_latency);
	assert_true(p.dma_fd >= 0);
	assert_int_equal(written_value, 0);
	/* mallopt is real: sanitizer runtimes may refuse it; the count must agree. */
	assert_int_equal(missing, 1 + !p.is_malloc_tuned);
	assert_true(thr_format_process(&p, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "mlockall: failed (Operation not permitted)"));
	assert_non_null(strstr(buf, "cpu_dma_latency: held at 0 us"));
	thr_release_process(&p);
	assert_int_equal(p.dma_fd, -1);
	assert_false(p.has_dma_latency);
	thr_release_process(&p); /* twice is safe */
	had_fd0 = fcntl(0, F_GETFD) >= 0;
	memset(&p, 0, sizeof(p));
	thr_release_process(&p); /* zeroed is safe: must not close fd 0 */
	assert_int_equal(fcntl(0, F_GETFD) >= 0, had_fd0);
	assert_int_equal(thr_format_process(&p, buf, 8), -ENOSPC);
}

static void test_thr_setup_process_reports_dma_open_failure(void **state)
{
	const struct thr_os os = { .lock_memory = lock_ok,
				   .get_rlimit = rlimit_8mib,
				   .get_caps = caps_ipc_lock,
				   .open_dev = open_enoent };
	struct thr_proc p;
	char buf[256];
	int missing;

	(void)state;
	thr_set_os(&os);
	missing = thr_setup_process(&p, THR_PROC_DMA_LATENCY);
	assert_int_equal(missing, 1 + !p.is_malloc_tuned);
	assert_true(p.is_locked);
	assert_false(p.has_dma_latency);
	assert_int_equal(p.dma_err, -ENOENT);
	assert_int_equal(p.dma_fd, -1);
	assert_true(thr_format_process(&p, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "cpu_dma_latency: not held (No such file or directory)"));
	thr_release_process(&p);
}

static void test_thr_setup_process_closes_dma_fd_on_short_write(void **state)
{
	const struct thr_os os = {
		.lock_memory = lock_ok,
		.get_rlimit = rlimit_unlimited,
		.get_caps = caps_none,
		.open_dev = open_devnull,
		.write_dev = write_short,
	};
	struct thr_proc p;

	(void)state;
	thr_set_os(&os);
	thr_setup_process(&p, THR_PROC_DMA_LATENCY);
	assert_false(p.has_dma_latency);
	assert_int_equal(p.dma_err, -EIO);
	assert_int_equal(p.dma_fd, -1);
}

static void test_thr_setup_process_without_dma_flag_does_not_open(void **state)
{
	const struct thr_os os = { .lock_memory = lock_ok,
				   .get_rlimit = rlimit_unlimited,
				   .get_caps = caps_none,
				   .open_dev = open_enoent };
	struct thr_proc p;
	int missing;

	(void)state;
	thr_set_os(&os);
	missing = thr_setup_process(&p, 0);
	assert_int_equal(missing, !p.is_malloc_tuned);
	assert_int_equal(p.dma_err, 0);
	assert_int_equal(p.dma_fd, -1);
}

/* A login session's 8 MiB and no CAP_IPC_LOCK: MCL_FUTURE is not asked, and the line says
 * what was not done, why, and the fix. */
static void test_thr_setup_process_skips_mlockall_under_a_small_memlock_limit(void **state)
{
	const struct thr_os os = {
		.lock_memory = lock_record,
		.get_rlimit = rlimit_8mib,
		.get_caps = caps_all_but_ipc_lock,
		.open_dev = open_enoent,
	};
	struct thr_proc p;
	char buf[512];
	int missing;

	(void)state;
	lock_calls = 0;
	thr_set_os(&os);
	missing = thr_setup_process(&p, 0);
	assert_int_equal(lock_calls, 0);
	assert_false(p.is_locked);
	assert_true(p.is_lock_skipped);
	assert_false(p.has_ipc_lock);
	assert_int_equal(p.lock_err, 0);
	assert_int_equal(p.memlock_bytes, 8u << 20);
	assert_int_equal(missing, 1 + !p.is_malloc_tuned);
	assert_true(thr_format_process(&p, buf, sizeof(buf)) > 0);
	if (!strstr(buf, "mlockall: not done: RLIMIT_MEMLOCK 8192 KiB cannot hold the process and "
			 "no CAP_IPC_LOCK (LimitMEMLOCK=infinity or run as root); "))
		fail_msg("unexpected line: %s", buf);
	assert_null(strchr(buf, '\n'));
}

static void test_thr_setup_process_skips_mlockall_when_the_limit_is_unreadable(void **state)
{
	const struct thr_os os = {
		.lock_memory = lock_record,
		.get_rlimit = rlimit_efault,
		.get_caps = caps_eperm,
		.open_dev = open_enoent,
	};
	struct thr_proc p;
	char buf[512];

	(void)state;
	lock_calls = 0;
	thr_set_os(&os);
	thr_setup_process(&p, 0);
	assert_int_equal(lock_calls, 0);
	assert_true(p.is_lock_skipped);
	assert_int_equal(p.memlock_err, -EFAULT);
	assert_true(thr_format_process(&p, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "mlockall: not done: RLIMIT_MEMLOCK unreadable (Bad address) "
				    "and no CAP_IPC_LOCK"));
}

/* Unlimited, or CAP_IPC_LOCK whatever the limit: everything is locked, now and future. */
static void test_thr_setup_process_locks_all_when_unlimited_or_capable(void **state)
{
	const struct thr_os unlimited = {
		.lock_memory = lock_record,
		.get_rlimit = rlimit_unlimited,
		.get_caps = caps_eperm, /* unreadable caps do not matter when nothing limits */
		.open_dev = open_enoent,
	};
	const struct thr_os capable = {
		.lock_memory = lock_record,
		.get_rlimit = rlimit_8mib,
		.get_caps = caps_ipc_lock,
		.open_dev = open_enoent,
	};
	const struct thr_os *cases[] = { &unlimited, &capable };
	struct thr_proc p;
	char buf[512];

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		lock_calls = lock_flags = 0;
		thr_set_os(cases[i]);
		thr_setup_process(&p, 0);
		assert_int_equal(lock_calls, 1);
		assert_int_equal(lock_flags, MCL_CURRENT | MCL_FUTURE);
		assert_true(p.is_locked);
		assert_false(p.is_lock_skipped);
		assert_int_equal(p.has_ipc_lock, i == 1);
		assert_true(thr_format_process(&p, buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, "mlockall: ok; "));
	}
}

/*
 * The real thing, in a child with 8 MiB of RLIMIT_MEMLOCK and no CAP_IPC_LOCK (root gives up
 * its uid, which clears the effective capabilities): after thr_setup_process() the process can
 * still allocate and touch 64 MiB and start a thread (before the fix: ENOMEM).
 */
static void test_thr_setup_process_leaves_allocations_working_under_8mib(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const struct thr_attr a = { .name = "flux-after", .cpu = -1 };
		struct rlimit lim;
		struct thr_proc p;
		struct seen s = { 0 };
		struct thr t;
		char buf[512];
		size_t size = 64u << 20;
		char *big;

		thr_set_os(NULL);
		if (getrlimit(RLIMIT_MEMLOCK, &lim))
			_exit(9);
		/* The soft limit only: a normal user may lower it, whatever the hard one is. */
		if (lim.rlim_max == RLIM_INFINITY || lim.rlim_max > 8u << 20)
			lim.rlim_cur = 8u << 20;
		else
			lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_MEMLOCK, &lim))
			_exit(10);
		if (geteuid() == 0 &&
		    (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
			_exit(11);
		thr_setup_process(&p, 0);
		thr_format_process(&p, buf, sizeof(buf));
		if (p.is_locked || !p.is_lock_skipped ||
		    !strstr(buf, " KiB cannot hold the process and no CAP_IPC_LOCK"))
			_exit(12);
		big = malloc(size);
		if (!big)
			_exit(13);
		memset(big, 1, size);
		free(big);
		if (thr_start(&t, &a, observe, &s) || thr_join(&t, NULL))
			_exit(14);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The real calls: what is obtained depends on privilege; the report must be consistent. */
static void test_thr_setup_process_real_report_is_consistent(void **state)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* Sanitizer shadow memory is terabytes of address space: never mlockall it. */
	const struct thr_os os = {
		.lock_memory = lock_ok,
		.get_rlimit = rlimit_real,
		.get_caps = caps_real,
		.open_dev = open_real,
		.write_dev = write,
	};
#else
	const struct thr_os os = {
		.lock_memory = mlockall,
		.get_rlimit = rlimit_real,
		.get_caps = caps_real,
		.open_dev = open_real,
		.write_dev = write,
	};
#endif
	struct thr_proc p;
	char buf[256];
	int missing;

	(void)state;
	thr_set_os(&os);
	missing = thr_setup_process(&p, THR_PROC_DMA_LATENCY);
	assert_int_equal(missing, !p.is_locked + !p.is_malloc_tuned + !p.has_dma_latency);
	assert_true(p.is_locked == (p.lock_err == 0 && !p.is_lock_skipped));
	/* Skipped exactly when neither CAP_IPC_LOCK nor an unlimited limit lets it lock all. */
	assert_true(p.is_lock_skipped == (!p.has_ipc_lock && p.memlock_bytes != UINT64_MAX));
	assert_true(p.has_dma_latency == (p.dma_fd >= 0));
	assert_true(p.has_dma_latency == (p.dma_err == 0));
	assert_true(thr_format_process(&p, buf, sizeof(buf)) > 0);
	print_message("%s\n", buf);
	thr_release_process(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    test_thr_falls_back_to_sched_other_on_eperm_and_reports_once, reset_os),
		cmocka_unit_test(test_thr_start_rejects_bad_attributes),
		cmocka_unit_test(test_thr_join_returns_the_thread_result),
		cmocka_unit_test(test_thr_runs_at_requested_priority_or_reports_no_rt),
		cmocka_unit_test(test_thr_priority_zero_runs_sched_other_without_report),
		cmocka_unit_test(test_thr_pins_thread_to_its_cpu),
		cmocka_unit_test(test_thr_names_thread_before_its_function_runs),
		cmocka_unit_test(test_thr_stack_is_prefaulted_mapping_of_requested_size),
		cmocka_unit_test_teardown(test_thr_start_unwinds_when_create_fails, reset_os),
		cmocka_unit_test(test_thr_start_fails_for_cpu_not_present),
		cmocka_unit_test_teardown(test_thr_setup_process_reports_lock_failure_and_dma_hold,
					  reset_os),
		cmocka_unit_test_teardown(test_thr_setup_process_reports_dma_open_failure,
					  reset_os),
		cmocka_unit_test_teardown(test_thr_setup_process_closes_dma_fd_on_short_write,
					  reset_os),
		cmocka_unit_test_teardown(test_thr_setup_process_without_dma_flag_does_not_open,
					  reset_os),
		cmocka_unit_test_teardown(
		    test_thr_setup_process_skips_mlockall_under_a_small_memlock_limit, reset_os),
		cmocka_unit_test_teardown(
		    test_thr_setup_process_skips_mlockall_when_the_limit_is_unreadable, reset_os),
		cmocka_unit_test_teardown(
		    test_thr_setup_process_locks_all_when_unlimited_or_capable, reset_os),
		cmocka_unit_test(test_thr_setup_process_leaves_allocations_working_under_8mib),
		cmocka_unit_test_teardown(test_thr_setup_process_real_report_is_consistent,
					  reset_os),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
