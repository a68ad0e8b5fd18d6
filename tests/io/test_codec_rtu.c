// SPDX-License-Identifier: MIT
/*
 * Tests of io/codec_rtu.c: CRC-16/MODBUS against fixed vectors and a bitwise reference, the
 * encoders byte for byte, strict decoding with every named error, the frame finder on
 * partial frames, noise and back-to-back frames, broadcast, the line timing; then libmodbus
 * 3.1.6's RTU backend on the other end of a pty pair made here, both ways (a libmodbus client
 * against a codec server, a codec client against a libmodbus server), and libmodbus's own
 * CRC on raw frames.
 */
#define _GNU_SOURCE /* ptsname_r */
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <modbus.h>

#include "io/modbus.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct mb_req rd(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t qty)
{
	return (struct mb_req){ .unit = unit, .fc = fc, .addr = addr, .qty = qty };
}

static struct mb_req wr1(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t value)
{
	return (struct mb_req){ .unit = unit, .fc = fc, .addr = addr, .qty = 1, .value = value };
}

/* Append the CRC (computed by the code under test, checked against vectors first). */
static size_t seal(uint8_t *f, size_t n)
{
	uint16_t crc = mb_rtu_crc16(f, n);

	f[n] = (uint8_t)crc;
	f[n + 1] = (uint8_t)(crc >> 8);
	return n + 2;
}

/* ---- CRC ---------------------------------------------------------------------------- */

/* The definition, one bit at a time: reflected poly 0xA001, init 0xFFFF, no final xor. */
static uint16_t crc_bitwise(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)(crc >> 1 ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

struct crc_vector {
	uint8_t bytes[16];
	size_t len;
	uint8_t lo, hi; /* as on the wire */
};

#define BYTES(...) .bytes = { __VA_ARGS__ }, .len = sizeof((uint8_t[]){ __VA_ARGS__ })

/*
 * The serial line spec's read example and the application protocol's request examples
 * (unit 0x11), plus frames whose CRC was computed here with a separate python3 bitwise
 * implementation.
 */
static const struct crc_vector crc_vectors[] = {
	{ BYTES(0x01, 0x03, 0x00, 0x00, 0x00, 0x0A), 0xC5, 0xCD },
	{ BYTES(0x11, 0x03, 0x00, 0x6B, 0x00, 0x03), 0x76, 0x87 },
	{ BYTES(0x11, 0x04, 0x00, 0x08, 0x00, 0x01), 0xB2, 0x98 },
	{ BYTES(0x11, 0x06, 0x00, 0x01, 0x00, 0x03), 0x9A, 0x9B },
	{ BYTES(0x11, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02), 0xC6, 0xF0 },
	{ BYTES(0x01, 0x83, 0x02), 0xC0, 0xF1 },
	{ BYTES(0x01, 0x03, 0x07, 0xD0, 0x00, 0x0A), 0xC5, 0x40 },
	{ BYTES('1', '2', '3', '4', '5', '6', '7', '8', '9'), 0x37, 0x4B }, /* the check value */
	{ BYTES(0x00, 0x00), 0x01, 0xB0 },
	{ BYTES(0xFF), 0xFF, 0x00 },
};

static void test_crc_matches_spec_and_independent_vectors(void **state)
{
	(void)state;
	assert_int_equal(mb_rtu_crc16(NULL, 0), 0xFFFF);
	for (unsigned i = 0; i < ARRAY_SIZE(crc_vectors); i++) {
		const struct crc_vector *v = &crc_vectors[i];
		uint16_t crc = mb_rtu_crc16(v->bytes, v->len);

		if ((uint8_t)crc != v->lo || (uint8_t)(crc >> 8) != v->hi)
			fail_msg("vector %u: got %02X %02X, want %02X %02X", i, crc & 0xFF,
				 crc >> 8, v->lo, v->hi);
	}
}

static void test_crc_table_agrees_with_bitwise_definition(void **state)
{
	uint8_t buf[MB_RTU_ADU_MAX];
	uint32_t x = 12345;

	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		uint8_t one = (uint8_t)b;

		assert_int_equal(mb_rtu_crc16(&one, 1), crc_bitwise(&one, 1));
	}
	for (size_t n = 0; n <= sizeof(buf); n++) {
		x = x * 1103515245u + 12345u;
		buf[n % sizeof(buf)] = (uint8_t)(x >> 16);
		assert_int_equal(mb_rtu_crc16(buf, n), crc_bitwise(buf, n));
	}
	/* A sealed frame's CRC over everything, CRC included, is 0: the receiver's check. */
	memcpy(buf, crc_vectors[0].bytes, 6);
	assert_int_equal(mb_rtu_crc16(buf, seal(buf, 6)), 0);
}

/* ---- encoding ----------------------------------------------------------------------- */

static void expect_encoded(const struct mb_req *req, const uint8_t *want, size_t len)
{
	uint8_t buf[MB_RTU_ADU_MAX];
	int n = mb_rtu_encode_req(buf, sizeof(buf), req);

	if (n < 0)
		fail_msg("encode: %s", mb_strerror(n));
	assert_int_equal(n, len);
	assert_memory_equal(buf, want, len);
	/* Exactly the room it needs is enough, one byte less is not. */
	assert_int_equal(mb_rtu_encode_req(buf, len, req), (int)len);
	assert_int_equal(mb_rtu_encode_req(buf, len - 1, req), -MB_ENOSPACE);
}

static void test_encodes_requests_byte_for_byte(void **state)
{
	static const uint8_t fc03[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD };
	static const uint8_t fc03_seed[] = { 0x01, 0x03, 0x07, 0xD0, 0x00, 0x0A, 0xC5, 0x40 };
	static const uint8_t fc04[] = { 0x11, 0x04, 0x00, 0x08, 0x00, 0x01, 0xB2, 0x98 };
	static const uint8_t fc06[] = { 0x11, 0x06, 0x00, 0x01, 0x00, 0x03, 0x9A, 0x9B };
	static const uint8_t fc10[] = { 0x11, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04,
					0x00, 0x0A, 0x01, 0x02, 0xC6, 0xF0 };
	static const uint8_t fc10_data[] = { 0x00, 0x0A, 0x01, 0x02 };
	struct mb_req r03 = rd(1, MB_FC_READ_HOLDING_REGISTERS, 0, 10);
	struct mb_req seed = rd(1, MB_FC_READ_HOLDING_REGISTERS, 2000, 10);
	struct mb_req r04 = rd(0x11, MB_FC_READ_INPUT_REGISTERS, 8, 1);
	struct mb_req w06 = wr1(0x11, MB_FC_WRITE_SINGLE_REGISTER, 1, 3);
	struct mb_req w10 = { .unit = 0x11,
			      .fc = MB_FC_WRITE_MULTIPLE_REGISTERS,
			      .addr = 1,
			      .qty = 2,
			      .byte_count = 4,
			      .data = fc10_data };

	(void)state;
	r03.tid = 0x7777; /* RTU has no transaction id: it must not show */
	expect_encoded(&r03, fc03, sizeof(fc03));
	expect_encoded(&seed, fc03_seed, sizeof(fc03_seed));
	expect_encoded(&r04, fc04, sizeof(fc04));
	expect_encoded(&w06, fc06, sizeof(fc06));
	expect_encoded(&w10, fc10, sizeof(fc10));
}

