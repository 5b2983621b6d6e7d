/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/io/chain_build.h - building a real snapshot chain for io tests:
 * random page contents and pair saves with real state files (gen + 1
 * vCPUs, so the generations' state files differ).
 *
 * Include after <cmocka.h> and helpers.h.
 */
#ifndef SQ_TESTS_IO_CHAIN_BUILD_H
#define SQ_TESTS_IO_CHAIN_BUILD_H

#include <squib/snapshot.h>
#include <squib/state.h>

/* Fill pages [first, first + n) of @region with random bytes from *@seed. */
static inline void chain_randomize(uint8_t *region, uint64_t *seed, uint32_t first, uint32_t n)
{
	for (uint32_t p = first; p < first + n; p++)
		for (unsigned i = 0; i < 4096; i += 8) {
			uint64_t v = sq_test_rand(seed);
			memcpy(region + (size_t)p * 4096 + i, &v, 8);
		}
}

/*
 * Save @region (@size bytes) as generation @gen at @snap: a full snapshot
 * for gen 0, else a diff of @runs whose parent is the pair at @parent_snap.
 */
static inline void chain_save(const char *snap, const char *parent_snap, unsigned gen,
			      const uint8_t *region, size_t size, const struct sq_run *runs,
			      size_t n)
{
	struct sq_microvm_state *vm;
	uint8_t *st = NULL;
	size_t stlen = 0;
	struct sq_mem_source src = { .base = region, .size = size };
	struct sq_snapshot_id parent;

	assert_int_equal(sq_x_state_demo_vcpus(gen + 1, &vm), 0);
	assert_int_equal(sq_state_encode(vm, &st, &stlen), 0);
	sq_state_destroy(vm);
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = snap, .mem = &src, .state = st,
					  .state_len = stlen };
	if (gen) {
		assert_int_equal(sq_snapshot_id_of(parent_snap, &parent), 0);
		q.kind = SQ_SNAPSHOT_DIFF;
		q.parent = &parent;
		q.runs = runs;
		q.nruns = n;
	}
	assert_int_equal(sq_snapshot_save(&q, NULL), 0);
	free(st);
}

#endif /* SQ_TESTS_IO_CHAIN_BUILD_H */
