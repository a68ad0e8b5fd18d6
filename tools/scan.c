// SPDX-License-Identifier: MIT
/*
 * The scanner (tools/scan.h): a fixed pool of slots, each walking one address:port at a time
 * through connect -> probe unit -> probe next unit -> close, all on one io_uring. The one
 * idea: every operation that waits on the peer is linked to a timeout, so a slot's SQEs always
 * come back, and a slot is reused only when all of them have (its buffers stay valid).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/acuvim2.h"
#include "devices/powerpack.h"
#include "io/modbus.h"
#include "tools/scan.h"
#include "rt/clock.h"

#define PROBE_ADDR 0 /* FC03, 1 register at 0: reads nothing a device acts on */

enum slot_state { SL_IDLE, SL_CONNECTING, SL_PROBING };
enum op { OP_CONNECT = 1, OP_SEND, OP_RECV, OP_TIMEOUT };

/* One connection in flight. Owned by the scan_run() caller's thread. */
struct slot {
	enum slot_state state;
	int fd;
	unsigned ops; /* SQEs submitted whose CQEs have not come back */
	struct sockaddr_in sa;
	struct __kernel_timespec ts; /* the linked timeout: read by the kernel at submit */
	int64_t t_start;	     /* connect or probe sent */
	int64_t deadline;	     /* of the probe in flight */
	int res_connect;
	int res_send;
	int res_recv;
	bool has_send; /* the chain in flight began with a send */
	unsigned unit;
	unsigned probed;
	unsigned answered;
	uint16_t first_tid;
	struct mb_req req;
	uint8_t tx[12];
	uint8_t in[MB_ADU_MAX];
	struct mb_splitter split;
};

struct scanner {
	const struct scan_cfg *cfg;
	struct scan_stats *st;
	struct io_uring ring;
	struct slot *slots;
	unsigned nslots;
	/* target cursor: address offset in range ri, port index pi */
	unsigned ri;
	uint64_t off;
	unsigned pi;
	bool is_stopping;
};

const char *scan_kind_name(enum scan_kind kind)
{
	switch (kind) {
	case SCAN_UNIT:
		return "registers";
	case SCAN_UNIT_EXC:
		return "exception";
	case SCAN_BAD_REPLY:
		return "bad reply";
	case SCAN_OPEN:
		return "open";
	case SCAN_REFUSED:
		return "refused";
	case SCAN_NO_ANSWER:
		return "no answer";
	case SCAN_CONN_ERR:
		return "error";
	}
	return "?";
}

/* ---- FC43/14 device identification -------------------------------------------------- */

const char *scan_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case SCAN_EDEVID_SHORT:
		return "device identification reply too short";
	case SCAN_EDEVID_MEI:
		return "not a basic device identification reply (MEI type 0x0E, code 01)";
	case SCAN_EDEVID_OBJLEN:
		return "device identification object length past the end of the frame";
	case SCAN_EDEVID_TRAILING:
		return "bytes after the last device identification object";
	}
	if (err >= MB_ERR_BASE)
		return mb_strerror(-err);
	return strerror(err);
}

int scan_encode_devid_req(uint8_t *buf, size_t cap, uint16_t tid, uint8_t unit)
{
	if (cap < SCAN_DEVID_REQ_SIZE)
		return -MB_ENOSPACE;
	mb_put_u16(buf, tid);
	mb_put_u16(buf + 2, 0);
	mb_put_u16(buf + 4, SCAN_DEVID_REQ_SIZE - 6);
	buf[6] = unit;
	buf[7] = SCAN_FC_MEI;
	buf[8] = SCAN_MEI_DEVICE_ID;
	buf[9] = SCAN_DEVID_BASIC;
	buf[10] = 0x00; /* from object 0, the vendor name */
	return SCAN_DEVID_REQ_SIZE;
}

/* Keep at most SCAN_ID_MAX - 1 bytes of an object; anything not printable ASCII becomes '?'. */
static void copy_object(char *dst, const uint8_t *src, size_t n)
{
	if (n > SCAN_ID_MAX - 1)
		n = SCAN_ID_MAX - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7F ? (char)src[i] : '?';
	dst[n] = '\0';
}

int scan_decode_devid_rsp(const uint8_t *frame, size_t len, uint16_t tid, uint8_t unit,
			  struct scan_devid *out)
{
	const uint8_t *pdu = frame + MB_MBAP_SIZE, *p;
	size_t pdu_len, left;
	unsigned n;