static void test_encoder_keeps_the_tcp_limits_and_refuses_reserved_units(void **state)
{
	static const uint8_t data[2];
	struct mb_req r = rd(1, MB_FC_READ_HOLDING_REGISTERS, 0, 126);
	struct mb_req w = { .unit = 1, .fc = 0x10, .qty = 1, .byte_count = 1, .data = data };
	uint8_t buf[MB_RTU_ADU_MAX];

	(void)state;
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &r), -MB_EQTY);
	r.qty = 2;
	r.addr = 0xFFFF;
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &r), -MB_EADDR);
	r.fc = 0x07;
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &r), -MB_EFUNC);
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &w), -MB_EBYTECOUNT);
	w = wr1(1, MB_FC_WRITE_SINGLE_COIL, 0, 0x1234);
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &w), -MB_ECOILVAL);
	r = rd(248, MB_FC_READ_HOLDING_REGISTERS, 0, 1);
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &r), -MB_EUNITID);
	r.unit = 255;
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &r), -MB_EUNITID);
	r.unit = MB_RTU_UNIT_MAX;
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &r), 8);
	assert_int_equal(mb_rtu_encode_req(NULL, sizeof(buf), &r), -MB_EINVAL);
	assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), NULL), -MB_EINVAL);
}

/* ---- broadcast ---------------------------------------------------------------------- */

static void test_broadcast_is_write_only_and_never_answered(void **state)
{
	uint8_t buf[MB_RTU_ADU_MAX], frame[16];
	struct mb_req w = wr1(MB_UNIT_BROADCAST, MB_FC_WRITE_SINGLE_REGISTER, 5, 42);
	struct mb_req got;
	struct mb_rsp rsp;
	uint8_t payload[2] = { 0 };
	int n;

	(void)state;
	for (uint8_t fc = MB_FC_READ_COILS; fc <= MB_FC_READ_INPUT_REGISTERS; fc++) {
		struct mb_req r = rd(MB_UNIT_BROADCAST, fc, 0, 1);

		assert_false(mb_rtu_expects_rsp(&r));
		assert_int_equal(mb_rtu_encode_req(buf, sizeof(buf), &r), -MB_EBROADCAST);
		assert_int_equal(mb_rtu_rsp_len(&r), -MB_EBROADCAST);
		/* A server that is sent one anyway rejects it, and may not answer. */
		memcpy(frame, (uint8_t[]){ 0, fc, 0, 0, 0, 1 }, 6);
		assert_int_equal(mb_rtu_decode_req(frame, seal(frame, 6), &got), -MB_EBROADCAST);
		assert_int_equal(mb_exception_for(-MB_EBROADCAST), 0);
		assert_int_equal(mb_rtu_encode_exception(buf, sizeof(buf), &got, 2),
				 -MB_EBROADCAST);
	}

	assert_false(mb_rtu_expects_rsp(&w));
	assert_true(mb_rtu_expects_rsp(&(struct mb_req){ .unit = 1 }));
	assert_int_equal(mb_rtu_rsp_len(&w), 0);
	n = mb_rtu_encode_req(buf, sizeof(buf), &w);
	assert_int_equal(n, 8);
	assert_int_equal(buf[0], 0);
	assert_int_equal(mb_rtu_decode_req(buf, (size_t)n, &got), 0);
	assert_int_equal(got.unit, 0);
	assert_int_equal(got.value, 42);
	/* No reply to a broadcast can be built, and none is accepted. */
	assert_int_equal(mb_rtu_encode_rsp(buf, sizeof(buf), &got, payload), -MB_EBROADCAST);
	memcpy(frame, (uint8_t[]){ 0, 6, 0, 5, 0, 42 }, 6);
	assert_int_equal(mb_rtu_decode_rsp(&w, frame, seal(frame, 6), &rsp), -MB_EBROADCAST);
	assert_int_equal(mb_rtu_rsp_size(&w, frame, 8), -MB_EBROADCAST);
	assert_true(MB_RTU_TURNAROUND_NS >= 100000000 && MB_RTU_TURNAROUND_NS <= 200000000);
}

/* ---- decoding responses ------------------------------------------------------------- */

static void test_decodes_good_response_frames(void **state)
{
	uint8_t f[MB_RTU_ADU_MAX];
	struct mb_req r03 = rd(1, MB_FC_READ_HOLDING_REGISTERS, 0x6B, 2);
	struct mb_req r01 = rd(1, MB_FC_READ_COILS, 0x13, 10);
	struct mb_req w05 = wr1(1, MB_FC_WRITE_SINGLE_COIL, 0xAC, MB_COIL_ON);
	struct mb_req w0f = {
		.unit = 1, .fc = MB_FC_WRITE_MULTIPLE_COILS, .addr = 0x13, .qty = 10
	};
	struct mb_rsp rsp;
	uint16_t regs[2];

	(void)state;
	/* 01 03 04 00 06 00 05 DA 31: the spec-style read reply, CRC from python3. */
	memcpy(f, (uint8_t[]){ 0x01, 0x03, 0x04, 0x00, 0x06, 0x00, 0x05, 0xDA, 0x31 }, 9);
	assert_int_equal(mb_rtu_decode_rsp(&r03, f, 9, &rsp), 0);
	assert_int_equal(rsp.unit, 1);
	assert_int_equal(rsp.fc, 3);
	assert_int_equal(rsp.byte_count, 4);
	assert_ptr_equal(rsp.data, f + 3);
	mb_regs_from_wire(regs, rsp.data, 2);
	assert_int_equal(regs[0], 6);
	assert_int_equal(regs[1], 5);
	assert_int_equal(rsp.addr, 0x6B);
	assert_int_equal(rsp.qty, 2);

	memcpy(f, (uint8_t[]){ 0x01, 0x01, 0x02, 0xCD, 0x01 }, 5);
	assert_int_equal(mb_rtu_decode_rsp(&r01, f, seal(f, 5), &rsp), 0);
	assert_true(mb_get_bit(rsp.data, 0));
	assert_false(mb_get_bit(rsp.data, 1));
	assert_true(mb_get_bit(rsp.data, 8));

	memcpy(f, (uint8_t[]){ 0x01, 0x05, 0x00, 0xAC, 0xFF, 0x00, 0x4C, 0x1B }, 8);
	assert_int_equal(mb_rtu_decode_rsp(&w05, f, 8, &rsp), 0);
	assert_int_equal(rsp.value, MB_COIL_ON);

	memcpy(f, (uint8_t[]){ 0x01, 0x0F, 0x00, 0x13, 0x00, 0x0A }, 6);
	assert_int_equal(mb_rtu_decode_rsp(&w0f, f, seal(f, 6), &rsp), 0);
	assert_int_equal(rsp.qty, 10);
}

