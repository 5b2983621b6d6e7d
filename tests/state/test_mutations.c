/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Damaged vectors: every truncation length and every single-byte change of
 * every case and reject vector, at the file level (.snap: the envelope must
 * reject each one) and at the body level (bitcode only: each one is either
 * rejected with SQ_E_BITCODE and nothing allocated, or decodes to a valid
 * state that re-encodes and re-decodes to itself). Run under ASan + UBSan
 * by the sanitizer build of the suite.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/error.h>
#include <squib/state.h>

#include "helpers.h"
#include "state/state_internal.h"
#include "vectors.h"

static bool is_case_body(const uint8_t *b, size_t len)
{
	struct vec_list l;

	vec_list(&l, "case");
	for (int i = 0; i < l.n; i++) {
		unsigned char *body = NULL;
		size_t blen = 0;
		bool same;

		if (vec_read(l.name[i], ".body.bin", &body, &blen))
			continue;
		same = blen == len && memcmp(body, b, len) == 0;
		free(body);
		if (same)
			return true;
	}
	return false;
}

static void every_truncation_is_rejected(void **state)
{
	struct vec_list l;
	long files = 0, bodies = 0;

	(void)state;
	assert_int_equal(vec_list(&l, NULL), 0);
	for (int i = 0; i < l.n; i++) {
		unsigned char *snap = NULL, *body = NULL;
		size_t slen = 0, blen = 0;

		if (!strcmp(l.kind[i], "unit"))
			continue; /* not state files: covered in test_bitcode */
		assert_int_equal(vec_read(l.name[i], ".snap", &snap, &slen), 0);
		assert_int_equal(vec_read(l.name[i], ".body.bin", &body, &blen), 0);
		for (size_t k = 0; k < slen; k++) {
			struct sq_microvm_state *s = NULL;
			int rc = sq_state_decode(snap, k, &s, NULL);

			if (rc == 0)
				fail_msg("%s.snap: prefix of %zu bytes accepted", l.name[i], k);
			assert_null(s);
			assert_int_equal(rc, k < 8 ? SQ_E_TOO_SHORT : SQ_E_CRC_MISMATCH);
			files++;
		}
		for (size_t k = 0; k < blen; k++) {
			struct sq_microvm_state *s = NULL;
			struct sq_state_header h;
			int rc = sq_state_decode_body(body, k, &s, &h);

			if (rc == 0) {
				/* Only "valid vector + trailing byte" rejects have a valid prefix. */
				if (!is_case_body(body, k))
					fail_msg("%s: body prefix of %zu bytes accepted", l.name[i], k);
				sq_state_destroy(s);
				sq_state_header_release(&h);
				continue;
			}
			assert_int_equal(rc, SQ_E_BITCODE);
			assert_null(s);
			bodies++;
		}
		free(snap);
		free(body);
	}
	fprintf(stderr, "truncations: %ld files, %ld bodies rejected\n", files, bodies);
	assert_true(files > 5000);
}

static void trailing_bytes_are_rejected(void **state)
{
	static const uint8_t extra[] = { 0x00, 0x01, 0xff };
	struct vec_list l;

	(void)state;
	assert_int_equal(vec_list(&l, "case"), 0);
	for (int i = 0; i < l.n; i++) {
		unsigned char *body = NULL;
		size_t blen = 0;

		assert_int_equal(vec_read(l.name[i], ".body.bin", &body, &blen), 0);
		body = realloc(body, blen + 1);
		for (size_t e = 0; e < sizeof(extra); e++) {
			struct sq_microvm_state *s = NULL;
			struct sq_state_header h;

			body[blen] = extra[e];
			assert_int_equal(sq_state_decode_body(body, blen + 1, &s, &h), SQ_E_BITCODE);
			assert_string_equal(sq_last_error(), "snapshot encoding error: Expected EOF");
			assert_null(s);
		}
		free(body);
	}
}

struct sweep_stats {
	long rejected, decoded, same_state;
};

