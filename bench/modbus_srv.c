// SPDX-License-Identifier: MIT
/*
 * modbus_srv: the load benchmark's Modbus TCP server. One thread, one epoll, level-triggered,
 * non-blocking sockets; frames split and decoded with the Flux codec, answered in one write
 * per read. It listens on --addrs consecutive loopback addresses at one port (see
 * bench/load_int.h) and serves FC03/FC04 of the 10 registers at 2000 and FC06 at 2008, for
 * any unit id; anything else gets an exception. Never listens outside 127.0.0.0/8.
 *
 *   modbus_srv [--host 127.0.0.1] [--addrs K] [--port P] [--duration S] [--cpu C]
 *
 * Prints `port=N` as its first stdout line once every listener is up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/load_int.h"
#include "io/modbus.h"
#include "rt/clock.h"

#define MAX_EVENTS	   512
#define RX_CHUNK	   4096
#define OUT_MAX		   2048 /* unsent reply bytes held per connection before it is dropped */
#define LISTEN_TAG	   (UINT64_C(1) << 32)
#define DEFAULT_MAX_FDS	   16384
#define DEFAULT_DURATION_S 3600

/* One client connection, indexed by fd. Owned by the server thread. */
struct sconn {
	bool is_open;
	bool wants_out; /* EPOLLOUT armed */
	uint16_t out_len;
	struct mb_splitter split;
	uint8_t out[OUT_MAX];
};

/* The server. Single-threaded. */
struct srv {
	int ep;
	unsigned nlisten;
	int *lfds;
	struct sconn *conns;
	unsigned max_fds;
	uint16_t regs[LOAD_READ_REGS]; /* 2000..2009 */
	uint64_t requests;
	uint64_t accepted;
	unsigned open;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: modbus_srv [--host A] [--addrs K] [--port P] [--duration S] "
		"[--cpu C]\n"
		"  listens on K consecutive addresses from A (default 127.0.0.1, K=1), port P\n"
		"  (0: pick one; printed as port=N), for at most S seconds (default %d)\n",
		DEFAULT_DURATION_S);
}

/* Listen on base+i:*port (0: any; *port gets the one picked). Returns the fd or -errno. */
static int listen_at(uint32_t base, unsigned i, uint16_t *port)
{
	struct sockaddr_in sa = load_addr(base, i, *port);
	socklen_t len = sizeof(sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static void drop(struct srv *s, int fd)
{
	epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	s->conns[fd].is_open = false;
	s->open--;
}

static void accept_all(struct srv *s, int lfd)
{
	/* Bounded: at most a backlog's worth per event; the rest comes with the next one. */
	for (int k = 0; k < 4096; k++) {
		struct epoll_event ev = { .events = EPOLLIN };
		int one = 1, fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or EMFILE: the client sees a refused/slow connect */
		if ((unsigned)fd >= s->max_fds) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.data.u64 = (uint64_t)fd;
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			continue;
		}
		memset(&s->conns[fd], 0, offsetof(struct sconn, out));
		s->conns[fd].is_open = true;
		s->open++;
		s->accepted++;
	}
}

/* Build the answer to one request frame into out. Returns its length, 0 to send nothing,
 * or -1 when the stream must be dropped. */
static int answer(struct srv *s, const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	struct mb_req q;
	uint8_t data[2 * LOAD_READ_REGS];
	int err = mb_decode_req(frame, len, &q);
	uint8_t exc = 0;

	s->requests++;
	if (err) {
		exc = mb_exception_for(err);
		if (!exc)
			return -1;
		return mb_encode_exception(out, cap, &q, exc);
	}
	switch (q.fc) {
	case MB_FC_READ_HOLDING_REGISTERS:
	case MB_FC_READ_INPUT_REGISTERS:
		if (q.addr < LOAD_READ_ADDR || q.addr + q.qty > LOAD_READ_ADDR + LOAD_READ_REGS) {
			exc = MB_EX_ILLEGAL_DATA_ADDRESS;
			break;
		}
		mb_regs_to_wire(data, &s->regs[q.addr - LOAD_READ_ADDR], q.qty);
		return mb_encode_rsp(out, cap, &q, data);
	case MB_FC_WRITE_SINGLE_REGISTER:
		if (q.addr != LOAD_WRITE_ADDR) {
			exc = MB_EX_ILLEGAL_DATA_ADDRESS;
			break;
		}
		s->regs[LOAD_WRITE_ADDR - LOAD_READ_ADDR] = q.value;
		return mb_encode_rsp(out, cap, &q, NULL);
	default:
		exc = MB_EX_ILLEGAL_FUNCTION;
		break;
	}
	return mb_encode_exception(out, cap, &q, exc);
}

/* Send what is queued in c->out; arm or disarm EPOLLOUT. Returns 0, or -1 to drop. */
static int flush_out(struct srv *s, int fd, struct sconn *c)
{
	struct epoll_event ev = { .data.u64 = (uint64_t)fd };
	ssize_t n = 0;

	if (c->out_len) {
		n = send(fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			n = 0;
		}
		if ((size_t)n < c->out_len)
			memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len = (uint16_t)(c->out_len - n);
	}
	if ((c->out_len > 0) != c->wants_out) {
		c->wants_out = c->out_len > 0;
		ev.events = EPOLLIN | (c->wants_out ? EPOLLOUT : 0);
		if (epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev))
			return -1;
	}
	return 0;
}

