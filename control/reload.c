// SPDX-License-Identifier: MIT
/*
 * What a reload would change (control/reload.h): two loaded configs compared key by key, in
 * file order, each key named as the config names it ("devices.bess[0].modbus.host"). The one
 * idea: a table says, per site key, whether the running threads can take a new value at a
 * cycle boundary; everything the engine and the threads were built from is compared as a
 * whole and any difference is a restart.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "control/reload.h"

/* How a key's value is compared and printed. */
enum rl_kind {
	K_DUR,	/* int64_t ns */
	K_DBL,	/* double */
	K_STR,	/* char[] */
	K_INT,	/* int */
	K_UINT, /* unsigned */
	K_U32,
	K_U16,
	K_U8,
	K_BOOL,
	K_ENUM, /* an enum, compared and printed as an int */
};

struct rl_key {
	const char *key;
	enum rl_kind kind;
	size_t off, size;
	const char *restart; /* NULL: applies at a cycle boundary; else why it needs a restart */
};

#define KEY(name, kind, st, member, why)                                                           \
	{                                                                                          \
		name, kind, offsetof(st, member), sizeof(((st *)0)->member), why                   \
	}

/* The site's keys, in the order config.c reads them; strategy.mode is judged on its own. */
static const struct rl_key site_keys[] = {
	KEY("site.cycle", K_DUR, struct cfg_site, cycle_ns,
	    "the cycle timer and the watchdog's pace are set at start"),
	KEY("site.read_window", K_DUR, struct cfg_site, read_window_ns, NULL),
	KEY("site.stale_after", K_DUR, struct cfg_site, stale_after_ns,
	    "the I/O thread's fail-safe timer is set to it at start"),
	KEY("site.heartbeat", K_DUR, struct cfg_site, heartbeat_ns, NULL),
	KEY("site.ramp_kw_per_s", K_DBL, struct cfg_site, ramp_kw_per_s, NULL),
	KEY("site.soe_min_pct", K_DBL, struct cfg_site, soe_min_pct, NULL),
	KEY("site.soe_max_pct", K_DBL, struct cfg_site, soe_max_pct, NULL),
	KEY("site.grid_meter", K_STR, struct cfg_site, grid_meter, NULL),
	KEY("site.strategy.import_limit_kw", K_DBL, struct cfg_site, import_limit_kw, NULL),
	KEY("site.strategy.export_limit_kw", K_DBL, struct cfg_site, export_limit_kw, NULL),
	KEY("site.strategy.setpoint_kw", K_DBL, struct cfg_site, setpoint_kw, NULL),
	KEY("site.strategy.target_soe_pct", K_DBL, struct cfg_site, target_soe_pct, NULL),
	KEY("site.strategy.max_power_kw", K_DBL, struct cfg_site, max_power_kw, NULL),
	KEY("site.strategy.controller", K_ENUM, struct cfg_site, controller, NULL),
	KEY("site.strategy.frequency_response", K_BOOL, struct cfg_site, is_frequency_response,
	    NULL),
	KEY("site.strategy.droop_pct", K_DBL, struct cfg_site, droop_pct, NULL),
	KEY("site.strategy.deadband_mhz", K_DBL, struct cfg_site, deadband_mhz, NULL),
	KEY("site.strategy.max_kw", K_DBL, struct cfg_site, ffr_max_kw, NULL),
};

/* Site fields that are not keys of their own: mode (judged on its own), the meter's index. */
static const struct rl_key site_derived[] = {
	KEY("site.strategy.mode", K_ENUM, struct cfg_site, mode, NULL),
	KEY("site.grid_meter", K_INT, struct cfg_site, grid_meter_index, NULL),
};

static const char rt_why[] = "the threads are placed at start";
static const struct rl_key rt_keys[] = {
	KEY("rt.io_cpu", K_INT, struct cfg_rt, io_cpu, rt_why),
	KEY("rt.control_cpu", K_INT, struct cfg_rt, control_cpu, rt_why),
	KEY("rt.io_priority", K_INT, struct cfg_rt, io_priority, rt_why),
	KEY("rt.control_priority", K_INT, struct cfg_rt, control_priority, rt_why),
};

