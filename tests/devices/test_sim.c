// SPDX-License-Identifier: MIT
/*
 * Tests of devices/sim.c, the simulators' loop, over real sockets on 127.0.0.1: every
 * malformed request class of the codec never stops it serving another client, each fault
 * mode is observable on the wire, pipelined requests, many clients, the connection limit,
 * loopback-only hosts and units sharing a port, and connections dropped by a device's restart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	struct th_sim ts;
	int dev[2]; /* powerpacks at units 1 and 2 of one port */
	uint16_t port;
	struct th_client witness; /* a client that must keep being served */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sim_pp_params prm = SIM_PP_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };

	if (!f)
		return -1;
	prm.startup_ms = 0;
	prm.response_ms = 0;
	f->ts.sim = sim_new();
	if (!f->ts.sim)
		return -1;
	f->dev[0] = sim_add_powerpack(f->ts.sim, &ep, &prm);
	if (f->dev[0] < 0)
		return -1;
	ep.port = f->port = (uint16_t)sim_port(f->ts.sim, f->dev[0]);
	ep.unit = 2;
	prm.soe_pct = 40;
	f->dev[1] = sim_add_powerpack(f->ts.sim, &ep, &prm);
	if (f->dev[1] < 0 || th_sim_start(&f->ts) || th_open(&f->witness, f->port))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int err;

	th_close(&f->witness);
	err = th_sim_stop(&f->ts);
	free(f);
	return err ? -1 : 0;
}

/* The witness still gets unit 1's SOE (60 %) and unit 2's (40 %). */
static void assert_still_serving(struct fixture *f)
{
	assert_int_equal(th_read1(&f->witness, 1, PP_REG_SOE), 60);
	assert_int_equal(th_read1(&f->witness, 2, PP_REG_SOE), 40);
}

enum outcome {
	CLOSED,	 /* the stream is broken: the simulator drops the connection */
	EXC,	 /* answered with exception `code` */
	WAITING, /* a partial frame: nothing comes back, the connection stays */
};

struct bad_request {
	const char *what;
	uint8_t bytes[24];
	size_t len;
	enum outcome outcome;
	uint8_t code;
};

#define FRAME(...) .bytes = { __VA_ARGS__ }, .len = sizeof((uint8_t[]){ __VA_ARGS__ })