static void test_round_trips_every_function_through_the_server_side(void **state)
{
	static const uint8_t fcs[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10 };
	uint8_t payload[250], q[MB_RTU_ADU_MAX], a[MB_RTU_ADU_MAX];

	(void)state;
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 37 + 11);
	for (unsigned i = 0; i < ARRAY_SIZE(fcs); i++) {
		uint16_t qty = fcs[i] <= 2 ? 2000 : fcs[i] <= 4 ? 125 : fcs[i] == 0x0F ? 1968 : 123;
		struct mb_req req = { .unit = 7, .fc = fcs[i], .addr = 100, .qty = qty };
		struct mb_req got;
		struct mb_rsp rsp;
		int nq, na;

		if (fcs[i] == 0x05 || fcs[i] == 0x06) {
			req.qty = 1;
			req.value = MB_COIL_ON;
		}
		if (fcs[i] == 0x0F || fcs[i] == 0x10) {
			req.byte_count = (uint8_t)mb_payload_size(req.fc, req.qty);
			req.data = payload;
		}
		nq = mb_rtu_encode_req(q, sizeof(q), &req);
		assert_true(nq > 0);
		assert_int_equal(mb_rtu_req_size(q, (size_t)nq), nq);
		assert_int_equal(mb_rtu_decode_req(q, (size_t)nq, &got), 0);
		assert_int_equal(got.unit, 7);
		assert_int_equal(got.fc, req.fc);
		assert_int_equal(got.qty, req.qty);
		if (req.data)
			assert_memory_equal(got.data, payload, req.byte_count);
		na = mb_rtu_encode_rsp(a, sizeof(a), &got, payload);
		assert_true(na > 0);
		assert_int_equal(na, mb_rtu_rsp_len(&req));
		assert_true(na <= MB_RTU_ADU_MAX);
		assert_int_equal(mb_rtu_rsp_size(&req, a, (size_t)na), na);
		assert_int_equal(mb_rtu_decode_rsp(&req, a, (size_t)na, &rsp), 0);
		if (fcs[i] <= 4)
			assert_memory_equal(rsp.data, payload, rsp.byte_count);
		/* And an exception reply to the same request. */
		na = mb_rtu_encode_exception(a, sizeof(a), &got, MB_EX_SERVER_DEVICE_BUSY);
		assert_int_equal(na, 5);
		assert_int_equal(mb_rtu_rsp_size(&req, a, 2), 5);
		assert_int_equal(mb_rtu_decode_rsp(&req, a, 5, &rsp),
				 -MB_EXC(MB_EX_SERVER_DEVICE_BUSY));
		assert_int_equal(rsp.exception, MB_EX_SERVER_DEVICE_BUSY);
		assert_int_equal(rsp.fc, req.fc);
		assert_null(rsp.data);
	}
}

static void test_decodes_exception_reply_as_the_tcp_side_does(void **state)
{
	uint8_t f[8] = { 0x01, 0x83, 0x02, 0xC0, 0xF1 };
	struct mb_req req = rd(1, MB_FC_READ_HOLDING_REGISTERS, 0, 10);
	struct mb_rsp rsp;
	int err = mb_rtu_decode_rsp(&req, f, 5, &rsp);

	(void)state;
	assert_int_equal(err, -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
	assert_string_equal(mb_strerror(err), "exception 0x02 illegal data address");
	assert_int_equal(rsp.exception, 2);
	assert_int_equal(rsp.unit, 1);
	assert_int_equal(rsp.fc, 3);
	assert_null(rsp.data);
	/* An exception with a byte too many is malformed, as on TCP. */
	memcpy(f, (uint8_t[]){ 0x01, 0x83, 0x02, 0x00 }, 4);
	assert_int_equal(mb_rtu_decode_rsp(&req, f, seal(f, 4), &rsp), -MB_EEXCLEN);
	memcpy(f, (uint8_t[]){ 0x01, 0x83 }, 2);
	assert_int_equal(mb_rtu_decode_rsp(&req, f, seal(f, 2), &rsp), -MB_EEXCLEN);
}

/* A malformed response: frame without CRC (sealed by the test unless raw), request, error. */
struct bad_rsp {
	const char *what;
	struct mb_req req;
	uint8_t bytes[MB_RTU_ADU_MAX];
	size_t len;
	bool raw; /* bytes are the whole frame, CRC included (or not) */
	int err;
};

#define FRAME(...) .bytes = { __VA_ARGS__ }, .len = sizeof((uint8_t[]){ __VA_ARGS__ })
#define R03(q)                                                                                     \
	{                                                                                          \
		.unit = 1, .fc = 3, .addr = 0, .qty = (q)                                          \
	}
#define W06                                                                                        \
	{                                                                                          \
		.unit = 1, .fc = 6, .addr = 1, .qty = 1, .value = 3                                \
	}

static const struct bad_rsp bad_rsps[] = {
	{ "empty", R03(1), .len = 0, .raw = true, .err = -MB_ESHORT },
	{ "three bytes", R03(1), FRAME(1, 3, 2), .raw = true, .err = -MB_ESHORT },
	{ "CRC flipped", R03(1), FRAME(1, 3, 2, 0, 7, 0x00, 0x00), .raw = true, .err = -MB_ECRC },
	{ "CRC bytes swapped", R03(10), FRAME(0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xCD, 0xC5),
	  .raw = true, .err = -MB_ECRC },
	{ "longer than any frame", R03(1), .len = MB_RTU_ADU_MAX + 1, .raw = true,
	  .err = -MB_ELENGTH },
	{ "another unit", R03(1), FRAME(2, 3, 2, 0, 7), .err = -MB_EUNIT },
	{ "another function", R03(1), FRAME(1, 4, 2, 0, 7), .err = -MB_EFCMISMATCH },
	{ "another function's exception", R03(1), FRAME(1, 0x84, 2), .err = -MB_EFCMISMATCH },
	{ "byte count 4 for 1 register", R03(1), FRAME(1, 3, 4, 0, 7, 0, 8),
	  .err = -MB_EBYTECOUNT },
	{ "byte count beyond the frame", R03(1), FRAME(1, 3, 4, 0, 7), .err = -MB_ELENGTH },
	{ "byte count short of the frame", R03(1), FRAME(1, 3, 2, 0, 7, 9), .err = -MB_ELENGTH },
	{ "read reply without byte count", R03(1), FRAME(1, 3), .err = -MB_ELENGTH },
	{ "write echo cut", W06, FRAME(1, 6, 0, 1, 0), .err = -MB_ELENGTH },
	{ "write echo of another value", W06, FRAME(1, 6, 0, 1, 0, 4), .err = -MB_EECHO },
	{ "write echo of another address", W06, FRAME(1, 6, 0, 2, 0, 3), .err = -MB_EECHO },
};

static void test_rejects_each_malformed_response_with_its_error(void **state)
{
	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		const struct bad_rsp *b = &bad_rsps[i];
		uint8_t f[MB_RTU_ADU_MAX + 8];
		size_t len = b->len;
		struct mb_rsp rsp;
		int got;

		memcpy(f, b->bytes, sizeof(b->bytes));
		if (!b->raw)
			len = seal(f, len);
		got = mb_rtu_decode_rsp(&b->req, f, len, &rsp);
		if (got != b->err)
			fail_msg("%s: got %d (%s), want %d (%s)", b->what, got, mb_strerror(got),
				 b->err, mb_strerror(b->err));
		assert_null(rsp.data);
	}
}

static void test_rejects_bad_arguments_and_requests_with_no_reply(void **state)
{
	uint8_t f[8] = { 1, 3, 2, 0, 7 };
	struct mb_req req = rd(1, 0x07, 0, 1);
	struct mb_rsp rsp;
	size_t len = seal(f, 5);

	(void)state;
	assert_int_equal(mb_rtu_decode_rsp(&req, f, len, &rsp), -MB_EINVAL);
	req = rd(249, 3, 0, 1);
	assert_int_equal(mb_rtu_decode_rsp(&req, f, len, &rsp), -MB_EUNITID);
	assert_int_equal(mb_rtu_decode_rsp(NULL, f, len, &rsp), -MB_EINVAL);
	req = rd(1, 3, 0, 1);
	assert_int_equal(mb_rtu_decode_rsp(&req, f, len, NULL), -MB_EINVAL);
	assert_int_equal(mb_rtu_decode_rsp(&req, NULL, len, &rsp), -MB_ESHORT);
	assert_int_equal(mb_rtu_decode_rsp(&req, f, len, &rsp), 0);
}

/* ---- decoding requests (server side) ------------------------------------------------ */

struct bad_req {
	const char *what;
	uint8_t bytes[MB_RTU_ADU_MAX];
	size_t len;
	int err;
};

