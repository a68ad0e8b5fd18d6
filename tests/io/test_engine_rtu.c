// SPDX-License-Identifier: MIT
/*
 * The engine on serial lines: Modbus RTU through the same io_uring, against libmodbus's RTU
 * server (tests/support/rtusrv) on pty pairs made here. All 8 function codes, several units
 * sharing a line one request at a time, every bent reply named and survived (wrong CRC,
 * another unit, truncated, noise, a frame dripped byte by byte), a line that cannot be
 * opened, a line that hangs up and comes back, and a TCP device that never stalls while a
 * serial one fails. Bounded waits; nothing asserts on how fast anything was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/engine.h"
#include "rt/clock.h"
#include "tests/support/faultsrv.h"
#include "tests/support/net.h"
#include "tests/support/pty.h"
#include "tests/support/rtusrv.h"

#define WAIT_MS	   5000
#define HOLD_ADDR  10 /* FC03 block: holding 10..19 */
#define INPUT_ADDR 20 /* FC04 block: input 20..23 */
#define COIL_ADDR  5  /* FC01 block: coils 5..20 */
#define DISC_ADDR  7  /* FC02 block: discrete inputs 7..15 */
#define BAUD	   115200

struct rig {
	struct th_rtusrv srv;
	struct eng *e;
	struct eng_dev devs[4];
	unsigned ndev;
	uint32_t cycle;
};

static struct rig *live;

static void serial_dev(struct eng_dev *d, const char *path, uint8_t unit)
{
	memset(d, 0, sizeof(*d));
	d->framing = ENG_FRAMING_SERIAL;
	snprintf(d->device, sizeof(d->device), "%s", path);
	ser_line_init(&d->line);
	d->line.baud = BAUD;
	d->unit = unit;
	d->timeout_ns = 200 * CLK_NS_PER_MS;
	d->retry_count = 1;
	d->retry_backoff_ns = 10 * CLK_NS_PER_MS;
	d->nblocks = 4;
	d->blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, HOLD_ADDR, 10 };
	d->blocks[1] = (struct eng_block){ MB_FC_READ_INPUT_REGISTERS, INPUT_ADDR, 4 };
	d->blocks[2] = (struct eng_block){ MB_FC_READ_COILS, COIL_ADDR, 16 };
	d->blocks[3] = (struct eng_block){ MB_FC_READ_DISCRETE_INPUTS, DISC_ADDR, 9 };
}

static struct rig *rig_open(unsigned nunits)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(th_rtusrv_start(&r->srv, 1, BAUD), 0);
	for (unsigned u = 2; u <= nunits; u++)
		th_rtusrv_serve(&r->srv, (uint8_t)u, true);
	for (unsigned i = 0; i < nunits; i++)
		serial_dev(&r->devs[i], th_rtusrv_path(&r->srv), (uint8_t)(1 + i));
	r->ndev = nunits;
	live = r;
	return r;
}

static void rig_start(struct rig *r)
{
	struct eng_cfg cfg = {
		.devs = r->devs,
		.ndev = r->ndev,
		.reconnect_min_ns = 20 * CLK_NS_PER_MS,
		.reconnect_max_ns = 100 * CLK_NS_PER_MS,
		.cpu = -1,
	};

	assert_int_equal(eng_open(&r->e, &cfg), 0);
	assert_int_equal(eng_start(r->e), 0);
}

static void rig_close(struct rig *r)
{
	if (!r)
		return;
	eng_close(r->e);
	th_rtusrv_stop(&r->srv);
	free(r);
	live = NULL;
}

static int teardown(void **state)
{
	(void)state;
	rig_close(live);
	return 0;
}

