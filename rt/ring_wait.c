/* SPDX-License-Identifier: MIT */
/*
 * RT(io, ctl): the syscall half of the ring's sleep/wake protocol. The consumer sets
 * `sleeping`, re-checks the ring, then futex-waits on `sleeping`; the producer publishes, then
 * checks `sleeping` (ring_notify()) and only then enters the kernel, here.
 */
#include "rt/ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt/clock.h"

/* RT(consumer): sleep while *word == val, until the absolute CLOCK_MONOTONIC deadline. */
static int futex_wait_until(_Atomic uint32_t *word, uint32_t val, int64_t deadline_ns)
{
	struct timespec ts;
	const struct timespec *tsp = NULL;

	if (deadline_ns != RING_WAIT_FOREVER) {
		/* A deadline before the clock's epoch has passed, like any other past one. */
		ts = clk_ns_to_ts(deadline_ns < 0 ? 0 : deadline_ns);
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout (no FUTEX_CLOCK_REALTIME),
	 * so a late wake-up never stretches the deadline. Private: the ring is in-process. */
	if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, tsp, NULL,
		    FUTEX_BITSET_MATCH_ANY) == 0)
		return 0;
	return -errno;
}

/* RT(producer): called by ring_notify() only when the consumer announced a sleep. */
void ring_wake(struct ring *r)
{
	uint64_t w;

	/* Clear the flag first so that a burst of pushes before the consumer runs costs one
	 * wake, not one per push. Only the winner of the exchange issues the syscall. */
	if (!atomic_exchange_explicit(&r->sleeping, 0, memory_order_relaxed))
		return;
	/* An eventfd ring's consumer sleeps on the fd (io_uring, epoll), never on the futex:
	 * one syscall per wake, not two. */
	if (r->has_wake_fd)
		eventfd_write(r->wake_fd, 1);
	else
		syscall(SYS_futex, &r->sleeping, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
	w = atomic_load_explicit(&r->wakeups, memory_order_relaxed);
	atomic_store_explicit(&r->wakeups, w + 1, memory_order_relaxed);
}

/* RT(consumer): blocks in the kernel only while the ring is empty. */
int ring_wait(struct ring *r, int64_t deadline_ns)
{
	int ret;

	for (;;) {
		if (ring_count(r))
			return 0;
		if (!ring_prepare_sleep(r))
			return 0;
		/* Returns at once (-EAGAIN) if the producer already cleared the flag. */
		ret = futex_wait_until(&r->sleeping, 1, deadline_ns);
		ring_end_sleep(r);
		/* 0: woken; -EAGAIN: the flag changed first. Both mean look again. */
		if (ret && ret != -EAGAIN)
			return ring_count(r) ? 0 : ret;
	}
}
