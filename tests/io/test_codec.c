// SPDX-License-Identifier: MIT
/*
 * Tests of io/codec.c: the seed's frames byte for byte, every malformed class of docs/design.md's
 * Modbus section rejected with its own named error, round trips for every function code, the
 * stream splitter fed byte by byte and in merged chunks, and the value helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "io/modbus.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct mb_req read_req(uint8_t fc, uint16_t addr, uint16_t qty)
{
	return (struct mb_req){ .tid = 1, .unit = 1, .fc = fc, .addr = addr, .qty = qty };
}

/* ---- the seed's frames ------------------------------------------------------------ */

static void test_encodes_seed_read_holding_frame(void **state)
{
	static const uint8_t seed[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
					0x01, 0x03, 0x07, 0xD0, 0x00, 0x0A };
	struct mb_req req = read_req(MB_FC_READ_HOLDING_REGISTERS, 2000, 10);
	uint8_t buf[MB_ADU_MAX];
	int n;

	(void)state;
	n = mb_encode_req(buf, sizeof(buf), &req);
	assert_int_equal(n, sizeof(seed));
	assert_memory_equal(buf, seed, sizeof(seed));
}

static void test_encodes_seed_write_single_register_frame(void **state)
{
	static const uint8_t seed[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
					0x01, 0x06, 0x07, 0xD8, 0x00, 0x64 };
	struct mb_req req = { .tid = 1,
			      .unit = 1,
			      .fc = MB_FC_WRITE_SINGLE_REGISTER,
			      .addr = 2008,
			      .qty = 1,
			      .value = 100 };
	uint8_t buf[MB_ADU_MAX];
	int n;

	(void)state;
	n = mb_encode_req(buf, sizeof(buf), &req);
	assert_int_equal(n, sizeof(seed));
	assert_memory_equal(buf, seed, sizeof(seed));
}

static void test_decodes_seed_frames_as_server(void **state)
{
	static const uint8_t rd[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
				      0x01, 0x03, 0x07, 0xD0, 0x00, 0x0A };
	static const uint8_t wr[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
				      0x01, 0x06, 0x07, 0xD8, 0x00, 0x64 };
	struct mb_req req;

	(void)state;
	assert_int_equal(mb_decode_req(rd, sizeof(rd), &req), 0);
	assert_int_equal(req.tid, 1);
	assert_int_equal(req.unit, 1);
	assert_int_equal(req.fc, MB_FC_READ_HOLDING_REGISTERS);
	assert_int_equal(req.addr, 2000);
	assert_int_equal(req.qty, 10);

	assert_int_equal(mb_decode_req(wr, sizeof(wr), &req), 0);
	assert_int_equal(req.fc, MB_FC_WRITE_SINGLE_REGISTER);
	assert_int_equal(req.addr, 2008);
	assert_int_equal(req.value, 100);
}

/* ---- round trips: client encode -> server decode -> server encode -> client decode ---- */

/* Runs one whole exchange; `payload` is what the server answers a read with. */
static void round_trip(const struct mb_req *req, const uint8_t *payload)
{
	uint8_t qbuf[MB_ADU_MAX], rbuf[MB_ADU_MAX];
	struct mb_req got;
	struct mb_rsp rsp;
	int qn, rn;

	qn = mb_encode_req(qbuf, sizeof(qbuf), req);
	assert_true(qn > 0);
	assert_int_equal(mb_decode_req(qbuf, (size_t)qn, &got), 0);
	assert_int_equal(got.tid, req->tid);
	assert_int_equal(got.unit, req->unit);
	assert_int_equal(got.fc, req->fc);
	assert_int_equal(got.addr, req->addr);
	assert_int_equal(got.qty, req->qty);
	assert_int_equal(got.value, req->value);
	assert_int_equal(got.byte_count, req->byte_count);
	if (req->byte_count)
		assert_memory_equal(got.data, req->data, req->byte_count);

	rn = mb_encode_rsp(rbuf, sizeof(rbuf), &got, payload);
	assert_true(rn > 0);
	assert_int_equal(mb_decode_rsp(req, rbuf, (size_t)rn, 0, &rsp), 0);
	assert_int_equal(rsp.tid, req->tid);
	assert_int_equal(rsp.unit, req->unit);
	assert_int_equal(rsp.fc, req->fc);
	assert_int_equal(rsp.exception, 0);
	if (payload) {
		assert_int_equal(rsp.byte_count, mb_payload_size(req->fc, req->qty));
		assert_memory_equal(rsp.data, payload, rsp.byte_count);
	}
}

