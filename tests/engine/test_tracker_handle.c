/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of mark handles (squib/tracker_inline.h) and batch marks:
 * the inline mark in fine and coarse blocks, ranges and page batches
 * through a handle and through the tracker, bad input, and the pinning
 * protocol: region removal waits for the handles on it, a handle holder
 * may harvest meanwhile, and no handle can be obtained once removal began.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <squib/squib.h>
#include "helpers.h"

#define BASE ((uintptr_t)1 << 40)
#define PG SQ_PAGE_SIZE
#define BLK ((uintptr_t)SQ_BLOCK_SIZE)

static void *A(uintptr_t off)
{
	return (void *)(BASE + off);
}

static struct sq_tracker *mk(enum sq_granule_mode g, uint32_t *id, size_t len)
{
	struct sq_tracker *t;
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = g };
	assert_int_equal(sq_tracker_create(&o, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, A(0), len, 0, id), 0);
	return t;
}

static void expect_runs(struct sq_tracker *t, uint32_t id, const struct sq_run *want, size_t n)
{
	struct sq_dirty_set *s;

	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_nruns(s), n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sq_dirty_set_runs(s)[i].first_page, want[i].first_page);
		assert_int_equal(sq_dirty_set_runs(s)[i].npages, want[i].npages);
	}
	sq_dirty_set_destroy(s);
}

static void handle_marks_fine(void **st)
{
	(void)st;
	uint32_t id;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K, &id, 3 * BLK);
	struct sq_mark_handle h;

	assert_int_equal(sq_tracker_handle_get(t, id, &h), 0);
	assert_int_equal(h.region, id);
	assert_int_equal(h.npages, 3 * 512);
	assert_int_equal(sq_handle_mark(&h, A(5 * PG + 9)), 0);
	assert_int_equal(sq_handle_mark(&h, A(5 * PG)), 0); /* already dirty */
	assert_int_equal(sq_handle_mark(&h, A(6 * PG)), 0);
	assert_int_equal(sq_handle_mark_page(&h, 1000), 0);
	assert_int_equal(sq_tracker_mark(t, A(1001 * PG)), 0); /* both paths, one bitmap */
	assert_int_equal(sq_handle_mark(&h, A(3 * BLK - 1)), 0); /* the last page */
	/* Outside: specific error, nothing marked. */
	assert_int_equal(sq_handle_mark(&h, A(3 * BLK)), SQ_E_RANGE);
	assert_int_equal(sq_handle_mark(&h, (void *)(BASE - 1)), SQ_E_RANGE);
	assert_int_equal(sq_handle_mark_page(&h, 3 * 512), SQ_E_RANGE);
	assert_int_equal(sq_handle_mark_page(&h, UINT64_MAX), SQ_E_RANGE);
	const struct sq_run want[] = { { 5, 2 }, { 1000, 2 }, { 3 * 512 - 1, 1 } };
	expect_runs(t, id, want, 3);
	/* The summary was cleared by the harvest: a mark sets it again. */
	assert_int_equal(sq_handle_mark(&h, A(5 * PG)), 0);
	const struct sq_run again[] = { { 5, 1 } };
	expect_runs(t, id, again, 1);
	expect_runs(t, id, NULL, 0);

	sq_tracker_handle_put(&h);
	assert_null(h.pin);
	sq_tracker_handle_put(&h); /* a put handle is ignored */
	sq_tracker_handle_put(NULL);
	sq_tracker_destroy(t);
}

/* Coarse blocks take the same inline path: fine bits are recorded, the
 * harvest emits the block whole; back to fine, the fine bits show. */
static void handle_marks_coarse(void **st)
{
	(void)st;
	uint32_t id;
	struct sq_tracker *t = mk(SQ_GRANULE_ADAPTIVE, &id, 2 * BLK + 8 * PG);
	struct sq_mark_handle h;

	assert_int_equal(sq_tracker_handle_get(t, id, &h), 0);
	assert_int_equal(sq_tracker_set_granule(t, id, 1, SQ_GRANULE_COARSE), 0);
	assert_int_equal(sq_tracker_set_granule(t, id, 2, SQ_GRANULE_COARSE), 0);
	assert_int_equal(sq_handle_mark(&h, A(BLK + 3 * PG)), 0);
	assert_int_equal(sq_handle_mark(&h, A(2 * BLK + PG)), 0); /* partial last block */
	assert_int_equal(sq_handle_mark(&h, A(7 * PG)), 0);
	const struct sq_run want[] = { { 7, 1 }, { 512, 512 + 8 } };
	struct sq_dirty_set *s;
	assert_int_equal(sq_tracker_peek(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_nruns(s), 2);
	assert_int_equal(sq_dirty_set_runs(s)[1].first_page, want[1].first_page);
	assert_int_equal(sq_dirty_set_runs(s)[1].npages, want[1].npages);
	sq_dirty_set_destroy(s);
	/* Back to fine: the exact fine bits the inline marks recorded. */
	assert_int_equal(sq_tracker_set_granule(t, id, 1, SQ_GRANULE_FINE), 0);
	assert_int_equal(sq_tracker_set_granule(t, id, 2, SQ_GRANULE_FINE), 0);
	const struct sq_run fine[] = { { 7, 1 }, { 515, 1 }, { 1025, 1 } };
	expect_runs(t, id, fine, 3);
	sq_tracker_handle_put(&h);
	sq_tracker_destroy(t);
}

static void handle_range_and_batch(void **st)
{
	(void)st;
	uint32_t id;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K, &id, 2 * BLK);
	struct sq_mark_handle h;

	assert_int_equal(sq_tracker_handle_get(t, id, &h), 0);
	assert_int_equal(sq_handle_mark_range(&h, A(60 * PG + 1), 70 * PG), 0); /* 60..130 */
	assert_int_equal(sq_handle_mark_range(&h, A(0), 0), 0);
	assert_int_equal(sq_handle_mark_range(&h, A(2 * BLK - PG), 2 * PG), SQ_E_RANGE);
	assert_int_equal(sq_handle_mark_range(&h, (void *)(BASE - PG), 2 * PG), SQ_E_RANGE);
	const uint64_t ring[] = { 600, 601, 602, 700, 601, 1023, 0 };
	assert_int_equal(sq_handle_mark_pages(&h, ring, 7), 0);
	assert_int_equal(sq_handle_mark_pages(&h, NULL, 0), 0);
	const struct sq_run want[] = { { 0, 1 }, { 60, 71 }, { 600, 3 }, { 700, 1 }, { 1023, 1 } };
	expect_runs(t, id, want, 5);

	/* A bad entry anywhere: SQ_E_RANGE and nothing marked. */
	const uint64_t bad[] = { 3, 4, 1024 };
	assert_int_equal(sq_handle_mark_pages(&h, bad, 3), SQ_E_RANGE);
	assert_int_equal(sq_tracker_mark_pages(t, id, bad, 3), SQ_E_RANGE);
	assert_int_equal(sq_tracker_mark_pages(t, id, NULL, 2), SQ_E_INVAL);
	assert_int_equal(sq_tracker_mark_pages(t, id + 1, ring, 1), SQ_E_NOT_FOUND);
	expect_runs(t, id, NULL, 0);
	assert_int_equal(sq_tracker_mark_pages(t, id, bad, 2), 0);
	const struct sq_run want2[] = { { 3, 2 } };
	expect_runs(t, id, want2, 1);
	sq_tracker_handle_put(&h);
	sq_tracker_destroy(t);
}

