/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regions with a page size (sq_tracker_add_region_opts):
 * - bad geometry gets the original's DirtyBitmap constructor texts and
 *   specific codes; page_size 0 is the host's; sq_tracker_add_region is
 *   4 KiB;
 * - a 16 KiB region's blocks are 128 pages: counts, coarse runs clipped to
 *   a partial last page, heat, mark handles refused;
 * - kernel write tracking of a 16 KiB region (each mode the kernel has; a
 *   mode it lacks is skipped with a message): a written 4 KiB host page
 *   marks the 16 KiB page covering it, a harvest re-protects all of that
 *   page (a write to another 4 KiB piece of it is seen again), and the
 *   synchronous write-protect hook is told region pages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <squib/squib.h>
#include "helpers.h"

#define BASE ((uintptr_t)1 << 43)
#define K16 16384u

static int add(struct sq_tracker *t, uintptr_t base, size_t len, unsigned flags, uint32_t ps,
	       uint32_t *id)
{
	struct sq_region_opts o = SQ_INIT(struct sq_region_opts);

	o.flags = flags;
	o.page_size = ps;
	return sq_tracker_add_region_opts(t, (void *)base, len, &o, id);
}

static void expect_err(int rc, int code, const char *text)
{
	assert_int_equal(rc, code);
	if (text && !strstr(sq_last_error(), text))
		fail_msg("message \"%s\" lacks \"%s\"", sq_last_error(), text);
}

static void bad_geometry(void **st)
{
	struct sq_tracker *t;
	uint32_t id;

	(void)st;
	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	expect_err(add(t, BASE, 1 << 20, 0, 3000, &id), SQ_E_PAGE_SIZE,
		   "page_size must be a power of two: 3000");
	expect_err(add(t, BASE, 1 << 20, 0, 2048, &id), SQ_E_PAGE_SIZE, "4 KiB to 64 KiB");
	expect_err(add(t, BASE, 1 << 20, 0, 131072, &id), SQ_E_PAGE_SIZE, "4 KiB to 64 KiB");
	expect_err(add(t, BASE, 0, 0, K16, &id), SQ_E_INVAL,
		   "dirty bitmap requires a non-empty RAM range");
	expect_err(add(t, UINTPTR_MAX - 4095, 8192, 0, K16, &id), SQ_E_INVAL,
		   "RAM range overflows: start=");
	expect_err(add(t, BASE + 100, K16, 0, K16, &id), SQ_E_ALIGN, "not 4 KiB aligned");
	expect_err(add(t, BASE, K16 + 100, SQ_REGION_KERNEL_WP, K16, &id), SQ_E_ALIGN,
		   "not 4 KiB aligned");
	expect_err(add(t, BASE, K16, 0x80, K16, &id), SQ_E_INVAL, "unknown flags");
	struct sq_region_opts unsized = { .page_size = K16 };
	expect_err(sq_tracker_add_region_opts(t, (void *)BASE, K16, &unsized, &id), SQ_E_INVAL,
		   "sq_region_opts");
	/* the old call keeps its 4 KiB pages and whole-page lengths */
	expect_err(sq_tracker_add_region(t, (void *)BASE, 4096 + 100, 0, &id), SQ_E_ALIGN, NULL);
	/* nothing was added by the failures */
	assert_int_equal(sq_tracker_mark(t, (void *)BASE), SQ_E_RANGE);

	/* page_size 0 (or NULL options): the host's page */
	struct sq_dirty_set *s;
	long host = sysconf(_SC_PAGESIZE);
	assert_int_equal(sq_tracker_add_region_opts(t, (void *)BASE, 1 << 20, NULL, &id), 0);
	assert_int_equal(sq_tracker_mark(t, (void *)BASE), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_page_size(s), host);
	sq_dirty_set_destroy(s);
	assert_int_equal(sq_tracker_remove_region(t, id), 0);
	assert_int_equal(sq_tracker_add_region(t, (void *)BASE, 1 << 20, 0, &id), 0);
	assert_int_equal(sq_tracker_mark(t, (void *)(BASE + 5000)), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_page_size(s), 4096);
	assert_int_equal(sq_dirty_set_runs(s)[0].first_page, 1);
	sq_dirty_set_destroy(s);
	sq_tracker_destroy(t);
}

