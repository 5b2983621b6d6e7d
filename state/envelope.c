/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/envelope.c - the state file envelope: body + CRC-64/Jones trailer,
 * and the original's load order.
 *
 * Load order (Snapshot::load_from_slice, then load_without_crc_check):
 *   1. length > 10,000,000            SizeLimitExceeded
 *   2. length < 8                     TooShort
 *   3. CRC of body + trailer != 0     CrcMismatch   (before magic, on purpose)
 *   4. bitcode decode of the body     Bitcode
 *   5. magic                          MagicMismatch
 *   6. major != 5 or minor > 0        VersionMismatch (patch unrestricted)
 * Invariant: the trailer is the CRC of the body only, little-endian; with
 * it appended, the CRC over the whole file is 0 (the residue check).
 */
#include <stdlib.h>
#include <string.h>

#include <squib/crc64.h>
#include <squib/state.h>

#include "core/endian.h"
#include "core/err.h"
#include "state/bitcode.h"
#include "state/state_internal.h"

int sq_state_encode_into(const struct sq_microvm_state *s, uint64_t magic, const char *version,
			 struct bc_wbuf *w);

static int size_limit_error(void)
{
	return sq_err(SQ_E_SIZE_LIMIT, "snapshot exceeds %u byte deserialization limit",
		      SQ_STATE_SIZE_LIMIT);
}

int sq_state_encode(const struct sq_microvm_state *s, uint8_t **out, size_t *len)
{
	struct bc_wbuf w;
	uint8_t *t;
	uint64_t crc;
	int rc;

	*out = NULL;
	*len = 0;
	rc = sq_state_encode_into(s, SQ_SNAPSHOT_MAGIC_AARCH64, SQ_SNAPSHOT_VERSION, &w);
	if (rc)
		return rc;
	if (w.len + SQ_STATE_CRC_LEN > SQ_STATE_SIZE_LIMIT) {
		/* The original would write a file no loader accepts; refuse instead. */
		bc_wbuf_release(&w);
		return size_limit_error();
	}
	crc = sq_crc64(w.p, w.len);
	t = bc_reserve(&w, SQ_STATE_CRC_LEN);
	if (!t) {
		bc_wbuf_release(&w);
		return sq_err(SQ_E_NOMEM, "out of memory while encoding the state");
	}
	sq_le_put64(t, crc);
	w.len += SQ_STATE_CRC_LEN;
	free(w.scratch);
	*out = w.p;
	*len = w.len;
	return 0;
}

void sq_state_header_release(struct sq_state_header *hdr)
{
	if (!hdr)
		return;
	free(hdr->version);
	hdr->version = NULL;
}

int sq_state_check_header(const struct sq_state_header *hdr)
{
	if (hdr->magic != SQ_SNAPSHOT_MAGIC_AARCH64)
		/* Rust's {:#x}: 0x prefix, lowercase, no padding. */
		return sq_err(SQ_E_MAGIC_MISMATCH,
			      "snapshot magic mismatch (file: 0x%llx, expected: 0x%llx)",
			      (unsigned long long)hdr->magic,
			      (unsigned long long)SQ_SNAPSHOT_MAGIC_AARCH64);
	if (hdr->major != SQ_SNAPSHOT_VERSION_MAJOR || hdr->minor > SQ_SNAPSHOT_VERSION_MINOR)
		return sq_err(SQ_E_VERSION_MISMATCH,
			      "snapshot version %s is incompatible with squib's %s", hdr->version,
			      SQ_SNAPSHOT_VERSION);
	return 0;
}

int sq_state_decode_unchecked(const uint8_t *body, size_t len, struct sq_microvm_state **out,
			      struct sq_state_header *hdr)
{
	struct sq_state_header h;
	struct sq_microvm_state *s;
	int rc;

	*out = NULL;
	if (hdr)
		memset(hdr, 0, sizeof(*hdr));
	if (len > SQ_STATE_SIZE_LIMIT)
		return size_limit_error();
	rc = sq_state_decode_body(body, len, &s, &h);
	if (rc)
		return rc;
	rc = sq_state_check_header(&h);
	if (rc) {
		sq_state_destroy(s);
		sq_state_header_release(&h);
		return rc;
	}
	*out = s;
	if (hdr)
		*hdr = h;
	else
		sq_state_header_release(&h);
	return 0;
}

int sq_state_decode(const uint8_t *buf, size_t len, struct sq_microvm_state **out,
		    struct sq_state_header *hdr)
{
	*out = NULL;
	if (hdr)
		memset(hdr, 0, sizeof(*hdr));
	if (len > SQ_STATE_SIZE_LIMIT)
		return size_limit_error();
	if (len < SQ_STATE_CRC_LEN)
		return sq_err(SQ_E_TOO_SHORT, "snapshot file is too short to contain a CRC trailer");
	if (sq_crc64(buf, len) != 0)
		return sq_err(SQ_E_CRC_MISMATCH, "snapshot CRC64 mismatch");
	return sq_state_decode_unchecked(buf, len - SQ_STATE_CRC_LEN, out, hdr);
}
