/* SPDX-License-Identifier: MIT */
/*
 * Site configuration: the seed's YAML (devices.bess[], devices.meters[]) plus Flux's site:
 * and rt: sections, parsed with libyaml into one fixed-size struct. Every rejection names
 * the file, the line and the key ("site.yaml:12: site.cycle: must be 1ms..10s, got 20s");
 * the _diag loaders collect every error and warning of a file, not just the first.
 * Setup code only: nothing here runs on an RT thread. The struct is immutable once loaded.
 */
#ifndef FLUX_CONTROL_CONFIG_H
#define FLUX_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bess.h"
#include "devices/profile.h"
#include "io/modbus.h"
#include "io/serial.h"

/* ---- constants ---------------------------------------------------------------------- */

#define CFG_ID_MAX	 64 /* bytes with the NUL */
#define CFG_NAME_MAX	 128
#define CFG_HOST_MAX	 64
#define CFG_MAX_BESS	 1024 /* a 1,000-device site fits (bench/run-budget.sh measures it) */
#define CFG_MAX_METERS	 16
#define CFG_ERR_MAX	 512  /* a buffer this large holds any error message */
#define CFG_DIAG_MAX	 32   /* diagnostics kept; more are counted in ndropped */
#define CFG_MAX_PROFILES 16   /* distinct `profile:` files per site */
#define CFG_PATH_MAX	 4096 /* bytes of a profile file's path, with the NUL */

/* A BESS's response_time by default (the seed's "response < 1 s"). */
#define CFG_RESPONSE_TIME_NS (1000LL * 1000 * 1000)

enum cfg_strategy {
	CFG_STRATEGY_MANUAL,
	CFG_STRATEGY_SOE_TARGET,
	CFG_STRATEGY_PEAK_SHAVING,
	CFG_STRATEGY_MONITOR, /* read and report, never claim, never write; default without BESS */
	/* droop on the grid meter's frequency alone */
	CFG_STRATEGY_FREQUENCY_RESPONSE,
};

/* How peak_shaving gets to its setpoint (control/policy.h). */
enum cfg_controller {
	CFG_CONTROLLER_PREDICTIVE, /* the load estimated past the BESS's response: the default */
	CFG_CONTROLLER_INTEGRATOR, /* the gain-0.15 integrator on the grid meter: the fallback */
};

/* ---- structs ------------------------------------------------------------------------ */

/* How a device's frames travel: Modbus TCP (MBAP), or RTU ADUs on a serial line or on TCP. */
enum cfg_framing {
	CFG_FRAMING_TCP,    /* host:port, MBAP framing */
	CFG_FRAMING_RTU,    /* host:port, RTU ADUs on the stream (`framing: rtu`, a gateway) */
	CFG_FRAMING_SERIAL, /* `device: PATH`, RTU on a serial line with `line`'s settings */
};

/*
 * The `modbus:` block of a device: host/port (TCP, or RTU over TCP with `framing: rtu`), or
 * device and the seed's serial keys (baud, parity, data_bits, stop_bits, rs485).
 */
struct cfg_modbus {
	enum cfg_framing framing;
	char host[CFG_HOST_MAX];   /* IPv4 address; required unless device is set */
	char device[SER_PATH_MAX]; /* serial line path (CFG_FRAMING_SERIAL), else "" */
	struct ser_line line;	   /* CFG_FRAMING_SERIAL: default 9600 8N1 */
	uint16_t port;		   /* default 502 */
	uint8_t address;	   /* unit id, default 1 */
	int64_t timeout_ns;	   /* per attempt, default 250 ms */
	unsigned retry_count;	   /* attempts per request, default 3 (the seed's) */
	/*
	 * Retry k waits k x this (the seed's 1x, 2x, 3x), default 100 ms. Not the seed's 1 s: with
	 * a 100 ms cycle and stale_after 1 s, a 1 s base makes one lost reply a stale device (and
	 * 0 kW); 250 ms + 100 ms rides out a 0.6 s silence within stale_after 1 s.
	 */
	int64_t retry_backoff_ns;
	bool match_tid; /* default true; false for gateways that do not echo the TID */
};

