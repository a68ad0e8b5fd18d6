// SPDX-License-Identifier: MIT
/*
 * Tests of the tools on serial Modbus RTU and RTU over TCP: `flux read`, `write`, `modpoll`
 * and `scan` against libmodbus's RTU server on a pty pair made here (tests/support/rtusrv.h),
 * every value checked against the server's mapping. First, the server itself is checked with
 * a libmodbus RTU client, so a tool test that fails points at the tool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <modbus.h>

#include "tests/support/rtusrv.h"
#include "tests/support/toolrun.h"
#include "tools/tools.h"

#define UNIT 17

static int srv_setup(void **state)
{
	struct th_rtusrv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(th_rtusrv_start(s, UNIT, 19200), 0);
	*state = s;
	return 0;
}

static int srv_teardown(void **state)
{
	struct th_rtusrv *s = *state;

	th_rtusrv_stop(s);
	th_rtusrv_stop(s); /* twice is safe */
	free(s);
	return 0;
}

/* ---- the server itself, against libmodbus's RTU client ------------------------------ */

static modbus_t *mb_client(struct th_rtusrv *s, int unit)
{
	modbus_t *mb = modbus_new_rtu(th_rtusrv_path(s), 19200, 'N', 8, 1);

	assert_non_null(mb);
	assert_int_equal(modbus_connect(mb), 0);
	modbus_set_slave(mb, unit);
	modbus_set_response_timeout(mb, 0, 300000);
	return mb;
}

static void mb_client_free(modbus_t *mb)
{
	modbus_close(mb);
	modbus_free(mb);
}

static void test_rtusrv_answers_libmodbus_for_every_function(void **state)
{
	struct th_rtusrv *s = *state;
	modbus_t *mb = mb_client(s, UNIT);
	uint16_t regs[16], wregs[3] = { 0xA1, 0xA2, 0xA3 };
	uint8_t bits[16], wbits[4] = { 1, 0, 1, 1 };
	modbus_mapping_t *m;

	assert_int_equal(modbus_read_registers(mb, 5, 4, regs), 4);
	assert_int_equal(regs[3], 0x1000 + 8);
	assert_int_equal(modbus_read_input_registers(mb, 1, 2, regs), 2);
	assert_int_equal(regs[1], 0x2000 + 2);
	assert_int_equal(modbus_read_bits(mb, 0, 4, bits), 4);
	assert_int_equal(bits[1], 1);
	assert_int_equal(bits[2], 0);
	assert_int_equal(modbus_read_input_bits(mb, 0, 4, bits), 4);
	assert_int_equal(bits[3], 1);
	assert_int_equal(bits[2], 0);
	assert_int_equal(modbus_write_register(mb, 40, 0xBEEF), 1);
	assert_int_equal(modbus_write_bit(mb, 41, 1), 1);
	assert_int_equal(modbus_write_registers(mb, 50, 3, wregs), 3);
	assert_int_equal(modbus_write_bits(mb, 60, 4, wbits), 4);
	m = th_rtusrv_lock(s);
	assert_int_equal(m->tab_registers[40], 0xBEEF);
	assert_int_equal(m->tab_bits[41], 1);
	assert_int_equal(m->tab_registers[52], 0xA3);
	assert_int_equal(m->tab_bits[61], 0);
	assert_int_equal(m->tab_bits[63], 1);
	m->tab_registers[0] = 0x4321;
	th_rtusrv_unlock(s);
	assert_int_equal(modbus_read_registers(mb, 0, 1, regs), 1);
	assert_int_equal(regs[0], 0x4321);
	/* Beyond the bank: libmodbus's exception reply. */
	assert_int_equal(modbus_read_registers(mb, TH_RTUSRV_BANK - 1, 2, regs), -1);
	assert_int_equal(errno, EMBXILADD);
	assert_int_equal(atomic_load(&s->requests), 10);
	assert_int_equal(atomic_load(&s->unit_requests[UNIT]), 10);
	assert_int_equal(atomic_load(&s->replies), 10);
	mb_client_free(mb);
}

static void test_rtusrv_serves_several_units_and_ignores_others(void **state)
{
	struct th_rtusrv *s = *state;
	modbus_t *mb = mb_client(s, 5);
	uint16_t reg;

	/* Unit 5 is not served: silence. */
	assert_int_equal(modbus_read_registers(mb, 0, 1, &reg), -1);
	assert_int_equal(errno, ETIMEDOUT);
	th_rtusrv_serve(s, 5, true);
	assert_int_equal(modbus_read_registers(mb, 3, 1, &reg), 1);
	assert_int_equal(reg, 0x1003);
	/* After a request to another unit, the next one to UNIT is still answered. */
	modbus_set_slave(mb, 6);
	assert_int_equal(modbus_read_registers(mb, 0, 1, &reg), -1);
	modbus_set_slave(mb, UNIT);
	assert_int_equal(modbus_read_registers(mb, 4, 1, &reg), 1);
	assert_int_equal(reg, 0x1004);
	assert_int_equal(atomic_load(&s->unit_requests[5]), 2);
	assert_int_equal(atomic_load(&s->unit_requests[6]), 1);
	mb_client_free(mb);
}

