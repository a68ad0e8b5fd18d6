// SPDX-License-Identifier: MIT
/*
 * Device profiles from YAML (format: docs/profiles.md): libyaml builds the document tree and
 * one walk checks it into a struct prof_profile in a single allocation. The one idea: every
 * mistake is said as the site config says it, "FILE:LINE: KEY.PATH: message", with a named
 * code (-PROF_E*), and the walk stops at the first one; keys are checked before values, and
 * points before what names them (enums, limits, roles), so a message never rests on a value
 * that was itself wrong. Setup code only (allocates, reads files).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "devices/yamlcheck.h"
#include "devices/profile.h"

#define KEYS_MAX 12 /* keys of the widest mapping */

/* A loaded profile and everything it points to, freed as one. */
struct prof_owned {
	struct prof_profile prof; /* first: prof_free() gets the allocation back */
	struct prof_point points[PROF_MAX_POINTS];
	struct prof_block blocks[PROF_MAX_BLOCKS];
	struct prof_enum enums[PROF_MAX_POINTS][PROF_MAX_ENUMS];
	char name[PROF_NAME_MAX];
	char point_names[PROF_MAX_POINTS][PROF_NAME_MAX];
	char units[PROF_MAX_POINTS][PROF_UNIT_MAX];
	char enum_names[PROF_MAX_POINTS][PROF_MAX_ENUMS][PROF_NAME_MAX];
	struct prof_bit bits[PROF_MAX_BITS]; /* every point's, each point's in one run */
	char bit_names[PROF_MAX_BITS][PROF_NAME_MAX];
};

/* One load: the tree, where the walk is, and the lines of what later checks refer to. */
struct lctx {
	yaml_document_t doc;
	const char *name;
	char *err;
	size_t cap;
	struct keypath kp; /* where the checker is */
	struct prof_owned *o;
	int point_line[PROF_MAX_POINTS];    /* of each point's name */
	bool has_enum_key[PROF_MAX_POINTS]; /* enums: already given for this point */
	unsigned n_bits;		    /* of o->bits taken */
};

static const char *const type_names[] = {
	[PROF_U16] = "u16", [PROF_I16] = "i16", [PROF_U32] = "u32",
	[PROF_I32] = "i32", [PROF_F32] = "f32",
};

static const char *const kind_names[] = { [PROF_KIND_BESS] = "bess", [PROF_KIND_METER] = "meter" };

static const char *const errors[PROF_ERR_END - PROF_ERR_BASE] = {
	[PROF_ESYNTAX - PROF_ERR_BASE] = "not a YAML profile",
	[PROF_EKEY - PROF_ERR_BASE] = "unknown key",
	[PROF_EDUPKEY - PROF_ERR_BASE] = "duplicate key",
	[PROF_EMISSING - PROF_ERR_BASE] = "missing key or role",
	[PROF_EVALUE - PROF_ERR_BASE] = "bad value",
	[PROF_EDUPNAME - PROF_ERR_BASE] = "duplicate name",
	[PROF_EOVERLAP - PROF_ERR_BASE] = "overlapping points",
	[PROF_EPAST - PROF_ERR_BASE] = "point past register 65535",
	[PROF_ENOPOINT - PROF_ERR_BASE] = "no such point",
	[PROF_ETYPE - PROF_ERR_BASE] = "type cannot serve its role",
	[PROF_EENUM - PROF_ERR_BASE] = "unknown enum value",
	[PROF_ETOOMANY - PROF_ERR_BASE] = "too many points, codes or blocks",
};

const char *prof_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= PROF_ERR_BASE && err < PROF_ERR_END)
		return errors[err - PROF_ERR_BASE];
	return strerror(err);
}

/* ---- messages ------------------------------------------------------------------------ */

/* "NAME:LINE: PATH: message" (LINE 0: "NAME: message"). Returns -code. */
__attribute__((format(printf, 4, 5))) static int fail(struct lctx *c, int code, int line,
						      const char *fmt, ...)
{
	va_list ap;
	size_t n;
	int w;

	if (!c->err || !c->cap)
		return -code;
	if (line > 0)
		w = snprintf(c->err, c->cap, "%s:%d: %s: ", c->name, line,
			     c->kp.len ? c->kp.s : "top level");
	else
		w = snprintf(c->err, c->cap, "%s: ", c->name);
	n = w < 0 ? 0 : (size_t)w;
	va_start(ap, fmt);
	if (n < c->cap)
		vsnprintf(c->err + n, c->cap - n, fmt, ap);
	va_end(ap);
	return -code;
}

static const yaml_node_t *node(struct lctx *c, yaml_node_item_t id)
{
	return yaml_document_get_node(&c->doc, id);
}

static int want(struct lctx *c, const yaml_node_t *n, const char *what)
{
	char k[YC_SHOW_MAX + 32];

	return fail(c, PROF_EVALUE, kp_line(n), "want %s, got %s", what, yc_kind(n, k, sizeof(k)));
}

/* ---- scalars ------------------------------------------------------------------------- */

/* The text of a scalar (no NUL inside), or an error naming what was wanted. */
static int scalar(struct lctx *c, const yaml_node_t *n, const char *what, const char **s)
{
	if (n->type != YAML_SCALAR_NODE || yc_is_null(n))
		return want(c, n, what);
	if (memchr(n->data.scalar.value, 0, n->data.scalar.length))
		return fail(c, PROF_EVALUE, kp_line(n), "contains a NUL character");
	*s = (const char *)n->data.scalar.value;
	return 0;
}

/* A number must be written as one: plain, not quoted. */
static int plain(struct lctx *c, const yaml_node_t *n, const char *what, const char **s)
{
	int err = scalar(c, n, what, s);

	if (!err && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return want(c, n, what);
	return err;
}

/* Decimal (no leading zero: YAML 1.1 reads 0502 as octal) or 0x hex, at most 12 digits. */
static bool parse_int(const char *s, long long *v)
{
	bool neg = *s == '-';
	const char *d;
	size_t n;

	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		d = s + 2;
		n = strspn(d, "0123456789abcdefABCDEF");
		if (!n || n > 12 || d[n])
			return false;
		*v = strtoll(d, NULL, 16);
	} else {
		n = strspn(s, "0123456789");
		if (!n || n > 12 || s[n] || (n > 1 && s[0] == '0'))
			return false;
		*v = strtoll(s, NULL, 10);
	}
	if (neg)
		*v = -*v;
	return true;
}

