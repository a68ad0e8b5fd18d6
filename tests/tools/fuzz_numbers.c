// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the small parsers of command-line and config words, each given the same
 * string: txt_parse_duration() (every duration: config, fluxd, fluxtrace), tool_parse_duration()
 * and tool_parse_ulong() (flux's options), pf_parse_cpulist()
 * (a kernel CPU list, "0-3,6"), mb_order_parse() (a word order). What one accepts it must give
 * back: the value lies in the asked range, and written out canonically it parses to itself.
 * The first byte picks the bounds and units; the rest (up to a NUL) is the string.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control/preflight.h"
#include "io/modbus.h"
#include "tools/tool.h"
#include "rt/clock.h"
#include "rt/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARG_MAX 4096
#define DUR_MAX (1000000 * CLK_NS_PER_SEC) /* 1e15 ns: a double still holds each ns */

static FILE *errs; /* the parsers' complaints, kept to check who printed what */
static char err_text[1024];

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_numbers: %s: %s failed for \"%s\"\n", __func__,      \
				#cond, arg);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Point stderr at errs for a tool_parse_*() call; caught_end() says how much it printed. */
static void caught_begin(FILE **saved)
{
	if (!errs) {
		errs = fmemopen(err_text, sizeof(err_text), "w");
		if (!errs)
			abort();
	}
	rewind(errs);
	*saved = stderr;
	stderr = errs; /* glibc's stderr is a variable; sanitizer reports go to fd 2 anyway */
}

static long caught_end(FILE *saved)
{
	fflush(errs);
	stderr = saved;
	return ftell(errs);
}

static void fuzz_duration(const char *arg, uint8_t sel)
{
	static const int64_t bare_units[] = { CLK_NS_PER_SEC, CLK_NS_PER_MS, CLK_NS_PER_US, 1 };
	static const int64_t los[] = { 0, 1, CLK_NS_PER_MS, CLK_NS_PER_SEC };
	static const int64_t his[] = { DUR_MAX, 3600 * CLK_NS_PER_SEC, 10 * CLK_NS_PER_SEC,
				       CLK_NS_PER_SEC };
	int64_t bare = bare_units[sel % 4], lo = los[(sel >> 2) % 4], hi = his[(sel >> 4) % 4];
	int64_t v = -1, again = -1;
	char text[64];
	FILE *saved;
	long said;
	int r;

	caught_begin(&saved);
	r = tool_parse_duration("fz", "-o", arg, bare, lo, hi, &v);
	said = caught_end(saved);
	check(r == 0 || r == -EINVAL);
	check(r ? said > 0 && !strncmp(err_text, "flux fz: -o ", 12) : said == 0);
	if (r)
		return;
	check(v >= lo && v <= hi);
	/* Exact decimal seconds, then milliseconds: each parses back to the same ns. */
	snprintf(text, sizeof(text), "%lld.%09llds", (long long)(v / CLK_NS_PER_SEC),
		 (long long)(v % CLK_NS_PER_SEC));
	caught_begin(&saved);
	r = tool_parse_duration("fz", "-o", text, bare, lo - 1, hi + 1, &again);
	caught_end(saved);
	check(r == 0 && again == v);
	snprintf(text, sizeof(text), "%lld.%06lldms", (long long)(v / CLK_NS_PER_MS),
		 (long long)(v % CLK_NS_PER_MS));
	caught_begin(&saved);
	r = tool_parse_duration("fz", "-o", text, bare, lo - 1, hi + 1, &again);
	caught_end(saved);
	check(r == 0 && again == v);
}

/* The one parser underneath, over its whole range: a result is >= 0, errors leave *ns alone. */
static void fuzz_txt_duration(const char *arg)
{
	int64_t v = -7, again = -1;
	char text[32];
	int r = txt_parse_duration(arg, 0, &v);

	check(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r) {
		check(v == -7);
		return;
	}
	check(v >= 0);
	snprintf(text, sizeof(text), "%lldns", (long long)v);
	check(txt_parse_duration(text, 0, &again) == 0 && again == v);
}

static void fuzz_ulong(const char *arg, uint8_t sel)
{
	static const unsigned long los[] = { 0, 1, 0, 100 };
	static const unsigned long his[] = { 65535, 255, (unsigned long)-1, 100 };
	unsigned long lo = los[sel % 4], hi = his[(sel >> 2) % 4], v = 0, again = 0;
	char text[32];
	FILE *saved;
	long said;
	int r;

	caught_begin(&saved);
	r = tool_parse_ulong("fz", "-p", arg, lo, hi, &v);
	said = caught_end(saved);
	check(r == 0 || r == -EINVAL);
	check(r ? said > 0 && !strncmp(err_text, "flux fz: -p ", 12) : said == 0);
	if (r)
		return;
	check(v >= lo && v <= hi && arg[0] != '-');
	snprintf(text, sizeof(text), "%lu", v);
	check(tool_parse_ulong("fz", "-p", text, lo, hi, &again) == 0 && again == v);
	snprintf(text, sizeof(text), "%#lx", v);
	check(tool_parse_ulong("fz", "-p", text, lo, hi, &again) == 0 && again == v);
}

static void fuzz_cpulist(const char *arg, uint8_t sel)
{
	static char text[8 * PF_CPUS_MAX], text2[8 * PF_CPUS_MAX];
	static const unsigned ncpus_of[] = { 0, 2, 64, PF_CPUS_MAX + 1 };
	unsigned ncpus = ncpus_of[sel % 4], count = 0;
	const char *word = arg + strspn(arg, " \t\n\v\f\r");
	struct pf_cpus cpus, again;
	int n, r;

	r = pf_parse_cpulist(arg, ncpus, &cpus);
	check(r == 0 || r == -EINVAL);
	if (r)
		return;
	n = pf_format_cpulist(&cpus, text, sizeof(text));
	check(n >= 0 && (size_t)n == strlen(text));
	check(pf_parse_cpulist(text, ncpus, &again) == 0);
	check(memcmp(&cpus, &again, sizeof(cpus)) == 0);
	check(pf_format_cpulist(&again, text2, sizeof(text2)) == n && !strcmp(text, text2));
	/* "all" is CPUs 0..ncpus-1. */
	for (unsigned c = 0; c < PF_CPUS_MAX; c++)
		count += pf_cpus_has(&cpus, c);
	if (!strncmp(word, "all", 3))
		check(count == ncpus && pf_cpus_has(&cpus, ncpus - 1));
}

static void fuzz_order(const char *arg)
{
	int r = mb_order_parse(arg);

	check(r >= 0 || r == -MB_EINVAL);
	if (r < 0)
		return;
	check(strcasecmp(arg, mb_order_name((enum mb_order)r)) == 0);
	check(mb_order_parse(mb_order_name((enum mb_order)r)) == r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char arg[ARG_MAX + 1];
	uint8_t sel;
	size_t n;

	if (size < 1)
		return 0;
	sel = data[0];
	n = size - 1 < ARG_MAX ? size - 1 : ARG_MAX;
	memcpy(arg, data + 1, n);
	arg[n] = '\0';
	fuzz_duration(arg, sel);
	fuzz_txt_duration(arg);
	fuzz_ulong(arg, sel);
	fuzz_cpulist(arg, sel);
	fuzz_order(arg);
	return 0;
}
