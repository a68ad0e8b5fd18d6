// SPDX-License-Identifier: MIT
/*
 * PowerPack BESS parameters: their checks and the block count they imply. The register map is
 * devices/profiles/powerpack.yaml; these are what the simulator's model (devices/sim_pp.c)
 * needs beyond it.
 */
#include <errno.h>
#include <math.h>

#include "devices/powerpack.h"

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
