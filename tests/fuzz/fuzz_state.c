/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the state file decoder and envelope.
 *
 * The input is a bitcode body. It is decoded three ways: as a body
 * (bitcode only), as a whole file (input + its CRC trailer, so the
 * envelope's magic and version checks are reached), and as a file as
 * given (mostly CRC failures). Properties, any violation aborts:
 *  - a failure leaves nothing allocated (*out NULL, header NULL) and
 *    returns a specific code (SQ_E_BITCODE, SQ_E_MAGIC_MISMATCH, ...);
 *  - a decoded state satisfies the model's rules, encodes, and decodes
 *    back to the same state; encoding that again gives the same bytes;
 *  - the enveloped decode agrees with the body decode.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/crc64.h>
#include <squib/squib.h>

#include "state/state_internal.h"

static void check_failure(int rc, const struct sq_microvm_state *s, const struct sq_state_header *h)
{
	if (s || (h && h->version))
		abort();
	switch (rc) {
	case SQ_E_BITCODE:
	case SQ_E_MAGIC_MISMATCH:
	case SQ_E_VERSION_MISMATCH:
	case SQ_E_CRC_MISMATCH:
	case SQ_E_TOO_SHORT:
	case SQ_E_SIZE_LIMIT:
	case SQ_E_NOMEM:
		return;
	default:
		abort();
	}
}

static void check_stable(const struct sq_microvm_state *s, const struct sq_state_header *h)
{
	struct sq_microvm_state *t;
	struct sq_state_header h2;
	uint8_t *a, *b;
	size_t alen, blen;

	if (sq_state_check_model(s))
		abort();
	if (sq_state_encode_body(s, h->magic, h->version, &a, &alen))
		abort();
	if (sq_state_decode_body(a, alen, &t, &h2))
		abort();
	if (!sq_state_equal(s, t) || h2.magic != h->magic || strcmp(h2.version, h->version))
		abort();
	if (sq_state_encode_body(t, h2.magic, h2.version, &b, &blen))
		abort();
	if (alen != blen || memcmp(a, b, alen))
		abort();
	free(a);
	free(b);
	sq_state_destroy(t);
	sq_state_header_release(&h2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sq_microvm_state *s = NULL, *f = NULL;
	struct sq_state_header h, hf;
	uint8_t *file;
	int rc, rcf;

	rc = sq_state_decode_body(data, size, &s, &h);
	if (rc)
		check_failure(rc, s, &h);
	else
		check_stable(s, &h);

	/* The same body inside a valid envelope. */
	file = malloc(size + 8);
	if (!file)
		goto out;
	if (size)
		memcpy(file, data, size);
	uint64_t crc = sq_crc64(data, size);
	for (int i = 0; i < 8; i++)
		file[size + (size_t)i] = (uint8_t)(crc >> (8 * i));
	rcf = sq_state_decode(file, size + 8, &f, &hf);
	if (rcf) {
		check_failure(rcf, f, &hf);
		/* Only a body that decodes can fail on magic or version. */
		if ((rcf == SQ_E_BITCODE) != (rc != 0))
			abort();
	} else {
		if (rc || !sq_state_equal(s, f) || hf.magic != h.magic || strcmp(hf.version, h.version))
			abort();
		sq_state_destroy(f);
		sq_state_header_release(&hf);
	}
	free(file);

	/* The input as a whole file. */
	f = NULL;
	rcf = sq_state_decode(data, size, &f, NULL);
	if (rcf)
		check_failure(rcf, f, NULL);
	else
		sq_state_destroy(f);
out:
	if (!rc) {
		sq_state_destroy(s);
		sq_state_header_release(&h);
	}
	return 0;
}
