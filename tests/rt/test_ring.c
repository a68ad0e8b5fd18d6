// SPDX-License-Identifier: MIT
/*
 * Tests for rt/ring.h, rt/ring.c and rt/ring_wait.c: FIFO order, drops, wrap-around, the
 * sleep/wake protocol, and a two-thread stress with sequence numbers and checksums.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/ring.h"

#if defined(__SANITIZE_THREAD__)
#define STRESS_MSGS 1000000u
#elif defined(__SANITIZE_ADDRESS__)
#define STRESS_MSGS 2000000u
#else
#define STRESS_MSGS 4000000u
#endif

/* 56 bytes: not a power of two, so slot arithmetic is exercised with a real stride. */
struct msg {
	uint64_t seq;
	uint64_t data[5];
	uint64_t sum;
};

static void msg_fill(struct msg *m, uint64_t seq)
{
	int i;

	m->seq = seq;
	m->sum = seq;
	for (i = 0; i < 5; i++) {
		m->data[i] = seq * 0x9E3779B97F4A7C15ull + (uint64_t)i;
		m->sum ^= m->data[i] + (uint64_t)i;
	}
}

static bool msg_ok(const struct msg *m, uint64_t seq)
{
	struct msg want;

	msg_fill(&want, seq);
	return memcmp(m, &want, sizeof(want)) == 0;
}

static void test_ring_init_rejects_bad_arguments(void **state)
{
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, 8, 6, 0), -EINVAL); /* not a power of two */
	assert_int_equal(ring_init(&r, NULL, 8, 1, 0), -EINVAL); /* too small */
	assert_int_equal(ring_init(&r, NULL, 0, 8, 0), -EINVAL); /* empty messages */
	assert_int_equal(ring_init(&r, NULL, 8, 1u << 31, 0), -EINVAL);
	assert_int_equal(ring_init(&r, NULL, 4096, 1u << 20, 0), -EINVAL); /* 4 GiB */
	assert_int_equal(ring_init(&r, NULL, 8, 8, 0x80), -EINVAL);	   /* unknown flag */
	ring_exit(&r); /* zeroed by the failed init: must be safe */
}

static void test_ring_pops_in_fifo_order_from_caller_storage(void **state)
{
	uint32_t storage[8], v, i;
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, storage, sizeof(uint32_t), 8, 0), 0);
	assert_int_equal(ring_capacity(&r), 8);
	assert_int_equal(ring_wake_fd(&r), -1);
	for (i = 0; i < 5; i++)
		assert_int_equal(ring_push(&r, &i), 0);
	assert_int_equal(ring_count(&r), 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(ring_pop(&r, &v), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(ring_pop(&r, &v), -EAGAIN);
	assert_int_equal(ring_drops(&r), 0);
	ring_exit(&r);
}

static void test_ring_counts_drop_when_full(void **state)
{
	uint32_t v = 7, out[8], i;
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(v), 8, 0), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(ring_push(&r, &v), 0);
	assert_int_equal(ring_push(&r, &v), -ENOBUFS);
	assert_int_equal(ring_push(&r, &v), -ENOBUFS);
	assert_int_equal(ring_drops(&r), 2);
	/* The try variant refuses without counting. */
	assert_int_equal(ring_try_push_n(&r, &v, 1), 0);
	assert_int_equal(ring_drops(&r), 2);
	/* Space returns once the consumer pops. */
	assert_int_equal(ring_pop_n(&r, out, 3), 3);
	assert_int_equal(ring_push(&r, &v), 0);
	assert_int_equal(ring_count(&r), 6);
	ring_exit(&r);
}

static void test_ring_batch_push_is_partial_and_counts_the_rest(void **state)
{
	uint32_t in[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, out[10];
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(uint32_t), 8, 0), 0);
	assert_int_equal(ring_push_n(&r, in, 5), 5);
	assert_int_equal(ring_push_n(&r, in + 5, 5), 3);
	assert_int_equal(ring_drops(&r), 2);
	assert_int_equal(ring_pop_n(&r, out, 10), 8);
	assert_memory_equal(out, in, 8 * sizeof(uint32_t));
	assert_int_equal(ring_pop_n(&r, out, 10), 0);
	ring_exit(&r);
}

static void test_ring_batches_wrap_slots_and_index_overflow(void **state)
{
	struct msg in[7], out[7];
	uint64_t seq = 0, next = 0;
	struct ring r;
	uint32_t n, i, round;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(struct msg), 16, 0), 0);
	/* Start just below the u32 wrap so indices overflow during the test. */
	atomic_store(&r.tail, UINT32_MAX - 20);
	atomic_store(&r.head, UINT32_MAX - 20);
	r.head_cache = r.tail_cache = UINT32_MAX - 20;
	for (round = 0; round < 40; round++) {
		n = 1 + round % 7;
		for (i = 0; i < n; i++)
			msg_fill(&in[i], seq + i);
		assert_int_equal(ring_push_n(&r, in, n), n);
		seq += n;
		assert_int_equal(ring_pop_n(&r, out, n), n);
		for (i = 0; i < n; i++)
			assert_true(msg_ok(&out[i], next++));
	}
	assert_true(atomic_load(&r.tail) < 1000); /* wrapped */
	assert_int_equal(ring_drops(&r), 0);
	ring_exit(&r);
}

