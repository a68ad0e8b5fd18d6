// SPDX-License-Identifier: MIT
/*
 * `flux status` both ways: fluxd's server side (a Unix socket polled once per telemetry tick)
 * and the client. The one idea: the server never waits and no client can hold it. Every socket
 * call is non-blocking, each connection is a slot with a deadline, a newcomer evicts the
 * oldest connection of the user holding the most slots, and the answer is formatted from a
 * snapshot copy; the socket lives only where no other user can put or replace a file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/policy.h"
#include "control/status.h"
#include "io/engine.h"
#include "rt/clock.h"
#include "rt/text.h"

static const char rsp_unknown[] = "error: unknown request\n";
static const char rsp_busy[] = "error: busy\n";
static const char rsp_too_large[] = "error: answer too large\n";

/* ---- formatting ------------------------------------------------------------------------ */

/* An append-only buffer; once something did not fit, is_full stays set. */
struct out {
	char *buf;
	size_t len, off;
	bool is_full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->is_full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->off) {
		o->is_full = true;
		return;
	}
	o->off += (size_t)n;
}

static int out_result(const struct out *o)
{
	return o->is_full ? -ENOSPC : (int)o->off;
}

/* An id for the text view: control bytes become '?', so each device stays on one line. */
static void put_id(struct out *o, const char *id, int width)
{
	char clean[CFG_ID_MAX];
	size_t i;

	for (i = 0; i < sizeof(clean) - 1 && id[i]; i++)
		clean[i] = (unsigned char)id[i] < 0x20 || id[i] == 0x7f ? '?' : id[i];
	clean[i] = '\0';
	put(o, "%-*s", width, clean);
}

/* A JSON string. Ids come from the YAML parser, which only yields valid UTF-8. */
static void put_json_str(struct out *o, const char *str)
{
	size_t need;

	if (o->is_full)
		return;
	need = txt_json_escape(o->buf + o->off, o->len - o->off, str);
	if (need >= o->len - o->off) {
		o->is_full = true;
		return;
	}
	o->off += need;
}

/* A JSON number: NaN and infinities have no JSON spelling. */
static void put_json_num(struct out *o, const char *key, double v)
{
	if (isfinite(v))
		put(o, "\"%s\":%.3f", key, v);
	else
		put(o, "\"%s\":null", key);
}

static const char *yes_no(bool b)
{
	return b ? "true" : "false";
}

/* Name of BESS i's status code in its profile's enum, or "unknown". */
static const char *status_name(const struct cfg *cfg, unsigned i, uint16_t code)
{
	const struct prof_profile *p = cfg->bess[i].profile;
	int k = p ? prof_role_point(p, PROF_ROLE_STATUS) : -ENOENT;
	const char *name = k >= 0 ? prof_enum_name(&p->points[k], code) : NULL;

	return name ? name : "unknown";
}

static double age_ms(const struct ctl_snapshot *s, int64_t now_ns)
{
	return s->cycles && now_ns >= s->t_ns ? clk_ns_to_ms(now_ns - s->t_ns) : NAN;
}

/* "stale,not_ready", or "none"; unknown bits as hex. */
static void put_reasons(struct out *o, unsigned reasons, bool is_json)
{
	bool is_first = true;

	if (is_json)
		put(o, "[");
	else if (!reasons)
		put(o, "none");
	for (unsigned i = 0; i < 32; i++) {
		const char *name;

		if (!(reasons & (1u << i)))
			continue;
		name = safety_reason_name(1u << i);
		if (!is_first)
			put(o, ",");
		if (name)
			put(o, is_json ? "\"%s\"" : "%s", name);
		else
			put(o, is_json ? "\"0x%x\"" : "0x%x", 1u << i);
		is_first = false;
	}
	if (is_json)
		put(o, "]");
}

/* Significant digits a point's value carries: a float32 has 7, the integers up to 10. */
static int point_digits(const struct prof_point *pt)
{
	return pt->type == PROF_F32 ? 7 : 10;
}

