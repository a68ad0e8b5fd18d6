// SPDX-License-Identifier: MIT
/*
 * Site configuration loader: libyaml builds the document tree, and one walker checks it against
 * static schema tables (one table per YAML mapping), so every key, type and range rule is a
 * row, not code. Errors carry the dotted key path built on the way down ("devices.bess[0].
 * modbus.port"); checks that span keys run once the whole tree is read. An error does not
 * stop the walk: the next key, the next device are still checked, and a check that spans keys
 * runs only when none of its keys failed (so one mistake is said once). Every message goes to
 * one sink that keeps them in file order. Setup code only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "control/config.h"
#include "devices/yamlcheck.h"
#include "rt/text.h"

#define CFG_FILE_MAX (1u << 20) /* a site config is a few KiB; more is not one */
#define NS_PER_US    1000LL
#define NS_PER_MS    1000000LL
#define NS_PER_S     1000000000LL
#define NS_PER_MIN   (60 * NS_PER_S)
#define MAX_FIELDS   16

/* One table per mapping of the schema; the walker keeps per-table state in struct ctx. */
enum sch_id {
	SCH_ROOT,
	SCH_SITE,
	SCH_STRATEGY,
	SCH_RT,
	SCH_DEVICES,
	SCH_BESS,
	SCH_METER,
	SCH_MODBUS,
	SCH_N,
};

enum ftype {
	FT_INT,	   /* plain integer in [lo, hi], stored in `size` bytes */
	FT_DOUBLE, /* plain number in [dlo, dhi] (open at dlo with F_LO_OPEN), finite */
	FT_DUR,	   /* integer + unit (ns us ms s m), in [lo, hi] ns, stored as int64_t ns */
	FT_STR,	   /* any scalar, no control characters, shorter than `size` */
	FT_HOST,   /* dotted IPv4 */
	FT_BOOL,
	FT_TYPE,    /* a shipped profile's name (the device's `type`), resolved by its post */
	FT_PROFILE, /* a profile file's path, kept in the ctx for its post */
	FT_ORDER,   /* enum mb_order */
	FT_MODE,    /* enum cfg_strategy */
	FT_PARITY,  /* enum ser_parity: none, even, odd */
	FT_FRAMING, /* enum cfg_framing of a host:port device: tcp or rtu */
	FT_MAP,	    /* nested mapping, `sub` at base + off */
	FT_SEQ,	    /* list of `sub` mappings, elements of `size` bytes, count at count_off */

	FT_CONTROLLER, /* enum cfg_controller: predictive or integrator */
};

#define F_REQ	   0x1	/* required */
#define F_LO_OPEN  0x2	/* FT_DOUBLE: value must be > dlo */
#define F_CPU	   0x4	/* FT_INT: hi is the last CPU of this machine */
#define F_NONEMPTY 0x8	/* FT_STR: "" is not a value */
#define F_NULL	   0x10 /* FT_INT: null (or ~) stores -1, "none" */

struct ctx;

/* One key of a mapping: where its value goes and what it may be. */
struct field {
	const char *key;
	enum ftype type;
	unsigned flags;		  /* F_* */
	size_t off;		  /* of the value in the table's struct */
	size_t size;		  /* FT_INT, FT_STR, FT_HOST: of the member; FT_SEQ: element */
	int64_t lo, hi;		  /* FT_INT, FT_DUR (ns): inclusive range */
	double dlo, dhi;	  /* FT_DOUBLE */
	const struct schema *sub; /* FT_MAP, FT_SEQ */
	size_t count_off;	  /* FT_SEQ: unsigned element count in the table's struct */
	unsigned max;		  /* FT_SEQ: capacity */
};

struct schema {
	enum sch_id id;
	const char *what; /* for "want a mapping (...)" messages */
	const struct field *fields;
	unsigned n;
	void (*init)(void *elem, int line); /* FT_SEQ elements */
	/* After the keys; is_clean: no error inside this mapping. */
	int (*post)(struct ctx *c, void *base, const yaml_node_t *node, bool is_clean);
};

/* Where a device's retry timing was given, for the stale_after warning. */
struct dev_lines {
	int timeout, backoff, modbus; /* 0: not given */
};

#define DEV_N (CFG_MAX_BESS + CFG_MAX_METERS) /* bess i is device i, meter j CFG_MAX_BESS + j */

/* One parse, on the caller's stack: the tree, where the walk is, and what it has seen. */
struct ctx {
	yaml_document_t doc;
	struct cfg *cfg;
	const char *name;
	struct cfg_diag *d; /* every message, or NULL */
	char *err;	    /* the first error in file order, or NULL */
	size_t errlen;
	int err_line; /* of what err holds, once has_err */
	bool has_err;
	unsigned nerrors, nwarnings;
	int ncpu;
	struct keypath kp;	      /* where the checker is */
	uint32_t seen[SCH_N];	      /* bit i: field i of that table was given */
	uint32_t bad[SCH_N];	      /* bit i: field i's value had an error; ~0: table rejected */
	int lines[SCH_N][MAX_FIELDS]; /* line of each given key (last mapping of the table) */
	int root_line;
	bool dev_bad[DEV_N];		   /* a device with an error: no check compares with it */
	struct dev_lines dev_lines[DEV_N]; /* of the clean devices */
	char profile_arg[CFG_PATH_MAX];	   /* the current device's `profile:` as written */
};

/* ---- messages ------------------------------------------------------------------------ */

/*
 * The sink: count the message, keep it in c->d in file order (by line, then as found; when
 * full, the latest line goes), and keep the first error in file order in c->err.
 */
static void record(struct ctx *c, bool is_warning, int line, const char *text)
{
	struct cfg_diag *d = c->d;
	unsigned at;

	if (is_warning)
		c->nwarnings++;
	else
		c->nerrors++;
	if (!is_warning && c->err && (!c->has_err || line < c->err_line)) {
		snprintf(c->err, c->errlen, "%s", text);
		c->err_line = line;
		c->has_err = true;
	}
	if (!d)
		return;
	for (at = d->n; at > 0 && d->items[at - 1].line > line; at--)
		;
	if (d->n == CFG_DIAG_MAX) {
		if (at == CFG_DIAG_MAX)
			return; /* later in the file than every one kept */
		d->n--;
	}
	memmove(&d->items[at + 1], &d->items[at], (d->n - at) * sizeof(d->items[0]));
	d->items[at].is_warning = is_warning;
	d->items[at].line = line;
	snprintf(d->items[at].text, sizeof(d->items[at].text), "%s", text);
	d->n++;
}

static void vmsg(struct ctx *c, bool is_warning, int line, const char *path, const char *fmt,
		 va_list ap)
{
	char text[CFG_ERR_MAX];
	size_t n;
	int w;

	w = snprintf(text, sizeof(text), "%s:%d: %s: ", c->name, line, *path ? path : "top level");
	n = w < 0 ? 0 : (size_t)w;
	if (n < sizeof(text))
		vsnprintf(text + n, sizeof(text) - n, fmt, ap);
	record(c, is_warning, line, text);
}

static int vfail(struct ctx *c, int line, const char *path, const char *fmt, va_list ap)
{
	vmsg(c, false, line, path, fmt, ap);
	return -EINVAL;
}

/* "NAME:LINE: PATH: message" as a warning: the config is still accepted. */
__attribute__((format(printf, 4, 5))) static void warn_path(struct ctx *c, int line,
							    const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, true, line, path, fmt, ap);
	va_end(ap);
}

/* A failure of the whole file ("NAME: cannot open: ..."), without a line. Returns ret. */
__attribute__((format(printf, 3, 4))) static int fail_file(struct ctx *c, int ret, const char *fmt,
							   ...)
{
	char text[CFG_ERR_MAX];
	va_list ap;
	size_t n;
	int w;

	w = snprintf(text, sizeof(text), "%s: ", c->name);
	n = w < 0 ? 0 : (size_t)w;
	va_start(ap, fmt);
	if (n < sizeof(text))
		vsnprintf(text + n, sizeof(text) - n, fmt, ap);
	va_end(ap);
	record(c, false, 0, text);
	return ret;
}

/* Put "NAME:LINE: PATH: message" in the error buffer. Returns -EINVAL. */
__attribute__((format(printf, 4, 5))) static int fail_path(struct ctx *c, int line,
							   const char *path, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(c, line, path, fmt, ap);
	va_end(ap);
	return ret;
}

/* The same at the current key path. */
__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, int line, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(c, line, c->kp.s, fmt, ap);
	va_end(ap);
	return ret;
}

/* Durations print in the largest unit that holds them exactly (100ms, 5s), minutes from 2m. */
static const char *fmt_dur(int64_t ns, char *buf, size_t cap)
{
	static const struct {
		int64_t ns;
		const char *unit;
	} units[] = { { NS_PER_MIN, "m" },
		      { NS_PER_S, "s" },
		      { NS_PER_MS, "ms" },
		      { NS_PER_US, "us" },
		      { 1, "ns" } };

	if (ns == 0) {
		snprintf(buf, cap, "0s");
		return buf;
	}
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ns % units[i].ns == 0 && (units[i].ns != NS_PER_MIN || ns >= 2 * NS_PER_MIN)) {
			snprintf(buf, cap, "%lld%s", (long long)(ns / units[i].ns), units[i].unit);
			break;
		}
	}
	return buf;
}

/* The shortest %g form that reads back as the same double. */
static const char *fmt_double(double v, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, cap, "%.17g", v);
	return buf;
}

/* ---- scalars ------------------------------------------------------------------------- */

/* The scalar text of n, or an error naming `want`. */
static int scalar(struct ctx *c, const yaml_node_t *n, const char *want, const char **s)
{
	char k[YC_SHOW_MAX + 32];

	if (n->type != YAML_SCALAR_NODE || yc_is_null(n))
		return fail(c, kp_line(n), "want %s, got %s", want, yc_kind(n, k, sizeof(k)));
	if (memchr(n->data.scalar.value, 0, n->data.scalar.length))
		return fail(c, kp_line(n), "contains a NUL character");
	*s = (const char *)n->data.scalar.value;
	return 0;
}

