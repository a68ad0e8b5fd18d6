// SPDX-License-Identifier: MIT
/*
 * bench_rt_ring: SPSC ring throughput across two threads (producer on CPU 0, consumer on
 * CPU 1 when there are two), side by side with a mutex+condvar bounded queue of the same
 * capacity and message size in the same run. Every message is checked on arrival
 * (sequence number), so a fast-but-wrong queue cannot win. Prints a table; never asserts.
 * QUICK=1 or a message count as argv[1] shortens it; --json FILE also writes the figures as
 * one JSON object.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/ring.h"
#include "rt/thread.h"

#define MSG_SIZE 64
#define CAPACITY 1024
#define REPEATS	 3
#define BATCH	 16

struct msg {
	uint64_t seq;
	unsigned char pad[MSG_SIZE - 8];
};

/* ---- mutex + condvar bounded queue: the textbook baseline ---------------------------- */

struct mq {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct msg slots[CAPACITY];
	uint32_t head, count;
	int waiting_consumer, waiting_producer; /* signal only when someone waits */
};

static void mq_push(struct mq *q, const struct msg *m)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == CAPACITY) {
		q->waiting_producer++;
		pthread_cond_wait(&q->not_full, &q->lock);
		q->waiting_producer--;
	}
	q->slots[(q->head + q->count) % CAPACITY] = *m;
	q->count++;
	if (q->waiting_consumer)
		pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

static void mq_pop(struct mq *q, struct msg *m)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == 0) {
		q->waiting_consumer++;
		pthread_cond_wait(&q->not_empty, &q->lock);
		q->waiting_consumer--;
	}
	*m = q->slots[q->head];
	q->head = (q->head + 1) % CAPACITY;
	q->count--;
	if (q->waiting_producer)
		pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}

/* ---- one run --------------------------------------------------------------------------- */

enum kind { K_RING, K_RING_DRAIN, K_RING_BATCH, K_RING_SLEEP, K_MUTEX, K_COUNT };

static const char *const kind_key[] = {
	[K_RING] = "ring_1_1",		 [K_RING_DRAIN] = "ring_1_all",
	[K_RING_BATCH] = "ring_batch16", [K_RING_SLEEP] = "ring_sleeping",
	[K_MUTEX] = "mutex_condvar",
};

static const char *const kind_name[] = {
	[K_RING] = "flux ring, push 1/pop 1",	[K_RING_DRAIN] = "flux ring, push 1/pop all",
	[K_RING_BATCH] = "flux ring, batch 16", [K_RING_SLEEP] = "flux ring, sleeping consumer",
	[K_MUTEX] = "mutex+condvar queue",
};

struct run {
	enum kind kind;
	uint64_t msgs;
	struct ring ring;
	struct mq *mq;
	atomic_int ready;
	uint64_t bad;
	int64_t t_start, t_end;
};

