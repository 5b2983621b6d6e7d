/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Property test: the tracker against a naive reference model (model.h).
 * Random marks (through the tracker and through mark handles), ranges (some
 * crossing a region end), imports, batches of page offsets, harvests,
 * peeks, counts, put-backs, region add/remove and forced granule changes,
 * with the adaptive controller running; every harvest and peek must return
 * exactly the model's runs. Regions of 4, 16 and 64 KiB pages (2 MiB
 * blocks of 512, 128 and 32 pages), often with a partial last page. Mark
 * handles are used for 4 KiB regions and refused (SQ_E_PAGE_SIZE) for the
 * others. Thousands of cases; the seed is printed (SQ_TEST_SEED=...
 * reproduces a run).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/squib.h>
#include "helpers.h"
#include "model.h"

#define NSLOT 4
#define SLOT_SPAN ((uintptr_t)64 << 21) /* 128 MiB of address space per slot */
#define BASE ((uintptr_t)1 << 41)

static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
	return n ? sq_test_rand(&rng) % n : 0;
}

struct slot {
	bool live;
	struct model_region m;
	struct sq_dirty_set *last; /* the last harvest, for put-back */
	struct sq_mark_handle h;   /* held while the region lives (4 KiB pages only) */
	bool handle;
};

/* A batch of page offsets, sometimes with one past the end (SQ_E_RANGE,
 * nothing marked); through the tracker or the handle. */
static void batch_op(struct sq_tracker *t, struct slot *s)
{
	struct model_region *m = &s->m;
	size_t n = (size_t)rnd(40);
	uint64_t *pages = calloc(n + 1, sizeof(*pages));
	bool bad = n && rnd(8) == 0;

	for (size_t i = 0; i < n; i++)
		pages[i] = rnd(3) ? rnd(m->npages) : (i ? pages[i - 1] + 1 : 0) % m->npages;
	if (bad)
		pages[rnd(n)] = m->npages + rnd(3);
	int rc = rnd(2) || !s->handle ? sq_tracker_mark_pages(t, m->id, pages, n)
				      : sq_handle_mark_pages(&s->h, pages, n);
	if (bad) {
		assert_int_equal(rc, SQ_E_RANGE);
	} else {
		assert_int_equal(rc, 0);
		for (size_t i = 0; i < n; i++)
			m->dirty[pages[i]] = true;
	}
	free(pages);
}

static void check_set(const struct model_region *m, struct sq_dirty_set *s, const char *what,
		      int step)
{
	size_t n;
	uint64_t pages;
	struct sq_run *want = model_runs(m, &n, &pages);

	assert_int_equal(sq_dirty_set_page_size(s), m->ps);
	/* bytes: whole pages, the partial last one only within the region */
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += want[i].npages * m->ps;
	if (n && want[n - 1].first_page + want[n - 1].npages == m->npages)
		bytes -= m->npages * m->ps - m->len;
	assert_int_equal(sq_dirty_set_bytes(s), bytes);
	if (sq_dirty_set_nruns(s) != n || sq_dirty_set_pages(s) != pages)
		fail_msg("step %d %s region %u: %zu runs / %llu pages, model %zu / %llu", step, what,
			 m->id, sq_dirty_set_nruns(s), (unsigned long long)sq_dirty_set_pages(s), n,
			 (unsigned long long)pages);
	for (size_t i = 0; i < n; i++) {
		const struct sq_run *g = &sq_dirty_set_runs(s)[i];
		if (g->first_page != want[i].first_page || g->npages != want[i].npages)
			fail_msg("step %d %s region %u run %zu: [%llu,+%llu) model [%llu,+%llu)", step,
				 what, m->id, i, (unsigned long long)g->first_page,
				 (unsigned long long)g->npages, (unsigned long long)want[i].first_page,
				 (unsigned long long)want[i].npages);
	}
	free(want);
}

static void sync_granules(struct sq_tracker *t, struct model_region *m)
{
	for (uint64_t b = 0; b < m->nblocks; b++) {
		int g = sq_tracker_granule(t, m->id, b);
		assert_true(g == SQ_GRANULE_FINE || g == SQ_GRANULE_COARSE);
		m->coarse[b] = g == SQ_GRANULE_COARSE;
	}
}

