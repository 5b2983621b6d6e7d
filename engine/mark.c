/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/mark.c - marking: one page, a range, a KVM-style bitmap, a batch
 * of page offsets (a KVM dirty ring).
 *
 * Invariants:
 * - Marking never blocks, allocates (after the thread's first call, which
 *   registers it with urcu-memb) or makes a system call.
 * - A mark sets fine bits only (test first, then a seq_cst fetch_or), then
 *   the block's summary bit (test first). Granules affect only what a
 *   harvest emits, so a mark is the same whatever the block's granule.
 * - The region table is read inside an urcu-memb read section; a region
 *   stays allocated until every section that may have seen it has ended.
 *   Models: engine/model/region_rcu.pml (this read section against region
 *   removal) and engine/model/mark_harvest.pml (the bit and summary
 *   updates); change them together with this file.
 */
#include "engine/urcu.h"

#include "core/err.h"
#include "engine/internal.h"

static inline const struct sq_region_table *mark_enter(struct sq_tracker *t)
{
#ifdef _LGPL_SOURCE
	/* urcu-memb's own flag, on the line read_lock touches next: one TLS
	 * access less than sq_rcu_reader(). */
	if (__builtin_expect(!URCU_TLS(urcu_memb_reader).registered, 0))
		sq_rcu_reader_slow();
#else
	sq_rcu_reader();
#endif
	urcu_memb_read_lock();
	/* Acquire (the C11 spelling of rcu_dereference): pairs with the
	 * release store that published the table, so the regions it points
	 * to are seen initialized. */
	return atomic_load_explicit(&t->table, memory_order_acquire);
}

static inline void mark_leave(struct sq_tracker *t)
{
#ifdef SQ_TSAN
	sq_rcu_unlock(t);
#else
	(void)t;
	urcu_memb_read_unlock();
#endif
}

void sq_bits_mark_pages(struct sq_region *r, uint64_t first, uint64_t n)
{
	uint64_t p = first, end = first + n;
	uint64_t lanes = 1ull << r->lane_shift; /* bits used per word */

	while (p < end) {
		uint64_t off = p & (r->ppb - 1);
		unsigned bit = (unsigned)(off & 63);
		uint64_t cnt = lanes - bit;
		if (cnt > end - p)
			cnt = end - p;
		uint64_t v = cnt == 64 ? ~0ull : ((1ull << cnt) - 1) << bit;
		sq_bits_or(r, p >> r->blk_shift, (unsigned)(off >> 6), v);
		p += cnt;
	}
}

void sq_bits_or_word64(struct sq_region *r, uint64_t i, uint64_t v)
{
	if (r->lane_shift == 6) {
		sq_bits_or(r, i >> (r->blk_shift - 6), (unsigned)(i & (r->wpb - 1)), v);
		return;
	}
	/* Blocks of fewer than 64 pages: the word spans 64 / ppb blocks. */
	uint64_t lanes = 1ull << r->lane_shift, mask = (1ull << lanes) - 1;
	for (unsigned k = 0; v; k++, v >>= lanes)
		if (v & mask)
			sq_bits_or(r, (i << (6 - r->blk_shift)) + k, 0, v & mask);
}

/*
 * OR the pages of @pages into @r (all below r->npages). Consecutive
 * entries in one word of a block's line (64 pages, or the whole block for
 * blocks of fewer) are gathered into one test-and-OR, which is how a ring
 * filled by sequential writes arrives.
 */
void sq_batch_mark(struct sq_region *r, const uint64_t *pages, size_t n)
{
	unsigned ls = r->lane_shift, wshift = r->blk_shift - ls;
	uint64_t key = UINT64_MAX, v = 0, wmask = r->wpb - 1, lmask = (1ull << ls) - 1;

	for (size_t i = 0; i < n; i++) {
		uint64_t p = pages[i];
		if (p >> ls != key) {
			if (v)
				sq_bits_or(r, key >> wshift, (unsigned)(key & wmask), v);
			key = p >> ls;
			v = 0;
		}
		v |= 1ull << (p & lmask);
	}
	if (v)
		sq_bits_or(r, key >> wshift, (unsigned)(key & wmask), v);
}