static void test_rtusrv_bends_answers_as_told(void **state)
{
	struct th_rtusrv *s = *state;
	modbus_t *mb = mb_client(s, UNIT);
	uint16_t reg;

	th_rtusrv_set_fault(s, TH_RTUSRV_SILENT);
	assert_int_equal(modbus_read_registers(mb, 0, 1, &reg), -1);
	assert_int_equal(errno, ETIMEDOUT);
	th_rtusrv_set_fault(s, TH_RTUSRV_BAD_CRC);
	assert_int_equal(modbus_read_registers(mb, 0, 1, &reg), -1);
	assert_int_equal(errno, EMBBADCRC);
	th_rtusrv_set_fault(s, TH_RTUSRV_TRUNCATE);
	assert_int_equal(modbus_read_registers(mb, 0, 1, &reg), -1);
	assert_int_equal(errno, ETIMEDOUT);
	th_rtusrv_set_fault(s, TH_RTUSRV_DRIP);
	assert_int_equal(modbus_read_registers(mb, 7, 1, &reg), 1);
	assert_int_equal(reg, 0x1007);
	th_rtusrv_set_fault(s, TH_RTUSRV_OK);
	modbus_flush(mb);
	assert_int_equal(modbus_read_registers(mb, 8, 1, &reg), 1);
	assert_int_equal(reg, 0x1008);
	mb_client_free(mb);
}

static void test_rtusrv_applies_a_broadcast_without_answering(void **state)
{
	struct th_rtusrv *s = *state;
	modbus_t *mb = mb_client(s, 0);
	modbus_mapping_t *m;

	/* libmodbus 3.1.6 waits for an answer even to a broadcast: it times out. */
	modbus_set_response_timeout(mb, 0, 150000);
	assert_int_equal(modbus_write_register(mb, 9, 0x0909), -1);
	assert_true(th_rtusrv_wait_requests(s, 1, 2000));
	m = th_rtusrv_lock(s);
	assert_int_equal(m->tab_registers[9], 0x0909);
	th_rtusrv_unlock(s);
	assert_int_equal(atomic_load(&s->broadcasts), 1);
	assert_int_equal(atomic_load(&s->replies), 0);
	mb_client_free(mb);
}

static void test_rtusrv_refuses_a_bad_unit_and_stops_when_zeroed(void **state)
{
	struct th_rtusrv s = { 0 };

	(void)state;
	th_rtusrv_stop(&s);
	assert_int_equal(th_rtusrv_start(&s, 0, 9600), -EINVAL);
	assert_int_equal(th_rtusrv_start(&s, 248, 9600), -EINVAL);
	assert_false(s.is_running);
}

/* ---- flux read / flux write on the serial line -------------------------------------- */

#define DEV(s) "--device", (char *)th_rtusrv_path(s)

static void test_read_every_read_function_on_rtu(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_tool_run(&r, cmd_read_main, "read", "-m", "rtu", DEV(s), "-b", "19200", "--parity",
		    "even", "-a", "17", "-r", "10", "-c", "3", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[10]: 4106\n[11]: 4107\n[12]: 4108\n");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-f", "4", "-r", "2", "-c", "2",
		    "-t", "hex", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[2]: 0x2002\n[3]: 0x2003\n");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-f", "1", "-r", "3", "-c", "3",
		    NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[3]: 1\n[4]: 0\n[5]: 1\n");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-f", "2", "-r", "5", "-c", "2",
		    "--json", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "\"values\":[0,1]");
	th_tool_has(&r, th_rtusrv_path(s));
	assert_int_equal(atomic_load(&s->unit_requests[17]), 4);
	assert_int_equal(atomic_load(&s->bad), 0);
}

static void test_write_every_write_function_on_rtu(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;
	modbus_mapping_t *m;

	th_tool_run(&r, cmd_write_main, "write", DEV(s), "-a", "17", "-r", "100", "4660", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "wrote 1 register at 100 (function 0x06)");
	th_tool_has(&r, "echo verified");
	th_tool_run(&r, cmd_write_main, "write", "-m", "rtu", DEV(s), "-a", "17", "-r", "110", "--",
		    "-2", "7", "65535", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "wrote 3 registers at 110 (function 0x10)");
	th_tool_run(&r, cmd_write_main, "write", DEV(s), "-a", "17", "-r", "120", "--fc", "5", "on",
		    NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_run(&r, cmd_write_main, "write", DEV(s), "-a", "17", "-r", "130", "--fc", "15", "1",
		    "1", "0", "1", "1", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "wrote 5 coils at 130 (function 0x0F)");
	m = th_rtusrv_lock(s);
	assert_int_equal(m->tab_registers[100], 4660);
	assert_int_equal(m->tab_registers[110], 0xFFFE);
	assert_int_equal(m->tab_registers[111], 7);
	assert_int_equal(m->tab_registers[112], 0xFFFF);
	assert_int_equal(m->tab_bits[120], 1);
	assert_int_equal(m->tab_bits[130], 1);
	assert_int_equal(m->tab_bits[131], 1);
	assert_int_equal(m->tab_bits[132], 0);
	assert_int_equal(m->tab_bits[133], 1);
	assert_int_equal(m->tab_bits[134], 1);
	th_rtusrv_unlock(s);
	/* And read back through the tool. */
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "110", "-t", "i16", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[110]: -2\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rtusrv_answers_libmodbus_for_every_function,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_rtusrv_serves_several_units_and_ignores_others,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_rtusrv_bends_answers_as_told, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_rtusrv_applies_a_broadcast_without_answering,
						srv_setup, srv_teardown),
		cmocka_unit_test(test_rtusrv_refuses_a_bad_unit_and_stops_when_zeroed),
		cmocka_unit_test_setup_teardown(test_read_every_read_function_on_rtu, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_write_every_write_function_on_rtu, srv_setup,
						srv_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
