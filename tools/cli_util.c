/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_util.c - shared helpers of squib-snap: error reporting (human
 * or JSON), messages, the option iterator ("--opt value" and
 * "--opt=value") and the checked number parsers every command uses.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>

#include "cli.h"

/* ------------------------------------------------------------ reporting */

static int emit_error(int code, const char *name, const char *msg)
{
	return sq_cli_emit(json_pack("{s:{s:i,s:o,s:o}}", "error", "code", code, "name",
				     sq_json_text(name), "message", sq_json_text(msg)));
}

int sq_cli_fail(const struct sq_cli *cli, const char *cmd, int code)
{
	const char *msg = sq_last_error();

	if (!msg || !*msg || sq_last_error_code() != code)
		msg = sq_strerror(code);
	return sq_cli_fail_msg(cli, cmd, code, msg);
}

int sq_cli_fail_msg(const struct sq_cli *cli, const char *cmd, int code, const char *msg)
{
	if (cli->json)
		emit_error(code, sq_error_name(code), msg);
	else
		fprintf(stderr, "%s %s: %s\n", cli->prog, cmd ? cmd : "", msg);
	return code == SQ_E_UNSUPPORTED ? SQ_EXIT_UNSUPPORTED : SQ_EXIT_FAIL;
}

int sq_cli_fail_errno(const struct sq_cli *cli, const char *cmd, const char *what,
		      const char *path, int err)
{
	int code = err == ENOENT ? SQ_E_NOT_FOUND : SQ_E_IO;
	char buf[4200];

	snprintf(buf, sizeof(buf), "%s%s%s: %s", what, *what ? " " : "", path, strerror(err));
	if (cli->json)
		emit_error(code, sq_error_name(code), buf);
	else
		fprintf(stderr, "%s %s: %s\n", cli->prog, cmd ? cmd : "", buf);
	return SQ_EXIT_FAIL;
}

int sq_cli_usage_error(const struct sq_cli *cli, const char *cmd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cli->json) {
		emit_error(SQ_EXIT_USAGE, "usage", buf);
		return SQ_EXIT_USAGE;
	}
	fprintf(stderr, "%s%s%s: %s\n", cli->prog, cmd ? " " : "", cmd ? cmd : "", buf);
	fprintf(stderr, "try '%s %s%s--help'\n", cli->prog, cmd ? cmd : "", cmd ? " " : "");
	return SQ_EXIT_USAGE;
}

