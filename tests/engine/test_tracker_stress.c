/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Concurrency stress: no lost marks, nothing extra.
 *
 * Marking threads mark random pages (single marks through the tracker and
 * through a mark handle, ranges, bitmap imports and page batches; some
 * blocks shared between threads, some private), recording what they
 * marked. A harvesting thread harvests in a loop (and puts some sets back,
 * harvesting them again later) and ORs every set it keeps into a union. A
 * third thread adds and removes a second region and marks into it (through
 * a handle it holds across a harvest) while all this runs, and a fourth
 * pins that region with handles and marks through them, racing with its
 * removal (which must wait for the handles). After the markers stop, one last harvest: the
 * union must equal the set of marked pages exactly (fixed 4 KiB granule),
 * or contain it (adaptive granule, where coarse blocks add whole blocks).
 * Marks are sparse (about half the pages end up marked), so a lost mark is
 * rarely hidden by a later mark of the same page. Bounded to about a second
 * per case; also run under ThreadSanitizer. The main region is run with
 * 4 KiB pages and with 16 KiB pages (128-page blocks; mark handles are for
 * 4 KiB regions only, so its markers use the tracker calls there).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <squib/squib.h>
#include "helpers.h"
#include "core/clock.h"

#define NMARKERS 3
#define NPAGES (256u * 512u) /* 256 blocks */
#define MARKS_PER_THREAD 40000
#define BASE ((uintptr_t)1 << 42)
#define BASE2 ((uintptr_t)3 << 42)

struct ctx {
	uint64_t ps;  /* the main region's page size */
	uint64_t ppb; /* its pages per 2 MiB block */
	struct sq_tracker *t;
	uint32_t id;
	uint64_t seed;
	atomic_int stop;
	atomic_int markers_left;
	atomic_uint id2; /* the hot-plugged region, 0 when none */
	atomic_ulong pinned_marks;
	double seconds;
};

struct marker {
	struct ctx *c;
	int idx;
	unsigned char *marked;
	uint64_t count;
};

static void *marker_main(void *arg)
{
	struct marker *m = arg;
	struct ctx *c = m->c;
	uint64_t rng = c->seed + (uint64_t)m->idx * 7919;
	uint64_t *bm = calloc(NPAGES / 64, 8);
	double start = sq_clock_s(), end = start + c->seconds;
	struct sq_mark_handle h;
	bool hd = c->ps == SQ_PAGE_SIZE; /* handles: 4 KiB regions only */

	assert_int_equal(sq_tracker_handle_get(c->t, c->id, &h), hd ? 0 : SQ_E_PAGE_SIZE);

	while (sq_clock_s() < end && m->count < MARKS_PER_THREAD) {
		/* Spread the marks over the whole run, so that many harvests,
		 * put-backs and region changes interleave with them. */
		while (sq_clock_s() < start + c->seconds * (double)m->count / MARKS_PER_THREAD)
			sched_yield();
		for (int i = 0; i < 64; i++) {
			uint64_t r = sq_test_rand(&rng);
			/* Half the marks in this thread's private blocks, half anywhere. */
			uint64_t p = (r & 1) ? (uint64_t)(m->idx * 16 + (r >> 8) % 16) * c->ppb +
						       (r >> 20) % c->ppb
					     : (r >> 8) % NPAGES;
			unsigned kind = (unsigned)((r >> 40) % 64);
			if (kind == 0) {
				uint64_t n = 1 + (r >> 50) % 40;
				if (p + n > NPAGES)
					n = NPAGES - p;
				assert_int_equal(sq_tracker_mark_range(c->t,
					(void *)(BASE + p * c->ps + 17), n * c->ps - 17), 0);
				for (uint64_t q = p; q < p + n; q++)
					m->marked[q] = 1;
			} else if (kind == 1) {
				memset(bm, 0, NPAGES / 8);
				for (int k = 0; k < 8; k++) {
					uint64_t q = sq_test_rand(&rng) % NPAGES;
					bm[q / 64] |= 1ull << (q % 64);
					m->marked[q] = 1;
				}
				assert_int_equal(sq_tracker_import_bitmap(c->t, c->id, bm, NPAGES / 64), 0);
			} else if (kind == 2) { /* a dirty-ring batch */
				for (int k = 0; k < 16; k++) {
					bm[k] = k < 8 ? (p + (uint64_t)k) % NPAGES
						      : sq_test_rand(&rng) % NPAGES;
					m->marked[bm[k]] = 1;
				}
				assert_int_equal(hd && (r >> 46) & 1 ? sq_handle_mark_pages(&h, bm, 16)
							       : sq_tracker_mark_pages(c->t, c->id, bm, 16),
						 0);
			} else {
				void *a = (void *)(BASE + p * c->ps + (r >> 52) % c->ps);
				assert_int_equal(hd && (r >> 46) & 1 ? sq_handle_mark(&h, a)
							       : sq_tracker_mark(c->t, a), 0);
				m->marked[p] = 1;
			}
			m->count++;
		}
	}
	free(bm);
	sq_tracker_handle_put(&h);
	atomic_fetch_sub_explicit(&c->markers_left, 1, memory_order_release);
	return NULL;
}