/* The enum name of a valid point's value, or NULL. */
static const char *point_text(const struct prof_point *pt, const struct ctl_points_snap *ps,
			      unsigned k)
{
	double v = ps->points[k];

	if (!pt->n_enums || !(ps->valid & (1u << k)) || !(v >= 0 && v <= 65535))
		return NULL;
	return prof_enum_name(pt, (uint16_t)v);
}

/* Every point of a device's profile, one indented line each: name, value, unit (or enum). */
static void put_points_text(struct out *o, const struct prof_profile *p,
			    const struct ctl_points_snap *ps)
{
	int w = 1;

	if (!p)
		return;
	for (unsigned k = 0; k < p->n_points && k < PROF_MAX_POINTS; k++) {
		int n = (int)strlen(p->points[k].name);

		w = n > w ? n : w;
	}
	for (unsigned k = 0; k < p->n_points && k < PROF_MAX_POINTS; k++) {
		const struct prof_point *pt = &p->points[k];
		const char *text = point_text(pt, ps, k);
		char unit[PROF_UNIT_MAX];
		size_t i;

		/* A unit is the profile's free text: control bytes become '?', as ids do. */
		for (i = 0; i + 1 < sizeof(unit) && pt->unit && pt->unit[i]; i++)
			unit[i] = (unsigned char)pt->unit[i] < 0x20 || pt->unit[i] == 0x7f
				      ? '?'
				      : pt->unit[i];
		unit[i] = '\0';
		put(o, "      %-*s ", w, pt->name);
		if (ps->valid & (1u << k))
			put(o, "%14.*g", point_digits(pt), ps->points[k]);
		else
			put(o, "%14s", "-");
		put(o, "%s%s", *unit ? " " : "", unit);
		if (text)
			put(o, "  (%s)", text);
		put(o, "\n");
	}
}

/* The point of a BESS's role, or NULL without one. */
static const struct prof_point *role_point(const struct cfg *cfg, unsigned i, enum prof_role r)
{
	const struct prof_profile *p = cfg->bess[i].profile;
	int k = p ? prof_role_point(p, r) : -ENOENT;

	return k >= 0 ? &p->points[k] : NULL;
}

/* The set bits of a word by name ("fan_fault,bit5"; JSON: ["fan_fault","bit5"]). */
static void put_bits(struct out *o, const struct prof_point *pt, uint32_t word, bool is_json)
{
	bool is_first = true;

	if (is_json)
		put(o, "[");
	for (unsigned b = 0; b < 32; b++) {
		const char *name = pt ? prof_bit_name(pt, b) : NULL;

		if (!(word & (1u << b)))
			continue;
		put(o, "%s%s", is_first ? "" : ",", is_json ? "\"" : "");
		if (name)
			put(o, "%s", name); /* a profile name: [A-Za-z0-9_], nothing to escape */
		else
			put(o, "bit%u", b);
		put(o, "%s", is_json ? "\"" : "");
		is_first = false;
	}
	if (is_json)
		put(o, "]");
}

/*
 * The optional roles of BESS i, one line, only those its profile has: measured power, the
 * reported limits in force ("-": none usable, the rated ones apply), alarm and fault bits.
 */
