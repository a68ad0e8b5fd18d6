// SPDX-License-Identifier: MIT
/*
 * Reload without dropping control (issue 22): what a config read again may change
 * (control/reload.h's rl_plan(), on configs parsed from memory), the handoff of site
 * parameters to a running control thread (ctl_set_site(), in one process against the
 * simulators, threaded: run it under TSan), and fluxd's SIGHUP with the real programs: a
 * changed setpoint applies with no gap (the BESS's 2008 never leaves the old or new value,
 * the cycles count on, nothing goes stale), a bad file or a device-table change is named and
 * changes nothing. Every wait is bounded; nothing here asserts on timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/ctl.h"
#include "control/reload.h"
#include "devices/powerpack.h"
#include "devices/sim.h"
#include "rt/clock.h"
#include "tests/support/client.h"
#include "tests/support/proc.h"
#include "tests/support/rig.h"

/* ---- rl_plan(): what may change ------------------------------------------------------ */

/* A site as a file says it; %s are the site's extra lines, the BESS's host, the rt: block. */
static const char site_fmt[] =
    "site:\n"
    "  cycle: 100ms\n"
    "  grid_meter: grid\n"
    "%s"
    "rt: {io_cpu: -1, control_cpu: -1%s}\n"
    "devices:\n"
    "  bess:\n"
    "    - {id: bess-1, type: powerpack, modbus: {host: \"%s\", port: 1502}}\n"
    "%s"
    "  meters:\n"
    "    - {id: grid, type: acuvim2, modbus: {host: 127.0.0.1, port: 1503, "
    "address: 2}}\n";

#define PEAK "  strategy: {mode: peak_shaving, import_limit_kw: 100}\n"

/* Parse a site from site_fmt into *cfg (fails the test on an error). */
static void parse_site(struct cfg *cfg, const char *site, const char *rt, const char *host,
		       const char *more_bess)
{
	char text[2048], err[CFG_ERR_MAX];

	snprintf(text, sizeof(text), site_fmt, site, rt, host, more_bess);
	if (cfg_parse(cfg, "site.yaml", text, strlen(text), err, sizeof(err)))
		fail_msg("%s\n%s", err, text);
}

static struct cfg *run_cfg, *next_cfg;

static int setup_cfgs(void **state)
{
	(void)state;
	run_cfg = calloc(1, sizeof(*run_cfg));
	next_cfg = calloc(1, sizeof(*next_cfg));
	return run_cfg && next_cfg ? 0 : -1;
}

static int teardown_cfgs(void **state)
{
	(void)state;
	cfg_free(run_cfg);
	cfg_free(next_cfg);
	free(run_cfg);
	free(next_cfg);
	return 0;
}

/* Plan next (site, rt, host, more BESS) against the running peak-shaving site. */
static enum rl_verdict plan_of(const char *site, const char *rt, const char *host,
			       const char *more_bess, struct rl_plan *p)
{
	cfg_free(run_cfg);
	cfg_free(next_cfg);
	parse_site(run_cfg, PEAK, "", "127.0.0.1", "");
	parse_site(next_cfg, site, rt, host, more_bess);
	return rl_plan(run_cfg, next_cfg, p);
}

static void test_plan_same_file_changes_nothing(void **state)
{
	struct rl_plan p;

	(void)state;
	/* The same keys in another order and spelling: nothing that matters differs. */
	assert_int_equal(plan_of("  strategy: {import_limit_kw: 100.0, mode: peak_shaving}\n", "",
				 "127.0.0.1", "", &p),
			 RL_SAME);
	assert_int_equal(p.nchanges, 0);
	assert_string_equal(p.changes, "");
}

static void test_plan_lists_site_changes_old_to_new(void **state)
{
	struct rl_plan p;

	(void)state;
	assert_int_equal(plan_of("  ramp_kw_per_s: 500\n  read_window: 20ms\n"
				 "  strategy: {mode: peak_shaving, import_limit_kw: 80}\n",
				 "", "127.0.0.1", "", &p),
			 RL_APPLY);
	assert_int_equal(p.nchanges, 3);
	assert_string_equal(p.changes, "site.read_window 50ms -> 20ms, site.ramp_kw_per_s 1000 -> "
				       "500, site.strategy.import_limit_kw 100 -> 80");
	/* Another strategy (not monitor) is a site change too. */
	assert_int_equal(
	    plan_of("  strategy: {mode: manual, setpoint_kw: -20}\n", "", "127.0.0.1", "", &p),
	    RL_APPLY);
	assert_string_equal(p.changes, "site.strategy.mode peak_shaving -> manual, "
				       "site.strategy.setpoint_kw 0 -> -20");
}

