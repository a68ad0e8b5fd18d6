// SPDX-License-Identifier: MIT
/*
 * PowerPack BESS profile: the seed's five holding registers as one poll block (2000..2028, 29
 * registers: one read a cycle) and the parameter checks. soe_pct decodes to the raw register;
 * pp_soe_pct() applies the device's soe_scale, which a site may set without a new table.
 */
#include <errno.h>
#include <math.h>

#include "devices/powerpack.h"

static const struct prof_enum pp_status_enum[] = {
	{ PP_STATUS_OFFLINE, "OFFLINE" },
	{ PP_STATUS_READY, "READY" },
	{ PP_STATUS_STANDBY, "STANDBY" },
	{ PP_STATUS_FAULT, "FAULT" },
};

static const struct prof_block pp_blocks[] = {
	{ .fc = MB_FC_READ_HOLDING_REGISTERS, .start = PP_MAP_FIRST, .count = PP_MAP_COUNT },
};

#define PP_POINT(nm, u, a, t, f)                                                                   \
	{                                                                                          \
		.name = nm, .unit = u, .fc = MB_FC_READ_HOLDING_REGISTERS, .addr = a, .type = t,   \
		.order = MB_ORDER_ABCD, .flags = f, .scale = 1                                     \
	}

static const struct prof_point pp_points[PP_N_POINTS] = {
	[PP_PT_STATUS] = { .name = "status",
			   .unit = "",
			   .fc = MB_FC_READ_HOLDING_REGISTERS,
			   .addr = PP_REG_STATUS,
			   .type = PROF_U16,
			   .scale = 1,
			   .enums = pp_status_enum,
			   .n_enums = sizeof(pp_status_enum) / sizeof(pp_status_enum[0]) },
	[PP_PT_TARGET_POWER] =
	    PP_POINT("target_power_kw", "kW", PP_REG_TARGET_POWER, PROF_I16, PROF_F_WRITABLE),
	[PP_PT_COMMAND_SOURCE] =
	    PP_POINT("command_source", "", PP_REG_COMMAND_SOURCE, PROF_U16, PROF_F_WRITABLE),
	[PP_PT_SOE] = PP_POINT("soe_pct", "%", PP_REG_SOE, PROF_U16, 0),
	[PP_PT_AVAILABLE_BLOCKS] =
	    PP_POINT("available_blocks", "", PP_REG_AVAILABLE_BLOCKS, PROF_U16, 0),
};

const struct prof_profile pp_profile = {
	.name = "powerpack",
	.default_order = MB_ORDER_ABCD,
	.blocks = pp_blocks,
	.n_blocks = sizeof(pp_blocks) / sizeof(pp_blocks[0]),
	.points = pp_points,
	.n_points = PP_N_POINTS,
};

int pp_check_params(const struct pp_params *pp)
{
	if (!pp || !(pp->block_kw > 0) || !(pp->soe_scale > 0) || !isfinite(pp->block_kw) ||
	    !isfinite(pp->soe_scale))
		return -EINVAL;
	if (!(pp->power_kw >= BESS_POWER_KW_MIN && pp->power_kw <= BESS_POWER_KW_MAX))
		return -ERANGE;
	if (!(pp->capacity_kwh >= BESS_CAPACITY_KWH_MIN &&
	      pp->capacity_kwh <= BESS_CAPACITY_KWH_MAX))
		return -ERANGE;
	return 0;
}

unsigned pp_default_blocks(const struct pp_params *pp)
{
	return (unsigned)ceil(pp->power_kw / pp->block_kw);
}

double pp_soe_pct(const struct pp_params *pp, double soe_raw)
{
	return soe_raw / pp->soe_scale;
}

const char *pp_status_name(uint16_t status)
{
	const char *name = prof_enum_name(&pp_points[PP_PT_STATUS], status);

	return name ? name : "unknown";
}
