// SPDX-License-Identifier: MIT
/*
 * Tests of `flux modpoll` and `flux mbpoll` (tools/cmd_modpoll.c) against a recording server on
 * 127.0.0.1: a small Modbus TCP server on a thread that keeps the raw bytes of every request
 * and answers from one register bank. The bytes on the wire are compared with the Modbus
 * frames modpoll sends, and with what the real /usr/bin/mbpoll sends to the same server when
 * it is installed. Every wait is bounded (the tools' -o, the server's deadlines).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/modbus.h"
#include "tools/tools.h"
#include "tests/support/net.h"
#include "tests/support/toolrun.h"

#define REC_MAX	   32
#define MBPOLL_BIN "/usr/bin/mbpoll"

/* ---- the recording server ---------------------------------------------------------------- */

struct rec_srv {
	int lfd;
	uint16_t port;
	char port_s[8];
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards everything below while the thread runs */
	uint8_t req[REC_MAX][MB_ADU_MAX];
	size_t len[REC_MAX];
	unsigned nreq;
	uint16_t regs[TH_NADDR]; /* holding and input registers alike; coil i = regs[i] & 1 */
};

/* Read one whole request frame into buf. Returns its length, 0 when idle, or < 0 to close. */
static int rec_read_frame(struct rec_srv *s, int fd, uint8_t *buf)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t deadline = th_deadline_ns(2000);
	size_t n;

	if (poll(&p, 1, 100) <= 0 || atomic_load(&s->stop))
		return 0;
	if (th_recv_exact(fd, buf, 6, deadline))
		return -ECONNRESET;
	n = mb_get_u16(buf + 4);
	if (n < MB_MBAP_LEN_MIN || n > MB_MBAP_LEN_MAX)
		return -EPROTO;
	if (th_recv_exact(fd, buf + 6, n, deadline))
		return -ECONNRESET;
	return (int)(6 + n);
}

static void rec_answer(struct rec_srv *s, int fd, const uint8_t *frame, size_t len)
{
	uint8_t out[MB_ADU_MAX], data[MB_PDU_MAX];
	struct mb_req req;
	int n, err;

	pthread_mutex_lock(&s->lock);
	if (s->nreq < REC_MAX) {
		memcpy(s->req[s->nreq], frame, len);
		s->len[s->nreq++] = len;
	}
	err = mb_decode_req(frame, len, &req);
	if (err) {
		n = mb_encode_exception(out, sizeof(out), &req, mb_exception_for(err));
	} else {
		switch (req.fc) {
		case MB_FC_READ_COILS:
		case MB_FC_READ_DISCRETE_INPUTS:
			memset(data, 0, sizeof(data));
			for (unsigned i = 0; i < req.qty; i++)
				mb_set_bit(data, i, s->regs[(uint16_t)(req.addr + i)] & 1);
			break;
		case MB_FC_READ_HOLDING_REGISTERS:
		case MB_FC_READ_INPUT_REGISTERS:
			mb_regs_to_wire(data, s->regs + req.addr, req.qty);
			break;
		case MB_FC_WRITE_SINGLE_REGISTER:
			s->regs[req.addr] = req.value;
			break;
		case MB_FC_WRITE_MULTIPLE_REGISTERS:
			mb_regs_from_wire(s->regs + req.addr, req.data, req.qty);
			break;
		default:
			break;
		}
		n = mb_encode_rsp(out, sizeof(out), &req, data);
	}
	pthread_mutex_unlock(&s->lock);
	if (n > 0)
		th_send_all(fd, out, (size_t)n, th_deadline_ns(2000));
}

/* Serve connections one after another until stop (bounded: 60 s in all). */
static void *rec_thread(void *arg)
{
	struct rec_srv *s = arg;
	int64_t end = th_deadline_ns(60000);
	uint8_t frame[MB_ADU_MAX];

	while (!atomic_load(&s->stop) && th_now_ns() < end) {
		int fd = th_accept(s->lfd, 100), n;

		if (fd < 0)
			continue;
		while (!atomic_load(&s->stop) && th_now_ns() < end) {
			n = rec_read_frame(s, fd, frame);
			if (n < 0)
				break;
			if (n > 0)
				rec_answer(s, fd, frame, (size_t)n);
		}
		close(fd);
	}
	return NULL;
}

