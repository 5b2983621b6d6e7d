/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/controller.c - the adaptive page / 2 MiB granule controller and
 * the per-epoch dirty-rate statistics.
 *
 * Invariants:
 * - Runs at the end of each harvest (one harvest = one epoch), under the
 *   region lock; touches only the blocks the harvest found dirty plus the
 *   blocks that are coarse, so its cost follows the dirty area.
 * - A block's heat is an EWMA of its dirty pages per epoch, decayed lazily:
 *   ctl.last_epoch says up to which epoch it is current.
 * - Coverage is never lost in a transition. Fine bits are exact for API
 *   marks, imports and asynchronous kernel tracking, so a transition there
 *   changes only what is emitted. Under synchronous kernel tracking one
 *   fault on a coarse block unprotects all of it and sets one fine bit, so
 *   coarse -> fine on a block with any bit set sets all of its fine bits;
 *   the switch and the fault handler exclude each other (granule lock).
 * - Hysteresis: a block changes granule only after min_epochs consecutive
 *   epochs in which the other granule is cheaper by hysteresis_pct.
 * - The controller learns from the fine bits (pages and runs of the block,
 *   struct sq_epoch_obs), also for a block emitted whole: an observation
 *   never depends on the granule the controller chose, or a steady
 *   workload would flip the block back and forth (the run count of a
 *   coarse emission is 1, which makes fine look cheap).
 */
#include "core/clock.h"
#include "core/err.h"
#include "core/sized.h"
#include "engine/internal.h"

bool sq_block_is_coarse(const struct sq_region *r, uint64_t blk)
{
	/* Relaxed: the granule changes only under the region lock, which the
	 * harvester holds; the fault handler reads it under the granule lock. */
	return (atomic_load_explicit(&r->coarse[blk >> 6], memory_order_relaxed) >> (blk & 63)) & 1;
}

void sq_ctl_init(struct sq_region *r)
{
	r->st.npages = r->npages;
	r->st.nblocks = r->nblocks;
	r->io_scale = 1.0;
	r->epoch_start_ns = sq_clock_ns();
}

static uint64_t block_pages(const struct sq_region *r, uint64_t blk)
{
	uint64_t first = blk << r->blk_shift;

	return r->npages - first < r->ppb ? r->npages - first : r->ppb;
}

static bool block_any(struct sq_region *r, uint64_t blk)
{
	for (unsigned w = 0; w < r->wpb; w++)
		if (atomic_load_explicit(&r->bits[blk].w[w], memory_order_seq_cst))
			return true;
	return false;
}

int sq_ctl_set_granule(struct sq_region *r, uint64_t blk, enum sq_granule g)
{
	uint64_t sb = 1ull << (blk & 63);

	if ((g == SQ_GRANULE_COARSE) == sq_block_is_coarse(r, blk))
		return 0;
	if (r->kwp)
		sq_kwp_granule_lock(r);
	if (g == SQ_GRANULE_COARSE) {
		atomic_fetch_or_explicit(&r->coarse[blk >> 6], sb, memory_order_relaxed);
		r->st.coarse_blocks++;
	} else {
		if (r->kwp && sq_kwp_fine_bits_inexact(r) && block_any(r, blk))
			sq_bits_mark_pages(r, blk << r->blk_shift, block_pages(r, blk));
		atomic_fetch_and_explicit(&r->coarse[blk >> 6], ~sb, memory_order_relaxed);
		r->st.coarse_blocks--;
	}
	if (r->kwp)
		sq_kwp_granule_unlock(r);
	return 0;
}

static void decay_to(struct sq_block_ctl *c, uint32_t epoch, float keep)
{
	uint32_t gap = epoch - c->last_epoch;

	if (gap > 64) {
		c->heat = 0;
		c->runs = 0;
	} else {
		for (uint32_t i = 0; i < gap; i++) {
			c->heat *= keep;
			c->runs *= keep;
		}
	}
	c->last_epoch = epoch;
}