/* A number must be written as one: plain, not quoted (YAML makes "502" a string). */
static int plain(struct ctx *c, const yaml_node_t *n, const char *want, const char **s)
{
	char k[YC_SHOW_MAX + 32];
	int err = scalar(c, n, want, s);

	if (!err && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return fail(c, kp_line(n), "want %s, got %s", want, yc_kind(n, k, sizeof(k)));
	return err;
}

static bool all_digits(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* [+-]digits, at most 18 digits (no overflow). */
static bool parse_int(const char *s, long long *v)
{
	bool neg = *s == '-';
	size_t n;

	if (*s == '-' || *s == '+')
		s++;
	n = strlen(s);
	if (n > 18 || !all_digits(s, n) || (n > 1 && s[0] == '0')) /* YAML 1.1: 0502 is octal */
		return false;
	*v = strtoll(s, NULL, 10);
	if (neg)
		*v = -*v;
	return true;
}

/* [+-](digits[.digits*] | .digits)([eE][+-]digits), finite. */
static bool parse_double(const char *s, double *v)
{
	const char *p = s;
	size_t a, b = 0;

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
		if (!all_digits(p, strspn(p, "0123456789")))
			return false;
		p += strspn(p, "0123456789");
	}
	if (*p)
		return false;
	*v = strtod(s, NULL);
	return isfinite(*v);
}

static void store_int(void *dst, size_t size, long long v)
{
	if (size == 1) {
		uint8_t u = (uint8_t)v;

		memcpy(dst, &u, 1);
	} else if (size == 2) {
		uint16_t u = (uint16_t)v;

		memcpy(dst, &u, 2);
	} else {
		int32_t i = (int32_t)v; /* int and unsigned members; the range keeps v in both */

		memcpy(dst, &i, 4);
	}
}

static int check_str(struct ctx *c, const yaml_node_t *n, const struct field *f, const char *s)
{
	size_t len = n->data.scalar.length;

	if (len >= f->size)
		return fail(c, kp_line(n), "too long: at most %zu bytes, got %zu", f->size - 1,
			    len);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(c, kp_line(n), "control characters are not allowed");
	return 0;
}

static int parse_string(struct ctx *c, const yaml_node_t *n, const struct field *f, char *dst)
{
	const char *s = "";
	int err;

	if (!(f->flags & F_NONEMPTY) && n->type == YAML_SCALAR_NODE && yc_is_null(n)) {
		memset(dst, 0, f->size);
		return 0;
	}
	err = scalar(c, n, "a string", &s);
	if (err)
		return err;
	if (!*s && (f->flags & F_NONEMPTY))
		return fail(c, kp_line(n), "must not be empty");
	err = check_str(c, n, f, s);
	if (err)
		return err;
	memset(dst, 0, f->size);
	memcpy(dst, s, n->data.scalar.length);
	return 0;
}

static int parse_host(struct ctx *c, const yaml_node_t *n, const struct field *f, char *dst)
{
	char buf[YC_SHOW_MAX + 4];
	struct in_addr a;
	const char *s;
	uint32_t h;
	int err;

	err = scalar(c, n, "an IPv4 address like 192.168.1.100", &s);
	if (err)
		return err;
	if (inet_pton(AF_INET, s, &a) != 1)
		return fail(c, kp_line(n),
			    "want an IPv4 address like 192.168.1.100 (names are not resolved), "
			    "got '%s'",
			    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
	h = ntohl(a.s_addr);
	if (h == 0 || h == 0xffffffffu || (h >> 28) == 0xe)
		return fail(c, kp_line(n), "%s is not a device address", s);
	err = check_str(c, n, f, s);
	if (!err)
		snprintf(dst, f->size, "%s", s);
	return err;
}

static int parse_int_field(struct ctx *c, const yaml_node_t *n, const struct field *f, void *dst)
{
	char buf[YC_SHOW_MAX + 4];
	int64_t hi = f->hi;
	const char *s;
	long long v;
	int err;

	if (f->flags & F_CPU)
		hi = c->ncpu - 1;
	if ((f->flags & F_NULL) && n->type == YAML_SCALAR_NODE && yc_is_null(n)) {
		store_int(dst, f->size, -1);
		return 0;
	}
	err = plain(c, n, "a whole number", &s);
	if (err)
		return err;
	if (!parse_int(s, &v))
		return fail(c, kp_line(n), "want a whole number in %lld..%lld, got '%s'",
			    (long long)f->lo, (long long)hi,
			    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
	if (v < f->lo || v > hi) {
		if (f->flags & F_CPU)
			return fail(c, kp_line(n),
				    "must be %lld..%lld (-1: not pinned; this machine has %d "
				    "CPUs), got %s",
				    (long long)f->lo, (long long)hi, c->ncpu, s);
		return fail(c, kp_line(n), "must be %lld..%lld, got %s", (long long)f->lo,
			    (long long)hi, s);
	}
	store_int(dst, f->size, v);
	return 0;
}

static int parse_double_field(struct ctx *c, const yaml_node_t *n, const struct field *f,
			      double *dst)
{
	char buf[YC_SHOW_MAX + 4], lo[32], hi[32];
	bool is_open = f->flags & F_LO_OPEN;
	const char *s;
	double v;
	int err;

	err = plain(c, n, "a number", &s);
	if (err)
		return err;
	if (!parse_double(s, &v))
		return fail(c, kp_line(n), "want a number, got '%s'",
			    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
	if ((is_open ? v <= f->dlo : v < f->dlo) || v > f->dhi) {
		fmt_double(f->dlo, lo, sizeof(lo));
		fmt_double(f->dhi, hi, sizeof(hi));
		if (isinf(f->dhi))
			return fail(c, kp_line(n), "must be %s %s, got %s",
				    is_open ? ">" : ">=", lo, s);
		return fail(c, kp_line(n), "must be %s..%s, got %s", lo, hi, s);
	}
	*dst = v;
	return 0;
}

static int parse_dur_field(struct ctx *c, const yaml_node_t *n, const struct field *f, int64_t *dst)
{
	char buf[YC_SHOW_MAX + 4], lo[32], hi[32];
	const char *s;
	int64_t v = 0;
	int err;

	err = scalar(c, n, "a duration like 250ms or 5s", &s);
	if (err)
		return err;
	err = txt_parse_duration(s, 0, &v);
	yc_show(s, n->data.scalar.length, buf, sizeof(buf));
	fmt_dur(f->lo, lo, sizeof(lo));
	fmt_dur(f->hi, hi, sizeof(hi));
	if (err == -EINVAL)
		return fail(c, kp_line(n),
			    "want a duration: a number and a unit (ns, us, ms, s or m), "
			    "like 250ms, 1.5s or 5s; got '%s'",
			    buf);
	if (err || v < f->lo || v > f->hi)
		return fail(c, kp_line(n), "must be %s..%s, got %s", lo, hi, buf);
	*dst = v;
	return 0;
}

static int parse_bool(struct ctx *c, const yaml_node_t *n, bool *dst)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no",
										  "off" };
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = plain(c, n, "true or false", &s);

	if (err)
		return err;
	for (unsigned i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*dst = !strcasecmp(s, yes[i]);
			return 0;
		}
	}
	return fail(c, kp_line(n), "want true or false, got '%s'",
		    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
}

/* `type: NAME` or `profile: PATH`: a non-empty string, resolved once the device is read. */
static int parse_profile_key(struct ctx *c, const yaml_node_t *n, char *dst, size_t cap)
{
	const char *s;
	int err = scalar(c, n, "a string", &s);

	if (err)
		return err;
	if (!*s)
		return fail(c, kp_line(n), "must not be empty");
	if (n->data.scalar.length >= cap)
		return fail(c, kp_line(n), "too long: at most %zu bytes, got %zu", cap - 1,
			    n->data.scalar.length);
	for (size_t i = 0; i < n->data.scalar.length; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(c, kp_line(n), "control characters are not allowed");
	memcpy(dst, s, n->data.scalar.length + 1);
	return 0;
}

static int parse_order(struct ctx *c, const yaml_node_t *n, enum mb_order *dst)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = scalar(c, n, "abcd, cdab, badc or dcba", &s);

	if (err)
		return err;
	err = mb_order_parse(s);
	if (err < 0)
		return fail(c, kp_line(n), "want abcd, cdab, badc or dcba, got '%s'",
			    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
	*dst = (enum mb_order)err;
	return 0;
}

static int parse_parity(struct ctx *c, const yaml_node_t *n, enum ser_parity *dst)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = scalar(c, n, "none, even or odd", &s);

	if (err)
		return err;
	err = ser_parity_parse(s);
	if (err < 0)
		return fail(c, kp_line(n), "want none, even or odd, got '%s'",
			    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
	*dst = (enum ser_parity)err;
	return 0;
}

static int parse_framing(struct ctx *c, const yaml_node_t *n, enum cfg_framing *dst)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = scalar(c, n, "tcp or rtu", &s);

	if (err)
		return err;
	if (!strcmp(s, "tcp") || !strcmp(s, "rtu")) {
		*dst = s[0] == 't' ? CFG_FRAMING_TCP : CFG_FRAMING_RTU;
		return 0;
	}
	return fail(c, kp_line(n),
		    "want tcp (Modbus TCP, MBAP) or rtu (RTU frames over TCP, for a gateway "
		    "that passes them through), got '%s'",
		    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
}

static const char *const strategy_names[] = {
	[CFG_STRATEGY_MANUAL] = "manual",
	[CFG_STRATEGY_SOE_TARGET] = "soe_target",
	[CFG_STRATEGY_PEAK_SHAVING] = "peak_shaving",
	[CFG_STRATEGY_MONITOR] = "monitor",
	[CFG_STRATEGY_FREQUENCY_RESPONSE] = "frequency_response",
};

static int parse_mode(struct ctx *c, const yaml_node_t *n, enum cfg_strategy *dst)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err =
	    scalar(c, n, "manual, soe_target, peak_shaving, frequency_response or monitor", &s);

	if (err)
		return err;
	for (unsigned i = 0; i < sizeof(strategy_names) / sizeof(strategy_names[0]); i++) {
		if (!strcmp(s, strategy_names[i])) {
			*dst = (enum cfg_strategy)i;
			return 0;
		}
	}
	return fail(
	    c, kp_line(n),
	    "want manual, soe_target, peak_shaving, frequency_response or monitor, got '%s'",
	    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
}

static const char *const controller_names[] = {
	[CFG_CONTROLLER_PREDICTIVE] = "predictive",
	[CFG_CONTROLLER_INTEGRATOR] = "integrator",
};

static int parse_controller(struct ctx *c, const yaml_node_t *n, enum cfg_controller *dst)
{
	char buf[YC_SHOW_MAX + 4];
	const char *s;
	int err = scalar(c, n, "predictive or integrator", &s);

	if (err)
		return err;
	for (unsigned i = 0; i < sizeof(controller_names) / sizeof(controller_names[0]); i++) {
		if (!strcmp(s, controller_names[i])) {
			*dst = (enum cfg_controller)i;
			return 0;
		}
	}
	return fail(c, kp_line(n),
		    "want predictive (the load estimated past the BESS's response_time) or "
		    "integrator (the gain-0.15 integrator on the grid meter), got '%s'",
		    yc_show(s, n->data.scalar.length, buf, sizeof(buf)));
}

/* ---- the walker ---------------------------------------------------------------------- */

static int parse_map(struct ctx *c, const yaml_node_t *n, const struct schema *s, void *base);

static int want_map(struct ctx *c, const yaml_node_t *n, const struct schema *s)
{
	char k[YC_SHOW_MAX + 32];

	return fail(c, kp_line(n), "want a mapping (%s), got %s", s->what,
		    yc_kind(n, k, sizeof(k)));
}

/* A mapping that was not one: none of its keys (nor of the mappings in it) can be trusted. */
static void reject_map(struct ctx *c, const struct schema *s)
{
	c->bad[s->id] = ~0u;
	for (unsigned i = 0; i < s->n; i++)
		if (s->fields[i].type == FT_MAP)
			reject_map(c, s->fields[i].sub);
}

static bool is_bad(const struct ctx *c, enum sch_id sch, unsigned field)
{
	return c->bad[sch] & (1u << field);
}

/* Devices with errors count (indices stay those of the file) but are marked, never compared. */
static int parse_seq(struct ctx *c, const yaml_node_t *n, const struct field *f, void *base)
{
	unsigned *count = (unsigned *)((char *)base + f->count_off);
	size_t dev0 = f->sub->id == SCH_BESS ? 0 : CFG_MAX_BESS;
	char k[YC_SHOW_MAX + 32];
	unsigned i = 0;

	if (yc_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, kp_line(n), "want a list of devices ('- id: ...' items), got %s",
			    yc_kind(n, k, sizeof(k)));
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		const yaml_node_t *item = yaml_document_get_node(&c->doc, *it);
		void *elem = (char *)base + f->off + (size_t)i * f->size;
		size_t old = kp_push_index(&c->kp, i);
		unsigned nerr = c->nerrors;

		if (i >= f->max) {
			fail(c, kp_line(item), "too many devices: at most %u", f->max);
			kp_pop(&c->kp, old);
			break;
		}
		f->sub->init(elem, kp_line(item));
		if (item->type != YAML_MAPPING_NODE)
			want_map(c, item, f->sub);
		else
			parse_map(c, item, f->sub, elem);
		c->dev_bad[dev0 + i] = c->nerrors != nerr;
		(*count)++;
		kp_pop(&c->kp, old);
	}
	return 0;
}

static int parse_value(struct ctx *c, const yaml_node_t *n, const struct field *f, void *base)
{
	void *dst = (char *)base + f->off;

	switch (f->type) {
	case FT_INT:
		return parse_int_field(c, n, f, dst);
	case FT_DOUBLE:
		return parse_double_field(c, n, f, dst);
	case FT_DUR:
		return parse_dur_field(c, n, f, dst);
	case FT_STR:
		return parse_string(c, n, f, dst);
	case FT_HOST:
		return parse_host(c, n, f, dst);
	case FT_BOOL:
		return parse_bool(c, n, dst);
	case FT_TYPE:
		return parse_profile_key(c, n, dst, f->size);
	case FT_PROFILE:
		return parse_profile_key(c, n, c->profile_arg, sizeof(c->profile_arg));
	case FT_ORDER:
		return parse_order(c, n, dst);
	case FT_MODE:
		return parse_mode(c, n, dst);
	case FT_CONTROLLER:
		return parse_controller(c, n, dst);
	case FT_PARITY:
		return parse_parity(c, n, dst);
	case FT_FRAMING:
		return parse_framing(c, n, dst);
	case FT_MAP:
		if (n->type != YAML_MAPPING_NODE && !yc_is_null(n)) {
			reject_map(c, f->sub);
			return want_map(c, n, f->sub);
		}
		return parse_map(c, n, f->sub, dst);
	case FT_SEQ:
		return parse_seq(c, n, f, base);
	}
	return -EINVAL;
}

/* "id, name, type, ..." : the keys a table accepts, for unknown-key messages. */
static const char *key_list(const struct schema *s, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < s->n && n < cap; i++) {
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", s->fields[i].key);
	}
	return buf;
}

static int unknown_key(struct ctx *c, const yaml_node_t *key, const struct schema *s)
{
	char buf[YC_SHOW_MAX + 4], keys[256];
	const char *hint = "";

	yc_show((const char *)key->data.scalar.value, key->data.scalar.length, buf, sizeof(buf));
	if (s->id == SCH_ROOT &&
	    (!strcmp(buf, "bess") || !strcmp(buf, "meters") || !strcmp(buf, "meter")))
		hint = "; devices go under devices: {bess: [...], meters: [...]}";
	kp_push_key(&c->kp, buf);
	return fail(c, kp_line(key), "unknown key (want %s)%s", key_list(s, keys, sizeof(keys)),
		    hint);
}

/*
 * Walk one mapping against its table, then run the table's checks. n may be NULL (an empty
 * document) or a null scalar ("modbus:" with nothing after it): both read as no keys. A bad
 * key or value is said and the walk goes on with the next key. Returns -EINVAL if anything in
 * the mapping was wrong.
 */
static int parse_map(struct ctx *c, const yaml_node_t *n, const struct schema *s, void *base)
{
	bool is_map = n && n->type == YAML_MAPPING_NODE;
	int *lines = c->lines[s->id];
	int line = n ? kp_line(n) : c->root_line;
	unsigned nerr = c->nerrors;
	size_t top = c->kp.len;

	c->seen[s->id] = 0;
	c->bad[s->id] = 0;
	memset(c->lines[s->id], 0, sizeof(c->lines[s->id]));
	for (yaml_node_pair_t *p = is_map ? n->data.mapping.pairs.start : NULL;
	     is_map && p < n->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = yaml_document_get_node(&c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(&c->doc, p->value);
		const struct field *f = NULL;
		char k[YC_SHOW_MAX + 32];
		unsigned i, nerr_key;

		if (key->type != YAML_SCALAR_NODE) {
			fail(c, kp_line(key), "keys must be plain words, got %s",
			     yc_kind(key, k, sizeof(k)));
			continue;
		}
		for (i = 0; i < s->n; i++) {
			if (strlen(s->fields[i].key) == key->data.scalar.length &&
			    !memcmp(s->fields[i].key, key->data.scalar.value,
				    key->data.scalar.length)) {
				f = &s->fields[i];
				break;
			}
		}
		if (!f) {
			unknown_key(c, key, s);
			kp_pop(&c->kp, top);
			continue;
		}
		kp_push_key(&c->kp, f->key);
		if (c->seen[s->id] & (1u << i)) { /* the first one stands */
			fail(c, kp_line(key), "duplicate key (first at line %d)", lines[i]);
			kp_pop(&c->kp, top);
			continue;
		}
		c->seen[s->id] |= 1u << i;
		lines[i] = kp_line(key);
		nerr_key = c->nerrors;
		parse_value(c, val, f, base);
		if (c->nerrors != nerr_key)
			c->bad[s->id] |= 1u << i;
		kp_pop(&c->kp, top);
	}
	for (unsigned i = 0; i < s->n; i++) {
		if ((s->fields[i].flags & F_REQ) && !(c->seen[s->id] & (1u << i))) {
			kp_push_key(&c->kp, s->fields[i].key);
			fail(c, line, "missing (required)");
			kp_pop(&c->kp, top);
		}
	}
	if (s->post)
		s->post(c, base, n, c->nerrors == nerr);
	kp_pop(&c->kp, top);
	return c->nerrors == nerr ? 0 : -EINVAL;
}

/* ---- tables ---------------------------------------------------------------------------- */

#define DUR(k, st, m, l, h)                                                                        \
	{                                                                                          \
		.key = k, .type = FT_DUR, .off = offsetof(st, m), .lo = (l), .hi = (h)             \
	}
#define INT(k, st, m, l, h)                                                                        \
	{                                                                                          \
		.key = k, .type = FT_INT, .off = offsetof(st, m), .size = sizeof(((st *)0)->m),    \
		.lo = (l), .hi = (h)                                                               \
	}
#define DBL(k, st, m, fl, l, h)                                                                    \
	{                                                                                          \
		.key = k, .type = FT_DOUBLE, .flags = (fl), .off = offsetof(st, m), .dlo = (l),    \
		.dhi = (h)                                                                         \
	}
#define STR(k, st, m, fl)                                                                          \
	{                                                                                          \
		.key = k, .type = FT_STR, .flags = (fl), .off = offsetof(st, m),                   \
		.size = sizeof(((st *)0)->m)                                                       \
	}

static int modbus_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean);
static int bess_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean);
static int meter_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean);
static int site_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean);
static void bess_init(void *elem, int line);
static void meter_init(void *elem, int line);

