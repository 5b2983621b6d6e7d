/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel write tracking (SQ_REGION_KERNEL_WP), both kernel modes (async:
 * uffd-wp WP_ASYNC + PAGEMAP_SCAN; sync: uffd-wp faults served by a
 * thread), both granules, anonymous private memory and memfd shared memory:
 * - a region starts clean, even where pages were written before;
 * - a known pattern of writes is harvested exactly (fine granule) or as
 *   its blocks (coarse); a second harvest is empty;
 * - writes from another thread during harvests are not lost;
 * - a put-back on a kernel-tracked region keeps its pages.
 * A mode the kernel lacks is skipped (exit 77 when no mode exists).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <squib/squib.h>
#include "helpers.h"

#define NPAGES (4u * 512u + 100u) /* 4 blocks and a partial one */
#define LEN ((size_t)NPAGES * SQ_PAGE_SIZE)

static uint64_t seed;

struct mem {
	unsigned char *p;
	int fd;
};

static struct mem map_mem(bool shared)
{
	struct mem m = { .fd = -1 };

	if (shared) {
		m.fd = memfd_create("sq-kernel-test", MFD_CLOEXEC);
		assert_true(m.fd >= 0);
		assert_int_equal(ftruncate(m.fd, (off_t)LEN), 0);
		m.p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
	} else {
		m.p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	assert_true(m.p != MAP_FAILED);
	madvise(m.p, LEN, MADV_NOHUGEPAGE);
	return m;
}

static void unmap_mem(struct mem *m)
{
	munmap(m->p, LEN);
	if (m->fd >= 0)
		close(m->fd);
}

/* Set of pages of a dirty set, as a byte per page. */
static void set_pages(const struct sq_dirty_set *s, unsigned char *out)
{
	for (size_t i = 0; i < sq_dirty_set_nruns(s); i++) {
		const struct sq_run *r = &sq_dirty_set_runs(s)[i];
		assert_true(r->first_page + r->npages <= NPAGES);
		for (uint64_t p = 0; p < r->npages; p++)
			out[r->first_page + p] = 1;
	}
}

static void expect_exact(const struct sq_dirty_set *s, const unsigned char *written, bool coarse)
{
	unsigned char got[NPAGES] = { 0 };
	set_pages(s, got);
	for (uint32_t p = 0; p < NPAGES; p++) {
		unsigned char want = written[p];
		if (coarse) {
			want = 0;
			for (uint32_t q = p / 512 * 512; q < p / 512 * 512 + 512 && q < NPAGES; q++)
				want |= written[q];
		}
		if (want != got[p])
			fail_msg("page %u: harvested %d, written %d (coarse %d)", p, got[p], want, coarse);
	}
}

struct writer {
	unsigned char *mem;
	unsigned char written[NPAGES];
	atomic_int stop;
	uint64_t rng;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int n = 0;

	while (!atomic_load_explicit(&w->stop, memory_order_acquire) || n < 200) {
		uint32_t p = (uint32_t)(sq_test_rand(&w->rng) % NPAGES);
		w->mem[(size_t)p * SQ_PAGE_SIZE + 8] = (unsigned char)(n + 1);
		w->written[p] = 1;
		if (++n >= 3000)
			break;
	}
	return NULL;
}

static void run_mode(enum sq_kernel_mode kmode, bool shared, enum sq_granule_mode g)
{
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = g, .kernel = kmode };
	struct sq_tracker *t;
	struct sq_dirty_set *s;
	struct mem m = map_mem(shared);
	bool coarse = g == SQ_GRANULE_FIXED_2M;
	uint64_t rng = seed;
	uint32_t id;

