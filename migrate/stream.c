/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/stream.c - encode and check the fixed-size parts of the wire format.
 *
 * Invariants:
 *  - Every decoder checks magic, then version, then lengths and reserved
 *    fields, then the CRC, so that each kind of damage has one specific
 *    error code and a newer version is reported as such, not as a CRC error.
 *  - No decoder reads past its fixed-size input; payload lengths are
 *    returned only after they were checked against SQ_MIG_MAX_PAYLOAD.
 *  - Reserved bytes are written as zero and must read as zero.
 */
#include <string.h>

#include <squib/crc64.h>
#include <squib/types.h>

#include "core/err.h"
#include "migrate/stream.h"

void sq_mig_hello_encode(const struct sq_mig_hello *h, uint8_t out[SQ_MIG_HELLO_LEN])
{
	memset(out, 0, SQ_MIG_HELLO_LEN);
	sq_mig_put64(out + 0, SQ_MIG_MAGIC);
	sq_mig_put16(out + 8, h->version);
	sq_mig_put16(out + 10, SQ_MIG_HELLO_LEN);
	sq_mig_put32(out + 12, h->page_size);
	sq_mig_put64(out + 16, h->session_id);
	sq_mig_put64(out + 24, h->region_size);
	sq_mig_put16(out + 32, h->conn_index);
	sq_mig_put16(out + 34, h->conn_count);
	sq_mig_put64(out + 56, sq_crc64(out, 56));
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int sq_mig_hello_decode(const uint8_t in[SQ_MIG_HELLO_LEN], struct sq_mig_hello *h)
{
	uint64_t magic = sq_mig_get64(in);

	if (magic != SQ_MIG_MAGIC)
		return sq_err(SQ_E_STREAM_MAGIC,
			      "migration stream: bad magic 0x%016llx (expected 0x%016llx)",
			      (unsigned long long)magic, (unsigned long long)SQ_MIG_MAGIC);
	h->version = sq_mig_get16(in + 8);
	if (h->version < SQ_MIG_VERSION_MIN || h->version > SQ_MIG_VERSION)
		return sq_err(SQ_E_STREAM_VERSION,
			      "migration stream: version %u is not supported (this side speaks %u..%u)",
			      h->version, SQ_MIG_VERSION_MIN, SQ_MIG_VERSION);
	if (sq_mig_get16(in + 10) != SQ_MIG_HELLO_LEN)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: handshake length %u",
			      sq_mig_get16(in + 10));
	if (sq_crc64(in, SQ_MIG_HELLO_LEN) != 0)
		return sq_err(SQ_E_STREAM_CRC, "migration stream: handshake CRC mismatch");
	if (sq_mig_get32(in + 36) != 0 || !all_zero(in + 40, 16))
		return sq_err(SQ_E_STREAM_MALFORMED,
			      "migration stream: handshake flags or reserved bytes set");
	h->page_size = sq_mig_get32(in + 12);
	h->session_id = sq_mig_get64(in + 16);
	h->region_size = sq_mig_get64(in + 24);
	h->conn_index = sq_mig_get16(in + 32);
	h->conn_count = sq_mig_get16(in + 34);
	if (h->page_size != SQ_PAGE_SIZE)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: page size %u (expected %u)",
			      h->page_size, SQ_PAGE_SIZE);
	if (h->region_size == 0 || h->region_size % SQ_PAGE_SIZE)
		return sq_err(SQ_E_STREAM_MALFORMED,
			      "migration stream: region size %llu is not a positive page multiple",
			      (unsigned long long)h->region_size);
	if (h->conn_count == 0 || h->conn_count > 64 || h->conn_index >= h->conn_count)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: connection %u of %u",
			      h->conn_index, h->conn_count);
	if (h->session_id == 0)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: session id 0");
	return 0;
}

