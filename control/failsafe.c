// SPDX-License-Identifier: MIT
/*
 * fluxd --failsafe: 0 kW to every BESS whose command source is ours, without fluxd alive.
 * Each BESS is a small state machine (connect, read 2010, write 2008 := 0, read 2008 back)
 * on its own non-blocking socket; one poll() loop drives them all, every step bounded by a
 * deadline, so the whole run ends within the largest per-BESS budget whatever peers do.
 * A BESS on a serial line (RTU) is the same machine on its tty, and RTU frames over TCP on
 * its socket; two BESS on one line take turns (one master, one request at a time).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/failsafe.h"
#include "io/engine.h"
#include "io/serial.h"
#include "rt/clock.h"

#define FS_FD_RESERVE 16    /* descriptors left for stdio and the libraries */
#define FS_EREADBACK  12288 /* private: 2008 read back non-zero after 0 was written */

/* Where a BESS is. FS_IDLE: not started yet, or waiting for its next attempt. */
enum fs_step {
	FS_IDLE,
	FS_CONNECT,
	FS_READ_SOURCE, /* FC03 2010 in flight */
	FS_WRITE_ZERO,	/* FC06 2008 := 0 in flight */
	FS_READ_BACK,	/* FC03 2008 in flight */
	FS_DONE,
};

enum fs_result {
	FS_ACKED,     /* 2010 ours, 0 written, echoed and read back */
	FS_NOT_OURS,  /* 2010 holds another master's id: not touched */
	FS_NOT_ACKED, /* 2010 was ours, but 0 kW was not confirmed */
	FS_UNKNOWN,   /* 2010 never read */
};

/* One BESS; owned by fs_run()'s loop. */
struct fs_dev {
	const struct cfg_bess *cb;
	int fd;
	enum fs_step step;
	enum fs_result result;
	bool is_started;
	bool is_ours;	    /* 2010 read as ours at least once */
	unsigned attempts;  /* retry_count, at least 1 */
	unsigned failures;  /* attempts used up */
	int err;	    /* last failure: -errno, -MB_E*, -ENG_E* or -FS_EREADBACK */
	enum fs_step where; /* the step that failed last */
	uint16_t source;    /* 2010 as last read */
	uint16_t readback;  /* 2008 as last read back */
	/* From the BESS's profile: its target power and command source registers, 0 kW raw. */
	uint16_t target_addr, source_addr, zero_raw;
	uint16_t tid;
	int64_t timeout_ns; /* per request, at least FS_TIMEOUT_MIN_NS */
	int64_t end_ns;	    /* budget: attempts x timeout from the start */
	int64_t due_ns;	    /* deadline of the step in flight, or start of the next attempt */
	struct mb_req req;
	uint8_t out[MB_ADU_MAX];
	unsigned out_len, out_off;
	struct mb_splitter split;
	struct mb_rtu_splitter rsplit; /* framing rtu or serial */
};

static bool is_rtu(const struct fs_dev *d)
{
	return d->cb->modbus.framing != CFG_FRAMING_TCP;
}

static bool is_serial(const struct fs_dev *d)
{
	return d->cb->modbus.framing == CFG_FRAMING_SERIAL;
}

struct fs_tally {
	unsigned acked, not_ours, failed;
};

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static const char *step_name(enum fs_step step)
{
	switch (step) {
	case FS_READ_SOURCE:
		return "read 2010";
	case FS_WRITE_ZERO:
		return "write 2008 := 0";
	case FS_READ_BACK:
		return "read-back of 2008";
	default:
		return "connect";
	}
}

/* A well-formed exception reply, or a read-back that parsed: the stream is intact. */
static bool keeps_stream(int err)
{
	return (-err >= MB_EXC_BASE && -err < MB_EXC_END) || err == -FS_EREADBACK;
}

/* d's last failure as a line carries it: "connection refused", "timed out after 200 ms",
 * the codec's and the engine's names. */
