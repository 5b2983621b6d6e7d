/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/core_memcpy.c - the harness's own benchmarks: memcpy bandwidth,
 * the reference every copy-bound figure in docs/PERFORMANCE.md is read
 * against.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void bm_memcpy(struct sq_bench *b)
{
	size_t n = 64u << 20;
	char *src = malloc(n), *dst = malloc(n);

	memset(src, 1, n);
	memset(dst, 2, n);
	while (sq_bench_running(b)) {
		memcpy(dst, src, n);
		sq_bench_keep((uint64_t)(unsigned char)dst[n / 2]);
	}
	sq_bench_set_bytes(b, (double)n);
	free(src);
	free(dst);
}
SQ_BENCH("core/memcpy/64m_limit", bm_memcpy);

/*
 * A cache-resident pair, compute-bound and so steady even on a loaded
 * machine: the test of bench/compare uses it.
 */
#define SQ_SMALL (256u << 10)

static void bm_memcpy_small(struct sq_bench *b)
{
	char *src = malloc(SQ_SMALL), *dst = malloc(SQ_SMALL);

	memset(src, 1, SQ_SMALL);
	memset(dst, 2, SQ_SMALL);
	while (sq_bench_running(b)) {
		memcpy(dst, src, SQ_SMALL);
		sq_bench_keep((uint64_t)(unsigned char)dst[SQ_SMALL / 2]);
	}
	sq_bench_set_bytes(b, (double)SQ_SMALL);
	free(src);
	free(dst);
}
SQ_BENCH("core/memcpy/256k", bm_memcpy_small);

static void bm_xorsum_small(struct sq_bench *b)
{
	size_t words = SQ_SMALL / sizeof(uint64_t);
	uint64_t *src = malloc(SQ_SMALL);

	for (size_t i = 0; i < words; i++)
		src[i] = i * 0x9e3779b97f4a7c15ull;
	while (sq_bench_running(b)) {
		uint64_t acc = 0;

		for (size_t i = 0; i < words; i++)
			acc = (acc ^ src[i]) * 0x100000001b3ull;
		sq_bench_keep(acc);
	}
	sq_bench_set_bytes(b, (double)SQ_SMALL);
	free(src);
}
SQ_BENCH_DEF(.name = "core/xorsum/256k", .fn = bm_xorsum_small, .baseline = "core/memcpy/256k");
