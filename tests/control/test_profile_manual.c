// SPDX-License-Identifier: MIT
/*
 * Issue 16's acceptance test against an independent server. A libmodbus 3.1 TCP server on
 * 127.0.0.1 holds the Acuvim II manual's measurements, laid out from this file's own table:
 * the manual's addresses, the floats by their IEEE 754 bits (checked with libmodbus's
 * modbus_get_float_abcd()), the energy counters with MODBUS_SET_INT32_TO_INT16(); nothing of
 * Flux's encoder or simulator is involved.
 *
 * A site whose grid meter is `profile: <repository>/devices/profiles/acuvim2-manual.yaml`
 * (beside a simulated PowerPack, peak shaving) runs against it: the snapshot, `flux status
 * --json` and `flux status` must show every point with the value and unit the table implies,
 * and the grid power control uses must be the meter's Psum. `flux read --profile` on the same
 * server must print the same values, units and addresses. Every wait is bounded; the server
 * thread is stopped and joined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <modbus.h>

#include "control/config.h"
#include "control/ctl.h"
#include "control/status.h"
#include "devices/sim.h"
#include "rt/clock.h"
#include "tests/support/json_check.h"
#include "tests/support/net.h"
#include "tests/support/toolrun.h"
#include "tools/tools.h"

#define PROFILE_REL	"devices/profiles/acuvim2-manual.yaml"
#define UNIT		1
#define MAP_START	0x4000 /* the server's holding registers: 0x4000..0x404B */
#define MAP_COUNT	0x4C
#define HOLE_FILL	0xFFFF /* registers the table leaves out: a NaN float, a huge integer */
#define SRV_CLIENTS	4      /* connections served at once (the controller, flux read) */
#define SRV_POLL_MS	50
#define SRV_LIFE_MS	60000 /* the server ends by itself after this, whatever happens */
#define WAIT_MS		5000
#define IMPORT_LIMIT_KW 5.0

/*
 * The manual's basic measurements (primary values, floats from 4000H in V, A, W, var, VA) and
 * its energy registers (32-bit integers in 0.1 kWh from 4048H: import, then export), each
 * with the name and unit acuvim2-manual.yaml gives it. The values are distinct and exact in a
 * float32 (a point read from a neighbour's address cannot pass); `per_unit` is how many of the
 * manual's units make one engineering unit (W per kW, counts of 0.1 kWh per kWh).
 */
enum mt_kind { MT_F32, MT_U32 };

