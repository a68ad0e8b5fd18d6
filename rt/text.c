// SPDX-License-Identifier: MIT
/* Durations and JSON strings (rt/text.h). */
#include "rt/text.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *name;
	int64_t ns;
} units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 }, { "m", 60000000000LL },
};

int txt_parse_duration(const char *s, int64_t bare_unit_ns, int64_t *ns)
{
	size_t nint = strspn(s, "0123456789"), nfrac = 0;
	const char *frac = NULL, *unit = s + nint;
	int64_t unit_ns = 0;
	unsigned __int128 v = 0, f = 0, scale = 1;

	if (!nint && *unit != '.')
		return -EINVAL;
	if (*unit == '.') { /* ".5s" as well as "0.5s" */
		frac = unit + 1;
		nfrac = strspn(frac, "0123456789");
		if (!nfrac)
			return -EINVAL;
		unit = frac + nfrac;
	}
	if (!*unit) {
		unit_ns = bare_unit_ns;
	} else {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(unit, units[i].name) == 0)
				unit_ns = units[i].ns;
	}
	if (unit_ns <= 0)
		return -EINVAL;
	for (size_t i = 0; i < nint; i++) {
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > INT64_MAX)
			return -ERANGE;
	}
	/* Fraction digits past the 18th are dropped: under 1e-18 of a unit (0.06 ns for m). */
	for (size_t i = 0; i < nfrac && i < 18; i++) {
		f = f * 10 + (unsigned)(frac[i] - '0');
		scale *= 10;
	}
	v = v * (unsigned __int128)unit_ns + (f * (unsigned __int128)unit_ns + scale / 2) / scale;
	if (v > INT64_MAX)
		return -ERANGE;
	*ns = (int64_t)v;
	return 0;
}

size_t txt_json_escape(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	char tmp[6];

#define TXT_PUT(c)                                                                                 \
	do {                                                                                       \
		if (n + 1 < cap)                                                                   \
			dst[n] = (c);                                                              \
		n++;                                                                               \
	} while (0)

	TXT_PUT('"');
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		size_t len = 1;

		tmp[0] = (char)ch;
		if (ch == '"' || ch == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)ch;
			len = 2;
		} else if (ch < 0x20) {
			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[ch >> 4];
			tmp[5] = hex[ch & 15];
			len = 6;
		}
		for (size_t i = 0; i < len; i++)
			TXT_PUT(tmp[i]);
	}
	TXT_PUT('"');
#undef TXT_PUT
	if (cap)
		dst[n < cap ? n : cap - 1] = '\0';
	return n;
}

void txt_json_fputs(FILE *f, const char *s)
{
	char buf[256];
	size_t need = txt_json_escape(buf, sizeof(buf), s);

	if (need < sizeof(buf)) {
		fputs(buf, f);
		return;
	}
	/* Long: escape one piece at a time, writing each without its quotes. */
	fputc('"', f);
	for (const char *p = s; *p;) {
		char piece[32];
		size_t len = strnlen(p, sizeof(piece) - 1);

		memcpy(piece, p, len);
		piece[len] = '\0';
		txt_json_escape(buf, sizeof(buf), piece); /* at most 2 + 6 * 31 < 256 */
		buf[strlen(buf) - 1] = '\0';
		fputs(buf + 1, f);
		p += len;
	}
	fputc('"', f);
}
