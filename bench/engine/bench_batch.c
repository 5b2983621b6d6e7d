/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch input as KVM's dirty ring delivers it, against the dirty log.
 *
 *   engine/mark/batch_ring          sq_tracker_mark_pages of 1 % of the
 *       pages of a 4 GiB region (every 100th page, 10,486 entries) in ring
 *       order (shuffled: the order the vCPUs first wrote them)
 *   engine/mark/import_bitmap_same  sq_tracker_import_bitmap of a
 *       KVM_GET_DIRTY_LOG bitmap with exactly the same pages
 *
 * Each iteration starts from a clean region (an untimed harvest), so every
 * entry sets a bit. items_per_second = pages marked per second.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/squib.h>
#include "harness.h"

#define G4_PAGES ((uint64_t)1 << 20)
#define NWORDS (G4_PAGES / 64)
#define BASE ((uintptr_t)1 << 44)

struct batch_input {
	uint64_t *ring;
	size_t n;
	uint64_t *bitmap;
};

static int input_make(struct batch_input *in)
{
	uint64_t s = 0x2545f4914f6cdd1dull;

	in->n = (size_t)((G4_PAGES + 99) / 100);
	in->ring = malloc(in->n * sizeof(*in->ring));
	in->bitmap = calloc(NWORDS, 8);
	if (!in->ring || !in->bitmap)
		return -1;
	for (size_t i = 0; i < in->n; i++) {
		in->ring[i] = (uint64_t)i * 100;
		in->bitmap[in->ring[i] / 64] |= 1ull << (in->ring[i] % 64);
	}
	for (size_t i = in->n - 1; i > 0; i--) { /* Fisher-Yates, xorshift */
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		size_t j = (size_t)(s % (i + 1));
		uint64_t t = in->ring[i];
		in->ring[i] = in->ring[j];
		in->ring[j] = t;
	}
	return 0;
}

static void run_batch(struct sq_bench *b, int ring)
{
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = SQ_GRANULE_FIXED_4K };
	struct batch_input in = { 0 };
	struct sq_tracker *t = NULL;
	struct sq_dirty_set *s;
	uint32_t id;

	if (input_make(&in) || sq_tracker_create(&o, &t) ||
	    sq_tracker_add_region(t, (void *)BASE, G4_PAGES << SQ_PAGE_SHIFT, 0, &id)) {
		sq_bench_skip(b, "set-up failed");
		goto out;
	}
	uint64_t pages = 0;
	while (sq_bench_running(b)) {
		sq_bench_pause(b);
		sq_tracker_harvest(t, id, &s);
		pages = sq_dirty_set_pages(s);
		sq_dirty_set_destroy(s);
		sq_bench_resume(b);
		if (ring)
			sq_tracker_mark_pages(t, id, in.ring, in.n);
		else
			sq_tracker_import_bitmap(t, id, in.bitmap, NWORDS);
	}
	sq_bench_counter(b, "dirty_pages", (double)pages);
	sq_bench_set_items(b, (double)in.n);
out:
	sq_tracker_destroy(t);
	free(in.ring);
	free(in.bitmap);
}

static void bm_ring(struct sq_bench *b)
{
	run_batch(b, 1);
}

static void bm_import(struct sq_bench *b)
{
	run_batch(b, 0);
}

SQ_BENCH_DEF(.name = "engine/mark/batch_ring", .fn = bm_ring,
	     .baseline = "engine/mark/import_bitmap_same")
SQ_BENCH("engine/mark/import_bitmap_same", bm_import);