/* [+-](digits[.digits*] | .digits)([eE][+-]digits), finite. */
static bool parse_double(const char *s, double *v)
{
	const char *p = s;
	size_t a, b = 0, e;

	if (*p == '-' || *p == '+')
		p++;
	a = strspn(p, "0123456789");
	p += a;
	if (*p == '.') {
		b = strspn(++p, "0123456789");
		p += b;
	}
	if (!a && !b)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		e = strspn(p, "0123456789");
		if (!e)
			return false;
		p += e;
	}
	if (*p)
		return false;
	*v = strtod(s, NULL);
	return isfinite(*v);
}

static int get_int(struct lctx *c, const yaml_node_t *n, long long lo, long long hi, long long *v)
{
	char buf[YC_SHOW_MAX + 4], what[64];
	const char *s;
	int err;

	snprintf(what, sizeof(what), "a whole number in %lld..%lld", lo, hi);
	err = plain(c, n, what, &s);
	if (err)
		return err;
	if (!parse_int(s, v))
		return fail(c, PROF_EVALUE, kp_line(n), "want %s, got '%s'", what,
			    yc_show_node(n, buf, sizeof(buf)));
	if (*v < lo || *v > hi)
		return fail(c, PROF_EVALUE, kp_line(n), "must be %lld..%lld, got %s", lo, hi, s);
	return 0;
}

static int get_double(struct lctx *c, const yaml_node_t *n, double *v)
{
	char buf[YC_SHOW_MAX + 4];
	long long i;
	const char *s;
	int err = plain(c, n, "a number", &s);

	if (err)
		return err;
	if (parse_int(s, &i)) { /* 0x1000 too */
		*v = (double)i;
		return 0;
	}
	if (!parse_double(s, v))
		return fail(c, PROF_EVALUE, kp_line(n), "want a number, got '%s'",
			    yc_show_node(n, buf, sizeof(buf)));
	return 0;
}

/* Which of names[0..n) the scalar spells (NULL entries skipped), or an error listing them. */
static int get_word(struct lctx *c, const yaml_node_t *n, const char *const *names, unsigned count,
		    const char *list, unsigned *v)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = scalar(c, n, list, &s);

	if (err)
		return err;
	for (unsigned i = 0; i < count; i++) {
		if (names[i] && !strcmp(s, names[i])) {
			*v = i;
			return 0;
		}
	}
	return fail(c, PROF_EVALUE, kp_line(n), "want %s, got '%s'", list,
		    yc_show_node(n, buf, sizeof(buf)));
}

/*
 * A name into dst[cap]: 1..cap-1 bytes; `ident`: a letter, then letters, digits, '_' ('-' too
 * when `dash`), so it is safe as a JSON key and on a status line.
 */
static int get_name(struct lctx *c, const yaml_node_t *n, bool dash, char *dst, size_t cap)
{
	size_t len;
	const char *s;
	int err = scalar(c, n, "a name", &s);

	if (err)
		return err;
	len = n->data.scalar.length;
	if (!len || len >= cap)
		return fail(c, PROF_EVALUE, kp_line(n), "want a name of 1..%zu bytes, got %zu",
			    cap - 1, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (i && ((ch >= '0' && ch <= '9') || ch == '_' || (dash && ch == '-')));

		if (!ok) {
			char buf[YC_SHOW_MAX + 4];

			return fail(c, PROF_EVALUE, kp_line(n),
				    "want a name: a letter, then letters, digits or '_'%s; "
				    "got '%s'",
				    dash ? " or '-'" : "", yc_show_node(n, buf, sizeof(buf)));
		}
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* Free text (a unit): printable, shorter than cap. */
static int get_text(struct lctx *c, const yaml_node_t *n, char *dst, size_t cap)
{
	size_t len;
	const char *s;
	int err;

	if (yc_is_null(n)) {
		dst[0] = '\0';
		return 0;
	}
	err = scalar(c, n, "a string", &s);
	if (err)
		return err;
	len = n->data.scalar.length;
	if (len >= cap)
		return fail(c, PROF_EVALUE, kp_line(n), "too long: at most %zu bytes, got %zu",
			    cap - 1, len);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(c, PROF_EVALUE, kp_line(n),
				    "control characters are not allowed");
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* ---- mappings ------------------------------------------------------------------------ */

/*
 * The values of a mapping's keys, by their index in keys[] (NULL: not given), and each key's
 * line; an unknown or repeated key is an error at its line. `what` names the mapping.
 */
static int get_map(struct lctx *c, const yaml_node_t *n, const char *const *keys, unsigned nkeys,
		   const char *what, const yaml_node_t **vals, int *lines)
{
	char k[YC_SHOW_MAX + 32];

	for (unsigned i = 0; i < nkeys; i++) {
		vals[i] = NULL;
		lines[i] = 0;
	}
	if (n->type != YAML_MAPPING_NODE) {
		snprintf(k, sizeof(k), "a mapping (%s)", what);
		return want(c, n, k);
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *key = node(c, p->key), *val = node(c, p->value);
		char buf[YC_SHOW_MAX + 4], list[256];
		unsigned i;
		size_t old, len = 0;
		int err;

		if (key->type != YAML_SCALAR_NODE)
			return fail(c, PROF_EKEY, kp_line(key), "keys must be words, got %s",
				    yc_kind(key, k, sizeof(k)));
		for (i = 0; i < nkeys; i++)
			if (strlen(keys[i]) == key->data.scalar.length &&
			    !memcmp(keys[i], key->data.scalar.value, key->data.scalar.length))
				break;
		if (i == nkeys) {
			list[0] = '\0';
			for (unsigned j = 0; j < nkeys && len < sizeof(list); j++)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
							j ? ", " : "", keys[j]);
			old = kp_push_key(&c->kp, yc_show_node(key, buf, sizeof(buf)));
			err = fail(c, PROF_EKEY, kp_line(key), "unknown key (want %s)", list);
			kp_pop(&c->kp, old);
			return err;
		}
		if (vals[i]) {
			old = kp_push_key(&c->kp, keys[i]);
			err = fail(c, PROF_EDUPKEY, kp_line(key),
				   "duplicate key (first at line %d)", lines[i]);
			kp_pop(&c->kp, old);
			return err;
		}
		vals[i] = val;
		lines[i] = kp_line(key);
	}
	return 0;
}

static int missing(struct lctx *c, int line, const char *key)
{
	size_t old = kp_push_key(&c->kp, key);
	int err = fail(c, PROF_EMISSING, line, "missing (required)");

	kp_pop(&c->kp, old);
	return err;
}

/* ---- points -------------------------------------------------------------------------- */

enum {
	PK_NAME,
	PK_ADDRESS,
	PK_FUNCTION,
	PK_TYPE,
	PK_WORD_ORDER,
	PK_SCALE,
	PK_OFFSET,
	PK_UNIT,
	PK_ACCESS,
	PK_RANGE,
	PK_BITS,
	PK_N
};

static const char *const point_keys[PK_N] = {
	[PK_NAME] = "name",
	[PK_ADDRESS] = "address",
	[PK_FUNCTION] = "function",
	[PK_TYPE] = "type",
	[PK_WORD_ORDER] = "word_order",
	[PK_SCALE] = "scale",
	[PK_OFFSET] = "offset",
	[PK_UNIT] = "unit",
	[PK_ACCESS] = "access",
	[PK_RANGE] = "range",
	[PK_BITS] = "bits",
};

/* ABCD, CDAB, BADC, DCBA, in any case (as the site config's word_order). */
static int get_order(struct lctx *c, const yaml_node_t *n, enum mb_order *dst)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = scalar(c, n, "ABCD, CDAB, BADC or DCBA", &s);

	if (err)
		return err;
	err = mb_order_parse(s);
	if (err < 0)
		return fail(c, PROF_EVALUE, kp_line(n), "want ABCD, CDAB, BADC or DCBA, got '%s'",
			    yc_show_node(n, buf, sizeof(buf)));
	*dst = (enum mb_order)err;
	return 0;
}

static int get_range(struct lctx *c, const yaml_node_t *n, double *lo, double *hi)
{
	const yaml_node_t *a, *b;
	int err;

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top - n->data.sequence.items.start != 2)
		return want(c, n, "[lo, hi]");
	a = node(c, n->data.sequence.items.start[0]);
	b = node(c, n->data.sequence.items.start[1]);
	err = get_double(c, a, lo);
	if (!err)
		err = get_double(c, b, hi);
	if (!err && *lo > *hi)
		return fail(c, PROF_EVALUE, kp_line(n), "lo %g is above hi %g", *lo, *hi);
	return err;
}

