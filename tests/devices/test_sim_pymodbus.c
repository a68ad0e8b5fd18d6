// SPDX-License-Identifier: MIT
/*
 * Flux's RTU server as another implementation sees it: pymodbus's serial client (Debian's
 * python3-pymodbus with python3-serial) against `flux sim --serial pty`, a PowerPack and an
 * Acuvim II sharing one line. Reads, writes, an absent unit and a refused write are checked
 * value by value. Skipped (77) where /usr/bin/python3 has no pymodbus.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/proc.h"

#define PYTHON "/usr/bin/python3"

static char flux[4096], fluxd[4096];

/*
 * The client: argv[1] the line. Prints one "name=value" line per check; a failed request
 * prints "name=error".
 */
static const char script[] =
    "import sys\n"
    "from pymodbus.client import ModbusSerialClient\n"
    "from pymodbus.payload import BinaryPayloadDecoder\n"
    "from pymodbus.constants import Endian\n"
    "c = ModbusSerialClient(port=sys.argv[1], baudrate=9600, timeout=1, retries=0)\n"
    "assert c.connect()\n"
    "def regs(name, rr):\n"
    "    print(name + '=' + ('error' if rr.isError() else ','.join(map(str, rr.registers))))\n"
    "rr = c.read_holding_registers(0x40, 2, slave=2)\n"
    "if rr.isError():\n"
    "    print('acu_power=error')\n"
    "else:\n"
    "    d = BinaryPayloadDecoder.fromRegisters(rr.registers, byteorder=Endian.Big, "
    "wordorder=Endian.Big)\n"
    "    print('acu_power_w=%.1f' % d.decode_32bit_float())\n"
    "regs('pp_status', c.read_holding_registers(2000, 1, slave=1))\n"
    "regs('pp_soe', c.read_holding_registers(2026, 1, slave=1))\n"
    "regs('pp_blocks', c.read_holding_registers(2028, 1, slave=1))\n"
    "w = c.write_register(2010, 3, slave=1)\n"
    "print('pp_claim=' + ('error' if w.isError() else 'ok'))\n"
    "regs('pp_source', c.read_holding_registers(2010, 1, slave=1))\n"
    "w = c.write_registers(2008, [40], slave=1)\n"
    "print('pp_setpoint=' + ('error' if w.isError() else 'ok'))\n"
    "regs('pp_target', c.read_holding_registers(2008, 1, slave=1))\n"
    "w = c.write_register(2008, 999, slave=1)\n"
    "print('pp_too_much=' + (('exception %d' % w.exception_code) if w.isError() and "
    "hasattr(w, 'exception_code') else 'accepted'))\n"
    "rr = c.read_holding_registers(2000, 1, slave=9)\n"
    "print('absent=' + ('error' if rr.isError() else 'answered'))\n"
    "c.close()\n";

/* The value printed for name, or NULL. */
static const char *value_of(const char *out, const char *name, char *buf, size_t cap)
{
	char key[64];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), "\n%s=", name);
	p = strstr(out, key);
	if (!p && !strncmp(out, key + 1, strlen(key) - 1))
		p = out - 1;
	if (!p)
		return NULL;
	p += strlen(key);
	n = strcspn(p, "\n");
	snprintf(buf, cap, "%.*s", (int)n, p);
	return buf;
}

static void expect(const char *out, const char *name, const char *want)
{
	char buf[128];
	const char *got = value_of(out, name, buf, sizeof(buf));

	if (!got || strcmp(got, want))
		fail_msg("%s: got '%s', want '%s'\n%s", name, got ? got : "(none)", want, out);
}

static void test_pymodbus_reads_and_writes_flux_sim_on_a_pty(void **state)
{
	char dir[] = "/tmp/flux-test-pymodbus-XXXXXX", link[128];
	char *sim_argv[] = {
		flux,	  "sim",       "--duration", "30",  "powerpack",    "--serial", "pty",
		"--link", link,	       "--unit",     "1",   "--startup-ms", "0",	"--soe",
		"60",	  "acuvim2",   "--serial",   "pty", "--link",	    link,	"--unit",
		"2",	  "--load-kw", "150",	     NULL
	};
	char *check_argv[] = { PYTHON, "-c", "import pymodbus, serial", NULL };
	char *py_argv[] = { PYTHON, "-c", (char *)script, link, NULL };
	struct th_proc sim, py;

	(void)state;
	assert_int_equal(th_spawn(&py, check_argv), 0);
	if (th_wait_exit(&py, TH_TIMEOUT_MS) != 0) {
		printf("skipped: no pymodbus for %s (apt-get install python3-pymodbus "
		       "python3-serial)\n",
		       PYTHON);
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/ttyUSB0", dir);
	assert_int_equal(th_spawn(&sim, sim_argv), 0);
	assert_true(th_wait_output(&sim, "flux sim: serving", TH_TIMEOUT_MS));
	assert_int_equal(th_spawn(&py, py_argv), 0);
	if (th_wait_exit(&py, 4 * TH_TIMEOUT_MS) != 0)
		fail_msg("the pymodbus client failed:\n%s", py.out);
	printf("%s", py.out);
	expect(py.out, "pp_status", "1"); /* READY */
	expect(py.out, "pp_soe", "60");
	expect(py.out, "pp_blocks", "2"); /* 100 kW of 50 kW blocks */
	expect(py.out, "pp_claim", "ok");
	expect(py.out, "pp_source", "3");
	expect(py.out, "pp_setpoint", "ok");
	expect(py.out, "pp_target", "40");
	/* Over the rated power: exception 0x03, as the seed says for a value out of range. */
	expect(py.out, "pp_too_much", "exception 3");
	/* The meter on the same line: its grid power is the load less what the BESS gives. */
	{
		char buf[32];
		const char *v = value_of(py.out, "acu_power_w", buf, sizeof(buf));
		double w = v ? strtod(v, NULL) : -1;

		/* The seed's map: Power Total in W (scale 1000 to kW); 150 kW of load, the BESS
		 * not yet discharging (its setpoint came after this read). */
		if (!(w > 149000 && w < 151000))
			fail_msg("acu_power %s W, want 150000\n%s", v ? v : "(none)", py.out);
	}
	/* A unit nobody serves: silence on RTU, which pymodbus reports as an error. */
	expect(py.out, "absent", "error");
	kill(sim.pid, SIGTERM);
	assert_int_equal(th_wait_exit(&sim, TH_TIMEOUT_MS), 0);
	assert_int_equal(access(link, F_OK), -1);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pymodbus_reads_and_writes_flux_sim_on_a_pty),
	};

	if (th_find_programs(flux, fluxd, sizeof(flux)))
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
