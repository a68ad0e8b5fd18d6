/* SPDX-License-Identifier: MIT */
/*
 * Modbus codec: TCP (MBAP) and RTU (serial line) framing around one PDU layer, request and
 * response encoding and strict decoding for function codes 0x01 0x02 0x03 0x04 0x05 0x06
 * 0x0F 0x10, on both the client and the server side, plus the 16/32-bit value helpers. No
 * allocation, no I/O, no global state: every function is safe on any thread, including the
 * RT ones.
 *
 * Frame layout (Modbus Application Protocol v1.1b3, Modbus Messaging on TCP/IP v1.0b):
 *
 *   0      2      4      6     7    8
 *   +------+------+------+-----+----+------------------+
 *   | TID  | PID  | LEN  | UID | FC | data ...         |   LEN = bytes after LEN = 1 + PDU
 *   +------+------+------+-----+----+------------------+   PDU = FC + data, <= 253 bytes
 *
 * RTU (Modbus over Serial Line v1.02): the same PDU between a unit id and a CRC-16:
 *
 *   0      1    2                  n-2        n
 *   +------+----+------------------+----------+
 *   | unit | FC | data ...         | CRC lo,hi|   CRC-16/MODBUS over unit + PDU, the
 *   +------+----+------------------+----------+   one field sent low byte first; n <= 256
 *
 * An RTU frame carries no length: its end follows from the function code and the byte
 * count (mb_rtu_rsp_size(), mb_rtu_req_size()) and is confirmed by the CRC. Unit 0 is a
 * broadcast: writes only, never answered. 248..255 are reserved.
 *
 * All multi-byte fields are big-endian (but the RTU CRC). Addresses are PDU addresses
 * (0-based).
 */
#ifndef FLUX_IO_MODBUS_H
#define FLUX_IO_MODBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- constants ---------------------------------------------------------------------- */

#define MB_MBAP_SIZE	  7	 /* TID, PID, LEN, UID */
#define MB_PDU_MAX	  253	 /* largest PDU the spec allows */
#define MB_ADU_MAX	  260	 /* MB_MBAP_SIZE + MB_PDU_MAX */
#define MB_MBAP_LEN_MIN	  2	 /* smallest MBAP length: UID + FC */
#define MB_MBAP_LEN_MAX	  254	 /* largest MBAP length: UID + 253-byte PDU */
#define MB_MAX_READ_BITS  2000	 /* FC01, FC02 quantity */
#define MB_MAX_READ_REGS  125	 /* FC03, FC04 quantity */
#define MB_MAX_WRITE_BITS 1968	 /* FC0F quantity */
#define MB_MAX_WRITE_REGS 123	 /* FC10 quantity */
#define MB_COIL_ON	  0xFF00 /* FC05 wire values */
#define MB_COIL_OFF	  0x0000
#define MB_EXC_BIT	  0x80 /* set in the FC of an exception response */

#define MB_RTU_ADU_MAX	     256 /* unit + MB_PDU_MAX + CRC */
#define MB_RTU_MIN	     4	 /* unit + FC + CRC: shorter is never a frame */
#define MB_RTU_CRC_SIZE	     2
#define MB_UNIT_BROADCAST    0
#define MB_RTU_UNIT_MAX	     247       /* 248..255 are reserved on a serial line */
#define MB_RTU_CHAR_BITS     11	       /* start + 8 data + parity or 2nd stop + stop */
#define MB_RTU_FIXED_BAUD    19200     /* above it t1.5 and t3.5 are fixed */
#define MB_RTU_T15_FIXED_NS  750000    /* t1.5 above 19200 baud */
#define MB_RTU_T35_FIXED_NS  1750000   /* t3.5 above 19200 baud */
#define MB_RTU_TURNAROUND_NS 100000000 /* wait after a broadcast (spec: 100..200 ms) */

enum mb_fc {
	MB_FC_READ_COILS = 0x01,
	MB_FC_READ_DISCRETE_INPUTS = 0x02,
	MB_FC_READ_HOLDING_REGISTERS = 0x03,
	MB_FC_READ_INPUT_REGISTERS = 0x04,
	MB_FC_WRITE_SINGLE_COIL = 0x05,
	MB_FC_WRITE_SINGLE_REGISTER = 0x06,
	MB_FC_WRITE_MULTIPLE_COILS = 0x0F,
	MB_FC_WRITE_MULTIPLE_REGISTERS = 0x10,
};

