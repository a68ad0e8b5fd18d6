// SPDX-License-Identifier: MIT
/*
 * Fuzz target: `flux scan`'s TARGET words, scan_parse_target(). An accepted target is a
 * range first <= last; written back as "a.b.c.d-e.f.g.h" it parses to the same range; a
 * CIDR "/n" holds 2^(32-n) addresses, less the network and broadcast ones for n <= 30.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARG_MAX 256 /* longer than any target: "255.255.255.255-255.255.255.255" */

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_scan_target: %s failed for \"%s\"\n", #cond, arg);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void format_ip(uint32_t a, char *buf)
{
	struct in_addr in = { .s_addr = htonl(a) };

	if (!inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char arg[ARG_MAX + 1], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], text[2 * INET_ADDRSTRLEN];
	struct scan_range r, again;
	const char *slash;
	size_t n = size < ARG_MAX ? size : ARG_MAX;
	int err;

	memcpy(arg, data, n);
	arg[n] = '\0';
	err = scan_parse_target(arg, &r);
	check(err == 0 || err == -EINVAL);
	if (err)
		return 0;
	check(r.first <= r.last);
	check(scan_count(&r, 1) == (uint64_t)r.last - r.first + 1);
	format_ip(r.first, a);
	format_ip(r.last, b);
	snprintf(text, sizeof(text), "%s-%s", a, b);
	check(scan_parse_target(text, &again) == 0);
	check(again.first == r.first && again.last == r.last);
	if (r.first == r.last) {
		check(scan_parse_target(a, &again) == 0);
		check(again.first == r.first && again.last == r.last);
	}
	slash = strchr(arg, '/');
	if (slash) {
		unsigned bits = (unsigned)strtoul(slash + 1, NULL, 10);
		uint64_t hosts = (1ull << (32 - bits)) - (bits <= 30 ? 2 : 0);

		check(bits <= 32 && scan_count(&r, 1) == hosts);
	}
	return 0;
}
