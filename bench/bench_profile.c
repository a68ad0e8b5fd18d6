// SPDX-License-Identifier: MIT
/*
 * bench_profile: what block merging buys (issue 16). A site of METERS simulated meters of the
 * shipped acuvim2-manual profile, every point read each cycle through Flux's engine and
 * decoded with prof_decode_block(), in two modes side by side in one run: the profile's
 * merged blocks (prof_plan_blocks() with its max_gap) and one read per point (each point
 * planned alone). Per mode: requests per cycle (the engine's counters), cycle wall time
 * (POLL pushed -> last block decoded) p50/p99/max, and CPU per cycle: the control thread's
 * own (CLOCK_THREAD_CPUTIME_ID, p50/p99), the engine's (the process's CPU less the control
 * and simulator threads', a mean over the window) and the simulator's; then merged / per
 * point. Cycles run back to back, in interleaved rounds (this VM's speed drifts); every
 * decoded value is checked against the simulator's. Prints a table, never asserts a time.
 *
 * The one idea: the engine holds ENG_MAX_BLOCKS reads per device, so a meter of more blocks
 * is several engine devices at its one endpoint: they share its one connection and one
 * request in flight, as a real meter's single TCP connection would serve them.
 *
 *   bench_profile [CYCLES] [--json FILE]   (cycles per mode; QUICK=1: 300, else 2000)
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/profile.h"
#include "devices/sim.h"
#include "io/engine.h"
#include "rt/clock.h"

#define PROFILE	       "acuvim2-manual"
#define METERS	       10
#define DEFAULT_CYCLES 2000
#define QUICK_CYCLES   300
#define ROUNDS	       4  /* each mode's cycles in this many slices, alternating */
#define WARMUP_CYCLES  20 /* per mode, before the first round; not measured */
#define STALL_NS       (2 * CLK_NS_PER_SEC)
#define POP_BATCH      64
#define DEVS_PER_METER ((PROF_MAX_POINTS + ENG_MAX_BLOCKS - 1) / ENG_MAX_BLOCKS)
#define MAX_ENG_DEVS   (METERS * DEVS_PER_METER)
#define TIMEOUT_NS     CLK_NS_PER_SEC

enum { MODE_MERGED, MODE_PER_POINT, MODE_N };

/* One mode: its blocks, its engine, its samples. Owned by the main (control) thread. */
struct mode {
	const char *key;
	char label[48];
	struct prof_profile view; /* the profile with this mode's blocks, for the decoder */
	struct prof_block blocks[PROF_MAX_POINTS];
	unsigned n_blocks;	 /* per meter */
	unsigned devs_per_meter; /* engine devices per meter */
	struct eng_dev devs[MAX_ENG_DEVS];
	unsigned ndev;
	struct eng *eng;
	int64_t *wall_ns, *cpu_ns; /* per measured cycle */
	unsigned n;
	uint64_t requests;			     /* sent over the measured cycles */
	int64_t proc_cpu_ns, ctl_cpu_ns, sim_cpu_ns; /* summed over the measured rounds */
};

struct bench {
	struct prof_profile *p;
	struct sim *sim;
	pthread_t sim_thread;
	clockid_t sim_clock;
	bool is_sim_running;
	int sim_err;
	uint16_t port[METERS];
	double want[METERS][PROF_MAX_POINTS]; /* each meter's value per point */
	struct prof_value got[METERS][PROF_MAX_POINTS];
	struct eng_cmd cmds[MAX_ENG_DEVS];
	struct eng_msg msgs[POP_BATCH];
	struct mode mode[MODE_N];
};

static int64_t cpu_now_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return 0;
	return (int64_t)ts.tv_sec * CLK_NS_PER_SEC + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[n], in us. */
static double pct_us(const int64_t *v, unsigned n, double p)
{
	unsigned rank;

	if (n == 0)
		return 0;
	rank = (unsigned)((p / 100.0) * n + 0.999999);
	rank = rank < 1 ? 1 : rank > n ? n : rank;
	return (double)v[rank - 1] / 1e3;
}

static void *sim_main(void *arg)
{
	struct bench *b = arg;

	b->sim_err = sim_run(b->sim, 0);
	return NULL;
}

/* A value per point, distinct per meter, inside the point's range and exact in its type. */
static double point_value(const struct prof_point *pt, unsigned meter, unsigned i)
{
	if (pt->has_range)
		return pt->range_lo + (pt->range_hi - pt->range_lo) * (meter + 1) / 16.0;
	return 10.0 * meter + i + 0.5;
}

