/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/replay_main.c - run a fuzz target's entry point over files, in
 * the normal (gcc or clang, with or without sanitizers) build.
 *
 *   replay_<target> PATH...
 *
 * Each PATH is a file or a directory whose regular files are all replayed,
 * in name order. Every input that once crashed a target is kept in
 * tests/fuzz/regressions/<target>/, and the seed corpus in
 * tests/fuzz/corpus/<target>/; tests/hardening/CMakeLists.txt registers one
 * test per target over both. A crash, a sanitizer report or a non-zero
 * return from the entry point fails the test; the input being replayed is
 * printed first so that the failure names it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "entry.h"

/* Optional in a target; a weak reference is NULL when it is absent. */
#pragma weak LLVMFuzzerInitialize

static unsigned replayed;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return 1;
	}
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap);
	size_t n;

	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			unsigned char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf) {
		fprintf(stderr, "replay: out of memory reading %s\n", path);
		return 1;
	}
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	/* An exact-size copy, so that ASan sees a read past the input's end. */
	unsigned char *exact = malloc(len ? len : 1);

	if (!exact) {
		free(buf);
		return 1;
	}
	memcpy(exact, buf, len);
	free(buf);
	int rc = LLVMFuzzerTestOneInput(exact, len);

	free(exact);
	replayed++;
	if (rc != 0) {
		fprintf(stderr, "replay: %s: entry point returned %d\n", path, rc);
		return 1;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0;
	int bad = 0;
	struct dirent *e;

	if (!d)
		return 0; /* an absent corpus is an empty one */
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*names));

		if (!nn)
			break;
		names = nn;
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0)
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			bad |= replay_file(names[i]);
		free(names[i]);
	}
	free(names);
	return bad;
}

int main(int argc, char **argv)
{
	int bad = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			bad |= replay_dir(argv[i]);
		else if (stat(argv[i], &st) == 0)
			bad |= replay_file(argv[i]);
	}
	printf("replayed %u input(s), %s\n", replayed, bad ? "FAILED" : "all passed");
	return bad;
}
