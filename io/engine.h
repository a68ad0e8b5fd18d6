/* SPDX-License-Identifier: MIT */
/*
 * The Modbus TCP I/O engine: one thread owns every device connection and drives them all
 * through one io_uring. The control thread pushes commands (POLL a device's read blocks,
 * WRITE registers) into an SPSC ring and pops messages (samples, write acks, each with its
 * named error) from another; nothing is allocated and nothing blocks after eng_start().
 *
 * Devices that share host:port (units behind an RTU gateway) share one connection with one
 * request in flight. Requests time out per device; the seed's retry rule (retry_count
 * attempts, waiting 1x, 2x, 3x retry_backoff between them) runs on deadlines, never sleeps.
 */
#ifndef FLUX_IO_ENGINE_H
#define FLUX_IO_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/modbus.h"
#include "rt/hist.h"

/* ---- constants ---------------------------------------------------------------------- */

#define ENG_MAX_DEVICES	   4096
#define ENG_MAX_BLOCKS	   8  /* read blocks per device */
#define ENG_WRITE_MAX_REGS 32 /* registers (or coils) in one WRITE command */
#define ENG_WRITE_SLOTS	   4  /* WRITE commands queued per device */
#define ENG_HOST_MAX	   64

/* Engine error codes (negated, beside -errno and -MB_E*); eng_strerror() names all three. */
enum eng_err {
	ENG_ERR_BASE = 8192,
	ENG_ESUPERSEDED = ENG_ERR_BASE, /* a newer WRITE to the same address replaced it */
	ENG_ENOTCONN,			/* the device's connection is down (reconnecting) */
	ENG_ELATE,			/* internal: a reply to a request that timed out */
	ENG_EBADCMD,			/* command names no device, block or valid write */
	ENG_EQUEUE,			/* no free write slot for the device */
	ENG_ERR_END,
};

/* eng_cfg.uring: which io_uring setup to use. ENG_URING_BEST probes and falls back. */
enum eng_uring {
	ENG_URING_BEST,		 /* SINGLE_ISSUER + DEFER_TASKRUN, else the best the kernel has */
	ENG_URING_PLAIN,	 /* no setup flags (kernel 5.x behaviour) */
	ENG_URING_SINGLE_ISSUER, /* SINGLE_ISSUER only */
	ENG_URING_DEFER_TASKRUN, /* SINGLE_ISSUER + DEFER_TASKRUN, fail if unsupported */
};

enum eng_cmd_kind { ENG_CMD_POLL = 1, ENG_CMD_WRITE = 2 };
enum eng_msg_kind { ENG_MSG_SAMPLE = 1, ENG_MSG_WRITE_ACK = 2 };

/* ---- structs ------------------------------------------------------------------------ */

/* One read per cycle: function 0x01..0x04, `count` items from PDU address `start`. */
struct eng_block {
	uint8_t fc;
	uint16_t start;
	uint16_t count;
};

/* A device: one unit id at host:port. Read-only once given to eng_open(). */
struct eng_dev {
	char host[ENG_HOST_MAX]; /* IPv4 address, dotted */
	uint16_t port;
	uint8_t unit;
	bool ignore_tid;	  /* gateway that does not echo the TID: match unit + FC */
	int64_t timeout_ns;	  /* per request; 0: 1 s */
	unsigned retry_count;	  /* attempts per request (seed: 3); 0 counts as 1 */
	int64_t retry_backoff_ns; /* wait before attempt k+1 is k x this; 0: seed's 1 s */
	unsigned nblocks;
	struct eng_block blocks[ENG_MAX_BLOCKS];
};

/* Engine setup. Read by eng_open() only. */
struct eng_cfg {
	const struct eng_dev *devs;
	unsigned ndev;
	uint32_t cmd_capacity;	    /* command ring messages (power of two); 0: auto */
	uint32_t msg_capacity;	    /* message ring messages (power of two); 0: auto */
	int64_t connect_timeout_ns; /* 0: 1 s */
	int64_t reconnect_min_ns;   /* first reconnect delay; 0: 100 ms */
	int64_t reconnect_max_ns;   /* cap of the doubling; 0: 5 s */
	enum eng_uring uring;
	bool no_buf_ring;  /* per-connection buffers instead of a provided buffer ring */
	bool no_multishot; /* single-shot receives even where multishot works */
	int cpu;	   /* I/O thread CPU; -1: not pinned */
	int priority;	   /* SCHED_FIFO priority; 0: SCHED_OTHER */
};

/* Control -> engine. Fixed size; copied through the command ring. */
struct eng_cmd {
	uint8_t kind;  /* enum eng_cmd_kind */
	uint8_t fc;    /* WRITE: 0x05, 0x06, 0x0F or 0x10 */
	uint16_t dev;  /* index into eng_cfg.devs */
	uint16_t addr; /* WRITE: first register or coil */
	uint16_t count;
	uint32_t cycle;	   /* issuing cycle's id, echoed in the messages */
	int64_t t_push_ns; /* when the control thread pushed it (CLOCK_MONOTONIC) */
	uint16_t values[ENG_WRITE_MAX_REGS]; /* WRITE: registers, or coils as 0/1 */
};

