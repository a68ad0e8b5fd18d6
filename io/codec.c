// SPDX-License-Identifier: MIT
/*
 * Modbus TCP codec: encode/decode of MBAP frames and the eight PDUs Flux speaks; the PDU
 * layer (mb_pdu_*) is shared with the RTU framing in io/codec_rtu.c.
 * The one idea: the MBAP length is the frame boundary, and every other length in a frame
 * (quantity, byte count, bytes present) must agree with it exactly, or the frame is rejected
 * with a named error. Nothing here sizes a buffer from a peer's number.
 */
#include <strings.h>

#include "io/modbus.h"

/* PDU lengths (FC + data) of the fixed-size PDUs and headers. */
#define PDU_ADDR_QTY	    5u /* FC ADDR(2) QTY|VALUE(2) */
#define PDU_WRITE_MULTI_HDR 6u /* FC ADDR(2) QTY(2) BC */
#define PDU_READ_RSP_HDR    2u /* FC BC */
#define PDU_EXCEPTION	    2u /* FC|0x80 CODE */

static const char *const err_names[MB_ERR_END - MB_ERR_BASE] = {
	[MB_ESHORT - MB_ERR_BASE] = "frame shorter than its header and function code",
	[MB_EPROTO - MB_ERR_BASE] = "MBAP protocol id is not 0",
	[MB_EMBAPLEN - MB_ERR_BASE] = "MBAP length outside 2..254",
	[MB_EFRAMELEN - MB_ERR_BASE] = "frame size differs from 6 + MBAP length",
	[MB_ELENGTH - MB_ERR_BASE] = "frame length differs from what function and byte count imply",
	[MB_EFUNC - MB_ERR_BASE] = "function code not supported",
	[MB_EQTY - MB_ERR_BASE] = "quantity outside the function's limits",
	[MB_EADDR - MB_ERR_BASE] = "address + quantity beyond 0x10000",
	[MB_EBYTECOUNT - MB_ERR_BASE] = "byte count differs from what the quantity implies",
	[MB_ECOILVAL - MB_ERR_BASE] = "single coil value is neither 0x0000 nor 0xFF00",
	[MB_EECHO - MB_ERR_BASE] = "write response does not echo the request",
	[MB_EEXCLEN - MB_ERR_BASE] = "exception response PDU is not exactly 2 bytes",
	[MB_EUNIT - MB_ERR_BASE] = "response unit id differs from the request's",
	[MB_ETID - MB_ERR_BASE] = "response transaction id differs from the request's",
	[MB_EFCMISMATCH - MB_ERR_BASE] = "response function code does not match the request",
	[MB_ENOSPACE - MB_ERR_BASE] = "output buffer too small",
	[MB_EINVAL - MB_ERR_BASE] = "invalid argument",
	[MB_ECRC - MB_ERR_BASE] = "RTU frame CRC mismatch",
	[MB_EBROADCAST - MB_ERR_BASE] = "unit 0 is broadcast: writes only, never answered",
	[MB_EUNITID - MB_ERR_BASE] = "RTU unit id outside 0..247 (248..255 are reserved)",
};

/* Exception names as the Modbus spec gives them; "exception 0x02 illegal data address". */
static const char *const exc_names[12] = {
	[0x01] = "illegal function",
	[0x02] = "illegal data address",
	[0x03] = "illegal data value",
	[0x04] = "server device failure",
	[0x05] = "acknowledge",
	[0x06] = "server device busy",
	[0x08] = "memory parity error",
	[0x0A] = "gateway path unavailable",
	[0x0B] = "gateway target device failed to respond",
};

/* "exception 0xNN <name>", spelled out so mb_strerror never formats. */
static const char *const exc_strs[256] = {
	[0x01] = "exception 0x01 illegal function",
	[0x02] = "exception 0x02 illegal data address",
	[0x03] = "exception 0x03 illegal data value",
	[0x04] = "exception 0x04 server device failure",
	[0x05] = "exception 0x05 acknowledge",
	[0x06] = "exception 0x06 server device busy",
	[0x08] = "exception 0x08 memory parity error",
	[0x0A] = "exception 0x0A gateway path unavailable",
	[0x0B] = "exception 0x0B gateway target device failed to respond",
};

const char *mb_exception_name(unsigned code)
{
	if (code < sizeof(exc_names) / sizeof(exc_names[0]) && exc_names[code])
		return exc_names[code];
	return "unknown exception";
}

