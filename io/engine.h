/* SPDX-License-Identifier: MIT */
/*
 * The Modbus TCP I/O engine: one thread owns every device connection and drives them all
 * through one io_uring. The control thread pushes commands (POLL a device's read blocks,
 * WRITE registers) into an SPSC ring and pops messages (samples, write acks, each with its
 * named error) from another; nothing is allocated and nothing blocks after eng_start().
 *
 * Devices that share host:port (units behind an RTU gateway) share one connection with one
 * request in flight. Retries belong to the device, not to one request: after its k-th
 * consecutive failed attempt nothing is sent to it for k x retry_backoff (the seed's 1x, 2x,
 * 3x), a new cycle's command never resets that, and after retry_count of them without a
 * valid reply its connection is closed and reconnected. All of it runs on deadlines, never
 * sleeps. When the control thread falls silent, the engine writes each armed device's
 * failsafe value by itself (eng_cfg.failsafe_after_ns).
 */
#ifndef FLUX_IO_ENGINE_H
#define FLUX_IO_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/modbus.h"
#include "io/serial.h"
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
	ENG_ESUPERSEDED = ENG_ERR_BASE, /* a newer command took its place before it was sent */
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

/* eng_cmd.flags. POLL: the controller owns this device (holds its command source): arm its
 * failsafe; a POLL without it disarms. WRITE: arm it too (the first setpoint may go out in the
 * cycle ownership is learnt, before a POLL says so); a WRITE without it changes nothing. */
#define ENG_CMDF_ARM 0x01

/* eng_msg.flags. A WRITE_ACK of a failsafe write the engine made by itself (cycle 0). */
#define ENG_MSGF_FAILSAFE 0x01

/* ---- structs ------------------------------------------------------------------------ */

/* One read per cycle: function 0x01..0x04, `count` items from PDU address `start`. */
struct eng_block {
	uint8_t fc;
	uint16_t start;
	uint16_t count;
};

/*
 * How a device's frames travel. Devices on one serial line (same device path) share it, one
 * request in flight, as units behind a TCP gateway share its connection.
 */
enum eng_framing {
	ENG_FRAMING_TCP,     /* MBAP on TCP to host:port */
	ENG_FRAMING_RTU_TCP, /* RTU ADUs on TCP to host:port (a gateway that passes frames) */
	ENG_FRAMING_SERIAL,  /* RTU on the serial line `device`, with `line`'s settings */
};

/* A device: one unit id at host:port, or on a serial line. Read-only once given to eng_open(). */
struct eng_dev {
	enum eng_framing framing;
	char host[ENG_HOST_MAX];   /* TCP, RTU_TCP: IPv4 address, dotted */
	char device[SER_PATH_MAX]; /* SERIAL: tty path */
	struct ser_line line;	   /* SERIAL: baud, parity, data and stop bits, RS-485 */
	uint16_t port;
	uint8_t unit;
	bool ignore_tid;	  /* gateway that does not echo the TID: match unit + FC */
	int64_t timeout_ns;	  /* per request; 0: 1 s */
	unsigned retry_count;	  /* consecutive failed attempts before a reconnect, and the most
				     one command gets (seed: 3); 0 counts as 1 */
	int64_t retry_backoff_ns; /* after the k-th consecutive failure wait k x this; 0: 1 s */
	unsigned nblocks;
	struct eng_block blocks[ENG_MAX_BLOCKS];
	/* FC06 write of failsafe_value to failsafe_addr (a BESS's 2008 := 0) when the control
	 * thread falls silent; only while armed (ENG_CMDF_ARM) */
	bool has_failsafe;
	uint16_t failsafe_addr;
	uint16_t failsafe_value;
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
	/* 0: off. No command at all from the control thread for this long: write the failsafe
	 * of every armed device (once per silence; again each failsafe_after_ns if it failed) */
	int64_t failsafe_after_ns;
	enum eng_uring uring;
	bool no_buf_ring;  /* per-connection buffers instead of a provided buffer ring */
	bool no_multishot; /* single-shot receives even where multishot works */
	int cpu;	   /* I/O thread CPU; -1: not pinned */
	int priority;	   /* SCHED_FIFO priority; 0: SCHED_OTHER */
};

/*
 * Control -> engine. Fixed size; copied through the command ring. A device may carry blocks
 * it reads only some of the time (control's fallback for a read refused across a hole): a
 * POLL's block_mask says which it reads; a bit naming a block the device lacks is
 * -ENG_EBADCMD.
 */
struct eng_cmd {
	uint8_t kind;  /* enum eng_cmd_kind */
	uint8_t fc;    /* WRITE: 0x05, 0x06, 0x0F or 0x10 */
	uint16_t dev;  /* index into eng_cfg.devs */
	uint16_t addr; /* WRITE: first register or coil */
	uint16_t count;
	uint32_t cycle;	    /* issuing cycle's id, echoed in the messages */
	uint8_t flags;	    /* ENG_CMDF_* */
	uint8_t block_mask; /* POLL: bit b reads eng_dev.blocks[b]; 0: every block */
	int64_t t_push_ns;  /* when the control thread pushed it (CLOCK_MONOTONIC) */
	uint16_t values[ENG_WRITE_MAX_REGS]; /* WRITE: registers, or coils as 0/1 */
};

_Static_assert(ENG_MAX_BLOCKS <= 8, "eng_cmd.block_mask has a bit per block");

/*
 * Engine -> control. One SAMPLE per read block of a POLL (of those its block_mask names: err 0
 * and fresh registers, or err and no data), one WRITE_ACK per WRITE, never none. err: 0,
 * -MB_EXC(code) for an exception reply, -MB_E* for a malformed or mismatched reply,
 * -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, ...: the cause of its last failed attempt. A
 * command replaced by a newer one of its block (POLL) or address (WRITE) before it succeeded
 * is answered then: with its last attempt's error if it was sent; if it never was, with the
 * device's last failure since its last valid reply, or -ENG_ESUPERSEDED if there was none.
 * While a device's connection is down after a failure, its commands are answered at once
 * (attempts 0) with the cause.
 */
struct eng_msg {
	uint8_t kind;  /* enum eng_msg_kind */
	uint8_t block; /* SAMPLE: index of the block in eng_dev.blocks; ACK: function code */
	uint16_t dev;
	uint32_t cycle;
	int32_t err;
	uint16_t addr;
	uint16_t count;
	uint16_t attempts; /* requests sent for this command */
	uint8_t flags;	   /* ENG_MSGF_* */
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
	_Atomic uint64_t retries;	 /* requests sent while the device's failure streak lasts */
	_Atomic uint64_t late;		 /* replies to timed-out requests, dropped */
	_Atomic uint64_t bad_frames;	 /* malformed or mismatched replies */
	_Atomic uint64_t exceptions[16]; /* by code; [0] counts codes above 0x0F */
	_Atomic uint64_t connects;	 /* successful connects of the device's connection */
	_Atomic uint64_t conn_failures;
	_Atomic uint64_t bytes_tx;
	_Atomic uint64_t bytes_rx;
	_Atomic uint64_t failsafe_writes; /* failsafe write requests sent */
	_Atomic uint64_t noise_bytes;	  /* RTU: bytes discarded between or inside frames */
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
 * publishes at most once a second per device, and at stop), consistent: a copy that a
 * publish raced is retried. Returns 0, or -EINVAL for a device it does not have.
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