/* A region of @ps-byte pages at @base, often with a partial last page. */
static void add_region(struct sq_tracker *t, struct slot *s, uintptr_t base, uint64_t ps)
{
	uint64_t npages = 1 + rnd(rnd(2) ? 1600 : 64);
	uint64_t len = npages * ps;
	uint32_t id;

	if (ps == SQ_PAGE_SIZE && rnd(2)) {
		assert_int_equal(sq_tracker_add_region(t, (void *)base, len, 0, &id), 0);
	} else {
		struct sq_region_opts ro = SQ_INIT(struct sq_region_opts);
		ro.page_size = (uint32_t)ps;
		if (rnd(2))
			len -= rnd(ps); /* a partial last page: 1 .. ps bytes */
		assert_int_equal(sq_tracker_add_region_opts(t, (void *)base, len, &ro, &id), 0);
	}
	model_init(&s->m, id, base, len, ps);
	int rc = sq_tracker_handle_get(t, id, &s->h);
	s->handle = ps == SQ_PAGE_SIZE;
	assert_int_equal(rc, s->handle ? 0 : SQ_E_PAGE_SIZE);
	s->live = true;
}

static void run_case(enum sq_granule_mode mode, int steps, uint64_t ps)
{
	struct sq_tracker *t;
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = mode, .cost = { .min_epochs = 1 } };
	struct slot sl[NSLOT] = { 0 };

	assert_int_equal(sq_tracker_create(&o, &t), 0);
	for (int step = 0; step < steps; step++) {
		struct slot *s = &sl[rnd(NSLOT)];
		struct model_region *m = &s->m;
		uintptr_t base = BASE + (uintptr_t)(s - sl) * SLOT_SPAN;
		unsigned op = (unsigned)rnd(100);

		if (!s->live) {
			add_region(t, s, base, ps);
			sync_granules(t, m);
			continue;
		}
		if (op < 30) { /* mark: one page, sometimes just past the end */
			uint64_t p = rnd(m->npages + 2);
			uint64_t off = p * ps + rnd(ps);
			void *a = (void *)(base + off);
			unsigned how = s->handle ? (unsigned)rnd(3) : 0;
			int rc = how == 0   ? sq_tracker_mark(t, a)
				 : how == 1 ? sq_handle_mark(&s->h, a)
					    : sq_handle_mark_page(&s->h, p);
			if (how == 2 ? p < m->npages : off < m->len) {
				assert_int_equal(rc, 0);
				m->dirty[p] = true;
			} else {
				assert_int_equal(rc, SQ_E_RANGE);
			}
		} else if (op < 42) { /* range, sometimes crossing the end */
			uint64_t off = rnd(m->len);
			uint64_t len = 1 + rnd(rnd(4) ? 3 * ps : 700 * ps);
			int rc = rnd(2) || !s->handle
					 ? sq_tracker_mark_range(t, (void *)(base + off), len)
					 : sq_handle_mark_range(&s->h, (void *)(base + off), len);
			if (off + len <= m->len) {
				assert_int_equal(rc, 0);
				for (uint64_t p = off / ps; p <= (off + len - 1) / ps; p++)
					m->dirty[p] = true;
			} else {
				assert_int_equal(rc, SQ_E_RANGE);
			}
		} else if (op < 46) {
			batch_op(t, s);
		} else if (op < 50) { /* import a sparse KVM-style bitmap */
			size_t nw = (m->npages + 63) / 64;
			uint64_t *w = calloc(nw, 8);
			unsigned k = (unsigned)rnd(20);
			for (unsigned i = 0; i < k; i++) {
				uint64_t p = rnd(m->npages);
				w[p / 64] |= 1ull << (p % 64);
				m->dirty[p] = true;
			}
			assert_int_equal(sq_tracker_import_bitmap(t, m->id, w, nw), 0);
			free(w);
		} else if (op < 65) { /* harvest */
			struct sq_dirty_set *d;
			assert_int_equal(sq_tracker_harvest(t, m->id, &d), 0);
			check_set(m, d, "harvest", step);
			model_clear(m);
			sq_dirty_set_destroy(s->last);
			s->last = d;
			sync_granules(t, m); /* the controller may have moved blocks */
		} else if (op < 72) { /* peek and count */
			struct sq_dirty_set *d;
			uint64_t c;
			assert_int_equal(sq_tracker_peek(t, m->id, &d), 0);
			check_set(m, d, "peek", step);
			assert_int_equal(sq_tracker_count(t, m->id, &c), 0);
			assert_int_equal(c, sq_dirty_set_pages(d));
			sq_dirty_set_destroy(d);
		} else if (op < 80) { /* put the last harvest back */
			if (s->last) {
				assert_int_equal(sq_tracker_put_back(t, s->last), 0);
				for (size_t i = 0; i < sq_dirty_set_nruns(s->last); i++) {
					const struct sq_run *r = &sq_dirty_set_runs(s->last)[i];
					for (uint64_t p = 0; p < r->npages; p++)
						m->dirty[r->first_page + p] = true;
				}
				sq_dirty_set_destroy(s->last);
				s->last = NULL;
			}
		} else if (op < 90) { /* force a granule */
			uint64_t b = rnd(m->nblocks);
			enum sq_granule g = rnd(2) ? SQ_GRANULE_COARSE : SQ_GRANULE_FINE;
			assert_int_equal(sq_tracker_set_granule(t, m->id, b, g), 0);
			m->coarse[b] = g == SQ_GRANULE_COARSE;
		} else if (op < 93) { /* remove the region */
			sq_tracker_handle_put(&s->h);
			assert_int_equal(sq_handle_mark_outside(&s->h, (void *)base), SQ_E_INVAL);
			assert_int_equal(sq_tracker_remove_region(t, m->id), 0);
			if (s->last)
				assert_int_equal(sq_tracker_put_back(t, s->last), SQ_E_NOT_FOUND);
			sq_dirty_set_destroy(s->last);
			s->last = NULL;
			model_free(m);
			s->live = false;
		} else { /* a burst of marks in one block, to heat it */
			uint64_t b = rnd(m->nblocks);
			for (int i = 0; i < 200; i++) {
				uint64_t p = b * m->ppb + rnd(m->ppb);
				if (p >= m->npages)
					continue;
				void *a = (void *)(base + p * ps);
				assert_int_equal(i & 1 && s->handle ? sq_handle_mark(&s->h, a)
								    : sq_tracker_mark(t, a),
						 0);
				m->dirty[p] = true;
			}
		}
	}
	for (int i = 0; i < NSLOT; i++) {
		if (sl[i].live) {
			struct sq_dirty_set *d;
			assert_int_equal(sq_tracker_harvest(t, sl[i].m.id, &d), 0);
			check_set(&sl[i].m, d, "final", steps);
			sq_dirty_set_destroy(d);
			sq_tracker_handle_put(&sl[i].h);
			model_free(&sl[i].m);
		}
		sq_dirty_set_destroy(sl[i].last);
	}
	sq_tracker_destroy(t);
}

static const uint64_t page_sizes[] = { 4096, 16384, 65536 };

static void model_adaptive(void **st)
{
	(void)st;
	for (int c = 0; c < 400; c++)
		run_case(SQ_GRANULE_ADAPTIVE, 400, page_sizes[c % 3]);
}

static void model_fixed_4k(void **st)
{
	(void)st;
	for (int c = 0; c < 200; c++)
		run_case(SQ_GRANULE_FIXED_4K, 300, page_sizes[c % 3]);
}

static void model_fixed_2m(void **st)
{
	(void)st;
	for (int c = 0; c < 200; c++)
		run_case(SQ_GRANULE_FIXED_2M, 300, page_sizes[c % 3]);
}

int main(void)
{
	rng = sq_test_seed("engine/model");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(model_adaptive),
		cmocka_unit_test(model_fixed_4k),
		cmocka_unit_test(model_fixed_2m),
	};
	return cmocka_run_group_tests_name("engine/model", tests, NULL, NULL);
}
