// SPDX-License-Identifier: MIT
/*
 * Tests of the tools on serial Modbus RTU and RTU over TCP: `flux read`, `write`, `modpoll`
 * and `scan` against libmodbus's RTU server on a pty pair made here (tests/support/rtusrv.h),
 * every value checked against the server's mapping. First, the server itself is checked with
 * a libmodbus RTU client, so a tool test that fails points at the tool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <modbus.h>

#include "tests/support/json_check.h"
#include "tests/support/proc.h"
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

static void test_read_polls_and_reads_a_profile_on_rtu(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;
	modbus_mapping_t *m;

	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "2", "-l", "10ms", "-n",
		    "3", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, " [2]: 4098  (");
	th_tool_has(&r, "unit 17: 3 polls, 0 errors, ");
	/* The seed's PowerPack over a serial line: its status 1 (READY) and SOE 60 %. */
	m = th_rtusrv_lock(s);
	m->tab_registers[2000] = 1;
	m->tab_registers[2026] = 60;
	th_rtusrv_unlock(s);
	th_tool_run(&r, cmd_read_main, "read", "--profile", "powerpack", DEV(s), "-a", "17", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, " unit 17: profile powerpack, ");
	th_tool_has(&r, "1 READY");
	th_tool_has(&r, "60 %");
	assert_int_equal(atomic_load(&s->bad), 0);
}

static void test_read_names_a_wrong_crc_with_the_bytes(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_rtusrv_set_fault(s, TH_RTUSRV_BAD_CRC);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "0", "-o", "2s", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_PROTO);
	th_tool_has(&r, "unit 17: CRC mismatch: the reply's CRC is 0x");
	/* The request as sent: unit 17, FC03, address 0, 1 register, then its CRC. */
	th_tool_has(&r, "sent: 11 03 00 00 00 01");
	th_tool_has(&r, "recv: 11 03 02 10 00");
	/* The line is fine afterwards. */
	th_rtusrv_set_fault(s, TH_RTUSRV_OK);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[0]: 4096\n");
}

static void test_read_names_a_silent_unit_and_a_truncated_reply(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_rtusrv_set_fault(s, TH_RTUSRV_SILENT);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "0", "-o", "100ms",
		    "--retries", "1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_CONN);
	th_tool_has(&r, "unit 17: no response within 100 ms (2 attempts)");
	th_tool_has(&r, "recv: (nothing)");
	assert_true(th_rtusrv_wait_requests(s, 2, 2000));
	th_rtusrv_set_fault(s, TH_RTUSRV_TRUNCATE);
	/* A generous timeout: the part of the frame must come before it, however slow we are. */
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "0", "-o", "1s", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_CONN);
	th_tool_has(&r, "no whole reply within 1000 ms (1 attempt): 4 byte(s) came");
	th_tool_has(&r, "recv: 11 03 02 10\n");
	/* A unit nobody serves is silence too. */
	th_rtusrv_set_fault(s, TH_RTUSRV_OK);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "18", "-r", "0", "-o", "100ms", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_CONN);
	th_tool_has(&r, "unit 18: no response within 100 ms");
}

static void test_read_names_a_reply_from_another_unit(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_rtusrv_set_fault(s, TH_RTUSRV_OTHER_UNIT);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "0", "-o", "1s", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_PROTO);
	th_tool_has(&r, "unit 17: wrong unit: unit 18 answered, not 17");
	th_tool_has(&r, "recv: 12 03 02 10 00");
	th_tool_has(&r, "noise: 7 byte(s) discarded");
}

static void test_read_discards_and_counts_noise_before_the_reply(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_rtusrv_set_fault(s, TH_RTUSRV_NOISE);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "3", "-c", "2", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[3]: 4099\n[4]: 4100\n");
	th_tool_has(&r, "3 byte(s) of line noise discarded before the reply");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "3", "--json", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_expect(&r, th_json_is_valid(r.out));
	th_tool_has(&r, "\"noise_bytes\":3,\"values\":[4099]");
	/* One byte at a time is one frame too. */
	th_rtusrv_set_fault(s, TH_RTUSRV_DRIP);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", "5", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[5]: 4101\n");
	th_tool_lacks(&r, "noise");
}

