/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/stream.h - the migration wire format, version 2 (internal).
 *
 * All integers little-endian. docs/FORMAT.md ("Migration stream") is the
 * reference; this header and stream.c are its only implementation.
 *
 *   HELLO   64 B  sender -> receiver, first bytes of every connection
 *   RESULT  40 B header + message, receiver -> sender: handshake accepted,
 *                 frames verified, everything kept durably committed
 *   FRAME   40 B header + payload, sender -> receiver, after HELLO
 *
 * Decoding never trusts a length before checking it against the limits
 * below, so a parser needs at most SQ_MIG_FRAME_HDR + SQ_MIG_MAX_PAYLOAD
 * bytes of buffer per connection.
 */
#ifndef SQ_MIGRATE_STREAM_H
#define SQ_MIGRATE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/endian.h"

#define SQ_MIG_MAGIC 0x47494d4249555153ull        /* "SQUIBMIG" */
#define SQ_MIG_RESULT_MAGIC 0x5345524249555153ull /* "SQUIBRES" */
#define SQ_MIG_VERSION 3u     /* compressed page frames */
#define SQ_MIG_VERSION_MIN 2u /* raw page frames only: still accepted, still sent when not compressing */

#define SQ_MIG_HELLO_LEN 64u
#define SQ_MIG_RESULT_LEN 40u      /* header; the message follows */
#define SQ_MIG_RESULT_MAX_MSG 1024u /* message bytes in a RESULT, at most */
#define SQ_MIG_FRAME_HDR 40u
#define SQ_MIG_FINAL_LEN 80u
#define SQ_MIG_MAX_PAYLOAD (1u << 20)                   /* 1 MiB */
#define SQ_MIG_MAX_FRAME_PAGES (SQ_MIG_MAX_PAYLOAD / 4096u) /* 256 */
#define SQ_MIG_MAX_ROUND 0x00ffffffu
#define SQ_MIG_MAX_REGION_DEFAULT (64ull << 30)

enum sq_mig_type {
	SQ_MIG_PAGES = 1, /* offset, length: region bytes; payload = length or 0 (ZERO) */
	SQ_MIG_STATE = 2, /* offset in the state blob; payload = length */
	SQ_MIG_FINAL = 3, /* payload = struct sq_mig_final (80 B) */
	SQ_MIG_ABORT = 4, /* no payload: the sender gave up */
};

#define SQ_MIG_F_ZERO 0x0001u /* PAGES: every page of the range is zero */
#define SQ_MIG_F_LZ4 0x0002u  /* PAGES (version 3): payload is one lz4 block of zlen bytes */
#define SQ_MIG_F_ZSTD 0x0004u /* PAGES (version 3): payload is one zstd frame of zlen bytes */
#define SQ_MIG_F_CODECS (SQ_MIG_F_LZ4 | SQ_MIG_F_ZSTD)

/*
 * Replies: HELLO answers each handshake; FINAL is the verdict on the final
 * totals; COMMIT follows a successful FINAL once the receiver's commit step
 * (saving what it was asked to keep) finished, and only a COMMIT of status
 * 0 means the session is done.
 */
enum sq_mig_phase { SQ_MIG_PHASE_HELLO = 1, SQ_MIG_PHASE_FINAL = 2, SQ_MIG_PHASE_COMMIT = 3 };

struct sq_mig_hello {
	uint16_t version;
	uint32_t page_size;
	uint64_t session_id;
	uint64_t region_size;
	uint16_t conn_index;
	uint16_t conn_count;
};

struct sq_mig_result {
	int32_t status; /* 0 or an SQ_E_* code */
	uint32_t phase;
	uint64_t session_id;
	uint32_t msg_len; /* bytes of msg used, <= SQ_MIG_RESULT_MAX_MSG */
	char msg[SQ_MIG_RESULT_MAX_MSG + 1]; /* the receiver's error text, NUL-terminated */
};

struct sq_mig_frame {
	uint16_t type;
	uint16_t flags;
	uint32_t round;
	uint64_t seq;
	uint64_t offset;
	uint32_t length;
	uint32_t zlen; /* compressed PAGES: payload bytes (< length); else 0 */
	uint64_t crc;
};

