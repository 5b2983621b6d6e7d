/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/clock.h - the one monotonic clock of the library and the CLI.
 *
 * Header-only (static inline), so the squib-snap tool, which links only the
 * public libsquib, uses the same clock without an exported symbol.
 * CLOCK_MONOTONIC never jumps with the wall clock; it does not count time
 * spent suspended. Safe from any thread, async-signal-safe.
 */
#ifndef SQ_CORE_CLOCK_H
#define SQ_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* sq_clock_ns() - monotonic time in nanoseconds since an arbitrary origin. */
static inline uint64_t sq_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* sq_clock_s() - the same clock in seconds (for durations and deadlines). */
static inline double sq_clock_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif /* SQ_CORE_CLOCK_H */
