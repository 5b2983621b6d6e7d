/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/migrate_args.h - strict numeric options of the migration commands.
 * Each returns 0 with *out set, or -1 (out untouched) when the text is not
 * entirely a number in range.
 */
#ifndef SQ_TOOLS_MIGRATE_ARGS_H
#define SQ_TOOLS_MIGRATE_ARGS_H

/* Decimal digits only (no sign, no spaces), in [min, max]. */
int sq_mig_arg_uint(const char *s, unsigned long long min, unsigned long long max,
		    unsigned long long *out);
/* Milliseconds, 1 .. SQ_MIGRATE_MAX_MS (one day). */
int sq_mig_arg_ms(const char *s, int *out);
/* A finite decimal number in [min, max]: no NaN, infinity or exponent overflow. */
int sq_mig_arg_real(const char *s, double min, double max, double *out);
/* A size ("4096", "64M", "1G"): digits first, no overflow. */
int sq_mig_arg_size(const char *s, unsigned long long *out);

#endif /* SQ_TOOLS_MIGRATE_ARGS_H */
