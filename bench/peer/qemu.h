/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/peer/qemu.h - a C re-implementation of QEMU's dirty-memory path
 * for migration, for same-run comparisons (engine/peer/qemu/...).
 *
 * Follows qemu/qemu:
 *   include/exec/ramlist.h   DirtyMemoryBlocks: an RCU-published array of
 *                            pointers to blocks of DIRTY_MEMORY_BLOCK_SIZE
 *                            (256 Ki * 8 = 2 Mi) bits
 *   include/exec/ram_addr.h  cpu_physical_memory_set_dirty_range (now
 *                            physical_memory_set_dirty_range in
 *                            system/physmem.c): inside an RCU read section,
 *                            qatomic_rcu_read of the blocks array, then per
 *                            block crossed bitmap_set_atomic(block, offset,
 *                            n); the migration client only (the VGA and
 *                            code clients are off in a migration of a KVM
 *                            guest)
 *   util/bitmap.c            bitmap_set_atomic: qatomic_or (a seq_cst
 *                            fetch_or) of the first and last partial words,
 *                            plain stores of the full words between them,
 *                            then smp_mb()
 *   include/exec/ram_addr.h  cpu_physical_memory_sync_dirty_bitmap (the
 *                            aligned case, now in migration/ram.c): for
 *                            each word, if non-zero, bits =
 *                            qatomic_xchg(word, 0); new = bits & ~dest;
 *                            dest |= bits; count popcount(new)
 *   util/rcu.c, include/qemu/rcu.h  QEMU's RCU is liburcu's memb flavour
 *                            re-implemented (per-thread counter, membarrier
 *                            on the writer side): here liburcu-memb itself,
 *                            with its inline read side as QEMU's.
 * Only what the benchmarks use is here.
 */
#ifndef SQ_BENCH_PEER_QEMU_H
#define SQ_BENCH_PEER_QEMU_H

#ifndef SQ_TSAN
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_DIRTY_MEMORY_BLOCK_SIZE ((uint64_t)256 * 1024 * 8) /* bits */
#define QEMU_BLOCK_WORDS (QEMU_DIRTY_MEMORY_BLOCK_SIZE / 64)

struct qemu_dirty_blocks {
	size_t nblocks;
	_Atomic uint64_t *blocks[]; /* unsigned long *blocks[] */
};

struct qemu_dirty {
	struct qemu_dirty_blocks *_Atomic migration; /* ram_list.dirty_memory[MIGRATION] */
	uint64_t npages;
	uint64_t *dest; /* the RAMBlock's bmap, filled by sync */
};

static inline int qemu_dirty_new(struct qemu_dirty *d, uint64_t npages)
{
	size_t nb = (size_t)((npages + QEMU_DIRTY_MEMORY_BLOCK_SIZE - 1) /
			     QEMU_DIRTY_MEMORY_BLOCK_SIZE);
	struct qemu_dirty_blocks *b = calloc(1, sizeof(*b) + nb * sizeof(b->blocks[0]));

	d->npages = npages;
	d->dest = malloc((npages + 63) / 64 * 8);
	if (!b || !d->dest)
		goto fail;
	explicit_bzero(d->dest, (npages + 63) / 64 * 8);
	b->nblocks = nb;
	for (size_t i = 0; i < nb; i++) {
		b->blocks[i] = malloc(QEMU_BLOCK_WORDS * 8); /* bitmap_new */
		if (!b->blocks[i])
			goto fail;
		/* Zeroed and touched, as in a QEMU that has run a while: the
		 * benchmark measures marks, not first-touch page faults
		 * (explicit_bzero: the compiler turns malloc + memset(0) into
		 * calloc, which leaves the pages untouched). */
		explicit_bzero((void *)b->blocks[i], QEMU_BLOCK_WORDS * 8);
	}
	atomic_store_explicit(&d->migration, b, memory_order_release);
	return 0;
fail:
	for (size_t i = 0; b && i < nb; i++)
		free((void *)b->blocks[i]);
	free(b);
	free(d->dest);
	return -1;
}

