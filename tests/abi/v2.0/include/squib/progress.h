/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/progress.h - progress reports and cancellation of long operations.
 *
 *   sq_merge_chain        struct sq_merge_opts.progress / progress_ctx
 *   sq_restore_to_memory  struct sq_restore_opts.progress / progress_ctx
 *   sq_memfile_verify_ex  struct sq_verify_opts.progress / progress_ctx
 *   sq_migrate_send       struct sq_migrate_send_opts.progress / progress_ctx
 *
 * Each of these operations takes an optional callback (NULL: no reports,
 * no cost) and calls it as follows.
 *
 *  - Thread: only on the thread that called the operation, never twice at
 *    once; the operation's other worker threads keep going while it runs.
 *    It should return quickly (printing a line is fine); it must not call
 *    back into the same operation.
 *  - Calls of one phase: first with done = 0 (total known), then while
 *    work advances at most one call per SQ_PROGRESS_INTERVAL_MS, then,
 *    when the phase's work is complete, one call with done == total (a
 *    phase of 0 bytes has its first call only). No call is made after
 *    the operation returns. A failing operation may
 *    stop reporting at any point.
 *  - Values: bytes of page data. @total is fixed for a phase; @done never
 *    decreases within a phase and never exceeds @total. A migration has
 *    one phase per round (each starting again at 0); the others have one.
 *  - Cancellation: a non-zero return cancels. The operation stops once
 *    each worker finishes the unit it is on (merge: one run of pages;
 *    restore and verify: one 1 MiB read; migration: one batch of frames)
 *    and returns SQ_E_CANCELED, leaving exactly what a failure leaves:
 *    merge keeps the previous output and no temp file; restore leaves a
 *    partial image; verify reports nothing bad; a migration tells the
 *    receiver that it was aborted and gives every unsent page back to
 *    the source. The done == total call comes before the operation
 *    commits (merge) or returns, so cancelling there cancels too.
 *
 * struct sq_progress is filled by the library; fields may be added at its
 * end, so callers read only the members they know.
 */
#ifndef SQUIB_PROGRESS_H
#define SQUIB_PROGRESS_H

#include <stdint.h>
#include <squib/export.h>

SQ_BEGIN_DECLS

/* Shortest time between two reports of one phase (first and last excepted). */
#define SQ_PROGRESS_INTERVAL_MS 100

enum sq_progress_phase {
	SQ_PROGRESS_MERGE_COPY = 1,    /* merge: page data copied into the output */
	SQ_PROGRESS_RESTORE_READ = 2,  /* restore: page data read into the destination */
	SQ_PROGRESS_VERIFY_READ = 3,   /* verify: data pages read and CRC-checked */
	SQ_PROGRESS_MIGRATE_ROUND = 4, /* migration: one round's pages framed and sent */
};

struct sq_progress {
	uint64_t done;                /* bytes of this phase done */
	uint64_t total;               /* bytes of this phase */
	enum sq_progress_phase phase;
	unsigned round;               /* SQ_PROGRESS_MIGRATE_ROUND: 1 = the full pass;
				       * else 0 */
};

/*
 * sq_progress_fn - a progress callback. @ctx is the options' progress_ctx;
 * @p is valid during the call only. Return 0 to go on, non-zero to cancel
 * (see above).
 */
typedef int (*sq_progress_fn)(void *ctx, const struct sq_progress *p);

SQ_END_DECLS

#endif /* SQUIB_PROGRESS_H */