static void err_text(const struct fs_dev *d, char *buf, size_t len)
{
	if (d->err == -FS_EREADBACK)
		snprintf(buf, len, "2008 reads %d after 0 kW was written", mb_get_i16(d->readback));
	else if (d->err == -ETIMEDOUT && d->where != FS_CONNECT)
		snprintf(buf, len, "timed out after %.0f ms", clk_ns_to_ms(d->timeout_ns));
	else if (d->err == -ECONNRESET)
		snprintf(buf, len, "connection closed");
	else
		snprintf(buf, len, "%s", eng_strerror(d->err));
	if (-d->err < MB_ERR_BASE && buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a'); /* strerror's capital, mid-sentence */
}

static void say_result(const struct fs_dev *d, FILE *out)
{
	const char *id = d->cb->id;
	char why[160], tries[48];

	snprintf(tries, sizeof(tries), "%u attempt%s", d->failures, d->failures == 1 ? "" : "s");
	err_text(d, why, sizeof(why));
	snprintf(why + strlen(why), sizeof(why) - strlen(why), ", %s", tries);
	switch (d->result) {
	case FS_ACKED:
		if (d->failures)
			fprintf(out, "%s: 0 kW acknowledged (after %s failed)\n", id, tries);
		else
			fprintf(out, "%s: 0 kW acknowledged\n", id);
		break;
	case FS_NOT_OURS:
		fprintf(out, "%s: command source held by id %u: not ours, left alone\n", id,
			d->source);
		break;
	case FS_NOT_ACKED:
		fprintf(out, "%s: command source ours, but %s failed (%s): 0 kW not acknowledged\n",
			id, step_name(d->where), why);
		break;
	case FS_UNKNOWN:
		if (d->where == FS_CONNECT)
			fprintf(out, "%s: no answer (%s): state unknown\n", id, why);
		else if (d->err == -ETIMEDOUT)
			fprintf(out, "%s: no answer to %s (%s): state unknown\n", id,
				step_name(d->where), why);
		else
			fprintf(out, "%s: %s failed (%s): state unknown\n", id, step_name(d->where),
				why);
		break;
	}
	fflush(out);
}

static void close_conn(struct fs_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	mb_split_reset(&d->split);
	mb_rtu_split_reset(&d->rsplit);
}

static void finish(struct fs_dev *d, enum fs_result result, struct fs_tally *t, FILE *out)
{
	close_conn(d);
	d->step = FS_DONE;
	d->result = result;
	if (result == FS_ACKED)
		t->acked++;
	else if (result == FS_NOT_OURS)
		t->not_ours++;
	else
		t->failed++;
	say_result(d, out);
}

/*
 * The step in flight failed with err. It costs an attempt; the next one re-reads 2010 (the
 * lock may have changed hands) after a short pause, on a new connection unless the device
 * answered with a well-formed exception (the stream is intact).
 */
static void fail(struct fs_dev *d, int err, int64_t now, struct fs_tally *t, FILE *out)
{
	int64_t pause_ns = min64(d->cb->modbus.retry_backoff_ns, FS_RETRY_PAUSE_NS);

	d->err = err;
	d->where = d->step;
	d->failures++;
	if (!keeps_stream(err))
		close_conn(d);
	if (d->failures >= d->attempts || now + pause_ns >= d->end_ns) {
		finish(d, d->is_ours ? FS_NOT_ACKED : FS_UNKNOWN, t, out);
		return;
	}
	d->step = FS_IDLE;
	d->due_ns = now + pause_ns;
}

/* Send what is left of d->out. Returns 0 (all sent, or the rest waits for POLLOUT) or -errno. */
static int flush_out(struct fs_dev *d)
{
	while (d->out_off < d->out_len) {
		ssize_t n = is_serial(d)
				? write(d->fd, d->out + d->out_off, d->out_len - d->out_off)
				: send(d->fd, d->out + d->out_off, d->out_len - d->out_off,
				       MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		d->out_off += (unsigned)n;
	}
	return 0;
}

/* Encode and send the request of `step`. Returns 0 or a negative error. */
static int send_req(struct fs_dev *d, enum fs_step step, int64_t now)
{
	int n;

	d->req = (struct mb_req){ .tid = ++d->tid, .unit = d->cb->modbus.address, .qty = 1 };
	if (step == FS_WRITE_ZERO) {
		d->req.fc = MB_FC_WRITE_SINGLE_REGISTER;
		d->req.addr = d->target_addr;
		d->req.value = d->zero_raw;
	} else {
		d->req.fc = MB_FC_READ_HOLDING_REGISTERS;
		d->req.addr = step == FS_READ_SOURCE ? d->source_addr : d->target_addr;
	}
	d->step = step;
	d->due_ns = min64(now + d->timeout_ns, d->end_ns);
	if (is_rtu(d)) {
		n = mb_rtu_encode_req(d->out, sizeof(d->out), &d->req);
		mb_rtu_split_reset(&d->rsplit);
	} else {
		n = mb_encode_req(d->out, sizeof(d->out), &d->req);
	}
	if (n < 0)
		return n;
	d->out_len = (unsigned)n;
	d->out_off = 0;
	return flush_out(d);
}

/* Start an attempt: connect if there is no connection, then read 2010. */
static void begin_attempt(struct fs_dev *d, int64_t now, struct fs_tally *t, FILE *out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(d->cb->modbus.port) };
	int one = 1, err;

	if (d->fd >= 0) {
		err = send_req(d, FS_READ_SOURCE, now);
		if (err)
			fail(d, err, now, t, out);
		return;
	}
	d->step = FS_CONNECT;
	d->due_ns = min64(now + d->timeout_ns, d->end_ns);
	if (is_serial(d)) {
		/* A tty opens at once (non-blocking): straight to the first request. */
		d->fd = ser_open(d->cb->modbus.device, &d->cb->modbus.line);
		if (d->fd < 0) {
			err = d->fd;
			d->fd = -1;
			fail(d, err, now, t, out);
			return;
		}
		err = send_req(d, FS_READ_SOURCE, now);
		if (err)
			fail(d, err, now, t, out);
		return;
	}
	if (inet_pton(AF_INET, d->cb->modbus.host, &sa.sin_addr) != 1) {
		fail(d, -EINVAL, now, t, out); /* config.c accepts IPv4 literals only */
		return;
	}
	d->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		fail(d, -errno, now, t, out);
		return;
	}
	setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		err = send_req(d, FS_READ_SOURCE, now);
		if (err)
			fail(d, err, now, t, out);
	} else if (errno != EINPROGRESS) {
		fail(d, -errno, now, t, out);
	}
}