static void put_roles_text(struct out *o, const struct cfg *cfg, unsigned i,
			   const struct ctl_bess_snap *b)
{
	const struct prof_point *ap = role_point(cfg, i, PROF_ROLE_ACTIVE_POWER);
	const struct prof_point *mc = role_point(cfg, i, PROF_ROLE_MAX_CHARGE_POWER);
	const struct prof_point *md = role_point(cfg, i, PROF_ROLE_MAX_DISCHARGE_POWER);
	const struct prof_point *al = role_point(cfg, i, PROF_ROLE_ALARMS);
	const struct prof_point *fa = role_point(cfg, i, PROF_ROLE_FAULTS);

	if (!ap && !mc && !md && !al && !fa)
		return;
	put(o, "    ");
	if (ap) {
		if (isfinite(b->active_kw))
			put(o, "measured %+.1f kW", b->active_kw);
		else
			put(o, "measured -");
		if (b->is_deviating || b->deviations)
			put(o, "%s (deviations %llu)", b->is_deviating ? " DEVIATING" : "",
			    (unsigned long long)b->deviations);
		put(o, "  ");
	}
	if (mc) {
		if (isfinite(b->max_charge_kw))
			put(o, "max charge %.1f kW  ", b->max_charge_kw);
		else
			put(o, "max charge - (rated)  ");
	}
	if (md) {
		if (isfinite(b->max_discharge_kw))
			put(o, "max discharge %.1f kW  ", b->max_discharge_kw);
		else
			put(o, "max discharge - (rated)  ");
	}
	if (al) {
		put(o, "alarms ");
		if (b->alarms)
			put_bits(o, al, b->alarms, false);
		else
			put(o, "none");
		put(o, "  ");
	}
	if (fa) {
		if (b->faults) {
			put(o, "FAULTS ");
			put_bits(o, fa, b->faults, false);
		} else {
			put(o, "faults none");
		}
	}
	/* No trailing blanks. */
	while (o->off && !o->is_full && o->buf[o->off - 1] == ' ')
		o->buf[--o->off] = '\0';
	put(o, "\n");
}

static void put_lat_text(struct out *o, const char *name, const struct ctl_lat *l)
{
	put(o, "latency %-15s p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  n %llu\n", name,
	    clk_ns_to_us(l->p50_ns), clk_ns_to_us(l->p99_ns), clk_ns_to_us(l->p999_ns),
	    clk_ns_to_us(l->max_ns), (unsigned long long)l->count);
}

int st_format_text(const struct cfg *cfg, const struct ctl_snapshot *s, int64_t now_ns, char *buf,
		   size_t len)
{
	struct out o = { .buf = buf, .len = len };
	unsigned nbess = s->nbess < cfg->nbess ? s->nbess : cfg->nbess;
	unsigned nmeters = s->nmeters < cfg->nmeters ? s->nmeters : cfg->nmeters;
	double age = age_ms(s, now_ns);
	int w = 1;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	for (unsigned i = 0; i < nbess + nmeters; i++) {
		const char *id = i < nbess ? cfg->bess[i].id : cfg->meters[i - nbess].id;
		int n = (int)strnlen(id, CFG_ID_MAX - 1);

		w = n > w ? n : w;
	}
	put(&o, "fluxd cycles %llu  overruns %llu  ", (unsigned long long)s->cycles,
	    (unsigned long long)s->overruns);
	if (isnan(age))
		put(&o, "age -  ");
	else
		put(&o, "age %.1f ms  ", age);
	put(&o, "site %+.1f kW  %s  %s\n", s->site_kw, s->is_valid ? "inputs ok" : "inputs missing",
	    s->has_started ? "started" : "not started (0 kW until every input is fresh)");
	for (unsigned i = 0; i < nbess; i++) {
		const struct ctl_bess_snap *b = &s->bess[i];

		put(&o, "bess  ");
		put_id(&o, cfg->bess[i].id, w);
		put(&o, "  %-8s  SOE %5.1f %%  setpoint %+7.1f kW  %s  %s  safety ",
		    status_name(cfg, i, b->status), b->soe_pct, b->setpoint_kw,
		    b->is_fresh ? "fresh" : "stale", b->is_ours ? "ours" : "NOT OURS");
		put_reasons(&o, b->reasons, false);
		put(&o, "  error %s\n", b->last_err ? ctl_strerror(b->last_err) : "none");
		put_roles_text(&o, cfg, i, b);
		put_points_text(&o, cfg->bess[i].profile, &b->pt);
	}
	for (unsigned i = 0; i < nmeters; i++) {
		const struct ctl_meter_snap *m = &s->meters[i];

		put(&o, "meter ");
		put_id(&o, cfg->meters[i].id, w);
		put(&o, "  %+.1f kW  %s  error %s\n", m->power_kw, m->is_fresh ? "fresh" : "stale",
		    m->last_err ? ctl_strerror(m->last_err) : "none");
		put_points_text(&o, cfg->meters[i].profile, &m->pt);
	}
	put_lat_text(&o, "jitter", &s->jitter);
	put_lat_text(&o, "soe_read", &s->soe_read);
	put_lat_text(&o, "setpoint_write", &s->setpoint_write);
	put_lat_text(&o, "rtt", &s->rtt);
	return out_result(&o);
}

