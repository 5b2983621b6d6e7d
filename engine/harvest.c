/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/harvest.c - harvest (get-and-clear), peek, count, dirty sets.
 *
 * Invariants:
 * - Only a harvest clears bits, and it returns every bit it clears (in
 *   its dirty set, or put back into the bitmap when it fails).
 * - A harvest visits only blocks whose summary bit is set: its cost is
 *   nsum summary loads plus the dirty blocks, not the tracked size.
 * - Harvests of one region are serialized by r->lock.
 *
 * No lost marks. Operations (M = marker, H = harvester; all seq_cst):
 * (Model: engine/model/mark_harvest.pml checks this table and the
 * visibility argument below with Spin; the mark side is sq_bits_or in
 * engine/internal.h and, for marks through a handle, sq_handle_mark in
 * squib/tracker_inline.h: the same operations on the same words. Change
 * the code, this table and the model together.)
 *
 *   M1  fetch_or(word, bit)          H1  x = exchange(summary, 0)
 *   M2  load(summary); if clear:     H2  for each block in x, each word:
 *   M3    fetch_or(summary, blockbit)      v = load(word); if v:
 *                                    H3      v = exchange(word, 0); emit v
 *
 *   Synchronization table:
 *
 *   pair             outcome
 *   ---------------  ---------------------------------------------------
 *   M1 before H3     H3 returns the bit: the mark is in this harvest.
 *   M1 after  H3     The bit stays set. M1 follows H3, H3 follows H1 in the
 *                    single total order of seq_cst operations, so M2 reads
 *                    H1's zero (or a later set) and M3 sets the summary:
 *                    the next harvest visits the block.
 *   M1 after  H2's   Same argument: H1 < H2 < M1 < M2 in the total order
 *   zero load        (the load read a value older than M1), so M2 sees
 *                    the cleared summary. This is the store-buffering
 *                    pattern; acquire/release alone would allow both M2 and
 *                    H2 to read stale values, hence seq_cst on M1, M2, H1,
 *                    H2 (on x86-64 the loads are plain moves and the RMWs
 *                    are locked instructions either way).
 *   M1 before H1,    H1 takes the summary bit M3 set or M3 runs after H1;
 *   M3 after H1      either way the bit is reported by this harvest (H3)
 *                    or the summary is set again for the next one.
 *   fast path:       A marker whose first load sees the bit already set
 *   bit seen set     returns; the bit is set in the modification order
 *                    before any harvest that clears it, and that harvest
 *                    reports it.
 *
 * Visibility of the written data (a thread writes a page, then marks it;
 * the caller of the harvest copies the pages it reports):
 *
 *   marker                        harvester
 *   W   store page data           H1..H3  as above
 *   M0  compiler barrier; test    V1  membarrier(PRIVATE_EXPEDITED)
 *       load: bit already set?    C   (caller) copy the reported pages
 *   M1  seq_cst RMW otherwise
 *
 *   - M1 taken: H3 reads M1's value or a later one of its release
 *     sequence, so W happens-before C.
 *   - M0 finds the bit set: no synchronization from the load. The bit was
 *     set in modification order before H3 cleared it, so M0 ran before H3
 *     completed; V1 runs a full barrier on every CPU running a thread of
 *     the process (a context switch is one for the others), which makes W,
 *     issued before M0, visible before V1 returns, hence before C. The
 *     marker's compiler barrier keeps W before M0. Without membarrier,
 *     M0 is preceded by a full fence and V1 is a full fence (store-buffering
 *     pattern again). This is liburcu-memb's asymmetric fence; the model
 *     engine/model/mark_harvest.pml checks it under x86-64 TSO.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "engine/internal.h"

static int set_new(const struct sq_region *r, struct sq_dirty_set **out)
{
	struct sq_dirty_set *s = calloc(1, sizeof(*s));

	if (!s)
		return sq_err(SQ_E_NOMEM, "harvest: out of memory");
	s->region = r->id;
	s->page_shift = r->page_shift;
	s->npages = r->npages;
	s->tail = (r->npages << r->page_shift) - r->len;
	*out = s;
	return 0;
}