static void test_read_names_an_exception_on_rtu(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	char last[16], at[64];

	/* The bank's last register and one past it. */
	snprintf(last, sizeof(last), "%d", TH_RTUSRV_BANK - 1);
	snprintf(at, sizeof(at), "exception 0x02 illegal data address at %d", TH_RTUSRV_BANK - 1);
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "17", "-r", last, "-c", "2", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_PROTO);
	th_tool_has(&r, at);
	th_tool_has(&r, "recv: 11 83 02");
}

static void test_write_broadcast_waits_the_turnaround_and_expects_no_reply(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;
	modbus_mapping_t *m;

	th_rtusrv_serve(s, 5, true);
	th_tool_run(&r, cmd_write_main, "write", "-m", "rtu", DEV(s), "-a", "0", "-r", "200", "77",
		    "78", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "unit 0: broadcast 2 registers at 200 (function 0x10): 77 78; no reply "
			"expected");
	th_tool_has(&r, "waited the 100 ms turnaround");
	assert_true(th_rtusrv_wait_requests(s, 1, 2000));
	m = th_rtusrv_lock(s);
	assert_int_equal(m->tab_registers[200], 77);
	assert_int_equal(m->tab_registers[201], 78);
	th_rtusrv_unlock(s);
	assert_int_equal(atomic_load(&s->broadcasts), 1);
	assert_int_equal(atomic_load(&s->replies), 0);
	/* A read cannot be a broadcast. */
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "0", "-r", "200", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-a 0 is the RTU broadcast address: writes only");
	assert_int_equal(atomic_load(&s->requests), 1);
}

