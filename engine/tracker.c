/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/tracker.c - tracker lifetime and the region set.
 *
 * Invariants:
 * - t->table is an immutable, sorted array of region pointers, replaced
 *   as a whole by add/remove under t->lock (write) and published with a
 *   release store (the C11 form of rcu_assign_pointer); markers read it
 *   with an acquire load inside an urcu-memb read section (engine/mark.c).
 * - Control operations (harvest, peek, put-back, stats, granule, note_io)
 *   hold t->lock for reading, so a region they found stays alive until
 *   they return; add/remove hold it for writing.
 * - A removed region is freed only after a grace period (no marker can
 *   still be inside it) and once no mark handle pins it (engine/handle.c).
 *   Its kernel tracking is stopped first.
 * - Region ids increase from 1 and are never reused by one tracker.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "core/sized.h"
#include "engine/internal.h"
#include <squib/alloc.h>

static int check_opts(const struct sq_tracker_opts *o)
{
	if ((unsigned)o->granule > SQ_GRANULE_FIXED_2M)
		return sq_err(SQ_E_INVAL, "tracker: bad granule mode %d", (int)o->granule);
	if ((unsigned)o->kernel > SQ_KERNEL_SYNC)
		return sq_err(SQ_E_INVAL, "tracker: bad kernel mode %d", (int)o->kernel);
	if (o->ewma_alpha_pct > 100)
		return sq_err(SQ_E_INVAL, "tracker: ewma_alpha_pct %u > 100", o->ewma_alpha_pct);
	return 0;
}

static void fill_defaults(struct sq_tracker_opts *o)
{
	struct sq_cost_model *c = &o->cost;

	if (!c->fault_ns)
		c->fault_ns = 6000;
	if (!c->fault_ns_async)
		c->fault_ns_async = 700;
	if (!c->fault_ns_soft)
		c->fault_ns_soft = 10;
	if (!c->io_op_ns)
		c->io_op_ns = 15000;
	if (!c->byte_ps)
		c->byte_ps = 800;
	if (!c->hysteresis_pct)
		c->hysteresis_pct = 25;
	if (!c->min_epochs)
		c->min_epochs = 2;
	if (!o->ewma_alpha_pct)
		o->ewma_alpha_pct = 30;
}

int sq_tracker_create(const struct sq_tracker_opts *opts, struct sq_tracker **out)
{
	struct sq_tracker *t;
	int rc;

	if (!out)
		return sq_err(SQ_E_INVAL, "tracker_create: NULL out");
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return sq_err(SQ_E_NOMEM, "tracker_create: out of memory");
	t->opts.size = sizeof(t->opts);
	rc = SQ_SIZED_IN(t->opts, opts, SQ_V0_TRACKER_OPTS, "sq_tracker_opts");
	if (!rc)
		rc = check_opts(&t->opts);
	if (rc) {
		free(t);
		return rc;
	}
	fill_defaults(&t->opts);
	if (pthread_rwlock_init(&t->lock, NULL)) {
		free(t);
		return sq_err(SQ_E_NOMEM, "tracker_create: rwlock");
	}
	t->next_id = 1;
	sq_membarrier_init();
	sq_rcu_reader();
	*out = t;
	return 0;
}

static void region_free(struct sq_region *r)
{
	if (!r)
		return;
	if (r->kwp)
		sq_kwp_detach(r);
	sq_mem_free(r->bits, r->bits_bytes, 64);
	sq_mem_free((void *)r->summary, r->sum_bytes, 64);
	sq_mem_free((void *)r->coarse, r->sum_bytes, 64);
	free(r->ctl);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->pin_lock);
	pthread_cond_destroy(&r->pin_zero);
	free(r);
}

static struct sq_region_table *table_alloc(size_t n)
{
	struct sq_region_table *tab = malloc(sizeof(*tab) + (n ? n : 1) * sizeof(tab->r[0]));

	if (tab)
		tab->n = n;
	return tab;
}