static void test_ring_hot_path_does_not_allocate(void **state)
{
	struct mallinfo2 before, after;
	struct msg m, out[4];
	struct ring r;
	uint32_t i;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(m), 64, 0), 0);
	msg_fill(&m, 1);
	before = mallinfo2();
	for (i = 0; i < 100000; i++) {
		ring_push(&r, &m);
		ring_notify(&r);
		if (i % 4 == 3)
			assert_int_equal(ring_pop_n(&r, out, 4), 4);
	}
	after = mallinfo2();
	assert_int_equal(before.uordblks, after.uordblks);
	assert_int_equal(before.arena, after.arena);
	assert_int_equal(before.hblkhd, after.hblkhd);
	ring_exit(&r);
}

static void test_ring_notify_makes_no_syscall_while_consumer_awake(void **state)
{
	uint32_t v = 1, i;
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(v), 8, RING_F_EVENTFD), 0);
	for (i = 0; i < 1000; i++) {
		ring_push(&r, &v);
		ring_notify(&r);
		assert_int_equal(ring_pop(&r, &v), 0);
	}
	assert_int_equal(ring_wakeups(&r), 0);
	ring_exit(&r);
}

static void test_ring_wait_returns_at_once_when_not_empty(void **state)
{
	uint32_t v = 1;
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(v), 8, 0), 0);
	ring_push(&r, &v);
	assert_int_equal(ring_wait(&r, clk_now_ns() - CLK_NS_PER_SEC), 0);
	assert_int_equal(atomic_load(&r.sleeping), 0);
	ring_exit(&r);
}

static void test_ring_wait_times_out_when_empty(void **state)
{
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, 4, 8, 0), 0);
	assert_int_equal(ring_wait(&r, clk_now_ns() - 1), -ETIMEDOUT); /* deadline passed */
	assert_int_equal(ring_wait(&r, clk_now_ns() + CLK_NS_PER_MS), -ETIMEDOUT);
	assert_int_equal(ring_wait(&r, -5), -ETIMEDOUT); /* before the epoch: passed too */
	assert_int_equal(atomic_load(&r.sleeping), 0);	 /* announcement withdrawn */
	ring_exit(&r);
}

struct waiter {
	struct ring *r;
	int ret;
	uint32_t got;
};

static void *wait_forever(void *p)
{
	struct waiter *w = p;

	w->ret = ring_wait(w->r, RING_WAIT_FOREVER);
	if (!w->ret)
		w->ret = ring_pop(w->r, &w->got);
	return NULL;
}

static void test_ring_notify_wakes_sleeping_consumer(void **state)
{
	struct waiter w = { 0 };
	uint32_t v = 42;
	struct ring r;
	pthread_t tid;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(v), 8, 0), 0);
	w.r = &r;
	assert_int_equal(pthread_create(&tid, NULL, wait_forever, &w), 0);
	/* Push only once the consumer announced its sleep, so the wake path is taken. */
	while (!atomic_load(&r.sleeping))
		sched_yield();
	ring_push(&r, &v);
	ring_notify(&r);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(w.ret, 0);
	assert_int_equal(w.got, 42);
	assert_int_equal(ring_wakeups(&r), 1);
	ring_exit(&r);
}