enum mb_exception {
	MB_EX_ILLEGAL_FUNCTION = 0x01,
	MB_EX_ILLEGAL_DATA_ADDRESS = 0x02,
	MB_EX_ILLEGAL_DATA_VALUE = 0x03,
	MB_EX_SERVER_DEVICE_FAILURE = 0x04,
	MB_EX_ACKNOWLEDGE = 0x05,
	MB_EX_SERVER_DEVICE_BUSY = 0x06,
	MB_EX_GATEWAY_PATH_UNAVAILABLE = 0x0A,
	MB_EX_GATEWAY_TARGET_FAILED = 0x0B,
};

/*
 * Error codes, returned negated (-MB_EPROTO). Project codes start at 4096 so they never
 * collide with errno values. A Modbus exception reply from a peer is -(MB_EXC_BASE + code),
 * see MB_EXC(); mb_strerror() names every one.
 */
enum mb_err {
	MB_ERR_BASE = 4096,
	MB_ESHORT = MB_ERR_BASE, /* shorter than the header (MBAP, or RTU unit) + function code */
	MB_EPROTO,		 /* MBAP protocol id is not 0 */
	MB_EMBAPLEN,		 /* MBAP length outside 2..254 */
	MB_EFRAMELEN,		 /* frame size differs from 6 + MBAP length */
	MB_ELENGTH,		 /* MBAP length differs from what FC and byte count imply */
	MB_EFUNC,		 /* function code not supported */
	MB_EQTY,		 /* quantity outside the function's limits */
	MB_EADDR,		 /* address + quantity beyond 0x10000 */
	MB_EBYTECOUNT,		 /* byte count differs from what the quantity implies */
	MB_ECOILVAL,		 /* FC05 value other than 0x0000 or 0xFF00 */
	MB_EECHO,		 /* write response does not echo the request */
	MB_EEXCLEN,		 /* exception response PDU is not exactly 2 bytes */
	MB_EUNIT,		 /* response unit id differs from the request's */
	MB_ETID,		 /* response transaction id differs from the request's */
	MB_EFCMISMATCH, /* response function code is neither the request's nor its exception */
	MB_ENOSPACE,	/* output buffer too small */
	MB_EINVAL,	/* invalid argument given to the codec */
	MB_ECRC,	/* RTU frame whose CRC-16 does not match its bytes */
	MB_EBROADCAST,	/* a read, or a reply, for unit 0 (broadcast: writes only, no reply) */
	MB_EUNITID,	/* RTU unit id 248..255 (reserved) */
	MB_ERR_END,
	MB_EXC_BASE = 4352, /* + exception code 1..255 */
	MB_EXC_END = MB_EXC_BASE + 256,
};

#define MB_EXC(code) (MB_EXC_BASE + (code)) /* error code of exception `code` */

/* Byte/word order of a 32-bit value in two registers; A is the most significant byte. */
enum mb_order {
	MB_ORDER_ABCD, /* big-endian, high word first (Modbus default) */
	MB_ORDER_CDAB, /* low word first */
	MB_ORDER_BADC, /* bytes swapped in each word, high word first */
	MB_ORDER_DCBA, /* little-endian */
};

/* ---- structs ------------------------------------------------------------------------ */

/*
 * A request: built by a client for mb_encode_req(), filled by mb_decode_req() on a server.
 * Owned by the caller; `data` is not owned: it points into the caller's payload (encode) or
 * into the decoded frame (decode), in wire order (packed bits LSB-first, or big-endian
 * registers), `byte_count` bytes long. Only FC0F and FC10 use data/byte_count.
 */
struct mb_req {
	uint16_t tid;
	uint8_t unit;
	uint8_t fc;
	uint16_t addr;
	uint16_t qty;	/* coils or registers; 1 for FC05 and FC06 */
	uint16_t value; /* FC05: 0x0000 or 0xFF00; FC06: the register value */
	uint8_t byte_count;
	const uint8_t *data;
};