static void put_lat_json(struct out *o, const char *name, const struct ctl_lat *l)
{
	put(o, "\"%s\":{\"p50\":%lld,\"p99\":%lld,\"p999\":%lld,\"max\":%lld,\"count\":%llu}", name,
	    (long long)l->p50_ns, (long long)l->p99_ns, (long long)l->p999_ns, (long long)l->max_ns,
	    (unsigned long long)l->count);
}

/* "points":[{"name":..,"value":..,"unit":..}, ...]: value null until read; "text": its enum name.
 */
static void put_points_json(struct out *o, const struct prof_profile *p,
			    const struct ctl_points_snap *ps)
{
	put(o, "\"points\":[");
	for (unsigned k = 0; p && k < p->n_points && k < PROF_MAX_POINTS; k++) {
		const struct prof_point *pt = &p->points[k];
		const char *text = point_text(pt, ps, k);
		double v = ps->points[k];

		put(o, "%s{\"name\":", k ? "," : "");
		put_json_str(o, pt->name);
		if ((ps->valid & (1u << k)) && isfinite(v))
			put(o, ",\"value\":%.*g,\"unit\":", point_digits(pt), v);
		else
			put(o, ",\"value\":null,\"unit\":");
		put_json_str(o, pt->unit ? pt->unit : "");
		if (text) {
			put(o, ",\"text\":");
			put_json_str(o, text);
		}
		put(o, "}");
	}
	put(o, "]");
}

static void put_err_json(struct out *o, int err)
{
	put(o, "\"last_error\":");
	if (err)
		put_json_str(o, ctl_strerror(err));
	else
		put(o, "null");
	put(o, ",\"last_errno\":%d", err);
}

