/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/tracker.h - the dirty-tracking engine.
 *
 * A tracker knows which pages of its regions were written since the last
 * harvest. Each region has its own page size (a power of two from 4 KiB to
 * 64 KiB, sq_tracker_add_region_opts; 4 KiB for sq_tracker_add_region):
 * every page number, run and count of a region is in its pages. Writes are reported through the API (sq_tracker_mark*),
 * imported in bulk from KVM-style dirty bitmaps, or observed by the kernel
 * (SQ_REGION_KERNEL_WP: userfaultfd write-protect, harvested with
 * PAGEMAP_SCAN). A harvest returns the dirty pages as sorted, merged runs
 * and clears them; a failed consumer puts the set back.
 *
 *   operation                     cost / context
 *   ---------------------------   ------------------------------------------
 *   sq_tracker_mark               any thread; lock-free, no syscall, no
 *                                 allocation; already-dirty = one load
 *   sq_tracker_mark_range         any thread; one RMW per 64-bit word
 *   sq_tracker_import_bitmap      any thread; OR of a KVM_GET_DIRTY_LOG map
 *   sq_tracker_mark_pages         any thread; a batch of page offsets (a
 *                                 KVM dirty ring's entries for one slot)
 *   sq_tracker_handle_get / _put  any thread; pin a region for the inline
 *                                 mark (squib/tracker_inline.h)
 *   sq_handle_mark                inline: already-dirty = one load and a
 *                                 compare; clean = one locked OR (+ the
 *                                 block's summary when it turns dirty)
 *   sq_tracker_harvest            get-and-clear; cost follows the dirty area
 *   sq_tracker_peek / _count      no clear
 *   sq_tracker_put_back           OR-merge a harvested set back
 *   sq_tracker_add/remove_region  any thread; concurrent with marks
 *
 * Geometry: a region starts on a 4 KiB boundary; its pages (4 to 64 KiB)
 * are grouped in 2 MiB blocks of 512, 256, 128, 64 or 32 pages (the last
 * block of a region may be partial, and so may its last page when the
 * length is not a multiple of the page size: that page is tracked and
 * reported like any other, as the original's DirtyBitmap does). Each block
 * has a granule: fine (each page reported on its own) or coarse (a dirty
 * block is reported as one whole-block run, clipped to the region end).
 * Fine bits are always recorded; the granule decides what a harvest
 * emits and, for synchronous kernel tracking, how much one write fault
 * unprotects. The adaptive controller moves blocks between granules at the
 * end of each harvest, from measured costs (sq_tracker_note_io, faults).
 *
 * Synchronization table ("yes" = may run concurrently, correct):
 *
 *                     mark/range/ handle    harvest/peek/ add/remove   destroy
 *                     import/pages get/put/  put_back/stats region
 *                                  marks
 *   mark/range/...    yes         yes (1)    yes (1)       yes (2)      no
 *   handle get/put/   yes (1)     yes (1)    yes (1)       yes (5)      no (5)
 *     handle marks
 *   harvest/peek/...  yes (1)     yes (1)    yes (3)       yes (4)      no
 *   add/remove region yes (2)     yes (5)    yes (4)       yes (4)      no
 *
 *  (1) No lost marks: a mark that returns before a harvest starts, or runs
 *      while it runs, is in that harvest or in the next harvest of the
 *      region; a page is never reported without a mark, import, put-back
 *      or kernel-observed write. (Argument: the "No lost marks" table in
 *      engine/harvest.c, checked by the Promela model
 *      engine/model/mark_harvest.pml: change the protocol, the table and
 *      the model together.)
 *  (2) Markers find regions through an RCU-published table (liburcu,
 *      urcu-memb). A mark on a region being removed either lands in it or
 *      fails with SQ_E_RANGE; a removed region's memory is released only
 *      after every marker that could see it has left its read section.
 *      (Model: engine/model/region_rcu.pml, with rows (2) and (4); change
 *      it together with engine/tracker.c and engine/rcu.c.)
 *  (3) Harvests of one region are serialized (a per-region mutex); harvests
 *      of different regions run in parallel.
 *  (4) Add/remove wait for in-flight harvests, peeks and put-backs.
 *  (5) Mark handles pin their region: sq_tracker_handle_get() finds the
 *      region by id under the tracker's control lock (read) and raises its
 *      pin count; sq_tracker_remove_region() unpublishes the region under
 *      that lock (write), so no new handle can pin it, releases the lock,
 *      then waits until every handle on the region is put back before it
 *      frees the bitmap. Handle marks need no read section: their region
 *      cannot be freed under them. A thread must put back its own handles
 *      before it removes their region or destroys the tracker (it would
 *      wait for itself); holding a handle while calling any other tracker
 *      function, a harvest of the same region included, is fine. Marks
 *      through a handle are the same bit and summary updates as
 *      sq_tracker_mark, so (1) and the memory ordering below hold for them
 *      unchanged. (Model: engine/model/handle_pin.pml; change it together
 *      with engine/handle.c and engine/tracker.c.)
 *
 * Thread registration (liburcu): automatic. The first tracker call on a
 * thread registers it with urcu-memb, and a thread-exit destructor
 * unregisters it, so callers never call urcu_memb_register_thread()
 * themselves (doing so as well is harmless). A thread must not be
 * cancelled inside a tracker call.
 *
 * Memory ordering: memory a thread writes before it marks a page (or a
 * range or import that covers it) is visible to the thread that harvests
 * the page, once sq_tracker_harvest returns. A mark that sets a bit is a
 * seq_cst RMW the harvest's exchange synchronizes with; a mark that finds
 * the bit already set is one load, and the harvest publishes such marks'
 * earlier stores with a process-wide membarrier (a full fence in the
 * marker where the kernel lacks membarrier). Marking before writing gives
 * no such guarantee: mark after the write (as a KVM dirty log does).
 */
#ifndef SQUIB_TRACKER_H
#define SQUIB_TRACKER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

struct sq_tracker;
struct sq_dirty_set;

/* Region flags. */
#define SQ_REGION_KERNEL_WP 0x1u /* the kernel tracks writes (uffd-wp async, else sync) */

enum sq_granule_mode {
	SQ_GRANULE_ADAPTIVE = 0, /* per-block controller (default) */
	SQ_GRANULE_FIXED_4K = 1, /* every block fine */
	SQ_GRANULE_FIXED_2M = 2, /* every block coarse */
};

enum sq_kernel_mode {
	SQ_KERNEL_AUTO = 0,  /* async (PAGEMAP_SCAN) if the kernel has it, else sync */
	SQ_KERNEL_ASYNC = 1, /* UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN only */
	SQ_KERNEL_SYNC = 2,  /* synchronous uffd-wp faults served by a thread only */
};

/* The granule of one block (sq_tracker_granule / sq_tracker_set_granule). */
enum sq_granule { SQ_GRANULE_FINE = 0, SQ_GRANULE_COARSE = 1 };

/*
 * struct sq_cost_model - the controller's calibratable constants.
 * A zero field takes the default (documented in docs/ARCHITECTURE.md,
 * "Engine", with the measurements they come from).
 *
 * Per epoch and block, with p dirty pages in r runs (EWMAs of the
 * block's fine bits, counted the same whether the block is fine or coarse):
 *   fine   = p * fault_ns + r * io_op_ns + p * 4096 * byte_ps / 1000
 *   coarse = 1 * fault_ns + 1 * io_op_ns + block_bytes * byte_ps / 1000
 * A fine block goes coarse when coarse * (100 + hysteresis_pct) < fine * 100
 * for min_epochs consecutive epochs, and back when the reverse holds;
 * fault_ns is the cost of one tracked first write (a kernel fault for
 * KERNEL_WP regions, fault_ns_soft for API-marked regions).
 */
struct sq_cost_model {
	uint32_t fault_ns;       /* sync uffd-wp fault round trip (default 6000) */
	uint32_t fault_ns_async; /* async uffd-wp fault (default 700) */
	uint32_t fault_ns_soft;  /* an API mark (default 10) */
	uint32_t io_op_ns;       /* one write request (default 15000) */
	uint32_t byte_ps;        /* picoseconds per byte written (default 800) */
	uint32_t hysteresis_pct; /* default 25 */
	uint32_t min_epochs;     /* default 2 */
};

/*
 * struct sq_region_opts - options of sq_tracker_add_region_opts().
 * Initialise with SQ_INIT (squib/types.h); zero fields take the defaults.
 */
struct sq_region_opts {
	uint32_t size;      /* sizeof(struct sq_region_opts): SQ_INIT (squib/types.h) */
	unsigned flags;     /* 0 or SQ_REGION_KERNEL_WP */
	uint32_t page_size; /* bytes, a power of two 4096..65536; 0 = the host's page */
};

struct sq_tracker_opts {
	uint32_t size; /* sizeof(struct sq_tracker_opts): SQ_INIT (squib/types.h) */
	enum sq_granule_mode granule;
	enum sq_kernel_mode kernel;
	struct sq_cost_model cost;
	uint32_t ewma_alpha_pct; /* weight of the newest epoch, 1..100 (default 30) */
};

/*
 * struct sq_dirty_stats - per-region dirty-rate statistics, updated at the
 * end of each harvest (one harvest = one epoch).
 */
struct sq_dirty_stats {
	uint32_t size; /* sizeof(struct sq_dirty_stats): SQ_INIT (squib/types.h) */
	uint64_t epoch;             /* harvests completed */
	uint64_t npages;            /* tracked pages */
	uint64_t nblocks;           /* 2 MiB blocks */
	uint64_t last_pages;        /* pages reported by the last harvest */
	uint64_t last_epoch_ns;     /* length of the last epoch */
	double pages_per_sec;       /* last_pages / last epoch length */
	double ewma_pages_per_sec;  /* exponentially weighted average */
	uint64_t total_pages;       /* sum over all harvests */
	uint64_t kernel_faults;     /* write faults served (sync) or pages seen written (async) */
	uint64_t coarse_blocks;     /* blocks currently coarse */
	uint64_t to_coarse;         /* controller transitions fine -> coarse */
	uint64_t to_fine;           /* controller transitions coarse -> fine */
	uint64_t io_ops;            /* totals given to sq_tracker_note_io */
	uint64_t io_bytes;
	unsigned kernel_mode;       /* 0 = API only, else SQ_KERNEL_ASYNC / SQ_KERNEL_SYNC */
};

/**
 * sq_tracker_create() - a tracker with no regions.
 * @opts: NULL for defaults; copied.
 * @out:  receives the tracker, owned by the caller (sq_tracker_destroy).
 *
 * Returns 0, SQ_E_INVAL (bad option value) or SQ_E_NOMEM. Any thread.
 */
SQ_API int sq_tracker_create(const struct sq_tracker_opts *opts, struct sq_tracker **out);

/**
 * sq_tracker_destroy() - remove every region and free the tracker.
 *
 * No other call on @t may be running or start afterwards; waits for mark
 * handles still pinning a region (put them back first). NULL is ignored.
 */
SQ_API void sq_tracker_destroy(struct sq_tracker *t);

/**
 * sq_tracker_kernel_support() - which kernel modes this system offers.
 *
 * Returns a mask of (1 << SQ_KERNEL_ASYNC) and (1 << SQ_KERNEL_SYNC); 0 when
 * userfaultfd write-protect is unavailable (old kernel, no permission).
 * Probes once, caches the answer. Any thread.
 */
SQ_API unsigned sq_tracker_kernel_support(void);

/**
 * sq_tracker_add_region() - start tracking [base, base + len).
 * @base, @len: page aligned (SQ_E_ALIGN), len > 0 (SQ_E_INVAL), not
 *     overlapping another region (SQ_E_OVERLAP).
 * @flags: 0 or SQ_REGION_KERNEL_WP. With it, the memory must be mapped
 *     (anonymous private, or shared: memfd / shmem) and the kernel reports
 *     writes made by anyone; SQ_E_UNSUPPORTED when the kernel cannot.
 * @id_out: receives the region id (ids are never reused by a tracker).
 *
 * The region starts clean: with KERNEL_WP, all of it is write-protected.
 * Its pages are 4 KiB, whatever the host's (as before page sizes existed;
 * sq_tracker_add_region_opts() chooses). Returns 0 or a negative code; on
 * failure nothing changed. Any thread; concurrent markers see the region
 * once this returns.
 */
SQ_API int sq_tracker_add_region(struct sq_tracker *t, void *base, size_t len, unsigned flags,
				 uint32_t *id_out);

/**
 * sq_tracker_add_region_opts() - start tracking [base, base + len) in pages
 * of @opts->page_size (0: the host's, sysconf(_SC_PAGESIZE)).
 * @opts: NULL for the defaults (host pages, no flags); read, not kept.
 *
 * As sq_tracker_add_region() with flags = @opts->flags, except:
 * - page_size not a power of two: SQ_E_PAGE_SIZE, "page_size must be a
 *   power of two: N" (the original's text); a power of two outside 4 KiB
 *   .. 64 KiB: SQ_E_PAGE_SIZE.
 * - len 0: SQ_E_INVAL, "dirty bitmap requires a non-empty RAM range";
 *   base + len wraps: SQ_E_INVAL, "RAM range overflows: start=B, size=L".
 * - base must be 4 KiB aligned (SQ_E_ALIGN), len need not be a multiple of
 *   the page size: the partial last page is page ceil(len / page_size) - 1,
 *   tracked and reported whole as a page number (sq_dirty_set_bytes counts
 *   only its bytes inside the region). With SQ_REGION_KERNEL_WP len must be
 *   a multiple of 4 KiB (SQ_E_ALIGN): the kernel protects host pages.
 * - opts->size 0 or too small: SQ_E_INVAL.
 * Mark handles are refused for regions whose page is not 4 KiB
 * (sq_tracker_handle_get: SQ_E_PAGE_SIZE). Any thread.
 */
SQ_API int sq_tracker_add_region_opts(struct sq_tracker *t, void *base, size_t len,
				      const struct sq_region_opts *opts, uint32_t *id_out);

/**
 * sq_tracker_remove_region() - stop tracking; unsaved dirty bits are dropped.
 *
 * Returns 0 or SQ_E_NOT_FOUND. Waits for harvests of the region, for a
 * grace period of the markers and until every mark handle on the region is
 * put back (sq_tracker_handle_put); afterwards the memory may be unmapped.
 * The calling thread must not hold a handle on the region.
 * Must not be called from a marking callback or inside an RCU read section.
 */
SQ_API int sq_tracker_remove_region(struct sq_tracker *t, uint32_t id);

/**
 * sq_tracker_mark() - the page (of the region's size) holding @addr was written.
 *
 * Returns 0, or SQ_E_RANGE when no region holds @addr. Any thread;
 * lock-free, no system call, no allocation after the thread's first call.
 */
SQ_API int sq_tracker_mark(struct sq_tracker *t, const void *addr);

/**
 * sq_tracker_mark_range() - every page touching [addr, addr + len) was written.
 *
 * The range must lie inside one region: SQ_E_RANGE otherwise (nothing is
 * marked). len 0 is a no-op returning 0. Any thread, lock-free.
 */
SQ_API int sq_tracker_mark_range(struct sq_tracker *t, const void *addr, size_t len);

/**
 * sq_tracker_import_bitmap() - OR a KVM-style dirty log into region @id.
 * @words: one bit per page of the region (its page size: 4 KiB for a
 *     KVM_GET_DIRTY_LOG of an x86-64 host, the host's page on arm64), bit i
 *     of word i / 64 (least significant first) = page i of the region.
 * @nwords: must be exactly ceil(npages / 64): SQ_E_SIZE_MISMATCH otherwise.
 *
 * Bits beyond the region's last page must be zero (SQ_E_INVAL). Nothing
 * is imported on failure. Returns 0, SQ_E_NOT_FOUND. Any thread, lock-free.
 */
SQ_API int sq_tracker_import_bitmap(struct sq_tracker *t, uint32_t id, const uint64_t *words,
				    size_t nwords);

/**
 * sq_tracker_mark_pages() - mark @n pages of region @id given as page
 * offsets (page i = bytes [i * P, (i + 1) * P) of the region, P its page size), in
 * any order, duplicates allowed: the entries a KVM dirty ring delivers for
 * one memory slot (struct kvm_dirty_gfn.offset), in one call.
 *
 * Returns 0, SQ_E_NOT_FOUND, SQ_E_INVAL (@pages NULL with n > 0) or
 * SQ_E_RANGE (an offset not below the region's page count): nothing is
 * marked on failure (the batch is checked first). Any thread, lock-free;
 * consecutive entries in one 64-page word cost one test-and-OR.
 */
SQ_API int sq_tracker_mark_pages(struct sq_tracker *t, uint32_t id, const uint64_t *pages,
				 size_t n);

/**
 * sq_tracker_harvest() - get-and-clear the dirty pages of region @id.
 * @out: receives a dirty set (sq_dirty_set_destroy), possibly empty.
 *
 * For KERNEL_WP regions the kernel's written pages are collected and
 * re-protected first, then merged. Coarse blocks are emitted whole.
 * Ends an epoch: updates statistics and runs the granule controller.
 * Returns 0, SQ_E_NOT_FOUND, SQ_E_NOMEM (nothing cleared), or SQ_E_IO
 * for a failed kernel call (the bits gathered so far stay in the tracker).
 * Any thread; serialized per region.
 */
SQ_API int sq_tracker_harvest(struct sq_tracker *t, uint32_t id, struct sq_dirty_set **out);

/**
 * sq_tracker_peek() - the pages a harvest would report now, without clearing
 * anything (kernel state is read, not re-protected). Same returns as harvest.
 */
SQ_API int sq_tracker_peek(struct sq_tracker *t, uint32_t id, struct sq_dirty_set **out);

/**
 * sq_tracker_count() - number of pages sq_tracker_peek would report.
 */
SQ_API int sq_tracker_count(struct sq_tracker *t, uint32_t id, uint64_t *pages);

/**
 * sq_tracker_put_back() - OR a harvested set back (its consumer failed).
 *
 * The pages are reported again by the next harvest. Works for KERNEL_WP
 * regions too (the bits are kept in the tracker's own bitmap). Returns 0,
 * SQ_E_NOT_FOUND (the region is gone), SQ_E_RANGE (a run outside the
 * region: nothing merged). The set stays owned by the caller. Any thread.
 */
SQ_API int sq_tracker_put_back(struct sq_tracker *t, const struct sq_dirty_set *set);

/**
 * sq_tracker_note_io() - costs of writing a harvest of region @id, for the
 * controller: @ios write requests, @bytes bytes, @ns elapsed (0 = unknown).
 * With ns, the io_op_ns / byte_ps constants are rescaled toward the
 * measurement. Returns 0 or SQ_E_NOT_FOUND. Any thread.
 */
SQ_API int sq_tracker_note_io(struct sq_tracker *t, uint32_t id, uint64_t ios, uint64_t bytes,
			      uint64_t ns);

/** sq_tracker_stats() - statistics of region @id. 0 or SQ_E_NOT_FOUND. */
SQ_API int sq_tracker_stats(struct sq_tracker *t, uint32_t id, struct sq_dirty_stats *out);

/**
 * sq_tracker_heat() - per-block heat: EWMA of dirty pages per epoch (0..pages
 * per block: 512 for 4 KiB pages, 128 for 16 KiB, 32 for 64 KiB)
 * for blocks [first, first + n). SQ_E_RANGE when past the last block.
 */
SQ_API int sq_tracker_heat(struct sq_tracker *t, uint32_t id, uint64_t first, size_t n,
			   float *heat);

/**
 * sq_tracker_granule() / sq_tracker_set_granule() - read or force the
 * granule of one block. Forcing coarse -> fine on a dirty block marks all of
 * its pages (coverage is never lost). In adaptive mode the controller may
 * move the block again at a later harvest. Returns 0 (get: the granule),
 * SQ_E_NOT_FOUND, SQ_E_RANGE.
 */
SQ_API int sq_tracker_granule(struct sq_tracker *t, uint32_t id, uint64_t block);
SQ_API int sq_tracker_set_granule(struct sq_tracker *t, uint32_t id, uint64_t block,
				  enum sq_granule g);

/*
 * A write-protect hook: called by the synchronous fault handler of a
 * KERNEL_WP region in SQ_KERNEL_SYNC mode with the pages [first_page,
 * first_page + npages) (region-relative) a write fault is about to
 * unprotect, while they are still protected and the faulting writer is
 * held (in region pages: a fault unprotects at least one whole page of
 * the region). It must not call back into the tracker for this region's
 * harvest, peek or granule, and should be short (the writer waits).
 */
typedef void (*sq_tracker_wp_hook_fn)(void *ctx, uint64_t first_page, uint64_t npages);

/**
 * sq_tracker_set_wp_hook() - install (@fn) or remove (@fn NULL) the
 * write-protect hook of region @id. Used by live saves (squib/live.h) to
 * copy a page's old content before the write lands.
 *
 * Returns 0, SQ_E_NOT_FOUND, or SQ_E_UNSUPPORTED when the region is not
 * tracked by synchronous kernel faults. Ordering: once it returns, every
 * later fault calls the new hook and no call of the previous one is still
 * running (the handler calls the hook under the lock this takes). Any
 * thread except the hook itself.
 */
SQ_API int sq_tracker_set_wp_hook(struct sq_tracker *t, uint32_t id, sq_tracker_wp_hook_fn fn,
				  void *ctx);

/* Dirty sets: immutable after harvest/peek; any thread may read them. */
SQ_API size_t sq_dirty_set_nruns(const struct sq_dirty_set *s);
/* Sorted, merged, region-relative runs in the region's pages (valid until
 * sq_dirty_set_destroy): byte offset = first_page * sq_dirty_set_page_size(). */
SQ_API const struct sq_run *sq_dirty_set_runs(const struct sq_dirty_set *s);
SQ_API uint64_t sq_dirty_set_pages(const struct sq_dirty_set *s);
/* Bytes the runs cover inside the region (a partial last page counts its
 * bytes in the region only). */
SQ_API uint64_t sq_dirty_set_bytes(const struct sq_dirty_set *s);
/* The page size of the set's region: the unit of its runs; 0 for NULL. */
SQ_API uint32_t sq_dirty_set_page_size(const struct sq_dirty_set *s);
SQ_API uint32_t sq_dirty_set_region(const struct sq_dirty_set *s);
/* NULL is ignored. */
SQ_API void sq_dirty_set_destroy(struct sq_dirty_set *s);

/* Names published before the naming rule (docs/ARCHITECTURE.md, "ABI"); same behaviour. */
SQ_API void sq_dirty_set_free(struct sq_dirty_set *s)
	SQ_DEPRECATED("use sq_dirty_set_destroy");

SQ_END_DECLS

#include <squib/tracker_inline.h> /* mark handles: the inline fast path */

#endif /* SQUIB_TRACKER_H */