static void test_round_trips_every_read_function(void **state)
{
	static const uint8_t fcs[] = { MB_FC_READ_COILS, MB_FC_READ_DISCRETE_INPUTS,
				       MB_FC_READ_HOLDING_REGISTERS, MB_FC_READ_INPUT_REGISTERS };
	uint8_t payload[256];

	(void)state;
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 37 + 11);
	for (unsigned i = 0; i < ARRAY_SIZE(fcs); i++) {
		uint16_t max =
		    fcs[i] <= MB_FC_READ_DISCRETE_INPUTS ? MB_MAX_READ_BITS : MB_MAX_READ_REGS;
		uint16_t qtys[] = { 1, 7, 8, 9, max - 1, max };

		for (unsigned q = 0; q < ARRAY_SIZE(qtys); q++) {
			struct mb_req req = read_req(fcs[i], 0x1234, qtys[q]);

			req.tid = (uint16_t)(0xBEEF + q);
			req.unit = (uint8_t)(q + 1);
			round_trip(&req, payload);
		}
	}
}

static void test_round_trips_every_write_function(void **state)
{
	uint8_t bits[MB_MAX_WRITE_BITS / 8 + 1], regs[2 * MB_MAX_WRITE_REGS];
	struct mb_req req;

	(void)state;
	for (unsigned i = 0; i < sizeof(bits); i++)
		bits[i] = (uint8_t)(0xA5 ^ i);
	for (unsigned i = 0; i < sizeof(regs); i++)
		regs[i] = (uint8_t)i;

	req = (struct mb_req){ .tid = 7,
			       .unit = 9,
			       .fc = MB_FC_WRITE_SINGLE_COIL,
			       .addr = 17,
			       .qty = 1,
			       .value = MB_COIL_ON };
	round_trip(&req, NULL);
	req.value = MB_COIL_OFF;
	round_trip(&req, NULL);

	req = (struct mb_req){ .tid = 8,
			       .unit = 1,
			       .fc = MB_FC_WRITE_SINGLE_REGISTER,
			       .addr = 2008,
			       .qty = 1,
			       .value = mb_from_i16(-50) };
	round_trip(&req, NULL);

	for (uint16_t qty = 1; qty <= MB_MAX_WRITE_BITS; qty = (uint16_t)(qty * 3 + 1)) {
		req = (struct mb_req){ .tid = qty,
				       .unit = 3,
				       .fc = MB_FC_WRITE_MULTIPLE_COILS,
				       .addr = 100,
				       .qty = qty,
				       .byte_count = (uint8_t)((qty + 7) / 8),
				       .data = bits };
		round_trip(&req, NULL);
	}
	req.qty = MB_MAX_WRITE_BITS;
	req.byte_count = MB_MAX_WRITE_BITS / 8;
	round_trip(&req, NULL);

	for (uint16_t qty = 1; qty <= MB_MAX_WRITE_REGS; qty = (uint16_t)(qty * 2 + 1)) {
		req = (struct mb_req){ .tid = qty,
				       .unit = 4,
				       .fc = MB_FC_WRITE_MULTIPLE_REGISTERS,
				       .addr = 2008,
				       .qty = qty,
				       .byte_count = (uint8_t)(2 * qty),
				       .data = regs };
		round_trip(&req, NULL);
	}
	req.qty = MB_MAX_WRITE_REGS;
	req.byte_count = 2 * MB_MAX_WRITE_REGS;
	round_trip(&req, NULL);
}

static void test_round_trips_exception_reply(void **state)
{
	struct mb_req req = read_req(MB_FC_READ_HOLDING_REGISTERS, 2099, 1);
	static const uint8_t codes[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0B };
	uint8_t buf[MB_ADU_MAX];
	struct mb_rsp rsp;
	int n;

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(codes); i++) {
		n = mb_encode_exception(buf, sizeof(buf), &req, codes[i]);
		assert_int_equal(n, 9);
		assert_int_equal(buf[7], 0x83);
		assert_int_equal(mb_decode_rsp(&req, buf, (size_t)n, 0, &rsp), -MB_EXC(codes[i]));
		assert_int_equal(rsp.exception, codes[i]);
		assert_null(rsp.data);
	}
}

/* ---- named errors ------------------------------------------------------------------- */

