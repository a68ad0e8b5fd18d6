// SPDX-License-Identifier: MIT
/*
 * Modbus RTU framing: unit id + PDU (io/codec.c's PDU layer) + CRC-16/MODBUS, and the frame
 * finder for a serial byte stream. The one idea: an RTU frame carries no length, so its end
 * is predicted from the request it answers (function code, then byte count) and confirmed by
 * the CRC; bytes that do not fit that prediction are noise, discarded and counted, never a
 * reason to wait longer. No timers here: the line timing is given as pure functions.
 */
#include "io/modbus.h"

#define RTU_HDR	       1u /* unit id */
#define RTU_OVERHEAD   3u /* unit + CRC */
#define RTU_EXC_SIZE   5u /* unit FC|0x80 code CRC(2) */
#define RTU_WRITE_SIZE 8u /* unit FC addr(2) qty|value(2) CRC(2): requests FC01-06, echoes */
#define RTU_MULTI_HDR  7u /* unit FC addr(2) qty(2) byte count, of an FC0F/FC10 request */

/* CRC-16/MODBUS of each byte value, from the bitwise definition (the test recomputes it). */
static const uint16_t crc_table[256] = {
	0x0000, 0xC0C1, 0xC181, 0x0140, 0xC301, 0x03C0, 0x0280, 0xC241, 0xC601, 0x06C0, 0x0780,
	0xC741, 0x0500, 0xC5C1, 0xC481, 0x0440, 0xCC01, 0x0CC0, 0x0D80, 0xCD41, 0x0F00, 0xCFC1,
	0xCE81, 0x0E40, 0x0A00, 0xCAC1, 0xCB81, 0x0B40, 0xC901, 0x09C0, 0x0880, 0xC841, 0xD801,
	0x18C0, 0x1980, 0xD941, 0x1B00, 0xDBC1, 0xDA81, 0x1A40, 0x1E00, 0xDEC1, 0xDF81, 0x1F40,
	0xDD01, 0x1DC0, 0x1C80, 0xDC41, 0x1400, 0xD4C1, 0xD581, 0x1540, 0xD701, 0x17C0, 0x1680,
	0xD641, 0xD201, 0x12C0, 0x1380, 0xD341, 0x1100, 0xD1C1, 0xD081, 0x1040, 0xF001, 0x30C0,
	0x3180, 0xF141, 0x3300, 0xF3C1, 0xF281, 0x3240, 0x3600, 0xF6C1, 0xF781, 0x3740, 0xF501,
	0x35C0, 0x3480, 0xF441, 0x3C00, 0xFCC1, 0xFD81, 0x3D40, 0xFF01, 0x3FC0, 0x3E80, 0xFE41,
	0xFA01, 0x3AC0, 0x3B80, 0xFB41, 0x3900, 0xF9C1, 0xF881, 0x3840, 0x2800, 0xE8C1, 0xE981,
	0x2940, 0xEB01, 0x2BC0, 0x2A80, 0xEA41, 0xEE01, 0x2EC0, 0x2F80, 0xEF41, 0x2D00, 0xEDC1,
	0xEC81, 0x2C40, 0xE401, 0x24C0, 0x2580, 0xE541, 0x2700, 0xE7C1, 0xE681, 0x2640, 0x2200,
	0xE2C1, 0xE381, 0x2340, 0xE101, 0x21C0, 0x2080, 0xE041, 0xA001, 0x60C0, 0x6180, 0xA141,
	0x6300, 0xA3C1, 0xA281, 0x6240, 0x6600, 0xA6C1, 0xA781, 0x6740, 0xA501, 0x65C0, 0x6480,
	0xA441, 0x6C00, 0xACC1, 0xAD81, 0x6D40, 0xAF01, 0x6FC0, 0x6E80, 0xAE41, 0xAA01, 0x6AC0,
	0x6B80, 0xAB41, 0x6900, 0xA9C1, 0xA881, 0x6840, 0x7800, 0xB8C1, 0xB981, 0x7940, 0xBB01,
	0x7BC0, 0x7A80, 0xBA41, 0xBE01, 0x7EC0, 0x7F80, 0xBF41, 0x7D00, 0xBDC1, 0xBC81, 0x7C40,
	0xB401, 0x74C0, 0x7580, 0xB541, 0x7700, 0xB7C1, 0xB681, 0x7640, 0x7200, 0xB2C1, 0xB381,
	0x7340, 0xB101, 0x71C0, 0x7080, 0xB041, 0x5000, 0x90C1, 0x9181, 0x5140, 0x9301, 0x53C0,
	0x5280, 0x9241, 0x9601, 0x56C0, 0x5780, 0x9741, 0x5500, 0x95C1, 0x9481, 0x5440, 0x9C01,
	0x5CC0, 0x5D80, 0x9D41, 0x5F00, 0x9FC1, 0x9E81, 0x5E40, 0x5A00, 0x9AC1, 0x9B81, 0x5B40,
	0x9901, 0x59C0, 0x5880, 0x9841, 0x8801, 0x48C0, 0x4980, 0x8941, 0x4B00, 0x8BC1, 0x8A81,
	0x4A40, 0x4E00, 0x8EC1, 0x8F81, 0x4F40, 0x8D01, 0x4DC0, 0x4C80, 0x8C41, 0x4400, 0x84C1,
	0x8581, 0x4540, 0x8701, 0x47C0, 0x4680, 0x8641, 0x8201, 0x42C0, 0x4380, 0x8341, 0x4100,
	0x81C1, 0x8081, 0x4040,
};