int st_format_json(const struct cfg *cfg, const struct ctl_snapshot *s, int64_t now_ns, char *buf,
		   size_t len)
{
	struct out o = { .buf = buf, .len = len };
	unsigned nbess = s->nbess < cfg->nbess ? s->nbess : cfg->nbess;
	unsigned nmeters = s->nmeters < cfg->nmeters ? s->nmeters : cfg->nmeters;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	put(&o, "{\"version\":1,\"cycles\":%llu,\"overruns\":%llu,", (unsigned long long)s->cycles,
	    (unsigned long long)s->overruns);
	put_json_num(&o, "age_ms", age_ms(s, now_ns));
	put(&o, ",");
	put_json_num(&o, "site_kw", s->site_kw);
	put(&o, ",\"is_valid\":%s,\"has_started\":%s,\"config_gen\":%llu,\"bess\":[",
	    yes_no(s->is_valid), yes_no(s->has_started), (unsigned long long)s->config_gen);
	for (unsigned i = 0; i < nbess; i++) {
		const struct ctl_bess_snap *b = &s->bess[i];

		put(&o, "%s{\"id\":", i ? "," : "");
		put_json_str(&o, cfg->bess[i].id);
		put(&o, ",\"status\":");
		put_json_str(&o, status_name(cfg, i, b->status));
		put(&o, ",\"status_code\":%u,", b->status);
		put_json_num(&o, "soe_pct", b->soe_pct);
		put(&o, ",");
		put_json_num(&o, "setpoint_kw", b->setpoint_kw);
		put(&o,
		    ",\"is_fresh\":%s,\"is_ready\":%s,\"is_ours\":%s,\"command_source\":%u,"
		    "\"blocks\":%u,\"safety\":",
		    yes_no(b->is_fresh), yes_no(b->is_ready), yes_no(b->is_ours), b->command_source,
		    b->blocks);
		put_reasons(&o, b->reasons, true);
		put(&o, ",");
		put_err_json(&o, b->last_err);
		put(&o, ",\"writes\":%llu,", (unsigned long long)b->writes);
		put_json_num(&o, "active_power_kw", b->active_kw);
		put(&o, ",");
		put_json_num(&o, "max_charge_kw", b->max_charge_kw);
		put(&o, ",");
		put_json_num(&o, "max_discharge_kw", b->max_discharge_kw);
		put(&o, ",\"alarms\":");
		put_bits(&o, role_point(cfg, i, PROF_ROLE_ALARMS), b->alarms, true);
		put(&o, ",\"faults\":");
		put_bits(&o, role_point(cfg, i, PROF_ROLE_FAULTS), b->faults, true);
		put(&o, ",\"is_faulted\":%s,\"is_deviating\":%s,\"deviations\":%llu,",
		    yes_no(b->is_faulted), yes_no(b->is_deviating),
		    (unsigned long long)b->deviations);
		put_points_json(&o, cfg->bess[i].profile, &b->pt);
		put(&o, ",");
		put_lat_json(&o, "rtt_ns", &s->bess_rtt[i]);
		put(&o, "}");
	}
	put(&o, "],\"meters\":[");
	for (unsigned i = 0; i < nmeters; i++) {
		const struct ctl_meter_snap *m = &s->meters[i];

		put(&o, "%s{\"id\":", i ? "," : "");
		put_json_str(&o, cfg->meters[i].id);
		put(&o, ",");
		put_json_num(&o, "power_kw", m->power_kw);
		put(&o, ",\"is_fresh\":%s,", yes_no(m->is_fresh));
		put_err_json(&o, m->last_err);
		put(&o, ",");
		put_points_json(&o, cfg->meters[i].profile, &m->pt);
		put(&o, ",");
		put_lat_json(&o, "rtt_ns", &s->meter_rtt[i]);
		put(&o, "}");
	}
	put(&o, "],\"latency_ns\":{");
	put_lat_json(&o, "jitter", &s->jitter);
	put(&o, ",");
	put_lat_json(&o, "soe_read", &s->soe_read);
	put(&o, ",");
	put_lat_json(&o, "setpoint_write", &s->setpoint_write);
	put(&o, ",");
	put_lat_json(&o, "rtt", &s->rtt);
	put(&o, "}}\n");
	return out_result(&o);
}

/* ---- where the socket lives ------------------------------------------------------------ */

/* A directory that is ours alone: owned by the effective uid, mode exactly 0700 (the XDG base
 * directory spec's rule for the runtime directory). */
static bool is_private_dir(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       (st.st_mode & 07777) == 0700;
}

int st_default_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char run_user[64];
	int n;

	snprintf(run_user, sizeof(run_user), "/run/user/%u", (unsigned)geteuid());
	if (geteuid() == 0)
		n = snprintf(buf, len, "/run/flux/fluxd.sock");
	else if (xdg && *xdg && is_private_dir(xdg))
		n = snprintf(buf, len, "%s/fluxd.sock", xdg);
	else if (is_private_dir(run_user))
		n = snprintf(buf, len, "%s/fluxd.sock", run_user);
	else
		return -ST_ENORUNDIR;
	return n < 0 || (size_t)n >= len || n >= ST_PATH_MAX ? -ENAMETOOLONG : 0;
}

const char *st_strerror(int err)
{
	if (err == -ST_ENORUNDIR)
		return "no private runtime directory for the status socket ($XDG_RUNTIME_DIR or "
		       "/run/user/UID, owned by this user, mode 0700)";
	return strerror(-err);
}