static const struct manual_row {
	uint16_t addr;
	enum mt_kind kind;
	double raw; /* what the meter holds, in the manual's unit */
	double per_unit;
	const char *name, *unit;
} manual[] = {
	{ 0x4000, MT_F32, 49.96875, 1, "frequency_hz", "Hz" },
	{ 0x4002, MT_F32, 230.125, 1, "voltage_l1n_v", "V" },
	{ 0x4004, MT_F32, 231.5, 1, "voltage_l2n_v", "V" },
	{ 0x4006, MT_F32, 229.75, 1, "voltage_l3n_v", "V" },
	{ 0x4008, MT_F32, 230.375, 1, "voltage_ln_avg_v", "V" },
	{ 0x400A, MT_F32, 398.5, 1, "voltage_l1l2_v", "V" },
	{ 0x400C, MT_F32, 400.25, 1, "voltage_l2l3_v", "V" },
	{ 0x400E, MT_F32, 397.875, 1, "voltage_l3l1_v", "V" },
	{ 0x4010, MT_F32, 398.875, 1, "voltage_ll_avg_v", "V" },
	{ 0x4012, MT_F32, 12.5, 1, "current_l1_a", "A" },
	{ 0x4014, MT_F32, 13.25, 1, "current_l2_a", "A" },
	{ 0x4016, MT_F32, 11.75, 1, "current_l3_a", "A" },
	{ 0x4018, MT_F32, 12.625, 1, "current_avg_a", "A" },
	{ 0x401A, MT_F32, 0.875, 1, "current_n_a", "A" },
	{ 0x401C, MT_F32, 2875.5, 1000, "power_l1_kw", "kW" },
	{ 0x401E, MT_F32, 3000.25, 1000, "power_l2_kw", "kW" },
	{ 0x4020, MT_F32, 2766.5, 1000, "power_l3_kw", "kW" },
	{ 0x4022, MT_F32, 8642.25, 1000, "power_total_kw", "kW" }, /* Psum */
	{ 0x4024, MT_F32, 410.5, 1000, "reactive_l1_kvar", "kvar" },
	{ 0x4026, MT_F32, -120.25, 1000, "reactive_l2_kvar", "kvar" },
	{ 0x4028, MT_F32, 305.75, 1000, "reactive_l3_kvar", "kvar" },
	{ 0x402A, MT_F32, 596.0, 1000, "reactive_total_kvar", "kvar" },
	{ 0x402C, MT_F32, 2904.75, 1000, "apparent_l1_kva", "kVA" },
	{ 0x402E, MT_F32, 3002.75, 1000, "apparent_l2_kva", "kVA" },
	{ 0x4030, MT_F32, 2783.25, 1000, "apparent_l3_kva", "kVA" },
	{ 0x4032, MT_F32, 8690.75, 1000, "apparent_total_kva", "kVA" },
	{ 0x4034, MT_F32, 0.98828125, 1, "power_factor_l1", "" },
	{ 0x4036, MT_F32, 0.9990234375, 1, "power_factor_l2", "" },
	{ 0x4038, MT_F32, 0.9921875, 1, "power_factor_l3", "" },
	{ 0x403A, MT_F32, 0.994140625, 1, "power_factor", "" },
	{ 0x4048, MT_U32, 1234567, 10, "energy_import_kwh", "kWh" },
	{ 0x404A, MT_U32, 40963, 10, "energy_export_kwh", "kWh" },
};

#define N_MANUAL  (sizeof(manual) / sizeof(manual[0]))
#define PSUM_ROW  17
#define PSUM_ADDR 0x4022 /* the manual's Psum, in W */
#define ALL_VALID ((uint32_t)((1ull << N_MANUAL) - 1))

static double expected(const struct manual_row *m)
{
	return m->raw / m->per_unit;
}

/* Equal within what a float32 carries and a 7-digit print keeps. */
static bool near(double got, double want)
{
	return fabs(got - want) <= 1e-6 * fabs(want) + 1e-9;
}

/* ---- the libmodbus server ------------------------------------------------------------ */

struct lmb {
	int lfd;
	uint16_t port;
	modbus_t *mb;	       /* used by the server thread only once it runs */
	modbus_mapping_t *map; /* laid out before the thread starts */
	pthread_t thread;
	bool has_thread;
	atomic_bool stop;
	atomic_uint served;   /* requests answered */
	atomic_uint accepted; /* connections */
};

static void close_client(int *fds, unsigned i)
{
	close(fds[i]);
	fds[i] = -1;
}