/*
 * One entry of devices.bess: `type: NAME` (a shipped profile of kind bess) or `profile: PATH`
 * (a site's own file). The profile is immutable; a shipped one lives as long as the process,
 * a file's as long as the cfg (cfg_free()).
 */
struct cfg_bess {
	char id[CFG_ID_MAX];
	char name[CFG_NAME_MAX];
	char type[PROF_NAME_MAX]; /* the shipped profile's name, or "" for a profile: file */
	int profile_file;	  /* index into cfg.profiles of a profile: file, or -1 */
	const struct prof_profile *profile;
	struct cfg_modbus modbus;
	int power_kw;		    /* rated power, 50..250, default 100 */
	int capacity_kwh;	    /* 100..500, default 200 */
	int block_kw;		    /* kW per inverter block, default 50 */
	unsigned status_ready;	    /* status value meaning READY, default the profile's READY */
	unsigned command_source_id; /* the controller's id for the command source, default 3 */
	unsigned soe_scale;	    /* soe register = percent x this, default 1 */
	/*
	 * What the command source holds after the BESS restarts, default 0. The controller
	 * re-claims a command source that shows its own id or this default, never another master's.
	 */
	unsigned command_source_default;
	/*
	 * PDU address of a register the controller writes a counter to every cycle, so that the
	 * BESS's own watchdog takes it to 0 kW if the host dies; never a register of one of the
	 * profile's other roles (the PowerPack's 2000, 2008, 2010, 2026, 2028).
	 */
	int heartbeat_register; /* -1: none (the default; `heartbeat_register: null`) */
	bool is_heartbeat_role; /* `heartbeat_role: true`: heartbeat_register is the profile's */
	int line;		/* where it starts in the file */

	/*
	 * `response_time`: from a setpoint's write until the BESS delivers it (dead time and
	 * ramp), 1 ms..5 s; 0 (a cfg_bess not from a file) stands for the default,
	 * CFG_RESPONSE_TIME_NS (the seed's bound). The predictive controller takes the BESS to be
	 * acting on any setpoint written in the last 2 x this + a cycle (control/policy.h).
	 */
	int64_t response_time_ns;
};

/* One entry of devices.meters: `type: NAME` or `profile: PATH`, of kind meter. */
struct cfg_meter {
	char id[CFG_ID_MAX];
	char name[CFG_NAME_MAX];
	char type[PROF_NAME_MAX];
	int profile_file;
	const struct prof_profile *profile;
	struct cfg_modbus modbus;
	enum mb_order word_order; /* default the profile's (acuvim2: abcd) */
	int line;
};

struct cfg_site {
	int64_t cycle_ns;	     /* 1 ms .. 10 s, default 100 ms */
	int64_t read_window_ns;	     /* < cycle, default cycle / 2 */
	int64_t stale_after_ns;	     /* default 1 s; >= cycle */
	int64_t heartbeat_ns;	     /* default 5 s; >= cycle */
	double ramp_kw_per_s;	     /* > 0, default 1000 */
	double soe_min_pct;	     /* 0..100, default 5 */
	double soe_max_pct;	     /* soe_min..100, default 95 */
	char grid_meter[CFG_ID_MAX]; /* id of a meter, or "" (then no peak_shaving) */
	int grid_meter_index;	     /* index into cfg.meters, or -1 */
	enum cfg_strategy mode;	     /* default manual; monitor (the only one) without BESS */
	double import_limit_kw;	     /* peak_shaving, default 100, >= 0 */
	double export_limit_kw;	     /* peak_shaving, default 0, >= 0 */
	double setpoint_kw;	     /* manual, default 0 */
	double target_soe_pct;	     /* soe_target, default 50, 0..100 */
	double max_power_kw;	     /* soe_target, default 100, > 0 */

	/* peak_shaving's `controller:` predictive (default) or integrator */
	enum cfg_controller controller;
	/*
	 * Frequency response: the strategy frequency_response, or on top of another strategy with
	 * priority (`frequency_response: true`). Droop: max_kw at droop_pct % of 50 Hz beyond the
	 * deadband, + (discharge) below 50 Hz, - above.
	 */
	bool is_frequency_response;
	double droop_pct;    /* > 0, default 0.4: max_kw 0.2 Hz past the band */
	double deadband_mhz; /* >= 0, default 100 */
	double ffr_max_kw;   /* `max_kw`, > 0, default 100 */
};

