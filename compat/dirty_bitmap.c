/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat/dirty_bitmap.c - the original's DirtyBitmap operations over a
 * tracker (squib/tracker.h only).
 *
 * The tracker is the truth for what a drain reports: every set marks it,
 * a drain harvests it. A word array beside it ("seen") answers what the
 * tracker cannot answer cheaply for one page: "was it clean before" and
 * "is it dirty".
 *
 * Invariants:
 *  - set: tracker mark first, then fetch_or of the seen bit. A set is in
 *    the tracker before its seen bit can be observed.
 *  - drain: every seen word is exchanged to 0 first, then the tracker is
 *    harvested. A set whose seen bit the exchange cleared had marked the
 *    tracker before, so the harvest reports it; a set that lands after the
 *    exchange is either in this harvest or in the next one (the tracker's
 *    no-lost-marks rule). A set racing the drain may leave its seen bit on
 *    for a page this drain took: is_dirty then says dirty for a clean page,
 *    never clean for a dirty one.
 *  - The tracker region is a synthetic, 4 KiB-aligned range at SYNTH_BASE:
 *    API-marked regions are never dereferenced, and guest addresses
 *    (ram_start need not be aligned) are translated here. For a page size
 *    of 4 KiB to 64 KiB the region has the bitmap's own pages and length
 *    (ram_size, a partial last page included): tracker page i is bitmap
 *    page i. Outside that range the region's pages ("units") are the
 *    nearest the engine has: a smaller page_size gets one 4 KiB unit per
 *    bitmap page; a larger one 64 KiB units, bitmap page i being units
 *    [i << k, (i + 1) << k) clipped to their count (k = page_shift - 16),
 *    all marked by a set, and a drain reports unit u as page u >> k.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include <squib/compat.h>
#include <squib/tracker.h>

#include "core/err.h"

#define SYNTH_BASE ((uintptr_t)1 << 32)

struct sq_dirty_bitmap {
	struct sq_tracker *t;
	uint32_t region;
	uint64_t ram_start, ram_size, pages, page_size;
	uint64_t units;       /* pages of the tracker region */
	unsigned shift;       /* page_shift */
	unsigned k;           /* units per page = 1 << k */
	_Atomic uint64_t *seen;
	size_t nwords;
	uint64_t ulen;        /* the tracker region's length in bytes */
	unsigned ushift;      /* log2 of the tracker region's page */
};

int sq_dirty_bitmap_create(uint64_t ram_start, uint64_t ram_size, uint64_t page_size,
			   struct sq_dirty_bitmap **out)
{
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = SQ_GRANULE_FIXED_4K };
	struct sq_region_opts ro = SQ_INIT(struct sq_region_opts);
	struct sq_dirty_bitmap *b;
	int rc;

	*out = NULL;
	if (page_size == 0 || (page_size & (page_size - 1)))
		return sq_err(SQ_E_INVALID_PATH,
			      "invalid snapshot path: page_size must be a power of two: %llu",
			      (unsigned long long)page_size);
	if (ram_size == 0)
		return sq_err(SQ_E_INVALID_PATH,
			      "invalid snapshot path: dirty bitmap requires a non-empty RAM range");
	if (ram_start + ram_size < ram_start)
		return sq_err(SQ_E_INVALID_PATH,
			      "invalid snapshot path: RAM range overflows: start=%llu, size=%llu",
			      (unsigned long long)ram_start, (unsigned long long)ram_size);
	unsigned shift = (unsigned)__builtin_ctzll(page_size);
	/* ceil(ram_size / page_size), without overflow for any page size */
	uint64_t pages = (ram_size >> shift) + ((ram_size & (page_size - 1)) != 0);
	unsigned ushift = shift < 12 ? 12 : shift > 16 ? 16 : shift; /* the tracker's page */
	uint64_t usize = (uint64_t)1 << ushift;
	uint64_t units = shift >= ushift ? (ram_size >> ushift) + ((ram_size & (usize - 1)) != 0)
					 : pages;
	/* The original fails when the word count overflows usize; a range of
	 * more than 2^40 pages is refused here the same way (memory). */
	if (pages > ((uint64_t)1 << 40) || units > ((uint64_t)1 << 40))
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: RAM range overflows: "
						 "start=%llu, size=%llu",
			      (unsigned long long)ram_start, (unsigned long long)ram_size);
	b = calloc(1, sizeof(*b));
	if (!b)
		return sq_err(SQ_E_NOMEM, "out of memory");
	b->ram_start = ram_start;
	b->ram_size = ram_size;
	b->pages = pages;
	b->page_size = page_size;
	b->units = units;
	b->shift = shift;
	b->ushift = ushift;
	b->k = shift - (shift < ushift ? shift : ushift);
	b->ulen = shift >= ushift ? ram_size : units << ushift;
	b->nwords = (size_t)((pages + 63) / 64);
	b->seen = calloc(b->nwords, sizeof(*b->seen));
	if (!b->seen) {
		free(b);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	rc = sq_tracker_create(&o, &b->t);
	ro.page_size = (uint32_t)1 << ushift;
	if (!rc)
		rc = sq_tracker_add_region_opts(b->t, (void *)SYNTH_BASE, (size_t)b->ulen, &ro,
						&b->region);
	if (rc) {
		sq_dirty_bitmap_destroy(b);
		return rc;
	}
	*out = b;
	return 0;
}

