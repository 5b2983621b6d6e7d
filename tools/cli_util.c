/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_util.c - shared output helpers of squib-snap: error reporting
 * (human or JSON), messages, JSON string escaping, size parsing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>

#include "cli.h"

void sq_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

int sq_cli_fail(const struct sq_cli *cli, const char *cmd, int code)
{
	const char *msg = sq_last_error();

	if (!msg || !*msg || sq_last_error_code() != code)
		msg = sq_strerror(code);
	if (cli->json) {
		printf("{\"error\":{\"code\":%d,\"name\":", code);
		sq_json_str(stdout, sq_error_name(code));
		printf(",\"message\":");
		sq_json_str(stdout, msg);
		printf("}}\n");
	} else {
		fprintf(stderr, "%s %s: %s\n", cli->prog, cmd ? cmd : "", msg);
	}
	return code == SQ_E_UNSUPPORTED ? SQ_EXIT_UNSUPPORTED : SQ_EXIT_FAIL;
}

int sq_cli_usage_error(const struct sq_cli *cli, const char *cmd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cli->json) {
		printf("{\"error\":{\"code\":%d,\"name\":\"usage\",\"message\":", SQ_EXIT_USAGE);
		sq_json_str(stdout, buf);
		printf("}}\n");
	}
	fprintf(stderr, "%s%s%s: %s\n", cli->prog, cmd ? " " : "", cmd ? cmd : "", buf);
	fprintf(stderr, "try '%s %s--help'\n", cli->prog, cmd ? cmd : "");
	if (cmd)
		fputc('\n', stderr);
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

int sq_parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mul = 1;

	if (!s || !*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (end == s)
		return -1;
	switch (*end) {
	case 0:
		break;
	case 'k': case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm': case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g': case 'G':
		mul = 1ull << 30;
		end++;
		break;
	case 't': case 'T':
		mul = 1ull << 40;
		end++;
		break;
	default:
		return -1;
	}
	if (*end == 'i' && mul > 1)
		end++;
	if ((*end == 'B' || *end == 'b') && mul > 1)
		end++;
	if (*end)
		return -1;
	if (v > ~0ull / mul)
		return -1;
	*out = v * mul;
	return 0;
}
