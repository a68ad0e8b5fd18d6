// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a server's receive path (the simulators). Bytes go through mb_split() into
 * mb_decode_req(), and every accepted request is answered with mb_encode_rsp(), whose output
 * must itself decode as the answer to that request: what the server accepts, it can answer.
 */
#include <stdint.h>
#include <stdlib.h>

#include "io/modbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const uint8_t *frame, size_t len)
{
	static const uint8_t regs[256];
	uint8_t out[MB_ADU_MAX];
	struct mb_req req;
	struct mb_rsp rsp;
	int err, n;

	err = mb_decode_req(frame, len, &req);
	if (err) {
		uint8_t code = mb_exception_for(err);

		/* A function code with the exception bit set cannot be answered: drop it. */
		if (code && (req.fc & MB_EXC_BIT)) {
			if (mb_encode_exception(out, sizeof(out), &req, code) != -MB_EINVAL)
				abort();
		} else if (code) {
			n = mb_encode_exception(out, sizeof(out), &req, code);
			if (n != 9 || out[7] != (req.fc | MB_EXC_BIT) || out[8] != code)
				abort();
			/* A client can only have asked with a function it supports. */
			if (err != -MB_EFUNC &&
			    mb_decode_rsp(&req, out, (size_t)n, 0, &rsp) != -MB_EXC(code))
				abort();
		}
		return;
	}
	if (req.byte_count && (req.data < frame || req.data + req.byte_count > frame + len))
		abort();
	n = mb_encode_rsp(out, sizeof(out), &req, regs);
	if (n <= 0 || n > MB_ADU_MAX)
		abort();
	if (mb_decode_rsp(&req, out, (size_t)n, 0, &rsp) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_splitter s = { 0 };
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = 1 + data[0] % 32;
	data++;
	size--;
	/* Every input also goes to the decoder whole, as one frame. */
	answer(data, size);
	while (size) {
		size_t n = size < chunk ? size : chunk;
		const uint8_t *p = data;

		data += n;
		size -= n;
		while (n) {
			const uint8_t *frame;
			size_t used;
			int r = mb_split(&s, p, n, &used, &frame);

			p += used;
			n -= used;
			if (r < 0) {
				mb_split_reset(&s);
				break;
			}
			if (r == 0)
				break;
			answer(frame, (size_t)r);
		}
	}
	return 0;
}