static const struct bad_req bad_reqs[] = {
	{ "unit alone", FRAME(1), -MB_ESHORT },
	{ "FC03 with 1 byte of data", FRAME(1, 3, 0), -MB_ELENGTH },
	{ "function 0x07", FRAME(1, 7), -MB_EFUNC },
	{ "function 0x83", FRAME(1, 0x83, 2), -MB_EFUNC },
	{ "reserved unit 248", FRAME(248, 3, 0, 0, 0, 1), -MB_EUNITID },
	{ "FC03 cut", FRAME(1, 3, 0, 0, 0), -MB_ELENGTH },
	{ "FC03 byte too many", FRAME(1, 3, 0, 0, 0, 1, 0), -MB_ELENGTH },
	{ "FC03 quantity 126", FRAME(1, 3, 0, 0, 0, 126), -MB_EQTY },
	{ "FC01 address+quantity beyond", FRAME(1, 1, 0xFF, 0x00, 0x01, 0x01), -MB_EADDR },
	{ "FC10 byte count 2 for 2 registers", FRAME(1, 0x10, 0, 0, 0, 2, 2, 0, 1),
	  -MB_EBYTECOUNT },
	{ "FC10 byte count beyond the frame", FRAME(1, 0x10, 0, 0, 0, 1, 4, 0, 1), -MB_ELENGTH },
	{ "FC05 value 0x0001", FRAME(1, 5, 0, 1, 0, 1), -MB_ECOILVAL },
};

static void test_rejects_each_malformed_request_with_its_error(void **state)
{
	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(bad_reqs); i++) {
		const struct bad_req *b = &bad_reqs[i];
		uint8_t f[MB_RTU_ADU_MAX + 2];
		struct mb_req req;
		int got;

		memcpy(f, b->bytes, b->len);
		got = mb_rtu_decode_req(f, seal(f, b->len), &req);
		if (got != b->err)
			fail_msg("%s: got %d (%s), want %d (%s)", b->what, got, mb_strerror(got),
				 b->err, mb_strerror(b->err));
		assert_null(req.data);
	}
}

static void test_request_decoder_checks_crc_first_and_fills_header_for_reply(void **state)
{
	uint8_t f[16] = { 1, 3, 0, 0, 0, 126 }, a[16];
	struct mb_req req;
	size_t len = seal(f, 6);

	(void)state;
	assert_int_equal(mb_rtu_decode_req(f, len, &req), -MB_EQTY);
	assert_int_equal(req.unit, 1);
	assert_int_equal(req.fc, 3);
	assert_int_equal(mb_rtu_encode_exception(a, sizeof(a), &req, mb_exception_for(-MB_EQTY)),
			 5);
	assert_memory_equal(a, ((uint8_t[]){ 1, 0x83, 3 }), 3);
	f[len - 1] ^= 0x01;
	assert_int_equal(mb_rtu_decode_req(f, len, &req), -MB_ECRC);
	assert_int_equal(req.unit, 0); /* nothing believed from a frame that fails its CRC */
	assert_int_equal(mb_exception_for(-MB_ECRC), 0);
	assert_int_equal(mb_rtu_decode_req(f, len, NULL), -MB_EINVAL);
}

/* ---- frame sizes -------------------------------------------------------------------- */

static void test_infers_frame_sizes_from_function_and_byte_count(void **state)
{
	struct mb_req r03 = rd(1, 3, 0, 10), r01 = rd(1, 1, 0, 9), w10 = rd(1, 0x10, 0, 3);
	const uint8_t *none = NULL;

	(void)state;
	assert_int_equal(mb_rtu_rsp_size(&r03, none, 0), 0);
	assert_int_equal(mb_rtu_rsp_size(&r03, (uint8_t[]){ 1 }, 1), 0);
	assert_int_equal(mb_rtu_rsp_size(&r03, (uint8_t[]){ 1, 3 }, 2), 0);
	assert_int_equal(mb_rtu_rsp_size(&r03, (uint8_t[]){ 1, 3, 20 }, 3), 25);
	assert_int_equal(mb_rtu_rsp_size(&r03, (uint8_t[]){ 1, 0x83 }, 2), 5);
	assert_int_equal(mb_rtu_rsp_size(&r03, (uint8_t[]){ 2 }, 1), -MB_EUNIT);
	assert_int_equal(mb_rtu_rsp_size(&r03, (uint8_t[]){ 1, 4 }, 2), -MB_EFCMISMATCH);
	assert_int_equal(mb_rtu_rsp_size(&r03, (uint8_t[]){ 1, 3, 19 }, 3), -MB_EBYTECOUNT);
	assert_int_equal(mb_rtu_rsp_size(&r01, (uint8_t[]){ 1, 1, 2 }, 3), 7);
	assert_int_equal(mb_rtu_rsp_size(&w10, (uint8_t[]){ 1, 0x10 }, 2), 8);
	assert_int_equal(mb_rtu_rsp_size(&w10, none, 2), -MB_EINVAL);
	assert_int_equal(mb_rtu_rsp_len(&r03), 25);
	assert_int_equal(mb_rtu_rsp_len(&r01), 7);
	assert_int_equal(mb_rtu_rsp_len(&w10), 8);
	assert_int_equal(mb_rtu_rsp_len(&(struct mb_req){ .unit = 1, .fc = 3 }), -MB_EQTY);
	assert_int_equal(mb_rtu_rsp_len(&(struct mb_req){ .unit = 1, .fc = 9 }), -MB_EFUNC);

	assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1 }, 1), 0);
	for (uint8_t fc = 1; fc <= 6; fc++)
		assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1, fc }, 2), 8);
	assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1, 0x10, 0, 0, 0, 2 }, 6), 0);
	assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1, 0x10, 0, 0, 0, 2, 4 }, 7), 13);
	assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1, 0x0F, 0, 0, 0, 9, 2 }, 7), 11);
	assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1, 0x10, 0, 0, 0, 124, 248 }, 7),
			 -MB_EBYTECOUNT);
	assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1, 0x10, 0, 0, 0, 123, 247 }, 7), 256);
	assert_int_equal(mb_rtu_req_size((uint8_t[]){ 1, 0x2B }, 2), -MB_EFUNC);
}

/* ---- the frame finder --------------------------------------------------------------- */

/* Feed `in` to the finder in chunks of `chunk`; collect the frames found (offsets in out). */
static unsigned find_frames(struct mb_rtu_splitter *s, const struct mb_req *req, const uint8_t *in,
			    size_t len, size_t chunk, uint8_t out[][MB_RTU_ADU_MAX], size_t *sizes,
			    unsigned max)
{
	unsigned found = 0;

	for (size_t off = 0; off < len;) {
		size_t n = len - off < chunk ? len - off : chunk;
		const uint8_t *p = in + off;

		off += n;
		for (unsigned guard = 0;; guard++) {
			const uint8_t *frame;
			size_t used;
			int r = mb_rtu_split(s, req, p, n, &used, &frame);

			assert_true(guard < 2 * MB_RTU_ADU_MAX);
			assert_true(r >= 0);
			assert_true(used <= n);
			p += used;
			n -= used;
			if (r == 0) {
				assert_int_equal(n, 0);
				break;
			}
			assert_true(found < max);
			memcpy(out[found], frame, (size_t)r);
			sizes[found++] = (size_t)r;
		}
	}
	return found;
}

static size_t read_reply(uint8_t *f, uint8_t unit, const uint16_t *regs, unsigned n)
{
	f[0] = unit;
	f[1] = 3;
	f[2] = (uint8_t)(2 * n);
	mb_regs_to_wire(f + 3, regs, n);
	return seal(f, 3 + 2 * n);
}