static int set_append(struct sq_dirty_set *s, uint64_t first, uint64_t n)
{
	if (s->n && s->runs[s->n - 1].first_page + s->runs[s->n - 1].npages == first) {
		s->runs[s->n - 1].npages += n;
		s->pages += n;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct sq_run *nr = realloc(s->runs, cap * sizeof(*nr));
		if (!nr)
			return -1;
		s->runs = nr;
		s->cap = cap;
	}
	s->runs[s->n].first_page = first;
	s->runs[s->n].npages = n;
	s->n++;
	s->pages += n;
	return 0;
}

/*
 * Runs that start in word @w of a block's fine bits @v: the set bits whose
 * predecessor is clear. A run continues from the previous word when that
 * word's last bit is set.
 */
static inline unsigned word_run_starts(const uint64_t *v, unsigned w)
{
	uint64_t carry = w ? v[w - 1] >> 63 : 0;

	return sq_popcount64(v[w] & ~((v[w] << 1) | carry));
}

/*
 * The run count of a block's fine bits, for a block emitted whole: the
 * controller learns from the fine bits (what fine emission would cost),
 * never from the one run a coarse block produces.
 */
static uint32_t fine_runs(const uint64_t *v, unsigned nz)
{
	uint32_t runs = 0;

	while (nz) {
		unsigned w = (unsigned)__builtin_ctz(nz);
		nz &= nz - 1;
		runs += word_run_starts(v, w);
	}
	return runs;
}

/*
 * Emit the fine bits of one block; @nz has bit w set where v[w] != 0.
 * Returns the block's run count (as fine_runs()), or -1 (NOMEM).
 */
static int emit_fine(struct sq_dirty_set *s, uint64_t base0, const uint64_t *v, unsigned nz)
{
	int runs = 0;

	while (nz) {
		unsigned w = (unsigned)__builtin_ctz(nz);
		uint64_t x = v[w];
		uint64_t base = base0 + (uint64_t)w * 64;

		nz &= nz - 1;
		runs += (int)word_run_starts(v, w);
		while (x) {
			unsigned tz = (unsigned)__builtin_ctzll(x);
			uint64_t rest = ~(x >> tz);
			unsigned ones = rest ? (unsigned)__builtin_ctzll(rest) : 64 - tz;
			if (set_append(s, base + tz, ones))
				return -1;
			x &= ones + tz >= 64 ? 0 : ~0ull << (tz + ones);
		}
	}
	return runs;
}

struct scan {
	struct sq_region *r;
	struct sq_dirty_set *s;
	bool clear;
	struct sq_epoch_obs *obs;
	size_t nobs;
	size_t obs_cap;
	bool obs_lost;
};

static void obs_add(struct scan *sc, uint64_t blk, uint32_t pages, uint32_t runs)
{
	if (sc->obs_lost || !sc->clear)
		return;
	if (sc->nobs == sc->obs_cap) {
		size_t cap = sc->obs_cap ? sc->obs_cap * 2 : 64;
		struct sq_epoch_obs *n = realloc(sc->obs, cap * sizeof(*n));
		if (!n) {
			sc->obs_lost = true;
			return;
		}
		sc->obs = n;
		sc->obs_cap = cap;
	}
	sc->obs[sc->nobs++] = (struct sq_epoch_obs){ .blk = blk, .pages = pages, .runs = runs };
}

/* Undo a failed harvest: every bit taken goes back. */
static void scan_restore(struct scan *sc, uint64_t blk, const uint64_t *v)
{
	struct sq_region *r = sc->r;

	for (unsigned w = 0; w < r->wpb; w++)
		if (v[w])
			sq_bits_or(r, blk, w, v[w]);
	for (size_t i = 0; i < sc->s->n; i++)
		sq_bits_mark_pages(r, sc->s->runs[i].first_page, sc->s->runs[i].npages);
}