static void test_ring_eventfd_is_signalled_only_for_announced_sleep(void **state)
{
	uint32_t v = 5;
	uint64_t n = 0;
	struct ring r;

	(void)state;
	assert_int_equal(ring_init(&r, NULL, sizeof(v), 8, RING_F_EVENTFD), 0);
	assert_true(ring_wake_fd(&r) >= 0);
	assert_true(ring_prepare_sleep(&r)); /* empty: may sleep */
	ring_push(&r, &v);
	ring_notify(&r);
	assert_int_equal(read(ring_wake_fd(&r), &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
	assert_int_equal(atomic_load(&r.sleeping), 0); /* cleared by the producer */
	ring_end_sleep(&r);
	/* Not empty: the announcement is withdrawn at once. */
	assert_false(ring_prepare_sleep(&r));
	assert_int_equal(atomic_load(&r.sleeping), 0);
	ring_push(&r, &v);
	ring_notify(&r);
	assert_int_equal(ring_wakeups(&r), 1);
	ring_exit(&r);
}

static void test_ring_init_unwinds_when_eventfd_fails(void **state)
{
	struct rlimit old, low;
	struct ring r;
	int lowest, ret;

	(void)state;
	/* Make the next free descriptor number just out of reach: eventfd() gets EMFILE. */
	lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	ret = ring_init(&r, NULL, 8, 8, RING_F_EVENTFD);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(ret, -EMFILE);
	assert_null(r.slots);
	assert_false(r.has_wake_fd);
	ring_exit(&r);
}

/* ---- two-thread stress ---------------------------------------------------------------- */

struct stress {
	struct ring r;
	uint32_t msgs;
	bool consumer_sleeps; /* consumer uses ring_wait() when empty, producer notifies */
	uint64_t bad;	      /* consumer: messages out of order or with a bad checksum */
	uint64_t received;
	uint64_t sleeps;
	uint64_t wakeups; /* ring_wakeups() at the end */
};

static void *stress_producer(void *p)
{
	struct stress *s = p;
	struct msg batch[8];
	uint32_t seq = 0, n, i, done, spins = 0;

	while (seq < s->msgs) {
		n = 1 + seq % 8;
		if (n > s->msgs - seq)
			n = s->msgs - seq;
		for (i = 0; i < n; i++)
			msg_fill(&batch[i], seq + i);
		done = 0;
		while (done < n) {
			uint32_t k = ring_try_push_n(&s->r, batch + done, n - done);

			done += k;
			if (s->consumer_sleeps && k)
				ring_notify(&s->r);
			if (!k && ++spins % 64 == 0)
				sched_yield(); /* the consumer may share this CPU */
		}
		seq += n;
	}
	return NULL;
}

static void *stress_consumer(void *p)
{
	struct stress *s = p;
	struct msg batch[5];
	uint64_t next = 0;
	uint32_t n, i, spins = 0;

	while (next < s->msgs) {
		n = ring_pop_n(&s->r, batch, 1 + next % 5);
		if (!n) {
			if (s->consumer_sleeps) {
				s->sleeps++;
				if (ring_wait(&s->r, RING_WAIT_FOREVER))
					s->bad++;
			} else if (++spins % 64 == 0) {
				sched_yield();
			}
			continue;
		}
		for (i = 0; i < n; i++, next++)
			if (!msg_ok(&batch[i], next))
				s->bad++;
		s->received += n;
	}
	return NULL;
}

static void run_stress(struct stress *s, uint32_t capacity)
{
	pthread_t prod, cons;

	assert_int_equal(ring_init(&s->r, NULL, sizeof(struct msg), capacity, 0), 0);
	assert_int_equal(pthread_create(&cons, NULL, stress_consumer, s), 0);
	assert_int_equal(pthread_create(&prod, NULL, stress_producer, s), 0);
	assert_int_equal(pthread_join(prod, NULL), 0);
	assert_int_equal(pthread_join(cons, NULL), 0);
	assert_int_equal(s->bad, 0);
	assert_int_equal(s->received, s->msgs);
	assert_int_equal(ring_count(&s->r), 0);
	assert_int_equal(ring_drops(&s->r), 0);
	s->wakeups = ring_wakeups(&s->r);
	assert_true(s->wakeups <= s->sleeps); /* a wake syscall only for an announced sleep */
	ring_exit(&s->r);
}

static void test_ring_two_threads_deliver_every_message_intact(void **state)
{
	struct stress s = { .msgs = STRESS_MSGS };

	(void)state;
	run_stress(&s, 64);
}

static void test_ring_two_threads_with_sleeping_consumer_lose_no_wakeup(void **state)
{
	struct stress s = { .msgs = STRESS_MSGS / 4, .consumer_sleeps = true };

	(void)state;
	/* A tiny ring makes the consumer run dry, and sleep, often. A lost wake-up would hang
	 * here until the test runner's timeout. */
	run_stress(&s, 4);
	print_message("sleeping consumer: %llu sleeps, %llu wake syscalls for %u messages\n",
		      (unsigned long long)s.sleeps, (unsigned long long)s.wakeups, s.msgs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_init_rejects_bad_arguments),
		cmocka_unit_test(test_ring_pops_in_fifo_order_from_caller_storage),
		cmocka_unit_test(test_ring_counts_drop_when_full),
		cmocka_unit_test(test_ring_batch_push_is_partial_and_counts_the_rest),
		cmocka_unit_test(test_ring_batches_wrap_slots_and_index_overflow),
		cmocka_unit_test(test_ring_hot_path_does_not_allocate),
		cmocka_unit_test(test_ring_notify_makes_no_syscall_while_consumer_awake),
		cmocka_unit_test(test_ring_wait_returns_at_once_when_not_empty),
		cmocka_unit_test(test_ring_wait_times_out_when_empty),
		cmocka_unit_test(test_ring_notify_wakes_sleeping_consumer),
		cmocka_unit_test(test_ring_eventfd_is_signalled_only_for_announced_sleep),
		cmocka_unit_test(test_ring_init_unwinds_when_eventfd_fails),
		cmocka_unit_test(test_ring_two_threads_deliver_every_message_intact),
		cmocka_unit_test(test_ring_two_threads_with_sleeping_consumer_lose_no_wakeup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
