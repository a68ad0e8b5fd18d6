// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the FC43/14 reply decoder `flux scan` feeds from the network,
 * scan_decode_devid_rsp(). Each input is decoded as it is, then again with its MBAP header
 * made consistent (protocol 0, the length of what follows) so that the objects themselves get
 * explored. It must return 0 or a named error, read nothing past the frame (ASan, and the
 * replay's exact-size copy), and on success hold printable, bounded strings and the header's
 * conformity and more-follows fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/modbus.h"
#include "tools/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_scan_devid: %s failed (%zu bytes)\n", #cond, size);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool is_printable(const char *s)
{
	size_t n = strnlen(s, SCAN_ID_MAX);

	if (n == SCAN_ID_MAX)
		return false; /* not terminated within the field */
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7F)
			return false;
	return true;
}

static bool is_named(int err)
{
	int e = -err;

	if (err == 0)
		return true;
	if (e >= SCAN_ERR_BASE && e < SCAN_ERR_END)
		return true;
	if (e >= MB_EXC_BASE && e < MB_EXC_END)
		return true;
	return e == MB_EPROTO || e == MB_EFRAMELEN || e == MB_ETID || e == MB_EUNIT ||
	       e == MB_EFCMISMATCH || e == MB_EEXCLEN;
}

static void decode(const uint8_t *frame, size_t size)
{
	struct scan_devid id;
	uint16_t tid = size >= 2 ? mb_peek_tid(frame) : 0;
	uint8_t unit = size >= 7 ? frame[6] : 0;
	int err = scan_decode_devid_rsp(frame, size, tid, unit, &id);

	check(is_named(err));
	check(strcmp(scan_strerror(err), "") != 0);
	if (err)
		return;
	check(size >= MB_MBAP_SIZE + SCAN_DEVID_HDR);
	check(frame[7] == SCAN_FC_MEI && frame[8] == SCAN_MEI_DEVICE_ID);
	check(id.conformity == frame[10]);
	check(id.has_more == (frame[11] == 0xFF));
	check(is_printable(id.vendor) && is_printable(id.product) && is_printable(id.revision));
	/* The TID or unit of another request is refused. */
	check(scan_decode_devid_rsp(frame, size, (uint16_t)(tid + 1), unit, &id) == -MB_ETID);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	decode(data, size);
	if (size < MB_MBAP_SIZE || size > MB_ADU_MAX)
		return 0;
	fixed = malloc(size);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	mb_put_u16(fixed + 2, 0);
	mb_put_u16(fixed + 4, (uint16_t)(size - 6));
	decode(fixed, size);
	free(fixed);
	return 0;
}
