/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The envelope, as the original's envelope and error unit tests: round
 * trip, truncated / flipped / clobbered trailer, too-short inputs, magic and
 * version checks (through the no-CRC path as the original does), the size
 * limit, the pinned constants, and the exact error texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/state.h>

#include "helpers.h"

/* MicrovmState::default() as the original's tests use it. */
static struct sq_microvm_state *default_state(void)
{
	struct sq_microvm_state *s;

	assert_int_equal(sq_state_create(0, &s), 0);
	return s;
}

static void encode_default(uint8_t **buf, size_t *len)
{
	struct sq_microvm_state *s = default_state();

	assert_int_equal(sq_state_encode(s, buf, len), 0);
	sq_state_destroy(s);
}

/* A body with another header, plus its CRC trailer. */
static uint8_t *file_with_header(uint64_t magic, const char *version, size_t *len)
{
	struct sq_microvm_state *s = default_state();
	uint8_t *body;
	size_t blen;

	assert_int_equal(sq_state_encode_body(s, magic, version, &body, &blen), 0);
	body = realloc(body, blen + 8);
	uint64_t crc = sq_crc64(body, blen);
	for (int i = 0; i < 8; i++)
		body[blen + (size_t)i] = (uint8_t)(crc >> (8 * i));
	*len = blen + 8;
	sq_state_destroy(s);
	return body;
}

static void round_trip_default_state(void **state)
{
	struct sq_microvm_state *s = default_state(), *d;
	struct sq_state_header h;
	uint8_t *buf;
	size_t len;

	(void)state;
	encode_default(&buf, &len);
	assert_int_equal(sq_crc64(buf, len), 0); /* the residue */
	assert_int_equal(sq_state_decode(buf, len, &d, &h), 0);
	assert_true(sq_state_equal(s, d));
	assert_int_equal(h.magic, SQ_SNAPSHOT_MAGIC_AARCH64);
	assert_string_equal(h.version, "5.0.0");
	sq_state_header_release(&h);
	sq_state_destroy(d);
	sq_state_destroy(s);
	free(buf);
}

static void truncated_trailer_is_crc_mismatch(void **state)
{
	struct sq_microvm_state *d = NULL;
	uint8_t *buf;
	size_t len;

	(void)state;
	encode_default(&buf, &len);
	assert_int_equal(sq_state_decode(buf, len - 4, &d, NULL), SQ_E_CRC_MISMATCH);
	assert_string_equal(sq_last_error(), "snapshot CRC64 mismatch");
	assert_null(d);
	free(buf);
}

static void short_inputs_are_too_short(void **state)
{
	struct sq_microvm_state *d = NULL;
	static const uint8_t four[4] = { 1, 2, 3, 4 };

	(void)state;
	assert_int_equal(sq_state_decode(NULL, 0, &d, NULL), SQ_E_TOO_SHORT);
	assert_string_equal(sq_last_error(), "snapshot file is too short to contain a CRC trailer");
	assert_int_equal(sq_state_decode(four, 4, &d, NULL), SQ_E_TOO_SHORT);
	assert_null(d);
}

static void flipped_body_byte_is_crc_mismatch(void **state)
{
	struct sq_microvm_state *d = NULL;
	uint8_t *buf;
	size_t len;

	(void)state;
	encode_default(&buf, &len);
	buf[2] ^= 0xFF;
	assert_int_equal(sq_state_decode(buf, len, &d, NULL), SQ_E_CRC_MISMATCH);
	free(buf);
}

static void clobbered_trailer_is_crc_mismatch(void **state)
{
	struct sq_microvm_state *d = NULL;
	uint8_t *buf;
	size_t len;

	(void)state;
	encode_default(&buf, &len);
	for (size_t i = len - 8; i < len; i++)
		buf[i] ^= 0xFF;
	assert_int_equal(sq_state_decode(buf, len, &d, NULL), SQ_E_CRC_MISMATCH);
	free(buf);
}