/*
 * A decoded response, filled by mb_decode_rsp(). For reads `data` points into the frame
 * (wire order, byte_count bytes); for writes addr/qty/value hold the echo. On an exception
 * reply `exception` holds its code and nothing else but tid/unit/fc is meaningful.
 */
struct mb_rsp {
	uint16_t tid;
	uint8_t unit;
	uint8_t fc; /* without MB_EXC_BIT */
	uint8_t exception;
	uint8_t byte_count;
	uint16_t addr;
	uint16_t qty;
	uint16_t value;
	const uint8_t *data;
};

/*
 * Incremental frame splitter for one TCP byte stream. Owned by the connection's thread.
 * Holds at most one partial frame; zero-initialise or mb_split_reset() before use.
 */
struct mb_splitter {
	uint16_t len; /* bytes held in buf */
	uint8_t buf[MB_ADU_MAX];
};

/*
 * Incremental frame finder for one RTU byte stream (a serial line, or RTU over TCP). Owned by
 * the bus's thread. Holds at most one candidate frame; zero-initialise before use and
 * mb_rtu_split_reset() before each request. Bytes that cannot start the awaited frame are
 * discarded one at a time (noise): `discarded` counts them, `noise_err` says why, for an
 * engine to report when the awaited frame never comes: -MB_ECRC once a frame of the awaited
 * unit, function and size failed its CRC (the reply came, damaged: that sticks until reset),
 * else the reason the last byte went (-MB_EUNIT, -MB_EFCMISMATCH, -MB_EBYTECOUNT, -MB_EFUNC);
 * 0 when nothing was discarded since reset.
 */
struct mb_rtu_splitter {
	uint16_t len;	    /* bytes held in buf */
	uint16_t out;	    /* bytes of the frame returned last, dropped on the next call */
	int noise_err;	    /* why bytes were discarded (see above), or 0; cleared by reset */
	uint64_t discarded; /* bytes discarded as noise since zeroed; not cleared by reset */
	uint8_t buf[MB_RTU_ADU_MAX];
};

/* mb_decode_rsp() flags */
#define MB_RSP_ANY_TID 0x1 /* gateways that do not echo the TID: match unit and FC only */

/* ---- prototypes --------------------------------------------------------------------- */

/* Name of an error code (negative or positive); never NULL, never allocates. */
const char *mb_strerror(int err);

/* Name of an exception code ("illegal data address"), or "unknown exception". */
const char *mb_exception_name(unsigned code);

/* Bytes of payload a FC0F/FC10 request or a FC01-04 response carries for qty items. */
unsigned mb_payload_size(uint8_t fc, uint16_t qty);

/*
 * Client: encode `req` as an ADU into buf. Validates every spec limit of the request.
 * Returns the ADU length, or -MB_E* (MB_ENOSPACE when cap is too small).
 */
int mb_encode_req(uint8_t *buf, size_t cap, const struct mb_req *req);

/*
 * Client: decode and validate one whole response frame against the request it answers.
 * Returns 0 on a normal response, -MB_EXC(code) on a well-formed exception reply (rsp filled,
 * rsp->exception set), or another -MB_E* when the frame is malformed or answers something
 * else. flags: MB_RSP_ANY_TID or 0. rsp->data points into frame.
 */
int mb_decode_rsp(const struct mb_req *req, const uint8_t *frame, size_t len, unsigned flags,
		  struct mb_rsp *rsp);

/*
 * Server: decode and validate one whole request frame. Returns 0, or -MB_E*. On errors a
 * server should answer (see mb_exception_for()) req->tid, unit and fc are filled. req->data
 * points into frame.
 */
int mb_decode_req(const uint8_t *frame, size_t len, struct mb_req *req);

/*
 * Server: the exception code to answer a request that mb_decode_req() rejected with err
 * (MB_EFUNC -> 0x01, MB_EADDR -> 0x02, MB_EQTY/MB_EBYTECOUNT/MB_ECOILVAL -> 0x03), or 0 when
 * the frame must not be answered (the stream is broken: drop the connection). A request
 * whose function code has the exception bit set cannot be answered either:
 * mb_encode_exception() refuses it with -MB_EINVAL.
 */
