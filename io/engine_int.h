/* SPDX-License-Identifier: MIT */
/*
 * Private to io/engine*.c: the engine's state. Setup (engine.c) allocates all of it once;
 * after eng_start() only the I/O thread (engine_loop.c) touches it, except the rings, the
 * atomic counters and the published RTT histograms, which other threads read.
 */
#ifndef FLUX_IO_ENGINE_INT_H
#define FLUX_IO_ENGINE_INT_H

#include <liburing.h>
#include <netinet/in.h>
#include <semaphore.h>

#include "io/engine.h"
#include "rt/ring.h"
#include "rt/seqlock.h"
#include "rt/thread.h"

#define ENG_LATE_TIDS	   4   /* timed-out TIDs remembered per connection */
#define ENG_RX_BUF	   512 /* bytes per receive buffer */
#define ENG_POP_BATCH	   64  /* commands taken from the ring per loop turn */
#define ENG_RTT_PUBLISH_NS (1000LL * 1000 * 1000)

/* user_data of an SQE: kind in the top byte, connection index, generation (never a pointer). */
enum ud_kind { UD_WAKE = 1, UD_CONNECT, UD_RECV, UD_SEND, UD_CANCEL };

static inline uint64_t ud_make(enum ud_kind kind, uint32_t conn, uint32_t gen)
{
	return (uint64_t)kind << 56 | (uint64_t)(conn & 0xFFFFFF) << 32 | gen;
}

/* The write item of a device that carries its failsafe write (after the ENG_WRITE_SLOTS). */
#define ENG_FAILSAFE_SLOT   ENG_WRITE_SLOTS
#define ENG_DEV_WRITE_ITEMS (ENG_WRITE_SLOTS + 1)

/* A unit of work: one read block or one write slot of a device. I/O thread only. */
struct eng_item {
	uint16_t dev;
	uint8_t kind;	   /* ENG_CMD_POLL or ENG_CMD_WRITE */
	uint8_t index;	   /* POLL: block index; WRITE: slot index (ENG_FAILSAFE_SLOT: failsafe) */
	bool is_queued;	   /* waiting to be sent, maybe in the device's backoff */
	bool is_in_flight; /* its request is on the wire */
	bool has_again;	   /* POLL: another came while in flight; it takes the place after */
	uint16_t attempts; /* requests sent for this command */
	int last_err;	   /* its last failed attempt's error; 0 if none failed */
	uint32_t cycle;
	uint32_t again_cycle;
	int64_t t_cmd_ns;
	int64_t again_t_cmd_ns;
	int64_t t_sent_ns;
	uint64_t seq;	   /* queue order: oldest first */
	struct eng_cmd wr; /* WRITE: the command */
};

/*
 * Per device. Counters and rtt_pub are read by other threads; the rest is I/O thread only.
 * The failure streak is the device's, not a command's: a new POLL or WRITE never resets it;
 * a valid reply (a non-retryable exception included) does, and so does a (re)connect.
 */
struct eng_devstate {
	struct eng_counters c;
	struct seqlock rtt_pub; /* published copy of rtt */
	struct hist rtt;
	int64_t rtt_pub_ns;
	bool is_rtt_dirty;
	bool is_armed;	       /* its last POLL had ENG_CMDF_ARM: the failsafe is armed */
	bool is_failsafe_done; /* failsafe acknowledged in this silence episode */
	unsigned conn;
	unsigned first_item;	 /* nblocks POLL items, then ENG_DEV_WRITE_ITEMS WRITE items */
	unsigned fails;		 /* consecutive failed attempts (the streak) */
	int last_err;		 /* last failure since the last valid reply; 0: none */
	int64_t not_before_ns;	 /* backoff: nothing is sent to the device before this */
	int64_t streak_start_ns; /* when the streak's first attempt failed */
};

enum conn_state {
	CONN_DOWN,	 /* no socket; reconnect at timer_ns */
	CONN_CONNECTING, /* connect in flight; give up at timer_ns */
	CONN_READY,	 /* connected; with cur >= 0 a request is in flight until timer_ns */
	CONN_CLOSING,	 /* cancelling its SQEs; the fd is closed when ops reaches 0 */
};