static int region_alloc(struct sq_tracker *t, uintptr_t base, size_t len, unsigned flags,
			unsigned shift, struct sq_region **out)
{
	struct sq_region *r = calloc(1, sizeof(*r));

	if (!r)
		return sq_err(SQ_E_NOMEM, "add_region: out of memory");
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->pin_lock, NULL);
	pthread_cond_init(&r->pin_zero, NULL);
	r->t = t;
	r->flags = flags;
	r->base = base;
	r->len = len;
	r->page_shift = shift;
	r->blk_shift = SQ_BLOCK_SHIFT - shift;
	r->lane_shift = r->blk_shift < 6 ? r->blk_shift : 6;
	r->ppb = 1ull << r->blk_shift;
	r->wpb = r->blk_shift > 6 ? 1u << (r->blk_shift - 6) : 1u;
	r->npages = (len >> shift) + ((len & ((1ull << shift) - 1)) != 0);
	r->nblocks = (r->npages + r->ppb - 1) / r->ppb;
	if (!r->nblocks) { /* len > 0 is checked first: not reached */
		region_free(r);
		return sq_err(SQ_E_INVAL, "add_region: empty region");
	}
	r->nsum = (r->nblocks + 63) / 64;
	r->bits_bytes = r->nblocks * sizeof(struct sq_block_bits);
	r->sum_bytes = r->nsum * sizeof(uint64_t);
	r->bits = sq_mem_alloc(r->bits_bytes, 64);
	r->summary = sq_mem_alloc(r->sum_bytes, 64);
	r->coarse = sq_mem_alloc(r->sum_bytes, 64);
	r->ctl = calloc(r->nblocks, sizeof(*r->ctl));
	if (!r->bits || !r->summary || !r->coarse || !r->ctl) {
		uint64_t nblocks = r->nblocks;
		region_free(r);
		return sq_err(SQ_E_NOMEM, "add_region: out of memory for %llu blocks",
			      (unsigned long long)nblocks);
	}
	/* Large bitmaps are read and written at random: ask for huge pages
	 * (advice only; the inner 2 MiB-aligned part of the allocation), which
	 * removes most TLB misses of cold marks on terabyte regions. */
	if (r->bits_bytes >= 2 * (size_t)SQ_BLOCK_SIZE) {
		uintptr_t lo = ((uintptr_t)r->bits + SQ_BLOCK_SIZE - 1) & ~((uintptr_t)SQ_BLOCK_SIZE - 1);
		uintptr_t hi = ((uintptr_t)r->bits + r->bits_bytes) & ~((uintptr_t)SQ_BLOCK_SIZE - 1);
		if (hi > lo)
			(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
	}
	/* Not yet published: plain initialization. */
	memset(r->bits, 0, r->bits_bytes);
	memset((void *)r->summary, 0, r->sum_bytes);
	memset((void *)r->coarse, 0, r->sum_bytes);
	sq_ctl_init(r);
	*out = r;
	return 0;
}

/*
 * The region's page shift from @o (NULL: 4 KiB), or a negative code. The
 * texts of a bad page size and an empty or wrapping range are the
 * original's DirtyBitmap constructor's.
 */
static int region_geometry(uintptr_t b, size_t len, unsigned flags, const struct sq_region_opts *o)
{
	uint64_t ps = o ? o->page_size : SQ_PAGE_SIZE;

	if (o && ps == 0) {
		long host = sysconf(_SC_PAGESIZE);
		ps = host > 0 ? (uint64_t)host : SQ_PAGE_SIZE;
	}
	if (ps & (ps - 1))
		return sq_err(SQ_E_PAGE_SIZE, "page_size must be a power of two: %llu",
			      (unsigned long long)ps);
	if (ps < SQ_PAGE_SIZE_MIN || ps > SQ_PAGE_SIZE_MAX)
		return sq_err(SQ_E_PAGE_SIZE, "add_region: page_size %llu is not 4 KiB to 64 KiB",
			      (unsigned long long)ps);
	if (len == 0)
		return sq_err(SQ_E_INVAL, "dirty bitmap requires a non-empty RAM range");
	if (b + len < b)
		return sq_err(SQ_E_INVAL, "RAM range overflows: start=%llu, size=%llu",
			      (unsigned long long)b, (unsigned long long)len);
	/* The base is a host page (kernel tracking, and the run-to-byte maps
	 * of every consumer); the length too where the kernel protects it or
	 * the caller asked for 4 KiB pages the old way (no options). */
	if ((b & (SQ_PAGE_SIZE - 1)) ||
	    ((!o || (flags & SQ_REGION_KERNEL_WP)) && (len & (SQ_PAGE_SIZE - 1))))
		return sq_err(SQ_E_ALIGN, "add_region: [%p, +%zu) is not 4 KiB aligned", (void *)b,
			      len);
	return __builtin_ctzll(ps);
}

