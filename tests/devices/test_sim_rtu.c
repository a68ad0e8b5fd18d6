// SPDX-License-Identifier: MIT
/*
 * The simulator serving Modbus RTU (devices/sim.c): on a pty it opens itself, with libmodbus's
 * RTU backend on the slave as the independent client (modbus_new_rtu() opens the slave the
 * sim holds the master of), on a tty it is given (a pty pair the test made, the test writing
 * raw frames on the master), and as RTU over TCP (libmodbus has no such client: a socket and
 * io/modbus.h's client side). All 8 function codes, units sharing a line, silence for absent
 * units, damaged requests and broadcasts, broadcast writes reaching every unit, each RTU fault
 * as a client sees it, the link and endpoint rules. Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <modbus.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/powerpack.h"
#include "io/serial.h"
#include "tests/support/client.h"
#include "tests/support/pty.h"

#define QUIET_MS 300 /* how long "no answer" is watched for */
#define RSP_MS	 1000

/* A meter with holding and input registers, and a rw register at the PowerPack's 2010. */
static const char meter_yaml[] =
    "name: rtu-meter\n"
    "kind: meter\n"
    "defaults: { unit_id: 2 }\n"
    "points:\n"
    "  - { name: frequency_hz, address: 10, type: u16, scale: 100, unit: Hz }\n"
    "  - { name: mode, address: 2010, type: u16, access: rw }\n"
    "  - { name: limit_kw, address: 2011, type: u16, access: rw }\n"
    "  - { name: grid_power_kw, address: 0, function: 4, type: i16, unit: kW }\n"
    "  - { name: counter, address: 1, function: 4, type: u16 }\n"
    "roles:\n"
    "  grid_power: grid_power_kw\n";

struct fixture {
	struct th_sim ts;
	struct prof_profile *meter;
	int pp, acu; /* PowerPack unit 1 and the meter unit 2, on one pty */
	char dir[64], link[96], path[SER_PATH_MAX];
	modbus_t *mb;
};

static int point(const struct prof_profile *p, const char *name)
{
	int i = prof_point_index(p, name);

	assert_true(i >= 0);
	return i;
}

static int add_meter(struct fixture *f, const struct sim_endpoint *ep)
{
	struct sim_prof_params prm = SIM_PROF_DEFAULTS;

	prm.has_value[point(f->meter, "frequency_hz")] = true;
	prm.value[point(f->meter, "frequency_hz")] = 50;
	prm.has_value[point(f->meter, "grid_power_kw")] = true;
	prm.value[point(f->meter, "grid_power_kw")] = -42;
	prm.has_value[point(f->meter, "counter")] = true;
	prm.value[point(f->meter, "counter")] = 7;
	return sim_add_profile(f->ts.sim, ep, f->meter, &prm);
}

static int add_pp(struct sim *sim, const struct sim_endpoint *ep)
{
	struct sim_pp_params prm = SIM_PP_DEFAULTS;

	prm.startup_ms = 0;
	prm.response_ms = 0;
	return sim_add_powerpack(sim, ep, &prm);
}

/* A libmodbus RTU client on path, unit 1, its response timeout ms. */
static modbus_t *mb_open(const char *path, int ms)
{
	modbus_t *mb = modbus_new_rtu(path, 9600, 'N', 8, 1);

	assert_non_null(mb);
	assert_int_equal(modbus_set_slave(mb, 1), 0);
	assert_int_equal(
	    modbus_set_response_timeout(mb, (uint32_t)ms / 1000, (uint32_t)ms % 1000 * 1000), 0);
	assert_int_equal(modbus_connect(mb), 0);
	return mb;
}

