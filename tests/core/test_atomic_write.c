/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/atomic_write.h: one buffer replaces a file atomically. A reader of
 * the old file keeps the old bytes, the new name holds exactly the new
 * ones with exactly the mode asked for; a failure at any step of the
 * sequence (injected through the sysio seam, real files otherwise) leaves
 * the old content and no temp file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/error.h>

#include "core/atomic_write.h"
#include "core/sysio.h"
#include "helpers.h"

struct fx {
	char *dir;
	char dest[512];
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	x->dir = sq_test_tmpdir("atomic_write");
	assert_non_null(x->dir);
	snprintf(x->dest, sizeof(x->dest), "%s/file", x->dir);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	sq_fault_set(NULL);
	sq_test_rmrf(x->dir);
	free(x->dir);
	free(x);
	return 0;
}

/* Entries of the directory other than "file" and its lock file. */
static int strays(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "file") && strcmp(e->d_name, "file.lock")) {
			fprintf(stderr, "stray: %s\n", e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static void expect_content(const char *path, const void *want, size_t len)
{
	unsigned char *b = NULL;
	size_t n = 0;

	assert_int_equal(sq_test_read_file(path, &b, &n), 0);
	assert_int_equal(n, len);
	if (len)
		assert_memory_equal(b, want, len);
	free(b);
}

static void creates_and_replaces(void **state)
{
	struct fx *x = *state;
	static const char one[] = "the first content", two[] = "second, and longer content";
	char old[sizeof(one)];

	assert_int_equal(sq_atomic_write_file(x->dest, one, sizeof(one), 0), 0);
	expect_content(x->dest, one, sizeof(one));
	/* A reader that opened the old file keeps reading the old bytes. */
	int fd = open(x->dest, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sq_atomic_write_file(x->dest, two, sizeof(two), 0), 0);
	expect_content(x->dest, two, sizeof(two));
	assert_int_equal(pread(fd, old, sizeof(old), 0), (ssize_t)sizeof(old));
	assert_memory_equal(old, one, sizeof(one));
	close(fd);
	/* An empty buffer gives an empty file. */
	assert_int_equal(sq_atomic_write_file(x->dest, NULL, 0, 0), 0);
	expect_content(x->dest, "", 0);
	assert_int_equal(strays(x->dir), 0);
}

static void exact_mode(void **state)
{
	struct fx *x = *state;
	struct stat st;
	mode_t old = umask(0);

	/* 0600 whatever the umask: a permissive one does not widen it... */
	assert_int_equal(sq_atomic_write_file(x->dest, "a", 1, 0600), 0);
	assert_int_equal(stat(x->dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* ...and a strict one does not narrow an explicit mode. */
	umask(0077);
	assert_int_equal(sq_atomic_write_file(x->dest, "b", 1, 0640), 0);
	assert_int_equal(stat(x->dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	umask(old);
	assert_int_equal(strays(x->dir), 0);
}

static void failure_keeps_old(void **state)
{
	struct fx *x = *state;
	static const char keep[] = "the content that must survive";
	static const char big[] = "the content that must never be seen";
	const struct {
		int site, error, code;
		int replaced; /* the new content is in place afterwards */
	} cases[] = {
		{ SQ_SITE_ATOMIC_OPEN, EACCES, SQ_E_IO, 0 },
		{ SQ_SITE_ATOMIC_WRITE, EIO, SQ_E_IO, 0 },
		{ SQ_SITE_ATOMIC_WRITE, ENOSPC, SQ_E_NO_SPACE, 0 },
		{ SQ_SITE_ATOMIC_WRITE, SQ_FAULT_SHORT, 0, 1 }, /* a short write is resumed */
		{ SQ_SITE_ATOMIC_FSYNC, EIO, SQ_E_IO, 0 },
		{ SQ_SITE_ATOMIC_RENAME, EXDEV, SQ_E_ATOMIC_COMMIT_FAILED, 0 },
		/* after the rename: in place, not known to be durable */
		{ SQ_SITE_ATOMIC_DIRFSYNC, EIO, SQ_E_IO, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(sq_atomic_write_file(x->dest, keep, sizeof(keep), 0), 0);
		sq_fault_set(&(struct sq_fault_plan){ .site = cases[i].site,
						      .error = cases[i].error, .times = 1 });
		int rc = sq_atomic_write_file(x->dest, big, sizeof(big), 0);
		unsigned fired = sq_fault_fired();
		sq_fault_set(NULL);
		fprintf(stderr, "%s errno %d: %s\n", sq_io_site_name(cases[i].site),
			cases[i].error, rc ? sq_last_error() : "ok");
		assert_int_equal(fired, 1);
		assert_int_equal(rc, cases[i].code);
		if (cases[i].replaced)
			expect_content(x->dest, big, sizeof(big));
		else
			expect_content(x->dest, keep, sizeof(keep));
		assert_int_equal(strays(x->dir), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(creates_and_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(exact_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_keeps_old, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
