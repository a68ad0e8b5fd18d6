/* SPDX-License-Identifier: MIT */
/*
 * Seqlock: one writer publishes a fixed-size struct to many readers; the writer never blocks
 * or waits, readers retry when a write overlapped their copy. The payload is stored as
 * relaxed atomic 64-bit words, so a torn copy is a detected retry and never a data race in
 * the C11 model (TSan sees no race), following Boehm, "Can seqlocks get along with
 * programming language memory models?" (MSPC 2012).
 */
#ifndef FLUX_RT_SEQLOCK_H
#define FLUX_RT_SEQLOCK_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- constants ---------------------------------------------------------------------- */

#define SEQLOCK_MAX_SIZE (1u << 20) /* payload bytes, a sanity bound */

/* ---- structs ------------------------------------------------------------------------ */

/* Written by exactly one writer thread; read by any number of reader threads. */
struct seqlock {
	/* Writer-owned: even = stable, odd = write in progress. 64-bit: never wraps. */
	alignas(64) _Atomic uint64_t seq;
	/* Read-only after seqlock_init(). */
	_Atomic uint64_t *words; /* payload, nwords x 8 bytes, allocated once at init */
	uint32_t size;		 /* payload bytes as given to seqlock_init() */
	uint32_t nwords;
};

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Setup thread: allocate (once, prefaulted) and zero a payload of `size` bytes
 * (1..SEQLOCK_MAX_SIZE). Returns -errno on error (-EINVAL, -ENOMEM), or zero on success.
 */
int seqlock_init(struct seqlock *sl, size_t size);

/* Setup thread, when no thread uses it any more: free the payload. Safe on zeroed. */
void seqlock_exit(struct seqlock *sl);

/* RT(writer): publish `size` bytes from src. Never blocks, never waits for readers. */
static inline void seqlock_write(struct seqlock *sl, const void *src);

/*
 * Any thread: one attempt to copy a consistent payload into dst (`size` bytes). Returns true
 * on success; false if a write overlapped (dst then holds garbage). Never blocks.
 */
static inline bool seqlock_try_read(const struct seqlock *sl, void *dst);

/*
 * Reader thread (not RT: it may yield the CPU to a preempted writer): copy a consistent
 * payload into dst, retrying as needed. Returns the number of retries (>= 0).
 */
int seqlock_read(const struct seqlock *sl, void *dst);

/* Any thread: the number of completed writes so far. */
static inline uint64_t seqlock_writes(const struct seqlock *sl);

/* ---- inline bodies ------------------------------------------------------------------ */

/* GCC 12+ warns (-Wtsan) that TSan does not model atomic_thread_fence(). It still calls TSan's
 * fence, and every access these fences order is itself atomic, so there is no race TSan could
 * miss or invent here; the warning is silenced for this header's bodies only. */
#if defined(__SANITIZE_THREAD__) && !defined(__clang__) && __GNUC__ >= 12
#define SEQLOCK_TSAN_FENCE_PRAGMAS 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif

/* RT(writer): never blocks, no syscall. */
static inline void seqlock_write(struct seqlock *sl, const void *src)
{
	const unsigned char *p = src;
	uint64_t s = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	uint32_t full = sl->size / 8, i;
	uint64_t w;

	atomic_store_explicit(&sl->seq, s + 1, memory_order_relaxed);
	/* F1: pairs with F2 in seqlock_try_read(): the odd seq is ordered before every payload
	 * store below, so a reader that sees any new word sees seq moved on. */
	atomic_thread_fence(memory_order_release);
	for (i = 0; i < full; i++) {
		memcpy(&w, p + 8 * (size_t)i, 8);
		atomic_store_explicit(&sl->words[i], w, memory_order_relaxed);
	}
	if (full < sl->nwords) {
		w = 0;
		memcpy(&w, p + 8 * (size_t)full, sl->size - 8 * full);
		atomic_store_explicit(&sl->words[full], w, memory_order_relaxed);
	}
	/* R2: pairs with A1 in seqlock_try_read(): payload stores before the even seq. */
	atomic_store_explicit(&sl->seq, s + 2, memory_order_release);
}

/* Any thread: never blocks. */
static inline bool seqlock_try_read(const struct seqlock *sl, void *dst)
{
	unsigned char *p = dst;
	uint32_t full = sl->size / 8, i;
	uint64_t s1, s2, w;

	/* A1: pairs with R2 in seqlock_write(): an even seq shows the payload written before. */
	s1 = atomic_load_explicit(&sl->seq, memory_order_acquire);
	if (s1 & 1)
		return false;
	for (i = 0; i < full; i++) {
		w = atomic_load_explicit(&sl->words[i], memory_order_relaxed);
		memcpy(p + 8 * (size_t)i, &w, 8);
	}
	if (full < sl->nwords) {
		w = atomic_load_explicit(&sl->words[full], memory_order_relaxed);
		memcpy(p + 8 * (size_t)full, &w, sl->size - 8 * full);
	}
	/* F2: pairs with F1 in seqlock_write(): the payload loads are ordered before the seq
	 * re-read, so an overlapping write shows up as s2 != s1. */
	atomic_thread_fence(memory_order_acquire);
	s2 = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	return s1 == s2;
}

static inline uint64_t seqlock_writes(const struct seqlock *sl)
{
	return atomic_load_explicit(&sl->seq, memory_order_relaxed) / 2;
}

#ifdef SEQLOCK_TSAN_FENCE_PRAGMAS
#pragma GCC diagnostic pop
#undef SEQLOCK_TSAN_FENCE_PRAGMAS
#endif

#endif /* FLUX_RT_SEQLOCK_H */
