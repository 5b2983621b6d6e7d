/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/internal.h - the tracker's internal structures and its inline
 * marking fast path. Shared by the engine's .c files and by the tests and
 * benchmarks (static archive); not installed.
 *
 * Layout of one region's bits, in the region's pages (page_size 4, 8, 16,
 * 32 or 64 KiB; ppb = 2 MiB / page_size = 512, 256, 128, 64 or 32 pages
 * per block):
 *   bits[b]      the ppb fine bits of 2 MiB block b, in one 64-byte cache
 *                line: its first wpb = max(1, ppb / 64) words, of which
 *                the first min(64, ppb) bits each (word w, bit i = page
 *                b * ppb + w * 64 + i). The rest of the line stays zero, as
 *                do the bits of pages past the region end.
 *   summary[s]   bit j = block s * 64 + j may have a fine bit set.
 *   coarse[s]    bit j = block s * 64 + j is coarse (emitted whole).
 * With 4 KiB pages, page p of a KVM dirty log (word p / 64) is exactly
 * bits[p / 512].w[(p / 64) % 8]: the words of the lines are the log's.
 */
#ifndef SQ_ENGINE_INTERNAL_H
#define SQ_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <squib/tracker.h>

#define SQ_WORDS_PER_BLOCK 8

struct sq_block_bits {
	_Atomic uint64_t w[SQ_WORDS_PER_BLOCK];
} __attribute__((aligned(64)));

/* Controller state of one block; written only under the region lock. */
struct sq_block_ctl {
	float heat;          /* EWMA of dirty pages per epoch */
	float runs;          /* EWMA of runs per epoch */
	uint32_t last_epoch; /* epoch of the last update (lazy decay) */
	uint8_t streak;      /* consecutive epochs that favoured the other granule */
	uint8_t pad[3];
};

struct sq_kwp; /* engine/kwp.c */

struct sq_region {
	/* What a mark reads, together in the first 64 bytes. */
	uint32_t id;
	unsigned flags;
	uintptr_t base;
	size_t len;
	struct sq_block_bits *bits;
	_Atomic uint64_t *summary;
	unsigned page_shift; /* 12..16 */
	unsigned blk_shift;  /* log2(pages per block) = 21 - page_shift */
	unsigned lane_shift; /* log2(bits used per word) = min(6, blk_shift) */
	unsigned wpb;        /* words used per block: max(1, ppb / 64) */
	uint64_t ppb;        /* pages per 2 MiB block: 512, 256, 128, 64, 32 */
	uint64_t npages;     /* ceil(len / page size): a partial last page counts */
	uint64_t nblocks;
	size_t nsum; /* words in summary[] and coarse[] */
	size_t bits_bytes;
	_Atomic uint64_t *coarse;
	size_t sum_bytes;
	struct sq_block_ctl *ctl;
	struct sq_tracker *t;
	struct sq_kwp *kwp;           /* NULL unless SQ_REGION_KERNEL_WP */
	pthread_mutex_t lock;         /* harvest, peek, controller, stats */
	/* statistics, under lock */
	struct sq_dirty_stats st;
	uint64_t epoch_start_ns;
	double io_scale;              /* measured / modelled IO cost (note_io) */
	_Atomic uint64_t kfaults;     /* sync handler: faults served */
	/* Mark handles (engine/handle.c): outstanding pins; removal waits for 0. */
	pthread_mutex_t pin_lock;
	pthread_cond_t pin_zero;
	uint64_t pins;                /* under pin_lock */
};

struct sq_region_table {
	size_t n;
	struct sq_region *r[]; /* sorted by base, non-overlapping */
};

struct sq_tracker {
	struct sq_tracker_opts opts;
	struct sq_region_table *_Atomic table; /* RCU-published (release / acquire) */
	pthread_rwlock_t lock;         /* rd: harvest/peek/put_back/stats; wr: add/remove */
	uint32_t next_id;
	int rcu_hb;                    /* TSan: grace-period happens-before token */
};

/* ---------------------------------------------------------------- rcu.c */
void sq_rcu_reader_slow(void);
extern __thread int sq_rcu_registered;
static inline void sq_rcu_reader(void)
{
	if (__builtin_expect(!sq_rcu_registered, 0))
		sq_rcu_reader_slow();
}
void sq_rcu_lock(void);
void sq_rcu_unlock(struct sq_tracker *t);
void sq_rcu_synchronize(struct sq_tracker *t);

/* ---------------------------------------------------------------- bits */
/*
 * sq_summary_set() - after a fine bit of @blk was set. seq_cst load and
 * RMW: paired with the harvester's seq_cst summary exchange and word
 * loads (store-buffering pattern, see engine/harvest.c).
 */
static inline void sq_summary_set(struct sq_region *r, uint64_t blk)
{
	_Atomic uint64_t *sw = &r->summary[blk >> 6];
	uint64_t sb = 1ull << (blk & 63);

	if (!(atomic_load_explicit(sw, memory_order_seq_cst) & sb))
		atomic_fetch_or_explicit(sw, sb, memory_order_seq_cst);
}

/*
 * Data visibility for the test-first fast path (see engine/harvest.c):
 * a harvest ends with a process-wide membarrier (MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED), an asymmetric fence that makes every marker's earlier stores
 * visible; the marker then needs only a compiler barrier before its test
 * load. Where membarrier is unavailable, sq_have_membarrier is 0 and the
 * marker pays a full fence instead (the liburcu-memb pattern).
 */
extern _Atomic int sq_have_membarrier;
void sq_membarrier_init(void);
void sq_marks_publish(void);

#if defined(__SANITIZE_THREAD__)
#define SQ_ENGINE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SQ_ENGINE_TSAN 1
#endif
#endif