/* Add the region; @o NULL: 4 KiB pages, the length a multiple of them. */
static int region_add(struct sq_tracker *t, uintptr_t b, size_t len, unsigned flags,
		      const struct sq_region_opts *ro, uint32_t *id_out)
{
	void *base = (void *)b;
	struct sq_region_table *old, *tab;
	struct sq_region *r = NULL;
	size_t pos = 0;
	int rc, shift;

	if (flags & ~SQ_REGION_KERNEL_WP)
		return sq_err(SQ_E_INVAL, "add_region: unknown flags 0x%x", flags);
	shift = region_geometry(b, len, flags, ro);
	if (shift < 0)
		return shift;

	pthread_rwlock_wrlock(&t->lock);
	old = atomic_load_explicit(&t->table, memory_order_relaxed); /* under wrlock */
	for (size_t i = 0; old && i < old->n; i++) {
		const struct sq_region *o = old->r[i];
		if (b < o->base + o->len && o->base < b + len) {
			rc = sq_err(SQ_E_OVERLAP,
				    "add_region: [%p, +%zu) overlaps region %u at %p", base, len,
				    o->id, (void *)o->base);
			goto fail;
		}
		if (o->base < b)
			pos = i + 1;
	}
	rc = region_alloc(t, b, len, flags, (unsigned)shift, &r);
	if (rc)
		goto fail;
	r->id = t->next_id;
	if (t->opts.granule == SQ_GRANULE_FIXED_2M) {
		for (uint64_t blk = 0; blk < r->nblocks; blk++)
			atomic_fetch_or_explicit(&r->coarse[blk >> 6], 1ull << (blk & 63),
						 memory_order_relaxed);
		r->st.coarse_blocks = r->nblocks;
	}
	if (flags & SQ_REGION_KERNEL_WP) {
		rc = sq_kwp_attach(r, t->opts.kernel);
		if (rc)
			goto fail;
	}
	tab = table_alloc(old ? old->n + 1 : 1);
	if (!tab) {
		rc = sq_err(SQ_E_NOMEM, "add_region: out of memory");
		goto fail;
	}
	for (size_t i = 0, j = 0; i < tab->n; i++)
		tab->r[i] = i == pos ? r : old->r[j++];
	/* Release: the region's initialization is visible to a marker that
	 * sees the new table. */
	atomic_store_explicit(&t->table, tab, memory_order_release);
	t->next_id++;
	*id_out = r->id;
	pthread_rwlock_unlock(&t->lock);
	if (old) {
		sq_rcu_synchronize(t);
		free(old);
	}
	return 0;
fail:
	pthread_rwlock_unlock(&t->lock);
	region_free(r);
	return rc;
}

int sq_tracker_add_region(struct sq_tracker *t, void *base, size_t len, unsigned flags,
			  uint32_t *id_out)
{
	uint32_t id;
	int rc;

	if (!t || !id_out)
		return sq_err(SQ_E_INVAL, "add_region: NULL argument");
	rc = region_add(t, (uintptr_t)base, len, flags, NULL, &id);
	if (!rc)
		*id_out = id;
	return rc;
}

int sq_tracker_add_region_opts(struct sq_tracker *t, void *base, size_t len,
			       const struct sq_region_opts *opts, uint32_t *id_out)
{
	struct sq_region_opts o = SQ_INIT(struct sq_region_opts);

	if (!t || !id_out)
		return sq_err(SQ_E_INVAL, "add_region: NULL argument");
	if (SQ_SIZED_IN(o, opts, SQ_V0_REGION_OPTS, "sq_region_opts"))
		return SQ_E_INVAL;
	return region_add(t, (uintptr_t)base, len, o.flags, &o, id_out);
}

