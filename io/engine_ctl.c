// SPDX-License-Identifier: MIT
/*
 * RT(ctl): the engine's face on the control thread: push commands, pop messages, wait for
 * them, read a device's counters. In a file of its own so that `make check-rt` audits what the
 * control thread calls each cycle; the setup side stays in engine.c, the I/O thread's in
 * engine_loop.c.
 */
#include "io/engine_int.h"

/* RT(ctl) */
unsigned eng_submit(struct eng *e, const struct eng_cmd *cmds, unsigned n)
{
	unsigned done = ring_push_n(&e->cmd, cmds, n);

	ring_notify(&e->cmd);
	return done;
}

/* RT(ctl) */
unsigned eng_pop(struct eng *e, struct eng_msg *out, unsigned max)
{
	return ring_pop_n(&e->msg, out, max);
}

/* RT(ctl) */
int eng_wait(struct eng *e, int64_t deadline_ns)
{
	return ring_wait(&e->msg, deadline_ns);
}

const struct eng_counters *eng_counters(const struct eng *e, unsigned dev)
{
	return dev < e->cfg.ndev ? &e->ds[dev].c : NULL;
}
