/* SPDX-License-Identifier: Apache-2.0 */
/* Error model: stable codes and names, thread-local detail, original texts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <squib/error.h>
#include "core/err.h"

static void codes_are_stable(void **state)
{
	(void)state;
	/* The original's variants keep their declaration order. */
	assert_int_equal(SQ_E_QUIESCE_TIMEOUT, -1);
	assert_int_equal(SQ_E_MAGIC_MISMATCH, -2);
	assert_int_equal(SQ_E_VERSION_MISMATCH, -3);
	assert_int_equal(SQ_E_CRC_MISMATCH, -4);
	assert_int_equal(SQ_E_TOO_SHORT, -5);
	assert_int_equal(SQ_E_INCOMPATIBLE, -6);
	assert_int_equal(SQ_E_ATOMIC_COMMIT_FAILED, -7);
	assert_int_equal(SQ_E_ATOMIC_COMMIT_CROSS_FS, -8);
	assert_int_equal(SQ_E_INVALID_PATH, -9);
	assert_int_equal(SQ_E_BITCODE, -10);
	assert_int_equal(SQ_E_SIZE_LIMIT, -11);
	assert_int_equal(SQ_E_MEMORY_IO, -12);
	assert_int_equal(SQ_E_IO, -13);
	assert_int_equal(SQ_E_CAPTURE, -14);
	assert_string_equal(sq_error_name(SQ_E_CRC_MISMATCH), "SQ_E_CRC_MISMATCH");
	assert_string_equal(sq_error_name(12345), "SQ_E_UNKNOWN");
	assert_string_equal(sq_strerror(12345), "unknown error");
}

static void original_texts(void **state)
{
	(void)state;
	assert_string_equal(sq_strerror(SQ_E_QUIESCE_TIMEOUT),
			    "a vCPU did not ack quiesce within the timeout");
	assert_string_equal(sq_strerror(SQ_E_CRC_MISMATCH), "snapshot CRC64 mismatch");
	assert_string_equal(sq_strerror(SQ_E_TOO_SHORT),
			    "snapshot file is too short to contain a CRC trailer");
	assert_string_equal(sq_strerror(SQ_E_INCOMPATIBLE),
			    "snapshot is from a different VMM (sysreg or GIC blob shape mismatch)");
}

static void every_code_has_distinct_name_and_text(void **state)
{
	(void)state;
	static const int codes[] = {
#define X_(name, value, text) value,
		SQ_ERROR_LIST(X_)
#undef X_
	};
	size_t n = sizeof(codes) / sizeof(codes[0]);
	for (size_t i = 0; i < n; i++) {
		assert_true(codes[i] <= 0);
		assert_string_not_equal(sq_error_name(codes[i]), "SQ_E_UNKNOWN");
		for (size_t j = i + 1; j < n; j++) {
			assert_int_not_equal(codes[i], codes[j]);
			assert_string_not_equal(sq_error_name(codes[i]), sq_error_name(codes[j]));
		}
	}
}

static void io_error_text_like_rust(void **state)
{
	(void)state;
	int rc = sq_err_sys(SQ_E_IO, ENOENT, NULL);
	assert_int_equal(rc, SQ_E_IO);
	assert_string_equal(sq_last_error(),
			    "snapshot I/O error: No such file or directory (os error 2)");
	assert_int_equal(sq_last_error_code(), SQ_E_IO);
	rc = sq_err_sys(SQ_E_MEMORY_IO, ENOSPC, NULL);
	assert_int_equal(rc, SQ_E_NO_SPACE);
	assert_string_equal(sq_last_error(),
			    "memory file I/O error: No space left on device (os error 28)");
	rc = sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, EXDEV, NULL);
	assert_int_equal(rc, SQ_E_ATOMIC_COMMIT_FAILED);
	assert_true(strncmp(sq_last_error(), "atomic commit (rename) failed: ", 31) == 0);
}

static void *other_thread(void *arg)
{
	(void)arg;
	sq_err(SQ_E_INVAL, "from the other thread");
	return NULL;
}

static void detail_is_per_thread(void **state)
{
	(void)state;
	pthread_t t;
	sq_err(SQ_E_MAGIC_MISMATCH, "snapshot magic mismatch (file: %#llx, expected: %#llx)",
	       0xdeadbeefull, 0x07101984aaaa0000ull);
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	pthread_join(t, NULL);
	assert_string_equal(sq_last_error(),
			    "snapshot magic mismatch (file: 0xdeadbeef, expected: 0x7101984aaaa0000)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(codes_are_stable),
		cmocka_unit_test(original_texts),
		cmocka_unit_test(every_code_has_distinct_name_and_text),
		cmocka_unit_test(io_error_text_like_rust),
		cmocka_unit_test(detail_is_per_thread),
	};
	return cmocka_run_group_tests_name("core/error", tests, NULL, NULL);
}