const char *mb_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	if (err >= MB_ERR_BASE && err < MB_ERR_END)
		return err_names[err - MB_ERR_BASE];
	if (err >= MB_EXC_BASE && err < MB_EXC_END) {
		const char *s = exc_strs[err - MB_EXC_BASE];

		return s ? s : "exception (unknown code)";
	}
	return "not a Modbus error (an errno value: see strerror)";
}

static bool is_read_bits(uint8_t fc)
{
	return fc == MB_FC_READ_COILS || fc == MB_FC_READ_DISCRETE_INPUTS;
}

static bool is_read_regs(uint8_t fc)
{
	return fc == MB_FC_READ_HOLDING_REGISTERS || fc == MB_FC_READ_INPUT_REGISTERS;
}

static bool is_write_single(uint8_t fc)
{
	return fc == MB_FC_WRITE_SINGLE_COIL || fc == MB_FC_WRITE_SINGLE_REGISTER;
}

static bool is_write_multi(uint8_t fc)
{
	return fc == MB_FC_WRITE_MULTIPLE_COILS || fc == MB_FC_WRITE_MULTIPLE_REGISTERS;
}

unsigned mb_payload_size(uint8_t fc, uint16_t qty)
{
	if (is_read_bits(fc) || fc == MB_FC_WRITE_MULTIPLE_COILS)
		return (qty + 7u) / 8u;
	if (is_read_regs(fc) || fc == MB_FC_WRITE_MULTIPLE_REGISTERS)
		return 2u * qty;
	return 0;
}

static uint16_t max_qty(uint8_t fc)
{
	switch (fc) {
	case MB_FC_READ_COILS:
	case MB_FC_READ_DISCRETE_INPUTS:
		return MB_MAX_READ_BITS;
	case MB_FC_READ_HOLDING_REGISTERS:
	case MB_FC_READ_INPUT_REGISTERS:
		return MB_MAX_READ_REGS;
	case MB_FC_WRITE_MULTIPLE_COILS:
		return MB_MAX_WRITE_BITS;
	case MB_FC_WRITE_MULTIPLE_REGISTERS:
		return MB_MAX_WRITE_REGS;
	default:
		return 1;
	}
}

/*
 * The limits every request must meet, checked identically when a client encodes and when a
 * server decodes: quantity range (spec 6.1-6.12), address range, FC05 value.
 */
static int check_req_fields(uint8_t fc, uint16_t addr, uint16_t qty, uint16_t value)
{
	if (is_write_single(fc)) {
		if (fc == MB_FC_WRITE_SINGLE_COIL && value != MB_COIL_ON && value != MB_COIL_OFF)
			return -MB_ECOILVAL;
		return 0;
	}
	if (qty < 1 || qty > max_qty(fc))
		return -MB_EQTY;
	if ((uint32_t)addr + qty > 0x10000u)
		return -MB_EADDR;
	return 0;
}

static bool is_supported(uint8_t fc)
{
	return is_read_bits(fc) || is_read_regs(fc) || is_write_single(fc) || is_write_multi(fc);
}

static void put_mbap(uint8_t *buf, uint16_t tid, unsigned len, uint8_t unit, uint8_t fc)
{
	mb_put_u16(buf, tid);
	mb_put_u16(buf + 2, 0);
	mb_put_u16(buf + 4, (uint16_t)len);
	buf[6] = unit;
	buf[7] = fc;
}

/* ---- PDU layer: what TCP (MBAP) and RTU (unit + CRC) frames share ------------------ */

/* Validate a request for encoding. Returns its PDU length or -MB_E*. */
static int req_pdu_len(const struct mb_req *req)
{
	unsigned bc;
	int err;

	if (!is_supported(req->fc))
		return -MB_EFUNC;
	err = check_req_fields(req->fc, req->addr, req->qty, req->value);
	if (err)
		return err;
	if (!is_write_multi(req->fc))
		return (int)PDU_ADDR_QTY;
	bc = mb_payload_size(req->fc, req->qty);
	if (req->byte_count != bc)
		return -MB_EBYTECOUNT;
	if (!req->data)
		return -MB_EINVAL;
	return (int)(PDU_WRITE_MULTI_HDR + bc);
}

/* Write a request validated by req_pdu_len() at pdu (FC first). */
static void put_req_pdu(uint8_t *pdu, const struct mb_req *req)
{
	pdu[0] = req->fc;
	mb_put_u16(pdu + 1, req->addr);
	mb_put_u16(pdu + 3, is_write_single(req->fc) ? req->value : req->qty);
	if (is_write_multi(req->fc)) {
		pdu[5] = req->byte_count;
		memcpy(pdu + 6, req->data, req->byte_count);
	}
}