/*
 * bits: { NUMBER: name, ... }: the named bits of a u16 or u32 bit field (alarm and fault
 * words), taken from the profile's pool of PROF_MAX_BITS. A bit field is raw: no scale or
 * offset, no enum (parse_enum() refuses one on it).
 */
static int parse_bits(struct lctx *c, const yaml_node_t *n, const yaml_node_t *const *v,
		      struct prof_point *pt)
{
	struct prof_owned *o = c->o;
	struct prof_bit *first = &o->bits[c->n_bits];
	unsigned width = 16 * prof_type_width(pt->type), k = 0;
	int lines[32];

	if (pt->type != PROF_U16 && pt->type != PROF_U32)
		return fail(c, PROF_ETYPE, kp_line(n), "a bit field is a u16 or u32, not a %s",
			    type_names[pt->type]);
	if (v[PK_SCALE] || v[PK_OFFSET])
		return fail(c, PROF_EVALUE, kp_line(n),
			    "a bit field is raw: it takes no scale or offset (line %d)",
			    kp_line(v[PK_SCALE] ? v[PK_SCALE] : v[PK_OFFSET]));
	if (n->type != YAML_MAPPING_NODE ||
	    n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		return want(c, n, "a mapping of bit numbers to names (0: over_temperature)");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++, k++) {
		const yaml_node_t *key = node(c, p->key), *val = node(c, p->value);
		char buf[YC_SHOW_MAX + 4];
		const char *s;
		long long b;
		size_t old = kp_push_key(&c->kp, key->type == YAML_SCALAR_NODE
						     ? yc_show_node(key, buf, sizeof(buf))
						     : "?");
		int err = 0;

		if (c->n_bits == PROF_MAX_BITS)
			err = fail(c, PROF_ETOOMANY, kp_line(key),
				   "too many named bits: at most %u in a profile", PROF_MAX_BITS);
		if (!err)
			err = plain(c, key, "a bit number", &s);
		if (!err && !parse_int(s, &b))
			err = fail(c, PROF_EVALUE, kp_line(key), "want a bit number, got '%s'",
				   yc_show_node(key, buf, sizeof(buf)));
		if (!err && (b < 0 || b >= (long long)width))
			err = fail(c, PROF_EVALUE, kp_line(key),
				   "bit %lld is past a %s's %u bits (0..%u)", b,
				   type_names[pt->type], width, width - 1);
		if (!err)
			err = get_name(c, val, false, o->bit_names[c->n_bits], PROF_NAME_MAX);
		for (unsigned j = 0; !err && j < k; j++) {
			if (first[j].bit == b)
				err = fail(c, PROF_EDUPNAME, kp_line(key),
					   "bit %lld is already named at line %d", b, lines[j]);
			else if (!strcmp(first[j].name, o->bit_names[c->n_bits]))
				err = fail(c, PROF_EDUPNAME, kp_line(val),
					   "name %s is already used at line %d", first[j].name,
					   lines[j]);
		}
		kp_pop(&c->kp, old);
		if (err)
			return err;
		o->bits[c->n_bits] =
		    (struct prof_bit){ .bit = (uint8_t)b, .name = o->bit_names[c->n_bits] };
		lines[k] = kp_line(key);
		c->n_bits++;
		pt->bits = first;
		pt->n_bits = k + 1;
	}
	return 0;
}

