/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/tracker_source.c - the pre-copy loop's dirty pages from an engine
 * tracker region.
 *
 * Invariant: a set handed out by harvest is freed exactly once, by release
 * (sent) or by put_back (merged back into the tracker first, so a failed
 * round loses no page). Runs go out in 4 KiB pages (the stream's), also
 * for a region of larger pages; put_back takes the set in its own pages.
 */
#include <squib/migrate.h>
#include <squib/tracker.h>

#include <stdlib.h>

#include "core/err.h"
#include "core/runs.h"

/* A harvested set and its runs in the stream's 4 KiB pages. */
struct tr_set {
	struct sq_dirty_set *s;
	struct sq_run *runs4k; /* NULL: the set's runs are 4 KiB pages */
};

/*
 * Where the set's 4 KiB pages end: the region's end when the last run
 * reaches it (a partial last page lacks pages * page_size - bytes bytes,
 * sq_dirty_set_bytes), else no limit.
 */
static uint64_t end_4k(const struct sq_dirty_set *s)
{
	size_t n = sq_dirty_set_nruns(s);
	uint64_t ps = sq_dirty_set_page_size(s);

	if (!n)
		return UINT64_MAX;
	const struct sq_run *last = &sq_dirty_set_runs(s)[n - 1];
	uint64_t lack = sq_dirty_set_pages(s) * ps - sq_dirty_set_bytes(s);
	return ((last->first_page + last->npages) * ps - lack + SQ_PAGE_SIZE - 1) >> SQ_PAGE_SHIFT;
}

static int tr_harvest(void *ctx, void **set, const struct sq_run **runs, size_t *nruns)
{
	struct sq_migrate_tracker_ctx *c = ctx;
	struct tr_set *ts = calloc(1, sizeof(*ts));
	uint64_t pages;
	int rc;

	if (!ts)
		return sq_err(SQ_E_NOMEM, "pre-copy: out of memory");
	rc = sq_tracker_harvest(c->tracker, c->region_id, &ts->s);
	if (rc) {
		free(ts);
		return rc;
	}
	/* The stream counts 4 KiB pages, whatever the region's page size;
	 * a partial last page ends at the region's end. */
	rc = sq_runs_4k(sq_dirty_set_runs(ts->s), sq_dirty_set_nruns(ts->s),
			sq_dirty_set_page_size(ts->s), end_4k(ts->s), &ts->runs4k, nruns, &pages);
	if (rc) {
		(void)sq_tracker_put_back(c->tracker, ts->s);
		sq_dirty_set_destroy(ts->s);
		free(ts);
		return rc;
	}
	*set = ts;
	*runs = ts->runs4k ? ts->runs4k : sq_dirty_set_runs(ts->s);
	return 0;
}

static void tr_free(struct tr_set *ts)
{
	sq_dirty_set_destroy(ts->s);
	free(ts->runs4k);
	free(ts);
}

static void tr_put_back(void *ctx, void *set)
{
	struct sq_migrate_tracker_ctx *c = ctx;
	struct tr_set *ts = set;

	(void)sq_tracker_put_back(c->tracker, ts->s);
	tr_free(ts);
}

static void tr_release(void *ctx, void *set)
{
	(void)ctx;
	tr_free(set);
}

void sq_migrate_tracker_source(struct sq_migrate_tracker_ctx *ctx, struct sq_migrate_source *src)
{
	src->harvest = tr_harvest;
	src->put_back = tr_put_back;
	src->release = tr_release;
	src->ctx = ctx;
}
