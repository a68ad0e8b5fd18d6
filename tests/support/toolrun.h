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

#define TT_OUT_MAX  65536
#define TT_ARGS_MAX 32

struct tt_run {
	int rc;
	char out[TT_OUT_MAX]; /* stdout and stderr, interleaved as written */
};

/* Run main_fn with the NULL-terminated words as argv (argv[0] first). Returns the exit code,
 * or -1 if the output could not be captured. */
int tt_run(struct tt_run *r, int (*main_fn)(int, char **), ...);

/* Print the output when a check fails (use inside a cmocka test). */
#define tt_expect(r, cond)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fprintf(stderr, "--- tool output (rc %d):\n%s---\n", (r)->rc, (r)->out);   \
		assert_true(cond);                                                                 \
	} while (0)

#define tt_has(r, needle)   tt_expect(r, strstr((r)->out, (needle)) != NULL)
#define tt_lacks(r, needle) tt_expect(r, strstr((r)->out, (needle)) == NULL)

#endif /* FLUX_TESTS_SUPPORT_TOOLRUN_H */
