// SPDX-License-Identifier: MIT
/*
 * `flux status`: ask a running fluxd for the site snapshot over its Unix socket (the server
 * half is control/status.c). The one idea: every wait is bounded by --timeout, and no answer
 * is its own exit code (ST_EXIT_UNREACHABLE), so a script can tell "down" from "bad".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/status.h"
#include "rt/clock.h"
#include "tools/tool.h"
#include "tools/tools.h"

static void cli_usage(FILE *f)
{
	char path[ST_PATH_MAX];
	int err = st_default_path(path, sizeof(path));

	if (err == -ST_ENORUNDIR)
		snprintf(path, sizeof(path), "none: no private runtime directory");
	else if (err)
		snprintf(path, sizeof(path), "(too long)");
	fprintf(f,
		"usage: flux status [--socket PATH] [--json] [--timeout T]\n"
		"  ask a running fluxd for the site snapshot\n"
		"  -s, --socket PATH  fluxd's status socket (default %s)\n"
		"  -j, --json         one JSON object instead of the human view\n"
		"  -t, --timeout T    bound on connect and answer (default %d ms; 2s, 500ms)\n"
		"  -h, --help\n"
		"exit: 0 ok, 1 fluxd answered an error, 2 usage, %d fluxd unreachable\n",
		path, ST_CLI_TIMEOUT_MS, ST_EXIT_UNREACHABLE);
}

/*
 * Connect, send req, read until the server closes. Returns the answer length, or an exit
 * code as -(code) after printing why.
 */
static int cli_ask(const char *path, const char *req, int timeout_ms, char *buf, size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	int64_t deadline_ns = clk_now_ns() + timeout_ms * CLK_NS_PER_MS;
	size_t len = 0;
	int fd, send_err = 0, ret = -ST_EXIT_UNREACHABLE;

	memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked by the caller */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "flux status: socket: %s\n", strerror(errno));
		return -1;
	}
	/* SO_SNDTIMEO bounds connect() too, when fluxd's backlog is full. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "flux status: cannot connect to %s: %s (is fluxd running?)\n", path,
			errno == EAGAIN ? "timed out" : strerror(errno));
		goto out_close;
	}
	/* A server that answers at once and closes ("error: busy") makes send() fail with EPIPE:
	 * read its answer all the same. */
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		send_err = errno == EAGAIN ? ETIMEDOUT : errno;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left_ms = (deadline_ns - clk_now_ns()) / CLK_NS_PER_MS;
		ssize_t n;

		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) == 0) {
			fprintf(stderr, "flux status: no answer from %s within %d ms: %s\n", path,
				timeout_ms, strerror(ETIMEDOUT));
			goto out_close;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) /* reset: it closed before reading */
			break;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			fprintf(stderr, "flux status: reading from %s: %s\n", path,
				strerror(errno));
			goto out_close;
		}
		len += (size_t)n;
		if (len == cap) {
			fprintf(stderr, "flux status: answer from %s longer than %zu bytes\n", path,
				cap - 1);
			ret = -1;
			goto out_close;
		}
	}
	if (!len && send_err) {
		fprintf(stderr, "flux status: cannot send to %s: %s\n", path, strerror(send_err));
		goto out_close;
	}
	if (!len) {
		fprintf(stderr, "flux status: %s closed the connection without an answer\n", path);
		goto out_close;
	}
	ret = (int)len;
out_close:
	close(fd);
	return ret;
}

int cmd_status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char path[ST_PATH_MAX], *buf;
	const char *sock = NULL;
	bool is_json = false;
	long timeout_ms = ST_CLI_TIMEOUT_MS;
	int64_t timeout_ns;
	int opt, n, ret;

	optind = 0; /* glibc: full re-initialisation (tests call this more than once) */
	while ((opt = getopt_long(argc, argv, "s:jt:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			is_json = true;
			break;
		case 't':
			if (tool_parse_duration("status", "--timeout", optarg, CLK_NS_PER_MS,
						CLK_NS_PER_MS, 600 * CLK_NS_PER_SEC, &timeout_ns))
				return TOOL_EXIT_USAGE;
			timeout_ms = (long)(timeout_ns / CLK_NS_PER_MS);
			break;
		case 'h':
			cli_usage(stdout);
			return 0;
		default:
			cli_usage(stderr);
			return TOOL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "flux status: unexpected argument '%s'\n", argv[optind]);
		cli_usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	if (!sock) {
		int err = st_default_path(path, sizeof(path));

		if (err) {
			fprintf(stderr, "flux status: no default socket: %s: use --socket PATH\n",
				err == -ENAMETOOLONG ? "path too long" : st_strerror(err));
			return TOOL_EXIT_USAGE;
		}
		sock = path;
	}
	if (!*sock || strlen(sock) >= ST_PATH_MAX) {
		fprintf(stderr, "flux status: --socket must be 1..%d bytes\n", ST_PATH_MAX - 1);
		return TOOL_EXIT_USAGE;
	}
	buf = malloc(ST_RSP_MAX + 1);
	if (!buf) {
		perror("flux status");
		return 1;
	}
	n = cli_ask(sock, is_json ? "status json\n" : "status\n", (int)timeout_ms, buf,
		    ST_RSP_MAX + 1);
	if (n < 0) {
		ret = -n;
		goto out_free;
	}
	buf[n] = '\0';
	if (strncmp(buf, "error: ", 7) == 0) {
		fprintf(stderr, "flux status: fluxd at %s answered: %s%s", sock, buf,
			n && buf[n - 1] == '\n' ? "" : "\n");
		ret = 1;
		goto out_free;
	}
	ret = fwrite(buf, 1, (size_t)n, stdout) == (size_t)n && fflush(stdout) == 0 ? 0 : 1;
out_free:
	free(buf);
	return ret;
}
