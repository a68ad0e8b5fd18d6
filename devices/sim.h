/* SPDX-License-Identifier: MIT */
/*
 * Device simulators: PowerPack BESS and Acuvim II meters, and a device for any profile
 * (devices/profile.h), served over Modbus TCP on loopback (127.0.0.0/8 only) by one poll()
 * loop, framed by io/modbus.h. Many devices, many ports, several unit ids per port. Each
 * device has a physical model (SOE, load, grid power) and injectable faults. Not RT code: the
 * loop may block, allocate and print nothing.
 *
 * Modbus RTU too (struct sim_endpoint's framing): on a serial line, a pty the sim opens (its
 * slave is what a client opens, sim_serial_path()) or a tty it is given, or as RTU ADUs on
 * TCP connections (a gateway's `framing: rtu`). RTU rules: a request to a unit nobody serves
 * on the line, a damaged one (CRC) and a broadcast (unit 0, writes only: applied by every
 * device on the line) get no answer; function codes other than the 8 of io/modbus.h are line
 * noise (their length is unknown), so FC43 is TCP only.
 *
 * Threads: sim_run() runs the loop on the caller's thread; every other function may be called
 * from any thread while it runs (a mutex guards the state; the loop never holds it in poll()).
 */
#ifndef FLUX_DEVICES_SIM_H
#define FLUX_DEVICES_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/powerpack.h"
#include "devices/profile.h"
#include "io/modbus.h"
#include "io/serial.h"

#define SIM_MAX_DEVICES	    256
#define SIM_MAX_LISTENERS   256
#define SIM_MAX_CONNS	    64 /* further connections are accepted and closed at once */
#define SIM_RESPONSE_MS_MAX 999
#define SIM_DRIP_GAP_MS	    2 /* gap between the bytes of a dripped response */
#define SIM_LOAD_MAX_POINTS 100000
#define SIM_MAX_LINES	    16	  /* serial lines (ptys and ttys) of one sim */
#define SIM_SERIAL_PTY	    "pty" /* sim_endpoint.serial: a new pty */
#define SIM_NOISE_BYTES	    8	  /* noise bytes SIM_F_GARBAGE sends before an RTU reply */
#define SIM_RTU_GAP_MS	    50	  /* a partial RTU frame with no byte for this long is noise */
#define SIM_LINE_RETRY_MS   200	  /* a lost serial line is reopened this often */

/* How a device's frames travel. */
enum sim_framing {
	SIM_FRAMING_TCP,     /* Modbus TCP (MBAP) on host:port: the default (zero) */
	SIM_FRAMING_RTU_TCP, /* RTU ADUs (unit + PDU + CRC) on TCP connections to host:port */
	SIM_FRAMING_SERIAL,  /* RTU on the serial line `serial` names */
};

/*
 * Where a device is served: host must be a loopback address, port 0 picks a free one. A
 * listener serves one framing: a port shared by TCP and RTU_TCP devices is -EINVAL. With RTU
 * framings the unit is 1..247.
 *
 * SIM_FRAMING_SERIAL: serial is SIM_SERIAL_PTY ("pty"): a new pseudo-terminal; the sim holds
 * its master (and a spare slave fd, so that a client closing and reopening the slave never
 * makes the master read EIO), sets the slave raw, and sim_serial_path() gives the slave path
 * a client opens. With link, a symlink there points at the slave (an existing symlink is
 * replaced, anything else is -EEXIST); sim_free() removes it; "pty" with the link of a line
 * already served joins that line. Else serial is a path: the line already served under that
 * path (a pty's slave or link, a tty) is shared; any other path is opened with ser_open()
 * and `line` (NULL: 9600 8N1; a pty ignores the baud rate).
 */
struct sim_endpoint {
	const char *host; /* IPv4 literal in 127.0.0.0/8 or "localhost"; NULL: 127.0.0.1 */
	uint16_t port;	  /* 0: a new listener on a free port; else shared by every device on it */
	uint8_t unit;
	enum sim_framing framing;
	const char *serial;	     /* SIM_FRAMING_SERIAL: "pty" or a tty path (< SER_PATH_MAX) */
	const char *link;	     /* with a new pty: a symlink to its slave here, or NULL */
	const struct ser_line *line; /* a tty's settings; NULL: ser_line_init()'s */
};

