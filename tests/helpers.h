/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/helpers.h - small shared helpers for the cmocka tests.
 *
 * Include after <cmocka.h>'s prerequisites (stdarg, stddef, setjmp).
 */
#ifndef SQ_TESTS_HELPERS_H
#define SQ_TESTS_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/splitmix.h"

/* Skip the whole test executable: CTest counts exit code 77 as skipped. */
#define SQ_TEST_SKIP(...)                                   \
	do {                                                \
		fprintf(stderr, "SKIP: " __VA_ARGS__);      \
		fputc('\n', stderr);                        \
		exit(77);                                   \
	} while (0)

/*
 * sq_test_tmpdir() - a fresh directory under the build tree (a real disk
 * filesystem, so O_DIRECT and SEEK_HOLE behave as in production).
 * Returns a malloc'ed path; remove with sq_test_rmrf().
 */
static inline char *sq_test_tmpdir(const char *tag)
{
	const char *base = getenv("SQ_TEST_TMPDIR");
	char *p = NULL;

	if (!base)
		base = SQ_TEST_TMP_DIR;
	mkdir(base, 0700);
	if (asprintf(&p, "%s/%s.XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

static inline int sq_test_rm_cb(const char *path, const struct stat *sb, int flag,
				struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void sq_test_rmrf(const char *path)
{
	if (path)
		nftw(path, sq_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Seed from SQ_TEST_SEED, else from the clock; always printed. */
static inline uint64_t sq_test_seed(const char *what)
{
	const char *s = getenv("SQ_TEST_SEED");
	uint64_t seed;

	if (s) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
	}
	fprintf(stderr, "%s: seed 0x%llx (rerun with SQ_TEST_SEED=0x%llx)\n", what,
		(unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

/* The tests' PRNG: splitmix64 (core/splitmix.h). */
static inline uint64_t sq_test_rand(uint64_t *state)
{
	return sq_splitmix64(state);
}

/* Read a whole file; returns 0 and a malloc'ed buffer, or -errno. */
static inline int sq_test_read_file(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*buf = malloc(n > 0 ? (size_t)n : 1);
	*len = fread(*buf, 1, (size_t)(n > 0 ? n : 0), f);
	fclose(f);
	return 0;
}

static inline int sq_test_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	size_t w = fwrite(buf, 1, len, f);
	fclose(f);
	return w == len ? 0 : -EIO;
}

static inline int sq_test_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

#endif /* SQ_TESTS_HELPERS_H */
