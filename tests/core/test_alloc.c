/* SPDX-License-Identifier: Apache-2.0 */
/* Allocator hook: alignment and custom tables. (That the host program's
 * malloc stays libc's is checked by the consumer test, against the
 * installed shared library.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <squib/alloc.h>
#include <squib/error.h>

static void default_aligned(void **state)
{
	(void)state;
	size_t aligns[] = { 8, 64, 4096, 2u << 20 };
	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		void *p = sq_mem_alloc(3 * aligns[i] + 5, aligns[i]);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % aligns[i], 0);
		memset(p, 0xa5, 3 * aligns[i] + 5);
		sq_mem_free(p, 3 * aligns[i] + 5, aligns[i]);
	}
	assert_null(sq_mem_alloc(0, 64));
	assert_null(sq_mem_alloc(64, 24)); /* not a power of two */
	sq_mem_free(NULL, 0, 0);
}

static size_t live_bytes;
static int calls;

static void *count_alloc(size_t size, size_t align, void *ctx)
{
	assert_ptr_equal(ctx, &live_bytes);
	calls++;
	live_bytes += size;
	return aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

static void count_free(void *p, size_t size, size_t align, void *ctx)
{
	(void)align;
	(void)ctx;
	live_bytes -= size;
	free(p);
}

static void custom_table(void **state)
{
	(void)state;
	struct sq_allocator a = { count_alloc, count_free, &live_bytes };
	struct sq_allocator bad = { count_alloc, NULL, NULL };
	assert_int_equal(sq_allocator_set(&bad), SQ_E_INVAL);
	assert_int_equal(sq_allocator_set(&a), 0);
	assert_string_equal(sq_allocator_name(), "custom");
	void *p = sq_mem_alloc(10000, 4096);
	assert_non_null(p);
	assert_int_equal(calls, 1);
	assert_int_equal(live_bytes, 10000);
	sq_mem_free(p, 10000, 4096);
	assert_int_equal(live_bytes, 0);
	assert_int_equal(sq_allocator_set(NULL), 0);
	assert_string_not_equal(sq_allocator_name(), "custom");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_aligned),
		cmocka_unit_test(custom_table),
	};
	return cmocka_run_group_tests_name("core/alloc", tests, NULL, NULL);
}