/* "uid 1000 (alice)", or "uid 1000" when it has no name. */
static void name_uid(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		snprintf(buf, len, "uid %u (%s)", (unsigned)uid, res->pw_name);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
}

__attribute__((format(printf, 3, 4))) static int fail(struct st_server *s, int err, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return err;
}

/*
 * Every directory from the socket's up to / (symlinks resolved) must be one nobody else can
 * change: owned by us or root, and not writable by group or others unless sticky (then others
 * may add names but not remove or rename ours, as in /tmp). Otherwise another user could
 * remove our socket and put theirs in its place. Returns 0, -EPERM or -errno, s->why set.
 */
static int check_dirs(struct st_server *s, const char *path)
{
	char dir[PATH_MAX], real[PATH_MAX], owner[96];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (!realpath(dir, real))
		return fail(s, -errno, "status socket %s: directory %s: %s", path, dir,
			    strerror(errno));
	for (n = strlen(real);;) {
		struct stat st;

		real[n] = '\0';
		if (stat(n ? real : "/", &st))
			return fail(s, -errno, "status socket %s: %s: %s", path, n ? real : "/",
				    strerror(errno));
		name_uid(st.st_uid, owner, sizeof(owner));
		if (st.st_uid != geteuid() && st.st_uid != 0)
			return fail(
			    s, -EPERM,
			    "status socket %s: directory %s is owned by %s, who could "
			    "replace the socket: use a directory of yours (--status-socket)",
			    path, n ? real : "/", owner);
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
			return fail(
			    s, -EPERM,
			    "status socket %s: directory %s (owner %s, mode %04o) is writable "
			    "by others and not sticky: use a directory only you can write",
			    path, n ? real : "/", owner, (unsigned)(st.st_mode & 07777));
		while (n && real[n - 1] != '/')
			n--;
		if (n == 0)
			return 0;
		n--; /* drop the slash: "/run/user" -> "/run"; "/run" -> "" (the root) */
	}
}

/*
 * What is at the path already. Nothing: 0. A socket of ours nobody accepts on (left over from
 * a crash): removed, 0. Anything else is refused and left alone. Returns -errno or 0.
 */
static int remove_stale(struct st_server *s, const struct sockaddr_un *sa)
{
	const char *path = sa->sun_path;
	char owner[96];
	struct stat st;
	int fd, err;

	if (lstat(path, &st))
		return errno == ENOENT
			   ? 0
			   : fail(s, -errno, "status socket %s: %s", path, strerror(errno));
	name_uid(st.st_uid, owner, sizeof(owner));
	if (!S_ISSOCK(st.st_mode))
		return fail(s, -EEXIST,
			    "status socket %s exists and is not a socket (owner %s): not ours to "
			    "remove",
			    path, owner);
	if (st.st_uid != geteuid())
		return fail(
		    s, -EEXIST,
		    "status socket %s exists and belongs to %s: not ours to remove (another "
		    "user may have taken the path first)",
		    path, owner);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(s, -errno, "status socket %s: socket: %s", path, strerror(errno));
	err = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ? -errno : 0;
	close(fd);
	if (err == 0 || err == -EAGAIN) /* EAGAIN: its backlog is full, so it is alive */
		return fail(s, -EADDRINUSE, "status socket %s: another fluxd answers there", path);
	if (err != -ECONNREFUSED)
		return fail(s, err, "status socket %s: probing the old socket: %s", path,
			    strerror(-err));
	if (unlink(path))
		return fail(s, -errno, "status socket %s: removing the stale socket: %s", path,
			    strerror(errno));
	return 0;
}

/* ---- server ---------------------------------------------------------------------------- */

