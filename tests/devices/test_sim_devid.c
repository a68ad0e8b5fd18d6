// SPDX-License-Identifier: MIT
/*
 * Tests of the simulators' FC43/14 Read Device Identification (devices/sim.c), over a real
 * socket on 127.0.0.1: a PowerPack and an Acuvim II on one port say who they are (vendor
 * "Flux", their product, the revision) in stream and individual access, and every request
 * outside what a basic device has gets the exception Modbus 6.21 names. The replies are
 * taken apart here byte by byte, not by the scanner's decoder, so each side checks the other.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/client.h"
#include "tests/support/proc.h"

struct fixture {
	struct th_sim ts;
	int pp, acu;
	uint16_t port;
	struct th_client c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sim_pp_params pp = SIM_PP_DEFAULTS;
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct sim_endpoint ep = { .unit = 1 };

	if (!f)
		return -1;
	f->ts.sim = sim_new();
	if (!f->ts.sim)
		return -1;
	f->pp = sim_add_powerpack(f->ts.sim, &ep, &pp);
	if (f->pp < 0)
		return -1;
	ep.port = f->port = (uint16_t)sim_port(f->ts.sim, f->pp);
	ep.unit = 2;
	f->acu = sim_add_acuvim2(f->ts.sim, &ep, &acu);
	if (f->acu < 0 || th_sim_start(&f->ts) || th_open(&f->c, f->port))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int err;

	th_close(&f->c);
	err = th_sim_stop(&f->ts);
	free(f);
	return err ? -1 : 0;
}

/* Send an FC43 request with the PDU given (after the FC) to unit; return the reply length
 * (the frame in f->c.frame) after checking its MBAP echoes the request's. */
static int ask(struct fixture *f, uint8_t unit, const uint8_t *pdu, size_t n)
{
	uint8_t buf[MB_ADU_MAX];
	uint16_t tid = f->c.tid++;
	int r;

	mb_put_u16(buf, tid);
	mb_put_u16(buf + 2, 0);
	mb_put_u16(buf + 4, (uint16_t)(n + 2));
	buf[6] = unit;
	buf[7] = 0x2B;
	memcpy(buf + 8, pdu, n);
	assert_int_equal(th_send(f->c.fd, buf, 8 + n), 0);
	r = th_recv_frame(&f->c, TH_TIMEOUT_MS, NULL);
	if (r < 0)
		return r;
	assert_true(r >= 9);
	assert_int_equal(mb_peek_tid(f->c.frame), tid);
	assert_int_equal(mb_get_u16(f->c.frame + 2), 0);
	assert_int_equal(mb_get_u16(f->c.frame + 4), r - 6);
	assert_int_equal(f->c.frame[6], unit);
	return r;
}

/* The reply is exception `code` to FC43. */
static void assert_exception(struct fixture *f, int len, uint8_t code)
{
	assert_int_equal(len, 9);
	assert_int_equal(f->c.frame[7], 0x2B | 0x80);
	assert_int_equal(f->c.frame[8], code);
}

/* Walk the objects of a reply of `len` bytes: they must be ids want_first.. with the texts
 * given, and nothing after them. */
static void assert_objects(struct fixture *f, int len, uint8_t read_code, uint8_t want_first,
			   const char *const *want, unsigned nwant)
{
	const uint8_t *p = f->c.frame;
	size_t off = 14;

	assert_int_equal(p[7], 0x2B);
	assert_int_equal(p[8], 0x0E);
	assert_int_equal(p[9], read_code);
	assert_int_equal(p[10], 0x81); /* basic, stream and individual access */
	assert_int_equal(p[11], 0x00); /* nothing more follows */
	assert_int_equal(p[12], 0x00);
	assert_int_equal(p[13], nwant);
	for (unsigned i = 0; i < nwant; i++) {
		size_t n = strlen(want[i]);

		assert_true(off + 2 + n <= (size_t)len);
		assert_int_equal(p[off], want_first + i);
		assert_int_equal(p[off + 1], n);
		assert_memory_equal(p + off + 2, want[i], n);
		off += 2 + n;
	}
	assert_int_equal(off, (size_t)len);
}

static void test_basic_identification_names_vendor_product_and_revision(void **state)
{
	static const char *const pp[] = { "Flux", "PowerPack simulator", "1.0" };
	static const char *const acu[] = { "Flux", "Acuvim II simulator", "1.0" };
	static const uint8_t basic[] = { 0x0E, 0x01, 0x00 };
	static const uint8_t from_product[] = { 0x0E, 0x01, 0x01 };
	static const uint8_t unknown_obj[] = { 0x0E, 0x01, 0x80 };
	static const uint8_t regular[] = { 0x0E, 0x02, 0x00 };
	struct fixture *f = *state;
	int n;

	n = ask(f, 1, basic, sizeof(basic));
	assert_objects(f, n, 0x01, 0x00, pp, 3);
	n = ask(f, 2, basic, sizeof(basic));
	assert_objects(f, n, 0x01, 0x00, acu, 3);
	/* A stream starts at the object asked... */
	n = ask(f, 1, from_product, sizeof(from_product));
	assert_objects(f, n, 0x01, 0x01, pp + 1, 2);
	/* ... or, for an object the device does not have, at the first (6.21). */
	n = ask(f, 2, unknown_obj, sizeof(unknown_obj));
	assert_objects(f, n, 0x01, 0x00, acu, 3);
	/* Regular (02) asked of a basic device: it answers at its own level. */
	n = ask(f, 1, regular, sizeof(regular));
	assert_objects(f, n, 0x02, 0x00, pp, 3);
}