static void mb_close(modbus_t *mb)
{
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sim_endpoint ep = { .unit = 1, .framing = SIM_FRAMING_SERIAL, .serial = "pty" };
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/flux-sim-rtu-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->link, sizeof(f->link), "%s/meter", f->dir);
	ep.link = f->link;
	if (prof_load_text("rtu-meter.yaml", meter_yaml, strlen(meter_yaml), &f->meter, err,
			   sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	f->ts.sim = sim_new();
	if (!f->ts.sim)
		return -1;
	f->pp = add_pp(f->ts.sim, &ep);
	ep.unit = 2; /* the same link: the same line */
	f->acu = add_meter(f, &ep);
	if (f->pp < 0 || f->acu < 0 || sim_serial_path(f->ts.sim, f->pp, f->path, sizeof(f->path)))
		return -1;
	if (th_sim_start(&f->ts))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	int err;

	mb_close(f->mb);
	err = th_sim_stop(&f->ts);
	/* sim_free() took the link away */
	if (lstat(f->link, &st) == 0)
		err = -1;
	rmdir(f->dir);
	prof_free(f->meter);
	free(f);
	return err ? -1 : 0;
}

static struct mb_req rd(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t qty)
{
	return (struct mb_req){ .unit = unit, .fc = fc, .addr = addr, .qty = qty };
}

/* The line's counters. */
static struct sim_rtu_stats stats(struct fixture *f)
{
	struct sim_rtu_stats st;

	assert_int_equal(sim_rtu_stats(f->ts.sim, f->pp, &st), 0);
	return st;
}

/* ---- raw frames on an fd (a tty or a socket) ----------------------------------------- */

static void send_all(int fd, const uint8_t *buf, size_t n)
{
	int64_t end = th_deadline_ns(RSP_MS);
	size_t off = 0;

	while (off < n && th_now_ns() < end) {
		ssize_t r = write(fd, buf + off, n - off);

		if (r > 0)
			off += (size_t)r;
		else if (r < 0 && errno != EAGAIN && errno != EINTR)
			break;
		else
			th_sleep_ms(1);
	}
	assert_int_equal(off, n);
}

static void send_req(int fd, const struct mb_req *req)
{
	uint8_t buf[MB_RTU_ADU_MAX];
	int n = mb_rtu_encode_req(buf, sizeof(buf), req);

	assert_true(n > 0);
	send_all(fd, buf, (size_t)n);
}

/* Read what arrives until quiet_ms pass with nothing (or cap). Returns the bytes read. */
static size_t recv_quiet(int fd, uint8_t *buf, size_t cap, int quiet_ms)
{
	int64_t end = th_deadline_ns(TH_TIMEOUT_MS);
	size_t got = 0;

	while (got < cap && th_now_ns() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, quiet_ms) != 1)
			break;
		r = read(fd, buf + got, cap - got);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Read n bytes within RSP_MS. Returns the count got. */
static size_t recv_n(int fd, uint8_t *buf, size_t n)
{
	int64_t end = th_deadline_ns(RSP_MS);
	size_t got = 0;

	while (got < n) {
		int left = (int)((end - th_now_ns()) / 1000000);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, left) != 1)
			break;
		r = read(fd, buf + got, n - got);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Hunt the reply to req in what arrives (noise before it skipped), decode it into rsp and
 * regs. Returns mb_rtu_decode_rsp()'s result, or -ETIMEDOUT. */
static int recv_rsp(int fd, const struct mb_req *req, struct mb_rsp *rsp, struct mb_rtu_splitter *s)
{
	int64_t end = th_deadline_ns(RSP_MS);

	mb_rtu_split_reset(s);
	while (th_now_ns() < end) {
		uint8_t in[64];
		const uint8_t *frame;
		size_t used, got = recv_n(fd, in, 1);
		int r;

		if (!got)
			continue;
		r = mb_rtu_split(s, req, in, got, &used, &frame);
		assert_true(r >= 0);
		if (r > 0) {
			static uint8_t keep[MB_RTU_ADU_MAX];

			memcpy(keep, frame, (size_t)r);
			return mb_rtu_decode_rsp(req, keep, (size_t)r, rsp);
		}
	}
	return -ETIMEDOUT;
}

static int open_raw(const char *path)
{
	struct ser_line l;
	int fd;

	ser_line_init(&l);
	fd = ser_open(path, &l);
	assert_true(fd >= 0);
	return fd;
}

/* ---- tests --------------------------------------------------------------------------- */

/* FC03/04/06/10 are served with the models' values; FC01/02/05/0F reach the devices whole (the
 * request splitter sizes all 8) and get exception 0x01: no model has coils or discrete inputs. */
static void test_all_eight_function_codes_over_a_pty_with_libmodbus(void **state)
{
	struct fixture *f = *state;
	uint16_t regs[4], vals[2] = { 3, 77 };
	uint8_t bits[8] = { 1, 0, 1 };
	double got[PROF_MAX_POINTS];
	struct sim_pp_state st;

	f->mb = mb_open(f->path, RSP_MS);
	/* FC03: the PowerPack's SOE and available blocks */
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, regs), 1);
	assert_int_equal(regs[0], 60);
	/* FC06 to the command source, FC10 of a target power: applied */
	assert_int_equal(modbus_write_register(f->mb, PP_REG_COMMAND_SOURCE, 3), 1);
	assert_int_equal(modbus_write_registers(f->mb, PP_REG_TARGET_POWER, 1, (uint16_t[]){ 20 }),
			 1);
	assert_int_equal(sim_pp_get(f->ts.sim, f->pp, &st), 0);
	assert_int_equal(st.command_source, 3);
	assert_int_equal(st.target_power_kw, 20);
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_TARGET_POWER, 1, regs), 1);
	assert_int_equal(regs[0], 20);
	/* the meter: FC03 holding, FC04 input registers, FC10 of two rw registers */
	assert_int_equal(modbus_set_slave(f->mb, 2), 0);
	assert_int_equal(modbus_read_registers(f->mb, 10, 1, regs), 1);
	assert_int_equal(regs[0], 5000);
	assert_int_equal(modbus_read_input_registers(f->mb, 0, 2, regs), 2);
	assert_int_equal((int16_t)regs[0], -42);
	assert_int_equal(regs[1], 7);
	assert_int_equal(modbus_write_registers(f->mb, 2010, 2, vals), 2);
	assert_int_equal(sim_prof_get(f->ts.sim, f->acu, got, PROF_MAX_POINTS),
			 (int)f->meter->n_points);
	assert_true(got[point(f->meter, "mode")] == 3 && got[point(f->meter, "limit_kw")] == 77);
	/* a register no point holds: exception 0x02 */
	assert_int_equal(modbus_read_registers(f->mb, 500, 1, regs), -1);
	assert_int_equal(errno, EMBXILADD);
	/* the bit functions: exception 0x01 from both units */
	for (int unit = 1; unit <= 2; unit++) {
		assert_int_equal(modbus_set_slave(f->mb, unit), 0);
		assert_int_equal(modbus_read_bits(f->mb, 0, 8, bits), -1);
		assert_int_equal(errno, EMBXILFUN);
		assert_int_equal(modbus_read_input_bits(f->mb, 0, 8, bits), -1);
		assert_int_equal(errno, EMBXILFUN);
		assert_int_equal(modbus_write_bit(f->mb, 0, 1), -1);
		assert_int_equal(errno, EMBXILFUN);
		assert_int_equal(modbus_write_bits(f->mb, 0, 3, bits), -1);
		assert_int_equal(errno, EMBXILFUN);
	}
	assert_int_equal(stats(f).crc_errors, 0);
	assert_true(stats(f).requests >= 15);
}

