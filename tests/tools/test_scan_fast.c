// SPDX-License-Identifier: MIT
/*
 * Tests of the scan's pipelined probing and its identification (tools/scan.c), against a
 * small server here that is silent for absent unit ids (as pymodbus is) and against `flux
 * sim`'s devices: a 247-unit scan finds exactly the units present in a few timeouts, not one
 * timeout per unit; connections the server leaves in its listen backlog do not hide a unit;
 * a server that answers one request at a time, or hangs up, is scanned all the same; a reply
 * with a TID never sent is a counted bad reply; each unit found is asked FC43/14 and
 * fingerprinted, in the human output and in --json. Every address is 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "io/modbus.h"
#include "tools/scan.h"
#include "tools/tools.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"
#include "tests/support/json_check.h"
#include "tests/support/toolrun.h"

#define TS_MAX_CONNS 16
#define TS_POLL_MS   20

/*
 * The server: one thread, one poll() loop. Units in `present` answer; every other unit id
 * gets nothing at all. Present units answer FC03 at 0 with unit x 10; FC43 as the unit's
 * role says; FC03 2000 x 29 of the PowerPack look-alike with a READY map.
 */
struct tsrv {
	int lfd;
	uint16_t port;
	pthread_t thread;
	atomic_bool stop;
	bool is_running;
	unsigned max_conns; /* connections served; the rest wait in the backlog */
	uint8_t present[8];
	unsigned npresent;
	uint8_t bad_tid_unit; /* if non-zero: this unit's probe is answered with another TID */
	unsigned close_after; /* if non-zero: a connection is closed after this many requests */
	int serial_ms;	      /* if non-zero: each request takes this long, one at a time */
	unsigned nreq[TS_MAX_CONNS];
	atomic_uint requests;
	atomic_uint accepts;
	int conns[TS_MAX_CONNS];
	struct mb_splitter split[TS_MAX_CONNS];
};

#define TS_PP_UNIT     130 /* answers FC43 and looks like a PowerPack */
#define TS_NO_ID_UNIT  3   /* answers FC43 with exception 0x01 */
#define TS_BAD_ID_UNIT 247 /* answers FC43 with an object past the end of the frame */
#define TS_TIMEOUT_MS  200

static bool ts_is_present(const struct tsrv *s, uint8_t unit)
{
	for (unsigned i = 0; i < s->npresent; i++)
		if (s->present[i] == unit)
			return true;
	return false;
}

/* The reply to one request frame into out. Returns its length, 0 for silence. */
static size_t ts_answer(const struct tsrv *s, const uint8_t *frame, size_t len, uint8_t *out)
{
	static const uint8_t id_ok[] = { 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x04,
					 'T',  'e',  's',  't',	 0x01, 0x07, 'P',  'P',	 ' ',
					 'c',  'l',  'o',  'n',	 0x02, 0x03, '2',  '.',	 '3' };
	static const uint8_t id_bad[] = { 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00,
					  0x02, 0x00, 0x04, 'T',  'e',	's' };
	uint16_t regs[PP_MAP_COUNT] = { 0 };
	uint8_t wire[2 * PP_MAP_COUNT];
	struct mb_req q;
	const uint8_t *pdu = NULL;
	size_t pdu_len = 0;
	int n;

	if (!ts_is_present(s, frame[6]))
		return 0;
	if (len >= 8 && frame[7] == 0x2B) {
		if (frame[6] == TS_PP_UNIT) {
			pdu = id_ok;
			pdu_len = sizeof(id_ok);
		} else if (frame[6] == TS_BAD_ID_UNIT) {
			pdu = id_bad;
			pdu_len = sizeof(id_bad);
		} else {
			q = (struct mb_req){ .tid = mb_peek_tid(frame),
					     .unit = frame[6],
					     .fc = 0x2B };
			n = mb_encode_exception(out, MB_ADU_MAX, &q, MB_EX_ILLEGAL_FUNCTION);
			return n > 0 ? (size_t)n : 0;
		}
		memcpy(out, frame, 7);
		mb_put_u16(out + 4, (uint16_t)(pdu_len + 1));
		memcpy(out + 7, pdu, pdu_len);
		return 7 + pdu_len;
	}
	if (mb_decode_req(frame, len, &q) || q.fc != MB_FC_READ_HOLDING_REGISTERS)
		return 0;
	if (q.addr == 0 && q.qty == 1) {
		regs[0] = (uint16_t)(q.unit * 10);
		if (q.unit == s->bad_tid_unit)
			q.tid = (uint16_t)(q.tid + 1000);
	} else if (q.unit == TS_PP_UNIT && q.addr == PP_MAP_FIRST && q.qty == PP_MAP_COUNT) {
		regs[PP_REG_STATUS - PP_MAP_FIRST] = PP_STATUS_READY;
		regs[PP_REG_SOE - PP_MAP_FIRST] = 42;
	} else {
		n = mb_encode_exception(out, MB_ADU_MAX, &q, MB_EX_ILLEGAL_DATA_ADDRESS);
		return n > 0 ? (size_t)n : 0;
	}
	mb_regs_to_wire(wire, regs, q.qty);
	n = mb_encode_rsp(out, MB_ADU_MAX, &q, wire);
	return n > 0 ? (size_t)n : 0;
}

