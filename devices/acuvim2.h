/* SPDX-License-Identifier: MIT */
/*
 * Acuvim II meter: every measurement the seed lists as a Float32 in two holding registers,
 * word order from the device's config (default ABCD), engineering value = raw / scale. The
 * seed's four addresses are used as given; the others are packed after them in each block,
 * so two reads a cycle cover the whole map. The one table of addresses is below.
 *
 *   point                 addr    scale  unit     point                 addr    scale  unit
 *   voltage_l1n_v         0x0000  1      V        current_l1_a          0x0010  1      A
 *   voltage_l2n_v         0x0002  1      V        current_l2_a          0x0012  1      A
 *   voltage_l3n_v         0x0004  1      V        current_l3_a          0x0014  1      A
 *   voltage_l1l2_v        0x0006  1      V        power_total_kw        0x0040  1000   kW
 *   voltage_l2l3_v        0x0008  1      V        reactive_total_kvar   0x0042  1000   kvar
 *   voltage_l3l1_v        0x000A  1      V        apparent_total_kva    0x0044  1000   kVA
 *   energy_import_kwh     0x0100  1      kWh      power_factor          0x0046  1
 *   energy_export_kwh     0x0102  1      kWh      frequency_hz          0x0048  1      Hz
 *
 * Poll blocks: FC03 0x0000 x 74 registers, FC03 0x0100 x 4. power_total_kw > 0 is import
 * from the grid; the meter reports W, var and VA (hence scale 1000).
 */
#ifndef FLUX_DEVICES_ACUVIM2_H
#define FLUX_DEVICES_ACUVIM2_H

#include "devices/profile.h"

#define ACU_REG_VOLTAGE_L1N    0x0000
#define ACU_REG_VOLTAGE_L2N    0x0002
#define ACU_REG_VOLTAGE_L3N    0x0004
#define ACU_REG_VOLTAGE_L1L2   0x0006
#define ACU_REG_VOLTAGE_L2L3   0x0008
#define ACU_REG_VOLTAGE_L3L1   0x000A
#define ACU_REG_CURRENT_L1     0x0010
#define ACU_REG_CURRENT_L2     0x0012
#define ACU_REG_CURRENT_L3     0x0014
#define ACU_REG_POWER_TOTAL    0x0040
#define ACU_REG_REACTIVE_TOTAL 0x0042
#define ACU_REG_APPARENT_TOTAL 0x0044
#define ACU_REG_POWER_FACTOR   0x0046
#define ACU_REG_FREQUENCY      0x0048
#define ACU_REG_ENERGY_IMPORT  0x0100
#define ACU_REG_ENERGY_EXPORT  0x0102

/* Indices into acu_profile.points. */
enum acu_point {
	ACU_PT_VOLTAGE_L1N,
	ACU_PT_VOLTAGE_L2N,
	ACU_PT_VOLTAGE_L3N,
	ACU_PT_VOLTAGE_L1L2,
	ACU_PT_VOLTAGE_L2L3,
	ACU_PT_VOLTAGE_L3L1,
	ACU_PT_CURRENT_L1,
	ACU_PT_CURRENT_L2,
	ACU_PT_CURRENT_L3,
	ACU_PT_POWER_TOTAL,
	ACU_PT_REACTIVE_TOTAL,
	ACU_PT_APPARENT_TOTAL,
	ACU_PT_POWER_FACTOR,
	ACU_PT_FREQUENCY,
	ACU_PT_ENERGY_IMPORT,
	ACU_PT_ENERGY_EXPORT,
	ACU_N_POINTS,
};

extern const struct prof_profile acu_profile;

#endif /* FLUX_DEVICES_ACUVIM2_H */
