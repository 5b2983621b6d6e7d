/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/live.h - live (copy-on-write) saves of a snapshot pair.
 *
 *   struct sq_live_opts     the `live` option of sq_snapshot_save_req
 *   struct sq_live_report   pause, total, copies before write, stall
 *   sq_live_supported       whether this system can save live at all
 *
 * A live save is asked for with req->live (squib/snapshot.h). The caller
 * calls sq_snapshot_save / sq_snapshot_save_tracked with its workload
 * paused, as for a paused save; the library harvests the pages to save
 * (the set S), write-protects S, and calls opts->resume: from then on the
 * workload runs while S is streamed to the memory file. A write to a page
 * of S not yet saved is held by a synchronous userfaultfd write-protect
 * fault until the page's old content is copied to a staging buffer, so the
 * memory file is exactly the region at the pause instant. The commit is
 * the same as a paused save's.
 *
 * How S is protected depends on who tracks the region:
 *
 *   tracker region              protection during the save
 *   -------------------------   ---------------------------------------
 *   API marks (no KERNEL_WP)    a userfaultfd of the save's own, registered
 *                               for write-protect on the region, S
 *                               protected; saved pages unprotected at once
 *   KERNEL_WP, SQ_KERNEL_SYNC   the tracker's own protection (after a
 *                               harvest every page is protected): its
 *                               fault handler calls the save's hook
 *                               (sq_tracker_set_wp_hook) before it
 *                               unprotects, so one fault both copies and
 *                               marks the page for the next diff
 *   KERNEL_WP, SQ_KERNEL_ASYNC  no synchronous faults on that registration
 *                               (the kernel resolves them itself) and a
 *                               range takes one userfaultfd only: falls
 *                               back to the paused save (report.live = 0)
 *   no sq_tracker (plain save)  as for API marks, on req->runs
 *
 * No lost marks: with API marks the workload marks its own writes, which
 * go on during the save; with SQ_KERNEL_SYNC the tracker's handler marks
 * every first write after the harvest, during the save as at any time.
 */
#ifndef SQUIB_LIVE_H
#define SQUIB_LIVE_H

#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

struct sq_live_report {
	uint32_t size; /* sizeof(struct sq_live_report): SQ_INIT (squib/types.h) */
	bool live;             /* true = saved copy-on-write; 0 = fell back to a paused save */
	char fallback[256];    /* why it fell back (!live) */
	const char *protect;   /* "tracker-sync", "own-uffd" or "none" (fallback) */
	double pause_s;        /* call -> opts->resume (the workload's pause in the save) */
	double total_s;        /* call -> return, commit included */
	uint64_t pages;        /* pages in S */
	uint64_t cow_pages;    /* pages copied before a write */
	uint64_t faults;       /* write faults on the region while the save ran */
	double stall_s;        /* sum over faults of the time a writer was held by a copy */
};

struct sq_live_opts {
	uint32_t size; /* sizeof(struct sq_live_opts): SQ_INIT (squib/types.h) */
	/*
	 * Called exactly once per save, on the calling thread, as soon as the
	 * workload may run again: after S is protected, or, when the save
	 * falls back or fails, when the paused part ends. The save never
	 * pauses the workload itself. Required. Not called when the save
	 * fails at once with SQ_E_INVAL for a struct size (squib/types.h).
	 */
	void (*resume)(void *ctx);
	void *ctx;
	struct sq_live_report *report; /* filled when not NULL, also on failure */
	bool require;                  /* true = SQ_E_UNSUPPORTED instead of falling back */
};

/**
 * sq_live_supported() - 1 when synchronous userfaultfd write-protect with
 * WP_UNPOPULATED is available to this process (Linux 6.2+; unprivileged
 * processes need vm.unprivileged_userfaultfd=1 or UFFD_USER_MODE_ONLY,
 * which the library uses), else 0. Probes once. Any thread.
 */
SQ_API int sq_live_supported(void);

SQ_END_DECLS

#endif /* SQUIB_LIVE_H */