/* 16 KiB pages: 128-page blocks, a partial last page, coarse clipping. */
static void blocks_of_128(void **st)
{
	struct sq_tracker *t;
	struct sq_dirty_set *s;
	struct sq_mark_handle h;
	uint32_t id;
	size_t len = 2 * SQ_BLOCK_SIZE + 3 * K16 + 100; /* 260 pages, the last partial */

	(void)st;
	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	assert_int_equal(add(t, BASE, len, 0, K16, &id), 0);
	struct sq_dirty_stats ds = SQ_INIT(struct sq_dirty_stats);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_int_equal(ds.npages, 260);
	assert_int_equal(ds.nblocks, 3);
	expect_err(sq_tracker_handle_get(t, id, &h), SQ_E_PAGE_SIZE, "16384-byte pages");
	assert_null(h.pin);

	/* one byte of the partial page marks it; one past the end is outside */
	assert_int_equal(sq_tracker_mark(t, (void *)(BASE + len - 1)), 0);
	assert_int_equal(sq_tracker_mark(t, (void *)(BASE + len)), SQ_E_RANGE);
	/* a range over a block edge: pages 127 and 128 */
	assert_int_equal(sq_tracker_mark_range(t, (void *)(BASE + 127 * K16 + 10), K16), 0);
	/* a dirty-ring batch and a dirty log, in 16 KiB pages */
	uint64_t batch[3] = { 3, 4, 200 };
	assert_int_equal(sq_tracker_mark_pages(t, id, batch, 3), 0);
	uint64_t log[5] = { 0 };
	log[1] = 1ull << 6; /* page 70 */
	assert_int_equal(sq_tracker_import_bitmap(t, id, log, 5), 0);
	log[4] = 1ull << 5; /* page 261: past the last page (259) */
	expect_err(sq_tracker_import_bitmap(t, id, log, 5), SQ_E_INVAL, NULL);
	assert_int_equal(sq_tracker_peek(t, id, &s), 0);
	const struct sq_run want[] = { { 3, 2 }, { 70, 1 }, { 127, 2 }, { 200, 1 }, { 259, 1 } };
	assert_int_equal(sq_dirty_set_nruns(s), 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(sq_dirty_set_runs(s)[i].first_page, want[i].first_page);
		assert_int_equal(sq_dirty_set_runs(s)[i].npages, want[i].npages);
	}
	assert_int_equal(sq_dirty_set_bytes(s), 6 * (uint64_t)K16 + 100);
	sq_dirty_set_destroy(s);

	/* the last block, coarse: its run is clipped to the region's pages */
	assert_int_equal(sq_tracker_set_granule(t, id, 2, SQ_GRANULE_COARSE), 0);
	assert_int_equal(sq_tracker_set_granule(t, id, 0, SQ_GRANULE_COARSE), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_nruns(s), 3);
	assert_int_equal(sq_dirty_set_runs(s)[0].first_page, 0);
	assert_int_equal(sq_dirty_set_runs(s)[0].npages, 129); /* block 0 and page 128 */
	assert_int_equal(sq_dirty_set_runs(s)[1].first_page, 200);
	assert_int_equal(sq_dirty_set_runs(s)[1].npages, 1);
	assert_int_equal(sq_dirty_set_runs(s)[2].first_page, 256); /* block 2: 4 pages */
	assert_int_equal(sq_dirty_set_runs(s)[2].npages, 4);
	sq_dirty_set_destroy(s);
	float heat[3];
	assert_int_equal(sq_tracker_heat(t, id, 0, 3, heat), 0);
	assert_true(heat[0] > 0 && heat[0] <= 128);
	expect_err(sq_tracker_heat(t, id, 0, 4, heat), SQ_E_RANGE, NULL);
	sq_tracker_destroy(t);
}

/* ------------------------------------------------------------ kernel */

#define KPAGES (2u * 128u + 10u) /* 16 KiB pages: two blocks and a partial one */
#define KLEN ((size_t)KPAGES * K16)

/* Written by the tracker's fault handler thread; the mutex orders it for
 * the test thread (TSan does not see the kernel's wake-up as ordering). */
struct hook_log {
	pthread_mutex_t m;
	uint64_t first[64], n[64];
	unsigned count;
};