static void *hotplug_main(void *arg)
{
	struct ctx *c = arg;
	uint64_t rng = c->seed ^ 0xabcdef;

	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		uint32_t id;
		struct sq_mark_handle h;
		assert_int_equal(sq_tracker_add_region(c->t, (void *)BASE2, 4 * SQ_BLOCK_SIZE, 0, &id), 0);
		atomic_store_explicit(&c->id2, id, memory_order_relaxed);
		assert_int_equal(sq_tracker_handle_get(c->t, id, &h), 0);
		for (int i = 0; i < 100; i++) {
			void *a = (void *)(BASE2 + (sq_test_rand(&rng) % (4 * SQ_BLOCK_SIZE)));
			assert_int_equal(i & 1 ? sq_handle_mark(&h, a) : sq_tracker_mark(c->t, a), 0);
		}
		struct sq_dirty_set *s;
		assert_int_equal(sq_tracker_harvest(c->t, id, &s), 0); /* holding a handle */
		assert_true(sq_dirty_set_pages(s) >= 1);
		sq_dirty_set_destroy(s);
		sq_tracker_handle_put(&h);
		assert_int_equal(sq_tracker_remove_region(c->t, id), 0);
		assert_int_equal(sq_tracker_mark(c->t, (void *)BASE2), SQ_E_RANGE);
	}
	return NULL;
}

/* Pins the hot-plugged region whenever it can and marks through the pin,
 * racing with its removal (ASan / TSan see a use after free if removal
 * does not wait). */
static void *pinner_main(void *arg)
{
	struct ctx *c = arg;
	uint64_t rng = c->seed ^ 0x5eed;

	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		struct sq_mark_handle h;
		uint32_t id = atomic_load_explicit(&c->id2, memory_order_relaxed);
		int rc = sq_tracker_handle_get(c->t, id, &h);
		if (rc) {
			assert_int_equal(rc, SQ_E_NOT_FOUND);
			sched_yield();
			continue;
		}
		for (int i = 0; i < 64; i++)
			assert_int_equal(sq_handle_mark_page(&h, sq_test_rand(&rng) % h.npages), 0);
		atomic_fetch_add_explicit(&c->pinned_marks, 64, memory_order_relaxed);
		if (sq_test_rand(&rng) & 1)
			sched_yield(); /* hold the pin across a removal attempt */
		sq_tracker_handle_put(&h);
	}
	return NULL;
}

static void add_set(unsigned char *u, const struct sq_dirty_set *s)
{
	for (size_t i = 0; i < sq_dirty_set_nruns(s); i++) {
		const struct sq_run *r = &sq_dirty_set_runs(s)[i];
		for (uint64_t p = 0; p < r->npages; p++)
			u[r->first_page + p] = 1;
	}
}

