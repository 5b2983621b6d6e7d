/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/runs.h - runs of one page size as runs of 4 KiB pages, for the
 * consumers of a tracker's dirty sets (saves, live saves, pre-copy
 * migration) whose memory files and streams count 4 KiB pages whatever the
 * region's page size (sq_dirty_set_page_size).
 */
#ifndef SQ_CORE_RUNS_H
#define SQ_CORE_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include <squib/types.h>

/*
 * sq_runs_4k() - @n sorted, non-adjacent runs of @page_size-byte pages (a
 * power of two >= 4 KiB) as runs of 4 KiB pages: [f, f + c) becomes
 * [f * k, (f + c) * k) with k = page_size / 4 KiB, clipped to @limit 4 KiB
 * pages (a region whose last page is partial). The result is sorted and
 * non-adjacent too; a run wholly past @limit is dropped.
 * @out: receives a new array (the caller frees it), or NULL when
 *     page_size is 4 KiB: then @runs are already the answer.
 * @nout, @pages: the run count and the 4 KiB page total.
 * Returns 0 or SQ_E_NOMEM. Any thread.
 */
int sq_runs_4k(const struct sq_run *runs, size_t n, uint32_t page_size, uint64_t limit,
	       struct sq_run **out, size_t *nout, uint64_t *pages);

#endif /* SQ_CORE_RUNS_H */
