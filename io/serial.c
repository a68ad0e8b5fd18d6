// SPDX-License-Identifier: MIT
/*
 * Serial line setup for Modbus RTU. The one idea: a setting is either applied exactly or
 * refused by name. termios silently keeps the old speed for a rate a driver dislikes, so
 * ser_apply() reads the settings back and compares them.
 */
#define _GNU_SOURCE
#include "io/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/serial.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "io/modbus.h"

static const struct {
	uint32_t baud;
	speed_t speed;
} rates[] = {
	{ 1200, B1200 },       { 1800, B1800 },	      { 2400, B2400 },	     { 4800, B4800 },
	{ 9600, B9600 },       { 19200, B19200 },     { 38400, B38400 },     { 57600, B57600 },
	{ 115200, B115200 },   { 230400, B230400 },   { 460800, B460800 },   { 500000, B500000 },
	{ 576000, B576000 },   { 921600, B921600 },   { 1000000, B1000000 }, { 1152000, B1152000 },
	{ 1500000, B1500000 }, { 2000000, B2000000 }, { 2500000, B2500000 }, { 3000000, B3000000 },
	{ 3500000, B3500000 }, { 4000000, B4000000 },
};

static const char *const err_names[SER_ERR_END - SER_ERR_BASE] = {
	[SER_EBAUD - SER_ERR_BASE] = "baud rate not supported (standard rates 1200..4000000), "
				     "or refused by the tty",
	[SER_EPARITY - SER_ERR_BASE] = "parity must be none, even or odd, and the tty must take it",
	[SER_EDATABITS - SER_ERR_BASE] = "data bits must be 7 or 8, and the tty must take them",
	[SER_ESTOPBITS - SER_ERR_BASE] = "stop bits must be 1 or 2",
	[SER_ENOTTY - SER_ERR_BASE] = "not a serial line (terminal device)",
	[SER_ERS485 - SER_ERR_BASE] = "RS-485 direction control (TIOCSRS485) refused by the driver",
};

static int speed_of(uint32_t baud, speed_t *out)
{
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		if (rates[i].baud == baud) {
			*out = rates[i].speed;
			return 0;
		}
	}
	return -SER_EBAUD;
}

void ser_line_init(struct ser_line *l)
{
	*l = (struct ser_line){
		.baud = SER_BAUD_DEFAULT,
		.parity = SER_PARITY_NONE,
		.data_bits = 8,
		.stop_bits = 1,
	};
}

bool ser_baud_ok(uint32_t baud)
{
	speed_t s;

	return speed_of(baud, &s) == 0;
}

int ser_line_check(const struct ser_line *l)
{
	if (!ser_baud_ok(l->baud))
		return -SER_EBAUD;
	if (l->parity != SER_PARITY_NONE && l->parity != SER_PARITY_EVEN &&
	    l->parity != SER_PARITY_ODD)
		return -SER_EPARITY;
	if (l->data_bits != 7 && l->data_bits != 8)
		return -SER_EDATABITS;
	if (l->stop_bits != 1 && l->stop_bits != 2)
		return -SER_ESTOPBITS;
	return 0;
}

int ser_parity_parse(const char *s)
{
	static const char *const names[][2] = {
		[SER_PARITY_NONE] = { "none", "n" },
		[SER_PARITY_EVEN] = { "even", "e" },
		[SER_PARITY_ODD] = { "odd", "o" },
	};

	for (int p = 0; p < 3; p++) {
		if (strcasecmp(s, names[p][0]) == 0 || strcasecmp(s, names[p][1]) == 0)
			return p;
	}
	return -SER_EPARITY;
}

const char *ser_parity_name(enum ser_parity p)
{
	switch (p) {
	case SER_PARITY_NONE:
		return "none";
	case SER_PARITY_EVEN:
		return "even";
	case SER_PARITY_ODD:
		return "odd";
	}
	return "?";
}

int ser_line_describe(char *buf, size_t cap, const struct ser_line *l)
{
	static const char letter[] = {
		[SER_PARITY_NONE] = 'N', [SER_PARITY_EVEN] = 'E', [SER_PARITY_ODD] = 'O'
	};
	char p = (unsigned)l->parity < sizeof(letter) ? letter[l->parity] : '?';

	return snprintf(buf, cap, "%u %u%c%u%s", l->baud, l->data_bits, p, l->stop_bits,
			l->rs485 ? " rs485" : "");
}

/* Unix98 pty slaves: majors 136..143 (Documentation/admin-guide/devices.txt). */
static bool is_pty(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) >= 136 &&
	       major(st.st_rdev) <= 143;
}

