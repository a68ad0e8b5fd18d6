/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring of fixed-size messages: exactly one producer thread and one consumer thread,
 * power-of-two capacity, messages copied in and out (never pointers), never blocks; a push
 * onto a full ring is refused and counted as a drop. Free-running 32-bit indices, masked on
 * use (wrap-around is harmless: capacity <= 2^30). Each side keeps its index on its own
 * cache line and caches its last view of the other side's (rigtorp/SPSCQueue), so the shared
 * line is read only when the cached view says full/empty.
 *
 * A consumer may sleep: ring_wait() (futex, with an absolute deadline) or, for a consumer
 * sleeping in io_uring_enter/epoll, ring_prepare_sleep() + ring_wake_fd() (eventfd; a ring
 * made with RING_F_EVENTFD is woken through the eventfd only, not the futex). The
 * producer calls ring_notify() after a push or a batch; it costs one fence and one load of a
 * line that stays cached while the consumer is awake, and does a syscall only when the
 * consumer announced a sleep.
 */
#ifndef FLUX_RT_RING_H
#define FLUX_RT_RING_H

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- constants ---------------------------------------------------------------------- */

#define RING_CACHE_LINE	    64
#define RING_MAX_CAPACITY   (1u << 30)	 /* keeps free-running u32 index arithmetic exact */
#define RING_MAX_BYTES	    (1ull << 30) /* capacity x elem_size, a sanity bound */
#define RING_WAIT_FOREVER   (-1LL)	 /* ring_wait() deadline: no timeout */
#define RING_PREFETCH_AHEAD 4		 /* producer prefetches the slot this far ahead */

/* ring_init() flags */
#define RING_F_EVENTFD 0x1u /* also signal an eventfd on wake-up (see ring_wake_fd()) */

/* ---- structs ------------------------------------------------------------------------ */

/* Owned by the thread that called ring_init(); then shared by one producer and one consumer. */
struct ring {
	/* Read-only after ring_init(): any thread. */
	alignas(RING_CACHE_LINE) unsigned char *slots; /* capacity x elem_size bytes */
	uint32_t mask;				       /* capacity - 1 */
	uint32_t elem_size;			       /* bytes per message */
	int wake_fd;				       /* eventfd if has_wake_fd */
	bool has_wake_fd;
	bool owns_slots; /* slots allocated by ring_init(), freed by ring_exit() */

	/* Producer line: written by the producer only. */
	alignas(RING_CACHE_LINE) _Atomic uint32_t tail; /* next slot to write */
	uint32_t head_cache;				/* producer's last view of head */
	_Atomic uint64_t drops;				/* refused pushes; others read relaxed */
	_Atomic uint64_t wakeups;			/* wake syscalls done by ring_notify() */

	/* Consumer line: written by the consumer only. */
	alignas(RING_CACHE_LINE) _Atomic uint32_t head; /* next slot to read */
	uint32_t tail_cache;				/* consumer's last view of tail */

	/* Wake line: futex word, set by the consumer before a sleep, cleared by either side. */
	alignas(RING_CACHE_LINE) _Atomic uint32_t sleeping;
};

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Setup thread: initialise a ring of `capacity` (power of two, 2..RING_MAX_CAPACITY) messages
 * of `elem_size` bytes. `storage` (capacity x elem_size bytes, caller-owned, outlives the ring)
 * or NULL to allocate it here once, cache-line aligned and prefaulted. Flags: RING_F_*.
 * Returns -errno on error (-EINVAL, -ENOMEM, eventfd errors), or zero on success.
 */
int ring_init(struct ring *r, void *storage, uint32_t elem_size, uint32_t capacity, unsigned flags);

/* Setup thread, after both sides stopped: free what ring_init() allocated. Safe on zeroed. */
void ring_exit(struct ring *r);

/* Any thread: the eventfd written on wake-up, or -1 without RING_F_EVENTFD. */
static inline int ring_wake_fd(const struct ring *r);

/* Any thread: capacity in messages. */
static inline uint32_t ring_capacity(const struct ring *r);

/* RT(producer): copy up to n messages in; returns how many fit. Does not count drops. */
static inline uint32_t ring_try_push_n(struct ring *r, const void *msgs, uint32_t n);

