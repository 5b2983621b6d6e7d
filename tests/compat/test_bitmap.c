/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The original's DirtyBitmap operations over the tracker: its unit tests
 * (transition reported once, unaligned address, range ends, drain order,
 * constructor errors, 256 MiB at 2 MiB, 8 threads x 1000 sets at 16 KiB),
 * and a property test against a naive model (one bool per page) with random
 * sets, tests and drains at page sizes from 1 KiB to 2 MiB, with and
 * without a partial trailing page; the tracker's runs under a bitmap cover
 * exactly the dirty pages' bytes.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <squib/compat.h>
#include <squib/error.h>
#include <squib/tracker.h>

#include "helpers.h"

#define BASE 0x80000000ull /* DRAM_BASE */

struct drained {
	uint64_t idx[4096];
	uint64_t last;
	size_t n;
	int ordered;
};

static void collect(void *ctx, uint64_t i)
{
	struct drained *d = ctx;

	if (d->n && d->last >= i)
		d->ordered = 0;
	d->last = i;
	if (d->n < 4096)
		d->idx[d->n] = i;
	d->n++;
}

static void originals_unit_cases(void **state)
{
	struct sq_dirty_bitmap *b;
	struct drained d = { .ordered = 1 };
	uint64_t i, count;

	(void)state;
	assert_int_equal(sq_dirty_bitmap_create(BASE, 1u << 20, 4096, &b), 0);
	assert_int_equal(sq_dirty_bitmap_page_count(b), 256);
	/* set and test, the transition reported only once */
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE + 5 * 4096), 1);
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE + 5 * 4096), 0);
	assert_int_equal(sq_dirty_bitmap_is_dirty(b, BASE + 5 * 4096 + 17), 1);
	assert_int_equal(sq_dirty_bitmap_is_dirty(b, BASE + 4 * 4096), 0);
	/* an unaligned address rounds down to its page */
	assert_int_equal(sq_dirty_bitmap_page_index_of(b, BASE + 7 * 4096 + 4095, &i), 1);
	assert_int_equal(i, 7);
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE + 7 * 4096 + 4095), 1);
	assert_int_equal(sq_dirty_bitmap_is_dirty_by_index(b, 7), 1);
	/* out of range: base - 1 and base + size */
	assert_int_equal(sq_dirty_bitmap_page_index_of(b, BASE - 1, &i), 0);
	assert_int_equal(sq_dirty_bitmap_page_index_of(b, BASE + (1u << 20), &i), 0);
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE - 1), 0);
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE + (1u << 20)), 0);
	assert_int_equal(sq_dirty_bitmap_set_dirty_by_index(b, 256), 0);
	assert_int_equal(sq_dirty_bitmap_is_dirty(b, BASE + (1u << 20)), 0);
	/* drain: ascending, and the bitmap is clean afterwards */
	assert_int_equal(sq_dirty_bitmap_set_dirty_by_index(b, 255), 1);
	assert_int_equal(sq_dirty_bitmap_set_dirty_by_index(b, 0), 1);
	assert_int_equal(sq_dirty_bitmap_drain_into(b, collect, &d, &count), 0);
	assert_int_equal(count, 4);
	assert_int_equal(d.n, 4);
	assert_true(d.ordered);
	assert_int_equal(d.idx[0], 0);
	assert_int_equal(d.idx[1], 5);
	assert_int_equal(d.idx[2], 7);
	assert_int_equal(d.idx[3], 255);
	for (uint64_t p = 0; p < 256; p++)
		assert_int_equal(sq_dirty_bitmap_is_dirty_by_index(b, p), 0);
	d.n = 0;
	assert_int_equal(sq_dirty_bitmap_drain_into(b, collect, &d, &count), 0);
	assert_int_equal(count, 0);
	/* a drained page is clean again: its next set is a transition */
	assert_int_equal(sq_dirty_bitmap_set_dirty_by_index(b, 5), 1);
	sq_dirty_bitmap_destroy(b);
}