static void test_names_every_error_distinctly(void **state)
{
	(void)state;
	for (int a = MB_ERR_BASE; a < MB_ERR_END; a++) {
		assert_non_null(mb_strerror(-a));
		assert_string_equal(mb_strerror(a), mb_strerror(-a));
		for (int b = a + 1; b < MB_ERR_END; b++)
			assert_string_not_equal(mb_strerror(-a), mb_strerror(-b));
	}
	assert_string_equal(mb_strerror(-MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS)),
			    "exception 0x02 illegal data address");
	assert_string_equal(mb_strerror(-MB_EXC(1)), "exception 0x01 illegal function");
	assert_string_equal(mb_strerror(-MB_EXC(3)), "exception 0x03 illegal data value");
	assert_string_equal(mb_strerror(-MB_EXC(4)), "exception 0x04 server device failure");
	assert_string_equal(mb_strerror(-MB_EXC(0x0B)),
			    "exception 0x0B gateway target device failed to respond");
	assert_string_equal(mb_strerror(-MB_EXC(0x77)), "exception (unknown code)");
	assert_string_equal(mb_strerror(0), "success");
	assert_string_equal(mb_exception_name(2), "illegal data address");
	assert_string_equal(mb_exception_name(200), "unknown exception");
}

/* A server-side malformed request case: bytes, and the error it must produce. */
struct bad_frame {
	const char *what;
	uint8_t bytes[MB_ADU_MAX + 8];
	size_t len;
	int err;
};

#define FRAME(...) .bytes = { __VA_ARGS__ }, .len = sizeof((uint8_t[]){ __VA_ARGS__ })

static const struct bad_frame bad_requests[] = {
	{ "empty", .len = 0, .err = -MB_ESHORT },
	{ "header only", FRAME(0, 1, 0, 0, 0, 6, 1), -MB_ESHORT },
	{ "protocol id 1", FRAME(0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1), -MB_EPROTO },
	{ "MBAP length 1", FRAME(0, 1, 0, 0, 0, 1, 1, 3), -MB_EMBAPLEN },
	{ "MBAP length 255 (nanoMODBUS)", FRAME(0, 1, 0, 0, 0, 255, 1, 3, 0, 0, 0, 1),
	  -MB_EMBAPLEN },
	{ "MBAP length 65535", FRAME(0, 1, 0, 0, 0xFF, 0xFF, 1, 3, 0, 0, 0, 1), -MB_EMBAPLEN },
	{ "frame longer than MBAP length", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1, 0),
	  -MB_EFRAMELEN },
	{ "frame shorter than MBAP length", FRAME(0, 1, 0, 0, 0, 7, 1, 3, 0, 0, 0, 1),
	  -MB_EFRAMELEN },
	{ "FC03 with MBAP length 7", FRAME(0, 1, 0, 0, 0, 7, 1, 3, 0, 0, 0, 1, 0), -MB_ELENGTH },
	{ "FC06 with MBAP length 4", FRAME(0, 1, 0, 0, 0, 4, 1, 6, 0, 0), -MB_ELENGTH },
	{ "FC10 byte count beyond frame", FRAME(0, 1, 0, 0, 0, 9, 1, 0x10, 0, 0, 0, 1, 4, 0, 1),
	  -MB_ELENGTH },
	{ "FC10 header cut", FRAME(0, 1, 0, 0, 0, 6, 1, 0x10, 0, 0, 0, 1), -MB_ELENGTH },
	{ "function 0x07", FRAME(0, 1, 0, 0, 0, 2, 1, 0x07), -MB_EFUNC },
	{ "function 0x83 in a request", FRAME(0, 1, 0, 0, 0, 3, 1, 0x83, 2), -MB_EFUNC },
	{ "FC03 quantity 0", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 0), -MB_EQTY },
	{ "FC03 quantity 126", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 126), -MB_EQTY },
	{ "FC04 quantity 126", FRAME(0, 1, 0, 0, 0, 6, 1, 4, 0, 0, 0, 126), -MB_EQTY },
	{ "FC01 quantity 2001", FRAME(0, 1, 0, 0, 0, 6, 1, 1, 0, 0, 0x07, 0xD1), -MB_EQTY },
	{ "FC02 quantity 0", FRAME(0, 1, 0, 0, 0, 6, 1, 2, 0, 0, 0, 0), -MB_EQTY },
	{ "FC0F quantity 1969", FRAME(0, 1, 0, 0, 0, 7, 1, 0x0F, 0, 0, 0x07, 0xB1, 0), -MB_EQTY },
	{ "FC10 quantity 124", FRAME(0, 1, 0, 0, 0, 7, 1, 0x10, 0, 0, 0, 124, 0), -MB_EQTY },
	{ "FC03 address+quantity 0x10001", FRAME(0, 1, 0, 0, 0, 6, 1, 3, 0xFF, 0xFF, 0, 2),
	  -MB_EADDR },
	{ "FC01 address+quantity beyond", FRAME(0, 1, 0, 0, 0, 6, 1, 1, 0xFF, 0x00, 0x01, 0x01),
	  -MB_EADDR },
	{ "FC10 byte count 2 for 2 registers",
	  FRAME(0, 1, 0, 0, 0, 9, 1, 0x10, 0, 0, 0, 2, 2, 0, 1), -MB_EBYTECOUNT },
	{ "FC0F byte count 2 for 8 coils", FRAME(0, 1, 0, 0, 0, 9, 1, 0x0F, 0, 0, 0, 8, 2, 1, 2),
	  -MB_EBYTECOUNT },
	{ "FC05 value 0x0001", FRAME(0, 1, 0, 0, 0, 6, 1, 5, 0, 1, 0, 1), -MB_ECOILVAL },
	{ "FC05 value 0xFFFF", FRAME(0, 1, 0, 0, 0, 6, 1, 5, 0, 1, 0xFF, 0xFF), -MB_ECOILVAL },
};