static void ts_drop(struct tsrv *s, unsigned i)
{
	close(s->conns[i]);
	s->conns[i] = -1;
}

static void ts_read(struct tsrv *s, unsigned i)
{
	uint8_t in[1024], out[MB_ADU_MAX];
	ssize_t n = recv(s->conns[i], in, sizeof(in), MSG_DONTWAIT);
	const uint8_t *p = in;

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			ts_drop(s, i);
		return;
	}
	while (n > 0) {
		const uint8_t *frame;
		size_t used, k;
		int r = mb_split(&s->split[i], p, (size_t)n, &used, &frame);

		p += used;
		n -= (ssize_t)used;
		if (r < 0) {
			ts_drop(s, i);
			return;
		}
		if (r == 0)
			break;
		atomic_fetch_add(&s->requests, 1);
		if (s->serial_ms)
			th_sleep_ms(s->serial_ms);
		k = ts_answer(s, frame, (size_t)r, out);
		/* Small replies on loopback: the socket buffer takes them at once. */
		if ((k && send(s->conns[i], out, k, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)k) ||
		    ++s->nreq[i] == s->close_after) {
			ts_drop(s, i);
			return;
		}
	}
}

static void *ts_main(void *arg)
{
	struct tsrv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd[1 + TS_MAX_CONNS];
		unsigned idx[1 + TS_MAX_CONNS], n = 0, served = 0;

		for (unsigned i = 0; i < TS_MAX_CONNS; i++)
			served += s->conns[i] >= 0;
		if (served < s->max_conns) {
			pfd[n] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
			idx[n++] = TS_MAX_CONNS;
		}
		for (unsigned i = 0; i < TS_MAX_CONNS; i++)
			if (s->conns[i] >= 0) {
				pfd[n] = (struct pollfd){ .fd = s->conns[i], .events = POLLIN };
				idx[n++] = i;
			}
		if (poll(pfd, n, TS_POLL_MS) <= 0)
			continue;
		for (unsigned k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (idx[k] < TS_MAX_CONNS) {
				ts_read(s, idx[k]);
				continue;
			}
			int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd >= 0)
				atomic_fetch_add(&s->accepts, 1);

			for (unsigned i = 0; fd >= 0 && i < TS_MAX_CONNS; i++)
				if (s->conns[i] < 0) {
					s->conns[i] = fd;
					s->nreq[i] = 0;
					mb_split_reset(&s->split[i]);
					fd = -1;
				}
			if (fd >= 0)
				close(fd);
		}
	}
	return NULL;
}

/* Listen on 127.0.0.1 (a port of the OS's choosing) and serve. Returns 0 or -errno. */
static int ts_open(struct tsrv *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int err;

	for (unsigned i = 0; i < TS_MAX_CONNS; i++)
		s->conns[i] = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->lfd, 32) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		close(s->lfd);
		return err;
	}
	s->port = ntohs(sa.sin_port);
	err = -pthread_create(&s->thread, NULL, ts_main, s);
	s->is_running = !err;
	return err;
}