uint8_t mb_exception_for(int err);

/*
 * Server: encode the normal response to req. For FC01-04 `data` holds the payload in wire
 * order, mb_payload_size(req->fc, req->qty) bytes; for writes it is ignored (the response is
 * the echo). Returns the ADU length or -MB_E*.
 */
int mb_encode_rsp(uint8_t *buf, size_t cap, const struct mb_req *req, const uint8_t *data);

/* Server: encode exception `code` (1..255) in reply to req. Returns the ADU length or -MB_E*. */
int mb_encode_exception(uint8_t *buf, size_t cap, const struct mb_req *req, uint8_t code);

/*
 * Feed stream bytes to the splitter. Consumes up to n bytes of `in` (*used says how many)
 * and returns: > 0 when a whole frame of that many bytes is ready at *frame (valid until the
 * next call: it points into `in` or into s->buf); 0 when every byte was consumed and more are
 * needed; -MB_EPROTO or -MB_EMBAPLEN when the header is invalid (the stream is lost:
 * reset the splitter and the connection). Never reads beyond in[n - 1].
 */
int mb_split(struct mb_splitter *s, const uint8_t *in, size_t n, size_t *used,
	     const uint8_t **frame);

/* Forget any partial frame. */
static inline void mb_split_reset(struct mb_splitter *s)
{
	s->len = 0;
}

/*
 * ---- PDU layer (FC + data), shared by the TCP and RTU framings -------------------------
 * The same checks and errors as the framed functions, minus the frame's own fields: they
 * neither read nor write tid or unit. pdu/len is the PDU alone (FC first).
 */

/* Encode req's PDU. Returns the PDU length or -MB_E* (MB_ENOSPACE when cap is too small). */
int mb_pdu_encode_req(uint8_t *pdu, size_t cap, const struct mb_req *req);

/* Decode a request PDU into req's PDU fields (tid and unit untouched). 0 or -MB_E*. */
int mb_pdu_decode_req(const uint8_t *pdu, size_t len, struct mb_req *req);

/* Encode the normal response PDU to req (data as for mb_encode_rsp()). Length or -MB_E*. */
int mb_pdu_encode_rsp(uint8_t *pdu, size_t cap, const struct mb_req *req, const uint8_t *data);

/* Encode the exception response PDU `code` to req. Length or -MB_E*. */
int mb_pdu_encode_exception(uint8_t *pdu, size_t cap, const struct mb_req *req, uint8_t code);

/*
 * Decode a response PDU against req into rsp's PDU fields (tid and unit untouched). Returns
 * as mb_decode_rsp(): 0, -MB_EXC(code), or -MB_E*.
 */
int mb_pdu_decode_rsp(const struct mb_req *req, const uint8_t *pdu, size_t len, struct mb_rsp *rsp);

/*
 * ---- RTU framing (io/codec_rtu.c) ----------------------------------------------------
 * tid is neither sent nor checked. Every function is pure and RT-safe.
 */

/* CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF) of n bytes; on the wire low byte first. */
uint16_t mb_rtu_crc16(const uint8_t *p, size_t n);

/*
 * Client: encode req as an RTU ADU (unit + PDU + CRC) into buf, every limit of
 * mb_encode_req() checked, plus: a read to unit 0 is -MB_EBROADCAST, unit 248..255
 * -MB_EUNITID. Returns the ADU length or -MB_E*.
 */
int mb_rtu_encode_req(uint8_t *buf, size_t cap, const struct mb_req *req);

/*
 * Client: decode one whole RTU response frame against req. Returns 0, -MB_EXC(code) (rsp
 * filled, rsp->exception set), or -MB_E*: MB_ESHORT, MB_ECRC (checked first, before any
 * field is believed), MB_EUNIT, MB_EFCMISMATCH, MB_EEXCLEN, MB_ELENGTH, MB_EBYTECOUNT,
 * MB_EECHO; MB_EBROADCAST when req went to unit 0 (no reply is valid). rsp->data points into
 * frame; rsp->tid is 0.
 */
int mb_rtu_decode_rsp(const struct mb_req *req, const uint8_t *frame, size_t len,
		      struct mb_rsp *rsp);

