/* SPDX-License-Identifier: MIT */
/*
 * Private to devices/sim*.c: the simulator's state and the ops each device model provides
 * to the loop in sim.c. Everything here is guarded by sim->lock.
 */
#ifndef FLUX_DEVICES_SIM_INT_H
#define FLUX_DEVICES_SIM_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "devices/sim.h"

#define SIM_OUT_Q      8    /* responses queued per connection before reading pauses */
#define SIM_IN_CAP     1024 /* bytes read per recv() */
#define SIM_PP_PENDING 16
/* A queued reply: the largest ADU, or an RTU one with its noise before and inside. */
#define SIM_OUT_MAX    (MB_ADU_MAX + SIM_NOISE_BYTES + 1)

/*
 * FC43/14 Read Device Identification (Modbus Application Protocol v1.1b3, 6.21): every
 * simulated device answers the basic objects, stream (read codes 01..03, which a basic
 * device answers at its own level) and individual (04) access, so conformity 0x81.
 */
#define SIM_FC_MEI	   0x2B
#define SIM_MEI_DEVICE_ID  0x0E
#define SIM_DEVID_VENDOR   "Flux"
#define SIM_DEVID_REVISION "1.0"

enum sim_kind {
	SIM_POWERPACK,
	SIM_ACUVIM2,
	SIM_PROFILE,
};

struct sim_pp {
	struct sim_pp_params prm;
	uint16_t status;
	uint16_t command_source;
	uint16_t blocks;
	int16_t target_kw;
	uint16_t heartbeat; /* PP_REG_HEARTBEAT as last written */
	bool is_started;    /* OFFLINE -> READY done */
	int64_t ready_ns;   /* when OFFLINE -> READY is due: start or restart + startup_ms */
	bool is_wd_armed;   /* the heartbeat watchdog runs (prm.heartbeat_timeout_ms > 0) */
	bool is_hb_expired; /* it lapsed, and no heartbeat was written since */
	int64_t wd_due_ns;  /* when it lapses unless refreshed first */
	unsigned hb_trips;
	uint64_t target_writes;
	double applied_kw;
	double delivered_kw;
	double ramp_kw; /* where the first-order ramp is (response_tau_ms), before the stop rule */
	double soe_kwh;
	struct {
		int16_t kw;
		int64_t due_ns;
	} pending[SIM_PP_PENDING]; /* FIFO of setpoints waiting for the response delay */
	unsigned p_head, p_len;
};

struct sim_acu {
	struct sim_acu_params prm;    /* prm.load owned */
	const struct prof_profile *p; /* sim->acu_prof: the points it serves */
	uint8_t qty[PROF_MAX_POINTS]; /* what each point measures (enum acu_qty, sim_acu.c) */
	double load_kw;
	double bess_kw;
	double grid_kw;
	double frequency_hz; /* now: prm.frequency over time, or prm.frequency_hz */
	double import_kwh;
	double export_kwh;
};

/* A device made from a profile (sim_prof.c): one engineering value per point. */
struct sim_prof {
	const struct prof_profile *p; /* borrowed: outlives the sim */
	struct sim_prof_params prm;   /* prm.csv borrowed too */
	enum mb_order order;	      /* of PROF_F_DEVICE_ORDER points */
	double val[PROF_MAX_POINTS];
	bool is_held[PROF_MAX_POINTS]; /* set by the user or the CSV: the physics leaves it */
	bool is_started;	       /* status went READY (or was forced) */
	int64_t ready_ns;
	int csv_row; /* the last CSV row applied; -1: none yet */
	double delivered_kw;
	char product[PROF_NAME_MAX + 16]; /* FC43 ProductName: "<name> simulator" */
};

/* What sim_add_profile() hands sim_prof_init() through add_device(). */
struct sim_prof_args {
	const struct prof_profile *p;
	const struct sim_prof_params *prm;
};

struct sim_dev {
	enum sim_kind kind;
	uint8_t unit;
	int lst;
	struct sim_fault fault;
	uint32_t rng; /* xorshift32 state for garbage */
	int64_t start_ns;
	int64_t last_ns;
	union {
		struct sim_pp pp;
		struct sim_acu acu;
		struct sim_prof prof;
	};
};

/*
 * Where devices are served: a TCP listener (MBAP or RTU framing), or a serial line (fd -1;
 * its bytes go through conn[SIM_MAX_CONNS + line], a connection that is never accepted).
 */
