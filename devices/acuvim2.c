// SPDX-License-Identifier: MIT
/*
 * Acuvim II profile table: the layout documented in acuvim2.h, every point a Float32 whose
 * word order is the device's (PROF_F_DEVICE_ORDER), so one table serves all four orders.
 */
#include "devices/acuvim2.h"

#define ACU_POINT(nm, u, a, s)                                                                     \
	{                                                                                          \
		.name = nm, .unit = u, .fc = MB_FC_READ_HOLDING_REGISTERS, .addr = a,              \
		.type = PROF_F32, .order = MB_ORDER_ABCD, .flags = PROF_F_DEVICE_ORDER, .scale = s \
	}

static const struct prof_point acu_points[ACU_N_POINTS] = {
	[ACU_PT_VOLTAGE_L1N] = ACU_POINT("voltage_l1n_v", "V", ACU_REG_VOLTAGE_L1N, 1),
	[ACU_PT_VOLTAGE_L2N] = ACU_POINT("voltage_l2n_v", "V", ACU_REG_VOLTAGE_L2N, 1),
	[ACU_PT_VOLTAGE_L3N] = ACU_POINT("voltage_l3n_v", "V", ACU_REG_VOLTAGE_L3N, 1),
	[ACU_PT_VOLTAGE_L1L2] = ACU_POINT("voltage_l1l2_v", "V", ACU_REG_VOLTAGE_L1L2, 1),
	[ACU_PT_VOLTAGE_L2L3] = ACU_POINT("voltage_l2l3_v", "V", ACU_REG_VOLTAGE_L2L3, 1),
	[ACU_PT_VOLTAGE_L3L1] = ACU_POINT("voltage_l3l1_v", "V", ACU_REG_VOLTAGE_L3L1, 1),
	[ACU_PT_CURRENT_L1] = ACU_POINT("current_l1_a", "A", ACU_REG_CURRENT_L1, 1),
	[ACU_PT_CURRENT_L2] = ACU_POINT("current_l2_a", "A", ACU_REG_CURRENT_L2, 1),
	[ACU_PT_CURRENT_L3] = ACU_POINT("current_l3_a", "A", ACU_REG_CURRENT_L3, 1),
	[ACU_PT_POWER_TOTAL] = ACU_POINT("power_total_kw", "kW", ACU_REG_POWER_TOTAL, 1000),
	[ACU_PT_REACTIVE_TOTAL] =
	    ACU_POINT("reactive_total_kvar", "kvar", ACU_REG_REACTIVE_TOTAL, 1000),
	[ACU_PT_APPARENT_TOTAL] =
	    ACU_POINT("apparent_total_kva", "kVA", ACU_REG_APPARENT_TOTAL, 1000),
	[ACU_PT_POWER_FACTOR] = ACU_POINT("power_factor", "", ACU_REG_POWER_FACTOR, 1),
	[ACU_PT_FREQUENCY] = ACU_POINT("frequency_hz", "Hz", ACU_REG_FREQUENCY, 1),
	[ACU_PT_ENERGY_IMPORT] = ACU_POINT("energy_import_kwh", "kWh", ACU_REG_ENERGY_IMPORT, 1),
	[ACU_PT_ENERGY_EXPORT] = ACU_POINT("energy_export_kwh", "kWh", ACU_REG_ENERGY_EXPORT, 1),
};

static const struct prof_block acu_blocks[] = {
	{ .fc = MB_FC_READ_HOLDING_REGISTERS, .start = 0x0000, .count = ACU_REG_FREQUENCY + 2 },
	{ .fc = MB_FC_READ_HOLDING_REGISTERS,
	  .start = ACU_REG_ENERGY_IMPORT,
	  .count = ACU_REG_ENERGY_EXPORT + 2 - ACU_REG_ENERGY_IMPORT },
};

const struct prof_profile acu_profile = {
	.name = "acuvim2",
	.default_order = MB_ORDER_ABCD,
	.blocks = acu_blocks,
	.n_blocks = sizeof(acu_blocks) / sizeof(acu_blocks[0]),
	.points = acu_points,
	.n_points = ACU_N_POINTS,
};
