/* SPDX-License-Identifier: MIT */
/*
 * Test support: a libmodbus RTU server (the independent peer) on a pty pair it makes, for one
 * unit id or several on the same line. The code under test opens th_rtusrv_path() as it would
 * /dev/ttyUSB0; libmodbus 3.1.6 parses every request (CRC included) and builds every reply
 * from one modbus_mapping_t that the test fills. Replies can be bent (silence, a wrong CRC,
 * another unit, a truncated frame, noise before the frame, one byte at a time) for fault
 * tests. Every wait is bounded; nothing is printed.
 *
 * How: libmodbus must know a frame's unit before it reads it (modbus_set_slave(); a frame for
 * another unit makes 3.1.6 swallow the next one as that unit's reply), and a tty cannot be
 * peeked. So a pump thread copies what arrives on the pty master into a socketpair, and the
 * server thread peeks the unit there (MSG_PEEK), sets it, and lets modbus_receive() read the
 * frame from the socket. The reply is captured from a pipe (modbus_set_socket() for the call),
 * bent as asked, and written to the master. th_rtusrv_start_tcp() serves the same RTU frames
 * on a 127.0.0.1 TCP port instead (RTU over TCP, a gateway that passes frames through).
 */
#ifndef FLUX_TESTS_SUPPORT_RTUSRV_H
#define FLUX_TESTS_SUPPORT_RTUSRV_H

#include <modbus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/support/pty.h"

#define TH_RTUSRV_BANK	  4096 /* bits, input bits, holding and input registers, each */
#define TH_RTUSRV_LATE_MS 80   /* TH_RTUSRV_LATE */

enum th_rtusrv_fault {
	TH_RTUSRV_OK,
	TH_RTUSRV_SILENT,     /* receive (and apply writes), answer nothing */
	TH_RTUSRV_BAD_CRC,    /* answer with the CRC's last byte flipped */
	TH_RTUSRV_OTHER_UNIT, /* answer as unit + 1, with a CRC that matches */
	TH_RTUSRV_TRUNCATE,   /* answer all but the last 3 bytes */
	TH_RTUSRV_NOISE,      /* send 3 bytes of noise (0x00 0xFF 0xAA), then the answer */
	TH_RTUSRV_DRIP,	      /* send the answer one byte per ms */
	TH_RTUSRV_LATE,	      /* send the answer TH_RTUSRV_LATE_MS after the request */
};

/*
 * One server. Zero it, then th_rtusrv_start(). `map` is shared with the server thread: touch
 * it only between th_rtusrv_lock() and th_rtusrv_unlock(). Counters are the server thread's,
 * readable at any time.
 */
struct th_rtusrv {
	struct th_pty pty;
	modbus_t *mb;
	modbus_mapping_t *map; /* guarded by lock */
	pthread_mutex_t lock;
	pthread_t pump, server;
	int sp[2];	  /* pump writes sp[0]; libmodbus reads sp[1] */
	int cap[2];	  /* pipe the replies are captured in */
	int lfd;	  /* RTU over TCP: the listener, else -1 */
	_Atomic int line; /* requests come from and answers go to: the master, or the accepted
			   * connection (-1 before one) */
	uint16_t port;	  /* RTU over TCP: the port listened on */
	uint32_t baud;
	atomic_bool stop;
	_Atomic int fault;	   /* enum th_rtusrv_fault, set by the test at any time */
	atomic_bool served[256];   /* units answered (others are received, not answered) */
	_Atomic uint64_t requests; /* whole, CRC-valid requests, any unit, broadcasts too */
	_Atomic uint64_t unit_requests[256]; /* the same, per unit */
	_Atomic uint64_t replies;    /* answers sent (bent or not), counted before the write */
	_Atomic uint64_t broadcasts; /* requests to unit 0 (applied, never answered) */
	_Atomic uint64_t bad;	     /* frames libmodbus refused (CRC, timeout, noise) */
	bool is_running;
};

/*
 * Make the pty pair, fill the mapping with a pattern (holding register i = 0x1000 + i, input
 * register i = 0x2000 + i, coil i = i % 2, discrete input i = i % 3 == 0), serve `unit`
 * (1..247) and start the threads. baud is what the line is said to run at (a pty has none);
 * 0 means 9600. Returns 0 or -errno (-EINVAL for a bad unit).
 */
int th_rtusrv_start(struct th_rtusrv *s, uint8_t unit, uint32_t baud);

/*
 * The same on 127.0.0.1, RTU ADUs over TCP: listens on a port the OS picks (*port gets it),
 * serves one connection at a time (a new one replaces the old). Returns 0 or -errno.
 */
int th_rtusrv_start_tcp(struct th_rtusrv *s, uint8_t unit, uint16_t *port);

/* Stop the threads and free everything. Safe on a zeroed struct and twice. */
void th_rtusrv_stop(struct th_rtusrv *s);

/* The slave path the code under test opens ("/dev/pts/N"). */
const char *th_rtusrv_path(const struct th_rtusrv *s);

/* Answer unit (1..247) too, or stop answering it. */
void th_rtusrv_serve(struct th_rtusrv *s, uint8_t unit, bool on);

/* Bend every following answer (TH_RTUSRV_OK to stop). */
void th_rtusrv_set_fault(struct th_rtusrv *s, enum th_rtusrv_fault fault);

/* The mapping, locked: fill or check it, then th_rtusrv_unlock(). */
modbus_mapping_t *th_rtusrv_lock(struct th_rtusrv *s);
void th_rtusrv_unlock(struct th_rtusrv *s);

/* Wait (at most timeout_ms) until `requests` reaches n. true if it did. */
bool th_rtusrv_wait_requests(struct th_rtusrv *s, uint64_t n, int timeout_ms);

#endif /* FLUX_TESTS_SUPPORT_RTUSRV_H */