int st_server_open(struct st_server *s, const char *path, const struct cfg *cfg,
		   st_snapshot_fn *snapshot, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_mask;
	int err;

	*s = (struct st_server){ .lfd = -1, .cfg = cfg, .snapshot = snapshot, .arg = arg };
	for (unsigned i = 0; i < ST_MAX_CONNS; i++)
		s->conns[i].fd = -1;
	if (!path || !*path || !cfg || !snapshot)
		return fail(s, -EINVAL, "status socket: no path, config or snapshot");
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(s, -ENAMETOOLONG, "status socket %.64s...: longer than %zu bytes", path,
			    sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	memcpy(s->path, path, strlen(path) + 1);
	s->rsp_size = st_rsp_size(cfg);
	for (unsigned i = 0; i < ST_MAX_CONNS; i++) {
		s->conns[i].out = malloc(s->rsp_size);
		if (!s->conns[i].out) {
			err = fail(s, -ENOMEM, "status socket %s: no memory for answers", path);
			goto out_free;
		}
	}
	err = check_dirs(s, path);
	if (err)
		goto out_free;
	err = remove_stale(s, &sa);
	if (err)
		goto out_free;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		err = fail(s, -errno, "status socket %s: socket: %s", path, strerror(errno));
		goto out_free;
	}
	/* The file is born 0660: no window with wider rights. bind() never follows or replaces
	 * what appeared since the checks (EADDRINUSE), so nothing is taken over. */
	old_mask = umask(0117);
	err = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old_mask);
	if (err) {
		fail(s, err, "status socket %s: bind: %s", path, strerror(-err));
		goto out_close;
	}
	if (lstat(path, &st)) {
		err = fail(s, -errno, "status socket %s: %s", path, strerror(errno));
		goto out_close;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->lfd, ST_BACKLOG)) {
		err = fail(s, -errno, "status socket %s: listen: %s", path, strerror(errno));
		goto out_unlink;
	}
	s->is_open = true;
	return 0;

out_unlink:
	unlink(path);
out_close:
	close(s->lfd);
	s->lfd = -1;
out_free:
	for (unsigned i = 0; i < ST_MAX_CONNS; i++) {
		free(s->conns[i].out);
		s->conns[i].out = NULL;
	}
	return err;
}

static void conn_close(struct st_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->in_len = 0;
	c->req = ST_REQ_NONE;
	c->out_len = c->out_off = 0;
}

/*
 * The slot a newcomer of `uid` takes: a free one, else the oldest connection of the uid that
 * holds the most slots (the newcomer counted with its own uid, which wins ties: a user's flood
 * evicts that user's connections first). Whoever floods, the others keep their slots.
 */
static struct st_conn *pick_slot(struct st_server *s, uid_t uid, bool *is_eviction)
{
	struct st_conn *victim = NULL;
	unsigned best = 0;

	*is_eviction = false;
	for (unsigned i = 0; i < ST_MAX_CONNS; i++)
		if (s->conns[i].fd < 0)
			return &s->conns[i];
	for (unsigned i = 0; i < ST_MAX_CONNS; i++) {
		struct st_conn *c = &s->conns[i], *oldest = c;
		unsigned n = c->uid == uid;

		for (unsigned k = 0; k < ST_MAX_CONNS; k++) {
			struct st_conn *o = &s->conns[k];

			if (o->uid != c->uid)
				continue;
			n++;
			if (o->seq < oldest->seq)
				oldest = o;
		}
		if (n > best || (n == best && c->uid == uid)) {
			best = n;
			victim = oldest;
		}
	}
	*is_eviction = true;
	return victim;
}

