/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/live.c - live (copy-on-write) saves of a pair: choose how S is
 * protected, harvest, protect, resume the workload, stream S through the
 * copy-on-write page reader (live_cow.c), commit; or fall back to the
 * paused save and say why (squib/live.h has the table).
 *
 * Ordering: everything up to opts->resume runs with the caller's workload
 * paused; the harvest, the page states of S and the protection (own
 * userfaultfd, or the tracker's protection plus the installed hook) are
 * all in place before resume, so the first write after it already faults
 * into sq_cow_hook. The hook is removed (tracker mode; the removal waits
 * for a running call) or the handler joined (own mode) before the state
 * is freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <squib/live.h>
#include <squib/snapshot.h>
#include <squib/tracker.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/sized.h"
#include "core/runs.h"
#include "snapshot/live_internal.h"

/* A paused save (the workload stays paused throughout), then resume. */
static int save_paused(const struct sq_snapshot_save_req *q, const struct sq_live_opts *lo,
		       struct sq_tracker *t, uint32_t region, struct sq_snapshot_report *r,
		       struct sq_live_report *rep, double t0, const char *why)
{
	struct sq_snapshot_save_req p = *q;
	int rc;

	snprintf(rep->fallback, sizeof(rep->fallback), "%s", why);
	rep->protect = "none";
	p.live = NULL;
	if (lo->require) {
		lo->resume(lo->ctx);
		return sq_err(SQ_E_UNSUPPORTED, "live save: %s", why);
	}
	rc = t ? sq_snapshot_save_tracked(&p, t, region, r) : sq_snapshot_save(&p, r);
	rep->pause_s = rep->total_s = sq_clock_s() - t0;
	rep->pages = rc ? 0 : r->pages_dirty;
	lo->resume(lo->ctx);
	return rc;
}

/* Why region @region of @t cannot be saved live, or NULL. */
static const char *cannot_live(struct sq_tracker *t, uint32_t region, int *tracker_sync)
{
	struct sq_dirty_stats st = SQ_INIT(struct sq_dirty_stats);

	*tracker_sync = 0;
	if (!sq_live_supported())
		return "synchronous userfaultfd write-protect (with WP_UNPOPULATED) is not "
		       "available to this process";
	if (!t)
		return NULL;
	if (sq_tracker_stats(t, region, &st))
		return NULL; /* the harvest reports the missing region */
	if (st.kernel_mode == SQ_KERNEL_ASYNC)
		return "the region is tracked by asynchronous kernel write-protect "
		       "(WP_ASYNC resolves faults in the kernel, and a range takes one "
		       "userfaultfd): create the tracker with SQ_KERNEL_SYNC for live saves";
	*tracker_sync = st.kernel_mode == SQ_KERNEL_SYNC;
	return NULL;
}

static int live_save(const struct sq_snapshot_save_req *q, const struct sq_live_opts *lo,
		     struct sq_tracker *t, uint32_t region, struct sq_snapshot_report *r,
		     struct sq_live_report *rep)
{
	struct sq_dirty_set *set = NULL;
	struct sq_cow *cow = NULL;
	struct sq_run *runs4k = NULL;
	uint64_t pages4k = 0;
	double t0 = sq_clock_s();
	int tracker_sync, rc;

	if (!lo->resume)
		return sq_err(SQ_E_INVAL, "live save: the resume callback is required");
	if (!q->mem || !q->mem->base || q->mem->size % SQ_PAGE_SIZE) {
		lo->resume(lo->ctx);
		return sq_err(SQ_E_INVAL, "live save: the memory source must be a mapped region");
	}
	const char *why = cannot_live(t, region, &tracker_sync);
	if (why)
		return save_paused(q, lo, t, region, r, rep, t0, why);

	struct sq_snapshot_save_req p = *q;
	p.live = NULL;
	if (t) {
		rc = sq_tracker_harvest(t, region, &set);
		if (rc) {
			lo->resume(lo->ctx);
			return rc;
		}
		/* Memory files and the copy-on-write map count 4 KiB pages,
		 * whatever the region's page size. */
		rc = sq_runs_4k(sq_dirty_set_runs(set), sq_dirty_set_nruns(set),
				sq_dirty_set_page_size(set), q->mem->size >> SQ_PAGE_SHIFT, &runs4k,
				&p.nruns, &pages4k);
		if (rc) {
			(void)sq_tracker_put_back(t, set);
			sq_dirty_set_destroy(set);
			lo->resume(lo->ctx);
			return rc;
		}
		p.runs = q->kind == SQ_SNAPSHOT_DIFF ? (runs4k ? runs4k : sq_dirty_set_runs(set)) : NULL;
		if (q->kind != SQ_SNAPSHOT_DIFF)
			p.nruns = 0;
	} else if (q->kind == SQ_SNAPSHOT_FULL) {
		p.runs = NULL;
		p.nruns = 0;
	}
	static const struct sq_run none;
	const struct sq_run *cow_runs = p.runs;
	if (q->kind == SQ_SNAPSHOT_DIFF && (!cow_runs || !p.nruns))
		cow_runs = &none; /* an empty diff protects nothing */
	rc = sq_cow_create(q->mem->base, q->mem->size, cow_runs, cow_runs ? p.nruns : 0, &cow);
	if (!rc) {
		if (tracker_sync) {
			rep->protect = "tracker-sync";
			sq_cow_hook_unit(cow, sq_dirty_set_page_size(set));
			rc = sq_tracker_set_wp_hook(t, region, sq_cow_hook, cow);
		} else {
			rep->protect = "own-uffd";
			rc = sq_cow_protect_own(cow, cow_runs, cow_runs ? p.nruns : 0);
		}
	}
	if (rc == SQ_E_UNSUPPORTED) {
		/* Nothing is protected: save the harvested set paused. */
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", sq_last_error());
		sq_cow_destroy(cow);
		cow = NULL;
		snprintf(rep->fallback, sizeof(rep->fallback), "%s", msg);
		rep->protect = "none";
		if (lo->require) {
			rc = sq_err(SQ_E_UNSUPPORTED, "%s", msg);
		} else {
			rc = sq_snapshot_save(&p, r);
			rep->pause_s = sq_clock_s() - t0;
		}
		lo->resume(lo->ctx);
		goto done;
	}
	if (rc) {
		lo->resume(lo->ctx);
		goto done;
	}
	rep->live = true;
	rep->pause_s = sq_clock_s() - t0;
	lo->resume(lo->ctx);

	struct sq_mem_source src = { .read = sq_cow_read, .ctx = cow, .size = q->mem->size,
				     .live = true };
	p.mem = &src;
	rc = sq_snapshot_save(&p, r);
	if (tracker_sync)
		(void)sq_tracker_set_wp_hook(t, region, NULL, NULL);
	struct sq_cow_stats cs;
	sq_cow_get_stats(cow, &cs);
	rep->cow_pages = cs.cow_pages;
	rep->faults = cs.faults;
	rep->stall_s = (double)cs.stall_ns * 1e-9;
done:
	sq_cow_destroy(cow);
	free(runs4k);
	rep->total_s = sq_clock_s() - t0;
	if (set) {
		rep->pages = q->kind == SQ_SNAPSHOT_DIFF ? pages4k : q->mem->size >> SQ_PAGE_SHIFT;
		if (rc) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", sq_last_error());
			/* Transactional harvest: the bits go back before we return. */
			int pb = sq_tracker_put_back(t, set);
			sq_dirty_set_destroy(set);
			return pb ? pb : sq_err(rc, "%s", msg);
		}
		sq_tracker_note_io(t, region, r->io->io_ops, r->io->bytes_written,
				   (uint64_t)(r->io->seconds * 1e9));
		if (q->kind == SQ_SNAPSHOT_DIFF)
			r->pages_dirty = pages4k;
		sq_dirty_set_destroy(set);
	} else if (!rc) {
		rep->pages = r->pages_dirty;
	}
	return rc;
}

int sq_live_save(const struct sq_snapshot_save_req *q, struct sq_tracker *t, uint32_t region,
		 struct sq_snapshot_report *r)
{
	struct sq_live_opts lo = SQ_INIT(struct sq_live_opts);
	struct sq_live_report rep = SQ_INIT(struct sq_live_report);
	int rc = SQ_SIZED_IN(lo, q->live, SQ_V0_LIVE_OPTS, "sq_live_opts");

	if (!rc)
		rc = sq_sized_check(lo.report, SQ_V0_LIVE_REPORT, "sq_live_report");
	if (rc)
		return rc;
	rc = live_save(q, &lo, t, region, r, &rep);
	SQ_SIZED_OUT(lo.report, rep);
	return rc;
}