static int set_rs485(int fd, bool is_on)
{
	struct serial_rs485 rs;

	memset(&rs, 0, sizeof(rs));
	if (is_on)
		rs.flags = SER_RS485_ENABLED | SER_RS485_RTS_ON_SEND;
	if (ioctl(fd, TIOCSRS485, &rs) < 0)
		return is_on ? -SER_ERS485 : 0;
	return 0;
}

int ser_apply(int fd, const struct ser_line *l)
{
	struct termios t, back;
	speed_t speed = B0;
	int err = ser_line_check(l);

	if (err < 0 || (err = speed_of(l->baud, &speed)) < 0)
		return err;
	if (tcgetattr(fd, &t) < 0)
		return errno == ENOTTY ? -SER_ENOTTY : -errno;
	cfmakeraw(&t);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	t.c_cflag |= CLOCAL | CREAD | (l->data_bits == 7 ? CS7 : CS8);
	if (l->parity != SER_PARITY_NONE)
		t.c_cflag |= PARENB | (l->parity == SER_PARITY_ODD ? PARODD : 0);
	if (l->stop_bits == 2)
		t.c_cflag |= CSTOPB;
	t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY | INPCK);
	if (l->parity != SER_PARITY_NONE)
		t.c_iflag |= INPCK;
	/*
	 * A read returns what is there, at least a byte: with O_NONBLOCK an empty line is EAGAIN
	 * (VMIN 0 would make it 0, which io_uring would complete at once, over and over). The
	 * engine frames by length and CRC, never by VTIME.
	 */
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, speed) < 0 || cfsetospeed(&t, speed) < 0)
		return -SER_EBAUD;
	/* A pty has no wire: Linux keeps it at 8 bits without parity, and refuses (EINVAL) a
	 * change to them once it holds that; leave them as they are. */
	if (is_pty(fd))
		t.c_cflag = (t.c_cflag & ~(tcflag_t)(CSIZE | PARENB | PARODD)) | CS8;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		struct termios plain = t;

		if (errno != EINVAL)
			return -errno;
		/* Which setting did the driver refuse? The same line at 8 bits, no parity. */
		plain.c_cflag = (plain.c_cflag & ~(tcflag_t)(CSIZE | PARENB | PARODD)) | CS8;
		plain.c_iflag &= ~(tcflag_t)INPCK;
		if (tcsetattr(fd, TCSANOW, &plain) == 0)
			return l->parity != SER_PARITY_NONE ? -SER_EPARITY : -SER_EDATABITS;
		return -SER_EBAUD;
	}
	if (tcgetattr(fd, &back) < 0)
		return -errno;
	if (cfgetospeed(&back) != speed || cfgetispeed(&back) != speed)
		return -SER_EBAUD;
	if ((back.c_cflag & CSTOPB) != (t.c_cflag & CSTOPB))
		return -SER_ESTOPBITS;
	if (!is_pty(fd)) {
		if ((back.c_cflag & CSIZE) != (t.c_cflag & CSIZE))
			return -SER_EDATABITS;
		if ((back.c_cflag & (PARENB | PARODD)) != (t.c_cflag & (PARENB | PARODD)))
			return -SER_EPARITY;
	}
	return set_rs485(fd, l->rs485);
}

int ser_open(const char *path, const struct ser_line *l)
{
	int err = ser_line_check(l);
	int fd;

	if (err < 0)
		return err;
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!isatty(fd)) {
		close(fd);
		return -SER_ENOTTY;
	}
	err = ser_apply(fd, l);
	if (err < 0) {
		close(fd);
		return err;
	}
	/* Bytes a device sent before we listened belong to no request of ours. */
	(void)tcflush(fd, TCIOFLUSH);
	return fd;
}

int64_t ser_timeout_default_ns(uint32_t baud)
{
	const int64_t ms = 1000 * 1000;
	int64_t wire = mb_rtu_wire_ns(baud ? baud : SER_BAUD_DEFAULT, 2 * MB_RTU_ADU_MAX);

	/* Whole milliseconds, rounded up, so that a config dump shows it as written. */
	return (wire + ms - 1) / ms * ms + 100 * ms;
}

const char *ser_strerror(int err)
{
	int e = err < 0 ? -err : err;

	if (e >= SER_ERR_BASE && e < SER_ERR_END)
		return err_names[e - SER_ERR_BASE];
	if (e == 0)
		return "success";
	/* strerrordesc_np() returns a static string and never allocates (glibc >= 2.32). */
	const char *s = strerrordesc_np(e);

	return s ? s : "unknown error";
}