/* What an RTU listener or serial line saw (sim_rtu_stats()); counters since it opened. */
struct sim_rtu_stats {
	uint64_t requests;    /* whole frames with a good CRC, to any unit */
	uint64_t crc_errors;  /* damaged requests, unanswered (at least one per damaged frame) */
	uint64_t noise_bytes; /* bytes discarded while hunting for a frame */
	uint64_t not_served;  /* requests to a unit no device on the line has: unanswered */
	uint64_t broadcasts;  /* broadcast writes (unit 0) applied */
};

/*
 * PowerPack model parameters. Times in ms are real time (time_scale speeds up the physics only).
 *
 * The heartbeat watchdog (the only protection against a dead host, as a real BESS controller's
 * communication watchdog): armed at device start and at a restart, refreshed by every write to
 * PP_REG_HEARTBEAT (any value, any master). When heartbeat_timeout_ms passes without one, the
 * BESS drops to 0 kW by itself: 2008 := 0, pending and applied setpoints dropped, one trip
 * counted. It stays at 0 until a new setpoint is written (accepted as usual); a setpoint
 * accepted while the watchdog is tripped arms it again from that write, so that without a
 * heartbeat no setpoint is delivered for longer than the timeout.
 */
struct sim_pp_params {
	struct pp_params pp;  /* rated power, capacity, block size, status/command ids, soe_scale */
	double soe_pct;	      /* initial SOE, 0..100 */
	unsigned blocks;      /* available at start; 0: pp_default_blocks() */
	unsigned response_ms; /* a setpoint takes effect this long after its write, < 1000 */
	/* then delivered power follows it as a first-order lag of this time constant, real ms,
	 * <= SIM_RESPONSE_MS_MAX (0: at once); a stop (not READY, not ours, SOE end) is at once */
	unsigned response_tau_ms;
	unsigned startup_ms; /* OFFLINE -> READY this long after the add or a restart */
	double time_scale;   /* simulated seconds per real second, > 0 (1: real time) */
	/* 0: no watchdog. Else: no write to PP_REG_HEARTBEAT for this long -> the BESS drops to
	 * 0 kW by itself */
	unsigned heartbeat_timeout_ms;
	uint16_t command_source_default; /* 2010 at power-up and after a restart (default 0) */
};

#define SIM_PP_DEFAULTS                                                                            \
	((struct sim_pp_params){ .pp = PP_DEFAULTS,                                                \
				 .soe_pct = 60,                                                    \
				 .response_ms = 200,                                               \
				 .startup_ms = 300,                                                \
				 .time_scale = 1 })

/* Site load profile of a meter. */
enum sim_load_kind {
	SIM_LOAD_CONSTANT, /* kw */
	SIM_LOAD_STEP,	   /* kw until at_s, then kw2 */
	SIM_LOAD_DAILY,	   /* kw - kw2 * cos(2 pi t / 1 day): lowest at t = 0 (midnight) */
	SIM_LOAD_CSV,	   /* linear between (t_s[i], csv_kw[i]), held before and after */
};

struct sim_load {
	enum sim_load_kind kind;
	double kw;
	double kw2;
	double at_s;
	unsigned n;  /* CSV points */
	double *t_s; /* CSV, owned: sim_load_exit() frees */
	double *csv_kw;
};

/* Acuvim II model parameters. Grid power = load - BESS power of the powerpacks in this sim. */
struct sim_acu_params {
	struct sim_load load; /* copied by sim_add_acuvim2() */
	enum mb_order order;  /* word order of its floats */
	double pf;	      /* power factor, 0 < pf <= 1 */
	double voltage_ln_v;  /* phase voltage; line voltages are sqrt(3) times it */
	double frequency_hz;
	double time_scale; /* simulated seconds per real second, > 0 */
	/* The grid frequency over time in Hz, a sim_load spec of Hz ("49.9", "step:50:49.5:10",
	 * "csv:FILE"), copied; used where has_frequency, else frequency_hz holds */
	bool has_frequency;
	struct sim_load frequency;
};

#define SIM_ACU_DEFAULTS                                                                           \
	((struct sim_acu_params){ .load = { .kind = SIM_LOAD_CONSTANT, .kw = 150 },                \
				  .order = MB_ORDER_ABCD,                                          \
				  .pf = 0.98,                                                      \
				  .voltage_ln_v = 230,                                             \
				  .frequency_hz = 50,                                              \
				  .time_scale = 1 })