size_t sq_mig_result_encode(const struct sq_mig_result *r, uint8_t *out)
{
	size_t n = r->msg_len < SQ_MIG_RESULT_MAX_MSG ? r->msg_len : SQ_MIG_RESULT_MAX_MSG;

	sq_mig_put64(out + 0, SQ_MIG_RESULT_MAGIC);
	sq_mig_put32(out + 8, (uint32_t)r->status);
	sq_mig_put32(out + 12, r->phase);
	sq_mig_put64(out + 16, r->session_id);
	sq_mig_put32(out + 24, (uint32_t)n);
	sq_mig_put32(out + 28, 0);
	memcpy(out + SQ_MIG_RESULT_LEN, r->msg, n);
	sq_mig_put64(out + 32, sq_crc64_update(sq_crc64(out, 32), r->msg, n));
	return SQ_MIG_RESULT_LEN + n;
}

int sq_mig_result_decode_hdr(const uint8_t in[SQ_MIG_RESULT_LEN], uint32_t *msg_len)
{
	uint32_t phase = sq_mig_get32(in + 12);
	int32_t status = (int32_t)sq_mig_get32(in + 8);

	*msg_len = 0;
	if (sq_mig_get64(in) != SQ_MIG_RESULT_MAGIC)
		return sq_err(SQ_E_STREAM_MAGIC, "migration stream: bad reply magic 0x%016llx",
			      (unsigned long long)sq_mig_get64(in));
	uint32_t n = sq_mig_get32(in + 24);
	if (n > SQ_MIG_RESULT_MAX_MSG)
		return sq_err(SQ_E_STREAM_OVERSIZE,
			      "migration stream: reply message of %u bytes exceeds the limit %u", n,
			      SQ_MIG_RESULT_MAX_MSG);
	if (sq_mig_get32(in + 28) != 0 || phase < SQ_MIG_PHASE_HELLO ||
	    phase > SQ_MIG_PHASE_COMMIT || status > 0)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: malformed reply");
	*msg_len = n;
	return 0;
}

int sq_mig_result_decode(const uint8_t in[SQ_MIG_RESULT_LEN], const uint8_t *msg,
			 struct sq_mig_result *r)
{
	uint32_t n = 0;
	int rc = sq_mig_result_decode_hdr(in, &n);

	if (rc)
		return rc;
	if (sq_crc64_update(sq_crc64(in, 32), msg, n) != sq_mig_get64(in + 32))
		return sq_err(SQ_E_STREAM_CRC, "migration stream: reply CRC mismatch");
	r->status = (int32_t)sq_mig_get32(in + 8);
	r->phase = sq_mig_get32(in + 12);
	r->session_id = sq_mig_get64(in + 16);
	r->msg_len = n;
	/* The text is the peer's: control bytes (escapes, NUL, newlines) are
	 * replaced, so printing it cannot drive a terminal or cut a log line. */
	for (uint32_t i = 0; i < n; i++)
		r->msg[i] = (char)(msg[i] < 0x20 || msg[i] == 0x7f ? '?' : msg[i]);
	r->msg[n] = 0;
	return 0;
}

void sq_mig_frame_encode(struct sq_mig_frame *f, uint8_t out[SQ_MIG_FRAME_HDR],
			 const void *payload, size_t plen)
{
	sq_mig_put16(out + 0, f->type);
	sq_mig_put16(out + 2, f->flags);
	sq_mig_put32(out + 4, f->round);
	sq_mig_put64(out + 8, f->seq);
	sq_mig_put64(out + 16, f->offset);
	sq_mig_put32(out + 24, f->length);
	sq_mig_put32(out + 28, f->zlen);
	f->crc = sq_crc64_update(sq_crc64(out, 32), payload, plen);
	sq_mig_put64(out + 32, f->crc);
}

