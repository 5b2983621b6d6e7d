/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Harvest benchmarks over one region of 2^28 pages (1 TiB of 4 KiB pages,
 * a 32 MiB bitmap).
 *
 *   engine/harvest/sparse   1 page in 4096 dirty (65,536 runs)
 *   engine/harvest/medium   1 page in 64 (one bit per 64-bit word)
 *   engine/harvest/dense    1 page in 2, as alternating clean and dirty
 *                           64-page runs (a 1-in-2 pattern of single pages
 *                           would make a 2 GiB run list)
 *   engine/harvest/xchg_every_word_baseline   atomic exchange of every
 *                           word of a flat 32 MiB bitmap (sparse content),
 *                           set bits enumerated
 *   engine/harvest/memory_read_limit   plain read of the 32 MiB
 *   engine/peer/qemu/sync_{sparse,medium,dense}   QEMU's migration bitmap
 *                           sync (bench/peer/qemu.h) over the same pages
 *   engine/peer/vmmemory/get_and_reset_{sparse,medium,dense}   vm-memory's
 *                           AtomicBitmap::get_and_reset (bench/peer/vmmemory.h)
 *
 * Each iteration re-dirties the pattern (untimed, by a bitmap import) and
 * times one harvest, dirty set built and freed. bytes_per_second is the
 * bitmap size over the time, so the three are directly comparable.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "peer/qemu.h" /* first: it includes liburcu */
#include "peer/vmmemory.h"

#include <squib/squib.h>
#include "harness.h"

#define NPAGES (1ull << 28)
#define NWORDS (NPAGES / 64)
#define BITMAP_BYTES (NPAGES / 8)
#define BASE ((uintptr_t)1 << 45)

static uint64_t *pattern(int kind)
{
	uint64_t *w = sq_mem_alloc(BITMAP_BYTES, 64);
	if (!w)
		return NULL;
	for (uint64_t i = 0; i < NWORDS; i++) {
		if (kind == 0)
			w[i] = (i % 64) == 0 ? 1 : 0; /* one page in 4096 */
		else if (kind == 1)
			w[i] = 1; /* one page in 64 */
		else
			w[i] = (i & 1) ? 0 : ~0ull; /* half */
	}
	return w;
}

static void run_harvest(struct sq_bench *b, int kind)
{
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = SQ_GRANULE_FIXED_4K };
	struct sq_tracker *t;
	struct sq_dirty_set *s;
	uint32_t id;
	uint64_t *w = pattern(kind);

	if (!w || sq_tracker_create(&o, &t) ||
	    sq_tracker_add_region(t, (void *)BASE, NPAGES << SQ_PAGE_SHIFT, 0, &id)) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	uint64_t pages = 0;
	while (sq_bench_running(b)) {
		sq_bench_pause(b);
		sq_tracker_import_bitmap(t, id, w, NWORDS);
		sq_bench_resume(b);
		sq_tracker_harvest(t, id, &s);
		pages = sq_dirty_set_pages(s);
		sq_dirty_set_destroy(s);
	}
	sq_bench_counter(b, "dirty_pages", (double)pages);
	sq_bench_set_bytes(b, BITMAP_BYTES);
	sq_tracker_destroy(t);
	sq_mem_free(w, BITMAP_BYTES, 64);
}

static void bm_sparse(struct sq_bench *b)
{
	run_harvest(b, 0);
}

static void bm_medium(struct sq_bench *b)
{
	run_harvest(b, 1);
}

static void bm_dense(struct sq_bench *b)
{
	run_harvest(b, 2);
}

SQ_BENCH_DEF(.name = "engine/harvest/sparse", .fn = bm_sparse,
	     .baseline = "engine/harvest/memory_read_limit")
SQ_BENCH_DEF(.name = "engine/harvest/medium", .fn = bm_medium,
	     .baseline = "engine/harvest/memory_read_limit")
SQ_BENCH_DEF(.name = "engine/harvest/dense", .fn = bm_dense,
	     .baseline = "engine/harvest/memory_read_limit")

static void bm_xchg(struct sq_bench *b)
{
	_Atomic uint64_t *bm = (_Atomic uint64_t *)pattern(0);
	uint64_t *w = pattern(0);
	if (!bm || !w) {
		sq_bench_skip(b, "out of memory");
		return;
	}
	while (sq_bench_running(b)) {
		sq_bench_pause(b);
		for (uint64_t i = 0; i < NWORDS; i++)
			if (w[i])
				atomic_fetch_or_explicit(&bm[i], w[i], memory_order_relaxed);
		sq_bench_resume(b);
		uint64_t acc = 0;
		for (uint64_t i = 0; i < NWORDS; i++) {
			uint64_t v = atomic_exchange_explicit(&bm[i], 0, memory_order_acq_rel);
			while (v) {
				acc += i * 64 + (uint64_t)__builtin_ctzll(v);
				v &= v - 1;
			}
		}
		sq_bench_keep(acc);
	}
	sq_bench_set_bytes(b, BITMAP_BYTES);
	sq_mem_free((void *)bm, BITMAP_BYTES, 64);
	sq_mem_free(w, BITMAP_BYTES, 64);
}
SQ_BENCH("engine/harvest/xchg_every_word_baseline", bm_xchg);