static void test_rejects_each_malformed_request_with_its_error(void **state)
{
	struct mb_req req;

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(bad_requests); i++) {
		const struct bad_frame *b = &bad_requests[i];
		int got = mb_decode_req(b->bytes, b->len, &req);

		if (got != b->err)
			fail_msg("%s: got %d (%s), want %d (%s)", b->what, got, mb_strerror(got),
				 b->err, mb_strerror(b->err));
	}
}

static void test_maps_request_errors_to_exception_codes(void **state)
{
	(void)state;
	assert_int_equal(mb_exception_for(-MB_EFUNC), MB_EX_ILLEGAL_FUNCTION);
	assert_int_equal(mb_exception_for(-MB_EADDR), MB_EX_ILLEGAL_DATA_ADDRESS);
	assert_int_equal(mb_exception_for(-MB_EQTY), MB_EX_ILLEGAL_DATA_VALUE);
	assert_int_equal(mb_exception_for(-MB_EBYTECOUNT), MB_EX_ILLEGAL_DATA_VALUE);
	assert_int_equal(mb_exception_for(-MB_ECOILVAL), MB_EX_ILLEGAL_DATA_VALUE);
	/* A broken stream is never answered. */
	assert_int_equal(mb_exception_for(-MB_EPROTO), 0);
	assert_int_equal(mb_exception_for(-MB_EMBAPLEN), 0);
	assert_int_equal(mb_exception_for(-MB_ELENGTH), 0);
	assert_int_equal(mb_exception_for(-MB_EFRAMELEN), 0);
}

static void test_fills_header_of_rejected_request_for_the_reply(void **state)
{
	static const uint8_t fc07[] = { 0x12, 0x34, 0, 0, 0, 2, 9, 0x07 };
	uint8_t buf[MB_ADU_MAX];
	struct mb_req req;
	int n;

	(void)state;
	assert_int_equal(mb_decode_req(fc07, sizeof(fc07), &req), -MB_EFUNC);
	assert_int_equal(req.tid, 0x1234);
	assert_int_equal(req.unit, 9);
	n = mb_encode_exception(buf, sizeof(buf), &req, mb_exception_for(-MB_EFUNC));
	assert_int_equal(n, 9);
	assert_memory_equal(buf, ((uint8_t[]){ 0x12, 0x34, 0, 0, 0, 3, 9, 0x87, 0x01 }), 9);
}

