// SPDX-License-Identifier: MIT
/*
 * Codec microbenchmark: ns per encode and per decode of the 10-register FC03 exchange of the
 * seed (read 2000..2009), client and server side. Each figure is the median of 7 runs of
 * ITERS operations; a compiler barrier keeps every operation's result alive.
 *
 *   bench_codec [ITERS] [--json FILE]   (QUICK=1: a tenth; --json: the figures as one object)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/modbus.h"

#define RUNS	      7
#define DEFAULT_ITERS 2000000L

#define KEEP(x) __asm__ volatile("" : : "g"(x) : "memory")

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct ctx {
	struct mb_req req;
	uint8_t qbuf[MB_ADU_MAX], rbuf[MB_ADU_MAX], payload[20];
	int qlen, rlen;
};

static void op_encode_req(struct ctx *c, long i)
{
	c->req.tid = (uint16_t)i;
	KEEP(mb_encode_req(c->qbuf, sizeof(c->qbuf), &c->req));
}

static void op_decode_req(struct ctx *c, long i)
{
	struct mb_req got;

	(void)i;
	KEEP(mb_decode_req(c->qbuf, (size_t)c->qlen, &got));
	KEEP(got.qty);
}

static void op_encode_rsp(struct ctx *c, long i)
{
	c->payload[0] = (uint8_t)i;
	KEEP(mb_encode_rsp(c->rbuf, sizeof(c->rbuf), &c->req, c->payload));
}

static void op_decode_rsp(struct ctx *c, long i)
{
	struct mb_rsp rsp;
	uint16_t regs[10];

	(void)i;
	KEEP(mb_decode_rsp(&c->req, c->rbuf, (size_t)c->rlen, 0, &rsp));
	mb_regs_from_wire(regs, rsp.data, 10);
	KEEP(regs[9]);
}

static void op_split(struct ctx *c, long i)
{
	struct mb_splitter s = { 0 };
	const uint8_t *frame;
	size_t used;

	(void)i;
	KEEP(mb_split(&s, c->rbuf, (size_t)c->rlen, &used, &frame));
	KEEP(frame);
}

static double measure(struct ctx *c, void (*op)(struct ctx *, long), long iters)
{
	double runs[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();

		for (long i = 0; i < iters; i++)
			op(c, i);
		runs[r] = (now_ns() - t0) / (double)iters;
	}
	qsort(runs, RUNS, sizeof(runs[0]), cmp_double);
	return runs[RUNS / 2];
}

int main(int argc, char **argv)
{
	/* key: the name in the JSON; judged: one of the "encode/decode < 50 ns each" */
	static const struct {
		const char *name, *key;
		void (*op)(struct ctx *, long);
		bool is_judged;
	} ops[] = {
		{ "client encode FC03 request (10 regs)", "encode_req", op_encode_req, true },
		{ "server decode FC03 request", "decode_req", op_decode_req, true },
		{ "server encode FC03 response (10 regs)", "encode_rsp", op_encode_rsp, true },
		{ "client decode FC03 response + 10 regs", "decode_rsp", op_decode_rsp, true },
		{ "split one whole response frame", "split_rsp", op_split, false },
	};
	double ns[sizeof(ops) / sizeof(ops[0])];
	const char *json_path = NULL;
	long iters = DEFAULT_ITERS;
	struct ctx c = { .req = { .tid = 1,
				  .unit = 1,
				  .fc = MB_FC_READ_HOLDING_REGISTERS,
				  .addr = 2000,
				  .qty = 10 } };
	FILE *jf;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_path = argv[++i];
		else if (argv[i][0] >= '0' && argv[i][0] <= '9')
			iters = strtol(argv[i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [ITERS] [--json FILE]\n", argv[0]);
			return 2;
		}
	}
	if (iters < 1000)
		iters = DEFAULT_ITERS;
	if (getenv("QUICK"))
		iters /= 10;
	c.qlen = mb_encode_req(c.qbuf, sizeof(c.qbuf), &c.req);
	c.rlen = mb_encode_rsp(c.rbuf, sizeof(c.rbuf), &c.req, c.payload);
	if (c.qlen != 12 || c.rlen != 29) {
		fprintf(stderr, "bench_codec: setup failed (%d, %d)\n", c.qlen, c.rlen);
		return 1;
	}
	printf("Modbus TCP codec, median of %d runs x %ld ops (target: < 50 ns each)\n", RUNS,
	       iters);
	printf("%-42s %10s\n", "operation", "ns/op");
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		ns[i] = measure(&c, ops[i].op, iters);
		printf("%-42s %10.1f\n", ops[i].name, ns[i]);
	}
	if (!json_path)
		return 0;
	jf = fopen(json_path, "w");
	if (!jf) {
		fprintf(stderr, "bench_codec: %s: %s\n", json_path, strerror(errno));
		return 1;
	}
	fprintf(jf, "{\"bench\":\"codec\",\"runs\":%d,\"iters\":%ld,\"target_ns\":50,\"ops\":[",
		RUNS, iters);
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		fprintf(jf, "%s{\"op\":\"%s\",\"label\":\"%s\",\"ns\":%.2f,\"judged\":%s}",
			i ? "," : "", ops[i].key, ops[i].name, ns[i],
			ops[i].is_judged ? "true" : "false");
	fprintf(jf, "]}\n");
	return fclose(jf) ? 1 : 0;
}