/* Indices of modbus_fields used by modbus_post. */
enum {
	MF_HOST,
	MF_PORT,
	MF_ADDRESS,
	MF_TIMEOUT,
	MF_RETRY_COUNT,
	MF_RETRY_BACKOFF,
	MF_MATCH_TID,
	MF_FRAMING,
	MF_DEVICE,
	MF_BAUD,
	MF_PARITY,
	MF_DATA_BITS,
	MF_STOP_BITS,
	MF_RS485,
};

static const struct field modbus_fields[] = {
	[MF_HOST] = { .key = "host",
		      .type = FT_HOST,
		      .off = offsetof(struct cfg_modbus, host),
		      .size = CFG_HOST_MAX },
	[MF_PORT] = INT("port", struct cfg_modbus, port, 1, 65535),
	[MF_ADDRESS] = INT("address", struct cfg_modbus, address, 0, 247),
	[MF_TIMEOUT] = DUR("timeout", struct cfg_modbus, timeout_ns, NS_PER_MS, 60 * NS_PER_S),
	[MF_RETRY_COUNT] = INT("retry_count", struct cfg_modbus, retry_count, 1, 10),
	[MF_RETRY_BACKOFF] =
	    DUR("retry_backoff", struct cfg_modbus, retry_backoff_ns, 0, 60 * NS_PER_S),
	[MF_MATCH_TID] = { .key = "match_tid",
			   .type = FT_BOOL,
			   .off = offsetof(struct cfg_modbus, match_tid) },
	[MF_FRAMING] = { .key = "framing",
			 .type = FT_FRAMING,
			 .off = offsetof(struct cfg_modbus, framing) },
	[MF_DEVICE] = STR("device", struct cfg_modbus, device, F_NONEMPTY),
	[MF_BAUD] = INT("baud", struct cfg_modbus, line.baud, 1, 4000000),
	[MF_PARITY] = { .key = "parity",
			.type = FT_PARITY,
			.off = offsetof(struct cfg_modbus, line.parity) },
	[MF_DATA_BITS] = INT("data_bits", struct cfg_modbus, line.data_bits, 7, 8),
	[MF_STOP_BITS] = INT("stop_bits", struct cfg_modbus, line.stop_bits, 1, 2),
	[MF_RS485] = { .key = "rs485",
		       .type = FT_BOOL,
		       .off = offsetof(struct cfg_modbus, line.rs485) },
};

static const struct schema modbus_schema = {
	.id = SCH_MODBUS,
	.what = "host, port or device, baud, ..., address, timeout, retry_count...",
	.fields = modbus_fields,
	.n = sizeof(modbus_fields) / sizeof(modbus_fields[0]),
	.post = modbus_post,
};

enum {
	BF_ID,
	BF_NAME,
	BF_TYPE,
	BF_MODBUS,
	BF_PROFILE,
	BF_HEARTBEAT_REGISTER,
	BF_HEARTBEAT,
	BF_POWER_KW,
	BF_CAPACITY_KWH,
	BF_BLOCK_KW,
	BF_STATUS_READY,
	BF_COMMAND_SOURCE_ID,
	BF_SOE_SCALE,
	BF_COMMAND_SOURCE_DEFAULT,
	BF_RESPONSE_TIME,
};

/* `type:` and `profile:` of a device list; exactly one of them (resolve_profile()). */
#define TYPE_FIELD(st)                                                                             \
	{                                                                                          \
		.key = "type", .type = FT_TYPE, .off = offsetof(st, type),                         \
		.size = sizeof(((st *)0)->type)                                                    \
	}
#define PROFILE_FIELD                                                                              \
	{                                                                                          \
		.key = "profile", .type = FT_PROFILE                                               \
	}

static const struct field bess_fields[] = {
	[BF_ID] = STR("id", struct cfg_bess, id, F_REQ | F_NONEMPTY),
	[BF_NAME] = STR("name", struct cfg_bess, name, 0),
	[BF_TYPE] = TYPE_FIELD(struct cfg_bess),
	[BF_MODBUS] = { .key = "modbus",
			.type = FT_MAP,
			.flags = F_REQ,
			.off = offsetof(struct cfg_bess, modbus),
			.sub = &modbus_schema },
	[BF_PROFILE] = PROFILE_FIELD,
	[BF_HEARTBEAT_REGISTER] = { .key = "heartbeat_register",
				    .type = FT_INT,
				    .flags = F_NULL,
				    .off = offsetof(struct cfg_bess, heartbeat_register),
				    .size = sizeof(int),
				    .lo = 0,
				    .hi = 65535 },
	[BF_HEARTBEAT] = { .key = "heartbeat_role",
			   .type = FT_BOOL,
			   .off = offsetof(struct cfg_bess, is_heartbeat_role) },
	/* The config's BESS ranges (config.h); a profile's target power limits cap power_kw. */
	[BF_POWER_KW] =
	    INT("power_kw", struct cfg_bess, power_kw, BESS_POWER_KW_MIN, BESS_POWER_KW_MAX),
	[BF_CAPACITY_KWH] = INT("capacity_kwh", struct cfg_bess, capacity_kwh,
				BESS_CAPACITY_KWH_MIN, BESS_CAPACITY_KWH_MAX),
	[BF_BLOCK_KW] =
	    INT("block_kw", struct cfg_bess, block_kw, BESS_BLOCK_KW_MIN, BESS_POWER_KW_MAX),
	[BF_STATUS_READY] = INT("status_ready", struct cfg_bess, status_ready, 0, 65535),
	[BF_COMMAND_SOURCE_ID] =
	    INT("command_source_id", struct cfg_bess, command_source_id, 0, 65535),
	[BF_SOE_SCALE] =
	    INT("soe_scale", struct cfg_bess, soe_scale, BESS_SOE_SCALE_MIN, BESS_SOE_SCALE_MAX),
	[BF_COMMAND_SOURCE_DEFAULT] =
	    INT("command_source_default", struct cfg_bess, command_source_default, 0, 65535),
	[BF_RESPONSE_TIME] =
	    DUR("response_time", struct cfg_bess, response_time_ns, NS_PER_MS, 5 * NS_PER_S),
};

