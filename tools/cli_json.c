/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_json.c - the --json output of squib-snap: strings from any
 * bytes, numbers, and the one-document-per-process emission.
 *
 * Invariant: at most one document is written to stdout per process
 * (emitted), and main() emits one itself when a command returned without
 * any, so every outcome prints exactly one.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>

#include "cli.h"

static int emitted;

/* Length of the valid UTF-8 sequence at @p (at most @n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	/* The second byte's range excludes overlong forms, surrogates and
	 * code points above U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

json_t *sq_json_textn(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *buf;
	size_t o = 0;
	json_t *j;

	if (!s)
		return json_null();
	/* Worst case every byte becomes a two-byte sequence. */
	buf = malloc(len * 2 + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);

		if (n) {
			memcpy(buf + o, p + i, n);
			o += n;
			i += n;
		} else {
			/* U+0080..U+00FF in UTF-8. */
			buf[o++] = (char)(0xc0 | (p[i] >> 6));
			buf[o++] = (char)(0x80 | (p[i] & 0x3f));
			i++;
		}
	}
	j = json_stringn_nocheck(buf, o);
	free(buf);
	return j;
}

json_t *sq_json_text(const char *s)
{
	return s ? sq_json_textn(s, strlen(s)) : json_null();
}

json_t *sq_json_real(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *sq_json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

json_t *sq_json_join(json_t *a, json_t *b)
{
	if (a && b && json_object_update(a, b) == 0) {
		json_decref(b);
		return a;
	}
	json_decref(a);
	json_decref(b);
	return NULL;
}

int sq_cli_emit(json_t *doc)
{
	int rc = 0;

	if (emitted) {
		json_decref(doc);
		return 0;
	}
	emitted = 1;
	if (!doc) {
		/* Nothing to build on: a fixed document. */
		printf("{\"error\":{\"code\":%d,\"name\":\"SQ_E_NOMEM\","
		       "\"message\":\"cannot build the JSON output\"}}\n", SQ_E_NOMEM);
		rc = 1;
	} else if (json_dumpf(doc, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10)) < 0 ||
		   fputc('\n', stdout) == EOF) {
		rc = 1;
	}
	if (fflush(stdout) == EOF)
		rc = 1;
	json_decref(doc);
	return rc;
}

int sq_cli_emitted(void)
{
	return emitted;
}