static void wrong_magic_is_magic_mismatch(void **state)
{
	struct sq_microvm_state *d = NULL;
	uint8_t *body;
	size_t len;

	(void)state;
	body = file_with_header(0xdeadbeef, "5.0.0", &len);
	/* Through the no-CRC path, as the original's test does. */
	assert_int_equal(sq_state_decode_unchecked(body, len - 8, &d, NULL), SQ_E_MAGIC_MISMATCH);
	assert_string_equal(sq_last_error(),
			    "snapshot magic mismatch (file: 0xdeadbeef, expected: 0x7101984aaaa0000)");
	assert_non_null(strstr(sq_last_error(), "0xdeadbeef"));
	assert_non_null(strstr(sq_last_error(), "0x7101984aaaa0000"));
	/* And through the full path: the CRC is valid, so magic decides. */
	assert_int_equal(sq_state_decode(body, len, &d, NULL), SQ_E_MAGIC_MISMATCH);
	assert_null(d);
	free(body);
	/* A zero magic still prints as Rust's {:#x} does. */
	body = file_with_header(0, "5.0.0", &len);
	assert_int_equal(sq_state_decode(body, len, &d, NULL), SQ_E_MAGIC_MISMATCH);
	assert_string_equal(sq_last_error(),
			    "snapshot magic mismatch (file: 0x0, expected: 0x7101984aaaa0000)");
	free(body);
}

static void version_rules(void **state)
{
	static const struct {
		const char *v;
		int rc;
	} cases[] = {
		{ "6.0.0", SQ_E_VERSION_MISMATCH },  /* higher major */
		{ "4.0.0", SQ_E_VERSION_MISMATCH },  /* lower major */
		{ "5.1.0", SQ_E_VERSION_MISMATCH },  /* higher minor */
		{ "5.0.12345", 0 },                  /* any patch */
		{ "5.0.0-rc.1+build.7", 0 },
	};
	struct sq_microvm_state *d;
	struct sq_state_header h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		uint8_t *buf = file_with_header(SQ_SNAPSHOT_MAGIC_AARCH64, cases[i].v, &len);
		int rc = sq_state_decode(buf, len, &d, &h);

		assert_int_equal(rc, cases[i].rc);
		if (rc) {
			char want[128];

			snprintf(want, sizeof(want),
				 "snapshot version %s is incompatible with squib's 5.0.0", cases[i].v);
			assert_string_equal(sq_last_error(), want);
		} else {
			assert_string_equal(h.version, cases[i].v);
			sq_state_header_release(&h);
			sq_state_destroy(d);
		}
		free(buf);
	}
	/*
	 * "A lower minor is accepted": the current minor is 0, so there is no
	 * lower one (the original's test returns early for the same reason).
	 */
	assert_int_equal(SQ_SNAPSHOT_VERSION_MINOR, 0);
}

static void size_limit(void **state)
{
	struct sq_microvm_state *d = NULL;
	size_t len = (size_t)SQ_STATE_SIZE_LIMIT + 32;
	uint8_t *big = calloc(1, len);

	(void)state;
	assert_non_null(big);
	assert_int_equal(sq_state_decode(big, len, &d, NULL), SQ_E_SIZE_LIMIT);
	assert_string_equal(sq_last_error(), "snapshot exceeds 10000000 byte deserialization limit");
	assert_int_equal(sq_state_decode(big, SQ_STATE_SIZE_LIMIT + 1, &d, NULL), SQ_E_SIZE_LIMIT);
	/*
	 * Exactly at the limit the size passes: all zeros have CRC 0 (init 0),
	 * so the body reaches bitcode, whose empty version string fails.
	 */
	assert_int_equal(sq_state_decode(big, SQ_STATE_SIZE_LIMIT, &d, NULL), SQ_E_BITCODE);
	assert_string_equal(sq_last_error(),
			    "snapshot encoding error: empty string, expected a semver version");
	assert_int_equal(sq_state_decode_unchecked(big, SQ_STATE_SIZE_LIMIT + 1, &d, NULL),
			 SQ_E_SIZE_LIMIT);
	assert_null(d);
	free(big);
}