/* The point's fields but name and address, which parse_point() checks against the others. */
static int point_fields(struct lctx *c, const yaml_node_t **v, enum mb_order dflt,
			struct prof_point *pt, char *unit)
{
	static const char *const access_names[] = { "ro", "rw" };
	long long fc = MB_FC_READ_HOLDING_REGISTERS;
	unsigned u = 0;
	size_t old;
	int err = 0;

#define FIELD(k, expr)                                                                             \
	do {                                                                                       \
		if (v[k]) {                                                                        \
			old = kp_push_key(&c->kp, point_keys[k]);                                  \
			err = (expr);                                                              \
			kp_pop(&c->kp, old);                                                       \
			if (err)                                                                   \
				return err;                                                        \
		}                                                                                  \
	} while (0)

	FIELD(PK_FUNCTION, get_int(c, v[PK_FUNCTION], 3, 4, &fc));
	pt->fc = (uint8_t)fc;
	FIELD(PK_TYPE,
	      get_word(c, v[PK_TYPE], type_names, PROF_F32 + 1, "u16, i16, u32, i32 or f32", &u));
	pt->type = (enum prof_type)u;
	pt->order = dflt;
	if (prof_type_width(pt->type) == 2)
		pt->flags |= PROF_F_DEVICE_ORDER;
	else
		pt->order = MB_ORDER_ABCD;
	if (v[PK_WORD_ORDER] && prof_type_width(pt->type) == 1) {
		old = kp_push_key(&c->kp, point_keys[PK_WORD_ORDER]);
		err = fail(c, PROF_EVALUE, kp_line(v[PK_WORD_ORDER]),
			   "a %s is one register: word_order is for 32-bit types",
			   type_names[pt->type]);
		kp_pop(&c->kp, old);
		return err;
	}
	FIELD(PK_WORD_ORDER, get_order(c, v[PK_WORD_ORDER], &pt->order));
	if (v[PK_WORD_ORDER])
		pt->flags &=
		    ~(unsigned)PROF_F_DEVICE_ORDER; /* fixed: the site's cannot change it */
	pt->scale = 1;
	FIELD(PK_SCALE, get_double(c, v[PK_SCALE], &pt->scale));
	if (pt->scale == 0) {
		old = kp_push_key(&c->kp, point_keys[PK_SCALE]);
		err = fail(c, PROF_EVALUE, kp_line(v[PK_SCALE]),
			   "must not be 0 (value = raw / scale)");
		kp_pop(&c->kp, old);
		return err;
	}
	FIELD(PK_OFFSET, get_double(c, v[PK_OFFSET], &pt->offset));
	unit[0] = '\0';
	FIELD(PK_UNIT, get_text(c, v[PK_UNIT], unit, PROF_UNIT_MAX));
	u = 0;
	FIELD(PK_ACCESS, get_word(c, v[PK_ACCESS], access_names, 2, "ro or rw", &u));
	if (u)
		pt->flags |= PROF_F_WRITABLE;
	FIELD(PK_RANGE, get_range(c, v[PK_RANGE], &pt->range_lo, &pt->range_hi));
	pt->has_range = v[PK_RANGE] != NULL;
	FIELD(PK_BITS, parse_bits(c, v[PK_BITS], v, pt));
#undef FIELD
	return 0;
}

static int parse_point(struct lctx *c, const yaml_node_t *n, unsigned i, enum mb_order dflt)
{
	struct prof_owned *o = c->o;
	struct prof_point *pt = &o->points[i];
	const yaml_node_t *v[PK_N];
	int lines[PK_N], err;
	long long addr;
	uint32_t end;
	size_t old;

	err = get_map(c, n, point_keys, PK_N, "name, address, type...", v, lines);
	if (err)
		return err;
	if (!v[PK_NAME])
		return missing(c, kp_line(n), "name");
	if (!v[PK_ADDRESS])
		return missing(c, kp_line(n), "address");
	if (!v[PK_TYPE])
		return missing(c, kp_line(n), "type");
	old = kp_push_key(&c->kp, "name");
	err = get_name(c, v[PK_NAME], false, o->point_names[i], PROF_NAME_MAX);
	for (unsigned j = 0; !err && j < i; j++)
		if (!strcmp(o->point_names[j], o->point_names[i]))
			err = fail(c, PROF_EDUPNAME, kp_line(v[PK_NAME]),
				   "point '%s' is already defined at line %d", o->point_names[i],
				   c->point_line[j]);
	kp_pop(&c->kp, old);
	if (err)
		return err;
	pt->name = o->point_names[i];
	pt->unit = o->units[i];
	c->point_line[i] = kp_line(v[PK_NAME]);
	err = point_fields(c, v, dflt, pt, o->units[i]);
	if (err)
		return err;
	old = kp_push_key(&c->kp, "address");
	err = get_int(c, v[PK_ADDRESS], 0, 65535, &addr);
	end = (uint32_t)addr + prof_type_width(pt->type);
	if (!err && end > 0x10000)
		err = fail(c, PROF_EPAST, kp_line(v[PK_ADDRESS]),
			   "a %s at %lld takes registers %lld..%lu: past the last, 65535",
			   type_names[pt->type], addr, addr, (unsigned long)end - 1);
	pt->addr = (uint16_t)addr;
	for (unsigned j = 0; !err && j < i; j++) {
		const struct prof_point *q = &o->points[j];
		uint32_t qend = (uint32_t)q->addr + prof_type_width(q->type);

		if (q->fc == pt->fc && pt->addr < qend && q->addr < end)
			err = fail(c, PROF_EOVERLAP, kp_line(v[PK_ADDRESS]),
				   "registers %u..%lu overlap point '%s' (line %d: %u..%lu)",
				   pt->addr, (unsigned long)end - 1, q->name, c->point_line[j],
				   q->addr, (unsigned long)qend - 1);
	}
	kp_pop(&c->kp, old);
	return err;
}

static int parse_points(struct lctx *c, const yaml_node_t *n, enum mb_order dflt)
{
	unsigned i = 0;
	int err;

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top == n->data.sequence.items.start)
		return want(c, n, "a list of points ('- name: ...' items)");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		const yaml_node_t *item = node(c, *it);
		size_t old = kp_push_index(&c->kp, i);

		if (i == PROF_MAX_POINTS)
			err = fail(c, PROF_ETOOMANY, kp_line(item), "too many points: at most %u",
				   PROF_MAX_POINTS);
		else
			err = parse_point(c, item, i, dflt);
		kp_pop(&c->kp, old);
		if (err)
			return err;
	}
	c->o->prof.n_points = i;
	return 0;
}