struct sq_mig_final {
	uint64_t conn_frames;
	uint64_t conn_pages;
	uint64_t conn_payload;
	uint64_t total_frames;
	uint64_t total_pages;
	uint64_t total_payload;
	uint64_t state_len;
	uint64_t state_crc;
	uint32_t rounds;
	uint32_t conn_count;
	uint64_t session_id;
};

void sq_mig_hello_encode(const struct sq_mig_hello *h, uint8_t out[SQ_MIG_HELLO_LEN]);
/*
 * sq_mig_hello_decode() - check and decode a handshake: magic
 * (SQ_E_STREAM_MAGIC), version (SQ_E_STREAM_VERSION), length, reserved
 * bytes and CRC (SQ_E_STREAM_CRC), geometry (SQ_E_STREAM_MALFORMED).
 */
int sq_mig_hello_decode(const uint8_t in[SQ_MIG_HELLO_LEN], struct sq_mig_hello *h);

/*
 * sq_mig_result_encode() - header and message (msg_len bytes of r->msg,
 * cut to SQ_MIG_RESULT_MAX_MSG) into @out, which holds at least
 * SQ_MIG_RESULT_LEN + SQ_MIG_RESULT_MAX_MSG bytes. Returns the bytes used.
 */
size_t sq_mig_result_encode(const struct sq_mig_result *r, uint8_t *out);
/*
 * sq_mig_result_decode_hdr() - check a reply header (magic, reserved bytes,
 * phase, status sign, message length); the message length is returned in
 * *msg_len. sq_mig_result_decode() - check the CRC over header and @msg and
 * fill @r (message copied and NUL-terminated). Both return 0 or
 * SQ_E_STREAM_MAGIC / SQ_E_STREAM_MALFORMED / SQ_E_STREAM_OVERSIZE /
 * SQ_E_STREAM_CRC. The copied message has its control bytes replaced by '?'.
 */
int sq_mig_result_decode_hdr(const uint8_t in[SQ_MIG_RESULT_LEN], uint32_t *msg_len);
int sq_mig_result_decode(const uint8_t in[SQ_MIG_RESULT_LEN], const uint8_t *msg,
			 struct sq_mig_result *r);

/*
 * sq_mig_frame_encode() - write the 40-byte header of @f; the CRC is
 * computed over the first 32 header bytes and then @payload (@plen bytes).
 */
void sq_mig_frame_encode(struct sq_mig_frame *f, uint8_t out[SQ_MIG_FRAME_HDR],
			 const void *payload, size_t plen);
/*
 * sq_mig_frame_decode() - decode a header and check what the header alone
 * can show (type, flags, reserved field, length limits, round range).
 * Returns 0 and the payload length in *plen, or SQ_E_STREAM_MALFORMED /
 * SQ_E_STREAM_OVERSIZE / SQ_E_STREAM_COMPRESSION (a compressed frame whose
 * zlen is 0 or not below its length). Region bounds, sequence, the
 * stream version a codec flag needs, and CRC are the caller's (the CRC
 * needs the payload: sq_mig_frame_crc_ok).
 */
int sq_mig_frame_decode(const uint8_t in[SQ_MIG_FRAME_HDR], struct sq_mig_frame *f, size_t *plen);
int sq_mig_frame_crc_ok(const uint8_t hdr[SQ_MIG_FRAME_HDR], const void *payload, size_t plen);

void sq_mig_final_encode(const struct sq_mig_final *t, uint8_t out[SQ_MIG_FINAL_LEN]);
void sq_mig_final_decode(const uint8_t in[SQ_MIG_FINAL_LEN], struct sq_mig_final *t);

/* Little-endian loads and stores (core/endian.h), in the stream's spelling. */
#define sq_mig_put16 sq_le_put16
#define sq_mig_put32 sq_le_put32
#define sq_mig_put64 sq_le_put64
#define sq_mig_get16 sq_le_get16
#define sq_mig_get32 sq_le_get32
#define sq_mig_get64 sq_le_get64

/* 1 when the 4 KiB page at @p is all zeros (8-byte aligned). */
static inline int sq_mig_page_zero(const void *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;

	if (w[0] | w[511])
		return 0;
	for (unsigned i = 0; i < 512; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		       w[i + 7];
	return acc == 0;
}

#endif /* SQ_MIGRATE_STREAM_H */