static int srv_setup(void **state)
{
	struct rec_srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	pthread_mutex_init(&s->lock, NULL);
	s->lfd = th_listen(&s->port);
	assert_true(s->lfd >= 0);
	snprintf(s->port_s, sizeof(s->port_s), "%u", s->port);
	s->regs[2025] = 60;
	s->regs[2026] = 0x4049; /* 3.14159274 big-endian word order at PDU 2026..2027 */
	s->regs[2027] = 0x0FDB;
	s->regs[100] = 0x0FDB; /* the same float, low word first, at PDU 100..101 */
	s->regs[101] = 0x4049;
	s->regs[200] = 0x0001; /* 65538 as int32: ABCD at 200..201, CDAB at 202..203 */
	s->regs[201] = 0x0002;
	s->regs[202] = 0x0002;
	s->regs[203] = 0x0001;
	s->regs[300] = 0xFFFF;
	assert_int_equal(pthread_create(&s->thread, NULL, rec_thread, s), 0);
	*state = s;
	return 0;
}

static int srv_teardown(void **state)
{
	struct rec_srv *s = *state;

	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return 0;
}

static void rec_reset(struct rec_srv *s)
{
	pthread_mutex_lock(&s->lock);
	s->nreq = 0;
	pthread_mutex_unlock(&s->lock);
}

