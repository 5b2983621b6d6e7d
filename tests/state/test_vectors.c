/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The golden vectors, byte for byte: every case vector's JSON description
 * encodes to its .body.bin and .snap; every body decodes to the described
 * values and re-encodes to itself; the envelope outcome of every .snap is
 * the one the JSON records for the original; every reject vector is
 * rejected with bitcode's reason; the demo constructor is the demo vector.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/state.h>

#include "helpers.h"
#include "vectors.h"
#include "vjson.h"

static struct vj *load_json(const char *name)
{
	char path[512];
	struct vj *v;

	vec_path(path, sizeof(path), name, ".json");
	v = vj_load(path);
	if (!v)
		fail_msg("%s: cannot parse", path);
	return v;
}

static void json_encodes_to_body_and_snap(void **state)
{
	struct vec_list l;
	int checked = 0;

	(void)state;
	assert_int_equal(vec_list(&l, "case"), 0);
	assert_true(l.n >= 9);
	for (int i = 0; i < l.n; i++) {
		struct vj *j = load_json(l.name[i]);
		struct sq_microvm_state *s;
		uint64_t magic;
		char *version;
		unsigned char *body = NULL, *snap = NULL;
		size_t blen = 0, slen = 0, elen = 0;
		uint8_t *enc = NULL;

		assert_int_equal(vj_to_state(j, &s, &magic, &version), 0);
		assert_int_equal(vec_read(l.name[i], ".body.bin", &body, &blen), 0);
		assert_int_equal(vec_read(l.name[i], ".snap", &snap, &slen), 0);
		assert_int_equal(blen, (size_t)vj_get(j, "body_len")->num);
		assert_int_equal(slen, (size_t)vj_get(j, "snap_len")->num);
		assert_int_equal(sq_state_encode_body(s, magic, version, &enc, &elen), 0);
		if (elen != blen || memcmp(enc, body, blen) != 0) {
			size_t k = 0;

			while (k < elen && k < blen && enc[k] == body[k])
				k++;
			fail_msg("%s: encoding differs at byte %zu (len %zu vs %zu)", l.name[i], k,
				 elen, blen);
		}
		/* The trailer: CRC-64/Jones of the body, little-endian. */
		uint64_t crc = sq_crc64(body, blen);
		assert_int_equal(crc, vj_u64(vj_get(j, "crc64")));
		for (int b = 0; b < 8; b++)
			assert_int_equal(snap[blen + (size_t)b], (uint8_t)(crc >> (8 * b)));
		assert_memory_equal(snap, body, blen);
		/* With the default header, sq_state_encode gives the .snap itself. */
		if (magic == SQ_SNAPSHOT_MAGIC_AARCH64 && !strcmp(version, SQ_SNAPSHOT_VERSION)) {
			uint8_t *file;
			size_t flen;

			assert_int_equal(sq_state_encode(s, &file, &flen), 0);
			assert_int_equal(flen, slen);
			assert_memory_equal(file, snap, slen);
			free(file);
		}
		free(enc);
		free(body);
		free(snap);
		free(version);
		sq_state_destroy(s);
		vj_free(j);
		checked++;
	}
	assert_int_equal(checked, l.n);
}

static void bodies_decode_to_described_values(void **state)
{
	struct vec_list l;

	(void)state;
	assert_int_equal(vec_list(&l, "case"), 0);
	for (int i = 0; i < l.n; i++) {
		struct vj *j = load_json(l.name[i]);
		struct sq_microvm_state *want, *got;
		struct sq_state_header hdr;
		uint64_t magic;
		char *version;
		unsigned char *body = NULL;
		size_t blen = 0, elen = 0;
		uint8_t *enc = NULL;

		assert_int_equal(vj_to_state(j, &want, &magic, &version), 0);
		assert_int_equal(vec_read(l.name[i], ".body.bin", &body, &blen), 0);
		assert_int_equal(sq_state_decode_body(body, blen, &got, &hdr), 0);
		assert_int_equal(hdr.magic, magic);
		assert_string_equal(hdr.version, version);
		if (!sq_state_equal(want, got))
			fail_msg("%s: decoded state differs from the JSON description", l.name[i]);
		/* decode -> encode gives the same bytes */
		assert_int_equal(sq_state_encode_body(got, hdr.magic, hdr.version, &enc, &elen), 0);
		assert_int_equal(elen, blen);
		assert_memory_equal(enc, body, blen);
		free(enc);
		free(body);
		free(version);
		sq_state_header_release(&hdr);
		sq_state_destroy(got);
		sq_state_destroy(want);
		vj_free(j);
	}
}

