// SPDX-License-Identifier: MIT
/*
 * io/serial: line settings are applied exactly or refused by name, on pty pairs made here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/serial.h"
#include "tests/support/pty.h"

static void test_defaults_are_9600_8n1(void **state)
{
	struct ser_line l;
	char buf[32];

	(void)state;
	ser_line_init(&l);
	assert_int_equal(l.baud, 9600);
	assert_int_equal(l.parity, SER_PARITY_NONE);
	assert_int_equal(l.data_bits, 8);
	assert_int_equal(l.stop_bits, 1);
	assert_false(l.rs485);
	assert_int_equal(ser_line_check(&l), 0);
	ser_line_describe(buf, sizeof(buf), &l);
	assert_string_equal(buf, "9600 8N1");
	l.parity = SER_PARITY_EVEN;
	l.stop_bits = 2;
	l.rs485 = true;
	ser_line_describe(buf, sizeof(buf), &l);
	assert_string_equal(buf, "9600 8E2 rs485");
}

static void test_settings_out_of_range_are_named(void **state)
{
	static const uint32_t good[] = { 1200,	2400,	4800,	9600,	19200, 38400,
					 57600, 115200, 230400, 460800, 921600 };
	static const uint32_t bad[] = { 0, 300, 1201, 9601, 12345, 100000, 4000001 };
	struct ser_line l;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(ser_baud_ok(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(ser_baud_ok(bad[i]));
		ser_line_init(&l);
		l.baud = bad[i];
		assert_int_equal(ser_line_check(&l), -SER_EBAUD);
	}
	ser_line_init(&l);
	l.data_bits = 6;
	assert_int_equal(ser_line_check(&l), -SER_EDATABITS);
	ser_line_init(&l);
	l.stop_bits = 3;
	assert_int_equal(ser_line_check(&l), -SER_ESTOPBITS);
	ser_line_init(&l);
	l.parity = (enum ser_parity)7;
	assert_int_equal(ser_line_check(&l), -SER_EPARITY);
	assert_string_equal(ser_strerror(-SER_EDATABITS),
			    "data bits must be 7 or 8, and the tty must take them");
	assert_string_equal(ser_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(ser_strerror(0), "success");
}

static void test_parity_parses_words_and_letters(void **state)
{
	(void)state;
	assert_int_equal(ser_parity_parse("none"), SER_PARITY_NONE);
	assert_int_equal(ser_parity_parse("EVEN"), SER_PARITY_EVEN);
	assert_int_equal(ser_parity_parse("o"), SER_PARITY_ODD);
	assert_int_equal(ser_parity_parse("N"), SER_PARITY_NONE);
	assert_int_equal(ser_parity_parse("mark"), -SER_EPARITY);
	assert_int_equal(ser_parity_parse(""), -SER_EPARITY);
	assert_string_equal(ser_parity_name(SER_PARITY_ODD), "odd");
}

static void test_timeout_default_fits_the_baud_rate(void **state)
{
	(void)state;
	/* 512 characters of 11 bits, rounded up to the ms, + 100 ms. */
	assert_int_equal(ser_timeout_default_ns(9600), 687000000);
	assert_int_equal(ser_timeout_default_ns(19200), 394000000);
	assert_int_equal(ser_timeout_default_ns(115200), 149000000);
	assert_true(ser_timeout_default_ns(1200) > ser_timeout_default_ns(9600));
}

