// SPDX-License-Identifier: MIT
/* Tests for rt/text.h: the one duration parser and the one JSON string writer. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rt/text.h"

static void test_duration_takes_every_unit_and_fractions(void **state)
{
	static const struct {
		const char *s;
		int64_t bare, want;
	} ok[] = {
		{ "250ms", 0, 250000000 },
		{ "1.5s", 0, 1500000000 },
		{ "2m", 0, 120000000000LL },
		{ "100us", 0, 100000 },
		{ "7ns", 0, 7 },
		{ ".5s", 0, 500000000 }, /* no integer part, as strtod allowed */
		{ ".25", 1000000000, 250000000 },
		{ "0s", 0, 0 },
		{ "0.0005ms", 0, 500 },
		{ "1.0000000004s", 0, 1000000000 }, /* rounds to the nearest ns */
		{ "1.0000000006s", 0, 1000000001 },
		{ "5", 1000000000, 5000000000LL }, /* bare: seconds */
		{ "2.5", 1000000, 2500000 },	   /* bare: milliseconds */
		{ "9223372036854775807ns", 0, INT64_MAX },
		{ "0.000000000000000000000001s", 0, 0 }, /* long fraction: bounded, no overflow */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ns = -1;

		assert_int_equal(txt_parse_duration(ok[i].s, ok[i].bare, &ns), 0);
		assert_int_equal(ns, ok[i].want);
	}
}

static void test_duration_names_bad_forms_and_leaves_the_output(void **state)
{
	static const char *const inval[] = { "",    "ms",    "-1s",   "+1s",   " 1s", "1 s",
					     "1.s", ".s",    ".",     "1.5",   "1x",  "1sec",
					     "1S",  "1e3ms", "1..2s", "0x10s", "1s ", "1ms5" };
	int64_t ns = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
		/* bare numbers need a unit when bare_unit_ns is 0 ("1.5") */
		assert_int_equal(txt_parse_duration(inval[i], 0, &ns), -EINVAL);
		assert_int_equal(ns, 42);
	}
	assert_int_equal(txt_parse_duration("9223372036854775808ns", 0, &ns), -ERANGE);
	assert_int_equal(txt_parse_duration("153722867281m", 0, &ns), -ERANGE);
	assert_int_equal(txt_parse_duration("99999999999999999999999999s", 0, &ns), -ERANGE);
	assert_int_equal(txt_parse_duration("10000000000", 1000000000, &ns), -ERANGE);
	assert_int_equal(ns, 42);
}

static void test_json_escape_quotes_and_escapes(void **state)
{
	(void)state;
	char buf[64];

	assert_int_equal(txt_json_escape(buf, sizeof(buf), "bess-1"), 8);
	assert_string_equal(buf, "\"bess-1\"");
	assert_int_equal(txt_json_escape(buf, sizeof(buf), "a\"b\\c\n\x01"), 21);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u000a\\u0001\"");
	assert_int_equal(txt_json_escape(buf, sizeof(buf), ""), 2);
	assert_string_equal(buf, "\"\"");
	assert_string_equal((txt_json_escape(buf, sizeof(buf), "caf\xc3\xa9"), buf),
			    "\"caf\xc3\xa9\"");
}

static void test_json_escape_truncates_like_snprintf(void **state)
{
	(void)state;
	char buf[5] = "xxxx";

	assert_int_equal(txt_json_escape(buf, sizeof(buf), "abcdef"), 8);
	assert_string_equal(buf, "\"abc");
	assert_int_equal(txt_json_escape(buf, 0, "abcdef"), 8);
	assert_string_equal(buf, "\"abc"); /* cap 0: untouched */
	assert_int_equal(txt_json_escape(buf, 1, "a"), 3);
	assert_string_equal(buf, "");
}

/* Long strings go out in pieces; the result equals the one-buffer escape. */
static void test_json_fputs_long_string_equals_escape(void **state)
{
	(void)state;
	char in[1500], want[9100], *got = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&got, &len);

	for (size_t i = 0; i < sizeof(in) - 1; i++)
		in[i] = (char)(i % 7 == 0 ? '"' : i % 11 == 0 ? '\t' : 'a' + (int)(i % 26));
	in[sizeof(in) - 1] = '\0';
	assert_non_null(f);
	txt_json_fputs(f, in);
	txt_json_fputs(f, "short");
	fclose(f);
	size_t need = txt_json_escape(want, sizeof(want), in);
	assert_true(need < sizeof(want));
	strcat(want, "\"short\"");
	assert_string_equal(got, want);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_takes_every_unit_and_fractions),
		cmocka_unit_test(test_duration_names_bad_forms_and_leaves_the_output),
		cmocka_unit_test(test_json_escape_quotes_and_escapes),
		cmocka_unit_test(test_json_escape_truncates_like_snprintf),
		cmocka_unit_test(test_json_fputs_long_string_equals_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
