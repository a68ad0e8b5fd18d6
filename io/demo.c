// SPDX-License-Identifier: MIT
/*
 * flux-codec-demo: what `make run` shows until fluxd exists. A PowerPack-like register bank
 * served over Modbus TCP on 127.0.0.1 by a thread speaking through io/modbus.h, and a
 * client that polls it every 200 ms, seeks a target SOE and writes the setpoint, all framed
 * by the same codec. Plain blocking sockets: this is a demo of the codec, not the engine.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/modbus.h"

#define REG_STATUS 2000
#define REG_TARGET_KW 2008
#define REG_CMD_SOURCE 2010
#define REG_SOE_PCT 2026
#define REG_BLOCKS 2028
#define MAP_FIRST 2000
#define MAP_COUNT 29
#define CAPACITY_KWH 200.0
#define TIME_SCALE 360.0 /* simulated seconds per real second */
#define POLL_NS 200000000LL

static atomic_bool stop;

/* The simulated battery, owned by the server thread. */
struct battery {
	uint16_t regs[MAP_COUNT];
	double soe_kwh;
	int64_t last_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void battery_step(struct battery *b)
{
	int64_t t = now_ns();
	int16_t kw = mb_get_i16(b->regs[REG_TARGET_KW - MAP_FIRST]);

	/* Positive power discharges. Power counts only while command source 3 holds control. */
	if (b->regs[REG_CMD_SOURCE - MAP_FIRST] != 3)
		kw = 0;
	b->soe_kwh -= kw * (double)(t - b->last_ns) / 3.6e12 * TIME_SCALE;
	if (b->soe_kwh < 0)
		b->soe_kwh = 0;
	if (b->soe_kwh > CAPACITY_KWH)
		b->soe_kwh = CAPACITY_KWH;
	b->last_ns = t;
	b->regs[REG_SOE_PCT - MAP_FIRST] = (uint16_t)(b->soe_kwh * 100.0 / CAPACITY_KWH + 0.5);
}

/* Answer one request; returns the response length, or 0 to drop the connection. */
static int serve_one(struct battery *b, const uint8_t *frame, size_t len, uint8_t *out)
{
	uint8_t payload[2 * MAP_COUNT];
	struct mb_req req;
	int err = mb_decode_req(frame, len, &req);
	unsigned first;

	if (err) {
		uint8_t code = mb_exception_for(err);

		return code ? mb_encode_exception(out, MB_ADU_MAX, &req, code) : 0;
	}
	battery_step(b);
	if (req.fc != MB_FC_READ_HOLDING_REGISTERS && req.fc != MB_FC_WRITE_SINGLE_REGISTER)
		return mb_encode_exception(out, MB_ADU_MAX, &req, MB_EX_ILLEGAL_FUNCTION);
	if (req.addr < MAP_FIRST || req.addr + req.qty > MAP_FIRST + MAP_COUNT)
		return mb_encode_exception(out, MB_ADU_MAX, &req, MB_EX_ILLEGAL_DATA_ADDRESS);
	first = req.addr - MAP_FIRST;
	if (req.fc == MB_FC_READ_HOLDING_REGISTERS) {
		mb_regs_to_wire(payload, b->regs + first, req.qty);
		return mb_encode_rsp(out, MB_ADU_MAX, &req, payload);
	}
	if (req.addr != REG_TARGET_KW && req.addr != REG_CMD_SOURCE)
		return mb_encode_exception(out, MB_ADU_MAX, &req, MB_EX_ILLEGAL_DATA_ADDRESS);
	if (req.addr == REG_TARGET_KW && abs(mb_get_i16(req.value)) > 100)
		return mb_encode_exception(out, MB_ADU_MAX, &req, MB_EX_ILLEGAL_DATA_VALUE);
	b->regs[first] = req.value;
	return mb_encode_rsp(out, MB_ADU_MAX, &req, NULL);
}

static void *server_main(void *arg)
{
	int lfd = *(int *)arg, fd;
	struct battery b = { .soe_kwh = 0.7 * CAPACITY_KWH, .last_ns = now_ns() };
	struct mb_splitter s = { 0 };
	uint8_t in[1024], out[MB_ADU_MAX];

	b.regs[REG_STATUS - MAP_FIRST] = 1; /* READY */
	b.regs[REG_BLOCKS - MAP_FIRST] = 2;
	battery_step(&b);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t n = recv(fd, in, sizeof(in), 0);
		const uint8_t *p = in;

		if (n <= 0)
			break;
		while (n > 0) {
			const uint8_t *frame;
			size_t used;
			int r = mb_split(&s, p, (size_t)n, &used, &frame);

			p += used;
			n -= (ssize_t)used;
			if (r < 0)
				goto out;
			if (r == 0)
				break;
			r = serve_one(&b, frame, (size_t)r, out);
			if (r <= 0 || send(fd, out, (size_t)r, MSG_NOSIGNAL) != r)
				goto out;
		}
	}
out:
	close(fd);
	return NULL;
}