/* A whole reply frame for the request in flight. */
static void on_frame(struct fs_dev *d, const uint8_t *frame, size_t len, int64_t now,
		     struct fs_tally *t, FILE *out)
{
	unsigned flags = d->cb->modbus.match_tid ? 0 : MB_RSP_ANY_TID;
	struct mb_rsp rsp;
	int err = is_rtu(d) ? mb_rtu_decode_rsp(&d->req, frame, len, &rsp)
			    : mb_decode_rsp(&d->req, frame, len, flags, &rsp);

	if (err) {
		fail(d, err, now, t, out);
		return;
	}
	switch (d->step) {
	case FS_READ_SOURCE:
		d->source = mb_get_u16(rsp.data);
		if (d->source != d->cb->command_source_id) {
			finish(d, FS_NOT_OURS, t, out);
			return;
		}
		d->is_ours = true;
		err = send_req(d, FS_WRITE_ZERO, now);
		break;
	case FS_WRITE_ZERO: /* the codec checked the echo */
		err = send_req(d, FS_READ_BACK, now);
		break;
	case FS_READ_BACK:
		d->readback = mb_get_u16(rsp.data);
		if (d->readback == d->zero_raw) {
			finish(d, FS_ACKED, t, out);
			return;
		}
		fail(d, -FS_EREADBACK, now, t, out);
		return;
	default:
		return;
	}
	if (err)
		fail(d, err, now, t, out);
}

/* Bytes the splitter still needs for the frame it holds, the header first: one frame per
 * read, so nothing beyond it is ever taken off the stream. */
static size_t frame_left(const struct mb_splitter *s)
{
	if (s->len < 6)
		return 6u - s->len;
	return 6u + mb_get_u16(s->buf + 4) - s->len; /* mb_split checked the length */
}

/*
 * RTU: read what is there and hunt for the awaited reply (noise, other units and bad CRCs
 * are skipped by the frame finder; the step's deadline names the failure if nothing fits).
 */