uint16_t mb_rtu_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;

	for (size_t i = 0; i < n; i++)
		crc = (uint16_t)(crc >> 8 ^ crc_table[(crc ^ p[i]) & 0xFF]);
	return crc;
}

static bool crc_ok(const uint8_t *frame, size_t len)
{
	uint16_t crc = mb_rtu_crc16(frame, len - MB_RTU_CRC_SIZE);

	return frame[len - 2] == (uint8_t)crc && frame[len - 1] == (uint8_t)(crc >> 8);
}

/* Append the CRC of the len bytes at buf; returns the frame length. */
static int put_crc(uint8_t *buf, size_t len)
{
	uint16_t crc = mb_rtu_crc16(buf, len);

	buf[len] = (uint8_t)crc;
	buf[len + 1] = (uint8_t)(crc >> 8);
	return (int)(len + MB_RTU_CRC_SIZE);
}

static bool is_read(uint8_t fc)
{
	return fc >= MB_FC_READ_COILS && fc <= MB_FC_READ_INPUT_REGISTERS;
}

static bool is_write(uint8_t fc)
{
	return fc == MB_FC_WRITE_SINGLE_COIL || fc == MB_FC_WRITE_SINGLE_REGISTER ||
	       fc == MB_FC_WRITE_MULTIPLE_COILS || fc == MB_FC_WRITE_MULTIPLE_REGISTERS;
}

/* Room for the PDU once unit and CRC are set aside. */
static size_t pdu_cap(size_t cap)
{
	return cap > RTU_OVERHEAD ? cap - RTU_OVERHEAD : 0;
}

int mb_rtu_encode_req(uint8_t *buf, size_t cap, const struct mb_req *req)
{
	int len;

	if (!buf || !req)
		return -MB_EINVAL;
	if (req->unit > MB_RTU_UNIT_MAX)
		return -MB_EUNITID;
	if (req->unit == MB_UNIT_BROADCAST && is_read(req->fc))
		return -MB_EBROADCAST;
	len = mb_pdu_encode_req(buf + RTU_HDR, pdu_cap(cap), req);
	if (len < 0)
		return len;
	buf[0] = req->unit;
	return put_crc(buf, RTU_HDR + (size_t)len);
}

int mb_rtu_encode_rsp(uint8_t *buf, size_t cap, const struct mb_req *req, const uint8_t *data)
{
	int len;

	if (!buf || !req)
		return -MB_EINVAL;
	if (req->unit > MB_RTU_UNIT_MAX)
		return -MB_EUNITID;
	if (req->unit == MB_UNIT_BROADCAST)
		return -MB_EBROADCAST;
	len = mb_pdu_encode_rsp(buf + RTU_HDR, pdu_cap(cap), req, data);
	if (len < 0)
		return len;
	buf[0] = req->unit;
	return put_crc(buf, RTU_HDR + (size_t)len);
}

int mb_rtu_encode_exception(uint8_t *buf, size_t cap, const struct mb_req *req, uint8_t code)
{
	int len;

	if (!buf || !req)
		return -MB_EINVAL;
	if (req->unit > MB_RTU_UNIT_MAX)
		return -MB_EUNITID;
	if (req->unit == MB_UNIT_BROADCAST)
		return -MB_EBROADCAST;
	len = mb_pdu_encode_exception(buf + RTU_HDR, pdu_cap(cap), req, code);
	if (len < 0)
		return len;
	buf[0] = req->unit;
	return put_crc(buf, RTU_HDR + (size_t)len);
}