/* Serve up to SRV_CLIENTS connections with modbus_receive()/modbus_reply(), until stop. */
static void *lmb_main(void *arg)
{
	struct lmb *s = arg;
	uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
	int64_t end_ns = th_deadline_ns(SRV_LIFE_MS);
	int fds[SRV_CLIENTS];

	for (unsigned i = 0; i < SRV_CLIENTS; i++)
		fds[i] = -1;
	while (!atomic_load(&s->stop) && th_now_ns() < end_ns) {
		struct pollfd pfd[1 + SRV_CLIENTS];
		int n;

		pfd[0] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (unsigned i = 0; i < SRV_CLIENTS; i++)
			pfd[1 + i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		n = poll(pfd, 1 + SRV_CLIENTS, SRV_POLL_MS);
		if (n <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
			unsigned i = 0;

			while (fd >= 0 && i < SRV_CLIENTS && fds[i] >= 0)
				i++;
			if (fd >= 0 && i < SRV_CLIENTS) {
				fds[i] = fd;
				atomic_fetch_add(&s->accepted, 1);
			} else if (fd >= 0) {
				close(fd);
			}
		}
		for (unsigned i = 0; i < SRV_CLIENTS; i++) {
			int rc;

			if (fds[i] < 0 || !pfd[1 + i].revents)
				continue;
			/* Readable (or closed): a whole request arrives within the indication
			 * timeout, or the connection goes. */
			modbus_set_socket(s->mb, fds[i]);
			rc = modbus_receive(s->mb, query);
			if (rc < 0) {
				close_client(fds, i);
				continue;
			}
			if (rc > 0 && modbus_reply(s->mb, query, rc, s->map) < 0) {
				close_client(fds, i);
				continue;
			}
			if (rc > 0)
				atomic_fetch_add(&s->served, 1);
		}
	}
	for (unsigned i = 0; i < SRV_CLIENTS; i++)
		if (fds[i] >= 0)
			close_client(fds, i);
	modbus_set_socket(s->mb, -1);
	return NULL;
}

/*
 * Lay the manual's table out in the holding registers. A float goes in by its IEEE 754 bits,
 * high half in the first register (ABCD on the wire, as modbus_reply() sends each register
 * high byte first), checked with libmodbus's modbus_get_float_abcd(). Not with
 * modbus_set_float_abcd(): in libmodbus 3.1.x it fills the array in memory byte order, so on
 * a little-endian host its "ABCD" reaches the wire as BADC (libmodbus issues #611, #757, #807:
 * its set and get are not inverses). The integers go in with MODBUS_SET_INT32_TO_INT16().
 */
static void lay_out(modbus_mapping_t *map)
{
	for (unsigned i = 0; i < MAP_COUNT; i++)
		map->tab_registers[i] = HOLE_FILL;
	for (unsigned k = 0; k < N_MANUAL; k++) {
		const struct manual_row *m = &manual[k];
		uint16_t *at = &map->tab_registers[m->addr - MAP_START];

		assert_true(m->addr >= MAP_START && m->addr + 2 <= MAP_START + MAP_COUNT);
		if (m->kind == MT_F32) {
			float f = (float)m->raw;
			uint32_t bits;

			assert_true((double)f == m->raw); /* the table stays exact */
			memcpy(&bits, &f, sizeof(bits));
			at[0] = (uint16_t)(bits >> 16); /* A B: the high half first */
			at[1] = (uint16_t)bits;		/* C D */
			/* libmodbus reads it back as ABCD: the layout is right by its measure. */
			assert_true(modbus_get_float_abcd(at) == f);
		} else {
			MODBUS_SET_INT32_TO_INT16(at, 0, (uint32_t)m->raw);
		}
	}
}

static int lmb_setup(void **state)
{
	struct lmb *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->lfd = th_listen(&s->port);
	if (s->lfd < 0) {
		fprintf(stderr, "th_listen: %s\n", strerror(-s->lfd));
		free(s);
		return -1;
	}
	s->map = modbus_mapping_new_start_address(0, 0, 0, 0, MAP_START, MAP_COUNT, 0, 0);
	s->mb = modbus_new_tcp("127.0.0.1", s->port);
	if (!s->map || !s->mb || modbus_set_indication_timeout(s->mb, 1, 0)) {
		fprintf(stderr, "libmodbus server: %s\n", modbus_strerror(errno));
		goto fail;
	}
	lay_out(s->map);
	if (pthread_create(&s->thread, NULL, lmb_main, s))
		goto fail;
	s->has_thread = true;
	*state = s;
	return 0;

fail:
	if (s->mb)
		modbus_free(s->mb);
	if (s->map)
		modbus_mapping_free(s->map);
	close(s->lfd);
	free(s);
	return -1;
}

static int lmb_teardown(void **state)
{
	struct lmb *s = *state;

	if (!s)
		return 0;
	atomic_store(&s->stop, true);
	if (s->has_thread)
		pthread_join(s->thread, NULL); /* within SRV_POLL_MS + the indication timeout */
	modbus_free(s->mb);
	modbus_mapping_free(s->map);
	close(s->lfd);
	free(s);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* The absolute path of the shipped file (the test runs from the repository, as make test does). */
static void profile_path(char *out)
{
	if (!realpath(PROFILE_REL, out))
		fail_msg("%s: %s (run from the repository root)", PROFILE_REL, strerror(errno));
}

static void *sim_main(void *arg)
{
	sim_run(arg, 60LL * 1000 * 1000 * 1000);
	return NULL;
}

/*
 * The value and unit of point `name` in flux status --json text: its
 * {"name":"NAME","value":V,"unit":"U"} object. Returns whether it is there and well formed.
 */
static bool json_point(const char *json, const char *name, double *value, char *unit, size_t cap)
{
	char key[96];
	const char *at, *u, *q;
	char *end;

	snprintf(key, sizeof(key), "{\"name\":\"%s\",\"value\":", name);
	at = strstr(json, key);
	if (!at)
		return false;
	*value = strtod(at + strlen(key), &end);
	if (end == at + strlen(key) || strncmp(end, ",\"unit\":\"", 9))
		return false;
	u = end + 9;
	q = strchr(u, '"');
	if (!q || (size_t)(q - u) >= cap)
		return false;
	memcpy(unit, u, (size_t)(q - u));
	unit[q - u] = '\0';
	return true;
}

/* Where the word `name` (the point's name, not a longer one it begins) starts in text, or NULL. */
static const char *word_at(const char *text, const char *name)
{
	size_t len = strlen(name);

	for (const char *at = strstr(text, name); at; at = strstr(at + 1, name))
		if ((at == text || at[-1] == ' ' || at[-1] == '\n') && at[len] == ' ')
			return at;
	return NULL;
}

/* ---- the site ------------------------------------------------------------------------ */

/*
 * A site as an operator writes it: a PowerPack (the in-process simulator) and the grid meter
 * by `profile:` at the libmodbus server, peak shaving at IMPORT_LIMIT_KW.
 */
static void test_site_with_profile_file_decodes_the_manual_layout(void **state)
{
	struct lmb *s = *state;
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	struct ctl_snapshot *snap = calloc(1, sizeof(*snap));
	char *text = malloc(ST_RSP_MAX), *yaml = malloc(8192);
	struct sim_pp_params pp = SIM_PP_DEFAULTS;
	const struct prof_profile *p;
	char path[PATH_MAX], err[CFG_ERR_MAX];
	pthread_t sim_thread;
	struct ctl *ctl = NULL;
	struct sim *sim;
	int bess, t, n;

	assert_non_null(cfg);
	assert_non_null(snap);
	assert_non_null(text);
	assert_non_null(yaml);
	profile_path(path);
	pp.startup_ms = 50;
	sim = sim_new();
	assert_non_null(sim);
	bess = sim_add_powerpack(sim, &(struct sim_endpoint){ .unit = 1 }, &pp);
	assert_true(bess >= 0);
	assert_int_equal(pthread_create(&sim_thread, NULL, sim_main, sim), 0);

	n = snprintf(yaml, 8192,
		     "site:\n"
		     "  cycle: 50ms\n"
		     "  read_window: 25ms\n"
		     "  stale_after: 500ms\n"
		     "  ramp_kw_per_s: 10000\n"
		     "  grid_meter: grid\n"
		     "  strategy: {mode: peak_shaving, import_limit_kw: %g, export_limit_kw: 0}\n"
		     "devices:\n"
		     "  bess:\n"
		     "    - id: bess-1\n"
		     "      type: powerpack\n"
		     "      modbus: {host: 127.0.0.1, port: %d, address: 1, timeout: 200ms,\n"
		     "               retry_count: 1, retry_backoff: 50ms}\n"
		     "  meters:\n"
		     "    - id: grid\n"
		     "      profile: %s\n"
		     "      modbus: {host: 127.0.0.1, port: %u, address: %d, timeout: 200ms,\n"
		     "               retry_count: 1, retry_backoff: 50ms}\n",
		     IMPORT_LIMIT_KW, sim_port(sim, bess), path, s->port, UNIT);
	assert_true(n > 0 && n < 8192);
	if (cfg_parse(cfg, "site.yaml", yaml, (size_t)n, err, sizeof(err)))
		fail_msg("site config: %s\n%s", err, yaml);
	assert_int_equal(cfg->nmeters, 1);
	assert_int_equal(cfg->meters[0].profile_file, 0);
	assert_string_equal(cfg->profiles[0].path, path);
	p = cfg->meters[0].profile;
	assert_string_equal(p->name, "acuvim2-manual");
	/* The table covers the file: every point of it is checked below, none is left out. */
	assert_int_equal(p->n_points, N_MANUAL);

	assert_int_equal(ctl_open(&ctl, cfg, &(struct ctl_opts){ .no_rt = true }), 0);
	assert_int_equal(ctl_start(ctl), 0);
	for (t = 0; t < WAIT_MS / 20; t++) {
		assert_int_equal(ctl_snapshot(ctl, snap), 0);
		if (snap->meters[0].is_fresh && snap->meters[0].pt.valid == ALL_VALID)
			break;
		th_sleep_ms(20);
	}
	if (t == WAIT_MS / 20)
		fail_msg("after %d ms: meter fresh %d, valid 0x%x (err %s); server: %u "
			 "connection(s), %u request(s)",
			 WAIT_MS, snap->meters[0].is_fresh, snap->meters[0].pt.valid,
			 ctl_strerror(snap->meters[0].last_err), atomic_load(&s->accepted),
			 atomic_load(&s->served));
	assert_true(atomic_load(&s->served) > 0);

	/* Every point: at the manual's address, with its unit, decoded to the table's value. */
	for (unsigned k = 0; k < N_MANUAL; k++) {
		const struct manual_row *m = &manual[k];
		int i = prof_point_index(p, m->name);

		if (i < 0)
			fail_msg("%s: not in %s", m->name, path);
		assert_int_equal(p->points[i].fc, 3);
		if (p->points[i].addr != m->addr)
			fail_msg("%s: the profile reads 0x%04X, the manual has it at 0x%04X",
				 m->name, p->points[i].addr, m->addr);
		assert_string_equal(p->points[i].unit, m->unit);
		if (!near(snap->meters[0].pt.points[i], expected(m)))
			fail_msg("%s: decoded %.9g, the meter holds %.9g (%g %s per %s)", m->name,
				 snap->meters[0].pt.points[i], expected(m), m->per_unit,
				 m->kind == MT_F32 ? "manual units" : "counts", m->unit);
	}
	/* Control's grid power is the meter's Psum, in kW, + import: above the limit, the
	 * site discharges. */
	assert_int_equal(manual[PSUM_ROW].addr, PSUM_ADDR);
	assert_int_equal(prof_role_point(p, PROF_ROLE_GRID_POWER),
			 prof_point_index(p, manual[PSUM_ROW].name));
	if (!near(snap->meters[0].power_kw, expected(&manual[PSUM_ROW])))
		fail_msg("control's grid power %.9g kW, the meter's Psum %.9g W",
			 snap->meters[0].power_kw, manual[PSUM_ROW].raw);
	assert_true(expected(&manual[PSUM_ROW]) > IMPORT_LIMIT_KW);
	for (t = 0; t < WAIT_MS / 20; t++) {
		assert_int_equal(ctl_snapshot(ctl, snap), 0);
		if (snap->is_valid && snap->site_kw > 0)
			break;
		th_sleep_ms(20);
	}
	if (t == WAIT_MS / 20) {
		fail_msg(
		    "after %d ms: grid %.3f kW over the %g kW limit, yet the site asks %.3f kW "
		    "(valid %d; bess fresh %d ready %d ours %d)",
		    WAIT_MS, snap->meters[0].power_kw, IMPORT_LIMIT_KW, snap->site_kw,
		    snap->is_valid, snap->bess[0].is_fresh, snap->bess[0].is_ready,
		    snap->bess[0].is_ours);
	}
	assert_true(near(snap->meters[0].power_kw, expected(&manual[PSUM_ROW])));

	/* flux status --json: each point's value and unit, as the operator sees them. */
	assert_true(st_format_json(cfg, snap, clk_now_ns(), text, ST_RSP_MAX) > 0);
	assert_true(th_json_is_valid(text));
	for (unsigned k = 0; k < N_MANUAL; k++) {
		const struct manual_row *m = &manual[k];
		char unit[PROF_UNIT_MAX];
		double v = NAN;

		if (!json_point(text, m->name, &v, unit, sizeof(unit)))
			fail_msg("%s: no {name, value, unit} in flux status --json:\n%s", m->name,
				 text);
		if (!near(v, expected(m)) || strcmp(unit, m->unit))
			fail_msg("%s: flux status --json shows %.9g '%s', want %.9g '%s'", m->name,
				 v, unit, expected(m), m->unit);
	}
	/* And the text view: a line per point with its unit. */
	assert_true(st_format_text(cfg, snap, clk_now_ns(), text, ST_RSP_MAX) > 0);
	for (unsigned k = 0; k < N_MANUAL; k++) {
		const char *line = word_at(text, manual[k].name), *nl;
		char *end;
		double v;

		assert_non_null(line);
		nl = strchr(line, '\n');
		v = strtod(line + strlen(manual[k].name), &end);
		while (*end == ' ')
			end++;
		if (!near(v, expected(&manual[k])) ||
		    strncmp(end, manual[k].unit, strlen(manual[k].unit)))
			fail_msg("%s: flux status line '%.*s'", manual[k].name,
				 (int)(nl ? nl - line : 80), line);
	}

	ctl_close(ctl);
	cfg_free(cfg);
	sim_stop(sim);
	pthread_join(sim_thread, NULL);
	sim_free(sim);
	free(yaml);
	free(text);
	free(snap);
	free(cfg);
}

/* ---- flux read --profile ------------------------------------------------------------- */

/*
 * `flux read --profile FILE` against the same server: a line per point, "NAME VALUE UNIT
 * FC03 ADDR (0xADDR)", each value the table's.
 */
static void test_flux_read_profile_prints_the_manual_layout(void **state)
{
	struct lmb *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	char port[8], want[128];

	assert_non_null(r);
	snprintf(port, sizeof(port), "%u", s->port);
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "--profile", PROFILE_REL, "-p", port,
				     "-o", "2s", "127.0.0.1", NULL),
			 0);
	snprintf(want, sizeof(want), "unit %d: profile acuvim2-manual, %zu points in 2 read(s)",
		 UNIT, N_MANUAL);
	th_tool_has(r, want);
	for (unsigned k = 0; k < N_MANUAL; k++) {
		const struct manual_row *m = &manual[k];
		size_t len = strlen(m->name);
		const char *l;
		char *end;
		unsigned fc, addr, hex;
		double v;

		l = word_at(r->out, m->name);
		if (!l || (l != r->out && l[-1] != '\n'))
			fail_msg("%s: no line in flux read's output:\n%s", m->name, r->out);
		v = strtod(l + len, &end);
		while (*end == ' ')
			end++;
		if (*m->unit) {
			if (strncmp(end, m->unit, strlen(m->unit)) || end[strlen(m->unit)] != ' ')
				fail_msg("%s: want unit '%s' in '%.60s'", m->name, m->unit, l);
			end += strlen(m->unit);
		}
		if (!near(v, expected(m)) ||
		    sscanf(end, " FC%u %u (0x%X)", &fc, &addr, &hex) != 3 || fc != 3 ||
		    addr != m->addr || hex != m->addr)
			fail_msg("%s: want %.9g %s at FC03 %u, got '%.70s'", m->name, expected(m),
				 m->unit, m->addr, l);
	}
	assert_true(atomic_load(&s->served) >= 2);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_site_with_profile_file_decodes_the_manual_layout, lmb_setup, lmb_teardown),
		cmocka_unit_test_setup_teardown(test_flux_read_profile_prints_the_manual_layout,
						lmb_setup, lmb_teardown),
	};

	return cmocka_run_group_tests_name("profile_manual", tests, NULL, NULL);
}
