// SPDX-License-Identifier: MIT
/*
 * The scanner (tools/scan.h): a fixed pool of connection slots on one io_uring, shared by the
 * address:port targets in flight. A target hands its jobs (probe unit u, prove a connection,
 * identify a unit found, read a fingerprint block) to its connections, each of which keeps up
 * to depth requests outstanding and one receive armed. The one idea: every operation that
 * waits on the peer is linked to a timeout, and a connection's requests expire together when
 * it has been silent for a whole timeout, so a slot's SQEs always come back, a window of
 * silent units costs one timeout, and a slot is reused only when all of them have (its
 * buffers stay valid). The loop is: step every target (expire, refill, finish), fill idle
 * slots, submit and wait, handle what completed.
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

#include "devices/profile.h"
#include "io/modbus.h"
#include "tools/scan.h"
#include "rt/clock.h"

#define PROBE_ADDR	 0 /* FC03, 1 register at 0: reads nothing a device acts on */
#define DEFAULT_PER_HOST 4
#define DEFAULT_DEPTH	 16
#define N_UNITS		 256
#define REQ_MAX		 12 /* the largest request sent: FC03, 12 bytes */

enum slot_state { SL_IDLE, SL_CONNECTING, SL_OPEN, SL_CLOSING };
enum op { OP_CONNECT = 1, OP_SEND, OP_RECV, OP_TIMEOUT };

/* What a unit id is on one target. */
enum ustate {
	U_NEW,	 /* not asked yet, or asked on a connection that died: to ask */
	U_SENT,	 /* a probe is outstanding */
	U_DOUBT, /* silent on a connection that had not been served yet */
	U_RETRY, /* to ask again, on a served connection */
	U_DONE,	 /* present (in found[]) or absent */
};

/* What a request asks. */
enum job {
	JOB_PROBE, /* FC03 1 register at 0: is the unit there? */
	JOB_PROOF, /* the same, of a unit known present: is this connection served? */
	JOB_DEVID, /* FC43/14 basic */
	JOB_FP,	   /* JOB_FP + i: FC03 of fingerprint i's first poll block */
};

/* A fingerprint: a shipped profile (loaded by scan_run(), scanner.fp_prof) and its test. */
struct fingerprint {
	const char *name;
	bool (*looks_like)(const struct prof_profile *p, const uint16_t *regs, unsigned n,
			   char *buf, size_t cap);
};

static const struct fingerprint fps[] = {
	{ "powerpack", scan_looks_like_powerpack },
	{ "acuvim2", scan_looks_like_acuvim2 },
};

#define N_FP	   (sizeof(fps) / sizeof(fps[0]))
#define FOLLOW_UPS ((1u << (JOB_FP + N_FP)) - (1u << JOB_DEVID)) /* job bits asked of a unit */

/* A unit found, until it is reported. */
struct found {
	struct scan_result r;
	unsigned todo;	  /* follow-up job bits not sent yet */
	unsigned pending; /* ... outstanding */
	unsigned retried; /* ... asked again after silence on a connection not served yet */
	bool is_reported;
};

/* A request outstanding on a connection. */
struct pend {
	struct mb_req req; /* tid and unit; fc, addr, qty of an FC03 */
	uint8_t job;
	uint8_t tx_len;
	uint8_t tx[REQ_MAX];
	int64_t sent_ns;
};

/* One address:port being scanned. Owned by the scan_run() caller's thread, like all below. */
struct target {
	bool is_used;
	bool is_connected; /* the first connection got through */
	bool is_proven;	   /* a unit answered: proof_unit */
	bool is_failed;	   /* a bad reply: the stream is not to be trusted */
	bool is_closing;   /* done: its connections are closing */
	bool is_lost;	   /* its last connection failed (conn_err) */
	uint8_t proof_unit;
	int conn_err;
	unsigned conns[SCAN_MAX_PER_HOST]; /* slot indices of the connections attached */
	unsigned nconns;
	unsigned opened; /* connections opened so far: their serials are 0..opened-1 */
	bool is_serial_open[SCAN_MAX_PER_HOST];
	unsigned cursor; /* no unit below it is U_NEW */
	unsigned probed; /* distinct units asked */
	unsigned answered;
	uint32_t addr;
	uint16_t port;
	int64_t t_start;
	uint8_t ustate[N_UNITS];
	uint8_t owner[N_UNITS]; /* U_DOUBT: serial of the connection that heard the silence */
	bool was_probed[N_UNITS];
	struct found *found;
	unsigned nfound, found_cap;
};