/*
 * One connection shared by the devices there: a TCP connection to host:port (MBAP, or RTU
 * frames for a gateway), or a serial line (the tty, opened with its first device's settings:
 * "connecting" is ser_open(), done at once). RTU frames carry no TID: the frame finder
 * (rsplit) is reset before each request and takes only the awaited reply; on a serial line
 * nothing is sent before quiet_ns (t3.5 after the last byte on the line, ours or a device's).
 * I/O thread only.
 */
struct eng_conn {
	enum eng_framing framing;
	struct sockaddr_in sa;
	unsigned dev0;	  /* SERIAL: the device whose path and line settings open the tty */
	int64_t t35_ns;	  /* SERIAL: the inter-frame silence at the line's baud rate */
	int64_t quiet_ns; /* SERIAL: no request before this */
	int fd;
	uint32_t gen;
	enum conn_state state;
	unsigned ops; /* SQEs submitted and not yet completed */
	bool is_recv_armed;
	bool is_send_busy; /* a send SQE is out: the next request waits for it */
	bool is_in_work;   /* listed in eng.work */
	int close_err;	   /* why it is closing: given to the queued items once down */
	int64_t timer_ns;
	int64_t t_alive_ns; /* last valid frame (reply or exception) from any of its devices */
	int64_t backoff_ns;
	int cur; /* item in flight, or -1 */
	uint16_t next_tid;
	uint16_t cur_tid;
	uint16_t late_tids[ENG_LATE_TIDS];
	unsigned nlate;
	unsigned ndev; /* devices on this connection */
	struct mb_req req;
	uint8_t payload[2 * ENG_WRITE_MAX_REGS];
	uint8_t tx[MB_ADU_MAX];
	uint16_t tx_len;
	uint16_t tx_off;
	struct mb_splitter split;
	struct mb_rtu_splitter rsplit; /* RTU_TCP, SERIAL */
	uint64_t noise_seen;	       /* rsplit.discarded already counted */
	uint8_t *rx;		       /* own receive buffer when there is no buffer ring */
	unsigned *items;	       /* indices into eng.items of this connection's items */
	unsigned nitems;
};

struct eng {
	struct eng_cfg cfg;
	struct eng_dev *devs; /* copy of cfg.devs */
	struct eng_devstate *ds;
	struct eng_conn *conns;
	unsigned nconn;
	unsigned *dirty; /* devices whose RTT histogram changed since its last publish */
	unsigned ndirty;
	unsigned *work; /* connections to service next turn (eng_conn.is_in_work) */
	unsigned nwork;
	int64_t next_timer_ns; /* earliest deadline returned since the last full service */
	struct eng_item *items;
	unsigned nitems;
	unsigned *conn_items; /* storage behind every eng_conn.items */
	uint64_t seq;

	/* The I/O thread's own fail-safe against a stalled control thread. */
	int64_t t_last_cmd_ns;	  /* when the last command was taken */
	int64_t failsafe_next_ns; /* when failsafe writes are (again) due if silence lasts */
	bool is_failsafe_episode; /* the control thread has been silent past failsafe_after */
	unsigned narmed;	  /* devices armed */

	struct ring cmd; /* control -> I/O, with an eventfd the loop keeps a read armed on */
	struct ring msg; /* I/O -> control */
	struct eng_cmd *cmd_batch;
	bool has_pushed; /* messages pushed this loop turn: notify once */

	struct io_uring ring;
	bool has_ring;
	struct eng_features feat;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	unsigned nbufs;
	uint64_t wake_buf;
	bool is_wake_armed;

	struct thr thread;
	sem_t started;
	bool has_sem;
	int start_err;
	atomic_bool stop;
	_Atomic uint64_t turns; /* written by the I/O thread only; eng_turns() */
	bool is_running;
};

/*
 * engine.c, called by the I/O thread before its loop and after it: create the io_uring (the
 * best setup cfg.uring allows, with fallbacks) and register the buffer ring; and undo it.
 * Returns -errno or zero.
 */
int eng_ring_setup(struct eng *e);
void eng_ring_exit(struct eng *e);

/* RT(io), engine_loop.c: the I/O thread's body. */
void *eng_loop_main(void *arg);

#endif /* FLUX_IO_ENGINE_INT_H */