static const struct schema bess_schema = {
	.id = SCH_BESS,
	.what = "id, name, type or profile, modbus...",
	.fields = bess_fields,
	.n = sizeof(bess_fields) / sizeof(bess_fields[0]),
	.init = bess_init,
	.post = bess_post,
};

enum { MTF_WORD_ORDER = BF_PROFILE + 1 };

/* Same first indices as bess_fields: device_post() reads both through BF_*. */
static const struct field meter_fields[] = {
	[BF_ID] = STR("id", struct cfg_meter, id, F_REQ | F_NONEMPTY),
	[BF_NAME] = STR("name", struct cfg_meter, name, 0),
	[BF_TYPE] = TYPE_FIELD(struct cfg_meter),
	[BF_MODBUS] = { .key = "modbus",
			.type = FT_MAP,
			.flags = F_REQ,
			.off = offsetof(struct cfg_meter, modbus),
			.sub = &modbus_schema },
	[BF_PROFILE] = PROFILE_FIELD,
	[MTF_WORD_ORDER] = { .key = "word_order",
			     .type = FT_ORDER,
			     .off = offsetof(struct cfg_meter, word_order) },
};

static const struct schema meter_schema = {
	.id = SCH_METER,
	.what = "id, name, type or profile, modbus...",
	.fields = meter_fields,
	.n = sizeof(meter_fields) / sizeof(meter_fields[0]),
	.init = meter_init,
	.post = meter_post,
};

enum { DF_BESS, DF_METERS };

static const struct field devices_fields[] = {
	[DF_BESS] = { .key = "bess",
		      .type = FT_SEQ,
		      .off = offsetof(struct cfg, bess),
		      .size = sizeof(struct cfg_bess),
		      .count_off = offsetof(struct cfg, nbess),
		      .max = CFG_MAX_BESS,
		      .sub = &bess_schema },
	[DF_METERS] = { .key = "meters",
			.type = FT_SEQ,
			.off = offsetof(struct cfg, meters),
			.size = sizeof(struct cfg_meter),
			.count_off = offsetof(struct cfg, nmeters),
			.max = CFG_MAX_METERS,
			.sub = &meter_schema },
};

static const struct schema devices_schema = {
	.id = SCH_DEVICES,
	.what = "bess, meters",
	.fields = devices_fields,
	.n = sizeof(devices_fields) / sizeof(devices_fields[0]),
};

enum { TF_MODE };

static const struct field strategy_fields[] = {
	[TF_MODE] = { .key = "mode", .type = FT_MODE, .off = offsetof(struct cfg_site, mode) },
	DBL("import_limit_kw", struct cfg_site, import_limit_kw, 0, 0, INFINITY),
	DBL("export_limit_kw", struct cfg_site, export_limit_kw, 0, 0, INFINITY),
	DBL("setpoint_kw", struct cfg_site, setpoint_kw, 0, -INFINITY, INFINITY),
	DBL("target_soe_pct", struct cfg_site, target_soe_pct, 0, 0, 100),
	DBL("max_power_kw", struct cfg_site, max_power_kw, F_LO_OPEN, 0, INFINITY),
	{ .key = "controller",
	  .type = FT_CONTROLLER,
	  .off = offsetof(struct cfg_site, controller) },
	{ .key = "frequency_response",
	  .type = FT_BOOL,
	  .off = offsetof(struct cfg_site, is_frequency_response) },
	DBL("droop_pct", struct cfg_site, droop_pct, F_LO_OPEN, 0, 100),
	DBL("deadband_mhz", struct cfg_site, deadband_mhz, 0, 0, 10000),
	DBL("max_kw", struct cfg_site, ffr_max_kw, F_LO_OPEN, 0, INFINITY),
};

static const struct schema strategy_schema = {
	.id = SCH_STRATEGY,
	.what = "mode and its parameters",
	.fields = strategy_fields,
	.n = sizeof(strategy_fields) / sizeof(strategy_fields[0]),
};

enum {
	SF_CYCLE,
	SF_READ_WINDOW,
	SF_STALE_AFTER,
	SF_HEARTBEAT,
	SF_RAMP,
	SF_SOE_MIN,
	SF_SOE_MAX,
	SF_GRID_METER,
	SF_STRATEGY
};

static const struct field site_fields[] = {
	[SF_CYCLE] = DUR("cycle", struct cfg_site, cycle_ns, NS_PER_MS, 10 * NS_PER_S),
	[SF_READ_WINDOW] =
	    DUR("read_window", struct cfg_site, read_window_ns, NS_PER_US, 10 * NS_PER_S),
	[SF_STALE_AFTER] =
	    DUR("stale_after", struct cfg_site, stale_after_ns, NS_PER_MS, 60 * NS_PER_MIN),
	[SF_HEARTBEAT] =
	    DUR("heartbeat", struct cfg_site, heartbeat_ns, NS_PER_MS, 60 * NS_PER_MIN),
	[SF_RAMP] = DBL("ramp_kw_per_s", struct cfg_site, ramp_kw_per_s, F_LO_OPEN, 0, INFINITY),
	[SF_SOE_MIN] = DBL("soe_min_pct", struct cfg_site, soe_min_pct, 0, 0, 100),
	[SF_SOE_MAX] = DBL("soe_max_pct", struct cfg_site, soe_max_pct, 0, 0, 100),
	[SF_GRID_METER] = STR("grid_meter", struct cfg_site, grid_meter, 0),
	[SF_STRATEGY] = { .key = "strategy", .type = FT_MAP, .sub = &strategy_schema },
};

static const struct schema site_schema = {
	.id = SCH_SITE,
	.what = "cycle, read_window, strategy...",
	.fields = site_fields,
	.n = sizeof(site_fields) / sizeof(site_fields[0]),
};

static const struct field rt_fields[] = {
	{ .key = "io_cpu",
	  .type = FT_INT,
	  .flags = F_CPU,
	  .off = offsetof(struct cfg_rt, io_cpu),
	  .size = sizeof(int),
	  .lo = -1 },
	{ .key = "control_cpu",
	  .type = FT_INT,
	  .flags = F_CPU,
	  .off = offsetof(struct cfg_rt, control_cpu),
	  .size = sizeof(int),
	  .lo = -1 },
	INT("io_priority", struct cfg_rt, io_priority, 0, 99),
	INT("control_priority", struct cfg_rt, control_priority, 0, 99),
};

static const struct schema rt_schema = {
	.id = SCH_RT,
	.what = "io_cpu, control_cpu, io_priority, control_priority",
	.fields = rt_fields,
	.n = sizeof(rt_fields) / sizeof(rt_fields[0]),
};

enum { RF_SITE, RF_RT, RF_DEVICES };

static const struct field root_fields[] = {
	[RF_SITE] = { .key = "site",
		      .type = FT_MAP,
		      .off = offsetof(struct cfg, site),
		      .sub = &site_schema },
	[RF_RT] = { .key = "rt",
		    .type = FT_MAP,
		    .off = offsetof(struct cfg, rt),
		    .sub = &rt_schema },
	[RF_DEVICES] = { .key = "devices", .type = FT_MAP, .sub = &devices_schema },
};

static const struct schema root_schema = {
	.id = SCH_ROOT,
	.what = "site, rt, devices",
	.fields = root_fields,
	.n = sizeof(root_fields) / sizeof(root_fields[0]),
	.post = site_post,
};

/* A table's given keys are bits of a uint32_t and index ctx.lines. */
#define TABLE_FITS(t) (sizeof(t) / sizeof((t)[0]) <= MAX_FIELDS && MAX_FIELDS <= 32)
_Static_assert(TABLE_FITS(modbus_fields) && TABLE_FITS(bess_fields) && TABLE_FITS(meter_fields) &&
		   TABLE_FITS(devices_fields) && TABLE_FITS(strategy_fields) &&
		   TABLE_FITS(site_fields) && TABLE_FITS(rt_fields) && TABLE_FITS(root_fields),
	       "a schema table has more than MAX_FIELDS keys");

/* ---- checks that span keys ------------------------------------------------------------- */

static void modbus_defaults(struct cfg_modbus *m)
{
	/*
	 * Retry k waits k x retry_backoff (the seed's 1x, 2x, 3x), but from 100 ms, not the seed's
	 * 1 s: at a 100 ms cycle with stale_after 1 s, a 1 s base makes every lost reply a stale
	 * device and 0 kW. 250 ms + 100 ms keeps a device fresh through a 0.6 s silence.
	 */
	*m = (struct cfg_modbus){ .port = 502,
				  .address = 1,
				  .timeout_ns = 250 * NS_PER_MS,
				  .retry_count = 3,
				  .retry_backoff_ns = 100 * NS_PER_MS,
				  .match_tid = true };
	ser_line_init(&m->line);
}

static void bess_init(void *elem, int line)
{
	struct cfg_bess *b = elem;

	memset(b, 0, sizeof(*b));
	modbus_defaults(&b->modbus);
	b->profile_file = -1;
	b->power_kw = BESS_POWER_KW_DEFAULT;
	b->capacity_kwh = BESS_CAPACITY_KWH_DEFAULT;
	b->block_kw = BESS_BLOCK_KW_DEFAULT;
	b->status_ready = 1; /* until the profile's READY replaces it (bess_post) */
	b->command_source_id = BESS_COMMAND_SOURCE_ID;
	b->soe_scale = BESS_SOE_SCALE_DEFAULT;
	b->command_source_default = 0;
	b->heartbeat_register = -1;
	b->response_time_ns = CFG_RESPONSE_TIME_NS;
	b->line = line;
}

static void meter_init(void *elem, int line)
{
	struct cfg_meter *m = elem;

	memset(m, 0, sizeof(*m));
	modbus_defaults(&m->modbus);
	m->profile_file = -1;
	m->word_order = MB_ORDER_ABCD;
	m->line = line;
}

/* A key of the modbus block that was given, at its line, as the error's key path. */
__attribute__((format(printf, 3, 4))) static int fail_key(struct ctx *c, unsigned mf,
							  const char *fmt, ...)
{
	size_t old = kp_push_key(&c->kp, modbus_fields[mf].key);
	va_list ap;

	va_start(ap, fmt);
	vfail(c, c->lines[SCH_MODBUS][mf], c->kp.s, fmt, ap);
	va_end(ap);
	kp_pop(&c->kp, old);
	return -EINVAL;
}

/*
 * The transport: `host` (Modbus TCP, or RTU frames over TCP with `framing: rtu`) or `device`
 * (a serial line, with the seed's baud/parity/data_bits/stop_bits, and rs485). The seed's
 * serial block has no path: without `device`, each serial key says what is missing.
 */
