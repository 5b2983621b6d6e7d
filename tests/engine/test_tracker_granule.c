/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The adaptive controller under a steady workload: the same pages are
 * marked every epoch (API marks, exact fine bits), the IO cost fed back
 * with sq_tracker_note_io matches the model, and once the controller has
 * converged no block changes granule again.
 *
 * The pattern is the one of bench/engine/bench_granule.c: hot blocks with
 * 7 pages in 8 dirty, warm blocks with 1 page in 4 (128 runs of one page),
 * single pages scattered elsewhere. With the default constants both the
 * hot and the warm blocks are cheaper coarse; the scattered ones stay fine.
 * The warm blocks are the sensitive case: while coarse they are emitted as
 * one run, but the controller must keep seeing their 128 fine runs, or the
 * run average falls, fine looks cheaper and the block flips back and forth.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/squib.h>
#include "helpers.h"

#define BASE ((uintptr_t)1 << 40)
#define PG SQ_PAGE_SIZE
#define BLK ((uintptr_t)SQ_BLOCK_SIZE)
#define NBLK 64
#define WARMUP 20
#define STEADY 60

enum { HOT0 = 3, NHOT = 4, WARM0 = 20, NWARM = 2, SCATTER0 = 32, NSCATTER = 32 };

static void *A(uintptr_t off)
{
	return (void *)(BASE + off);
}

static void mark_round(struct sq_tracker *t)
{
	for (uintptr_t b = HOT0; b < HOT0 + NHOT; b++)
		for (uintptr_t p = 0; p < 512; p++)
			if (p % 8 != 7)
				assert_int_equal(sq_tracker_mark(t, A(b * BLK + p * PG)), 0);
	for (uintptr_t b = WARM0; b < WARM0 + NWARM; b++)
		for (uintptr_t p = 0; p < 512; p += 4)
			assert_int_equal(sq_tracker_mark(t, A(b * BLK + p * PG)), 0);
	/* One page in each of blocks 32..63, at a different offset each. */
	for (uintptr_t i = 0; i < NSCATTER; i++)
		assert_int_equal(sq_tracker_mark(t, A((SCATTER0 + i) * BLK + (i * 37 % 512) * PG)), 0);
}

/* One epoch: mark, harvest, report the IO at exactly the modelled cost. */
static void epoch(struct sq_tracker *t, uint32_t id)
{
	struct sq_dirty_set *s;

	mark_round(t);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	uint64_t ios = sq_dirty_set_nruns(s), bytes = sq_dirty_set_bytes(s);
	/* Default io_op_ns 15000, byte_ps 800: measured = modelled. */
	uint64_t ns = ios * 15000 + bytes * 800 / 1000;
	assert_int_equal(sq_tracker_note_io(t, id, ios, bytes, ns), 0);
	sq_dirty_set_destroy(s);
}

static void granules(struct sq_tracker *t, uint32_t id, int *g)
{
	for (uint64_t b = 0; b < NBLK; b++) {
		g[b] = sq_tracker_granule(t, id, b);
		assert_true(g[b] == SQ_GRANULE_FINE || g[b] == SQ_GRANULE_COARSE);
	}
}

static void steady_workload_converges(void **st)
{
	(void)st;
	struct sq_tracker *t;
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = SQ_GRANULE_ADAPTIVE };
	struct sq_dirty_stats ds = SQ_INIT(struct sq_dirty_stats);
	uint32_t id;
	int before[NBLK], now[NBLK];

	assert_int_equal(sq_tracker_create(&o, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, A(0), NBLK * BLK, 0, &id), 0);
	for (int e = 0; e < WARMUP; e++)
		epoch(t, id);
	granules(t, id, before);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	uint64_t moves = ds.to_coarse + ds.to_fine;
	/* Converged: hot and warm blocks coarse, scattered and clean ones fine. */
	for (uint64_t b = 0; b < NBLK; b++) {
		bool want = (b >= HOT0 && b < HOT0 + NHOT) || (b >= WARM0 && b < WARM0 + NWARM);
		if (before[b] != (want ? SQ_GRANULE_COARSE : SQ_GRANULE_FINE))
			fail_msg("block %llu: granule %d after %d epochs",
				 (unsigned long long)b, before[b], WARMUP);
	}
	assert_int_equal(ds.coarse_blocks, NHOT + NWARM);
	/* Hysteresis holds: no block moves again, epoch after epoch. */
	for (int e = 0; e < STEADY; e++) {
		epoch(t, id);
		granules(t, id, now);
		for (uint64_t b = 0; b < NBLK; b++)
			if (now[b] != before[b])
				fail_msg("block %llu changed granule at steady epoch %d",
					 (unsigned long long)b, e);
	}
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_int_equal(ds.to_coarse + ds.to_fine, moves);
	assert_int_equal(ds.epoch, WARMUP + STEADY);
	sq_tracker_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(steady_workload_converges),
	};
	return cmocka_run_group_tests_name("engine/granule", tests, NULL, NULL);
}
