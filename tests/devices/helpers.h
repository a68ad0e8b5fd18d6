/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the tests in tests/devices/: a simulator running on its own thread, a
 * Modbus TCP client framed by io/modbus.h over a loopback socket, and a child process with
 * its stdout on a pipe. Every wait is bounded (poll() with a deadline or SO_RCVTIMEO), so a
 * bug fails a test instead of hanging it. All static inline: each test takes what it needs.
 */
#ifndef FLUX_TESTS_DEVICES_HELPERS_H
#define FLUX_TESTS_DEVICES_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devices/sim.h"
#include "io/modbus.h"

#define TH_TIMEOUT_MS 3000 /* bound on any one wait */

static inline int64_t th_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void th_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- a simulator on its own thread ----------------------------------------------- */

struct th_sim {
	struct sim *sim;
	pthread_t thread;
	int err;
	bool is_running;
};

static inline void *th_sim_main(void *arg)
{
	struct th_sim *t = arg;

	t->err = sim_run(t->sim, 0);
	return NULL;
}

/* Start the loop of an already populated sim. Returns 0 or -errno. */
static inline int th_sim_start(struct th_sim *t)
{
	int err = -pthread_create(&t->thread, NULL, th_sim_main, t);

	t->is_running = !err;
	return err;
}

/* Stop and join the loop, free the sim. Returns the loop's result. */
static inline int th_sim_stop(struct th_sim *t)
{
	if (t->is_running) {
		sim_stop(t->sim);
		pthread_join(t->thread, NULL);
		t->is_running = false;
	}
	sim_free(t->sim);
	t->sim = NULL;
	return t->err;
}

/* ---- a codec client ---------------------------------------------------------------- */

struct th_client {
	int fd;
	uint16_t tid;
	struct mb_splitter split;
	uint8_t frame[MB_ADU_MAX]; /* the last frame received */
};

/* Connect to 127.0.0.1:port with send/receive timeouts. Returns the fd or -errno. */
static inline int th_connect_fd(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = TH_TIMEOUT_MS / 1000 };
	int one = 1, fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static inline int th_open(struct th_client *c, uint16_t port)
{
	*c = (struct th_client){ .tid = 0x100 };
	c->fd = th_connect_fd(port);
	return c->fd < 0 ? c->fd : 0;
}