	*out = (struct scan_devid){ 0 };
	if (len < MB_MBAP_SIZE + 1)
		return -SCAN_EDEVID_SHORT;
	if (mb_get_u16(frame + 2) != 0)
		return -MB_EPROTO;
	if ((size_t)mb_get_u16(frame + 4) + 6 != len)
		return -MB_EFRAMELEN;
	if (mb_peek_tid(frame) != tid)
		return -MB_ETID;
	if (frame[6] != unit)
		return -MB_EUNIT;
	pdu_len = len - MB_MBAP_SIZE;
	if (pdu[0] == (SCAN_FC_MEI | MB_EXC_BIT))
		return pdu_len == 2 ? -MB_EXC(pdu[1]) : -MB_EEXCLEN;
	if (pdu[0] != SCAN_FC_MEI)
		return -MB_EFCMISMATCH;
	if (pdu_len < SCAN_DEVID_HDR)
		return -SCAN_EDEVID_SHORT;
	if (pdu[1] != SCAN_MEI_DEVICE_ID || pdu[2] != SCAN_DEVID_BASIC)
		return -SCAN_EDEVID_MEI;
	out->conformity = pdu[3];
	out->has_more = pdu[4] == 0xFF;
	n = pdu[6];
	p = pdu + SCAN_DEVID_HDR;
	left = pdu_len - SCAN_DEVID_HDR;
	for (unsigned i = 0; i < n; i++) {
		size_t olen;

		if (left < 2)
			return -SCAN_EDEVID_OBJLEN;
		olen = p[1];
		if (olen > left - 2)
			return -SCAN_EDEVID_OBJLEN;
		if (p[0] == 0x00)
			copy_object(out->vendor, p + 2, olen);
		else if (p[0] == 0x01)
			copy_object(out->product, p + 2, olen);
		else if (p[0] == 0x02)
			copy_object(out->revision, p + 2, olen);
		p += 2 + olen;
		left -= 2 + olen;
	}
	return left ? -SCAN_EDEVID_TRAILING : 0;
}

/* ---- fingerprints against the shipped profiles -------------------------------------- */

bool scan_looks_like_powerpack(const uint16_t *regs, unsigned n, char *buf, size_t cap)
{
	const struct prof_point *st = &pp_profile.points[PP_PT_STATUS];
	const struct prof_point *soe = &pp_profile.points[PP_PT_SOE];
	struct prof_value v[PP_N_POINTS] = { 0 };
	const char *name;

	prof_decode_block(&pp_profile, 0, pp_profile.default_order, regs, n, 0, v);
	if (!v[PP_PT_STATUS].is_valid || !v[PP_PT_SOE].is_valid)
		return false;
	name = prof_enum_name(st, (uint16_t)v[PP_PT_STATUS].value);
	if (!name || v[PP_PT_SOE].value < 0 || v[PP_PT_SOE].value > 100)
		return false;
	snprintf(buf, cap, "%u %s, %u SOE %.0f in 0..100", st->addr, name, soe->addr,
		 v[PP_PT_SOE].value);
	return true;
}

bool scan_looks_like_acuvim2(const uint16_t *regs, unsigned n, char *buf, size_t cap)
{
	const struct prof_point *u = &acu_profile.points[ACU_PT_VOLTAGE_L1N];
	const struct prof_point *f = &acu_profile.points[ACU_PT_FREQUENCY];
	struct prof_value v[ACU_N_POINTS] = { 0 };
	double volts, hz;

	prof_decode_block(&acu_profile, 0, acu_profile.default_order, regs, n, 0, v);
	if (!v[ACU_PT_VOLTAGE_L1N].is_valid || !v[ACU_PT_FREQUENCY].is_valid)
		return false;
	volts = v[ACU_PT_VOLTAGE_L1N].value;
	hz = v[ACU_PT_FREQUENCY].value;
	if (!(volts >= 50 && volts <= 1000 && hz >= 40 && hz <= 70))
		return false;
	snprintf(buf, cap, "0x%04X %.1f %s, 0x%04X %.1f %s", u->addr, volts, u->unit, f->addr, hz,
		 f->unit);
	return true;
}

/* ---- targets ------------------------------------------------------------------------ */

