// SPDX-License-Identifier: MIT
/*
 * Tests for rt/seqlock.h and rt/seqlock.c: round trips of odd sizes, a write in progress
 * refused, and one writer against two readers for millions of snapshots, each checked for
 * consistency (every field derived from the same sequence number) and monotonic order.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rt/seqlock.h"

#if defined(__SANITIZE_THREAD__)
#define STRESS_WRITES 1000000u
#elif defined(__SANITIZE_ADDRESS__)
#define STRESS_WRITES 2000000u
#else
#define STRESS_WRITES 4000000u
#endif

#define SNAP_WORDS 15

/* 128 bytes: two cache lines, so a torn copy is likely if the protocol were wrong. */
struct snap {
	uint64_t seq;
	uint64_t w[SNAP_WORDS - 1];
	uint64_t sum;
};

static void snap_fill(struct snap *s, uint64_t seq)
{
	int i;

	s->seq = seq;
	s->sum = seq;
	for (i = 0; i < SNAP_WORDS - 1; i++) {
		s->w[i] = (seq + 1) * (uint64_t)(i + 3);
		s->sum += s->w[i];
	}
}

static bool snap_ok(const struct snap *s)
{
	struct snap want;

	snap_fill(&want, s->seq);
	return memcmp(s, &want, sizeof(want)) == 0;
}

static void test_seqlock_init_rejects_bad_sizes(void **state)
{
	struct seqlock sl;

	(void)state;
	assert_int_equal(seqlock_init(&sl, 0), -EINVAL);
	assert_int_equal(seqlock_init(&sl, SEQLOCK_MAX_SIZE + 1), -EINVAL);
	seqlock_exit(&sl);
}

static void test_seqlock_reads_back_zeroes_before_first_write(void **state)
{
	unsigned char out[24], zero[24] = { 0 };
	struct seqlock sl;

	(void)state;
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(seqlock_init(&sl, sizeof(out)), 0);
	assert_int_equal(seqlock_read(&sl, out), 0);
	assert_memory_equal(out, zero, sizeof(out));
	assert_int_equal(seqlock_writes(&sl), 0);
	seqlock_exit(&sl);
}

static void test_seqlock_round_trips_sizes_not_multiple_of_8(void **state)
{
	static const size_t sizes[] = { 1, 7, 8, 13, 100, 257 };
	unsigned char in[257], out[257 + 8];
	struct seqlock sl;
	size_t k, i;

	(void)state;
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		assert_int_equal(seqlock_init(&sl, sizes[k]), 0);
		for (i = 0; i < sizes[k]; i++)
			in[i] = (unsigned char)(i * 7 + k);
		memset(out, 0xEE, sizeof(out));
		seqlock_write(&sl, in);
		assert_true(seqlock_try_read(&sl, out));
		assert_memory_equal(out, in, sizes[k]);
		/* Nothing is written past the payload size. */
		assert_int_equal(out[sizes[k]], 0xEE);
		assert_int_equal(seqlock_writes(&sl), 1);
		seqlock_exit(&sl);
	}
}

static void test_seqlock_try_read_refuses_write_in_progress(void **state)
{
	uint64_t v = 5, out = 0;
	struct seqlock sl;

	(void)state;
	assert_int_equal(seqlock_init(&sl, sizeof(v)), 0);
	seqlock_write(&sl, &v);
	/* Simulate a writer stopped between its two seq increments. */
	atomic_store(&sl.seq, atomic_load(&sl.seq) + 1);
	assert_false(seqlock_try_read(&sl, &out));
	atomic_store(&sl.seq, atomic_load(&sl.seq) + 1);
	assert_true(seqlock_try_read(&sl, &out));
	assert_int_equal(out, 5);
	seqlock_exit(&sl);
}

static void test_seqlock_write_does_not_allocate(void **state)
{
	struct mallinfo2 before, after;
	struct seqlock sl;
	struct snap s;
	uint64_t i;

	(void)state;
	assert_int_equal(seqlock_init(&sl, sizeof(s)), 0);
	before = mallinfo2();
	for (i = 0; i < 100000; i++) {
		snap_fill(&s, i);
		seqlock_write(&sl, &s);
	}
	after = mallinfo2();
	assert_int_equal(before.uordblks, after.uordblks);
	assert_int_equal(before.arena, after.arena);
	assert_true(seqlock_try_read(&sl, &s));
	assert_int_equal(s.seq, 99999);
	seqlock_exit(&sl);
}

/* ---- one writer, two readers ---------------------------------------------------------- */

struct stress {
	struct seqlock sl;
	uint64_t writes;
	atomic_bool is_done;
};

struct reader {
	struct stress *s;
	uint64_t reads, retries, torn, backwards, last_seq;
};

static void *writer(void *p)
{
	struct stress *s = p;
	struct snap snap;
	uint64_t i;

	for (i = 1; i <= s->writes; i++) {
		snap_fill(&snap, i);
		seqlock_write(&s->sl, &snap);
	}
	atomic_store(&s->is_done, true);
	return NULL;
}

static void *reader(void *p)
{
	struct reader *r = p;
	struct snap snap;
	bool done;

	do {
		done = atomic_load(&r->s->is_done);
		r->retries += (uint64_t)seqlock_read(&r->s->sl, &snap);
		r->reads++;
		if (snap.seq == 0)
			continue; /* the initial zero payload */
		if (!snap_ok(&snap))
			r->torn++;
		if (snap.seq < r->last_seq)
			r->backwards++;
		r->last_seq = snap.seq;
	} while (!done);
	return NULL;
}

static void test_seqlock_readers_never_see_torn_or_older_snapshots(void **state)
{
	struct stress s = { .writes = STRESS_WRITES };
	struct reader rd[2] = { { .s = &s }, { .s = &s } };
	pthread_t w, r[2];
	int i;

	(void)state;
	assert_int_equal(seqlock_init(&s.sl, sizeof(struct snap)), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&r[i], NULL, reader, &rd[i]), 0);
	assert_int_equal(pthread_create(&w, NULL, writer, &s), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(r[i], NULL), 0);
		assert_int_equal(rd[i].torn, 0);
		assert_int_equal(rd[i].backwards, 0);
		/* The last read started after the writer finished: it sees the last write. */
		assert_int_equal(rd[i].last_seq, s.writes);
		print_message("reader %d: %llu reads, %llu retries\n", i,
			      (unsigned long long)rd[i].reads, (unsigned long long)rd[i].retries);
	}
	assert_int_equal(seqlock_writes(&s.sl), s.writes);
	seqlock_exit(&s.sl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seqlock_init_rejects_bad_sizes),
		cmocka_unit_test(test_seqlock_reads_back_zeroes_before_first_write),
		cmocka_unit_test(test_seqlock_round_trips_sizes_not_multiple_of_8),
		cmocka_unit_test(test_seqlock_try_read_refuses_write_in_progress),
		cmocka_unit_test(test_seqlock_write_does_not_allocate),
		cmocka_unit_test(test_seqlock_readers_never_see_torn_or_older_snapshots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