/* RT(producer): as ring_try_push_n(), and counts the messages that did not fit as drops. */
static inline uint32_t ring_push_n(struct ring *r, const void *msgs, uint32_t n);

/* RT(producer): push one message; -ENOBUFS (counted as a drop) if full, else zero. */
static inline int ring_push(struct ring *r, const void *msg);

/* RT(producer): after a push or a batch: wake the consumer if it announced a sleep. */
static inline void ring_notify(struct ring *r);

/* RT(consumer): copy up to max messages out, oldest first; returns how many. Never blocks. */
static inline uint32_t ring_pop_n(struct ring *r, void *out, uint32_t max);

/* RT(consumer): pop one message; -EAGAIN if empty, else zero. */
static inline int ring_pop(struct ring *r, void *out);

/* RT(consumer): messages ready to pop (exact for the consumer, a lower bound at once after). */
static inline uint32_t ring_count(struct ring *r);

/*
 * RT(consumer): sleep until the ring is non-empty or CLOCK_MONOTONIC reaches deadline_ns
 * (RING_WAIT_FOREVER: no deadline; any other negative value has passed). Blocks (futex).
 * Returns zero when messages are ready, -ETIMEDOUT, -EINTR on a signal, or another -errno.
 */
int ring_wait(struct ring *r, int64_t deadline_ns);

/*
 * RT(consumer), for a consumer that sleeps elsewhere (io_uring with a read armed on
 * ring_wake_fd()): announce the sleep. Returns true if the ring is still empty and the
 * consumer may sleep (the producer's next ring_notify() will signal it); false if messages
 * arrived (announcement withdrawn). Call ring_end_sleep() after waking.
 */
static inline bool ring_prepare_sleep(struct ring *r);

/* RT(consumer): withdraw a sleep announcement. */
static inline void ring_end_sleep(struct ring *r);

/* RT(producer), out of line (rt/ring_wait.c): the syscall half of ring_notify(). */
void ring_wake(struct ring *r);

/* Any thread: counters (relaxed reads, monotonic). */
static inline uint64_t ring_drops(const struct ring *r);
static inline uint64_t ring_wakeups(const struct ring *r);

/* ---- inline bodies ------------------------------------------------------------------ */

/* GCC 12+ warns (-Wtsan) that TSan does not model atomic_thread_fence(). It still calls TSan's
 * fence, and every access these fences order is itself atomic, so there is no race TSan could
 * miss or invent here; the warning is silenced for this header's bodies only. */
#if defined(__SANITIZE_THREAD__) && !defined(__clang__) && __GNUC__ >= 12
#define RING_TSAN_FENCE_PRAGMAS 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif

static inline int ring_wake_fd(const struct ring *r)
{
	return r->has_wake_fd ? r->wake_fd : -1;
}

static inline uint32_t ring_capacity(const struct ring *r)
{
	return r->mask + 1;
}

/* RT(any): copy n messages between a linear buffer and the slots starting at index pos. */
static inline void ring_copy_in(struct ring *r, uint32_t pos, const void *src, uint32_t n)
{
	size_t es = r->elem_size;
	uint32_t idx = pos & r->mask;
	uint32_t first = r->mask + 1 - idx;

	if (first > n)
		first = n;
	memcpy(r->slots + idx * es, src, first * es);
	if (n > first)
		memcpy(r->slots, (const unsigned char *)src + first * es, (n - first) * es);
}

static inline void ring_copy_out(const struct ring *r, uint32_t pos, void *dst, uint32_t n)
{
	size_t es = r->elem_size;
	uint32_t idx = pos & r->mask;
	uint32_t first = r->mask + 1 - idx;

	if (first > n)
		first = n;
	memcpy(dst, r->slots + idx * es, first * es);
	if (n > first)
		memcpy((unsigned char *)dst + first * es, r->slots, (n - first) * es);
}