/*
 * Server: decode one whole RTU request frame. Returns 0 or -MB_E*: MB_ESHORT, MB_ECRC,
 * MB_EUNITID, the PDU errors of mb_decode_req() (after which unit and fc are filled, for an
 * mb_exception_for() reply), or MB_EBROADCAST for a read sent to unit 0. A server never
 * answers unit 0 (the RTU response encoders refuse it). req->data points into frame.
 */
int mb_rtu_decode_req(const uint8_t *frame, size_t len, struct mb_req *req);

/* Server: the RTU normal response to req (as mb_encode_rsp()). ADU length or -MB_E*. */
int mb_rtu_encode_rsp(uint8_t *buf, size_t cap, const struct mb_req *req, const uint8_t *data);

/* Server: the RTU exception response `code` to req. ADU length or -MB_E*. */
int mb_rtu_encode_exception(uint8_t *buf, size_t cap, const struct mb_req *req, uint8_t code);

/*
 * Client: size of the response frame to req that starts at buf, from the n bytes so far.
 * Returns 0 when more bytes are needed to know it, the size N (> 0: whole once n >= N; 5
 * for an exception, 8 for a write echo, 5 + byte count for a read), or -MB_EUNIT,
 * -MB_EFCMISMATCH, -MB_EBYTECOUNT when these bytes cannot start the response to req
 * (-MB_EINVAL, -MB_EBROADCAST for a req that has no response).
 */
int mb_rtu_rsp_size(const struct mb_req *req, const uint8_t *buf, size_t n);

/*
 * Server: size of the request frame that starts at buf, from the n bytes so far. Returns 0
 * (need more), the size N (8, or 9 + byte count for FC0F/FC10), or -MB_EFUNC,
 * -MB_EBYTECOUNT (a byte count no valid PDU has) when these bytes cannot start a request.
 */
int mb_rtu_req_size(const uint8_t *buf, size_t n);

/*
 * Find the next frame in an RTU stream: the response to req, or (req NULL, server side) a
 * request to any unit. Consumes up to n bytes of `in` (*used says how many) and returns the
 * size of a frame ready at *frame (valid until the next call), whose unit, function, byte
 * count and CRC are the awaited ones (decode it for the rest: echo, exception); or 0 when
 * every byte was consumed and no frame is whole yet. Never takes a byte past the frame's
 * end. Noise is never an error: bytes that cannot start the awaited frame (another unit, a
 * wrong function or byte count, a CRC that fails) are discarded one at a time and hunting
 * goes on from the next byte, see struct mb_rtu_splitter. Bytes held over after a frame are
 * looked at on the next call, so call again (n may be 0) until it returns 0. Negative only
 * for a req that can have no response (-MB_EINVAL, -MB_EBROADCAST, -MB_EUNITID).
 */
int mb_rtu_split(struct mb_rtu_splitter *s, const struct mb_req *req, const uint8_t *in, size_t n,
		 size_t *used, const uint8_t **frame);

/* Forget any partial frame and the last discard reason (before each request). */
static inline void mb_rtu_split_reset(struct mb_rtu_splitter *s)
{
	s->len = 0;
	s->out = 0;
	s->noise_err = 0;
}

/*
 * Line timing at `baud` (> 0), 11 bits per character, rounded up to the ns; -MB_EINVAL for
 * baud 0. t3.5 is the silence that separates frames (before each request), t1.5 the longest
 * gap allowed inside one; both are fixed above 19200 baud (1750 us, 750 us).
 */
int64_t mb_rtu_char_ns(uint32_t baud);
int64_t mb_rtu_t15_ns(uint32_t baud);
int64_t mb_rtu_t35_ns(uint32_t baud);

/* Wire time of n bytes at baud (n characters of 11 bits), rounded up; -MB_EINVAL for baud 0. */
int64_t mb_rtu_wire_ns(uint32_t baud, size_t n);

/*
 * Size of the normal RTU response to req (8 for a write, 5 + payload for a read), or 0 when
 * none comes: a broadcast (unit 0). -MB_E* for a req that cannot be encoded.
 */
int mb_rtu_rsp_len(const struct mb_req *req);