static void test_finds_a_frame_split_at_every_byte(void **state)
{
	static const uint16_t regs[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct mb_req req = rd(1, 3, 2000, 10);
	uint8_t f[MB_RTU_ADU_MAX], out[2][MB_RTU_ADU_MAX];
	size_t len = read_reply(f, 1, regs, 10), sizes[2];

	(void)state;
	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct mb_rtu_splitter s = { 0 };

		assert_int_equal(find_frames(&s, &req, f, len, chunk, out, sizes, 2), 1);
		assert_int_equal(sizes[0], len);
		assert_memory_equal(out[0], f, len);
		assert_int_equal(s.discarded, 0);
		assert_int_equal(s.noise_err, 0);
	}
	/* A frame cut short stays pending: no frame, nothing discarded. */
	{
		struct mb_rtu_splitter s = { 0 };

		assert_int_equal(find_frames(&s, &req, f, len - 1, 4, out, sizes, 2), 0);
		assert_int_equal(s.discarded, 0);
		assert_int_equal(s.len, len - 1);
		mb_rtu_split_reset(&s);
		assert_int_equal(s.len, 0);
	}
}

static void test_discards_and_counts_noise_before_a_frame(void **state)
{
	static const uint16_t regs[2] = { 0xBEEF, 0x0102 };
	/* Line noise, then bytes that look like the reply's start, then a reply of unit 2. */
	static const uint8_t noise[] = { 0x00, 0xFF, 0x55, 0x01, 0x01, 0x01, 0x03, 0x07, 0x01 };
	struct mb_req req = rd(1, 3, 0, 2);
	uint8_t stream[128], out[2][MB_RTU_ADU_MAX], other[16];
	size_t len, olen = read_reply(other, 2, regs, 2), flen, sizes[2];

	(void)state;
	memcpy(stream, noise, sizeof(noise));
	memcpy(stream + sizeof(noise), other, olen);
	len = sizeof(noise) + olen;
	flen = read_reply(stream + len, 1, regs, 2);
	len += flen;
	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct mb_rtu_splitter s = { 0 };

		assert_int_equal(find_frames(&s, &req, stream, len, chunk, out, sizes, 2), 1);
		assert_int_equal(sizes[0], flen);
		assert_memory_equal(out[0], stream + len - flen, flen);
		assert_int_equal(s.discarded, sizeof(noise) + olen);
		assert_int_not_equal(s.noise_err, 0);
	}
}

static void test_resyncs_inside_a_frame_that_fails_its_crc(void **state)
{
	static const uint16_t regs[1] = { 0x1234 };
	struct mb_req req = rd(1, 3, 0, 1);
	uint8_t stream[64], out[2][MB_RTU_ADU_MAX];
	size_t bad = read_reply(stream, 1, regs, 1), good, sizes[2];
	struct mb_rtu_splitter s = { 0 };

	(void)state;
	stream[bad - 1] ^= 0x40; /* a reply hit by noise */
	good = read_reply(stream + bad, 1, regs, 1);
	assert_int_equal(find_frames(&s, &req, stream, bad, 1, out, sizes, 2), 0);
	assert_int_equal(s.noise_err, -MB_ECRC);
	assert_true(s.discarded >= 1);
	/* The finder hunts on inside the bad bytes, and the retry's reply is found whole. */
	assert_int_equal(find_frames(&s, &req, stream + bad, good, 3, out, sizes, 2), 1);
	assert_int_equal(sizes[0], good);
	assert_memory_equal(out[0], stream + bad, good);
	assert_int_equal(s.discarded, bad);
	mb_rtu_split_reset(&s);
	assert_int_equal(s.noise_err, 0);
	assert_int_equal(s.discarded, bad); /* a counter of the line, not of one request */
}

static void test_finds_two_frames_back_to_back(void **state)
{
	struct mb_req req = rd(1, 6, 1, 1);
	uint8_t stream[32], out[3][MB_RTU_ADU_MAX];
	size_t len, sizes[3];

	(void)state;
	req.value = 3;
	len = (size_t)mb_rtu_encode_rsp(stream, sizeof(stream), &req, NULL);
	memcpy(stream + len, stream, len);
	for (size_t chunk = 1; chunk <= 2 * len; chunk++) {
		struct mb_rtu_splitter s = { 0 };

		assert_int_equal(find_frames(&s, &req, stream, 2 * len, chunk, out, sizes, 3), 2);
		assert_int_equal(sizes[0], len);
		assert_int_equal(sizes[1], len);
		assert_memory_equal(out[1], stream + len, len);
		assert_int_equal(s.discarded, 0);
	}
}

static void test_takes_no_byte_past_the_frame(void **state)
{
	struct mb_req req = rd(1, 4, 0, 1);
	uint8_t stream[32] = { 1, 0x84, 2 };
	struct mb_rtu_splitter s = { 0 };
	const uint8_t *frame;
	size_t len = seal(stream, 3), used;

	(void)state;
	stream[len] = 0xAA;
	stream[len + 1] = 0xBB;
	assert_int_equal(mb_rtu_split(&s, &req, stream, len + 2, &used, &frame), 5);
	assert_int_equal(used, 5);
	assert_int_equal(mb_rtu_split(&s, &req, NULL, 0, &used, &frame), 0);
	assert_int_equal(used, 0);
	assert_int_equal(s.len, 0);
	/* A request with no reply cannot be awaited. */
	req.unit = 0;
	assert_int_equal(mb_rtu_split(&s, &req, stream, len, &used, &frame), -MB_EBROADCAST);
	assert_int_equal(used, 0);
}

static void test_server_side_finds_requests_for_any_unit_among_noise(void **state)
{
	static const uint8_t regs[4] = { 0, 1, 0, 2 };
	struct mb_req a = rd(3, 4, 10, 2), b = { .unit = 9, .fc = 0x10, .qty = 2 };
	uint8_t stream[64] = { 0x07, 0x2B }, out[3][MB_RTU_ADU_MAX];
	size_t len = 2, la, sizes[3];
	struct mb_req got;

	(void)state;
	b.byte_count = 4;
	b.data = regs;
	la = (size_t)mb_rtu_encode_req(stream + len, sizeof(stream) - len, &a);
	len += la;
	len += (size_t)mb_rtu_encode_req(stream + len, sizeof(stream) - len, &b);
	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct mb_rtu_splitter s = { 0 };

		assert_int_equal(find_frames(&s, NULL, stream, len, chunk, out, sizes, 3), 2);
		assert_int_equal(s.discarded, 2);
		assert_int_equal(mb_rtu_decode_req(out[0], sizes[0], &got), 0);
		assert_int_equal(got.unit, 3);
		assert_int_equal(mb_rtu_decode_req(out[1], sizes[1], &got), 0);
		assert_int_equal(got.unit, 9);
		assert_memory_equal(got.data, regs, 4);
	}
}

/* ---- timing and names --------------------------------------------------------------- */

