/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring setup and teardown (cold path). The hot path is inline in ring.h and the
 * sleep/wake syscalls are in ring_wait.c, so RT objects can be audited by symbol.
 */
#include "rt/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int ring_init(struct ring *r, void *storage, uint32_t elem_size, uint32_t capacity, unsigned flags)
{
	size_t bytes = (size_t)elem_size * capacity;
	void *slots = storage;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!elem_size || capacity < 2 || capacity > RING_MAX_CAPACITY || !is_pow2(capacity) ||
	    bytes > RING_MAX_BYTES || (flags & ~RING_F_EVENTFD))
		return -EINVAL;

	if (!slots) {
		ret = -posix_memalign(&slots, RING_CACHE_LINE, bytes);
		if (ret)
			return ret;
		/* Touch every page now so the RT threads never fault on the slots. */
		memset(slots, 0, bytes);
		r->owns_slots = true;
	}
	r->slots = slots;
	r->mask = capacity - 1;
	r->elem_size = elem_size;
	r->wake_fd = -1;

	if (flags & RING_F_EVENTFD) {
		/* Blocking eventfd: an io_uring read on it is poll-driven, never -EAGAIN. */
		r->wake_fd = eventfd(0, EFD_CLOEXEC);
		if (r->wake_fd < 0) {
			ret = -errno;
			goto out_slots;
		}
		r->has_wake_fd = true;
	}
	return 0;

out_slots:
	if (r->owns_slots)
		free(slots);
	memset(r, 0, sizeof(*r));
	return ret;
}

void ring_exit(struct ring *r)
{
	if (r->has_wake_fd)
		close(r->wake_fd);
	if (r->owns_slots)
		free(r->slots);
	memset(r, 0, sizeof(*r));
}