static void ts_close(struct tsrv *s)
{
	if (s->is_running) {
		atomic_store(&s->stop, true);
		pthread_join(s->thread, NULL);
		s->is_running = false;
	}
	for (unsigned i = 0; i < TS_MAX_CONNS; i++)
		if (s->conns[i] >= 0)
			ts_drop(s, i);
	close(s->lfd);
}

/* ---- what the scan reported -------------------------------------------------------- */

struct seen {
	struct scan_result r[64];
	unsigned n;
	unsigned units[8];
	unsigned nunits;
};

static void on_result(void *arg, const struct scan_result *r)
{
	struct seen *s = arg;

	if (s->n < 64)
		s->r[s->n++] = *r;
	if ((r->kind == SCAN_UNIT || r->kind == SCAN_UNIT_EXC) && s->nunits < 8)
		s->units[s->nunits++] = r->unit;
}

static const struct scan_result *seen_unit(const struct seen *s, unsigned unit)
{
	for (unsigned i = 0; i < s->n; i++)
		if ((s->r[i].kind == SCAN_UNIT || s->r[i].kind == SCAN_UNIT_EXC) &&
		    s->r[i].unit == unit)
			return &s->r[i];
	return NULL;
}

static int cmp_uint(const void *a, const void *b)
{
	return (int)*(const unsigned *)a - (int)*(const unsigned *)b;
}

static int scan_port(uint16_t port, uint8_t first, uint8_t last, struct seen *seen,
		     struct scan_stats *st)
{
	struct scan_range range = { 0x7F000001, 0x7F000001 };
	struct scan_cfg cfg = { .ranges = &range,
				.nranges = 1,
				.ports = &port,
				.nports = 1,
				.unit_first = first,
				.unit_last = last,
				.timeout_ns = TS_TIMEOUT_MS * 1000000LL,
				.concurrency = 64,
				.is_identifying = true,
				.report = on_result,
				.arg = seen };
	int err = scan_run(&cfg, st);

	qsort(seen->units, seen->nunits, sizeof(seen->units[0]), cmp_uint);
	return err;
}

/* The acceptance test of issue 15 item 5: 247 unit ids, 3 present, the rest silent. */
static void test_scan_of_247_silent_units_takes_a_few_timeouts(void **state)
{
	struct tsrv *srv = calloc(1, sizeof(*srv));
	struct seen *seen = calloc(1, sizeof(*seen));
	const struct scan_result *r;
	struct scan_stats st;
	int64_t t0, elapsed;

	(void)state;
	*srv = (struct tsrv){ .max_conns = TS_MAX_CONNS,
			      .present = { TS_NO_ID_UNIT, TS_PP_UNIT, TS_BAD_ID_UNIT },
			      .npresent = 3 };
	assert_int_equal(ts_open(srv), 0);
	t0 = th_now_ns();
	assert_int_equal(scan_port(srv->port, 1, 247, seen, &st), 0);
	elapsed = th_now_ns() - t0;
	print_message("247 units, 3 present: %.3f s at a %d ms timeout (%.1f timeouts), %llu "
		      "requests\n",
		      (double)elapsed / 1e9, TS_TIMEOUT_MS, (double)elapsed / (TS_TIMEOUT_MS * 1e6),
		      (unsigned long long)st.requests);
	/* Exactly the units present, once each. */
	assert_int_equal(seen->nunits, 3);
	assert_int_equal(seen->units[0], TS_NO_ID_UNIT);
	assert_int_equal(seen->units[1], TS_PP_UNIT);
	assert_int_equal(seen->units[2], TS_BAD_ID_UNIT);
	assert_int_equal(st.units, 3);
	assert_int_equal(st.open, 1);
	/* Each unit asked once; 3 follow-ups per unit found (FC43 and two fingerprint reads);
	 * one proof on each of the 3 further connections, silent for their first units. */
	assert_int_equal(st.requests, 247 + 3 * 3 + 3);
	assert_int_equal(atomic_load(&srv->requests), st.requests);
	assert_int_equal(atomic_load(&srv->accepts), 4); /* --per-host's default */
	/* One timeout per window of per-host x depth units, not one per unit (247 x 200 ms is
	 * 49 s): the bound, 10 x the timeout. */
	assert_true(elapsed < 10 * TS_TIMEOUT_MS * 1000000LL);

	r = seen_unit(seen, TS_PP_UNIT);
	assert_non_null(r);
	assert_int_equal(r->kind, SCAN_UNIT);
	assert_int_equal(r->value, TS_PP_UNIT * 10);
	assert_true(r->has_devid);
	assert_string_equal(r->devid.vendor, "Test");
	assert_string_equal(r->devid.product, "PP clon");
	assert_string_equal(r->devid.revision, "2.3");
	assert_non_null(r->profile);
	assert_string_equal(r->profile, "powerpack");
	assert_string_equal(r->evidence, "2000 READY, 2026 SOE 42 in 0..100");
	/* An exception to FC43 is no identification, not an error of the scan. */
	r = seen_unit(seen, TS_NO_ID_UNIT);
	assert_non_null(r);
	assert_false(r->has_devid);
	assert_int_equal(r->devid_err, -MB_EXC(MB_EX_ILLEGAL_FUNCTION));
	assert_null(r->profile);
	/* A malformed FC43 reply is named and counted, and the scan goes on. */
	r = seen_unit(seen, TS_BAD_ID_UNIT);
	assert_non_null(r);
	assert_false(r->has_devid);
	assert_int_equal(r->devid_err, -SCAN_EDEVID_OBJLEN);
	assert_int_equal(st.bad_replies, 1);
	ts_close(srv);
	free(seen);
	free(srv);
}