/*
 * A profile's values over time, from a CSV file (sim_prof_csv_load()): a header `t,NAME,...`
 * naming points, then rows of seconds since the device started and one engineering value per
 * point. Each row's values hold from its t until the next row's (stepped, not interpolated).
 */
#define SIM_PROF_CSV_BYTES_MAX (4u << 20) /* a larger file is refused, not read */
#define SIM_PROF_CSV_ROWS_MAX  100000u
#define SIM_PROF_CSV_LINE_MAX  4096u /* a line: at most this - 2 bytes and its newline */

struct sim_prof_csv {
	unsigned n_cols;	       /* value columns */
	unsigned col[PROF_MAX_POINTS]; /* point index of each */
	unsigned n_rows;
	double *t_s; /* n_rows, rising; owned: sim_prof_csv_exit() frees */
	double *v;   /* n_rows x n_cols, row after row */
};

/*
 * Profile simulator parameters (sim_add_profile()). Every point holds one engineering value:
 * value[i] where has_value[i], else the middle of its range, else 0 (the soe role: 0..100 when
 * it has no range). Physics for the roles the profile has, on points neither set here nor in
 * the CSV: status reads its initial value, then the enum's READY code startup_ms after the
 * start; active_power follows target_power (0 unless status is READY, and while the SOE is
 * empty or full in that direction); soe, a percentage of capacity_kwh, integrates
 * -active power (its value here is where it starts); energy_import and energy_export
 * integrate grid_power. Every other point keeps its value until a write or a CSV row.
 */
struct sim_prof_params {
	enum mb_order order; /* word order of PROF_F_DEVICE_ORDER points, if has_order */
	bool has_order;	     /* else the profile's default_order */
	double capacity_kwh; /* the battery behind the soe role, > 0 */
	unsigned startup_ms; /* status -> READY this long after the add, <= 600000 */
	double time_scale;   /* simulated seconds per real second, > 0 (the CSV's t too) */
	/* Reads covering any register no point holds get exception 0x02, even inside a planned
	 * block (else such holes read as 0, as the profile's max_gap says the device answers). */
	bool is_strict_holes;
	bool has_value[PROF_MAX_POINTS];
	double value[PROF_MAX_POINTS];	/* engineering units, indexed like the profile's points */
	const struct sim_prof_csv *csv; /* NULL: none; borrowed, must outlive the device */
};

#define SIM_PROF_DEFAULTS                                                                          \
	((struct sim_prof_params){ .capacity_kwh = 200, .startup_ms = 300, .time_scale = 1 })

/*
 * Fault flags: what a device does to each request addressed to it. On RTU (a serial line, or
 * RTU over TCP) where it differs:
 *   SIM_F_DISCONNECT  half the reply; RTU over TCP closes the connection, a serial line stays
 *                     (a truncated frame)
 *   SIM_F_DRIP	       every byte a write() of its own, SIM_DRIP_GAP_MS apart (longer than
 *                     t1.5 below 19200 baud: a frame split across reads at every byte)
 *   SIM_F_GARBAGE     SIM_NOISE_BYTES random bytes (line noise) before the intact reply
 *   SIM_F_WRONG_TID   nothing (RTU has no TID)
 *   SIM_F_WRONG_UNIT  the reply from unit + 1 (247 -> 1), its CRC valid: another unit's
 *   SIM_F_REFUSE      RTU over TCP: as TCP. A serial line: unplugged: the sim closes the
 *                     line (a pty's master and spare: the client's slave hangs up) until
 *                     the flag is cleared, then opens it again (a new pty: a new slave path,
 *                     the link re-pointed; a tty: ser_open() retried)
 * and two RTU only (on TCP they do nothing):
 *   SIM_F_BAD_CRC     the reply with its CRC's last byte inverted
 *   SIM_F_NOISE_IN    a random byte inserted in the reply after its function code
 */
#define SIM_F_SILENCE	  0x001 /* never answer */
#define SIM_F_DELAY	  0x002 /* answer delay_ms late */
#define SIM_F_DISCONNECT  0x004 /* send half the response, then close the connection */
#define SIM_F_DRIP	  0x008 /* send the response one byte at a time */
#define SIM_F_GARBAGE	  0x010 /* send random bytes (a non-zero protocol id) instead */
#define SIM_F_WRONG_TID	  0x020 /* answer with transaction id + 1 */
#define SIM_F_WRONG_UNIT  0x040 /* answer with unit id + 1 */
#define SIM_F_EXCEPTION	  0x080 /* answer every request with exception `exception` */
#define SIM_F_REFUSE	  0x100 /* close the device's port: connections refused and dropped */
#define SIM_F_MUTE_WRITES 0x200 /* answer reads, drop writes unanswered and unapplied */
#define SIM_F_BAD_CRC	  0x400 /* RTU: a corrupted CRC on the reply */
#define SIM_F_NOISE_IN	  0x800 /* RTU: a noise byte inside the reply */