static void test_computes_line_silences_from_the_baud_rate(void **state)
{
	(void)state;
	/* 9600 baud: a character is 11 bits = 1145.83 us; t3.5 = 4010.4 us, t1.5 = 1718.75 us. */
	assert_int_equal(mb_rtu_char_ns(9600), 1145834);
	assert_int_equal(mb_rtu_t35_ns(9600), 4010417);
	assert_int_equal(mb_rtu_t15_ns(9600), 1718750);
	assert_int_equal(mb_rtu_t35_ns(1200), 32083334);
	assert_int_equal(mb_rtu_t35_ns(19200), 2005209);
	/* Above 19200 baud both are fixed. */
	assert_int_equal(mb_rtu_t35_ns(19201), 1750000);
	assert_int_equal(mb_rtu_t35_ns(115200), 1750000);
	assert_int_equal(mb_rtu_t15_ns(115200), 750000);
	assert_int_equal(mb_rtu_t15_ns(38400), MB_RTU_T15_FIXED_NS);
	assert_int_equal(mb_rtu_char_ns(115200), 95487);
	/* The seed's 10-register read at 9600: 8 + 25 bytes on the wire. */
	assert_int_equal(mb_rtu_wire_ns(9600, 33), 37812500);
	assert_int_equal(mb_rtu_wire_ns(9600, 0), 0);
	assert_int_equal(mb_rtu_t35_ns(0), -MB_EINVAL);
	assert_int_equal(mb_rtu_t15_ns(0), -MB_EINVAL);
	assert_int_equal(mb_rtu_char_ns(0), -MB_EINVAL);
	assert_int_equal(mb_rtu_wire_ns(0, 8), -MB_EINVAL);
	for (uint32_t baud = 1; baud <= 19200; baud = baud * 3 + 1)
		assert_true(mb_rtu_t35_ns(baud) > mb_rtu_t15_ns(baud));
}

static void test_names_the_rtu_errors(void **state)
{
	(void)state;
	assert_string_equal(mb_strerror(-MB_ECRC), "RTU frame CRC mismatch");
	assert_string_not_equal(mb_strerror(-MB_EBROADCAST), mb_strerror(-MB_EUNITID));
	assert_non_null(strstr(mb_strerror(MB_EBROADCAST), "broadcast"));
	assert_non_null(strstr(mb_strerror(MB_EUNITID), "247"));
	for (int e = MB_ERR_BASE; e < MB_ERR_END; e++)
		if (e != MB_ECRC)
			assert_string_not_equal(mb_strerror(e), mb_strerror(MB_ECRC));
}

/* ---- libmodbus on a pty ------------------------------------------------------------- */

#define PTY_TIMEOUT_MS 2000
#define BANK_SIZE      256
#define SRV_UNIT       0x11

/* One pty pair: libmodbus opens the slave path, the codec speaks on the master fd. */
struct pty {
	int master;
	char slave[64];
	modbus_t *mb;
};

static int pty_open(struct pty *p)
{
	p->master = posix_openpt(O_RDWR | O_NOCTTY);
	if (p->master < 0)
		return -errno;
	if (grantpt(p->master) || unlockpt(p->master) ||
	    ptsname_r(p->master, p->slave, sizeof(p->slave))) {
		int err = -errno;

		close(p->master);
		return err;
	}
	return 0;
}

/* Read exactly n bytes from fd, or fail after PTY_TIMEOUT_MS without progress. */
static void read_exact(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, PTY_TIMEOUT_MS) != 1)
			fail_msg("pty: %zu of %zu bytes, then silence", got, n);
		r = read(fd, buf + got, n - got);
		if (r <= 0)
			fail_msg("pty read: %s", r ? strerror(errno) : "EOF");
		got += (size_t)r;
	}
}