/*
 * A server that serves one connection and leaves the others in its listen backlog: their
 * silence is no proof of absence. Units asked on them are asked again on the served one.
 */
static void test_unserved_connections_do_not_hide_units(void **state)
{
	struct tsrv *srv = calloc(1, sizeof(*srv));
	struct seen *seen = calloc(1, sizeof(*seen));
	struct scan_stats st;

	(void)state;
	*srv = (struct tsrv){ .max_conns = 1, .present = { 3, 40, 64 }, .npresent = 3 };
	assert_int_equal(ts_open(srv), 0);
	assert_int_equal(scan_port(srv->port, 1, 64, seen, &st), 0);
	print_message("64 units, 1 connection of 4 served: %.3f s, %llu requests\n",
		      (double)st.elapsed_ns / 1e9, (unsigned long long)st.requests);
	/* The connections in the backlog were used, and their units asked again. */
	assert_true(st.requests > 64 + 9);
	assert_int_equal(seen->nunits, 3);
	assert_int_equal(seen->units[0], 3);
	assert_int_equal(seen->units[1], 40);
	assert_int_equal(seen->units[2], 64);
	assert_int_equal(st.bad_replies, 0);
	ts_close(srv);
	free(seen);
	free(srv);
}

/* A reply whose TID was never sent is a counted bad reply that ends the port, no more. */
static void test_a_reply_with_an_unknown_tid_is_a_bad_reply(void **state)
{
	struct tsrv *srv = calloc(1, sizeof(*srv));
	struct seen *seen = calloc(1, sizeof(*seen));
	struct scan_stats st;
	bool has_bad = false;

	(void)state;
	*srv = (struct tsrv){
		.max_conns = TS_MAX_CONNS, .present = { 5 }, .npresent = 1, .bad_tid_unit = 5
	};
	assert_int_equal(ts_open(srv), 0);
	assert_int_equal(scan_port(srv->port, 1, 20, seen, &st), 0);
	assert_int_equal(st.bad_replies, 1);
	assert_int_equal(st.units, 0);
	for (unsigned i = 0; i < seen->n; i++)
		if (seen->r[i].kind == SCAN_BAD_REPLY) {
			has_bad = true;
			assert_int_equal(seen->r[i].unit, 5);
			assert_int_equal(seen->r[i].err, -MB_ETID);
			assert_int_equal(seen->r[i].tx_len, 12);
			assert_int_equal(seen->r[i].tx[6], 5); /* the probe of unit 5 */
		}
	assert_true(has_bad);
	ts_close(srv);
	free(seen);
	free(srv);
}

/* A server that takes its requests one at a time, in order, each taking a while: pipelined
 * requests simply wait their turn, and every unit present is found. */