static void test_rtu_bad_arguments_are_named(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-b", "12345", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-b 12345: not a standard baud rate");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "--parity", "x", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "--parity x: want none, even or odd");
	th_tool_run(&r, cmd_write_main, "write", DEV(s), "-d", "6", "-r", "0", "1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-d 6: data bits are 7 or 8");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-s", "3", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-s 3: stop bits are 1 or 2");
	th_tool_run(&r, cmd_read_main, "read", "-m", "rtu", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-m rtu: --device PATH is required");
	th_tool_run(&r, cmd_write_main, "write", "-m", "rtu", "-r", "0", "1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-m rtu: --device PATH is required");
	th_tool_run(&r, cmd_read_main, "read", "-m", "serial", "-r", "0", "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-m: want tcp, rtu");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-r", "0", "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "give no HOST");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-p", "1502", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-p is a TCP port");
	th_tool_run(&r, cmd_read_main, "read", "-b", "9600", "-r", "0", "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "are for -m rtu");
	th_tool_run(&r, cmd_read_main, "read", DEV(s), "-a", "248", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-a: RTU unit ids are 0..247");
	/* Not a tty, and no such device: named, with the line settings tried. */
	th_tool_run(&r, cmd_read_main, "read", "--device", "/dev/null", "-r", "0", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "/dev/null unit 1: open at 9600 8N1: not a serial line");
	th_tool_run(&r, cmd_read_main, "read", "--device", "/dev/flux-no-such-tty", "-r", "0",
		    NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_CONN);
	th_tool_has(&r, "open at 9600 8N1: No such file or directory");
	assert_int_equal(atomic_load(&s->requests), 0);
}

/* The far end of a pty: waits for one request, then hangs up (a USB adapter pulled): the
 * spare slave fd and the master close, the tool's slave fd reads EIO. */
static void *hang_up_after_request(void *arg)
{
	struct th_pty *p = arg;
	uint8_t req[8];

	(void)th_pty_read(p, req, sizeof(req), 5000);
	th_pty_close(p);
	return NULL;
}

static void test_read_names_a_line_that_goes_away(void **state)
{
	struct th_pty p;
	struct th_tool_run r;
	pthread_t t;

	(void)state;
	/* The spare slave fd stays open until the request came: the master never reads EIO. */
	assert_int_equal(th_pty_open(&p), 0);
	assert_int_equal(pthread_create(&t, NULL, hang_up_after_request, &p), 0);
	th_tool_run(&r, cmd_read_main, "read", "--device", p.slave, "-r", "0", "-o", "5s", NULL);
	pthread_join(t, NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_CONN);
	th_tool_has(&r, "unit 1: the serial line went away (");
	th_tool_has(&r, "sent: 01 03 00 00 00 01");
}

/* ---- RTU over TCP ------------------------------------------------------------------- */

static int tcp_setup(void **state)
{
	struct th_rtusrv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(th_rtusrv_start_tcp(s, UNIT, &s->port), 0);
	*state = s;
	return 0;
}

static void test_read_and_write_rtu_over_tcp(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;
	modbus_mapping_t *m;
	char port[8];

	snprintf(port, sizeof(port), "%u", s->port);
	th_tool_run(&r, cmd_read_main, "read", "-m", "rtutcp", "-p", port, "-a", "17", "-r", "7",
		    "-c", "2", "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[7]: 4103\n[8]: 4104\n");
	th_tool_run(&r, cmd_write_main, "write", "-m", "rtutcp", "-p", port, "-a", "17", "-r", "9",
		    "127.0.0.1", "-5", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "wrote 1 register at 9 (function 0x06)");
	m = th_rtusrv_lock(s);
	assert_int_equal(m->tab_registers[9], 0xFFFB);
	th_rtusrv_unlock(s);
	th_rtusrv_set_fault(s, TH_RTUSRV_BAD_CRC);
	th_tool_run(&r, cmd_read_main, "read", "-m", "rtutcp", "-p", port, "-a", "17", "-r", "7",
		    "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_PROTO);
	th_tool_has(&r, "127.0.0.1:");
	th_tool_has(&r, "CRC mismatch");
	assert_int_equal(atomic_load(&s->requests), 3);
}

/* ---- flux modpoll / mbpoll on the serial line --------------------------------------- */

/*
 * A pty keeps no parity, and glibc's tcsetattr() calls that EINVAL once the speed stays the
 * same (io/serial.c then says the tty refused the rate): so after the first open of a fixture
 * these tests ask for no parity, and the default (modpoll's 19200 8E1) is tried first.
 */
static void test_modpoll_rtu_reads_every_table(void **state)
{
	struct th_rtusrv *s = *state;
	char *path = (char *)th_rtusrv_path(s);
	struct th_tool_run r;

	/* A SERIALPORT with a '/' is -m rtu, as in modpoll; 1-based -r 11 is PDU 10. */
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-a", "17", "-r", "11", "-c", "3", "-1", path,
		    NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "Protocol configuration: Modbus RTU\n");
	th_tool_has(&r, ", 19200, 8, 1, even, t/o 1.00 s");
	th_tool_has(&r, "[11]: 4106\n[12]: 4107\n[13]: 4108\n");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-m", "rtu", "-b", "9600", "-p", "none", "-a",
		    "17", "-t", "0", "-r", "1", "-c", "3", "-1", path, NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, ", 9600, 8, 1, none,");
	th_tool_has(&r, "[1]: 0\n[2]: 1\n[3]: 0\n");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "none", "-a", "17", "-t", "1", "-r", "1",
		    "-c", "4", "-1", path, NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "[1]: 1\n[2]: 0\n[3]: 0\n[4]: 1\n");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "none", "-d", "8", "-s", "2", "-a", "17",
		    "-t", "3:hex", "-r", "3", "-1", path, NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, ", 8, 2, none,");
	th_tool_has(&r, "[3]: 0x2002\n");
	assert_int_equal(atomic_load(&s->unit_requests[17]), 4);
}