static void constructor_errors(void **state)
{
	struct sq_dirty_bitmap *b;
	char want[160];

	(void)state;
	assert_int_equal(sq_dirty_bitmap_create(BASE, 1u << 20, 3000, &b), SQ_E_INVALID_PATH);
	assert_string_equal(sq_last_error(),
			    "invalid snapshot path: page_size must be a power of two: 3000");
	assert_int_equal(sq_dirty_bitmap_create(BASE, 0, 4096, &b), SQ_E_INVALID_PATH);
	assert_string_equal(sq_last_error(),
			    "invalid snapshot path: dirty bitmap requires a non-empty RAM range");
	assert_int_equal(sq_dirty_bitmap_create(UINT64_MAX - 10, 4096, 4096, &b),
			 SQ_E_INVALID_PATH);
	snprintf(want, sizeof(want), "invalid snapshot path: RAM range overflows: start=%llu, "
				     "size=4096", (unsigned long long)(UINT64_MAX - 10));
	assert_string_equal(sq_last_error(), want);
	assert_int_equal(sq_dirty_bitmap_create(BASE, 1u << 20, 0, &b), SQ_E_INVALID_PATH);
	assert_string_equal(sq_last_error(),
			    "invalid snapshot path: page_size must be a power of two: 0");
	assert_int_equal(sq_dirty_bitmap_create(BASE, 1u << 20, 16384 + 4096, &b),
			 SQ_E_INVALID_PATH);
	assert_string_equal(sq_last_error(),
			    "invalid snapshot path: page_size must be a power of two: 20480");
	assert_null(b);
	/* every power of two is a page size, as in the original */
	for (unsigned sh = 0; sh < 64; sh++) {
		assert_int_equal(sq_dirty_bitmap_create(BASE, 1u << 20, 1ull << sh, &b), 0);
		assert_int_equal(sq_dirty_bitmap_page_size(b), 1ull << sh);
		assert_int_equal(sq_dirty_bitmap_page_shift(b), sh);
		assert_int_equal(sq_dirty_bitmap_page_count(b),
				 sh >= 20 ? 1 : (1ull << 20) >> sh);
		assert_int_equal(sq_dirty_bitmap_ram_start(b), BASE);
		assert_int_equal(sq_dirty_bitmap_ram_size(b), 1u << 20);
		sq_dirty_bitmap_destroy(b);
	}
}

/* The original's geometry cases: 256 MiB at 2 MiB is 128 pages; 16 KiB pages. */
static void originals_geometry(void **state)
{
	struct sq_dirty_bitmap *b;
	struct drained d = { .ordered = 1 };
	uint64_t i;

	(void)state;
	assert_int_equal(sq_dirty_bitmap_create(BASE, 256u << 20, 2u << 20, &b), 0);
	assert_int_equal(sq_dirty_bitmap_page_count(b), 128);
	assert_int_equal(sq_dirty_bitmap_page_shift(b), 21);
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE + (5u << 20)), 1); /* page 2 */
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE + (4u << 20)), 0);
	assert_int_equal(sq_dirty_bitmap_drain_into(b, collect, &d, NULL), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.idx[0], 2);
	sq_dirty_bitmap_destroy(b);
	assert_int_equal(sq_dirty_bitmap_create(BASE, 1u << 20, 16384, &b), 0);
	assert_int_equal(sq_dirty_bitmap_page_count(b), 64);
	assert_int_equal(sq_dirty_bitmap_page_index_of(b, BASE + 3 * 16384 + 16383, &i), 1);
	assert_int_equal(i, 3);
	assert_int_equal(sq_dirty_bitmap_page_index_of(b, BASE + (1u << 20), &i), 0);
	sq_dirty_bitmap_destroy(b);
}

/*
 * The tracker under a bitmap of page_size 4 KiB .. 64 KiB has the bitmap's
 * own pages (a partial last page included): one tracker page per bitmap
 * page, what a writer harvesting it directly (sq_snapshot_save_tracked)
 * converts to the bytes of the range.
 */
static void tracker_runs_cover_pages(void **state)
{
	static const uint64_t sizes[] = { 4096, 16384, 65536 };

	(void)state;
	for (unsigned s = 0; s < 3; s++) {
		uint64_t ps = sizes[s], tail = ps / 2 + 904, ram = 10 * ps + tail; /* partial */
		struct sq_dirty_bitmap *b;
		struct sq_dirty_set *set;
		uint32_t region;

		assert_int_equal(sq_dirty_bitmap_create(BASE, ram, ps, &b), 0);
		assert_int_equal(sq_dirty_bitmap_page_count(b), 11);
		assert_int_equal(sq_dirty_bitmap_set_dirty_by_index(b, 2), 1);
		assert_int_equal(sq_dirty_bitmap_set_dirty_by_index(b, 3), 1);
		assert_int_equal(sq_dirty_bitmap_set_dirty_by_index(b, 10), 1);
		struct sq_tracker *t = sq_dirty_bitmap_tracker(b, &region);
		assert_int_equal(sq_tracker_peek(t, region, &set), 0);
		const struct sq_run *r = sq_dirty_set_runs(set);
		assert_int_equal(sq_dirty_set_nruns(set), 2);
		assert_int_equal(sq_dirty_set_page_size(set), ps);
		assert_int_equal(r[0].first_page, 2);
		assert_int_equal(r[0].npages, 2);
		assert_int_equal(r[1].first_page, 10);
		assert_int_equal(r[1].npages, 1); /* the partial page is one page */
		assert_int_equal(sq_dirty_set_bytes(set), 2 * ps + tail); /* its bytes in the range */
		sq_dirty_set_destroy(set);
		sq_dirty_bitmap_destroy(b);
	}
}

