/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bad input: unaligned, empty, wrapping and overlapping regions, addresses
 * outside every region, ranges crossing region ends, bitmaps of the wrong
 * size or with bits past the end, put-backs outside the region, unknown
 * ids and bad options. Each gives its specific code (also recorded as the
 * thread's last error) and leaves the tracker's state unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/mman.h>

#include <squib/squib.h>
#include "core/sysio.h"
#include "engine/internal.h"
#include "helpers.h"

#define BASE ((uintptr_t)1 << 43)
#define PG ((uintptr_t)SQ_PAGE_SIZE)

static void *A(uintptr_t off)
{
	return (void *)(BASE + off);
}

static void expect(int rc, int code)
{
	assert_int_equal(rc, code);
	assert_int_equal(sq_last_error_code(), code);
	assert_true(sq_last_error()[0] != 0);
}

/* Region @id holds exactly page @p (or nothing when p < 0), harvested. */
static void expect_only(struct sq_tracker *t, uint32_t id, long p)
{
	struct sq_dirty_set *s;
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	if (p < 0) {
		assert_int_equal(sq_dirty_set_nruns(s), 0);
	} else {
		assert_int_equal(sq_dirty_set_nruns(s), 1);
		assert_int_equal(sq_dirty_set_runs(s)[0].first_page, (uint64_t)p);
		assert_int_equal(sq_dirty_set_runs(s)[0].npages, 1);
	}
	sq_dirty_set_destroy(s);
}

static void bad_regions(void **st)
{
	(void)st;
	struct sq_tracker *t;
	uint32_t id, x = 12345;

	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, A(16 * PG), 16 * PG, 0, &id), 0); /* pages 16..31 */
	assert_int_equal(sq_tracker_mark(t, A(20 * PG)), 0);
	expect(sq_tracker_add_region(t, A(1), 16 * PG, 0, &x), SQ_E_ALIGN);
	expect(sq_tracker_add_region(t, A(64 * PG), 100, 0, &x), SQ_E_ALIGN);
	expect(sq_tracker_add_region(t, A(64 * PG), 0, 0, &x), SQ_E_INVAL);
	expect(sq_tracker_add_region(t, A(64 * PG), PG, 0x80, &x), SQ_E_INVAL);
	expect(sq_tracker_add_region(t, (void *)(UINTPTR_MAX & ~(PG - 1)), 2 * PG, 0, &x), SQ_E_INVAL);
	expect(sq_tracker_add_region(t, A(8 * PG), 9 * PG, 0, &x), SQ_E_OVERLAP);   /* left edge */
	expect(sq_tracker_add_region(t, A(31 * PG), 4 * PG, 0, &x), SQ_E_OVERLAP);  /* right edge */
	expect(sq_tracker_add_region(t, A(18 * PG), 2 * PG, 0, &x), SQ_E_OVERLAP);  /* inside */
	expect(sq_tracker_add_region(t, A(0), 64 * PG, 0, &x), SQ_E_OVERLAP);       /* around */
	assert_int_equal(x, 12345); /* id_out untouched */
	/* Adjacent is fine. */
	uint32_t left, right;
	assert_int_equal(sq_tracker_add_region(t, A(8 * PG), 8 * PG, 0, &left), 0);
	assert_int_equal(sq_tracker_add_region(t, A(32 * PG), 8 * PG, 0, &right), 0);
	/* State unchanged by the failures: the mark is still there, alone. */
	expect_only(t, id, 4);
	expect(sq_tracker_remove_region(t, 999), SQ_E_NOT_FOUND);
	expect_only(t, left, -1);
	sq_tracker_destroy(t);
}

static void bad_marks(void **st)
{
	(void)st;
	struct sq_tracker *t;
	uint32_t a, b;
	struct sq_dirty_set *s;

	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	expect(sq_tracker_mark(t, A(0)), SQ_E_RANGE); /* no regions at all */
	assert_int_equal(sq_tracker_add_region(t, A(0), 8 * PG, 0, &a), 0);
	assert_int_equal(sq_tracker_add_region(t, A(8 * PG), 8 * PG, 0, &b), 0);
	expect(sq_tracker_mark(t, A(16 * PG)), SQ_E_RANGE);
	expect(sq_tracker_mark(t, (void *)(BASE - 1)), SQ_E_RANGE);
	/* Crossing the end of a, even into the adjacent b: nothing marked. */
	expect(sq_tracker_mark_range(t, A(7 * PG), 2 * PG), SQ_E_RANGE);
	expect(sq_tracker_mark_range(t, A(15 * PG), 2 * PG), SQ_E_RANGE);
	expect(sq_tracker_mark_range(t, (void *)(BASE - PG), 2 * PG), SQ_E_RANGE);
	expect(sq_tracker_mark_range(t, A(PG), SIZE_MAX), SQ_E_RANGE);
	assert_int_equal(sq_tracker_mark_range(t, A(PG), 0), 0); /* empty: no-op */
	expect_only(t, a, -1);
	expect_only(t, b, -1);
	expect(sq_tracker_harvest(t, 77, &s), SQ_E_NOT_FOUND);
	expect(sq_tracker_peek(t, 77, &s), SQ_E_NOT_FOUND);
	sq_tracker_destroy(t);
}