/* The point named by a scalar, or PROF_ENOPOINT at its line. */
static int find_point(struct lctx *c, const yaml_node_t *n, unsigned *idx)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = scalar(c, n, "a point name", &s);

	if (err)
		return err;
	for (unsigned i = 0; i < c->o->prof.n_points; i++) {
		if (strlen(c->o->points[i].name) == n->data.scalar.length &&
		    !strcmp(c->o->points[i].name, s)) {
			*idx = i;
			return 0;
		}
	}
	return fail(c, PROF_ENOPOINT, kp_line(n), "no point named '%s' in points",
		    yc_show_node(n, buf, sizeof(buf)));
}

/* ---- enums --------------------------------------------------------------------------- */

enum { EK_VALUES, EK_READY, EK_FAULT, EK_N };

static const char *const enum_keys[EK_N] = { "values", "ready", "fault" };

/* ready:/fault: as a code's name or its number; marks the code with `flag`. */
static int mark_code(struct lctx *c, const yaml_node_t *n, struct prof_point *pt, unsigned flag)
{
	char buf[YC_SHOW_MAX + 4], list[256];
	size_t len = 0;
	long long v = -1;
	const char *s;
	int err = scalar(c, n, "a code of values", &s);

	if (err)
		return err;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !parse_int(s, &v))
		v = -1;
	for (unsigned i = 0; i < pt->n_enums; i++) {
		struct prof_enum *e = (struct prof_enum *)&pt->enums[i];

		if (!strcmp(e->name, s) || e->value == v) {
			if (e->flags) /* ready and fault: one code cannot be both */
				return fail(c, PROF_EVALUE, kp_line(n),
					    "%s is already the ready code", e->name);
			e->flags |= flag;
			return 0;
		}
	}
	list[0] = '\0';
	for (unsigned i = 0; i < pt->n_enums && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
					pt->enums[i].name);
	return fail(c, PROF_EENUM, kp_line(n), "'%s' is not one of values (%s)",
		    yc_show_node(n, buf, sizeof(buf)), list);
}

static int parse_values(struct lctx *c, const yaml_node_t *n, unsigned pi)
{
	struct prof_owned *o = c->o;
	struct prof_point *pt = &o->points[pi];
	int lines[PROF_MAX_ENUMS];
	unsigned k = 0;

	if (n->type != YAML_MAPPING_NODE ||
	    n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		return want(c, n, "a mapping of codes to names (0: OFFLINE)");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++, k++) {
		const yaml_node_t *key = node(c, p->key), *val = node(c, p->value);
		long long v;
		char *name;
		int err;

		if (k == PROF_MAX_ENUMS)
			return fail(c, PROF_ETOOMANY, kp_line(key), "too many codes: at most %u",
				    PROF_MAX_ENUMS);
		name = o->enum_names[pi][k];
		err = get_int(c, key, 0, 65535, &v);
		if (!err)
			err = get_name(c, val, false, name, PROF_NAME_MAX);
		for (unsigned j = 0; !err && j < k; j++) {
			if (o->enums[pi][j].value == v)
				err = fail(c, PROF_EDUPNAME, kp_line(key),
					   "code %lld is already named at line %d", v, lines[j]);
			else if (!strcmp(o->enums[pi][j].name, name))
				err = fail(c, PROF_EDUPNAME, kp_line(val),
					   "name %s is already used at line %d", name, lines[j]);
		}
		if (err)
			return err;
		o->enums[pi][k] = (struct prof_enum){ .value = (uint16_t)v, .name = name };
		lines[k] = kp_line(key);
		pt->enums = o->enums[pi];
		pt->n_enums = k + 1;
	}
	return 0;
}

static int parse_enum(struct lctx *c, const yaml_node_t *key, const yaml_node_t *n)
{
	struct prof_point *pt;
	const yaml_node_t *v[EK_N];
	int lines[EK_N], err;
	unsigned pi;
	size_t old;

	err = find_point(c, key, &pi);
	if (err)
		return err;
	pt = &c->o->points[pi];
	if (c->has_enum_key[pi])
		return fail(c, PROF_EDUPKEY, kp_line(key), "duplicate key");
	c->has_enum_key[pi] = true;
	if (pt->type != PROF_U16)
		return fail(c, PROF_ETYPE, kp_line(key),
			    "an enum point holds codes: it must be u16, '%s' is %s (line %d)",
			    pt->name, type_names[pt->type], c->point_line[pi]);
	if (pt->n_bits)
		return fail(c, PROF_ETYPE, kp_line(key),
			    "'%s' (line %d) is a bit field (bits:): a point holds codes or bits, "
			    "not both",
			    pt->name, c->point_line[pi]);
	err = get_map(c, n, enum_keys, EK_N, "values, ready, fault", v, lines);
	if (err)
		return err;
	if (!v[EK_VALUES])
		return missing(c, kp_line(n), "values");
	old = kp_push_key(&c->kp, "values");
	err = parse_values(c, v[EK_VALUES], pi);
	kp_pop(&c->kp, old);
	for (unsigned k = EK_READY; !err && k <= EK_FAULT; k++) {
		if (!v[k])
			continue;
		old = kp_push_key(&c->kp, enum_keys[k]);
		err = mark_code(c, v[k], pt, k == EK_READY ? PROF_E_READY : PROF_E_FAULT);
		kp_pop(&c->kp, old);
	}
	return err;
}

/*
 * A mapping of point names to what each_point() hands to `one` (enums:, limits:), the key
 * pushed on the path while it runs. Returns the first error, or 0.
 */