struct sim_fault {
	unsigned flags;
	unsigned delay_ms;
	uint8_t exception; /* 1..255 */
};

/* What a powerpack simulator is doing now (sim_pp_get()). */
struct sim_pp_state {
	uint16_t status;
	uint16_t command_source;
	uint16_t blocks;
	int16_t target_power_kw; /* last accepted write */
	double applied_kw;	 /* setpoint in effect (after the response delay) */
	double delivered_kw; /* power actually delivered: applied, capped, 0 unless READY+ours */
	double soe_kwh;
	double soe_pct;
	uint16_t heartbeat;	   /* PP_REG_HEARTBEAT: the last value written (0 at power-up) */
	unsigned heartbeat_trips;  /* times the watchdog lapsed (counted even with 0 kW to drop) */
	bool is_heartbeat_expired; /* lapsed, and no heartbeat written since */
	uint64_t target_writes;	   /* accepted writes to 2008, from any master */
};

/* What a meter simulator measures now (sim_acu_get()). */
struct sim_acu_state {
	double load_kw;
	double bess_kw; /* sum of delivered_kw of the powerpacks in the sim */
	double grid_kw; /* load - bess; > 0 import */
	double import_kwh;
	double export_kwh;
	double frequency_hz; /* what its frequency point reads now */
};

struct sim; /* opaque */

/* A simulator with no devices. Returns NULL with errno set. */
struct sim *sim_new(void);

/* Close every socket and free everything; the loop must not be running. NULL is fine. */
void sim_free(struct sim *sim);

/*
 * Add a device and bind its port (or open its serial line) now (sim_port(), sim_serial_path()
 * tell which). Returns the device id (>= 0), -EADDRNOTAVAIL for a host outside 127.0.0.0/8,
 * -EINVAL for bad params, a unit already served on that port or line, or a port of another
 * framing, -ERANGE for values outside the model's ranges, -EEXIST for a link path that is not
 * a symlink, -ENOSPC, -errno, or ser_open()'s -SER_E* for a tty (ser_strerror() names both).
 */
int sim_add_powerpack(struct sim *sim, const struct sim_endpoint *ep,
		      const struct sim_pp_params *prm);
int sim_add_acuvim2(struct sim *sim, const struct sim_endpoint *ep,
		    const struct sim_acu_params *prm);

/*
 * A device serving every point of profile p (which must pass prof_check() and outlive the
 * sim) at its function and address: FC03/FC04 reads inside p's poll blocks (holes read as 0;
 * elsewhere exception 0x02), FC06/FC16 writes of whole rw holding-register points (0x02 for
 * another register, 0x03 for a value outside the point's write limits), FC43/14 as
 * "<name> simulator". Same returns as sim_add_powerpack(); -ERANGE for a value the point's type
 * cannot hold.
 */
int sim_add_profile(struct sim *sim, const struct sim_endpoint *ep, const struct prof_profile *p,
		    const struct sim_prof_params *prm);

/* Port device `dev` is served on (0 on a serial line), or -ENOENT. */
int sim_port(struct sim *sim, int dev);

/*
 * The path a client opens to reach device `dev` on its serial line (a pty's slave, or the
 * tty), copied into buf[cap]. Returns 0, -ENOENT (no such device), -EINVAL (not on a serial
 * line), -ENODEV (the line is unplugged now: SIM_F_REFUSE) or -ENAMETOOLONG.
 */
int sim_serial_path(struct sim *sim, int dev, char *buf, size_t cap);

/* The counters of the RTU line or listener device `dev` is on. 0, -ENOENT or -EINVAL (TCP). */
int sim_rtu_stats(struct sim *sim, int dev, struct sim_rtu_stats *st);

/* 0 when host is in 127.0.0.0/8 or "localhost", -EADDRNOTAVAIL when not, -EINVAL if no IPv4. */
int sim_check_host(const char *host);

/*
 * Run the loop on this thread until sim_stop() or, if duration_ns > 0, until it has passed.
 * Returns 0, or -errno when the loop itself fails (a client's error never ends it).
 */