static void test_a_server_answering_one_request_at_a_time_is_scanned(void **state)
{
	struct tsrv *srv = calloc(1, sizeof(*srv));
	struct seen *seen = calloc(1, sizeof(*seen));
	struct scan_stats st;

	(void)state;
	*srv = (struct tsrv){
		.max_conns = TS_MAX_CONNS, .present = { 10, 30, 40 }, .npresent = 3, .serial_ms = 1
	};
	assert_int_equal(ts_open(srv), 0);
	assert_int_equal(scan_port(srv->port, 1, 40, seen, &st), 0);
	assert_int_equal(seen->nunits, 3);
	assert_int_equal(seen->units[0], 10);
	assert_int_equal(seen->units[1], 30);
	assert_int_equal(seen->units[2], 40);
	assert_int_equal(st.bad_replies, 0);
	assert_int_equal(st.late, 0);
	ts_close(srv);
	free(seen);
	free(srv);
}

/* A server that hangs up after a few requests on every connection: what was found is said,
 * then the port's lost connection; nothing is asked forever. */
static void test_connections_closed_by_the_server_end_the_port_with_an_error(void **state)
{
	struct tsrv *srv = calloc(1, sizeof(*srv));
	struct seen *seen = calloc(1, sizeof(*seen));
	const struct scan_result *r;
	struct scan_stats st;
	bool has_err = false;

	(void)state;
	*srv = (struct tsrv){
		.max_conns = TS_MAX_CONNS, .present = { 2 }, .npresent = 1, .close_after = 5
	};
	assert_int_equal(ts_open(srv), 0);
	assert_int_equal(scan_port(srv->port, 1, 40, seen, &st), 0);
	assert_int_equal(seen->nunits, 1);
	r = seen_unit(seen, 2);
	assert_non_null(r);
	assert_int_equal(r->value, 20);
	for (unsigned i = 0; i < seen->n; i++)
		if (seen->r[i].kind == SCAN_CONN_ERR) {
			has_err = true;
			/* the hang-up shows as a reset on recv or a broken pipe on send,
			 * whichever the scanner meets first */
			assert_true(seen->r[i].err == -ECONNRESET || seen->r[i].err == -EPIPE);
		}
	assert_true(has_err);
	assert_int_equal(st.conn_err, 1);
	assert_true(atomic_load(&srv->accepts) <= 4);
	ts_close(srv);
	free(seen);
	free(srv);
}

/* flux sim's PowerPack (unit 1) and Acuvim II (unit 2) on one port: found and identified. */
static void test_identifies_flux_sim_devices_in_text_and_json(void **state)
{
	struct sim_pp_params pp = SIM_PP_DEFAULTS;
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	struct th_sim ts = { .sim = sim_new() };
	struct sim_endpoint ep = { .unit = 1 };
	char port[8], want[128];
	int dev;

	(void)state;
	assert_non_null(r);
	assert_non_null(ts.sim);
	pp.startup_ms = 0;
	dev = sim_add_powerpack(ts.sim, &ep, &pp);
	assert_true(dev >= 0);
	ep.port = (uint16_t)sim_port(ts.sim, dev);
	ep.unit = 2;
	assert_true(sim_add_acuvim2(ts.sim, &ep, &acu) >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	snprintf(port, sizeof(port), "%u", ep.port);

	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "-p", port, "--units", "1-10", "-o",
				     "300ms", "127.0.0.1", NULL),
			 0);
	snprintf(want, sizeof(want), "127.0.0.1:%s unit 1: exception 0x02 illegal data address",
		 port);
	th_tool_has(r, want);
	th_tool_has(r,
		    "    id: vendor \"Flux\", product \"PowerPack simulator\", revision \"1.0\"\n"
		    "    looks like powerpack: 2000 READY, 2026 SOE 60 in 0..100\n");
	snprintf(want, sizeof(want), "127.0.0.1:%s unit 2: registers [0]=", port);
	th_tool_has(r, want);
	th_tool_has(r,
		    "    id: vendor \"Flux\", product \"Acuvim II simulator\", revision \"1.0\"\n"
		    "    looks like acuvim2: 0x0000 230.0 V, 0x0048 50.0 Hz\n");
	th_tool_has(r, ": 1 open, 2 unit(s), 0 bad replies, 0 refused, 0 no answer, 0 error(s)");

	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "--json", "-p", port, "--units",
				     "1-10", "-o", "300ms", "127.0.0.1", NULL),
			 0);
	th_tool_expect(r, th_json_is_valid(r->out));
	snprintf(
	    want, sizeof(want),
	    "{\"hosts\":[{\"address\":\"127.0.0.1\",\"ports\":[{\"port\":%s,\"state\":\"open\","
	    "\"units\":[{\"unit\":1,\"answer\":\"exception\",\"exception\":2,",
	    port);
	th_tool_has(r, want);
	th_tool_has(r,
		    "\"identification\":{\"vendor\":\"Flux\",\"product\":\"PowerPack simulator\","
		    "\"revision\":\"1.0\",\"conformity\":129},\"fingerprint\":{\"profile\":"
		    "\"powerpack\",\"evidence\":\"2000 READY, 2026 SOE 60 in 0..100\"}}");
	th_tool_has(r, "{\"unit\":2,\"answer\":\"registers\",\"register0\":");
	th_tool_has(r,
		    "\"identification\":{\"vendor\":\"Flux\",\"product\":\"Acuvim II simulator\","
		    "\"revision\":\"1.0\",\"conformity\":129},\"fingerprint\":{\"profile\":"
		    "\"acuvim2\",\"evidence\":\"0x0000 230.0 V, 0x0048 50.0 Hz\"}}");
	th_tool_has(r,
		    "\"summary\":{\"addresses\":1,\"ports\":1,\"targets\":1,\"open\":1,\"units\":2,"
		    "\"bad_replies\":0,\"refused\":0,\"no_answer\":0,\"errors\":0,");
	th_tool_lacks(r, "flux scan:"); /* no text line around the JSON */

	/* --no-id: presence only, one request per unit. */
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "--no-id", "-p", port, "--units",
				     "1-2", "-o", "300ms", "127.0.0.1", NULL),
			 0);
	th_tool_lacks(r, "id: ");
	th_tool_lacks(r, "looks like");
	th_tool_has(r, "2 unit(s)");
	assert_int_equal(th_sim_stop(&ts), 0);
	free(r);
}

