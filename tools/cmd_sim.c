// SPDX-License-Identifier: MIT
/*
 * `flux sim`: serve simulated devices on loopback. Each device is a type word followed by its
 * options, and several may follow one another, so one process can serve a site whose meter
 * sees its batteries: `flux sim powerpack --port 1502 acuvim2 --port 1503`. `--profile NAME|FILE`
 * starts a device made from any device profile (devices/profile.h) the same way. Or
 * `--config FILE` serves every device of a Flux site config (control/config.h) on its
 * host:port and unit. Modbus RTU too: `--serial pty` (a new pty, its slave path printed as
 * "serial: PATH") or `--serial /dev/ttyUSB0` with the line's settings, `--framing rtu` for RTU
 * ADUs on the TCP port; a config's serial device is served on a new pty linked at its path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/config.h"
#include "devices/sim.h"
#include "io/serial.h"
#include "rt/clock.h"
#include "tools/tool.h"
#include "tools/tools.h"

#define EXIT_USAGE		 2
#define SIM_CLI_HEARTBEAT_MS_MAX 600000 /* --heartbeat-timeout: up to 10 min */

static struct sim *running; /* for the signal handler */
static volatile sig_atomic_t got_signal;

struct cli_dev {
	const char *type;   /* "powerpack", "acuvim2", or "profile" (--profile) */
	const char *cfg_id; /* the device's id in --config, else NULL */
	struct sim_endpoint ep;
	struct ser_line line; /* --baud ...: ep.line points here for a tty */
	bool has_port;
	bool has_line;			/* a line setting was given */
	bool is_rtu_tcp;		/* --framing rtu */
	char serial_path[SER_PATH_MAX]; /* a serial device's line: what a client opens */
	bool has_time_scale;
	bool has_heartbeat_timeout;
	bool has_cmd_source_default;
	struct sim_pp_params pp;
	struct sim_acu_params acu;
	const char *load_spec;
	const char *freq_spec; /* acuvim2 --frequency */
	struct sim_fault fault;
	double fault_after_s;	/* < 0: never */
	double restart_after_s; /* < 0: never */
	/* --profile: the loaded profile, its parameters and CSV (the sim borrows all three) */
	struct prof_profile *prof;
	struct sim_prof_params prm;
	const char *csv_path;
	struct sim_prof_csv csv;
	int id;
};

struct cli {
	struct cli_dev dev[SIM_MAX_DEVICES];
	unsigned n_dev;
	double duration_s;
	double time_scale; /* given before any device: the default of every device */
	bool has_time_scale;
	/* given before any device: the default of every powerpack (--config's too) */
	unsigned heartbeat_timeout_ms;
	bool has_heartbeat_timeout;
	uint16_t cmd_source_default;
	bool has_cmd_source_default;
	const char *config_path;
	struct cfg cfg; /* --config: the devices' host, port, unit and parameters point here */
};

enum opt {
	OPT_HOST = 256,
	OPT_PORT,
	OPT_UNIT,
	OPT_TIME_SCALE,
	OPT_DURATION,
	OPT_CONFIG,
	OPT_SILENCE,
	OPT_DELAY,
	OPT_DISCONNECT,
	OPT_DRIP,
	OPT_GARBAGE,
	OPT_WRONG_TID,
	OPT_WRONG_UNIT,
	OPT_EXCEPTION,
	OPT_REFUSE,
	OPT_BAD_CRC,
	OPT_NOISE_IN,
	OPT_SERIAL,
	OPT_LINK,
	OPT_FRAMING,
	OPT_BAUD,
	OPT_PARITY,
	OPT_DATA_BITS,
	OPT_STOP_BITS,
	/* powerpack */
	OPT_SOE,
	OPT_CAPACITY,
	OPT_POWER,
	OPT_BLOCK_KW,
	OPT_BLOCKS,
	OPT_RESPONSE,
	OPT_RESPONSE_TAU,
	OPT_STARTUP,
	OPT_STATUS_READY,
	OPT_CMD_SOURCE,
	OPT_SOE_SCALE,
	OPT_HEARTBEAT_TIMEOUT,
	OPT_CMD_SOURCE_DEFAULT,
	OPT_RESTART_AFTER,
	OPT_FAULT_AFTER, /* the last powerpack option */
	/* acuvim2 */
	OPT_LOAD_KW,
	OPT_LOAD,
	OPT_WORD_ORDER,
	OPT_FREQUENCY,
	OPT_PF,
	/* --profile (which also takes --capacity-kwh, --startup-ms, --load-kw, --word-order) */
	OPT_PROFILE,
	OPT_SET,
	OPT_CSV,
	OPT_STRICT_HOLES,
};