/* Two units on one line: each answers only its own requests, exactly once. */
static void test_two_units_on_one_line_each_answers_its_own(void **state)
{
	struct fixture *f = *state;
	struct mb_rtu_splitter s = { 0 };
	struct mb_req req;
	struct mb_rsp rsp;
	uint8_t extra[16];
	int fd = open_raw(f->link); /* the link reaches the same line */

	for (uint8_t unit = 1; unit <= 2; unit++) {
		req = unit == 1 ? rd(1, MB_FC_READ_HOLDING_REGISTERS, PP_REG_SOE, 1)
				: rd(2, MB_FC_READ_HOLDING_REGISTERS, 10, 1);
		send_req(fd, &req);
		assert_int_equal(recv_rsp(fd, &req, &rsp, &s), 0);
		assert_int_equal(rsp.unit, unit);
		assert_int_equal(mb_get_u16(rsp.data), unit == 1 ? 60 : 5000);
		/* nobody else answered */
		assert_int_equal(recv_quiet(fd, extra, sizeof(extra), 100), 0);
	}
	assert_int_equal(s.discarded, 0);
	assert_int_equal(stats(f).not_served, 0);
	close(fd);
}

/* A unit nobody serves on the line gets silence (libmodbus times out); the others go on. */
static void test_an_absent_unit_gets_silence(void **state)
{
	struct fixture *f = *state;
	uint16_t reg;

	f->mb = mb_open(f->path, QUIET_MS);
	assert_int_equal(modbus_set_slave(f->mb, 9), 0);
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(stats(f).not_served, 1);
	assert_int_equal(modbus_set_slave(f->mb, 1), 0);
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), 1);
	assert_int_equal(reg, 60);
}