static inline void qemu_dirty_free(struct qemu_dirty *d)
{
	struct qemu_dirty_blocks *b = atomic_load_explicit(&d->migration, memory_order_relaxed);

	for (size_t i = 0; b && i < b->nblocks; i++)
		free((void *)b->blocks[i]);
	free(b);
	free(d->dest);
}

/* util/bitmap.c bitmap_set_atomic, with unsigned long = uint64_t. */
static inline void qemu_bitmap_set_atomic(_Atomic uint64_t *map, uint64_t start, uint64_t nr)
{
	_Atomic uint64_t *p = map + start / 64;
	uint64_t size = start + nr;
	uint64_t bits_to_set = 64 - start % 64;
	uint64_t mask_to_set = ~0ull << (start % 64);

	if (nr > bits_to_set) { /* first word */
		atomic_fetch_or_explicit(p, mask_to_set, memory_order_seq_cst);
		nr -= bits_to_set;
		bits_to_set = 64;
		mask_to_set = ~0ull;
		p++;
	}
	if (bits_to_set == 64) { /* full words */
		while (nr >= 64) {
			atomic_store_explicit(p, ~0ull, memory_order_relaxed);
			nr -= 64;
			p++;
		}
	}
	if (nr) { /* last word */
		mask_to_set &= ~0ull >> (-size & 63);
		atomic_fetch_or_explicit(p, mask_to_set, memory_order_seq_cst);
	} else {
		atomic_thread_fence(memory_order_seq_cst); /* smp_mb() */
	}
}

/* cpu_physical_memory_set_dirty_range(start, length), page-granular. */
static inline void qemu_set_dirty_range(struct qemu_dirty *d, uint64_t start, uint64_t length)
{
	uint64_t page = start >> 12, end = (start + length + 4095) >> 12;

	if (length == 0)
		return;
	urcu_memb_read_lock();
	const struct qemu_dirty_blocks *b =
		atomic_load_explicit(&d->migration, memory_order_consume);
	uint64_t idx = page / QEMU_DIRTY_MEMORY_BLOCK_SIZE;
	uint64_t offset = page % QEMU_DIRTY_MEMORY_BLOCK_SIZE;
	uint64_t base = page - offset;
	while (page < end) {
		uint64_t next = end < base + QEMU_DIRTY_MEMORY_BLOCK_SIZE
					? end : base + QEMU_DIRTY_MEMORY_BLOCK_SIZE;
		qemu_bitmap_set_atomic(b->blocks[idx], offset, next - page);
		page = next;
		idx++;
		offset = 0;
		base += QEMU_DIRTY_MEMORY_BLOCK_SIZE;
	}
	urcu_memb_read_unlock();
}

/* cpu_physical_memory_sync_dirty_bitmap over the whole RAM block (aligned
 * case): returns the number of newly dirty pages in d->dest. */
static inline uint64_t qemu_sync_dirty_bitmap(struct qemu_dirty *d)
{
	uint64_t nr = (d->npages + 63) / 64, num_dirty = 0;
	uint64_t idx = 0, offset = 0;

	urcu_memb_read_lock();
	_Atomic uint64_t *const *src =
		atomic_load_explicit(&d->migration, memory_order_consume)->blocks;
	for (uint64_t k = 0; k < nr; k++) {
		if (atomic_load_explicit(&src[idx][offset], memory_order_relaxed)) {
			uint64_t bits = atomic_exchange_explicit(&src[idx][offset], 0,
								 memory_order_seq_cst);
			uint64_t new_dirty = ~d->dest[k];
			d->dest[k] |= bits;
			new_dirty &= bits;
			num_dirty += (uint64_t)__builtin_popcountll(new_dirty);
		}
		if (++offset >= QEMU_BLOCK_WORDS) {
			offset = 0;
			idx++;
		}
	}
	urcu_memb_read_unlock();
	return num_dirty;
}

#endif /* SQ_BENCH_PEER_QEMU_H */
