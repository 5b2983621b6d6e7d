/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/recv_tags.c - the receiver's per-page round tags, stored so that
 * they cost memory in proportion to the pages received, not to the region
 * the sender declared.
 *
 * Layout: the region is cut into chunks of SQ_MIG_TAG_CHUNK pages. The
 * directory holds one 64-bit entry per chunk and is an anonymous
 * MAP_NORESERVE mapping, so an entry costs nothing until it is written
 * (one 4 KiB directory page covers 512 chunks, 128 MiB of region). An
 * entry is either
 *   - odd or zero: every page of the chunk has round (entry >> 2), and bit 1
 *     says whether a data page was applied there since the chunk was last
 *     zeroed whole ("dirty"); zero is round 0, clean, "never received",
 *     which is what an untouched entry reads, or
 *   - even and non-zero: a pointer to a struct tag_chunk with one round per
 *     page (256 bytes, from per-stripe slabs) with the dirty flag in bit 1,
 *     allocated when a frame sets part of a chunk to a round that differs
 *     from the chunk's uniform round.
 * A clean chunk holds zeros in the destination, so zero pages landing there
 * need no write at all (sq_mig_tags_dirty), and saving skips it.
 * A frame covering a whole chunk makes it uniform again and returns its
 * array to the stripe's free list, so a stream of chunk-aligned zero-page
 * frames allocates no arrays at all, and any stream allocates at most two
 * arrays per frame (its first and last chunk) and one per chunk in all.
 *
 * Locking: a chunk never spans two 2 MiB blocks (SQ_PAGES_PER_BLOCK is a
 * multiple of SQ_MIG_TAG_CHUNK), and every access to a chunk's entry, its
 * array and the stripe's lists happens under the stripe lock of its block,
 * which the caller holds (plain accesses).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <squib/types.h>

#include "core/err.h"
#include "migrate/recv_internal.h"

_Static_assert(SQ_PAGES_PER_BLOCK % SQ_MIG_TAG_CHUNK == 0, "a chunk lies inside one block");

/* A chunk's page rounds, or, while it is free, the free-list link. */
struct tag_chunk {
	union {
		uint32_t tag[SQ_MIG_TAG_CHUNK];
		struct tag_chunk *next_free;
	};
};

/* Arrays come from slabs, per stripe: no allocator header per array. */
#define SLAB_ARRAYS 255u
struct tag_slab {
	struct tag_slab *next;
	unsigned used;
	struct tag_chunk a[SLAB_ARRAYS];
};

/*
 * Directory entries: uniform (bit 0 set, or all zero) = round << 2 | dirty
 * << 1 | 1; array = pointer | dirty << 1 (arrays are 4-byte aligned at
 * least, and 8 in practice: bit 1 is free as well as bit 0).
 */
#define UNIFORM(round, dirty) (((uint64_t)(round) << 2) | ((uint64_t)(dirty) << 1) | 1u)
#define ARRAY_PTR(e) ((struct tag_chunk *)(uintptr_t)((e) & ~(uint64_t)3))

_Static_assert(_Alignof(struct tag_chunk) >= 4 && sizeof(struct tag_chunk) % 8 == 0,
	       "array pointers leave bits 0 and 1 free");

static int is_array(uint64_t e)
{
	return e && !(e & 1);
}

int sq_mig_tags_init(struct sq_mig_tags *t, uint64_t npages)
{
	memset(t, 0, sizeof(*t));
	t->nchunks = (size_t)((npages + SQ_MIG_TAG_CHUNK - 1) / SQ_MIG_TAG_CHUNK);
	t->dir_bytes = t->nchunks * sizeof(uint64_t);
	void *m = mmap(NULL, t->dir_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		t->dir = NULL;
		return sq_err_sys(SQ_E_NOMEM, errno, "migration: mapping the page-tag directory");
	}
	t->dir = m;
	return 0;
}