static void bad_bitmaps(void **st)
{
	(void)st;
	struct sq_tracker *t;
	uint32_t id;
	uint64_t w[3] = { 1, 0, 0 };

	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, A(0), 100 * PG, 0, &id), 0); /* 2 words */
	expect(sq_tracker_import_bitmap(t, id, w, 1), SQ_E_SIZE_MISMATCH);
	expect(sq_tracker_import_bitmap(t, id, w, 3), SQ_E_SIZE_MISMATCH);
	expect(sq_tracker_import_bitmap(t, id + 1, w, 2), SQ_E_NOT_FOUND);
	expect(sq_tracker_import_bitmap(t, id, NULL, 2), SQ_E_INVAL);
	w[1] = 1ull << 36; /* page 100: past the end (pages 0..99) */
	expect(sq_tracker_import_bitmap(t, id, w, 2), SQ_E_INVAL);
	expect_only(t, id, -1); /* word 0 was not imported either */
	w[1] = 1ull << 35;      /* page 99: the last one */
	assert_int_equal(sq_tracker_import_bitmap(t, id, w, 2), 0);
	struct sq_dirty_set *s;
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_pages(s), 2);
	sq_dirty_set_destroy(s);
	sq_tracker_destroy(t);
}

static void bad_put_back_and_queries(void **st)
{
	(void)st;
	struct sq_tracker *t;
	uint32_t id;
	struct sq_run runs[2] = { { 1, 1 }, { 9, 2 } }; /* the second ends past page 9 */
	struct sq_dirty_set bad = { .region = 0, .page_shift = 12, .pages = 3, .n = 2, .cap = 2,
				    .runs = runs };

	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, A(0), 10 * PG, 0, &id), 0);
	bad.region = id;
	expect(sq_tracker_put_back(t, &bad), SQ_E_RANGE);
	expect_only(t, id, -1); /* the valid first run was not merged either */
	runs[1].npages = 0;
	expect(sq_tracker_put_back(t, &bad), SQ_E_RANGE);
	/* a set of another page size: its runs mean other bytes */
	runs[1].npages = 1;
	bad.page_shift = 14;
	expect(sq_tracker_put_back(t, &bad), SQ_E_PAGE_SIZE);
	expect_only(t, id, -1);
	float h[2];
	expect(sq_tracker_heat(t, id, 0, 2, h), SQ_E_RANGE);
	expect(sq_tracker_granule(t, id, 1), SQ_E_RANGE);
	expect(sq_tracker_set_granule(t, id, 1, SQ_GRANULE_COARSE), SQ_E_RANGE);
	expect(sq_tracker_set_granule(t, id, 0, (enum sq_granule)7), SQ_E_INVAL);
	struct sq_dirty_stats ds = SQ_INIT(struct sq_dirty_stats);
	expect(sq_tracker_stats(t, id + 1, &ds), SQ_E_NOT_FOUND);
	expect(sq_tracker_note_io(t, id + 1, 1, 1, 1), SQ_E_NOT_FOUND);
	sq_tracker_destroy(t);

	struct sq_tracker_opts o = { .size = sizeof(o), .granule = (enum sq_granule_mode)9 };
	expect(sq_tracker_create(&o, &t), SQ_E_INVAL);
	o = (struct sq_tracker_opts){ .size = sizeof(struct sq_tracker_opts), .kernel = (enum sq_kernel_mode)5 };
	expect(sq_tracker_create(&o, &t), SQ_E_INVAL);
	o = (struct sq_tracker_opts){ .size = sizeof(struct sq_tracker_opts), .ewma_alpha_pct = 101 };
	expect(sq_tracker_create(&o, &t), SQ_E_INVAL);
}

/* A failed kernel set-up (pagemap cannot be opened) adds nothing. */
static void kernel_setup_failure(void **st)
{
	(void)st;
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_ASYNC)))
		skip();
	struct sq_tracker_opts o = { .size = sizeof(o), .kernel = SQ_KERNEL_ASYNC };
	struct sq_tracker *t;
	uint32_t id;
	size_t len = 4 * PG;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(sq_tracker_create(&o, &t), 0);
	sq_fault_set(&(struct sq_fault_plan){ .site = SQ_SITE_ENGINE_PAGEMAP_OPEN, .error = EIO,
					      .times = 1 });
	expect(sq_tracker_add_region(t, p, len, SQ_REGION_KERNEL_WP, &id), SQ_E_IO);
	sq_fault_set(NULL);
	expect(sq_tracker_mark(t, p), SQ_E_RANGE);
	p[0] = 1; /* not protected any more */
	assert_int_equal(sq_tracker_add_region(t, p, len, SQ_REGION_KERNEL_WP, &id), 0);
	p[PG] = 1;
	expect_only(t, id, 1);
	sq_tracker_destroy(t);
	munmap(p, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_regions),
		cmocka_unit_test(bad_marks),
		cmocka_unit_test(bad_bitmaps),
		cmocka_unit_test(bad_put_back_and_queries),
		cmocka_unit_test(kernel_setup_failure),
	};
	return cmocka_run_group_tests_name("engine/badinput", tests, NULL, NULL);
}