struct cfg_rt {
	int io_cpu;	      /* -1: not pinned; default 1 (0 on a 1-CPU machine) */
	int control_cpu;      /* default 1 */
	int io_priority;      /* 0: SCHED_OTHER; 1..99 SCHED_FIFO; default 81 */
	int control_priority; /* default 80 */
};

struct cfg {
	struct cfg_site site;
	struct cfg_rt rt;
	unsigned nbess;
	unsigned nmeters;
	struct cfg_bess bess[CFG_MAX_BESS];
	struct cfg_meter meters[CFG_MAX_METERS];
	/* The `profile:` files, each loaded once however many devices name it; owned. */
	unsigned nprofiles;
	struct cfg_profile {
		char path[CFG_PATH_MAX]; /* resolved (realpath) */
		struct prof_profile *p;
	} profiles[CFG_MAX_PROFILES];
};

/*
 * Every error and warning of one load, in file order (by line; at one line, in the order
 * found). When more than CFG_DIAG_MAX are found, the first CFG_DIAG_MAX in file order are kept.
 * nerrors and nwarnings count all of them, kept or not; ndropped = nerrors + nwarnings - n.
 * A file-level failure (cannot open, too large) is one error with line 0 and no line in text.
 */
struct cfg_diag {
	unsigned nerrors, nwarnings, ndropped;
	unsigned n; /* items used */
	struct cfg_diag_item {
		bool is_warning;
		int line;
		char text[CFG_ERR_MAX]; /* "FILE:LINE: KEY: what is wrong" (WARN text the same
					   shape) */
	} items[CFG_DIAG_MAX];
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Fill cfg with every default (no devices). */
void cfg_defaults(struct cfg *cfg);

/*
 * Load and validate the YAML file at path into cfg. Returns 0, or -EINVAL (bad content) /
 * -errno (cannot read) with a one-line message in err ("FILE:LINE: KEY: what is wrong"): the
 * first error in file order. Warnings are not reported here (see cfg_load_diag()). On failure
 * cfg holds the defaults, never half a config. A `profile: PATH` is read relative to the
 * config file's directory (from memory: the name's). cfg must not hold a loaded config
 * (cfg_free() it first): what it owned would leak.
 */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);

/* The same from memory; `name` stands for the file name in messages. */
int cfg_parse(struct cfg *cfg, const char *name, const char *text, size_t len, char *err,
	      size_t errlen);

/*
 * Load and validate like cfg_load(), but collect every error and warning (in file order, up
 * to CFG_DIAG_MAX) in d (may be NULL). Parsing goes on after an error wherever that is safe;
 * a YAML syntax error stops it. Returns 0 (maybe with warnings), -EINVAL (errors) or -errno
 * (cannot read).
 */
int cfg_load_diag(struct cfg *cfg, const char *path, struct cfg_diag *d);

/* The same from memory; `name` stands for the file name in messages. */
int cfg_parse_diag(struct cfg *cfg, const char *name, const char *text, size_t len,
		   struct cfg_diag *d);

/* Free the profile files a load gave cfg and leave the defaults. Safe twice, and on defaults. */
void cfg_free(struct cfg *cfg);

/*
 * The shipped profile `name` ("powerpack"), loaded on first use and shared for the life of the
 * process (never freed): what `type: NAME` gives. Returns 0, -ENOENT (no such profile), or the
 * loader's error with its message in err. Thread-safe; cold path.
 */
int cfg_builtin_profile(const char *name, const struct prof_profile **out, char *err, size_t cap);

/* Name of a strategy ("peak_shaving", "monitor"). */
const char *cfg_strategy_name(enum cfg_strategy mode);

/* Not RT: print the effective configuration as YAML (every default spelled out) to out. */
int cfg_dump(const struct cfg *cfg, char *out, size_t len);

#endif /* FLUX_CONTROL_CONFIG_H */