/* A broadcast write (unit 0) is applied by both units and answered by none. */
static void test_a_broadcast_write_reaches_both_units_unanswered(void **state)
{
	struct fixture *f = *state;
	double got[PROF_MAX_POINTS];
	struct sim_pp_state st = { 0 };
	uint8_t extra[16];
	int fd = open_raw(f->path);
	struct mb_req req = { .unit = MB_UNIT_BROADCAST,
			      .fc = MB_FC_WRITE_SINGLE_REGISTER,
			      .addr = 2010,
			      .value = 3 };

	send_req(fd, &req);
	assert_int_equal(recv_quiet(fd, extra, sizeof(extra), QUIET_MS), 0);
	assert_int_equal(sim_pp_get(f->ts.sim, f->pp, &st), 0);
	assert_int_equal(st.command_source, 3);
	assert_true(sim_prof_get(f->ts.sim, f->acu, got, PROF_MAX_POINTS) > 0);
	assert_true(got[point(f->meter, "mode")] == 3);
	assert_int_equal(stats(f).broadcasts, 1);
	close(fd);

	/* libmodbus's broadcast: 3.1.6 waits for a reply (none comes: it times out) */
	f->mb = mb_open(f->path, QUIET_MS);
	assert_int_equal(modbus_set_slave(f->mb, MODBUS_BROADCAST_ADDRESS), 0);
	assert_int_equal(modbus_write_register(f->mb, 2010, 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(modbus_set_slave(f->mb, 2), 0);
	assert_int_equal(modbus_read_registers(f->mb, 2010, 1, (uint16_t[1]){ 0 }), 1);
	assert_int_equal(sim_pp_get(f->ts.sim, f->pp, &st), 0);
	assert_int_equal(st.command_source, 0);
	assert_int_equal(stats(f).broadcasts, 2);
}

/* A request with a bad CRC gets no answer and is counted; the next good one is answered. */
static void test_a_damaged_request_gets_no_answer_and_is_counted(void **state)
{
	struct fixture *f = *state;
	struct mb_rtu_splitter s = { 0 };
	struct mb_req req = rd(1, MB_FC_READ_HOLDING_REGISTERS, PP_REG_SOE, 1);
	uint8_t buf[MB_RTU_ADU_MAX];
	struct mb_rsp rsp;
	int fd = open_raw(f->path);
	int n = mb_rtu_encode_req(buf, sizeof(buf), &req);

	assert_int_equal(n, 8);
	buf[7] ^= 0x5A;
	send_all(fd, buf, (size_t)n);
	assert_int_equal(recv_quiet(fd, buf, sizeof(buf), QUIET_MS), 0);
	assert_true(stats(f).crc_errors >= 1);
	assert_true(stats(f).noise_bytes >= 1);
	/* a truncated request, then (after a silence) a whole one */
	n = mb_rtu_encode_req(buf, sizeof(buf), &req);
	send_all(fd, buf, 5);
	assert_int_equal(recv_quiet(fd, buf + 8, 8, QUIET_MS), 0);
	send_all(fd, buf, (size_t)n);
	assert_int_equal(recv_rsp(fd, &req, &rsp, &s), 0);
	assert_int_equal(mb_get_u16(rsp.data), 60);
	/* a read broadcast, and a reserved unit: silence */
	req.unit = 0;
	n = 0;
	buf[n++] = 0;
	buf[n++] = MB_FC_READ_HOLDING_REGISTERS;
	mb_put_u16(buf + n, PP_REG_SOE);
	mb_put_u16(buf + n + 2, 1);
	n += 4;
	mb_put_u16(buf + n, 0);
	buf[n] = (uint8_t)mb_rtu_crc16(buf, (size_t)n);
	buf[n + 1] = (uint8_t)(mb_rtu_crc16(buf, (size_t)n) >> 8);
	send_all(fd, buf, (size_t)n + 2);
	buf[0] = 250;
	buf[n] = (uint8_t)mb_rtu_crc16(buf, (size_t)n);
	buf[n + 1] = (uint8_t)(mb_rtu_crc16(buf, (size_t)n) >> 8);
	send_all(fd, buf, (size_t)n + 2);
	assert_int_equal(recv_quiet(fd, buf, sizeof(buf), QUIET_MS), 0);
	close(fd);
}

/* Set unit 1's fault flags (0: none). */
static void fault(struct fixture *f, unsigned flags)
{
	struct sim_fault flt = { .flags = flags, .exception = 6 };

	assert_int_equal(sim_set_fault(f->ts.sim, f->pp, &flt), 0);
}

/* After a fault: flush what is left on the line and read SOE normally again. */
static void assert_recovers(struct fixture *f)
{
	uint16_t reg = 0;

	fault(f, 0);
	th_sleep_ms(100);
	modbus_flush(f->mb);
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), 1);
	assert_int_equal(reg, 60);
}