static int parse_ip(const char *s, size_t n, uint32_t *out)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return *end || errno || *out > max ? -EINVAL : 0;
}

int scan_parse_target(const char *s, struct scan_range *out)
{
	const char *slash = strchr(s, '/'), *dash = strchr(s, '-');
	unsigned long v;
	uint32_t a, b;

	if (slash) {
		uint32_t mask;

		if (dash || parse_ip(s, (size_t)(slash - s), &a) || parse_num(slash + 1, 32, &v))
			return -EINVAL;
		mask = v ? ~0u << (32 - v) : 0;
		out->first = a & mask;
		out->last = out->first | ~mask;
		if (v <= 30) { /* network and broadcast addresses are not hosts */
			out->first++;
			out->last--;
		}
		return 0;
	}
	if (dash) {
		if (parse_ip(s, (size_t)(dash - s), &a))
			return -EINVAL;
		if (strchr(dash + 1, '.')) {
			if (parse_ip(dash + 1, strlen(dash + 1), &b))
				return -EINVAL;
		} else {
			if (parse_num(dash + 1, 255, &v))
				return -EINVAL;
			b = (a & ~0xFFu) | (uint32_t)v;
		}
		if (b < a)
			return -EINVAL;
		out->first = a;
		out->last = b;
		return 0;
	}
	if (parse_ip(s, strlen(s), &a))
		return -EINVAL;
	out->first = out->last = a;
	return 0;
}

uint64_t scan_count(const struct scan_range *r, unsigned n)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += (uint64_t)r[i].last - r[i].first + 1;
	return total;
}

/* The next address:port to try. Returns false when every one has been handed out. */
static bool next_target(struct scanner *sc, uint32_t *addr, uint16_t *port)
{
	const struct scan_cfg *cfg = sc->cfg;

	while (sc->ri < cfg->nranges) {
		const struct scan_range *r = &cfg->ranges[sc->ri];

		if (sc->off > (uint64_t)r->last - r->first) {
			sc->ri++;
			sc->off = 0;
			continue;
		}
		*addr = (uint32_t)(r->first + sc->off);
		*port = cfg->ports[sc->pi];
		if (++sc->pi == cfg->nports) {
			sc->pi = 0;
			sc->off++;
		}
		return true;
	}
	return false;
}

/* ---- io_uring plumbing -------------------------------------------------------------- */

static struct io_uring_sqe *get_sqe(struct scanner *sc)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sc->ring);

	if (!sqe) {
		io_uring_submit(&sc->ring); /* the SQ is sized so that this is rare */
		sqe = io_uring_get_sqe(&sc->ring);
	}
	return sqe;
}

static uint64_t ud(unsigned idx, enum op op)
{
	return (uint64_t)idx << 8 | op;
}

static void set_timeout(struct slot *s, int64_t ns)
{
	if (ns < 1000)
		ns = 1000;
	s->ts.tv_sec = ns / CLK_NS_PER_SEC;
	s->ts.tv_nsec = ns % CLK_NS_PER_SEC;
}

/* Queue op (already prepared in sqe) linked to a timeout of ns. Returns -ENOMEM without SQEs. */
static int link_timeout(struct scanner *sc, unsigned idx, int64_t ns)
{
	struct slot *s = &sc->slots[idx];
	struct io_uring_sqe *sqe = get_sqe(sc);

	if (!sqe)
		return -ENOMEM;
	set_timeout(s, ns);
	io_uring_prep_link_timeout(sqe, &s->ts, 0);
	io_uring_sqe_set_data64(sqe, ud(idx, OP_TIMEOUT));
	s->ops++;
	return 0;
}

