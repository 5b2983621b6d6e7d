/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/progress.h - the library side of squib/progress.h: one phase of
 * progress, counted by workers and reported by the calling thread.
 *
 *   sq_prog_begin     start a phase: the done = 0 report (reporting thread)
 *   sq_prog_add       count bytes done (any thread)
 *   sq_prog_poll      report if the interval passed (reporting thread)
 *   sq_prog_end       the done == total report (reporting thread)
 *   sq_prog_canceled  whether the callback asked to stop (any thread)
 *
 * Synchronization: sq_prog_add and sq_prog_canceled may run on any thread
 * concurrently with everything; begin, poll and end only on the thread
 * that called the operation (the "reporting thread"), one at a time. The
 * counter is a statistic (relaxed): a report may lag the workers, never
 * run ahead of them. The cancel flag is relaxed as well: a worker that
 * sees it late does one more unit, which is allowed.
 *
 * With no callback (fn NULL) every function returns at once.
 */
#ifndef SQ_CORE_PROGRESS_H
#define SQ_CORE_PROGRESS_H

#include <stdatomic.h>
#include <stdint.h>

#include <squib/progress.h>

struct sq_prog {
	sq_progress_fn fn;
	void *ctx;
	struct sq_progress p;       /* the last report (reporting thread) */
	double next_s;              /* earliest time of the next report */
	atomic_uint_fast64_t done;  /* bytes counted by the workers */
	atomic_int canceled;        /* 1 once the callback returned non-zero */
};

/*
 * sq_prog_begin() - start a phase of @total bytes: resets the counter and
 * calls the callback with done = 0. @pg is initialised here whatever @fn
 * is. Returns 0, or SQ_E_CANCELED (message recorded) when the callback
 * cancels.
 */
int sq_prog_begin(struct sq_prog *pg, sq_progress_fn fn, void *ctx,
		  enum sq_progress_phase phase, unsigned round, uint64_t total);

/* sq_prog_add() - @bytes more are done. Any thread; relaxed. */
static inline void sq_prog_add(struct sq_prog *pg, uint64_t bytes)
{
	if (pg && pg->fn)
		atomic_fetch_add_explicit(&pg->done, bytes, memory_order_relaxed);
}

/* sq_prog_canceled() - 1 once a report was answered with non-zero. Any thread. */
static inline int sq_prog_canceled(struct sq_prog *pg)
{
	return pg && atomic_load_explicit(&pg->canceled, memory_order_relaxed);
}

/*
 * sq_prog_poll() - report the counter when SQ_PROGRESS_INTERVAL_MS passed
 * since the last report (and it moved). Reporting thread only. Returns 0
 * or SQ_E_CANCELED (message recorded, the flag set for the workers).
 */
int sq_prog_poll(struct sq_prog *pg);

/*
 * sq_prog_end() - the phase is complete: report done == total. Reporting
 * thread only. Returns 0 or SQ_E_CANCELED.
 */
int sq_prog_end(struct sq_prog *pg);

#endif /* SQ_CORE_PROGRESS_H */