/* One connection. */
struct slot {
	enum slot_state state;
	int fd;
	unsigned ops; /* SQEs submitted whose CQEs have not come back */
	unsigned tgt;
	unsigned serial;
	bool is_first;	  /* the target's first connection: its connect is the port's verdict */
	bool is_proven;	  /* something answered on it */
	bool needs_proof; /* to send a JOB_PROOF, beyond depth */
	bool has_send;
	bool has_recv;
	int res_connect;
	struct sockaddr_in sa;
	struct __kernel_timespec ts; /* the linked timeout: read by the kernel at submit */
	int64_t t_start;
	int64_t quiet_deadline; /* silence until then with requests outstanding: they expire */
	uint16_t next_tid;	/* TIDs 1..next_tid-1 were sent on this connection */
	struct pend out[SCAN_MAX_DEPTH + 1]; /* + a proof */
	unsigned nout;
	uint8_t txbuf[(SCAN_MAX_DEPTH + 1) * REQ_MAX];
	unsigned tx_len; /* bytes of txbuf being sent */
	uint8_t in[MB_ADU_MAX];
	struct mb_splitter split;
};

struct scanner {
	const struct scan_cfg *cfg;
	struct scan_stats *st;
	struct io_uring ring;
	struct slot *slots;
	unsigned nslots;
	struct target *tgts; /* nslots of them: a target in flight holds a slot */
	unsigned per_host;
	unsigned depth;
	/* target cursor: address offset in range ri, port index pi */
	unsigned ri;
	uint64_t off;
	unsigned pi;
	bool is_exhausted; /* every target handed out */
	bool is_stopping;
	struct prof_profile *fp_prof[N_FP]; /* fps[i]'s shipped profile, loaded by scan_run() */
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

/* The point's plausible range when the profile gives one, else [lo, hi]. */
static void plausible(const struct prof_point *pt, double *lo, double *hi)
{
	if (pt->has_range) {
		*lo = pt->range_lo;
		*hi = pt->range_hi;
	}
}

bool scan_looks_like_powerpack(const struct prof_profile *p, const uint16_t *regs, unsigned n,
			       char *buf, size_t cap)
{
	int st = prof_role_point(p, PROF_ROLE_STATUS), soe = prof_role_point(p, PROF_ROLE_SOE);
	struct prof_value v[PROF_MAX_POINTS] = { 0 };
	double lo = 0, hi = 100;
	const char *name;

	if (st < 0 || soe < 0 || !p->n_blocks)
		return false;
	prof_decode_block(p, 0, p->default_order, regs, n, 0, v);
	if (!v[st].is_valid || !v[soe].is_valid)
		return false;
	name = prof_enum_name(&p->points[st], (uint16_t)v[st].value);
	plausible(&p->points[soe], &lo, &hi);
	if (!name || v[soe].value < lo || v[soe].value > hi)
		return false;
	snprintf(buf, cap, "%u %s, %u SOE %.0f in %g..%g", p->points[st].addr, name,
		 p->points[soe].addr, v[soe].value, lo, hi);
	return true;
}

bool scan_looks_like_acuvim2(const struct prof_profile *p, const uint16_t *regs, unsigned n,
			     char *buf, size_t cap)
{
	int u = prof_point_index(p, "voltage_l1n_v"), f = prof_role_point(p, PROF_ROLE_FREQUENCY);
	struct prof_value v[PROF_MAX_POINTS] = { 0 };
	double hz_lo = 40, hz_hi = 70, volts, hz;

	if (u < 0 || f < 0 || !p->n_blocks)
		return false;
	prof_decode_block(p, 0, p->default_order, regs, n, 0, v);
	if (!v[u].is_valid || !v[f].is_valid)
		return false;
	volts = v[u].value;
	hz = v[f].value;
	plausible(&p->points[f], &hz_lo, &hz_hi);
	if (!(volts >= 50 && volts <= 1000 && hz >= hz_lo && hz <= hz_hi))
		return false;
	snprintf(buf, cap, "0x%04X %.1f %s, 0x%04X %.1f %s", p->points[u].addr, volts,
		 p->points[u].unit, p->points[f].addr, hz, p->points[f].unit);
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

/* Room for n SQEs, submitting what is queued if need be: a linked pair is never split. */
static void reserve_sqes(struct scanner *sc, unsigned n)
{
	if (io_uring_sq_space_left(&sc->ring) < n)
		io_uring_submit(&sc->ring);
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

/* Queue a timeout of ns linked to the SQE just prepared (reserve_sqes() made room). */
static void link_timeout(struct scanner *sc, unsigned idx, int64_t ns)
{
	struct slot *s = &sc->slots[idx];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sc->ring);

	if (!sqe)
		return; /* cannot happen after reserve_sqes(); the op then ends by itself */
	set_timeout(s, ns);
	io_uring_prep_link_timeout(sqe, &s->ts, 0);
	io_uring_sqe_set_data64(sqe, ud(idx, OP_TIMEOUT));
	s->ops++;
}

/* ---- findings ----------------------------------------------------------------------- */

static struct scan_result tgt_result(const struct target *t, enum scan_kind kind, int err)
{
	return (struct scan_result){ .kind = kind,
				     .addr = t->addr,
				     .port = t->port,
				     .err = err,
				     .probed = t->probed,
				     .rtt_ns = clk_now_ns() - t->t_start };
}

static void report(struct scanner *sc, const struct scan_result *r)
{
	switch (r->kind) {
	case SCAN_UNIT:
	case SCAN_UNIT_EXC:
		sc->st->units++;
		break;
	case SCAN_BAD_REPLY:
		sc->st->bad_replies++;
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
		sc->cfg->report(sc->cfg->arg, r);
}

static struct found *find_found(struct target *t, unsigned unit)
{
	for (unsigned i = 0; i < t->nfound; i++)
		if (t->found[i].r.unit == unit)
			return &t->found[i];
	return NULL;
}

static void report_found(struct scanner *sc, struct found *f)
{
	if (f->is_reported)
		return;
	f->is_reported = true;
	report(sc, &f->r);
}

/* A follow-up of f answered or given up: the unit is reported when its last one is. */
static void followup_done(struct scanner *sc, struct found *f, unsigned job)
{
	f->pending &= ~(1u << job);
	if (!f->todo && !f->pending)
		report_found(sc, f);
}

static bool is_absent_exc(int err)
{
	return err == -MB_EXC(MB_EX_GATEWAY_PATH_UNAVAILABLE) ||
	       err == -MB_EXC(MB_EX_GATEWAY_TARGET_FAILED);
}

static bool is_exc(int err)
{
	return -err >= MB_EXC_BASE && -err < MB_EXC_END;
}

/* ---- units and connections of a target ---------------------------------------------- */

/* The connection that heard silence `serial` was served: its silences were absences. */
static void settle_doubts(struct target *t, unsigned serial)
{
	for (unsigned u = 0; u < N_UNITS; u++)
		if (t->ustate[u] == U_DOUBT && t->owner[u] == serial)
			t->ustate[u] = U_DONE;
}

/* Units doubted by connections gone unserved are asked again, once a unit answered. */
static void retry_orphan_doubts(struct target *t)
{
	if (!t->is_proven)
		return;
	for (unsigned u = 0; u < N_UNITS; u++)
		if (t->ustate[u] == U_DOUBT && !t->is_serial_open[t->owner[u]])
			t->ustate[u] = U_RETRY;
}

static void conn_served(struct target *t, struct slot *s)
{
	if (s->is_proven)
		return;
	s->is_proven = true;
	s->needs_proof = false;
	settle_doubts(t, s->serial);
}

/* The first unit of t answered: every connection not served yet has to prove it is. */
static void target_proven(struct scanner *sc, struct target *t, uint8_t unit)
{
	t->is_proven = true;
	t->proof_unit = unit;
	for (unsigned i = 0; i < t->nconns; i++) {
		struct slot *c = &sc->slots[t->conns[i]];

		if (c->state == SL_OPEN && !c->is_proven)
			c->needs_proof = true;
	}
	retry_orphan_doubts(t);
}

static void add_found(struct scanner *sc, struct target *t, uint8_t unit, int err, uint16_t value,
		      int64_t rtt_ns)
{
	struct scan_result r = tgt_result(t, err ? SCAN_UNIT_EXC : SCAN_UNIT, err);
	struct found *f;

	r.unit = unit;
	r.value = value;
	r.rtt_ns = rtt_ns;
	if (!t->is_proven)
		target_proven(sc, t, unit);
	if (t->nfound == t->found_cap) {
		unsigned cap = t->found_cap ? 2 * t->found_cap : 4;
		struct found *p = realloc(t->found, cap * sizeof(*p));

		if (!p) {
			report(sc, &r); /* no memory to identify it: said as it is */
			return;
		}
		t->found = p;
		t->found_cap = cap;
	}
	f = &t->found[t->nfound++];
	*f = (struct found){ .r = r, .todo = sc->cfg->is_identifying ? FOLLOW_UPS : 0 };
	if (!f->todo)
		report_found(sc, f);
}

/* The next job for connection s of t. Returns false when there is none for it now. */
static bool pull_job(struct scanner *sc, struct slot *s, struct target *t, uint8_t *unit,
		     unsigned *job)
{
	if (s->needs_proof) {
		s->needs_proof = false;
		*unit = t->proof_unit;
		*job = JOB_PROOF;
		return true;
	}
	if (s->is_proven)
		for (unsigned u = sc->cfg->unit_first; u <= sc->cfg->unit_last; u++)
			if (t->ustate[u] == U_RETRY) {
				t->ustate[u] = U_SENT;
				*unit = (uint8_t)u;
				*job = JOB_PROBE;
				return true;
			}
	for (unsigned i = 0; i < t->nfound; i++) {
		struct found *f = &t->found[i];

		if (f->todo) {
			unsigned j = (unsigned)__builtin_ctz(f->todo);

			f->todo &= ~(1u << j);
			f->pending |= 1u << j;
			*unit = f->r.unit;
			*job = j;
			return true;
		}
	}
	for (; t->cursor <= sc->cfg->unit_last; t->cursor++) {
		unsigned u = t->cursor;

		if (t->ustate[u] != U_NEW)
			continue;
		t->ustate[u] = U_SENT;
		if (!t->was_probed[u]) {
			t->was_probed[u] = true;
			t->probed++;
		}
		*unit = (uint8_t)u;
		*job = JOB_PROBE;
		t->cursor++;
		return true;
	}
	return false;
}

/* Encode job for unit into s->out[s->nout] and the send buffer. */
static void add_request(struct scanner *sc, struct slot *s, uint8_t unit, unsigned job, int64_t now)
{
	struct pend *p = &s->out[s->nout];
	int n;

	*p = (struct pend){ .job = (uint8_t)job, .sent_ns = now };
	p->req = (struct mb_req){ .tid = s->next_tid,
				  .unit = unit,
				  .fc = MB_FC_READ_HOLDING_REGISTERS,
				  .addr = PROBE_ADDR,
				  .qty = 1 };
	if (job == JOB_DEVID) {
		p->req.fc = SCAN_FC_MEI;
		n = scan_encode_devid_req(p->tx, sizeof(p->tx), p->req.tid, unit);
	} else {
		if (job >= JOB_FP) {
			const struct prof_block *b = &sc->fp_prof[job - JOB_FP]->blocks[0];

			p->req.fc = b->fc;
			p->req.addr = b->start;
			p->req.qty = b->count;
		}
		n = mb_encode_req(p->tx, sizeof(p->tx), &p->req);
	}
	if (n <= 0 || (size_t)n > sizeof(p->tx))
		return; /* not for the tables above; the job stays outstanding on its own */
	p->tx_len = (uint8_t)n;
	memcpy(s->txbuf + s->tx_len, p->tx, (size_t)n);
	s->tx_len += (unsigned)n;
	s->nout++;
	s->next_tid++;
	sc->st->requests++;
}

/* Put the jobs outstanding on s back, to be asked elsewhere (s is going away). */
static void requeue(struct scanner *sc, struct slot *s, struct target *t)
{
	for (unsigned i = 0; i < s->nout; i++) {
		const struct pend *p = &s->out[i];
		unsigned u = p->req.unit;
		struct found *f;

		if (p->job == JOB_PROBE) {
			t->ustate[u] = U_NEW;
			if (u < t->cursor)
				t->cursor = u;
		} else if (p->job >= JOB_DEVID && (f = find_found(t, u))) {
			f->pending &= ~(1u << p->job);
			f->todo |= 1u << p->job;
		}
	}
	s->nout = 0;
	(void)sc;
}

static void conn_release(struct scanner *sc, unsigned idx);

/* Close connection idx: shut it down now, free its slot when its last CQE is back. */
static void conn_close(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];

	if (s->state == SL_OPEN) {
		s->state = SL_CLOSING;
		shutdown(s->fd, SHUT_RDWR); /* the receive in flight ends now */
	}
	if (s->state == SL_CLOSING && s->ops == 0)
		conn_release(sc, idx);
}

/* Connection idx failed with err: its jobs go back to the target, which carries on. */
static void conn_fail(struct scanner *sc, unsigned idx, int err)
{
	struct slot *s = &sc->slots[idx];
	struct target *t = &sc->tgts[s->tgt];

	t->conn_err = err;
	requeue(sc, s, t);
	conn_close(sc, idx);
}

static void conn_release(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	struct target *t = &sc->tgts[s->tgt];

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = SL_IDLE;
	s->nout = 0;
	for (unsigned i = 0; i < t->nconns; i++)
		if (t->conns[i] == idx) {
			t->conns[i] = t->conns[--t->nconns];
			break;
		}
	t->is_serial_open[s->serial] = false;
	retry_orphan_doubts(t);
	if (t->nconns == 0 && !t->is_closing) {
		/* The last connection of a port that was not done: it failed. */
		t->is_lost = t->is_connected;
		t->is_closing = true;
	}
}

/* Every connection of t closes; the target is reported once they have. */
static void tgt_close(struct scanner *sc, struct target *t)
{
	unsigned conns[SCAN_MAX_PER_HOST], n = t->nconns;

	t->is_closing = true;
	memcpy(conns, t->conns, n * sizeof(conns[0]));
	for (unsigned i = 0; i < n; i++) {
		requeue(sc, &sc->slots[conns[i]], t);
		conn_close(sc, conns[i]);
	}
}

/* ---- replies ------------------------------------------------------------------------ */

/* A malformed reply, or one for no request outstanding (p NULL): the port is given up. */
static void bad_reply(struct scanner *sc, unsigned idx, const struct pend *p, int err,
		      const uint8_t *frame, size_t len)
{
	struct slot *s = &sc->slots[idx];
	struct target *t = &sc->tgts[s->tgt];
	struct scan_result r = tgt_result(t, SCAN_BAD_REPLY, err);

	if (!p && s->nout)
		p = &s->out[0]; /* show the oldest request outstanding */
	r.unit = p ? p->req.unit : frame && len > 6 ? frame[6] : 0;
	if (p) {
		r.tx_len = p->tx_len;
		memcpy(r.tx, p->tx, p->tx_len);
		r.rtt_ns = clk_now_ns() - p->sent_ns;
	}
	r.rx_len = (unsigned)(len < sizeof(r.rx) ? len : sizeof(r.rx));
	if (frame)
		memcpy(r.rx, frame, r.rx_len);
	t->answered++;
	t->is_failed = true;
	report(sc, &r);
	tgt_close(sc, t);
}

/* The reply to p (taken off s) arrived: frame, len. */
static void on_reply(struct scanner *sc, unsigned idx, const struct pend *p, const uint8_t *frame,
		     size_t len)
{
	struct slot *s = &sc->slots[idx];
	struct target *t = &sc->tgts[s->tgt];
	uint8_t u = p->req.unit;
	struct found *f = p->job >= JOB_DEVID ? find_found(t, u) : NULL;
	uint16_t regs[MB_MAX_READ_REGS];
	struct mb_rsp rsp;
	int err;

	if (p->job == JOB_DEVID) {
		if (!f)
			return;
		err = scan_decode_devid_rsp(frame, len, p->req.tid, u, &f->r.devid);
		f->r.has_devid = err == 0;
		f->r.devid_err = err;
		if (err && !is_exc(err))
			sc->st->bad_replies++; /* counted; the unit's line says which */
		conn_served(t, s);
		followup_done(sc, f, p->job);
		return;
	}
	err = mb_decode_rsp(&p->req, frame, len, 0, &rsp);
	if (p->job >= JOB_FP) {
		if (!f)
			return;
		if (err == 0) {
			const struct fingerprint *fp = &fps[p->job - JOB_FP];

			mb_regs_from_wire(regs, rsp.data, p->req.qty);
			if (!f->r.profile &&
			    fp->looks_like(sc->fp_prof[p->job - JOB_FP], regs, p->req.qty,
					   f->r.evidence, sizeof(f->r.evidence)))
				f->r.profile = fp->name;
		} else if (!is_exc(err)) {
			f->r.fp_err = err;
			sc->st->bad_replies++;
		}
		conn_served(t, s);
		followup_done(sc, f, p->job);
		return;
	}
	if (err && !is_exc(err)) {
		bad_reply(sc, idx, p, err, frame, len);
		return;
	}
	conn_served(t, s);
	if (p->job == JOB_PROOF)
		return;
	t->ustate[u] = U_DONE;
	if (is_absent_exc(err))
		return;
	t->answered++;
	add_found(sc, t, u, err, err ? 0 : mb_get_u16(rsp.data), clk_now_ns() - p->sent_ns);
}

static struct pend *find_pend(struct slot *s, bool by_tid, unsigned v)
{
	for (unsigned i = 0; i < s->nout; i++)
		if (by_tid ? s->out[i].req.tid == v : s->out[i].req.unit == v)
			return &s->out[i];
	return NULL;
}

/* One whole frame arrived on connection idx: match it by TID and unit. */
static void on_frame(struct scanner *sc, unsigned idx, const uint8_t *frame, size_t len)
{
	struct slot *s = &sc->slots[idx];
	uint16_t tid = mb_peek_tid(frame);
	uint8_t unit = frame[6];
	struct pend *p = find_pend(s, true, tid), *by_unit, *oldest, taken;

	if (p && p->req.unit == unit) {
		taken = *p;
		/* out[] stays in the order sent: out[0] is the oldest */
		memmove(p, p + 1, (size_t)(s->out + s->nout - (p + 1)) * sizeof(*p));
		s->nout--;
		s->quiet_deadline = clk_now_ns() + sc->cfg->timeout_ns;
		on_reply(sc, idx, &taken, frame, len);
		return;
	}
	if (!p && tid >= 1 && tid < s->next_tid) {
		sc->st->late++; /* the reply to a request that timed out: dropped */
		return;
	}
	/*
	 * A TID never sent, or a TID and unit that do not go together. A server answers in
	 * order, so the oldest request outstanding is the one answered: its unit with another
	 * TID is a wrong TID, its TID with another unit a wrong unit.
	 */
	oldest = s->nout ? &s->out[0] : NULL;
	by_unit = find_pend(s, false, unit);
	if (oldest && oldest->req.unit == unit)
		bad_reply(sc, idx, oldest, -MB_ETID, frame, len);
	else if (oldest && oldest->req.tid == tid)
		bad_reply(sc, idx, oldest, -MB_EUNIT, frame, len);
	else if (p)
		bad_reply(sc, idx, p, -MB_EUNIT, frame, len);
	else
		bad_reply(sc, idx, by_unit ? by_unit : oldest, -MB_ETID, frame, len);
}

/* p got no answer within the timeout. */
static void on_silence(struct scanner *sc, unsigned idx, const struct pend *p)
{
	struct slot *s = &sc->slots[idx];
	struct target *t = &sc->tgts[s->tgt];
	unsigned u = p->req.unit, bit = 1u << p->job;
	struct found *f;

	switch (p->job) {
	case JOB_PROBE:
		if (s->is_proven) {
			t->ustate[u] = U_DONE;
		} else {
			t->ustate[u] = U_DOUBT;
			t->owner[u] = (uint8_t)s->serial;
		}
		return;
	case JOB_PROOF:
		/* A unit that answers elsewhere is silent here: nobody serves this connection. */
		conn_close(sc, idx);
		return;
	default:
		f = find_found(t, u);
		if (!f)
			return;
		if (!s->is_proven && !(f->retried & bit)) {
			f->retried |= bit;
			f->pending &= ~bit;
			f->todo |= bit;
			return;
		}
		if (p->job == JOB_DEVID)
			f->r.devid_err = -ETIMEDOUT;
		followup_done(sc, f, p->job);
	}
}

/* The connection was silent for a whole timeout: everything outstanding on it expires. */
static void expire_all(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	struct pend out[SCAN_MAX_DEPTH + 1];
	unsigned n = s->nout;
	int proof = -1;

	memcpy(out, s->out, n * sizeof(out[0]));
	s->nout = 0;
	for (unsigned i = 0; i < n; i++) {
		if (out[i].job == JOB_PROOF)
			proof = (int)i; /* last: it may close the connection */
		else
			on_silence(sc, idx, &out[i]);
	}
	if (proof >= 0)
		on_silence(sc, idx, &out[proof]);
}

static void on_recv_done(struct scanner *sc, unsigned idx, int res)
{
	struct slot *s = &sc->slots[idx];

	if (res > 0) {
		const uint8_t *p = s->in;
		size_t n = (size_t)res;

		for (unsigned i = 0; n && i < sizeof(s->in); i++) {
			const uint8_t *frame;
			size_t used;
			int k = mb_split(&s->split, p, n, &used, &frame);

			p += used;
			n -= used;
			if (k < 0) {
				bad_reply(sc, idx, NULL, k, s->in, (size_t)res);
				return;
			}
			if (k > 0)
				on_frame(sc, idx, frame, (size_t)k);
			if (s->state != SL_OPEN)
				return;
		}
		return;
	}
	if (res == 0) {
		conn_fail(sc, idx, -ECONNRESET);
	} else if (res == -ECANCELED || res == -ETIME || res == -EINTR) {
		if (clk_now_ns() >= s->quiet_deadline)
			expire_all(sc, idx);
	} else {
		conn_fail(sc, idx, res);
	}
}

/* ---- connections -------------------------------------------------------------------- */

/* Open a connection for t on slot idx. Returns 0 or -errno (slot left idle). */
static int conn_open(struct scanner *sc, unsigned idx, struct target *t, bool is_first)
{
	struct slot *s = &sc->slots[idx];
	struct io_uring_sqe *sqe;
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*s = (struct slot){ .state = SL_CONNECTING,
			    .fd = fd,
			    .tgt = (unsigned)(t - sc->tgts),
			    .serial = t->opened,
			    .is_first = is_first,
			    .res_connect = -ECANCELED,
			    .next_tid = 1,
			    .t_start = clk_now_ns() };
	s->sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(t->port),
				      .sin_addr.s_addr = htonl(t->addr) };
	t->is_serial_open[t->opened++] = true;
	t->conns[t->nconns++] = idx;
	reserve_sqes(sc, 2);
	sqe = io_uring_get_sqe(&sc->ring);
	if (!sqe) {
		conn_release(sc, idx); /* the ring's SQ cannot be full after reserve_sqes() */
		return -ENOMEM;
	}
	io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&s->sa, sizeof(s->sa));
	io_uring_sqe_set_data64(sqe, ud(idx, OP_CONNECT));
	sqe->flags |= IOSQE_IO_LINK;
	s->ops++;
	link_timeout(sc, idx, sc->cfg->timeout_ns);
	return 0;
}

