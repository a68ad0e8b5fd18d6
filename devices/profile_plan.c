// SPDX-License-Identifier: MIT
/*
 * Poll blocks from points: the fewest FC03/FC04 reads that cover the points a site needs.
 * The one idea: with the points sorted by (function, address), a block is a run of
 * neighbours, and "at most 125 registers, no gap wider than max_gap" holds for every part of
 * a run that holds for the whole, so growing each block as far as it goes (greedy) gives the
 * fewest blocks. No allocation: usable on any thread.
 */
#include <errno.h>

#include "devices/profile.h"

/* A point reduced to what planning needs. */
struct span {
	uint8_t fc;
	uint32_t addr, end; /* end: one past the last register */
};

static bool span_before(const struct span *a, const struct span *b)
{
	return a->fc < b->fc || (a->fc == b->fc && a->addr < b->addr);
}

/* The chosen points as spans sorted by (fc, addr); returns the count or -EINVAL. */
static int collect(const struct prof_profile *p, const unsigned *idx, unsigned n_idx,
		   const struct prof_block *within, struct span *s)
{
	unsigned n = 0, count = idx ? n_idx : p->n_points;

	if (count > PROF_MAX_POINTS)
		return -EINVAL;
	for (unsigned k = 0; k < count; k++) {
		unsigned i = idx ? idx[k] : k;
		const struct prof_point *pt;
		struct span v;
		unsigned at;

		if (i >= p->n_points)
			return -EINVAL;
		pt = &p->points[i];
		v = (struct span){ .fc = pt->fc,
				   .addr = pt->addr,
				   .end = (uint32_t)pt->addr + prof_type_width(pt->type) };
		if (v.end > 0x10000)
			return -EINVAL;
		if (within && (v.fc != within->fc || v.addr < within->start ||
			       v.end > (uint32_t)within->start + within->count))
			continue;
		for (at = n; at > 0 && span_before(&v, &s[at - 1]); at--)
			s[at] = s[at - 1];
		s[at] = v;
		n++;
	}
	return (int)n;
}

static int plan(const struct span *s, unsigned n, unsigned max_gap, struct prof_block *out,
		unsigned cap)
{
	unsigned nb = 0;

	for (unsigned i = 0; i < n;) {
		uint32_t start = s[i].addr, end = s[i].end;
		unsigned j = i + 1;

		/* A repeated index (or an overlap) just extends the run. */
		while (j < n && s[j].fc == s[i].fc &&
		       (s[j].addr <= end || s[j].addr - end <= max_gap) &&
		       (s[j].end > end ? s[j].end : end) - start <= MB_MAX_READ_REGS) {
			if (s[j].end > end)
				end = s[j].end;
			j++;
		}
		if (end - start > MB_MAX_READ_REGS)
			return -EINVAL; /* a point wider than a read: not a Modbus type */
		if (nb == cap)
			return -E2BIG;
		out[nb++] = (struct prof_block){ .fc = s[i].fc,
						 .start = (uint16_t)start,
						 .count = (uint16_t)(end - start) };
		i = j;
	}
	return (int)nb;
}

int prof_plan_blocks(const struct prof_profile *p, const unsigned *idx, unsigned n_idx,
		     unsigned max_gap, struct prof_block *out, unsigned cap)
{
	struct span s[PROF_MAX_POINTS];
	int n;

	if (!p || (!out && cap))
		return -EINVAL;
	n = collect(p, idx, n_idx, NULL, s);
	if (n < 0)
		return n;
	return plan(s, (unsigned)n, max_gap, out, cap);
}

int prof_plan_split(const struct prof_profile *p, const struct prof_block *b, const unsigned *idx,
		    unsigned n_idx, struct prof_block *out, unsigned cap)
{
	struct span s[PROF_MAX_POINTS];
	int n;

	if (!p || !b || (!out && cap))
		return -EINVAL;
	n = collect(p, idx, n_idx, b, s);
	if (n < 0)
		return n;
	return plan(s, (unsigned)n, 0, out, cap);
}