/* The simulator: METERS profile devices, each on a port of its own, on its own thread. */
static int start_sim(struct bench *b)
{
	const struct prof_profile *p = b->p;
	int err;

	b->sim = sim_new();
	if (!b->sim)
		return -errno;
	for (unsigned m = 0; m < METERS; m++) {
		struct sim_prof_params prm = SIM_PROF_DEFAULTS;
		struct sim_endpoint ep = { .unit = p->unit_id ? p->unit_id : 1 };
		int dev;

		for (unsigned i = 0; i < p->n_points; i++) {
			b->want[m][i] = point_value(&p->points[i], m, i);
			prm.value[i] = b->want[m][i];
			prm.has_value[i] = true;
		}
		dev = sim_add_profile(b->sim, &ep, p, &prm);
		if (dev < 0)
			return dev;
		err = sim_port(b->sim, dev);
		if (err < 0)
			return err;
		b->port[m] = (uint16_t)err;
	}
	err = -pthread_create(&b->sim_thread, NULL, sim_main, b);
	if (err)
		return err;
	b->is_sim_running = true;
	return -pthread_getcpuclockid(b->sim_thread, &b->sim_clock);
}

/* A mode's blocks per meter and its engine devices; the engine opened and started. */
static int setup_mode(struct bench *b, struct mode *md, bool is_merged)
{
	const struct prof_profile *p = b->p;
	struct eng_cfg cfg = { 0 };
	int n, err;

	if (is_merged) {
		n = prof_plan_blocks(p, NULL, 0, p->max_gap, md->blocks, PROF_MAX_POINTS);
		if (n < 0)
			return n;
		snprintf(md->label, sizeof(md->label), "merged (max_gap %u)", p->max_gap);
	} else {
		/* Each point planned alone: exactly its own registers, one read each. */
		for (unsigned i = 0; i < p->n_points; i++) {
			n = prof_plan_blocks(p, &i, 1, 0, &md->blocks[i], 1);
			if (n != 1 || md->blocks[i].start != p->points[i].addr ||
			    md->blocks[i].count != prof_type_width(p->points[i].type))
				return n < 0 ? n : -EINVAL;
		}
		n = (int)p->n_points;
		snprintf(md->label, sizeof(md->label), "one read per point");
	}
	md->key = is_merged ? "merged" : "per_point";
	md->n_blocks = (unsigned)n;
	md->view = *p;
	md->view.blocks = md->blocks;
	md->view.n_blocks = md->n_blocks;
	md->devs_per_meter = (md->n_blocks + ENG_MAX_BLOCKS - 1) / ENG_MAX_BLOCKS;
	md->ndev = METERS * md->devs_per_meter;
	for (unsigned d = 0; d < md->ndev; d++) {
		struct eng_dev *ed = &md->devs[d];
		unsigned first = (d % md->devs_per_meter) * ENG_MAX_BLOCKS;

		snprintf(ed->host, sizeof(ed->host), "127.0.0.1");
		ed->port = b->port[d / md->devs_per_meter];
		ed->unit = p->unit_id ? p->unit_id : 1;
		ed->timeout_ns = TIMEOUT_NS;
		ed->retry_count = 1;
		for (unsigned k = first; k < md->n_blocks && k < first + ENG_MAX_BLOCKS; k++)
			ed->blocks[ed->nblocks++] =
			    (struct eng_block){ .fc = md->blocks[k].fc,
						.start = md->blocks[k].start,
						.count = md->blocks[k].count };
	}
	cfg.devs = md->devs;
	cfg.ndev = md->ndev;
	cfg.cpu = -1;
	err = eng_open(&md->eng, &cfg);
	if (err)
		return err;
	return eng_start(md->eng);
}

static uint64_t requests_of(const struct mode *md)
{
	uint64_t n = 0;

	for (unsigned d = 0; d < md->ndev; d++)
		n +=
		    atomic_load_explicit(&eng_counters(md->eng, d)->requests, memory_order_relaxed);
	return n;
}

/*
 * One cycle: a POLL per engine device, then every block's sample decoded as it comes. The
 * wall and control-thread CPU times go to *wall_ns and *cpu_ns. Returns 0, a sample's error,
 * -ETIMEDOUT on a stall, or -EPROTO for a sample of another cycle.
 */
