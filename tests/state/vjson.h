/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/state/vjson.h - a small JSON reader for the golden vectors'
 * descriptions (the .json files of tests/data/vectors), and the conversion of a
 * description into a struct sq_microvm_state.
 *
 * The vectors' conventions: integers are "0x..." strings, byte vectors are
 * hex strings, Option None is null, sys_regs is a list of [key, value]
 * pairs, psci_state is the variant name.
 */
#ifndef SQ_TESTS_VJSON_H
#define SQ_TESTS_VJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <squib/state.h>

enum vj_type { VJ_NULL, VJ_BOOL, VJ_NUM, VJ_STR, VJ_ARR, VJ_OBJ };

struct vj {
	enum vj_type type;
	bool b;
	double num;
	char *str;      /* VJ_STR: decoded UTF-8, NUL-terminated */
	size_t len;     /* VJ_STR: bytes; VJ_ARR / VJ_OBJ: element count */
	struct vj *items; /* VJ_ARR / VJ_OBJ values */
	char **keys;    /* VJ_OBJ keys */
};

/* Parse @text; NULL on a syntax error. Free with vj_free. */
struct vj *vj_parse(const char *text, size_t len);
/* Parse a file; NULL when missing or malformed. */
struct vj *vj_load(const char *path);
void vj_free(struct vj *v);
/* Object member or NULL. */
const struct vj *vj_get(const struct vj *obj, const char *key);
/* "0x..." string -> u64 (fails the test on anything else). */
uint64_t vj_u64(const struct vj *v);
/* Hex string -> malloc'ed bytes (NULL when empty). */
uint8_t *vj_hex(const struct vj *v, size_t *len);

/*
 * vj_to_state() - the "data" member of a case vector as a state, and its
 * "header" as @magic / @version (version malloc'ed). 0 on success, -1 when
 * the description does not have the expected shape.
 */
int vj_to_state(const struct vj *root, struct sq_microvm_state **out, uint64_t *magic,
		char **version);

#endif /* SQ_TESTS_VJSON_H */
