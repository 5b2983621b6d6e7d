/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the tracker over API-marked regions: marking, ranges,
 * imports, harvest / peek / count, put-back, coarse emission, the
 * controller in both directions, statistics and region add/remove.
 * API-only regions are never dereferenced, so they use plain addresses.
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

static void *A(uintptr_t off)
{
	return (void *)(BASE + off);
}

static struct sq_tracker *mk(enum sq_granule_mode g)
{
	struct sq_tracker *t;
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = g };
	assert_int_equal(sq_tracker_create(&o, &t), 0);
	return t;
}

static void expect_runs(struct sq_dirty_set *s, const struct sq_run *want, size_t n)
{
	assert_int_equal(sq_dirty_set_nruns(s), n);
	uint64_t pages = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sq_dirty_set_runs(s)[i].first_page, want[i].first_page);
		assert_int_equal(sq_dirty_set_runs(s)[i].npages, want[i].npages);
		pages += want[i].npages;
	}
	assert_int_equal(sq_dirty_set_pages(s), pages);
	assert_int_equal(sq_dirty_set_bytes(s), pages * PG);
}

static void mark_harvest_runs(void **st)
{
	(void)st;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K);
	uint32_t id;
	struct sq_dirty_set *s;

	assert_int_equal(sq_tracker_add_region(t, A(0), 4 * BLK, 0, &id), 0);
	assert_int_equal(sq_tracker_mark(t, A(5 * PG + 7)), 0);
	assert_int_equal(sq_tracker_mark(t, A(6 * PG)), 0);
	assert_int_equal(sq_tracker_mark(t, A(6 * PG + 100)), 0); /* already dirty */
	assert_int_equal(sq_tracker_mark(t, A(63 * PG)), 0);
	assert_int_equal(sq_tracker_mark(t, A(64 * PG)), 0);     /* merges across words */
	assert_int_equal(sq_tracker_mark(t, A(511 * PG)), 0);
	assert_int_equal(sq_tracker_mark(t, A(512 * PG)), 0);    /* and across blocks */
	assert_int_equal(sq_tracker_mark(t, A(4 * BLK - 1)), 0);
	uint64_t c;
	assert_int_equal(sq_tracker_count(t, id, &c), 0);
	assert_int_equal(c, 7);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_region(s), id);
	const struct sq_run want[] = { { 5, 2 }, { 63, 2 }, { 511, 2 }, { 2047, 1 } };
	expect_runs(s, want, 4);
	sq_dirty_set_destroy(s);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	expect_runs(s, NULL, 0);
	sq_dirty_set_destroy(s);
	sq_tracker_destroy(t);
}

static void range_import_peek_putback(void **st)
{
	(void)st;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K);
	uint32_t id;
	struct sq_dirty_set *s, *p;

	/* 1000 pages: partial last block, partial last word (1000 % 64 = 40). */
	assert_int_equal(sq_tracker_add_region(t, A(0), 1000 * PG, 0, &id), 0);
	assert_int_equal(sq_tracker_mark_range(t, A(10 * PG + 1), 3 * PG), 0); /* pages 10..13 */
	uint64_t words[16] = { 0 };
	words[2] = 1ull << 5 | 1ull << 6;  /* pages 133, 134 */
	words[15] = 1ull << 39;            /* page 999, the last */
	assert_int_equal(sq_tracker_import_bitmap(t, id, words, 16), 0);
	assert_int_equal(sq_tracker_peek(t, id, &p), 0);
	const struct sq_run want[] = { { 10, 4 }, { 133, 2 }, { 999, 1 } };
	expect_runs(p, want, 3);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	expect_runs(s, want, 3);
	sq_dirty_set_destroy(p);
	/* The consumer failed: put the set back, mark something new. */
	assert_int_equal(sq_tracker_mark(t, A(500 * PG)), 0);
	assert_int_equal(sq_tracker_put_back(t, s), 0);
	sq_dirty_set_destroy(s);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	const struct sq_run want2[] = { { 10, 4 }, { 133, 2 }, { 500, 1 }, { 999, 1 } };
	expect_runs(s, want2, 4);
	sq_dirty_set_destroy(s);
	sq_tracker_destroy(t);
}