static int modbus_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean)
{
	static const unsigned serial_keys[] = { MF_BAUD, MF_PARITY, MF_DATA_BITS, MF_STOP_BITS,
						MF_RS485 };
	static const unsigned tcp_keys[] = { MF_PORT, MF_MATCH_TID, MF_FRAMING };
	struct cfg_modbus *m = base;
	uint32_t seen = c->seen[SCH_MODBUS];
	bool is_host = seen & (1u << MF_HOST), is_device = seen & (1u << MF_DEVICE);
	int err = 0;

	(void)is_clean;
	if (is_host && is_device) {
		return fail_key(c, MF_DEVICE,
				"a device has host (Modbus TCP) or device (a serial "
				"line), not both");
	}
	if (!is_device) {
		for (unsigned k = 0; k < sizeof(serial_keys) / sizeof(serial_keys[0]); k++) {
			if (!(seen & (1u << serial_keys[k])))
				continue;
			if (is_host)
				return fail_key(c, serial_keys[k],
						"a serial (RTU) setting, but this device is on TCP "
						"(host is set): remove it");
			kp_push_key(&c->kp, "device");
			return fail(c, c->lines[SCH_MODBUS][serial_keys[k]],
				    "missing: a serial device needs the path of its line (device: "
				    "/dev/ttyUSB0), given %s",
				    modbus_fields[serial_keys[k]].key);
		}
		if (!is_host) {
			kp_push_key(&c->kp, "host");
			return fail(c, kp_line(n),
				    "missing (required: the device's IPv4 address, or device: "
				    "PATH for a serial line)");
		}
		if (m->framing == CFG_FRAMING_RTU && (seen & (1u << MF_MATCH_TID)))
			return fail_key(c, MF_MATCH_TID,
					"RTU frames carry no transaction id (framing: rtu): "
					"remove it");
		if (m->framing == CFG_FRAMING_RTU && m->address == MB_UNIT_BROADCAST &&
		    (seen & (1u << MF_ADDRESS)))
			return fail_key(c, MF_ADDRESS,
					"unit 0 is the RTU broadcast address (writes only, never "
					"answered): want 1..247");
		return 0;
	}
	for (unsigned k = 0; k < sizeof(tcp_keys) / sizeof(tcp_keys[0]); k++) {
		if (seen & (1u << tcp_keys[k]))
			err = fail_key(c, tcp_keys[k],
				       "a TCP setting, but this device is on a serial line "
				       "(device is set): remove it");
	}
	if (is_bad(c, SCH_MODBUS, MF_DEVICE))
		err = -EINVAL; /* said where its value was read */
	else if (m->device[0] != '/')
		err = fail_key(c, MF_DEVICE, "want an absolute path (/dev/ttyUSB0), got '%s'",
			       m->device);
	if ((seen & (1u << MF_BAUD)) && !ser_baud_ok(m->line.baud)) {
		err = fail_key(c, MF_BAUD,
			       "%u is not a standard rate (1200 2400 4800 9600 19200 38400 "
			       "57600 115200, or 230400 .. 4000000)",
			       m->line.baud);
	}
	if (m->address == MB_UNIT_BROADCAST)
		err = fail_key(c, MF_ADDRESS,
			       "unit 0 is the broadcast address on a serial line (writes only, "
			       "never answered): want 1..247");
	if (err)
		return err;
	m->framing = CFG_FRAMING_SERIAL;
	if (!(seen & (1u << MF_TIMEOUT)))
		m->timeout_ns = ser_timeout_default_ns(m->line.baud);
	return 0;
}

/*
 * Each device's id and host:port/unit must be unique across bess and meters; devices with
 * errors are left out of the comparison. Also keeps where the retry timing was given.
 */
static int device_post(struct ctx *c, enum sch_id sch, const char *id, const struct cfg_modbus *mb,
		       bool is_clean)
{
	bool is_dup_id = false, is_dup_ep = false;
	int *lines = c->lines[sch];
	struct cfg *cfg = c->cfg;
	char buf[YC_SHOW_MAX + 4];
	struct dev_lines *dl;
	size_t old;

	if (!is_clean)
		return 0;
	dl = &c->dev_lines[sch == SCH_BESS ? cfg->nbess : CFG_MAX_BESS + cfg->nmeters];
	*dl = (struct dev_lines){
		.timeout =
		    c->seen[SCH_MODBUS] & (1u << MF_TIMEOUT) ? c->lines[SCH_MODBUS][MF_TIMEOUT] : 0,
		.backoff = c->seen[SCH_MODBUS] & (1u << MF_RETRY_BACKOFF)
			       ? c->lines[SCH_MODBUS][MF_RETRY_BACKOFF]
			       : 0,
		.modbus = lines[BF_MODBUS],
	};
	for (unsigned k = 0; k < cfg->nbess + cfg->nmeters; k++) {
		bool is_bess = k < cfg->nbess;
		unsigned j = is_bess ? k : k - cfg->nbess;
		const char *oid = is_bess ? cfg->bess[j].id : cfg->meters[j].id;
		const struct cfg_modbus *omb =
		    is_bess ? &cfg->bess[j].modbus : &cfg->meters[j].modbus;
		int oline = is_bess ? cfg->bess[j].line : cfg->meters[j].line;
		const char *kind_name = is_bess ? "bess" : "meters";

		if (c->dev_bad[is_bess ? j : CFG_MAX_BESS + j])
			continue;
		if (!is_dup_id && !strcmp(id, oid)) {
			is_dup_id = true;
			old = kp_push_key(&c->kp, "id");
			fail(c, lines[BF_ID], "duplicate id '%s': devices.%s[%u] (line %d) has it",
			     yc_show(id, strlen(id), buf, sizeof(buf)), kind_name, j, oline);
			kp_pop(&c->kp, old);
		}
		if (!is_dup_ep && mb->framing == CFG_FRAMING_SERIAL &&
		    omb->framing == CFG_FRAMING_SERIAL && !strcmp(mb->device, omb->device) &&
		    memcmp(&mb->line, &omb->line, sizeof(mb->line))) {
			char a[32], b[32];

			is_dup_ep = true;
			ser_line_describe(a, sizeof(a), &mb->line);
			ser_line_describe(b, sizeof(b), &omb->line);
			old = kp_push_key(&c->kp, "modbus");
			fail(c, lines[BF_MODBUS],
			     "%s is at %s here but %s in devices.%s[%u] (line %d): devices on one "
			     "serial line share its settings",
			     mb->device, a, b, kind_name, j, oline);
			kp_pop(&c->kp, old);
		}
		if (!is_dup_ep && mb->framing == CFG_FRAMING_SERIAL &&
		    omb->framing == CFG_FRAMING_SERIAL && !strcmp(mb->device, omb->device) &&
		    mb->address == omb->address) {
			is_dup_ep = true;
			old = kp_push_key(&c->kp, "modbus");
			fail(c, lines[BF_MODBUS],
			     "%s unit %u is also devices.%s[%u] (line %d): each device on a line "
			     "needs its own address",
			     mb->device, mb->address, kind_name, j, oline);
			kp_pop(&c->kp, old);
		}
		if (!is_dup_ep && mb->framing != CFG_FRAMING_SERIAL &&
		    omb->framing != CFG_FRAMING_SERIAL && !strcmp(mb->host, omb->host) &&
		    mb->port == omb->port && mb->framing != omb->framing) {
			is_dup_ep = true;
			old = kp_push_key(&c->kp, "modbus");
			fail(c, lines[BF_MODBUS],
			     "%s:%u is framing: %s here but %s in devices.%s[%u] (line %d): one "
			     "connection carries one framing",
			     mb->host, mb->port, mb->framing == CFG_FRAMING_RTU ? "rtu" : "tcp",
			     omb->framing == CFG_FRAMING_RTU ? "rtu" : "tcp", kind_name, j, oline);
			kp_pop(&c->kp, old);
		}
		if (!is_dup_ep && mb->framing != CFG_FRAMING_SERIAL &&
		    omb->framing != CFG_FRAMING_SERIAL && !strcmp(mb->host, omb->host) &&
		    mb->port == omb->port && mb->address == omb->address) {
			is_dup_ep = true;
			old = kp_push_key(&c->kp, "modbus");
			fail(c, lines[BF_MODBUS],
			     "%s:%u unit %u is also devices.%s[%u] (line %d): each device needs "
			     "its own host:port/address",
			     mb->host, mb->port, mb->address, kind_name, j, oline);
			kp_pop(&c->kp, old);
		}
	}
	return is_dup_id || is_dup_ep ? -EINVAL : 0;
}

/* ---- profiles ------------------------------------------------------------------------- */

/*
 * The shipped profiles, loaded once per process on first use and shared by every config and
 * device that names them: immutable, never freed (so a cfg that is never cfg_free()d holds
 * nothing of them).
 */
static pthread_mutex_t builtin_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[PROF_NAME_MAX];
	struct prof_profile *p;
} builtins[16];

/* See config.h. */
int cfg_builtin_profile(const char *name, const struct prof_profile **out, char *err, size_t cap)
{
	unsigned i;
	int ret = 0;

	pthread_mutex_lock(&builtin_lock);
	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]) && builtins[i].p; i++)
		if (!strcmp(builtins[i].name, name))
			goto out_found;
	if (i == sizeof(builtins) / sizeof(builtins[0])) {
		ret = -ENOSPC; /* more shipped profiles than slots: cannot happen with 16 */
		snprintf(err, cap, "too many shipped profiles in use");
		goto out_unlock;
	}
	ret = prof_load_builtin(name, &builtins[i].p, err, cap);
	if (ret) {
		builtins[i].p = NULL;
		goto out_unlock;
	}
	snprintf(builtins[i].name, sizeof(builtins[i].name), "%s", name);
out_found:
	*out = builtins[i].p;
out_unlock:
	pthread_mutex_unlock(&builtin_lock);
	return ret;
}

/* "powerpack, acuvim2 or acuvim2-manual": the shipped profiles, for messages. */
static const char *builtin_list(char *buf, size_t cap)
{
	size_t n = 0;
	const char *name;
	unsigned count = 0;

	while (prof_builtin_name(count))
		count++;
	buf[0] = '\0';
	for (unsigned i = 0; (name = prof_builtin_name(i)) && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s",
				      !i	       ? ""
				      : i + 1 == count ? " or "
						       : ", ",
				      name);
	return buf;
}

/* A `profile:` path as given, made relative to the config file's directory. False: too long. */
static bool profile_path(const struct ctx *c, const char *arg, char *out, size_t cap)
{
	const char *slash = strrchr(c->name, '/');
	int n;

	if (arg[0] == '/' || !slash)
		n = snprintf(out, cap, "%s", arg);
	else
		n = snprintf(out, cap, "%.*s/%s", (int)(slash - c->name), c->name, arg);
	return n >= 0 && (size_t)n < cap;
}