int mb_pdu_encode_req(uint8_t *pdu, size_t cap, const struct mb_req *req)
{
	int len;

	if (!pdu || !req)
		return -MB_EINVAL;
	len = req_pdu_len(req);
	if (len < 0)
		return len;
	if (cap < (size_t)len)
		return -MB_ENOSPACE;
	put_req_pdu(pdu, req);
	return len;
}

int mb_pdu_decode_req(const uint8_t *pdu, size_t len, struct mb_req *req)
{
	unsigned bc;
	int err;

	if (!req)
		return -MB_EINVAL;
	req->fc = 0;
	req->addr = req->qty = req->value = 0;
	req->byte_count = 0;
	req->data = NULL;
	if (!pdu || len < 1)
		return -MB_ESHORT;
	req->fc = pdu[0];
	if (!is_supported(req->fc))
		return -MB_EFUNC;

	if (is_write_multi(req->fc)) {
		if (len < PDU_WRITE_MULTI_HDR)
			return -MB_ELENGTH;
		req->addr = mb_get_u16(pdu + 1);
		req->qty = mb_get_u16(pdu + 3);
		req->byte_count = pdu[5];
		/* The byte count must be the bytes present... */
		if (len != PDU_WRITE_MULTI_HDR + req->byte_count)
			return -MB_ELENGTH;
		err = check_req_fields(req->fc, req->addr, req->qty, 0);
		if (err)
			return err;
		/* ...and what the quantity implies (libmodbus CVE-2019-14462/14463). */
		bc = mb_payload_size(req->fc, req->qty);
		if (req->byte_count != bc)
			return -MB_EBYTECOUNT;
		req->data = pdu + PDU_WRITE_MULTI_HDR;
		return 0;
	}

	if (len != PDU_ADDR_QTY)
		return -MB_ELENGTH;
	req->addr = mb_get_u16(pdu + 1);
	if (is_write_single(req->fc)) {
		req->qty = 1;
		req->value = mb_get_u16(pdu + 3);
	} else {
		req->qty = mb_get_u16(pdu + 3);
	}
	return check_req_fields(req->fc, req->addr, req->qty, req->value);
}

/* Validate the normal response to req for encoding. Returns its PDU length or -MB_E*. */
static int rsp_pdu_len(const struct mb_req *req, const uint8_t *data)
{
	int err;

	if (!is_supported(req->fc))
		return -MB_EFUNC;
	err = check_req_fields(req->fc, req->addr, req->qty, req->value);
	if (err)
		return err;
	if (is_read_bits(req->fc) || is_read_regs(req->fc)) {
		if (!data)
			return -MB_EINVAL;
		/* At most 250 bytes (2000 coils or 125 registers): PDU 2 + 250 <= 253. */
		return (int)(PDU_READ_RSP_HDR + mb_payload_size(req->fc, req->qty));
	}
	return (int)PDU_ADDR_QTY;
}

/* Write a response validated by rsp_pdu_len() at pdu (FC first). */
static void put_rsp_pdu(uint8_t *pdu, const struct mb_req *req, const uint8_t *data)
{
	pdu[0] = req->fc;
	if (is_read_bits(req->fc) || is_read_regs(req->fc)) {
		unsigned bc = mb_payload_size(req->fc, req->qty);

		pdu[1] = (uint8_t)bc;
		memcpy(pdu + 2, data, bc);
		return;
	}
	/* Writes: the response echoes address and value (FC05/06) or quantity (FC0F/10). */
	mb_put_u16(pdu + 1, req->addr);
	mb_put_u16(pdu + 3, is_write_single(req->fc) ? req->value : req->qty);
}

int mb_pdu_encode_rsp(uint8_t *pdu, size_t cap, const struct mb_req *req, const uint8_t *data)
{
	int len;

	if (!pdu || !req)
		return -MB_EINVAL;
	len = rsp_pdu_len(req, data);
	if (len < 0)
		return len;
	if (cap < (size_t)len)
		return -MB_ENOSPACE;
	put_rsp_pdu(pdu, req, data);
	return len;
}

int mb_pdu_encode_exception(uint8_t *pdu, size_t cap, const struct mb_req *req, uint8_t code)
{
	if (!pdu || !req || code == 0 || (req->fc & MB_EXC_BIT))
		return -MB_EINVAL;
	if (cap < PDU_EXCEPTION)
		return -MB_ENOSPACE;
	pdu[0] = (uint8_t)(req->fc | MB_EXC_BIT);
	pdu[1] = code;
	return (int)PDU_EXCEPTION;
}