/* --per-host and --depth are bounded; the JSON of an empty scan still parses. */
static void test_per_host_and_depth_options(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));
	struct tsrv *srv = calloc(1, sizeof(*srv));
	char port[8];

	(void)state;
	assert_int_equal(
	    th_tool_run(r, cmd_scan_main, "scan", "--per-host", "0", "127.0.0.1", NULL), 2);
	assert_int_equal(
	    th_tool_run(r, cmd_scan_main, "scan", "--per-host", "17", "127.0.0.1", NULL), 2);
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "--depth", "33", "127.0.0.1", NULL),
			 2);
	*srv = (struct tsrv){ .max_conns = TS_MAX_CONNS, .present = { 7 }, .npresent = 1 };
	assert_int_equal(ts_open(srv), 0);
	snprintf(port, sizeof(port), "%u", srv->port);
	/* One connection, one request at a time: still finds unit 7, only slower. */
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "--per-host", "1", "--depth", "1",
				     "-p", port, "--units", "6-8", "-o", "100ms", "127.0.0.1",
				     NULL),
			 0);
	th_tool_has(r, "unit 7: registers [0]=70 ");
	th_tool_has(r, "1 unit(s)");
	/* A port where nothing answers, in JSON. */
	assert_int_equal(th_tool_run(r, cmd_scan_main, "scan", "--json", "-p", port, "--units",
				     "1-2", "-o", "100ms", "127.0.0.1", NULL),
			 0);
	th_tool_expect(r, th_json_is_valid(r->out));
	th_tool_has(r, "\"state\":\"open\",\"units\":[],\"probed\":2}");
	ts_close(srv);
	free(srv);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_of_247_silent_units_takes_a_few_timeouts),
		cmocka_unit_test(test_unserved_connections_do_not_hide_units),
		cmocka_unit_test(test_a_reply_with_an_unknown_tid_is_a_bad_reply),
		cmocka_unit_test(test_a_server_answering_one_request_at_a_time_is_scanned),
		cmocka_unit_test(test_connections_closed_by_the_server_end_the_port_with_an_error),
		cmocka_unit_test(test_identifies_flux_sim_devices_in_text_and_json),
		cmocka_unit_test(test_per_host_and_depth_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