/* Client side: responses checked against an FC03 qty 2 request at 2026, tid 0x0102, unit 1. */
static const struct bad_frame bad_responses[] = {
	{ "short", FRAME(1, 2, 0, 0, 0, 7, 1), -MB_ESHORT },
	{ "protocol id", FRAME(1, 2, 0, 9, 0, 7, 1, 3, 4, 0, 50, 0, 0), -MB_EPROTO },
	{ "MBAP length 255", FRAME(1, 2, 0, 0, 0, 255, 1, 3, 4, 0, 50, 0, 0), -MB_EMBAPLEN },
	{ "frame size", FRAME(1, 2, 0, 0, 0, 7, 1, 3, 4, 0, 50, 0), -MB_EFRAMELEN },
	{ "other tid", FRAME(1, 3, 0, 0, 0, 7, 1, 3, 4, 0, 50, 0, 0), -MB_ETID },
	{ "other unit", FRAME(1, 2, 0, 0, 0, 7, 2, 3, 4, 0, 50, 0, 0), -MB_EUNIT },
	{ "other function", FRAME(1, 2, 0, 0, 0, 7, 1, 4, 4, 0, 50, 0, 0), -MB_EFCMISMATCH },
	{ "exception of another function", FRAME(1, 2, 0, 0, 0, 3, 1, 0x84, 2), -MB_EFCMISMATCH },
	{ "exception PDU 3 bytes", FRAME(1, 2, 0, 0, 0, 4, 1, 0x83, 2, 0), -MB_EEXCLEN },
	{ "exception PDU 1 byte", FRAME(1, 2, 0, 0, 0, 2, 1, 0x83), -MB_EEXCLEN },
	{ "byte count beyond frame (CVE-2019-14462)",
	  FRAME(1, 2, 0, 0, 0, 7, 1, 3, 250, 0, 50, 0, 0), -MB_ELENGTH },
	{ "byte count short of frame", FRAME(1, 2, 0, 0, 0, 7, 1, 3, 2, 0, 50, 0, 0), -MB_ELENGTH },
	{ "byte count 2 for 2 registers", FRAME(1, 2, 0, 0, 0, 5, 1, 3, 2, 0, 50), -MB_EBYTECOUNT },
	{ "byte count 6 for 2 registers", FRAME(1, 2, 0, 0, 0, 9, 1, 3, 6, 0, 50, 0, 0, 0, 0),
	  -MB_EBYTECOUNT },
	{ "no byte count", FRAME(1, 2, 0, 0, 0, 2, 1, 3), -MB_ELENGTH },
};

static void test_rejects_each_malformed_response_with_its_error(void **state)
{
	struct mb_req req = read_req(MB_FC_READ_HOLDING_REGISTERS, 2026, 2);
	struct mb_rsp rsp;

	(void)state;
	req.tid = 0x0102;
	for (unsigned i = 0; i < ARRAY_SIZE(bad_responses); i++) {
		const struct bad_frame *b = &bad_responses[i];
		int got = mb_decode_rsp(&req, b->bytes, b->len, 0, &rsp);

		if (got != b->err)
			fail_msg("%s: got %d (%s), want %d (%s)", b->what, got, mb_strerror(got),
				 b->err, mb_strerror(b->err));
		/* No stale data is ever delivered with an error. */
		assert_null(rsp.data);
	}
}

static void test_rejects_write_response_that_is_not_an_echo(void **state)
{
	struct mb_req w6 = { .tid = 1,
			     .unit = 1,
			     .fc = MB_FC_WRITE_SINGLE_REGISTER,
			     .addr = 2008,
			     .qty = 1,
			     .value = 100 };
	struct mb_req w16 = { .tid = 1,
			      .unit = 1,
			      .fc = MB_FC_WRITE_MULTIPLE_REGISTERS,
			      .addr = 2008,
			      .qty = 2,
			      .byte_count = 4,
			      .data = (const uint8_t[]){ 0, 1, 0, 2 } };
	static const uint8_t ok6[] = { 0, 1, 0, 0, 0, 6, 1, 6, 0x07, 0xD8, 0, 100 };
	static const uint8_t val6[] = { 0, 1, 0, 0, 0, 6, 1, 6, 0x07, 0xD8, 0, 99 };
	static const uint8_t addr6[] = { 0, 1, 0, 0, 0, 6, 1, 6, 0x07, 0xD9, 0, 100 };
	static const uint8_t ok16[] = { 0, 1, 0, 0, 0, 6, 1, 0x10, 0x07, 0xD8, 0, 2 };
	static const uint8_t qty16[] = { 0, 1, 0, 0, 0, 6, 1, 0x10, 0x07, 0xD8, 0, 3 };
	static const uint8_t long16[] = { 0, 1, 0, 0, 0, 7, 1, 0x10, 0x07, 0xD8, 0, 2, 0 };
	struct mb_rsp rsp;

	(void)state;
	assert_int_equal(mb_decode_rsp(&w6, ok6, sizeof(ok6), 0, &rsp), 0);
	assert_int_equal(rsp.value, 100);
	assert_int_equal(mb_decode_rsp(&w6, val6, sizeof(val6), 0, &rsp), -MB_EECHO);
	assert_int_equal(mb_decode_rsp(&w6, addr6, sizeof(addr6), 0, &rsp), -MB_EECHO);
	assert_int_equal(mb_decode_rsp(&w16, ok16, sizeof(ok16), 0, &rsp), 0);
	assert_int_equal(rsp.qty, 2);
	assert_int_equal(mb_decode_rsp(&w16, qty16, sizeof(qty16), 0, &rsp), -MB_EECHO);
	assert_int_equal(mb_decode_rsp(&w16, long16, sizeof(long16), 0, &rsp), -MB_ELENGTH);
}