void sq_dirty_bitmap_destroy(struct sq_dirty_bitmap *b)
{
	if (!b)
		return;
	sq_tracker_destroy(b->t);
	free((void *)b->seen);
	free(b);
}

uint64_t sq_dirty_bitmap_page_count(const struct sq_dirty_bitmap *b)
{
	return b->pages;
}

uint64_t sq_dirty_bitmap_page_size(const struct sq_dirty_bitmap *b)
{
	return b->page_size;
}

unsigned sq_dirty_bitmap_page_shift(const struct sq_dirty_bitmap *b)
{
	return b->shift;
}

uint64_t sq_dirty_bitmap_ram_start(const struct sq_dirty_bitmap *b)
{
	return b->ram_start;
}

uint64_t sq_dirty_bitmap_ram_size(const struct sq_dirty_bitmap *b)
{
	return b->ram_size;
}

int sq_dirty_bitmap_page_index_of(const struct sq_dirty_bitmap *b, uint64_t addr,
				  uint64_t *index)
{
	if (addr < b->ram_start || addr - b->ram_start >= b->ram_size)
		return 0;
	*index = (addr - b->ram_start) >> b->shift;
	return 1;
}

int sq_dirty_bitmap_set_dirty_by_index(struct sq_dirty_bitmap *b, uint64_t index)
{
	if (index >= b->pages)
		return 0;
	uint64_t off = (index << b->k) << b->ushift, len = (uint64_t)1 << (b->k + b->ushift);
	if (len > b->ulen - off)
		len = b->ulen - off; /* the partial trailing page */
	if (sq_tracker_mark_range(b->t, (const void *)(SYNTH_BASE + off), (size_t)len))
		return 0; /* cannot happen: the units are inside the region */
	uint64_t bit = 1ull << (index % 64);
	/* Relaxed: the tracker's mark carries the ordering a harvest needs. */
	uint64_t old = atomic_fetch_or_explicit(&b->seen[index / 64], bit, memory_order_relaxed);
	return !(old & bit);
}

int sq_dirty_bitmap_set_dirty(struct sq_dirty_bitmap *b, uint64_t addr)
{
	uint64_t i;

	return sq_dirty_bitmap_page_index_of(b, addr, &i) ? sq_dirty_bitmap_set_dirty_by_index(b, i)
							     : 0;
}

int sq_dirty_bitmap_is_dirty_by_index(const struct sq_dirty_bitmap *b, uint64_t index)
{
	if (index >= b->pages)
		return 0;
	/* Acquire, as the original's is_dirty. */
	uint64_t w = atomic_load_explicit(&b->seen[index / 64], memory_order_acquire);
	return (w >> (index % 64)) & 1;
}

int sq_dirty_bitmap_is_dirty(const struct sq_dirty_bitmap *b, uint64_t addr)
{
	uint64_t i;

	return sq_dirty_bitmap_page_index_of(b, addr, &i) ? sq_dirty_bitmap_is_dirty_by_index(b, i)
							     : 0;
}

int sq_dirty_bitmap_drain_into(struct sq_dirty_bitmap *b, void (*fn)(void *ctx, uint64_t index),
			       void *ctx, uint64_t *count)
{
	struct sq_dirty_set *set;
	uint64_t n = 0;
	int rc;

	if (count)
		*count = 0;
	for (size_t i = 0; i < b->nwords; i++)
		atomic_exchange_explicit(&b->seen[i], 0, memory_order_acquire);
	rc = sq_tracker_harvest(b->t, b->region, &set);
	if (rc) {
		/* Nothing was taken: the pages are dirty still, say so again. */
		struct sq_dirty_set *p;
		if (sq_tracker_peek(b->t, b->region, &p) == 0) {
			const struct sq_run *r = sq_dirty_set_runs(p);
			for (size_t k = 0; k < sq_dirty_set_nruns(p); k++)
				for (uint64_t q = r[k].first_page; q < r[k].first_page + r[k].npages; q++) {
					uint64_t i = q >> b->k;
					atomic_fetch_or_explicit(&b->seen[i / 64], 1ull << (i % 64),
								 memory_order_relaxed);
				}
			sq_dirty_set_destroy(p);
		}
		return rc;
	}
	/* Runs are sorted and apart: a page's units are consecutive, so one
	 * "last reported" is enough to report each page once, ascending. */
	const struct sq_run *r = sq_dirty_set_runs(set);
	uint64_t last = UINT64_MAX;
	for (size_t k = 0; k < sq_dirty_set_nruns(set); k++)
		for (uint64_t q = r[k].first_page; q < r[k].first_page + r[k].npages; q++) {
			uint64_t i = q >> b->k;
			if (i == last)
				continue;
			last = i;
			n++;
			fn(ctx, i);
		}
	sq_dirty_set_destroy(set);
	if (count)
		*count = n;
	return 0;
}

struct sq_tracker *sq_dirty_bitmap_tracker(struct sq_dirty_bitmap *b, uint32_t *region)
{
	if (region)
		*region = b->region;
	return b->t;
}
