/* SPDX-License-Identifier: MIT */
/*
 * Site configuration: the seed's YAML (devices.bess[], devices.meters[]) plus Flux's site:
 * and rt: sections, parsed with libyaml into one fixed-size struct. Every rejection names
 * the file, the line and the key ("site.yaml:12: site.cycle: must be 1ms..10s, got 20s").
 * Setup code only: nothing here runs on an RT thread. The struct is immutable once loaded.
 */
#ifndef FLUX_CONTROL_CONFIG_H
#define FLUX_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/modbus.h"

/* ---- constants ---------------------------------------------------------------------- */

#define CFG_ID_MAX     64 /* bytes with the NUL */
#define CFG_NAME_MAX   128
#define CFG_HOST_MAX   64
#define CFG_MAX_BESS   1024 /* a 1,000-device site fits (bench/run-budget.sh measures it) */
#define CFG_MAX_METERS 16
#define CFG_ERR_MAX    512 /* a buffer this large holds any error message */

enum cfg_strategy {
	CFG_STRATEGY_MANUAL,
	CFG_STRATEGY_SOE_TARGET,
	CFG_STRATEGY_PEAK_SHAVING,
};

/* ---- structs ------------------------------------------------------------------------ */

/* The `modbus:` block of a device. */
struct cfg_modbus {
	char host[CFG_HOST_MAX];  /* IPv4 address (required) */
	uint16_t port;		  /* default 502 */
	uint8_t address;	  /* unit id, default 1 */
	int64_t timeout_ns;	  /* default 1 s */
	unsigned retry_count;	  /* attempts per request, default 3 (the seed's) */
	int64_t retry_backoff_ns; /* wait k x this before attempt k+1, default 1 s (the seed's) */
	bool match_tid;		  /* default true; false for gateways that do not echo the TID */
};

/* One entry of devices.bess (type powerpack). */
struct cfg_bess {
	char id[CFG_ID_MAX];
	char name[CFG_NAME_MAX];
	struct cfg_modbus modbus;
	int power_kw;		    /* rated power, 50..250, default 100 */
	int capacity_kwh;	    /* 100..500, default 200 */
	int block_kw;		    /* kW per inverter block, default 50 */
	unsigned status_ready;	    /* status value meaning READY, default 1 */
	unsigned command_source_id; /* the controller's id for 2010, default 3 */
	unsigned soe_scale;	    /* soe register = percent x this, default 1 */
	int line;		    /* where it starts in the file */
};

/* One entry of devices.meters (type acuvim2). */
struct cfg_meter {
	char id[CFG_ID_MAX];
	char name[CFG_NAME_MAX];
	struct cfg_modbus modbus;
	enum mb_order word_order; /* default abcd */
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
	enum cfg_strategy mode;	     /* default manual */
	double import_limit_kw;	     /* peak_shaving, default 100, >= 0 */
	double export_limit_kw;	     /* peak_shaving, default 0, >= 0 */
	double setpoint_kw;	     /* manual, default 0 */
	double target_soe_pct;	     /* soe_target, default 50, 0..100 */
	double max_power_kw;	     /* soe_target, default 100, > 0 */
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
};

/* ---- prototypes --------------------------------------------------------------------- */

/* Fill cfg with every default (no devices). */
void cfg_defaults(struct cfg *cfg);

/*
 * Load and validate the YAML file at path into cfg. Returns 0, or -EINVAL (bad content) /
 * -errno (cannot read) with a one-line message in err ("FILE:LINE: KEY: what is wrong").
 */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);

/* The same from memory; `name` stands for the file name in messages. */
int cfg_parse(struct cfg *cfg, const char *name, const char *text, size_t len, char *err,
	      size_t errlen);

/* Name of a strategy ("peak_shaving"). */
const char *cfg_strategy_name(enum cfg_strategy mode);

/* Not RT: print the effective configuration as YAML (every default spelled out) to out. */
int cfg_dump(const struct cfg *cfg, char *out, size_t len);

#endif /* FLUX_CONTROL_CONFIG_H */