static void on_connect_done(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	struct target *t = &sc->tgts[s->tgt];
	int r = s->res_connect;
	struct scan_result res;

	if (r == 0 && !t->is_closing && !sc->is_stopping) {
		if (s->is_first) {
			sc->st->open++;
			t->is_connected = true;
		}
		s->state = SL_OPEN;
		s->needs_proof = t->is_proven;
		mb_split_reset(&s->split);
		return;
	}
	if (s->is_first && r != 0) {
		if (r == -ECONNREFUSED)
			res = tgt_result(t, SCAN_REFUSED, r);
		else if (r == -ECANCELED || r == -ETIME || r == -EINTR)
			res = tgt_result(t, SCAN_NO_ANSWER, -ETIMEDOUT);
		else
			res = tgt_result(t, SCAN_CONN_ERR, r);
		report(sc, &res);
		t->is_closing = true; /* the port's verdict is said */
	}
	/* A further connection that fails is only not used. */
	s->state = SL_CLOSING;
	conn_release(sc, idx);
}

/* Send what s can take now, and keep a receive armed. */
static void pump(struct scanner *sc, unsigned idx)
{
	struct slot *s = &sc->slots[idx];
	struct target *t = &sc->tgts[s->tgt];
	int64_t now = clk_now_ns();
	struct io_uring_sqe *sqe;

	if (s->state != SL_OPEN)
		return;
	if (!s->has_send && !t->is_closing) {
		uint8_t unit;
		unsigned job;

		while (s->nout <= sc->depth && s->next_tid < UINT16_MAX) {
			if (s->nout == sc->depth && !s->needs_proof)
				break;
			if (!pull_job(sc, s, t, &unit, &job))
				break;
			add_request(sc, s, unit, job, now);
		}
		if (s->tx_len) {
			reserve_sqes(sc, 1);
			sqe = io_uring_get_sqe(&sc->ring);
			if (!sqe) {
				conn_fail(sc, idx, -ENOMEM);
				return;
			}
			io_uring_prep_send(sqe, s->fd, s->txbuf, s->tx_len, MSG_NOSIGNAL);
			io_uring_sqe_set_data64(sqe, ud(idx, OP_SEND));
			s->ops++;
			s->has_send = true;
			s->quiet_deadline = now + sc->cfg->timeout_ns;
		}
	}
	if (!s->has_recv) {
		if (!s->nout && !s->has_send)
			s->quiet_deadline = now + sc->cfg->timeout_ns; /* idle: a fresh wait */
		reserve_sqes(sc, 2);
		sqe = io_uring_get_sqe(&sc->ring);
		if (!sqe) {
			conn_fail(sc, idx, -ENOMEM);
			return;
		}
		io_uring_prep_recv(sqe, s->fd, s->in, sizeof(s->in), 0);
		io_uring_sqe_set_data64(sqe, ud(idx, OP_RECV));
		sqe->flags |= IOSQE_IO_LINK;
		s->ops++;
		s->has_recv = true;
		link_timeout(sc, idx, s->quiet_deadline - now);
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
	if (s->ops)
		s->ops--;
	switch ((enum op)(data & 0xFF)) {
	case OP_CONNECT:
		s->res_connect = cqe->res;
		break;
	case OP_SEND:
		s->has_send = false;
		if (s->state == SL_OPEN && cqe->res != (int)s->tx_len)
			conn_fail(sc, idx, cqe->res < 0 ? cqe->res : -EIO);
		s->tx_len = 0;
		break;
	case OP_RECV:
		s->has_recv = false;
		if (s->state == SL_OPEN)
			on_recv_done(sc, idx, cqe->res);
		break;
	case OP_TIMEOUT:
		break;
	}
	if (s->state == SL_CONNECTING && s->ops == 0)
		on_connect_done(sc, idx);
	else if (s->state == SL_CLOSING && s->ops == 0)
		conn_release(sc, idx);
}

/* ---- targets ------------------------------------------------------------------------ */

/* Is there a job outstanding on a connection of t, or one for a connection open or opening? */
static bool tgt_is_busy(struct scanner *sc, struct target *t)
{
	bool is_served = false, is_live = false, is_opening = false;

	for (unsigned i = 0; i < t->nconns; i++) {
		const struct slot *c = &sc->slots[t->conns[i]];

		if (c->state == SL_CONNECTING)
			is_opening = true;
		if (c->state != SL_OPEN)
			continue;
		is_live = true;
		is_served |= c->is_proven;
		if (c->nout || c->has_send || c->needs_proof)
			return true;
	}
	if (!t->is_connected)
		return is_opening; /* the first connect is still under way */
	if (!is_live && !is_opening)
		return false;
	for (unsigned i = 0; i < t->nfound; i++)
		if (t->found[i].todo || t->found[i].pending)
			return true;
	/* A connection still opening proves itself first (a proof), then may take retries. */
	for (unsigned u = sc->cfg->unit_first; u <= sc->cfg->unit_last; u++)
		if (t->ustate[u] == U_NEW || ((is_served || is_opening) && t->ustate[u] == U_RETRY))
			return true; /* U_NEW is never below the cursor, U_RETRY may be */
	return false;
}

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return (int)x->r.unit - (int)y->r.unit;
}

