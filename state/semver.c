/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/semver.c - the version text of a state file header, parsed the way
 * the semver 1.x crate parses it (strict SemVer 2.0).
 *
 * Grammar: major '.' minor '.' patch ['-' pre] ['+' build], where the three
 * numbers are decimal u64 without leading zeros, and pre / build are
 * non-empty dot-separated identifiers of [0-9A-Za-z-] (a numeric pre-release
 * identifier may not have a leading zero; build identifiers may). Error
 * texts follow the crate ("unexpected character 'x' after major version
 * number"). The input is already valid UTF-8 (the string column checks it).
 */
#include <stdio.h>
#include <string.h>

#include "state/state_internal.h"

enum pos { P_MAJOR, P_MINOR, P_PATCH, P_PRE, P_BUILD };

static const char *const pos_text[] = {
	"major version number", "minor version number", "patch version number",
	"pre-release identifier", "build metadata",
};

struct cur {
	const char *s;
	size_t i, len;
	char *err;
	size_t errlen;
};

/* Rust's Debug form of the character starting at c->s[c->i]. */
static void quoted_char(const struct cur *c, char *out, size_t outlen)
{
	unsigned char b = (unsigned char)c->s[c->i];

	if (b >= 0x80) {
		size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;

		if (n > c->len - c->i)
			n = c->len - c->i;
		snprintf(out, outlen, "'%.*s'", (int)n, c->s + c->i);
	} else if (b == '\'' || b == '\\') {
		snprintf(out, outlen, "'\\%c'", b);
	} else if (b == '\n') {
		snprintf(out, outlen, "'\\n'");
	} else if (b == '\r') {
		snprintf(out, outlen, "'\\r'");
	} else if (b == '\t') {
		snprintf(out, outlen, "'\\t'");
	} else if (b == 0) {
		snprintf(out, outlen, "'\\0'");
	} else if (b < 0x20 || b == 0x7f) {
		snprintf(out, outlen, "'\\u{%x}'", b);
	} else {
		snprintf(out, outlen, "'%c'", b);
	}
}

/* "unexpected character <c> <how><position>" */
static int fail_char(struct cur *c, const char *how, enum pos p)
{
	char q[16];

	quoted_char(c, q, sizeof(q));
	snprintf(c->err, c->errlen, "unexpected character %s %s%s", q, how, pos_text[p]);
	return -1;
}

/* "<before><position><after>" */
static int fail(struct cur *c, const char *before, enum pos p, const char *after)
{
	snprintf(c->err, c->errlen, "%s%s%s", before, pos_text[p], after);
	return -1;
}

static int numeric(struct cur *c, enum pos p, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	while (c->i + n < c->len && c->s[c->i + n] >= '0' && c->s[c->i + n] <= '9') {
		unsigned d = (unsigned)(c->s[c->i + n] - '0');

		if (v == 0 && n > 0)
			return fail(c, "invalid leading zero in ", p, "");
		if (v > (UINT64_MAX - d) / 10)
			return fail(c, "value of ", p, " exceeds u64::MAX");
		v = v * 10 + d;
		n++;
	}
	if (n == 0) {
		if (c->i < c->len)
			return fail_char(c, "while parsing ", p);
		return fail(c, "unexpected end of input while parsing ", p, "");
	}
	c->i += n;
	*out = v;
	return 0;
}

static int dot(struct cur *c, enum pos p)
{
	if (c->i < c->len && c->s[c->i] == '.') {
		c->i++;
		return 0;
	}
	if (c->i < c->len)
		return fail_char(c, "after ", p);
	/* The crate names the position being parsed next. */
	return fail(c, "unexpected end of input while parsing ", (enum pos)(p + 1), "");
}

static bool ident_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '-' ||
	       (ch >= '0' && ch <= '9');
}

/* Dot-separated identifiers; returns their total length in *n. */
static int identifiers(struct cur *c, enum pos p, size_t *n)
{
	size_t start = c->i, acc = 0;

	for (;;) {
		size_t seg = 0;
		bool nondigit = false;

		while (c->i + acc + seg < c->len && ident_char(c->s[c->i + acc + seg])) {
			char ch = c->s[c->i + acc + seg];

			nondigit |= !(ch >= '0' && ch <= '9');
			seg++;
		}
		size_t at = c->i + acc + seg;
		bool boundary_dot = at < c->len && c->s[at] == '.';

		if (seg == 0) {
			if (acc == 0 && !boundary_dot)
				break;
			return fail(c, "empty identifier segment in ", p, "");
		}
		if (p == P_PRE && seg > 1 && !nondigit && c->s[c->i + acc] == '0')
			return fail(c, "invalid leading zero in ", p, "");
		acc += seg;
		if (!boundary_dot)
			break;
		acc++;
	}
	c->i = start + acc;
	*n = acc;
	return 0;
}

int sq_semver_parse(const char *s, size_t len, uint64_t *major, uint64_t *minor,
		    uint64_t *patch, char *err, size_t errlen)
{
	struct cur c = { .s = s, .len = len, .err = err, .errlen = errlen };
	enum pos p = P_MAJOR;
	size_t n;

	if (len == 0) {
		snprintf(err, errlen, "empty string, expected a semver version");
		return -1;
	}
	if (numeric(&c, P_MAJOR, major) || dot(&c, P_MAJOR) || numeric(&c, P_MINOR, minor) ||
	    dot(&c, P_MINOR) || numeric(&c, P_PATCH, patch))
		return -1;
	p = P_PATCH;
	if (c.i < len && s[c.i] == '-') {
		c.i++;
		p = P_PRE;
		if (identifiers(&c, P_PRE, &n))
			return -1;
		if (n == 0)
			return fail(&c, "empty identifier segment in ", P_PRE, "");
	}
	if (c.i < len && s[c.i] == '+') {
		c.i++;
		p = P_BUILD;
		if (identifiers(&c, P_BUILD, &n))
			return -1;
		if (n == 0)
			return fail(&c, "empty identifier segment in ", P_BUILD, "");
	}
	if (c.i < len)
		return fail_char(&c, "after ", p);
	return 0;
}