/* Push one command and wait for the n messages it owes; returns how many came. */
static unsigned run_cmd(struct rig *r, struct eng_cmd *cmd, struct eng_msg *out, unsigned n)
{
	int64_t end = th_deadline_ns(WAIT_MS);
	unsigned got = 0;

	cmd->cycle = ++r->cycle;
	cmd->t_push_ns = th_now_ns();
	assert_int_equal(eng_submit(r->e, cmd, 1), 1);
	while (got < n && th_now_ns() < end) {
		struct eng_msg m;

		if (eng_pop(r->e, &m, 1) == 0) {
			eng_wait(r->e, th_now_ns() + 50 * CLK_NS_PER_MS);
			continue;
		}
		if (m.cycle != r->cycle)
			continue; /* an older command's answer */
		out[got++] = m;
	}
	return got;
}

/* POLL one block of dev; its SAMPLE's error (the sample in *m). */
static int poll_block(struct rig *r, unsigned dev, unsigned block, struct eng_msg *m)
{
	struct eng_cmd cmd = { .kind = ENG_CMD_POLL,
			       .dev = (uint16_t)dev,
			       .block_mask = (uint8_t)(1u << block) };

	assert_int_equal(run_cmd(r, &cmd, m, 1), 1);
	assert_int_equal(m->kind, ENG_MSG_SAMPLE);
	assert_int_equal(m->block, block);
	return m->err;
}

static int write_cmd(struct rig *r, unsigned dev, uint8_t fc, uint16_t addr, const uint16_t *values,
		     unsigned n)
{
	struct eng_cmd cmd = { .kind = ENG_CMD_WRITE,
			       .fc = fc,
			       .dev = (uint16_t)dev,
			       .addr = addr,
			       .count = (uint16_t)n };
	struct eng_msg m;

	memcpy(cmd.values, values, n * sizeof(values[0]));
	assert_int_equal(run_cmd(r, &cmd, &m, 1), 1);
	assert_int_equal(m.kind, ENG_MSG_WRITE_ACK);
	return m.err;
}

static bool bit_of(const struct eng_msg *m, unsigned i)
{
	return m->data.bits[i / 8] >> (i % 8) & 1;
}