/* Every connection of t is gone: say what is left to say, free the target. */
static void tgt_finish(struct scanner *sc, struct target *t)
{
	struct scan_result r;

	if (t->nfound)
		qsort(t->found, t->nfound, sizeof(t->found[0]), cmp_found);
	for (unsigned i = 0; i < t->nfound; i++) {
		struct found *f = &t->found[i];

		/* Identification cut short (a stop, a lost connection): say so. */
		if ((f->todo | f->pending) & (1u << JOB_DEVID) && !f->r.has_devid)
			f->r.devid_err = -ECANCELED;
		report_found(sc, f);
	}
	if (t->is_connected && !t->is_failed) {
		if (t->is_lost) {
			r = tgt_result(t, SCAN_CONN_ERR, t->conn_err ? t->conn_err : -EIO);
			report(sc, &r);
		} else if (!t->answered) {
			r = tgt_result(t, SCAN_OPEN, 0);
			report(sc, &r);
		}
	}
	free(t->found);
	*t = (struct target){ 0 };
}

/* Start the next address:port on slot idx. Returns false when there is none. */
static bool tgt_start(struct scanner *sc, unsigned idx)
{
	struct target *t = NULL;
	uint32_t addr;
	uint16_t port;
	int err;

	for (unsigned i = 0; i < sc->nslots && !t; i++)
		if (!sc->tgts[i].is_used)
			t = &sc->tgts[i];
	if (!t)
		return false;
	if (sc->is_exhausted || !next_target(sc, &addr, &port)) {
		sc->is_exhausted = true;
		return false;
	}
	sc->st->targets++;
	*t = (struct target){ .is_used = true,
			      .addr = addr,
			      .port = port,
			      .cursor = sc->cfg->unit_first,
			      .t_start = clk_now_ns() };
	err = conn_open(sc, idx, t, true);
	if (err) {
		struct scan_result r = tgt_result(t, SCAN_CONN_ERR, err);

		report(sc, &r);
		t->is_closing = true;
		if (!t->nconns)
			tgt_finish(sc, t);
	}
	return true;
}