	/* Written before tracking starts: must not be reported. */
	memset(m.p, 0x11, 64 * SQ_PAGE_SIZE);
	assert_int_equal(sq_tracker_create(&o, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, m.p, LEN, SQ_REGION_KERNEL_WP, &id), 0);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_pages(s), 0);
	sq_dirty_set_destroy(s);

	/* A known pattern: a few single pages, a run across a block edge. */
	unsigned char written[NPAGES] = { 0 };
	for (int i = 0; i < 40; i++) {
		uint32_t p = (uint32_t)(sq_test_rand(&rng) % NPAGES);
		m.p[(size_t)p * SQ_PAGE_SIZE + (sq_test_rand(&rng) % SQ_PAGE_SIZE)] ^= 0x5a;
		written[p] = 1;
	}
	memset(m.p + 508 * (size_t)SQ_PAGE_SIZE, 0x22, 8 * SQ_PAGE_SIZE); /* pages 508..515 */
	for (uint32_t p = 508; p < 516; p++)
		written[p] = 1;
	m.p[LEN - 1] = 1; /* the last page */
	written[NPAGES - 1] = 1;

	uint64_t cnt;
	assert_int_equal(sq_tracker_count(t, id, &cnt), 0); /* peek: no clear */
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_pages(s), cnt);
	expect_exact(s, written, coarse);
	/* The consumer failed: the pages go back and come out again. */
	assert_int_equal(sq_tracker_put_back(t, s), 0);
	sq_dirty_set_destroy(s);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	expect_exact(s, written, coarse);
	sq_dirty_set_destroy(s);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	assert_int_equal(sq_dirty_set_pages(s), 0); /* second harvest: empty */
	sq_dirty_set_destroy(s);

	/* Writes from another thread while harvests run. */
	struct writer *w = calloc(1, sizeof(*w));
	w->mem = m.p;
	w->rng = seed ^ 0x1234;
	unsigned char uni[NPAGES] = { 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer_main, w), 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
		set_pages(s, uni);
		sq_dirty_set_destroy(s);
	}
	atomic_store_explicit(&w->stop, 1, memory_order_release);
	pthread_join(th, NULL);
	assert_int_equal(sq_tracker_harvest(t, id, &s), 0);
	set_pages(s, uni);
	sq_dirty_set_destroy(s);
	for (uint32_t p = 0; p < NPAGES; p++) {
		if (w->written[p] && !uni[p])
			fail_msg("page %u written during harvests was lost", p);
		if (!coarse && uni[p] && !w->written[p])
			fail_msg("page %u reported but not written", p);
	}
	free(w);

	struct sq_dirty_stats ds = SQ_INIT(struct sq_dirty_stats);
	assert_int_equal(sq_tracker_stats(t, id, &ds), 0);
	assert_int_equal(ds.kernel_mode, (unsigned)kmode);
	assert_true(ds.kernel_faults > 0);
	assert_int_equal(sq_tracker_remove_region(t, id), 0);
	/* Untracked again: writes work and nothing is recorded. */
	m.p[0] = 7;
	sq_tracker_destroy(t);
	unmap_mem(&m);
}

static bool have(enum sq_kernel_mode k)
{
	if (sq_tracker_kernel_support() & (1u << k))
		return true;
	fprintf(stderr, "kernel mode %d not supported here: case skipped\n", (int)k);
	return false;
}

#define CASE(name, k, shared, g)          \
	static void name(void **st)        \
	{                                  \
		(void)st;                  \
		if (have(k))               \
			run_mode(k, shared, g); \
		else                       \
			skip();            \
	}

CASE(async_anon_fine, SQ_KERNEL_ASYNC, false, SQ_GRANULE_FIXED_4K)
CASE(async_anon_coarse, SQ_KERNEL_ASYNC, false, SQ_GRANULE_FIXED_2M)
CASE(async_memfd_fine, SQ_KERNEL_ASYNC, true, SQ_GRANULE_FIXED_4K)
CASE(async_anon_adaptive, SQ_KERNEL_ASYNC, false, SQ_GRANULE_ADAPTIVE)
CASE(sync_anon_fine, SQ_KERNEL_SYNC, false, SQ_GRANULE_FIXED_4K)
CASE(sync_anon_coarse, SQ_KERNEL_SYNC, false, SQ_GRANULE_FIXED_2M)
CASE(sync_memfd_fine, SQ_KERNEL_SYNC, true, SQ_GRANULE_FIXED_4K)
CASE(sync_memfd_coarse, SQ_KERNEL_SYNC, true, SQ_GRANULE_FIXED_2M)

/* A mode that is not there gives SQ_E_UNSUPPORTED, and nothing changes. */
static void unsupported_is_clear(void **st)
{
	(void)st;
	struct sq_tracker *t;
	uint32_t id;
	void *p = mmap(NULL, 2 * SQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	assert_int_equal(sq_tracker_create(NULL, &t), 0);
	/* Kernel tracking of memory that is not mapped: refused by the kernel. */
	munmap(p, 2 * SQ_PAGE_SIZE);
	int rc = sq_tracker_add_region(t, p, 2 * SQ_PAGE_SIZE, SQ_REGION_KERNEL_WP, &id);
	assert_true(rc == SQ_E_UNSUPPORTED || rc == SQ_E_IO);
	assert_int_equal(sq_tracker_mark(t, p), SQ_E_RANGE);
	sq_tracker_destroy(t);
}

int main(void)
{
	if (!sq_tracker_kernel_support())
		SQ_TEST_SKIP("userfaultfd write-protect is not available on this kernel");
	seed = sq_test_seed("engine/kernel");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(async_anon_fine),   cmocka_unit_test(async_anon_coarse),
		cmocka_unit_test(async_memfd_fine),  cmocka_unit_test(async_anon_adaptive),
		cmocka_unit_test(sync_anon_fine),    cmocka_unit_test(sync_anon_coarse),
		cmocka_unit_test(sync_memfd_fine),   cmocka_unit_test(sync_memfd_coarse),
		cmocka_unit_test(unsupported_is_clear),
	};
	return cmocka_run_group_tests_name("engine/kernel", tests, NULL, NULL);
}