/* The four reads and the four writes, checked against libmodbus's mapping. */
static void test_all_eight_function_codes_against_libmodbus(void **state)
{
	static const uint16_t coils[] = { 1, 0, 1, 1, 0 };
	static const uint16_t regs[] = { 0xBEEF, 0x0102, 0xFFFF };
	struct rig *r = rig_open(1);
	modbus_mapping_t *map;
	struct eng_msg m;

	(void)state;
	rig_start(r);
	assert_int_equal(poll_block(r, 0, 0, &m), 0);
	assert_int_equal(m.count, 10);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(m.data.regs[i], 0x1000 + HOLD_ADDR + i);
	assert_int_equal(poll_block(r, 0, 1, &m), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(m.data.regs[i], 0x2000 + INPUT_ADDR + i);
	assert_int_equal(poll_block(r, 0, 2, &m), 0);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(bit_of(&m, i), (COIL_ADDR + i) % 2);
	assert_int_equal(poll_block(r, 0, 3, &m), 0);
	for (unsigned i = 0; i < 9; i++)
		assert_int_equal(bit_of(&m, i), (DISC_ADDR + i) % 3 == 0);

	assert_int_equal(write_cmd(r, 0, MB_FC_WRITE_SINGLE_COIL, 100, (uint16_t[]){ 1 }, 1), 0);
	assert_int_equal(
	    write_cmd(r, 0, MB_FC_WRITE_SINGLE_REGISTER, 200, (uint16_t[]){ 0x4242 }, 1), 0);
	assert_int_equal(write_cmd(r, 0, MB_FC_WRITE_MULTIPLE_COILS, 300, coils, 5), 0);
	assert_int_equal(write_cmd(r, 0, MB_FC_WRITE_MULTIPLE_REGISTERS, 400, regs, 3), 0);
	map = th_rtusrv_lock(&r->srv);
	assert_int_equal(map->tab_bits[100], 1);
	assert_int_equal(map->tab_registers[200], 0x4242);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(map->tab_bits[300 + i], coils[i]);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(map->tab_registers[400 + i], regs[i]);
	th_rtusrv_unlock(&r->srv);
	assert_int_equal(eng_counters(r->e, 0)->connects, 1);
	assert_int_equal(eng_counters(r->e, 0)->noise_bytes, 0);
	rig_close(r);
}

/* Three units on one line: each POLL of all three answered with its own unit's data. */
static void test_units_share_a_line_one_request_at_a_time(void **state)
{
	struct rig *r = rig_open(3);
	struct eng_msg m[3 * 4];
	modbus_mapping_t *map;

	(void)state;
	map = th_rtusrv_lock(&r->srv);
	map->tab_registers[HOLD_ADDR] = 0x7777;
	th_rtusrv_unlock(&r->srv);
	rig_start(r);
	for (unsigned round = 0; round < 5; round++) {
		struct eng_cmd cmds[3];
		int64_t end = th_deadline_ns(WAIT_MS);
		unsigned got = 0;

		r->cycle++;
		for (unsigned d = 0; d < 3; d++)
			cmds[d] = (struct eng_cmd){ .kind = ENG_CMD_POLL,
						    .dev = (uint16_t)d,
						    .cycle = r->cycle,
						    .t_push_ns = th_now_ns() };
		assert_int_equal(eng_submit(r->e, cmds, 3), 3);
		while (got < 12 && th_now_ns() < end) {
			if (eng_pop(r->e, &m[got], 1) == 0) {
				eng_wait(r->e, th_now_ns() + 50 * CLK_NS_PER_MS);
				continue;
			}
			if (m[got].cycle == r->cycle)
				got++;
		}
		assert_int_equal(got, 12);
		for (unsigned i = 0; i < got; i++) {
			assert_int_equal(m[i].err, 0);
			if (m[i].block == 0)
				assert_int_equal(m[i].data.regs[0], 0x7777);
		}
	}
	for (unsigned u = 1; u <= 3; u++)
		assert_true(r->srv.unit_requests[u] >= 5 * 4);
	/* One connection: the line opened once for all three. */
	assert_int_equal(eng_counters(r->e, 0)->connects, 1);
	assert_int_equal(r->srv.bad, 0);
	rig_close(r);
}

/* Each bent reply is a named error, then the next clean reply reads right (resync). */
static void test_bent_replies_are_named_and_the_line_resyncs(void **state)
{
	static const struct {
		enum th_rtusrv_fault fault;
		int err;
	} cases[] = {
		{ TH_RTUSRV_BAD_CRC, -MB_ECRC },
		{ TH_RTUSRV_OTHER_UNIT, -MB_EUNIT },
		{ TH_RTUSRV_TRUNCATE, -ETIMEDOUT },
		{ TH_RTUSRV_SILENT, -ETIMEDOUT },
		{ TH_RTUSRV_NOISE, 0 }, /* noise before a good reply: discarded, counted */
		{ TH_RTUSRV_DRIP, 0 },	/* a reply one byte per read */
	};
	struct rig *r = rig_open(1);
	struct eng_msg m;

	(void)state;
	/* Three attempts a command, so a bent reply is retried on the open line: one failure
	 * in retry_count closes and reopens the line, as it does a TCP connection. */
	r->devs[0].timeout_ns = 150 * CLK_NS_PER_MS;
	r->devs[0].retry_count = 3;
	rig_start(r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t noise = eng_counters(r->e, 0)->noise_bytes;

		th_rtusrv_set_fault(&r->srv, cases[i].fault);
		if (poll_block(r, 0, 0, &m) != cases[i].err)
			fail_msg("fault %d: got %d (%s), want %d (%s)", cases[i].fault, m.err,
				 eng_strerror(m.err), cases[i].err, eng_strerror(cases[i].err));
		if (cases[i].fault == TH_RTUSRV_NOISE)
			assert_true(eng_counters(r->e, 0)->noise_bytes >= noise + 3);
		if (cases[i].err == 0)
			assert_int_equal(m.data.regs[9], 0x1000 + HOLD_ADDR + 9);
		th_rtusrv_set_fault(&r->srv, TH_RTUSRV_OK);
		/* Once the line is back (the streak closed and reopens it, with backoff), the
		 * next clean read is whole and right, whatever was left on the line. */
		for (unsigned k = 0; k < 100 && poll_block(r, 0, 0, &m) != 0; k++)
			th_sleep_ms(20);
		if (m.err) {
			const struct eng_counters *k = eng_counters(r->e, 0);

			fail_msg("after fault %d: %s (attempts %u; requests %lu responses %lu "
				 "timeouts %lu bad %lu noise %lu; server requests %lu replies %lu)",
				 cases[i].fault, eng_strerror(m.err), m.attempts,
				 (unsigned long)k->requests, (unsigned long)k->responses,
				 (unsigned long)k->timeouts, (unsigned long)k->bad_frames,
				 (unsigned long)k->noise_bytes, (unsigned long)r->srv.requests,
				 (unsigned long)r->srv.replies);
		}
		for (unsigned k = 0; k < 10; k++)
			assert_int_equal(m.data.regs[k], 0x1000 + HOLD_ADDR + k);
	}
	assert_true(eng_counters(r->e, 0)->bad_frames + eng_counters(r->e, 0)->timeouts > 0);
	rig_close(r);
}

/* A reply split at every byte boundary and noise inside a frame, fed from a bare pty. */
static void test_reply_split_at_every_byte_and_noise_inside(void **state)
{
	struct th_pty p;
	struct eng_dev d;
	struct eng *e;
	struct eng_cfg cfg = { .devs = &d, .ndev = 1, .cpu = -1 };
	uint8_t req[8], rsp[5 + 4];
	struct mb_req q = { .unit = 9, .fc = MB_FC_READ_HOLDING_REGISTERS, .addr = 0, .qty = 2 };
	uint8_t regs[4] = { 0x12, 0x34, 0xAB, 0xCD };

	(void)state;
	assert_int_equal(th_pty_open(&p), 0);
	serial_dev(&d, p.slave, 9);
	d.nblocks = 1;
	d.blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 0, 2 };
	d.timeout_ns = 2 * CLK_NS_PER_SEC;
	assert_int_equal(eng_open(&e, &cfg), 0);
	assert_int_equal(eng_start(e), 0);
	assert_int_equal(mb_rtu_encode_rsp(rsp, sizeof(rsp), &q, regs), (int)sizeof(rsp));
	for (unsigned round = 0; round < 2; round++) {
		struct eng_cmd cmd = { .kind = ENG_CMD_POLL, .cycle = round + 1 };
		struct eng_msg m;
		int64_t end;

		assert_int_equal(eng_submit(e, &cmd, 1), 1);
		assert_int_equal(th_pty_read(&p, req, sizeof(req), WAIT_MS), sizeof(req));
		assert_int_equal(req[0], 9);
		if (round == 1) {
			/* Noise first, then a frame with a bad CRC from the right unit, then
			 * the good frame: only the last one counts. */
			uint8_t junk[] = { 0xFF, 0x00, 0x09, 0x03, 0x04, 0x12,
					   0x34, 0xAB, 0xCD, 0x00, 0x00 };

			assert_true(th_pty_write(&p, junk, sizeof(junk), WAIT_MS));
		}
		for (unsigned i = 0; i < sizeof(rsp); i++) {
			assert_true(th_pty_write(&p, &rsp[i], 1, WAIT_MS));
			usleep(2000); /* each byte its own read */
		}
		end = th_deadline_ns(WAIT_MS);
		while (eng_pop(e, &m, 1) == 0 && th_now_ns() < end)
			eng_wait(e, th_now_ns() + 50 * CLK_NS_PER_MS);
		assert_int_equal(m.err, 0);
		assert_int_equal(m.data.regs[0], 0x1234);
		assert_int_equal(m.data.regs[1], 0xABCD);
	}
	assert_true(eng_counters(e, 0)->noise_bytes >= 2);
	assert_int_equal(eng_counters(e, 0)->responses, 2);
	eng_close(e);
	th_pty_close(&p);
}

