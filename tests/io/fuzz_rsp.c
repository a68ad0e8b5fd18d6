// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a client's receive path. The input is a byte stream from a peer, cut into
 * reads of sizes the input chooses, through mb_split() into mb_decode_rsp() against a request
 * the input also chooses. The invariant beyond "no crash": a decoded read response's payload
 * lies wholly inside the frame, and an error never carries data.
 */
#include <stdint.h>
#include <stdlib.h>

#include "io/modbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fcs[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t payload[2 * MB_MAX_WRITE_REGS];
	struct mb_splitter s = { 0 };
	struct mb_req req = { 0 };
	struct mb_rsp rsp;
	size_t chunk;

	if (size < 8)
		return 0;
	/* Header of the input: the request this stream answers and the read size. */
	req.tid = mb_get_u16(data);
	req.unit = data[2];
	req.fc = fcs[data[3] % sizeof(fcs)];
	req.addr = mb_get_u16(data + 4);
	req.qty = (uint16_t)(1 + data[6] % MB_MAX_READ_REGS);
	req.value = req.fc == 0x05 ? MB_COIL_ON : mb_get_u16(data + 4);
	if (req.fc == 0x05 || req.fc == 0x06)
		req.qty = 1;
	if (req.fc == 0x0F || req.fc == 0x10) {
		req.qty = (uint16_t)(1 + data[6] % MB_MAX_WRITE_REGS);
		req.byte_count = (uint8_t)mb_payload_size(req.fc, req.qty);
		req.data = payload;
	}
	chunk = 1 + data[7] % 64;
	data += 8;
	size -= 8;

	while (size) {
		size_t n = size < chunk ? size : chunk;
		const uint8_t *p = data;

		data += n;
		size -= n;
		while (n) {
			const uint8_t *frame;
			size_t used;
			int r = mb_split(&s, p, n, &used, &frame);

			if (used > n)
				abort();
			p += used;
			n -= used;
			if (r < 0) {
				mb_split_reset(&s);
				break;
			}
			if (r == 0)
				break;
			if (r > MB_ADU_MAX)
				abort();
			int err = mb_decode_rsp(&req, frame, (size_t)r,
						req.tid & 1 ? MB_RSP_ANY_TID : 0, &rsp);
			if (err && rsp.data)
				abort();
			if (!err && rsp.data &&
			    (rsp.data < frame || rsp.data + rsp.byte_count > frame + r))
				abort();
			if (!err && rsp.data && rsp.byte_count != mb_payload_size(req.fc, req.qty))
				abort();
		}
	}
	return 0;
}
