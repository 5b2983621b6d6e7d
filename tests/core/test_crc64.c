/* SPDX-License-Identifier: Apache-2.0 */
/* CRC-64/Jones: check values, residue, streaming equals one-shot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/crc64.h>
#include "helpers.h"

static void check_value(void **state)
{
	(void)state;
	assert_true(sq_crc64("123456789", 9) == 0xe9c6d914c4b8d9caull);
	assert_true(sq_x_crc64_bytewise(0, "123456789", 9) == 0xe9c6d914c4b8d9caull);
	assert_true(sq_crc64(NULL, 0) == 0);
}

static void sixteen_bytes_of_123(void **state)
{
	(void)state;
	unsigned char b[16];
	memset(b, 123, sizeof(b));
	assert_true(sq_crc64(b, sizeof(b)) == 0x29d5357216326566ull);
}

static void residue_is_zero(void **state)
{
	(void)state;
	uint64_t seed = sq_test_seed("crc64/residue");
	for (int round = 0; round < 200; round++) {
		unsigned char buf[600];
		size_t n = sq_test_rand(&seed) % 590;
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)sq_test_rand(&seed);
		uint64_t c = sq_crc64(buf, n);
		for (int k = 0; k < 8; k++)
			buf[n + (size_t)k] = (unsigned char)(c >> (8 * k));
		assert_true(sq_crc64(buf, n + 8) == 0);
		if (n) {
			buf[sq_test_rand(&seed) % n] ^= 0x01;
			assert_true(sq_crc64(buf, n + 8) != 0);
		}
	}
}

static void streaming_equals_one_shot(void **state)
{
	(void)state;
	uint64_t seed = sq_test_seed("crc64/streaming");
	size_t n = 1 << 20;
	unsigned char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)sq_test_rand(&seed);
	uint64_t whole = sq_crc64(buf, n);
	assert_true(whole == sq_x_crc64_bytewise(0, buf, n));
	for (int round = 0; round < 50; round++) {
		uint64_t c = 0;
		size_t off = 0;
		while (off < n) {
			size_t piece = sq_test_rand(&seed) % 9000;
			if (piece > n - off)
				piece = n - off;
			c = sq_crc64_update(c, buf + off, piece);
			off += piece;
		}
		assert_true(c == whole);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_value),
		cmocka_unit_test(sixteen_bytes_of_123),
		cmocka_unit_test(residue_is_zero),
		cmocka_unit_test(streaming_equals_one_shot),
	};
	return cmocka_run_group_tests_name("core/crc64", tests, NULL, NULL);
}