static void test_plan_refuses_a_device_table_change_by_name(void **state)
{
	struct rl_plan p;

	(void)state;
	assert_int_equal(plan_of(PEAK, "", "127.0.0.2", "", &p), RL_RESTART);
	assert_string_equal(p.why, "devices.bess[0].modbus.host changed");
	assert_int_equal(
	    plan_of(PEAK, "", "127.0.0.1",
		    "    - {id: bess-2, type: powerpack, modbus: {host: 127.0.0.1, port: 1504}}\n",
		    &p),
	    RL_RESTART);
	assert_string_equal(p.why, "devices.bess changed (1 -> 2 entries)");
}

static void test_plan_refuses_rt_cycle_stale_after_and_monitor(void **state)
{
	struct rl_plan p;

	(void)state;
	assert_int_equal(plan_of(PEAK, ", control_priority: 70", "127.0.0.1", "", &p), RL_RESTART);
	assert_string_equal(p.why, "rt.control_priority changed (the threads are placed at start)");
	assert_int_equal(plan_of(PEAK "  stale_after: 2s\n", "", "127.0.0.1", "", &p), RL_RESTART);
	assert_string_equal(
	    p.why, "site.stale_after changed (the I/O thread's fail-safe timer is set to it at "
		   "start)");
	assert_int_equal(plan_of("  strategy: {mode: monitor}\n", "", "127.0.0.1", "", &p),
			 RL_RESTART);
	assert_string_equal(p.why, "site.strategy.mode changed (peak_shaving -> monitor: monitor "
				   "never claims a BESS)");
}

static void test_plan_names_the_first_restart_key_in_file_order(void **state)
{
	struct rl_plan p;

	(void)state;
	/* A limit that could apply, the cycle and a host: refused, for the cycle (file order);
	 * the limit is still listed among the changes. */
	assert_int_equal(plan_of("  strategy: {mode: peak_shaving, import_limit_kw: 90}\n"
				 "  heartbeat: 2s\n",
				 "", "127.0.0.2", "", &p),
			 RL_RESTART);
	assert_string_equal(p.why, "devices.bess[0].modbus.host changed");
	cfg_free(next_cfg);
	parse_site(next_cfg, "  strategy: {mode: peak_shaving, import_limit_kw: 90}\n", "",
		   "127.0.0.2", "");
	next_cfg->site.cycle_ns = 200 * CLK_NS_PER_MS; /* as a file saying cycle: 200ms */
	assert_int_equal(rl_plan(run_cfg, next_cfg, &p), RL_RESTART);
	assert_string_equal(
	    p.why, "site.cycle changed (the cycle timer and the watchdog's pace are set at "
		   "start)");
	assert_non_null(strstr(p.changes, "site.strategy.import_limit_kw 100 -> 90"));
}

static void test_plan_covers_the_frequency_keys_and_response_time(void **state)
{
	struct rl_plan p;

	(void)state;
	assert_int_equal(plan_of(PEAK, "", "127.0.0.1", "", &p), RL_SAME);
	next_cfg->site.droop_pct = run_cfg->site.droop_pct + 0.1; /* as droop_pct: 0.5 */
	next_cfg->site.is_frequency_response = !run_cfg->site.is_frequency_response;
	assert_int_equal(rl_plan(run_cfg, next_cfg, &p), RL_APPLY);
	assert_int_equal(p.nchanges, 2);
	assert_non_null(strstr(p.changes, "site.strategy.frequency_response false -> true"));
	assert_non_null(strstr(p.changes, "site.strategy.droop_pct 0.4 -> 0.5"));
	next_cfg->bess[0].response_time_ns += CLK_NS_PER_SEC;
	assert_int_equal(rl_plan(run_cfg, next_cfg, &p), RL_RESTART);
	assert_string_equal(p.why, "devices.bess[0].response_time changed");
}

