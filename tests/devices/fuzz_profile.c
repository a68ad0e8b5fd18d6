// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the profile loader, prof_load_text(), which reads a site's own register map.
 * Whatever it accepts must be a profile the rest of Flux can trust: it passes prof_check(),
 * its blocks are exactly prof_plan_blocks() of its points and hold each point once, the split
 * of each block covers that block's points without a gap, every role names a point that can
 * serve it, enum codes are unique with at most one READY and one FAULT, and each point
 * decodes from zeroed registers without a crash. Whatever it rejects comes with a message
 * naming the file and a code that prof_strerror() names, and nothing allocated.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.yaml"

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_profile: %s:%d: %s failed\n", __func__, __LINE__,    \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool holds(const struct prof_block *b, const struct prof_point *pt)
{
	return b->fc == pt->fc && pt->addr >= b->start &&
	       pt->addr + prof_type_width(pt->type) <= (uint32_t)b->start + b->count;
}

static void check_blocks(const struct prof_profile *p)
{
	struct prof_block plan[PROF_MAX_POINTS], split[PROF_MAX_POINTS];
	int n = prof_plan_blocks(p, NULL, 0, p->max_gap, plan, PROF_MAX_POINTS);

	check(n == (int)p->n_blocks && n >= 1 && n <= PROF_MAX_BLOCKS);
	for (int b = 0; b < n; b++) /* field by field: the structs have padding */
		check(plan[b].fc == p->blocks[b].fc && plan[b].start == p->blocks[b].start &&
		      plan[b].count == p->blocks[b].count);
	for (unsigned i = 0; i < p->n_points; i++) {
		unsigned in = 0;

		for (unsigned b = 0; b < p->n_blocks; b++)
			in += holds(&p->blocks[b], &p->points[i]);
		check(in == 1);
	}
	for (unsigned b = 0; b < p->n_blocks; b++) {
		int ns = prof_plan_split(p, &p->blocks[b], NULL, 0, split, PROF_MAX_POINTS);

		check(ns >= 1);
		for (int k = 0; k < ns; k++)
			check(split[k].fc == p->blocks[b].fc &&
			      split[k].start >= p->blocks[b].start &&
			      split[k].start + split[k].count <=
				  p->blocks[b].start + p->blocks[b].count);
		for (unsigned i = 0; i < p->n_points; i++) {
			unsigned in = 0;

			if (!holds(&p->blocks[b], &p->points[i]))
				continue;
			for (int k = 0; k < ns; k++)
				in += holds(&split[k], &p->points[i]);
			check(in == 1);
		}
	}
}

static void check_points(const struct prof_profile *p)
{
	static const uint16_t zeros[MB_MAX_READ_REGS];
	struct prof_value v[PROF_MAX_POINTS];

	for (unsigned i = 0; i < p->n_points; i++) {
		const struct prof_point *pt = &p->points[i];
		unsigned ready = 0, fault = 0;

		check(isfinite(pt->scale) && pt->scale != 0 && isfinite(pt->offset));
		check(strlen(pt->name) < PROF_NAME_MAX && strlen(pt->unit) < PROF_UNIT_MAX);
		check(!pt->has_range || pt->range_lo <= pt->range_hi);
		check(!pt->has_limits ||
		      (pt->write_min <= pt->write_max && (pt->flags & PROF_F_WRITABLE)));
		check(pt->n_enums <= PROF_MAX_ENUMS);
		for (unsigned k = 0; k < pt->n_enums; k++) {
			ready += !!(pt->enums[k].flags & PROF_E_READY);
			fault += !!(pt->enums[k].flags & PROF_E_FAULT);
			check(pt->enums[k].flags != (PROF_E_READY | PROF_E_FAULT));
			for (unsigned j = 0; j < k; j++)
				check(pt->enums[j].value != pt->enums[k].value &&
				      strcmp(pt->enums[j].name, pt->enums[k].name));
		}
		check(ready <= 1 && fault <= 1);
	}
	for (unsigned b = 0; b < p->n_blocks; b++)
		prof_decode_block(p, b, p->default_order, zeros, p->blocks[b].count, 0, v);
}

static void check_roles(const struct prof_profile *p)
{
	for (unsigned r = 0; r < PROF_ROLE_N; r++) {
		int i = prof_role_point(p, (enum prof_role)r);
		const struct prof_point *pt;

		check(prof_role_name((enum prof_role)r));
		if (i < 0)
			continue;
		check((unsigned)i < p->n_points);
		pt = &p->points[i];
		if (r == PROF_ROLE_STATUS)
			check(pt->type == PROF_U16 && prof_enum_value(pt, PROF_E_READY) >= 0);
		else
			check(pt->n_enums == 0);
		if (r == PROF_ROLE_TARGET_POWER || r == PROF_ROLE_COMMAND_SOURCE ||
		    r == PROF_ROLE_HEARTBEAT)
			check(pt->flags & PROF_F_WRITABLE);
	}
	if (p->kind == PROF_KIND_BESS)
		check(prof_role_point(p, PROF_ROLE_STATUS) >= 0 &&
		      prof_role_point(p, PROF_ROLE_SOE) >= 0 &&
		      prof_role_point(p, PROF_ROLE_TARGET_POWER) >= 0);
	else
		check(p->kind == PROF_KIND_METER && prof_role_point(p, PROF_ROLE_GRID_POWER) >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prof_profile *p = (struct prof_profile *)1;
	char err[512] = "";
	int ret = prof_load_text(NAME, (const char *)data, size, &p, err, sizeof(err));

	if (ret) {
		check(p == NULL);
		check(ret < 0 && !strncmp(err, NAME ":", strlen(NAME ":")));
		check(prof_strerror(ret) != NULL);
		check(-ret >= PROF_ERR_BASE && -ret < PROF_ERR_END);
		return 0;
	}
	check(p && prof_check(p) == 0 && p->name && p->n_points >= 1);
	check(p->unit_id >= 1 && p->unit_id <= 247);
	check_blocks(p);
	check_points(p);
	check_roles(p);
	prof_free(p);
	return 0;
}