static void test_matches_any_tid_only_when_asked(void **state)
{
	struct mb_req req = read_req(MB_FC_READ_HOLDING_REGISTERS, 2026, 1);
	static const uint8_t other_tid[] = { 0, 0, 0, 0, 0, 5, 1, 3, 2, 0, 77 };
	uint16_t v;
	struct mb_rsp rsp;

	(void)state;
	assert_int_equal(mb_decode_rsp(&req, other_tid, sizeof(other_tid), 0, &rsp), -MB_ETID);
	assert_int_equal(mb_decode_rsp(&req, other_tid, sizeof(other_tid), MB_RSP_ANY_TID, &rsp),
			 0);
	mb_regs_from_wire(&v, rsp.data, 1);
	assert_int_equal(v, 77);
	/* Unit and function are still checked. */
	req.unit = 2;
	assert_int_equal(mb_decode_rsp(&req, other_tid, sizeof(other_tid), MB_RSP_ANY_TID, &rsp),
			 -MB_EUNIT);
}

static void test_refuses_to_encode_requests_beyond_limits(void **state)
{
	uint8_t buf[MB_ADU_MAX], data[256] = { 0 };
	struct mb_req req = read_req(MB_FC_READ_HOLDING_REGISTERS, 0, 126);

	(void)state;
	assert_int_equal(mb_encode_req(buf, sizeof(buf), &req), -MB_EQTY);
	req.qty = 0;
	assert_int_equal(mb_encode_req(buf, sizeof(buf), &req), -MB_EQTY);
	req = read_req(MB_FC_READ_COILS, 0xFFFF, 2);
	assert_int_equal(mb_encode_req(buf, sizeof(buf), &req), -MB_EADDR);
	req = read_req(0x2B, 0, 1);
	assert_int_equal(mb_encode_req(buf, sizeof(buf), &req), -MB_EFUNC);
	req = (struct mb_req){ .fc = MB_FC_WRITE_SINGLE_COIL, .qty = 1, .value = 1 };
	assert_int_equal(mb_encode_req(buf, sizeof(buf), &req), -MB_ECOILVAL);
	req = (struct mb_req){
		.fc = MB_FC_WRITE_MULTIPLE_REGISTERS, .qty = 2, .byte_count = 3, .data = data
	};
	assert_int_equal(mb_encode_req(buf, sizeof(buf), &req), -MB_EBYTECOUNT);
	req.byte_count = 4;
	req.data = NULL;
	assert_int_equal(mb_encode_req(buf, sizeof(buf), &req), -MB_EINVAL);
	req = read_req(MB_FC_READ_HOLDING_REGISTERS, 0, 1);
	assert_int_equal(mb_encode_req(buf, 11, &req), -MB_ENOSPACE);
	assert_int_equal(mb_encode_req(buf, 12, &req), 12);
	assert_int_equal(mb_encode_rsp(buf, 10, &req, data), -MB_ENOSPACE);
	assert_int_equal(mb_encode_exception(buf, 8, &req, 2), -MB_ENOSPACE);
	assert_int_equal(mb_encode_exception(buf, sizeof(buf), &req, 0), -MB_EINVAL);
}

/* ---- splitter ----------------------------------------------------------------------- */

/* Three frames of different sizes, back to back, as a server would see them. */
static size_t make_stream(uint8_t *out, size_t cap, size_t *sizes)
{
	uint8_t regs[2 * MB_MAX_WRITE_REGS];
	struct mb_req reqs[3] = {
		read_req(MB_FC_READ_HOLDING_REGISTERS, 2000, 10),
		{ .tid = 2,
		  .unit = 1,
		  .fc = MB_FC_WRITE_MULTIPLE_REGISTERS,
		  .addr = 10,
		  .qty = MB_MAX_WRITE_REGS,
		  .byte_count = 2 * MB_MAX_WRITE_REGS,
		  .data = regs },
		{ .tid = 3,
		  .unit = 1,
		  .fc = MB_FC_WRITE_SINGLE_REGISTER,
		  .addr = 2008,
		  .qty = 1,
		  .value = 100 },
	};
	size_t off = 0;

	for (unsigned i = 0; i < sizeof(regs); i++)
		regs[i] = (uint8_t)(i ^ 0x5A);
	for (unsigned i = 0; i < 3; i++) {
		int n = mb_encode_req(out + off, cap - off, &reqs[i]);

		assert_true(n > 0);
		sizes[i] = (size_t)n;
		off += (size_t)n;
	}
	return off;
}