static void decide(struct sq_region *r, uint64_t blk, struct sq_block_ctl *c)
{
	const struct sq_cost_model *m = &r->t->opts.cost;
	double fault = m->fault_ns_soft, io = m->io_op_ns * r->io_scale;
	double byte = m->byte_ps / 1000.0 * r->io_scale;
	unsigned mode = sq_kwp_mode(r);

	if (mode == SQ_KERNEL_SYNC)
		fault = m->fault_ns;
	else if (mode == SQ_KERNEL_ASYNC)
		fault = m->fault_ns_async;

	double p = c->heat, q = p < 1.0 ? p : 1.0;
	double page = (double)(1u << r->page_shift);
	double fine = p * fault + c->runs * io + p * page * byte;
	double coarse = q * (fault + io + (double)block_pages(r, blk) * page * byte);
	double h = 100.0 + m->hysteresis_pct;
	bool is_coarse = sq_block_is_coarse(r, blk);
	bool other_better = is_coarse ? fine * h < coarse * 100.0 : coarse * h < fine * 100.0;

	if (!other_better) {
		c->streak = 0;
		return;
	}
	if (++c->streak < m->min_epochs)
		return;
	c->streak = 0;
	sq_ctl_set_granule(r, blk, is_coarse ? SQ_GRANULE_FINE : SQ_GRANULE_COARSE);
	if (is_coarse)
		r->st.to_fine++;
	else
		r->st.to_coarse++;
}

#define SQ_CTL_AHEAD 16

void sq_ctl_epoch(struct sq_region *r, const struct sq_epoch_obs *obs, size_t nobs,
		  uint64_t pages, uint64_t now_ns)
{
	const struct sq_tracker_opts *o = &r->t->opts;
	float a = (float)o->ewma_alpha_pct / 100.0f, keep = 1.0f - a;
	uint64_t dt = now_ns > r->epoch_start_ns ? now_ns - r->epoch_start_ns : 1;
	uint32_t epoch;

	r->st.epoch++;
	epoch = (uint32_t)r->st.epoch;
	r->st.last_pages = pages;
	r->st.total_pages += pages;
	r->st.last_epoch_ns = dt;
	r->st.pages_per_sec = (double)pages * 1e9 / (double)dt;
	r->st.ewma_pages_per_sec = r->st.epoch == 1
		? r->st.pages_per_sec
		: a * r->st.pages_per_sec + keep * r->st.ewma_pages_per_sec;
	r->epoch_start_ns = now_ns;
	r->st.kernel_faults = atomic_load_explicit(&r->kfaults, memory_order_relaxed);

	bool adaptive = o->granule == SQ_GRANULE_ADAPTIVE;
	bool inexact = r->kwp && sq_kwp_fine_bits_inexact(r);
	/* The blocks of a sparse epoch are scattered over ctl[]: fetch the
	 * state SQ_CTL_AHEAD observations ahead so the misses overlap. */
	for (size_t i = 0; i < nobs && i < SQ_CTL_AHEAD; i++)
		__builtin_prefetch(&r->ctl[obs[i].blk], 1, 3);
	for (size_t i = 0; i < nobs; i++) {
		struct sq_block_ctl *c = &r->ctl[obs[i].blk];
		if (i + SQ_CTL_AHEAD < nobs)
			__builtin_prefetch(&r->ctl[obs[i + SQ_CTL_AHEAD].blk], 1, 3);
		decay_to(c, epoch - 1, keep);
		if (!(inexact && sq_block_is_coarse(r, obs[i].blk))) {
			/* Exact fine bits: learn from them, coarse or not. Otherwise
			 * (sync, coarse: one bit per fault) hold the heat and runs
			 * while the block stays dirty. */
			c->heat = a * (float)obs[i].pages + keep * c->heat;
			c->runs = a * (float)obs[i].runs + keep * c->runs;
		}
		c->last_epoch = epoch;
		if (adaptive)
			decide(r, obs[i].blk, c);
	}
	if (!adaptive)
		return;
	/* Coarse blocks that stayed clean this epoch cool down. */
	for (size_t s = 0; s < r->nsum; s++) {
		uint64_t x = atomic_load_explicit(&r->coarse[s], memory_order_relaxed);
		while (x) {
			uint64_t blk = s * 64 + (uint64_t)__builtin_ctzll(x);
			x &= x - 1;
			struct sq_block_ctl *c = &r->ctl[blk];
			if (c->last_epoch == epoch)
				continue;
			decay_to(c, epoch, keep);
			decide(r, blk, c);
		}
	}
}

/* ---------------------------------------------------------------- public */

static struct sq_region *ctl_enter(struct sq_tracker *t, uint32_t id, const char *what)
{
	struct sq_region *r;