/* No such tty: every command is answered with ENOENT, by name, and the engine keeps trying. */
static void test_a_missing_line_is_named_and_retried(void **state)
{
	struct eng_dev d;
	struct eng *e;
	struct eng_cfg cfg = { .devs = &d,
			       .ndev = 1,
			       .cpu = -1,
			       .reconnect_min_ns = 10 * CLK_NS_PER_MS,
			       .reconnect_max_ns = 20 * CLK_NS_PER_MS };
	int64_t end;

	(void)state;
	serial_dev(&d, "/dev/flux-test-no-such-tty", 1);
	assert_int_equal(eng_open(&e, &cfg), 0);
	assert_int_equal(eng_start(e), 0);
	end = th_deadline_ns(WAIT_MS);
	while (eng_counters(e, 0)->conn_failures < 3 && th_now_ns() < end)
		th_sleep_ms(10);
	assert_true(eng_counters(e, 0)->conn_failures >= 3);
	{
		struct eng_cmd cmd = { .kind = ENG_CMD_POLL, .cycle = 1 };
		struct eng_msg m[4];
		unsigned got = 0;

		assert_int_equal(eng_submit(e, &cmd, 1), 1);
		end = th_deadline_ns(WAIT_MS);
		while (got < 4 && th_now_ns() < end) {
			if (eng_pop(e, &m[got], 1))
				got++;
			else
				eng_wait(e, th_now_ns() + 50 * CLK_NS_PER_MS);
		}
		assert_int_equal(got, 4);
		for (unsigned i = 0; i < got; i++) {
			assert_int_equal(m[i].err, -ENOENT);
			assert_int_equal(m[i].attempts, 0);
		}
		assert_string_equal(eng_strerror(m[0].err), "No such file or directory");
	}
	eng_close(e);
}