/* Load the current device's `profile:` file, or find it among those this config loaded. */
static int file_profile(struct ctx *c, int line, int *file, const struct prof_profile **out)
{
	char path[CFG_PATH_MAX + CFG_NAME_MAX], real[PATH_MAX]; /* 8 KiB: setup code */
	char perr[CFG_ERR_MAX];
	struct cfg *cfg = c->cfg;
	struct prof_profile *p;
	const char *key;
	struct stat st;
	int ret;

	if (!profile_path(c, c->profile_arg, path, sizeof(path)))
		return fail(c, line, "path too long: at most %d bytes with the config's directory",
			    CFG_PATH_MAX - 1);
	key = realpath(path, real) ? real : path;
	for (unsigned i = 0; i < cfg->nprofiles; i++) {
		if (!strcmp(cfg->profiles[i].path, key)) {
			*file = (int)i;
			*out = cfg->profiles[i].p;
			return 0;
		}
	}
	if (cfg->nprofiles == CFG_MAX_PROFILES)
		return fail(c, line, "more than %d profile files in one site", CFG_MAX_PROFILES);
	if (strlen(key) >= CFG_PATH_MAX)
		return fail(c, line, "path too long: at most %d bytes", CFG_PATH_MAX - 1);
	/* A FIFO or a terminal would never end: a profile is a regular file. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return fail(c, line, "%s: not a regular file", path);
	ret = prof_load_file(path, &p, perr, sizeof(perr));
	if (ret)
		return fail(c, line, "%s", perr);
	snprintf(cfg->profiles[cfg->nprofiles].path, CFG_PATH_MAX, "%s", key);
	cfg->profiles[cfg->nprofiles].p = p;
	*file = (int)cfg->nprofiles++;
	*out = p;
	return 0;
}

static const char *kind_name(enum prof_kind k)
{
	return k == PROF_KIND_BESS ? "bess" : k == PROF_KIND_METER ? "meter" : "unset";
}

/*
 * Exactly one of `type:` (a shipped profile) and `profile:` (a file): load it and check its
 * kind. `sch` is the device's table, `type` its type member. Returns 0 with *out, or -EINVAL
 * (said).
 */
static int resolve_profile(struct ctx *c, enum sch_id sch, const yaml_node_t *n, const char *type,
			   int *file, const struct prof_profile **out)
{
	enum prof_kind want = sch == SCH_BESS ? PROF_KIND_BESS : PROF_KIND_METER;
	bool has_type = c->seen[sch] & (1u << BF_TYPE),
	     has_file = c->seen[sch] & (1u << BF_PROFILE);
	const char *list = sch == SCH_BESS ? "devices.bess" : "devices.meters";
	const char *other = sch == SCH_BESS ? "devices.meters" : "devices.bess";
	int *lines = c->lines[sch], line;
	char names[128], buf[YC_SHOW_MAX + 4], perr[CFG_ERR_MAX];
	const struct prof_profile *p = NULL;
	size_t old;
	int ret;

	*out = NULL;
	*file = -1;
	if (is_bad(c, sch, BF_TYPE) || is_bad(c, sch, BF_PROFILE))
		return -EINVAL; /* said */
	if (!has_type && !has_file) {
		old = kp_push_key(&c->kp, "type");
		fail(c, n ? kp_line(n) : c->root_line,
		     "missing (required: type: NAME, a shipped profile (%s), or profile: PATH, a "
		     "profile file)",
		     builtin_list(names, sizeof(names)));
		kp_pop(&c->kp, old);
		return -EINVAL;
	}
	if (has_type && has_file) {
		bool is_type_last = lines[BF_TYPE] > lines[BF_PROFILE];

		old = kp_push_key(&c->kp, is_type_last ? "type" : "profile");
		fail(c, is_type_last ? lines[BF_TYPE] : lines[BF_PROFILE],
		     "give type or profile, not both (%s is at line %d)",
		     is_type_last ? "profile" : "type",
		     is_type_last ? lines[BF_PROFILE] : lines[BF_TYPE]);
		kp_pop(&c->kp, old);
		return -EINVAL;
	}
	old = kp_push_key(&c->kp, has_type ? "type" : "profile");
	line = lines[has_type ? BF_TYPE : BF_PROFILE];
	if (has_type) {
		yc_show(type, strlen(type), buf, sizeof(buf));
		ret = cfg_builtin_profile(type, &p, perr, sizeof(perr));
		if (ret == -ENOENT)
			ret = fail(c, line,
				   "unknown type '%s': want a shipped profile (%s), or profile: "
				   "PATH for a site's own",
				   buf, builtin_list(names, sizeof(names)));
		else if (ret)
			ret = fail(c, line, "%s", perr);
		else if (p->kind != want)
			ret = fail(c, line,
				   "unsupported type '%s' here: want a %s profile (%s is a "
				   "%s: list it under %s)",
				   buf, kind_name(want), buf, kind_name(p->kind), other);
	} else {
		ret = file_profile(c, line, file, &p);
		if (!ret && p->kind != want)
			ret =
			    fail(c, line, "%s is a %s profile (kind: %s), but %s takes kind %s",
				 yc_show(c->profile_arg, strlen(c->profile_arg), buf, sizeof(buf)),
				 kind_name(p->kind), kind_name(p->kind), list, kind_name(want));
	}
	if (!ret && want == PROF_KIND_BESS) {
		int cs = prof_role_point(p, PROF_ROLE_COMMAND_SOURCE);
		int tp = prof_role_point(p, PROF_ROLE_TARGET_POWER);

		if (cs < 0)
			ret = fail(c, line,
				   "profile '%s' has no command_source role: the controller claims "
				   "the command source before it writes power",
				   p->name);
		else if (tp < 0 || prof_type_width(p->points[tp].type) != 1)
			ret = fail(c, line,
				   "profile '%s': its target_power must be one register (u16 or "
				   "i16); 32-bit setpoints are not supported yet",
				   p->name);
	}
	kp_pop(&c->kp, old);
	if (ret) {
		*file = -1;
		return ret;
	}
	*out = p;
	return 0;
}

/* The profile's unit id where the device's modbus block gave none. */
static void default_unit(struct ctx *c, enum sch_id sch, const struct prof_profile *p,
			 struct cfg_modbus *mb)
{
	if ((c->seen[sch] & (1u << BF_MODBUS)) && !(c->seen[SCH_MODBUS] & (1u << MF_ADDRESS)) &&
	    p->unit_id)
		mb->address = p->unit_id;
}

/* The registers of the profile's roles but the heartbeat's: a heartbeat must not be one. */
static int check_heartbeat(struct ctx *c, const struct cfg_bess *b, const struct prof_profile *p)
{
	char regs[160], *at = regs;
	unsigned list[PROF_ROLE_N], n = 0;
	const char *role = NULL;
	const struct prof_point *hit = NULL;
	size_t old;

	if (b->heartbeat_register < 0 || is_bad(c, SCH_BESS, BF_HEARTBEAT_REGISTER))
		return 0;
	for (unsigned r = 0; r < PROF_ROLE_N; r++) {
		int k = prof_role_point(p, (enum prof_role)r);
		const struct prof_point *pt;
		unsigned j;

		if (r == PROF_ROLE_HEARTBEAT || k < 0)
			continue;
		pt = &p->points[k];
		if (b->heartbeat_register >= pt->addr &&
		    b->heartbeat_register < pt->addr + (int)prof_type_width(pt->type) && !hit) {
			hit = pt;
			role = prof_role_name((enum prof_role)r);
		}
		for (j = n; j > 0 && list[j - 1] > pt->addr; j--)
			list[j] = list[j - 1];
		list[j] = pt->addr;
		n++;
	}
	if (!hit)
		return 0;
	regs[0] = '\0';
	for (unsigned i = 0; i < n; i++)
		at += snprintf(at, sizeof(regs) - (size_t)(at - regs), "%s%u",
			       !i	    ? ""
			       : i + 1 == n ? " or "
					    : ", ",
			       list[i]);
	old = kp_push_key(&c->kp, "heartbeat_register");
	fail(c, c->lines[SCH_BESS][BF_HEARTBEAT_REGISTER],
	     "%d is the %s profile's %s register (%s): the heartbeat needs a register of its own "
	     "(not %s)",
	     b->heartbeat_register, p->name, role, hit->name, regs);
	kp_pop(&c->kp, old);
	return -EINVAL;
}

/*
 * `heartbeat_role: true`: the counter goes to the profile's heartbeat role. Off by default: the
 * seed's PowerPack has no such register, and a write to a register a device lacks is an
 * exception every cycle.
 */
static int heartbeat_role(struct ctx *c, struct cfg_bess *b, const struct prof_profile *p)
{
	int k = prof_role_point(p, PROF_ROLE_HEARTBEAT);
	size_t old;

	if (!b->is_heartbeat_role || is_bad(c, SCH_BESS, BF_HEARTBEAT))
		return 0;
	old = kp_push_key(&c->kp, "heartbeat_role");
	if (c->seen[SCH_BESS] & (1u << BF_HEARTBEAT_REGISTER)) {
		fail(c, c->lines[SCH_BESS][BF_HEARTBEAT],
		     "give heartbeat_role (the profile's register) or heartbeat_register (line "
		     "%d), not both",
		     c->lines[SCH_BESS][BF_HEARTBEAT_REGISTER]);
		kp_pop(&c->kp, old);
		return -EINVAL;
	}
	if (k < 0) {
		fail(c, c->lines[SCH_BESS][BF_HEARTBEAT],
		     "the %s profile has no heartbeat role: name the register with "
		     "heartbeat_register",
		     p->name);
		kp_pop(&c->kp, old);
		return -EINVAL;
	}
	kp_pop(&c->kp, old);
	b->heartbeat_register = p->points[k].addr;
	return 0;
}

/* A rated power the profile's target power limits would refuse to be set to. */
static int check_power(struct ctx *c, const struct cfg_bess *b, const struct prof_profile *p)
{
	const struct prof_point *pt = &p->points[prof_role_point(p, PROF_ROLE_TARGET_POWER)];
	double cap;
	size_t old;

	if (!pt->has_limits || !(pt->write_min < 0 && pt->write_max > 0) ||
	    is_bad(c, SCH_BESS, BF_POWER_KW))
		return 0;
	cap = pt->write_max < -pt->write_min ? pt->write_max : -pt->write_min;
	if (b->power_kw <= cap)
		return 0;
	old = kp_push_key(&c->kp, "power_kw");
	fail(c, c->lines[SCH_BESS][BF_POWER_KW] ? c->lines[SCH_BESS][BF_POWER_KW] : b->line,
	     "must be at most %g: the %s profile's %s takes %g..%g, got %d", cap, p->name, pt->name,
	     pt->write_min, pt->write_max, b->power_kw);
	kp_pop(&c->kp, old);
	return -EINVAL;
}

static int bess_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean)
{
	struct cfg_bess *b = base;
	const struct prof_profile *p;
	int ready;

	if (resolve_profile(c, SCH_BESS, n, b->type, &b->profile_file, &p))
		return -EINVAL;
	b->profile = p;
	default_unit(c, SCH_BESS, p, &b->modbus);
	/* The profile's READY, unless the site says which code it is. */
	ready = prof_enum_value(&p->points[prof_role_point(p, PROF_ROLE_STATUS)], PROF_E_READY);
	if (!(c->seen[SCH_BESS] & (1u << BF_STATUS_READY)) && ready >= 0)
		b->status_ready = (unsigned)ready;
	if (heartbeat_role(c, b, p) || check_heartbeat(c, b, p) || check_power(c, b, p))
		return -EINVAL;
	return device_post(c, SCH_BESS, b->id, &b->modbus, is_clean);
}

static int meter_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean)
{
	struct cfg_meter *m = base;
	const struct prof_profile *p;

	if (resolve_profile(c, SCH_METER, n, m->type, &m->profile_file, &p))
		return -EINVAL;
	m->profile = p;
	default_unit(c, SCH_METER, p, &m->modbus);
	if (!(c->seen[SCH_METER] & (1u << MTF_WORD_ORDER)))
		m->word_order = p->default_order;
	return device_post(c, SCH_METER, m->id, &m->modbus, is_clean);
}

/* Line of a site key if given, else of `other` if given, else of the document. */
static int site_line(struct ctx *c, unsigned f, unsigned other)
{
	int *lines = c->lines[SCH_SITE];

	if (lines[f])
		return lines[f];
	return lines[other] ? lines[other] : c->root_line;
}

/* A duration that must be at least the cycle: stale_after, heartbeat. */
static int check_vs_cycle(struct ctx *c, unsigned f, int64_t v)
{
	bool is_set = c->seen[SCH_SITE] & (1u << f);
	char path[48], cyc[32], got[32];

	if (v >= c->cfg->site.cycle_ns)
		return 0;
	snprintf(path, sizeof(path), "site.%s", site_fields[f].key);
	fmt_dur(c->cfg->site.cycle_ns, cyc, sizeof(cyc));
	fmt_dur(v, got, sizeof(got));
	if (is_set)
		return fail_path(c, site_line(c, f, SF_CYCLE), path,
				 "must be at least site.cycle (%s), got %s", cyc, got);
	return fail_path(c, site_line(c, f, SF_CYCLE), path,
			 "must be at least site.cycle (%s): its default %s is shorter, so set it",
			 cyc, got);
}

/*
 * Warn where one lost reply must make a device stale: its request times out, and the retry
 * waits 1 x retry_backoff more, so the next sample is at least timeout + backoff after the
 * last one. Said at the device's timeout (else its retry_backoff, else its modbus block).
 */