static int scan_block(struct scan *sc, uint64_t blk)
{
	struct sq_region *r = sc->r;
	uint64_t v[SQ_WORDS_PER_BLOCK];
	unsigned nz = 0, wpb = r->wpb;
	uint32_t pages = 0;
	int runs;

	for (unsigned w = 0; w < wpb; w++) {
		_Atomic uint64_t *p = &r->bits[blk].w[w];
		/* H2: seq_cst load (see the table above). */
		v[w] = atomic_load_explicit(p, memory_order_seq_cst);
		if (v[w] && sc->clear)
			v[w] = atomic_exchange_explicit(p, 0, memory_order_seq_cst); /* H3 */
		if (v[w]) {
			nz |= 1u << w;
			pages += sq_popcount64(v[w]);
		}
	}
	if (!nz)
		return 0;
	uint64_t first = blk << r->blk_shift;
	if (sq_block_is_coarse(r, blk)) {
		uint64_t n = r->npages - first < r->ppb ? r->npages - first : r->ppb;
		if (set_append(sc->s, first, n))
			goto nomem;
		/* Emitted as one run; observed as its fine runs. */
		runs = (int)fine_runs(v, nz);
	} else {
		runs = emit_fine(sc->s, first, v, nz);
		if (runs < 0)
			goto nomem;
	}
	obs_add(sc, blk, pages, (uint32_t)runs);
	return 0;
nomem:
	if (sc->clear)
		scan_restore(sc, blk, v);
	return sq_err(SQ_E_NOMEM, "harvest: out of memory for the dirty set of region %u", r->id);
}

/*
 * A second cursor over the summary runs SQ_PREFETCH_AHEAD dirty blocks
 * ahead of the harvest and prefetches their cache lines (for writing), so
 * that the misses on a sparse map overlap instead of each stalling the
 * locked exchange that follows. It only reads the summary (relaxed: a hint).
 */
#define SQ_PREFETCH_AHEAD 12

struct lead {
	size_t i;
	uint64_t x;
};

static void lead_step(struct sq_region *r, struct lead *l)
{
	while (!l->x) {
		if (++l->i >= r->nsum)
			return;
		l->x = atomic_load_explicit(&r->summary[l->i], memory_order_relaxed);
	}
	uint64_t blk = (uint64_t)l->i * 64 + (uint64_t)__builtin_ctzll(l->x);
	l->x &= l->x - 1;
	__builtin_prefetch(&r->bits[blk], 1, 3);
}

static int scan_region(struct scan *sc)
{
	struct sq_region *r = sc->r;
	struct lead l = { .i = 0, .x = atomic_load_explicit(&r->summary[0], memory_order_relaxed) };

	for (int k = 0; k < SQ_PREFETCH_AHEAD; k++)
		lead_step(r, &l);
	for (size_t i = 0; i < r->nsum; i++) {
		_Atomic uint64_t *sw = &r->summary[i];
		uint64_t x = atomic_load_explicit(sw, memory_order_seq_cst);

		if (!x)
			continue;
		if (sc->clear)
			x = atomic_exchange_explicit(sw, 0, memory_order_seq_cst); /* H1 */
		while (x) {
			unsigned j = (unsigned)__builtin_ctzll(x);
			x &= x - 1;
			lead_step(r, &l);
			int rc = scan_block(sc, (uint64_t)i * 64 + j);
			if (rc) {
				if (sc->clear) {
					/* Blocks of this word not yet visited keep their
					 * bits; give them their summary back. */
					uint64_t rest = x | (1ull << j);
					atomic_fetch_or_explicit(sw, rest, memory_order_seq_cst);
				}
				return rc;
			}
		}
	}
	return 0;
}