static int each_point(struct lctx *c, const yaml_node_t *n, const char *want_what,
		      int (*one)(struct lctx *, const yaml_node_t *key, const yaml_node_t *val))
{
	if (n->type != YAML_MAPPING_NODE)
		return want(c, n, want_what);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *key = node(c, p->key);
		char buf[YC_SHOW_MAX + 4];
		size_t old;
		int err;

		if (key->type != YAML_SCALAR_NODE)
			return want(c, key, "a point name");
		old = kp_push_key(&c->kp, yc_show_node(key, buf, sizeof(buf)));
		err = one(c, key, node(c, p->value));
		kp_pop(&c->kp, old);
		if (err)
			return err;
	}
	return 0;
}

static int parse_enums(struct lctx *c, const yaml_node_t *n)
{
	return each_point(c, n, "a mapping of point names to enums", parse_enum);
}

/* ---- limits -------------------------------------------------------------------------- */

/* Whether engineering value v of the point encodes into its type. */
static bool fits(const struct prof_point *pt, double v)
{
	static const double lo[] = {
		[PROF_U16] = 0, [PROF_I16] = INT16_MIN, [PROF_U32] = 0, [PROF_I32] = INT32_MIN
	};
	static const double hi[] = { [PROF_U16] = UINT16_MAX,
				     [PROF_I16] = INT16_MAX,
				     [PROF_U32] = UINT32_MAX,
				     [PROF_I32] = INT32_MAX };
	double raw = (v - pt->offset) * pt->scale;

	if (pt->type == PROF_F32)
		return isfinite((float)raw);
	raw = nearbyint(raw);
	return raw >= lo[pt->type] && raw <= hi[pt->type];
}

static int parse_limit(struct lctx *c, const yaml_node_t *key, const yaml_node_t *n)
{
	static const char *const keys[] = { "min", "max" };
	const yaml_node_t *v[2];
	struct prof_point *pt;
	double lim[2];
	int lines[2], err;
	unsigned pi;

	err = find_point(c, key, &pi);
	if (err)
		return err;
	pt = &c->o->points[pi];
	if (pt->has_limits)
		return fail(c, PROF_EDUPKEY, kp_line(key), "duplicate key");
	if (!(pt->flags & PROF_F_WRITABLE))
		return fail(c, PROF_EVALUE, kp_line(key),
			    "limits are write rules: '%s' (line %d) is not access: rw", pt->name,
			    c->point_line[pi]);
	err = get_map(c, n, keys, 2, "min, max", v, lines);
	for (unsigned k = 0; !err && k < 2; k++) {
		size_t old;

		if (!v[k])
			return missing(c, kp_line(n), keys[k]);
		old = kp_push_key(&c->kp, keys[k]);
		err = get_double(c, v[k], &lim[k]);
		if (!err && !fits(pt, lim[k]))
			err = fail(c, PROF_EVALUE, kp_line(v[k]),
				   "%g does not fit '%s' (%s, scale %g, offset %g)", lim[k],
				   pt->name, type_names[pt->type], pt->scale, pt->offset);
		kp_pop(&c->kp, old);
	}
	if (err)
		return err;
	if (lim[0] > lim[1])
		return fail(c, PROF_EVALUE, kp_line(v[0]), "min %g is above max %g", lim[0],
			    lim[1]);
	pt->has_limits = true;
	pt->write_min = lim[0];
	pt->write_max = lim[1];
	return 0;
}

static int parse_limits(struct lctx *c, const yaml_node_t *n)
{
	return each_point(c, n, "a mapping of point names to {min, max}", parse_limit);
}

/* ---- roles --------------------------------------------------------------------------- */

/* What a role's point must be; NULL when it may be. */
static const char *role_misfit(enum prof_role r, const struct prof_point *pt)
{
	bool is_int = pt->type != PROF_F32, is_rw = pt->flags & PROF_F_WRITABLE;
	bool is_code = pt->n_enums || pt->n_bits; /* codes or bits, not a quantity */

	switch (r) {
	case PROF_ROLE_STATUS:
		return pt->type != PROF_U16 || pt->n_bits ? "a u16 code with an enum" : NULL;
	case PROF_ROLE_COMMAND_SOURCE:
		return pt->type != PROF_U16 || !is_rw || is_code ? "an rw u16 (a control id)"
								 : NULL;
	case PROF_ROLE_HEARTBEAT:
		return !is_int || !is_rw || is_code ? "an rw integer (a counter)" : NULL;
	case PROF_ROLE_AVAILABLE_BLOCKS:
		return !is_int || is_code ? "an integer (a count)" : NULL;
	case PROF_ROLE_TARGET_POWER:
		return !is_rw || is_code ? "an rw number (kW)" : NULL;
	case PROF_ROLE_ALARMS:
	case PROF_ROLE_FAULTS:
		/* Without bits: its bits are unnamed, shown by number. */
		return (pt->type != PROF_U16 && pt->type != PROF_U32) || pt->n_enums ||
			       pt->scale != 1 || pt->offset != 0
			   ? "a u16 or u32 bit field (bits:, no enum, scale or offset)"
			   : NULL;
	default:
		return is_code ? "a number, not an enum of codes or a bit field" : NULL;
	}
}

static int parse_roles(struct lctx *c, const yaml_node_t *n)
{
	const char *names[PROF_ROLE_N];
	const yaml_node_t *v[PROF_ROLE_N];
	int lines[PROF_ROLE_N], err;

	for (unsigned r = 0; r < PROF_ROLE_N; r++)
		names[r] = prof_role_name((enum prof_role)r);
	err = get_map(c, n, names, PROF_ROLE_N, "soe, status, target_power...", v, lines);
	for (unsigned r = 0; !err && r < PROF_ROLE_N; r++) {
		const struct prof_point *pt;
		const char *misfit;
		unsigned pi = 0;
		size_t old;

		if (!v[r])
			continue;
		old = kp_push_key(&c->kp, names[r]);
		err = find_point(c, v[r], &pi);
		pt = &c->o->points[pi]; /* read only when found */
		misfit = err ? NULL : role_misfit((enum prof_role)r, pt);
		if (misfit)
			err = fail(c, PROF_ETYPE, kp_line(v[r]),
				   "%s must be %s: '%s' (line %d) is %s %s%s", names[r], misfit,
				   pt->name, c->point_line[pi],
				   pt->flags & PROF_F_WRITABLE ? "rw" : "ro", type_names[pt->type],
				   pt->n_enums ? " with an enum" : "");
		if (!err && r == PROF_ROLE_STATUS && prof_enum_value(pt, PROF_E_READY) < 0)
			err = fail(c, PROF_EMISSING, kp_line(v[r]),
				   "'%s' has no ready code: give enums.%s.values and .ready",
				   pt->name, pt->name);
		if (!err)
			c->o->prof.roles[r] = (int)pi + 1;
		kp_pop(&c->kp, old);
	}
	return err;
}

