// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the RTU receive paths. The input is a byte stream off a serial line, cut into
 * reads of sizes the input chooses, through mb_rtu_split() twice: as a client awaiting the
 * response to a request the input chooses (into mb_rtu_decode_rsp()), and as a server
 * finding requests to any unit (into mb_rtu_decode_req()); the whole stream also goes to
 * both decoders as one frame. The invariants beyond "no crash": every frame found has the
 * size its header implies and a valid CRC, decoded data lies inside the frame, an error never
 * carries data, and no byte is lost: discarded + found + held = fed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "io/modbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fcs[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10 };

static void check_rsp(const struct mb_req *req, const uint8_t *frame, size_t len)
{
	struct mb_rsp rsp;
	int err = mb_rtu_decode_rsp(req, frame, len, &rsp);

	if (err && rsp.data)
		abort();
	if (!err && rsp.data &&
	    (rsp.data < frame || rsp.data + rsp.byte_count > frame + len ||
	     rsp.byte_count != mb_payload_size(req->fc, req->qty)))
		abort();
}

static void check_req(const uint8_t *frame, size_t len)
{
	struct mb_req req;
	int err = mb_rtu_decode_req(frame, len, &req);

	if (err && req.data)
		abort();
	if (!err && req.data && (req.data < frame || req.data + req.byte_count > frame + len))
		abort();
	if (!err && req.unit > MB_RTU_UNIT_MAX)
		abort();
}

/* Run the stream through one splitter; req NULL: the server side. */
static void split_stream(const struct mb_req *req, const uint8_t *data, size_t size, size_t chunk)
{
	struct mb_rtu_splitter s = { 0 };
	size_t found = 0, fed = size;

	for (;;) {
		size_t n = size < chunk ? size : chunk;
		const uint8_t *p = data;
		bool last = size == 0;

		data += n;
		size -= n;
		/* Bounded: each call consumes, discards or returns a frame. */
		for (unsigned guard = 0;; guard++) {
			const uint8_t *frame;
			size_t used;
			int r = mb_rtu_split(&s, req, p, n, &used, &frame);

			if (guard > n + 2 * MB_RTU_ADU_MAX || used > n || r < 0)
				abort();
			p += used;
			n -= used;
			if (r == 0) {
				if (n)
					abort();
				break;
			}
			if (r > MB_RTU_ADU_MAX || r < MB_RTU_MIN || frame != s.buf)
				abort();
			if (mb_rtu_crc16(frame, (size_t)r) != 0)
				abort(); /* a sealed frame's CRC over itself is 0 */
			if (req ? mb_rtu_rsp_size(req, frame, (size_t)r) != r
				: mb_rtu_req_size(frame, (size_t)r) != r)
				abort();
			found += (size_t)r;
			if (req)
				check_rsp(req, frame, (size_t)r);
			else
				check_req(frame, (size_t)r);
		}
		if (last)
			break;
	}
	if (s.out || s.discarded + found + s.len != fed)
		abort();
	if (s.discarded && !s.noise_err)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t payload[2 * MB_MAX_WRITE_REGS];
	struct mb_req req = { 0 };
	size_t chunk;

	if (size < 6)
		return 0;
	/* Header of the input: the request this stream answers and the read size. */
	req.unit = (uint8_t)(1 + data[0] % MB_RTU_UNIT_MAX);
	req.fc = fcs[data[1] % sizeof(fcs)];
	req.addr = mb_get_u16(data + 2);
	req.qty = (uint16_t)(1 + data[4] % MB_MAX_READ_REGS);
	req.value = req.fc == 0x05 ? MB_COIL_ON : mb_get_u16(data + 2);
	if (req.fc == 0x05 || req.fc == 0x06)
		req.qty = 1;
	if (req.fc == 0x0F || req.fc == 0x10) {
		req.qty = (uint16_t)(1 + data[4] % MB_MAX_WRITE_REGS);
		req.byte_count = (uint8_t)mb_payload_size(req.fc, req.qty);
		req.data = payload;
	}
	chunk = 1 + data[5] % 64;
	data += 6;
	size -= 6;

	split_stream(&req, data, size, chunk);
	split_stream(NULL, data, size, chunk);
	check_rsp(&req, data, size);
	check_req(data, size);
	return 0;
}