static void constants_are_pinned(void **state)
{
	(void)state;
	assert_int_equal(SQ_SNAPSHOT_MAGIC_AARCH64, 0x07101984AAAA0000ULL);
	assert_string_equal(SQ_SNAPSHOT_VERSION, "5.0.0");
	assert_int_equal(SQ_STATE_SIZE_LIMIT, 10000000);
	assert_int_equal(SQ_STATE_MAX_VCPUS, 32);
}

/* Load order: CRC before bitcode before magic. */
static void load_order(void **state)
{
	struct sq_microvm_state *d = NULL;
	size_t len;
	uint8_t *buf = file_with_header(0xdeadbeef, "5.0.0", &len);

	(void)state;
	/* Bad magic and a bad CRC: CRC wins. */
	buf[len - 1] ^= 1;
	assert_int_equal(sq_state_decode(buf, len, &d, NULL), SQ_E_CRC_MISMATCH);
	free(buf);
	/* A body that is not bitcode (with a valid CRC): Bitcode, magic never read. */
	uint8_t junk[16] = { 0x07 };
	uint64_t crc = sq_crc64(junk, 8);
	for (int i = 0; i < 8; i++)
		junk[8 + i] = (uint8_t)(crc >> (8 * i));
	assert_int_equal(sq_state_decode(junk, 16, &d, NULL), SQ_E_BITCODE);
	assert_string_equal(sq_last_error(), "snapshot encoding error: invalid packing");
	assert_null(d);
}

/* The encoder refuses models the format cannot carry, and oversized files. */
static void encoder_rejects_bad_models(void **state)
{
	struct sq_microvm_state *s;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(sq_state_create(1, &s), 0);
	assert_int_equal(sq_str_set(&s->vm_info.boot_args, "\xff", 1), 0);
	assert_int_equal(sq_state_encode(s, &buf, &len), SQ_E_INVAL);
	assert_null(buf);
	assert_int_equal(sq_str_set(&s->vm_info.boot_args, "ok", 2), 0);
	s->vcpus[0].psci_state = (enum sq_psci_state)3;
	assert_int_equal(sq_state_encode(s, &buf, &len), SQ_E_INVAL);
	s->vcpus[0].psci_state = SQ_PSCI_OFF;
	s->vcpus[0].sys_regs = calloc(2, sizeof(struct sq_sysreg));
	s->vcpus[0].n_sys_regs = 2;
	s->vcpus[0].sys_regs[0].key = 5;
	s->vcpus[0].sys_regs[1].key = 5;
	assert_int_equal(sq_state_encode(s, &buf, &len), SQ_E_INVAL);
	s->vcpus[0].sys_regs[1].key = 6;
	assert_int_equal(sq_state_encode(s, &buf, &len), 0);
	free(buf);
	assert_int_equal(sq_state_encode_body(s, SQ_SNAPSHOT_MAGIC_AARCH64, "5.0", &buf, &len),
			 SQ_E_INVAL);
	/* A GIC blob of incompressible bytes over the limit. */
	size_t big = SQ_STATE_SIZE_LIMIT;
	uint8_t *blob = malloc(big);
	uint64_t seed = 1;
	for (size_t i = 0; i < big; i++)
		blob[i] = (uint8_t)sq_test_rand(&seed);
	assert_int_equal(sq_state_set_gic(s, blob, big), 0);
	assert_int_equal(sq_state_encode(s, &buf, &len), SQ_E_SIZE_LIMIT);
	assert_null(buf);
	free(blob);
	sq_state_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_default_state),
		cmocka_unit_test(truncated_trailer_is_crc_mismatch),
		cmocka_unit_test(short_inputs_are_too_short),
		cmocka_unit_test(flipped_body_byte_is_crc_mismatch),
		cmocka_unit_test(clobbered_trailer_is_crc_mismatch),
		cmocka_unit_test(wrong_magic_is_magic_mismatch),
		cmocka_unit_test(version_rules),
		cmocka_unit_test(size_limit),
		cmocka_unit_test(constants_are_pinned),
		cmocka_unit_test(load_order),
		cmocka_unit_test(encoder_rejects_bad_models),
	};

	return cmocka_run_group_tests_name("state/envelope", tests, NULL, NULL);
}