static void test_profile_equal_compares_content_not_identity(void **state)
{
	const struct prof_profile *pp;
	struct prof_profile copy;
	struct prof_point points[PROF_MAX_POINTS];
	char err[CFG_ERR_MAX];

	(void)state;
	assert_int_equal(cfg_builtin_profile("powerpack", &pp, err, sizeof(err)), 0);
	assert_true(pp->n_points <= PROF_MAX_POINTS);
	copy = *pp;
	memcpy(points, pp->points, pp->n_points * sizeof(points[0]));
	copy.points = points;
	assert_true(rl_profile_equal(pp, &copy));
	points[0].addr++; /* one register moved: another poll plan */
	assert_false(rl_profile_equal(pp, &copy));
	points[0].addr--;
	copy.max_gap++;
	assert_false(rl_profile_equal(pp, &copy));
	assert_false(rl_profile_equal(pp, NULL));
}

/* ---- ctl_set_site(): the handoff, in one process --------------------------------------- */

static int teardown_rig(void **state)
{
	(void)state;
	th_rig_free(th_rig_live());
	return 0;
}

static struct th_rig *manual_rig(double kw)
{
	struct sim_pp_params pp = SIM_PP_DEFAULTS;
	struct sim_acu_params acu = SIM_ACU_DEFAULTS;
	struct th_rig *r;

	pp.soe_pct = 60;
	pp.startup_ms = 100;
	pp.response_ms = 100;
	r = th_rig_new(1, &pp, &acu);
	r->cfg.site.mode = CFG_STRATEGY_MANUAL;
	r->cfg.site.setpoint_kw = kw;
	th_rig_start(r);
	th_rig_wait_ours(r, 0, 5000);
	if (!th_rig_wait_target(r, 0, (int)kw, 5000)) {
		th_rig_dump(r);
		fail_msg("2008 never held %.0f kW", kw);
	}
	return r;
}

static void test_set_site_applies_at_a_cycle_boundary_without_a_gap(void **state)
{
	struct th_rig *r = manual_rig(50);
	struct cfg_site site = r->cfg.site;
	uint64_t cycles0 = th_rig_snap(r)->cycles, cycles1;
	struct ctl_log ev;
	int64_t gen;
	int kw = 50, seen = 0;

	(void)state;
	assert_int_equal(ctl_site_gen(r->ctl), 1);
	assert_int_equal(th_rig_snap(r)->config_gen, 1);
	site.setpoint_kw = 20;
	gen = ctl_set_site(r->ctl, &site);
	assert_int_equal(gen, 2);
	/* Every 5 ms until 20 kW (at most 3 s): 2008 holds 50 or 20, never 0 (no pause). */
	for (int i = 0; i < 600 && kw != 20; i++, seen++) {
		kw = th_rig_pp(r, 0).target_power_kw;
		if (kw != 50 && kw != 20)
			fail_msg("2008 held %d kW during the handoff (read %d)", kw, seen);
		th_sleep_ms(5);
	}
	assert_int_equal(kw, 20);
	assert_int_equal(ctl_site_gen(r->ctl), 2);
	assert_true(th_rig_said(r, CTL_EV_RELOADED, -1, &ev));
	assert_true(ev.a == 2 && ev.b > (double)cycles0);
	cycles1 = th_rig_snap(r)->cycles;
	assert_true(cycles1 > cycles0);
	assert_int_equal(th_rig_snap(r)->config_gen, 2);
	assert_true(th_rig_snap(r)->bess[0].is_fresh);
	assert_false(th_rig_said(r, CTL_EV_STALE, -1, NULL));
	printf("2008 read %d times during the handoff; in force from cycle %.0f; overruns %llu\n",
	       seen, ev.b, (unsigned long long)th_rig_snap(r)->overruns);
}