static void warn_stale(struct ctx *c, unsigned dev)
{
	const struct cfg *cfg = c->cfg;
	bool is_bess = dev < CFG_MAX_BESS;
	unsigned j = is_bess ? dev : dev - CFG_MAX_BESS;
	const struct cfg_modbus *mb = is_bess ? &cfg->bess[j].modbus : &cfg->meters[j].modbus;
	const char *id = is_bess ? cfg->bess[j].id : cfg->meters[j].id;
	const struct dev_lines *dl = &c->dev_lines[dev];
	char path[96], t[32], b[32], st[32], buf[YC_SHOW_MAX + 4];
	const char *what = "";
	int n;

	if (mb->timeout_ns + mb->retry_backoff_ns < cfg->site.stale_after_ns)
		return;
	n = snprintf(path, sizeof(path), "devices.%s[%u].modbus", is_bess ? "bess" : "meters", j);
	fmt_dur(mb->timeout_ns, t, sizeof(t));
	fmt_dur(mb->retry_backoff_ns, b, sizeof(b));
	fmt_dur(cfg->site.stale_after_ns, st, sizeof(st));
	yc_show(id, strlen(id), buf, sizeof(buf));
	if (is_bess && cfg->site.mode != CFG_STRATEGY_MONITOR)
		what = " (0 kW)";
	else if (!is_bess && (int)j == cfg->site.grid_meter_index &&
		 cfg->site.mode == CFG_STRATEGY_PEAK_SHAVING)
		what = " (0 kW at every BESS: peak_shaving needs it)";
	if (dl->timeout) {
		snprintf(path + n, sizeof(path) - (size_t)n, ".timeout");
		warn_path(c, dl->timeout, path,
			  "%s + retry_backoff %s >= site.stale_after %s: one lost reply makes %s "
			  "stale%s",
			  t, b, st, buf, what);
	} else if (dl->backoff) {
		snprintf(path + n, sizeof(path) - (size_t)n, ".retry_backoff");
		warn_path(c, dl->backoff, path,
			  "timeout %s + %s >= site.stale_after %s: one lost reply makes %s "
			  "stale%s",
			  t, b, st, buf, what);
	} else {
		warn_path(c, dl->modbus, path,
			  "timeout %s + retry_backoff %s >= site.stale_after %s: one lost reply "
			  "makes %s stale%s",
			  t, b, st, buf, what);
	}
}

/* Which devices there are decides which strategies can run. */
static void check_devices(struct ctx *c)
{
	struct cfg *cfg = c->cfg;
	struct cfg_site *s = &cfg->site;
	int line = c->lines[SCH_STRATEGY][TF_MODE];

	if (!cfg->nbess && !cfg->nmeters && !is_bad(c, SCH_ROOT, RF_DEVICES)) {
		fail_path(c,
			  c->lines[SCH_ROOT][RF_DEVICES] ? c->lines[SCH_ROOT][RF_DEVICES]
							 : c->root_line,
			  "devices",
			  "a site needs at least one device: a BESS (devices.bess, type powerpack) "
			  "or a meter (devices.meters, type acuvim2)");
		return;
	}
	if (cfg->nbess || is_bad(c, SCH_DEVICES, DF_BESS) || is_bad(c, SCH_STRATEGY, TF_MODE))
		return;
	if (!(c->seen[SCH_STRATEGY] & (1u << TF_MODE)))
		s->mode = CFG_STRATEGY_MONITOR; /* the default without BESS */
	else if (s->mode != CFG_STRATEGY_MONITOR)
		fail_path(c, line ? line : c->root_line, "site.strategy.mode",
			  "%s needs a BESS to control, and devices.bess has none: a site of "
			  "meters only runs mode monitor",
			  cfg_strategy_name(s->mode));
}

/*
 * After the whole document: rules that tie keys together. Each runs only when the keys it
 * reads were read without error, so that one mistake is said once.
 */
static int site_post(struct ctx *c, void *base, const yaml_node_t *n, bool is_clean)
{
	struct cfg *cfg = c->cfg;
	struct cfg_site *s = &cfg->site;
	uint32_t seen = c->seen[SCH_SITE];
	bool is_cycle_ok = !is_bad(c, SCH_SITE, SF_CYCLE);
	bool is_stale_ok = !is_bad(c, SCH_SITE, SF_STALE_AFTER);
	bool is_mode_ok = !is_bad(c, SCH_STRATEGY, TF_MODE);
	bool is_grid_ok = !is_bad(c, SCH_SITE, SF_GRID_METER);
	char a[32], b[32], buf[YC_SHOW_MAX + 4];
	unsigned nerr = c->nerrors;

	(void)base;
	(void)n;
	(void)is_clean;
	check_devices(c);
	if (!(seen & (1u << SF_READ_WINDOW)))
		s->read_window_ns = s->cycle_ns / 2;
	if (is_cycle_ok && !is_bad(c, SCH_SITE, SF_READ_WINDOW) && s->read_window_ns >= s->cycle_ns)
		fail_path(c, site_line(c, SF_READ_WINDOW, SF_CYCLE), "site.read_window",
			  "must be shorter than site.cycle (%s), got %s",
			  fmt_dur(s->cycle_ns, a, sizeof(a)),
			  fmt_dur(s->read_window_ns, b, sizeof(b)));
	if (is_cycle_ok && is_stale_ok && check_vs_cycle(c, SF_STALE_AFTER, s->stale_after_ns))
		is_stale_ok = false;
	if (is_cycle_ok && !is_bad(c, SCH_SITE, SF_HEARTBEAT))
		check_vs_cycle(c, SF_HEARTBEAT, s->heartbeat_ns);
	if (!is_bad(c, SCH_SITE, SF_SOE_MIN) && !is_bad(c, SCH_SITE, SF_SOE_MAX) &&
	    s->soe_min_pct > s->soe_max_pct) {
		bool is_min = seen & (1u << SF_SOE_MIN);

		fmt_double(s->soe_min_pct, a, sizeof(a));
		fmt_double(s->soe_max_pct, b, sizeof(b));
		if (is_min)
			fail_path(c, site_line(c, SF_SOE_MIN, SF_SOE_MAX), "site.soe_min_pct",
				  "must not exceed site.soe_max_pct (%s), got %s", b, a);
		else
			fail_path(c, site_line(c, SF_SOE_MAX, SF_SOE_MIN), "site.soe_max_pct",
				  "must be at least site.soe_min_pct (%s), got %s", a, b);
	}
	s->grid_meter_index = -1;
	if (s->grid_meter[0] && is_grid_ok) {
		for (unsigned i = 0; i < cfg->nmeters; i++)
			if (!c->dev_bad[CFG_MAX_BESS + i] &&
			    !strcmp(cfg->meters[i].id, s->grid_meter))
				s->grid_meter_index = (int)i;
		if (s->grid_meter_index < 0 && !is_bad(c, SCH_DEVICES, DF_METERS))
			fail_path(c, site_line(c, SF_GRID_METER, SF_GRID_METER), "site.grid_meter",
				  "'%s' names no meter in devices.meters%s",
				  yc_show(s->grid_meter, strlen(s->grid_meter), buf, sizeof(buf)),
				  cfg->nmeters ? "" : " (there are none)");
	}
	if ((s->mode == CFG_STRATEGY_PEAK_SHAVING || s->mode == CFG_STRATEGY_FREQUENCY_RESPONSE ||
	     (s->is_frequency_response && s->mode != CFG_STRATEGY_MONITOR)) &&
	    is_mode_ok && cfg->nbess && !s->grid_meter[0] && is_grid_ok) {
		int line = c->lines[SCH_STRATEGY][TF_MODE];
		bool is_peak = s->mode == CFG_STRATEGY_PEAK_SHAVING;

		fail_path(c, line ? line : c->root_line, "site.strategy.mode",
			  "%s needs site.grid_meter: the id of the meter at the grid connection%s",
			  is_peak ? "peak_shaving" : "frequency_response",
			  is_peak ? "" : " (its frequency role)");
	}
	if (is_stale_ok) {
		for (unsigned i = 0; i < cfg->nbess; i++)
			if (!c->dev_bad[i])
				warn_stale(c, i);
		for (unsigned i = 0; i < cfg->nmeters; i++)
			if (!c->dev_bad[CFG_MAX_BESS + i])
				warn_stale(c, CFG_MAX_BESS + i);
	}
	return c->nerrors == nerr ? 0 : -EINVAL;
}

/* ---- entry points ---------------------------------------------------------------------- */

static int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

void cfg_defaults(struct cfg *cfg)
{
	int cpu = ncpus() > 1 ? 1 : 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->site = (struct cfg_site){ .cycle_ns = 100 * NS_PER_MS,
				       .read_window_ns = 50 * NS_PER_MS,
				       .stale_after_ns = NS_PER_S,
				       .heartbeat_ns = 5 * NS_PER_S,
				       .ramp_kw_per_s = 1000,
				       .soe_min_pct = 5,
				       .soe_max_pct = 95,
				       .grid_meter_index = -1,
				       .mode = CFG_STRATEGY_MANUAL,
				       .import_limit_kw = 100,
				       .export_limit_kw = 0,
				       .setpoint_kw = 0,
				       .target_soe_pct = 50,
				       .max_power_kw = 100,
				       .controller = CFG_CONTROLLER_PREDICTIVE,
				       .droop_pct = 0.4,
				       .deadband_mhz = 100,
				       .ffr_max_kw = 100 };
	cfg->rt = (struct cfg_rt){
		.io_cpu = cpu, .control_cpu = cpu, .io_priority = 81, .control_priority = 80
	};
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	for (unsigned i = 0; i < cfg->nprofiles && i < CFG_MAX_PROFILES; i++)
		prof_free(cfg->profiles[i].p);
	cfg_defaults(cfg);
}

const char *cfg_strategy_name(enum cfg_strategy mode)
{
	if ((unsigned)mode < sizeof(strategy_names) / sizeof(strategy_names[0]))
		return strategy_names[mode];
	return "unknown";
}

/* Reads the file for libyaml, refusing to go past CFG_FILE_MAX. */
struct reader {
	int fd;
	size_t total;
	int err; /* -errno of a failed read, or -EFBIG */
};

static int read_fd(void *data, unsigned char *buf, size_t size, size_t *nread)
{
	struct reader *r = data;
	ssize_t n;

	do
		n = read(r->fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = -errno;
		return 0;
	}
	r->total += (size_t)n;
	if (r->total > CFG_FILE_MAX) {
		r->err = -EFBIG;
		return 0;
	}
	*nread = (size_t)n;
	return 1;
}

/* 1-based line of byte `off`: from the text, or re-read from the file, else libyaml's mark. */
static int line_at(const char *text, size_t len, int fd, size_t off, int fallback)
{
	char buf[4096];
	int line = 1;

	if (text) {
		for (size_t i = 0; i < off && i < len; i++)
			line += text[i] == '\n';
		return line;
	}
	for (size_t pos = 0; pos < off;) {
		size_t want = off - pos < sizeof(buf) ? off - pos : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)pos);

		if (n <= 0)
			return fallback;
		for (ssize_t i = 0; i < n; i++)
			line += buf[i] == '\n';
		pos += (size_t)n;
	}
	return line;
}

static int file_too_big(struct ctx *c)
{
	return fail_file(c, -EFBIG, "larger than %u bytes (1 MiB): not a site config",
			 CFG_FILE_MAX);
}

static int yaml_fail(struct ctx *c, yaml_parser_t *p, const char *text, size_t len, int fd)
{
	char val[32] = "";
	int line;

	if (p->error == YAML_MEMORY_ERROR)
		return fail_file(c, -ENOMEM, "out of memory while parsing");
	if (p->error == YAML_READER_ERROR) {
		line = line_at(text, len, fd, p->problem_offset, (int)p->mark.line + 1);
		if (p->problem_value != -1)
			snprintf(val, sizeof(val), " (0x%X)", (unsigned)p->problem_value);
		return fail_path(c, line, "YAML", "%s%s at byte %zu", p->problem, val,
				 p->problem_offset);
	}
	line = (int)p->problem_mark.line + 1;
	if (p->context)
		return fail_path(c, line, "YAML", "%s %s (line %d)", p->problem, p->context,
				 (int)p->context_mark.line + 1);
	return fail_path(c, line, "YAML", "%s", p->problem ? p->problem : "syntax error");
}

/* Why yaml_parser_load() failed: the reader's own error, or libyaml's. */
static int parser_error(struct ctx *c, yaml_parser_t *p, const struct reader *rd, const char *text,
			size_t len)
{
	if (rd && rd->err == -EFBIG)
		return file_too_big(c);
	if (rd && rd->err)
		return fail_file(c, rd->err, "cannot read: %s", strerror(-rd->err));
	return yaml_fail(c, p, text, len, rd ? rd->fd : -1);
}