void sq_mig_tags_fini(struct sq_mig_tags *t)
{
	for (unsigned s = 0; s < SQ_MIG_LOCK_STRIPES; s++) {
		struct tag_slab *b = t->slabs[s];
		while (b) {
			struct tag_slab *n = b->next;
			free(b);
			b = n;
		}
		t->slabs[s] = NULL;
		t->free[s] = NULL;
	}
	if (t->dir)
		munmap(t->dir, t->dir_bytes);
	t->dir = NULL;
}

static unsigned stripe_of(size_t chunk)
{
	return (unsigned)((chunk * SQ_MIG_TAG_CHUNK / SQ_PAGES_PER_BLOCK) % SQ_MIG_LOCK_STRIPES);
}

uint32_t sq_mig_tag_get(const struct sq_mig_tags *t, uint64_t page)
{
	uint64_t e = t->dir[page / SQ_MIG_TAG_CHUNK];

	if (!is_array(e))
		return (uint32_t)(e >> 2);
	return ARRAY_PTR(e)->tag[page % SQ_MIG_TAG_CHUNK];
}

int sq_mig_tags_dirty(const struct sq_mig_tags *t, uint64_t first, uint64_t end)
{
	for (size_t c = (size_t)(first / SQ_MIG_TAG_CHUNK); (uint64_t)c * SQ_MIG_TAG_CHUNK < end; c++)
		if (t->dir[c] & 2)
			return 1;
	return 0;
}

static void release_array(struct sq_mig_tags *t, size_t chunk, struct tag_chunk *a)
{
	unsigned s = stripe_of(chunk);

	a->next_free = t->free[s];
	t->free[s] = a;
}

static struct tag_chunk *get_array(struct sq_mig_tags *t, size_t chunk)
{
	unsigned s = stripe_of(chunk);
	struct tag_chunk *a = t->free[s];

	if (a) {
		t->free[s] = a->next_free;
		return a;
	}
	struct tag_slab *b = t->slabs[s];
	if (!b || b->used == SLAB_ARRAYS) {
		b = malloc(sizeof(*b));
		if (!b)
			return NULL;
		b->next = t->slabs[s];
		b->used = 0;
		t->slabs[s] = b;
	}
	return &b->a[b->used++];
}

int sq_mig_tags_set(struct sq_mig_tags *t, uint64_t first, uint64_t end, uint32_t round, int data)
{
	while (first < end) {
		size_t chunk = (size_t)(first / SQ_MIG_TAG_CHUNK);
		uint64_t cstart = (uint64_t)chunk * SQ_MIG_TAG_CHUNK;
		uint64_t cend = cstart + SQ_MIG_TAG_CHUNK;
		uint64_t stop = end < cend ? end : cend;
		uint64_t e = t->dir[chunk];

		if (first == cstart && stop == cend) {
			/* Whole chunk: uniform again; zero pages make it clean. */
			if (is_array(e))
				release_array(t, chunk, ARRAY_PTR(e));
			if (e != UNIFORM(round, data))
				t->dir[chunk] = UNIFORM(round, data);
		} else if (is_array(e)) {
			struct tag_chunk *a = ARRAY_PTR(e);
			for (uint64_t p = first; p < stop; p++)
				a->tag[p - cstart] = round;
			if (data && !(e & 2))
				t->dir[chunk] = e | 2;
		} else if ((uint32_t)(e >> 2) == round) {
			if (data && !(e & 2))
				t->dir[chunk] = e | 2;
		} else {
			struct tag_chunk *a = get_array(t, chunk);
			if (!a)
				return sq_err(SQ_E_NOMEM, "migration: out of memory for page tags");
			for (unsigned i = 0; i < SQ_MIG_TAG_CHUNK; i++)
				a->tag[i] = (uint32_t)(e >> 2);
			for (uint64_t p = first; p < stop; p++)
				a->tag[p - cstart] = round;
			t->dir[chunk] = (uint64_t)(uintptr_t)a | (e & 2) | ((uint64_t)data << 1);
		}
		first = stop;
	}
	return 0;
}