int mb_pdu_decode_rsp(const struct mb_req *req, const uint8_t *pdu, size_t len, struct mb_rsp *rsp)
{
	if (!req || !rsp || !is_supported(req->fc))
		return -MB_EINVAL;
	rsp->fc = rsp->exception = rsp->byte_count = 0;
	rsp->addr = rsp->qty = rsp->value = 0;
	rsp->data = NULL;
	if (!pdu || len < 1)
		return -MB_ESHORT;
	rsp->fc = pdu[0] & (uint8_t)~MB_EXC_BIT;
	if (rsp->fc != req->fc)
		return -MB_EFCMISMATCH;

	if (pdu[0] & MB_EXC_BIT) {
		if (len != PDU_EXCEPTION)
			return -MB_EEXCLEN;
		/* Code 0 is not an exception the spec defines: it reads as "unknown code". */
		rsp->exception = pdu[1];
		return -MB_EXC(rsp->exception);
	}

	if (is_read_bits(req->fc) || is_read_regs(req->fc)) {
		if (len < PDU_READ_RSP_HDR)
			return -MB_ELENGTH;
		rsp->byte_count = pdu[1];
		if (len != PDU_READ_RSP_HDR + rsp->byte_count)
			return -MB_ELENGTH;
		if (rsp->byte_count != mb_payload_size(req->fc, req->qty))
			return -MB_EBYTECOUNT;
		rsp->addr = req->addr;
		rsp->qty = req->qty;
		rsp->data = pdu + PDU_READ_RSP_HDR;
		return 0;
	}

	if (len != PDU_ADDR_QTY)
		return -MB_ELENGTH;
	rsp->addr = mb_get_u16(pdu + 1);
	if (is_write_single(req->fc)) {
		rsp->qty = 1;
		rsp->value = mb_get_u16(pdu + 3);
		if (rsp->addr != req->addr || rsp->value != req->value)
			return -MB_EECHO;
	} else {
		rsp->qty = mb_get_u16(pdu + 3);
		if (rsp->addr != req->addr || rsp->qty != req->qty)
			return -MB_EECHO;
	}
	return 0;
}

/* ---- TCP: MBAP header + PDU ------------------------------------------------------- */

int mb_encode_req(uint8_t *buf, size_t cap, const struct mb_req *req)
{
	int len;

	if (!buf || !req)
		return -MB_EINVAL;
	len = req_pdu_len(req);
	if (len < 0)
		return len;
	if (cap < MB_MBAP_SIZE + (size_t)len)
		return -MB_ENOSPACE;
	put_mbap(buf, req->tid, 1u + (unsigned)len, req->unit, req->fc);
	put_req_pdu(buf + MB_MBAP_SIZE, req);
	return MB_MBAP_SIZE + len;
}

/* MBAP checks shared by both decoders. Returns the MBAP length or -MB_E*. */
static int check_mbap(const uint8_t *frame, size_t len)
{
	unsigned mbap_len;

	if (!frame || len < MB_MBAP_SIZE + 1)
		return -MB_ESHORT;
	if (mb_get_u16(frame + 2) != 0)
		return -MB_EPROTO;
	mbap_len = mb_get_u16(frame + 4);
	if (mbap_len < MB_MBAP_LEN_MIN || mbap_len > MB_MBAP_LEN_MAX)
		return -MB_EMBAPLEN;
	if (len != 6 + mbap_len)
		return -MB_EFRAMELEN;
	return (int)mbap_len;
}

int mb_decode_req(const uint8_t *frame, size_t len, struct mb_req *req)
{
	int err;

	if (!req)
		return -MB_EINVAL;
	memset(req, 0, sizeof(*req));
	err = check_mbap(frame, len);
	if (err < 0)
		return err;
	req->tid = mb_get_u16(frame);
	req->unit = frame[6];
	return mb_pdu_decode_req(frame + MB_MBAP_SIZE, (size_t)err - 1, req);
}

uint8_t mb_exception_for(int err)
{
	switch (err < 0 ? -err : err) {
	case MB_EFUNC:
		return MB_EX_ILLEGAL_FUNCTION;
	case MB_EADDR:
		return MB_EX_ILLEGAL_DATA_ADDRESS;
	case MB_EQTY:
	case MB_EBYTECOUNT:
	case MB_ECOILVAL:
		return MB_EX_ILLEGAL_DATA_VALUE;
	default:
		return 0;
	}
}