static const struct option options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "unit", required_argument, NULL, OPT_UNIT },
	{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "silence", no_argument, NULL, OPT_SILENCE },
	{ "delay-ms", required_argument, NULL, OPT_DELAY },
	{ "disconnect", no_argument, NULL, OPT_DISCONNECT },
	{ "drip", no_argument, NULL, OPT_DRIP },
	{ "garbage", no_argument, NULL, OPT_GARBAGE },
	{ "wrong-tid", no_argument, NULL, OPT_WRONG_TID },
	{ "wrong-unit", no_argument, NULL, OPT_WRONG_UNIT },
	{ "exception", required_argument, NULL, OPT_EXCEPTION },
	{ "refuse", no_argument, NULL, OPT_REFUSE },
	{ "bad-crc", no_argument, NULL, OPT_BAD_CRC },
	{ "noise-in", no_argument, NULL, OPT_NOISE_IN },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "link", required_argument, NULL, OPT_LINK },
	{ "framing", required_argument, NULL, OPT_FRAMING },
	{ "baud", required_argument, NULL, OPT_BAUD },
	{ "parity", required_argument, NULL, OPT_PARITY },
	{ "data-bits", required_argument, NULL, OPT_DATA_BITS },
	{ "stop-bits", required_argument, NULL, OPT_STOP_BITS },
	{ "soe", required_argument, NULL, OPT_SOE },
	{ "capacity-kwh", required_argument, NULL, OPT_CAPACITY },
	{ "power-kw", required_argument, NULL, OPT_POWER },
	{ "block-kw", required_argument, NULL, OPT_BLOCK_KW },
	{ "blocks", required_argument, NULL, OPT_BLOCKS },
	{ "response-ms", required_argument, NULL, OPT_RESPONSE },
	{ "response-tau-ms", required_argument, NULL, OPT_RESPONSE_TAU },
	{ "startup-ms", required_argument, NULL, OPT_STARTUP },
	{ "status-ready", required_argument, NULL, OPT_STATUS_READY },
	{ "command-source-id", required_argument, NULL, OPT_CMD_SOURCE },
	{ "soe-scale", required_argument, NULL, OPT_SOE_SCALE },
	{ "heartbeat-timeout", required_argument, NULL, OPT_HEARTBEAT_TIMEOUT },
	{ "command-source-default", required_argument, NULL, OPT_CMD_SOURCE_DEFAULT },
	{ "restart-after", required_argument, NULL, OPT_RESTART_AFTER },
	{ "fault-after", required_argument, NULL, OPT_FAULT_AFTER },
	{ "load-kw", required_argument, NULL, OPT_LOAD_KW },
	{ "load", required_argument, NULL, OPT_LOAD },
	{ "frequency", required_argument, NULL, OPT_FREQUENCY },
	{ "word-order", required_argument, NULL, OPT_WORD_ORDER },
	{ "pf", required_argument, NULL, OPT_PF },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "set", required_argument, NULL, OPT_SET },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "strict-holes", no_argument, NULL, OPT_STRICT_HOLES },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("usage: flux sim [--duration S] [--time-scale X] DEVICE [options]...\n"
	      "       flux sim --config FILE [--duration S] [--time-scale X]\n"
	      "Serve simulated devices over Modbus TCP on loopback (127.0.0.0/8 only) until\n"
	      "SIGINT/SIGTERM or --duration S. DEVICE is powerpack, acuvim2 or --profile P;\n"
	      "devices given together run in one process, and each acuvim2's grid power is\n"
	      "its load minus the power the powerpacks deliver. Addresses are PDU addresses\n"
	      "(0-based).\n"
	      "\n"
	      "every device:\n"
	      "  --host H            loopback IPv4 address or localhost (default 127.0.0.1)\n"
	      "  --port P            TCP port (required); 0 picks a free one, printed at start;\n"
	      "                      devices given the same port share it (use distinct --unit)\n"
	      "  --unit U            Modbus unit id 0..255 (default 1)\n"
	      "  --time-scale X      simulated seconds per real second (default 1)\n"
	      "Modbus RTU (per device; units 1..247):\n"
	      "  --framing rtu       RTU frames (unit, PDU, CRC) on the TCP --port (a gateway's\n"
	      "                      framing: rtu); tcp is the default\n"
	      "  --serial pty        serve on a new pty instead of TCP; prints \"serial: PATH\",\n"
	      "                      the slave a client opens as it would /dev/ttyUSB0\n"
	      "  --serial TTY        serve on that tty, with --baud N (9600) --parity\n"
	      "                      none|even|odd (none) --data-bits 7|8 (8) --stop-bits 1|2 (1)\n"
	      "  --link PATH         with --serial pty: a symlink at PATH to the slave (an\n"
	      "                      existing symlink is replaced, nothing else), removed at exit\n"
	      "                      devices given the same --link, or the same TTY, share it\n"
	      "  On RTU a request to a unit nobody serves, with a bad CRC, or to unit 0\n"
	      "  (broadcast: every unit applies the write) gets no answer.\n"
	      "faults (per device):\n"
	      "  --silence --delay-ms MS --disconnect (mid-frame) --drip (1 byte at a time)\n"
	      "  --garbage --wrong-tid --wrong-unit --exception CODE --refuse (port closed)\n"
	      "  RTU: --garbage is noise before the reply, --wrong-unit another unit's reply\n"
	      "  (its CRC good), --disconnect on a serial line half a reply; and --bad-crc (a\n"
	      "  corrupted CRC), --noise-in (a noise byte inside the reply)\n"
	      "powerpack:\n"
	      "  --soe PCT (60) --capacity-kwh KWH (200, 100..500) --power-kw KW (100, 50..250)\n"
	      "  --block-kw KW (50) --blocks N (power/block) --response-ms MS (200, < 1000)\n"
	      "  --response-tau-ms MS (0: at once): after the response delay, power follows the\n"
	      "  setpoint as a first-order lag of this time constant (a stop is at once)\n"
	      "  --startup-ms MS (300: OFFLINE -> READY) --status-ready N (1)\n"
	      "  --command-source-id N (3) --soe-scale X (1) --fault-after S (status FAULT)\n"
	      "  --heartbeat-timeout MS (0: no watchdog) --command-source-default N (0: 2010 at\n"
	      "  power-up and after a restart) --restart-after S (a controller reboot)\n"
	      "  Target power (2008) is refused with exception 0x03 until 2010 holds the\n"
	      "  command source id, and when |kW| exceeds --power-kw.\n"
	      "  2012 is the watchdog register: any value written there is a heartbeat. With\n"
	      "  --heartbeat-timeout MS, MS without one (from the start on) and the BESS drops\n"
	      "  to 0 kW by itself (2008 := 0) until a new setpoint is written. A restart goes\n"
	      "  OFFLINE for --startup-ms, sets 2010 to --command-source-default and 2008 to 0,\n"
	      "  and closes every connection to the device's port.\n"
	      "acuvim2:\n"
	      "  --load-kw KW (150) or --load SPEC: KW | step:KW1:KW2:AT_S | daily:MEAN:AMPL |\n"
	      "  csv:FILE (seconds,kw) --word-order abcd|cdab|badc|dcba (abcd) --pf PF (0.98)\n"
	      "  --frequency SPEC: HZ (50) | step:HZ1:HZ2:AT_S | csv:FILE (seconds,hz), 40..70 Hz\n"
	      "--profile NAME|FILE: a device made from a profile, a shipped one (powerpack,\n"
	      "  acuvim2, acuvim2-manual) or a FILE.yaml: every point at its address, FC03/FC04\n"
	      "  reads within its poll blocks (holes read 0, elsewhere exception 0x02), FC06/FC16\n"
	      "  writes to rw points (0x02 for ro, 0x03 outside its limits). --unit and\n"
	      "  --word-order default to the profile's.\n"
	      "  --set NAME=VALUE    a point's value (a number or an enum name; repeatable);\n"
	      "                      unset: the middle of its range, else 0 (soe: 50)\n"
	      "  --csv FILE          header t,NAME,...; rows: seconds since start, then values,\n"
	      "                      each held from its t to the next row's\n"
	      "  --strict-holes      exception 0x02 for a read covering any register no point\n"
	      "                      holds (a device that refuses reads spanning holes)\n"
	      "  --startup-ms MS (300): then status reads its READY code; --capacity-kwh KWH\n"
	      "  (200): soe (%) integrates -active_power, which follows target_power;\n"
	      "  --load-kw KW: a meter's grid_power (constant; energy integrates it)\n"
	      "global:\n"
	      "  --duration S        stop after S seconds\n"
	      "  --time-scale X      before any DEVICE: the default of every device\n"
	      "  --heartbeat-timeout MS, --command-source-default N\n"
	      "                      before any DEVICE: the default of every powerpack\n"
	      "                      (--config's too)\n"
	      "  --config FILE       serve every device of a Flux site config on its modbus\n"
	      "                      host:port and address, with its power_kw, capacity_kwh,\n"
	      "                      block_kw, status_ready, command_source_id, soe_scale and\n"
	      "                      word_order; every host must be loopback. A serial device\n"
	      "                      (device: PATH) is served on a new pty with a symlink at\n"
	      "                      PATH (which must not exist, or be a symlink), framing: rtu\n"
	      "                      as RTU over TCP. No DEVICE with it. A bad config or host\n"
	      "                      exits 2.\n"
	      "examples: flux sim powerpack --port 1502 --unit 1 acuvim2 --port 1502 --unit 2\n"
	      "          flux sim --profile acuvim2-manual --port 1503 --set frequency_hz=49.9\n"
	      "          flux sim acuvim2 --serial pty --link /tmp/meter --unit 2\n"
	      "          flux sim --config deploy/site.yaml --time-scale 60\n",
	      f);
}

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
	if (running)
		sim_stop(running);
}