/*
 * Parse from an already set-up parser. text/len (memory) or rd (file) locate reader errors.
 * The first document is walked whole before a second one is looked for, so that its errors
 * are all said even when a syntax error follows.
 */
static int load(struct cfg *cfg, struct ctx *c, yaml_parser_t *p, const struct reader *rd,
		const char *text, size_t len)
{
	yaml_document_t extra;
	const yaml_node_t *root;
	int err = 0;

	if (!yaml_parser_load(p, &c->doc))
		return parser_error(c, p, rd, text, len);
	root = yaml_document_get_root_node(&c->doc);
	if (!root) { /* empty, or only comments */
		parse_map(c, NULL, &root_schema, cfg);
		goto out_doc;
	}
	c->root_line = kp_line(root);
	if (root->type != YAML_MAPPING_NODE)
		want_map(c, root, &root_schema);
	else
		parse_map(c, root, &root_schema, cfg);
	if (!yaml_parser_load(p, &extra)) {
		err = parser_error(c, p, rd, text, len);
		goto out_doc;
	}
	if (yaml_document_get_root_node(&extra))
		fail_path(c, (int)extra.start_mark.line + 1, "YAML",
			  "a second document: a site config is one document");
	yaml_document_delete(&extra);
out_doc:
	yaml_document_delete(&c->doc);
	if (err && err != -EINVAL)
		return err; /* cannot read, too big, out of memory */
	return c->nerrors ? -EINVAL : 0;
}

static void ctx_init(struct ctx *c, struct cfg *cfg, const char *name, struct cfg_diag *d,
		     char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->name = name ? name : "<config>";
	c->d = d;
	if (d)
		memset(d, 0, sizeof(*d));
	c->err = err && errlen ? err : NULL;
	c->errlen = c->err ? errlen : 0;
	if (c->err)
		c->err[0] = '\0';
	c->ncpu = ncpus();
	c->root_line = 1;
}

/* The end of every load: counts into d, and no half-read config escapes. */
static int finish(struct ctx *c, int ret)
{
	if (c->d) {
		c->d->nerrors = c->nerrors;
		c->d->nwarnings = c->nwarnings;
		c->d->ndropped = c->nerrors + c->nwarnings - c->d->n;
	}
	if (ret)
		cfg_free(c->cfg); /* and the defaults */
	return ret;
}

static int parse_text(struct cfg *cfg, const char *name, const char *text, size_t len,
		      struct cfg_diag *d, char *err, size_t errlen)
{
	yaml_parser_t p;
	struct ctx c;
	int ret;

	ctx_init(&c, cfg, name, d, err, errlen);
	cfg_defaults(cfg);
	if (len > CFG_FILE_MAX)
		return finish(&c, file_too_big(&c));
	if (!yaml_parser_initialize(&p))
		return finish(&c, fail_file(&c, -ENOMEM, "out of memory"));
	yaml_parser_set_input_string(&p, (const unsigned char *)(text ? text : ""), text ? len : 0);
	ret = load(cfg, &c, &p, NULL, text ? text : "", text ? len : 0);
	yaml_parser_delete(&p);
	return finish(&c, ret);
}

static int load_file(struct cfg *cfg, const char *path, struct cfg_diag *d, char *err,
		     size_t errlen)
{
	struct reader rd = { .fd = -1 };
	yaml_parser_t p;
	struct stat st;
	struct ctx c;
	int ret;

	ctx_init(&c, cfg, path, d, err, errlen);
	cfg_defaults(cfg);
	rd.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd.fd < 0) {
		ret = -errno;
		return finish(&c, fail_file(&c, ret, "cannot open: %s", strerror(-ret)));
	}
	if (fstat(rd.fd, &st) < 0) {
		ret = -errno;
		fail_file(&c, ret, "cannot stat: %s", strerror(-ret));
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = fail_file(&c, -EISDIR, "is a directory, not a config file");
		goto out_close;
	}
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)CFG_FILE_MAX) {
		ret = file_too_big(&c);
		goto out_close;
	}
	if (!yaml_parser_initialize(&p)) {
		ret = fail_file(&c, -ENOMEM, "out of memory");
		goto out_close;
	}
	yaml_parser_set_input(&p, read_fd, &rd);
	ret = load(cfg, &c, &p, &rd, NULL, 0);
	yaml_parser_delete(&p);
out_close:
	close(rd.fd);
	return finish(&c, ret);
}

int cfg_parse(struct cfg *cfg, const char *name, const char *text, size_t len, char *err,
	      size_t errlen)
{
	return parse_text(cfg, name, text, len, NULL, err, errlen);
}

int cfg_parse_diag(struct cfg *cfg, const char *name, const char *text, size_t len,
		   struct cfg_diag *d)
{
	return parse_text(cfg, name, text, len, d, NULL, 0);
}

int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
	return load_file(cfg, path, NULL, err, errlen);
}

int cfg_load_diag(struct cfg *cfg, const char *path, struct cfg_diag *d)
{
	return load_file(cfg, path, d, NULL, 0);
}

/* ---- dump ------------------------------------------------------------------------------ */

struct out {
	char *buf;
	size_t cap;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL,
		      o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

/* A YAML double-quoted scalar. */
static void put_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			put(o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			put(o, "\\x%02X", ch);
		else
			put(o, "%c", ch);
	}
	put(o, "\"\n");
}

static void put_modbus(struct out *o, const struct cfg_modbus *m)
{
	char a[32], b[32];

	if (m->framing == CFG_FRAMING_SERIAL) {
		put(o, "      modbus:\n        device: ");
		put_str(o, m->device);
		put(o,
		    "        baud: %u\n        parity: %s\n        data_bits: %u\n"
		    "        stop_bits: %u\n        rs485: %s\n",
		    m->line.baud, ser_parity_name(m->line.parity), m->line.data_bits,
		    m->line.stop_bits, m->line.rs485 ? "true" : "false");
	} else {
		put(o, "      modbus:\n        host: ");
		put_str(o, m->host);
		put(o, "        port: %u\n        framing: %s\n", m->port,
		    m->framing == CFG_FRAMING_RTU ? "rtu" : "tcp");
		if (m->framing == CFG_FRAMING_TCP)
			put(o, "        match_tid: %s\n", m->match_tid ? "true" : "false");
	}
	put(o,
	    "        address: %u\n        timeout: %s\n        retry_count: %u\n"
	    "        retry_backoff: %s  # retry k waits k x this\n",
	    m->address, fmt_dur(m->timeout_ns, a, sizeof(a)), m->retry_count,
	    fmt_dur(m->retry_backoff_ns, b, sizeof(b)));
}

/* `type: NAME`, or `profile: PATH` with the path resolved (so the dump loads from anywhere). */
static void put_profile(struct out *o, const struct cfg *cfg, const char *type, int file)
{
	if (file >= 0 && (unsigned)file < cfg->nprofiles) {
		put(o, "      profile: ");
		put_str(o, cfg->profiles[file].path);
	} else {
		put(o, "      type: ");
		put_str(o, type);
	}
}

int cfg_dump(const struct cfg *cfg, char *out, size_t len)
{
	const struct cfg_site *s = &cfg->site;
	struct out o = { .buf = out, .cap = out ? len : 0 };
	char d[4][32], f[8][40];

	if (o.cap)
		out[0] = '\0';
	put(&o,
	    "# Flux effective configuration: every default spelled out. A lost reply is retried\n"
	    "# after 1x, 2x, 3x retry_backoff; timeout + retry_backoff under site.stale_after\n"
	    "# keeps a device fresh through one lost reply.\n"
	    "site:\n  cycle: %s\n  read_window: %s\n  stale_after: %s\n  heartbeat: %s\n"
	    "  ramp_kw_per_s: %s\n  soe_min_pct: %s\n  soe_max_pct: %s\n  grid_meter: ",
	    fmt_dur(s->cycle_ns, d[0], sizeof(d[0])),
	    fmt_dur(s->read_window_ns, d[1], sizeof(d[1])),
	    fmt_dur(s->stale_after_ns, d[2], sizeof(d[2])),
	    fmt_dur(s->heartbeat_ns, d[3], sizeof(d[3])),
	    fmt_double(s->ramp_kw_per_s, f[0], sizeof(f[0])),
	    fmt_double(s->soe_min_pct, f[1], sizeof(f[1])),
	    fmt_double(s->soe_max_pct, f[2], sizeof(f[2])));
	put_str(&o, s->grid_meter);
	put(&o,
	    "  strategy:\n    mode: %s\n    import_limit_kw: %s\n    export_limit_kw: %s\n"
	    "    setpoint_kw: %s\n    target_soe_pct: %s\n    max_power_kw: %s\n",
	    cfg_strategy_name(s->mode), fmt_double(s->import_limit_kw, f[3], sizeof(f[3])),
	    fmt_double(s->export_limit_kw, f[4], sizeof(f[4])),
	    fmt_double(s->setpoint_kw, f[5], sizeof(f[5])),
	    fmt_double(s->target_soe_pct, f[6], sizeof(f[6])),
	    fmt_double(s->max_power_kw, f[7], sizeof(f[7])));
	put(&o,
	    "    controller: %s\n    frequency_response: %s\n    droop_pct: %s\n"
	    "    deadband_mhz: %s\n    max_kw: %s\n",
	    controller_names[s->controller], s->is_frequency_response ? "true" : "false",
	    fmt_double(s->droop_pct, f[0], sizeof(f[0])),
	    fmt_double(s->deadband_mhz, f[1], sizeof(f[1])),
	    fmt_double(s->ffr_max_kw, f[2], sizeof(f[2])));
	put(&o, "rt:\n  io_cpu: %d\n  control_cpu: %d\n  io_priority: %d\n  control_priority: %d\n",
	    cfg->rt.io_cpu, cfg->rt.control_cpu, cfg->rt.io_priority, cfg->rt.control_priority);
	put(&o, "devices:\n  bess:%s\n", cfg->nbess ? "" : " []");
	for (unsigned i = 0; i < cfg->nbess && i < CFG_MAX_BESS; i++) {
		const struct cfg_bess *b = &cfg->bess[i];

		put(&o, "    - id: ");
		put_str(&o, b->id);
		put(&o, "      name: ");
		put_str(&o, b->name);
		put_profile(&o, cfg, b->type, b->profile_file);
		put(&o,
		    "      power_kw: %d\n      capacity_kwh: %d\n"
		    "      block_kw: %d\n      status_ready: %u\n      command_source_id: %u\n"
		    "      soe_scale: %u\n"
		    "      command_source_default: %u  # what the command source holds after a "
		    "restart\n",
		    b->power_kw, b->capacity_kwh, b->block_kw, b->status_ready,
		    b->command_source_id, b->soe_scale, b->command_source_default);
		if (b->is_heartbeat_role)
			put(&o, "      heartbeat_role: true  # the profile's register, %d\n",
			    b->heartbeat_register);
		else if (b->heartbeat_register < 0)
			put(&o, "      heartbeat_register: null  # none\n");
		else
			put(&o, "      heartbeat_register: %d\n", b->heartbeat_register);
		put(&o, "      response_time: %s\n",
		    fmt_dur(b->response_time_ns > 0 ? b->response_time_ns : CFG_RESPONSE_TIME_NS,
			    d[0], sizeof(d[0])));
		put_modbus(&o, &b->modbus);
	}
	put(&o, "  meters:%s\n", cfg->nmeters ? "" : " []");
	for (unsigned i = 0; i < cfg->nmeters && i < CFG_MAX_METERS; i++) {
		const struct cfg_meter *m = &cfg->meters[i];

		put(&o, "    - id: ");
		put_str(&o, m->id);
		put(&o, "      name: ");
		put_str(&o, m->name);
		put_profile(&o, cfg, m->type, m->profile_file);
		put(&o, "      word_order: %s\n", mb_order_name(m->word_order));
		put_modbus(&o, &m->modbus);
	}
	if (o.len >= o.cap)
		return -ENOSPC;
	return o.len > INT32_MAX ? -ENOSPC : (int)o.len;
}