void sq_cli_msg(const struct sq_cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (cli->quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* -------------------------------------------------------------- options */

void sq_opt_init(struct sq_opt_parser *p, const struct sq_cli *cli, const char *cmd, int argc,
		 char **argv)
{
	memset(p, 0, sizeof(*p));
	p->cli = cli;
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	p->next = 1;
}

static const struct sq_opt *find_long(const struct sq_opt *opts, const char *name, size_t len)
{
	for (; opts->name; opts++)
		if (strlen(opts->name) == len && !strncmp(opts->name, name, len))
			return opts;
	return NULL;
}

static const struct sq_opt *find_short(const struct sq_opt *opts, char c)
{
	for (; opts->name; opts++)
		if (opts->short_name && opts->short_name == c)
			return opts;
	return NULL;
}

int sq_opt_next(struct sq_opt_parser *p, const struct sq_opt *opts)
{
	const struct sq_opt *o;
	const char *a, *inline_val = NULL;

	p->opt[0] = 0;
	p->arg = NULL;
	if (p->next >= p->argc)
		return SQ_OPT_END;
	a = p->argv[p->next++];
	if (p->only_positional || a[0] != '-' || a[1] == 0) {
		p->arg = a;
		return SQ_OPT_POSITIONAL;
	}
	if (!strcmp(a, "--")) {
		p->only_positional = 1;
		return sq_opt_next(p, opts);
	}
	if (a[1] == '-') {
		const char *eq = strchr(a + 2, '=');
		size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

		snprintf(p->opt, sizeof(p->opt), "--%.*s", (int)len, a + 2);
		o = find_long(opts, a + 2, len);
		inline_val = eq ? eq + 1 : NULL;
	} else {
		snprintf(p->opt, sizeof(p->opt), "-%c", a[1]);
		o = find_short(opts, a[1]);
		inline_val = a[2] ? a + 2 : NULL;
		if (o && !o->has_arg && inline_val) {
			sq_cli_usage_error(p->cli, p->cmd, "unknown option '%s'", a);
			return SQ_OPT_ERROR;
		}
	}
	if (!o) {
		sq_cli_usage_error(p->cli, p->cmd, "unknown option '%s'", p->opt);
		return SQ_OPT_ERROR;
	}
	if (!o->has_arg) {
		if (inline_val) {
			sq_cli_usage_error(p->cli, p->cmd, "option %s takes no value", p->opt);
			return SQ_OPT_ERROR;
		}
		return o->key;
	}
	if (!inline_val) {
		if (p->next >= p->argc) {
			sq_cli_usage_error(p->cli, p->cmd, "option %s needs a value", p->opt);
			return SQ_OPT_ERROR;
		}
		inline_val = p->argv[p->next++];
	}
	if (!*inline_val) {
		sq_cli_usage_error(p->cli, p->cmd, "option %s needs a non-empty value", p->opt);
		return SQ_OPT_ERROR;
	}
	p->arg = inline_val;
	return o->key;
}

/* ------------------------------------------------------------- numbers */

/* Leading digits of @s as an unsigned integer: -EINVAL, -ERANGE or 0. */
static int digits(const char *s, const char **end, uint64_t *v)
{
	uint64_t x = 0;
	int over = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (x > (UINT64_MAX - d) / 10)
			over = 1;
		else
			x = x * 10 + d;
	}
	*end = s;
	*v = x;
	return over ? -ERANGE : 0;
}

int sq_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int rc;

	if (!s)
		return -EINVAL;
	rc = digits(s, &end, &v);
	if (rc == -EINVAL || *end)
		return -EINVAL;
	if (rc || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int sq_parse_size_range(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v, mul = 1;
	int rc;

	if (!s)
		return -EINVAL;
	rc = digits(s, &end, &v);
	if (rc == -EINVAL)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K':
		mul = 1ull << 10;
		break;
	case 'm': case 'M':
		mul = 1ull << 20;
		break;
	case 'g': case 'G':
		mul = 1ull << 30;
		break;
	case 't': case 'T':
		mul = 1ull << 40;
		break;
	default:
		break;
	}
	if (mul > 1) {
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (rc || v > UINT64_MAX / mul || v * mul < min || v * mul > max)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int sq_parse_size(const char *s, unsigned long long *out)
{
	uint64_t v;

	if (sq_parse_size_range(s, 0, UINT64_MAX, &v))
		return -1;
	*out = v;
	return 0;
}

int sq_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	/* strtod also takes blanks, signs, "nan", "inf" and hex: not here. */
	if (!s || !((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9')))
		return -EINVAL;
	for (const char *c = s; *c; c++)
		if (*c == 'x' || *c == 'X')
			return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end)
		return -EINVAL;
	/* ERANGE: overflow to infinity, or underflow of a non-zero value. */
	if (errno == ERANGE || !isfinite(v) || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int bad_number(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		      int rc, const char *kind, const char *range)
{
	if (rc == -ERANGE)
		return sq_cli_usage_error(cli, cmd, "%s '%s' is out of range (%s)", opt, s, range);
	return sq_cli_usage_error(cli, cmd, "%s '%s' is not %s", opt, s ? s : "", kind);
}

int sq_cli_opt_u64(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		   uint64_t min, uint64_t max, uint64_t *out)
{
	char range[64];
	int rc = sq_parse_u64(s, min, max, out);

	if (!rc)
		return 0;
	snprintf(range, sizeof(range), "%llu to %llu", (unsigned long long)min,
		 (unsigned long long)max);
	return bad_number(cli, cmd, opt, s, rc, "a whole number", range);
}

int sq_cli_opt_uint(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		    unsigned min, unsigned max, unsigned *out)
{
	uint64_t v = 0;
	int rc = sq_cli_opt_u64(cli, cmd, opt, s, min, max, &v);

	if (!rc)
		*out = (unsigned)v;
	return rc;
}

int sq_cli_opt_size(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	char range[64];
	int rc = sq_parse_size_range(s, min, max, out);

	if (!rc)
		return 0;
	snprintf(range, sizeof(range), "%llu to %llu bytes", (unsigned long long)min,
		 (unsigned long long)max);
	return bad_number(cli, cmd, opt, s, rc, "a size (digits with an optional k, M, G or T)",
			  range);
}

int sq_cli_opt_double(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		      double min, double max, double *out)
{
	char range[64];
	int rc = sq_parse_double(s, min, max, out);

	if (!rc)
		return 0;
	snprintf(range, sizeof(range), "%g to %g", min, max);
	return bad_number(cli, cmd, opt, s, rc, "a finite decimal number", range);
}

int sq_cli_opt_choice(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		      const char *const *names, int *out)
{
	char list[256] = "";
	size_t used = 0;

	for (int i = 0; names[i]; i++) {
		if (s && !strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
		if (n > 0 && (size_t)n < sizeof(list) - used)
			used += (size_t)n;
	}
	return sq_cli_usage_error(cli, cmd, "%s '%s' is not one of %s", opt, s ? s : "", list);
}