static void on_rtu_bytes(struct fs_dev *d, int64_t now, struct fs_tally *t, FILE *out)
{
	uint8_t in[MB_RTU_ADU_MAX];
	const uint8_t *frame;
	size_t used;
	ssize_t n =
	    is_serial(d) ? read(d->fd, in, sizeof(in)) : recv(d->fd, in, sizeof(in), MSG_DONTWAIT);
	int r;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		/* A tty reads 0 on hangup (the adapter pulled); a socket when closed. */
		fail(d, n == 0 ? (is_serial(d) ? -EIO : -ECONNRESET) : -errno, now, t, out);
		return;
	}
	/* 0: every byte taken, no frame whole yet. After a reply, what is left was not asked
	 * for (the next request resets the finder). */
	r = mb_rtu_split(&d->rsplit, &d->req, in, (size_t)n, &used, &frame);
	if (r < 0)
		fail(d, r, now, t, out);
	else if (r > 0)
		on_frame(d, frame, (size_t)r, now, t, out);
}

/* poll() said something about d's socket. */
static void on_event(struct fs_dev *d, short revents, int64_t now, struct fs_tally *t, FILE *out)
{
	uint8_t in[MB_ADU_MAX];
	const uint8_t *frame;
	socklen_t slen = sizeof(int);
	size_t used;
	ssize_t n;
	int err = 0, r;

	if (d->step == FS_CONNECT) {
		if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &slen) < 0)
			err = errno;
		if (err)
			fail(d, -err, now, t, out);
		else if ((err = send_req(d, FS_READ_SOURCE, now)))
			fail(d, err, now, t, out);
		return;
	}
	if ((revents & POLLOUT) && (err = flush_out(d))) {
		fail(d, err, now, t, out);
		return;
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	if (is_rtu(d)) {
		on_rtu_bytes(d, now, t, out);
		return;
	}
	n = recv(d->fd, in, frame_left(&d->split), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		fail(d, n == 0 ? -ECONNRESET : -errno, now, t, out);
		return;
	}
	r = mb_split(&d->split, in, (size_t)n, &used, &frame);
	if (r < 0)
		fail(d, r, now, t, out);
	else if (r > 0)
		on_frame(d, frame, (size_t)r, now, t, out);
}

static void start(struct fs_dev *d, int64_t now, struct fs_tally *t, FILE *out)
{
	d->is_started = true;
	d->end_ns = now + (int64_t)d->attempts * d->timeout_ns;
	begin_attempt(d, now, t, out);
}

/* How many BESS may hold a socket at once: RLIMIT_NOFILE, raised to what n needs if allowed. */
static unsigned max_open(unsigned n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + FS_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 64;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl); /* on failure the old limit stands */
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur <= FS_FD_RESERVE + 1)
		return 1;
	return rl.rlim_cur - FS_FD_RESERVE < n ? (unsigned)(rl.rlim_cur - FS_FD_RESERVE) : n;
}

/* The registers of p's target power and command source roles (config.c: both there). */
static void set_registers(struct fs_dev *d, const struct prof_profile *p)
{
	int tp = p ? prof_role_point(p, PROF_ROLE_TARGET_POWER) : -ENOENT;
	int cs = p ? prof_role_point(p, PROF_ROLE_COMMAND_SOURCE) : -ENOENT;
	uint16_t regs[2] = { 0 };

	if (tp >= 0) {
		d->target_addr = p->points[tp].addr;
		if (prof_encode(p, (unsigned)tp, p->default_order, 0, regs) == 1)
			d->zero_raw = regs[0];
	}
	if (cs >= 0)
		d->source_addr = p->points[cs].addr;
}

/* Is devs[k] on a serial line that a started BESS still uses? Then it waits its turn. */
static bool is_line_busy(const struct fs_dev *devs, unsigned k)
{
	if (!is_serial(&devs[k]))
		return false;
	for (unsigned i = 0; i < k; i++)
		if (is_serial(&devs[i]) && devs[i].is_started && devs[i].step != FS_DONE &&
		    !strcmp(devs[i].cb->modbus.device, devs[k].cb->modbus.device))
			return true;
	return false;
}

