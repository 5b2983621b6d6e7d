/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Saves at the original's page sizes: a full pair, then a diff of the pages
 * a DirtyBitmap of 4, 16 or 64 KiB pages holds (sq_snapshot_save_tracked
 * over its tracker), of regions that end in a partial page. The memory
 * files hold exactly the bytes the original's MemoryWriter writes for the
 * same region and bitmap (tests/compat/ref_writer.h, spec section 6), and
 * the chain restores to the region.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <squib/compat.h>
#include <squib/error.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "ref_writer.h"

#define BASE 0x80000000ull /* DRAM_BASE */

static uint8_t *state_bytes(size_t *len)
{
	struct sq_microvm_state *vm;
	uint8_t *buf;

	assert_int_equal(sq_x_state_demo_vcpus(2, &vm), 0);
	assert_true(vm->vm_info.track_dirty_pages);
	assert_int_equal(sq_state_encode(vm, &buf, len), 0);
	sq_state_destroy(vm);
	return buf;
}

static void same_file(const char *a, const char *b, uint64_t size)
{
	unsigned char *x = NULL, *y = NULL;
	size_t lx = 0, ly = 0;

	assert_int_equal(sq_test_read_file(a, &x, &lx), 0);
	assert_int_equal(sq_test_read_file(b, &y, &ly), 0);
	assert_int_equal(lx, size);
	assert_int_equal(ly, size);
	assert_memory_equal(x, y, size);
	free(x);
	free(y);
}

static void save_at(uint64_t ps, uint64_t ram_size, uint64_t *seed)
{
	char *dir = sq_test_tmpdir("save-pages");
	char snap[2][1100], mem[2][1100], ref[2][1100];
	uint64_t cap = (ram_size + 65535) & ~(uint64_t)65535;
	uint8_t *ram = aligned_alloc(4096, cap);
	size_t slen;
	uint8_t *st = state_bytes(&slen);
	struct sq_dirty_bitmap *b;
	struct sq_snapshot_id id0;

	for (int g = 0; g < 2; g++) {
		snprintf(snap[g], sizeof(snap[g]), "%s/g%d.snap", dir, g);
		snprintf(mem[g], sizeof(mem[g]), "%s/g%d.mem", dir, g);
		snprintf(ref[g], sizeof(ref[g]), "%s/ref%d.mem", dir, g);
	}
	memset(ram, 0, cap);
	for (uint64_t i = 0; i < ram_size; i++)
		ram[i] = (uint8_t)sq_test_rand(seed);
	/* full */
	struct sq_mem_source src = { .base = ram, .size = ram_size };
	struct sq_snapshot_save_req q = { .size = sizeof(struct sq_snapshot_save_req), .state_path = snap[0], .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = slen, .mem = &src };
	assert_int_equal(sq_snapshot_save(&q, NULL), 0);
	assert_int_equal(ref_write_full(ref[0], ram, ram_size, ps), 0);
	same_file(mem[0], ref[0], ram_size);
	assert_int_equal(sq_snapshot_id_of(snap[0], &id0), 0);
	/* dirty some pages (the partial last one always, one with zeros) */
	assert_int_equal(sq_dirty_bitmap_create(BASE, ram_size, ps, &b), 0);
	uint64_t pages = sq_dirty_bitmap_page_count(b);
	uint8_t *dirty = calloc(1, pages / 8 + 1);
	for (uint64_t p = 0; p < pages; p++) {
		if (p != pages - 1 && p != 1 && sq_test_rand(seed) % 3)
			continue;
		uint64_t end = (p + 1) * ps < ram_size ? (p + 1) * ps : ram_size;
		uint64_t addr = BASE + p * ps + sq_test_rand(seed) % (end - p * ps);
		assert_int_equal(sq_dirty_bitmap_set_dirty(b, addr), 1);
		dirty[p / 8] |= (uint8_t)(1u << (p % 8));
		for (uint64_t i = p * ps; i < end; i++)
			ram[i] = p == 1 ? 0 : (uint8_t)sq_test_rand(seed);
	}
	uint32_t region;
	struct sq_tracker *t = sq_dirty_bitmap_tracker(b, &region);
	q.state_path = snap[1];
	q.kind = SQ_SNAPSHOT_DIFF;
	q.parent = &id0;
	struct sq_snapshot_report rep = SQ_INIT(struct sq_snapshot_report);
	int rc = sq_snapshot_save_tracked(&q, t, region, &rep);
	if (rc)
		fprintf(stderr, "save: %s: %s\n", sq_error_name(rc), sq_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(ref_write_diff(ref[1], ram, ram_size, ps, dirty, ps), 0);
	same_file(mem[1], ref[1], ram_size);
	assert_int_equal(sq_memfile_verify(mem[1], NULL, 2, NULL), 0);
	/* the chain is the region */
	uint8_t *dst = aligned_alloc(4096, cap);
	const char *chain[2] = { mem[0], mem[1] };
	assert_int_equal(sq_restore_to_memory(chain, 2, dst, ram_size, NULL, NULL), 0);
	assert_memory_equal(dst, ram, ram_size);
	free(dst);
	free(dirty);
	sq_dirty_bitmap_destroy(b);
	free(st);
	free(ram);
	sq_test_rmrf(dir);
	free(dir);
}

static void saves_like_the_original(void **state)
{
	uint64_t seed = sq_test_seed("save pages");

	(void)state;
	save_at(4096, (1u << 20) + 100, &seed);
	save_at(16384, (1u << 20) - 16384 + 5000, &seed);
	save_at(65536, (2u << 20) + 12345, &seed);
	save_at(16384, 1u << 20, &seed); /* no partial page */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(saves_like_the_original),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
