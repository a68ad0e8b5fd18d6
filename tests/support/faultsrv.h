/* SPDX-License-Identifier: MIT */
/*
 * Test support: a Modbus TCP server on many 127.0.0.1 ports at once (one thread, one poll()
 * loop), built on the codec, whose every port can be told to misbehave: silence, delay,
 * disconnect mid-frame, one-byte drip, garbage, wrong TID, wrong unit, exception replies,
 * refused connections, restart. Register values are a function of (port, unit, address), so
 * a test can tell a right answer from a stale or mismatched one.
 */
#ifndef FLUX_TESTS_SUPPORT_FAULTSRV_H
#define FLUX_TESTS_SUPPORT_FAULTSRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/modbus.h"

#define TH_FSRV_MAX_CONNS 4 /* clients per port */
#define TH_FSRV_WRITABLE                                                                           \
	2000 /* holding registers TH_FSRV_WRITABLE.. +TH_FSRV_NWRITABLE are stored */
#define TH_FSRV_NWRITABLE 64

enum th_fsrv_fault {
	TH_FSRV_OK,
	TH_FSRV_SILENT,	    /* read requests, answer nothing */
	TH_FSRV_DELAY,	    /* answer after param ms */
	TH_FSRV_CUT,	    /* send half the answer, then close the connection */
	TH_FSRV_DRIP,	    /* send the answer one byte per ms */
	TH_FSRV_GARBAGE,    /* send bytes whose MBAP header is invalid */
	TH_FSRV_WRONG_TID,  /* answer with TID + 1 */
	TH_FSRV_WRONG_UNIT, /* answer as unit + 1 */
	TH_FSRV_EXCEPTION,  /* answer exception param (1..255) */
	TH_FSRV_REFUSE,	    /* close the listener and every connection; reopen when cleared */
	TH_FSRV_BAD_COUNT,  /* answer reads with a byte count one short (consistent MBAP) */
};

/* One port. fault/param are set by the test at any time; the rest is the server's. */
struct th_fsrv_port {
	_Atomic int fault;
	_Atomic int param;
	_Atomic uint64_t requests; /* requests received */
	_Atomic uint64_t accepts;  /* connections accepted */
	atomic_bool is_listening;  /* the listener is open (TH_FSRV_REFUSE closes it) */
	uint16_t port;
	int lfd;
	uint16_t regs[TH_FSRV_NWRITABLE];
	struct th_fsrv_conn {
		int fd;
		struct mb_splitter split;
		uint8_t out[2 * MB_ADU_MAX];
		unsigned out_len, out_off;
		int64_t send_at_ns; /* delayed answer: not before */
		bool is_drip;
		bool close_after; /* TH_FSRV_CUT: close once out is sent */
	} conns[TH_FSRV_MAX_CONNS];
};

struct th_fsrv {
	struct th_fsrv_port *ports;
	unsigned nports;
	pthread_t thread;
	atomic_bool stop;
	bool is_running;
};

/* The value register `addr` of `unit` at `port` holds (unless written). */
static inline uint16_t th_fsrv_value(uint16_t port, uint8_t unit, uint16_t addr)
{
	return (uint16_t)(port * 31u + unit * 7u + addr);
}

/* Open n ports on 127.0.0.1 (OS-chosen) and start serving. Returns -errno or zero. */
int th_fsrv_open(struct th_fsrv *s, unsigned n);

/* Stop the thread, close everything. Safe on a zeroed struct and twice. */
void th_fsrv_close(struct th_fsrv *s);

/* Set a port's fault (and its parameter). */
void th_fsrv_set(struct th_fsrv *s, unsigned port_index, enum th_fsrv_fault fault, int param);

#endif /* FLUX_TESTS_SUPPORT_FAULTSRV_H */