/* RT(producer): never blocks, no syscall. */
static inline uint32_t ring_try_push_n(struct ring *r, const void *msgs, uint32_t n)
{
	/* Our own index: only this thread writes it, relaxed is exact. */
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t cap = r->mask + 1;
	uint32_t space = cap - (tail - r->head_cache);

	if (space < n) {
		/* A2: pairs with R2 in ring_pop_n(): the consumer's copies out of the slots it
		 * released happen before our writes into them. */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		space = cap - (tail - r->head_cache);
		if (n > space)
			n = space;
	}
	if (n == 0)
		return 0;
	ring_copy_in(r, tail, msgs, n);
	/* Start taking ownership of a slot a few pushes ahead, while it is surely free, so its
	 * cache-line transfer from the consumer's core overlaps with this push. A hint only. */
	if (space - n > RING_PREFETCH_AHEAD) {
		size_t ahead = (tail + n + RING_PREFETCH_AHEAD) & r->mask;

		__builtin_prefetch(r->slots + ahead * r->elem_size, 1);
	}
	/* R1: pairs with A1 in ring_pop_n() and ring_count(): the slot contents are visible
	 * before the new tail is. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

/* RT(producer): single writer of drops, so a relaxed load+store replaces a locked add. */
static inline void ring_count_drops(struct ring *r, uint32_t n)
{
	uint64_t d = atomic_load_explicit(&r->drops, memory_order_relaxed);

	atomic_store_explicit(&r->drops, d + n, memory_order_relaxed);
}

/* RT(producer): never blocks, no syscall. */
static inline uint32_t ring_push_n(struct ring *r, const void *msgs, uint32_t n)
{
	uint32_t done = ring_try_push_n(r, msgs, n);

	if (done < n)
		ring_count_drops(r, n - done);
	return done;
}

/* RT(producer): never blocks, no syscall. */
static inline int ring_push(struct ring *r, const void *msg)
{
	return ring_push_n(r, msg, 1) ? 0 : -ENOBUFS;
}

/* RT(producer): a fence and a load; a syscall only if the consumer sleeps. */
static inline void ring_notify(struct ring *r)
{
	/* F1: pairs with F2 in ring_prepare_sleep(). Store-load (Dekker) ordering: either we
	 * see sleeping set, or the consumer's re-check after F2 sees our tail (R1). */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed))
		ring_wake(r);
}

/* RT(consumer): never blocks, no syscall. */
static inline uint32_t ring_pop_n(struct ring *r, void *out, uint32_t max)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t avail = r->tail_cache - head;

	if (avail < max) {
		/* A1: pairs with R1 in ring_try_push_n(): slot contents up to tail are visible. */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		avail = r->tail_cache - head;
		if (max > avail)
			max = avail;
	}
	if (max == 0)
		return 0;
	ring_copy_out(r, head, out, max);
	/* R2: pairs with A2 in ring_try_push_n(): our copies out finish before the producer
	 * may reuse the slots. */
	atomic_store_explicit(&r->head, head + max, memory_order_release);
	return max;
}

/* RT(consumer): never blocks. */
static inline int ring_pop(struct ring *r, void *out)
{
	return ring_pop_n(r, out, 1) ? 0 : -EAGAIN;
}

/* RT(consumer): never blocks. */
static inline uint32_t ring_count(struct ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	/* A1: pairs with R1 in ring_try_push_n(). */
	r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	return r->tail_cache - head;
}

/* RT(consumer): never blocks. */
static inline bool ring_prepare_sleep(struct ring *r)
{
	atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
	/* F2: pairs with F1 in ring_notify(): our flag store is ordered before the re-check. */
	atomic_thread_fence(memory_order_seq_cst);
	if (ring_count(r) == 0)
		return true;
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
	return false;
}

/* RT(consumer): never blocks. */
static inline void ring_end_sleep(struct ring *r)
{
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
}

static inline uint64_t ring_drops(const struct ring *r)
{
	return atomic_load_explicit(&r->drops, memory_order_relaxed);
}

static inline uint64_t ring_wakeups(const struct ring *r)
{
	return atomic_load_explicit(&r->wakeups, memory_order_relaxed);
}

#ifdef RING_TSAN_FENCE_PRAGMAS
#pragma GCC diagnostic pop
#undef RING_TSAN_FENCE_PRAGMAS
#endif

#endif /* FLUX_RT_RING_H */