/* The outcome the JSON records for squib's load_from_slice + verify_compatible. */
static void envelope_outcomes_match_the_original(void **state)
{
	struct vec_list l;

	(void)state;
	assert_int_equal(vec_list(&l, "case"), 0);
	for (int i = 0; i < l.n; i++) {
		struct vj *j = load_json(l.name[i]);
		const char *outcome = vj_get(j, "squib_load_outcome")->str;
		bool compatible = vj_get(j, "verify_compatible")->b;
		struct sq_microvm_state *s = NULL;
		struct sq_state_header hdr;
		unsigned char *snap = NULL;
		size_t slen = 0;
		char path[512], msg[256];
		int rc;

		assert_int_equal(vec_read(l.name[i], ".snap", &snap, &slen), 0);
		rc = sq_state_decode(snap, slen, &s, &hdr);
		if (!strncmp(outcome, "Ok", 2)) {
			assert_int_equal(rc, 0);
			assert_int_equal(sq_state_verify_compatible(s) == 0, compatible);
			sq_state_header_release(&hdr);
		} else if (!strncmp(outcome, "MagicMismatch (found ", 21)) {
			assert_int_equal(rc, SQ_E_MAGIC_MISMATCH);
			assert_null(s);
			snprintf(msg, sizeof(msg),
				 "snapshot magic mismatch (file: %.*s, expected: 0x7101984aaaa0000)",
				 (int)strcspn(outcome + 21, ")"), outcome + 21);
			assert_string_equal(sq_last_error(), msg);
		} else if (!strncmp(outcome, "VersionMismatch (found ", 23)) {
			assert_int_equal(rc, SQ_E_VERSION_MISMATCH);
			assert_null(s);
			snprintf(msg, sizeof(msg), "snapshot version %.*s is incompatible with squib's 5.0.0",
				 (int)strcspn(outcome + 23, ")"), outcome + 23);
			assert_string_equal(sq_last_error(), msg);
		} else {
			fail_msg("%s: unknown outcome \"%s\"", l.name[i], outcome);
		}
		sq_state_destroy(s);
		/* The file-level load adds verify_compatible. */
		vec_path(path, sizeof(path), l.name[i], ".snap");
		s = NULL;
		int lrc = sq_state_load(path, &s, NULL);
		if (rc == 0)
			assert_int_equal(lrc, compatible ? 0 : SQ_E_INCOMPATIBLE);
		else
			assert_int_equal(lrc, rc);
		sq_state_destroy(s);
		free(snap);
		vj_free(j);
	}
}

/* "Err(invalid option)" -> "snapshot encoding error: invalid option" */
static void expected_reject_text(const struct vj *j, char *out, size_t len)
{
	const char *r = vj_get(j, "bitcode_deserialize_result")->str;

	assert_int_equal(strncmp(r, "Err(", 4), 0);
	snprintf(out, len, "snapshot encoding error: %.*s", (int)(strlen(r) - 5), r + 4);
}

static void reject_vectors_are_rejected(void **state)
{
	struct vec_list l;

	(void)state;
	assert_int_equal(vec_list(&l, "reject"), 0);
	assert_true(l.n >= 10);
	for (int i = 0; i < l.n; i++) {
		struct vj *j = load_json(l.name[i]);
		struct sq_microvm_state *s = (void *)&l; /* must be reset to NULL */
		struct sq_state_header hdr;
		unsigned char *body = NULL, *snap = NULL;
		size_t blen = 0, slen = 0;
		char want[256];

		assert_false(vj_get(j, "bitcode_deserialize_ok")->b);
		expected_reject_text(j, want, sizeof(want));
		assert_int_equal(vec_read(l.name[i], ".body.bin", &body, &blen), 0);
		assert_int_equal(vec_read(l.name[i], ".snap", &snap, &slen), 0);
		assert_int_equal(sq_state_decode_body(body, blen, &s, &hdr), SQ_E_BITCODE);
		assert_null(s);
		assert_null(hdr.version);
		if (strcmp(sq_last_error(), want) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", l.name[i], sq_last_error(), want);
		/* The .snap has a valid CRC over the altered body: bitcode decides. */
		assert_int_equal(sq_state_decode(snap, slen, &s, NULL), SQ_E_BITCODE);
		assert_string_equal(sq_last_error(), want);
		assert_null(s);
		free(body);
		free(snap);
		vj_free(j);
	}
}

static void demo_constructor_is_the_demo_vector(void **state)
{
	struct sq_microvm_state *s, *d;
	unsigned char *snap = NULL;
	size_t slen = 0, len = 0;
	uint8_t *enc = NULL;

	(void)state;
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(vec_read("demo", ".snap", &snap, &slen), 0);
	assert_int_equal(sq_state_encode(s, &enc, &len), 0);
	assert_int_equal(len, slen);
	assert_memory_equal(enc, snap, slen);
	assert_int_equal(sq_state_decode(snap, slen, &d, NULL), 0);
	assert_true(sq_state_equal(s, d));
	assert_int_equal(sq_state_verify_compatible(d), 0);
	free(enc);
	free(snap);
	sq_state_destroy(s);
	sq_state_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_encodes_to_body_and_snap),
		cmocka_unit_test(bodies_decode_to_described_values),
		cmocka_unit_test(envelope_outcomes_match_the_original),
		cmocka_unit_test(reject_vectors_are_rejected),
		cmocka_unit_test(demo_constructor_is_the_demo_vector),
	};

	return cmocka_run_group_tests_name("state/vectors", tests, NULL, NULL);
}
