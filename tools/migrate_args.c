/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/migrate_args.c - strict numeric options of "migrate" and "demo
 * migrate": a negative number, an overflow, NaN, infinity or trailing junk is
 * a usage error, never a wrapped or clamped value.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <squib/migrate.h>

#include "cli.h"
#include "migrate_args.h"

/*
 * Whole numbers in [min, max], decimal digits only: no sign, no spaces, no
 * junk after them, no overflow. 0 or -1.
 */
int sq_mig_arg_uint(const char *s, unsigned long long min, unsigned long long max,
		    unsigned long long *out)
{
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Milliseconds, 1 .. one day. */
int sq_mig_arg_ms(const char *s, int *out)
{
	unsigned long long v;

	if (sq_mig_arg_uint(s, 1, SQ_MIGRATE_MAX_MS, &v))
		return -1;
	*out = (int)v;
	return 0;
}

/* A finite decimal number in [min, max] (no NaN, no infinity, no junk). */
int sq_mig_arg_real(const char *s, double min, double max, double *out)
{
	char *end;

	if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A size ("64M", "1G"): digits first, and no overflow on the way. */
int sq_mig_arg_size(const char *s, unsigned long long *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	int rc = sq_parse_size(s, out);
	return rc || errno ? -1 : 0;
}
