/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Marking benchmarks: ours and the peers', same inputs, same run.
 *
 *   engine/mark/{already_dirty,random_cold,range_64}   through a mark
 *       handle (sq_handle_mark / sq_handle_mark_range, the inline path)
 *   engine/mark/api/{already_dirty,random_cold}        sq_tracker_mark
 *   engine/peer/vmmemory/{already_dirty,random_cold,range_64}
 *       vm-memory's AtomicBitmap (bench/peer/vmmemory.h): set_bit per
 *       page (its cheapest single-page path), mark_dirty for the range
 *   engine/peer/qemu/{already_dirty,random_cold,range_64}
 *       QEMU's cpu_physical_memory_set_dirty_range (bench/peer/qemu.h)
 *   engine/mark/naive_baseline   flat atomic words, unconditional
 *       fetch_or and one global dirty counter
 * Each also at 2 threads (/threads:2), each thread in its own slice of the
 * region (SQ_BENCH_THREADS="1,2,4,8,16" registers those thread counts
 * instead: bench/scaling).
 *
 *   already_dirty  64 dirty pages in distinct 2 MiB blocks (97 apart),
 *                  marked again
 *   random_cold    random pages (xorshift), almost all clean
 *   range_64       64 pages from a random (unaligned) page
 *
 * One tracked region of 2^28 pages (1 TiB of 4 KiB pages, a 32 MiB bitmap);
 * API-only, so its addresses are never dereferenced; the peers' bitmaps
 * cover the same pages. items_per_second = marks per second, all threads.
 *
 * This file uses public headers only. It is built twice: into squib-bench
 * (static archive, the suite's flags) and, with SQ_BENCH_VARIANT="/shared",
 * into squib-bench-shared, linked like a user's program against the shared
 * libsquib.so with default flags (bench/shared/CMakeLists.txt): the
 * variant users get.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "peer/qemu.h" /* first: it includes liburcu */
#include "peer/vmmemory.h"

#include <squib/squib.h>
#include "harness.h"

#ifndef SQ_BENCH_VARIANT
#define SQ_BENCH_VARIANT ""
#endif

#define NPAGES (1ull << 28)
#define BASE ((uintptr_t)1 << 45)
#define BATCH 4096
#define RANGE 64

enum kind { K_HANDLE, K_API, K_VMM, K_QEMU };
enum op { O_ALREADY, O_COLD, O_RANGE };

static struct {
	struct sq_tracker *t;
	uint32_t id;
	struct vmm_bitmap vmm;
	struct qemu_dirty qemu;
} g;

static inline uint64_t xs(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int setup(enum kind k)
{
	switch (k) {
	case K_HANDLE:
	case K_API: {
		struct sq_tracker_opts o = { .size = sizeof(o), .granule = SQ_GRANULE_FIXED_4K };
		if (sq_tracker_create(&o, &g.t))
			return -1;
		return sq_tracker_add_region(g.t, (void *)BASE, NPAGES << SQ_PAGE_SHIFT, 0, &g.id);
	}
	case K_VMM:
		return vmm_new(&g.vmm, NPAGES << SQ_PAGE_SHIFT, SQ_PAGE_SIZE);
	case K_QEMU:
		return qemu_dirty_new(&g.qemu, NPAGES);
	}
	return -1;
}

static void teardown(enum kind k)
{
	if (k == K_HANDLE || k == K_API) {
		sq_tracker_destroy(g.t); /* waits for the other threads' handles */
		g.t = NULL;
	} else if (k == K_VMM) {
		vmm_free(&g.vmm);
	} else {
		qemu_dirty_free(&g.qemu);
	}
}

static inline __attribute__((always_inline)) void mark(enum kind k, enum op o,
						       const struct sq_mark_handle *h, uint64_t page)
{
	void *a = (void *)(BASE + (page << SQ_PAGE_SHIFT));

	if (o == O_RANGE) {
		if (k == K_HANDLE)
			sq_handle_mark_range(h, a, RANGE << SQ_PAGE_SHIFT);
		else if (k == K_API)
			sq_tracker_mark_range(g.t, a, RANGE << SQ_PAGE_SHIFT);
		else if (k == K_VMM)
			vmm_set_addr_range(&g.vmm, page << SQ_PAGE_SHIFT, RANGE << SQ_PAGE_SHIFT);
		else
			qemu_set_dirty_range(&g.qemu, page << SQ_PAGE_SHIFT, RANGE << SQ_PAGE_SHIFT);
		return;
	}
	if (k == K_HANDLE)
		sq_handle_mark(h, a);
	else if (k == K_API)
		sq_tracker_mark(g.t, a);
	else if (k == K_VMM)
		vmm_set_bit(&g.vmm, page);
	else
		qemu_set_dirty_range(&g.qemu, page << SQ_PAGE_SHIFT, SQ_PAGE_SIZE);
}

static inline __attribute__((always_inline)) void run(struct sq_bench *b, enum kind k, enum op o)
{
	int ti = sq_bench_thread_index(b);
	uint64_t nslices = 2;
	while (nslices < (uint64_t)sq_bench_threads(b))
		nslices *= 2;
	uint64_t half = NPAGES / nslices, lo = half * (uint64_t)ti; /* this thread's slice */
	uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(ti + 1) * 7919;
	struct sq_mark_handle h = { 0 };
	int own_rcu = 0;

	if (ti == 0 && setup(k)) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	if (k == K_QEMU && !URCU_TLS(urcu_memb_reader).registered) {
		urcu_memb_register_thread(); /* as every QEMU thread that marks */
		own_rcu = 1;
	}
	/* Set-up of thread 0 is visible to all after the first
	 * sq_bench_running() (a barrier of all threads). */
	while (sq_bench_running(b)) {
		if (k == K_HANDLE && __builtin_expect(!h.pin, 0)) {
			sq_tracker_handle_get(g.t, g.id, &h); /* once per thread */
			if (o == O_ALREADY)
				for (uint64_t i = 0; i < 64; i++)
					mark(k, o, &h, lo + ((i * 97) << 9));
		}
		if (o == O_ALREADY) {
			for (int i = 0; i < BATCH; i++)
				mark(k, o, &h, lo + (((uint64_t)i & 63) * 97 << 9));
		} else if (o == O_COLD) {
			for (int i = 0; i < BATCH; i++)
				mark(k, o, &h, lo + (xs(&s) & (half - 1)));
		} else {
			for (int i = 0; i < BATCH; i++)
				mark(k, o, &h, lo + (xs(&s) & (half - 1 - RANGE)));
		}
	}
	sq_bench_set_items(b, BATCH);
	sq_tracker_handle_put(&h);
	if (own_rcu)
		urcu_memb_unregister_thread();
	if (ti == 0)
		teardown(k);
}

/*
 * Register @fn as @name at 1 and 2 threads, or at each count listed in
 * SQ_BENCH_THREADS (comma-separated, at most 16 entries).
 */
static void register_threads(const char *name, sq_bench_fn fn, struct sq_bench_def *defs)
{
	const char *env = getenv("SQ_BENCH_THREADS");
	int counts[16] = { 1, 2 }, n = 2;

	if (env && *env) {
		n = 0;
		for (const char *p = env; *p && n < 16;) {
			char *end;
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			if (v >= 1 && v <= 256)
				counts[n++] = (int)v;
			p = *end == ',' ? end + 1 : end;
		}
	}
	for (int i = 0; i < n; i++) {
		defs[i] = (struct sq_bench_def){ .name = name, .fn = fn, .threads = counts[i] };
		sq_bench_register(&defs[i]);
	}
}

#define MARK_BENCH(f, nm, k, o)                                                           \
	static void f(struct sq_bench *b)                                                 \
	{                                                                                  \
		run(b, k, o);                                                              \
	}                                                                                  \
	static struct sq_bench_def f##_defs[16];                                           \
	__attribute__((constructor)) static void f##_reg(void)                            \
	{                                                                                  \
		register_threads(nm SQ_BENCH_VARIANT, (f), f##_defs);                      \
	}

MARK_BENCH(bm_h_already, "engine/mark/already_dirty", K_HANDLE, O_ALREADY)
MARK_BENCH(bm_h_cold, "engine/mark/random_cold", K_HANDLE, O_COLD)
MARK_BENCH(bm_h_range, "engine/mark/range_64", K_HANDLE, O_RANGE)
MARK_BENCH(bm_a_already, "engine/mark/api/already_dirty", K_API, O_ALREADY)
MARK_BENCH(bm_a_cold, "engine/mark/api/random_cold", K_API, O_COLD)
MARK_BENCH(bm_v_already, "engine/peer/vmmemory/already_dirty", K_VMM, O_ALREADY)
MARK_BENCH(bm_v_cold, "engine/peer/vmmemory/random_cold", K_VMM, O_COLD)
MARK_BENCH(bm_v_range, "engine/peer/vmmemory/range_64", K_VMM, O_RANGE)
MARK_BENCH(bm_q_already, "engine/peer/qemu/already_dirty", K_QEMU, O_ALREADY)
MARK_BENCH(bm_q_cold, "engine/peer/qemu/random_cold", K_QEMU, O_COLD)
MARK_BENCH(bm_q_range, "engine/peer/qemu/range_64", K_QEMU, O_RANGE)

/* The baseline: flat atomic words, unconditional fetch_or, global counter. */
static _Atomic uint64_t *naive_words;
static _Atomic uint64_t naive_count;

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
SQ_BENCH_DEF(.name = "engine/mark/naive_baseline" SQ_BENCH_VARIANT, .fn = bm_naive)
SQ_BENCH_DEF(.name = "engine/mark/naive_baseline" SQ_BENCH_VARIANT, .fn = bm_naive, .threads = 2)