static void run_stress(enum sq_granule_mode mode, uint64_t ps)
{
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = mode, .cost = { .min_epochs = 1 } };
	struct sq_region_opts ro = { .size = sizeof(ro), .page_size = (uint32_t)ps };
	struct ctx c = { .seconds = 0.7, .ps = ps, .ppb = SQ_BLOCK_SIZE / ps };
	struct marker m[NMARKERS];
	pthread_t th[NMARKERS], hp, pin;
	unsigned char *uni = calloc(NPAGES, 1);
	uint64_t harvests = 0, putbacks = 0;

	c.seed = sq_test_seed("engine/stress");
	assert_int_equal(sq_tracker_create(&o, &c.t), 0);
	assert_int_equal(sq_tracker_add_region_opts(c.t, (void *)BASE, (size_t)(NPAGES * ps), &ro,
						    &c.id), 0);
	atomic_init(&c.markers_left, NMARKERS);
	for (int i = 0; i < NMARKERS; i++) {
		m[i] = (struct marker){ .c = &c, .idx = i, .marked = calloc(NPAGES, 1) };
		assert_int_equal(pthread_create(&th[i], NULL, marker_main, &m[i]), 0);
	}
	assert_int_equal(pthread_create(&hp, NULL, hotplug_main, &c), 0);
	assert_int_equal(pthread_create(&pin, NULL, pinner_main, &c), 0);

	struct sq_dirty_set *held = NULL;
	while (atomic_load_explicit(&c.markers_left, memory_order_acquire) > 0) {
		struct sq_dirty_set *s;
		assert_int_equal(sq_tracker_harvest(c.t, c.id, &s), 0);
		harvests++;
		if (held) { /* the previous "failed write" goes back now */
			assert_int_equal(sq_tracker_put_back(c.t, held), 0);
			sq_dirty_set_destroy(held);
			held = NULL;
			putbacks++;
		}
		if (harvests % 5 == 0) {
			held = s; /* its consumer "failed" */
		} else {
			add_set(uni, s);
			sq_dirty_set_destroy(s);
		}
	}
	for (int i = 0; i < NMARKERS; i++)
		pthread_join(th[i], NULL);
	atomic_store_explicit(&c.stop, 1, memory_order_release);
	pthread_join(hp, NULL);
	pthread_join(pin, NULL);
	if (held) {
		assert_int_equal(sq_tracker_put_back(c.t, held), 0);
		sq_dirty_set_destroy(held);
	}
	struct sq_dirty_set *s;
	assert_int_equal(sq_tracker_harvest(c.t, c.id, &s), 0);
	add_set(uni, s);
	sq_dirty_set_destroy(s);

	uint64_t lost = 0, extra = 0, total = 0, nmarks = 0;
	for (uint32_t p = 0; p < NPAGES; p++) {
		unsigned char want = 0;
		for (int i = 0; i < NMARKERS; i++)
			want |= m[i].marked[p];
		total += want;
		lost += want && !uni[p];
		extra += !want && uni[p];
	}
	for (int i = 0; i < NMARKERS; i++) {
		nmarks += m[i].count;
		free(m[i].marked);
	}
	fprintf(stderr, "mode %d, %llu-byte pages: %llu marks, %llu pages, %llu harvests, %llu put-backs, "
		"%llu lost, %llu extra, %llu marks through pins of a hot-plugged region\n",
		(int)mode, (unsigned long long)ps, (unsigned long long)nmarks,
		(unsigned long long)total, (unsigned long long)harvests,
		(unsigned long long)putbacks, (unsigned long long)lost, (unsigned long long)extra,
		(unsigned long long)atomic_load(&c.pinned_marks));
	assert_int_equal(lost, 0);
	if (mode == SQ_GRANULE_FIXED_4K)
		assert_int_equal(extra, 0);
	assert_true(harvests > 1);
	free(uni);
	sq_tracker_destroy(c.t);
}

static void stress_fixed_4k(void **st)
{
	(void)st;
	run_stress(SQ_GRANULE_FIXED_4K, 4096);
}

static void stress_adaptive(void **st)
{
	(void)st;
	run_stress(SQ_GRANULE_ADAPTIVE, 4096);
}

static void stress_fixed_16k(void **st)
{
	(void)st;
	run_stress(SQ_GRANULE_FIXED_4K, 16384);
}

static void stress_adaptive_16k(void **st)
{
	(void)st;
	run_stress(SQ_GRANULE_ADAPTIVE, 16384);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stress_fixed_4k),
		cmocka_unit_test(stress_adaptive),
		cmocka_unit_test(stress_fixed_16k),
		cmocka_unit_test(stress_adaptive_16k),
	};
	return cmocka_run_group_tests_name("engine/stress", tests, NULL, NULL);
}