/*
 * Engine -> control. One SAMPLE per read block of a POLL (err 0 and fresh registers, or err
 * and no data), one WRITE_ACK per WRITE. err: 0, -MB_EXC(code) for an exception reply,
 * -MB_E* for a malformed reply, -ETIMEDOUT after the last attempt, -ECONNREFUSED,
 * -ECONNRESET, -ENG_ESUPERSEDED, ... While a device's connection is down after a failure,
 * its commands are answered at once (attempts 0) with the failure's cause.
 */
struct eng_msg {
	uint8_t kind;  /* enum eng_msg_kind */
	uint8_t block; /* SAMPLE: index of the block in eng_dev.blocks; ACK: function code */
	uint16_t dev;
	uint32_t cycle;
	int32_t err;
	uint16_t addr;
	uint16_t count;
	uint16_t attempts; /* requests sent for it */
	int64_t t_cmd_ns;  /* the command's t_push_ns */
	int64_t t_sent_ns; /* last request sent (0 if none) */
	int64_t t_done_ns; /* response parsed, or error decided */
	union {
		uint16_t regs[MB_MAX_READ_REGS];	  /* FC03/04, host order; ACK: values */
		uint8_t bits[(MB_MAX_READ_BITS + 7) / 8]; /* FC01/02, packed LSB first */
	} data;
};

/* Per-device counters; written by the I/O thread only, read relaxed by any thread. */
struct eng_counters {
	_Atomic uint64_t requests;
	_Atomic uint64_t responses; /* valid, matched replies (exceptions included) */
	_Atomic uint64_t timeouts;
	_Atomic uint64_t retries;
	_Atomic uint64_t late;		 /* replies to timed-out requests, dropped */
	_Atomic uint64_t bad_frames;	 /* malformed or mismatched replies */
	_Atomic uint64_t exceptions[16]; /* by code; [0] counts codes above 0x0F */
	_Atomic uint64_t connects;	 /* successful connects of the device's connection */
	_Atomic uint64_t conn_failures;
	_Atomic uint64_t bytes_tx;
	_Atomic uint64_t bytes_rx;
};

/* What the kernel offered and the engine uses; filled at eng_start(). */
struct eng_features {
	bool single_issuer;
	bool defer_taskrun;
	bool buf_ring;
	bool recv_multishot; /* one receive SQE per connection, kept armed (kernel 6.0+) */
	bool ext_arg;	     /* one io_uring_enter per loop turn, with the timeout as an argument */
};

struct eng; /* opaque */

/* ---- prototypes --------------------------------------------------------------------- */

/*
 * Setup: validate cfg, allocate and prefault everything the engine will ever use, group
 * devices into connections. Nothing runs yet. Returns -errno / -MB_EINVAL, or zero with *out.
 */
int eng_open(struct eng **out, const struct eng_cfg *cfg);

/* Setup: start the I/O thread; it creates the io_uring itself (single issuer) and reports
 * back. Returns -errno or zero. */
int eng_start(struct eng *e);

/* Setup: stop the I/O thread (bounded: it finishes its loop turn), join it. Idempotent. */
void eng_stop(struct eng *e);

/* Setup: stop if running, close every socket, free everything. Safe on NULL. */
void eng_close(struct eng *e);

/*
 * RT(ctl): push n commands and wake the I/O thread. Returns how many were queued; the rest
 * did not fit the command ring and were counted as drops. Never blocks.
 */
unsigned eng_submit(struct eng *e, const struct eng_cmd *cmds, unsigned n);

/* RT(ctl): pop up to max messages. Never blocks. */
unsigned eng_pop(struct eng *e, struct eng_msg *out, unsigned max);

/* RT(ctl): sleep until a message is ready or CLOCK_MONOTONIC reaches deadline_ns. Returns 0,
 * -ETIMEDOUT or -EINTR. */
int eng_wait(struct eng *e, int64_t deadline_ns);

/* Any thread: the device's counters (live, relaxed atomics). */
const struct eng_counters *eng_counters(const struct eng *e, unsigned dev);

/*
 * Any thread: a copy of the device's RTT histogram as last published (the I/O thread
 * publishes at most once a second per device, and at stop). Returns 0, or -EAGAIN if a
 * publish kept racing the copy.
 */
int eng_read_rtt(const struct eng *e, unsigned dev, struct hist *out);

/* Any thread after eng_start(): the io_uring features in use. */
struct eng_features eng_features(const struct eng *e);

/* Any thread: commands dropped because the command ring was full; messages dropped because
 * the message ring was full. */
uint64_t eng_cmd_drops(const struct eng *e);
uint64_t eng_msg_drops(const struct eng *e);

/* Any thread: loop turns the I/O thread has completed (relaxed); the watchdog's sign that
 * it is alive. It turns at least once per command batch, so once per control cycle. */
uint64_t eng_turns(const struct eng *e);

/* Name of an error code: engine, Modbus or errno. Never NULL. */
const char *eng_strerror(int err);

#endif /* FLUX_IO_ENGINE_H */