static void test_set_site_refuses_what_the_threads_were_built_for(void **state)
{
	struct th_rig *r = manual_rig(30);
	struct cfg_site site = r->cfg.site;

	(void)state;
	site.cycle_ns *= 2;
	assert_int_equal(ctl_set_site(r->ctl, &site), -EINVAL);
	site = r->cfg.site;
	site.stale_after_ns *= 2;
	assert_int_equal(ctl_set_site(r->ctl, &site), -EINVAL);
	site = r->cfg.site;
	site.mode = CFG_STRATEGY_MONITOR;
	assert_int_equal(ctl_set_site(r->ctl, &site), -EINVAL);
	site = r->cfg.site;
	site.grid_meter_index = 5; /* the rig has one meter */
	assert_int_equal(ctl_set_site(r->ctl, &site), -EINVAL);
	assert_int_equal(ctl_set_site(r->ctl, NULL), -EINVAL);
	th_sleep_ms(200);
	assert_int_equal(ctl_site_gen(r->ctl), 1);
	assert_int_equal(th_rig_pp(r, 0).target_power_kw, 30);
}

/* Many handoffs while the control thread cycles (TSan: the seqlock is the only traffic); the
 * last one wins and is in force. */
static void test_set_site_many_times_the_latest_wins(void **state)
{
	struct th_rig *r = manual_rig(10);
	struct cfg_site site = r->cfg.site;
	int64_t gen = 0;

	(void)state;
	for (int i = 0; i < 300; i++) {
		site.setpoint_kw = 10 + i % 7;
		site.ramp_kw_per_s = 5000 + i;
		gen = ctl_set_site(r->ctl, &site);
		assert_true(gen == i + 2);
		if (i % 10 == 0)
			th_sleep_ms(1);
	}
	site.setpoint_kw = 40;
	gen = ctl_set_site(r->ctl, &site);
	for (int i = 0; i < 300 && ctl_site_gen(r->ctl) != (uint64_t)gen; i++)
		th_sleep_ms(10);
	assert_int_equal(ctl_site_gen(r->ctl), (uint64_t)gen);
	assert_true(th_rig_wait_target(r, 0, 40, 3000));
}

/* ---- fluxd's SIGHUP, with the real programs ------------------------------------------ */

static char flux[4096], fluxd[4096];
static char dir[] = "/tmp/flux-test-reload-XXXXXX";

struct site {
	struct th_proc sim, d;
	struct th_client cl;
	char cfg_path[256], sock[256];
	int pp_port;
};

/* Replace the first `from` in the file at path by `to` (fails the test if it is not there). */
static void edit_file(const char *path, const char *from, const char *to)
{
	char text[4096], out[4096 + 256], *at;
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, from);
	if (!at)
		fail_msg("'%s' not in %s:\n%s", from, path, text);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(out, f);
	assert_int_equal(fclose(f), 0);
}

static struct site *live_site; /* for the teardown after a failed assertion */

/* flux sim and fluxd on its config (manual 50 kW, 50 ms cycle), 2008 at 50 kW. */
static void start(struct site *s)
{
	char *argv[] = {
		fluxd,	 "-c", s->cfg_path, "--no-rt", "--status-interval", "0", "--status-socket",
		s->sock, NULL
	};
	int v = -1;

	*s = (struct site){ .sim.pid = -1, .d.pid = -1, .cl.fd = -1 };
	live_site = s;
	snprintf(s->cfg_path, sizeof(s->cfg_path), "%s/site.yaml", dir);
	snprintf(s->sock, sizeof(s->sock), "%s/fluxd.sock", dir);
	s->pp_port = th_start_site(flux, &s->sim, s->cfg_path, 50, 60);
	assert_true(s->pp_port > 0);
	assert_int_equal(th_spawn(&s->d, argv), 0);
	assert_true(th_wait_output(&s->d, "command source is ours", TH_TIMEOUT_MS));
	assert_int_equal(th_open(&s->cl, (uint16_t)s->pp_port), 0);
	for (int i = 0; i < 100 && v != 50; i++) {
		v = th_read1(&s->cl, 1, PP_REG_TARGET_POWER);
		th_sleep_ms(30);
	}
	assert_int_equal(v, 50);
}