static int run_cycle(struct bench *b, struct mode *md, uint32_t cycle, int64_t *wall_ns,
		     int64_t *cpu_ns)
{
	unsigned want = METERS * md->n_blocks, got = 0;
	enum mb_order order = b->p->default_order;
	int64_t t0, c0, last;

	for (unsigned m = 0; m < METERS; m++)
		for (unsigned i = 0; i < b->p->n_points; i++)
			b->got[m][i].is_valid = false;
	c0 = cpu_now_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = clk_now_ns();
	for (unsigned d = 0; d < md->ndev; d++)
		b->cmds[d] = (struct eng_cmd){
			.kind = ENG_CMD_POLL, .dev = (uint16_t)d, .cycle = cycle, .t_push_ns = t0
		};
	if (eng_submit(md->eng, b->cmds, md->ndev) != md->ndev)
		return -ENOBUFS;
	last = t0;
	while (got < want) {
		unsigned n = eng_pop(md->eng, b->msgs, POP_BATCH);

		if (n == 0) {
			int64_t now = clk_now_ns();

			if (now - last > STALL_NS)
				return -ETIMEDOUT;
			eng_wait(md->eng, now + 100 * CLK_NS_PER_MS);
			continue;
		}
		last = clk_now_ns();
		for (unsigned k = 0; k < n; k++) {
			const struct eng_msg *msg = &b->msgs[k];
			unsigned meter = msg->dev / md->devs_per_meter;
			unsigned blk =
			    (msg->dev % md->devs_per_meter) * ENG_MAX_BLOCKS + msg->block;

			if (msg->kind != ENG_MSG_SAMPLE || msg->cycle != cycle)
				return -EPROTO;
			if (msg->err)
				return msg->err;
			prof_decode_block(&md->view, blk, order, msg->data.regs, msg->count, 0,
					  b->got[meter]);
			got++;
		}
	}
	*wall_ns = clk_now_ns() - t0;
	*cpu_ns = cpu_now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	return 0;
}

/* Every point of every meter decoded this cycle, equal to what its simulator serves. */
static int check_values(const struct bench *b, const struct mode *md)
{
	for (unsigned m = 0; m < METERS; m++)
		for (unsigned i = 0; i < b->p->n_points; i++) {
			const struct prof_point *pt = &b->p->points[i];
			double w = b->want[m][i],
			       tol = pt->type == PROF_F32 ? 1e-6 * fabs(w) + 1e-9 : 0.5 / pt->scale;

			if (!b->got[m][i].is_valid || fabs(b->got[m][i].value - w) > tol) {
				fprintf(stderr,
					"bench_profile: %s: meter %u %s: %s %.6g, served %.6g\n",
					md->label, m, pt->name,
					b->got[m][i].is_valid ? "decoded" : "not decoded",
					b->got[m][i].value, w);
				return -EINVAL;
			}
		}
	return 0;
}

/* `cycles` cycles of a mode; measured ones add to its figures. */
static int run_cycles(struct bench *b, struct mode *md, unsigned cycles, bool is_measured,
		      uint32_t *seq)
{
	int64_t proc0 = cpu_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t ctl0 = cpu_now_ns(CLOCK_THREAD_CPUTIME_ID);
	int64_t sim0 = cpu_now_ns(b->sim_clock);
	uint64_t req0 = requests_of(md);
	int err;

	for (unsigned c = 0; c < cycles; c++) {
		int64_t wall, cpu;

		err = run_cycle(b, md, ++*seq, &wall, &cpu);
		if (err) {
			fprintf(stderr, "bench_profile: %s: cycle %u: %s\n", md->label, *seq,
				eng_strerror(err));
			return err;
		}
		err = check_values(b, md);
		if (err)
			return err;
		if (is_measured) {
			md->wall_ns[md->n] = wall;
			md->cpu_ns[md->n++] = cpu;
		}
	}
	if (is_measured) {
		md->proc_cpu_ns += cpu_now_ns(CLOCK_PROCESS_CPUTIME_ID) - proc0;
		md->ctl_cpu_ns += cpu_now_ns(CLOCK_THREAD_CPUTIME_ID) - ctl0;
		md->sim_cpu_ns += cpu_now_ns(b->sim_clock) - sim0;
		md->requests += requests_of(md) - req0;
	}
	return 0;
}

/* A mode's figures, in us unless named otherwise. */
struct figs {
	double req_per_cycle, wall_p50, wall_p99, wall_max, ctl_p50, ctl_p99;
	double ctl_mean, eng_mean, flux_mean, sim_mean;
};

static struct figs figures_of(struct mode *md)
{
	double n = md->n ? md->n : 1;
	struct figs f;

