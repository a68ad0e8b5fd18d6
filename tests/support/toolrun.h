/* SPDX-License-Identifier: MIT */
/*
 * Test support: run a tool's main (`flux read`, `write`, `scan`...) in this process with its
 * stdout and stderr captured in a memory file, and check what it printed; a failed check
 * prints the whole output so the failure explains itself.
 */
#ifndef FLUX_TESTS_SUPPORT_TOOLRUN_H
#define FLUX_TESTS_SUPPORT_TOOLRUN_H

#include <stdio.h>
#include <string.h>

#define TH_TOOL_OUT_MAX	 65536
#define TH_TOOL_ARGS_MAX 32

struct th_tool_run {
	int rc;
	char out[TH_TOOL_OUT_MAX]; /* stdout and stderr, interleaved as written */
};

/* Run main_fn with the NULL-terminated words as argv (argv[0] first). Returns the exit code,
 * or -1 if the output could not be captured. */
int th_tool_run(struct th_tool_run *r, int (*main_fn)(int, char **), ...);

/* Print the output when a check fails (use inside a cmocka test). */
#define th_tool_expect(r, cond)                                                                    \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fprintf(stderr, "--- tool output (rc %d):\n%s---\n", (r)->rc, (r)->out);   \
		assert_true(cond);                                                                 \
	} while (0)

#define th_tool_has(r, needle)	 th_tool_expect(r, strstr((r)->out, (needle)) != NULL)
#define th_tool_lacks(r, needle) th_tool_expect(r, strstr((r)->out, (needle)) == NULL)

#endif /* FLUX_TESTS_SUPPORT_TOOLRUN_H */