static void test_modpoll_rtu_writes_and_broadcasts(void **state)
{
	struct th_rtusrv *s = *state;
	char *path = (char *)th_rtusrv_path(s);
	struct th_tool_run r;
	modbus_mapping_t *m;

	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "none", "-a", "17", "-r", "301", path,
		    "1234", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "Written 1 reference.\n");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "none", "-a", "17", "-r", "311", path,
		    "5", "6", "7", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "Written 3 references.\n");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "none", "-a", "17", "-t", "0", "-r",
		    "321", path, "1", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "none", "-a", "17", "-t", "0", "-r",
		    "331", path, "1", "0", "1", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "none", "-a", "0", "-r", "401", path,
		    "9", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "Broadcast: no reply expected, waited the 100 ms turnaround.\n");
	assert_true(th_rtusrv_wait_requests(s, 5, 2000));
	m = th_rtusrv_lock(s);
	assert_int_equal(m->tab_registers[300], 1234);
	assert_int_equal(m->tab_registers[310], 5);
	assert_int_equal(m->tab_registers[312], 7);
	assert_int_equal(m->tab_bits[320], 1);
	assert_int_equal(m->tab_bits[330], 1);
	assert_int_equal(m->tab_bits[331], 0);
	assert_int_equal(m->tab_bits[332], 1);
	assert_int_equal(m->tab_registers[400], 9);
	th_rtusrv_unlock(s);
	assert_int_equal(atomic_load(&s->broadcasts), 1);
	assert_int_equal(atomic_load(&s->replies), 4);
	/* Bad serial arguments, named. */
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-b", "12345", "-r", "1", "-1", path, NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-b 12345: not a standard baud rate");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-p", "x", "-r", "1", "-1", path, NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-p is the parity: none, even or odd");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-d", "6", "-r", "1", "-1", path, NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-d: data bits are 7 or 8");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-m", "tcp", "-b", "9600", "-1", "127.0.0.1",
		    NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-b, -d and -s are for a serial line (-m rtu)");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-a", "0", "-1", path, NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-a 0 is the RTU broadcast address");
	assert_int_equal(atomic_load(&s->requests), 5);
}

/* The real mbpoll (libmodbus RTU) and flux mbpoll print the same values on the same line. */
static void test_mbpoll_rtu_matches_the_real_mbpoll(void **state)
{
	struct th_rtusrv *s = *state;
	char *path = (char *)th_rtusrv_path(s);
	char *argv[] = { "/usr/bin/mbpoll",
			 "-m",
			 "rtu",
			 "-P",
			 "none",
			 "-a",
			 "17",
			 "-r",
			 "21",
			 "-c",
			 "3",
			 "-1",
			 path,
			 NULL };
	const char *want = "[21]: \t4116\n[22]: \t4117\n[23]: \t4118\n";
	struct th_tool_run r;
	struct th_proc p;

	th_tool_run(&r, cmd_mbpoll_main, "mbpoll", "-m", "rtu", "-P", "none", "-a", "17", "-r",
		    "21", "-c", "3", "-1", path, NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "Protocol configuration: Modbus RTU\n");
	th_tool_has(&r, want);
	if (access(argv[0], X_OK) != 0) {
		fprintf(stderr, "  (no /usr/bin/mbpoll: the cross-check is skipped)\n");
		return;
	}
	assert_int_equal(th_spawn(&p, argv), 0);
	if (!th_wait_output(&p, "[23]:", 5000))
		fail_msg("real mbpoll printed:\n%.*s", (int)p.out_len, p.out);
	(void)th_wait_output(&p, "\n[24]", 200); /* the rest of its last line */
	assert_int_equal(th_wait_exit(&p, 5000), 0);
	if (!strstr(p.out, want))
		fail_msg("real mbpoll printed:\n%.*s", (int)p.out_len, p.out);
	assert_int_equal(atomic_load(&s->unit_requests[17]), 2);
}