/* A device's modbus: block (the engine's connection), after "devices.bess[N].". */
static const struct rl_key modbus_keys[] = {
	KEY("modbus.framing", K_ENUM, struct cfg_modbus, framing, NULL),
	KEY("modbus.host", K_STR, struct cfg_modbus, host, NULL),
	KEY("modbus.device", K_STR, struct cfg_modbus, device, NULL),
	KEY("modbus.port", K_U16, struct cfg_modbus, port, NULL),
	KEY("modbus.address", K_U8, struct cfg_modbus, address, NULL),
	KEY("modbus.timeout", K_DUR, struct cfg_modbus, timeout_ns, NULL),
	KEY("modbus.retry_count", K_UINT, struct cfg_modbus, retry_count, NULL),
	KEY("modbus.retry_backoff", K_DUR, struct cfg_modbus, retry_backoff_ns, NULL),
	KEY("modbus.match_tid", K_BOOL, struct cfg_modbus, match_tid, NULL),
	KEY("modbus.baud", K_U32, struct cfg_modbus, line.baud, NULL),
	KEY("modbus.parity", K_ENUM, struct cfg_modbus, line.parity, NULL),
	KEY("modbus.data_bits", K_U8, struct cfg_modbus, line.data_bits, NULL),
	KEY("modbus.stop_bits", K_U8, struct cfg_modbus, line.stop_bits, NULL),
	KEY("modbus.rs485", K_BOOL, struct cfg_modbus, line.rs485, NULL),
};

static const struct rl_key bess_keys[] = {
	KEY("id", K_STR, struct cfg_bess, id, NULL),
	KEY("name", K_STR, struct cfg_bess, name, NULL),
	KEY("type", K_STR, struct cfg_bess, type, NULL),
	KEY("heartbeat_register", K_INT, struct cfg_bess, heartbeat_register, NULL),
	KEY("heartbeat_role", K_BOOL, struct cfg_bess, is_heartbeat_role, NULL),
	KEY("power_kw", K_INT, struct cfg_bess, power_kw, NULL),
	KEY("capacity_kwh", K_INT, struct cfg_bess, capacity_kwh, NULL),
	KEY("block_kw", K_INT, struct cfg_bess, block_kw, NULL),
	KEY("status_ready", K_UINT, struct cfg_bess, status_ready, NULL),
	KEY("command_source_id", K_UINT, struct cfg_bess, command_source_id, NULL),
	KEY("soe_scale", K_UINT, struct cfg_bess, soe_scale, NULL),
	KEY("command_source_default", K_UINT, struct cfg_bess, command_source_default, NULL),
	KEY("response_time", K_DUR, struct cfg_bess, response_time_ns, NULL),
};

/* What the device keys do not name: where it is in the file, the profile it resolved to (the
 * profile and modbus: are compared on their own). Only copied, never printed. */
static const struct rl_key bess_derived[] = {
	KEY("line", K_INT, struct cfg_bess, line, NULL),
	KEY("profile", K_INT, struct cfg_bess, profile_file, NULL),
	KEY("profile", K_INT, struct cfg_bess, profile, NULL),
	KEY("modbus", K_INT, struct cfg_bess, modbus, NULL),
};
static const struct rl_key meter_derived[] = {
	KEY("line", K_INT, struct cfg_meter, line, NULL),
	KEY("profile", K_INT, struct cfg_meter, profile_file, NULL),
	KEY("profile", K_INT, struct cfg_meter, profile, NULL),
	KEY("modbus", K_INT, struct cfg_meter, modbus, NULL),
};

static const struct rl_key meter_keys[] = {
	KEY("id", K_STR, struct cfg_meter, id, NULL),
	KEY("name", K_STR, struct cfg_meter, name, NULL),
	KEY("type", K_STR, struct cfg_meter, type, NULL),
	KEY("word_order", K_ENUM, struct cfg_meter, word_order, NULL),
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* Appending to a fixed buffer, cut with "..." when it is full. */
struct rl_text {
	char *buf;
	size_t cap, len;
};

static void put(struct rl_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len + 1 >= t->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= t->cap - t->len) {
		t->len = t->cap - 1;
		if (t->cap > 4)
			memcpy(t->buf + t->cap - 4, "...", 4);
		return;
	}
	t->len += (size_t)n;
}