/* A line that hangs up (the adapter pulled: EIO) is reopened with backoff when it is back. */
static void test_a_line_that_hangs_up_is_reopened(void **state)
{
	char dir[] = "/tmp/flux-rtu-XXXXXX", link[PATH_MAX];
	struct th_pty p, p2;
	struct eng_dev d;
	struct eng *e;
	struct eng_cfg cfg = { .devs = &d,
			       .ndev = 1,
			       .cpu = -1,
			       .reconnect_min_ns = 20 * CLK_NS_PER_MS,
			       .reconnect_max_ns = 50 * CLK_NS_PER_MS };
	struct mb_req q = { .unit = 1, .fc = MB_FC_READ_HOLDING_REGISTERS, .qty = 1 };
	uint8_t req[8], rsp[7], one[2] = { 0x55, 0xAA };
	struct eng_cmd cmd = { .kind = ENG_CMD_POLL };
	struct eng_msg m;
	int64_t end;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/ttyUSB0", dir);
	assert_int_equal(th_pty_open(&p), 0);
	assert_int_equal(symlink(p.slave, link), 0);
	serial_dev(&d, link, 1);
	d.nblocks = 1;
	d.blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 0, 1 };
	d.timeout_ns = WAIT_MS * CLK_NS_PER_MS;
	assert_int_equal(mb_rtu_encode_rsp(rsp, sizeof(rsp), &q, one), (int)sizeof(rsp));
	assert_int_equal(eng_open(&e, &cfg), 0);
	assert_int_equal(eng_start(e), 0);
	end = th_deadline_ns(WAIT_MS);
	while (eng_counters(e, 0)->connects < 1 && th_now_ns() < end)
		th_sleep_ms(5);
	assert_int_equal(eng_counters(e, 0)->connects, 1);

	/* Pulled: the engine's read sees the hangup; the request in flight fails with EIO. */
	cmd.cycle = 1;
	assert_int_equal(eng_submit(e, &cmd, 1), 1);
	assert_int_equal(th_pty_read(&p, req, sizeof(req), WAIT_MS), sizeof(req));
	th_pty_close(&p);
	end = th_deadline_ns(WAIT_MS);
	while (eng_pop(e, &m, 1) == 0 && th_now_ns() < end)
		eng_wait(e, th_now_ns() + 50 * CLK_NS_PER_MS);
	assert_int_equal(m.err, -EIO);

	/* Back, as another pty behind the same path: reopened, and it reads again. */
	assert_int_equal(th_pty_open(&p2), 0);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink(p2.slave, link), 0);
	end = th_deadline_ns(WAIT_MS);
	while (eng_counters(e, 0)->connects < 2 && th_now_ns() < end)
		th_sleep_ms(5);
	assert_int_equal(eng_counters(e, 0)->connects, 2);
	assert_true(eng_counters(e, 0)->conn_failures >= 1);
	cmd.cycle = 2;
	assert_int_equal(eng_submit(e, &cmd, 1), 1);
	assert_int_equal(th_pty_read(&p2, req, sizeof(req), WAIT_MS), sizeof(req));
	assert_true(th_pty_write(&p2, rsp, sizeof(rsp), WAIT_MS));
	end = th_deadline_ns(WAIT_MS);
	m.cycle = 0;
	while (m.cycle != 2 && th_now_ns() < end) {
		if (eng_pop(e, &m, 1) == 0)
			eng_wait(e, th_now_ns() + 50 * CLK_NS_PER_MS);
	}
	assert_int_equal(m.cycle, 2);
	assert_int_equal(m.err, 0);
	assert_int_equal(m.data.regs[0], 0x55AA);
	eng_close(e);
	th_pty_close(&p2);
	unlink(link);
	rmdir(dir);
}

