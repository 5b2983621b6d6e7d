/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Marking benchmarks.
 *
 *   engine/mark/already_dirty   one mark of a page that is already dirty
 *   engine/mark/random_cold     marks of random clean pages, each thread in
 *                               its own blocks (1 and 2 threads)
 *   engine/mark/naive_baseline  the same marks on one flat array of atomic
 *                               words: unconditional fetch_or and one global
 *                               atomic dirty counter (1 and 2 threads)
 *
 * One tracked region of 2^28 pages (1 TiB of 4 KiB pages, a 32 MiB bitmap);
 * API-only, so its addresses are never dereferenced. Each thread draws
 * pages from its own half with a xorshift generator (same cost in both
 * variants). items_per_second = marks per second, all threads together.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <squib/squib.h>
#include "harness.h"

#define NPAGES (1ull << 28)
#define BASE ((uintptr_t)1 << 45)
#define BATCH 4096

static struct sq_tracker *mark_t;
static _Atomic uint64_t *naive_words;
static _Atomic uint64_t naive_count;

static inline uint64_t xs(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void tracker_setup(struct sq_bench *b)
{
	uint32_t id;
	if (sq_bench_thread_index(b) == 0) {
		struct sq_tracker_opts o = { .granule = SQ_GRANULE_FIXED_4K };
		if (sq_tracker_create(&o, &mark_t) ||
		    sq_tracker_add_region(mark_t, (void *)BASE, NPAGES << SQ_PAGE_SHIFT, 0, &id))
			sq_bench_skip(b, "tracker set-up failed");
	}
}

static void tracker_teardown(struct sq_bench *b)
{
	if (sq_bench_thread_index(b) == 0) {
		sq_tracker_destroy(mark_t);
		mark_t = NULL;
	}
}

static void bm_already_dirty(struct sq_bench *b)
{
	tracker_setup(b);
	/* 64 pages in distinct blocks, all dirty: the loop stays in cache. */
	const uint64_t n = 64;
	for (uint64_t i = 0; i < n; i++)
		sq_tracker_mark(mark_t, (void *)(BASE + ((i * 1031) << 21)));
	uint64_t i = 0;
	while (sq_bench_running(b)) {
		for (int k = 0; k < BATCH; k++) {
			sq_tracker_mark(mark_t, (void *)(BASE + (((i & (n - 1)) * 1031) << 21)));
			i++;
		}
	}
	sq_bench_set_items(b, BATCH);
	tracker_teardown(b);
}
SQ_BENCH("engine/mark/already_dirty", bm_already_dirty);

static void bm_random_cold(struct sq_bench *b)
{
	tracker_setup(b);
	uint64_t half = NPAGES / 2, lo = half * (uint64_t)(sq_bench_thread_index(b) & 1);
	uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(sq_bench_thread_index(b) + 1) * 7919;

	while (sq_bench_running(b)) {
		for (int k = 0; k < BATCH; k++) {
			uint64_t p = lo + (xs(&s) & (half - 1));
			sq_tracker_mark(mark_t, (void *)(BASE + (p << SQ_PAGE_SHIFT)));
		}
	}
	sq_bench_set_items(b, BATCH);
	tracker_teardown(b);
}
SQ_BENCH_DEF(.name = "engine/mark/random_cold", .fn = bm_random_cold,
	     .baseline = "engine/mark/naive_baseline")
SQ_BENCH_DEF(.name = "engine/mark/random_cold", .fn = bm_random_cold, .threads = 2)

/* The baseline: flat atomic words, unconditional fetch_or, global counter. */
static void naive_mark(uint64_t page)
{
	uint64_t bit = 1ull << (page & 63);
	/* seq_cst, as a straightforward implementation writes it. */
	uint64_t old = atomic_fetch_or_explicit(&naive_words[page >> 6], bit, memory_order_seq_cst);
	if (!(old & bit))
		atomic_fetch_add_explicit(&naive_count, 1, memory_order_seq_cst);
}

static void bm_naive(struct sq_bench *b)
{
	size_t bytes = NPAGES / 8;
	if (sq_bench_thread_index(b) == 0) {
		naive_words = sq_mem_alloc(bytes, 64);
		memset((void *)naive_words, 0, bytes);
	}
	uint64_t half = NPAGES / 2, lo = half * (uint64_t)(sq_bench_thread_index(b) & 1);
	uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(sq_bench_thread_index(b) + 1) * 7919;

	while (sq_bench_running(b)) {
		for (int k = 0; k < BATCH; k++) {
			uint64_t p = lo + (xs(&s) & (half - 1));
			naive_mark(p);
		}
	}
	sq_bench_set_items(b, BATCH);
	if (sq_bench_thread_index(b) == 0) {
		sq_bench_keep(atomic_load_explicit(&naive_count, memory_order_relaxed));
		sq_mem_free((void *)naive_words, bytes, 64);
	}
}
SQ_BENCH("engine/mark/naive_baseline", bm_naive);
SQ_BENCH_DEF(.name = "engine/mark/naive_baseline", .fn = bm_naive, .threads = 2)
