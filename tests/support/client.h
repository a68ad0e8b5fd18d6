/* SPDX-License-Identifier: MIT */
/*
 * Test support: a simulator (devices/sim.h) running on its own thread, and a Modbus TCP
 * client framed by io/modbus.h over a loopback socket. Every wait is bounded, so a bug fails a test
 * instead of hanging it.
 */
#ifndef FLUX_TESTS_SUPPORT_CLIENT_H
#define FLUX_TESTS_SUPPORT_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/sim.h"
#include "io/modbus.h"
#include "tests/support/net.h"

/* ---- a simulator on its own thread ----------------------------------------------- */

struct th_sim {
	struct sim *sim;
	pthread_t thread;
	int err;
	bool is_running;
};

/* Start the loop of an already populated sim. Returns 0 or -errno. */
int th_sim_start(struct th_sim *t);

/* Stop and join the loop, free the sim. Returns the loop's result. */
int th_sim_stop(struct th_sim *t);

/* ---- a codec client ---------------------------------------------------------------- */

struct th_client {
	int fd;
	uint16_t tid;
	struct mb_splitter split;
	uint8_t frame[MB_ADU_MAX]; /* the last frame received */
};

/* Connect to 127.0.0.1:port with send/receive timeouts. Returns the fd or -errno. */
int th_connect_fd(uint16_t port);

/* A client on 127.0.0.1:port (th_connect_fd()), first TID 0x100. Returns 0 or -errno. */
int th_open(struct th_client *c, uint16_t port);

/* Close the client's socket; safe to call twice. */
void th_close(struct th_client *c);

/* Send all len bytes within TH_TIMEOUT_MS. Returns 0 or -errno (-ETIMEDOUT). */
int th_send(int fd, const void *buf, size_t len);

/* Bytes still missing from the frame the splitter holds (the header first). */
size_t th_frame_left(const struct mb_splitter *s);

/*
 * Receive bytes until the splitter has one frame, waiting at most timeout_ms overall.
 * Returns the frame length (frame in c->frame), -ETIMEDOUT, -ECONNRESET on EOF, -MB_E* when
 * the stream is not Modbus. *nrecv (optional) counts the recv() calls that returned data.
 */
int th_recv_frame(struct th_client *c, int timeout_ms, int *nrecv);

/* One exchange: encode req (tid assigned), send, receive and decode. Returns mb_decode_rsp()'s
 * result or a transport error. */
int th_xfer(struct th_client *c, struct mb_req *req, struct mb_rsp *rsp);

/* FC03 read into regs[qty]. Returns 0, -MB_EXC(code) or another error. */
int th_read(struct th_client *c, uint8_t unit, uint16_t addr, uint16_t qty, uint16_t *regs);

/* One register by FC03, or a negative error. */
int th_read1(struct th_client *c, uint8_t unit, uint16_t addr);

/* FC06. Returns 0, -MB_EXC(code) or another error. */
int th_write(struct th_client *c, uint8_t unit, uint16_t addr, uint16_t value);

#endif /* FLUX_TESTS_SUPPORT_CLIENT_H */
