/* SPDX-License-Identifier: MIT */
/*
 * Where a YAML checker is, as its error messages name it: "devices.bess[0].modbus.timeout".
 * The site config (control/config.c) and the profile loader (devices/profile_load.c) push a
 * key or an index on the way down a document and pop back to the saved length on the way up;
 * a path too long for the buffer is cut, never overrun. Header only; setup code.
 */
#ifndef FLUX_DEVICES_KEYPATH_H
#define FLUX_DEVICES_KEYPATH_H

#include <stdio.h>
#include <string.h>
#include <yaml.h>

struct keypath {
	char s[160]; /* "" at the top level */
	size_t len;  /* strlen(s) */
};

/* Append ".key" (or "key" at the top). Returns the length to kp_pop() back to. */
static inline size_t kp_push_key(struct keypath *p, const char *key)
{
	size_t old = p->len;

	snprintf(p->s + old, sizeof(p->s) - old, "%s%s", old ? "." : "", key);
	p->len = strlen(p->s);
	return old;
}

/* Append "[i]". Returns the length to kp_pop() back to. */
static inline size_t kp_push_index(struct keypath *p, unsigned i)
{
	size_t old = p->len;

	snprintf(p->s + old, sizeof(p->s) - old, "[%u]", i);
	p->len = strlen(p->s);
	return old;
}

/* Back to what a push returned. */
static inline void kp_pop(struct keypath *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}

/* The 1-based line a node starts on. */
static inline int kp_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

#endif /* FLUX_DEVICES_KEYPATH_H */
