/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/endian.h and core/clock.h: little-endian stores and loads give the
 * documented byte order at every alignment and round-trip every value;
 * the monotonic clock never goes backwards and its two units agree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "core/clock.h"
#include "core/endian.h"
#include "helpers.h"

/* The byte order is fixed by the formats, whatever the host's. */
static void byte_order(void **state)
{
	(void)state;
	uint8_t b[8];

	sq_le_put16(b, 0x0102);
	assert_int_equal(b[0], 0x02);
	assert_int_equal(b[1], 0x01);
	sq_le_put32(b, 0x01020304u);
	assert_memory_equal(b, "\x04\x03\x02\x01", 4);
	sq_le_put64(b, 0x0102030405060708ull);
	assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_true(sq_le_get64((const uint8_t *)"\x08\x07\x06\x05\x04\x03\x02\x81") ==
		    0x8102030405060708ull);
	assert_true(sq_le_get32((const uint8_t *)"\x04\x03\x02\x81") == 0x81020304u);
	assert_true(sq_le_get16((const uint8_t *)"\x02\x81") == 0x8102);
}

/* Every offset of a buffer (so every alignment), random values and the
 * edges; a store writes exactly its width and nothing around it. */
static void round_trip_unaligned(void **state)
{
	(void)state;
	uint64_t seed = sq_test_seed("endian/round-trip");
	uint8_t buf[32];
	const uint64_t edges[] = { 0, 1, 0x80, 0xff, 0x8000, 0xffff, 0x80000000u, 0xffffffffu,
				   0x8000000000000000ull, ~0ull };

	for (unsigned iter = 0; iter < 2000; iter++) {
		uint64_t v = iter < 10 ? edges[iter] : sq_test_rand(&seed);
		for (size_t off = 0; off + 8 <= sizeof(buf); off++) {
			memset(buf, 0xa5, sizeof(buf));
			sq_le_put64(buf + off, v);
			assert_true(sq_le_get64(buf + off) == v);
			assert_true(sq_le_get32(buf + off) == (uint32_t)v);
			assert_true(sq_le_get16(buf + off) == (uint16_t)v);
			for (size_t i = 0; i < sizeof(buf); i++)
				if (i < off || i >= off + 8)
					assert_int_equal(buf[i], 0xa5);

			memset(buf, 0x5a, sizeof(buf));
			sq_le_put32(buf + off, (uint32_t)v);
			assert_true(sq_le_get32(buf + off) == (uint32_t)v);
			assert_int_equal(buf[off + 4], 0x5a);
			sq_le_put16(buf + off, (uint16_t)(v >> 16));
			assert_true(sq_le_get16(buf + off) == (uint16_t)(v >> 16));
			assert_int_equal(buf[off + 2], (uint8_t)(v >> 16));
		}
	}
}

static void clock_monotonic(void **state)
{
	(void)state;
	uint64_t prev = sq_clock_ns();

	for (int i = 0; i < 100000; i++) {
		uint64_t now = sq_clock_ns();
		assert_true(now >= prev);
		prev = now;
	}
	/* The two units read the same clock: seconds bracketed by nanoseconds. */
	uint64_t a = sq_clock_ns();
	double s = sq_clock_s();
	uint64_t b = sq_clock_ns();
	assert_true(s >= (double)a * 1e-9 - 1e-6 && s <= (double)b * 1e-9 + 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(byte_order),
		cmocka_unit_test(round_trip_unaligned),
		cmocka_unit_test(clock_monotonic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