/* One changed body: rejected cleanly, or a valid state that is stable. */
static void check_changed_body(const char *name, size_t pos, const uint8_t *b, size_t len,
			       const struct sq_microvm_state *orig,
			       const struct sq_state_header *orig_hdr, struct sweep_stats *st)
{
	struct sq_microvm_state *s = NULL, *t = NULL;
	struct sq_state_header h, h2;
	uint8_t *enc;
	size_t elen;
	int rc = sq_state_decode_body(b, len, &s, &h);

	if (rc) {
		if (rc != SQ_E_BITCODE)
			fail_msg("%s byte %zu: %s", name, pos, sq_error_name(rc));
		if (s || h.version)
			fail_msg("%s byte %zu: rejected but left an allocation", name, pos);
		st->rejected++;
		return;
	}
	st->decoded++;
	/* Valid: the model's invariants hold (what the encoder requires) ... */
	if (sq_state_check_model(s))
		fail_msg("%s byte %zu: decoded an invalid model: %s", name, pos, sq_last_error());
	if (sq_state_equal(s, orig) && h.magic == orig_hdr->magic &&
	    !strcmp(h.version, orig_hdr->version))
		st->same_state++; /* a byte bitcode ignores (padding digit, bool high bits) */
	if (st->decoded % 8 != 0) {
		sq_state_destroy(s);
		sq_state_header_release(&h);
		return;
	}
	/* ... and (every 8th, for time) it encodes, and decodes to itself again. */
	rc = sq_state_encode_body(s, h.magic, h.version, &enc, &elen);
	if (rc)
		fail_msg("%s byte %zu: decoded state does not encode (%s)", name, pos,
			 sq_last_error());
	rc = sq_state_decode_body(enc, elen, &t, &h2);
	if (rc || !sq_state_equal(s, t) || h2.magic != h.magic || strcmp(h2.version, h.version))
		fail_msg("%s byte %zu: decode(encode(x)) != x", name, pos);
	free(enc);
	sq_state_destroy(s);
	sq_state_destroy(t);
	sq_state_header_release(&h);
	sq_state_header_release(&h2);
}

static void every_single_byte_change(void **state)
{
	struct vec_list l;
	struct sweep_stats st = { 0 };
	long files = 0;

	(void)state;
	assert_int_equal(vec_list(&l, NULL), 0);
	for (int i = 0; i < l.n; i++) {
		unsigned char *snap = NULL, *body = NULL;
		size_t slen = 0, blen = 0;
		struct sq_microvm_state *orig = NULL;
		struct sq_state_header oh = { 0 };

		if (!strcmp(l.kind[i], "unit"))
			continue;
		assert_int_equal(vec_read(l.name[i], ".snap", &snap, &slen), 0);
		assert_int_equal(vec_read(l.name[i], ".body.bin", &body, &blen), 0);
		/* File level: CRC-64 detects every single-byte change. */
		for (size_t p = 0; p < slen; p++) {
			uint8_t keep = snap[p];

			for (unsigned v = 0; v < 256; v++) {
				struct sq_microvm_state *s = NULL;

				if (v == keep)
					continue;
				snap[p] = (uint8_t)v;
				if (sq_state_decode(snap, slen, &s, NULL) != SQ_E_CRC_MISMATCH)
					fail_msg("%s.snap byte %zu = 0x%02x not rejected by the CRC",
						 l.name[i], p, v);
				files++;
			}
			snap[p] = keep;
		}
		/*
		 * Body level: what describe's CRC-less fallback would see. Only
		 * for the case vectors: every reject vector is itself one byte
		 * change (or truncation) of minimal or demo, covered here.
		 */
		if (strcmp(l.kind[i], "case") != 0)
			goto next;
		assert_int_equal(sq_state_decode_body(body, blen, &orig, &oh), 0);
		for (size_t p = 0; p < blen; p++) {
			uint8_t keep = body[p];

			for (unsigned v = 0; v < 256; v++) {
				if (v == keep)
					continue;
				body[p] = (uint8_t)v;
				check_changed_body(l.name[i], p, body, blen, orig, &oh, &st);
			}
			body[p] = keep;
		}
next:
		sq_state_destroy(orig);
		sq_state_header_release(&oh);
		free(snap);
		free(body);
	}
	fprintf(stderr,
		"single-byte changes: %ld files rejected; bodies: %ld rejected, %ld decoded "
		"(%ld to the unchanged state)\n",
		files, st.rejected, st.decoded, st.same_state);
	assert_true(st.rejected > 0 && st.decoded > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_truncation_is_rejected),
		cmocka_unit_test(trailing_bytes_are_rejected),
		cmocka_unit_test(every_single_byte_change),
	};

	return cmocka_run_group_tests_name("state/mutations", tests, NULL, NULL);
}
