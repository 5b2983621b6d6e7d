/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/tracker_inline.h - the marking fast path: a region handle and an
 * inline mark. Included by squib/tracker.h; C11 or C++ (GCC / Clang).
 *
 *   struct sq_mark_handle h;
 *   sq_tracker_handle_get(t, region_id, &h);    once per thread and region
 *   ... write the page at p ...
 *   sq_handle_mark(&h, p);                      inline, no call
 *   sq_tracker_handle_put(&h);                  before the region goes
 *
 * The handle pins its region: sq_tracker_remove_region() (and
 * sq_tracker_destroy()) wait until every handle on the region is put back,
 * so a mark through a live handle always lands in a live bitmap and needs
 * no read-side critical section, no thread-local access and no call. This
 * is the protocol of row (5) in the synchronization table of
 * squib/tracker.h, checked by engine/model/handle_pin.pml.
 *
 * Cost: a page already dirty is one load and a compare; a clean page is
 * one locked OR on its bitmap word, then one load of the block's summary
 * word and a locked OR on it only when the block had no dirty page since
 * the last harvest. Marks are the same whatever the block's granule: the
 * fine bits are always recorded and the granule only decides what a
 * harvest emits, so coarse blocks need no other path.
 *
 * The fields of struct sq_mark_handle belong to the library: read-only for
 * the caller, valid from sq_tracker_handle_get() until
 * sq_tracker_handle_put(). A handle may be copied between threads only
 * with a happens-before edge (as any plain struct); one handle may be used
 * by any number of threads at once, but it is put back exactly once.
 */
#ifndef SQUIB_TRACKER_INLINE_H
#define SQUIB_TRACKER_INLINE_H

#include <stddef.h>
#include <stdint.h>
#include <squib/error.h>
#include <squib/export.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

struct sq_tracker;

struct sq_mark_handle {
	uintptr_t base;     /* region start */
	uint64_t len;       /* region length in bytes */
	uint64_t npages;    /* len / 4 KiB */
	uint64_t *words;    /* fine bits: page p is bit p % 64 of words[p / 64] */
	uint64_t *summary;  /* block b may be dirty: bit b % 64 of summary[b / 64] */
	uint32_t region;    /* region id */
	uint32_t fence;     /* 1: full fence before the test load (no membarrier) */
	void *pin;          /* the pinned region (library-private) */
};

/**
 * sq_tracker_handle_get() - pin region @id and fill @h for marking.
 *
 * Returns 0, SQ_E_INVAL (NULL argument) or SQ_E_NOT_FOUND (no such region,
 * or it is being removed). On failure @h is zeroed. Any thread; takes the
 * tracker's control lock for reading and the region's pin lock, so it must
 * not be called in a hot loop (obtain once per thread and region).
 */
SQ_API int sq_tracker_handle_get(struct sq_tracker *t, uint32_t id, struct sq_mark_handle *h);

/**
 * sq_tracker_handle_put() - unpin; @h is zeroed and must not be used again.
 *
 * Wakes a sq_tracker_remove_region() waiting for this region. A zeroed
 * handle (never obtained, or already put) is ignored. Any thread; never
 * blocks for longer than the pin lock is held (a few instructions).
 */
SQ_API void sq_tracker_handle_put(struct sq_mark_handle *h);

/**
 * sq_handle_mark_outside() - the out-of-line tail of sq_handle_mark() for
 * an address outside the handle's region: records the error message and
 * returns SQ_E_RANGE.
 */
SQ_API int sq_handle_mark_outside(const struct sq_mark_handle *h, const void *addr);

/**
 * sq_handle_mark_range() - every page touching [addr, addr + len) of the
 * handle's region was written. Same contract as sq_tracker_mark_range():
 * 0, or SQ_E_RANGE when the range leaves the region (nothing marked);
 * len 0 is a no-op. One test or RMW per 64-page word. Lock-free.
 */
SQ_API int sq_handle_mark_range(const struct sq_mark_handle *h, const void *addr, size_t len);

/**
 * sq_handle_mark_pages() - mark @n pages of the handle's region given as
 * page offsets (page i = bytes [i * 4 KiB, (i + 1) * 4 KiB) of the region),
 * in any order, duplicates allowed: a KVM dirty ring's (slot, offset)
 * entries for one memory slot, delivered as one batch.
 *
 * Returns 0, or SQ_E_RANGE when an offset is not below the region's page
 * count: then nothing is marked (the batch is checked first). Lock-free.
 */
SQ_API int sq_handle_mark_pages(const struct sq_mark_handle *h, const uint64_t *pages, size_t n);

#if defined(__SANITIZE_THREAD__)
#define SQ_HANDLE_TSAN_ 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SQ_HANDLE_TSAN_ 1
#endif
#endif

/*
 * sq_handle_set_() - the clean-page tail: the seq_cst RMW on the word, then
 * the block's summary bit (load first, RMW only when clear). This is M1-M3
 * of the "No lost marks" table in engine/harvest.c, unchanged.
 */
static inline void sq_handle_set_(const struct sq_mark_handle *h, uint64_t *w, uint64_t bit,
				  uint64_t blk)
{
	uint64_t *sw = h->summary + (blk >> 6);
	uint64_t sb = (uint64_t)1 << (blk & 63);

	__atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(sw, __ATOMIC_SEQ_CST) & sb))
		__atomic_fetch_or(sw, sb, __ATOMIC_SEQ_CST);
}

/**
 * sq_handle_mark() - the page of the handle's region holding @addr was
 * written (call it after the write).
 *
 * Returns 0, or SQ_E_RANGE (out of line) when @addr is outside the region.
 * Any thread holding a live handle; lock-free, no call, no system call.
 * Memory ordering: as sq_tracker_mark() (see squib/tracker.h): stores made
 * before the mark are visible to the thread whose harvest reports the page.
 */
static inline int sq_handle_mark(const struct sq_mark_handle *h, const void *addr)
{
	uint64_t off = (uint64_t)((uintptr_t)addr - h->base);

	if (__builtin_expect(off >= h->len, 0))
		return sq_handle_mark_outside(h, addr);
	uint64_t page = off >> SQ_PAGE_SHIFT;
	uint64_t *w = h->words + (page >> 6);
	uint64_t bit = (uint64_t)1 << (page & 63);

	/* Keep the caller's data stores before the test load. The harvest's
	 * membarrier orders them for a mark that finds the bit set; without
	 * membarrier the marker fences (engine/harvest.c, "Visibility"). */
#ifdef SQ_HANDLE_TSAN_
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* TSan models no fences */
#else
	if (__builtin_expect(h->fence != 0, 0))
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
	if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit)
		return 0;
	sq_handle_set_(h, w, bit, page >> 9);
	return 0;
}

/**
 * sq_handle_mark_page() - as sq_handle_mark(), for page @page of the region
 * (a KVM dirty-ring offset). SQ_E_RANGE when @page >= the page count.
 */
static inline int sq_handle_mark_page(const struct sq_mark_handle *h, uint64_t page)
{
	if (__builtin_expect(page >= h->npages, 0))
		return sq_handle_mark_outside(h, (const void *)(h->base + (page << SQ_PAGE_SHIFT)));
	return sq_handle_mark(h, (const void *)(h->base + (page << SQ_PAGE_SHIFT)));
}

SQ_END_DECLS

#endif /* SQUIB_TRACKER_INLINE_H */