/* Each setting lands in the tty's termios as asked, read back through another fd. */
static void test_open_applies_every_setting(void **state)
{
	static const struct ser_line cases[] = {
		{ 9600, SER_PARITY_NONE, 8, 1, false },	   { 19200, SER_PARITY_EVEN, 8, 1, false },
		{ 115200, SER_PARITY_ODD, 7, 2, false },   { 1200, SER_PARITY_NONE, 7, 1, false },
		{ 4000000, SER_PARITY_EVEN, 8, 2, false },
	};
	static const speed_t speeds[] = { B9600, B19200, B115200, B1200, B4000000 };
	struct th_pty p;

	(void)state;
	assert_int_equal(th_pty_open(&p), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ser_line *l = &cases[i];
		struct termios t;
		int fd = ser_open(p.slave, l);

		assert_true(fd >= 0);
		assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_int_equal(tcgetattr(p.spare, &t), 0);
		assert_int_equal(cfgetospeed(&t), speeds[i]);
		assert_int_equal(cfgetispeed(&t), speeds[i]);
		assert_int_equal(!!(t.c_cflag & CSTOPB), l->stop_bits == 2);
		/* Linux keeps a pty at CS8 without parity (drivers/tty/pty.c): a pty takes the
		 * other settings without a wire to apply them to, and ser_open() lets it. */
		assert_int_equal(t.c_cflag & CSIZE, CS8);
		assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG), 0);
		assert_int_equal(t.c_oflag & OPOST, 0);
		close(fd);
		/* Again on the same pty, which now holds a line: Linux refuses to change its
		 * (absent) parity then, so ser_apply() leaves it alone on a pty. */
		fd = ser_open(p.slave, l);
		if (fd < 0)
			fail_msg("case %zu reopened: %s", i, ser_strerror(fd));
		close(fd);
	}
	th_pty_close(&p);
}

/* Raw mode: every byte value crosses unchanged both ways (no XON/XOFF, CR/NL, ^C). */
static void test_raw_mode_passes_every_byte(void **state)
{
	struct ser_line l;
	struct th_pty p;
	uint8_t out[256], in[256];
	int fd;

	(void)state;
	for (unsigned i = 0; i < 256; i++)
		out[i] = (uint8_t)i;
	assert_int_equal(th_pty_open(&p), 0);
	ser_line_init(&l);
	fd = ser_open(p.slave, &l);
	assert_true(fd >= 0);
	assert_true(th_pty_write(&p, out, sizeof(out), 2000));
	size_t got = 0;
	for (unsigned tries = 0; got < sizeof(in) && tries < 2000; tries++) {
		ssize_t r = read(fd, in + got, sizeof(in) - got);

		if (r > 0)
			got += (size_t)r;
		else
			usleep(1000);
	}
	assert_int_equal(got, sizeof(in));
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(write(fd, out, sizeof(out)), (ssize_t)sizeof(out));
	assert_int_equal(th_pty_read(&p, in, sizeof(in), 2000), sizeof(in));
	assert_memory_equal(in, out, sizeof(out));
	close(fd);
	th_pty_close(&p);
}

/* Bytes queued before the open belong to no request of ours: ser_open() discards them. */
static void test_open_discards_stale_input(void **state)
{
	static const uint8_t junk[] = { 0x01, 0x03, 0x02, 0xAA };
	struct ser_line l;
	struct th_pty p;
	uint8_t b;
	int fd;

	(void)state;
	assert_int_equal(th_pty_open(&p), 0);
	assert_true(th_pty_write(&p, junk, sizeof(junk), 1000));
	usleep(20000);
	ser_line_init(&l);
	fd = ser_open(p.slave, &l);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &b, 1), -1);
	assert_int_equal(errno, EAGAIN);
	close(fd);
	th_pty_close(&p);
}

static void test_open_errors_are_named(void **state)
{
	struct ser_line l;
	struct th_pty p;

	(void)state;
	ser_line_init(&l);
	assert_int_equal(ser_open("/nonexistent/ttyUSB9", &l), -ENOENT);
	assert_int_equal(ser_open("/dev/null", &l), -SER_ENOTTY);
	l.baud = 12345;
	assert_int_equal(ser_open("/dev/null", &l), -SER_EBAUD);
	/* A pty has no RS-485 driver: asking for direction control is refused, by name. */
	assert_int_equal(th_pty_open(&p), 0);
	ser_line_init(&l);
	l.rs485 = true;
	assert_int_equal(ser_open(p.slave, &l), -SER_ERS485);
	assert_non_null(strstr(ser_strerror(-SER_ERS485), "TIOCSRS485"));
	th_pty_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_9600_8n1),
		cmocka_unit_test(test_settings_out_of_range_are_named),
		cmocka_unit_test(test_parity_parses_words_and_letters),
		cmocka_unit_test(test_timeout_default_fits_the_baud_rate),
		cmocka_unit_test(test_open_applies_every_setting),
		cmocka_unit_test(test_raw_mode_passes_every_byte),
		cmocka_unit_test(test_open_discards_stale_input),
		cmocka_unit_test(test_open_errors_are_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
