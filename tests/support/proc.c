// SPDX-License-Identifier: MIT
/* Test support: child processes, the built programs, a simulated site (tests/support/proc.h). */
#include "tests/support/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/net.h"

int th_spawn(struct th_proc *p, char *const argv[])
{
	int fds[2];

	*p = (struct th_proc){ .pid = -1, .out_fd = -1 };
	if (pipe(fds) < 0)
		return -errno;
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	p->pid = fork();
	if (p->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (p->pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	p->out_fd = fds[0];
	return 0;
}

bool th_wait_output(struct th_proc *p, const char *needle, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;

	for (int i = 0; i < 10000; i++) {
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		int64_t left_ms = (deadline - th_now_ns()) / 1000000;
		ssize_t n;

		p->out[p->out_len] = '\0';
		if (strstr(p->out, needle))
			return true;
		if (left_ms <= 0 || p->out_len + 1 >= sizeof(p->out) ||
		    poll(&pfd, 1, (int)left_ms) <= 0)
			return false;
		n = read(p->out_fd, p->out + p->out_len, sizeof(p->out) - 1 - p->out_len);
		if (n <= 0)
			return false;
		p->out_len += (size_t)n;
	}
	return false;
}

int th_wait_exit(struct th_proc *p, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;
	int status, ret = -ETIMEDOUT;

	if (p->pid <= 0)
		return -ECHILD;
	for (int i = 0; i < 100000; i++) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid) {
			ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			p->pid = -1;
			break;
		}
		if (th_now_ns() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = -1;
			break;
		}
		th_sleep_ms(5);
	}
	/* Keep what the child printed last. */
	while (p->out_fd >= 0 && p->out_len + 1 < sizeof(p->out)) {
		ssize_t n = read(p->out_fd, p->out + p->out_len, sizeof(p->out) - 1 - p->out_len);

		if (n <= 0)
			break;
		p->out_len += (size_t)n;
	}
	p->out[p->out_len] = '\0';
	if (p->out_fd >= 0)
		close(p->out_fd);
	p->out_fd = -1;
	return ret;
}

int th_flux_path(char *buf, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
	char *slash;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	for (int i = 0; i < 3; i++) {
		slash = strrchr(buf, '/');
		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	if (strlen(buf) + sizeof("/bin/flux") > cap)
		return -ENAMETOOLONG;
	strcat(buf, "/bin/flux");
	return access(buf, X_OK) == 0 ? 0 : -errno;
}

int th_find_programs(char *flux, char *fluxd, size_t len)
{
	int err = th_flux_path(flux, len);

	if (err) {
		printf("skipped: %s not built (%s): make it first\n", flux, strerror(-err));
		return 77;
	}
	snprintf(fluxd, len, "%sd", flux);
	if (access(fluxd, X_OK)) {
		printf("skipped: %s not built: make it first\n", fluxd);
		return 77;
	}
	return 0;
}

int th_printed_port(const char *out, const char *what)
{
	const char *p = strstr(out, what);

	if (!p)
		return -ENOENT;
	p = strstr(p, "127.0.0.1:");
	return p ? atoi(p + strlen("127.0.0.1:")) : -ENOENT;
}

int th_start_site(char *flux, struct th_proc *sim, const char *cfg_path, int cycle_ms,
		  int duration_s)
{
	char dur[16], cfg[1024];
	char *argv[] = { flux,	   "sim", "powerpack",	"--port", "0",
			 "--soe",  "60",  "acuvim2",	"--port", "0",
			 "--unit", "2",	  "--duration", dur,	  NULL };
	int pp_port, acu_port;
	FILE *f;

	snprintf(dur, sizeof(dur), "%d", duration_s);
	if (th_spawn(sim, argv) || !th_wait_output(sim, "flux sim: serving", TH_TIMEOUT_MS))
		return -1;
	pp_port = th_printed_port(sim->out, "powerpack unit 1");
	acu_port = th_printed_port(sim->out, "acuvim2 unit 2");
	if (pp_port <= 0 || acu_port <= 0)
		return -1;
	snprintf(cfg, sizeof(cfg),
		 "site:\n  cycle: %dms\n  read_window: 25ms\n  grid_meter: \"grid\"\n"
		 "  strategy: {mode: manual, setpoint_kw: 50}\n"
		 "rt: {io_cpu: -1, control_cpu: -1}\n"
		 "devices:\n"
		 "  bess:\n"
		 "    - {id: \"bess-1\", name: \"Site-BESS-01\", type: \"powerpack\",\n"
		 "       modbus: {host: \"127.0.0.1\", port: %d, address: 1, timeout: 1s,\n"
		 "                retry_count: 3}}\n"
		 "  meters:\n"
		 "    - {id: \"grid\", name: \"Grid-Meter\", type: \"acuvim2\",\n"
		 "       modbus: {host: \"127.0.0.1\", port: %d, address: 2, timeout: 1s}}\n",
		 cycle_ms, pp_port, acu_port);
	f = fopen(cfg_path, "w");
	if (!f)
		return -1;
	fputs(cfg, f);
	return fclose(f) ? -1 : pp_port;
}