/* A duration as config.c reads it back: the largest unit that divides it. */
static void put_dur(struct rl_text *t, int64_t ns)
{
	static const struct {
		int64_t ns;
		const char *unit;
	} units[] = { { 1000000000LL, "s" }, { 1000000LL, "ms" }, { 1000LL, "us" } };

	for (unsigned i = 0; i < NKEYS(units); i++)
		if (ns && ns % units[i].ns == 0) {
			put(t, "%lld%s", (long long)(ns / units[i].ns), units[i].unit);
			return;
		}
	put(t, "%lldns", (long long)ns);
}

static void put_value(struct rl_text *t, enum rl_kind kind, const void *p)
{
	switch (kind) {
	case K_DUR:
		put_dur(t, *(const int64_t *)p);
		return;
	case K_DBL:
		put(t, "%g", *(const double *)p);
		return;
	case K_STR:
		put(t, "\"%s\"", (const char *)p);
		return;
	case K_INT:
	case K_ENUM:
		put(t, "%d", *(const int *)p);
		return;
	case K_UINT:
		put(t, "%u", *(const unsigned *)p);
		return;
	case K_U32:
		put(t, "%u", (unsigned)*(const uint32_t *)p);
		return;
	case K_U16:
		put(t, "%u", (unsigned)*(const uint16_t *)p);
		return;
	case K_U8:
		put(t, "%u", (unsigned)*(const uint8_t *)p);
		return;
	case K_BOOL:
		put(t, "%s", *(const bool *)p ? "true" : "false");
		return;
	}
}

static bool is_equal(enum rl_kind kind, const void *a, const void *b)
{
	switch (kind) {
	case K_DUR:
		return *(const int64_t *)a == *(const int64_t *)b;
	case K_DBL:
		return *(const double *)a == *(const double *)b;
	case K_STR:
		return strcmp(a, b) == 0;
	case K_INT:
	case K_ENUM:
		return *(const int *)a == *(const int *)b;
	case K_UINT:
		return *(const unsigned *)a == *(const unsigned *)b;
	case K_U32:
		return *(const uint32_t *)a == *(const uint32_t *)b;
	case K_U16:
		return *(const uint16_t *)a == *(const uint16_t *)b;
	case K_U8:
		return *(const uint8_t *)a == *(const uint8_t *)b;
	case K_BOOL:
		return *(const bool *)a == *(const bool *)b;
	}
	return false;
}

/*
 * A field no table names (a key added to config.h and not here) must not change unseen:
 * b with every field the tables name (and the derived ones) copied from a, then compared with
 * a byte for byte. Both came from the same loader, from zeroed memory. Returns true when
 * something else differs. tmp holds size bytes.
 */
static bool differs_elsewhere(const void *a, const void *b, size_t size, const struct rl_key *k1,
			      unsigned n1, const struct rl_key *k2, unsigned n2, void *tmp)
{
	memcpy(tmp, b, size);
	for (unsigned i = 0; i < n1; i++)
		memcpy((char *)tmp + k1[i].off, (const char *)a + k1[i].off, k1[i].size);
	for (unsigned i = 0; i < n2; i++)
		memcpy((char *)tmp + k2[i].off, (const char *)a + k2[i].off, k2[i].size);
	return memcmp(a, tmp, size) != 0;
}

/* The comparison under way: the first restart key wins; site changes are listed. */
struct rl_cmp {
	struct rl_plan *plan;
	struct rl_text changes;
	bool is_restart;
	union { /* differs_elsewhere()'s copy */
		struct cfg_site site;
		struct cfg_rt rt;
		struct cfg_bess bess;
		struct cfg_meter meter;
		struct cfg_modbus modbus;
	} tmp;
};

/* Say that key (prefix + name) needs a restart, with why (may be NULL). Only the first one. */
static void need_restart(struct rl_cmp *k, const char *prefix, const char *key, const char *why)
{
	struct rl_text t = { k->plan->why, sizeof(k->plan->why), 0 };

	if (k->is_restart)
		return;
	k->is_restart = true;
	put(&t, "%s%s changed%s%s%s", prefix, key, why ? " (" : "", why ? why : "", why ? ")" : "");
}