static void hook(void *ctx, uint64_t first_page, uint64_t npages)
{
	struct hook_log *l = ctx;

	pthread_mutex_lock(&l->m);
	if (l->count < 64) {
		l->first[l->count] = first_page;
		l->n[l->count] = npages;
	}
	l->count++;
	pthread_mutex_unlock(&l->m);
}

static void expect_pages(struct sq_tracker *t, uint32_t id, const unsigned char *want)
{
	struct sq_dirty_set *s;
	unsigned char got[KPAGES] = { 0 };

	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_page_size(s), K16);
	for (size_t i = 0; i < sq_dirty_set_nruns(s); i++) {
		const struct sq_run *r = &sq_dirty_set_runs(s)[i];
		assert_true(r->first_page + r->npages <= KPAGES);
		for (uint64_t p = 0; p < r->npages; p++)
			got[r->first_page + p] = 1;
	}
	sq_dirty_set_destroy(s);
	for (unsigned p = 0; p < KPAGES; p++)
		if (got[p] != want[p])
			fail_msg("16 KiB page %u: harvested %d, written %d", p, got[p], want[p]);
}

static void kernel_16k(enum sq_kernel_mode mode)
{
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = SQ_GRANULE_FIXED_4K,
				     .kernel = mode };
	struct sq_tracker *t;
	struct hook_log log = { .m = PTHREAD_MUTEX_INITIALIZER };
	unsigned char want[KPAGES] = { 0 };
	uint64_t rng = sq_test_seed("engine/pages kernel");
	uint32_t id;
	unsigned char *m = mmap(NULL, KLEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	assert_true(m != MAP_FAILED);
	madvise(m, KLEN, MADV_NOHUGEPAGE);
	memset(m, 0x11, KLEN); /* populated, written before tracking: not reported */
	assert_int_equal(sq_tracker_create(&o, &t), 0);
	assert_int_equal(add(t, (uintptr_t)m, KLEN, SQ_REGION_KERNEL_WP, K16, &id), 0);
	if (mode == SQ_KERNEL_SYNC)
		assert_int_equal(sq_tracker_set_wp_hook(t, id, hook, &log), 0);
	expect_pages(t, id, want);

	/* random 4 KiB host pages: each marks its 16 KiB page */
	for (int i = 0; i < 30; i++) {
		uint64_t off = sq_test_rand(&rng) % KLEN;
		m[off] ^= 0x5a;
		want[off / K16] = 1;
	}
	m[KLEN - 1] = 3;
	want[KPAGES - 1] = 1;
	expect_pages(t, id, want);
	if (mode == SQ_KERNEL_SYNC) {
		pthread_mutex_lock(&log.m);
		assert_true(log.count > 0);
		for (unsigned i = 0; i < log.count && i < 64; i++) {
			assert_int_equal(log.n[i], 1); /* one 16 KiB page per fault */
			assert_true(want[log.first[i]]);
		}
		pthread_mutex_unlock(&log.m);
	}
	memset(want, 0, sizeof(want));
	expect_pages(t, id, want); /* second harvest: empty */

	/* the harvest re-protected all of page 5: each 4 KiB piece faults */
	for (unsigned piece = 0; piece < 4; piece++) {
		m[5 * K16 + piece * 4096 + 7] ^= 1;
		want[5] = 1;
		expect_pages(t, id, want);
	}
	struct sq_dirty_stats ds = SQ_INIT(struct sq_dirty_stats);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_int_equal(ds.kernel_mode, (unsigned)mode);
	sq_tracker_destroy(t);
	munmap(m, KLEN);
}

static void kernel_async_16k(void **st)
{
	(void)st;
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_ASYNC))) {
		fprintf(stderr, "async uffd-wp (PAGEMAP_SCAN) not available here: case skipped\n");
		skip();
	}
	kernel_16k(SQ_KERNEL_ASYNC);
}

static void kernel_sync_16k(void **st)
{
	(void)st;
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_SYNC))) {
		fprintf(stderr, "sync uffd-wp not available here: case skipped\n");
		skip();
	}
	kernel_16k(SQ_KERNEL_SYNC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_geometry),
		cmocka_unit_test(blocks_of_128),
		cmocka_unit_test(kernel_async_16k),
		cmocka_unit_test(kernel_sync_16k),
	};
	return cmocka_run_group_tests_name("engine/pages", tests, NULL, NULL);
}
