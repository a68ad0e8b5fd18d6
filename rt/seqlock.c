/* SPDX-License-Identifier: MIT */
/*
 * Seqlock setup and the retrying reader (not RT: a reader may yield). The writer and the
 * single-attempt reader are inline in seqlock.h.
 */
#include "rt/seqlock.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

/* After this many failed attempts in a row the reader yields: the writer may be preempted
 * on this CPU mid-write, and spinning would only delay it. */
#define SEQLOCK_SPINS_BEFORE_YIELD 64

int seqlock_init(struct seqlock *sl, size_t size)
{
	void *words;
	uint32_t n;
	int ret;

	memset(sl, 0, sizeof(*sl));
	if (!size || size > SEQLOCK_MAX_SIZE)
		return -EINVAL;
	n = (uint32_t)((size + 7) / 8);
	ret = -posix_memalign(&words, 64, (size_t)n * 8);
	if (ret)
		return ret;
	/* Zero and prefault; plain stores are fine before the struct is shared. */
	memset(words, 0, (size_t)n * 8);
	sl->words = words;
	sl->size = (uint32_t)size;
	sl->nwords = n;
	atomic_init(&sl->seq, 0);
	return 0;
}

void seqlock_exit(struct seqlock *sl)
{
	free((void *)sl->words);
	memset(sl, 0, sizeof(*sl));
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

int seqlock_read(const struct seqlock *sl, void *dst)
{
	int retries = 0;

	while (!seqlock_try_read(sl, dst)) {
		retries++;
		if (retries % SEQLOCK_SPINS_BEFORE_YIELD == 0)
			sched_yield();
		else
			cpu_relax();
	}
	return retries;
}