/* Make room: the evicted client is told why, if its answer had not begun (best effort). */
static void evict(struct st_server *s, struct st_conn *c)
{
	if (c->out_off == 0)
		(void)!send(c->fd, rsp_busy, sizeof(rsp_busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	conn_close(c);
	s->evicted++;
}

/* Take what has arrived of the request line (one recv). Returns 0, or -errno: drop it. */
static int read_req(struct st_conn *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, ST_REQ_MAX - c->in_len, MSG_DONTWAIT);

	if (n == 0)
		return -ECONNRESET; /* gone before asking */
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	c->in_len += (unsigned)n;
	c->req = st_parse_request(c->in, c->in_len);
	return 0;
}

static void set_answer(struct st_conn *c, const char *text, size_t len)
{
	memcpy(c->out, text, len);
	c->out_len = len;
	c->out_off = 0;
}

/* Format the answer to c's request; the snapshot is taken once per call. Returns 0 or -EAGAIN
 * (no snapshot this time: ask again next call). */
static int make_answer(struct st_server *s, struct st_conn *c, bool *has_snap, int64_t now_ns)
{
	int n;

	if (c->req == ST_REQ_BAD) {
		set_answer(c, rsp_unknown, sizeof(rsp_unknown) - 1);
		return 0;
	}
	if (!*has_snap) {
		if (s->snapshot(s->arg, &s->snap))
			return -EAGAIN;
		*has_snap = true;
	}
	if (c->req == ST_REQ_JSON)
		n = st_format_json(s->cfg, &s->snap, now_ns, c->out, s->rsp_size);
	else
		n = st_format_text(s->cfg, &s->snap, now_ns, c->out, s->rsp_size);
	if (n < 0)
		set_answer(c, rsp_too_large, sizeof(rsp_too_large) - 1);
	else
		c->out_len = (size_t)n;
	c->out_off = 0;
	return 0;
}

/* Send what the socket takes now. Returns 1 when all is sent, 0 for later, -errno: drop. */
static int write_answer(struct st_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0
											 : -errno;
		c->out_off += (size_t)n;
	}
	return 1;
}

/* One step of one connection: deadline, read, answer, send. Returns 1 if it was answered. */
static int serve(struct st_server *s, struct st_conn *c, bool *has_snap, int64_t now_ns)
{
	int r = 0;

	if (now_ns > c->deadline_ns) {
		conn_close(c);
		s->dropped++;
		return 0;
	}
	if (c->req == ST_REQ_NONE)
		r = read_req(c);
	if (r == 0 && c->req != ST_REQ_NONE && !c->out_len && make_answer(s, c, has_snap, now_ns))
		return 0;
	if (r == 0 && c->out_len)
		r = write_answer(c);
	if (r > 0) {
		conn_close(c);
		s->answered++;
		return 1;
	}
	if (r < 0) {
		conn_close(c);
		s->dropped++;
	}
	return 0;
}

int st_server_poll(struct st_server *s, int64_t now_ns)
{
	bool has_snap = false;
	int done = 0;

	if (!s->is_open)
		return 0;
	for (unsigned i = 0; i < ST_MAX_CONNS; i++)
		if (s->conns[i].fd >= 0)
			done += serve(s, &s->conns[i], &has_snap, now_ns);
	for (unsigned n = 0; n < ST_ACCEPT_PER_POLL; n++) {
		struct ucred cred;
		socklen_t cred_len = sizeof(cred);
		struct st_conn *c;
		bool is_eviction;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) /* EAGAIN: nobody waiting; EMFILE and the like: try next call */
			break;
		s->accepted++;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len))
			cred.uid = (uid_t)-1;
		c = pick_slot(s, cred.uid, &is_eviction);
		if (is_eviction)
			evict(s, c);
		c->fd = fd;
		c->uid = cred.uid;
		c->seq = s->accepted;
		c->deadline_ns = now_ns + ST_CONN_TIMEOUT_NS;
		done += serve(s, c, &has_snap, now_ns);
	}
	return done;
}

void st_server_close(struct st_server *s)
{
	struct stat st;

	if (!s->is_open)
		return;
	for (unsigned i = 0; i < ST_MAX_CONNS; i++) {
		if (s->conns[i].fd >= 0)
			conn_close(&s->conns[i]);
		free(s->conns[i].out);
		s->conns[i].out = NULL;
	}
	close(s->lfd);
	s->lfd = -1;
	/* Another fluxd may have replaced a file we were slow to serve: leave that one alone. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	s->is_open = false;
}