/* Parse "abcd", "cdab", "badc" or "dcba" (any case). Returns the order or -MB_EINVAL. */
int mb_order_parse(const char *s);

/* Name of an order ("abcd"...). */
const char *mb_order_name(enum mb_order order);

/* ---- inline helpers ----------------------------------------------------------------- */

static inline uint16_t mb_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void mb_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Does an RTU req get a response? Not a broadcast (unit 0): wait MB_RTU_TURNAROUND_NS. */
static inline bool mb_rtu_expects_rsp(const struct mb_req *req)
{
	return req->unit != MB_UNIT_BROADCAST;
}

/* Transaction id of a frame of at least 2 bytes: lets an engine find the request first. */
static inline uint16_t mb_peek_tid(const uint8_t *frame)
{
	return mb_get_u16(frame);
}

/* Wire-order registers to host values, and back. n registers. */
static inline void mb_regs_from_wire(uint16_t *dst, const uint8_t *src, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		dst[i] = mb_get_u16(src + 2 * i);
}

static inline void mb_regs_to_wire(uint8_t *dst, const uint16_t *src, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		mb_put_u16(dst + 2 * i, src[i]);
}

/* Bit i of a packed, LSB-first bit field (coils, discrete inputs). */
static inline bool mb_get_bit(const uint8_t *bits, unsigned i)
{
	return (bits[i / 8] >> (i % 8)) & 1;
}

static inline void mb_set_bit(uint8_t *bits, unsigned i, bool on)
{
	if (on)
		bits[i / 8] = (uint8_t)(bits[i / 8] | 1u << (i % 8));
	else
		bits[i / 8] = (uint8_t)(bits[i / 8] & ~(1u << (i % 8)));
}

static inline int16_t mb_get_i16(uint16_t reg)
{
	return (int16_t)reg;
}

static inline uint16_t mb_from_i16(int16_t v)
{
	return (uint16_t)v;
}

/* A 32-bit value from two host-order registers as they came off the wire. */
static inline uint32_t mb_get_u32(const uint16_t *regs, enum mb_order order)
{
	uint16_t r0 = regs[0], r1 = regs[1];

	switch (order) {
	case MB_ORDER_CDAB:
		return (uint32_t)r1 << 16 | r0;
	case MB_ORDER_BADC:
		return (uint32_t)__builtin_bswap16(r0) << 16 | __builtin_bswap16(r1);
	case MB_ORDER_DCBA:
		return (uint32_t)__builtin_bswap16(r1) << 16 | __builtin_bswap16(r0);
	case MB_ORDER_ABCD:
	default:
		return (uint32_t)r0 << 16 | r1;
	}
}

/* Store a 32-bit value into two registers in the given order (inverse of mb_get_u32). */
static inline void mb_set_u32(uint16_t *regs, uint32_t v, enum mb_order order)
{
	uint16_t hi = (uint16_t)(v >> 16), lo = (uint16_t)v;

	switch (order) {
	case MB_ORDER_CDAB:
		regs[0] = lo;
		regs[1] = hi;
		break;
	case MB_ORDER_BADC:
		regs[0] = __builtin_bswap16(hi);
		regs[1] = __builtin_bswap16(lo);
		break;
	case MB_ORDER_DCBA:
		regs[0] = __builtin_bswap16(lo);
		regs[1] = __builtin_bswap16(hi);
		break;
	case MB_ORDER_ABCD:
	default:
		regs[0] = hi;
		regs[1] = lo;
		break;
	}
}

static inline int32_t mb_get_i32(const uint16_t *regs, enum mb_order order)
{
	return (int32_t)mb_get_u32(regs, order);
}

static inline void mb_set_i32(uint16_t *regs, int32_t v, enum mb_order order)
{
	mb_set_u32(regs, (uint32_t)v, order);
}

/* IEEE 754 binary32 in two registers. */
static inline float mb_get_f32(const uint16_t *regs, enum mb_order order)
{
	uint32_t u = mb_get_u32(regs, order);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline void mb_set_f32(uint16_t *regs, float f, enum mb_order order)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	mb_set_u32(regs, u, order);
}

#endif /* FLUX_IO_MODBUS_H */
