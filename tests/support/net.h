/* SPDX-License-Identifier: MIT */
/*
 * Test support: loopback sockets with deadlines, and a one-connection Modbus TCP server built
 * on the Flux codec (io/modbus.h) for tests that need a peer. Everything binds to 127.0.0.1
 * on a port the OS picks; every wait is bounded by a deadline, so a bug fails a test instead
 * of hanging it. Test code only: it prints nothing and never exits.
 */
#ifndef FLUX_TESTS_SUPPORT_NET_H
#define FLUX_TESTS_SUPPORT_NET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TH_TIMEOUT_MS 5000    /* default bound on any one wait */
#define TH_NADDR      0x10000 /* addresses in each Modbus table */

/*
 * Register and coil tables of a simulated device, in host order; one byte per bit. Requests
 * whose [addr, addr + qty) leaves [win_addr, win_addr + win_count) get exception 0x02.
 * win_count 0 means the whole address space.
 */
struct th_bank {
	uint16_t hold[TH_NADDR];
	uint16_t input[TH_NADDR];
	uint8_t coils[TH_NADDR];
	uint8_t discrete[TH_NADDR];
	uint16_t win_addr;
	uint32_t win_count;
};

/*
 * A codec server: accepts one connection on 127.0.0.1:port and serves it on its own thread.
 * Before th_srv_open() the caller owns the struct (zero it, fill bank); after it, bank is
 * shared with the server thread and guarded by `lock`. Large: allocate it, do not put it on a
 * thread's stack.
 */
struct th_srv {
	struct th_bank bank; /* guarded by lock while the thread runs */
	pthread_mutex_t lock;
	pthread_t thread;
	int lfd;
	uint16_t port;
	int timeout_ms;	    /* bound on accept and on each idle wait */
	atomic_bool stop;   /* set by th_srv_close() */
	atomic_uint served; /* requests answered, exceptions included */
	int err;	    /* server thread's result; read after join */
	bool is_running;
};

/* Monotonic clock in ns; deadlines below are absolute values of it. */
int64_t th_now_ns(void);

/* Sleep ms milliseconds (a signal may cut it short). */
void th_sleep_ms(long ms);

/* Absolute deadline timeout_ms from now. */
int64_t th_deadline_ns(int timeout_ms);

/*
 * Listen on 127.0.0.1 on a port the OS picks (stored in *port). Returns the fd (CLOEXEC)
 * or -errno.
 */
int th_listen(uint16_t *port);

/* Accept one connection, waiting at most timeout_ms. Returns the fd or -errno (-ETIMEDOUT). */
int th_accept(int lfd, int timeout_ms);

/* Connect to 127.0.0.1:port within timeout_ms, TCP_NODELAY set. Returns the fd or -errno. */
int th_connect(uint16_t port, int timeout_ms);

/* Set SO_RCVTIMEO and SO_SNDTIMEO on fd. Returns 0 or -errno. */
int th_set_timeouts(int fd, int timeout_ms);

/* Send all len bytes before deadline_ns. Returns 0, -ETIMEDOUT or -errno. */
int th_send_all(int fd, const void *buf, size_t len, int64_t deadline_ns);

/*
 * Receive what is available (at least one byte) before deadline_ns. Returns the byte count,
 * 0 when the peer closed, -ETIMEDOUT or -errno.
 */
int th_recv_some(int fd, void *buf, size_t cap, int64_t deadline_ns);

/* Receive exactly len bytes before deadline_ns. Returns 0, -ECONNRESET on EOF, -ETIMEDOUT. */
int th_recv_exact(int fd, void *buf, size_t len, int64_t deadline_ns);

/*
 * Listen and start the server thread; srv->port says where. The thread serves one
 * connection until the peer closes (err 0), th_srv_close() (err 0), timeout_ms passes with
 * no connection or no request (-ETIMEDOUT), or a frame the codec says must not be answered
 * (that error). Returns 0 or -errno; on failure nothing is left open.
 */
int th_srv_open(struct th_srv *srv, int timeout_ms);

/* Stop and join the thread, close every fd. Returns the thread's err. Safe to call twice. */
int th_srv_close(struct th_srv *srv);

#endif /* FLUX_TESTS_SUPPORT_NET_H */