int sq_tracker_remove_region(struct sq_tracker *t, uint32_t id)
{
	struct sq_region_table *old, *tab;
	struct sq_region *r = NULL;

	if (!t)
		return sq_err(SQ_E_INVAL, "remove_region: NULL tracker");
	pthread_rwlock_wrlock(&t->lock);
	old = atomic_load_explicit(&t->table, memory_order_relaxed); /* under wrlock */
	for (size_t i = 0; old && i < old->n; i++)
		if (old->r[i]->id == id)
			r = old->r[i];
	if (!r) {
		pthread_rwlock_unlock(&t->lock);
		return sq_err(SQ_E_NOT_FOUND, "remove_region: no region %u", id);
	}
	tab = NULL;
	if (old->n > 1) {
		tab = table_alloc(old->n - 1);
		if (!tab) {
			pthread_rwlock_unlock(&t->lock);
			return sq_err(SQ_E_NOMEM, "remove_region: out of memory");
		}
		for (size_t i = 0, j = 0; i < old->n; i++)
			if (old->r[i] != r)
				tab->r[j++] = old->r[i];
	}
	/*
	 * Publish, grace period, unlock, wait for handles, free: this order is
	 * what engine/model/region_rcu.pml and handle_pin.pml check (no use
	 * after free, no deadlock). Change this function and the models
	 * together.
	 */
	atomic_store_explicit(&t->table, tab, memory_order_release);
	/* Grace period: every marker that could have seen @r has left it. */
	sq_rcu_synchronize(t);
	pthread_rwlock_unlock(&t->lock);
	free(old);
	/* After the unlock: a handle holder may be waiting for t->lock (a
	 * harvest) before it puts its handle back. No new pin can start, as
	 * handles are obtained by id under t->lock and @r is gone from it. */
	sq_region_wait_unpinned(r);
	region_free(r);
	return 0;
}

void sq_tracker_destroy(struct sq_tracker *t)
{
	if (!t)
		return;
	struct sq_region_table *tab = atomic_load_explicit(&t->table, memory_order_relaxed);
	atomic_store_explicit(&t->table, NULL, memory_order_release);
	sq_rcu_synchronize(t);
	for (size_t i = 0; tab && i < tab->n; i++) {
		sq_region_wait_unpinned(tab->r[i]);
		region_free(tab->r[i]);
	}
	free(tab);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

struct sq_region *sq_region_by_id(struct sq_tracker *t, uint32_t id)
{
	const struct sq_region_table *tab = atomic_load_explicit(&t->table, memory_order_relaxed);

	for (size_t i = 0; tab && i < tab->n; i++)
		if (tab->r[i]->id == id)
			return tab->r[i];
	return NULL;
}

int sq_tracker_put_back(struct sq_tracker *t, const struct sq_dirty_set *set)
{
	struct sq_region *r;
	int rc = 0;

	if (!t || !set)
		return sq_err(SQ_E_INVAL, "put_back: NULL argument");
	pthread_rwlock_rdlock(&t->lock);
	r = sq_region_by_id(t, set->region);
	if (!r) {
		rc = sq_err(SQ_E_NOT_FOUND, "put_back: region %u is gone", set->region);
		goto out;
	}
	if (set->page_shift != r->page_shift) {
		rc = sq_err(SQ_E_PAGE_SIZE, "put_back: a set of %u-byte pages for region %u of %u",
			    1u << set->page_shift, r->id, 1u << r->page_shift);
		goto out;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct sq_run *run = &set->runs[i];
		if (run->npages == 0 || run->first_page >= r->npages ||
		    run->npages > r->npages - run->first_page) {
			rc = sq_err(SQ_E_RANGE, "put_back: run [%llu, +%llu) outside region %u",
				    (unsigned long long)run->first_page,
				    (unsigned long long)run->npages, r->id);
			goto out;
		}
	}
	for (size_t i = 0; i < set->n; i++)
		sq_bits_mark_pages(r, set->runs[i].first_page, set->runs[i].npages);
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}