static unsigned rec_count(struct rec_srv *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->nreq;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Request i as recorded; the tool has exited, so the thread has stored it already. */
static void expect_req(struct rec_srv *s, unsigned i, const uint8_t *want, size_t len)
{
	pthread_mutex_lock(&s->lock);
	if (i >= s->nreq || s->len[i] != len || memcmp(s->req[i], want, len) != 0) {
		fprintf(stderr, "request %u of %u differs (len %zu, want %zu):", i, s->nreq,
			i < s->nreq ? s->len[i] : 0, len);
		for (size_t k = 0; i < s->nreq && k < s->len[i]; k++)
			fprintf(stderr, " %02x", s->req[i][k]);
		fputc('\n', stderr);
		pthread_mutex_unlock(&s->lock);
		fail();
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * Run the real mbpoll with args (NULL-terminated) against the server, its output discarded,
 * and copy its first request. Returns the length, or 0 when mbpoll is not installed.
 */
static size_t run_real_mbpoll(struct rec_srv *s, uint8_t *first, ...)
{
	char *argv[TH_TOOL_ARGS_MAX] = { "mbpoll" };
	int argc = 1, status = 0;
	size_t len = 0;
	va_list ap;
	pid_t pid;

	if (access(MBPOLL_BIN, X_OK) != 0)
		return 0;
	va_start(ap, first);
	for (char *a; argc < TH_TOOL_ARGS_MAX - 1 && (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	rec_reset(s);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execv(MBPOLL_BIN, argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) { /* 5 s at most */
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(10000);
		if (i == 499) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	}
	pthread_mutex_lock(&s->lock);
	if (s->nreq) {
		len = s->len[0];
		memcpy(first, s->req[0], len);
	}
	pthread_mutex_unlock(&s->lock);
	assert_true(len > 0);
	return len;
}

static void skip_note(void)
{
	printf("  (skip: " MBPOLL_BIN " is not installed: compared with the spec's frame only)\n");
}

/* ---- the seed's two lines ---------------------------------------------------------------- */

static void test_modpoll_seed_read_sends_pdu_2025(void **state)
{
	static const uint8_t want[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
					0x01, 0x03, 0x07, 0xE9, 0x00, 0x01 };
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	uint8_t real[MB_ADU_MAX];
	size_t n;

	assert_non_null(r);
	rec_reset(s);
	/* The seed's line, plus -p (a test port) and -1 (modpoll polls until Ctrl-C). */
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-m", "tcp", "-a", "1", "-r",
				     "2026", "-c", "1", "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "-- Polling slave...\n[2026]: 60\n");
	th_tool_has(r, "start reference = 2026, count = 1");
	assert_int_equal(rec_count(s), 1);
	expect_req(s, 0, want, sizeof(want));
	n = run_real_mbpoll(s, real, "-m", "tcp", "-a", "1", "-r", "2026", "-c", "1", "-1", "-p",
			    s->port_s, "127.0.0.1", NULL);
	if (!n)
		skip_note();
	else
		assert_memory_equal(real, want, sizeof(want));
	free(r);
}

static void test_modpoll_seed_write_sends_fc06_at_pdu_2007(void **state)
{
	static const uint8_t want[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
					0x01, 0x06, 0x07, 0xD7, 0x00, 0x32 };
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	uint8_t real[MB_ADU_MAX];
	size_t n;

	assert_non_null(r);
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-m", "tcp", "-a", "1", "-r",
				     "2008", "-c", "1", "-p", s->port_s, "127.0.0.1", "50", NULL),
			 0);
	th_tool_has(r, "Written 1 reference.");
	assert_int_equal(rec_count(s), 1);
	expect_req(s, 0, want, sizeof(want));
	/* mbpoll's -c turns a write into a read: the same line without it. */
	n = run_real_mbpoll(s, real, "-m", "tcp", "-a", "1", "-r", "2008", "-p", s->port_s,
			    "127.0.0.1", "50", NULL);
	if (!n)
		skip_note();
	else
		assert_memory_equal(real, want, sizeof(want));
	free(r);
}

static void test_mbpoll_float_big_endian_matches_real_mbpoll(void **state)
{
	static const uint8_t want[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
					0x01, 0x03, 0x07, 0xEA, 0x00, 0x02 };
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	uint8_t real[MB_ADU_MAX];
	size_t n;

	assert_non_null(r);
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-t", "4:float", "-B", "-r",
				     "2027", "-c", "1", "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "-- Polling slave 1...\n[2027]: \t3.14159\n");
	th_tool_has(r, "32-bit float (big endian), output (holding) register table");
	expect_req(s, 0, want, sizeof(want));
	n = run_real_mbpoll(s, real, "-t", "4:float", "-B", "-r", "2027", "-c", "1", "-1", "-p",
			    s->port_s, "127.0.0.1", NULL);
	if (!n)
		skip_note();
	else
		assert_memory_equal(real, want, sizeof(want));
	free(r);
}

/* ---- numbering, unit lists, word orders -------------------------------------------------- */

static void test_zero_based_and_one_based_send_the_same_pdu(void **state)
{
	static const uint8_t want[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
					0x01, 0x03, 0x07, 0xE9, 0x00, 0x01 };
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-0", "-r", "2025", "-1", "-p",
				     s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2025]: 60\n");
	expect_req(s, 0, want, sizeof(want));
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-0", "-r", "2025", "-1", "-p",
				     s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2025]: \t60\n");
	expect_req(s, 0, want, sizeof(want));
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-r", "2026", "-1", "-p",
				     s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2026]: \t60\n");
	expect_req(s, 0, want, sizeof(want));
	free(r);
}

static void test_mbpoll_unit_list_and_range_poll_each(void **state)
{
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-a", "1,2", "-r", "2026", "-1",
				     "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "address = [1,2]");
	th_tool_has(r,
		    "-- Polling slave 1...\n[2026]: \t60\n-- Polling slave 2...\n[2026]: \t60\n");
	assert_int_equal(rec_count(s), 2);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->req[0][6], 1);
	assert_int_equal(s->req[1][6], 2);
	pthread_mutex_unlock(&s->lock);
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-a", "3:5,9", "-r", "2026",
				     "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	assert_int_equal(rec_count(s), 4);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->req[0][6], 3);
	assert_int_equal(s->req[2][6], 5);
	assert_int_equal(s->req[3][6], 9);
	pthread_mutex_unlock(&s->lock);
	free(r);
}