/*
 * sq_full_fence() - atomic_thread_fence(seq_cst). TSan does not model
 * fences (gcc warns, -Wtsan); its builds check races, not this publication
 * path, and use a compiler barrier instead.
 */
static inline void sq_full_fence(void)
{
#ifdef SQ_ENGINE_TSAN
	atomic_signal_fence(memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

static inline void sq_mark_order(void)
{
	/* Relaxed: set once before any tracker exists, read-only afterwards. */
	if (__builtin_expect(atomic_load_explicit(&sq_have_membarrier, memory_order_relaxed), 1))
		atomic_signal_fence(memory_order_seq_cst); /* keep the data stores before the load */
	else
		sq_full_fence();
}

/* sq_bits_or() - OR @v into word @w of block @blk (test first). */
static inline void sq_bits_or(struct sq_region *r, uint64_t blk, unsigned w, uint64_t v)
{
	_Atomic uint64_t *p = &r->bits[blk].w[w];

	sq_mark_order();
	/* Relaxed test: a bit seen set is not yet harvested (only a harvest
	 * clears bits), so this mark is covered by the harvest that clears
	 * it, and that harvest's membarrier publishes the data written before
	 * this mark. */
	if ((atomic_load_explicit(p, memory_order_relaxed) & v) == v)
		return;
	atomic_fetch_or_explicit(p, v, memory_order_seq_cst);
	sq_summary_set(r, blk);
}

/* sq_bits_mark_page() - page @page (region pages, below npages) was written. */
static inline void sq_bits_mark_page(struct sq_region *r, uint64_t page)
{
	uint64_t off = page & (r->ppb - 1);

	sq_bits_or(r, page >> r->blk_shift, (unsigned)(off >> 6), 1ull << (off & 63));
}

/* The region pages covering bytes [off, off + len) of @r (len > 0): *first, count. */
static inline uint64_t sq_region_pages_of(const struct sq_region *r, uint64_t off, uint64_t len,
					  uint64_t *first)
{
	*first = off >> r->page_shift;
	return ((off + len - 1) >> r->page_shift) - *first + 1;
}

/*
 * sq_popcount64() - bit count without a libgcc call (the library is built
 * for baseline x86-64, which has no POPCNT instruction).
 */
static inline unsigned sq_popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Pages [first, first + n) of @r, inside the region. */
void sq_bits_mark_pages(struct sq_region *r, uint64_t first, uint64_t n);
/* OR the 64 page bits @v of pages [64 * i, 64 * i + 64) (a dirty log word). */
void sq_bits_or_word64(struct sq_region *r, uint64_t i, uint64_t v);
/* A batch of page offsets: check (SQ_E_INVAL / SQ_E_RANGE), then mark. */
int sq_batch_check(uint64_t npages, uint32_t id, const uint64_t *pages, size_t n);
void sq_batch_mark(struct sq_region *r, const uint64_t *pages, size_t n);

static inline struct sq_region *sq_table_find(const struct sq_region_table *tab, uintptr_t a)
{
	size_t lo = 0, hi = tab ? tab->n : 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct sq_region *r = tab->r[mid];
		if (a < r->base)
			hi = mid;
		else if (a - r->base >= r->len)
			lo = mid + 1;
		else
			return tab->r[mid];
	}
	return NULL;
}

/* Region lookup for control operations (caller holds t->lock). */
struct sq_region *sq_region_by_id(struct sq_tracker *t, uint32_t id);

/* ---------------------------------------------------------------- handle.c */
/* Wait until no handle pins @r (the region is no longer findable by id). */
void sq_region_wait_unpinned(struct sq_region *r);

/* ---------------------------------------------------------------- harvest.c */
struct sq_dirty_set {
	uint32_t region;
	uint64_t pages;
	size_t n;
	size_t cap;
	struct sq_run *runs;
	unsigned page_shift; /* the region's page: the unit of runs */
	uint64_t tail;       /* bytes the partial last page lacks (0: none) */
	uint64_t npages;     /* the region's page count */
};

/*
 * Per-block observations gathered by a harvest for the controller: the
 * block's fine bits, whatever its granule. For a coarse block emitted as
 * one run, @runs is still the run count of its fine bits (what fine
 * emission would cost), so the controller's estimate does not follow its
 * own decision.
 */
struct sq_epoch_obs {
	uint64_t blk;
	uint32_t pages; /* fine bits set */
	uint32_t runs;  /* runs of the fine bits */
};

/* ---------------------------------------------------------------- controller.c */
bool sq_block_is_coarse(const struct sq_region *r, uint64_t blk);
void sq_ctl_epoch(struct sq_region *r, const struct sq_epoch_obs *obs, size_t nobs,
		  uint64_t pages, uint64_t now_ns);
void sq_ctl_init(struct sq_region *r);
int sq_ctl_set_granule(struct sq_region *r, uint64_t blk, enum sq_granule g);

/* ---------------------------------------------------------------- kwp.c */
int sq_kwp_attach(struct sq_region *r, enum sq_kernel_mode mode);
void sq_kwp_detach(struct sq_region *r);
/* Merge the kernel's written pages into the bits; @reprotect for a harvest. */
int sq_kwp_collect(struct sq_region *r, bool reprotect);
/* After a harvest emitted @set: write-protect it again (sync mode). */
int sq_kwp_reprotect(struct sq_region *r, const struct sq_dirty_set *set);
unsigned sq_kwp_mode(const struct sq_region *r);
/* Switch a block's granule in step with the sync fault handler. */
void sq_kwp_granule_lock(struct sq_region *r);
void sq_kwp_granule_unlock(struct sq_region *r);
bool sq_kwp_fine_bits_inexact(const struct sq_region *r);

#endif /* SQ_ENGINE_INTERNAL_H */
