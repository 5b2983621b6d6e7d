/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/tracker_source.c - the pre-copy loop's dirty pages from an engine
 * tracker region.
 *
 * Invariant: a set handed out by harvest is freed exactly once, by release
 * (sent) or by put_back (merged back into the tracker first, so a failed
 * round loses no page).
 */
#include <squib/migrate.h>
#include <squib/tracker.h>

static int tr_harvest(void *ctx, void **set, const struct sq_run **runs, size_t *nruns)
{
	struct sq_migrate_tracker_ctx *c = ctx;
	struct sq_dirty_set *s = NULL;
	int rc = sq_tracker_harvest(c->tracker, c->region_id, &s);

	if (rc)
		return rc;
	*set = s;
	*runs = sq_dirty_set_runs(s);
	*nruns = sq_dirty_set_nruns(s);
	return 0;
}

static void tr_put_back(void *ctx, void *set)
{
	struct sq_migrate_tracker_ctx *c = ctx;

	(void)sq_tracker_put_back(c->tracker, set);
	sq_dirty_set_free(set);
}

static void tr_release(void *ctx, void *set)
{
	(void)ctx;
	sq_dirty_set_free(set);
}

void sq_migrate_tracker_source(struct sq_migrate_tracker_ctx *ctx, struct sq_migrate_source *src)
{
	src->harvest = tr_harvest;
	src->put_back = tr_put_back;
	src->release = tr_release;
	src->ctx = ctx;
}