/* tests/io/test_codec.c's malformed requests (its error in each comment), as a stream. */
static const struct bad_request bad_requests[] = {
	{ "header only (ESHORT)", FRAME(0, 1, 0, 0, 0, 6, 1), WAITING },
	{ "protocol id 1 (EPROTO)", FRAME(0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1), CLOSED },
	{ "MBAP length 1 (EMBAPLEN)", FRAME(0, 1, 0, 0, 0, 1, 1, 3), CLOSED },
	{ "MBAP length 255 (EMBAPLEN)", FRAME(0, 1, 0, 0, 0, 255, 1, 3, 0, 0, 0, 1), CLOSED },
	{ "MBAP length 65535 (EMBAPLEN)", FRAME(0, 1, 0, 0, 0xFF, 0xFF, 1, 3, 0, 0, 0, 1), CLOSED },
	/* On a stream the MBAP length is the boundary: a whole FC03 at address 0 (outside the
	 * map), then one byte of a next frame. */
	{ "frame longer than MBAP length (EFRAMELEN)", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1, 0),
	  EXC, MB_EX_ILLEGAL_DATA_ADDRESS },
	{ "frame shorter than MBAP length (EFRAMELEN)", FRAME(0, 1, 0, 0, 0, 7, 1, 3, 0, 0, 0, 1),
	  WAITING },
	{ "FC03 with MBAP length 7 (ELENGTH)", FRAME(0, 1, 0, 0, 0, 7, 1, 3, 0, 0, 0, 1, 0),
	  CLOSED },
	{ "FC06 with MBAP length 4 (ELENGTH)", FRAME(0, 1, 0, 0, 0, 4, 1, 6, 0, 0), CLOSED },
	{ "FC10 byte count beyond frame (ELENGTH)",
	  FRAME(0, 1, 0, 0, 0, 9, 1, 0x10, 0, 0, 0, 1, 4, 0, 1), CLOSED },
	{ "FC10 header cut (ELENGTH)", FRAME(0, 1, 0, 0, 0, 6, 1, 0x10, 0, 0, 0, 1), CLOSED },
	{ "function 0x07 (EFUNC)", FRAME(0, 1, 0, 0, 0, 2, 1, 0x07), EXC, 0x01 },
	{ "function 0x83 in a request (EFUNC, unanswerable)", FRAME(0, 1, 0, 0, 0, 3, 1, 0x83, 2),
	  CLOSED },
	{ "FC03 quantity 0 (EQTY)", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 0), EXC, 0x03 },
	{ "FC03 quantity 126 (EQTY)", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 126), EXC, 0x03 },
	{ "FC04 quantity 126 (EQTY)", FRAME(0, 1, 0, 0, 0, 6, 1, 4, 0, 0, 0, 126), EXC, 0x03 },
	{ "FC01 quantity 2001 (EQTY)", FRAME(0, 1, 0, 0, 0, 6, 1, 1, 0, 0, 0x07, 0xD1), EXC, 0x03 },
	{ "FC02 quantity 0 (EQTY)", FRAME(0, 1, 0, 0, 0, 6, 1, 2, 0, 0, 0, 0), EXC, 0x03 },
	{ "FC0F quantity 1969 (EQTY)", FRAME(0, 1, 0, 0, 0, 7, 1, 0x0F, 0, 0, 0x07, 0xB1, 0), EXC,
	  0x03 },
	{ "FC10 quantity 124 (EQTY)", FRAME(0, 1, 0, 0, 0, 7, 1, 0x10, 0, 0, 0, 124, 0), EXC,
	  0x03 },
	{ "FC03 address+quantity 0x10001 (EADDR)", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0xFF, 0xFF, 0, 2),
	  EXC, 0x02 },
	{ "FC01 address+quantity beyond (EADDR)",
	  FRAME(0, 1, 0, 0, 0, 6, 1, 1, 0xFF, 0x00, 0x01, 0x01), EXC, 0x02 },
	{ "FC10 byte count 2 for 2 registers (EBYTECOUNT)",
	  FRAME(0, 1, 0, 0, 0, 9, 1, 0x10, 0, 0, 0, 2, 2, 0, 1), EXC, 0x03 },
	{ "FC0F byte count 2 for 8 coils (EBYTECOUNT)",
	  FRAME(0, 1, 0, 0, 0, 9, 1, 0x0F, 0, 0, 0, 8, 2, 1, 2), EXC, 0x03 },
	{ "FC05 value 0x0001 (ECOILVAL)", FRAME(0, 1, 0, 0, 0, 6, 1, 5, 0, 1, 0, 1), EXC, 0x03 },
	{ "FC05 value 0xFFFF (ECOILVAL)", FRAME(0, 1, 0, 0, 0, 6, 1, 5, 0, 1, 0xFF, 0xFF), EXC,
	  0x03 },
};

static void test_survives_every_malformed_request_class(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < ARRAY_SIZE(bad_requests); i++) {
		const struct bad_request *b = &bad_requests[i];
		struct th_client c;
		int n;

		assert_int_equal(th_open(&c, f->port), 0);
		assert_int_equal(th_send(c.fd, b->bytes, b->len), 0);
		n = th_recv_frame(&c, b->outcome == WAITING ? 200 : TH_TIMEOUT_MS, NULL);
		switch (b->outcome) {
		case CLOSED:
			if (n != -ECONNRESET)
				fail_msg("%s: got %d, want the connection closed", b->what, n);
			break;
		case WAITING:
			if (n != -ETIMEDOUT)
				fail_msg("%s: got %d, want no answer", b->what, n);
			break;
		case EXC:
			if (n != 9 || c.frame[7] != (b->bytes[7] | MB_EXC_BIT) ||
			    c.frame[8] != b->code || mb_get_u16(c.frame) != mb_get_u16(b->bytes))
				fail_msg("%s: got %d bytes, want exception 0x%02x", b->what, n,
					 b->code);
			break;
		}
		th_close(&c);
		assert_still_serving(f);
	}
	/* A client that connects and leaves, and one that sends half a header and leaves. */
	for (unsigned i = 0; i < 2; i++) {
		struct th_client c;

		assert_int_equal(th_open(&c, f->port), 0);
		if (i)
			assert_int_equal(th_send(c.fd, "\0\1\0", 3), 0);
		th_close(&c);
	}
	assert_still_serving(f);
}

