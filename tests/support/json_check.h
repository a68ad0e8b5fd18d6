/* SPDX-License-Identifier: MIT */
/* Test support: is a NUL-terminated text exactly one valid JSON value (RFC 8259 syntax)? */
#ifndef FLUX_TESTS_SUPPORT_JSON_CHECK_H
#define FLUX_TESTS_SUPPORT_JSON_CHECK_H

#include <stdbool.h>

/* True if text is one JSON value, with only whitespace around it. */
bool th_json_is_valid(const char *text);

#endif /* FLUX_TESTS_SUPPORT_JSON_CHECK_H */
