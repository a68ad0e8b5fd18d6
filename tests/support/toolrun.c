// SPDX-License-Identifier: MIT
/*
 * Test support: run a tool's main in this process with its output captured (toolrun.h).
 * The one idea: stdout and stderr are pointed at one memory file for the call, so the
 * test reads them back interleaved, exactly as a user would have seen them.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/support/toolrun.h"

/* Run main_fn with the NULL-terminated words as argv (argv[0] first). Returns the exit code. */
int th_tool_run(struct th_tool_run *r, int (*main_fn)(int, char **), ...)
{
	char *argv[TH_TOOL_ARGS_MAX + 1];
	int argc = 0, fd, save_out, save_err;
	va_list ap;
	ssize_t n;

	va_start(ap, main_fn);
	for (char *w = va_arg(ap, char *); w && argc < TH_TOOL_ARGS_MAX; w = va_arg(ap, char *))
		argv[argc++] = w;
	va_end(ap);
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	fd = memfd_create("th_tool_out", MFD_CLOEXEC);
	save_out = dup(1);
	save_err = dup(2);
	if (fd < 0 || save_out < 0 || save_err < 0)
		return -1;
	dup2(fd, 1);
	dup2(fd, 2);
	r->rc = main_fn(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(save_out, 1);
	dup2(save_err, 2);
	close(save_out);
	close(save_err);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, r->out, sizeof(r->out) - 1);
	r->out[n > 0 ? n : 0] = '\0';
	close(fd);
	return r->rc;
}