/* The checks every RTU frame passes before any of its fields is believed. */
static int check_frame(const uint8_t *frame, size_t len)
{
	if (!frame || len < MB_RTU_MIN)
		return -MB_ESHORT;
	if (len > MB_RTU_ADU_MAX)
		return -MB_ELENGTH;
	if (!crc_ok(frame, len))
		return -MB_ECRC;
	return 0;
}

int mb_rtu_decode_req(const uint8_t *frame, size_t len, struct mb_req *req)
{
	int err;

	if (!req)
		return -MB_EINVAL;
	memset(req, 0, sizeof(*req));
	err = check_frame(frame, len);
	if (err)
		return err;
	req->unit = frame[0];
	if (req->unit > MB_RTU_UNIT_MAX)
		return -MB_EUNITID;
	err = mb_pdu_decode_req(frame + RTU_HDR, len - RTU_OVERHEAD, req);
	if (err)
		return err;
	if (req->unit == MB_UNIT_BROADCAST && !is_write(req->fc))
		return -MB_EBROADCAST;
	return 0;
}

/* A req a response can answer: supported function, unit 1..247. */
static int check_rsp_req(const struct mb_req *req)
{
	if (!req || !(is_read(req->fc) || is_write(req->fc)))
		return -MB_EINVAL;
	if (req->unit > MB_RTU_UNIT_MAX)
		return -MB_EUNITID;
	if (req->unit == MB_UNIT_BROADCAST)
		return -MB_EBROADCAST;
	return 0;
}

int mb_rtu_decode_rsp(const struct mb_req *req, const uint8_t *frame, size_t len,
		      struct mb_rsp *rsp)
{
	int err;

	if (!rsp)
		return -MB_EINVAL;
	memset(rsp, 0, sizeof(*rsp));
	err = check_rsp_req(req);
	if (err)
		return err;
	err = check_frame(frame, len);
	if (err)
		return err;
	rsp->unit = frame[0];
	rsp->fc = frame[1] & (uint8_t)~MB_EXC_BIT;
	if (rsp->unit != req->unit)
		return -MB_EUNIT;
	return mb_pdu_decode_rsp(req, frame + RTU_HDR, len - RTU_OVERHEAD, rsp);
}

int mb_rtu_rsp_len(const struct mb_req *req)
{
	uint16_t max;

	if (!req)
		return -MB_EINVAL;
	if (req->unit > MB_RTU_UNIT_MAX)
		return -MB_EUNITID;
	if (!is_read(req->fc) && !is_write(req->fc))
		return -MB_EFUNC;
	if (req->unit == MB_UNIT_BROADCAST)
		return is_write(req->fc) ? 0 : -MB_EBROADCAST;
	if (is_write(req->fc))
		return RTU_WRITE_SIZE;
	/* The request's own limits bound the payload: the size is never a peer's number. */
	max = req->fc <= MB_FC_READ_DISCRETE_INPUTS ? MB_MAX_READ_BITS : MB_MAX_READ_REGS;
	if (req->qty < 1 || req->qty > max)
		return -MB_EQTY;
	return (int)(RTU_OVERHEAD + 2u + mb_payload_size(req->fc, req->qty));
}

int mb_rtu_rsp_size(const struct mb_req *req, const uint8_t *buf, size_t n)
{
	int err = check_rsp_req(req);

	if (err)
		return err;
	if (n > 0 && !buf)
		return -MB_EINVAL;
	if (n < 1)
		return 0;
	if (buf[0] != req->unit)
		return -MB_EUNIT;
	if (n < 2)
		return 0;
	if (buf[1] == (req->fc | MB_EXC_BIT))
		return RTU_EXC_SIZE;
	if (buf[1] != req->fc)
		return -MB_EFCMISMATCH;
	if (is_write(req->fc))
		return RTU_WRITE_SIZE;
	if (n < 3)
		return 0;
	/* The size is believed only when it is what the request implies (at most 255). */
	if (buf[2] != mb_payload_size(req->fc, req->qty))
		return -MB_EBYTECOUNT;
	return (int)(RTU_OVERHEAD + 2u + buf[2]);
}