struct sim_lst {
	enum sim_framing framing;
	int fd; /* -1 while refusing, and for a serial line */
	struct in_addr addr;
	uint16_t port;
	int line; /* SIM_FRAMING_SERIAL: index into sim->line, else -1 */
	struct sim_rtu_stats stats;
};

/* A serial line: a pty the sim made, or a tty it opened. */
struct sim_line {
	bool is_pty;
	bool is_lost;		 /* closed (unplugged, or it failed): reopened by the loop */
	int spare;		 /* a pty's slave, held open; else -1 */
	int64_t retry_ns;	 /* when a lost line is tried again */
	char path[SER_PATH_MAX]; /* the pty's slave, or the tty */
	char link[SER_PATH_MAX]; /* a symlink to a pty's slave, or "" */
	struct ser_line set;
};

/* A response waiting to be sent: due time, bytes, how to send them. */
struct sim_out {
	int64_t due_ns;
	uint16_t len, off;
	bool is_drip;
	bool is_cut; /* close the connection once sent (a serial line stays) */
	uint8_t buf[SIM_OUT_MAX];
};

struct sim_conn {
	int fd; /* -1: free slot (a serial line's: the line is closed) */
	int lst;
	bool is_rtu;	/* RTU framing: rsplit, not split */
	bool is_serial; /* a serial line's: read()/write(), never accepted or closed by a peer */
	struct mb_splitter split;
	struct mb_rtu_splitter rsplit;
	uint64_t seen_discarded; /* rsplit.discarded already counted in the stats */
	int64_t last_in_ns;	 /* the last bytes read */
	uint8_t in[SIM_IN_CAP];
	uint16_t in_off, in_len;
	struct sim_out q[SIM_OUT_Q];
	unsigned q_head, q_len;
	bool is_dropped; /* shut down by sim_drop_conns(): the loop closes it, answers nothing */
};

struct sim {
	pthread_mutex_t lock;
	int wake_fd; /* eventfd: sim_stop() and setters wake the loop */
	atomic_bool stop;
	unsigned n_dev, n_lst, n_line;
	struct sim_dev dev[SIM_MAX_DEVICES];
	struct sim_lst lst[SIM_MAX_LISTENERS];
	struct sim_line line[SIM_MAX_LINES];
	/* accepted TCP connections, then one per serial line (SIM_MAX_CONNS + line index) */
	struct sim_conn conn[SIM_MAX_CONNS + SIM_MAX_LINES];
	/* devices/profiles/acuvim2.yaml, loaded by the first sim_add_acuvim2(), shared by its
	 * meters, freed by sim_free(). */
	struct prof_profile *acu_prof;
};

/* A device model's part of the loop; both called with sim->lock held. */
struct sim_ops {
	/* Advance the model to now_ns. */
	void (*step)(struct sim *sim, struct sim_dev *d, int64_t now_ns);
	/* Answer a decoded request into out (MB_ADU_MAX). Returns the ADU length or -MB_E*. */
	int (*serve)(struct sim_dev *d, const struct mb_req *req, uint8_t *out, int64_t now_ns);
	/* FC43/14 object 0x01, ProductName ("PowerPack simulator"). */
	const char *product;
	/* When set, the device's own ProductName instead of `product`. */
	const char *(*product_of)(const struct sim_dev *d);
};

extern const struct sim_ops sim_pp_ops;
extern const struct sim_ops sim_acu_ops;
extern const struct sim_ops sim_prof_ops;

/* Monotonic clock, ns. */
int64_t sim_now_ns(void);

/* Sum of delivered_kw over the powerpacks of the sim (positive: discharging). */
double sim_bess_kw(const struct sim *sim);

/* Advance every model to now_ns: batteries first, then the meters that see them. */
void sim_step_all(struct sim *sim, int64_t now_ns);

/*
 * Drop every connection to listener lst, from any thread, lock held: those still in its backlog
 * are accepted and closed; each accepted one is shut down at once (the peer sees the close now),
 * answers nothing more, and the loop closes its fd at its next turn (never under a poll() in
 * progress). Wakes the loop.
 */
void sim_drop_conns(struct sim *sim, int lst);

/* Model setup, called by sim_add_*() with the lock held. Return 0 or -errno. */
int sim_pp_init(struct sim_dev *d, const struct sim_pp_params *prm);
int sim_acu_init(struct sim *sim, struct sim_dev *d, const struct sim_acu_params *prm);
void sim_acu_exit(struct sim_dev *d);
int sim_prof_init(struct sim_dev *d, const struct sim_prof_args *args);

#endif /* FLUX_DEVICES_SIM_INT_H */