/* Each RTU fault is an error libmodbus reports, and the line serves again once cleared. */
static void test_rtu_faults_are_errors_libmodbus_reports(void **state)
{
	static const unsigned flags[] = { SIM_F_BAD_CRC,    SIM_F_WRONG_UNIT, SIM_F_GARBAGE,
					  SIM_F_NOISE_IN,   SIM_F_SILENCE,    SIM_F_DISCONNECT,
					  SIM_F_MUTE_WRITES };
	struct fixture *f = *state;
	uint16_t reg = 0;

	f->mb = mb_open(f->path, QUIET_MS);
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		fault(f, flags[i]);
		if (flags[i] == SIM_F_MUTE_WRITES) {
			assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), 1);
			assert_int_equal(modbus_write_register(f->mb, PP_REG_COMMAND_SOURCE, 3),
					 -1);
		} else {
			assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), -1);
		}
		if (flags[i] == SIM_F_BAD_CRC)
			assert_int_equal(errno, EMBBADCRC);
		if (flags[i] == SIM_F_WRONG_UNIT)
			assert_int_equal(errno, EMBBADSLAVE);
		if (flags[i] == SIM_F_SILENCE || flags[i] == SIM_F_MUTE_WRITES)
			assert_int_equal(errno, ETIMEDOUT);
		assert_recovers(f);
	}
	/* an exception, and bytes dripped one at a time: a reply libmodbus takes */
	fault(f, SIM_F_EXCEPTION);
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), -1);
	assert_int_equal(errno, EMBXSBUSY);
	fault(f, SIM_F_DRIP | SIM_F_DELAY);
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), 1);
	assert_int_equal(reg, 60);
	assert_recovers(f);
}

/* The same faults on the wire, as an engine's hunting splitter sees them. */
static void test_rtu_faults_on_the_wire(void **state)
{
	struct fixture *f = *state;
	struct mb_rtu_splitter s = { 0 };
	struct mb_req req = rd(1, MB_FC_READ_HOLDING_REGISTERS, PP_REG_SOE, 1);
	uint8_t buf[64];
	struct mb_rsp rsp;
	int fd = open_raw(f->path);
	size_t n;

	/* garbage: SIM_NOISE_BYTES of noise, then the intact reply */
	fault(f, SIM_F_GARBAGE);
	send_req(fd, &req);
	assert_int_equal(recv_rsp(fd, &req, &rsp, &s), 0);
	assert_int_equal(mb_get_u16(rsp.data), 60);
	assert_int_equal(s.discarded, SIM_NOISE_BYTES);
	/* another unit's reply, its CRC good */
	fault(f, SIM_F_WRONG_UNIT);
	send_req(fd, &req);
	n = recv_quiet(fd, buf, sizeof(buf), QUIET_MS);
	assert_int_equal(n, 7);
	assert_int_equal(buf[0], 2);
	assert_int_equal(mb_rtu_decode_rsp(&req, buf, n, &rsp), -MB_EUNIT);
	/* a bad CRC */
	fault(f, SIM_F_BAD_CRC);
	send_req(fd, &req);
	n = recv_quiet(fd, buf, sizeof(buf), QUIET_MS);
	assert_int_equal(n, 7);
	assert_int_equal(mb_rtu_decode_rsp(&req, buf, n, &rsp), -MB_ECRC);
	/* noise inside: one byte more, and the frame fails */
	fault(f, SIM_F_NOISE_IN);
	send_req(fd, &req);
	n = recv_quiet(fd, buf, sizeof(buf), QUIET_MS);
	assert_int_equal(n, 8);
	assert_int_equal(mb_rtu_decode_rsp(&req, buf, 7, &rsp), -MB_ECRC);
	/* disconnect on a line: half the reply, and the line stays */
	fault(f, SIM_F_DISCONNECT);
	send_req(fd, &req);
	n = recv_quiet(fd, buf, sizeof(buf), QUIET_MS);
	assert_int_equal(n, 3);
	/* drip: the whole reply, byte after byte */
	fault(f, SIM_F_DRIP);
	send_req(fd, &req);
	assert_int_equal(recv_rsp(fd, &req, &rsp, &s), 0);
	assert_int_equal(mb_get_u16(rsp.data), 60);
	fault(f, 0);
	close(fd);
}