int mb_rtu_req_size(const uint8_t *buf, size_t n)
{
	if (n > 0 && !buf)
		return -MB_EINVAL;
	if (n < 2)
		return 0;
	if (is_read(buf[1]) || buf[1] == MB_FC_WRITE_SINGLE_COIL ||
	    buf[1] == MB_FC_WRITE_SINGLE_REGISTER)
		return RTU_WRITE_SIZE;
	if (buf[1] != MB_FC_WRITE_MULTIPLE_COILS && buf[1] != MB_FC_WRITE_MULTIPLE_REGISTERS)
		return -MB_EFUNC;
	if (n < RTU_MULTI_HDR)
		return 0;
	/* The byte count is the only length on the wire; no PDU holds more than 247. */
	if (buf[6] > MB_PDU_MAX - 6)
		return -MB_EBYTECOUNT;
	return (int)(RTU_MULTI_HDR + buf[6] + MB_RTU_CRC_SIZE);
}

/* Drop the first held byte as noise, for reason err; a CRC failure is the reason that sticks. */
static void discard(struct mb_rtu_splitter *s, int err)
{
	s->len--;
	memmove(s->buf, s->buf + 1, s->len);
	s->discarded++;
	if (s->noise_err != -MB_ECRC)
		s->noise_err = err;
}

/* RT(io): called by the bus's reader for each read; bounded by n + MB_RTU_ADU_MAX steps. */
int mb_rtu_split(struct mb_rtu_splitter *s, const struct mb_req *req, const uint8_t *in, size_t n,
		 size_t *used, const uint8_t **frame)
{
	int err = req ? check_rsp_req(req) : 0;

	*used = 0;
	if (err)
		return err;
	if (!in && n)
		return -MB_EINVAL;
	if (s->out) {
		s->len = (uint16_t)(s->len - s->out);
		memmove(s->buf, s->buf + s->out, s->len);
		s->out = 0;
	}
	for (;;) {
		int size =
		    req ? mb_rtu_rsp_size(req, s->buf, s->len) : mb_rtu_req_size(s->buf, s->len);
		size_t want, take;

		if (size < 0 || size > (int)sizeof(s->buf)) {
			discard(s, size < 0 ? size : -MB_ELENGTH);
			continue;
		}
		/* Size unknown yet: one more byte may tell it. */
		want = size ? (size_t)size : s->len + 1u;
		if (s->len < want) {
			if (*used == n)
				return 0;
			take = want - s->len;
			if (take > n - *used)
				take = n - *used;
			memcpy(s->buf + s->len, in + *used, take);
			s->len = (uint16_t)(s->len + take);
			*used += take;
			continue;
		}
		if (!crc_ok(s->buf, (size_t)size)) {
			discard(s, -MB_ECRC);
			continue;
		}
		s->out = (uint16_t)size;
		*frame = s->buf;
		return size;
	}
}

/* ceil(num / baud) for the line timings; num in bit-ns (bits x 1e9). */
static int64_t per_baud(uint64_t num, uint32_t baud)
{
	if (baud == 0)
		return -MB_EINVAL;
	return (int64_t)((num + baud - 1) / baud);
}

int64_t mb_rtu_char_ns(uint32_t baud)
{
	return per_baud(MB_RTU_CHAR_BITS * 1000000000ull, baud);
}

int64_t mb_rtu_t15_ns(uint32_t baud)
{
	if (baud > MB_RTU_FIXED_BAUD)
		return MB_RTU_T15_FIXED_NS;
	/* 1.5 characters = 16.5 bits. */
	return per_baud(MB_RTU_CHAR_BITS * 1500000000ull, baud);
}

int64_t mb_rtu_t35_ns(uint32_t baud)
{
	if (baud > MB_RTU_FIXED_BAUD)
		return MB_RTU_T35_FIXED_NS;
	/* 3.5 characters = 38.5 bits. */
	return per_baud(MB_RTU_CHAR_BITS * 3500000000ull, baud);
}

int64_t mb_rtu_wire_ns(uint32_t baud, size_t n)
{
	/* n <= 2^30 keeps n x 11e9 inside 64 bits; no frame or poll cycle comes near. */
	if (n > (size_t)1 << 30)
		return -MB_EINVAL;
	return per_baud((uint64_t)n * MB_RTU_CHAR_BITS * 1000000000ull, baud);
}