/* A TCP device keeps its cycle while the serial meter beside it times out every request. */
static void test_a_failing_line_never_stalls_a_tcp_device(void **state)
{
	struct rig *r = rig_open(1);
	struct th_fsrv *fs = calloc(1, sizeof(*fs));
	struct eng_dev *tcp = &r->devs[1];
	unsigned tcp_ok = 0, serial_fail = 0;

	(void)state;
	assert_non_null(fs);
	assert_int_equal(th_fsrv_open(fs, 1), 0);
	memset(tcp, 0, sizeof(*tcp));
	snprintf(tcp->host, sizeof(tcp->host), "127.0.0.1");
	tcp->port = fs->ports[0].port;
	tcp->unit = 1;
	tcp->timeout_ns = 500 * CLK_NS_PER_MS;
	tcp->retry_count = 1;
	tcp->nblocks = 1;
	tcp->blocks[0] = (struct eng_block){ MB_FC_READ_HOLDING_REGISTERS, 0, 4 };
	r->ndev = 2;
	r->devs[0].timeout_ns = 300 * CLK_NS_PER_MS;
	th_rtusrv_set_fault(&r->srv, TH_RTUSRV_SILENT);
	rig_start(r);
	for (unsigned cycle = 1; cycle <= 20; cycle++) {
		struct eng_cmd cmds[2] = {
			{ .kind = ENG_CMD_POLL, .dev = 0, .cycle = cycle, .block_mask = 1 },
			{ .kind = ENG_CMD_POLL, .dev = 1, .cycle = cycle },
		};
		int64_t end = th_deadline_ns(WAIT_MS);
		bool has_tcp = false;

		assert_int_equal(eng_submit(r->e, cmds, 2), 2);
		/* The TCP sample of this cycle comes long before the serial timeout. */
		while (!has_tcp && th_now_ns() < end) {
			struct eng_msg m;

			if (eng_pop(r->e, &m, 1) == 0) {
				eng_wait(r->e, th_now_ns() + 20 * CLK_NS_PER_MS);
				continue;
			}
			if (m.dev == 1 && m.cycle == cycle && m.err == 0) {
				has_tcp = true;
				tcp_ok++;
			} else if (m.dev == 0 && m.err) {
				serial_fail++;
			}
		}
		assert_true(has_tcp);
		th_sleep_ms(20);
	}
	assert_int_equal(tcp_ok, 20);
	assert_true(serial_fail >= 1);
	assert_true(eng_counters(r->e, 0)->timeouts >= 1);
	rig_close(r);
	th_fsrv_close(fs);
	free(fs);
}

/*
 * RTU frames over TCP (a gateway that passes them through): the same reads and writes on a
 * socket, two units sharing the connection; a bent reply closes it (no TIDs: a late reply
 * could pass for the next) and the next command reconnects.
 */