static void test_modpoll_enc_is_rtu_over_tcp(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;
	char port[8];

	snprintf(port, sizeof(port), "%u", s->port);
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-m", "enc", "-p", port, "-a", "17", "-r", "8",
		    "-c", "2", "-1", "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, "Protocol configuration: Encapsulated RTU over TCP\n");
	th_tool_has(&r, "[8]: 4103\n[9]: 4104\n");
	th_tool_run(&r, cmd_modpoll_main, "modpoll", "-m", "enc", "-p", port, "-a", "17", "-r",
		    "50", "127.0.0.1", "77", NULL);
	th_tool_expect(&r, r.rc == 0);
	assert_int_equal(atomic_load(&s->requests), 2);
	assert_int_equal(th_rtusrv_lock(s)->tab_registers[49], 77);
	th_rtusrv_unlock(s);
}

/* ---- flux scan --device ------------------------------------------------------------- */

static void test_scan_device_finds_exactly_the_units_served(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;
	char want[64];

	th_rtusrv_serve(s, 1, true);
	th_rtusrv_serve(s, 247, true);
	/* Every id 1..247, one at a time; the served ones are 1, 17 and 247. */
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "-b", "115200", "-o", "30ms", "--no-id",
		    "--json", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_expect(&r, th_json_is_valid(r.out));
	th_tool_has(&r, "\"line\":\"115200 8N1\"");
	th_tool_has(&r, "\"units\":[{\"unit\":1,\"answer\":\"registers\",\"register0\":4096,");
	th_tool_has(&r, "{\"unit\":17,\"answer\":\"registers\",\"register0\":4096,");
	th_tool_has(&r, "{\"unit\":247,\"answer\":\"registers\",\"register0\":4096,");
	th_tool_has(&r, "\"bad_replies\":[]");
	th_tool_has(&r, "\"probed\":247,\"units\":3,\"bad_replies\":0,");
	th_tool_has(&r, "\"is_complete\":true");
	for (unsigned u = 1; u <= 247; u++) {
		snprintf(want, sizeof(want), "{\"unit\":%u,", u);
		if (u != 1 && u != 17 && u != 247)
			th_tool_lacks(&r, want);
		assert_int_equal(atomic_load(&s->unit_requests[u]), 1);
	}
	assert_int_equal(atomic_load(&s->requests), 247);
	assert_int_equal(atomic_load(&s->bad), 0);
}

static void test_scan_device_text_names_bad_replies_and_fits_the_timeout(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;
	modbus_mapping_t *m;

	/* Both units look like a PowerPack: status READY at 2000, SOE 60 % at 2026. */
	m = th_rtusrv_lock(s);
	m->tab_registers[2000] = 1;
	m->tab_registers[2026] = 60;
	th_rtusrv_unlock(s);
	th_rtusrv_serve(s, 3, true);
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "--units", "1-20", "-o", "50ms", "-v", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, " unit 3: registers [0]=4096 (0x1000)");
	th_tool_has(&r, " unit 17: registers [0]=4096 (0x1000)");
	th_tool_has(&r, "\n    looks like powerpack: 2000 READY, 2026 SOE 60 in 0..100\n");
	th_tool_has(&r, " unit 4: no answer\n");
	th_tool_has(&r, "at 9600 8N1: 20 unit id(s) probed in ");
	th_tool_has(&r, ": 2 unit(s), 0 bad replies, 0 noise byte(s), timeout 50 ms\n");
	/* A damaged reply is named with its bytes, not taken for a unit nor for silence. */
	th_rtusrv_set_fault(s, TH_RTUSRV_BAD_CRC);
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "--units", "16-18", "-o", "500ms", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, " unit 17: bad reply: CRC mismatch");
	th_tool_has(&r, "; sent 11 03 00 00 00 01 86 9a; recv 11 03 02 10 00");
	th_tool_has(&r, ": 0 unit(s), 1 bad reply, ");
	/* Without -o the timeout is fitted to the baud rate: 15 bytes on the wire + 100 ms. */
	th_rtusrv_set_fault(s, TH_RTUSRV_OK);
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "--units", "17", "-b", "1200", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, ": 1 unit(s), 0 bad replies, 0 noise byte(s), timeout 238 ms\n");
}