static void test_survives_random_bytes_from_many_clients(void **state)
{
	struct fixture *f = *state;
	uint32_t seed = 12345;

	for (unsigned i = 0; i < 100; i++) {
		uint8_t junk[300];
		size_t len = 1 + i * 3 % sizeof(junk);
		int fd = th_connect_fd(f->port);

		assert_true(fd >= 0);
		for (size_t k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			junk[k] = (uint8_t)(seed >> 16);
		}
		if (i % 2)
			junk[2] = junk[3] = 0; /* protocol id 0: gets past the header check */
		send(fd, junk, len, MSG_NOSIGNAL);
		close(fd);
	}
	assert_still_serving(f);
}

static void test_answers_pipelined_requests_in_order(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[40 * 12];
	size_t len = 0;

	for (unsigned i = 0; i < 40; i++) {
		struct mb_req req = { .tid = (uint16_t)(1000 + i),
				      .unit = (uint8_t)(1 + i % 2),
				      .fc = MB_FC_READ_HOLDING_REGISTERS,
				      .addr = PP_REG_SOE,
				      .qty = 1 };

		len += (size_t)mb_encode_req(buf + len, sizeof(buf) - len, &req);
	}
	assert_int_equal(th_send(f->witness.fd, buf, len), 0);
	for (unsigned i = 0; i < 40; i++) {
		struct mb_req req = { .tid = (uint16_t)(1000 + i),
				      .unit = (uint8_t)(1 + i % 2),
				      .fc = MB_FC_READ_HOLDING_REGISTERS,
				      .addr = PP_REG_SOE,
				      .qty = 1 };
		struct mb_rsp rsp;
		int n = th_recv_frame(&f->witness, TH_TIMEOUT_MS, NULL);

		assert_true(n > 0);
		assert_int_equal(mb_decode_rsp(&req, f->witness.frame, (size_t)n, 0, &rsp), 0);
		assert_int_equal(mb_get_u16(rsp.data), i % 2 ? 40 : 60);
	}
	assert_still_serving(f);
}

static void test_serves_many_clients_and_closes_those_over_the_limit(void **state)
{
	struct fixture *f = *state;
	static struct th_client c[SIM_MAX_CONNS + 1];
	int n;

	/* The witness holds one slot: SIM_MAX_CONNS - 1 more fit. */
	for (unsigned i = 0; i < SIM_MAX_CONNS - 1; i++) {
		assert_int_equal(th_open(&c[i], f->port), 0);
		assert_int_equal(th_read1(&c[i], 1, PP_REG_SOE), 60);
	}
	assert_int_equal(th_open(&c[SIM_MAX_CONNS - 1], f->port), 0);
	n = th_read1(&c[SIM_MAX_CONNS - 1], 1, PP_REG_SOE);
	if (n != -ECONNRESET && n != -EPIPE)
		fail_msg("connection over the limit: got %d, want it closed", n);
	th_close(&c[SIM_MAX_CONNS - 1]);
	for (unsigned i = 0; i < SIM_MAX_CONNS - 1; i += 7)
		assert_int_equal(th_read1(&c[i], 2, PP_REG_SOE), 40);
	for (unsigned i = 0; i < SIM_MAX_CONNS - 1; i++)
		th_close(&c[i]);
	assert_still_serving(f);
}

static void set_fault(struct fixture *f, int dev, unsigned flags, unsigned delay_ms, uint8_t code)
{
	struct sim_fault fault = { .flags = flags, .delay_ms = delay_ms, .exception = code };

	assert_int_equal(sim_set_fault(f->ts.sim, f->dev[dev], &fault), 0);
}