/* One turn of the loop's bookkeeping: every target refills, ends or is reported; idle slots
 * get a further connection to a port with units left, else the next address:port. */
static void step(struct scanner *sc)
{
	unsigned next_idle = 0;

	for (unsigned i = 0; i < sc->nslots; i++) {
		struct target *t = &sc->tgts[i];
		unsigned conns[SCAN_MAX_PER_HOST], n;

		if (!t->is_used)
			continue;
		n = t->nconns;
		memcpy(conns, t->conns, n * sizeof(conns[0]));
		for (unsigned k = 0; k < n && !t->is_closing && !sc->is_stopping; k++)
			pump(sc, conns[k]);
		if (!t->is_closing && (sc->is_stopping || !tgt_is_busy(sc, t)))
			tgt_close(sc, t);
		if (t->is_closing && !t->nconns)
			tgt_finish(sc, t);
	}
	if (sc->is_stopping)
		return;
	for (unsigned i = 0; i < sc->nslots; i++) {
		struct target *t = &sc->tgts[i];

		unsigned n_new = 0, connecting = 0;

		if (!t->is_used || !t->is_connected || t->is_closing)
			continue;
		/* The open connections took what they could: units left over want another. */
		for (unsigned u = t->cursor; u <= sc->cfg->unit_last; u++)
			n_new += t->ustate[u] == U_NEW;
		for (unsigned k = 0; k < t->nconns; k++)
			connecting += sc->slots[t->conns[k]].state == SL_CONNECTING;
		while (t->opened < sc->per_host && n_new > connecting * sc->depth) {
			while (next_idle < sc->nslots && sc->slots[next_idle].state != SL_IDLE)
				next_idle++;
			if (next_idle == sc->nslots || conn_open(sc, next_idle, t, false))
				break;
			connecting++;
		}
	}
	for (;;) {
		while (next_idle < sc->nslots && sc->slots[next_idle].state != SL_IDLE)
			next_idle++;
		if (next_idle == sc->nslots || !tgt_start(sc, next_idle))
			break;
	}
}

