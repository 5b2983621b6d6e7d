/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small whole files, both ways.
 * sq_atomic_write_file (squib/atomic_file.h): one buffer replaces a file
 * atomically. A reader of the old file keeps the old bytes, the new name
 * holds exactly the new ones with exactly the mode asked for; a failure at
 * any step of the sequence (injected through the sysio seam, real files
 * otherwise) leaves the old content and no temp file.
 * sq_file_read (squib/file.h): a whole regular file into a new buffer, at
 * most a given size; odd inputs (missing, FIFO, directory, too large) and a
 * failing read get their specific codes and leave no buffer behind.
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

#include <squib/atomic_file.h>
#include <squib/error.h>
#include <squib/file.h>

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

/* The bytes, the size, a terminating 0 after them; an empty file too. */
static void reads_whole_file(void **state)
{
	struct fx *x = *state;
	uint8_t data[70000];
	uint64_t s = 7;
	void *buf = NULL;
	size_t len = 1;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)sq_test_rand(&s);
	assert_int_equal(sq_test_write_file(x->dest, data, sizeof(data)), 0);
	assert_int_equal(sq_file_read(x->dest, sizeof(data), &buf, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(buf, data, sizeof(data));
	assert_int_equal(((uint8_t *)buf)[len], 0);
	free(buf);

	assert_int_equal(sq_test_write_file(x->dest, "", 0), 0);
	assert_int_equal(sq_file_read(x->dest, 0, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(len, 0);
	free(buf);
}

/* One byte over the bound: refused before reading, both sizes named. A
 * sparse file is bounded by its size, not by what it stores. */
static void larger_than_max(void **state)
{
	struct fx *x = *state;
	void *buf = (void *)1;
	size_t len = 1;

	assert_int_equal(sq_test_write_file(x->dest, "0123456789", 10), 0);
	assert_int_equal(sq_file_read(x->dest, 9, &buf, &len), SQ_E_SIZE_LIMIT);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_non_null(strstr(sq_last_error(), "10 bytes, more than the 9 allowed"));
	assert_int_equal(truncate(x->dest, 1ll << 40), 0);
	assert_int_equal(sq_file_read(x->dest, 1u << 20, &buf, &len), SQ_E_SIZE_LIMIT);
	assert_null(buf);
}

/* Missing, a FIFO without a writer (must not block), a directory. */
static void odd_inputs(void **state)
{
	struct fx *x = *state;
	void *buf = (void *)1;
	size_t len = 1;

	assert_int_equal(sq_file_read(x->dest, 100, &buf, &len), SQ_E_NOT_FOUND);
	assert_null(buf);
	assert_int_equal(mkfifo(x->dest, 0600), 0);
	assert_int_equal(sq_file_read(x->dest, 100, &buf, &len), SQ_E_NOT_REGULAR);
	assert_null(buf);
	assert_non_null(strstr(sq_last_error(), "not a regular file"));
	assert_int_equal(sq_file_read(x->dir, 100, &buf, &len), SQ_E_NOT_REGULAR);
	assert_int_equal(sq_file_read(NULL, 100, &buf, &len), SQ_E_INVAL);
	assert_int_equal(sq_file_read(x->dest, 100, NULL, &len), SQ_E_INVAL);
	assert_int_equal(sq_file_read(x->dest, 100, &buf, NULL), SQ_E_INVAL);
}

/* A read that fails (injected EIO) or an open that does: SQ_E_IO with the
 * system's text and the path, no buffer. */
static void failing_read(void **state)
{
	struct fx *x = *state;
	void *buf = (void *)1;
	size_t len = 1;

	assert_int_equal(sq_test_write_file(x->dest, "abc", 3), 0);
	struct sq_fault_plan plan = { .site = SQ_SITE_FILE_READ, .error = EIO };
	sq_fault_set(&plan);
	int rc = sq_file_read(x->dest, 100, &buf, &len);
	unsigned fired = sq_fault_fired();
	sq_fault_set(NULL);
	assert_true(fired > 0);
	assert_int_equal(rc, SQ_E_IO);
	assert_null(buf);
	assert_non_null(strstr(sq_last_error(), x->dest));
	assert_non_null(strstr(sq_last_error(), strerror(EIO)));
	plan.site = SQ_SITE_FILE_OPEN;
	plan.error = EACCES;
	sq_fault_set(&plan);
	rc = sq_file_read(x->dest, 100, &buf, &len);
	sq_fault_set(NULL);
	assert_int_equal(rc, SQ_E_IO);
	assert_null(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(creates_and_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(exact_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(reads_whole_file, setup, teardown),
		cmocka_unit_test_setup_teardown(larger_than_max, setup, teardown),
		cmocka_unit_test_setup_teardown(odd_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(failing_read, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