static void test_scan_device_retries_a_silent_unit(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_rtusrv_set_fault(s, TH_RTUSRV_SILENT);
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "--units", "17", "-o", "20ms", "--retries",
		    "2", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, ": 1 unit id(s) probed in ");
	th_tool_has(&r, ": 0 unit(s), 0 bad replies, ");
	assert_true(th_rtusrv_wait_requests(s, 3, 2000));
	assert_int_equal(atomic_load(&s->unit_requests[17]), 3);
	th_tool_run(&r, cmd_scan_main, "scan", "--retries", "2", "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "--retries is for --device (a serial line)");
}

static void test_scan_device_counts_a_late_reply_for_its_unit(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	/*
	 * Unit 3 answers 80 ms late, after its 20 ms timeout: its reply comes while a later unit
	 * is probed, and counts for unit 3, not for that one (nor as a bad reply).
	 */
	th_rtusrv_serve(s, 17, false);
	th_rtusrv_serve(s, 3, true);
	th_rtusrv_set_fault(s, TH_RTUSRV_LATE);
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "--units", "1-40", "-b", "115200", "-o",
		    "20ms", NULL);
	th_tool_expect(&r, r.rc == 0);
	th_tool_has(&r, " unit 3: registers [0]=4096 (0x1000)  (late: after the 20 ms timeout)\n");
	/* Its 7 bytes were noise to the probe they came in (another unit's frame). */
	th_tool_has(&r, ": 1 unit(s), 0 bad replies, 7 noise byte(s)");
}

static void test_scan_device_bad_arguments_are_named(void **state)
{
	struct th_rtusrv *s = *state;
	struct th_tool_run r;

	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "--device scans a serial line: give no TARGET");
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "--units", "0-5", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "--units: a serial line's unit ids are 1..247");
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "-p", "502", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "are for TCP targets, not --device");
	th_tool_run(&r, cmd_scan_main, "scan", DEV(s), "-b", "12345", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "-b 12345: not a standard baud rate");
	th_tool_run(&r, cmd_scan_main, "scan", "-b", "9600", "127.0.0.1", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "are for --device (a serial line)");
	th_tool_run(&r, cmd_scan_main, "scan", "--device", "/dev/null", NULL);
	th_tool_expect(&r, r.rc == TOOL_EXIT_USAGE);
	th_tool_has(&r, "flux scan: /dev/null: open at 9600 8N1: not a serial line");
	assert_int_equal(atomic_load(&s->requests), 0);
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
		cmocka_unit_test_setup_teardown(test_read_polls_and_reads_a_profile_on_rtu,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_read_names_a_wrong_crc_with_the_bytes,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_read_names_a_silent_unit_and_a_truncated_reply,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_read_names_a_reply_from_another_unit,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_discards_and_counts_noise_before_the_reply, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_read_names_an_exception_on_rtu, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_broadcast_waits_the_turnaround_and_expects_no_reply, srv_setup,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_rtu_bad_arguments_are_named, srv_setup,
						srv_teardown),
		cmocka_unit_test(test_read_names_a_line_that_goes_away),
		cmocka_unit_test_setup_teardown(test_read_and_write_rtu_over_tcp, tcp_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_modpoll_rtu_reads_every_table, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_modpoll_rtu_writes_and_broadcasts, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_mbpoll_rtu_matches_the_real_mbpoll, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_modpoll_enc_is_rtu_over_tcp, tcp_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_scan_device_finds_exactly_the_units_served,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(
		    test_scan_device_text_names_bad_replies_and_fits_the_timeout, srv_setup,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_scan_device_retries_a_silent_unit, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_scan_device_counts_a_late_reply_for_its_unit,
						srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_scan_device_bad_arguments_are_named, srv_setup,
						srv_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