int mb_encode_rsp(uint8_t *buf, size_t cap, const struct mb_req *req, const uint8_t *data)
{
	int len;

	if (!buf || !req)
		return -MB_EINVAL;
	len = rsp_pdu_len(req, data);
	if (len < 0)
		return len;
	if (cap < MB_MBAP_SIZE + (size_t)len)
		return -MB_ENOSPACE;
	put_mbap(buf, req->tid, 1u + (unsigned)len, req->unit, req->fc);
	put_rsp_pdu(buf + MB_MBAP_SIZE, req, data);
	return MB_MBAP_SIZE + len;
}

int mb_encode_exception(uint8_t *buf, size_t cap, const struct mb_req *req, uint8_t code)
{
	if (!buf || !req || code == 0 || (req->fc & MB_EXC_BIT))
		return -MB_EINVAL;
	if (cap < MB_MBAP_SIZE + PDU_EXCEPTION)
		return -MB_ENOSPACE;
	put_mbap(buf, req->tid, 1u + PDU_EXCEPTION, req->unit, (uint8_t)(req->fc | MB_EXC_BIT));
	buf[8] = code;
	return MB_MBAP_SIZE + PDU_EXCEPTION;
}

int mb_decode_rsp(const struct mb_req *req, const uint8_t *frame, size_t len, unsigned flags,
		  struct mb_rsp *rsp)
{
	int err;

	if (!req || !rsp)
		return -MB_EINVAL;
	memset(rsp, 0, sizeof(*rsp));
	if (!is_supported(req->fc))
		return -MB_EINVAL;
	err = check_mbap(frame, len);
	if (err < 0)
		return err;
	rsp->tid = mb_get_u16(frame);
	rsp->unit = frame[6];
	rsp->fc = frame[7] & (uint8_t)~MB_EXC_BIT;

	if (!(flags & MB_RSP_ANY_TID) && rsp->tid != req->tid)
		return -MB_ETID;
	if (rsp->unit != req->unit)
		return -MB_EUNIT;
	return mb_pdu_decode_rsp(req, frame + MB_MBAP_SIZE, (size_t)err - 1, rsp);
}

/*
 * Header check on the first 6 bytes of a frame. Returns the whole frame size (6 + MBAP
 * length) or -MB_E*. Protocol id and length are the only things known before the PDU.
 */
static int frame_size(const uint8_t *hdr)
{
	unsigned mbap_len = mb_get_u16(hdr + 4);

	if (mb_get_u16(hdr + 2) != 0)
		return -MB_EPROTO;
	if (mbap_len < MB_MBAP_LEN_MIN || mbap_len > MB_MBAP_LEN_MAX)
		return -MB_EMBAPLEN;
	return (int)(6 + mbap_len);
}

int mb_split(struct mb_splitter *s, const uint8_t *in, size_t n, size_t *used,
	     const uint8_t **frame)
{
	size_t take;
	int size;

	*used = 0;
	if (s->len == 0 && n >= 6) {
		/* Fast path: a whole frame at the start of `in` is returned in place. */
		size = frame_size(in);
		if (size < 0)
			return size;
		if (n >= (size_t)size) {
			*used = (size_t)size;
			*frame = in;
			return size;
		}
	}

	/* Slow path: gather the 6-byte header, then the rest, in s->buf. */
	if (s->len < 6) {
		take = 6u - s->len;
		if (take > n)
			take = n;
		memcpy(s->buf + s->len, in, take);
		s->len = (uint16_t)(s->len + take);
		*used = take;
		if (s->len < 6)
			return 0;
	}
	size = frame_size(s->buf);
	if (size < 0)
		return size;
	take = (size_t)size - s->len;
	if (take > n - *used)
		take = n - *used;
	memcpy(s->buf + s->len, in + *used, take);
	s->len = (uint16_t)(s->len + take);
	*used += take;
	if (s->len < (unsigned)size)
		return 0;
	s->len = 0;
	*frame = s->buf;
	return size;
}

static const char *const order_names[] = {
	[MB_ORDER_ABCD] = "abcd",
	[MB_ORDER_CDAB] = "cdab",
	[MB_ORDER_BADC] = "badc",
	[MB_ORDER_DCBA] = "dcba",
};

int mb_order_parse(const char *s)
{
	if (!s)
		return -MB_EINVAL;
	for (unsigned i = 0; i < sizeof(order_names) / sizeof(order_names[0]); i++)
		if (strcasecmp(s, order_names[i]) == 0)
			return (int)i;
	return -MB_EINVAL;
}

const char *mb_order_name(enum mb_order order)
{
	if ((unsigned)order < sizeof(order_names) / sizeof(order_names[0]))
		return order_names[order];
	return "unknown";
}