/* Send an FC03 of SOE to unit; returns the request (tid set). */
static struct mb_req send_soe_read(struct th_client *c, uint8_t unit)
{
	struct mb_req req = { .tid = c->tid++,
			      .unit = unit,
			      .fc = MB_FC_READ_HOLDING_REGISTERS,
			      .addr = PP_REG_SOE,
			      .qty = 1 };
	uint8_t buf[MB_ADU_MAX];
	int n = mb_encode_req(buf, sizeof(buf), &req);

	assert_true(n > 0);
	assert_int_equal(th_send(c->fd, buf, (size_t)n), 0);
	return req;
}

static void test_silence_answers_nothing_while_other_units_answer(void **state)
{
	struct fixture *f = *state;
	struct th_client *c = &f->witness;

	set_fault(f, 0, SIM_F_SILENCE, 0, 0);
	send_soe_read(c, 1);
	assert_int_equal(th_recv_frame(c, 300, NULL), -ETIMEDOUT);
	/* Same connection, same port, the other unit answers (the TID says it is not unit 1's). */
	assert_int_equal(th_read1(c, 2, PP_REG_SOE), 40);
	set_fault(f, 0, 0, 0, 0);
	assert_still_serving(f);
}

static void test_delay_answers_late(void **state)
{
	struct fixture *f = *state;
	int64_t t0 = th_now_ns();

	set_fault(f, 0, SIM_F_DELAY, 300, 0);
	assert_int_equal(th_read1(&f->witness, 1, PP_REG_SOE), 60);
	assert_true(th_now_ns() - t0 >= 300 * 1000000LL);
	set_fault(f, 0, 0, 0, 0);
	assert_still_serving(f);
}

static void test_disconnect_cuts_the_response_in_half(void **state)
{
	struct fixture *f = *state;
	struct th_client c;

	set_fault(f, 0, SIM_F_DISCONNECT, 0, 0);
	assert_int_equal(th_open(&c, f->port), 0);
	send_soe_read(&c, 1);
	assert_int_equal(th_recv_frame(&c, TH_TIMEOUT_MS, NULL), -ECONNRESET);
	assert_int_equal(c.split.len, 11 / 2); /* 5 of the 11 bytes came, then EOF */
	th_close(&c);
	set_fault(f, 0, 0, 0, 0);
	assert_int_equal(th_read1(&f->witness, 2, PP_REG_SOE), 40);
	assert_still_serving(f);
}

static void test_drip_sends_one_byte_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct mb_rsp rsp;
	struct mb_req req;
	int64_t t0 = th_now_ns();
	int n, nrecv = 0;

	set_fault(f, 0, SIM_F_DRIP, 0, 0);
	req = send_soe_read(&f->witness, 1);
	n = th_recv_frame(&f->witness, TH_TIMEOUT_MS, &nrecv);
	assert_int_equal(n, 11);
	/* Byte k leaves no sooner than k gaps after the first. */
	assert_true(th_now_ns() - t0 >= 10 * SIM_DRIP_GAP_MS * 1000000LL);
	assert_true(nrecv >= 2);
	assert_int_equal(mb_decode_rsp(&req, f->witness.frame, (size_t)n, 0, &rsp), 0);
	assert_int_equal(mb_get_u16(rsp.data), 60);
	set_fault(f, 0, 0, 0, 0);
	assert_still_serving(f);
}

static void test_garbage_is_not_modbus(void **state)
{
	struct fixture *f = *state;
	struct th_client c;

	set_fault(f, 0, SIM_F_GARBAGE, 0, 0);
	assert_int_equal(th_open(&c, f->port), 0);
	send_soe_read(&c, 1);
	assert_int_equal(th_recv_frame(&c, TH_TIMEOUT_MS, NULL), -MB_EPROTO);
	th_close(&c);
	set_fault(f, 0, 0, 0, 0);
	assert_still_serving(f);
}