static void on_readable(struct srv *s, int fd)
{
	struct sconn *c = &s->conns[fd];
	uint8_t rx[RX_CHUNK];
	const uint8_t *p = rx;
	ssize_t n = recv(fd, rx, sizeof(rx), MSG_DONTWAIT);
	size_t left;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		drop(s, fd);
		return;
	}
	left = (size_t)n;
	while (left) {
		const uint8_t *frame;
		size_t used;
		int r = mb_split(&c->split, p, left, &used, &frame);

		p += used;
		left -= used;
		if (r < 0) {
			drop(s, fd);
			return;
		}
		if (r == 0)
			break;
		if (c->out_len + MB_ADU_MAX > OUT_MAX) {
			drop(s, fd); /* a client far ahead of its replies: not this benchmark */
			return;
		}
		r = answer(s, frame, (size_t)r, c->out + c->out_len, OUT_MAX - c->out_len);
		if (r < 0) {
			drop(s, fd);
			return;
		}
		c->out_len = (uint16_t)(c->out_len + r);
	}
	if (flush_out(s, fd, c))
		drop(s, fd);
}

static int run(struct srv *s, int64_t deadline_ns)
{
	struct epoll_event evs[MAX_EVENTS];

	while (!stop_flag && clk_now_ns() < deadline_ns) {
		int n = epoll_wait(s->ep, evs, MAX_EVENTS, 200);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int k = 0; k < n; k++) {
			uint64_t tag = evs[k].data.u64;
			int fd = (int)(uint32_t)tag;

			if (tag & LISTEN_TAG) {
				accept_all(s, fd);
				continue;
			}
			if (!s->conns[fd].is_open)
				continue;
			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(s, fd);
			if (s->conns[fd].is_open && (evs[k].events & EPOLLOUT) &&
			    flush_out(s, fd, &s->conns[fd]))
				drop(s, fd);
		}
	}
	return 0;
}

static int parse_args(int argc, char **argv, uint32_t *base, unsigned *naddr, uint16_t *port,
		      int64_t *duration_s, int *cpu)
{
	const char *host = "127.0.0.1";
	char err[160];
	uint64_t v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!val)
			goto bad;
		i++;
		if (!strcmp(a, "--host")) {
			host = val;
		} else if (!strcmp(a, "--addrs")) {
			if (load_parse_u64(val, 1, LOAD_MAX_CONNS, &v))
				goto bad;
			*naddr = (unsigned)v;
		} else if (!strcmp(a, "--port")) {
			if (load_parse_u64(val, 0, 65535, &v))
				goto bad;
			*port = (uint16_t)v;
		} else if (!strcmp(a, "--duration")) {
			if (load_parse_u64(val, 1, 86400, &v))
				goto bad;
			*duration_s = (int64_t)v;
		} else if (!strcmp(a, "--cpu")) {
			if (load_parse_u64(val, 0, 1023, &v))
				goto bad;
			*cpu = (int)v;
		} else {
			goto bad;
		}
	}
	if (load_parse_base(host, *naddr, base, err, sizeof(err))) {
		fprintf(stderr, "modbus_srv: %s\n", err);
		return -EINVAL;
	}
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct srv s = { .ep = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	uint32_t base = 0;
	unsigned naddr = 1;
	uint16_t port = 0;
	int64_t duration_s = DEFAULT_DURATION_S;
	int cpu = -1, err, ret = 1;
	long nofile;

	if (parse_args(argc, argv, &base, &naddr, &port, &duration_s, &cpu))
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			fprintf(stderr, "modbus_srv: cpu %d: %s (not pinned)\n", cpu,
				strerror(errno));
	}
	nofile = load_raise_nofile(DEFAULT_MAX_FDS);
	if (nofile < 0) {
		fprintf(stderr, "modbus_srv: RLIMIT_NOFILE: %s\n", strerror((int)-nofile));
		return 1;
	}
	s.max_fds = (unsigned)nofile;
	for (unsigned i = 0; i < LOAD_READ_REGS; i++)
		s.regs[i] = (uint16_t)(LOAD_READ_ADDR + i);
	s.conns = calloc(s.max_fds, sizeof(*s.conns));
	s.lfds = calloc(naddr, sizeof(*s.lfds));
	if (!s.conns || !s.lfds) {
		fprintf(stderr, "modbus_srv: out of memory\n");
		goto out_free;
	}
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep < 0) {
		fprintf(stderr, "modbus_srv: epoll_create1: %s\n", strerror(errno));
		goto out_free;
	}
	for (unsigned i = 0; i < naddr; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		char host[INET_ADDRSTRLEN];
		int fd = listen_at(base, i, &port);

		if (fd < 0) {
			load_addr_str(base, i, host, sizeof(host));
			fprintf(stderr, "modbus_srv: listen on %s:%u: %s\n", host, port,
				strerror(-fd));
			goto out_close;
		}
		s.lfds[s.nlisten++] = fd;
		ev.data.u64 = LISTEN_TAG | (uint32_t)fd;
		if (epoll_ctl(s.ep, EPOLL_CTL_ADD, fd, &ev)) {
			fprintf(stderr, "modbus_srv: epoll_ctl: %s\n", strerror(errno));
			goto out_close;
		}
	}
	printf("port=%u\n", port);
	fflush(stdout);
	err = run(&s, clk_now_ns() + duration_s * CLK_NS_PER_SEC);
	if (err) {
		fprintf(stderr, "modbus_srv: epoll_wait: %s\n", strerror(-err));
		goto out_close;
	}
	fprintf(stderr, "modbus_srv: %llu requests, %llu connections accepted, %u open at exit\n",
		(unsigned long long)s.requests, (unsigned long long)s.accepted, s.open);
	ret = 0;
out_close:
	for (unsigned fd = 0; fd < s.max_fds; fd++)
		if (s.conns[fd].is_open)
			close((int)fd);
	for (unsigned i = 0; i < s.nlisten; i++)
		close(s.lfds[i]);
	close(s.ep);
out_free:
	free(s.lfds);
	free(s.conns);
	return ret;
}
