/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/state/vectors.h - access to the golden vectors in
 * tests/data/vectors (listed by MANIFEST.tsv: name, kind).
 */
#ifndef SQ_TESTS_VECTORS_H
#define SQ_TESTS_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_DIR SQ_TEST_DATA_DIR "/vectors"
#define VEC_MAX 64

struct vec_list {
	char name[VEC_MAX][64];
	char kind[VEC_MAX][16];
	int n;
};

/* Every vector of MANIFEST.tsv; @kind NULL = all kinds. */
static inline int vec_list(struct vec_list *l, const char *kind)
{
	FILE *f = fopen(VEC_DIR "/MANIFEST.tsv", "r");
	char line[1024];

	l->n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && l->n < VEC_MAX) {
		char *tab1 = strchr(line, '\t'), *tab2;

		if (!tab1)
			continue;
		*tab1 = 0;
		tab2 = strchr(tab1 + 1, '\t');
		if (tab2)
			*tab2 = 0;
		if (kind && strcmp(tab1 + 1, kind) != 0)
			continue;
		snprintf(l->name[l->n], sizeof(l->name[0]), "%.63s", line);
		snprintf(l->kind[l->n], sizeof(l->kind[0]), "%.15s", tab1 + 1);
		l->n++;
	}
	fclose(f);
	return 0;
}

/* NAME.EXT of the vector directory; 0 or -errno. */
static inline int vec_read(const char *name, const char *ext, unsigned char **buf, size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s%s", VEC_DIR, name, ext);
	return sq_test_read_file(path, buf, len);
}

static inline void vec_path(char *out, size_t len, const char *name, const char *ext)
{
	snprintf(out, len, "%s/%s%s", VEC_DIR, name, ext);
}

#endif /* SQ_TESTS_VECTORS_H */