static void coarse_emits_whole_blocks(void **st)
{
	(void)st;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_2M);
	uint32_t id;
	struct sq_dirty_set *s;

	/* 2.5 blocks: the last coarse run is clipped to the region end. */
	assert_int_equal(sq_tracker_add_region(t, A(0), 2 * BLK + 256 * PG, 0, &id), 0);
	assert_int_equal(sq_tracker_granule(t, id, 0), SQ_GRANULE_COARSE);
	assert_int_equal(sq_tracker_mark(t, A(3 * PG)), 0);
	assert_int_equal(sq_tracker_mark(t, A(2 * BLK + 7 * PG)), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	const struct sq_run want[] = { { 0, 512 }, { 1024, 256 } };
	expect_runs(s, want, 2);
	sq_dirty_set_destroy(s);
	/* Forced back to fine: exact pages again. */
	assert_int_equal(sq_tracker_set_granule(t, id, 0, SQ_GRANULE_FINE), 0);
	assert_int_equal(sq_tracker_granule(t, id, 0), SQ_GRANULE_FINE);
	assert_int_equal(sq_tracker_mark(t, A(3 * PG)), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	const struct sq_run want2[] = { { 3, 1 } };
	expect_runs(s, want2, 1);
	sq_dirty_set_destroy(s);
	sq_tracker_destroy(t);
}

/* The controller moves a hot block to coarse and a cooled one back. */
static void controller_both_directions(void **st)
{
	(void)st;
	struct sq_tracker *t = mk(SQ_GRANULE_ADAPTIVE);
	uint32_t id;
	struct sq_dirty_set *s;
	struct sq_dirty_stats ds = SQ_INIT(struct sq_dirty_stats);

	assert_int_equal(sq_tracker_add_region(t, A(0), 4 * BLK, 0, &id), 0);
	/* Block 1: every other page dirty each epoch (256 runs): coarse wins. */
	for (int e = 0; e < 8; e++) {
		for (int p = 0; p < 512; p += 2)
			assert_int_equal(sq_tracker_mark(t, A(BLK + (uintptr_t)p * PG)), 0);
		assert_int_equal(sq_tracker_mark(t, A(3 * BLK)), 0); /* block 3: one page */
		assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
		sq_dirty_set_destroy(s);
	}
	assert_int_equal(sq_tracker_granule(t, id, 1), SQ_GRANULE_COARSE);
	assert_int_equal(sq_tracker_granule(t, id, 3), SQ_GRANULE_FINE);
	assert_int_equal(sq_tracker_granule(t, id, 0), SQ_GRANULE_FINE);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_true(ds.to_coarse >= 1);
	assert_int_equal(ds.coarse_blocks, 1);
	float heat[4];
	assert_int_equal(sq_tracker_heat(t, id, 0, 4, heat), 0);
	assert_true(heat[1] > 200.0f && heat[1] <= 256.0f);
	assert_true(heat[3] > 0.5f && heat[3] <= 1.0f);
	assert_true(heat[0] == 0.0f);
	/* Now a single page per epoch in block 1: back to fine. */
	for (int e = 0; e < 16; e++) {
		assert_int_equal(sq_tracker_mark(t, A(BLK + 9 * PG)), 0);
		assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
		if (sq_tracker_granule(t, id, 1) == SQ_GRANULE_COARSE)
			assert_int_equal(sq_dirty_set_pages(s), 512);
		sq_dirty_set_destroy(s);
	}
	assert_int_equal(sq_tracker_granule(t, id, 1), SQ_GRANULE_FINE);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_true(ds.to_fine >= 1);
	assert_int_equal(ds.coarse_blocks, 0);
	assert_int_equal(ds.epoch, 24);
	/* The IO cost feedback is accepted and counted. */
	assert_int_equal(sq_tracker_note_io(t, id, 10, 40960, 200000), 0);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_int_equal(ds.io_ops, 10);
	assert_int_equal(ds.io_bytes, 40960);
	sq_tracker_destroy(t);
}

static void stats_rates(void **st)
{
	(void)st;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K);
	uint32_t id;
	struct sq_dirty_set *s;
	struct sq_dirty_stats ds = SQ_INIT(struct sq_dirty_stats);

	assert_int_equal(sq_tracker_add_region(t, A(0), BLK, 0, &id), 0);
	assert_int_equal(sq_tracker_mark_range(t, A(0), 100 * PG), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	sq_dirty_set_destroy(s);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_int_equal(ds.epoch, 1);
	assert_int_equal(ds.last_pages, 100);
	assert_int_equal(ds.total_pages, 100);
	assert_int_equal(ds.npages, 512);
	assert_int_equal(ds.nblocks, 1);
	assert_true(ds.pages_per_sec > 0);
	assert_true(ds.ewma_pages_per_sec == ds.pages_per_sec);
	assert_int_equal(ds.kernel_mode, 0);
	sq_tracker_destroy(t);
}

static void regions_add_remove(void **st)
{
	(void)st;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K);
	uint32_t a, b, c;
	struct sq_dirty_set *s;

	assert_int_equal(sq_tracker_add_region(t, A(10 * BLK), BLK, 0, &a), 0);
	assert_int_equal(sq_tracker_add_region(t, A(0), BLK, 0, &b), 0);
	assert_int_equal(sq_tracker_add_region(t, A(5 * BLK), 8 * PG, 0, &c), 0);
	assert_true(a != b && b != c && a != c);
	assert_int_equal(sq_tracker_mark(t, A(10 * BLK + PG)), 0);
	assert_int_equal(sq_tracker_mark(t, A(2 * PG)), 0);
	assert_int_equal(sq_tracker_mark(t, A(5 * BLK + 7 * PG)), 0);
	assert_int_equal(sq_tracker_mark(t, A(5 * BLK + 8 * PG)), SQ_E_RANGE);
	assert_int_equal(sq_tracker_remove_region(t, b), 0);
	assert_int_equal(sq_tracker_mark(t, A(2 * PG)), SQ_E_RANGE);
	assert_int_equal(sq_tracker_harvest(t, b, &s), SQ_E_NOT_FOUND);
	assert_null(s);
	assert_int_equal(sq_tracker_harvest(t, a, &s), 0);
	const struct sq_run wa[] = { { 1, 1 } };
	expect_runs(s, wa, 1);
	/* Put-back after the region is gone fails cleanly. */
	assert_int_equal(sq_tracker_remove_region(t, a), 0);
	assert_int_equal(sq_tracker_put_back(t, s), SQ_E_NOT_FOUND);
	sq_dirty_set_destroy(s);
	assert_int_equal(sq_tracker_harvest(t, c, &s), 0);
	const struct sq_run wc[] = { { 7, 1 } };
	expect_runs(s, wc, 1);
	sq_dirty_set_destroy(s);
	/* Ids are not reused. */
	uint32_t d;
	assert_int_equal(sq_tracker_add_region(t, A(0), BLK, 0, &d), 0);
	assert_true(d > c && d > a);
	sq_tracker_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mark_harvest_runs),
		cmocka_unit_test(range_import_peek_putback),
		cmocka_unit_test(coarse_emits_whole_blocks),
		cmocka_unit_test(controller_both_directions),
		cmocka_unit_test(stats_rates),
		cmocka_unit_test(regions_add_remove),
	};
	return cmocka_run_group_tests_name("engine/tracker", tests, NULL, NULL);
}