/* Compare a table of keys of two structs; prefix names where they are. */
static void cmp_keys(struct rl_cmp *k, const char *prefix, const struct rl_key *keys, unsigned n,
		     const void *a, const void *b, bool is_restart_all)
{
	for (unsigned i = 0; i < n; i++) {
		const struct rl_key *key = &keys[i];
		const char *pa = (const char *)a + key->off, *pb = (const char *)b + key->off;

		if (is_equal(key->kind, pa, pb))
			continue;
		if (is_restart_all || key->restart) {
			need_restart(k, prefix, key->key, key->restart);
			continue;
		}
		put(&k->changes, "%s%s%s ", k->plan->nchanges ? ", " : "", prefix, key->key);
		put_value(&k->changes, key->kind, pa);
		put(&k->changes, " -> ");
		put_value(&k->changes, key->kind, pb);
		k->plan->nchanges++;
	}
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool point_equal(const struct prof_point *a, const struct prof_point *b)
{
	if (!str_eq(a->name, b->name) || !str_eq(a->unit, b->unit) || a->fc != b->fc ||
	    a->addr != b->addr || a->type != b->type || a->order != b->order ||
	    a->flags != b->flags || a->scale != b->scale || a->offset != b->offset ||
	    a->has_range != b->has_range || a->range_lo != b->range_lo ||
	    a->range_hi != b->range_hi || a->has_limits != b->has_limits ||
	    a->write_min != b->write_min || a->write_max != b->write_max ||
	    a->n_enums != b->n_enums || a->n_bits != b->n_bits)
		return false;
	for (unsigned e = 0; e < a->n_enums; e++)
		if (a->enums[e].value != b->enums[e].value ||
		    a->enums[e].flags != b->enums[e].flags ||
		    !str_eq(a->enums[e].name, b->enums[e].name))
			return false;
	for (unsigned k = 0; k < a->n_bits; k++)
		if (a->bits[k].bit != b->bits[k].bit || !str_eq(a->bits[k].name, b->bits[k].name))
			return false;
	return true;
}

bool rl_profile_equal(const struct prof_profile *a, const struct prof_profile *b)
{
	if (a == b)
		return true;
	if (!a || !b || !str_eq(a->name, b->name) || a->default_order != b->default_order ||
	    a->n_blocks != b->n_blocks || a->n_points != b->n_points || a->kind != b->kind ||
	    a->unit_id != b->unit_id || a->max_gap != b->max_gap ||
	    memcmp(a->roles, b->roles, sizeof(a->roles)) != 0)
		return false;
	for (unsigned i = 0; i < a->n_blocks; i++)
		if (a->blocks[i].fc != b->blocks[i].fc ||
		    a->blocks[i].start != b->blocks[i].start ||
		    a->blocks[i].count != b->blocks[i].count)
			return false;
	for (unsigned i = 0; i < a->n_points; i++)
		if (!point_equal(&a->points[i], &b->points[i]))
			return false;
	return true;
}

/* The `profile:` file's resolved path of a device, or "" for a `type:`. */
static const char *profile_path(const struct cfg *cfg, int file)
{
	return file >= 0 && (unsigned)file < cfg->nprofiles ? cfg->profiles[file].path : "";
}

/* One device's profile: the same file and the same content (the poll plan is built from it). */
static void cmp_profile(struct rl_cmp *k, const char *prefix, const struct cfg *run,
			const struct cfg *next, int fa, int fb, const struct prof_profile *pa,
			const struct prof_profile *pb)
{
	if (strcmp(profile_path(run, fa), profile_path(next, fb)) != 0)
		need_restart(k, prefix, "profile", NULL);
	else if (!rl_profile_equal(pa, pb))
		need_restart(k, prefix, fa >= 0 ? "profile" : "type",
			     "the profile's points or poll plan");
}

/* The device table: counts, then each device, every key a restart. */
static void cmp_devices(struct rl_cmp *k, const struct cfg *run, const struct cfg *next)
{
	char prefix[64];

	if (run->nbess != next->nbess) {
		snprintf(prefix, sizeof(prefix), "%u -> %u entries", run->nbess, next->nbess);
		need_restart(k, "", "devices.bess", prefix);
	}
	for (unsigned i = 0; i < run->nbess && i < next->nbess; i++) {
		const struct cfg_bess *a = &run->bess[i], *b = &next->bess[i];

		snprintf(prefix, sizeof(prefix), "devices.bess[%u].", i);
		cmp_keys(k, prefix, bess_keys, 3, a, b, true); /* id, name, type */
		cmp_profile(k, prefix, run, next, a->profile_file, b->profile_file, a->profile,
			    b->profile);
		cmp_keys(k, prefix, modbus_keys, NKEYS(modbus_keys), &a->modbus, &b->modbus, true);
		cmp_keys(k, prefix, bess_keys + 3, NKEYS(bess_keys) - 3, a, b, true);
		if (differs_elsewhere(a, b, sizeof(*a), bess_keys, NKEYS(bess_keys), bess_derived,
				      NKEYS(bess_derived), &k->tmp.bess) ||
		    differs_elsewhere(&a->modbus, &b->modbus, sizeof(a->modbus), modbus_keys,
				      NKEYS(modbus_keys), NULL, 0, &k->tmp.modbus))
			need_restart(k, prefix, "*", "a key this fluxd does not reload");
	}
	if (run->nmeters != next->nmeters) {
		snprintf(prefix, sizeof(prefix), "%u -> %u entries", run->nmeters, next->nmeters);
		need_restart(k, "", "devices.meters", prefix);
	}
	for (unsigned j = 0; j < run->nmeters && j < next->nmeters; j++) {
		const struct cfg_meter *a = &run->meters[j], *b = &next->meters[j];

		snprintf(prefix, sizeof(prefix), "devices.meters[%u].", j);
		cmp_keys(k, prefix, meter_keys, 3, a, b, true);
		cmp_profile(k, prefix, run, next, a->profile_file, b->profile_file, a->profile,
			    b->profile);
		cmp_keys(k, prefix, modbus_keys, NKEYS(modbus_keys), &a->modbus, &b->modbus, true);
		cmp_keys(k, prefix, meter_keys + 3, NKEYS(meter_keys) - 3, a, b, true);
		if (differs_elsewhere(a, b, sizeof(*a), meter_keys, NKEYS(meter_keys),
				      meter_derived, NKEYS(meter_derived), &k->tmp.meter) ||
		    differs_elsewhere(&a->modbus, &b->modbus, sizeof(a->modbus), modbus_keys,
				      NKEYS(modbus_keys), NULL, 0, &k->tmp.modbus))
			need_restart(k, prefix, "*", "a key this fluxd does not reload");
	}
}

enum rl_verdict rl_plan(const struct cfg *run, const struct cfg *next, struct rl_plan *out)
{
	struct rl_cmp k = { .plan = out };
	enum cfg_strategy ma = run->site.mode, mb = next->site.mode;

	*out = (struct rl_plan){ .verdict = RL_SAME };
	k.changes = (struct rl_text){ out->changes, sizeof(out->changes), 0 };
	cmp_keys(&k, "", site_keys, 3, &run->site, &next->site, false); /* cycle .. stale_after */
	/* Monitor never claims a BESS and arms no fail-safe: the engine was opened for one or
	 * the other. Between the others, the strategy changes at a cycle boundary. */
	if (ma != mb && (ma == CFG_STRATEGY_MONITOR || mb == CFG_STRATEGY_MONITOR)) {
		char why[96];

		snprintf(why, sizeof(why), "%s -> %s: monitor never claims a BESS",
			 cfg_strategy_name(ma), cfg_strategy_name(mb));
		need_restart(&k, "", "site.strategy.mode", why);
	} else if (ma != mb) {
		put(&k.changes, "%ssite.strategy.mode %s -> %s", out->nchanges ? ", " : "",
		    cfg_strategy_name(ma), cfg_strategy_name(mb));
		out->nchanges++;
	}
	cmp_keys(&k, "", site_keys + 3, NKEYS(site_keys) - 3, &run->site, &next->site, false);
	if (differs_elsewhere(&run->site, &next->site, sizeof(run->site), site_keys,
			      NKEYS(site_keys), site_derived, NKEYS(site_derived), &k.tmp.site))
		need_restart(&k, "", "site.*", "a key this fluxd does not reload");
	cmp_keys(&k, "", rt_keys, NKEYS(rt_keys), &run->rt, &next->rt, true);
	if (differs_elsewhere(&run->rt, &next->rt, sizeof(run->rt), rt_keys, NKEYS(rt_keys), NULL,
			      0, &k.tmp.rt))
		need_restart(&k, "", "rt.*", rt_why);
	cmp_devices(&k, run, next);
	if (k.is_restart)
		out->verdict = RL_RESTART;
	else if (out->nchanges)
		out->verdict = RL_APPLY;
	return out->verdict;
}
