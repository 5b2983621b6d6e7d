/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/progress.c - one phase of progress reports (core/progress.h).
 *
 * Invariants:
 *  - pg->p.done is what the callback last saw: it only grows and stays
 *    at most pg->p.total, whatever the workers counted (a worker that
 *    re-does a unit after a short transfer may count more than total).
 *  - Once canceled is set no further report is made.
 *  - Only sq_prog_end reports done == total, so that report comes once.
 */
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"

/* Call the callback with @done; SQ_E_CANCELED when it asks to stop. */
static int report(struct sq_prog *pg, uint64_t done)
{
	if (done > pg->p.total)
		done = pg->p.total;
	if (done < pg->p.done)
		done = pg->p.done;
	pg->p.done = done;
	pg->next_s = sq_clock_s() + SQ_PROGRESS_INTERVAL_MS / 1000.0;
	if (pg->fn(pg->ctx, &pg->p) == 0)
		return 0;
	atomic_store_explicit(&pg->canceled, 1, memory_order_relaxed);
	return sq_err(SQ_E_CANCELED, "operation canceled by its progress callback");
}

int sq_prog_begin(struct sq_prog *pg, sq_progress_fn fn, void *ctx,
		  enum sq_progress_phase phase, unsigned round, uint64_t total)
{
	pg->fn = fn;
	pg->ctx = ctx;
	pg->p = (struct sq_progress){ .total = total, .phase = phase, .round = round };
	pg->next_s = 0;
	atomic_init(&pg->done, 0);
	atomic_init(&pg->canceled, 0);
	return fn ? report(pg, 0) : 0;
}

int sq_prog_poll(struct sq_prog *pg)
{
	if (!pg || !pg->fn)
		return 0;
	if (atomic_load_explicit(&pg->canceled, memory_order_relaxed))
		return SQ_E_CANCELED;
	uint64_t done = atomic_load_explicit(&pg->done, memory_order_relaxed);
	/* done == total is sq_prog_end's report, made once the phase is complete. */
	if (done <= pg->p.done || done >= pg->p.total || sq_clock_s() < pg->next_s)
		return 0;
	return report(pg, done);
}

int sq_prog_end(struct sq_prog *pg)
{
	if (!pg || !pg->fn)
		return 0;
	if (atomic_load_explicit(&pg->canceled, memory_order_relaxed))
		return SQ_E_CANCELED;
	if (pg->p.total == 0)
		return 0; /* the first report said 0 of 0 already */
	return report(pg, pg->p.total);
}