/* The roles a kind of device cannot run without. */
static int check_required_roles(struct lctx *c, int line)
{
	static const enum prof_role bess[] = { PROF_ROLE_STATUS, PROF_ROLE_SOE,
					       PROF_ROLE_TARGET_POWER },
				    meter[] = { PROF_ROLE_GRID_POWER };
	const struct prof_profile *p = &c->o->prof;
	const enum prof_role *need = p->kind == PROF_KIND_BESS ? bess : meter;
	unsigned n = p->kind == PROF_KIND_BESS ? 3 : 1;

	for (unsigned i = 0; i < n; i++) {
		if (p->roles[need[i]])
			continue;
		size_t old = kp_push_key(&c->kp, "roles");
		int err =
		    fail(c, PROF_EMISSING, line, "%s missing: a %s profile needs %s",
			 prof_role_name(need[i]), kind_names[p->kind],
			 p->kind == PROF_KIND_BESS ? "status, soe and target_power" : "grid_power");

		kp_pop(&c->kp, old);
		return err;
	}
	return 0;
}

/* ---- the document -------------------------------------------------------------------- */

enum {
	TK_NAME,
	TK_KIND,
	TK_DESCRIPTION,
	TK_DEFAULTS,
	TK_MAX_GAP,
	TK_POINTS,
	TK_ENUMS,
	TK_LIMITS,
	TK_ROLES,
	TK_N
};

static const char *const top_keys[TK_N] = {
	[TK_NAME] = "name",	    [TK_KIND] = "kind",	      [TK_DESCRIPTION] = "description",
	[TK_DEFAULTS] = "defaults", [TK_MAX_GAP] = "max_gap", [TK_POINTS] = "points",
	[TK_ENUMS] = "enums",	    [TK_LIMITS] = "limits",   [TK_ROLES] = "roles",
};

static int parse_defaults(struct lctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = { "unit_id", "word_order" };
	struct prof_profile *p = &c->o->prof;
	const yaml_node_t *v[2];
	long long unit = 1;
	int lines[2], err;
	size_t old;

	if (yc_is_null(n))
		return 0;
	err = get_map(c, n, keys, 2, "unit_id, word_order", v, lines);
	if (!err && v[0]) {
		old = kp_push_key(&c->kp, keys[0]);
		err = get_int(c, v[0], 1, 247, &unit);
		kp_pop(&c->kp, old);
	}
	p->unit_id = (uint8_t)unit;
	if (!err && v[1]) {
		old = kp_push_key(&c->kp, keys[1]);
		err = get_order(c, v[1], &p->default_order);
		kp_pop(&c->kp, old);
	}
	return err;
}

static int plan_all(struct lctx *c, int line)
{
	struct prof_block tmp[PROF_MAX_POINTS];
	struct prof_profile *p = &c->o->prof;
	int n = prof_plan_blocks(p, NULL, 0, p->max_gap, tmp, PROF_MAX_POINTS);
	size_t old;

	if (n > PROF_MAX_BLOCKS) {
		old = kp_push_key(&c->kp, "points");
		n = fail(c, PROF_ETOOMANY, line,
			 "the points need %d reads of at most %u registers (max_gap %u); a "
			 "profile polls at most %u",
			 n, MB_MAX_READ_REGS, p->max_gap, PROF_MAX_BLOCKS);
		kp_pop(&c->kp, old);
		return n;
	}
	if (n <= 0)
		return fail(c, PROF_EVALUE, line, "no poll block (%s)", strerror(n ? -n : EINVAL));
	memcpy(c->o->blocks, tmp, (size_t)n * sizeof(tmp[0]));
	p->blocks = c->o->blocks;
	p->n_blocks = (unsigned)n;
	return 0;
}

static int parse_root(struct lctx *c, const yaml_node_t *root)
{
	struct prof_profile *p = &c->o->prof;
	const yaml_node_t *v[TK_N];
	char desc[256];
	int lines[TK_N], err;
	long long gap = PROF_MAX_GAP_DEFAULT;
	unsigned kind_idx = 0;
	size_t old;

	err = get_map(c, root, top_keys, TK_N, "name, kind, points...", v, lines);
	if (err)
		return err;
	for (unsigned k = TK_NAME; k <= TK_KIND; k++)
		if (!v[k])
			return missing(c, kp_line(root), top_keys[k]);
	if (!v[TK_POINTS])
		return missing(c, kp_line(root), "points");

#define TOP(k, expr)                                                                               \
	do {                                                                                       \
		if (v[k]) {                                                                        \
			old = kp_push_key(&c->kp, top_keys[k]);                                    \
			err = (expr);                                                              \
			kp_pop(&c->kp, old);                                                       \
			if (err)                                                                   \
				return err;                                                        \
		}                                                                                  \
	} while (0)

	TOP(TK_NAME, get_name(c, v[TK_NAME], true, c->o->name, PROF_NAME_MAX));
	p->name = c->o->name;
	TOP(TK_KIND, get_word(c, v[TK_KIND], kind_names, 3, "bess or meter", &kind_idx));
	p->kind = (enum prof_kind)kind_idx;
	TOP(TK_DESCRIPTION, get_text(c, v[TK_DESCRIPTION], desc, sizeof(desc)));
	p->default_order = MB_ORDER_ABCD;
	p->unit_id = 1;
	TOP(TK_DEFAULTS, parse_defaults(c, v[TK_DEFAULTS]));
	TOP(TK_MAX_GAP, get_int(c, v[TK_MAX_GAP], 0, MB_MAX_READ_REGS - 2, &gap));
	p->max_gap = (unsigned)gap;
	TOP(TK_POINTS, parse_points(c, v[TK_POINTS], p->default_order));
	p->points = c->o->points;
	TOP(TK_ENUMS, parse_enums(c, v[TK_ENUMS]));
	TOP(TK_LIMITS, parse_limits(c, v[TK_LIMITS]));
	TOP(TK_ROLES, parse_roles(c, v[TK_ROLES]));
#undef TOP
	err = check_required_roles(c, v[TK_ROLES] ? lines[TK_ROLES] : kp_line(root));
	if (!err)
		err = plan_all(c, lines[TK_POINTS]);
	if (!err && prof_check(p) < 0) /* what the walk checked, once more by the table rules */
		err = fail(c, PROF_EVALUE, kp_line(root), "the profile fails prof_check()");
	return err;
}