/* One request/response exchange. Returns 0, -MB_E* or -errno; rtt_ns set on success. */
static int transact(int fd, const struct mb_req *req, struct mb_rsp *rsp, uint8_t *rbuf,
		    int64_t *rtt_ns)
{
	uint8_t q[MB_ADU_MAX];
	struct mb_splitter s = { 0 };
	int n = mb_encode_req(q, sizeof(q), req);
	int64_t t0 = now_ns();

	if (n < 0)
		return n;
	if (send(fd, q, (size_t)n, MSG_NOSIGNAL) != n)
		return -errno;
	for (int reads = 0; reads < 64; reads++) {
		uint8_t in[MB_ADU_MAX];
		const uint8_t *frame;
		size_t used;
		ssize_t got = recv(fd, in, sizeof(in), 0);
		int r;

		if (got <= 0)
			return got == 0 ? -ECONNRESET : -errno;
		r = mb_split(&s, in, (size_t)got, &used, &frame);
		if (r < 0)
			return r;
		if (r > 0) {
			*rtt_ns = now_ns() - t0;
			memcpy(rbuf, frame, (size_t)r);
			return mb_decode_rsp(req, rbuf, (size_t)r, 0, rsp);
		}
	}
	return -EPROTO;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, true);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 1 };
	socklen_t salen = sizeof(sa);
	int64_t rtt, read_rtt, rtt_max = 0, rtt_sum = 0, end;
	long seconds = 20, polls = 0, errors = 0;
	int lfd, fd, one = 1, opt, err;
	uint8_t rbuf[MB_ADU_MAX];
	uint16_t tid = 0;
	struct mb_rsp rsp;
	pthread_t srv;

	while ((opt = getopt_long(argc, argv, "s:h",
				  (const struct option[]){ { "seconds", 1, NULL, 's' },
							   { "help", 0, NULL, 'h' },
							   { 0 } },
				  NULL)) != -1) {
		char *e;

		if (opt == 's') {
			seconds = strtol(optarg, &e, 10);
			if (*e || seconds < 1 || seconds > 86400) {
				fprintf(stderr, "flux-codec-demo: --seconds must be 1..86400\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: flux-codec-demo [--seconds N]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen)) {
		perror("flux-codec-demo: listen on 127.0.0.1");
		return 1;
	}
	err = pthread_create(&srv, NULL, server_main, &lfd);
	if (err) {
		fprintf(stderr, "flux-codec-demo: pthread_create: %s\n", strerror(err));
		return 1;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("flux-codec-demo: connect");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	printf("simulated PowerPack on 127.0.0.1:%u (unit 1, 200 kWh, time x%.0f); target SOE 50%%\n",
	       ntohs(sa.sin_port), TIME_SCALE);

	/* Claim the command source (2010 := 3) before writing power, as fluxd will. */
	err = transact(fd, &(struct mb_req){ .tid = ++tid, .unit = 1,
					      .fc = MB_FC_WRITE_SINGLE_REGISTER,
					      .addr = REG_CMD_SOURCE, .qty = 1, .value = 3 },
		       &rsp, rbuf, &rtt);
	if (err) {
		fprintf(stderr, "flux-codec-demo: claim command source: %s\n", mb_strerror(err));
		return 1;
	}

	end = now_ns() + seconds * 1000000000LL;
	for (int64_t next = now_ns(); !atomic_load(&stop) && next < end; next += POLL_NS) {
		struct mb_req rd = { .tid = ++tid, .unit = 1, .fc = MB_FC_READ_HOLDING_REGISTERS,
				     .addr = MAP_FIRST, .qty = MAP_COUNT };
		struct timespec ts = { .tv_sec = next / 1000000000LL,
				       .tv_nsec = next % 1000000000LL };
		uint16_t regs[MAP_COUNT];
		int kw;

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		polls++;
		err = transact(fd, &rd, &rsp, rbuf, &rtt);
		if (err) {
			errors++;
			printf("poll %ld: %s\n", polls, mb_strerror(err));
			continue;
		}
		read_rtt = rtt;
		rtt_sum += rtt;
		rtt_max = rtt > rtt_max ? rtt : rtt_max;
		mb_regs_from_wire(regs, rsp.data, MAP_COUNT);
		/* soe_target: 10 kW per % away from 50 %, within 100 kW. */
		kw = (regs[REG_SOE_PCT - MAP_FIRST] - 50) * 10;
		kw = kw > 100 ? 100 : kw < -100 ? -100 : kw;
		if (regs[REG_STATUS - MAP_FIRST] != 1)
			kw = 0;
		err = transact(fd, &(struct mb_req){ .tid = ++tid, .unit = 1,
						      .fc = MB_FC_WRITE_SINGLE_REGISTER,
						      .addr = REG_TARGET_KW, .qty = 1,
						      .value = mb_from_i16((int16_t)kw) },
			       &rsp, rbuf, &rtt);
		if (err)
			errors++;
		printf("\rstatus %s  SOE %3u%%  setpoint %+4d kW  blocks %u  read RTT %6.1f us  "
		       "polls %ld  errors %ld ",
		       regs[0] == 1 ? "READY" : "other", regs[REG_SOE_PCT - MAP_FIRST], kw,
		       regs[REG_BLOCKS - MAP_FIRST], read_rtt / 1e3, polls, errors);
		fflush(stdout);
	}
	/* Leave the battery at 0 kW, as fluxd will on shutdown. */
	err = transact(fd, &(struct mb_req){ .tid = ++tid, .unit = 1,
					      .fc = MB_FC_WRITE_SINGLE_REGISTER,
					      .addr = REG_TARGET_KW, .qty = 1, .value = 0 },
		       &rsp, rbuf, &rtt);
	printf("\n%ld polls, %ld errors, read RTT mean %.1f us max %.1f us; final write 0 kW: %s\n",
	       polls, errors, polls > errors ? rtt_sum / 1e3 / (double)(polls - errors) : 0.0,
	       rtt_max / 1e3, mb_strerror(err));
	close(fd);
	pthread_join(srv, NULL);
	close(lfd);
	return errors || err ? 1 : 0;
}
