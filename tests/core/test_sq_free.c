/* SPDX-License-Identifier: Apache-2.0 */
/* sq_free(): every buffer libsquib hands to the caller (state bytes, a
 * description's text, MMDS JSON, manifest bytes) is checked for content and
 * released with sq_free(). Under ASan (make sanitize, detect_leaks=1) a
 * buffer that sq_free() did not release, or released with the wrong
 * allocator, fails the run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/alloc.h>
#include <squib/compat.h>
#include <squib/error.h>
#include <squib/file.h>
#include <squib/manifest.h>
#include <squib/state.h>
#include "helpers.h"

static void state_buffers(void **state)
{
	(void)state;
	struct sq_microvm_state *s = NULL, *back = NULL;
	uint8_t *file = NULL, *body = NULL;
	size_t flen = 0, blen = 0;

	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_encode(s, &file, &flen), 0);
	assert_true(flen > 8);
	assert_int_equal(sq_state_decode(file, flen, &back, NULL), 0);
	assert_true(sq_state_equal(s, back));
	/* The same header: the body is the file without its 8-byte trailer. */
	assert_int_equal(sq_state_encode_body(s, 0x07101984AAAA0000ull, NULL, &body, &blen), 0);
	assert_int_equal(blen, flen - 8);
	assert_memory_equal(body, file, blen);
	sq_free(file);
	sq_free(body);
	sq_state_destroy(back);
	sq_state_destroy(s);
	sq_free(NULL);
}

static void mmds_text(void **state)
{
	(void)state;
	struct sq_mmds_state m;
	char *json = NULL;

	memset(&m, 0, sizeof(m));
	assert_int_equal(sq_mmds_with_data("{\"a\": [1, 2]}", true, 60, &m), 0);
	assert_int_equal(sq_mmds_data_value(&m, &json), 0);
	assert_non_null(strstr(json, "\"a\""));
	sq_free(json);
	sq_str_clear(&m.data_json);
}

static void description_text(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("sqfree");
	char path[4096], *text = NULL, *js = NULL;
	struct sq_microvm_state *s = NULL;
	struct sq_state_description *d = NULL;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/vm.snap", dir);
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_save(path, s), 0);
	assert_int_equal(sq_state_describe(path, &d), 0);
	assert_int_equal(sq_state_description_format(d, 0, &text), 0);
	assert_int_equal(sq_state_description_format(d, 1, &js), 0);
	assert_true(strlen(text) > 0);
	assert_int_equal(js[0], '{');
	sq_free(text);
	sq_free(js);
	sq_state_description_destroy(d);
	sq_state_destroy(s);
	sq_test_rmrf(dir);
	free(dir);
}

static void manifest_bytes(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("sqfree");
	char path[4096];
	unsigned char page[SQ_PAGE_SIZE];
	struct sq_manifest *m = NULL, *back = NULL;
	void *buf = NULL;
	size_t len = 0;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/mem", dir);
	memset(page, 0x5a, sizeof(page));
	assert_int_equal(sq_test_write_file(path, page, sizeof(page)), 0);
	assert_int_equal(sq_manifest_scan(path, SQ_SNAPSHOT_FULL, &m), 0);
	assert_int_equal(sq_manifest_encode(m, &buf, &len), 0);
	assert_true(len > 0);
	assert_int_equal(sq_manifest_decode(buf, len, &back), 0);
	assert_int_equal(back->npages, 1);
	assert_memory_equal(back->crcs, m->crcs, sizeof(uint64_t));
	sq_free(buf);
	/* The whole-file read hands its buffer over the same way. */
	buf = NULL;
	assert_int_equal(sq_file_read(path, sizeof(page), &buf, &len), 0);
	assert_int_equal(len, sizeof(page));
	assert_memory_equal(buf, page, sizeof(page));
	sq_free(buf);
	sq_manifest_destroy(back);
	sq_manifest_destroy(m);
	sq_test_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(state_buffers),
		cmocka_unit_test(mmds_text),
		cmocka_unit_test(description_text),
		cmocka_unit_test(manifest_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
