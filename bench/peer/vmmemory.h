/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/peer/vmmemory.h - a C re-implementation of rust-vmm vm-memory's
 * AtomicBitmap, the dirty bitmap Firecracker and Cloud Hypervisor use, for
 * same-run comparisons (benchmarks engine/peer/vmmemory/...).
 *
 * Follows src/bitmap/backend/atomic_bitmap.rs of rust-vmm/vm-memory:
 *   AtomicBitmap::new           one AtomicU64 per 64 pages, zeroed
 *   AtomicBitmap::set_bit       bounds check, then fetch_or(bit, SeqCst)
 *                               (unconditional: no test first)
 *   set_reset_addr_range        (mark_dirty / set_addr_range) a loop over
 *                               the pages of the range, one set per page
 *   AtomicBitmap::get_and_reset every word fetch_and(0, SeqCst) (a swap
 *                               with 0) into a new Vec<u64>
 * The Rust SeqCst RMWs are the C11 seq_cst ones (a locked instruction on
 * x86-64). Only what the benchmarks use is here.
 */
#ifndef SQ_BENCH_PEER_VMMEMORY_H
#define SQ_BENCH_PEER_VMMEMORY_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vmm_bitmap {
	_Atomic uint64_t *map;
	size_t words;
	uint64_t size; /* pages */
	uint64_t page_size;
};

static inline int vmm_new(struct vmm_bitmap *b, uint64_t byte_size, uint64_t page_size)
{
	b->size = (byte_size + page_size - 1) / page_size;
	b->words = (size_t)((b->size + 63) / 64);
	b->page_size = page_size;
	b->map = aligned_alloc(64, (b->words * 8 + 63) & ~(size_t)63);
	if (!b->map)
		return -1;
	explicit_bzero((void *)b->map, b->words * 8); /* touched: no first-touch faults */
	return 0;
}

static inline void vmm_free(struct vmm_bitmap *b)
{
	free((void *)b->map);
	b->map = NULL;
}

static inline void vmm_set_bit(const struct vmm_bitmap *b, uint64_t index)
{
	if (index >= b->size)
		return; /* bits beyond the end are ignored */
	atomic_fetch_or_explicit(&b->map[index >> 6], 1ull << (index & 63), memory_order_seq_cst);
}

/* mark_dirty(offset, len): every page of [start, start + len). */
static inline void vmm_set_addr_range(const struct vmm_bitmap *b, uint64_t start, uint64_t len)
{
	if (len == 0)
		return;
	uint64_t first = start / b->page_size;
	uint64_t last = (start + len - 1 < start ? UINT64_MAX : start + len - 1) / b->page_size;
	for (uint64_t n = first; n <= last; n++) {
		if (n >= b->size)
			break;
		atomic_fetch_or_explicit(&b->map[n >> 6], 1ull << (n & 63), memory_order_seq_cst);
	}
}

/* get_and_reset: the returned copy is caller-owned (free). */
static inline uint64_t *vmm_get_and_reset(const struct vmm_bitmap *b)
{
	uint64_t *out = malloc(b->words * 8);
	if (!out)
		return NULL;
	for (size_t i = 0; i < b->words; i++)
		out[i] = atomic_fetch_and_explicit(&b->map[i], 0, memory_order_seq_cst);
	return out;
}

#endif /* SQ_BENCH_PEER_VMMEMORY_H */
