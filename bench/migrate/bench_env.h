/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/migrate/bench_env.h - what the migration benchmarks share: a region
 * size from the environment, and the process CPU time.
 */
#ifndef SQ_BENCH_MIGRATE_ENV_H
#define SQ_BENCH_MIGRATE_ENV_H

#include <stddef.h>
#include <stdlib.h>
#include <sys/resource.h>

/* $@var as a size ("256M", "1G", bytes), at least 1 MiB, page aligned; else @def. */
static inline size_t bench_env_size(const char *var, size_t def)
{
	const char *e = getenv(var);
	char *end;

	if (!e)
		return def;
	unsigned long long v = strtoull(e, &end, 10);
	if (*end == 'G' || *end == 'g')
		v <<= 30;
	else if (*end == 'M' || *end == 'm')
		v <<= 20;
	return v >= (1u << 20) ? (size_t)v & ~(size_t)4095 : def;
}

/* Process CPU seconds (all threads: sender, receiver, writer, kernel). */
static inline double bench_cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

#endif /* SQ_BENCH_MIGRATE_ENV_H */