/* libyaml's own complaint, at its line. */
static int yaml_error(struct lctx *c, const yaml_parser_t *yp, const char *text, size_t len)
{
	int line;

	if (yp->error == YAML_MEMORY_ERROR)
		return fail(c, ENOMEM, 0, "out of memory while parsing");
	if (yp->error == YAML_READER_ERROR) {
		line = 1;
		for (size_t i = 0; i < yp->problem_offset && i < len; i++)
			line += text[i] == '\n';
		c->kp.len = 0;
		kp_push_key(&c->kp, "YAML");
		return fail(c, PROF_ESYNTAX, line, "%s at byte %zu", yp->problem,
			    yp->problem_offset);
	}
	kp_push_key(&c->kp, "YAML");
	line = (int)yp->problem_mark.line + 1;
	if (yp->context)
		return fail(c, PROF_ESYNTAX, line, "%s %s (line %d)", yp->problem, yp->context,
			    (int)yp->context_mark.line + 1);
	return fail(c, PROF_ESYNTAX, line, "%s", yp->problem ? yp->problem : "syntax error");
}

int prof_load_text(const char *name, const char *text, size_t len, struct prof_profile **out,
		   char *err, size_t cap)
{
	struct lctx c = { .name = name ? name : "<profile>", .err = cap ? err : NULL, .cap = cap };
	const yaml_node_t *root;
	yaml_document_t extra;
	yaml_parser_t yp;
	int ret;

	if (c.err)
		c.err[0] = '\0';
	*out = NULL;
	if (!text) {
		text = "";
		len = 0;
	}
	if (len > PROF_FILE_MAX)
		return fail(&c, EFBIG, 0, "larger than %u bytes: not a profile", PROF_FILE_MAX);
	c.o = calloc(1, sizeof(*c.o));
	if (!c.o)
		return fail(&c, ENOMEM, 0, "out of memory");
	if (!yaml_parser_initialize(&yp)) {
		ret = fail(&c, ENOMEM, 0, "out of memory");
		goto out_free;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	if (!yaml_parser_load(&yp, &c.doc)) {
		ret = yaml_error(&c, &yp, text, len);
		goto out_parser;
	}
	root = yaml_document_get_root_node(&c.doc);
	if (!root)
		ret = fail(&c, PROF_EMISSING, 1, "empty: a profile needs name, kind and points");
	else
		ret = parse_root(&c, root);
	yaml_document_delete(&c.doc);
	if (ret)
		goto out_parser;
	if (!yaml_parser_load(&yp, &extra)) {
		ret = yaml_error(&c, &yp, text, len);
		goto out_parser;
	}
	if (yaml_document_get_root_node(&extra)) {
		kp_pop(&c.kp, 0);
		kp_push_key(&c.kp, "YAML");
		ret = fail(&c, PROF_ESYNTAX, (int)extra.start_mark.line + 1,
			   "a second document: a profile is one document");
	}
	yaml_document_delete(&extra);
out_parser:
	yaml_parser_delete(&yp);
out_free:
	if (ret) {
		free(c.o);
		return ret;
	}
	*out = &c.o->prof;
	return 0;
}

/* The whole file, NUL-terminated, into *buf (malloc). Returns its length or -errno. */
static long read_file(const char *path, char **buf)
{
	struct stat st;
	size_t len = 0, cap = 4096;
	char *b, *nb;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out_close;
	}
	b = malloc(cap);
	if (!b) {
		err = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			if (cap > PROF_FILE_MAX) {
				err = -EFBIG;
				goto out_buf;
			}
			nb = realloc(b, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				goto out_buf;
			}
			b = nb;
			cap *= 2;
		}
		n = read(fd, b + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > PROF_FILE_MAX) {
		err = -EFBIG;
		goto out_buf;
	}
	close(fd);
	b[len] = '\0';
	*buf = b;
	return (long)len;
out_buf:
	free(b);
out_close:
	close(fd);
	return err;
}

int prof_load_file(const char *path, struct prof_profile **out, char *err, size_t cap)
{
	struct lctx c = { .name = path ? path : "<profile>", .err = cap ? err : NULL, .cap = cap };
	char *text = NULL;
	long len;
	int ret;

	*out = NULL;
	if (c.err)
		c.err[0] = '\0';
	if (!path)
		return fail(&c, EINVAL, 0, "no file given");
	len = read_file(path, &text);
	if (len == -EFBIG)
		return fail(&c, EFBIG, 0, "larger than %u bytes: not a profile", PROF_FILE_MAX);
	if (len == -EISDIR)
		return fail(&c, EISDIR, 0, "is a directory, not a profile file");
	if (len < 0)
		return fail(&c, (int)-len, 0, "cannot read: %s", strerror((int)-len));
	ret = prof_load_text(path, text, (size_t)len, out, err, cap);
	free(text);
	return ret;
}

int prof_load_builtin(const char *name, struct prof_profile **out, char *err, size_t cap)
{
	char file[PROF_NAME_MAX + 32];
	const char *text;
	size_t len;

	*out = NULL;
	if (prof_builtin_text(name, &text, &len) < 0) {
		if (err && cap)
			snprintf(err, cap, "%s: no shipped profile of that name",
				 name ? name : "(null)");
		return -ENOENT;
	}
	snprintf(file, sizeof(file), "devices/profiles/%s.yaml", name);
	return prof_load_text(file, text, len, out, err, cap);
}

void prof_free(struct prof_profile *p)
{
	free(p); /* the first member of its struct prof_owned */
}