/* SIM_F_REFUSE on a pty line: unplugged (the client's slave hangs up, no path), then a new pty
 * behind the same link once cleared. */
static void test_an_unplugged_pty_comes_back_behind_its_link(void **state)
{
	struct fixture *f = *state;
	char path[SER_PATH_MAX], target[SER_PATH_MAX];
	uint16_t reg = 0;
	int r = 0;
	ssize_t len;

	fault(f, SIM_F_REFUSE);
	for (int i = 0; i < 200 && (r = sim_serial_path(f->ts.sim, f->pp, path, sizeof(path))) == 0;
	     i++)
		th_sleep_ms(10);
	assert_int_equal(r, -ENODEV);
	fault(f, 0);
	for (int i = 0; i < 300 && (r = sim_serial_path(f->ts.sim, f->pp, path, sizeof(path))) != 0;
	     i++)
		th_sleep_ms(10);
	assert_int_equal(r, 0);
	len = readlink(f->link, target, sizeof(target) - 1);
	assert_true(len > 0);
	target[len] = '\0';
	assert_string_equal(target, path);
	f->mb = mb_open(f->link, RSP_MS);
	assert_int_equal(modbus_read_registers(f->mb, PP_REG_SOE, 1, &reg), 1);
	assert_int_equal(reg, 60);
}

/* A tty the sim is given (a pty pair the test made), 19200 8E1, shared by two units. */
static void test_serves_a_tty_it_is_given(void **state)
{
	struct th_pty p;
	struct th_sim ts = { 0 };
	struct ser_line line = {
		.baud = 19200, .parity = SER_PARITY_EVEN, .data_bits = 8, .stop_bits = 1
	};
	struct sim_endpoint ep = { .unit = 3, .framing = SIM_FRAMING_SERIAL, .line = &line };
	struct mb_rtu_splitter s = { 0 };
	struct mb_req req = rd(3, MB_FC_READ_HOLDING_REGISTERS, PP_REG_SOE, 1);
	struct mb_rsp rsp;
	char path[SER_PATH_MAX];
	int a, b;

	(void)state;
	assert_int_equal(th_pty_open(&p), 0);
	ep.serial = p.slave;
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	a = add_pp(ts.sim, &ep);
	assert_true(a >= 0);
	ep.unit = 4;
	b = add_pp(ts.sim, &ep);
	assert_true(b >= 0);
	ep.unit = 3;
	assert_int_equal(add_pp(ts.sim, &ep), -EINVAL); /* unit 3 is on that line already */
	assert_int_equal(sim_serial_path(ts.sim, b, path, sizeof(path)), 0);
	assert_string_equal(path, p.slave);
	assert_int_equal(sim_port(ts.sim, a), 0);
	assert_int_equal(th_sim_start(&ts), 0);
	for (uint8_t unit = 3; unit <= 4; unit++) {
		req.unit = unit;
		send_req(p.master, &req);
		assert_int_equal(recv_rsp(p.master, &req, &rsp, &s), 0);
		assert_int_equal(rsp.unit, unit);
		assert_int_equal(mb_get_u16(rsp.data), 60);
	}
	/* the tty goes away (the cable's other end closes): the line is lost, named -ENODEV;
	 * stopped before its first retry (SIM_LINE_RETRY_MS), which could meet another pty */
	th_pty_close(&p);
	for (int i = 0; i < 100 && sim_serial_path(ts.sim, a, path, sizeof(path)) == 0; i++)
		th_sleep_ms(1);
	assert_int_equal(sim_serial_path(ts.sim, a, path, sizeof(path)), -ENODEV);
	assert_int_equal(th_sim_stop(&ts), 0);
}