/* Report a finding; frame/len: the reply bytes (SCAN_BAD_REPLY), value: SCAN_UNIT's register. */
static void report_ex(struct scanner *sc, const struct slot *s, enum scan_kind kind, int err,
		      const uint8_t *frame, size_t len, uint16_t value)
{
	struct scan_result r = { .kind = kind,
				 .addr = ntohl(s->sa.sin_addr.s_addr),
				 .port = ntohs(s->sa.sin_port),
				 .unit = (uint8_t)s->unit,
				 .err = err,
				 .probed = s->probed,
				 .value = value,
				 .rtt_ns = clk_now_ns() - s->t_start };

	switch (kind) {
	case SCAN_UNIT:
		sc->st->units++;
		break;
	case SCAN_UNIT_EXC:
		sc->st->units++;
		break;
	case SCAN_BAD_REPLY:
		sc->st->bad_replies++;
		memcpy(r.tx, s->tx, sizeof(r.tx));
		r.rx_len = (unsigned)(len < sizeof(r.rx) ? len : sizeof(r.rx));
		if (frame)
			memcpy(r.rx, frame, r.rx_len);
		break;
	case SCAN_REFUSED:
		sc->st->refused++;
		break;
	case SCAN_NO_ANSWER:
		sc->st->no_answer++;
		break;
	case SCAN_CONN_ERR:
		sc->st->conn_err++;
		break;
	case SCAN_OPEN:
		break;
	}
	if (sc->cfg->report)
		sc->cfg->report(sc->cfg->arg, &r);
}

static void report(struct scanner *sc, const struct slot *s, enum scan_kind kind, int err)
{
	report_ex(sc, s, kind, err, NULL, 0, 0);
}

/* ---- the slot state machine --------------------------------------------------------- */

static void start_next(struct scanner *sc, unsigned idx);

static void finish_target(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = SL_IDLE;
	start_next(sc, idx);
}

/* Arm a receive of the rest of the frame, linked to what is left of the probe's time. */
static int arm_recv(struct scanner *sc, unsigned idx, unsigned flags)
{
	struct slot *s = &sc->slots[idx];
	struct io_uring_sqe *sqe = get_sqe(sc);
	size_t want =
	    s->split.len < 6 ? 6u - s->split.len : 6u + mb_get_u16(s->split.buf + 4) - s->split.len;

	if (!sqe)
		return -ENOMEM;
	io_uring_prep_recv(sqe, s->fd, s->in, want, 0);
	io_uring_sqe_set_data64(sqe, ud(idx, OP_RECV));
	sqe->flags |= IOSQE_IO_LINK | flags;
	s->ops++;
	s->res_recv = -ECANCELED;
	return link_timeout(sc, idx, s->deadline - clk_now_ns());
}

/* Send the probe of s->unit and wait for its reply. */
static void send_probe(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	struct io_uring_sqe *sqe;
	int n;

	s->req = (struct mb_req){ .tid = (uint16_t)(s->first_tid + s->probed),
				  .unit = (uint8_t)s->unit,
				  .fc = MB_FC_READ_HOLDING_REGISTERS,
				  .addr = PROBE_ADDR,
				  .qty = 1 };
	n = mb_encode_req(s->tx, sizeof(s->tx), &s->req);
	sqe = get_sqe(sc);
	if (n != (int)sizeof(s->tx) || !sqe) {
		report(sc, s, SCAN_CONN_ERR, n < 0 ? n : -ENOMEM);
		finish_target(sc, idx);
		return;
	}
	s->probed++;
	s->t_start = clk_now_ns();
	s->deadline = s->t_start + sc->cfg->timeout_ns;
	io_uring_prep_send(sqe, s->fd, s->tx, sizeof(s->tx), MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(idx, OP_SEND));
	sqe->flags |= IOSQE_IO_LINK;
	s->ops++;
	s->has_send = true;
	s->res_send = -ECANCELED;
	if (arm_recv(sc, idx, 0)) {
		/* Out of SQEs mid-chain: the submitted part completes, then the slot ends. */
		s->res_send = -ENOMEM;
	}
}

/* The current unit is done (answered or silent): probe the next or end the target. */
static void next_unit(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];

	if (s->unit < sc->cfg->unit_last && !sc->is_stopping) {
		s->unit++;
		send_probe(sc, idx);
		return;
	}
	if (!s->answered)
		report(sc, s, SCAN_OPEN, 0);
	finish_target(sc, idx);
}

static bool is_absent_exc(int err)
{
	return err == -MB_EXC(MB_EX_GATEWAY_PATH_UNAVAILABLE) ||
	       err == -MB_EXC(MB_EX_GATEWAY_TARGET_FAILED);
}

