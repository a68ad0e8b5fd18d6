// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the status protocol's request parser, st_parse_request(), the only code that
 * reads the bytes a `flux status` client sends. The bytes are fed as fluxd's server reads them
 * (into ST_REQ_MAX bytes, in pieces of several sizes, stopping once the line decides), and
 * every way must agree with the whole input and with a plain reading of the grammar: once a
 * prefix decides, more bytes never change the answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The grammar as the protocol comment states it, written apart from the parser. */
static enum st_req expected(const char *buf, size_t size)
{
	size_t limit = size < ST_REQ_MAX ? size : ST_REQ_MAX, n = 0;
	static const char *const lines[] = { "status\n", "status\r\n", "status json\n",
					     "status json\r\n" };
	static const enum st_req reqs[] = { ST_REQ_TEXT, ST_REQ_TEXT, ST_REQ_JSON, ST_REQ_JSON };

	while (n < limit && buf[n] != '\n')
		n++;
	if (n == limit)
		return size >= ST_REQ_MAX ? ST_REQ_BAD : ST_REQ_NONE;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (strlen(lines[i]) == n + 1 && memcmp(buf, lines[i], n + 1) == 0)
			return reqs[i];
	return ST_REQ_BAD;
}

/* fluxd's read_req(): up to ST_REQ_MAX bytes, `chunk` per recv, until the line decides. */
static enum st_req as_the_server_reads(const char *buf, size_t size, size_t chunk)
{
	char in[ST_REQ_MAX];
	size_t len = 0;
	enum st_req req = ST_REQ_NONE;

	while (req == ST_REQ_NONE && len < size) {
		size_t n = size - len < chunk ? size - len : chunk;

		if (n > ST_REQ_MAX - len)
			n = ST_REQ_MAX - len;
		memcpy(in + len, buf + len, n);
		len += n;
		req = st_parse_request(in, len);
	}
	return req;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 8, 13, ST_REQ_MAX, 4096 };
	const char *buf = (const char *)data;
	enum st_req whole = st_parse_request(buf, size);
	size_t probe = size < ST_REQ_MAX + 1 ? size : ST_REQ_MAX + 1;

	if (whole > ST_REQ_BAD || whole != expected(buf, size))
		abort();
	/* A decided prefix stays decided, with the same answer. */
	for (size_t k = 0, is_decided = 0; k <= probe; k++) {
		enum st_req r = st_parse_request(buf, k);

		if (is_decided ? r != whole : r != ST_REQ_NONE && r != whole)
			abort();
		is_decided = r != ST_REQ_NONE;
	}
	/* Bytes past ST_REQ_MAX are never looked at. */
	if (size > ST_REQ_MAX && st_parse_request(buf, ST_REQ_MAX) != whole)
		abort();
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		if (as_the_server_reads(buf, size, chunks[i]) != whole)
			abort();
	return 0;
}