/* Stop early: start nothing new, close every connection now. */
static void begin_stop(struct scanner *sc)
{
	sc->is_stopping = true;
	sc->st->is_interrupted = true;
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
	    cfg->concurrency > SCAN_MAX_CONCURRENCY || cfg->per_host > SCAN_MAX_PER_HOST ||
	    cfg->depth > SCAN_MAX_DEPTH)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nports; i++)
		if (!cfg->ports[i])
			return -EINVAL;
	*st = (struct scan_stats){ 0 };
	for (unsigned i = 0; i < N_FP; i++) {
		char msg[256];

		ret = prof_load_builtin(fps[i].name, &sc.fp_prof[i], msg, sizeof(msg));
		if (ret)
			goto out_profiles;
	}
	sc.per_host = cfg->per_host ? cfg->per_host : DEFAULT_PER_HOST;
	sc.depth = cfg->depth ? cfg->depth : DEFAULT_DEPTH;
	total = scan_count(cfg->ranges, cfg->nranges) * cfg->nports;
	sc.nslots = total * sc.per_host < cfg->concurrency ? (unsigned)total * sc.per_host
							   : cfg->concurrency;
	sc.slots = calloc(sc.nslots, sizeof(*sc.slots));
	sc.tgts = calloc(sc.nslots, sizeof(*sc.tgts));
	ret = -ENOMEM;
	if (!sc.slots || !sc.tgts)
		goto out_free;
	for (unsigned i = 0; i < sc.nslots; i++)
		sc.slots[i].fd = -1;
	/* A slot has at most 5 SQEs (connect or send, recv, and their timeouts) between two
	 * submits; reserve_sqes() submits early if ever the SQ is short. */
	while (entries < 4 * sc.nslots + 8 && entries < 32768)
		entries *= 2;
	ret = io_uring_queue_init(entries, &sc.ring, 0);
	if (ret < 0)
		goto out_free;
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int r;

		step(&sc);
		if (!is_busy(&sc))
			break;
		r = io_uring_submit_and_wait(&sc.ring, 1);
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
	for (unsigned i = 0; i < sc.nslots; i++) {
		if (sc.slots[i].fd >= 0)
			close(sc.slots[i].fd);
		free(sc.tgts[i].found);
	}
out_free:
	free(sc.tgts);
	free(sc.slots);
out_profiles:
	for (unsigned i = 0; i < N_FP; i++)
		prof_free(sc.fp_prof[i]);
	st->elapsed_ns = clk_now_ns() - t0;
	return ret;
}