/* One whole frame arrived for the probe in flight. Returns true if the slot moved on. */
static bool on_frame(struct scanner *sc, unsigned idx, const uint8_t *frame, size_t len)
{
	struct slot *s = &sc->slots[idx];
	uint16_t tid = mb_peek_tid(frame), age = (uint16_t)(s->req.tid - tid);
	struct mb_rsp rsp;
	int err;

	if (tid != s->req.tid && age < s->probed)
		return false; /* the late reply to an earlier, timed-out probe: drop it */
	err = mb_decode_rsp(&s->req, frame, len, 0, &rsp);
	if (err == 0) {
		s->answered++;
		report_ex(sc, s, SCAN_UNIT, 0, NULL, 0, mb_get_u16(rsp.data));
	} else if (-err >= MB_EXC_BASE && -err < MB_EXC_END) {
		if (!is_absent_exc(err)) {
			s->answered++;
			report(sc, s, SCAN_UNIT_EXC, err);
		}
	} else {
		s->answered++;
		report_ex(sc, s, SCAN_BAD_REPLY, err, frame, len, 0);
		finish_target(sc, idx); /* the stream is not to be trusted any more */
		return true;
	}
	mb_split_reset(&s->split);
	next_unit(sc, idx);
	return true;
}

/* Every SQE of the probe chain is back. */
static void on_probe_done(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	int r = s->res_recv;

	if (s->has_send && s->res_send != (int)sizeof(s->tx)) {
		report(sc, s, SCAN_CONN_ERR, s->res_send < 0 ? s->res_send : -EIO);
		finish_target(sc, idx);
		return;
	}
	s->has_send = false;
	if (r > 0) {
		const uint8_t *p = s->in;
		size_t n = (size_t)r;

		for (int i = 0; i < 4 && n; i++) {
			const uint8_t *frame;
			size_t used;
			int k = mb_split(&s->split, p, n, &used, &frame);

			p += used;
			n -= used;
			if (k < 0) {
				s->answered++;
				report_ex(sc, s, SCAN_BAD_REPLY, k, s->in, (size_t)r, 0);
				finish_target(sc, idx);
				return;
			}
			if (k > 0 && on_frame(sc, idx, frame, (size_t)k))
				return;
		}
		/* Part of a frame, or a late reply dropped: wait for the rest in the time left. */
		if (sc->is_stopping) {
			finish_target(sc, idx);
		} else if (clk_now_ns() >= s->deadline) {
			next_unit(sc, idx);
		} else if (arm_recv(sc, idx, 0)) {
			report(sc, s, SCAN_CONN_ERR, -ENOMEM);
			finish_target(sc, idx);
		}
		return;
	}
	if (r == 0) {
		report(sc, s, SCAN_CONN_ERR, -ECONNRESET);
		finish_target(sc, idx);
	} else if (r == -ECANCELED || r == -ETIME || r == -EINTR) {
		/* Silence: this unit is absent. The late reply, if any, is dropped by its TID. */
		if (sc->is_stopping)
			finish_target(sc, idx);
		else
			next_unit(sc, idx);
	} else {
		report(sc, s, SCAN_CONN_ERR, r);
		finish_target(sc, idx);
	}
}

static void on_connect_done(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	int r = s->res_connect;

	if (r == 0) {
		sc->st->open++;
		s->state = SL_PROBING;
		mb_split_reset(&s->split);
		if (sc->is_stopping)
			finish_target(sc, idx);
		else
			send_probe(sc, idx);
		return;
	}
	if (r == -ECONNREFUSED)
		report(sc, s, SCAN_REFUSED, r);
	else if (r == -ECANCELED || r == -ETIME || r == -EINTR)
		report(sc, s, SCAN_NO_ANSWER, -ETIMEDOUT);
	else
		report(sc, s, SCAN_CONN_ERR, r);
	finish_target(sc, idx);
}

/* Start the next address:port on slot idx, or leave it idle when there is none. */
static void start_next(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	int one = 1;

	for (;;) {
		struct io_uring_sqe *sqe;
		uint32_t addr;
		uint16_t port;

		s->state = SL_IDLE;
		if (sc->is_stopping || !next_target(sc, &addr, &port))
			return;
		sc->st->targets++;
		s->sa = (struct sockaddr_in){ .sin_family = AF_INET,
					      .sin_port = htons(port),
					      .sin_addr.s_addr = htonl(addr) };
		s->t_start = clk_now_ns();
		s->unit = sc->cfg->unit_first;
		s->probed = 0;
		s->answered = 0;
		s->first_tid = 1;
		s->has_send = false;
		s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
		if (s->fd < 0) {
			report(sc, s, SCAN_CONN_ERR, -errno);
			continue;
		}
		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sqe = get_sqe(sc);
		if (!sqe) {
			report(sc, s, SCAN_CONN_ERR, -ENOMEM);
			close(s->fd);
			s->fd = -1;
			continue;
		}
		io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&s->sa, sizeof(s->sa));
		io_uring_sqe_set_data64(sqe, ud(idx, OP_CONNECT));
		sqe->flags |= IOSQE_IO_LINK;
		s->ops++;
		s->res_connect = -ECANCELED;
		s->state = SL_CONNECTING;
		/* Without an SQE for the timeout the connect still ends (the kernel's own). */
		link_timeout(sc, idx, sc->cfg->timeout_ns);
		return;
	}
}

