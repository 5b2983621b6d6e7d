/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/migrate_args.c - strict numeric options of "migrate" and "demo
 * migrate": a negative number, an overflow, NaN, infinity or trailing junk is
 * a usage error, never a wrapped or clamped value.
 */
#include <stdint.h>

#include <squib/migrate.h>

#include "cli.h"
#include "migrate_args.h"

/* Each is a thin wrapper over the shared parsers of tools/cli_util.c. */
int sq_mig_arg_uint(const char *s, unsigned long long min, unsigned long long max,
		    unsigned long long *out)
{
	uint64_t v;

	if (sq_parse_u64(s, min, max, &v))
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

/* A finite decimal number in [min, max] (no NaN, infinity, hex or junk). */
int sq_mig_arg_real(const char *s, double min, double max, double *out)
{
	return sq_parse_double(s, min, max, out) ? -1 : 0;
}

/* A size ("64M", "1G"): digits first, and no overflow on the way. */
int sq_mig_arg_size(const char *s, unsigned long long *out)
{
	return sq_parse_size(s, out);
}