static void bm_read_limit(struct sq_bench *b)
{
	uint64_t *w = pattern(0);
	if (!w) {
		sq_bench_skip(b, "out of memory");
		return;
	}
	while (sq_bench_running(b)) {
		uint64_t acc = 0;
		for (uint64_t i = 0; i < NWORDS; i += 4)
			acc += w[i] | w[i + 1] | w[i + 2] | w[i + 3];
		sq_bench_keep(acc);
	}
	sq_bench_set_bytes(b, BITMAP_BYTES);
	sq_mem_free(w, BITMAP_BYTES, 64);
}
SQ_BENCH("engine/harvest/memory_read_limit", bm_read_limit);

/*
 * QEMU: the pattern set into the DirtyMemoryBlocks (untimed, plain
 * stores), then one timed cpu_physical_memory_sync_dirty_bitmap into a
 * destination bitmap that the "migration" empties after each round
 * (untimed), so every sync finds every bit new, as our harvest does.
 */
static void run_qemu_sync(struct sq_bench *b, int kind)
{
	struct qemu_dirty d;
	uint64_t *w = pattern(kind);
	int own_rcu = 0;

	if (!w || qemu_dirty_new(&d, NPAGES)) {
		sq_bench_skip(b, "set-up failed");
		if (w)
			sq_mem_free(w, BITMAP_BYTES, 64);
		return;
	}
	if (!URCU_TLS(urcu_memb_reader).registered) {
		urcu_memb_register_thread();
		own_rcu = 1;
	}
	uint64_t pages = 0;
	while (sq_bench_running(b)) {
		sq_bench_pause(b);
		struct qemu_dirty_blocks *blk = atomic_load_explicit(&d.migration, memory_order_relaxed);
		for (uint64_t i = 0; i < NWORDS; i++)
			if (w[i])
				atomic_store_explicit(&blk->blocks[i / QEMU_BLOCK_WORDS][i % QEMU_BLOCK_WORDS],
						      w[i], memory_order_relaxed);
		memset(d.dest, 0, BITMAP_BYTES);
		sq_bench_resume(b);
		pages = qemu_sync_dirty_bitmap(&d);
	}
	sq_bench_counter(b, "dirty_pages", (double)pages);
	sq_bench_set_bytes(b, BITMAP_BYTES);
	if (own_rcu)
		urcu_memb_unregister_thread();
	qemu_dirty_free(&d);
	sq_mem_free(w, BITMAP_BYTES, 64);
}

static void bm_q_sparse(struct sq_bench *b)
{
	run_qemu_sync(b, 0);
}

static void bm_q_medium(struct sq_bench *b)
{
	run_qemu_sync(b, 1);
}

static void bm_q_dense(struct sq_bench *b)
{
	run_qemu_sync(b, 2);
}

SQ_BENCH("engine/peer/qemu/sync_sparse", bm_q_sparse);
SQ_BENCH("engine/peer/qemu/sync_medium", bm_q_medium);
SQ_BENCH("engine/peer/qemu/sync_dense", bm_q_dense);

/* vm-memory: the pattern ORed in (untimed), one timed get_and_reset. */
static void run_vmm_reset(struct sq_bench *b, int kind)
{
	struct vmm_bitmap v;
	uint64_t *w = pattern(kind);

	if (!w || vmm_new(&v, NPAGES << SQ_PAGE_SHIFT, SQ_PAGE_SIZE)) {
		sq_bench_skip(b, "set-up failed");
		if (w)
			sq_mem_free(w, BITMAP_BYTES, 64);
		return;
	}
	uint64_t acc = 0;
	while (sq_bench_running(b)) {
		sq_bench_pause(b);
		for (uint64_t i = 0; i < NWORDS; i++)
			if (w[i])
				atomic_store_explicit(&v.map[i], w[i], memory_order_relaxed);
		sq_bench_resume(b);
		uint64_t *got = vmm_get_and_reset(&v);
		acc += got ? got[0] : 0;
		free(got);
	}
	sq_bench_keep(acc);
	sq_bench_set_bytes(b, BITMAP_BYTES);
	vmm_free(&v);
	sq_mem_free(w, BITMAP_BYTES, 64);
}

static void bm_v_sparse(struct sq_bench *b)
{
	run_vmm_reset(b, 0);
}

static void bm_v_medium(struct sq_bench *b)
{
	run_vmm_reset(b, 1);
}

static void bm_v_dense(struct sq_bench *b)
{
	run_vmm_reset(b, 2);
}

SQ_BENCH("engine/peer/vmmemory/get_and_reset_sparse", bm_v_sparse);
SQ_BENCH("engine/peer/vmmemory/get_and_reset_medium", bm_v_medium);
SQ_BENCH("engine/peer/vmmemory/get_and_reset_dense", bm_v_dense);