int fs_run(const struct cfg *cfg, FILE *out)
{
	struct fs_tally t = { 0 };
	struct fs_dev *devs = NULL, **polled = NULL;
	struct pollfd *pfd = NULL;
	unsigned n = cfg->nbess, slots, ndone = 0, nopen, next = 0;
	int64_t t0 = clk_now_ns();

	if (n == 0) {
		fprintf(out, "failsafe: no BESS in the config: nothing to do\n");
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct prof_profile *p = cfg->bess[i].profile;

		if (!p || prof_role_point(p, PROF_ROLE_TARGET_POWER) < 0 ||
		    prof_role_point(p, PROF_ROLE_COMMAND_SOURCE) < 0) {
			fprintf(out,
				"failsafe: %s: no profile with a target power and a command "
				"source: no BESS written\n",
				cfg->bess[i].id);
			return 1;
		}
	}
	slots = max_open(n);
	devs = calloc(n, sizeof(*devs));
	polled = calloc(slots, sizeof(*polled));
	pfd = calloc(slots, sizeof(*pfd));
	if (!devs || !polled || !pfd) {
		fprintf(out, "failsafe: out of memory: no BESS written\n");
		goto out_free;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct cfg_modbus *mb = &cfg->bess[i].modbus;

		devs[i].cb = &cfg->bess[i];
		devs[i].fd = -1;
		devs[i].attempts = mb->retry_count ? mb->retry_count : 1;
		devs[i].timeout_ns =
		    mb->timeout_ns > FS_TIMEOUT_MIN_NS ? mb->timeout_ns : FS_TIMEOUT_MIN_NS;
		devs[i].tid = (uint16_t)(0x4653 + i); /* any start: each reply must match its own */
		set_registers(&devs[i], cfg->bess[i].profile);
	}

	/* Bounded: each pass either waits in poll() until a deadline or moves a BESS on, and
	 * every BESS ends within its budget of attempts x timeout. */
	while (ndone < n) {
		int64_t now = clk_now_ns(), wake = INT64_MAX;
		int timeout_ms, r;

		nopen = 0;
		for (unsigned i = 0; i < n; i++)
			nopen += devs[i].is_started && devs[i].step != FS_DONE;
		while (next < n && nopen < slots && !is_line_busy(devs, next)) {
			start(&devs[next++], now, &t, out);
			nopen++;
		}
		nopen = 0;
		for (unsigned i = 0; i < n; i++) {
			struct fs_dev *d = &devs[i];

			if (!d->is_started || d->step == FS_DONE)
				continue;
			if (now >= d->due_ns) {
				if (d->step == FS_IDLE)
					begin_attempt(d, now, &t, out);
				else
					fail(d, -ETIMEDOUT, now, &t, out);
			}
			if (d->step == FS_DONE)
				continue;
			wake = min64(wake, d->due_ns);
			if (d->fd < 0 || d->step == FS_IDLE)
				continue;
			polled[nopen] = d;
			pfd[nopen++] = (struct pollfd){
				.fd = d->fd,
				.events = (short)(d->step == FS_CONNECT || d->out_off < d->out_len
						      ? POLLOUT | POLLIN
						      : POLLIN),
			};
		}
		ndone = t.acked + t.not_ours + t.failed;
		if (ndone == n)
			break;
		now = clk_now_ns();
		timeout_ms = wake == INT64_MAX ? 0
			     : wake <= now
				 ? 0
				 : (int)((wake - now + CLK_NS_PER_MS - 1) / CLK_NS_PER_MS);
		r = poll(pfd, nopen, timeout_ms);
		if (r < 0 && errno != EINTR) {
			fprintf(out, "failsafe: poll: %s\n", strerror(errno));
			goto out_free;
		}
		now = clk_now_ns();
		for (int i = 0; r > 0 && i < (int)nopen; i++)
			if (pfd[i].revents && polled[i]->step != FS_DONE)
				on_event(polled[i], pfd[i].revents, now, &t, out);
		ndone = t.acked + t.not_ours + t.failed;
	}
	fprintf(out,
		"failsafe: %u BESS in %.0f ms: %u at 0 kW acknowledged, %u not ours, %u unknown or "
		"not acknowledged\n",
		n, clk_ns_to_ms(clk_now_ns() - t0), t.acked, t.not_ours, t.failed);
	fflush(out);
out_free:
	if (devs)
		for (unsigned i = 0; i < n; i++)
			close_conn(&devs[i]);
	free(pfd);
	free(polled);
	free(devs);
	return ndone == n && t.failed == 0 ? 0 : 1;
}