/* Write all n bytes; false on an error. Safe off the test's thread (it never fails the test). */
static bool put_all(int fd, const uint8_t *buf, size_t n)
{
	for (unsigned tries = 0; n && tries < 100; tries++) {
		ssize_t w = write(fd, buf, n);

		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return n == 0;
}

static void write_all(int fd, const uint8_t *buf, size_t n)
{
	if (!put_all(fd, buf, n))
		fail_msg("pty write: %s", strerror(errno));
}

/* A codec server on the master side of a pty: a bank of registers and bits, unit SRV_UNIT. */
struct codec_srv {
	struct pty pty;
	pthread_t thread;
	atomic_bool stop;
	uint16_t regs[BANK_SIZE];
	uint8_t bits[BANK_SIZE];
	atomic_uint served, broadcasts, refused; /* written by the server thread */
};

/* Answer one decoded request as a device would: bank bounds give exception 0x02. */
static int serve(struct codec_srv *c, struct mb_req *req, int err, uint8_t *out)
{
	uint8_t payload[250] = { 0 };

	if (err) {
		uint8_t code = mb_exception_for(err);

		return code ? mb_rtu_encode_exception(out, MB_RTU_ADU_MAX, req, code) : err;
	}
	if ((uint32_t)req->addr + req->qty > BANK_SIZE)
		return mb_rtu_encode_exception(out, MB_RTU_ADU_MAX, req, 2);
	switch (req->fc) {
	case MB_FC_READ_COILS:
	case MB_FC_READ_DISCRETE_INPUTS:
		for (unsigned i = 0; i < req->qty; i++)
			mb_set_bit(payload, i, c->bits[req->addr + i] ^ (req->fc == 2));
		break;
	case MB_FC_READ_HOLDING_REGISTERS:
	case MB_FC_READ_INPUT_REGISTERS:
		for (unsigned i = 0; i < req->qty; i++)
			mb_put_u16(payload + 2 * i, (uint16_t)(c->regs[req->addr + i] ^
							       (req->fc == 4 ? 0xFFFF : 0)));
		break;
	case MB_FC_WRITE_SINGLE_COIL:
		c->bits[req->addr] = req->value == MB_COIL_ON;
		break;
	case MB_FC_WRITE_SINGLE_REGISTER:
		c->regs[req->addr] = req->value;
		break;
	case MB_FC_WRITE_MULTIPLE_COILS:
		for (unsigned i = 0; i < req->qty; i++)
			c->bits[req->addr + i] = mb_get_bit(req->data, i);
		break;
	case MB_FC_WRITE_MULTIPLE_REGISTERS:
		mb_regs_from_wire(c->regs + req->addr, req->data, req->qty);
		break;
	}
	return mb_rtu_encode_rsp(out, MB_RTU_ADU_MAX, req, payload);
}

static void *codec_srv_main(void *arg)
{
	struct codec_srv *c = arg;
	struct mb_rtu_splitter s = { 0 };

	/* Bounded: the test stops it, and each poll waits at most 50 ms. */
	for (unsigned polls = 0; !atomic_load(&c->stop) && polls < 2000; polls++) {
		struct pollfd pfd = { .fd = c->pty.master, .events = POLLIN };
		uint8_t in[512];
		const uint8_t *p = in;
		ssize_t n;

		if (poll(&pfd, 1, 50) != 1)
			continue;
		n = read(c->pty.master, in, sizeof(in));
		if (n <= 0)
			break;
		for (;;) {
			const uint8_t *frame;
			uint8_t out[MB_RTU_ADU_MAX];
			struct mb_req req;
			size_t used;
			int r = mb_rtu_split(&s, NULL, p, (size_t)n, &used, &frame);

			p += used;
			n -= (ssize_t)used;
			if (r <= 0)
				break;
			r = mb_rtu_decode_req(frame, (size_t)r, &req);
			if (req.unit == MB_UNIT_BROADCAST && r == 0) {
				/* Applied, never answered: the encoder would refuse anyway. */
				c->broadcasts++;
				if (serve(c, &req, 0, out) != -MB_EBROADCAST)
					c->refused += 1000;
				continue;
			}
			if (req.unit != SRV_UNIT)
				continue;
			r = serve(c, &req, r, out);
			if (r < 0) {
				c->refused++;
				continue;
			}
			if (!put_all(c->pty.master, out, (size_t)r)) {
				c->refused++;
				break;
			}
			c->served++;
		}
	}
	return NULL;
}

static modbus_t *libmodbus_rtu(const char *path)
{
	modbus_t *mb = modbus_new_rtu(path, 19200, 'E', 8, 1);

	if (!mb)
		return NULL;
	modbus_set_response_timeout(mb, 1, 0);
	if (modbus_connect(mb) < 0) {
		fprintf(stderr, "modbus_connect %s: %s\n", path, modbus_strerror(errno));
		modbus_free(mb);
		return NULL;
	}
	return mb;
}

static int setup_codec_server(void **state)
{
	struct codec_srv *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	for (unsigned i = 0; i < BANK_SIZE; i++) {
		c->regs[i] = (uint16_t)(i * 257u + 3u);
		c->bits[i] = i % 3 == 0;
	}
	if (pty_open(&c->pty) < 0)
		goto out_free;
	/* libmodbus puts the slave side in raw mode before any byte moves. */
	c->pty.mb = libmodbus_rtu(c->pty.slave);
	if (!c->pty.mb)
		goto out_close;
	modbus_set_slave(c->pty.mb, SRV_UNIT);
	if (pthread_create(&c->thread, NULL, codec_srv_main, c))
		goto out_mb;
	*state = c;
	return 0;

out_mb:
	modbus_close(c->pty.mb);
	modbus_free(c->pty.mb);
out_close:
	close(c->pty.master);
out_free:
	free(c);
	return -1;
}

static int teardown_codec_server(void **state)
{
	struct codec_srv *c = *state;

	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	modbus_close(c->pty.mb);
	modbus_free(c->pty.mb);
	close(c->pty.master);
	free(c);
	return 0;
}

static void test_libmodbus_rtu_client_against_codec_server_all_functions(void **state)
{
	struct codec_srv *c = *state;
	modbus_t *mb = c->pty.mb;
	uint16_t regs[125], wregs[123];
	uint8_t bits[2000], wbits[200];

	for (unsigned i = 0; i < 123; i++)
		wregs[i] = (uint16_t)(0xA000 + i);
	for (unsigned i = 0; i < 200; i++)
		wbits[i] = i % 2;

	assert_int_equal(modbus_read_registers(mb, 10, 125, regs), 125);
	for (unsigned i = 0; i < 125; i++)
		assert_int_equal(regs[i], (uint16_t)((10 + i) * 257u + 3u));
	assert_int_equal(modbus_read_input_registers(mb, 0, 3, regs), 3);
	assert_int_equal(regs[2], (uint16_t) ~(2 * 257u + 3u));
	assert_int_equal(modbus_read_bits(mb, 1, 20, bits), 20);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(bits[i], (1 + i) % 3 == 0);
	assert_int_equal(modbus_read_input_bits(mb, 0, 9, bits), 9);
	assert_int_equal(bits[0], 0);
	assert_int_equal(bits[1], 1);

	assert_int_equal(modbus_write_register(mb, 7, 0x4242), 1);
	assert_int_equal(modbus_write_bit(mb, 5, 1), 1);
	assert_int_equal(modbus_write_registers(mb, 100, 123, wregs), 123);
	assert_int_equal(modbus_write_bits(mb, 50, 200, wbits), 200);
	assert_int_equal(modbus_read_registers(mb, 7, 1, regs), 1);
	assert_int_equal(regs[0], 0x4242);
	assert_int_equal(modbus_read_registers(mb, 100, 123, regs), 123);
	assert_memory_equal(regs, wregs, sizeof(wregs));
	assert_int_equal(modbus_read_bits(mb, 5, 1, bits), 1);
	assert_int_equal(bits[0], 1);
	assert_int_equal(modbus_read_bits(mb, 50, 200, bits), 200);
	assert_memory_equal(bits, wbits, 200);

	/* The codec's exception reply reaches libmodbus as the named exception. */
	assert_int_equal(modbus_read_registers(mb, BANK_SIZE - 1, 2, regs), -1);
	assert_int_equal(errno, EMBXILADD);
	assert_int_equal(c->refused, 0);
}

static void test_libmodbus_rtu_broadcast_write_is_applied_and_not_answered(void **state)
{
	struct codec_srv *c = *state;
	modbus_t *mb = c->pty.mb;
	uint16_t reg;

	/*
	 * libmodbus 3.1.6 waits for a reply even to a broadcast, so it ends in its response
	 * timeout (kept short here): the codec server sends nothing, as the spec wants.
	 */
	modbus_set_slave(mb, MODBUS_BROADCAST_ADDRESS);
	modbus_set_response_timeout(mb, 0, 200000);
	assert_int_equal(modbus_write_register(mb, 9, 0x0909), -1);
	assert_int_equal(errno, ETIMEDOUT);
	modbus_set_response_timeout(mb, 1, 0);
	modbus_set_slave(mb, SRV_UNIT);
	/* The next exchange proves the line is clean: no stray reply to the broadcast. */
	assert_int_equal(modbus_read_registers(mb, 9, 1, &reg), 1);
	assert_int_equal(reg, 0x0909);
	assert_int_equal(c->broadcasts, 1);
	assert_int_equal(c->refused, 0);
}

/* A libmodbus RTU server on the slave side; the test drives the codec client by hand. */
struct mb_srv {
	struct pty pty;
	modbus_mapping_t *map;
};

static int setup_libmodbus_server(void **state)
{
	struct mb_srv *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	if (pty_open(&m->pty) < 0)
		goto out_free;
	m->pty.mb = libmodbus_rtu(m->pty.slave);
	if (!m->pty.mb)
		goto out_close;
	modbus_set_slave(m->pty.mb, SRV_UNIT);
	m->map = modbus_mapping_new(BANK_SIZE, BANK_SIZE, BANK_SIZE, BANK_SIZE);
	if (!m->map)
		goto out_mb;
	for (unsigned i = 0; i < BANK_SIZE; i++) {
		m->map->tab_registers[i] = (uint16_t)(0x1000 + i);
		m->map->tab_input_registers[i] = (uint16_t)(0x2000 + i);
		m->map->tab_bits[i] = i % 2;
		m->map->tab_input_bits[i] = i % 5 == 0;
	}
	*state = m;
	return 0;

out_mb:
	modbus_close(m->pty.mb);
	modbus_free(m->pty.mb);
out_close:
	close(m->pty.master);
out_free:
	free(m);
	return -1;
}

static int teardown_libmodbus_server(void **state)
{
	struct mb_srv *m = *state;

	modbus_mapping_free(m->map);
	modbus_close(m->pty.mb);
	modbus_free(m->pty.mb);
	close(m->pty.master);
	free(m);
	return 0;
}

/*
 * One exchange: the codec's request goes down the master, libmodbus receives it (checking
 * its CRC) and replies; the reply is found byte by byte and decoded. Returns the decode
 * result; rsp->data points into buf.
 */
static int exchange(struct mb_srv *m, const struct mb_req *req, uint8_t *buf, struct mb_rsp *rsp)
{
	uint8_t q[MB_RTU_ADU_MAX], ind[MODBUS_RTU_MAX_ADU_LENGTH];
	struct mb_rtu_splitter s = { 0 };
	int nq = mb_rtu_encode_req(q, sizeof(q), req), rlen;

	assert_true(nq > 0);
	write_all(m->pty.master, q, (size_t)nq);
	/* The bytes are already in the pty: modbus_receive returns at once. */
	rlen = modbus_receive(m->pty.mb, ind);
	if (rlen != nq)
		fail_msg("libmodbus refused the codec's request: %d (%s)", rlen,
			 modbus_strerror(errno));
	assert_memory_equal(ind, q, (size_t)nq);
	assert_true(modbus_reply(m->pty.mb, ind, rlen, m->map) > 0);
	for (int i = 0; i < MB_RTU_ADU_MAX; i++) {
		const uint8_t *frame;
		size_t used;
		uint8_t byte;
		int r;

		read_exact(m->pty.master, &byte, 1);
		r = mb_rtu_split(&s, req, &byte, 1, &used, &frame);
		assert_int_equal(used, 1);
		assert_true(r >= 0);
		if (r > 0) {
			memcpy(buf, frame, (size_t)r);
			assert_int_equal(s.discarded, 0);
			return mb_rtu_decode_rsp(req, buf, (size_t)r, rsp);
		}
	}
	fail_msg("no frame in %d bytes", MB_RTU_ADU_MAX);
	return -1;
}

static void test_codec_client_against_libmodbus_rtu_server_all_functions(void **state)
{
	struct mb_srv *m = *state;
	uint8_t buf[MB_RTU_ADU_MAX], wire[250];
	struct mb_req req;
	struct mb_rsp rsp;
	uint16_t regs[125];

	req = rd(SRV_UNIT, MB_FC_READ_HOLDING_REGISTERS, 3, 125);
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	mb_regs_from_wire(regs, rsp.data, 125);
	for (unsigned i = 0; i < 125; i++)
		assert_int_equal(regs[i], 0x1000 + 3 + i);
	req = rd(SRV_UNIT, MB_FC_READ_INPUT_REGISTERS, 200, 4);
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	mb_regs_from_wire(regs, rsp.data, 4);
	assert_int_equal(regs[3], 0x2000 + 203);
	req = rd(SRV_UNIT, MB_FC_READ_COILS, 1, 19);
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	for (unsigned i = 0; i < 19; i++)
		assert_int_equal(mb_get_bit(rsp.data, i), (1 + i) % 2);
	req = rd(SRV_UNIT, MB_FC_READ_DISCRETE_INPUTS, 0, 11);
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	assert_true(mb_get_bit(rsp.data, 10));
	assert_false(mb_get_bit(rsp.data, 9));

	req = wr1(SRV_UNIT, MB_FC_WRITE_SINGLE_REGISTER, 20, 0xCAFE);
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	assert_int_equal(m->map->tab_registers[20], 0xCAFE);
	req = wr1(SRV_UNIT, MB_FC_WRITE_SINGLE_COIL, 2, MB_COIL_ON);
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	assert_int_equal(m->map->tab_bits[2], 1);
	for (unsigned i = 0; i < 123; i++)
		mb_put_u16(wire + 2 * i, (uint16_t)(0x5000 + i));
	req = (struct mb_req){ .unit = SRV_UNIT, .fc = 0x10, .addr = 30, .qty = 123 };
	req.byte_count = 246;
	req.data = wire;
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	assert_int_equal(m->map->tab_registers[30 + 122], 0x5000 + 122);
	memset(wire, 0, sizeof(wire));
	mb_set_bit(wire, 0, true);
	mb_set_bit(wire, 12, true);
	req = (struct mb_req){ .unit = SRV_UNIT, .fc = 0x0F, .addr = 100, .qty = 13 };
	req.byte_count = 2;
	req.data = wire;
	assert_int_equal(exchange(m, &req, buf, &rsp), 0);
	assert_int_equal(m->map->tab_bits[100], 1);
	assert_int_equal(m->map->tab_bits[101], 0);
	assert_int_equal(m->map->tab_bits[112], 1);

	/* libmodbus's exception reply decodes as the named exception. */
	req = rd(SRV_UNIT, MB_FC_READ_HOLDING_REGISTERS, BANK_SIZE - 1, 2);
	assert_int_equal(exchange(m, &req, buf, &rsp), -MB_EXC(MB_EX_ILLEGAL_DATA_ADDRESS));
}

static void test_libmodbus_crc_equals_the_codec_crc_on_raw_frames(void **state)
{
	struct mb_srv *m = *state;
	uint8_t raw[200], wire[MODBUS_RTU_MAX_ADU_LENGTH];
	uint32_t x = 0xC0FFEE;

	for (unsigned t = 0; t < 40; t++) {
		size_t n = 2 + t * 5;

		for (size_t i = 0; i < n; i++) {
			x = x * 1664525u + 1013904223u;
			raw[i] = (uint8_t)(x >> 24);
		}
		/* libmodbus frames the raw bytes and appends its own CRC. */
		assert_int_equal(modbus_send_raw_request(m->pty.mb, raw, (int)n), (int)n + 2);
		read_exact(m->pty.master, wire, n + 2);
		assert_memory_equal(wire, raw, n);
		assert_int_equal(wire[n] | wire[n + 1] << 8, mb_rtu_crc16(raw, n));
	}
}

int main(void)
{
	const struct CMUnitTest codec[] = {
		cmocka_unit_test(test_crc_matches_spec_and_independent_vectors),
		cmocka_unit_test(test_crc_table_agrees_with_bitwise_definition),
		cmocka_unit_test(test_encodes_requests_byte_for_byte),
		cmocka_unit_test(test_encoder_keeps_the_tcp_limits_and_refuses_reserved_units),
		cmocka_unit_test(test_broadcast_is_write_only_and_never_answered),
		cmocka_unit_test(test_decodes_good_response_frames),
		cmocka_unit_test(test_round_trips_every_function_through_the_server_side),
		cmocka_unit_test(test_decodes_exception_reply_as_the_tcp_side_does),
		cmocka_unit_test(test_rejects_each_malformed_response_with_its_error),
		cmocka_unit_test(test_rejects_bad_arguments_and_requests_with_no_reply),
		cmocka_unit_test(test_rejects_each_malformed_request_with_its_error),
		cmocka_unit_test(test_request_decoder_checks_crc_first_and_fills_header_for_reply),
		cmocka_unit_test(test_infers_frame_sizes_from_function_and_byte_count),
		cmocka_unit_test(test_finds_a_frame_split_at_every_byte),
		cmocka_unit_test(test_discards_and_counts_noise_before_a_frame),
		cmocka_unit_test(test_resyncs_inside_a_frame_that_fails_its_crc),
		cmocka_unit_test(test_finds_two_frames_back_to_back),
		cmocka_unit_test(test_takes_no_byte_past_the_frame),
		cmocka_unit_test(test_server_side_finds_requests_for_any_unit_among_noise),
		cmocka_unit_test(test_computes_line_silences_from_the_baud_rate),
		cmocka_unit_test(test_names_the_rtu_errors),
	};
	const struct CMUnitTest with_codec_server[] = {
		cmocka_unit_test(test_libmodbus_rtu_client_against_codec_server_all_functions),
		cmocka_unit_test(test_libmodbus_rtu_broadcast_write_is_applied_and_not_answered),
	};
	const struct CMUnitTest with_libmodbus_server[] = {
		cmocka_unit_test(test_codec_client_against_libmodbus_rtu_server_all_functions),
		cmocka_unit_test(test_libmodbus_crc_equals_the_codec_crc_on_raw_frames),
	};
	int failed = cmocka_run_group_tests_name("io/codec_rtu", codec, NULL, NULL);
	struct pty probe;
	int perr = pty_open(&probe);

	if (perr < 0) {
		fprintf(stderr, "io/codec_rtu: libmodbus pty cross-check skipped: no pty (%s)\n",
			strerror(-perr));
		return failed;
	}
	close(probe.master);
	failed +=
	    cmocka_run_group_tests_name("io/codec_rtu libmodbus client on a pty", with_codec_server,
					setup_codec_server, teardown_codec_server);
	failed += cmocka_run_group_tests_name("io/codec_rtu libmodbus server on a pty",
					      with_libmodbus_server, setup_libmodbus_server,
					      teardown_libmodbus_server);
	return failed;
}