static inline void th_close(struct th_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static inline int th_send(int fd, const void *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* Bytes still missing from the frame the splitter holds (the header first). */
static inline size_t th_frame_left(const struct mb_splitter *s)
{
	if (s->len < 6)
		return 6u - s->len;
	return 6u + mb_get_u16(s->buf + 4) - s->len; /* the splitter checked the length */
}

/*
 * Receive bytes until the splitter has one frame, waiting at most timeout_ms overall.
 * Returns the frame length (frame in c->frame), -ETIMEDOUT, -ECONNRESET on EOF, -MB_E* when
 * the stream is not Modbus. *nrecv (optional) counts the recv() calls that returned data.
 */
static inline int th_recv_frame(struct th_client *c, int timeout_ms, int *nrecv)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;
	uint8_t in[MB_ADU_MAX];

	for (int calls = 0; calls < 4 * MB_ADU_MAX; calls++) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int64_t left_ms = (deadline - th_now_ns()) / 1000000;
		const uint8_t *frame;
		size_t used;
		ssize_t n;
		int r;

		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
			return -ETIMEDOUT;
		/* One frame at most: the header, then exactly the rest its length announces. */
		n = recv(c->fd, in, th_frame_left(&c->split), 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (nrecv)
			(*nrecv)++;
		r = mb_split(&c->split, in, (size_t)n, &used, &frame);
		if (r < 0)
			return r;
		if (r > 0) {
			memcpy(c->frame, frame, (size_t)r);
			return r;
		}
	}
	return -ETIMEDOUT;
}

/* One exchange: encode req (tid assigned), send, receive and decode. Returns mb_decode_rsp()'s
 * result or a transport error. */
static inline int th_xfer(struct th_client *c, struct mb_req *req, struct mb_rsp *rsp)
{
	uint8_t buf[MB_ADU_MAX];
	int n;

	req->tid = c->tid++;
	n = mb_encode_req(buf, sizeof(buf), req);
	if (n < 0)
		return n;
	n = th_send(c->fd, buf, (size_t)n);
	if (n)
		return n;
	n = th_recv_frame(c, TH_TIMEOUT_MS, NULL);
	if (n < 0)
		return n;
	return mb_decode_rsp(req, c->frame, (size_t)n, 0, rsp);
}

/* FC03 read into regs[qty]. Returns 0, -MB_EXC(code) or another error. */
static inline int th_read(struct th_client *c, uint8_t unit, uint16_t addr, uint16_t qty,
			  uint16_t *regs)
{
	struct mb_req req = {
		.unit = unit, .fc = MB_FC_READ_HOLDING_REGISTERS, .addr = addr, .qty = qty
	};
	struct mb_rsp rsp;
	int err = th_xfer(c, &req, &rsp);

	if (!err)
		mb_regs_from_wire(regs, rsp.data, qty);
	return err;
}

/* One register by FC03, or a negative error. */
static inline int th_read1(struct th_client *c, uint8_t unit, uint16_t addr)
{
	uint16_t v;
	int err = th_read(c, unit, addr, 1, &v);

	return err ? err : v;
}

/* FC06. Returns 0, -MB_EXC(code) or another error. */
static inline int th_write(struct th_client *c, uint8_t unit, uint16_t addr, uint16_t value)
{
	struct mb_req req = { .unit = unit,
			      .fc = MB_FC_WRITE_SINGLE_REGISTER,
			      .addr = addr,
			      .qty = 1,
			      .value = value };
	struct mb_rsp rsp;

	return th_xfer(c, &req, &rsp);
}

/* ---- a child process ----------------------------------------------------------------- */

struct th_proc {
	pid_t pid;
	int out_fd; /* the child's stdout and stderr */
	char out[8192];
	size_t out_len;
};

/* Start argv[0] (a path) with stdout+stderr on a pipe. Returns 0 or -errno. */
static inline int th_spawn(struct th_proc *p, char *const argv[])
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

/* Read the child's output until `needle` appears in it or timeout_ms. Returns true if found. */
static inline bool th_wait_output(struct th_proc *p, const char *needle, int timeout_ms)
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

/* Wait for the child to exit within timeout_ms (then kill it). Returns its exit status, 128 +
 * signal when killed by one, or -ETIMEDOUT. */
static inline int th_wait_exit(struct th_proc *p, int timeout_ms)
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

/* Path of bin/flux in the build tree of this test binary (BUILD/tests/devices/test_x). */
static inline int th_flux_path(char *buf, size_t cap)
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

/*
 * build/bin/flux and build/bin/fluxd beside it, into buffers of len bytes each. Returns 0, or
 * 77 (the skip exit code) after printing which one is not built.
 */
static inline int th_find_programs(char *flux, char *fluxd, size_t len)
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

/* The port printed for `what` ("powerpack unit 1") in `flux sim` output, or -ENOENT. */
static inline int th_printed_port(const char *out, const char *what)
{
	const char *p = strstr(out, what);

	if (!p)
		return -ENOENT;
	p = strstr(p, "127.0.0.1:");
	return p ? atoi(p + strlen("127.0.0.1:")) : -ENOENT;
}

/*
 * Start `flux` sim (a PowerPack at SOE 60 %, unit 1; an Acuvim II, unit 2; free ports) for
 * duration_s, and write a site config for it to cfg_path: manual 50 kW, cycle_ms, unpinned.
 * Returns the PowerPack's port, or -1 (the sim may be running: th_wait_exit() it).
 */
static inline int th_start_site(char *flux, struct th_proc *sim, const char *cfg_path, int cycle_ms,
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

#endif /* FLUX_TESTS_DEVICES_HELPERS_H */