/* Feed `stream` in chunks of `chunk` bytes; check each frame comes out whole and in order. */
static void split_in_chunks(const uint8_t *stream, size_t len, const size_t *sizes, size_t chunk)
{
	struct mb_splitter s = { 0 };
	size_t off = 0, expect_off = 0, frames = 0;

	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		const uint8_t *p = stream + off;

		off += n;
		while (n) {
			const uint8_t *frame;
			size_t used;
			int r = mb_split(&s, p, n, &used, &frame);
			struct mb_req req;

			assert_true(r >= 0);
			assert_true(used <= n);
			p += used;
			n -= used;
			if (r == 0) {
				assert_int_equal(n, 0);
				break;
			}
			assert_true(frames < 3);
			assert_int_equal(r, sizes[frames]);
			assert_memory_equal(frame, stream + expect_off, (size_t)r);
			assert_int_equal(mb_decode_req(frame, (size_t)r, &req), 0);
			expect_off += (size_t)r;
			frames++;
		}
	}
	assert_int_equal(frames, 3);
	assert_int_equal(s.len, 0);
}

static void test_splits_stream_fed_byte_by_byte(void **state)
{
	uint8_t stream[3 * MB_ADU_MAX];
	size_t sizes[3], len = make_stream(stream, sizeof(stream), sizes);

	(void)state;
	split_in_chunks(stream, len, sizes, 1);
}

static void test_splits_merged_and_odd_sized_chunks(void **state)
{
	uint8_t stream[3 * MB_ADU_MAX];
	size_t sizes[3], len = make_stream(stream, sizeof(stream), sizes);

	(void)state;
	for (size_t chunk = 2; chunk <= len; chunk++)
		split_in_chunks(stream, len, sizes, chunk);
}

static void test_splitter_rejects_bad_header_before_payload(void **state)
{
	static const uint8_t bad_len[] = { 0, 1, 0, 0, 0xFF, 0xFF, 1, 3 };
	static const uint8_t bad_pid[] = { 0, 1, 0xAB, 0xCD, 0, 6 };
	static const uint8_t len_255[] = { 0, 1, 0, 0, 0, 255 };
	struct mb_splitter s = { 0 };
	const uint8_t *frame;
	size_t used;

	(void)state;
	assert_int_equal(mb_split(&s, bad_len, sizeof(bad_len), &used, &frame), -MB_EMBAPLEN);
	mb_split_reset(&s);
	/* Byte by byte: the error shows as soon as the 6-byte header is complete. */
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(mb_split(&s, bad_pid + i, 1, &used, &frame), 0);
	assert_int_equal(mb_split(&s, bad_pid + 5, 1, &used, &frame), -MB_EPROTO);
	mb_split_reset(&s);
	assert_int_equal(mb_split(&s, len_255, sizeof(len_255), &used, &frame), -MB_EMBAPLEN);
	mb_split_reset(&s);
	assert_int_equal(s.len, 0);
}

static void test_splitter_takes_no_bytes_of_the_next_frame(void **state)
{
	/* A 12-byte frame then the first 3 bytes of another, in one read. */
	static const uint8_t in[] = { 0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1, 0, 2, 0 };
	struct mb_splitter s = { 0 };
	const uint8_t *frame;
	size_t used;

	(void)state;
	assert_int_equal(mb_split(&s, in, sizeof(in), &used, &frame), 12);
	assert_int_equal(used, 12);
	assert_ptr_equal(frame, in);
	assert_int_equal(mb_split(&s, in + 12, 3, &used, &frame), 0);
	assert_int_equal(used, 3);
	assert_int_equal(s.len, 3);
}

/* ---- value helpers ------------------------------------------------------------------ */