/* A partial trailing page is a page, and a guest ram_start need not be aligned. */
static void partial_trailing_page(void **state)
{
	struct sq_dirty_bitmap *b;
	struct drained d = { .ordered = 1 };
	uint64_t i;

	(void)state;
	assert_int_equal(sq_dirty_bitmap_create(BASE + 100, 3 * 4096 + 10, 4096, &b), 0);
	assert_int_equal(sq_dirty_bitmap_page_count(b), 4);
	assert_int_equal(sq_dirty_bitmap_page_index_of(b, BASE + 100 + 3 * 4096 + 9, &i), 1);
	assert_int_equal(i, 3);
	assert_int_equal(sq_dirty_bitmap_page_index_of(b, BASE + 100 + 3 * 4096 + 10, &i), 0);
	assert_int_equal(sq_dirty_bitmap_set_dirty(b, BASE + 100 + 3 * 4096 + 9), 1);
	assert_int_equal(sq_dirty_bitmap_drain_into(b, collect, &d, NULL), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.idx[0], 3);
	sq_dirty_bitmap_destroy(b);
}

/* Random operations against a model: one bool per page, at @ps bytes a page. */
static void property_at(uint64_t ps, uint64_t *seed)
{
	for (int trial = 0; trial < 12; trial++) {
		uint64_t pages = 1 + sq_test_rand(seed) % 2000;
		/* half of the ranges end in a partial page */
		uint64_t size = pages * ps - (sq_test_rand(seed) % 2 ? sq_test_rand(seed) % ps : 0);
		uint64_t start = BASE + (sq_test_rand(seed) % 3) * 123;
		struct sq_dirty_bitmap *b;
		bool *model = calloc(pages, 1);

		assert_int_equal(sq_dirty_bitmap_create(start, size, ps, &b), 0);
		assert_int_equal(sq_dirty_bitmap_page_count(b), pages);
		for (int op = 0; op < 3000; op++) {
			uint64_t r = sq_test_rand(seed);
			/* addresses a little outside the range too */
			uint64_t addr = start - ps + sq_test_rand(seed) % (size + 2 * ps);
			int inside = addr >= start && addr - start < size;
			uint64_t pg = inside ? (addr - start) / ps : 0;
			uint64_t i;
			switch (r % 8) {
			case 0: case 1: case 2:
				assert_int_equal(sq_dirty_bitmap_set_dirty(b, addr),
						 inside && !model[pg]);
				if (inside)
					model[pg] = true;
				break;
			case 3: case 4: case 5:
				assert_int_equal(sq_dirty_bitmap_is_dirty(b, addr),
						 inside && model[pg]);
				break;
			case 6:
				assert_int_equal(sq_dirty_bitmap_page_index_of(b, addr, &i), inside);
				if (inside)
					assert_int_equal(i, pg);
				break;
			default:
				if (r % 64 == 7) {
					struct drained *d = calloc(1, sizeof(*d));
					d->ordered = 1;
					uint64_t want = 0, count;
					assert_int_equal(sq_dirty_bitmap_drain_into(b, collect, d,
										    &count), 0);
					assert_true(d->ordered);
					for (uint64_t p = 0; p < pages; p++)
						if (model[p]) {
							assert_true(want < d->n);
							assert_int_equal(d->idx[want], p);
							want++;
						}
					assert_int_equal(d->n, want);
					assert_int_equal(count, want);
					memset(model, 0, pages);
					free(d);
				}
			}
		}
		free(model);
		sq_dirty_bitmap_destroy(b);
	}
}

static void property_against_model(void **state)
{
	static const uint64_t sizes[] = { 1024, 4096, 16384, 65536, 2u << 20 };
	uint64_t seed = sq_test_seed("bitmap property");

	(void)state;
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		property_at(sizes[s], &seed);
}

struct th {
	struct sq_dirty_bitmap *b;
	unsigned id;
	unsigned transitions;
};

static void *setter(void *arg)
{
	struct th *t = arg;

	for (unsigned k = 0; k < 1000; k++)
		t->transitions += (unsigned)sq_dirty_bitmap_set_dirty_by_index(t->b, t->id * 1000 + k);
	return NULL;
}

/* The original's 8 threads x 1000 sets at 16 KiB pages drain to exactly 8000 indices. */
static void eight_threads(void **state)
{
	struct sq_dirty_bitmap *b;
	pthread_t tid[8];
	struct th t[8];
	struct drained *d = calloc(1, sizeof(*d));
	uint64_t count;

	(void)state;
	assert_int_equal(sq_dirty_bitmap_create(BASE, 8000ull * 16384, 16384, &b), 0);
	for (unsigned i = 0; i < 8; i++) {
		t[i] = (struct th){ .b = b, .id = i };
		assert_int_equal(pthread_create(&tid[i], NULL, setter, &t[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(t[i].transitions, 1000);
	}
	d->ordered = 1;
	assert_int_equal(sq_dirty_bitmap_drain_into(b, collect, d, &count), 0);
	assert_int_equal(count, 8000);
	assert_true(d->ordered);
	free(d);
	sq_dirty_bitmap_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(originals_unit_cases),
		cmocka_unit_test(constructor_errors),
		cmocka_unit_test(originals_geometry),
		cmocka_unit_test(tracker_runs_cover_pages),
		cmocka_unit_test(partial_trailing_page),
		cmocka_unit_test(property_against_model),
		cmocka_unit_test(eight_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