/* Stop fluxd (exit 0 asked unless is_failed) and the sim. */
static void stop_site(struct site *s, bool is_failed)
{
	live_site = NULL;
	if (s->d.pid > 0) {
		kill(s->d.pid, SIGTERM);
		if (is_failed)
			th_wait_exit(&s->d, TH_TIMEOUT_MS);
		else
			assert_int_equal(th_wait_exit(&s->d, TH_TIMEOUT_MS), 0);
	}
	if (s->cl.fd >= 0)
		th_close(&s->cl);
	if (s->sim.pid > 0) {
		kill(s->sim.pid, SIGTERM);
		th_wait_exit(&s->sim, TH_TIMEOUT_MS);
	}
	unlink(s->cfg_path);
}

static void stop(struct site *s)
{
	stop_site(s, false);
}

static int teardown_site(void **state)
{
	(void)state;
	if (live_site)
		stop_site(live_site, true);
	return 0;
}

/* `flux status --json` of the site into p->out; fails the test unless it answers. */
static void status_json(struct site *s, struct th_proc *p)
{
	char *argv[] = { flux, "status", "--socket", s->sock, "--timeout", "2000", "--json", NULL };

	assert_int_equal(th_spawn(p, argv), 0);
	assert_int_equal(th_wait_exit(p, TH_TIMEOUT_MS), 0);
}

static uint64_t json_u64(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	if (!p)
		fail_msg("%s not in %s", key, json);
	return strtoull(p + strlen(key), NULL, 10);
}

/* SIGHUP, then: what fluxd says next is `needle` (within the default bound). */
static void hup_and_wait(struct site *s, const char *needle)
{
	assert_int_equal(kill(s->d.pid, SIGHUP), 0);
	if (!th_wait_output(&s->d, needle, TH_TIMEOUT_MS))
		fail_msg("fluxd did not say '%s':\n%s", needle, s->d.out);
}

/* 2008 and the status after a reload that must change nothing: 50 kW, generation 1. */
static void assert_unchanged(struct site *s)
{
	struct th_proc st;

	th_sleep_ms(200); /* four cycles: a wrong handover would show */
	assert_int_equal(th_read1(&s->cl, 1, PP_REG_TARGET_POWER), 50);
	status_json(s, &st);
	assert_int_equal(json_u64(st.out, "\"config_gen\":"), 1);
	assert_non_null(strstr(st.out, "\"is_fresh\":true"));
}

static void test_sighup_applies_a_new_setpoint_without_a_gap(void **state)
{
	struct site s;
	struct th_proc st;
	uint64_t cycles0, cycles1;
	int v = 50, n = 0;

	(void)state;
	start(&s);
	status_json(&s, &st);
	cycles0 = json_u64(st.out, "\"cycles\":");
	assert_int_equal(json_u64(st.out, "\"config_gen\":"), 1);
	edit_file(s.cfg_path, "setpoint_kw: 50", "setpoint_kw: 30");
	assert_int_equal(kill(s.d.pid, SIGHUP), 0);
	/* 2008 read every 2 ms until 30 kW (at most 1500 reads): 50 or 30, never 0. */
	for (; n < 1500 && v != 30; n++) {
		v = th_read1(&s.cl, 1, PP_REG_TARGET_POWER);
		if (v != 50 && v != 30)
			fail_msg("2008 read %d during the reload (read %d)\n%s", v, n, s.d.out);
		th_sleep_ms(2);
	}
	assert_int_equal(v, 30);
	assert_true(th_wait_output(&s.d, "reload: applied: site.strategy.setpoint_kw 50 -> 30",
				   TH_TIMEOUT_MS));
	assert_non_null(strstr(s.d.out, "reload: site parameters 2 in force from cycle "));
	status_json(&s, &st);
	cycles1 = json_u64(st.out, "\"cycles\":");
	assert_true(cycles1 > cycles0);
	assert_int_equal(json_u64(st.out, "\"config_gen\":"), 2);
	assert_non_null(strstr(st.out, "\"setpoint_kw\":30.000"));
	assert_non_null(strstr(st.out, "\"is_fresh\":true"));
	if (strstr(s.d.out, ": stale"))
		fail_msg("a device went stale:\n%s", s.d.out);
	printf("2008 read %d times until 30 kW; cycles %llu -> %llu, overruns %llu\n", n,
	       (unsigned long long)cycles0, (unsigned long long)cycles1,
	       (unsigned long long)json_u64(st.out, "\"overruns\":"));
	/* The same file again: nothing to change. */
	hup_and_wait(&s, "reload: nothing to change");
	stop(&s);
}