int sq_mig_frame_decode(const uint8_t in[SQ_MIG_FRAME_HDR], struct sq_mig_frame *f, size_t *plen)
{
	f->type = sq_mig_get16(in + 0);
	f->flags = sq_mig_get16(in + 2);
	f->round = sq_mig_get32(in + 4);
	f->seq = sq_mig_get64(in + 8);
	f->offset = sq_mig_get64(in + 16);
	f->length = sq_mig_get32(in + 24);
	f->zlen = sq_mig_get32(in + 28);
	f->crc = sq_mig_get64(in + 32);

	if (f->type < SQ_MIG_PAGES || f->type > SQ_MIG_ABORT)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: unknown frame type %u",
			      f->type);
	if (f->length > SQ_MIG_MAX_PAYLOAD)
		return sq_err(SQ_E_STREAM_OVERSIZE,
			      "migration stream: frame length %u exceeds the limit %u", f->length,
			      SQ_MIG_MAX_PAYLOAD);
	unsigned codec = f->flags & SQ_MIG_F_CODECS;
	if (f->flags & ~(SQ_MIG_F_ZERO | SQ_MIG_F_CODECS) || (f->flags && f->type != SQ_MIG_PAGES) ||
	    codec == SQ_MIG_F_CODECS || (codec && (f->flags & SQ_MIG_F_ZERO)))
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: bad flags 0x%x on type %u",
			      f->flags, f->type);
	if (!codec && f->zlen != 0)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: reserved header bytes set");
	if (f->round == 0 || f->round > SQ_MIG_MAX_ROUND)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: round %u out of range",
			      f->round);
	switch (f->type) {
	case SQ_MIG_PAGES:
		if (f->length == 0 || f->length % SQ_PAGE_SIZE || f->offset % SQ_PAGE_SIZE)
			return sq_err(SQ_E_STREAM_MALFORMED,
				      "migration stream: page frame offset %llu length %u not page aligned",
				      (unsigned long long)f->offset, f->length);
		if (codec && (f->zlen == 0 || f->zlen >= f->length))
			return sq_err(SQ_E_STREAM_COMPRESSION,
				      "migration stream: compressed frame of %u bytes claims a %u-byte "
				      "payload (must be 1..%u)",
				      f->length, f->zlen, f->length - 1);
		*plen = codec ? f->zlen : (f->flags & SQ_MIG_F_ZERO) ? 0 : f->length;
		return 0;
	case SQ_MIG_STATE:
		if (f->length == 0)
			return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: empty state frame");
		*plen = f->length;
		return 0;
	case SQ_MIG_FINAL:
		if (f->length != SQ_MIG_FINAL_LEN || f->offset != 0)
			return sq_err(SQ_E_STREAM_MALFORMED,
				      "migration stream: final frame length %u (expected %u)",
				      f->length, SQ_MIG_FINAL_LEN);
		*plen = SQ_MIG_FINAL_LEN;
		return 0;
	default: /* SQ_MIG_ABORT */
		if (f->length != 0 || f->offset != 0)
			return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: malformed abort frame");
		*plen = 0;
		return 0;
	}
}

int sq_mig_frame_crc_ok(const uint8_t hdr[SQ_MIG_FRAME_HDR], const void *payload, size_t plen)
{
	return sq_crc64_update(sq_crc64(hdr, 32), payload, plen) == sq_mig_get64(hdr + 32);
}

void sq_mig_final_encode(const struct sq_mig_final *t, uint8_t out[SQ_MIG_FINAL_LEN])
{
	sq_mig_put64(out + 0, t->conn_frames);
	sq_mig_put64(out + 8, t->conn_pages);
	sq_mig_put64(out + 16, t->conn_payload);
	sq_mig_put64(out + 24, t->total_frames);
	sq_mig_put64(out + 32, t->total_pages);
	sq_mig_put64(out + 40, t->total_payload);
	sq_mig_put64(out + 48, t->state_len);
	sq_mig_put64(out + 56, t->state_crc);
	sq_mig_put32(out + 64, t->rounds);
	sq_mig_put32(out + 68, t->conn_count);
	sq_mig_put64(out + 72, t->session_id);
}

void sq_mig_final_decode(const uint8_t in[SQ_MIG_FINAL_LEN], struct sq_mig_final *t)
{
	t->conn_frames = sq_mig_get64(in + 0);
	t->conn_pages = sq_mig_get64(in + 8);
	t->conn_payload = sq_mig_get64(in + 16);
	t->total_frames = sq_mig_get64(in + 24);
	t->total_pages = sq_mig_get64(in + 32);
	t->total_payload = sq_mig_get64(in + 40);
	t->state_len = sq_mig_get64(in + 48);
	t->state_crc = sq_mig_get64(in + 56);
	t->rounds = sq_mig_get32(in + 64);
	t->conn_count = sq_mig_get32(in + 68);
	t->session_id = sq_mig_get64(in + 72);
}