	qsort(md->wall_ns, md->n, sizeof(int64_t), cmp_i64);
	qsort(md->cpu_ns, md->n, sizeof(int64_t), cmp_i64);
	f.req_per_cycle = (double)md->requests / n;
	f.wall_p50 = pct_us(md->wall_ns, md->n, 50);
	f.wall_p99 = pct_us(md->wall_ns, md->n, 99);
	f.wall_max = pct_us(md->wall_ns, md->n, 100);
	f.ctl_p50 = pct_us(md->cpu_ns, md->n, 50);
	f.ctl_p99 = pct_us(md->cpu_ns, md->n, 99);
	f.ctl_mean = (double)md->ctl_cpu_ns / n / 1e3;
	/* The engine's I/O threads: what the process spent less the control and sim threads. */
	f.eng_mean = (double)(md->proc_cpu_ns - md->ctl_cpu_ns - md->sim_cpu_ns) / n / 1e3;
	f.flux_mean = f.ctl_mean + f.eng_mean;
	f.sim_mean = (double)md->sim_cpu_ns / n / 1e3;
	return f;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static int write_json(const char *path, const struct bench *b, const struct figs *f,
		      unsigned cycles)
{
	FILE *jf = fopen(path, "w");

	if (!jf) {
		fprintf(stderr, "bench_profile: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(jf,
		"{\"bench\":\"profile\",\"profile\":\"%s\",\"points\":%u,\"meters\":%d,"
		"\"cycles\":%u,\"rounds\":%d,\"max_gap\":%u,\"modes\":[",
		b->p->name, b->p->n_points, METERS, cycles, ROUNDS, b->p->max_gap);
	for (int m = 0; m < MODE_N; m++) {
		const struct mode *md = &b->mode[m];

		fprintf(jf,
			"%s{\"mode\":\"%s\",\"label\":\"%s\",\"blocks_per_meter\":%u,"
			"\"engine_devices\":%u,\"cycles\":%u,\"requests_per_cycle\":%.2f,"
			"\"wall_p50_us\":%.1f,\"wall_p99_us\":%.1f,\"wall_max_us\":%.1f,"
			"\"ctl_cpu_p50_us\":%.1f,\"ctl_cpu_p99_us\":%.1f,"
			"\"ctl_cpu_us_per_cycle\":%.1f,\"engine_cpu_us_per_cycle\":%.1f,"
			"\"flux_cpu_us_per_cycle\":%.1f,\"sim_cpu_us_per_cycle\":%.1f}",
			m ? "," : "", md->key, md->label, md->n_blocks, md->ndev, md->n,
			f[m].req_per_cycle, f[m].wall_p50, f[m].wall_p99, f[m].wall_max,
			f[m].ctl_p50, f[m].ctl_p99, f[m].ctl_mean, f[m].eng_mean, f[m].flux_mean,
			f[m].sim_mean);
	}
	fprintf(jf,
		"],\"ratios\":{\"requests_per_cycle\":%.4f,\"wall_p50\":%.4f,\"wall_p99\":%.4f,"
		"\"ctl_cpu_p50\":%.4f,\"flux_cpu_per_cycle\":%.4f,\"sim_cpu_per_cycle\":%.4f}}\n",
		ratio(f[0].req_per_cycle, f[1].req_per_cycle), ratio(f[0].wall_p50, f[1].wall_p50),
		ratio(f[0].wall_p99, f[1].wall_p99), ratio(f[0].ctl_p50, f[1].ctl_p50),
		ratio(f[0].flux_mean, f[1].flux_mean), ratio(f[0].sim_mean, f[1].sim_mean));
	return fclose(jf) ? 1 : 0;
}

static void print_table(const struct bench *b, const struct figs *f)
{
	printf("\n%-22s %7s %8s %9s %9s %9s %8s %8s %9s %9s %9s\n", "mode", "blocks", "req/cyc",
	       "wall p50", "wall p99", "wall max", "ctl p50", "ctl p99", "ctl mean", "engine",
	       "sim");
	for (int m = 0; m < MODE_N; m++)
		printf("%-22s %7u %8.1f %9.1f %9.1f %9.1f %8.1f %8.1f %9.1f %9.1f %9.1f\n",
		       b->mode[m].label, b->mode[m].n_blocks, f[m].req_per_cycle, f[m].wall_p50,
		       f[m].wall_p99, f[m].wall_max, f[m].ctl_p50, f[m].ctl_p99, f[m].ctl_mean,
		       f[m].eng_mean, f[m].sim_mean);
	printf("(blocks per meter; times in us per cycle; ctl: the control thread's CPU; engine: "
	       "the I/O thread's, mean)\n");
	printf("\nmerged / one read per point: requests %.3f, wall p50 %.2f, wall p99 %.2f, "
	       "Flux CPU (ctl + engine) %.2f, simulator CPU %.2f\n",
	       ratio(f[0].req_per_cycle, f[1].req_per_cycle), ratio(f[0].wall_p50, f[1].wall_p50),
	       ratio(f[0].wall_p99, f[1].wall_p99), ratio(f[0].flux_mean, f[1].flux_mean),
	       ratio(f[0].sim_mean, f[1].sim_mean));
}

int main(int argc, char **argv)
{
	const char *quick = getenv("QUICK");
	const char *json_path = NULL;
	long cycles = quick && *quick && strcmp(quick, "0") ? QUICK_CYCLES : DEFAULT_CYCLES;
	static struct bench b;
	struct figs f[MODE_N];
	char err_text[256];
	uint32_t seq = 0;
	int err, rc = 1;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json") && k + 1 < argc)
			json_path = argv[++k];
		else if (argv[k][0] >= '1' && argv[k][0] <= '9')
			cycles = strtol(argv[k], NULL, 10);
		else
			cycles = 0;
	}
	if (cycles < ROUNDS || cycles > 1000000) {
		fprintf(stderr,
			"usage: %s [CYCLES] [--json FILE]   (cycles per mode, %d..1000000; "
			"default %d, QUICK=1: %d)\n",
			argv[0], ROUNDS, DEFAULT_CYCLES, QUICK_CYCLES);
		return 2;
	}
	cycles -= cycles % ROUNDS;
	err = prof_load_builtin(PROFILE, &b.p, err_text, sizeof(err_text));
	if (err) {
		fprintf(stderr, "bench_profile: %s\n", err_text);
		return 1;
	}
	err = start_sim(&b);
	if (err) {
		fprintf(stderr, "bench_profile: simulator: %s\n", strerror(-err));
		goto out;
	}
	for (int m = 0; m < MODE_N; m++) {
		struct mode *md = &b.mode[m];

		md->wall_ns = calloc((size_t)cycles, sizeof(int64_t));
		md->cpu_ns = calloc((size_t)cycles, sizeof(int64_t));
		err = md->wall_ns && md->cpu_ns ? setup_mode(&b, md, m == MODE_MERGED) : -ENOMEM;
		if (err) {
			fprintf(stderr, "bench_profile: %s: setup: %s\n",
				m ? "per point" : "merged", eng_strerror(err));
			goto out;
		}
	}
	printf("bench_profile: %s (%u points), %d simulated meters on 127.0.0.1 (one sim thread, "
	       "a port each), Flux's engine (SCHED_OTHER);\n  %ld cycles per mode back to back "
	       "in %d interleaved rounds after %d warm-up cycles; every point decoded and "
	       "checked each cycle\n",
	       b.p->name, b.p->n_points, METERS, cycles, ROUNDS, WARMUP_CYCLES);
	for (int m = 0; m < MODE_N; m++) {
		err = run_cycles(&b, &b.mode[m], WARMUP_CYCLES, false, &seq);
		if (err)
			goto out;
	}
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < MODE_N; k++) {
			/* Alternate which mode goes first, so neither always follows the other. */
			int m = r % 2 ? MODE_N - 1 - k : k;

			err = run_cycles(&b, &b.mode[m], (unsigned)(cycles / ROUNDS), true, &seq);
			if (err)
				goto out;
		}
	for (int m = 0; m < MODE_N; m++) {
		f[m] = figures_of(&b.mode[m]);
		if (eng_cmd_drops(b.mode[m].eng) || eng_msg_drops(b.mode[m].eng)) {
			fprintf(stderr, "bench_profile: %s: command or message drops\n",
				b.mode[m].label);
			goto out;
		}
	}
	print_table(&b, f);
	rc = json_path ? write_json(json_path, &b, f, (unsigned)cycles) : 0;
out:
	for (int m = 0; m < MODE_N; m++) {
		eng_close(b.mode[m].eng);
		free(b.mode[m].wall_ns);
		free(b.mode[m].cpu_ns);
	}
	if (b.is_sim_running) {
		sim_stop(b.sim);
		pthread_join(b.sim_thread, NULL);
		if (b.sim_err)
			fprintf(stderr, "bench_profile: simulator: %s\n", strerror(-b.sim_err));
	}
	sim_free(b.sim);
	prof_free(b.p);
	return rc;
}
