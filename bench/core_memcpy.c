/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/core_crc.c - the harness's own sanity benchmark: memcpy bandwidth,
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