	if (!t) {
		sq_err(SQ_E_INVAL, "%s: NULL tracker", what);
		return NULL;
	}
	pthread_rwlock_rdlock(&t->lock);
	r = sq_region_by_id(t, id);
	if (!r) {
		pthread_rwlock_unlock(&t->lock);
		sq_err(SQ_E_NOT_FOUND, "%s: no region %u", what, id);
		return NULL;
	}
	pthread_mutex_lock(&r->lock);
	return r;
}

static void ctl_leave(struct sq_region *r)
{
	struct sq_tracker *t = r->t;

	pthread_mutex_unlock(&r->lock);
	pthread_rwlock_unlock(&t->lock);
}

int sq_tracker_stats(struct sq_tracker *t, uint32_t id, struct sq_dirty_stats *out)
{
	struct sq_dirty_stats st;

	if (!out)
		return sq_err(SQ_E_INVAL, "stats: NULL argument");
	if (sq_sized_check(out, SQ_V0_DIRTY_STATS, "sq_dirty_stats"))
		return SQ_E_INVAL;
	struct sq_region *r = ctl_enter(t, id, "stats");
	if (!r)
		return sq_last_error_code();
	st = r->st;
	st.kernel_faults = atomic_load_explicit(&r->kfaults, memory_order_relaxed);
	st.kernel_mode = sq_kwp_mode(r);
	ctl_leave(r);
	SQ_SIZED_OUT(out, st);
	return 0;
}

int sq_tracker_heat(struct sq_tracker *t, uint32_t id, uint64_t first, size_t n, float *heat)
{
	int rc = 0;

	if (!heat && n)
		return sq_err(SQ_E_INVAL, "heat: NULL argument");
	struct sq_region *r = ctl_enter(t, id, "heat");
	if (!r)
		return sq_last_error_code();
	if (first > r->nblocks || n > r->nblocks - first) {
		rc = sq_err(SQ_E_RANGE, "heat: blocks [%llu, +%zu) past block %llu",
			    (unsigned long long)first, n, (unsigned long long)r->nblocks);
	} else {
		float keep = 1.0f - (float)t->opts.ewma_alpha_pct / 100.0f;
		for (size_t i = 0; i < n; i++) {
			struct sq_block_ctl c = r->ctl[first + i];
			decay_to(&c, (uint32_t)r->st.epoch, keep);
			heat[i] = c.heat;
		}
	}
	ctl_leave(r);
	return rc;
}

int sq_tracker_granule(struct sq_tracker *t, uint32_t id, uint64_t block)
{
	int rc;
	struct sq_region *r = ctl_enter(t, id, "granule");

	if (!r)
		return sq_last_error_code();
	if (block >= r->nblocks)
		rc = sq_err(SQ_E_RANGE, "granule: block %llu past the region end",
			    (unsigned long long)block);
	else
		rc = sq_block_is_coarse(r, block) ? SQ_GRANULE_COARSE : SQ_GRANULE_FINE;
	ctl_leave(r);
	return rc;
}

int sq_tracker_set_granule(struct sq_tracker *t, uint32_t id, uint64_t block, enum sq_granule g)
{
	int rc;

	if (g != SQ_GRANULE_FINE && g != SQ_GRANULE_COARSE)
		return sq_err(SQ_E_INVAL, "set_granule: bad granule %d", (int)g);
	struct sq_region *r = ctl_enter(t, id, "set_granule");
	if (!r)
		return sq_last_error_code();
	if (block >= r->nblocks)
		rc = sq_err(SQ_E_RANGE, "set_granule: block %llu past the region end",
			    (unsigned long long)block);
	else
		rc = sq_ctl_set_granule(r, block, g);
	ctl_leave(r);
	return rc;
}

int sq_tracker_note_io(struct sq_tracker *t, uint32_t id, uint64_t ios, uint64_t bytes,
		       uint64_t ns)
{
	struct sq_region *r = ctl_enter(t, id, "note_io");

	if (!r)
		return sq_last_error_code();
	r->st.io_ops += ios;
	r->st.io_bytes += bytes;
	if (ns && (ios || bytes)) {
		const struct sq_cost_model *m = &t->opts.cost;
		double model = (double)ios * m->io_op_ns + (double)bytes * m->byte_ps / 1000.0;
		double ratio = (double)ns / model;
		double a = (double)t->opts.ewma_alpha_pct / 100.0;
		r->io_scale = a * ratio + (1.0 - a) * r->io_scale;
		if (r->io_scale < 0.01)
			r->io_scale = 0.01;
		if (r->io_scale > 100.0)
			r->io_scale = 100.0;
	}
	ctl_leave(r);
	return 0;
}
