/* SPDX-License-Identifier: MIT */
/*
 * PowerPack BESS, as the simulator (devices/sim_pp.c) models it: the registers it answers, its
 * status codes, and the per-device parameters docs/design.md lets a site override
 * (status_ready, command_source_id, block_kw, soe_scale) with their defaults. Holding
 * registers, PDU addresses.
 *
 * Not what the controller reads: the map control, config and the tools use is the profile
 * devices/profiles/powerpack.yaml (`type: powerpack`). The constants here are the simulator's
 * side of the same device, and tests/devices/test_profile_load.c checks that each PP_REG_* and
 * PP_STATUS_* equals that file's role address or enum code, so the two cannot drift apart.
 */
#ifndef FLUX_DEVICES_POWERPACK_H
#define FLUX_DEVICES_POWERPACK_H

#include <stdint.h>

#include "devices/bess.h"

#define PP_REG_STATUS		2000 /* RO u16, enum pp_status */
#define PP_REG_TARGET_POWER	2008 /* RW i16 kW, + discharge / - charge */
#define PP_REG_COMMAND_SOURCE	2010 /* RW u16, control mode id */
/* RW u16: the simulator's watchdog register (not in the seed): a counter the controller writes
 * every cycle. */
#define PP_REG_HEARTBEAT	2012
#define PP_REG_SOE		2026 /* RO u16, percent x soe_scale */
#define PP_REG_AVAILABLE_BLOCKS 2028 /* RO u16, inverter blocks available */
#define PP_MAP_FIRST		2000 /* the map the device answers: 2000..2028 */
#define PP_MAP_COUNT		29

enum pp_status {
	PP_STATUS_OFFLINE = 0,
	PP_STATUS_READY = 1,
	PP_STATUS_STANDBY = 2,
	PP_STATUS_FAULT = 3,
};

/* A device's parameters; immutable after config load. */
struct pp_params {
	double power_kw;	    /* rated power, 50..250 */
	double capacity_kwh;	    /* 100..500 */
	double block_kw;	    /* power of one inverter block, > 0 */
	double soe_scale;	    /* register = percent x soe_scale, > 0 */
	uint16_t status_ready;	    /* status value that means READY */
	uint16_t command_source_id; /* id the controller writes to claim control */
};

#define PP_DEFAULTS                                                                                \
	((struct pp_params){ .power_kw = BESS_POWER_KW_DEFAULT,                                    \
			     .capacity_kwh = BESS_CAPACITY_KWH_DEFAULT,                            \
			     .block_kw = BESS_BLOCK_KW_DEFAULT,                                    \
			     .soe_scale = BESS_SOE_SCALE_DEFAULT,                                  \
			     .status_ready = PP_STATUS_READY,                                      \
			     .command_source_id = BESS_COMMAND_SOURCE_ID })

/* Check params against the ranges above. Returns 0 or -EINVAL (-ERANGE when out of range). */
int pp_check_params(const struct pp_params *pp);

/* Blocks a device has when all are available: ceil(power_kw / block_kw). */
unsigned pp_default_blocks(const struct pp_params *pp);

#endif /* FLUX_DEVICES_POWERPACK_H */