static void test_wrong_tid_wrong_unit_and_exception_replies(void **state)
{
	struct fixture *f = *state;

	set_fault(f, 0, SIM_F_WRONG_TID, 0, 0);
	assert_int_equal(th_read1(&f->witness, 1, PP_REG_SOE), -MB_ETID);
	set_fault(f, 0, SIM_F_WRONG_UNIT, 0, 0);
	assert_int_equal(th_read1(&f->witness, 1, PP_REG_SOE), -MB_EUNIT);
	set_fault(f, 0, SIM_F_EXCEPTION, 0, MB_EX_SERVER_DEVICE_FAILURE);
	assert_int_equal(th_read1(&f->witness, 1, PP_REG_SOE),
			 -MB_EXC(MB_EX_SERVER_DEVICE_FAILURE));
	assert_int_equal(th_write(&f->witness, 1, PP_REG_COMMAND_SOURCE, 3),
			 -MB_EXC(MB_EX_SERVER_DEVICE_FAILURE));
	set_fault(f, 0, SIM_F_EXCEPTION, 0, MB_EX_SERVER_DEVICE_BUSY);
	assert_int_equal(th_read1(&f->witness, 1, PP_REG_SOE), -MB_EXC(MB_EX_SERVER_DEVICE_BUSY));
	set_fault(f, 0, 0, 0, 0);
	assert_still_serving(f);
}

/* Connect until the result is `want_refused` (bounded). Returns the last connect's result. */
static int connect_until(uint16_t port, bool want_refused)
{
	int fd = -1;

	for (int i = 0; i < 400; i++) {
		fd = th_connect_fd(port);
		if (fd >= 0)
			close(fd);
		if ((fd == -ECONNREFUSED) == want_refused)
			break;
		th_sleep_ms(5);
	}
	return fd < 0 ? fd : 0;
}

static void test_refuse_closes_the_port_until_cleared(void **state)
{
	struct fixture *f = *state;
	char b;
	int n;

	assert_still_serving(f); /* the witness is accepted, not in the backlog */
	set_fault(f, 1, SIM_F_REFUSE, 0, 0);
	assert_int_equal(connect_until(f->port, true), -ECONNREFUSED);
	/* The port went down with its connections. */
	n = (int)recv(f->witness.fd, &b, 1, 0);
	assert_int_equal(n, 0);
	th_close(&f->witness);
	set_fault(f, 1, 0, 0, 0);
	assert_int_equal(connect_until(f->port, false), 0);
	assert_int_equal(th_open(&f->witness, f->port), 0);
	assert_still_serving(f);
}

static void test_restart_drops_connections_with_their_queued_responses(void **state)
{
	struct fixture *f = *state;
	struct th_client late;

	/* Unit 1's answer waits 500 ms in the witness's queue when unit 2's box reboots. */
	set_fault(f, 0, SIM_F_DELAY, 500, 0);
	send_soe_read(&f->witness, 1);
	assert_int_equal(sim_pp_restart(f->ts.sim, f->dev[1]), 0);
	/* EOF, never the queued frame: a rebooted box does not answer what it got before. */
	assert_int_equal(th_recv_frame(&f->witness, TH_TIMEOUT_MS, NULL), -ECONNRESET);
	th_close(&f->witness);
	set_fault(f, 0, 0, 0, 0);
	/* The port itself stays open: new clients are served at once. */
	assert_int_equal(th_open(&late, f->port), 0);
	assert_int_equal(th_read1(&late, 1, PP_REG_SOE), 60);
	th_close(&late);
	assert_int_equal(th_open(&f->witness, f->port), 0);
	assert_still_serving(f);
}