static int harvest_or_peek(struct sq_tracker *t, uint32_t id, struct sq_dirty_set **out,
			   bool clear)
{
	struct scan sc = { .clear = clear };
	int rc;

	if (!t || !out)
		return sq_err(SQ_E_INVAL, "harvest: NULL argument");
	*out = NULL;
	pthread_rwlock_rdlock(&t->lock);
	sc.r = sq_region_by_id(t, id);
	if (!sc.r) {
		pthread_rwlock_unlock(&t->lock);
		return sq_err(SQ_E_NOT_FOUND, "harvest: no region %u", id);
	}
	pthread_mutex_lock(&sc.r->lock);
	rc = set_new(sc.r, &sc.s);
	if (rc)
		goto out;
	if (sc.r->kwp) {
		rc = sq_kwp_collect(sc.r, clear);
		if (rc)
			goto out;
	}
	rc = scan_region(&sc);
	if (rc)
		goto out;
	if (clear)
		sq_marks_publish(); /* V1, see "Visibility" above */
	if (clear && sc.r->kwp) {
		rc = sq_kwp_reprotect(sc.r, sc.s);
		if (rc) {
			for (size_t i = 0; i < sc.s->n; i++)
				sq_bits_mark_pages(sc.r, sc.s->runs[i].first_page,
						   sc.s->runs[i].npages);
			goto out;
		}
	}
	if (clear)
		sq_ctl_epoch(sc.r, sc.obs_lost ? NULL : sc.obs, sc.obs_lost ? 0 : sc.nobs,
			     sc.s->pages, sq_clock_ns());
	*out = sc.s;
	sc.s = NULL;
out:
	pthread_mutex_unlock(&sc.r->lock);
	pthread_rwlock_unlock(&t->lock);
	free(sc.obs);
	sq_dirty_set_destroy(sc.s);
	return rc;
}

int sq_tracker_harvest(struct sq_tracker *t, uint32_t id, struct sq_dirty_set **out)
{
	return harvest_or_peek(t, id, out, true);
}

int sq_tracker_peek(struct sq_tracker *t, uint32_t id, struct sq_dirty_set **out)
{
	return harvest_or_peek(t, id, out, false);
}

int sq_tracker_count(struct sq_tracker *t, uint32_t id, uint64_t *pages)
{
	struct sq_dirty_set *s;
	int rc;

	if (!pages)
		return sq_err(SQ_E_INVAL, "count: NULL argument");
	rc = sq_tracker_peek(t, id, &s);
	if (rc)
		return rc;
	*pages = s->pages;
	sq_dirty_set_destroy(s);
	return 0;
}

size_t sq_dirty_set_nruns(const struct sq_dirty_set *s)
{
	return s ? s->n : 0;
}

const struct sq_run *sq_dirty_set_runs(const struct sq_dirty_set *s)
{
	return s ? s->runs : NULL;
}

uint64_t sq_dirty_set_pages(const struct sq_dirty_set *s)
{
	return s ? s->pages : 0;
}

uint64_t sq_dirty_set_bytes(const struct sq_dirty_set *s)
{
	if (!s)
		return 0;
	uint64_t bytes = s->pages << s->page_shift;
	/* The partial last page counts its bytes inside the region only. */
	if (s->n && s->runs[s->n - 1].first_page + s->runs[s->n - 1].npages == s->npages)
		bytes -= s->tail;
	return bytes;
}

uint32_t sq_dirty_set_page_size(const struct sq_dirty_set *s)
{
	return s ? 1u << s->page_shift : 0;
}

uint32_t sq_dirty_set_region(const struct sq_dirty_set *s)
{
	return s ? s->region : 0;
}

void sq_dirty_set_destroy(struct sq_dirty_set *s)
{
	if (!s)
		return;
	free(s->runs);
	free(s);
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_dirty_set_free(struct sq_dirty_set *s)
{
	sq_dirty_set_destroy(s);
}