/* Paths that are not ttys, links that are not ours, and endpoints RTU cannot have. */
static void test_refuses_bad_serial_endpoints_by_name(void **state)
{
	struct fixture *f = *state;
	struct sim_endpoint ep = { .unit = 5,
				   .framing = SIM_FRAMING_SERIAL,
				   .serial = "/dev/null" };
	struct ser_line bad = { .baud = 12345, .data_bits = 8, .stop_bits = 1 };
	char file[128], link2[128], path[SER_PATH_MAX];
	struct sim_rtu_stats st;
	struct stat sb;
	int fd, d;

	assert_int_equal(add_pp(f->ts.sim, &ep), -SER_ENOTTY);
	ep.serial = "/nonexistent/ttyUSB9";
	assert_int_equal(add_pp(f->ts.sim, &ep), -ENOENT);
	ep.serial = "pty";
	ep.line = &bad;
	assert_int_equal(add_pp(f->ts.sim, &ep), -SER_EBAUD);
	ep.line = NULL;
	/* a link over a regular file is refused, the file kept */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	ep.link = file;
	assert_int_equal(add_pp(f->ts.sim, &ep), -EEXIST);
	assert_int_equal(lstat(file, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	unlink(file);
	/* a stale symlink is replaced */
	snprintf(link2, sizeof(link2), "%s/stale", f->dir);
	assert_int_equal(symlink("/nonexistent", link2), 0);
	ep.link = link2;
	d = add_pp(f->ts.sim, &ep);
	assert_true(d >= 0);
	assert_int_equal(sim_serial_path(f->ts.sim, d, path, sizeof(path)), 0);
	assert_int_equal(stat(link2, &sb), 0);
	assert_true(S_ISCHR(sb.st_mode));
	/* a link with a tty, unit 0 or 248 on RTU, a TCP port taken by RTU framing */
	ep.serial = "/dev/null";
	assert_int_equal(add_pp(f->ts.sim, &ep), -EINVAL);
	ep = (struct sim_endpoint){ .unit = 0, .framing = SIM_FRAMING_SERIAL, .serial = "pty" };
	assert_int_equal(add_pp(f->ts.sim, &ep), -EINVAL);
	ep.unit = 248;
	assert_int_equal(add_pp(f->ts.sim, &ep), -EINVAL);
	ep = (struct sim_endpoint){ .unit = 1, .framing = SIM_FRAMING_RTU_TCP };
	d = add_pp(f->ts.sim, &ep);
	assert_true(d >= 0);
	ep = (struct sim_endpoint){ .unit = 2, .port = (uint16_t)sim_port(f->ts.sim, d) };
	assert_int_equal(add_pp(f->ts.sim, &ep), -EINVAL);
	ep.framing = SIM_FRAMING_SERIAL;
	assert_int_equal(add_pp(f->ts.sim, &ep), -EINVAL); /* no serial path */
	/* a TCP device has no serial path and no RTU counters */
	ep = (struct sim_endpoint){ .unit = 1 };
	d = add_pp(f->ts.sim, &ep);
	assert_true(d >= 0);
	assert_int_equal(sim_serial_path(f->ts.sim, d, path, sizeof(path)), -EINVAL);
	assert_int_equal(sim_rtu_stats(f->ts.sim, d, &st), -EINVAL);
	assert_int_equal(sim_serial_path(f->ts.sim, 999, path, sizeof(path)), -ENOENT);
	assert_int_equal(sim_serial_path(f->ts.sim, f->pp, path, 4), -ENAMETOOLONG);
	unlink(link2); /* sim_free() would; the fixture's dir must be empty */
}

/* RTU over TCP: RTU ADUs on a socket; units share the port; RTU's silences; a fault. */
static void test_rtu_over_tcp(void **state)
{
	struct th_sim ts = { 0 };
	struct sim_endpoint ep = { .unit = 1, .framing = SIM_FRAMING_RTU_TCP };
	struct mb_rtu_splitter s = { 0 };
	struct mb_req req = rd(1, MB_FC_READ_HOLDING_REGISTERS, PP_REG_SOE, 1);
	struct sim_rtu_stats st;
	struct sim_fault flt = { .flags = SIM_F_DISCONNECT };
	struct sim_pp_state pst;
	struct mb_rsp rsp;
	uint8_t buf[MB_RTU_ADU_MAX];
	int a, b, fd, n;

	(void)state;
	ts.sim = sim_new();
	assert_non_null(ts.sim);
	a = add_pp(ts.sim, &ep);
	assert_true(a >= 0);
	ep.port = (uint16_t)sim_port(ts.sim, a);
	ep.unit = 2;
	b = add_pp(ts.sim, &ep);
	assert_true(b >= 0);
	assert_int_equal(th_sim_start(&ts), 0);
	fd = th_connect(ep.port, RSP_MS);
	assert_true(fd >= 0);
	/* each unit its own; FC06 applied */
	for (uint8_t unit = 1; unit <= 2; unit++) {
		req.unit = unit;
		send_req(fd, &req);
		assert_int_equal(recv_rsp(fd, &req, &rsp, &s), 0);
		assert_int_equal(rsp.unit, unit);
		assert_int_equal(mb_get_u16(rsp.data), 60);
	}
	req = (struct mb_req){ .unit = 2,
			       .fc = MB_FC_WRITE_SINGLE_REGISTER,
			       .addr = PP_REG_COMMAND_SOURCE,
			       .value = 3 };
	send_req(fd, &req);
	assert_int_equal(recv_rsp(fd, &req, &rsp, &s), 0);
	assert_int_equal(sim_pp_get(ts.sim, b, &pst), 0);
	assert_int_equal(pst.command_source, 3);
	/* an absent unit and a bad CRC: silence, the connection stays */
	req = rd(7, MB_FC_READ_HOLDING_REGISTERS, PP_REG_SOE, 1);
	send_req(fd, &req);
	n = mb_rtu_encode_req(buf, sizeof(buf),
			      &(struct mb_req){ .unit = 1, .fc = 3, .addr = 2026, .qty = 1 });
	buf[n - 1] ^= 1;
	send_all(fd, buf, (size_t)n);
	assert_int_equal(recv_quiet(fd, buf, sizeof(buf), QUIET_MS), 0);
	assert_int_equal(sim_rtu_stats(ts.sim, a, &st), 0);
	assert_int_equal(st.not_served, 1);
	assert_true(st.crc_errors >= 1);
	th_sleep_ms(2 * SIM_RTU_GAP_MS);
	req = rd(1, MB_FC_READ_HOLDING_REGISTERS, PP_REG_SOE, 1);
	send_req(fd, &req);
	assert_int_equal(recv_rsp(fd, &req, &rsp, &s), 0);
	/* disconnect: half the reply, then the close */
	assert_int_equal(sim_set_fault(ts.sim, a, &flt), 0);
	send_req(fd, &req);
	assert_int_equal(recv_quiet(fd, buf, sizeof(buf), RSP_MS), 3);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	assert_int_equal(th_sim_stop(&ts), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_all_eight_function_codes_over_a_pty_with_libmodbus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_units_on_one_line_each_answers_its_own,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_absent_unit_gets_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_broadcast_write_reaches_both_units_unanswered, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_damaged_request_gets_no_answer_and_is_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtu_faults_are_errors_libmodbus_reports, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rtu_faults_on_the_wire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_unplugged_pty_comes_back_behind_its_link,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_serial_endpoints_by_name, setup,
						teardown),
		cmocka_unit_test(test_serves_a_tty_it_is_given),
		cmocka_unit_test(test_rtu_over_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