static void test_word_order_flags_decode_known_values(void **state)
{
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	/* Default of both: low word first. */
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-t", "4:float", "-r", "101",
				     "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[101]: \t3.14159\n");
	th_tool_has(r, "32-bit float (little endian)");
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-t", "4:float", "-r", "101",
				     "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[101]: 3.14159\n");
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-t", "3:float", "-f", "-r",
				     "2027", "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[2027]: 3.14159\n");
	th_tool_has(r, "input register table");
	/* -i applies to integers only, -f to floats only. */
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-t", "4:int", "-i", "-r",
				     "201", "-c", "2", "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[201]: 65538\n");
	th_tool_has(r, "[203]: 131073\n");
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-t", "4:int", "-f", "-r",
				     "203", "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[203]: 65538\n");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-t", "4:int", "-B", "-r", "201",
				     "-1", "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[201]: \t65538\n");
	/* 16-bit: mbpoll shows 65535 (-1), hex 0xFFFF. */
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-r", "301", "-1", "-p",
				     s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[301]: \t65535 (-1)\n");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-t", "4:hex", "-r", "301", "-1",
				     "-p", s->port_s, "127.0.0.1", NULL),
			 0);
	th_tool_has(r, "[301]: \t0xFFFF\n");
	free(r);
}

static void test_writes_pick_fc16_and_coil_functions(void **state)
{
	static const uint8_t fc16[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x0B, 0x01, 0x10, 0x01,
					0xF4, 0x00, 0x02, 0x04, 0x00, 0x07, 0x00, 0x08 };
	static const uint8_t fc05[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
					0x01, 0x05, 0x00, 0x09, 0xFF, 0x00 };
	static const uint8_t fc15[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x08, 0x01,
					0x0F, 0x00, 0x09, 0x00, 0x03, 0x01, 0x05 };
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-r", "501", "-p", s->port_s,
				     "127.0.0.1", "7", "8", NULL),
			 0);
	th_tool_has(r, "Written 2 references.");
	expect_req(s, 0, fc16, sizeof(fc16));
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-t", "0", "-r", "10", "-p",
				     s->port_s, "127.0.0.1", "1", NULL),
			 0);
	th_tool_has(r, "Written 1 references.");
	expect_req(s, 0, fc05, sizeof(fc05));
	rec_reset(s);
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-t", "0", "-r", "10", "-p",
				     s->port_s, "127.0.0.1", "1", "0", "1", NULL),
			 0);
	expect_req(s, 0, fc15, sizeof(fc15));
	free(r);
}

/* ---- polling until Ctrl-C ---------------------------------------------------------------- */

struct interrupter {
	struct rec_srv *s;
	pthread_t thread;
};

/* Send SIGINT once the server has seen three polls (bounded: 10 s). */
static void *interrupt_after_polls(void *arg)
{
	struct interrupter *in = arg;

	for (int i = 0; i < 1000 && rec_count(in->s) < 3; i++)
		usleep(10000);
	kill(getpid(), SIGINT);
	return NULL;
}

static void test_polls_until_ctrl_c_with_statistics(void **state)
{
	struct rec_srv *s = *state;
	struct th_tool_run *r = calloc(1, sizeof(*r));
	struct interrupter in = { .s = s };

	assert_non_null(r);
	rec_reset(s);
	assert_int_equal(pthread_create(&in.thread, NULL, interrupt_after_polls, &in), 0);
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-r", "2026", "-l", "50", "-p",
				     s->port_s, "127.0.0.1", NULL),
			 0);
	pthread_join(in.thread, NULL);
	assert_true(rec_count(s) >= 3);
	th_tool_has(r, "-- Polling slave 1... Ctrl-C to stop)\n[2026]: \t60\n");
	th_tool_has(r, "poll statistics ---\n");
	th_tool_has(r, " received, 0 errors, 0.0% frame loss\n");
	free(r);
}