static void test_sighup_with_a_bad_file_changes_nothing(void **state)
{
	struct site s;

	(void)state;
	start(&s);
	/* A syntax error: named with file:line, refused. */
	edit_file(s.cfg_path, "setpoint_kw: 50}", "setpoint_kw: [30}");
	hup_and_wait(&s, "reload refused: the file has errors (above), nothing changed");
	assert_non_null(strstr(s.d.out, "reload: "));
	assert_non_null(strstr(s.d.out, "site.yaml:"));
	assert_unchanged(&s);
	/* A value out of range: the key named. */
	edit_file(s.cfg_path, "setpoint_kw: [30}", "setpoint_kw: 30, target_soe_pct: 150}");
	assert_int_equal(kill(s.d.pid, SIGHUP), 0);
	if (!th_wait_output(&s.d, "site.strategy.target_soe_pct", TH_TIMEOUT_MS))
		fail_msg("the bad key was not named:\n%s", s.d.out);
	assert_unchanged(&s);
	stop(&s);
}

static void test_sighup_refuses_a_device_table_change_by_name(void **state)
{
	struct site s;
	char from[32], to[32];

	(void)state;
	start(&s);
	/* The BESS's port (and a setpoint that alone would apply): refused, by its key. */
	snprintf(from, sizeof(from), "port: %d,", s.pp_port);
	snprintf(to, sizeof(to), "port: %d,", s.pp_port == 65535 ? 1 : s.pp_port + 1);
	edit_file(s.cfg_path, from, to);
	edit_file(s.cfg_path, "setpoint_kw: 50", "setpoint_kw: 30");
	hup_and_wait(&s, "reload refused: devices.bess[0].modbus.port changed (restart fluxd to "
			 "apply); the running config stays");
	assert_unchanged(&s);
	/* rt: too. */
	edit_file(s.cfg_path, to, from);
	edit_file(s.cfg_path, "control_cpu: -1}", "control_cpu: -1, control_priority: 70}");
	hup_and_wait(&s, "reload refused: rt.control_priority changed");
	assert_unchanged(&s);
	stop(&s);
}

static int setup_programs(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	return 0;
}

static int teardown_programs(void **state)
{
	(void)state;
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest plans[] = {
		cmocka_unit_test(test_plan_same_file_changes_nothing),
		cmocka_unit_test(test_plan_lists_site_changes_old_to_new),
		cmocka_unit_test(test_plan_refuses_a_device_table_change_by_name),
		cmocka_unit_test(test_plan_refuses_rt_cycle_stale_after_and_monitor),
		cmocka_unit_test(test_plan_names_the_first_restart_key_in_file_order),
		cmocka_unit_test(test_plan_covers_the_frequency_keys_and_response_time),
		cmocka_unit_test(test_profile_equal_compares_content_not_identity),
	};
	const struct CMUnitTest handoff[] = {
		cmocka_unit_test_teardown(test_set_site_applies_at_a_cycle_boundary_without_a_gap,
					  teardown_rig),
		cmocka_unit_test_teardown(test_set_site_refuses_what_the_threads_were_built_for,
					  teardown_rig),
		cmocka_unit_test_teardown(test_set_site_many_times_the_latest_wins, teardown_rig),
	};
	const struct CMUnitTest sighup[] = {
		cmocka_unit_test_teardown(test_sighup_applies_a_new_setpoint_without_a_gap,
					  teardown_site),
		cmocka_unit_test_teardown(test_sighup_with_a_bad_file_changes_nothing,
					  teardown_site),
		cmocka_unit_test_teardown(test_sighup_refuses_a_device_table_change_by_name,
					  teardown_site),
	};
	int ret =
	    cmocka_run_group_tests_name("control/reload plan", plans, setup_cfgs, teardown_cfgs);

	ret |= cmocka_run_group_tests_name("control/reload handoff", handoff, NULL, NULL);
	if (th_find_programs(flux, fluxd, sizeof(flux)) == 77) {
		printf("note: flux/fluxd not built: the SIGHUP tests skipped\n");
		return ret;
	}
	ret |= cmocka_run_group_tests_name("control/reload sighup", sighup, setup_programs,
					   teardown_programs);
	return ret;
}