static void handle_get_errors(void **st)
{
	(void)st;
	uint32_t id;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K, &id, BLK);
	struct sq_mark_handle h;

	assert_int_equal(sq_tracker_handle_get(t, id + 1, &h), SQ_E_NOT_FOUND);
	assert_null(h.pin);
	assert_int_equal(sq_tracker_handle_get(NULL, id, &h), SQ_E_INVAL);
	assert_int_equal(sq_tracker_handle_get(t, id, NULL), SQ_E_INVAL);
	/* Several handles on one region; removal after all are put. */
	struct sq_mark_handle h2;
	assert_int_equal(sq_tracker_handle_get(t, id, &h), 0);
	assert_int_equal(sq_tracker_handle_get(t, id, &h2), 0);
	sq_tracker_handle_put(&h);
	sq_tracker_handle_put(&h2);
	assert_int_equal(sq_tracker_remove_region(t, id), 0);
	assert_int_equal(sq_tracker_handle_get(t, id, &h), SQ_E_NOT_FOUND);
	sq_tracker_destroy(t);
}

struct remover {
	struct sq_tracker *t;
	uint32_t id;
	atomic_int started;
	atomic_int done;
	int rc;
};

static void *remove_thread(void *arg)
{
	struct remover *rm = arg;

	atomic_store(&rm->started, 1);
	rm->rc = sq_tracker_remove_region(rm->t, rm->id);
	atomic_store(&rm->done, 1);
	return NULL;
}

/*
 * Removal waits for the handle: while this thread holds it, the remover
 * cannot finish (checked after giving it time to run), the region can no
 * longer be pinned or harvested, marks through the held handle still land
 * in a live bitmap (ASan would see a freed one), and another region's
 * harvest works (the wait does not hold the tracker's lock).
 */
static void remove_waits_for_handles(void **st)
{
	(void)st;
	uint32_t id, id2;
	struct sq_tracker *t = mk(SQ_GRANULE_FIXED_4K, &id, 2 * BLK);
	struct sq_mark_handle h, h3;
	struct sq_dirty_set *s;
	struct remover rm = { .t = t, .id = id };
	pthread_t th;

	assert_int_equal(sq_tracker_add_region(t, A(8 * BLK), BLK, 0, &id2), 0);
	assert_int_equal(sq_tracker_handle_get(t, id, &h), 0);
	assert_int_equal(pthread_create(&th, NULL, remove_thread, &rm), 0);
	while (!atomic_load(&rm.started))
		sched_yield();
	/* Wait until the region is unpublished (the remover is then past its
	 * lock and waiting for the pin). */
	while (sq_tracker_handle_get(t, id, &h3) == 0) {
		sq_tracker_handle_put(&h3);
		sched_yield();
	}
	for (int i = 0; i < 50; i++) {
		usleep(1000);
		assert_int_equal(sq_handle_mark(&h, A((uintptr_t)i * PG)), 0);
		assert_int_equal(atomic_load(&rm.done), 0);
	}
	assert_int_equal(sq_tracker_harvest(t, id, &s), SQ_E_NOT_FOUND);
	assert_int_equal(sq_tracker_mark(t, A(8 * BLK)), 0);
	assert_int_equal(sq_tracker_harvest(t, id2, &s), 0);
	assert_int_equal(sq_dirty_set_pages(s), 1);
	sq_dirty_set_destroy(s);
	sq_tracker_handle_put(&h);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(rm.rc, 0);
	assert_int_equal(atomic_load(&rm.done), 1);
	sq_tracker_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handle_marks_fine),
		cmocka_unit_test(handle_marks_coarse),
		cmocka_unit_test(handle_range_and_batch),
		cmocka_unit_test(handle_get_errors),
		cmocka_unit_test(remove_waits_for_handles),
	};
	return cmocka_run_group_tests_name("engine/handle", tests, NULL, NULL);
}
