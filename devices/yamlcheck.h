/* SPDX-License-Identifier: MIT */
/*
 * What the two YAML checkers share, the site config (control/config.c) and the profile loader
 * (devices/profile_load.c), so their messages read alike: the key path a message names
 * ("devices.bess[0].modbus.timeout"), pushed on the way down a document and popped back on
 * the way up (cut when too long, never overrun), and the user's text quoted safely ("want X,
 * got Y"). Header only; setup code.
 */
#ifndef FLUX_DEVICES_YAMLCHECK_H
#define FLUX_DEVICES_YAMLCHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define YC_SHOW_MAX 48 /* bytes of user text quoted in a message */

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

/* User text made safe to print: at most cap - 4 bytes, "..." when cut, control bytes as '?'. */
static inline const char *yc_show(const char *s, size_t len, char *buf, size_t cap)
{
	size_t n = len < cap - 4 ? len : cap - 4;

	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(buf + n, n < len ? "..." : "");
	return buf;
}

/* A scalar node's text, as yc_show(). */
static inline const char *yc_show_node(const yaml_node_t *n, char *buf, size_t cap)
{
	return yc_show((const char *)n->data.scalar.value, n->data.scalar.length, buf, cap);
}

/* An empty, ~ or null plain scalar: YAML's null. */
static inline bool yc_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || !strcmp(v, "~") || !strcasecmp(v, "null"));
}

/* What a node is, for "want X, got Y": a mapping, a list, nothing, 'text' or a quoted one. */
static inline const char *yc_kind(const yaml_node_t *n, char *buf, size_t cap)
{
	char s[YC_SHOW_MAX + 4];

	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (n->type != YAML_SCALAR_NODE || yc_is_null(n))
		return "nothing";
	yc_show_node(n, s, sizeof(s));
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		snprintf(buf, cap, "'%s'", s);
	else
		snprintf(buf, cap, "\"%s\" (quoted: a string)", s);
	return buf;
}

#endif /* FLUX_DEVICES_YAMLCHECK_H */
