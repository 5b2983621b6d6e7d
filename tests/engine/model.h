/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/engine/model.h - the naive reference model of a tracked region:
 * one bool per page and one per block (ppb pages: 2 MiB / the region's
 * page size), and the expected runs of a harvest.
 */
#ifndef SQ_TESTS_ENGINE_MODEL_H
#define SQ_TESTS_ENGINE_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <squib/tracker.h>

struct model_region {
	uint32_t id;
	uintptr_t base;
	uint64_t npages;
	uint64_t nblocks;
	uint64_t ppb;   /* pages per 2 MiB block */
	uint64_t ps;    /* page size */
	uint64_t len;   /* bytes; the last page may be partial */
	bool *dirty;
	bool *coarse;
};

static inline void model_init(struct model_region *m, uint32_t id, uintptr_t base, uint64_t len,
			      uint64_t ps)
{
	m->id = id;
	m->base = base;
	m->len = len;
	m->ps = ps;
	m->ppb = (2u << 20) / ps;
	m->npages = (len + ps - 1) / ps;
	m->nblocks = (m->npages + m->ppb - 1) / m->ppb;
	m->dirty = calloc(m->npages, 1);
	m->coarse = calloc(m->nblocks, 1);
}

static inline void model_free(struct model_region *m)
{
	free(m->dirty);
	free(m->coarse);
	m->dirty = NULL;
	m->coarse = NULL;
}

/* Expected runs (caller frees); *n runs, *pages pages. */
static inline struct sq_run *model_runs(const struct model_region *m, size_t *n, uint64_t *pages)
{
	struct sq_run *runs = malloc((m->npages + 1) * sizeof(*runs));
	bool *blk_dirty = calloc(m->nblocks, 1);
	size_t k = 0;
	*pages = 0;
	for (uint64_t p = 0; p < m->npages; p++)
		blk_dirty[p / m->ppb] |= m->dirty[p];
	for (uint64_t p = 0; p < m->npages; p++) {
		uint64_t b = p / m->ppb;
		bool d = m->coarse[b] ? blk_dirty[b] : m->dirty[p];
		if (!d)
			continue;
		(*pages)++;
		if (k && runs[k - 1].first_page + runs[k - 1].npages == p)
			runs[k - 1].npages++;
		else
			runs[k++] = (struct sq_run){ p, 1 };
	}
	free(blk_dirty);
	*n = k;
	return runs;
}

/* What a harvest leaves: nothing. */
static inline void model_clear(struct model_region *m)
{
	for (uint64_t p = 0; p < m->npages; p++)
		m->dirty[p] = false;
}

#endif
