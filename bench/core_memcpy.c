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

static void bm_memread(struct sq_bench *b)
{
	size_t n = 64u << 20, words = n / sizeof(uint64_t);
	uint64_t *src = malloc(n);

	memset(src, 1, n);
	while (sq_bench_running(b)) {
		uint64_t acc = 0;

		for (size_t i = 0; i < words; i += 4)
			acc += src[i] ^ src[i + 1] ^ src[i + 2] ^ src[i + 3];
		sq_bench_keep(acc);
	}
	sq_bench_set_bytes(b, (double)n);
	free(src);
}
SQ_BENCH_DEF(.name = "core/memread/64m", .fn = bm_memread, .baseline = "core/memcpy/64m_limit");
