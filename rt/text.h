/* SPDX-License-Identifier: MIT */
/*
 * The two text forms every layer and program shares, so there is one of each: durations
 * ("250ms", "1.5s") as the site config, fluxd, flux and fluxtrace accept them, and JSON
 * strings as status, preflight, flux and fluxtrace print them. Not for the RT threads (they
 * parse nothing and print nothing); no allocation.
 */
#ifndef FLUX_RT_TEXT_H
#define FLUX_RT_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Any thread: a duration: decimal digits, an optional fraction ("1.5", ".5"), then a unit: ns, us,
 * ms, s or m (minutes). No sign, no spaces. A bare number counts in bare_unit_ns; with
 * bare_unit_ns 0 a unit is required. A fraction finer than 1 ns is rounded to the nearest ns.
 * Returns 0 and sets *ns, -EINVAL (not a duration, or a unit missing), -ERANGE (more than
 * INT64_MAX ns); *ns is untouched on error.
 */
int txt_parse_duration(const char *s, int64_t bare_unit_ns, int64_t *ns);

/*
 * Any thread: s as a JSON string, quotes included, into dst (cap bytes with the NUL; cap 0
 * writes nothing). '"', '\\' and control characters are escaped; other bytes pass as they
 * are (the callers hold UTF-8 or ASCII). Returns the length the whole string needs, without
 * the NUL, as snprintf does: a result >= cap means dst holds a truncated prefix.
 */
size_t txt_json_escape(char *dst, size_t cap, const char *s);

/* Caller's thread: s as a JSON string (see txt_json_escape()) on f. */
void txt_json_fputs(FILE *f, const char *s);

#endif