int sim_run(struct sim *sim, int64_t duration_ns);

/* Make sim_run() return soon. Any thread; async-signal-safe. */
void sim_stop(struct sim *sim);

/* Set (replace) a device's faults; flags 0 clears them. Returns 0, -ENOENT or -EINVAL. */
int sim_set_fault(struct sim *sim, int dev, const struct sim_fault *fault);

/*
 * Powerpack commands: force a status (PP_STATUS_FAULT injects a fault, status_ready clears
 * it) and set the available blocks. Return 0, -ENOENT (no such powerpack) or -EINVAL.
 */
int sim_pp_set_status(struct sim *sim, int dev, uint16_t status);
int sim_pp_set_blocks(struct sim *sim, int dev, unsigned blocks);

/*
 * A reboot of the powerpack's controller: status OFFLINE, then READY again after startup_ms;
 * 2010 := command_source_default, 2008 := 0, pending and applied setpoints cleared, 2012 := 0,
 * the heartbeat watchdog re-armed, and every TCP connection open to the device's port closed
 * (those of other units on that port too: the clients of a rebooting box drop). SOE, blocks and
 * the counters of sim_pp_state stay (a serial line has no connection to close). Returns 0 or
 * -ENOENT (no such powerpack).
 */
int sim_pp_restart(struct sim *sim, int dev);

/*
 * A write from another Modbus master (an operator's laptop, a SCADA) on a connection of its own:
 * the same checks and effects as an FC06 from the wire, faults aside (2010 takes any value;
 * 2008 is refused with 0x03 unless 2010 holds the controller's id or beyond rated power; 2012 is
 * a heartbeat; read-only or unmapped registers get 0x02). Returns 0, the positive Modbus
 * exception code the write got, or -ENOENT (no such powerpack).
 */
int sim_pp_write(struct sim *sim, int dev, uint16_t addr, uint16_t value);

/* Read a model's current state. Return 0 or -ENOENT. */
int sim_pp_get(struct sim *sim, int dev, struct sim_pp_state *st);
int sim_acu_get(struct sim *sim, int dev, struct sim_acu_state *st);

/* A profile device's engineering values now, into values[cap] (indexed like its profile's
 * points). Returns the point count (values past cap are not copied) or -ENOENT. */
int sim_prof_get(struct sim *sim, int dev, double *values, unsigned cap);

/*
 * Parse s as a value of point idx of p: a number, or the name of one of its enum codes.
 * Returns 0, -EINVAL (neither), -ERANGE (a number its register cannot hold).
 */
int sim_prof_parse_value(const struct prof_profile *p, unsigned idx, const char *s, double *v);

/*
 * Load a CSV of point values for profile p (see struct sim_prof_csv): '#' comments and blank
 * lines allowed, fields separated by ',', each value as sim_prof_parse_value() takes it, t in
 * seconds, >= 0, rising. Returns 0; -EINVAL with "FILE:LINE: ..." in err for a bad header or
 * row, -EFBIG for a file past SIM_PROF_CSV_BYTES_MAX, -errno when it cannot be read ("FILE:
 * ..."); on error nothing stays allocated.
 */
int sim_prof_csv_load(const char *path, const struct prof_profile *p, struct sim_prof_csv *csv,
		      char *err, size_t cap);

/* Free what sim_prof_csv_load() allocated; safe on a zeroed struct and twice. */
void sim_prof_csv_exit(struct sim_prof_csv *csv);

/* The row in effect at t_s (the last whose t <= t_s), or -1 before the first. */
int sim_prof_csv_row(const struct sim_prof_csv *csv, double t_s);

/*
 * Parse a load spec: "150" (constant kW), "step:KW1:KW2:AT_S", "daily:MEAN_KW:AMPLITUDE_KW",
 * "csv:FILE" (lines "seconds,kw"; '#' comments and one header line allowed; seconds rising).
 * Returns 0, -EINVAL (message-worthy syntax error), or -errno from reading FILE. Allocates for
 * CSV: free with sim_load_exit().
 */
int sim_load_parse(const char *spec, struct sim_load *load);

/* Free what sim_load_parse() allocated; safe on a zeroed or constant load. */
void sim_load_exit(struct sim_load *load);

/* Load in kW at simulated time t_s (seconds since the device started). */
double sim_load_kw(const struct sim_load *load, double t_s);

#endif /* FLUX_DEVICES_SIM_H */
