/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/splitmix.h - splitmix64, the one small pseudo-random generator of the
 * CLI's demo workloads, the tests and the benchmarks (deterministic data
 * from a seed; not for anything secret: keys and ids come from getrandom).
 *
 * Header-only (static inline), like core/clock.h, so the squib-snap tool,
 * which links only the public libsquib, uses the same code.
 */
#ifndef SQ_CORE_SPLITMIX_H
#define SQ_CORE_SPLITMIX_H

#include <stdint.h>

/*
 * sq_splitmix64() - advance *@s and return the next 64-bit value. The state
 * is the caller's; any seed (0 included) gives a full-period sequence.
 * Thread-safe for distinct states only.
 */
static inline uint64_t sq_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif /* SQ_CORE_SPLITMIX_H */