/* ---- usage errors ------------------------------------------------------------------------ */

static void test_bad_options_exit_2_with_a_named_error(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	/* On a serial line -p is the parity (the RTU runs are in tests/tools/test_tools_rtu). */
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-m", "rtu", "-p", "502",
				     "/dev/ttyS0", NULL),
			 2);
	th_tool_has(r, "flux modpoll: -p: on a serial line (-m rtu) -p is the parity");
	assert_int_equal(
	    th_tool_run(r, cmd_modpoll_main, "modpoll", "-m", "ascii", "/dev/ttyS0", NULL), 2);
	th_tool_has(r, "flux modpoll: -m: want tcp, rtu or enc");
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-t", "5", "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "flux modpoll: -t: want 0, 1, 3");
	assert_int_equal(
	    th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-t", "4:double", "127.0.0.1", NULL), 2);
	th_tool_has(r, "flux mbpoll: -t: want");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-x", "127.0.0.1", NULL), 2);
	th_tool_has(r, "flux mbpoll: unknown option -x");
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-B", "127.0.0.1", NULL), 2);
	th_tool_has(r, "flux modpoll: unknown option -B");
	assert_int_equal(
	    th_tool_run(r, cmd_modpoll_main, "modpoll", "-a", "1,2", "127.0.0.1", NULL), 2);
	th_tool_has(r, "-a: modpoll takes one slave address");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-a", "5:2", "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "flux mbpoll: -a 2: want a whole number in 5..255");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-r", "0", "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "-r: references start at 1 (or give -0)");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-l", "5", "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "flux mbpoll: -l 5: want a duration");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-r", NULL), 2);
	th_tool_has(r, "option -r needs a value");
	assert_int_equal(th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-1", NULL), 2);
	th_tool_has(r, "HOST is required");
	assert_int_equal(
	    th_tool_run(r, cmd_mbpoll_main, "mbpoll", "-t", "3", "127.0.0.1", "5", NULL), 2);
	th_tool_has(r, "inputs (-t 1, -t 3) are read-only");
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "127.0.0.1", "x", NULL), 2);
	th_tool_has(r, "writevalue 'x'");
	assert_int_equal(th_tool_run(r, cmd_modpoll_main, "modpoll", "-h", NULL), 0);
	th_tool_has(r, "-r 2026 is PDU");
	free(r);
}

static void test_flux_read_names_flux_modpoll_for_its_flags(void **state)
{
	struct th_tool_run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	/* -m is flux read's too now (tcp, rtu, rtutcp); -B and -0 are modpoll/mbpoll's only. */
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-B", "-a", "1", "-r", "2026", "-c",
				     "1", "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "flux read: -B is a modpoll/mbpoll option: use `flux modpoll`");
	assert_int_equal(th_tool_run(r, cmd_read_main, "read", "-0", "-r", "1", "127.0.0.1", NULL),
			 2);
	th_tool_has(r, "`flux modpoll`");
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modpoll_seed_read_sends_pdu_2025),
		cmocka_unit_test(test_modpoll_seed_write_sends_fc06_at_pdu_2007),
		cmocka_unit_test(test_mbpoll_float_big_endian_matches_real_mbpoll),
		cmocka_unit_test(test_zero_based_and_one_based_send_the_same_pdu),
		cmocka_unit_test(test_mbpoll_unit_list_and_range_poll_each),
		cmocka_unit_test(test_word_order_flags_decode_known_values),
		cmocka_unit_test(test_writes_pick_fc16_and_coil_functions),
		cmocka_unit_test(test_polls_until_ctrl_c_with_statistics),
		cmocka_unit_test(test_bad_options_exit_2_with_a_named_error),
		cmocka_unit_test(test_flux_read_names_flux_modpoll_for_its_flags),
	};

	return cmocka_run_group_tests(tests, srv_setup, srv_teardown);
}