int sq_batch_check(uint64_t npages, uint32_t id, const uint64_t *pages, size_t n)
{
	if (n && !pages)
		return sq_err(SQ_E_INVAL, "mark_pages: NULL array of %zu pages", n);
	for (size_t i = 0; i < n; i++)
		if (pages[i] >= npages)
			return sq_err(SQ_E_RANGE,
				      "mark_pages: entry %zu, page %llu, is past region %u's %llu pages",
				      i, (unsigned long long)pages[i], id, (unsigned long long)npages);
	return 0;
}

int sq_tracker_mark(struct sq_tracker *t, const void *addr)
{
	const struct sq_region_table *tab = mark_enter(t);
	uintptr_t a = (uintptr_t)addr;
	struct sq_region *r;

	/* One region: the common case, no search. */
	if (__builtin_expect(tab && tab->n == 1, 1)) {
		r = tab->r[0];
		if (a - r->base >= r->len)
			r = NULL;
	} else {
		r = sq_table_find(tab, a);
	}
	if (__builtin_expect(!r, 0)) {
		mark_leave(t);
		return sq_err(SQ_E_RANGE, "mark: address %p is outside every tracked region", addr);
	}
	sq_bits_mark_page(r, (a - r->base) >> r->page_shift);
	mark_leave(t);
	return 0;
}

int sq_tracker_mark_range(struct sq_tracker *t, const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	struct sq_region *r;

	if (len == 0)
		return 0;
	const struct sq_region_table *tab = mark_enter(t);
	r = sq_table_find(tab, a);
	if (!r || len > r->len - (a - r->base)) {
		mark_leave(t);
		return sq_err(SQ_E_RANGE,
			      "mark_range: [%p, +%zu) is not inside one tracked region", addr, len);
	}
	uint64_t first, cnt = sq_region_pages_of(r, a - r->base, len, &first);
	sq_bits_mark_pages(r, first, cnt);
	mark_leave(t);
	return 0;
}

static struct sq_region *table_by_id(const struct sq_region_table *tab, uint32_t id)
{
	for (size_t i = 0; tab && i < tab->n; i++)
		if (tab->r[i]->id == id)
			return tab->r[i];
	return NULL;
}

int sq_tracker_import_bitmap(struct sq_tracker *t, uint32_t id, const uint64_t *words,
			     size_t nwords)
{
	const struct sq_region_table *tab = mark_enter(t);
	struct sq_region *r = table_by_id(tab, id);
	int rc = 0;

	if (!r) {
		rc = sq_err(SQ_E_NOT_FOUND, "import_bitmap: no region %u", id);
		goto out;
	}
	uint64_t need = (r->npages + 63) / 64;
	if (nwords != need) {
		rc = sq_err(SQ_E_SIZE_MISMATCH,
			    "import_bitmap: %zu words given, region %u needs %llu", nwords, id,
			    (unsigned long long)need);
		goto out;
	}
	if (!words) {
		rc = sq_err(SQ_E_INVAL, "import_bitmap: NULL bitmap");
		goto out;
	}
	unsigned tail = (unsigned)(r->npages & 63);
	if (tail && (words[nwords - 1] >> tail)) {
		rc = sq_err(SQ_E_INVAL, "import_bitmap: bits set past page %llu (the region end)",
			    (unsigned long long)r->npages);
		goto out;
	}
	if (r->blk_shift == 9) {
		/* 4 KiB pages: log word i is word i % 8 of block i / 8. */
		for (size_t i = 0; i < nwords; i++) {
			uint64_t v = words[i];
			if (v)
				sq_bits_or(r, i >> 3, (unsigned)(i & 7), v);
		}
	} else {
		for (size_t i = 0; i < nwords; i++) {
			uint64_t v = words[i];
			if (v)
				sq_bits_or_word64(r, i, v);
		}
	}
out:
	mark_leave(t);
	return rc;
}

int sq_tracker_mark_pages(struct sq_tracker *t, uint32_t id, const uint64_t *pages, size_t n)
{
	const struct sq_region_table *tab = mark_enter(t);
	struct sq_region *r = table_by_id(tab, id);
	int rc;

	if (!r)
		rc = sq_err(SQ_E_NOT_FOUND, "mark_pages: no region %u", id);
	else
		rc = sq_batch_check(r->npages, id, pages, n);
	if (!rc)
		sq_batch_mark(r, pages, n);
	mark_leave(t);
	return rc;
}
