/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/runs.c - runs of one page size as runs of 4 KiB pages (core/runs.h).
 */
#include <stdlib.h>

#include "core/err.h"
#include "core/runs.h"

int sq_runs_4k(const struct sq_run *runs, size_t n, uint32_t page_size, uint64_t limit,
	       struct sq_run **out, size_t *nout, uint64_t *pages)
{
	unsigned k = (unsigned)__builtin_ctz(page_size) - SQ_PAGE_SHIFT;
	uint64_t total = 0;
	size_t m = 0;

	*out = NULL;
	if (k == 0) {
		for (size_t i = 0; i < n; i++)
			total += runs[i].npages;
		*nout = n;
		*pages = total;
		return 0;
	}
	struct sq_run *r = malloc((n ? n : 1) * sizeof(*r));
	if (!r)
		return sq_err(SQ_E_NOMEM, "out of memory for %zu runs", n);
	for (size_t i = 0; i < n; i++) {
		uint64_t f = runs[i].first_page << k;
		uint64_t e = (runs[i].first_page + runs[i].npages) << k;
		if (e > limit)
			e = limit;
		if (f >= e)
			continue;
		r[m++] = (struct sq_run){ f, e - f };
		total += e - f;
	}
	*out = r;
	*nout = m;
	*pages = total;
	return 0;
}