/* A spinning side backs off briefly so it does not steal the shared line on every probe. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static void wait_both_ready(struct run *r)
{
	atomic_fetch_add(&r->ready, 1);
	while (atomic_load(&r->ready) < 2)
		;
}

static void *producer(void *p)
{
	struct run *r = p;
	struct msg b[BATCH];
	uint64_t seq = 0;
	uint32_t n, i, done;

	memset(b, 0, sizeof(b));
	wait_both_ready(r);
	r->t_start = clk_now_ns();
	while (seq < r->msgs) {
		n = r->kind == K_RING || r->kind == K_RING_DRAIN || r->kind == K_MUTEX ? 1 : BATCH;
		if (n > r->msgs - seq)
			n = (uint32_t)(r->msgs - seq);
		for (i = 0; i < n; i++)
			b[i].seq = seq + i;
		if (r->kind == K_MUTEX) {
			mq_push(r->mq, &b[0]);
		} else {
			for (done = 0; done < n;) {
				uint32_t k = ring_try_push_n(&r->ring, b + done, n - done);

				done += k;
				if (r->kind == K_RING_SLEEP)
					ring_notify(&r->ring);
				if (!k)
					cpu_relax();
			}
		}
		seq += n;
	}
	return NULL;
}

static void *consumer(void *p)
{
	struct run *r = p;
	struct msg b[BATCH];
	uint64_t next = 0;
	uint32_t n, i;

	wait_both_ready(r);
	while (next < r->msgs) {
		switch (r->kind) {
		case K_MUTEX:
			mq_pop(r->mq, &b[0]);
			n = 1;
			break;
		case K_RING:
			n = ring_pop_n(&r->ring, b, 1);
			break;
		case K_RING_SLEEP:
			n = ring_pop_n(&r->ring, b, BATCH);
			if (!n)
				ring_wait(&r->ring, RING_WAIT_FOREVER);
			break;
		default:
			n = ring_pop_n(&r->ring, b, BATCH);
			break;
		}
		if (!n)
			cpu_relax();
		for (i = 0; i < n; i++, next++)
			r->bad += b[i].seq != next;
	}
	r->t_end = clk_now_ns();
	return NULL;
}

/* Returns ns per message, or a negative value if the run could not start. */
static double run_once(enum kind kind, uint64_t msgs, int ncpu)
{
	const struct thr_attr pa = { .name = "bench-prod", .cpu = ncpu > 1 ? 0 : -1 };
	const struct thr_attr ca = { .name = "bench-cons", .cpu = ncpu > 1 ? 1 : -1 };
	static struct mq mq;
	struct run r = { .kind = kind, .msgs = msgs, .mq = &mq };
	struct thr tp, tc;
	int ret;

	memset(&mq, 0, sizeof(mq));
	pthread_mutex_init(&mq.lock, NULL);
	pthread_cond_init(&mq.not_empty, NULL);
	pthread_cond_init(&mq.not_full, NULL);
	ret = ring_init(&r.ring, NULL, sizeof(struct msg), CAPACITY, 0);
	if (ret) {
		fprintf(stderr, "bench_rt_ring: ring_init: %s\n", strerror(-ret));
		return -1;
	}
	ret = thr_start(&tc, &ca, consumer, &r);
	if (!ret) {
		ret = thr_start(&tp, &pa, producer, &r);
		if (ret) /* the consumer waits for a producer that never comes: give it one */
			producer(&r);
		else
			thr_join(&tp, NULL);
		thr_join(&tc, NULL);
	}
	ring_exit(&r.ring);
	pthread_cond_destroy(&mq.not_full);
	pthread_cond_destroy(&mq.not_empty);
	pthread_mutex_destroy(&mq.lock);
	if (ret) {
		fprintf(stderr, "bench_rt_ring: thr_start: %s\n", strerror(-ret));
		return -1;
	}
	if (r.bad)
		fprintf(stderr, "bench_rt_ring: %s: %llu messages out of order!\n", kind_name[kind],
			(unsigned long long)r.bad);
	return (double)(r.t_end - r.t_start) / (double)msgs;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *quick = getenv("QUICK"), *json_path = NULL;
	uint64_t msgs = quick && *quick && strcmp(quick, "0") ? 1000000 : 5000000;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	double ns[K_COUNT][REPEATS], med[K_COUNT];
	FILE *jf;
	int k, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_path = argv[++i];
		else
			msgs = strtoull(argv[i], NULL, 0);
	}
	if (!msgs) {
		fprintf(stderr, "usage: %s [messages] [--json FILE]   (QUICK=1: 1M)\n", argv[0]);
		return 2;
	}
	printf("bench_rt_ring: %d-byte messages, %llu per run, capacity %d, median of %d runs,\n"
	       "  producer on CPU %s, consumer on CPU %s\n\n",
	       MSG_SIZE, (unsigned long long)msgs, CAPACITY, REPEATS, ncpu > 1 ? "0" : "any",
	       ncpu > 1 ? "1" : "any");
	/* Interleave the kinds so drift in machine load hits them all alike. */
	for (i = 0; i < REPEATS; i++)
		for (k = 0; k < K_COUNT; k++)
			ns[k][i] = run_once((enum kind)k, msgs, ncpu);
	printf("%-30s %10s %12s %10s\n", "queue", "ns/msg", "Mmsg/s", "vs mutex");
	for (k = 0; k < K_COUNT; k++) {
		qsort(ns[k], REPEATS, sizeof(double), cmp_double);
		med[k] = ns[k][REPEATS / 2];
	}
	for (k = 0; k < K_COUNT; k++) {
		if (med[k] <= 0) {
			printf("%-30s %10s\n", kind_name[k], "failed");
			continue;
		}
		printf("%-30s %10.1f %12.2f %9.1fx\n", kind_name[k], med[k], 1e3 / med[k],
		       med[K_MUTEX] / med[k]);
	}
	printf("\ntarget: >= 5x the mutex+condvar queue\n");
	for (k = 0; k < K_MUTEX; k++)
		if (med[k] > 0 && med[K_MUTEX] > 0)
			printf("  %-28s %s (%.1fx)\n", kind_name[k],
			       med[K_MUTEX] / med[k] >= 5.0 ? "met" : "NOT met",
			       med[K_MUTEX] / med[k]);
	if (!json_path)
		return 0;
	jf = fopen(json_path, "w");
	if (!jf) {
		fprintf(stderr, "bench_rt_ring: %s: %s\n", json_path, strerror(errno));
		return 1;
	}
	fprintf(jf,
		"{\"bench\":\"rt_ring\",\"msg_size\":%d,\"msgs\":%llu,\"capacity\":%d,"
		"\"repeats\":%d,\"batch\":%d,\"cpus\":%d,\"target_vs_mutex\":5,\"queues\":[",
		MSG_SIZE, (unsigned long long)msgs, CAPACITY, REPEATS, BATCH, ncpu);
	for (k = 0; k < K_COUNT; k++) {
		fprintf(jf, "%s{\"queue\":\"%s\",\"label\":\"%s\",", k ? "," : "", kind_key[k],
			kind_name[k]);
		if (med[k] > 0 && med[K_MUTEX] > 0)
			fprintf(jf, "\"ns_per_msg\":%.2f,\"vs_mutex\":%.3f}", med[k],
				med[K_MUTEX] / med[k]);
		else
			fprintf(jf, "\"ns_per_msg\":null,\"vs_mutex\":null}");
	}
	fprintf(jf, "]}\n");
	return fclose(jf) ? 1 : 0;
}
