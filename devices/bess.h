/* SPDX-License-Identifier: MIT */
/*
 * The parameters a site gives each BESS (devices.bess[] in the site config: docs/
 * configuration.md) and the ranges Flux accepts for them, which are the seed's PowerPack's.
 * Not a device type: the config, the controller and the simulators read these, while a
 * device's register map, status codes and write limits are its profile
 * (the files in devices/profiles/), which may bound power_kw further.
 */
#ifndef FLUX_DEVICES_BESS_H
#define FLUX_DEVICES_BESS_H

#define BESS_POWER_KW_MIN      50 /* rated power, kW */
#define BESS_POWER_KW_MAX      250
#define BESS_CAPACITY_KWH_MIN  100 /* usable energy, kWh */
#define BESS_CAPACITY_KWH_MAX  500
#define BESS_BLOCK_KW_MIN      1   /* power of one inverter block; at most BESS_POWER_KW_MAX */
#define BESS_SOE_SCALE_MIN     1   /* SOE register = percent x soe_scale */
#define BESS_SOE_SCALE_MAX     655 /* 100 % x 655 still fits a u16 register */
#define BESS_COMMAND_SOURCE_ID 3   /* the id written to claim control: the seed's "3 for remote" */

/* What a BESS entry that leaves a key out gets. */
#define BESS_POWER_KW_DEFAULT	  100
#define BESS_CAPACITY_KWH_DEFAULT 200
#define BESS_BLOCK_KW_DEFAULT	  50
#define BESS_SOE_SCALE_DEFAULT	  1

#endif /* FLUX_DEVICES_BESS_H */
