/* SPDX-License-Identifier: MIT */
/*
 * Private to bench/modbus_*.c: what the load client and the load server must agree on. The
 * server listens on K consecutive loopback addresses (base, base+1, ... all in 127.0.0.0/8)
 * at one port; connection i of every client goes to address base+i, so N connections are N
 * distinct endpoints (the engine shares one connection per host:port) and every client impl
 * meets the server the same way. Static inline helpers only: each bench program is linked
 * on its own.
 */
#ifndef FLUX_BENCH_LOAD_INT_H
#define FLUX_BENCH_LOAD_INT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ---- constants ---------------------------------------------------------------------- */

#define LOAD_MAX_CONNS	4096 /* the engine's ENG_MAX_DEVICES */
#define LOAD_READ_ADDR	2000 /* FC03 reads LOAD_READ_REGS registers here */
#define LOAD_READ_REGS	10
#define LOAD_WRITE_ADDR 2008 /* FC06 writes this register */
#define LOAD_UNIT	1

/* ---- helpers ------------------------------------------------------------------------ */

/*
 * Parse a dotted IPv4 loopback base address, and check that base + n - 1 stays inside
 * 127.0.0.0/8. Returns 0 with *base (host order), or -EINVAL with a message in err.
 */
static inline int load_parse_base(const char *s, unsigned n, uint32_t *base, char *err,
				  size_t errlen)
{
	struct in_addr a;
	uint32_t b;

	if (inet_pton(AF_INET, s, &a) != 1) {
		snprintf(err, errlen, "host '%s' is not a dotted IPv4 address", s);
		return -EINVAL;
	}
	b = ntohl(a.s_addr);
	if ((b >> 24) != 127) {
		snprintf(err, errlen,
			 "host '%s' is not in 127.0.0.0/8: this benchmark only "
			 "loads loopback",
			 s);
		return -EINVAL;
	}
	if (n == 0 || (b & 0xFFFFFFu) == 0 || (uint64_t)(b & 0xFFFFFFu) + n - 1 > 0xFFFFFEu) {
		snprintf(err, errlen, "host '%s' + %u addresses leaves 127.0.0.0/8", s, n);
		return -EINVAL;
	}
	*base = b;
	return 0;
}

/* Address of connection i: base + i, as a sockaddr. */
static inline struct sockaddr_in load_addr(uint32_t base, unsigned i, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(base + i);
	return sa;
}

/* Address of connection i as a dotted string into buf (INET_ADDRSTRLEN bytes). */
static inline void load_addr_str(uint32_t base, unsigned i, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = htonl(base + i) };

	inet_ntop(AF_INET, &a, buf, (socklen_t)len);
}

/* Raise the soft RLIMIT_NOFILE to at least want (up to the hard limit). Returns the new soft
 * limit, or -errno. */
static inline long load_raise_nofile(unsigned long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return -errno;
	}
	return (long)rl.rlim_cur;
}

/* Parse an unsigned decimal in [min, max]. Returns 0 or -EINVAL. */
static inline int load_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

#endif /* FLUX_BENCH_LOAD_INT_H */
