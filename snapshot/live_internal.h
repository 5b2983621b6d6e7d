/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/live_internal.h - live saves (live.c) and their copy-on-write
 * state (live_cow.c).
 */
#ifndef SQ_SNAPSHOT_LIVE_INTERNAL_H
#define SQ_SNAPSHOT_LIVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <squib/snapshot.h>
#include <squib/types.h>

/* The live branch of sq_snapshot_save (@t NULL) and of
 * sq_snapshot_save_tracked; @q->live is not NULL. @q and @r are the
 * library's full-size copies (@r and @r->io not NULL); the caller's
 * sq_live_opts and sq_live_report are read and written here within their
 * sizes (core/sized.h). */
int sq_live_save(const struct sq_snapshot_save_req *q, struct sq_tracker *t, uint32_t region,
		 struct sq_snapshot_report *r);

/*
 * The copy-on-write state of one live save over [base, base + size):
 * which pages are in S and not yet saved, their staged copies, and (own
 * mode) the userfaultfd and its fault handler thread.
 */
struct sq_cow;

struct sq_cow_stats {
	uint64_t cow_pages;
	uint64_t faults;
	uint64_t stall_ns;
};

/* Pages of @runs (NULL: every page) become "pending". 0 or SQ_E_NOMEM. */
int sq_cow_create(const void *base, uint64_t size, const struct sq_run *runs, size_t nruns,
		  struct sq_cow **out);
/* Own mode: a userfaultfd registered for write-protect on the region, the
 * pending pages protected, a handler thread started. 0, SQ_E_UNSUPPORTED
 * (nothing left registered), SQ_E_IO. */
int sq_cow_protect_own(struct sq_cow *c, const struct sq_run *runs, size_t nruns);
/* sq_tracker_wp_hook_fn: copy the pending pages of a range before a write.
 * The range is in the tracker region's pages (sq_cow_hook_unit). */
void sq_cow_hook(void *ctx, uint64_t first_page, uint64_t npages);
/* The page size sq_cow_hook's ranges count (a power of two >= 4 KiB; the
 * default is 4 KiB). Set before the hook is installed. */
void sq_cow_hook_unit(struct sq_cow *c, uint32_t page_size);
/* sq_page_read_fn for the writer: pages from the staging copy or the
 * still-protected region; marks them saved (own mode: unprotects them). */
int sq_cow_read(void *ctx, uint64_t off, void *buf, size_t len);
/* memcpy, out of line: the copy TSan must not pair with a held writer's
 * store (tests/tsan.supp). */
void sq_live_copy_page(void *dst, const void *src, size_t len);
void sq_cow_get_stats(struct sq_cow *c, struct sq_cow_stats *st);
/* Stops the handler, closes the userfaultfd, frees. NULL is ignored. */
void sq_cow_destroy(struct sq_cow *c);

#endif /* SQ_SNAPSHOT_LIVE_INTERNAL_H */