static void test_orders_32_bit_values_in_all_four_word_orders(void **state)
{
	/* 0x11223344 on the wire, per order, as registers. */
	static const struct {
		enum mb_order order;
		uint16_t regs[2];
	} cases[] = {
		{ MB_ORDER_ABCD, { 0x1122, 0x3344 } },
		{ MB_ORDER_CDAB, { 0x3344, 0x1122 } },
		{ MB_ORDER_BADC, { 0x2211, 0x4433 } },
		{ MB_ORDER_DCBA, { 0x4433, 0x2211 } },
	};
	uint16_t regs[2];

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(mb_get_u32(cases[i].regs, cases[i].order), 0x11223344u);
		mb_set_u32(regs, 0x11223344u, cases[i].order);
		assert_int_equal(regs[0], cases[i].regs[0]);
		assert_int_equal(regs[1], cases[i].regs[1]);
		mb_set_i32(regs, -123456789, cases[i].order);
		assert_int_equal(mb_get_i32(regs, cases[i].order), -123456789);
		mb_set_f32(regs, 230.25f, cases[i].order);
		assert_true(mb_get_f32(regs, cases[i].order) == 230.25f);
	}
	/* 230.25 V as an Acuvim would send it, big-endian ABCD: 0x43664000. */
	assert_true(mb_get_f32((const uint16_t[]){ 0x4366, 0x4000 }, MB_ORDER_ABCD) == 230.25f);
	assert_int_equal(mb_get_i16(0xFFCE), -50);
	assert_int_equal(mb_from_i16(-50), 0xFFCE);
}

static void test_parses_order_names(void **state)
{
	(void)state;
	assert_int_equal(mb_order_parse("abcd"), MB_ORDER_ABCD);
	assert_int_equal(mb_order_parse("CDAB"), MB_ORDER_CDAB);
	assert_int_equal(mb_order_parse("badc"), MB_ORDER_BADC);
	assert_int_equal(mb_order_parse("dcba"), MB_ORDER_DCBA);
	assert_int_equal(mb_order_parse("abdc"), -MB_EINVAL);
	assert_int_equal(mb_order_parse(""), -MB_EINVAL);
	assert_int_equal(mb_order_parse(NULL), -MB_EINVAL);
	assert_string_equal(mb_order_name(MB_ORDER_DCBA), "dcba");
}

static void test_packs_bits_lsb_first(void **state)
{
	uint8_t bits[2] = { 0 };

	(void)state;
	mb_set_bit(bits, 0, true);
	mb_set_bit(bits, 9, true);
	assert_int_equal(bits[0], 0x01);
	assert_int_equal(bits[1], 0x02);
	assert_true(mb_get_bit(bits, 9));
	assert_false(mb_get_bit(bits, 8));
	mb_set_bit(bits, 9, false);
	assert_int_equal(bits[1], 0);
	assert_int_equal(mb_payload_size(MB_FC_READ_COILS, 9), 2);
	assert_int_equal(mb_payload_size(MB_FC_READ_HOLDING_REGISTERS, 9), 18);
	assert_int_equal(mb_payload_size(MB_FC_WRITE_SINGLE_REGISTER, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encodes_seed_read_holding_frame),
		cmocka_unit_test(test_encodes_seed_write_single_register_frame),
		cmocka_unit_test(test_decodes_seed_frames_as_server),
		cmocka_unit_test(test_round_trips_every_read_function),
		cmocka_unit_test(test_round_trips_every_write_function),
		cmocka_unit_test(test_round_trips_exception_reply),
		cmocka_unit_test(test_names_every_error_distinctly),
		cmocka_unit_test(test_rejects_each_malformed_request_with_its_error),
		cmocka_unit_test(test_maps_request_errors_to_exception_codes),
		cmocka_unit_test(test_fills_header_of_rejected_request_for_the_reply),
		cmocka_unit_test(test_rejects_each_malformed_response_with_its_error),
		cmocka_unit_test(test_rejects_write_response_that_is_not_an_echo),
		cmocka_unit_test(test_matches_any_tid_only_when_asked),
		cmocka_unit_test(test_refuses_to_encode_requests_beyond_limits),
		cmocka_unit_test(test_splits_stream_fed_byte_by_byte),
		cmocka_unit_test(test_splits_merged_and_odd_sized_chunks),
		cmocka_unit_test(test_splitter_rejects_bad_header_before_payload),
		cmocka_unit_test(test_splitter_takes_no_bytes_of_the_next_frame),
		cmocka_unit_test(test_orders_32_bit_values_in_all_four_word_orders),
		cmocka_unit_test(test_parses_order_names),
		cmocka_unit_test(test_packs_bits_lsb_first),
	};

	return cmocka_run_group_tests_name("io/codec", tests, NULL, NULL);
}
