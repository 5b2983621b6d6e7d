/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/handle.c - mark handles: pinning a region for the inline mark
 * (squib/tracker_inline.h), and the batch marks (a KVM dirty ring's page
 * offsets).
 *
 * Invariants:
 * - A handle is obtained by region id under t->lock (read): the region is
 *   in the published table, so not being removed, and its pin count is
 *   raised before the lock is dropped.
 * - sq_tracker_remove_region() unpublishes the region under t->lock
 *   (write), so no pin can start afterwards, drops the lock, then waits
 *   for the pin count to reach 0 before freeing the region. Waiting after
 *   the unlock lets a handle holder run a harvest (which takes t->lock)
 *   before it puts its handle back. Model: engine/model/handle_pin.pml;
 *   change it together with this file and engine/tracker.c.
 * - Marks through a handle are the marks of engine/mark.c without the
 *   region lookup and the read section: the same bit and summary updates
 *   (M1-M3 of the "No lost marks" table in engine/harvest.c), so the
 *   harvest's argument and its membarrier hold for them unchanged.
 */
#include "core/err.h"
#include "engine/internal.h"

int sq_tracker_handle_get(struct sq_tracker *t, uint32_t id, struct sq_mark_handle *h)
{
	struct sq_region *r;

	if (!h)
		return sq_err(SQ_E_INVAL, "handle_get: NULL handle");
	*h = (struct sq_mark_handle){ 0 };
	if (!t)
		return sq_err(SQ_E_INVAL, "handle_get: NULL tracker");
	pthread_rwlock_rdlock(&t->lock);
	r = sq_region_by_id(t, id);
	if (!r) {
		pthread_rwlock_unlock(&t->lock);
		return sq_err(SQ_E_NOT_FOUND, "handle_get: no region %u", id);
	}
	if (r->page_shift != SQ_PAGE_SHIFT) {
		/* The inline mark (squib/tracker_inline.h) assumes 4 KiB pages
		 * in a flat word array; struct sq_mark_handle cannot grow. */
		pthread_rwlock_unlock(&t->lock);
		return sq_err(SQ_E_PAGE_SIZE, "handle_get: region %u has %u-byte pages; mark "
					      "handles need 4 KiB pages (use sq_tracker_mark)",
			      id, 1u << r->page_shift);
	}
	pthread_mutex_lock(&r->pin_lock);
	r->pins++;
	pthread_mutex_unlock(&r->pin_lock);
	pthread_rwlock_unlock(&t->lock);

	h->base = r->base;
	h->len = r->len;
	h->npages = r->npages;
	/* The blocks' fine bits are one contiguous array of 64-bit words:
	 * block b's word w is word b * 8 + w, which is page / 64. */
	h->words = (uint64_t *)(void *)r->bits;
	h->summary = (uint64_t *)(void *)r->summary;
	h->region = r->id;
	h->fence = !atomic_load_explicit(&sq_have_membarrier, memory_order_relaxed);
	h->pin = r;
	return 0;
}

void sq_tracker_handle_put(struct sq_mark_handle *h)
{
	struct sq_region *r = h ? h->pin : NULL;

	if (!r)
		return;
	*h = (struct sq_mark_handle){ 0 };
	pthread_mutex_lock(&r->pin_lock);
	if (--r->pins == 0)
		pthread_cond_broadcast(&r->pin_zero);
	/* The remover frees @r only after taking pin_lock and seeing 0. */
	pthread_mutex_unlock(&r->pin_lock);
}

void sq_region_wait_unpinned(struct sq_region *r)
{
	pthread_mutex_lock(&r->pin_lock);
	while (r->pins)
		pthread_cond_wait(&r->pin_zero, &r->pin_lock);
	pthread_mutex_unlock(&r->pin_lock);
}

int sq_handle_mark_outside(const struct sq_mark_handle *h, const void *addr)
{
	if (!h || !h->pin)
		return sq_err(SQ_E_INVAL, "handle mark: the handle is not live");
	return sq_err(SQ_E_RANGE, "handle mark: address %p is outside region %u [%p, +%llu)", addr,
		      h->region, (void *)h->base, (unsigned long long)h->len);
}

int sq_handle_mark_range(const struct sq_mark_handle *h, const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;

	if (len == 0)
		return 0;
	if (a - h->base >= h->len || len > h->len - (a - h->base))
		return sq_err(SQ_E_RANGE, "handle mark_range: [%p, +%zu) is not inside region %u",
			      addr, len, h->region);
	uint64_t first = (a - h->base) >> SQ_PAGE_SHIFT;
	uint64_t last = (a - h->base + len - 1) >> SQ_PAGE_SHIFT;
	sq_bits_mark_pages(h->pin, first, last - first + 1);
	return 0;
}

int sq_handle_mark_pages(const struct sq_mark_handle *h, const uint64_t *pages, size_t n)
{
	int rc = sq_batch_check(h->npages, h->region, pages, n);

	if (rc)
		return rc;
	sq_batch_mark(h->pin, pages, n);
	return 0;
}