static void on_cqe(struct scanner *sc, const struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	unsigned idx = (unsigned)(data >> 8);
	struct slot *s;

	if (idx >= sc->nslots)
		return;
	s = &sc->slots[idx];
	switch ((enum op)(data & 0xFF)) {
	case OP_CONNECT:
		s->res_connect = cqe->res;
		break;
	case OP_SEND:
		s->res_send = cqe->res;
		break;
	case OP_RECV:
		s->res_recv = cqe->res;
		break;
	case OP_TIMEOUT:
		break;
	}
	if (s->ops && --s->ops == 0) {
		if (s->state == SL_CONNECTING)
			on_connect_done(sc, idx);
		else if (s->state == SL_PROBING)
			on_probe_done(sc, idx);
	}
}

/* Stop early: start nothing new, make the receives in flight end now. */
static void begin_stop(struct scanner *sc)
{
	sc->is_stopping = true;
	sc->st->is_interrupted = true;
	for (unsigned i = 0; i < sc->nslots; i++)
		if (sc->slots[i].fd >= 0 && sc->slots[i].state == SL_PROBING)
			shutdown(sc->slots[i].fd, SHUT_RDWR);
}

static bool is_busy(const struct scanner *sc)
{
	for (unsigned i = 0; i < sc->nslots; i++)
		if (sc->slots[i].ops)
			return true;
	return false;
}

int scan_run(const struct scan_cfg *cfg, struct scan_stats *st)
{
	struct scanner sc = { .cfg = cfg, .st = st };
	uint64_t total;
	unsigned entries = 8;
	int64_t t0 = clk_now_ns();
	int ret;

	if (!cfg->nranges || !cfg->nports || cfg->nports > SCAN_MAX_PORTS ||
	    cfg->unit_first > cfg->unit_last || cfg->timeout_ns <= 0 || !cfg->concurrency ||
	    cfg->concurrency > SCAN_MAX_CONCURRENCY)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nports; i++)
		if (!cfg->ports[i])
			return -EINVAL;
	*st = (struct scan_stats){ 0 };
	total = scan_count(cfg->ranges, cfg->nranges) * cfg->nports;
	sc.nslots = total < cfg->concurrency ? (unsigned)total : cfg->concurrency;
	sc.slots = calloc(sc.nslots, sizeof(*sc.slots));
	if (!sc.slots)
		return -ENOMEM;
	for (unsigned i = 0; i < sc.nslots; i++)
		sc.slots[i].fd = -1;
	/* A slot has at most 3 SQEs (send, recv, timeout) prepared between two submits. */
	while (entries < 3 * sc.nslots + 8)
		entries *= 2;
	ret = io_uring_queue_init(entries, &sc.ring, 0);
	if (ret < 0)
		goto out_slots;
	for (unsigned i = 0; i < sc.nslots; i++)
		start_next(&sc, i);
	ret = 0;
	while (is_busy(&sc)) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int r = io_uring_submit_and_wait(&sc.ring, 1);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			ret = r; /* the ring itself failed: exiting it cancels what is left */
			break;
		}
		if (cfg->stop && *cfg->stop && !sc.is_stopping)
			begin_stop(&sc);
		io_uring_for_each_cqe(&sc.ring, head, cqe)
		{
			on_cqe(&sc, cqe);
			n++;
		}
		io_uring_cq_advance(&sc.ring, n);
	}
	io_uring_queue_exit(&sc.ring);
	for (unsigned i = 0; i < sc.nslots; i++)
		if (sc.slots[i].fd >= 0)
			close(sc.slots[i].fd);
out_slots:
	free(sc.slots);
	st->elapsed_ns = clk_now_ns() - t0;
	return ret;
}
