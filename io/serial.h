/* SPDX-License-Identifier: MIT */
/*
 * Serial lines for Modbus RTU: the line settings a config or a command line gives (baud,
 * parity, data and stop bits, RS-485 direction control), and opening a tty with them in raw
 * mode, non-blocking. Shared by the engine (which opens and reopens a bus on its I/O thread),
 * the tools and the simulator. No allocation, no stdio: ser_open() is a handful of syscalls
 * that never wait (O_NONBLOCK, TCSANOW), so the I/O thread may call it.
 *
 * Baud rates are the POSIX termios ones from 1200 to 115200 and the higher standard Linux
 * rates (230400 .. 4000000); anything else is refused by name, never rounded.
 */
#ifndef FLUX_IO_SERIAL_H
#define FLUX_IO_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- constants ---------------------------------------------------------------------- */

#define SER_BAUD_DEFAULT 9600
#define SER_PATH_MAX	 108 /* bytes of a tty path, with the NUL */

enum ser_parity { SER_PARITY_NONE, SER_PARITY_EVEN, SER_PARITY_ODD };

/* Error codes, negated, beside -errno; ser_strerror() names them (and errno values). */
enum ser_err {
	SER_ERR_BASE = 10240,
	SER_EBAUD = SER_ERR_BASE, /* not a standard rate, or the tty did not take it */
	SER_EPARITY,		  /* parity other than none/even/odd, or refused by the tty */
	SER_EDATABITS,		  /* data bits other than 7 or 8, or refused by the tty */
	SER_ESTOPBITS,		  /* stop bits other than 1 or 2 */
	SER_ENOTTY,		  /* the path opened, but it is not a terminal */
	SER_ERS485,		  /* rs485 asked for, and the driver refused TIOCSRS485 */
	SER_ERR_END,
};

/* ---- structs ------------------------------------------------------------------------ */

/* One line's settings. Plain data; ser_line_init() gives the defaults, 9600 8N1. */
struct ser_line {
	uint32_t baud;
	enum ser_parity parity;
	uint8_t data_bits; /* 7 or 8 */
	uint8_t stop_bits; /* 1 or 2 */
	bool rs485;	   /* drive RTS for the transmitter (TIOCSRS485), for half-duplex RS-485 */
};

/* ---- prototypes --------------------------------------------------------------------- */

/* 9600 baud, no parity, 8 data bits, 1 stop bit, no RS-485 control. */
void ser_line_init(struct ser_line *l);

/* Is baud one of the rates ser_open() accepts? */
bool ser_baud_ok(uint32_t baud);

/* Every field in range: 0, or -SER_EBAUD, -SER_EPARITY, -SER_EDATABITS, -SER_ESTOPBITS. */
int ser_line_check(const struct ser_line *l);

/* "none", "even", "odd" (any case; also N, E, O). Returns the parity or -SER_EPARITY. */
int ser_parity_parse(const char *s);
const char *ser_parity_name(enum ser_parity p);

/* "9600 8N1" (with " rs485"), NUL-terminated, truncated to cap. Returns what snprintf does. */
int ser_line_describe(char *buf, size_t cap, const struct ser_line *l);

/*
 * Open path read-write as a raw, non-blocking serial line with l's settings (no controlling
 * terminal, close-on-exec), discarding anything queued. Returns the fd, or -errno (-ENOENT:
 * no such device, -EACCES, -EBUSY, ...) or -SER_E*: the settings are checked first, and read
 * back after tcsetattr(), so a rate the driver did not take is -SER_EBAUD, not a silent other
 * speed.
 */
int ser_open(const char *path, const struct ser_line *l);

/* Apply l to an open tty fd (what ser_open() does after opening). 0 or -errno / -SER_E*. */
int ser_apply(int fd, const struct ser_line *l);

/*
 * The default per-request timeout on a line at baud: the time to send the longest request and
 * receive the longest reply (2 x 256 bytes of 11 bits), rounded up to the ms, plus 100 ms for
 * the device to answer.
 * 9600: 687 ms, 19200: 394 ms, 115200: 149 ms.
 */
int64_t ser_timeout_default_ns(uint32_t baud);

/* Name of an error code (negative or positive): SER_E* or an errno value; never NULL. */
const char *ser_strerror(int err);

#endif /* FLUX_IO_SERIAL_H */