/* Parse a number in [lo, hi] for option `name`. Returns 0 or -EINVAL (after a message). */
static int num(const char *name, const char *arg, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (end == arg || *end || errno || !isfinite(*out) || *out < lo || *out > hi) {
		fprintf(stderr, "flux sim: --%s %s: want a number in %g..%g\n", name, arg, lo, hi);
		return -EINVAL;
	}
	return 0;
}

/* An integer in [lo, hi] for option `name`. Returns 0 or -EINVAL (after a message). */
static int inum(const char *name, const char *arg, double lo, double hi, double *out)
{
	int err = num(name, arg, lo, hi, out);

	if (!err && *out != floor(*out)) {
		fprintf(stderr, "flux sim: --%s %s: want a whole number\n", name, arg);
		return -EINVAL;
	}
	return err;
}

static const char *opt_name(int c)
{
	for (const struct option *o = options; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* A duration option in whole ms, rounded up (a bare number is ms), 0..max_ms. Returns 0 or
 * -EINVAL. */
static int dur_ms(const char *name, const char *arg, unsigned max_ms, unsigned *out)
{
	char opt[40];
	int64_t ns;

	snprintf(opt, sizeof(opt), "--%s", name);
	if (tool_parse_duration("sim", opt, arg, CLK_NS_PER_MS, 0, max_ms * CLK_NS_PER_MS, &ns))
		return -EINVAL;
	/* Up to the next ms: a short timeout must not become 0, which turns the watchdog off. */
	*out = (unsigned)((ns + CLK_NS_PER_MS - 1) / CLK_NS_PER_MS);
	return 0;
}

/* A duration option in seconds (a bare number is seconds), 0..1e9 s. Returns 0 or -EINVAL. */
static int dur_s(const char *name, const char *arg, double *out)
{
	char opt[40];
	int64_t ns;

	snprintf(opt, sizeof(opt), "--%s", name);
	if (tool_parse_duration("sim", opt, arg, CLK_NS_PER_SEC, 0, 1000000000 * CLK_NS_PER_SEC,
				&ns))
		return -EINVAL;
	*out = (double)ns / (double)CLK_NS_PER_SEC;
	return 0;
}

/* Whether device option c applies to d's type. */
/* A --frequency the meter can show: constant, a step or a CSV, every value 40..70 Hz. */
static bool is_hz_spec(const struct sim_load *f)
{
	bool is_ok = f->kind == SIM_LOAD_CSV ? f->n > 0 : f->kw >= 40 && f->kw <= 70;

	if (f->kind == SIM_LOAD_STEP)
		is_ok &= f->kw2 >= 40 && f->kw2 <= 70;
	for (unsigned i = 0; f->kind == SIM_LOAD_CSV && i < f->n; i++)
		is_ok &= f->csv_kw[i] >= 40 && f->csv_kw[i] <= 70;
	return is_ok && f->kind != SIM_LOAD_DAILY;
}

static bool opt_applies(const struct cli_dev *d, int c)
{
	if (c < OPT_SOE)
		return true; /* every device's */
	if (strcmp(d->type, "powerpack") == 0)
		return c <= OPT_FAULT_AFTER;
	if (strcmp(d->type, "acuvim2") == 0)
		return c >= OPT_LOAD_KW && c <= OPT_PF;
	return c == OPT_CAPACITY || c == OPT_STARTUP || c == OPT_LOAD_KW || c == OPT_WORD_ORDER ||
	       c >= OPT_SET;
}

/* Store value v of point idx for d's profile, checked against its register. Returns 0 or
 * -EINVAL (after a message naming what). */
static int set_point(struct cli_dev *d, const char *what, unsigned idx, double v)
{
	uint16_t regs[2];

	if (prof_encode(d->prof, idx, d->prof->default_order, v, regs) < 0) {
		fprintf(stderr, "flux sim: %s: %g does not fit %s's %s register(s)\n", what, v,
			d->prof->points[idx].name,
			prof_type_width(d->prof->points[idx].type) == 1 ? "16-bit" : "32-bit");
		return -EINVAL;
	}
	d->prm.value[idx] = v;
	d->prm.has_value[idx] = true;
	return 0;
}

/* --set NAME=VALUE for d's profile. Returns 0 or -EINVAL (after a message). */
static int set_opt(struct cli_dev *d, const char *arg)
{
	const struct prof_profile *p = d->prof;
	const char *eq = strchr(arg, '=');
	char name[PROF_NAME_MAX], what[PROF_NAME_MAX + 80];
	int idx, err;
	double v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
		fprintf(stderr, "flux sim: --set %s: want NAME=VALUE, NAME a point of %s\n", arg,
			p->name);
		return -EINVAL;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	idx = prof_point_index(p, name);
	if (idx < 0) {
		fprintf(stderr, "flux sim: --set %s: profile %s has no point '%s'\n", arg, p->name,
			name);
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "--set %s", arg);
	err = sim_prof_parse_value(p, (unsigned)idx, eq + 1, &v);
	if (err == -EINVAL) {
		const struct prof_point *pt = &p->points[idx];

		fprintf(stderr, "flux sim: %s: want a number", what);
		for (unsigned i = 0; i < pt->n_enums; i++)
			fprintf(stderr, "%s%s", i ? ", " : " or a name of its codes (",
				pt->enums[i].name);
		fputs(pt->n_enums ? ")\n" : "\n", stderr);
		return -EINVAL;
	}
	return set_point(d, what, (unsigned)idx, v);
}

/* --load-kw for a profile: the value of its grid_power point. */
static int prof_load_kw(struct cli_dev *d, const char *arg)
{
	int idx = prof_role_point(d->prof, PROF_ROLE_GRID_POWER);
	double v;

	if (idx < 0) {
		fprintf(stderr, "flux sim: --load-kw: profile %s has no grid_power point\n",
			d->prof->name);
		return -EINVAL;
	}
	if (num("load-kw", arg, -1e9, 1e9, &v))
		return -EINVAL;
	return set_point(d, "--load-kw", (unsigned)idx, v);
}

/* --csv FILE for d's profile. Returns 0 or -EINVAL (after a message). */
static int csv_opt(struct cli_dev *d, const char *arg)
{
	char msg[512];

	if (d->csv_path) {
		fprintf(stderr, "flux sim: --csv given twice for profile %s\n", d->prof->name);
		return -EINVAL;
	}
	if (sim_prof_csv_load(arg, d->prof, &d->csv, msg, sizeof(msg))) {
		fprintf(stderr, "flux sim: --csv: %s\n", msg);
		return -EINVAL;
	}
	d->csv_path = arg;
	d->prm.csv = &d->csv;
	return 0;
}

/* Apply one device option to d. Returns 0 or -EINVAL (after a message). */
static int dev_opt(struct cli_dev *d, int c, const char *arg)
{
	bool is_prof = d->prof != NULL;
	const char *name = opt_name(c);
	double v = 0;
	int err = 0;

	if (!opt_applies(d, c)) {
		fprintf(stderr, "flux sim: --%s does not apply to %s\n", name, d->type);
		return -EINVAL;
	}
	switch (c) {
	case OPT_HOST:
		d->ep.host = arg;
		break;
	case OPT_PORT:
		err = inum(name, arg, 0, 65535, &v);
		d->ep.port = (uint16_t)v;
		d->has_port = true;
		break;
	case OPT_UNIT:
		err = inum(name, arg, 0, 255, &v);
		d->ep.unit = (uint8_t)v;
		break;
	case OPT_TIME_SCALE:
		err = num(name, arg, 1e-3, 1e6, &v);
		d->pp.time_scale = d->acu.time_scale = d->prm.time_scale = v;
		d->has_time_scale = true;
		break;
	case OPT_SILENCE:
		d->fault.flags |= SIM_F_SILENCE;
		break;
	case OPT_DELAY:
		err = inum(name, arg, 0, 600000, &v);
		d->fault.flags |= SIM_F_DELAY;
		d->fault.delay_ms = (unsigned)v;
		break;
	case OPT_DISCONNECT:
		d->fault.flags |= SIM_F_DISCONNECT;
		break;
	case OPT_DRIP:
		d->fault.flags |= SIM_F_DRIP;
		break;
	case OPT_GARBAGE:
		d->fault.flags |= SIM_F_GARBAGE;
		break;
	case OPT_WRONG_TID:
		d->fault.flags |= SIM_F_WRONG_TID;
		break;
	case OPT_WRONG_UNIT:
		d->fault.flags |= SIM_F_WRONG_UNIT;
		break;
	case OPT_EXCEPTION:
		err = inum(name, arg, 1, 255, &v);
		d->fault.flags |= SIM_F_EXCEPTION;
		d->fault.exception = (uint8_t)v;
		break;
	case OPT_REFUSE:
		d->fault.flags |= SIM_F_REFUSE;
		break;
	case OPT_BAD_CRC:
		d->fault.flags |= SIM_F_BAD_CRC;
		break;
	case OPT_NOISE_IN:
		d->fault.flags |= SIM_F_NOISE_IN;
		break;
	case OPT_SERIAL:
		if (!*arg || strlen(arg) >= SER_PATH_MAX) {
			fprintf(stderr,
				"flux sim: --serial '%s': want pty or a tty path (< %d bytes)\n",
				arg, SER_PATH_MAX);
			return -EINVAL;
		}
		d->ep.framing = SIM_FRAMING_SERIAL;
		d->ep.serial = arg;
		break;
	case OPT_LINK:
		if (!*arg || strlen(arg) >= SER_PATH_MAX) {
			fprintf(stderr, "flux sim: --link '%s': want a path (< %d bytes)\n", arg,
				SER_PATH_MAX);
			return -EINVAL;
		}
		d->ep.link = arg;
		break;
	case OPT_FRAMING:
		if (strcmp(arg, "rtu") != 0 && strcmp(arg, "tcp") != 0) {
			fprintf(stderr, "flux sim: --framing %s: want tcp or rtu\n", arg);
			return -EINVAL;
		}
		d->is_rtu_tcp = strcmp(arg, "rtu") == 0;
		break;
	case OPT_BAUD:
		err = inum(name, arg, 1, 4000000, &v);
		if (!err && !ser_baud_ok((uint32_t)v)) {
			fprintf(stderr,
				"flux sim: --baud %s: not a standard rate (1200..115200, "
				"230400..4000000)\n",
				arg);
			return -EINVAL;
		}
		d->line.baud = (uint32_t)v;
		d->has_line = true;
		break;
	case OPT_PARITY:
		err = ser_parity_parse(arg);
		if (err < 0) {
			fprintf(stderr, "flux sim: --parity %s: want none, even or odd\n", arg);
			return -EINVAL;
		}
		d->line.parity = (enum ser_parity)err;
		d->has_line = true;
		err = 0;
		break;
	case OPT_DATA_BITS:
		err = inum(name, arg, 7, 8, &v);
		d->line.data_bits = (uint8_t)v;
		d->has_line = true;
		break;
	case OPT_STOP_BITS:
		err = inum(name, arg, 1, 2, &v);
		d->line.stop_bits = (uint8_t)v;
		d->has_line = true;
		break;
	case OPT_SOE:
		err = num(name, arg, 0, 100, &d->pp.soe_pct);
		break;
	case OPT_CAPACITY:
		if (is_prof)
			err = num(name, arg, 1e-3, 1e6, &d->prm.capacity_kwh);
		else
			err = num(name, arg, BESS_CAPACITY_KWH_MIN, BESS_CAPACITY_KWH_MAX,
				  &d->pp.pp.capacity_kwh);
		break;
	case OPT_POWER:
		err = num(name, arg, BESS_POWER_KW_MIN, BESS_POWER_KW_MAX, &d->pp.pp.power_kw);
		break;
	case OPT_BLOCK_KW:
		err = num(name, arg, BESS_BLOCK_KW_MIN, BESS_POWER_KW_MAX, &d->pp.pp.block_kw);
		break;
	case OPT_BLOCKS:
		err = inum(name, arg, 0, 1000, &v);
		d->pp.blocks = (unsigned)v;
		break;
	case OPT_RESPONSE:
		err = inum(name, arg, 0, SIM_RESPONSE_MS_MAX, &v);
		d->pp.response_ms = (unsigned)v;
		break;
	case OPT_RESPONSE_TAU:
		err = inum(name, arg, 0, SIM_RESPONSE_MS_MAX, &v);
		d->pp.response_tau_ms = (unsigned)v;
		break;
	case OPT_STARTUP:
		err = inum(name, arg, 0, 600000, &v);
		d->pp.startup_ms = d->prm.startup_ms = (unsigned)v;
		break;
	case OPT_STATUS_READY:
		err = inum(name, arg, 0, 65535, &v);
		d->pp.pp.status_ready = (uint16_t)v;
		break;
	case OPT_CMD_SOURCE:
		err = inum(name, arg, 0, 65535, &v);
		d->pp.pp.command_source_id = (uint16_t)v;
		break;
	case OPT_SOE_SCALE:
		err = num(name, arg, 1e-3, 1000, &d->pp.pp.soe_scale);
		break;
	case OPT_HEARTBEAT_TIMEOUT:
		err = dur_ms(name, arg, SIM_CLI_HEARTBEAT_MS_MAX, &d->pp.heartbeat_timeout_ms);
		d->has_heartbeat_timeout = true;
		break;
	case OPT_CMD_SOURCE_DEFAULT:
		err = inum(name, arg, 0, 65535, &v);
		d->pp.command_source_default = (uint16_t)v;
		d->has_cmd_source_default = true;
		break;
	case OPT_RESTART_AFTER:
		err = dur_s(name, arg, &d->restart_after_s);
		break;
	case OPT_FAULT_AFTER:
		err = dur_s(name, arg, &d->fault_after_s);
		break;
	case OPT_LOAD_KW: /* acuvim2: fall through, a number is a constant load spec */
		if (is_prof)
			return prof_load_kw(d, arg);
		/* fall through */
	case OPT_LOAD:
		d->load_spec = arg;
		break;
	case OPT_FREQUENCY:
		d->freq_spec = arg;
		break;
	case OPT_WORD_ORDER:
		err = mb_order_parse(arg);
		if (err < 0) {
			fprintf(stderr,
				"flux sim: --word-order %s: want abcd, cdab, badc or dcba\n", arg);
			return -EINVAL;
		}
		d->acu.order = d->prm.order = (enum mb_order)err;
		d->prm.has_order = true;
		err = 0;
		break;
	case OPT_PF:
		err = num(name, arg, 0.01, 1, &d->acu.pf);
		break;
	case OPT_SET:
		return set_opt(d, arg);
	case OPT_CSV:
		return csv_opt(d, arg);
	case OPT_STRICT_HOLES:
		d->prm.is_strict_holes = true;
		break;
	default:
		return -EINVAL;
	}
	return err;
}

static struct cli_dev *new_dev(struct cli *cli, const char *type)
{
	struct cli_dev *d;

	if (strcmp(type, "powerpack") != 0 && strcmp(type, "acuvim2") != 0 &&
	    strcmp(type, "profile") != 0) {
		fprintf(stderr,
			"flux sim: unknown device type '%s' (powerpack, acuvim2, or --profile "
			"NAME|FILE)\n",
			type);
		return NULL;
	}
	if (cli->n_dev == SIM_MAX_DEVICES) {
		fprintf(stderr, "flux sim: at most %d devices\n", SIM_MAX_DEVICES);
		return NULL;
	}
	d = &cli->dev[cli->n_dev++];
	*d = (struct cli_dev){ .type = type,
			       .ep = { .host = "127.0.0.1", .unit = 1 },
			       .line = { .baud = SER_BAUD_DEFAULT, .data_bits = 8, .stop_bits = 1 },
			       .pp = SIM_PP_DEFAULTS,
			       .acu = SIM_ACU_DEFAULTS,
			       .prm = SIM_PROF_DEFAULTS,
			       .fault_after_s = -1,
			       .restart_after_s = -1 };
	return d;
}

/* --profile NAME|FILE: a new device of that profile, on its default unit. */
static struct cli_dev *new_prof_dev(struct cli *cli, const char *arg)
{
	struct prof_profile *p = tool_load_profile("sim", arg);
	struct cli_dev *d;

	if (!p)
		return NULL;
	d = new_dev(cli, "profile");
	if (!d) {
		prof_free(p);
		return NULL;
	}
	d->prof = p;
	if (p->unit_id)
		d->ep.unit = p->unit_id;
	return d;
}

/* Give back what the devices' --profile and --csv loaded. */
static void free_devs(struct cli *cli)
{
	for (unsigned i = 0; i < cli->n_dev; i++) {
		sim_prof_csv_exit(&cli->dev[i].csv);
		prof_free(cli->dev[i].prof);
		cli->dev[i].prof = NULL;
	}
}

/* A config device's host must be loopback: say which device, by path and id, if it is not. */
static int check_cfg_host(const char *what, unsigned i, const char *id, const char *host)
{
	int err = sim_check_host(host);

	if (err)
		fprintf(stderr,
			"flux sim: devices.%s[%u] '%s': host %s is not a loopback address; "
			"flux sim serves 127.0.0.0/8 only (point a copy of the config at "
			"127.0.0.1)\n",
			what, i, id, host);
	return err;
}

/*
 * A config device's endpoint: host:port (TCP, or RTU frames with framing: rtu), or for a
 * serial device a new pty with a symlink at its `device` path, so that the config fluxd reads
 * reaches the simulator.
 */
static void cfg_endpoint(struct cli_dev *d, const struct cfg_modbus *m)
{
	d->ep = (struct sim_endpoint){ .host = m->host, .port = m->port, .unit = m->address };
	if (m->framing == CFG_FRAMING_SERIAL) {
		d->ep.framing = SIM_FRAMING_SERIAL;
		d->ep.serial = SIM_SERIAL_PTY;
		d->ep.link = m->device;
		d->line = m->line;
		return;
	}
	d->has_port = true;
	d->is_rtu_tcp = m->framing == CFG_FRAMING_RTU;
}

/* Load --config and turn each of its devices into a cli_dev. Returns 0 or -EINVAL. */
static int config_devices(struct cli *cli)
{
	const struct cfg *cfg = &cli->cfg;
	char msg[CFG_ERR_MAX];
	struct cli_dev *d;

	if (cfg_load(&cli->cfg, cli->config_path, msg, sizeof(msg))) {
		fprintf(stderr, "flux sim: %s\n", msg);
		return -EINVAL;
	}
	if (cfg->nbess + cfg->nmeters > SIM_MAX_DEVICES) {
		fprintf(stderr, "flux sim: %s has %u devices; one flux sim serves at most %d\n",
			cli->config_path, cfg->nbess + cfg->nmeters, SIM_MAX_DEVICES);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nbess; i++) {
		const struct cfg_bess *b = &cfg->bess[i];

		if (b->modbus.framing != CFG_FRAMING_SERIAL &&
		    check_cfg_host("bess", i, b->id, b->modbus.host))
			return -EINVAL;
		d = new_dev(cli, "powerpack");
		if (!d)
			return -EINVAL;
		d->cfg_id = b->id;
		cfg_endpoint(d, &b->modbus);
		d->pp.pp =
		    (struct pp_params){ .power_kw = b->power_kw,
					.capacity_kwh = b->capacity_kwh,
					.block_kw = b->block_kw,
					.soe_scale = b->soe_scale,
					.status_ready = (uint16_t)b->status_ready,
					.command_source_id = (uint16_t)b->command_source_id };
	}
	for (unsigned i = 0; i < cfg->nmeters; i++) {
		const struct cfg_meter *m = &cfg->meters[i];

		if (m->modbus.framing != CFG_FRAMING_SERIAL &&
		    check_cfg_host("meters", i, m->id, m->modbus.host))
			return -EINVAL;
		d = new_dev(cli, "acuvim2");
		if (!d)
			return -EINVAL;
		d->cfg_id = m->id;
		cfg_endpoint(d, &m->modbus);
		d->acu.order = m->word_order;
	}
	return 0;
}

/* A device's name in messages: its config id, or its type (and profile). */
static void dev_label(const struct cli_dev *d, char *buf, size_t cap)
{
	if (d->cfg_id)
		snprintf(buf, cap, "%s", d->cfg_id);
	else
		snprintf(buf, cap, "%s%s%s", d->type, d->prof ? " " : "",
			 d->prof ? d->prof->name : "");
}

/* The transport options of d together: a serial line or a TCP port, RTU's units. Sets the
 * endpoint's framing and line. Returns 0 or -EINVAL (after a message). */
static int check_transport(struct cli_dev *d)
{
	bool is_serial = d->ep.framing == SIM_FRAMING_SERIAL;
	const char *why = NULL;
	char label[PROF_NAME_MAX + 32];

	if (is_serial && d->is_rtu_tcp)
		why = "--framing rtu is RTU over a TCP port; --serial is RTU already";
	else if (is_serial && d->has_port)
		why = "--port and --serial: a device is on a TCP port or a serial line, not both";
	else if (is_serial && d->ep.link && strcmp(d->ep.serial, SIM_SERIAL_PTY) != 0)
		why = "--link is for --serial pty (a tty is opened by its own path)";
	else if (!is_serial && d->ep.link)
		why = "--link needs --serial pty";
	else if (!is_serial && d->has_line)
		why = "--baud, --parity, --data-bits and --stop-bits need --serial";
	else if ((is_serial || d->is_rtu_tcp) &&
		 (d->ep.unit == MB_UNIT_BROADCAST || d->ep.unit > MB_RTU_UNIT_MAX))
		why = "RTU units are 1..247 (0 is the broadcast, 248..255 are reserved): "
		      "give --unit";
	if (why) {
		dev_label(d, label, sizeof(label));
		fprintf(stderr, "flux sim: %s unit %u: %s\n", label, d->ep.unit, why);
		return -EINVAL;
	}
	if (is_serial)
		d->ep.line = &d->line;
	else if (d->is_rtu_tcp)
		d->ep.framing = SIM_FRAMING_RTU_TCP;
	return 0;
}

/* Parse argv (argv[0] = "sim"). Returns 0, 1 when help was printed, or -EINVAL. */
static int parse(struct cli *cli, int argc, char **argv)
{
	struct cli_dev *d = NULL;
	double v;
	int c;

	for (;;) {
		optind = 0; /* glibc: full re-initialisation for each device's arguments */
		opterr = 0;
		while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
			if (c == 'h') {
				usage(stdout);
				return 1;
			}
			if (c == OPT_CONFIG) {
				if (cli->config_path) {
					fprintf(stderr, "flux sim: --config given twice\n");
					return -EINVAL;
				}
				cli->config_path = optarg;
				continue;
			}
			if (c == OPT_PROFILE) {
				d = new_prof_dev(cli, optarg);
				if (!d)
					return -EINVAL;
				continue;
			}
			if (c == OPT_TIME_SCALE && !d) {
				if (num("time-scale", optarg, 1e-3, 1e6, &cli->time_scale))
					return -EINVAL;
				cli->has_time_scale = true;
				continue;
			}
			if (c == OPT_HEARTBEAT_TIMEOUT && !d) {
				if (dur_ms("heartbeat-timeout", optarg, SIM_CLI_HEARTBEAT_MS_MAX,
					   &cli->heartbeat_timeout_ms))
					return -EINVAL;
				cli->has_heartbeat_timeout = true;
				continue;
			}
			if (c == OPT_CMD_SOURCE_DEFAULT && !d) {
				if (inum("command-source-default", optarg, 0, 65535, &v))
					return -EINVAL;
				cli->cmd_source_default = (uint16_t)v;
				cli->has_cmd_source_default = true;
				continue;
			}
			if (c == OPT_DURATION) {
				if (dur_s("duration", optarg, &cli->duration_s) ||
				    cli->duration_s <= 0)
					return -EINVAL;
				continue;
			}
			if (c == '?' || c == ':') {
				fprintf(stderr,
					"flux sim: bad option or missing value near '%s' "
					"(flux sim --help)\n",
					argv[optind - 1]);
				return -EINVAL;
			}
			if (!d) {
				fprintf(stderr, "flux sim: --%s must follow a device type\n",
					opt_name(c));
				return -EINVAL;
			}
			if (dev_opt(d, c, optarg))
				return -EINVAL;
		}
		if (optind >= argc)
			break;
		d = new_dev(cli, argv[optind]);
		if (!d)
			return -EINVAL;
		argv += optind;
		argc -= optind;
	}
	if (cli->config_path) {
		if (cli->n_dev) {
			fprintf(stderr, "flux sim: --config serves the config's devices; give no "
					"device type with it\n");
			return -EINVAL;
		}
		if (config_devices(cli))
			return -EINVAL;
	}
	for (unsigned i = 0; cli->has_time_scale && i < cli->n_dev; i++) {
		d = &cli->dev[i];
		if (!d->has_time_scale)
			d->pp.time_scale = d->acu.time_scale = d->prm.time_scale = cli->time_scale;
	}
	for (unsigned i = 0; i < cli->n_dev; i++) {
		d = &cli->dev[i];
		if (cli->has_heartbeat_timeout && !d->has_heartbeat_timeout)
			d->pp.heartbeat_timeout_ms = cli->heartbeat_timeout_ms;
		if (cli->has_cmd_source_default && !d->has_cmd_source_default)
			d->pp.command_source_default = cli->cmd_source_default;
	}
	if (!cli->n_dev) {
		fprintf(stderr, "flux sim: no device given\n");
		return -EINVAL;
	}
	for (unsigned i = 0; i < cli->n_dev; i++) {
		d = &cli->dev[i];
		if (check_transport(d))
			return -EINVAL;
		if (d->ep.framing == SIM_FRAMING_SERIAL)
			continue;
		if (!d->has_port) {
			fprintf(stderr, "flux sim: %s%s%s needs --port (0 picks a free one)\n",
				d->type, d->prof ? " " : "", d->prof ? d->prof->name : "");
			return -EINVAL;
		}
		c = sim_check_host(d->ep.host);
		if (c) {
			fprintf(stderr,
				"flux sim: --host %s: %s; simulators serve loopback "
				"(127.0.0.0/8) only\n",
				d->ep.host,
				c == -EADDRNOTAVAIL ? "not a loopback address"
						    : "not an IPv4 address");
			return -EINVAL;
		}
	}
	return 0;
}

/* A profile device's particulars, after its "profile NAME unit U on HOST:PORT". */
static void print_prof(const struct cli_dev *d)
{
	const struct prof_profile *p = d->prof;
	enum mb_order order = d->prm.has_order ? d->prm.order : p->default_order;

	printf(" (%s, %u points in %u read(s), word order %s",
	       p->kind == PROF_KIND_METER  ? "meter"
	       : p->kind == PROF_KIND_BESS ? "bess"
					   : "device",
	       p->n_points, p->n_blocks, mb_order_name(order));
	if (prof_role_point(p, PROF_ROLE_SOE) >= 0)
		printf(", %g kWh", d->prm.capacity_kwh);
	if (d->csv_path)
		printf(", csv %s: %u row(s)", d->csv_path, d->csv.n_rows);
	if (d->prm.is_strict_holes)
		printf(", strict holes");
	putchar(')');
}

static void print_dev(const struct cli_dev *d, int port)
{
	bool is_pp = strcmp(d->type, "powerpack") == 0;
	const struct sim_fault *f = &d->fault;
	char label[PROF_NAME_MAX + 16];

	if (d->cfg_id)
		printf("flux sim: %s: ", d->cfg_id);
	else
		printf("flux sim: ");
	if (d->prof)
		snprintf(label, sizeof(label), "profile %s", d->prof->name);
	else
		snprintf(label, sizeof(label), "%s", d->type);
	if (d->ep.framing == SIM_FRAMING_SERIAL) {
		char set[48];

		ser_line_describe(set, sizeof(set), &d->line);
		printf("%s unit %u on serial %s (%s%s%s)", label, d->ep.unit, d->serial_path,
		       strcmp(d->ep.serial, SIM_SERIAL_PTY) == 0 ? "pty" : set,
		       d->ep.link ? ", link " : "", d->ep.link ? d->ep.link : "");
	} else if (d->ep.host && strcmp(d->ep.host, "localhost") != 0) {
		printf("%s unit %u on %s:%d", label, d->ep.unit, d->ep.host, port);
	} else {
		printf("%s unit %u on 127.0.0.1:%d", label, d->ep.unit, port);
	}
	if (d->ep.framing == SIM_FRAMING_RTU_TCP)
		printf(" framing rtu");
	if (is_pp)
		printf(" (%g kWh, %g kW, SOE %g %%, response %u ms, command source %u)",
		       d->pp.pp.capacity_kwh, d->pp.pp.power_kw, d->pp.soe_pct, d->pp.response_ms,
		       d->pp.pp.command_source_id);
	if (is_pp && d->pp.response_tau_ms)
		printf(" ramp tau %u ms", d->pp.response_tau_ms);
	if (is_pp && d->pp.heartbeat_timeout_ms)
		printf(" heartbeat timeout %u ms", d->pp.heartbeat_timeout_ms);
	if (is_pp && d->pp.command_source_default)
		printf(" 2010 at power-up %u", d->pp.command_source_default);
	if (d->prof)
		print_prof(d);
	else if (!is_pp)
		printf(" (load %s kW, word order %s, pf %g)", d->load_spec ? d->load_spec : "150",
		       mb_order_name(d->acu.order), d->acu.pf);
	if (f->flags) {
		printf(" faults:%s%s%s%s%s%s%s%s%s%s%s", f->flags & SIM_F_SILENCE ? " silence" : "",
		       f->flags & SIM_F_DELAY ? " delay" : "",
		       f->flags & SIM_F_DISCONNECT ? " disconnect" : "",
		       f->flags & SIM_F_DRIP ? " drip" : "",
		       f->flags & SIM_F_GARBAGE ? " garbage" : "",
		       f->flags & SIM_F_WRONG_TID ? " wrong-tid" : "",
		       f->flags & SIM_F_WRONG_UNIT ? " wrong-unit" : "",
		       f->flags & SIM_F_EXCEPTION ? " exception" : "",
		       f->flags & SIM_F_REFUSE ? " refuse" : "",
		       f->flags & SIM_F_BAD_CRC ? " bad-crc" : "",
		       f->flags & SIM_F_NOISE_IN ? " noise-in" : "");
	}
	if (d->fault_after_s >= 0)
		printf(" FAULT after %g s", d->fault_after_s);
	if (d->restart_after_s >= 0)
		printf(" restart after %g s", d->restart_after_s);
	putchar('\n');
}

/* Say why d could not be added (err from sim_add_*()). Returns the exit code. */
static int add_failed(const struct cli_dev *d, int err)
{
	bool is_serial = d->ep.framing == SIM_FRAMING_SERIAL;
	char label[PROF_NAME_MAX + 32], where[SER_PATH_MAX + 32];

	dev_label(d, label, sizeof(label));
	if (is_serial)
		snprintf(where, sizeof(where), "serial %s", d->ep.link ? d->ep.link : d->ep.serial);
	else
		snprintf(where, sizeof(where), "%s:%u", d->ep.host, d->ep.port);
	if (err == -EINVAL) {
		fprintf(stderr, "flux sim: %s unit %u on %s: %s\n", label, d->ep.unit, where,
			is_serial ? "unit already served on that line"
				  : "unit already served on that port, or the port serves the "
				    "other framing (tcp, rtu)");
		return EXIT_USAGE;
	}
	if (err == -EEXIST) {
		fprintf(stderr,
			"flux sim: %s unit %u: %s exists and is not a symlink; flux sim links a "
			"new pty there and replaces only a symlink%s\n",
			label, d->ep.unit, d->ep.link,
			d->cfg_id ? " (point a copy of the config's device: at a free path, e.g. "
				    "/tmp/flux-meter)"
				  : "");
		return EXIT_USAGE;
	}
	fprintf(stderr, "flux sim: %s unit %u on %s: %s\n", label, d->ep.unit, where,
		ser_strerror(err));
	/* the system said no (in use, no such device, no permission): 1; what was asked: 2 */
	if (err == -EADDRINUSE || (is_serial && err > -SER_ERR_BASE))
		return 1;
	return EXIT_USAGE;
}

/* After d was added: its line's path, printed as "serial: PATH" when the line is new. */
static void print_serial(struct cli *cli, struct sim *sim, struct cli_dev *d)
{
	if (d->ep.framing != SIM_FRAMING_SERIAL ||
	    sim_serial_path(sim, d->id, d->serial_path, sizeof(d->serial_path)))
		return;
	for (struct cli_dev *o = cli->dev; o < d; o++)
		if (strcmp(o->serial_path, d->serial_path) == 0)
			return;
	printf("serial: %s\n", d->serial_path);
}

static int add_devices(struct sim *sim, struct cli *cli)
{
	for (unsigned i = 0; i < cli->n_dev; i++) {
		struct cli_dev *d = &cli->dev[i];
		bool is_pp = strcmp(d->type, "powerpack") == 0;
		int err = 0, port;

		if (d->prof) {
			d->id = sim_add_profile(sim, &d->ep, d->prof, &d->prm);
			if (d->id < 0)
				return add_failed(d, d->id);
			if (d->fault.flags)
				sim_set_fault(sim, d->id, &d->fault);
			print_serial(cli, sim, d);
			print_dev(d, sim_port(sim, d->id));
			continue;
		}
		if (!is_pp && d->load_spec) {
			err = sim_load_parse(d->load_spec, &d->acu.load);
			if (err) {
				fprintf(stderr, "flux sim: load '%s': %s\n", d->load_spec,
					err == -EINVAL ? "want KW, step:KW1:KW2:AT_S, "
							 "daily:MEAN:AMPL or csv:FILE"
						       : strerror(-err));
				return EXIT_USAGE;
			}
		}
		if (!is_pp && d->freq_spec) {
			err = sim_load_parse(d->freq_spec, &d->acu.frequency);
			if (!err && !is_hz_spec(&d->acu.frequency))
				err = -EINVAL;
			if (err) {
				fprintf(stderr, "flux sim: --frequency '%s': %s\n", d->freq_spec,
					err == -EINVAL
					    ? "want HZ, step:HZ1:HZ2:AT_S or csv:FILE, 40..70 Hz"
					    : strerror(-err));
				sim_load_exit(&d->acu.load);
				sim_load_exit(&d->acu.frequency);
				return EXIT_USAGE;
			}
			d->acu.has_frequency = true;
		}
		d->id = is_pp ? sim_add_powerpack(sim, &d->ep, &d->pp)
			      : sim_add_acuvim2(sim, &d->ep, &d->acu);
		if (!is_pp) {
			sim_load_exit(&d->acu.load);
			sim_load_exit(&d->acu.frequency);
		}
		if (d->id < 0)
			return add_failed(d, d->id);
		if (d->fault.flags)
			sim_set_fault(sim, d->id, &d->fault);
		print_serial(cli, sim, d);
		port = sim_port(sim, d->id);
		print_dev(d, port);
	}
	return 0;
}

/* Run until stopped or the duration ends, injecting each --fault-after and --restart-after on
 * time. */
static int serve(struct sim *sim, struct cli *cli)
{
	double elapsed_s = 0;
	int err;

	for (;;) {
		double next_s = cli->duration_s > 0 ? cli->duration_s : INFINITY;
		int64_t slice_ns;

		for (unsigned i = 0; i < cli->n_dev; i++) {
			if (cli->dev[i].fault_after_s >= elapsed_s)
				next_s = fmin(next_s, cli->dev[i].fault_after_s);
			if (cli->dev[i].restart_after_s >= elapsed_s)
				next_s = fmin(next_s, cli->dev[i].restart_after_s);
		}
		slice_ns = isinf(next_s) ? 0 : (int64_t)((next_s - elapsed_s) * 1e9) + 1;
		err = sim_run(sim, slice_ns);
		if (err || got_signal || isinf(next_s) ||
		    (cli->duration_s > 0 && next_s >= cli->duration_s))
			return err;
		elapsed_s = next_s;
		for (unsigned i = 0; i < cli->n_dev; i++) {
			struct cli_dev *d = &cli->dev[i];

			if (d->fault_after_s >= 0 && d->fault_after_s <= elapsed_s) {
				sim_pp_set_status(sim, d->id, PP_STATUS_FAULT);
				printf("flux sim: %s unit %u: status FAULT\n", d->type, d->ep.unit);
				d->fault_after_s = -1;
			}
			if (d->restart_after_s >= 0 && d->restart_after_s <= elapsed_s) {
				sim_pp_restart(sim, d->id);
				printf("flux sim: %s unit %u: restart (2010 := %u, connections "
				       "closed)\n",
				       d->type, d->ep.unit, d->pp.command_source_default);
				d->restart_after_s = -1;
			}
		}
		fflush(stdout);
	}
}

int cmd_sim_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct cli *cli;
	struct sim *sim;
	int ret, err;

	cli = calloc(1, sizeof(*cli));
	if (!cli) {
		perror("flux sim");
		return 1;
	}
	ret = parse(cli, argc, argv);
	if (ret) {
		ret = ret > 0 ? 0 : EXIT_USAGE;
		goto out_cli;
	}
	sim = sim_new();
	if (!sim) {
		perror("flux sim");
		ret = 1;
		goto out_cli;
	}
	ret = add_devices(sim, cli);
	if (ret)
		goto out_sim;
	printf("flux sim: serving %u device(s)", cli->n_dev);
	if (cli->config_path)
		printf(" of %s", cli->config_path);
	if (cli->duration_s > 0)
		printf(" for %g s\n", cli->duration_s);
	else
		printf(" until SIGINT/SIGTERM\n");
	fflush(stdout);

	running = sim;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = serve(sim, cli);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	running = NULL;
	if (err) {
		fprintf(stderr, "flux sim: event loop: %s\n", strerror(-err));
		ret = 1;
	} else {
		printf("flux sim: stopped\n");
	}
out_sim:
	sim_free(sim);
out_cli:
	free_devs(cli);
	cfg_free(&cli->cfg); /* the profile: files it loaded (zeroed without --config: no-op) */
	free(cli);
	return ret;
}
