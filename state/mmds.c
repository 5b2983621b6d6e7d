/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/mmds.c - MmdsState::with_data / data_value over JSON text, with
 * jansson (Debian: libjansson-dev).
 *
 * Invariants: what is stored is always text jansson parsed, re-serialized
 * compact with sorted object keys (serde_json's Value uses a sorted map,
 * so its to_string writes keys in that order); an empty stored text is
 * JSON null, as the original's data_value.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <squib/compat.h>

#include "core/err.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

/* Parse @len bytes of @text and re-serialize; *@out malloc'ed. */
static int normalize(const char *text, size_t len, int bad_code, char **out)
{
	json_error_t e;
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	*out = NULL;
	if (!v)
		return sq_err(bad_code, "MMDS data is not JSON: %s at line %d column %d", e.text,
			      e.line, e.column);
	*out = json_dumps(v, DUMP_FLAGS);
	json_decref(v);
	if (!*out)
		return sq_err(SQ_E_NOMEM, "out of memory serializing MMDS data");
	return 0;
}

int sq_mmds_with_data(const char *json, bool has_ttl, uint32_t ttl_seconds,
		      struct sq_mmds_state *out)
{
	char *text;
	int rc;

	if (!json || !out)
		return sq_err(SQ_E_INVAL, "MMDS data or state missing");
	rc = normalize(json, strlen(json), SQ_E_INVAL, &text);
	if (rc || !text)
		return rc ? rc : sq_err(SQ_E_INTERNAL, "MMDS data lost in normalization");
	rc = sq_str_set(&out->data_json, text, strlen(text));
	free(text);
	if (rc)
		return rc;
	out->has_token_ttl = has_ttl;
	out->token_ttl_seconds = has_ttl ? ttl_seconds : 0;
	return 0;
}

int sq_mmds_data_value(const struct sq_mmds_state *m, char **json)
{
	if (!m || !json)
		return sq_err(SQ_E_INVAL, "MMDS state or output missing");
	*json = NULL;
	if (m->data_json.len == 0) {
		*json = strdup("null");
		return *json ? 0 : sq_err(SQ_E_NOMEM, "out of memory");
	}
	return normalize(m->data_json.s, m->data_json.len, SQ_E_CORRUPT, json);
}