static void test_rtu_over_tcp_reads_writes_and_recovers(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	uint16_t port = 0, v = 0x0BAD;
	struct eng_msg m;

	(void)state;
	assert_non_null(r);
	live = r;
	assert_int_equal(th_rtusrv_start_tcp(&r->srv, 1, &port), 0);
	th_rtusrv_serve(&r->srv, 2, true);
	for (unsigned i = 0; i < 2; i++) {
		struct eng_dev *d = &r->devs[i];

		serial_dev(d, "/unused", (uint8_t)(1 + i));
		d->framing = ENG_FRAMING_RTU_TCP;
		d->device[0] = '\0';
		snprintf(d->host, sizeof(d->host), "127.0.0.1");
		d->port = port;
		d->retry_count = 3;
	}
	r->ndev = 2;
	rig_start(r);
	for (unsigned dev = 0; dev < 2; dev++) {
		assert_int_equal(poll_block(r, dev, 0, &m), 0);
		for (unsigned i = 0; i < 10; i++)
			assert_int_equal(m.data.regs[i], 0x1000 + HOLD_ADDR + i);
		assert_int_equal(poll_block(r, dev, 2, &m), 0);
		for (unsigned i = 0; i < 16; i++)
			assert_int_equal(bit_of(&m, i), (COIL_ADDR + i) % 2);
	}
	assert_int_equal(write_cmd(r, 1, MB_FC_WRITE_SINGLE_REGISTER, 77, &v, 1), 0);
	assert_int_equal(th_rtusrv_lock(&r->srv)->tab_registers[77], 0x0BAD);
	th_rtusrv_unlock(&r->srv);
	assert_int_equal(eng_counters(r->e, 0)->connects, 1);

	th_rtusrv_set_fault(&r->srv, TH_RTUSRV_BAD_CRC);
	assert_int_equal(poll_block(r, 0, 0, &m), -MB_ECRC);
	th_rtusrv_set_fault(&r->srv, TH_RTUSRV_OK);
	for (unsigned k = 0; k < 100 && poll_block(r, 0, 0, &m) != 0; k++)
		th_sleep_ms(20);
	assert_int_equal(m.err, 0);
	assert_int_equal(m.data.regs[0], 0x1000 + HOLD_ADDR);
	assert_true(eng_counters(r->e, 0)->connects >= 2);
	rig_close(r);
}

/* Refused at eng_open: a relative path, a bad line, an RTU unit 0 or 248. */
static void test_bad_serial_devices_are_refused_at_open(void **state)
{
	struct eng_dev d;
	struct eng *e = NULL;
	struct eng_cfg cfg = { .devs = &d, .ndev = 1, .cpu = -1 };

	(void)state;
	serial_dev(&d, "ttyUSB0", 1);
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	serial_dev(&d, "/dev/ttyUSB0", 1);
	d.line.baud = 12345;
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	serial_dev(&d, "/dev/ttyUSB0", 0);
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	serial_dev(&d, "/dev/ttyUSB0", 248);
	assert_int_equal(eng_open(&e, &cfg), -EINVAL);
	serial_dev(&d, "/dev/ttyUSB0", 1);
	assert_int_equal(eng_open(&e, &cfg), 0);
	eng_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_all_eight_function_codes_against_libmodbus,
					  teardown),
		cmocka_unit_test_teardown(test_units_share_a_line_one_request_at_a_time, teardown),
		cmocka_unit_test_teardown(test_bent_replies_are_named_and_the_line_resyncs,
					  teardown),
		cmocka_unit_test(test_reply_split_at_every_byte_and_noise_inside),
		cmocka_unit_test(test_a_missing_line_is_named_and_retried),
		cmocka_unit_test(test_a_line_that_hangs_up_is_reopened),
		cmocka_unit_test_teardown(test_a_failing_line_never_stalls_a_tcp_device, teardown),
		cmocka_unit_test_teardown(test_rtu_over_tcp_reads_writes_and_recovers, teardown),
		cmocka_unit_test(test_bad_serial_devices_are_refused_at_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