static void test_individual_access_gets_one_object(void **state)
{
	static const char *const product[] = { "Acuvim II simulator" };
	static const char *const revision[] = { "1.0" };
	static const uint8_t one_product[] = { 0x0E, 0x04, 0x01 };
	static const uint8_t one_revision[] = { 0x0E, 0x04, 0x02 };
	static const uint8_t one_missing[] = { 0x0E, 0x04, 0x03 };
	struct fixture *f = *state;
	int n;

	n = ask(f, 2, one_product, sizeof(one_product));
	assert_objects(f, n, 0x04, 0x01, product, 1);
	n = ask(f, 1, one_revision, sizeof(one_revision));
	assert_objects(f, n, 0x04, 0x02, revision, 1);
	/* An object it does not have, asked individually: illegal data address. */
	n = ask(f, 1, one_missing, sizeof(one_missing));
	assert_exception(f, n, MB_EX_ILLEGAL_DATA_ADDRESS);
}

static void test_requests_outside_basic_identification_get_exceptions(void **state)
{
	static const uint8_t code0[] = { 0x0E, 0x00, 0x00 };
	static const uint8_t code5[] = { 0x0E, 0x05, 0x00 };
	static const uint8_t canopen[] = { 0x0D, 0x01, 0x00 };
	static const uint8_t too_long[] = { 0x0E, 0x01, 0x00, 0x00 };
	static const uint8_t too_short[] = { 0x0E, 0x01 };
	static const uint8_t basic[] = { 0x0E, 0x01, 0x00 };
	struct fixture *f = *state;
	uint16_t v;

	assert_exception(f, ask(f, 1, code0, sizeof(code0)), MB_EX_ILLEGAL_DATA_VALUE);
	assert_exception(f, ask(f, 1, code5, sizeof(code5)), MB_EX_ILLEGAL_DATA_VALUE);
	assert_exception(f, ask(f, 2, too_long, sizeof(too_long)), MB_EX_ILLEGAL_DATA_VALUE);
	assert_exception(f, ask(f, 2, too_short, sizeof(too_short)), MB_EX_ILLEGAL_DATA_VALUE);
	/* MEI type 0x0D (CANopen) is not served: illegal function. */
	assert_exception(f, ask(f, 1, canopen, sizeof(canopen)), MB_EX_ILLEGAL_FUNCTION);
	/* A unit nobody simulates: the gateway's "target failed to respond". */
	assert_exception(f, ask(f, 9, basic, sizeof(basic)), MB_EX_GATEWAY_TARGET_FAILED);
	/* The connection still serves registers after all that. */
	assert_int_equal(th_read(&f->c, 1, 2026, 1, &v), 0);
	assert_int_equal(v, 60);
}

static void test_device_faults_apply_to_identification(void **state)
{
	static const uint8_t basic[] = { 0x0E, 0x01, 0x00 };
	struct fixture *f = *state;
	struct sim_fault fault = { .flags = SIM_F_SILENCE };
	uint8_t buf[16];

	assert_int_equal(sim_set_fault(f->ts.sim, f->pp, &fault), 0);
	mb_put_u16(buf, 0x77);
	mb_put_u16(buf + 2, 0);
	mb_put_u16(buf + 4, 5);
	buf[6] = 1;
	memcpy(buf + 7, "\x2B\x0E\x01\x00", 4);
	assert_int_equal(th_send(f->c.fd, buf, 11), 0);
	assert_int_equal(th_recv_frame(&f->c, 200, NULL), -ETIMEDOUT);
	fault = (struct sim_fault){ .flags = SIM_F_EXCEPTION, .exception = 0x04 };
	assert_int_equal(sim_set_fault(f->ts.sim, f->pp, &fault), 0);
	assert_exception(f, ask(f, 1, basic, sizeof(basic)), 0x04);
	fault = (struct sim_fault){ 0 };
	assert_int_equal(sim_set_fault(f->ts.sim, f->pp, &fault), 0);
	assert_true(ask(f, 1, basic, sizeof(basic)) > 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_basic_identification_names_vendor_product_and_revision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_individual_access_gets_one_object, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
		    test_requests_outside_basic_identification_get_exceptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_faults_apply_to_identification, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