static void test_serves_loopback_only_and_one_device_per_unit(void **state)
{
	struct sim_pp_params prm = SIM_PP_DEFAULTS;
	struct sim_endpoint ep = { .host = "10.0.0.1", .unit = 1 };
	struct sim_fault bad = { .flags = SIM_F_EXCEPTION, .exception = 0 };
	struct sim *sim = sim_new();
	int dev;

	(void)state;
	assert_non_null(sim);
	assert_int_equal(sim_check_host("127.0.0.1"), 0);
	assert_int_equal(sim_check_host("127.1.2.3"), 0);
	assert_int_equal(sim_check_host("localhost"), 0);
	assert_int_equal(sim_check_host("0.0.0.0"), -EADDRNOTAVAIL);
	assert_int_equal(sim_check_host("192.168.1.100"), -EADDRNOTAVAIL);
	assert_int_equal(sim_check_host("::1"), -EINVAL);
	assert_int_equal(sim_check_host("plc.example"), -EINVAL);
	assert_int_equal(sim_add_powerpack(sim, &ep, &prm), -EADDRNOTAVAIL);
	ep.host = "127.0.0.1";
	dev = sim_add_powerpack(sim, &ep, &prm);
	assert_int_equal(dev, 0);
	ep.port = (uint16_t)sim_port(sim, dev);
	assert_int_equal(sim_add_powerpack(sim, &ep, &prm), -EINVAL); /* unit 1 taken */
	ep.unit = 2;
	assert_int_equal(sim_add_powerpack(sim, &ep, &prm), 1);
	assert_int_equal(sim_port(sim, 1), ep.port);
	assert_int_equal(sim_port(sim, 2), -ENOENT);
	assert_int_equal(sim_set_fault(sim, 0, &bad), -EINVAL);
	assert_int_equal(sim_set_fault(sim, 5, &(struct sim_fault){ 0 }), -ENOENT);
	/* With a duration the loop returns on its own. */
	assert_int_equal(sim_run(sim, 50 * 1000000LL), 0);
	sim_free(sim);
	sim_free(NULL);
}

static void test_reports_a_port_taken_by_another_socket(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct sim_pp_params prm = SIM_PP_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };
	struct sim *sim = sim_new();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)state;
	assert_non_null(sim);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	ep.port = ntohs(sa.sin_port);
	assert_int_equal(sim_add_powerpack(sim, &ep, &prm), -EADDRINUSE);
	close(fd);
	sim_free(sim);
}

static void test_fails_cleanly_without_file_descriptors(void **state)
{
	struct sim_pp_params prm = SIM_PP_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };
	struct rlimit old, low;
	struct sim *sim, *none;
	int next, err;

	(void)state;
	sim = sim_new();
	assert_non_null(sim);
	next = dup(0);
	assert_true(next >= 0);
	close(next);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)next; /* no fd can be opened */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	none = sim_new();
	err = errno;
	ep.port = 0;
	next = sim_add_powerpack(sim, &ep, &prm);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_null(none);
	assert_int_equal(err, EMFILE);
	assert_int_equal(next, -EMFILE);
	sim_free(sim);
}

static void test_refuses_devices_and_ports_beyond_capacity(void **state)
{
	struct sim_pp_params prm = SIM_PP_DEFAULTS;
	struct sim_endpoint ep = { .unit = 0 };
	struct sim *sim = sim_new();

	(void)state;
	assert_non_null(sim);
	for (unsigned i = 0; i < SIM_MAX_LISTENERS; i++) {
		ep.unit = (uint8_t)i;
		assert_int_equal(sim_add_powerpack(sim, &ep, &prm), (int)i);
	}
	assert_int_equal(sim_add_powerpack(sim, &ep, &prm), -ENOSPC); /* a 17th port */
	ep.port = (uint16_t)sim_port(sim, 0);
	for (unsigned i = SIM_MAX_LISTENERS; i < SIM_MAX_DEVICES; i++) {
		ep.unit = (uint8_t)i;
		assert_int_equal(sim_add_powerpack(sim, &ep, &prm), (int)i);
	}
	ep.unit = 200;
	assert_int_equal(sim_add_powerpack(sim, &ep, &prm), -ENOSPC); /* a 33rd device */
	sim_free(sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_survives_every_malformed_request_class, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_survives_random_bytes_from_many_clients, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_answers_pipelined_requests_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
		    test_serves_many_clients_and_closes_those_over_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_silence_answers_nothing_while_other_units_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_answers_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_cuts_the_response_in_half, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drip_sends_one_byte_at_a_time, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_is_not_modbus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_tid_wrong_unit_and_exception_replies,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_closes_the_port_until_cleared, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
		    test_restart_drops_connections_with_their_queued_responses, setup, teardown),
		cmocka_unit_test(test_serves_loopback_only_and_one_device_per_unit),
		cmocka_unit_test(test_reports_a_port_taken_by_another_socket),
		cmocka_unit_test(test_fails_cleanly_without_file_descriptors),
		cmocka_unit_test(test_refuses_devices_and_ports_beyond_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
