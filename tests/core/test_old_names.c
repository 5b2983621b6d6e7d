/* SPDX-License-Identifier: Apache-2.0 */
/* The names libsquib.so.2 published before the create/destroy rule and the
 * experimental sq_x_ prefix (docs/ARCHITECTURE.md, "ABI") stay exported and
 * do what the new names do: each old name is called on a real object and
 * its effect checked beside the new name's (under ASan a wrapper that did
 * not release its object fails the run as a leak). */
#define SQ_NO_DEPRECATED 1
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <squib/alloc.h>
#include <squib/atomic_file.h>
#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/manifest.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>
#include "helpers.h"

static void experimental_names(void **state)
{
	(void)state;
	char a[4096], b[4096];
	struct sq_microvm_state *s_old = NULL, *s_new = NULL;

	assert_int_equal(sq_crc64_bytewise(0, "123456789", 9), sq_x_crc64_bytewise(0, "123456789", 9));
	assert_int_equal(sq_derive_temp_path("/x/y.mem", a, sizeof(a)), 0);
	assert_int_equal(sq_x_derive_temp_path("/x/y.mem", b, sizeof(b)), 0);
	assert_string_equal(a, b);
	assert_int_equal(sq_check_same_filesystem("/tmp/a", "/tmp/b"),
			 sq_x_check_same_filesystem("/tmp/a", "/tmp/b"));
	assert_int_equal(sq_state_demo_vcpus(3, &s_old), 0);
	assert_int_equal(sq_x_state_demo_vcpus(3, &s_new), 0);
	assert_true(sq_state_equal(s_old, s_new));
	sq_state_free(s_old);
	sq_state_destroy(s_new);
}

static void state_names(void **state)
{
	(void)state;
	struct sq_str str = { 0 };
	struct sq_microvm_state *s = NULL;
	struct sq_state_description *d = NULL;
	struct sq_atomic_file *f = NULL;
	uint8_t *bytes = NULL;
	size_t len = 0;
	char *dir = sq_test_tmpdir("old_names"), path[4096];

	assert_non_null(dir);
	assert_int_equal(sq_str_set(&str, "abc", 3), 0);
	sq_str_free(&str);
	assert_null(str.s);
	assert_int_equal(str.len, 0);

	/* sq_atomic_close after a commit: the file is there, the handle gone. */
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_encode(s, &bytes, &len), 0);
	snprintf(path, sizeof(path), "%s/vm.snap", dir);
	assert_int_equal(sq_atomic_open(path, NULL, &f), 0);
	assert_int_equal(sq_atomic_write(f, bytes, len, SQ_E_IO), 0);
	assert_int_equal(sq_atomic_commit(f), 0);
	sq_atomic_close(f);
	sq_free(bytes);
	assert_int_equal(sq_state_describe(path, &d), 0);
	sq_state_description_free(d);
	sq_state_free(s);
	sq_state_free(NULL);
	sq_snapshot_loaded_free(NULL);
	sq_test_rmrf(dir);
	free(dir);
}

static void group_name(void **state)
{
	(void)state;
	struct sq_atomic_group *g = NULL;
	char *dir = sq_test_tmpdir("old_names_group"), rec[4096];

	assert_non_null(dir);
	snprintf(rec, sizeof(rec), "%s/pair", dir);
	assert_int_equal(sq_atomic_group_open(rec, 0, &g), 0);
	sq_atomic_group_close(g);
	/* Closed means unlocked: a second open without waiting succeeds. */
	g = NULL;
	assert_int_equal(sq_atomic_group_open(rec, 0, &g), 0);
	sq_atomic_group_destroy(g);
	sq_test_rmrf(dir);
	free(dir);
}

static void manifest_and_set_names(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("old_names_manifest"), mem[4096];
	static uint8_t page[4096];
	struct sq_manifest *m = NULL;
	struct sq_tracker *t = NULL;
	struct sq_dirty_set *set = NULL;
	uint32_t id = 0;
	int fd;

	assert_non_null(dir);
	snprintf(mem, sizeof(mem), "%s/a.mem", dir);
	fd = open(mem, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	memset(page, 0x5a, sizeof(page));
	assert_int_equal(pwrite(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
	assert_int_equal(close(fd), 0);
	assert_int_equal(sq_manifest_scan(mem, SQ_SNAPSHOT_FULL, &m), 0);
	sq_manifest_free(m);

	void *region = mmap(NULL, 1 << 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(region != MAP_FAILED);
	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, region, 1 << 21, 0, &id), 0);
	assert_int_equal(sq_tracker_mark(t, (char *)region + 8192), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &set), 0);
	assert_int_equal(sq_dirty_set_pages(set), 1);
	sq_dirty_set_free(set);
	sq_tracker_destroy(t);
	munmap(region, 1 << 21);
	sq_test_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(experimental_names),
		cmocka_unit_test(state_names),
		cmocka_unit_test(group_name),
		cmocka_unit_test(manifest_and_set_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
